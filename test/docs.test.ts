/** The configuration the documentation shows is configuration mavgate accepts. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parsePolicy } from '../src/residency/policy-parse.js';

describe('docs/residency.md', () => {
  it('shows a worked example that is a valid policy', () => {
    const doc = readFileSync(new URL('../docs/residency.md', import.meta.url), 'utf8');
    const block = /```yaml\n(# \/etc\/mavgate\/policy\.yaml[\s\S]*?)```/.exec(doc)![1]!;
    const policy = parsePolicy(parse(block), 'docs/residency.md', '/');
    expect(policy).toMatchObject({ site: 'sdis-team-3', jurisdiction: 'EU/FR' });
    expect(policy.rules.map((r) => r.cidr)).toEqual(['192.168.10.0/24', 'role:observer', '10.20.0.7/32']);
    expect(Object.fromEntries(policy.rules[2]!.rates)).toEqual({ position: 2, health: 1 });
  });
});
