// When mavgate refuses the page (401: tokens are configured), ask for a token on the page
// itself, and say how to open the page with one.
import { signIn } from '../lib/api.js';

export function setupTokenPrompt() {
  const form = document.getElementById('token-form');
  document.getElementById('token-url').textContent = `${location.origin}/?token=TOKEN`;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    signIn(form.elements.token.value.trim());
  });
}

/** Shows (with the server's reason) or hides the request for a token. */
export function askForToken(reason) {
  const box = document.getElementById('token-form');
  box.hidden = reason === null;
  if (reason !== null) {
    document.getElementById('token-reason').textContent = reason;
    if (!box.contains(document.activeElement)) document.getElementById('token-input').focus();
  }
}
