/**
 * The gateway assembled: links → decoders → router → vehicle state, plus the gateway's
 * own MAVLink node. The commands are thin wrappers around this; tests drive it directly.
 */
import { EventStream, type Subscribable, type Subscription } from '../events/event-stream.js';
import type { Endpoint } from '../links/endpoint.js';
import { createLink, requestGrant } from '../links/create-link.js';
import { type UdpBackend, UdpLink } from '../links/udp-link.js';
import type { LinkState, VehicleLink } from '../links/link.js';
import { type Frame, FrameDecoder, loadRegistry, type MessageRegistry } from '../mavlink/index.js';
import { DEFAULT_GATEWAY_NODE, GatewayNode, type GatewayNodeOptions } from '../router/gateway-node.js';
import { type RoutePort, Router } from '../router/router.js';
import { type VehicleEvent, VehicleStateStore } from '../router/vehicle-state.js';
import type { EgressFilter } from '../residency/egress-filter.js';
import type { EgressMeter, MeteredClass } from '../residency/egress-meter.js';
import { type ConnectGrant, EgressGate, type Grant, type InProcessGrant, releaseGrant, ResidencyRefusal, watchGrant } from '../residency/gate.js';
import type { FleetLink, FleetTls } from '../links/fleet-link.js';
import { LinkSigning, type SigningCounters } from '../links/link-signing.js';
import { LinkMonitor } from '../router/link-monitor.js';
import { FlightHistory, SEVERITY } from '../router/flight-history.js';
import type { ReplayOptions } from '../links/replay-link.js';
import { defaultPolicy } from '../residency/policy.js';
import type { SimOptions } from '../sim/sim-vehicle.js';

/** A stream link silent this long, with a candidate frame waiting, is quiet (a 263-byte frame takes 46 ms at 57600 baud). */
const QUIET_MS = 100;

export interface GatewayOptions {
  links: Endpoint[];
  dialects?: readonly string[];
  /** Window for dropping copies that arrive through redundant links (two radios); 0 (the default) turns it off. */
  dedupWindowMs?: number;
  node?: Partial<GatewayNodeOptions>;
  sim?: SimOptions;
  /** How `replay:` links play their recording. */
  replay?: ReplayOptions;
  /** Certificates for a `fleet:mqtts://` link. */
  fleetTls?: FleetTls;
  now?: () => number;
  /** Every link is opened with a grant from this gate (default: the default policy, loopback only). */
  gate?: EgressGate;
}

export interface LinkHandle {
  readonly link: VehicleLink;
  /** The gate's grant the link was opened with; revoked when a new policy refuses it. */
  readonly grant: Grant;
  readonly decoder: FrameDecoder;
  readonly port: RoutePort;
  /** What this link was sent, by data class (since the policy in force was loaded). */
  meter: EgressMeter;
  /** How the config names it (`links[1] udp:…`), as the audit log does. */
  readonly entry: string;
  state: LinkState;
  /** The port's endpoint: its filter changes when a new policy is loaded. */
  readonly routeEndpoint: { id: string; role: 'link'; send: (bytes: Buffer) => boolean; filter: EgressFilter };
  readonly subscriptions: Subscription[];
  /** MAVLink 2 signing on this link, when configured. */
  readonly signing: LinkSigning | null;
  /** Frames of unknown message ids this link dropped (`drop_unknown`). */
  unknownDropped: number;
  unwatch: () => void;
  /** The link's byte count when quiet links were last looked for. */
  bytesInAtLastCheck: number;
}

export interface ReloadResult {
  added: string[];
  removed: string[];
  /** Links the policy refused (new ones not opened, existing ones closed), with the reason. */
  refused: string[];
  /** New links that could not be opened (a port in use, a missing device), with the reason. */
  failed: string[];
}

export interface LinkStats {
  id: string;
  endpoint: string;
  state: LinkState;
  bytesIn: number;
  bytesOut: number;
  framesIn: number;
  /** Frames routed to this link. */
  framesOut: number;
  /** Datagrams (TCP, serial: writes) that left: with coalesced sends, several frames each. */
  datagramsOut: number;
  /** Frames the link could not send (down, no peer yet, or queued when its grant was revoked). */
  framesDropped: number;
  /** UDP links: the receive buffer the kernel granted, bytes (Linux reports twice what was asked). */
  receiveBufferBytes?: number;
  /** UDP links: how the socket receives, `recvmmsg` (native, a batch per wake-up) or `dgram` (Node's, a callback per datagram). */
  udpBackend?: UdpBackend;
  /** UDP links on dgram: why. */
  udpBackendReason?: string;
  /** Copies from a redundant link that were dropped. */
  duplicates: number;
  crcErrors: number;
  /** Frames of message ids the loaded dialects do not know (passed on unverified). */
  unknownFrames: number;
  /** Bytes that were part of no frame (garbage, damaged frames). */
  bytesSkipped: number;
  /** Loss from sequence gaps of the frames this link delivered, 0..1. */
  lossRate: number;
  /** Frames the residency rule for this link kept from it. */
  withheld: number;
  /** Frames of unknown message ids dropped at this link (`drop_unknown`). */
  unknownDropped: number;
  /** What was sent to this link, by data class. */
  sent: Partial<Record<MeteredClass, { frames: number; bytes: number }>>;
  /** Signing counters, when the link signs or requires signatures. */
  signing?: SigningCounters;
  /** A fleet link's vehicles: fleet system id → site and system id at the gateway. */
  fleet?: FleetLink['vehicles'];
}

export interface VehicleStats {
  sysid: number;
  compid: number;
  received: number;
  lost: number;
  /** Loss over all links together, after deduplication, 0..1. */
  lossRate: number;
}

function lossOf(sources: { received: number; lost: number }[]): number {
  const received = sources.reduce((n, s) => n + s.received, 0);
  const lost = sources.reduce((n, s) => n + s.lost, 0);
  return received + lost === 0 ? 0 : lost / (received + lost);
}

export interface VehicleSummary {
  sysid: number;
  compid: number;
  type: number;
  autopilot: number;
  mode: string;
  armed: boolean;
  lost: boolean;
  heartbeat_age_ms: number;
}

export interface ResidencySummary {
  site: string;
  jurisdiction: string;
  policy_sha256: string;
  policy_source: string;
  auditing: boolean;
  /** The newest refusals, newest last. */
  refusals: { at: string; event: string; details: Record<string, unknown> }[];
}

export type GatewayEvent =
  | { type: 'link'; link: VehicleLink; state: LinkState }
  /** A new policy refused the link: it was taken off the router and closed. */
  | { type: 'revoked'; link: VehicleLink; refusal: ResidencyRefusal }
  /** Something the operator should know, in words (a vehicle's signing clock behind). */
  | { type: 'notice'; level: 'info' | 'warn'; message: string }
  | { type: 'vehicle'; event: VehicleEvent }
  | { type: 'error'; error: unknown };

export class Gateway {
  readonly registry: MessageRegistry;
  readonly router: Router;
  readonly state: VehicleStateStore;
  readonly node: GatewayNode;
  /** Each link's quality over the last minutes, and why bytes arrive without frames. */
  readonly monitor: LinkMonitor;
  /** Tracks and the timeline, kept for pages that open or reload later. */
  readonly history: FlightHistory;
  readonly links: LinkHandle[] = [];
  private readonly events = new EventStream<GatewayEvent>();
  readonly events$: Subscribable<GatewayEvent> = this.events;
  private readonly subscriptions: Subscription[] = [];
  private heartbeatTimer: NodeJS.Timeout | null = null;
  /** Every link is opened with its grant; the gate holds the policy in force, and a reload changes it there. */
  readonly gate: EgressGate;
  private linkCount = 0;
  /** Links being closed after their grant was revoked: stop() waits for them. */
  private readonly closing = new Set<Promise<void>>();
  private idleTimer: NodeJS.Timeout | null = null;
  private started = false;

  constructor(readonly options: GatewayOptions) {
    this.gate = options.gate ?? new EgressGate(defaultPolicy());
    this.registry = loadRegistry(options.dialects);
    this.router = new Router(this.registry, {
      dedupWindowMs: options.dedupWindowMs ?? 0,
      ...(options.now ? { now: options.now } : {}),
      onListenerError: (error) => this.events.next({ type: 'error', error }),
    });
    this.state = new VehicleStateStore(options.now);
    this.router.onFrame((frame) => this.state.observe(frame));
    if (this.gate.auditing) this.auditControl();
    this.subscriptions.push(this.state.events$.subscribe((event) => this.events.next({ type: 'vehicle', event })));
    this.node = new GatewayNode(this.registry, this.router, this.state, { ...DEFAULT_GATEWAY_NODE, ...options.node });
    this.monitor = new LinkMonitor(() => this.stats().links, this.router, this.registry, options.now);
    this.history = new FlightHistory(this.router, this.state, this.registry, options.now);
    // Link changes on the timeline: once each, not every retry of a link that stays down.
    const lastSaid = new Map<string, string>();
    this.subscriptions.push(this.events$.subscribe((e) => {
      if (e.type !== 'link' || e.state.status === 'connecting' || e.state.reason === 'closed') return;
      const { status, reason } = e.state;
      const text = `link ${e.link.endpoint.text}: ${status}${reason ? ` (${reason})` : ''}`;
      if (lastSaid.get(e.link.id) === text) return;
      lastSaid.set(e.link.id, text);
      this.history.add({ kind: 'link', severity: status === 'up' ? SEVERITY.info : SEVERITY.error, text });
    }));
  }

  private grantFor(endpoint: Endpoint, entry: string) {
    if (endpoint.kind === 'sim') return this.gate.grantInProcess(entry);
    if (endpoint.kind === 'replay') return this.gate.grantInProcess(entry, endpoint.text, 'a recording replayed in-process');
    if (endpoint.kind === 'fleet') return this.gate.grantBroker(entry, endpoint.broker, endpoint.host, endpoint.port);
    return requestGrant(this.gate, endpoint, entry);
  }

  /**
   * How to make the endpoint's link. The simulator, replays and the fleet view are loaded
   * when a link needs them: a relay does not pay for their code (the MQTT client alone is
   * ~19 MiB of RSS).
   */
  private async linkMaker(endpoint: Endpoint): Promise<(id: string, grant: Grant) => VehicleLink> {
    if (endpoint.kind === 'sim') {
      const { SimLink } = await import('../sim/sim-link.js');
      return (id, grant) => new SimLink(id, grant as InProcessGrant, this.options.sim);
    }
    if (endpoint.kind === 'replay') {
      const { ReplayLink } = await import('../links/replay-link.js');
      return (id, grant) => new ReplayLink(id, endpoint, grant as InProcessGrant, this.registry, this.options.replay);
    }
    if (endpoint.kind === 'fleet') {
      const { FleetLink } = await import('../links/fleet-link.js');
      return (id, grant) => new FleetLink(id, endpoint, grant as ConnectGrant, this.registry, this.options.fleetTls ?? null);
    }
    return (id, grant) => createLink(id, endpoint, grant);
  }

  /** Gets the gate's grant for the endpoint (a refusal throws ResidencyRefusal) and wires the link in. */
  private async addLink(endpoint: Endpoint, position: number): Promise<LinkHandle> {
    // The router's id is unique for the run; the entry names the link's place in the configuration, as the user wrote it.
    const id = `link${++this.linkCount}`;
    const entry = `links[${position}] ${endpoint.text}`;
    const make = await this.linkMaker(endpoint);
    const grant = await this.grantFor(endpoint, entry);
    const link = make(id, grant);
    const { filter, meter } = this.gate.egressFor(grant, this.registry);
    const signing = 'signing' in endpoint && endpoint.signing
      ? new LinkSigning(endpoint.signing, this.registry, entry, {
        audit: (event, details) => this.gate.record(event, details),
        tell: (level, message) => this.events.next({ type: 'notice', level, message }),
        // While a frame is being handled: to its sender, even one a listener does not answer yet (its frames are stale, not forged).
        nudge: (signed) => (link.answerSender ? link.answerSender(signed) : link.write(signed)),
        nudgeFrame: () => this.node.heartbeatFrame(),
      })
      : null;
    const write = (bytes: Buffer) => link.write(bytes);
    const send = signing ? (bytes: Buffer) => signing.send(bytes, write) : write;
    const routeEndpoint = { id, role: 'link' as const, send, filter };
    const port = this.router.attach(routeEndpoint);
    const dropUnknown = 'dropUnknown' in endpoint && endpoint.dropUnknown === true;
    const accept = (frame: Frame) => {
      // A message this gateway cannot check (unknown id, no CRC_EXTRA) stops here when the link says so.
      if (dropUnknown && !frame.verified) {
        handle.unknownDropped++;
        return;
      }
      this.router.route(frame, port);
    };
    // With signing required, what fails verification reaches neither the router nor anything behind it (clients, recordings).
    const decoder = new FrameDecoder(this.registry, signing
      ? (frame) => {
        const verdict = signing.accept(frame);
        if (verdict === 'refused') return;
        // Only a frame signed with the key proves who sent it (an allow-listed radio message does not).
        if (verdict === 'verified') link.confirmSender?.();
        accept(frame);
      }
      : accept);
    const subscriptions: Subscription[] = [];
    const handle: LinkHandle = { link, grant, decoder, port, meter, entry, state: { status: 'connecting' }, routeEndpoint, subscriptions, signing, unknownDropped: 0, unwatch: () => {}, bytesInAtLastCheck: 0 };
    this.links.push(handle);
    handle.unwatch = watchGrant(grant, {
      // The new policy's rule for this destination, from the next frame on.
      changed: () => {
        this.recordEgress(handle);
        const next = this.gate.egressFor(grant, this.registry);
        handle.routeEndpoint.filter = next.filter;
        handle.meter = next.meter;
      },
      revoked: (refusal) => this.revokeLink(handle, refusal),
    });
    subscriptions.push(
      link.data$.subscribe(link.wholeFrames ? (chunk) => decoder.pushWhole(chunk) : (chunk) => {
        decoder.push(chunk);
        if (decoder.pendingBytes > 0) this.watchForQuiet();
      }),
      link.restarts$.subscribe(() => {
        // The link's own numbering and the merged numbering of the sources behind it start afresh: a reconnect is not loss.
        decoder.restart();
        this.router.sequence.restart(port.sources);
      }),
      link.state$.subscribe((state) => {
        // A signed link that comes up gets mavgate's signed frame at once: a vehicle whose signing clock is behind moves it forward.
        if (state.status === 'up' && handle.state.status !== 'up') signing?.nudge();
        handle.state = state;
        this.gate.record('link_state', { link: endpoint.text, status: state.status, ...(state.reason ? { reason: state.reason } : {}) });
        this.events.next({ type: 'link', link, state });
      }),
    );
    return handle;
  }

  /** Where telemetry went through one link, for the residency report. */
  private recordEgress(handle: LinkHandle): void {
    this.gate.record('egress', { entry: handle.entry, withheld: handle.port.withheld, sent: handle.meter.snapshot() });
  }

  /** Takes the link off the router at once: nothing more is sent to it. */
  private detachLink(handle: LinkHandle): void {
    const i = this.links.indexOf(handle);
    if (i < 0) return;
    this.recordEgress(handle);
    handle.unwatch();
    releaseGrant(handle.grant);
    this.router.detach(handle.port);
    // Frames routed to it this turn and not sent yet stay here: nothing leaves for it after this.
    handle.link.discardQueued();
    this.links.splice(i, 1);
  }

  private async removeLink(handle: LinkHandle): Promise<void> {
    this.detachLink(handle);
    await handle.link.close();
    for (const s of handle.subscriptions) s.unsubscribe();
  }

  /** The policy in force no longer approves the link: off the router now (before the next frame), closed after. */
  private revokeLink(handle: LinkHandle, refusal: ResidencyRefusal): void {
    this.detachLink(handle);
    this.events.next({ type: 'revoked', link: handle.link, refusal });
    const closing = handle.link.close().then(() => {
      for (const s of handle.subscriptions) s.unsubscribe();
    }, (error: unknown) => this.events.next({ type: 'error', error }));
    this.closing.add(closing);
    void closing.finally(() => this.closing.delete(closing));
  }

  /**
   * A new configuration at run time (SIGHUP): links no longer listed are closed, and new
   * ones (and ones a policy refused before, when the policy in force approves them now)
   * are granted and opened. A new policy is the gate's business (`EgressGate.applyPolicy`):
   * it revokes what it refuses before this runs, and the links learn it from their grants.
   */
  async reload(endpoints: Endpoint[]): Promise<ReloadResult> {
    const result: ReloadResult = { added: [], removed: [], refused: [], failed: [] };
    const wanted = new Set(endpoints.map((e) => e.text));
    for (const handle of [...this.links]) {
      if (!wanted.has(handle.link.endpoint.text)) {
        await this.removeLink(handle);
        result.removed.push(handle.entry);
      }
    }
    const existing = new Set(this.links.map((h) => h.link.endpoint.text));
    for (const [position, endpoint] of endpoints.entries()) {
      if (existing.has(endpoint.text)) continue;
      let handle: LinkHandle | undefined;
      try {
        handle = await this.addLink(endpoint, position);
        await handle.link.open();
        result.added.push(handle.entry);
      } catch (err) {
        if (err instanceof ResidencyRefusal) result.refused.push(err.message);
        else result.failed.push(err instanceof Error ? err.message : String(err));
        if (handle) await this.removeLink(handle);
      }
    }
    return result;
  }

  /**
   * Every control message from a ground station to a vehicle goes to the audit log:
   * who (the link and the source ids), what (message, command), to whom.
   */
  private auditControl(): void {
    this.router.onFrame((frame, from) => {
      // The policy in force may move messages between classes.
      if (this.gate.classTable(this.registry).classOf(frame.msgid) !== 'control' || this.state.get(frame.sysid, frame.compid)?.isVehicle) return;
      const fields = frame.decode();
      const link = this.links.find((h) => h.port === from);
      this.gate.record('control', {
        from: link?.entry ?? from.endpoint.id,
        source: `${frame.sysid}/${frame.compid}`,
        message: frame.name,
        ...(fields && 'target_system' in fields ? { target: `${String(fields.target_system)}/${String(fields.target_component ?? 0)}` } : {}),
        ...(fields && 'command' in fields ? { command: fields.command } : {}),
      });
    });
  }

  /** Link and vehicle statistics, the vehicles' state and the residency summary: what the status line, the stats API and the dashboard show. */
  stats(): { links: LinkStats[]; vehicles: VehicleStats[]; vehicle_state: VehicleSummary[]; residency: ResidencySummary } {
    const now = Date.now();
    const { policy } = this.gate;
    return {
      vehicle_state: this.state.vehicles().map((c) => ({
        sysid: c.sysid, compid: c.compid, type: c.heartbeat!.type, autopilot: c.heartbeat!.autopilot, mode: c.heartbeat!.mode,
        armed: c.heartbeat!.armed, lost: c.lost, heartbeat_age_ms: now - c.lastHeartbeatAt,
      })),
      residency: {
        site: policy.site, jurisdiction: policy.jurisdiction, policy_sha256: policy.sha256, policy_source: policy.source,
        auditing: this.gate.auditing, refusals: [...this.gate.recentRefusals],
      },
      links: this.links.map(({ link, decoder, port, meter, state, signing, unknownDropped }) => ({
        id: link.id,
        endpoint: link.endpoint.text,
        state,
        bytesIn: link.counters.bytesIn,
        bytesOut: link.counters.bytesOut,
        framesIn: port.framesIn,
        framesOut: port.framesOut,
        datagramsOut: link.counters.datagramsOut,
        framesDropped: link.counters.writesDropped,
        ...(link instanceof UdpLink ? { receiveBufferBytes: link.receiveBufferBytes, udpBackend: link.backend, ...(link.backendReason ? { udpBackendReason: link.backendReason } : {}) } : {}),
        duplicates: port.duplicates,
        crcErrors: decoder.stats.crcErrors,
        unknownFrames: decoder.stats.unknown,
        bytesSkipped: decoder.stats.bytesSkipped,
        lossRate: lossOf(decoder.stats.sequence.sources()),
        withheld: port.withheld,
        unknownDropped,
        sent: meter.snapshot(),
        ...(signing ? { signing: { ...signing.counters } } : {}),
        ...(link.endpoint.kind === 'fleet' ? { fleet: (link as FleetLink).vehicles } : {}),
      })),
      vehicles: this.router.sequence.sources(),
    };
  }

  /**
   * Asks the gate for every link, then opens them. If one is refused or cannot be opened,
   * closes the others and rejects with its error: nothing runs half-approved.
   */
  async start(): Promise<void> {
    try {
      for (const [position, endpoint] of this.options.links.entries()) await this.addLink(endpoint, position);
      for (const { link } of this.links) await link.open();
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.node.start();
    this.monitor.start();
    this.heartbeatTimer = setInterval(() => this.state.checkHeartbeats(), 500);
    this.started = true;
  }

  /**
   * A stream link holds bytes of a candidate frame: check for quiet until no link does.
   * Armed only then, so an idle gateway, or one with only UDP links (whole frames per
   * datagram), is not woken ten times a second for nothing.
   */
  private watchForQuiet(): void {
    if (this.idleTimer || !this.started) return;
    this.idleTimer = setInterval(() => this.settleQuietLinks(), QUIET_MS);
  }

  /** Whether the quiet check is running (it runs only while a stream link holds part of a frame). */
  get watchingForQuiet(): boolean {
    return this.idleTimer !== null;
  }

  /**
   * A stream link that received nothing for a while, with bytes held back for a candidate
   * frame: the decoder decides now whether the candidate can still be real, so that a
   * false start marker cannot hold the frames behind it until more bytes come.
   */
  private settleQuietLinks(): void {
    let waiting = false;
    for (const handle of this.links) {
      const bytesIn = handle.link.counters.bytesIn;
      if (bytesIn === handle.bytesInAtLastCheck && handle.decoder.pendingBytes > 0) handle.decoder.idle();
      handle.bytesInAtLastCheck = bytesIn;
      waiting ||= handle.decoder.pendingBytes > 0;
    }
    if (!waiting && this.idleTimer) {
      clearInterval(this.idleTimer);
      this.idleTimer = null;
    }
  }

  async stop(): Promise<void> {
    this.started = false;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.idleTimer = null;
    for (const handle of this.links) this.recordEgress(handle);
    this.node.stop();
    this.monitor.stop();
    this.history.stop();
    await Promise.all([...this.links.map(({ link }) => link.close()), ...this.closing]);
    for (const s of [...this.subscriptions, ...this.links.flatMap((h) => h.subscriptions)]) s.unsubscribe();
    this.events.complete();
  }
}
