/**
 * The gateway as a MAVLink node of its own (as mavp2p can be): its own HEARTBEAT, and
 * telemetry requests to each autopilot it discovers, so that telemetry flows and is
 * recorded even when no ground station is connected.
 *
 * Off by default, on purpose: an autopilot's GCS failsafe watches for ground-station
 * heartbeats, and a gateway that sends its own keeps that failsafe from firing when the
 * real ground station is gone.
 */
import {
  type Frame, FrameDecoder, FrameEncoder, MAV_AUTOPILOT, MAV_CMD, MAV_DATA_STREAM, MAV_STATE, MAV_TYPE, type MessageRegistry, type OutgoingMessage,
} from '../mavlink/index.js';
import type { RoutePort, Router } from './router.js';
import type { ComponentState, VehicleStateStore } from './vehicle-state.js';

export interface GatewayNodeOptions {
  heartbeat: boolean;
  requestStreams: boolean;
  sysid: number;
  compid: number;
  /** Telemetry rate asked of each autopilot, in Hz. */
  streamRateHz: number;
}

export const DEFAULT_GATEWAY_NODE: GatewayNodeOptions = { heartbeat: false, requestStreams: false, sysid: 245, compid: 191, streamRateHz: 4 };

/** What PX4 is asked for one by one (it has no data-stream groups). */
const PX4_MESSAGES = ['HEARTBEAT', 'SYS_STATUS', 'ATTITUDE', 'GLOBAL_POSITION_INT', 'GPS_RAW_INT', 'VFR_HUD', 'BATTERY_STATUS'];

export class GatewayNode {
  private readonly encoder: FrameEncoder;
  private readonly decoder: FrameDecoder;
  private readonly port: RoutePort;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: { unsubscribe(): void } | null = null;

  constructor(
    private readonly registry: MessageRegistry,
    private readonly router: Router,
    private readonly state: VehicleStateStore,
    readonly options: GatewayNodeOptions,
  ) {
    this.encoder = new FrameEncoder(registry);
    this.port = router.attach({ id: 'gateway', role: 'gateway', send: () => true });
    this.decoder = new FrameDecoder(registry, (frame: Frame) => this.router.route(frame, this.port));
  }

  start(): void {
    if (this.options.heartbeat) {
      this.sendHeartbeat();
      this.timer = setInterval(() => this.sendHeartbeat(), 1000);
    }
    if (this.options.requestStreams) {
      for (const c of this.state.vehicles()) this.requestStreams(c);
      this.unsubscribe = this.state.events$.subscribe((e) => {
        if ((e.type === 'seen' || e.type === 'back') && e.component.isVehicle) this.requestStreams(e.component);
      });
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.unsubscribe?.unsubscribe();
    this.router.detach(this.port);
  }

  private send(message: OutgoingMessage): void {
    this.decoder.push(this.encoder.encode(message, { sysid: this.options.sysid, compid: this.options.compid }));
  }

  private sendHeartbeat(): void {
    this.decoder.push(this.heartbeatFrame());
  }

  /**
   * One HEARTBEAT of mavgate's, numbered in its own sequence, for a single link (a signed
   * link moving a vehicle's signing clock forward). Its system id is mavgate's, never the
   * vehicle's SYSID_MYGCS, so it cannot stand in for a ground station's heartbeat.
   */
  heartbeatFrame(): Buffer {
    return this.encoder.encode({ name: 'HEARTBEAT', fields: { type: MAV_TYPE.GCS, autopilot: MAV_AUTOPILOT.INVALID, system_status: MAV_STATE.ACTIVE, mavlink_version: 3 } },
      { sysid: this.options.sysid, compid: this.options.compid });
  }

  /** ArduPilot takes REQUEST_DATA_STREAM for all its streams at once; PX4 wants SET_MESSAGE_INTERVAL per message. */
  requestStreams(vehicle: ComponentState): void {
    const target = { target_system: vehicle.sysid, target_component: vehicle.compid };
    const hz = this.options.streamRateHz;
    if (vehicle.heartbeat?.autopilot === MAV_AUTOPILOT.ARDUPILOTMEGA) {
      this.send({ name: 'REQUEST_DATA_STREAM', fields: { ...target, req_stream_id: MAV_DATA_STREAM.ALL, req_message_rate: hz, start_stop: 1 } });
      return;
    }
    for (const name of PX4_MESSAGES) {
      const id = this.registry.byName(name)!.id;
      this.send({ name: 'COMMAND_LONG', fields: { ...target, command: MAV_CMD.SET_MESSAGE_INTERVAL, param1: id, param2: Math.round(1e6 / hz) } });
    }
  }
}
