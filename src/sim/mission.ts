/**
 * The mission protocol, vehicle side: upload (MISSION_COUNT → MISSION_REQUEST_INT … →
 * MISSION_ACK) and download (MISSION_REQUEST_LIST → MISSION_COUNT → MISSION_ITEM_INT …).
 */
import { type Fields, MAV_MISSION_RESULT, type OutgoingMessage } from '../mavlink/index.js';

type Reply = (message: OutgoingMessage) => void;

export class MissionStore {
  items: Fields[] = [];
  private upload: { expected: number; received: Fields[] } | null = null;

  constructor(private readonly reply: Reply) {}

  handle(name: string, f: Fields, from: { sysid: number; compid: number }): boolean {
    const target = { target_system: from.sysid, target_component: from.compid, mission_type: f.mission_type ?? 0 };
    switch (name) {
      case 'MISSION_COUNT': {
        const count = f.count as number;
        if (count === 0) {
          this.items = [];
          this.reply({ name: 'MISSION_ACK', fields: { ...target, type: MAV_MISSION_RESULT.ACCEPTED } });
        } else {
          this.upload = { expected: count, received: [] };
          this.reply({ name: 'MISSION_REQUEST_INT', fields: { ...target, seq: 0 } });
        }
        return true;
      }
      case 'MISSION_ITEM_INT': {
        const upload = this.upload;
        if (!upload) return true;
        if (f.seq !== upload.received.length) {
          // An item out of order: ask again for the one we need.
          this.reply({ name: 'MISSION_REQUEST_INT', fields: { ...target, seq: upload.received.length } });
          return true;
        }
        upload.received.push(f);
        if (upload.received.length < upload.expected) {
          this.reply({ name: 'MISSION_REQUEST_INT', fields: { ...target, seq: upload.received.length } });
        } else {
          this.items = upload.received;
          this.upload = null;
          this.reply({ name: 'MISSION_ACK', fields: { ...target, type: MAV_MISSION_RESULT.ACCEPTED } });
        }
        return true;
      }
      case 'MISSION_REQUEST_LIST':
        this.reply({ name: 'MISSION_COUNT', fields: { ...target, count: this.items.length } });
        return true;
      case 'MISSION_REQUEST_INT':
      case 'MISSION_REQUEST': {
        const item = this.items[f.seq as number];
        if (!item) {
          this.reply({ name: 'MISSION_ACK', fields: { ...target, type: MAV_MISSION_RESULT.INVALID_SEQUENCE } });
        } else {
          this.reply({ name: 'MISSION_ITEM_INT', fields: { ...item, target_system: from.sysid, target_component: from.compid } });
        }
        return true;
      }
      case 'MISSION_CLEAR_ALL':
        this.items = [];
        this.reply({ name: 'MISSION_ACK', fields: { ...target, type: MAV_MISSION_RESULT.ACCEPTED } });
        return true;
      case 'MISSION_ACK':
        return true;
      default:
        return false;
    }
  }
}
