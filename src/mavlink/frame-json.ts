/** The JSON shape of one frame, as `mavgate decode` prints it and exports write it. */
import type { Frame } from './frame.js';
import type { Fields } from './values.js';

export interface FrameRecord {
  time_us: number | null;
  version: 1 | 2;
  sysid: number;
  compid: number;
  seq: number;
  msgid: number;
  /** null for a message id the registry does not know (then the frame is unverified). */
  name: string | null;
  signed: boolean;
  fields: Fields | null;
}

export function frameRecord(frame: Frame, timeUs: number | null): FrameRecord {
  return {
    time_us: timeUs,
    version: frame.version,
    sysid: frame.sysid,
    compid: frame.compid,
    seq: frame.seq,
    msgid: frame.msgid,
    name: frame.name,
    signed: frame.signed,
    fields: frame.decode(),
  };
}
