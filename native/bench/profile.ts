/**
 * Summarises a V8 .cpuprofile (from node --cpu-prof): self time by category (addon calls,
 * allocation and GC, the JS around them), by function and by source file, so the JS-side
 * overhead around the native calls is visible.
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx native/bench/measure.ts --only lenet --native-only --steps 200
 *   node --import tsx native/bench/profile.ts /tmp/prof/<file>.cpuprofile [top]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) throw new Error('usage: profile.ts <file.cpuprofile> [top]');
const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
prof.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

const short = (url: string): string => url.replace(/^file:\/\/.*?\/(src|native|node_modules)\//, '$1/').replace(/^node:/, 'node:');
const fnSelf = new Map<string, number>();
const fileSelf = new Map<string, number>();
for (const [id, us] of selfUs) {
  const f = byId.get(id)!.callFrame;
  const where = f.url ? `${short(f.url)}:${f.lineNumber + 1}` : '(native/VM)';
  const key = `${f.functionName || '(anonymous)'}  ${where}`;
  fnSelf.set(key, (fnSelf.get(key) ?? 0) + us);
  const fileKey = f.url ? short(f.url) : `(${f.functionName})`;
  fileSelf.set(fileKey, (fileSelf.get(fileKey) ?? 0) + us);
}
/** Where a sample's time goes: in the addon (its JS wrappers are a few lines), allocation, or the JS around them. */
function category(f: ProfileNode['callFrame']): string {
  const url = short(f.url);
  if (url.startsWith('src/backend/native/')) return 'native primitives (addon calls)';
  if (f.functionName === 'allocArray' || f.functionName === '(garbage collector)') return 'typed-array allocation and GC';
  if (url.startsWith('src/backend/reference/')) return 'reference primitives (fallbacks)';
  if (url.startsWith('src/')) return 'JS: ops, autograd, tensors, layers, optimizer';
  if (f.functionName === '(idle)' || f.functionName === '(program)') return 'idle / VM';
  return 'Node and tsx runtime (loading)';
}
const byCategory = new Map<string, number>();
for (const [id, us] of selfUs) {
  const c = category(byId.get(id)!.callFrame);
  byCategory.set(c, (byCategory.get(c) ?? 0) + us);
}
const pct = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
const top = Number(topArg ?? 25);
console.log(`${(total / 1e6).toFixed(2)} s sampled\n\nself time by category:`);
for (const [k, us] of [...byCategory].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(us)}  ${k}`);
console.log('\nself time by function:');
for (const [k, us] of [...fnSelf].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)}  ${k}`);
console.log('\nself time by file:');
for (const [k, us] of [...fileSelf].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)}  ${k}`);
