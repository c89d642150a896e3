/**
 * The house's shape, checked from the imports: no module imports itself back through
 * others, and each layer imports only the layers below it (docs/architecture.md).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../src');

/** What each layer (a folder of src/) may import besides itself. */
const ALLOWED: Record<string, string[]> = {
  events: [],
  mavlink: [],
  residency: ['mavlink'],
  router: ['events', 'mavlink'],
  links: ['events', 'mavlink', 'residency', 'sinks'],
  sinks: ['events', 'mavlink', 'residency', 'router'],
  sim: ['events', 'mavlink', 'residency', 'router', 'links'],
  server: ['events', 'mavlink', 'residency', 'router', 'links'],
  gateway: ['events', 'mavlink', 'residency', 'router', 'links', 'sim'],
  hardware: ['residency', 'links'],
  cli: ['events', 'mavlink', 'residency', 'router', 'links', 'sinks', 'sim', 'server', 'gateway', 'hardware'],
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Every module's relative imports (static, type-only, re-exports and dynamic ones alike). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'|import\('(\.[^']+)'\)/g)].map((m) => (m[1] ?? m[2])!);
    graph.set(relative(SRC, file), specifiers.map((s) => relative(SRC, resolve(dirname(file), s.replace(/\.js$/, '.ts')))));
  }
  return graph;
}

const layerOf = (module: string) => module.split('/')[0]!;

describe('the import graph', () => {
  const graph = importGraph();

  it('sees the modules (the scan works)', () => {
    expect(graph.get('gateway/gateway.ts')).toContain('router/router.ts');
    expect(graph.get('residency/audit-log.ts')).toContain('residency/grants.ts');
  });

  it('has no cycle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (node: string) => {
      state.set(node, 'open');
      stack.push(node);
      for (const next of graph.get(node) ?? []) {
        if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next].join(' → '));
        else if (!state.has(next)) visit(next);
      }
      stack.pop();
      state.set(node, 'done');
    };
    for (const node of graph.keys()) if (!state.has(node)) visit(node);
    expect(cycles).toEqual([]);
  });

  it('runs one way between layers', () => {
    const wrong: string[] = [];
    for (const [module, imports] of graph) {
      const from = layerOf(module);
      expect(ALLOWED, `src/${from}/ is a layer docs/architecture.md and this test know`).toHaveProperty(from);
      for (const target of imports) {
        const to = layerOf(target);
        if (to !== from && !ALLOWED[from]!.includes(to)) wrong.push(`${module} imports ${target}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
