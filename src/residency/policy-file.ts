/** Reading a residency policy from a YAML file: standalone, or the `residency:` key of a gateway config. */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { PolicyError, type ResidencyPolicy } from './policy.js';
import { parsePolicy } from './policy-parse.js';

export function loadPolicyFile(path: string): ResidencyPolicy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    // In words, as other files are reported: not Node's bare error code.
    throw new PolicyError(path, '', `cannot read: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (err) {
    throw new PolicyError(path, '', `not valid YAML: ${(err as Error).message}`);
  }
  // Relative directories in a policy are relative to the policy file, not to wherever mavgate was started.
  return parsePolicy(document, path, dirname(path));
}
