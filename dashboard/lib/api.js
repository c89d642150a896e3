// Talking to mavgate: who the page is (a session cookie, or a token asked for on the page
// when refused), the REST calls, and the live telemetry socket. Everything goes to this
// page's own origin.

/**
 * The token, when the page was opened with `?token=` and the server kept no session for it
 * (a session cookie is what normally carries it: the server turns `?token=` into one and
 * reloads the page without it). Kept in memory only, and taken out of the address bar.
 */
function tokenFromUrl() {
  const params = new URLSearchParams(location.search);
  const token = params.get('token');
  if (token) {
    params.delete('token');
    history.replaceState(null, '', `${location.pathname}${params.size ? `?${params}` : ''}${location.hash}`);
  }
  return token;
}

const token = tokenFromUrl();
const listeners = { refused: [], accepted: [] };

export function on(event, fn) {
  listeners[event].push(fn);
}

function emit(event, detail) {
  for (const fn of listeners[event]) fn(detail);
}

/** Opens the page with a token the operator typed: the server makes it a session and reloads the page without it. */
export function signIn(value) {
  location.assign(`/?token=${encodeURIComponent(value)}`);
}

/** What a request carries besides the session cookie (the page's other scripts use it too). */
export const authHeaders = () => (token ? { authorization: `Bearer ${token}` } : {});

/** GET a JSON route; on 401 tells the page (which asks for a token) and returns null. */
export async function getJson(path) {
  const res = await fetch(path, { headers: authHeaders() });
  if (res.status === 401) {
    const body = await res.json().catch(() => ({}));
    emit('refused', body.error ?? 'a token is required');
    return null;
  }
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  emit('accepted');
  return res.json();
}

/** GET bytes (a map tile) as an image bitmap, or null. */
export async function getImage(path) {
  const res = await fetch(path, { headers: authHeaders() });
  return res.ok ? createImageBitmap(await res.blob()) : null;
}

/**
 * Live telemetry over the mavlink2rest socket (what the token's role may see; the page
 * never sends). Reconnects; `onState` gets 'live' or 'retrying'.
 */
export function live(names, onMessage, onState) {
  const connect = () => {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws/mavlink?filter=^(${names.join('|')})$`;
    const ws = new WebSocket(url, token ? ['mavgate', `mavgate.token.${token}`] : []);
    ws.onopen = () => onState('live');
    ws.onclose = () => {
      onState('retrying');
      setTimeout(connect, 2000);
    };
    ws.onmessage = (event) => {
      let data;
      try { data = JSON.parse(event.data); } catch { return; }
      if (data.message && data.header) onMessage(data.header.system_id, data.message);
    };
  };
  connect();
}
