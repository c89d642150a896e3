/**
 * Every ground-control client, whatever its transport, goes through here: admitted with a
 * role, attached to the router with its role's residency filter, fed through a bounded
 * queue; and what it sends is checked (message known, source ids its token allows, role,
 * control lease, rate) before it reaches a vehicle, renumbered per source. Refusals go
 * back to that client alone; control changes and refusals go to the log and the audit log.
 */
import {
  encodeFrame, type Frame, FrameDecoder, FrameEncoder, MAV_SEVERITY, MessageEncodeError, type MessageRegistry, msgidOf, type OutgoingMessage, SECRET_MESSAGE_IDS,
  seqOf, sourceOf, statusTextChunks, StatusTextIds, withSequence,
} from '../mavlink/index.js';
import type { Router } from '../router/router.js';
import type { VehicleStateStore } from '../router/vehicle-state.js';
import type { EgressFilter } from '../residency/egress-filter.js';
import type { EgressMeter } from '../residency/egress-meter.js';
import type { ConnectGrant, EgressGate } from '../residency/gate.js';
import { bothFilters } from './destination-filter.js';
import { ClientSession, type ClientKind, RateLimiter, type RateLimit, type SessionHooks } from './client-session.js';
import { ControlLease, type ControlEvent, type LeaseHolder } from './control-lease.js';
import { fromMavlink2Rest, jsonRenderer, Mavlink2RestError } from '../mavlink/mavlink2rest-json.js';
import { DEFAULT_QUEUE, OutboundQueue, type ClientTransport, type QueueOptions } from './outbound-queue.js';
import { LogDataRoute } from './log-data-route.js';
import { commandName, DEFAULT_PERMISSIONS, type PermissionSettings, Permissions } from './permissions.js';
import { type Ids, refusalAnswer, replySource } from './refusal-answers.js';
import { ReplySlots } from './reply-slots.js';
import { type Principal, sourceAllowed } from './tokens.js';

export interface ClientHubOptions {
  permissions: PermissionSettings;
  /** A holder that sends nothing for this long loses control. */
  controlTimeoutMs: number;
  /**
   * `auto`: a pilot's first message that needs control takes the lease when nobody holds
   * it (an unmodified Cockpit or QGroundControl cannot ask for it); `explicit`: only a
   * control request takes it. UDP/TCP ground stations are always `auto`.
   */
  controlMode: 'auto' | 'explicit';
  rateLimit: RateLimit;
  queue: QueueOptions;
  /** A client whose queue has not moved for this long is disconnected. */
  stallTimeoutMs: number;
  /** A REST caller that sent nothing for this long is no longer listed as a client. */
  restIdleMs: number;
}

export const DEFAULT_HUB: ClientHubOptions = {
  permissions: DEFAULT_PERMISSIONS,
  controlTimeoutMs: 5000,
  controlMode: 'auto',
  rateLimit: { perSecond: 100, burst: 200 },
  queue: DEFAULT_QUEUE,
  stallTimeoutMs: 10_000,
  restIdleMs: 60_000,
};

/** What the hub needs of the gateway (the gate can be replaced by a reload). */
export interface HubContext {
  registry: MessageRegistry;
  router: Router;
  state: VehicleStateStore;
  gate: () => EgressGate;
  /** The gateway's own ids, for replies it makes itself (a denied command's ack, a status text). */
  source: { sysid: number; compid: number };
  /** `key` names an event that may repeat with every frame (it is then summarised). */
  log: (level: 'info' | 'warn', message: string, key?: string) => void;
  now?: () => number;
  /** Why a client's token no longer admits it (expired, removed, rotated), or null; none: tokens never end. */
  tokenCheck?: (principal: Principal) => string | null;
}

/** Why a message was refused: the REST status follows from it. */
export type RefusalKind = 'bad_input' | 'role' | 'source' | 'control' | 'rate';
export type SendResult = { ok: true; bytes: number } | { ok: false; kind: RefusalKind; reason: string };

export interface OpenOptions {
  filter?: RegExp;
  autoControl?: boolean;
  /** A ground station mavgate sends to: the policy's rule for its address applies too, and a new policy must still approve it. */
  destination?: ConnectGrant;
  /** The grant the client came through (`server.listen`, `gcs[0]`): the report lists a listener's clients under it. */
  via?: string;
}

/** Replies that must reach the client even when it is slow: never coalesced away. */
const KEEP = /^(COMMAND_ACK|STATUSTEXT|MISSION_.*|PARAM_.*|LOG_.*|FILE_TRANSFER_PROTOCOL|FENCE_POINT|RALLY_POINT)$/;
const MAX_JSON_BYTES = 16 * 1024;
/** WebSocket close code (application range) for a client whose token expired, was removed or rotated: sign in again. */
export const CLOSE_CREDENTIALS_ENDED = 4001;
const HEARTBEAT_ID = 0;
/** How long a reply in a vehicle's name waits for a telemetry frame of that vehicle whose place (and number) to take. */
const REPLY_WAIT_MS = 500;
/** The same refusal's reason goes to a client as a status text at most this often. */
const STATUS_TEXT_EVERY_MS = 5000;

export class ClientHub {
  readonly sessions = new Map<string, ClientSession>();
  readonly lease: ControlLease;
  readonly permissions: Permissions;
  readonly options: ClientHubOptions;
  /** Sessions disconnected because they stalled or overflowed. */
  disconnectedSlow = 0;
  private nextId = 1;
  private readonly now: () => number;
  private readonly sequences = new Uint8Array(65536);
  private readonly keep = new Uint8Array(65536);
  private readonly encoder: FrameEncoder;
  /** Routes the renumbered copy of an accepted frame, as coming from `routingFrom`. */
  private readonly outlet: FrameDecoder;
  private routingFrom: ClientSession | null = null;
  /** Set while a JSON or REST message is being judged: where its result goes. */
  private pendingResult: ((r: SendResult) => void) | null = null;
  /** Renders a frame to JSON once for every JSON client it goes to. */
  private readonly render: (bytes: Buffer) => string | null;
  private rendered: { bytes: Buffer | null; json: Buffer | null } = { bytes: null, json: null };
  private readonly timer: NodeJS.Timeout;
  private readonly lastStatusText = new Map<string, number>();
  private readonly unwatchPolicy: () => void;
  private readonly statusTextIds = new StatusTextIds();
  /** JSON for the /v1/ws/mavlink clients of a reply made for one of them. */
  private readonly renderReply: (bytes: Buffer) => string | null;
  /** A vehicle's LOG_DATA goes only to the endpoint downloading from it. */
  private readonly logData: LogDataRoute;
  private readonly unwatchLogData: () => void;
  /** Per REST client: what meters the frames its replies carried (its role's filter, counting into its meter). */
  private readonly restReplies = new Map<ClientSession, FrameDecoder>();

  constructor(private readonly context: HubContext, options: Partial<ClientHubOptions> = {}) {
    this.options = { ...DEFAULT_HUB, ...options };
    this.now = context.now ?? Date.now;
    const { registry } = context;
    this.permissions = new Permissions(this.options.permissions, registry);
    for (const def of registry) if (def.id < 65536 && KEEP.test(def.name)) this.keep[def.id] = 1;
    this.encoder = new FrameEncoder(registry);
    this.outlet = new FrameDecoder(registry, (frame) => context.router.route(frame, this.routingFrom!.port));
    // Cockpit's types hold enum values as names: a message with an unnamed one is left out, as mavlink2rest does.
    this.render = jsonRenderer(registry, { namedEnumsOnly: true });
    this.renderReply = jsonRenderer(registry, { namedEnumsOnly: true });
    this.lease = new ControlLease(this.options.controlTimeoutMs, (e) => this.onControl(e), this.now);
    this.logData = new LogDataRoute(registry, this.now);
    this.unwatchLogData = context.router.onFrame((frame, from) => this.logData.observe(frame, from));
    this.timer = setInterval(() => this.sweep(), 1000);
    this.timer.unref();
    // Judged again the moment a new policy takes force, before the next frame goes out.
    this.unwatchPolicy = context.gate().watchPolicy(() => {
      const { disconnected } = this.applyPolicy();
      if (disconnected > 0) context.log('warn', `new policy: ${disconnected} client(s) disconnected: the policy in force does not approve them`);
    });
  }

  private get gate(): EgressGate {
    return this.context.gate();
  }

  /** May `principal` connect from `address`? (Its token still in force, the policy's client networks; refusals audited.) */
  admit(entry: string, address: string, principal: Principal): boolean {
    const invalid = this.context.tokenCheck?.(principal) ?? null;
    if (invalid) {
      this.gate.record('client_refused', { entry, address, role: principal.role, rule: 'tokens', reason: invalid });
      return false;
    }
    return this.gate.admitClient(entry, address, principal.role).approved;
  }

  /** A new client: attached to the router with its role's residency filter, and audited. */
  open(kind: ClientKind, transport: ClientTransport | null, principal: Principal, address: string, hooks: SessionHooks, options: OpenOptions = {}): ClientSession {
    const id = `client${this.nextId++}`;
    const { registry } = this.context;
    const { filter, meter } = this.egressOf(principal.role, options.destination);
    const via = options.via ?? options.destination?.entry;
    const queue = new OutboundQueue(transport ?? { write: () => {}, buffered: () => 0 }, this.options.queue, this.now);
    let session!: ClientSession;
    const port = this.context.router.attach({
      id,
      role: 'client',
      // REST clients only send: nothing is queued for them.
      receivesAll: kind !== 'rest',
      filter: this.routeFilter(kind, filter, principal.role),
      send: (bytes) => (kind === 'rest' ? true : this.deliver(session, bytes)),
    });
    const decoder = new FrameDecoder(this.context.registry, (frame) => this.judgeAndRoute(session, frame));
    const replies = new ReplySlots((message, source, seq) => encodeFrame(registry, message, { sysid: source >> 8, compid: source & 0xff, seq }), REPLY_WAIT_MS);
    session = new ClientSession(
      id, kind, principal, address, queue, port, meter, decoder, new RateLimiter(this.options.rateLimit, this.now), hooks,
      options.filter ?? null, options.autoControl ?? this.options.controlMode === 'auto', replies, this.now(), options.destination ?? null,
    );
    this.sessions.set(id, session);
    this.meterRestThrough(session, filter);
    this.gate.record('client_connected', { client: session.entry, principal: principal.name, role: principal.role, kind, address, ...(via ? { via } : {}) });
    this.context.log('info', `${session.entry}: connected`);
    return session;
  }

  /**
   * A new policy is in force (the gate tells the hub): every connected client is judged again. One its
   * network no longer allows is disconnected (and audited); the others get the new rule
   * for their role from the next frame on.
   */
  applyPolicy(): { disconnected: number } {
    let disconnected = 0;
    for (const session of [...this.sessions.values()]) {
      // A ground station mavgate sends to is judged as a destination by its grant (revoked: its endpoint cuts it off).
      const verdict = this.gate.admitClient(session.entry, session.ip, session.principal.role);
      if (!verdict.approved) {
        disconnected++;
        const why = `the new residency policy refuses it: ${verdict.reason}`;
        session.hooks.close(1008, 'refused by the residency policy');
        this.close(session, why);
        continue;
      }
      this.gate.record('egress', { entry: session.entry, withheld: session.port.withheld, sent: session.meter.snapshot() });
      const { filter, meter } = this.egressOf(session.principal.role, session.destination ?? undefined);
      session.port.endpoint.filter = this.routeFilter(session.kind, filter, session.principal.role);
      session.meter = meter;
      this.meterRestThrough(session, filter);
    }
    return { disconnected };
  }


  /**
   * The tokens in force changed, or one expired: every client whose token no longer
   * admits it is disconnected, told why, and audited. Returns how many went.
   */
  applyTokens(): number {
    let disconnected = 0;
    for (const session of [...this.sessions.values()]) {
      const why = this.context.tokenCheck?.(session.principal) ?? null;
      if (!why) continue;
      disconnected++;
      session.hooks.close(CLOSE_CREDENTIALS_ENDED, why.slice(0, 120));
      this.close(session, why);
    }
    return disconnected;
  }

  /** What a client may receive: its role's rule, and for a ground station mavgate sends to, its address's rule too. */
  private egressOf(role: Principal['role'], destination: ConnectGrant | undefined): { filter: EgressFilter; meter: EgressMeter } {
    const { registry } = this.context;
    const byRole = this.gate.egressForRole(role, registry);
    if (!destination) return byRole;
    const byAddress = this.gate.egressFor(destination, registry);
    return { filter: bothFilters(byRole.filter, byAddress.filter, registry), meter: byAddress.meter };
  }

  /**
   * The filter on a client's router port. A REST client's port sends nothing (its replies
   * are answers to requests, metered by `meterRest`): its meter must not count the frames
   * the router hands a port that discards them.
   */
  private routeFilter(kind: ClientKind, filter: EgressFilter, role: Principal['role']): EgressFilter {
    return kind === 'rest' ? this.gate.egressForRole(role, this.context.registry).filter : filter;
  }

  /**
   * A REST reply carried these stored frames to the client: each goes through the client's
   * filter as a WebSocket client's frame does, so its meter counts them by class (what the
   * residency report says the client received).
   */
  meterRest(session: ClientSession, frames: Iterable<Buffer>): void {
    const replies = this.restReplies.get(session);
    if (!replies) return;
    for (const bytes of frames) replies.push(bytes);
  }

  /** Each frame of a REST reply through `filter`, which counts it into the session's meter. */
  private meterRestThrough(session: ClientSession, filter: EgressFilter): void {
    if (session.kind === 'rest') this.restReplies.set(session, new FrameDecoder(this.context.registry, (frame) => void filter(frame)));
  }

  /** The client went away (or is sent away): its lease ends, and what it received is audited. */
  close(session: ClientSession, why: string): void {
    if (session.closed) return;
    session.closed = true;
    if (session.replyTimer) clearTimeout(session.replyTimer);
    this.sessions.delete(session.id);
    this.restReplies.delete(session);
    this.context.router.detach(session.port);
    this.logData.release(session.port);
    // What was routed to it and has not left yet stays here (a revoked client hears nothing after the policy that refused it).
    session.queue.close();
    this.lease.disconnected(session.id);
    this.gate.record('client_closed', {
      client: session.entry, why, accepted: session.counters.accepted, refused: session.counters.refused,
      refusals: Object.fromEntries(session.refusals), dropped: session.queue.dropped,
    });
    this.gate.record('egress', { entry: session.entry, withheld: session.port.withheld, sent: session.meter.snapshot() });
    this.context.log('info', `${session.entry}: disconnected (${why})`);
  }

  private deliver(session: ClientSession, bytes: Buffer): boolean {
    const msgid = msgidOf(bytes);
    // SETUP_SIGNING carries a secret key: it goes to the vehicle, never to a client.
    if (SECRET_MESSAGE_IDS.has(msgid)) return true;
    const source = sourceOf(bytes);
    if (msgid === this.logData.logData && !this.logData.allows(source >> 8, session.port)) return true;
    const keep = msgid < 65536 && this.keep[msgid] === 1;
    if (!keep && msgid !== HEARTBEAT_ID && session.replies.waitingFor(source)) {
      // A reply made in this source's name takes this telemetry frame's place and number.
      this.queueReply(session, session.replies.take(source, seqOf(bytes))!);
      return true;
    }
    const key = source * 0x1000000 + msgid;
    if (session.kind !== 'ws-json') {
      session.queue.push(bytes, key, keep);
      return true;
    }
    if (!session.wants(msgid, () => this.context.registry.byId(msgid)?.name)) return true;
    const json = this.jsonOf(bytes);
    if (json !== null) session.queue.push(json, key, keep);
    return true;
  }

  /** A reply to this client alone, never coalesced away (a JSON client's `?filter=` still applies). */
  private queueReply(session: ClientSession, bytes: Buffer): void {
    if (session.kind !== 'ws-json') {
      session.queue.push(bytes, -1, true);
      return;
    }
    const msgid = msgidOf(bytes);
    if (!session.wants(msgid, () => this.context.registry.byId(msgid)?.name)) return;
    const json = this.renderReply(bytes);
    if (json !== null) session.queue.push(Buffer.from(json), -1, true);
  }

  /** mavlink2rest JSON of a frame, rendered once however many clients it goes to. */
  private jsonOf(bytes: Buffer): Buffer | null {
    if (this.rendered.bytes !== bytes) {
      const json = this.render(bytes);
      this.rendered = { bytes, json: json === null ? null : Buffer.from(json) };
    }
    return this.rendered.json;
  }

  /** Raw MAVLink bytes from a stream client (TCP). */
  receiveRaw(session: ClientSession, chunk: Buffer): void {
    session.decoder.push(chunk);
  }

  /** One UDP datagram from a ground station: whole frames, never continued in the next one. */
  receiveDatagram(session: ClientSession, datagram: Buffer): void {
    session.decoder.pushWhole(datagram);
  }

  /** One WebSocket binary message: one or more whole frames. */
  receiveRawMessage(session: ClientSession, message: Buffer): void {
    const before = this.framesOf(session);
    session.decoder.push(message);
    if (this.framesOf(session) === before || session.decoder.pendingBytes > 0) {
      session.decoder.end();
      const refusal = this.refuse(session, 'bad_input', 'frame', `no complete, valid MAVLink frame in a ${message.length}-byte message (send one whole frame per binary message)`);
      session.hooks.reply?.(JSON.stringify({ error: refusal.reason }));
    }
  }

  private framesOf(session: ClientSession): number {
    return session.decoder.stats.frames + session.decoder.stats.unknown;
  }

  /** The session REST requests of one token send through (rate limit, lease and counters shared across requests). */
  restSession(principal: Principal, address: string, via?: string): ClientSession {
    let session = [...this.sessions.values()].find((s) => s.kind === 'rest' && s.principal.name === principal.name);
    session ??= this.open('rest', null, principal, address, { close: () => {} }, via ? { via } : {});
    session.lastActive = this.now();
    return session;
  }

  /**
   * One mavlink2rest JSON message (or a control request) from a WebSocket client; returns
   * the text reply: `Ok(N)`, `{"error": …}` for a message that is not one, or null for a
   * refused message, which is answered as MAVLink messages (a denied COMMAND_ACK, a status
   * text with the reason) in mavlink2rest's shape, as Cockpit reads them.
   */
  receiveJson(session: ClientSession, text: string): string | null {
    if (Buffer.byteLength(text) > MAX_JSON_BYTES) return this.errorReply(session, 'bad_input', 'message', `message too large (${Buffer.byteLength(text)} bytes; the limit is ${MAX_JSON_BYTES})`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      return this.errorReply(session, 'bad_input', 'json', `not valid JSON: ${(err as Error).message}`);
    }
    if (json !== null && typeof json === 'object' && 'control' in json) {
      const { control, force } = json as { control: unknown; force?: unknown };
      return JSON.stringify(this.controlRequest(session.principal, session.id, control, force === true));
    }
    const result = this.sendJson(session, json);
    if (result.ok) return `Ok(${result.bytes})`;
    return result.kind === 'bad_input' ? JSON.stringify({ error: result.reason }) : null;
  }

  /** A mavlink2rest message from a client (WebSocket or REST): encoded, checked and routed. */
  sendJson(session: ClientSession, json: unknown): SendResult {
    let bytes: Buffer;
    try {
      const message = fromMavlink2Rest(json, this.context.registry);
      const fallback = session.principal.sources[0]?.system ?? 255;
      bytes = this.encoder.encode({ name: message.name, fields: message.fields }, { sysid: message.sysid ?? fallback, compid: message.compid ?? 240 });
    } catch (err) {
      if (!(err instanceof Mavlink2RestError || err instanceof MessageEncodeError)) throw err;
      return this.refuse(session, 'bad_input', 'message', err.message);
    }
    let result: SendResult = { ok: false, kind: 'bad_input', reason: 'the message did not encode to a frame' };
    this.pendingResult = (r) => (result = r);
    try {
      session.decoder.push(bytes);
    } finally {
      this.pendingResult = null;
    }
    return result;
  }

  /**
   * May this client have the gateway send `message` for it (an API that acts for the
   * client, such as an onboard log download)? Its role decides, as for a message it sent
   * itself; a refusal is counted and audited the same way.
   */
  judgeRequest(session: ClientSession, message: string): SendResult {
    const verdict = this.permissions.judge(session.principal.role, message);
    return verdict.allowed ? { ok: true, bytes: 0 } : this.refuse(session, 'role', message, verdict.reason);
  }

  /** Takes or releases control for `principal`; the reply says who holds it. */
  controlRequest(principal: Principal, session: string | null, action: unknown, force: boolean): { control: unknown } | { error: string } {
    if (action === 'take') {
      const r = this.lease.take(principal.name, principal.role, session, force);
      return r.ok ? { control: this.describeHolder(r.holder) } : { error: r.reason };
    }
    if (action === 'release') {
      if (!this.lease.release(principal.name)) return { error: `${principal.name} does not hold control` };
      return { control: null };
    }
    return { error: '"control" must be "take" or "release"' };
  }

  describeHolder(holder: LeaseHolder | null): unknown {
    return holder && { holder: holder.principal, role: holder.role, since: new Date(holder.since).toISOString(), timeout_ms: this.options.controlTimeoutMs };
  }

  /** The checks every frame from a client passes before it may reach a vehicle. */
  private judgeAndRoute(session: ClientSession, frame: Frame): void {
    const result = this.judge(session, frame);
    if (result.ok) {
      const key = (frame.sysid << 8) | frame.compid;
      const seq = this.sequences[key]!;
      this.sequences[key] = (seq + 1) & 0xff;
      const bytes = withSequence(frame, seq);
      session.counters.accepted++;
      this.routingFrom = session;
      this.outlet.push(bytes);
      this.routingFrom = null;
      this.pendingResult?.({ ok: true, bytes: bytes.length });
      return;
    }
    // A JSON or REST caller is waiting for the result; every client but a REST one also hears the refusal as MAVLink.
    this.pendingResult?.(result);
    if (session.kind !== 'rest') this.answerRefusal(session, frame, result.reason);
  }

  private judge(session: ClientSession, frame: Frame): SendResult {
    const { principal } = session;
    if (!session.limiter.take()) {
      session.counters.rateLimited++;
      return this.refuse(session, 'rate', frame.name ?? `#${frame.msgid}`, `rate limit: at most ${this.options.rateLimit.perSecond} messages/s (bursts of ${this.options.rateLimit.burst})`);
    }
    if (!frame.message || !frame.verified) return this.refuse(session, 'bad_input', `#${frame.msgid}`, `unknown message id ${frame.msgid} (not in the dialects in use)`);
    const name = frame.message.name;
    if (principal.role !== 'observer' && !sourceAllowed(principal.sources, frame.sysid, frame.compid)) {
      const vehicle = this.context.state.get(frame.sysid, frame.compid)?.isVehicle;
      const allowed = principal.sources.map((s) => `${s.system}/${s.components.length ? s.components.join('|') : '*'}`).join(', ');
      return this.refuse(session, 'source', name, `source ${frame.sysid}/${frame.compid} is ${vehicle ? "a vehicle's own id" : 'not allowed for this token'}; send as ${allowed || 'nothing'}`);
    }
    const fields = name === 'COMMAND_LONG' || name === 'COMMAND_INT' ? frame.decode() : null;
    const command = typeof fields?.command === 'number' ? fields.command : undefined;
    const verdict = this.permissions.judge(principal.role, name, command);
    if (!verdict.allowed) return this.refuse(session, 'role', command === undefined ? name : commandName(command), verdict.reason);
    if (verdict.needsControl && !this.lease.holds(principal.name)) {
      const holder = this.lease.holder;
      if (!holder && session.autoControl) this.lease.take(principal.name, principal.role, session.id);
      else {
        const what = command === undefined ? name : commandName(command);
        const reason = holder
          ? `control is held by ${holder.principal} (${holder.role}); ${what} refused`
          : `${what} needs control: take it first ({"control":"take"} on the socket, or POST /v1/control)`;
        return this.refuse(session, 'control', what, reason);
      }
    }
    this.lease.renew(principal.name);
    return { ok: true, bytes: frame.length };
  }

  /** Refuses one message: counted, and audited the first time per kind and message (then counted until the client goes). */
  private refuse(session: ClientSession, kind: RefusalKind, what: string, reason: string): { ok: false; kind: RefusalKind; reason: string } {
    session.counters.refused++;
    const key = `${kind}:${what}`;
    const seen = session.refusals.get(key) ?? 0;
    session.refusals.set(key, seen + 1);
    if (seen === 0) {
      this.gate.record('client_refused_message', { client: session.entry, kind, message: what, reason });
      this.context.log('warn', `${session.entry}: refused ${what}: ${reason}`);
    }
    return { ok: false, kind, reason };
  }

  private errorReply(session: ClientSession, kind: RefusalKind, what: string, reason: string): string {
    return JSON.stringify({ error: this.refuse(session, kind, what, reason).reason });
  }

  /**
   * A refusal told to its client alone, in MAVLink: the refused message's own protocol
   * answer (a denied COMMAND_ACK, MISSION_ACK, the unchanged PARAM_VALUE) and the reason as
   * a STATUSTEXT (chunked past 50 characters; the same reason at most every 5 s), in the
   * name of the vehicle the message was for, since that is whose answer ground stations
   * wait for. On the raw WebSocket the error also comes as text.
   */
  private answerRefusal(session: ClientSession, frame: Frame, reason: string): void {
    if (session.kind === 'ws-raw') session.hooks.reply?.(JSON.stringify({ error: reason }));
    const fields = frame.message && frame.verified ? frame.decode() : null;
    const from = replySource(this.context.state, fields, this.context.source);
    const messages: OutgoingMessage[] = [];
    const answer = fields ? refusalAnswer(frame.message!.name, fields, { sysid: frame.sysid, compid: frame.compid }, from, this.context.state) : null;
    if (answer) messages.push(answer);
    const key = `${session.id}:${reason}`;
    const t = this.now();
    if (t - (this.lastStatusText.get(key) ?? -Infinity) >= STATUS_TEXT_EVERY_MS) {
      this.lastStatusText.set(key, t);
      for (const chunk of statusTextChunks(`mavgate: ${reason}`, this.statusTextIds.next())) {
        messages.push({ name: 'STATUSTEXT', fields: { severity: MAV_SEVERITY.WARNING, ...chunk } });
      }
    }
    this.replyAs(session, from, messages);
  }

  /**
   * Replies in the name of `from`. While that source streams to the client, each takes the
   * place and number of its next telemetry frame (reply-slots.ts); a source never heard has
   * no numbering to keep, so the client's own count for it goes on.
   */
  private replyAs(session: ClientSession, from: Ids, messages: OutgoingMessage[]): void {
    if (messages.length === 0) return;
    const source = (from.sysid << 8) | from.compid;
    if (this.context.router.sequence.lastSeq(from.sysid, from.compid) < 0) {
      for (const message of messages) {
        const seq = session.ownSequence.get(source) ?? 0;
        session.ownSequence.set(source, (seq + 1) & 0xff);
        this.queueReply(session, encodeFrame(this.context.registry, message, { ...from, seq }));
      }
      return;
    }
    const t = this.now();
    for (const message of messages) session.replies.park(source, message, t);
    session.replyTimer ??= setTimeout(() => this.sendOverdueReplies(session), REPLY_WAIT_MS).unref();
  }

  /** The source fell silent: its parked replies go now, numbered on from its last frame. */
  private sendOverdueReplies(session: ClientSession): void {
    session.replyTimer = null;
    if (session.closed) return;
    const sequence = this.context.router.sequence;
    for (const bytes of session.replies.overdue(this.now(), (source) => sequence.lastSeq(source >> 8, source & 0xff))) this.queueReply(session, bytes);
    if (session.replies.size > 0) session.replyTimer = setTimeout(() => this.sendOverdueReplies(session), REPLY_WAIT_MS).unref();
  }

  private onControl(event: ControlEvent): void {
    const { log } = this.context;
    if (event.type === 'taken') {
      this.gate.record('control_taken', { principal: event.holder.principal, role: event.holder.role, ...(event.from ? { from: event.from.principal } : {}) });
      log(event.from ? 'warn' : 'info', `control: ${event.holder.principal} (${event.holder.role}) took control${event.from ? ` over from ${event.from.principal}` : ''}`);
    } else if (event.type === 'released') {
      this.gate.record('control_released', { principal: event.holder.principal, why: event.why });
      log(event.why === 'released' ? 'info' : 'warn', `control: ${event.holder.principal} lost control (${event.why})`);
    } else {
      this.gate.record('control_refused', { principal: event.principal, holder: event.holder.principal });
      log('warn', `control: ${event.principal} refused, ${event.holder.principal} holds control`, `control refused ${event.principal}`);
    }
  }

  /** Once a second: leases that timed out end, clients that stopped reading go. */
  private sweep(): void {
    this.lease.expire();
    for (const t of this.lastStatusText.keys()) if (!this.sessions.has(t.split(':')[0]!)) this.lastStatusText.delete(t);
    for (const session of [...this.sessions.values()]) {
      if (session.kind === 'rest' && this.now() - session.lastActive > this.options.restIdleMs) {
        this.close(session, `no request for ${Math.round(this.options.restIdleMs / 1000)} s`);
        continue;
      }
      // A stream client gone quiet with a candidate frame waiting: see whether it can still be real.
      if (session.decoder.pendingBytes > 0 && session.decoder.stats.bytes === session.bytesAtLastSweep) session.decoder.idle();
      session.bytesAtLastSweep = session.decoder.stats.bytes;
      const { queue } = session;
      // Bytes sent around the queue (replies) can fill the transport with no flush of ours to wait for.
      queue.pump();
      if (!queue.overflowed && queue.stalledFor() <= this.options.stallTimeoutMs) continue;
      this.disconnectedSlow++;
      const why = queue.overflowed ? 'its queue of replies overflowed' : `it read nothing for ${Math.round(queue.stalledFor() / 1000)} s`;
      session.hooks.close(1008, `too slow: ${why}`);
      this.close(session, `too slow: ${why}`);
    }
  }

  stats(): unknown[] {
    return [...this.sessions.values()].map((s) => ({
      id: s.id, kind: s.kind, name: s.principal.name, role: s.principal.role, address: s.address,
      connected_at: s.connectedAt.toISOString(), received: s.port.framesOut, ...(s.queue.datagrams !== undefined ? { datagrams: s.queue.datagrams } : {}),
      queued: s.queue.length, dropped: s.queue.dropped,
      withheld: s.port.withheld, accepted: s.counters.accepted, refused: s.counters.refused, rate_limited: s.counters.rateLimited,
    }));
  }

  stop(): void {
    clearInterval(this.timer);
    this.unwatchPolicy();
    this.unwatchLogData();
    for (const session of [...this.sessions.values()]) {
      session.hooks.close(1001, 'mavgate is stopping');
      this.close(session, 'server stopping');
    }
  }
}
