/**
 * The client server: REST and WebSockets (ws) on one port, over HTTPS (node:https, with
 * the certificate `ServerTls` keeps current) or plain HTTP, bound to the address the
 * residency gate granted. Every request and upgrade is admitted first (Host, Origin,
 * token or session, client network); a refused upgrade never becomes a WebSocket.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { assertGrant, type ListenGrant } from '../residency/gate.js';
import { bracketedHost } from '../residency/verdicts.js';
import { describeSystemError, LinkError } from '../links/link.js';
import { TurnCork } from '../links/send-batch.js';
import { type Admission, type AdmissionRefusal, type AdmissionSettings, admit } from './admission.js';
import type { ClientHub } from './client-hub.js';
import type { ClientKind, ClientSession } from './client-session.js';
import { CONTENT_SECURITY_POLICY, dashboardAsset } from './dashboard-assets.js';
import { handleLogs, type LogsApi } from './logs-api.js';
import { handleRecordings, REPORT_CONTENT_SECURITY_POLICY, type RecordingsApi } from './recordings-api.js';
import { type ApiContext, handleRest, type Reply } from './rest-api.js';
import type { PairingContext } from './pairing.js';
import type { ServerTls } from './server-tls.js';
import { ANONYMOUS, SUBPROTOCOL } from './tokens.js';

/** `/mavlink2rest/v1/x`, `/v1/x` and `/x` are one route (mavlink2rest serves all three; Cockpit uses the first). */
export function normalisePath(pathname: string): string {
  return pathname.replace(/^\/mavlink2rest(?=\/|$)/, '').replace(/^\/v1(?=\/|$)/, '').replace(/\/+$/, '') || '/';
}

/** What the server offers after the flight: onboard logs and the recordings' reports (when the command has them). */
export interface AfterFlight {
  logs?: LogsApi;
  recordings?: RecordingsApi;
}

const WS_KINDS: Record<string, ClientKind> = { '/ws/mavlink': 'ws-json', '/ws/raw': 'ws-raw' };
/** Frames of a raw client that stops reading are bounded by the queue; a text or binary message from it by this. */
const MAX_WS_MESSAGE = 1024 * 1024;
/** How long a client sent away gets to answer the close frame. */
const CLOSE_GRACE_MS = 2000;
/** Refused upgrades are told once per origin (or address) and kind: a page retrying every second must not flood the log. */
const REFUSALS_REMEMBERED = 4096;

/** What the person behind a refused upgrade has to change, in the words of the flags and settings. */
function refusedUpgradeFix(refused: AdmissionRefusal, origin: string | undefined): string {
  switch (refused) {
    case 'origin': return `to let this page connect, start mavgate with --origin ${origin} (or add it under server.origins)`;
    case 'token': return 'open the page with ?token=TOKEN, or send Authorization: Bearer TOKEN (mavgate token add creates one)';
    case 'host': return 'open it by IP address or localhost, or add the name under server.hosts';
    case 'path': case 'policy': return '';
  }
}

export class ClientServer {
  private http: Server | null = null;
  /**
   * Made at the first WebSocket upgrade: ws (and the TLS and compression modules it pulls
   * in, ~5 MiB of RSS) is loaded when a client first asks for a socket.
   */
  private wss: Promise<WebSocketServer> | null = null;
  private cut = false;
  private readonly address: string;
  private readonly sessions = new Set<ClientSession>();
  private readonly refusedUpgrades = new Set<string>();

  constructor(
    private readonly grant: ListenGrant,
    private readonly hub: ClientHub,
    private readonly api: ApiContext,
    private readonly admission: AdmissionSettings,
    private readonly tls: ServerTls | null = null,
    private readonly pairing: PairingContext | null = null,
    private readonly log: (level: 'info' | 'warn', message: string) => void = () => {},
    private readonly afterFlight: AfterFlight = {},
  ) {
    assertGrant(grant, 'listen');
    this.address = grant.address;
  }

  private webSockets(): Promise<WebSocketServer> {
    this.wss ??= import('ws').then(({ WebSocketServer }) => new WebSocketServer({
      noServer: true,
      maxPayload: MAX_WS_MESSAGE,
      perMessageDeflate: false,
      // Select our own protocol name, so that a token offered as a subprotocol is never echoed back.
      handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : ([...offered][0] ?? false)),
    }));
    return this.wss;
  }

  get port(): number {
    const a = this.http?.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  get url(): string {
    return `${this.tls ? 'https' : 'http'}://${bracketedHost(this.address)}:${this.port}`;
  }

  async start(): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.onRequest(req, res);
    const { tls } = this;
    let http: Server;
    if (tls) {
      const { createServer: createHttpsServer } = await import('node:https');
      const https = createHttpsServer({ ...tls.options, minVersion: 'TLSv1.2' }, handler);
      // A renewed certificate serves from the next handshake on; open connections keep theirs.
      tls.onChange = (options) => https.setSecureContext({ ...options, minVersion: 'TLSv1.2' });
      http = https;
    } else {
      http = createServer(handler);
    }
    http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.http = http;
    return new Promise((resolve, reject) => {
      http.once('error', (err) => reject(new LinkError(`${this.address}:${this.grant.port}`, `cannot listen: ${describeSystemError(err)}; choose another with --listen HOST:PORT, or --no-server`, 'client server')));
      http.listen({ host: this.address, port: this.grant.port }, () => {
        http.removeAllListeners('error');
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    const closed = this.http?.listening ? once(this.http, 'close') : Promise.resolve();
    this.cutOff('server stopping');
    await closed;
  }

  /**
   * Every client of this server off the router now, connections cut, no new ones: what a
   * revoked listen grant needs before the next frame goes out.
   */
  cutOff(why: string): void {
    this.cut = true;
    for (const session of this.sessions) this.hub.close(session, why);
    this.sessions.clear();
    void this.wss?.then((wss) => wss.clients.forEach((ws) => ws.terminate()));
    this.http?.closeAllConnections();
    if (this.http?.listening) this.http.close();
  }

  private corsHeaders(origin: string | undefined): Record<string, string> {
    return origin ? { 'access-control-allow-origin': origin, vary: 'Origin', 'access-control-allow-headers': 'authorization, content-type' } : {};
  }

  private send(res: ServerResponse, reply: Reply, origin: string | undefined): void {
    if (reply.contentType && Buffer.isBuffer(reply.body)) {
      res.writeHead(reply.status, { 'content-type': reply.contentType, 'cache-control': 'private, max-age=3600', 'x-content-type-options': 'nosniff', ...this.corsHeaders(origin) });
      res.end(reply.body);
      return;
    }
    const text = reply.text ? String(reply.body) : JSON.stringify(reply.body);
    res.writeHead(reply.status, { 'content-type': reply.text ? 'text/plain; charset=utf-8' : 'application/json', ...this.corsHeaders(origin) });
    res.end(text);
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://mavgate');
    const path = normalisePath(url.pathname);
    const admission = admit(req, url, this.admission);
    const asset = req.method === 'GET' ? dashboardAsset(url.pathname) : null;
    const authority = req.method === 'GET' && url.pathname === '/mavgate-ca.crt' ? this.tls?.authorityPem : null;
    // Health, the dashboard's files and the authority's certificate carry no telemetry: they need no token (Host, Origin and network still apply).
    if (!admission.ok && !(admission.status === 401 && (path === '/health' || asset || authority))) return this.send(res, { status: admission.status, body: { error: admission.reason } }, undefined);
    if (authority) {
      res.writeHead(200, { 'content-type': 'application/x-x509-ca-cert', 'content-disposition': 'attachment; filename="mavgate-ca.crt"' });
      res.end(authority);
      return;
    }
    if (asset && admission.ok && admission.presented && url.searchParams.has('token') && this.admission.sessions) {
      // The page's token becomes a session; the page loads again without it in the URL (and so in the history).
      url.searchParams.delete('token');
      res.writeHead(303, { location: `${url.pathname}${url.search}`, 'set-cookie': this.admission.sessions.issue(admission.presented), 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' });
      res.end();
      return;
    }
    if (asset) {
      res.writeHead(200, { 'content-type': asset.type, 'content-security-policy': CONTENT_SECURITY_POLICY, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-cache' });
      res.end(asset.body);
      return;
    }
    const principal = admission.ok ? admission.principal : ANONYMOUS;
    const origin = admission.ok ? admission.origin : undefined;
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...this.corsHeaders(origin), 'access-control-allow-methods': 'GET, POST, DELETE' });
      res.end();
      return;
    }
    const method = req.method ?? 'GET';
    const under = (prefix: string) => path === prefix || path.startsWith(`${prefix}/`);
    try {
      const reply = path === '/pair' && (req.method === 'GET' || req.method === 'POST')
        // Pairing (and its QR code library) is loaded when an admin first pairs a device.
        ? await (await import('./pairing.js')).handlePairing(req.method, req, `${this.tls ? 'https' : 'http'}://${req.headers.host}`, principal, this.pairing)
        : under('/logs') ? await handleLogs(method, path, req, principal, this.hub, this.afterFlight.logs)
          : under('/recordings') ? await handleRecordings(method, path, principal, this.afterFlight.recordings)
            : await handleRest(method, path, url, req, principal, this.api);
      if ('html' in reply) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': REPORT_CONTENT_SECURITY_POLICY, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' });
        res.end(reply.html);
        return;
      }
      this.send(res, reply, origin);
    } catch (err) {
      this.send(res, { status: 500, body: { error: `internal error: ${err instanceof Error ? err.message : String(err)}` } }, origin);
    }
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // ws loads at the first upgrade; the upgrade is judged once it is there, so no verdict goes stale while it loads.
    void this.webSockets().then((wss) => this.upgrade(wss, req, socket, head));
  }

  private upgrade(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Cut off (a revoked grant, a stop) or gone meanwhile: no socket is made.
    if (this.cut || socket.destroyed) return void socket.destroy();
    const url = new URL(req.url ?? '/', 'http://mavgate');
    const kind = WS_KINDS[normalisePath(url.pathname)];
    const admission: Admission = kind ? admit(req, url, this.admission) : { ok: false, status: 400, refused: 'path', reason: `no WebSocket at ${url.pathname}; use /v1/ws/mavlink or /v1/ws/raw` };
    if (!admission.ok) {
      this.tellRefusedUpgrade(req, url, admission);
      const body = JSON.stringify({ error: admission.reason });
      socket.end(`HTTP/1.1 ${admission.status} ${admission.status === 401 ? 'Unauthorized' : admission.status === 403 ? 'Forbidden' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws, kind!, admission, url, req));
  }

  /**
   * A browser shows nothing of a refused upgrade but a failed connection, so mavgate says
   * it: once per kind and origin (or address, without one) in the log with what to change,
   * and among the dashboard's latest refusals. Refusals by the residency policy are
   * recorded by the gate already.
   */
  private tellRefusedUpgrade(req: IncomingMessage, url: URL, refusal: Extract<Admission, { ok: false }>): void {
    const address = req.socket.remoteAddress ?? '';
    const origin = req.headers.origin;
    const key = `${refusal.refused} ${origin ?? address}`;
    if (this.refusedUpgrades.has(key)) return;
    if (this.refusedUpgrades.size >= REFUSALS_REMEMBERED) this.refusedUpgrades.clear();
    this.refusedUpgrades.add(key);
    const who = `WebSocket ${url.pathname} from ${address}${origin ? ` (page at ${origin})` : ''}`;
    const fix = refusedUpgradeFix(refusal.refused, origin);
    this.log('warn', `${who} refused (${refusal.status}): ${refusal.reason}${fix ? `; ${fix}` : ''}`);
    if (refusal.refused !== 'policy') {
      this.admission.gate().record('client_refused', { entry: who, address, ...(origin ? { origin } : {}), status: refusal.status, reason: `${refusal.reason}${fix ? `; ${fix}` : ''}` });
    }
  }

  private attach(ws: WebSocket, kind: ClientKind, admission: Extract<Admission, { ok: true }>, url: URL, req: IncomingMessage): void {
    let filter: RegExp | undefined;
    if (kind === 'ws-json') {
      const source = url.searchParams.get('filter') ?? '.*';
      try {
        filter = new RegExp(source);
      } catch (err) {
        ws.send(JSON.stringify({ error: `filter: not a valid regular expression: ${(err as Error).message}` }));
        ws.close(1008, 'invalid filter');
        return;
      }
    }
    const address = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const binary = kind === 'ws-raw';
    // The frames routed to this client in one turn leave in one write, not a system call each.
    const cork = new TurnCork(req.socket);
    const session = this.hub.open(
      kind,
      {
        write: (data, flushed) => {
          cork.hold();
          ws.send(data, { binary }, flushed);
        },
        buffered: () => ws.bufferedAmount,
      },
      admission.principal,
      address,
      {
        reply: (text) => ws.send(text),
        // A client too slow to read a close frame would never finish the handshake; one whose token ended is told why, then cut.
        close: (code, reason) => {
          if (code === 1008) return ws.terminate();
          ws.close(code, reason);
          setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
        },
      },
      { via: this.grant.entry, ...(filter ? { filter } : {}) },
    );
    const replyTo = (text: string) => {
      const reply = this.hub.receiveJson(session, text);
      if (reply !== null) ws.send(reply);
    };
    ws.on('message', (data: Buffer, isBinary) => {
      if (session.closed) return;
      if (kind === 'ws-json') {
        if (isBinary) ws.send(JSON.stringify({ error: 'this socket takes mavlink2rest JSON text; send raw frames to /v1/ws/raw' }));
        else replyTo(data.toString('utf8'));
      } else if (isBinary) {
        this.hub.receiveRawMessage(session, data);
      } else {
        // Text on the raw socket: a control request.
        replyTo(data.toString('utf8'));
      }
    });
    this.sessions.add(session);
    ws.on('error', () => {});
    ws.on('close', () => {
      this.sessions.delete(session);
      this.hub.close(session, 'client closed the connection');
    });
  }
}
