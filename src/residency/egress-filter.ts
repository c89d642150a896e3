/**
 * What one destination receives, frame by frame: the classes its rule allows, with the
 * rule's redaction applied to a copy (decoded, changed, re-encoded); the original frame
 * is never touched, so every other destination, the vehicle state and recordings keep it.
 * Frames that need no redaction are not decoded.
 */
import { encodeFrame, type Frame, type MessageDef, type MessageRegistry } from '../mavlink/index.js';
import { type ClassTable, DATA_CLASSES, UNKNOWN_CLASS } from './data-classes.js';
import type { EgressMeter } from './egress-meter.js';
import type { DestinationRule } from './policy.js';

/** What to send for `frame`: undefined for the frame as it arrived, a redacted copy, or null for nothing. */
export type EgressFilter = (frame: Frame) => Buffer | null | undefined;

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
  if (!rule) {
    // No rule: every class as it arrived; only counted.
    return (frame) => {
      meter.count(classes.indexOf(frame.msgid), frame.length);
      return undefined;
    };
  }
  const everything = rule.classes.size === DATA_CLASSES.length && rule.redact.size === 0;
  // Per class index: may it go, and how is it redacted.
  const allowed = DATA_CLASSES.map((c) => rule.classes.has(c));
  const redactions = DATA_CLASSES.map((c) => rule.redact.get(c));
  return (frame) => {
    const index = classes.indexOf(frame.msgid);
    // A message no dialect defines could carry anything: only a destination that may receive every class gets it.
    if (index === UNKNOWN_CLASS ? !everything : !allowed[index]) return null;
    const redaction = redactions[index];
    if (redaction === 'drop') return null;
    if (redaction === undefined) {
      meter.count(index, frame.length);
      return undefined;
    }
    const fields = frame.decode()!;
    coarsen(frame.message!, fields, redaction.gridM);
    const copy = encodeFrame(registry, { msgid: frame.msgid, fields }, { sysid: frame.sysid, compid: frame.compid, seq: frame.seq, version: frame.version });
    meter.count(index, copy.length);
    return copy;
  };
}
