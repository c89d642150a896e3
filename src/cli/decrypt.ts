/**
 * `mavgate decrypt IN OUT`: an encrypted recording back to a plain tlog, in a directory the
 * policy approves. It is written beside OUT under a temporary name and given OUT's name
 * only when the whole recording decrypted: a wrong key or a tampered chunk leaves no
 * partial file behind, and a retry finds OUT free.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { EgressGate } from '../residency/gate.js';
import type { ResidencyPolicy } from '../residency/policy.js';
import { createFile, discardFile, publishFile } from '../sinks/files.js';
import { DecryptError, RecordingReader } from '../sinks/recording-reader.js';
import { InputError } from './errors.js';
import { openInput } from './input.js';

export async function decryptFile(input: string, output: string, key: Buffer, policy: ResidencyPolicy): Promise<{ bytes: number; closedCleanly: boolean }> {
  const grant = new EgressGate(policy).grantDirectory('decrypt output', dirname(resolve(output)));
  const name = basename(output);
  if (existsSync(resolve(output))) throw new InputError(`cannot write ${output}: the file exists`);
  const unfinished = `.${name}.${process.pid}.partial`;
  const source = await openInput(input);
  const reader = new RecordingReader(key);
  let out;
  try {
    out = await createFile(grant, unfinished);
  } catch (err) {
    source.destroy();
    throw new InputError(`cannot write beside ${output}: ${(err as Error).message}`);
  }
  let bytes = 0;
  let done = false;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      for (const plain of reader.push(chunk)) {
        await out.write(plain);
        bytes += plain.length;
      }
    }
    const end = reader.end();
    if (!end.encrypted) throw new InputError(`${input} is not an encrypted mavgate recording`);
    await out.close();
    try {
      await publishFile(grant, unfinished, name);
    } catch (err) {
      throw new InputError(`cannot write ${output}: ${(err as NodeJS.ErrnoException).code === 'EEXIST' ? 'the file exists' : (err as Error).message}`);
    }
    done = true;
    return { bytes, closedCleanly: end.encrypted.complete };
  } catch (err) {
    if (err instanceof DecryptError) throw new InputError(`${input}: ${err.message} (nothing written to ${output})`);
    throw err;
  } finally {
    await out.close().catch(() => {});
    if (!done) await discardFile(grant, unfinished);
    source.destroy();
  }
}
