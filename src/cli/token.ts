/**
 * `mavgate token add`: a new token's hash appended to the config file's `tokens:` (the
 * file's comments and layout kept), the token itself returned to be shown once.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { isMap, isSeq, parseDocument } from 'yaml';
import { generateToken, hashToken, type SourceRule } from '../server/tokens.js';
import type { Role } from '../residency/policy.js';
import { InputError } from './errors.js';
import { describeFsError } from './input.js';

export function addToken(path: string, entry: { name: string; role: Role; sources: SourceRule[] }): string {
  let text = '';
  if (existsSync(path)) {
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new InputError(`cannot read config ${path}: ${describeFsError(err)}`);
    }
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new InputError(`${path}: not valid YAML: ${doc.errors[0]!.message}`);
  if (doc.contents !== null && !isMap(doc.contents)) throw new InputError(`${path}: expected a mapping of settings at the top level`);
  const tokens = doc.get('tokens');
  if (tokens !== undefined && !isSeq(tokens)) throw new InputError(`${path}: tokens: expected a list`);
  if (isSeq(tokens) && tokens.items.some((t) => isMap(t) && t.get('name') === entry.name)) {
    throw new InputError(`${path}: a token named "${entry.name}" exists already; remove it first to replace it`);
  }
  const token = generateToken();
  const record = { name: entry.name, role: entry.role, sha256: hashToken(token), sources: entry.sources };
  if (isSeq(tokens)) tokens.add(doc.createNode(record));
  else doc.set('tokens', doc.createNode([record]));
  try {
    writeFileSync(path, doc.toString());
  } catch (err) {
    throw new InputError(`cannot write config ${path}: ${describeFsError(err)}`);
  }
  return token;
}
