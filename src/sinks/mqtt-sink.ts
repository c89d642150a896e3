/**
 * Publishing to an on-premises MQTT broker (Mosquitto, EMQX, VerneMQ) for an operations
 * room: never a vendor cloud. The broker is a network destination like any other: the
 * gate must approve its address (refused: exit 3), plain `mqtt://` is allowed to loopback
 * only, anything else is `mqtts://` with the broker's CA pinned and a client certificate.
 * The policy's rule for the broker's network says which classes go, redacted how, at what
 * rate per message type.
 *
 *   mavgate/<site>/<sysid>/<MESSAGE>     telemetry, mavlink2rest JSON, QoS 0
 *   mavgate/<site>/<sysid>/event         mode and arming changes (faster ones: one a second, with their count), STATUSTEXT, COMMAND_ACK, QoS 1
 *   mavgate/<site>/<sysid>/heartbeat     the vehicle's state, retained, QoS 1
 *   mavgate/<site>/gateway/status        {"online": …}, retained; the last will says offline
 *   mavgate/<site>/gateway/refusal       residency refusals, QoS 1
 *   mavgate/<site>/gateway/audit-head    the audit log's chain head, retained: a witness (`audit verify --witness`)
 *
 * QoS 1 messages go through a spool on disk: while the broker is out of reach they wait
 * there, in order, and are delivered first when it is back (or after a restart).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { type Frame, type MessageRegistry, SECRET_MESSAGE_IDS } from '../mavlink/index.js';
import type { Router } from '../router/router.js';
import type { ComponentState, VehicleStateStore } from '../router/vehicle-state.js';
import type { EgressFilter } from '../residency/egress-filter.js';
import type { EgressMeter } from '../residency/egress-meter.js';
import { type ConnectGrant, type DirectoryGrant, type EgressGate, releaseGrant, type ResidencyRefusal, watchGrant } from '../residency/gate.js';
import { isIpLiteral } from '../residency/verdicts.js';
import { jsonRenderer } from '../mavlink/mavlink2rest-json.js';
import { Spool } from './spool.js';

export interface MqttSettings {
  /** `mqtt://127.0.0.1:1883` (loopback only) or `mqtts://HOST:8883`. */
  broker: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Where QoS 1 messages wait while the broker is out of reach (an approved directory). */
  spoolDirectory: string;
  spoolMaxBytes: number;
}

export interface MqttGatewayParts {
  readonly registry: MessageRegistry;
  readonly router: Router;
  readonly state: VehicleStateStore;
  readonly gate: EgressGate;
  /**
   * The audit log's chain head, published (retained) as a witness kept off this machine:
   * an intruder here can rewrite the log and its head file, not what the broker holds.
   */
  readonly auditHead?: () => { seq: number; hash: string };
}

/** How often the audit head is published again when it moved. */
const WITNESS_INTERVAL_MS = 60_000;

export class MqttConfigError extends Error {
  constructor(reason: string) {
    super(`mqtt: ${reason}`);
    this.name = 'MqttConfigError';
  }
}

const EVENT_MESSAGES = new Set(['STATUSTEXT', 'COMMAND_ACK']);
/**
 * A vehicle's mode changes closer together than this after one was published wait for the
 * next tick and go as one event with their count: a heartbeat that changes on every frame
 * would otherwise spool thousands of QoS 1 messages a second. A pilot's changes are seconds apart.
 */
const MODE_EVENT_INTERVAL_MS = 1000;

/** Mode changes of one vehicle not published yet, since the last that was. */
interface PendingModes {
  lastPublishedAt: number;
  waiting: { component: ComponentState; from: ComponentState['heartbeat']; changes: number } | null;
}

export class MqttSink {
  /** Set when the policy in force no longer approves the broker or the spool: nothing more is published. */
  revoked: ResidencyRefusal | null = null;
  private readonly unwatch: (() => void)[];
  private filter: EgressFilter;
  private meter: EgressMeter;
  private rates: ReadonlyMap<string, number>;
  private readonly lastSent = new Map<number, number>();
  /** By sysid. */
  private readonly modes = new Map<number, PendingModes>();
  /** The gate's refusals already published (the gate keeps the newest 20). */
  private readonly published = new Set<EgressGate['recentRefusals'][number]>();
  private pumping = false;
  private eventCount = 0;
  private readonly bootId = randomUUID().slice(0, 8);
  readonly counters = { published: 0, rateLimited: 0, withheld: 0, offlineSkipped: 0 };
  private readonly timer: NodeJS.Timeout;
  private readonly witnessTimer: NodeJS.Timeout;
  /** The audit seq last published as the witness. */
  private witnessed = -1;
  private readonly unsubscribe: () => void;
  private readonly stateSubscription: { unsubscribe(): void };
  private readonly render: (bytes: Buffer) => string | null;

  private constructor(
    private readonly client: MqttClient,
    private readonly parts: MqttGatewayParts,
    private readonly site: string,
    private readonly spool: Spool,
    private readonly grant: ConnectGrant,
    private readonly spoolGrant: DirectoryGrant,
    private readonly broker: string,
    private readonly log: (level: 'info' | 'warn', message: string) => void,
  ) {
    ({ filter: this.filter, meter: this.meter, rates: this.rates } = this.rule());
    this.render = jsonRenderer(parts.registry);
    this.unsubscribe = parts.router.onFrame((frame) => this.observe(frame));
    // The broker and the spool hold only while the policy in force approves them.
    const watcher = {
      changed: () => {
        this.recordEgress();
        ({ filter: this.filter, meter: this.meter, rates: this.rates } = this.rule());
      },
      revoked: (refusal: ResidencyRefusal) => this.revoke(refusal),
    };
    this.unwatch = [watchGrant(grant, watcher), watchGrant(spoolGrant, { revoked: watcher.revoked })];
    this.stateSubscription = parts.state.events$.subscribe((e) => {
      if (e.type === 'mode') this.modeChanged(e.component, e.from);
      else this.publishState(e.component);
    });
    // Vehicles heard before the sink started (the gateway's links open first) get their retained state now.
    for (const c of parts.state.vehicles()) this.publishState(c);
    this.timer = setInterval(() => {
      this.publishRefusals();
      this.publishWaitingModes();
    }, MODE_EVENT_INTERVAL_MS);
    this.timer.unref();
    this.witnessTimer = setInterval(() => this.publishWitness(), WITNESS_INTERVAL_MS);
    this.witnessTimer.unref();
    client.on('connect', () => {
      void client.publishAsync(`mavgate/${site}/gateway/status`, JSON.stringify({ online: true, at: new Date().toISOString() }), { qos: 1, retain: true }).catch(() => {});
      this.witnessed = -1;
      this.publishWitness();
      void this.pump();
    });
  }

  static async start(parts: MqttGatewayParts, settings: MqttSettings, site: string, log: (level: 'info' | 'warn', message: string) => void): Promise<MqttSink> {
    let url: URL;
    try {
      url = new URL(settings.broker);
    } catch {
      throw new MqttConfigError(`"${settings.broker}" is not a broker URL (mqtt://127.0.0.1:1883, mqtts://broker.example:8883)`);
    }
    if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') throw new MqttConfigError(`${settings.broker}: the broker URL must start mqtt:// or mqtts://`);
    const tls = url.protocol === 'mqtts:';
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || (tls ? 8883 : 1883));
    const { gate } = parts;
    const grant = await gate.grantBroker('mqtt.broker', settings.broker, host, port);
    const options: IClientOptions = {
      host: grant.address, port, protocol: tls ? 'mqtts' : 'mqtt', clientId: `mavgate-${site}-${randomUUID().slice(0, 8)}`,
      clean: true, reconnectPeriod: 500, connectTimeout: 5000, queueQoSZero: false,
      will: { topic: `mavgate/${site}/gateway/status`, payload: Buffer.from(JSON.stringify({ online: false })), qos: 1, retain: true },
    };
    if (tls) {
      if (!settings.caFile || !settings.certFile || !settings.keyFile) throw new MqttConfigError('mqtts:// needs ca_file (the broker\'s CA, pinned), cert_file and key_file (this gateway\'s client certificate)');
      const read = (what: string, path: string) => {
        try {
          return readFileSync(path);
        } catch (err) {
          throw new MqttConfigError(`cannot read ${what} ${path}: ${(err as Error).message}`);
        }
      };
      Object.assign(options, {
        ca: read('ca_file', settings.caFile), cert: read('cert_file', settings.certFile), key: read('key_file', settings.keyFile),
        // The certificate is checked against the name in the URL, though the connection goes to the address the gate checked.
        servername: isIpLiteral(host) ? undefined : host, rejectUnauthorized: true,
      });
    }
    const spoolGrant = gate.grantDirectory('mqtt.spool', settings.spoolDirectory);
    const spool = new Spool(spoolGrant, settings.spoolMaxBytes, (n) => {
      gate.record('mqtt_spool_dropped', { broker: settings.broker, messages: n });
      log('warn', `mqtt: spool full: ${n} oldest message(s) dropped`);
    });
    const client = mqtt.connect(options);
    client.on('error', (err) => log('warn', `mqtt ${settings.broker}: ${err.message}`));
    let wasConnected = false;
    client.on('connect', () => {
      wasConnected = true;
      log('info', `mqtt: connected to ${settings.broker}${spool.length ? `; delivering ${spool.length} spooled message(s)` : ''}`);
    });
    client.on('offline', () => {
      if (wasConnected) log('warn', `mqtt: ${settings.broker} out of reach; events are spooled in ${settings.spoolDirectory}`);
    });
    return new MqttSink(client, parts, site, spool, grant, spoolGrant, settings.broker, log);
  }

  /** The policy in force's rule for the broker: classes, redaction, rates, and a meter for the report. */
  private rule(): { filter: EgressFilter; meter: EgressMeter; rates: ReadonlyMap<string, number> } {
    const { filter, meter, rule } = this.parts.gate.egressFor(this.grant, this.parts.registry);
    return { filter, meter, rates: rule?.rates ?? new Map() };
  }

  /** What the broker was handed, by class, for the residency report. */
  private recordEgress(): void {
    this.parts.gate.record('egress', { entry: this.grant.entry, withheld: this.counters.withheld, sent: this.meter.snapshot() });
  }

  /** The policy in force refuses the broker (or the spool): nothing more is published from this frame on; the connection is cut. */
  private revoke(refusal: ResidencyRefusal): void {
    if (this.revoked) return;
    this.revoked = refusal;
    this.detach();
    this.log('warn', `mqtt: disconnected from ${this.broker}: ${refusal.message}`);
    void this.client.endAsync(true).catch(() => {});
  }

  /** The audit head, retained, when it moved since last published (and the broker is there to take it). */
  private publishWitness(): Promise<void> {
    const head = this.parts.auditHead?.();
    if (!head || head.seq === this.witnessed || !this.client.connected) return Promise.resolve();
    this.witnessed = head.seq;
    const body = JSON.stringify({ ...head, at: new Date().toISOString() });
    return this.client.publishAsync(`mavgate/${this.site}/gateway/audit-head`, body, { qos: 1, retain: true }).then(() => {}, () => {
      this.witnessed = -1;
    });
  }

  /** Off the router and the vehicle state, synchronously. */
  private detach(): void {
    clearInterval(this.timer);
    clearInterval(this.witnessTimer);
    this.unsubscribe();
    this.stateSubscription.unsubscribe();
    for (const unwatch of this.unwatch) unwatch();
    this.recordEgress();
  }

  private observe(frame: Frame): void {
    if (SECRET_MESSAGE_IDS.has(frame.msgid) || !frame.message) return;
    const name = frame.message.name;
    const event = EVENT_MESSAGES.has(name);
    // Rates and the connection first: the meter counts only what the broker is handed.
    if (!event) {
      const cls = this.parts.gate.classTable(this.parts.registry).classOf(frame.msgid);
      const hz = this.rates.get(name) ?? (cls ? this.rates.get(cls) : undefined);
      if (hz !== undefined) {
        const key = ((frame.sysid << 8) | frame.compid) * 0x1000000 + frame.msgid;
        const now = Date.now();
        if (now - (this.lastSent.get(key) ?? -Infinity) < 1000 / hz) {
          this.counters.rateLimited++;
          return;
        }
        this.lastSent.set(key, now);
      }
      if (!this.client.connected) {
        this.counters.offlineSkipped++;
        return;
      }
    }
    const out = this.filter(frame);
    if (out === null) {
      this.counters.withheld++;
      return;
    }
    const json = this.render(out ?? frame.bytes());
    if (json === null) return;
    if (event) {
      this.reliable(`mavgate/${this.site}/${frame.sysid}/event`, { event: name.toLowerCase(), ...(JSON.parse(json) as object) });
    } else {
      this.client.publish(`mavgate/${this.site}/${frame.sysid}/${name}`, json, { qos: 0 });
      this.counters.published++;
    }
  }

  private modeChanged(c: ComponentState, from: ComponentState['heartbeat']): void {
    const now = Date.now();
    const pending = this.modes.get(c.sysid);
    if (pending && now - pending.lastPublishedAt < MODE_EVENT_INTERVAL_MS) {
      pending.waiting = { component: c, from: pending.waiting?.from ?? from, changes: (pending.waiting?.changes ?? 0) + 1 };
      return;
    }
    this.modes.set(c.sysid, { lastPublishedAt: now, waiting: null });
    this.publishMode(c, from, 1);
  }

  /** The state after the changes that waited, once per vehicle, with how many there were. */
  private publishWaitingModes(): void {
    const now = Date.now();
    for (const pending of this.modes.values()) {
      if (!pending.waiting) continue;
      const { component, from, changes } = pending.waiting;
      pending.waiting = null;
      pending.lastPublishedAt = now;
      this.publishMode(component, from, changes);
    }
  }

  private publishMode(c: ComponentState, from: ComponentState['heartbeat'], changes: number): void {
    const state = this.publishState(c);
    if (!state) return;
    this.reliable(`mavgate/${this.site}/${c.sysid}/event`, { event: 'mode', ...state, from: from ? { mode: from.mode, armed: from.armed } : null, ...(changes > 1 ? { changes } : {}) });
  }

  /** The vehicle's retained state (`…/heartbeat`), published when it is first heard and at every change. */
  private publishState(c: ComponentState): Record<string, unknown> | null {
    if (!c.isVehicle || !c.heartbeat) return null;
    const state = { online: !c.lost, mode: c.heartbeat.mode, armed: c.heartbeat.armed, type: c.heartbeat.type, autopilot: c.heartbeat.autopilot, at: new Date().toISOString() };
    this.reliable(`mavgate/${this.site}/${c.sysid}/heartbeat`, state, true);
    return state;
  }

  /** A QoS 1 message: spooled, then delivered in order. */
  private reliable(topic: string, body: object, retain = false): void {
    this.spool.push({ topic, payload: JSON.stringify({ id: `${this.bootId}-${++this.eventCount}`, ...body }), retain });
    void this.pump();
  }

  private publishRefusals(): void {
    const current = this.parts.gate.recentRefusals;
    for (const r of current) {
      if (this.published.has(r)) continue;
      this.published.add(r);
      this.reliable(`mavgate/${this.site}/gateway/refusal`, r);
    }
    for (const r of this.published) if (!current.includes(r)) this.published.delete(r);
  }

  /** Delivers the spool's head, one at a time, each after the broker acknowledged the one before. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.client.connected) {
        const head = this.spool.peek();
        if (!head) break;
        await this.client.publishAsync(head.topic, head.payload, { qos: 1, retain: head.retain });
        this.spool.shift();
        this.counters.published++;
      }
    } catch {
      // The connection went: the head stays in the spool and goes first on reconnect.
    } finally {
      this.pumping = false;
    }
  }

  stats() {
    return {
      broker: this.broker, connected: this.client.connected, ...this.counters, ...(this.revoked ? { revoked: this.revoked.message } : {}),
      spool: { messages: this.spool.length, bytes: this.spool.sizeBytes, dropped: this.spool.dropped },
    };
  }

  async stop(): Promise<void> {
    if (this.revoked) return;
    this.detach();
    releaseGrant(this.grant);
    releaseGrant(this.spoolGrant);
    // The head as it is at shutdown (the last records of this run are written before the sink stops).
    await this.publishWitness();
    if (this.client.connected) {
      await this.client.publishAsync(`mavgate/${this.site}/gateway/status`, JSON.stringify({ online: false, at: new Date().toISOString() }), { qos: 1, retain: true }).catch(() => {});
    }
    await this.client.endAsync();
  }
}
