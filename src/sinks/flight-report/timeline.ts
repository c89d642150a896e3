/**
 * What happened, in order: mode changes, arming, failsafes, the vehicle's status texts by
 * severity, and what ground stations asked of it (who, what, and what the vehicle
 * answered). Bounded: past `limit` events only counts are kept, and a status text
 * repeated back to back is one line with a count.
 */
import { ENUMS } from '../../mavlink/enum-data.js';
import type { Fields } from '../../mavlink/index.js';

export type EventKind = 'mode' | 'arming' | 'failsafe' | 'status' | 'command';

export interface TimelineEvent {
  t: number;
  kind: EventKind;
  /** MAV_SEVERITY 0..7 for status texts and failsafes; 6 (info) otherwise. */
  severity: number;
  text: string;
  /** Commands: who sent it (`255/190`), and the vehicle's answer. */
  who?: string;
  result?: string;
  repeated?: number;
}

const SEVERITY_INFO = 6;
/** A command's answer counts when it comes this soon. */
const ANSWER_WINDOW_S = 5;
const FAILSAFE = /fail-?safe|\bFS[_ ]|EKF.*(fail|lane switch)|crash|battery.*(low|critical)|(low|critical) battery|GPS.*(glitch|lost)|radio.*lost|fence breach/i;

export const SEVERITY_NAMES = ['emergency', 'alert', 'critical', 'error', 'warning', 'notice', 'info', 'debug'] as const;

function enumName(name: string, value: unknown, prefix: string): string {
  const entry = ENUMS[name]?.entries[Number(value)];
  return entry ? entry.slice(prefix.length) : `${name} ${String(value)}`;
}

export function commandName(command: unknown): string {
  return enumName('MAV_CMD', command, 'MAV_CMD_');
}

interface Pending {
  event: TimelineEvent;
  /** What answers it: COMMAND_ACK of this command, PARAM_VALUE of this id, MISSION_ACK. */
  answer: string;
  until: number;
}

export class Timeline {
  readonly events: TimelineEvent[] = [];
  /** Events past the limit, by kind. */
  readonly omitted: Partial<Record<EventKind, number>> = {};
  private pending: Pending[] = [];

  constructor(private readonly limit = 4000) {}

  add(event: TimelineEvent): TimelineEvent | null {
    const last = this.events.at(-1);
    if (event.kind === 'status' && last?.kind === 'status' && last.text === event.text) {
      last.repeated = (last.repeated ?? 1) + 1;
      return last;
    }
    if (this.events.length >= this.limit) {
      this.omitted[event.kind] = (this.omitted[event.kind] ?? 0) + 1;
      return null;
    }
    this.events.push(event);
    return event;
  }

  mode(t: number, name: string): void {
    this.add({ t, kind: 'mode', severity: SEVERITY_INFO, text: `mode ${name}` });
  }

  arming(t: number, armed: boolean): void {
    this.add({ t, kind: 'arming', severity: armed ? 5 : SEVERITY_INFO, text: armed ? 'armed' : 'disarmed' });
  }

  /** The vehicle's system status went critical or emergency (its failsafe), or came back. */
  systemStatus(t: number, status: number): void {
    const name = enumName('MAV_STATE', status, 'MAV_STATE_');
    this.add({ t, kind: 'failsafe', severity: status >= 5 ? 2 : SEVERITY_INFO, text: `system status ${name}` });
  }

  statusText(t: number, severity: number, text: string): void {
    this.add({ t, kind: FAILSAFE.test(text) ? 'failsafe' : 'status', severity, text });
  }

  /** A ground station's request to the vehicle; its answer is matched as it comes. */
  request(t: number, who: string, name: string, f: Fields): void {
    let text: string;
    let answer: string;
    if (name === 'COMMAND_LONG' || name === 'COMMAND_INT') {
      const params = [1, 2, 3, 4].map((n) => f[`param${n}`]).filter((p) => typeof p === 'number' && p !== 0);
      text = `${commandName(f.command)}${params.length ? ` (${params.join(', ')})` : ''}`;
      answer = `ack ${String(f.command)}`;
    } else if (name === 'SET_MODE') {
      text = `SET_MODE custom mode ${String(f.custom_mode)}`;
      answer = 'ack 11';
    } else if (name === 'PARAM_SET') {
      text = `PARAM_SET ${String(f.param_id)} = ${String(f.param_value)}`;
      answer = `param ${String(f.param_id)}`;
    } else {
      text = `mission upload: ${String(f.count)} item(s)`;
      answer = 'mission';
    }
    const event = this.add({ t, kind: 'command', severity: SEVERITY_INFO, text, who, result: 'no answer' });
    if (event) this.pending.push({ event, answer, until: t + ANSWER_WINDOW_S });
  }

  /** Something the vehicle sent that may answer a pending request. */
  answer(t: number, name: string, f: Fields): void {
    if (this.pending.length === 0) return;
    this.pending = this.pending.filter((p) => p.until >= t);
    const key = name === 'COMMAND_ACK' ? `ack ${String(f.command)}` : name === 'PARAM_VALUE' ? `param ${String(f.param_id)}` : name === 'MISSION_ACK' ? 'mission' : null;
    if (key === null) return;
    const i = this.pending.findIndex((p) => p.answer === key);
    if (i < 0) return;
    const [p] = this.pending.splice(i, 1);
    p!.event.result = name === 'COMMAND_ACK' ? enumName('MAV_RESULT', f.result, 'MAV_RESULT_')
      : name === 'PARAM_VALUE' ? `now ${String(f.param_value)}`
        : enumName('MAV_MISSION_RESULT', f.type, 'MAV_MISSION_');
    if (p!.event.result !== 'ACCEPTED' && name !== 'PARAM_VALUE') p!.event.severity = 4;
  }
}
