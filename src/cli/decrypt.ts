/** `mavgate decrypt IN OUT`: an encrypted recording back to a plain tlog, in a directory the policy approves. */
import { basename, dirname, resolve } from 'node:path';
import { EgressGate } from '../residency/gate.js';
import type { ResidencyPolicy } from '../residency/policy.js';
import { createFile } from '../sinks/files.js';
import { DecryptError, RecordingReader } from '../sinks/recording-reader.js';
import { InputError } from './errors.js';
import { openInput } from './input.js';

export async function decryptFile(input: string, output: string, key: Buffer, policy: ResidencyPolicy): Promise<{ bytes: number; closedCleanly: boolean }> {
  const grant = new EgressGate(policy).grantDirectory('decrypt output', dirname(resolve(output)));
  const source = await openInput(input);
  const reader = new RecordingReader(key, input);
  let out;
  try {
    out = await createFile(grant, basename(output));
  } catch (err) {
    source.destroy();
    throw new InputError(`cannot write ${output}: ${(err as NodeJS.ErrnoException).code === 'EEXIST' ? 'the file exists' : (err as Error).message}`);
  }
  let bytes = 0;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      for (const plain of reader.push(chunk)) {
        await out.write(plain);
        bytes += plain.length;
      }
    }
    const end = reader.end();
    if (!end.encrypted) throw new InputError(`${input} is not an encrypted mavgate recording`);
    return { bytes, closedCleanly: end.encrypted.complete };
  } catch (err) {
    if (err instanceof DecryptError) throw new InputError(`${input}: ${err.message} (${bytes} bytes before it were written to ${output})`);
    throw err;
  } finally {
    await out.close();
    source.destroy();
  }
}
