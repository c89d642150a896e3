// Talking to mavgate: the token (from ?token= or asked for on the page when refused), the
// REST calls, and the live telemetry socket. Everything goes to this page's own origin.

const STORE = 'mavgate.token';

/** The token: taken from ?token= once (then removed from the address bar and history), kept for this tab. */
function initialToken() {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get('token');
  if (fromUrl) {
    sessionStorage.setItem(STORE, fromUrl);
    params.delete('token');
    history.replaceState(null, '', `${location.pathname}${params.size ? `?${params}` : ''}${location.hash}`);
  }
  return sessionStorage.getItem(STORE);
}

let token = initialToken();
const listeners = { refused: [], accepted: [] };

export function on(event, fn) {
  listeners[event].push(fn);
}

function emit(event, detail) {
  for (const fn of listeners[event]) fn(detail);
}

export function setToken(value) {
  token = value || null;
  if (token) sessionStorage.setItem(STORE, token);
  else sessionStorage.removeItem(STORE);
}

export const hasToken = () => token !== null;

const headers = () => (token ? { authorization: `Bearer ${token}` } : {});

/** GET a JSON route; on 401 tells the page (which asks for a token) and returns null. */
export async function getJson(path) {
  const res = await fetch(path, { headers: headers() });
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
  const res = await fetch(path, { headers: headers() });
  return res.ok ? createImageBitmap(await res.blob()) : null;
}

/**
 * Live telemetry over the mavlink2rest socket, as an observer whatever the token's role
 * (the page never sends). Reconnects; `onState` gets 'live' or 'retrying'.
 */
export function live(names, onMessage, onState) {
  const connect = () => {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws/mavlink?role=observer&filter=^(${names.join('|')})$`;
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
