/**
 * A gateway with the simulated vehicle and the client server on a free loopback port, and
 * real `ws` clients and HTTP requests against it.
 */
import { once } from 'node:events';
import { request as httpsRequestRaw } from 'node:https';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Observable, Subject } from 'rxjs';
import { afterEach } from 'vitest';
import WebSocket from 'ws';
import { Gateway } from '../../src/gateway/gateway.js';
import { parseEndpoint } from '../../src/links/endpoint.js';
import { type Fields, FrameDecoder, type Frame } from '../../src/mavlink/index.js';
import { AuditLog } from '../../src/residency/audit-log.js';
import { EgressGate } from '../../src/residency/gate.js';
import { parsePolicy } from '../../src/residency/policy-parse.js';
import type { Role } from '../../src/residency/policy.js';
import type { ClientHubOptions } from '../../src/server/client-hub.js';
import { ClientServices, type ClientServicesOptions } from '../../src/server/client-services.js';
import { DEFAULT_RENEW_DAYS, DEFAULT_SERVER, type ServerSettings, type TlsSettings } from '../../src/server/settings.js';
import { DEFAULT_SOURCES, generateToken, hashToken, type SourceRule } from '../../src/server/tokens.js';
import type { SimLink } from '../../src/sim/sim-link.js';
import type { SimOptions } from '../../src/sim/sim-vehicle.js';
import { registry } from './frames.js';
import { waitFor } from './wait.js';

export type Message = { text: string; json: unknown } | { binary: Buffer };

export class Client {
  private readonly messages = new Subject<Message>();
  readonly messages$: Observable<Message> = this.messages.asObservable();
  private readonly decoder = new FrameDecoder(registry, (f: Frame) => this.frames.next({ name: f.name, sysid: f.sysid, compid: f.compid, seq: f.seq, fields: f.decode() }));
  private readonly frames = new Subject<{ name: string | null; sysid: number; compid: number; seq: number; fields: Fields | null }>();
  readonly frames$ = this.frames.asObservable();
  received = 0;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary) => {
      this.received++;
      if (isBinary) {
        this.decoder.push(data);
        this.messages.next({ binary: data });
        return;
      }
      const text = data.toString('utf8');
      let json: unknown = null;
      try {
        json = JSON.parse(text);
      } catch {
        // `Ok(N)` replies are not JSON.
      }
      this.messages.next({ text, json });
    });
  }

  /** The next telemetry message of `type` (JSON clients). */
  telemetry(type: string, match: (m: Record<string, unknown>) => boolean = () => true, ms = 5000): Promise<{ header: Record<string, number>; message: Record<string, unknown> }> {
    return waitFor(this.messages$, (m) => 'json' in m && (m.json as { message?: { type?: string } } | null)?.message?.type === type && match((m.json as { message: Record<string, unknown> }).message), `${type} on the WebSocket`, ms)
      .then((m) => (m as { json: { header: Record<string, number>; message: Record<string, unknown> } }).json);
  }

  /** Every message type seen until `count` messages of `type` arrived (JSON clients). */
  typesUntil(type: string, count: number, what: string): Promise<Set<string>> {
    const seen = new Set<string>();
    let n = 0;
    return waitFor(this.messages$, (m) => {
      const t = ('json' in m && (m.json as { message?: { type: string } } | null)?.message?.type) || '';
      seen.add(t);
      return t === type && ++n === count;
    }, what).then(() => seen);
  }

  /** The next frame named `name` (raw clients). */
  frame(name: string, match: (f: Fields) => boolean = () => true, ms = 5000) {
    return waitFor(this.frames$, (f) => f.name === name && match(f.fields!), `${name} frame on the raw WebSocket`, ms);
  }

  /**
   * The next status text from mavgate (JSON clients): its chunks joined (STATUSTEXT id and
   * chunk_seq), the `mavgate: ` prefix removed, with the header of its last chunk.
   */
  statusText(ms = 5000): Promise<{ text: string; header: Record<string, number> }> {
    const parts: string[] = [];
    let header: Record<string, number> = {};
    return waitFor(this.messages$, (m) => {
      const json = 'json' in m ? (m.json as { header: Record<string, number>; message: { type: string; text: string[]; id: number; chunk_seq: number } } | null) : null;
      if (json?.message?.type !== 'STATUSTEXT') return false;
      const text = json.message.text.join('').split('\u0000')[0]!;
      if (parts.length === 0 && !text.startsWith('mavgate: ')) return false;
      parts.push(text);
      header = json.header;
      return json.message.id === 0 || text.length < 50;
    }, 'a status text from mavgate', ms).then(() => ({ text: parts.join('').slice('mavgate: '.length), header }));
  }

  /** Sends `body` (a message mavgate refuses) and resolves with the reason its status text gives. */
  async refusal(body: unknown): Promise<string> {
    const text = this.statusText();
    this.ws.send(JSON.stringify(body));
    return (await text).text;
  }

  /** Sends `body` and resolves with the reply (the next text message that is not telemetry). */
  async request(body: unknown): Promise<string> {
    const reply = waitFor(this.messages$, (m) => 'text' in m && !m.text.startsWith('{"header"'), 'a reply on the WebSocket');
    this.ws.send(typeof body === 'string' ? body : JSON.stringify(body));
    return ((await reply) as { text: string }).text;
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = once(this.ws, 'close');
    this.ws.terminate();
    await closed;
  }
}

export interface DeckOptions {
  tokens?: { name: string; role: Role; sources?: SourceRule[]; expires?: number }[];
  hub?: Partial<ClientHubOptions>;
  policy?: unknown;
  origins?: string[];
  gcs?: ServerSettings['gcs'];
  sim?: SimOptions;
  /** Write an audit log (in a temporary directory approved by the policy). */
  audit?: boolean;
  /** HTTPS/WSS: true for the local authority in the deck's directory (`tls/`). */
  tls?: true | TlsSettings;
  services?: ClientServicesOptions;
  hosts?: string[];
}

/** `deck()` for a test file: every deck started in a test is stopped after it. */
export function decksPerTest(): (options?: DeckOptions) => Promise<Deck> {
  let decks: Deck[] = [];
  afterEach(async () => {
    for (const d of decks) await d.stop();
    decks = [];
  });
  return async (options = {}) => {
    const d = await Deck.start(options);
    decks.push(d);
    return d;
  };
}

export class Deck {
  readonly tokens: Record<string, string> = {};
  private readonly clients: Client[] = [];
  audit: AuditLog | null = null;

  /** The certificate authority clients trust (with `tls`). */
  ca: string | undefined;

  private constructor(readonly gateway: Gateway, public services: ClientServices | null, readonly dir: string) {}

  static async start(options: DeckOptions = {}): Promise<Deck> {
    const dir = mkdtempSync(join(tmpdir(), 'mavgate-clients-'));
    const policy = parsePolicy({ approved_sinks: { directories: [dir] }, ...(options.policy as object | undefined) }, 'test policy');
    const gate = new EgressGate(policy);
    // Telemetry ten times ArduPilot's default rates (HEARTBEAT at 10 Hz): tests wait less.
    const gateway = new Gateway({ links: [parseEndpoint('sim')], gate, sim: options.sim ?? { rate: 10 } });
    const deck = new Deck(gateway, null, dir);
    if (options.audit) {
      deck.audit = new AuditLog(gate.grantDirectory('audit', join(dir, 'audit')));
      gate.attachAudit(deck.audit);
    }
    const tokens = (options.tokens ?? []).map((t) => {
      const token = generateToken();
      deck.tokens[t.name] = token;
      return { name: t.name, role: t.role, sha256: hashToken(token), sources: t.sources ?? DEFAULT_SOURCES, ...(t.expires !== undefined ? { expires: t.expires } : {}) };
    });
    await gateway.start();
    const settings: ServerSettings = {
      ...DEFAULT_SERVER, listen: { host: '127.0.0.1', port: 0 }, tokens, hub: options.hub ?? {}, origins: options.origins ?? [], gcs: options.gcs ?? [], hosts: options.hosts ?? [],
      tls: options.tls === true ? { source: 'local', renewDays: DEFAULT_RENEW_DAYS } : options.tls ?? null,
    };
    deck.services = await ClientServices.start(gateway, settings, 'test', () => {}, options.services);
    deck.ca = deck.services.tls?.authorityPem ?? undefined;
    return deck;
  }

  get sim() {
    return (this.gateway.links[0]!.link as SimLink).vehicle;
  }

  get hub() {
    return this.services!.hub;
  }

  get base(): string {
    return this.services!.server!.url;
  }

  /** Opens a WebSocket; rejects with the HTTP status of a refused upgrade. */
  async connect(path: string, options: { token?: string; headers?: Record<string, string>; protocols?: string[]; ca?: string | null } = {}): Promise<Client> {
    const headers = { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers };
    // Over TLS, trusting the deck's authority only (null: the system's store).
    const ca = options.ca === undefined ? this.ca : options.ca ?? undefined;
    const ws = new WebSocket(`${this.base.replace('http', 'ws')}${path}`, options.protocols ?? [], { headers, ...(ca ? { ca } : {}) });
    const client = new Client(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode} ${body}`), { status: res.statusCode, body })));
      });
      ws.once('error', reject);
    });
    this.clients.push(client);
    return client;
  }

  async http(method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<{ status: number; body: unknown; text: string; headers: Record<string, string | string[] | undefined> }> {
    if (this.ca) return httpsRequest(`${this.base}${path}`, this.ca, method, { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers }, options.body);
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: { ...(options.token ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers },
      ...(options.body !== undefined ? { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) } : {}),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // A text reply (`Ok(N)`).
    }
    return { status: res.status, body, text, headers: Object.fromEntries(res.headers) };
  }

  async stop(): Promise<void> {
    for (const c of this.clients) await c.close();
    await this.services?.stop();
    await this.gateway.stop();
    this.audit?.close();
  }
}

/** An HTTPS request trusting only `ca` (fetch cannot be given an authority). */
export function httpsRequest(url: string, ca: string, method: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; body: unknown; text: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequestRaw(url, { method, headers, ca }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // A text reply.
        }
        resolve({ status: res.statusCode!, body: parsed, text, headers: res.headers });
      });
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
  });
}

/** A mavlink2rest COMMAND_LONG to the simulated vehicle. */
export function commandLong(command: string, params: Record<string, number> = {}) {
  const p = { param1: 0, param2: 0, param3: 0, param4: 0, param5: 0, param6: 0, param7: 0, ...params };
  return { header: { system_id: 255, component_id: 240, sequence: 0 }, message: { type: 'COMMAND_LONG', target_system: 1, target_component: 1, command: { type: command }, confirmation: 0, ...p } };
}

export function heartbeat() {
  return { header: { system_id: 255, component_id: 240, sequence: 0 }, message: { type: 'HEARTBEAT', custom_mode: 0, mavtype: { type: 'MAV_TYPE_GCS' }, autopilot: { type: 'MAV_AUTOPILOT_INVALID' }, base_mode: { bits: 0 }, system_status: { type: 'MAV_STATE_ACTIVE' }, mavlink_version: 3 } };
}
