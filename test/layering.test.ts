import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const SRC = new URL('../src/', import.meta.url).pathname;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
}

/** Folders in dependency order: a folder may import only from itself and folders before it. */
const LAYERS = ['tensor', 'backend', 'autograd', 'ops'];

test('core folders import nothing from Node (they must run in browsers)', () => {
  for (const f of files(SRC)) {
    const rel = relative(SRC, f);
    const top = rel.split('/')[0]!;
    // Besides the core layers, data/ and the safetensors codec are pure too (they run in browsers).
    // backend/native/ is the Node-only addon loader: pure files must not import it.
    const pure = (LAYERS.includes(top) && !rel.startsWith('backend/native/')) || top === 'data' || rel === 'io/safetensors.ts' || rel === 'index.ts';
    if (!pure) continue;
    for (const spec of imports(f)) {
      assert.ok(!spec.startsWith('node:') && !['fs', 'path', 'os', 'worker_threads'].includes(spec), `${relative(SRC, f)} imports ${spec}`);
      assert.ok(!relative(SRC, join(f, '..', spec)).startsWith('backend/native/'), `${relative(SRC, f)} imports the Node-only ${spec}`);
    }
  }
});

test('dependencies point one way: tensor ← backend ← autograd ← ops', () => {
  // tensor/ and backend/ reference each other only for types and the registry, both below autograd.
  const rank = (folder: string) => (folder === 'backend' ? 0 : LAYERS.indexOf(folder));
  for (const f of files(SRC)) {
    const from = relative(SRC, f).split('/')[0]!;
    if (!LAYERS.includes(from)) continue;
    for (const spec of imports(f)) {
      if (!spec.startsWith('.')) continue;
      const target = relative(SRC, join(f, '..', spec)).split('/')[0]!;
      if (!LAYERS.includes(target)) continue;
      assert.ok(rank(target) <= rank(from), `${relative(SRC, f)} (${from}) imports ${spec} (${target}), against the layering`);
    }
  }
});
