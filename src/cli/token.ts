/**
 * `mavgate token add|list|remove|rotate`: the config file's `tokens:` edited in place (its
 * comments and layout kept). Only a token's hash is written; the token itself is returned
 * to be shown once. A running gateway picks the change up within seconds (it watches the
 * file) or on SIGHUP, audits it, and disconnects the clients of a removed or rotated token.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { type Document, isMap, isSeq, parseDocument, type YAMLMap, type YAMLSeq } from 'yaml';
import { generateToken, hashToken, type SourceRule } from '../server/tokens.js';
import type { Role } from '../residency/policy.js';
import { InputError } from './errors.js';
import { describeFsError } from './input.js';

export interface NewToken {
  name: string;
  role: Role;
  sources: SourceRule[];
  /** When it stops being accepted (ms since the epoch); none: never. */
  expires?: number;
}

/** One token as `token list` shows it (never the token, only the start of its hash). */
export interface TokenRow {
  name: string;
  role: string;
  expires: string | null;
  expired: boolean;
  sha256: string;
  sources: string;
}

function readDocument(path: string, mustExist: boolean): Document {
  let text = '';
  if (existsSync(path)) {
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new InputError(`cannot read config ${path}: ${describeFsError(err)}`);
    }
  } else if (mustExist) {
    throw new InputError(`cannot read config ${path}: no such file`);
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new InputError(`${path}: not valid YAML: ${doc.errors[0]!.message}`);
  if (doc.contents !== null && !isMap(doc.contents)) throw new InputError(`${path}: expected a mapping of settings at the top level`);
  const tokens = doc.get('tokens');
  if (tokens !== undefined && !isSeq(tokens)) throw new InputError(`${path}: tokens: expected a list`);
  return doc;
}

function writeDocument(path: string, doc: Document): void {
  try {
    // Flow lists as people write them ([ardupilotmega], not [ ardupilotmega ]): the rest of the file stays as it was.
    writeFileSync(path, doc.toString({ flowCollectionPadding: false }));
  } catch (err) {
    throw new InputError(`cannot write config ${path}: ${describeFsError(err)}`);
  }
}

function tokenList(doc: Document): YAMLSeq | undefined {
  return doc.get('tokens') as YAMLSeq | undefined;
}

function findToken(path: string, doc: Document, name: string): YAMLMap {
  const found = tokenList(doc)?.items.find((t): t is YAMLMap => isMap(t) && t.get('name') === name);
  if (!found) {
    const names = (tokenList(doc)?.items ?? []).filter(isMap).map((t) => t.get('name'));
    throw new InputError(`${path}: no token named "${name}"${names.length ? ` (there are: ${names.join(', ')})` : ' (there are none)'}`);
  }
  return found;
}

export function addToken(path: string, entry: NewToken): string {
  const token = generateToken();
  writeToken(path, { ...entry, sha256: hashToken(token) });
  return token;
}

/** Appends a token's entry (its hash, never the token) to the config file's `tokens:`. */
export function writeToken(path: string, entry: NewToken & { sha256: string }): void {
  const doc = readDocument(path, false);
  const tokens = tokenList(doc);
  if (tokens?.items.some((t) => isMap(t) && t.get('name') === entry.name)) {
    throw new InputError(`${path}: a token named "${entry.name}" exists already; give it a new secret with mavgate token rotate ${entry.name}, or remove it with mavgate token remove ${entry.name}`);
  }
  const record = { name: entry.name, role: entry.role, sha256: entry.sha256, sources: entry.sources, ...(entry.expires !== undefined ? { expires: new Date(entry.expires).toISOString() } : {}) };
  if (tokens) tokens.add(doc.createNode(record));
  else doc.set('tokens', doc.createNode([record]));
  writeDocument(path, doc);
}

export function listTokens(path: string, now: number): TokenRow[] {
  const doc = readDocument(path, true);
  return (tokenList(doc)?.items ?? []).filter(isMap).map((t) => {
    const expires = t.get('expires');
    const at = expires === undefined ? null : new Date(String(expires));
    const sources = (t.toJSON().sources as SourceRule[] | undefined) ?? [{ system: 255, components: [] }];
    return {
      name: String(t.get('name')), role: String(t.get('role')),
      expires: at ? at.toISOString() : null, expired: at !== null && at.getTime() <= now,
      sha256: String(t.get('sha256') ?? '').slice(0, 12),
      sources: sources.map((s) => `${s.system}/${s.components?.length ? s.components.join('|') : '*'}`).join(' '),
    };
  });
}

export function removeToken(path: string, name: string): void {
  const doc = readDocument(path, true);
  const item = findToken(path, doc, name);
  tokenList(doc)!.items.splice(tokenList(doc)!.items.indexOf(item), 1);
  writeDocument(path, doc);
}

/** A new secret for the token `name` (its role and source ids kept; its expiry kept unless `expires` is given). */
export function rotateToken(path: string, name: string, expires?: number): string {
  const doc = readDocument(path, true);
  const item = findToken(path, doc, name);
  const token = generateToken();
  item.set('sha256', hashToken(token));
  if (expires !== undefined) item.set('expires', new Date(expires).toISOString());
  writeDocument(path, doc);
  return token;
}

/** The token table `token list` prints. */
export function formatTokens(rows: TokenRow[]): string {
  if (rows.length === 0) return 'no tokens (clients on this machine are observers; add one with mavgate token add)\n';
  const table = [['name', 'role', 'expires', 'sources', 'sha256'], ...rows.map((r) => [r.name, r.role, r.expires ? `${r.expires}${r.expired ? ' (EXPIRED)' : ''}` : 'never', r.sources, `${r.sha256}…`])];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  return table.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}
