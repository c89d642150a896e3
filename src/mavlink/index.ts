/** The wire layer: MAVLink bytes and messages, nothing else (it imports no other layer). */
export { CRC_INIT, CRC_TABLE, crc16, crc16Byte } from './crc.js';
export { FrameDecoder, decodeAll, type FrameHandler } from './decoder.js';
export { FrameEncoder, encodeFrame, MessageEncodeError, type FrameHeader, type OutgoingMessage } from './encoder.js';
export {
  Frame, MAGIC_V1, MAGIC_V2, HEADER_V1, HEADER_V2, CHECKSUM_LENGTH, SIGNATURE_LENGTH, INCOMPAT_SIGNED, MAX_FRAME_LENGTH,
} from './frame.js';
export { decodePayload } from './payload-decode.js';
export { encodePayload } from './payload-encode.js';
export { DIALECTS, expandDialects, UnknownDialectError, type DialectName } from './dialects.js';
export {
  loadRegistry, MessageRegistry, DialectConflictError, type FieldDef, type MessageDef, type ScalarType,
} from './registry.js';
export { DecoderStats, SequenceTracker, type SourceLoss } from './stats.js';
export { TlogDecoder, TlogStats, encodeTlogRecord, looksLikeRecord, TLOG_TIMESTAMP_LENGTH, type TlogFrameHandler } from './tlog.js';
export type { FieldValue, Fields } from './values.js';
export { msgidOf, seqOf, sourceOf, withSequence } from './resequence.js';
export {
  FrameSigner, SignatureVerifier, SigningError, SECRET_MESSAGE_IDS, SIGNING_EPOCH_MS, SIGNING_KEY_BYTES, SIGNING_WINDOW, signatureTimestamp, signingTimestamp, type VerifyResult,
} from './signing.js';
export { frameRecord, type FrameRecord } from './frame-json.js';
export { MAV_AUTOPILOT, MAV_CMD, MAV_DATA_STREAM, MAV_MISSION_RESULT, MAV_MODE_FLAG, MAV_PARAM_TYPE, MAV_RESULT, MAV_SEVERITY, MAV_STATE, MAV_TYPE } from './enums.js';
export { statusTextChunks, StatusTextIds, STATUSTEXT_LENGTH, type StatusTextChunk } from './status-text.js';
