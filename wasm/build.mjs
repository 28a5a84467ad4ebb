// Builds the wasm backend's kernels (wasm/assembly/*.ts, AssemblyScript) into
// src/backend/wasm/bin/: plain SIMD128 and relaxed SIMD, each for a shared memory (threads) and
// an unshared one (no cross-origin isolation in a browser). `npm run build:wasm` runs it; the
// outputs are committed, with manifest.json recording the hash of the sources they came from.
// `node wasm/build.mjs --check` (run by test/wasm.test.ts) fails when the sources or the files
// no longer match the manifest, so edited kernels cannot ship unbuilt.
import asc from 'assemblyscript/asc';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'src', 'backend', 'wasm', 'bin');

// Memory: imported from JS, up to 4 GiB. The kernels' constant tables (the Math functions') sit
// from 32 KiB: below are the thread control block and the argument block, above 64 KiB the heap
// (src/backend/wasm/layout.ts).
const common = [
  join(here, 'assembly', 'index.ts'), '-O3', '--noAssert', '--runtime', 'stub', '--importMemory',
  '--initialMemory', '16', '--maximumMemory', '65536', '--memoryBase', '32768',
];
const variants = {
  'stride-simd.wasm': ['--enable', 'simd,threads', '--sharedMemory'],
  'stride-relaxed.wasm': ['--enable', 'simd,threads,relaxed-simd', '--sharedMemory'],
  'stride-simd-unshared.wasm': ['--enable', 'simd'],
  'stride-relaxed-unshared.wasm': ['--enable', 'simd,relaxed-simd'],
};

/** The hash of everything the outputs depend on: the sources, this script and the compiler's version. */
function sourcesHash() {
  const h = createHash('sha256');
  const dir = join(here, 'assembly');
  for (const f of readdirSync(dir).sort()) h.update(f).update(readFileSync(join(dir, f)));
  h.update(readFileSync(fileURLToPath(import.meta.url)));
  h.update(JSON.parse(readFileSync(join(here, '..', 'node_modules', 'assemblyscript', 'package.json'), 'utf8')).version);
  return h.digest('hex');
}

async function build() {
  mkdirSync(out, { recursive: true });
  const outputs = {};
  for (const [name, flags] of Object.entries(variants)) {
    const { error, stderr } = await asc.main([...common, ...flags, '-o', join(out, name)]);
    if (error) {
      console.error(stderr.toString());
      throw error;
    }
    outputs[name] = sha(join(out, name));
    console.log(`built ${name}`);
  }
  writeFileSync(join(out, 'manifest.json'), JSON.stringify({ sources: sourcesHash(), outputs }, null, 2) + '\n');
}

const sha = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');

function check() {
  const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
  const problems = [];
  if (manifest.sources !== sourcesHash()) problems.push('wasm/assembly, wasm/build.mjs or the AssemblyScript version changed since the last build');
  for (const name of Object.keys(variants)) {
    if (manifest.outputs[name] !== sha(join(out, name))) problems.push(`${name} is not the file the last build wrote`);
  }
  if (problems.length > 0) {
    console.error(`${problems.join('\n')}\nrun \`npm run build:wasm\` and commit src/backend/wasm/bin/`);
    process.exit(1);
  }
  console.log('the wasm kernels are up to date');
}

if (process.argv.includes('--check')) check();
else await build();
