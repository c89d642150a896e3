/**
 * The routing core. Frames from every endpoint (vehicle links, clients) come in
 * here; each goes to every other endpoint that should see it, by MAVLink's rules (as
 * mavlink-router applies them):
 * - an endpoint remembers every (sysid, compid) seen behind it;
 * - a frame with target_system 0 (or no target) goes everywhere;
 * - a targeted frame goes only to the endpoints behind which its target was seen
 *   (target_component 0: any component of that system);
 * - a frame never goes back where it came from, nor to any endpoint behind which its
 *   source (sysid, compid) has been seen: two radios to one vehicle never echo its own
 *   telemetry to it over the other radio;
 * - a copy arriving through a redundant link within the dedup window is dropped (its
 *   source is learned first, so the rule above holds for the link it came through).
 * Forwarding hands out the bytes as they arrived; nothing here decodes a payload.
 */
import { type Frame, type MessageRegistry, SequenceTracker } from '../mavlink/index.js';
import { Deduplicator } from './dedup.js';
import { NewSourceHold } from './new-source-hold.js';
import { TargetReader } from './targets.js';

export type EndpointRole = 'link' | 'client' | 'gateway';

export interface RouteEndpoint {
  readonly id: string;
  readonly role: EndpointRole;
  /** Sends one frame; false when the endpoint dropped it. */
  send(frame: Buffer): boolean;
  /**
   * What this endpoint may receive of a frame (the residency policy's rule for it):
   * undefined for the frame as it arrived, other bytes (a redacted copy), or null for
   * nothing. Without a filter, the frame goes as it arrived.
   */
  filter?: (frame: Frame) => Buffer | null | undefined;
  /**
   * A ground-control client: it receives every frame, targeted or not (as mavlink2rest's
   * clients and a GCS monitoring the link expect), subject to its filter.
   */
  receivesAll?: boolean;
}

export class RoutePort {
  /** (sysid << 8 | compid) of every source seen behind this endpoint. */
  readonly sources = new Set<number>();
  readonly systems = new Set<number>();
  framesIn = 0;
  framesOut = 0;
  duplicates = 0;
  sendDropped = 0;
  /** Frames this endpoint's rule kept from it. */
  withheld = 0;

  private readonly receivesAll: boolean;

  constructor(readonly endpoint: RouteEndpoint) {
    this.receivesAll = endpoint.receivesAll === true;
  }

  accepts(system: number, component: number): boolean {
    if (system === 0 || this.receivesAll) return true;
    if (component === 0) return this.systems.has(system);
    return this.sources.has((system << 8) | component);
  }
}

export type FrameListener = (frame: Frame, from: RoutePort) => void;

export interface RouterOptions {
  /** Window for dropping copies from redundant links; 0 turns deduplication off. */
  dedupWindowMs?: number;
  now?: () => number;
  /** Told when a listener throws: one faulty consumer must not stop the relay. */
  onListenerError?: (err: unknown) => void;
}

export class Router {
  private readonly ports: RoutePort[] = [];
  private readonly listeners: FrameListener[] = [];
  private readonly targets: TargetReader;
  private readonly dedup: Deduplicator | null;
  /** With deduplication: a new source's frames on their way to another link wait until that link could have heard it. */
  private readonly hold: NewSourceHold<RoutePort> | null;
  private readonly now: () => number;
  private readonly onListenerError: (err: unknown) => void;
  /** Sequence-gap loss per source over the merged, deduplicated stream: loss per vehicle. */
  readonly sequence = new SequenceTracker();
  /** Targeted frames whose target no endpoint has been seen behind. */
  unroutable = 0;

  constructor(registry: MessageRegistry, options: RouterOptions = {}) {
    this.targets = new TargetReader(registry);
    this.dedup = options.dedupWindowMs ? new Deduplicator(options.dedupWindowMs) : null;
    this.now = options.now ?? Date.now;
    this.hold = options.dedupWindowMs
      ? new NewSourceHold(options.dedupWindowMs, this.now, (port, bytes) => { if (this.ports.includes(port)) this.send(port, bytes); })
      : null;
    this.onListenerError = options.onListenerError ?? ((err) => { throw err; });
  }

  attach(endpoint: RouteEndpoint): RoutePort {
    if (this.ports.some((p) => p.endpoint.id === endpoint.id)) throw new Error(`endpoint id "${endpoint.id}" is already attached`);
    const port = new RoutePort(endpoint);
    this.ports.push(port);
    return port;
  }

  detach(port: RoutePort): void {
    const i = this.ports.indexOf(port);
    if (i >= 0) this.ports.splice(i, 1);
  }

  get endpoints(): readonly RoutePort[] {
    return this.ports;
  }

  /** Subscribes to every frame that passes deduplication, before it is forwarded. Returns an unsubscribe function. */
  onFrame(listener: FrameListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  route(frame: Frame, from: RoutePort): void {
    from.framesIn++;
    const source = (frame.sysid << 8) | frame.compid;
    // Learn before deduplicating, so that both redundant links know the vehicle is behind them.
    from.sources.add(source);
    from.systems.add(frame.sysid);
    let holdForLinks = false;
    if (this.dedup) {
      const now = this.now();
      this.hold!.release();
      if (this.dedup.isDuplicate(frame, now)) {
        from.duplicates++;
        return;
      }
      holdForLinks = from.endpoint.role === 'link' && this.hold!.isNew(source, now);
    }
    if (frame.verified) this.sequence.observe(frame.sysid, frame.compid, frame.seq);
    else this.sequence.observeUnverified(frame.sysid, frame.compid, frame.seq);
    for (const listener of this.listeners) {
      try {
        listener(frame, from);
      } catch (err) {
        this.onListenerError(err);
      }
    }
    const system = frame.verified ? this.targets.system(frame) : 0;
    const component = system === 0 ? 0 : this.targets.component(frame);
    let bytes: Buffer | null = null;
    let delivered = false;
    for (const port of this.ports) {
      if (port === from || port.sources.has(source) || !port.accepts(system, component)) continue;
      delivered = true;
      const filter = port.endpoint.filter;
      const out = filter ? filter(frame) : undefined;
      if (out === null) {
        port.withheld++;
        continue;
      }
      if (holdForLinks && port.endpoint.role === 'link') this.hold!.hold(port, source, out ?? (bytes ??= frame.bytes()));
      else this.send(port, out ?? (bytes ??= frame.bytes()));
    }
    if (system !== 0 && !delivered) this.unroutable++;
  }

  private send(port: RoutePort, bytes: Buffer): void {
    if (port.endpoint.send(bytes)) port.framesOut++;
    else port.sendDropped++;
  }
}
