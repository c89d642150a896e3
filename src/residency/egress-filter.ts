/**
 * What one destination receives, frame by frame: the classes its rule allows, with the
 * rule's redaction applied to a copy (decoded, changed, re-encoded); the original frame
 * is never touched, so every other destination, the vehicle state and recordings keep it.
 * Frames that need no redaction are not decoded.
 */
import { encodeFrame, type Frame, type MessageDef, type MessageRegistry } from '../mavlink/index.js';
import { type ClassTable, DATA_CLASSES } from './data-classes.js';
import type { EgressMeter } from './egress-meter.js';
import type { DestinationRule } from './policy.js';

/** The bytes to send for `frame`, or null when the destination must not receive it. */
export type EgressFilter = (frame: Frame) => Buffer | null;

const METRES_PER_DEGREE = 111_320;
const COORDINATE = /^(lat|lon|lng|latitude|longitude)(_int)?$/;

function isLatitude(name: string): boolean {
  return name.startsWith('lat');
}

/** Snaps every latitude/longitude field of the message to a grid of `gridM` metres. */
function coarsen(def: MessageDef, fields: Record<string, unknown>, gridM: number): void {
  const coordinates = def.fields.filter((f) => COORDINATE.test(f.name) && f.arrayLength === 0);
  const scale = (name: string) => (def.fields.find((f) => f.name === name)!.type === 'int32_t' ? 1e7 : 1);
  const latField = coordinates.find((f) => isLatitude(f.name));
  const latDeg = latField ? (fields[latField.name] as number) / scale(latField.name) : 0;
  for (const f of coordinates) {
    const value = fields[f.name];
    if (typeof value !== 'number') continue;
    const s = scale(f.name);
    const stepDeg = isLatitude(f.name) ? gridM / METRES_PER_DEGREE : gridM / (METRES_PER_DEGREE * Math.max(0.01, Math.cos((latDeg * Math.PI) / 180)));
    const snapped = Math.round(value / s / stepDeg) * stepDeg * s;
    fields[f.name] = s === 1 ? snapped : Math.round(snapped);
  }
}

/**
 * The filter for one destination: its rule (undefined: every class, unredacted), and a
 * meter that counts what it was handed, by class.
 */
export function buildEgressFilter(rule: DestinationRule | undefined, classes: ClassTable, registry: MessageRegistry, meter: EgressMeter): EgressFilter {
  const everything = !rule || (rule.classes.size === DATA_CLASSES.length && rule.redact.size === 0);
  const pass = (frame: Frame): Buffer | null => {
    const cls = classes.classOf(frame.msgid);
    // A message no dialect defines could carry anything: only a destination that may receive every class gets it.
    if (cls === undefined) return everything ? frame.bytes() : null;
    if (!rule) return frame.bytes();
    if (!rule.classes.has(cls)) return null;
    const redaction = rule.redact.get(cls);
    if (redaction === undefined) return frame.bytes();
    if (redaction === 'drop') return null;
    const fields = frame.decode()!;
    coarsen(frame.message!, fields, redaction.gridM);
    return encodeFrame(registry, { msgid: frame.msgid, fields }, { sysid: frame.sysid, compid: frame.compid, seq: frame.seq, version: frame.version });
  };
  return (frame) => {
    const out = pass(frame);
    if (out !== null) meter.count(classes.classOf(frame.msgid) ?? 'unknown', out.length);
    return out;
  };
}
