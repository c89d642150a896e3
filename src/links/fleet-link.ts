/**
 * The operations room's side of fleet sync: a "vehicle link" that subscribes to the
 * on-premises broker the gateways publish to, and turns what they publish back into
 * MAVLink frames, so that the dashboard, the WebSocket and REST APIs show every vehicle of
 * every gateway. Each (site, system id) gets a fleet system id of its own (two teams'
 * vehicle 1 are different vehicles). Read-only: nothing is sent back.
 */
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { encodeFrame, MessageEncodeError, type MessageRegistry } from '../mavlink/index.js';
import { assertGrant, type ConnectGrant } from '../residency/gate.js';
import { fromMavlink2Rest, Mavlink2RestError } from '../mavlink/mavlink2rest-json.js';
import { BaseLink } from './base-link.js';
import type { Endpoint } from './endpoint.js';

type FleetEndpoint = Extract<Endpoint, { kind: 'fleet' }>;

export interface FleetTls {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** `mavgate/<site>/<sysid>/<MESSAGE>` (telemetry) or `mavgate/<site>/<sysid>/event`. */
const TOPIC = /^mavgate\/([^/]+)\/(\d+)\/([A-Z0-9_]+|event)$/;

export class FleetLink extends BaseLink {
  /** Each broker message becomes one whole frame. */
  override readonly wholeFrames = true;
  private client: MqttClient | null = null;
  /** "site/sysid" → fleet system id, in the order vehicles were first heard. */
  private readonly ids = new Map<string, number>();
  /** Messages that could not be turned into frames (another dialect, a damaged payload). */
  skipped = 0;

  constructor(id: string, override readonly endpoint: FleetEndpoint, private readonly grant: ConnectGrant, private readonly registry: MessageRegistry, private readonly tls: FleetTls | null) {
    assertGrant(grant, 'connect');
    super(id, endpoint);
  }

  /** Fleet system id → where the vehicle really is. */
  get vehicles(): { fleetSysid: number; site: string; sysid: number }[] {
    return [...this.ids].map(([key, fleetSysid]) => {
      const [site, sysid] = key.split('/');
      return { fleetSysid, site: site!, sysid: Number(sysid) };
    });
  }

  async open(): Promise<void> {
    const url = new URL(this.endpoint.broker);
    const options: IClientOptions = {
      host: this.grant.address, port: this.grant.port, protocol: url.protocol === 'mqtts:' ? 'mqtts' : 'mqtt',
      clean: true, reconnectPeriod: 1000, connectTimeout: 5000,
      ...(this.tls ? { ca: readFileSync(this.tls.caFile), cert: readFileSync(this.tls.certFile), key: readFileSync(this.tls.keyFile), rejectUnauthorized: true, servername: url.hostname } : {}),
    };
    const client = mqtt.connect(options);
    this.client = client;
    client.on('connect', () => {
      this.setState('up');
      void client.subscribeAsync(`mavgate/${this.endpoint.site}/+/+`, { qos: 1 }).catch(() => {});
    });
    client.on('offline', () => this.setState('connecting', `broker ${this.endpoint.broker} out of reach`));
    client.on('error', (err) => this.setState('error', err.message));
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
  }

  private onMessage(topic: string, payload: Buffer): void {
    const match = TOPIC.exec(topic);
    if (!match) return;
    const key = `${match[1]}/${match[2]}`;
    let fleetSysid = this.ids.get(key);
    if (fleetSysid === undefined) {
      if (this.ids.size >= 254) return void this.skipped++;
      fleetSysid = this.ids.size + 1;
      this.ids.set(key, fleetSysid);
    }
    try {
      const json = JSON.parse(payload.toString('utf8')) as { header?: { component_id?: number; sequence?: number }; message?: unknown };
      if (!json.message) return;
      const message = fromMavlink2Rest(json, this.registry);
      this.receive(encodeFrame(this.registry, { name: message.name, fields: message.fields }, {
        sysid: fleetSysid, compid: json.header?.component_id ?? 1, seq: (json.header?.sequence ?? 0) & 0xff,
      }));
    } catch (err) {
      if (err instanceof SyntaxError || err instanceof Mavlink2RestError || err instanceof MessageEncodeError) this.skipped++;
      else throw err;
    }
  }

  /** The fleet view is read-only: nothing goes back to the gateways. */
  protected canSend(): boolean {
    return false;
  }

  protected transmit(): void {}

  protected async shutdown(): Promise<void> {
    await this.client?.endAsync(true);
    this.client = null;
  }
}
