// What the npm package ships and exports, so an installed stride can build and load its native
// backend: `npm pack --dry-run` (scripts off, offline) lists native/'s build inputs and none of
// its outputs, and every subpath export, 'stride/native' among them, maps to a source file.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

const ROOT = new URL('../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as {
  exports: Record<string, Record<string, string>>;
  scripts: Record<string, string>;
  bin: Record<string, string>;
};

/** The paths `npm pack` would put in the tarball (prepack/prepare scripts not run). */
function packed(): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts', '--offline'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [result] = JSON.parse(out) as { files: { path: string }[] }[];
  return result!.files.map((f) => f.path);
}

/** The source a dist/ target is compiled from (tsconfig.build.json: rootDir src, outDir dist). */
const sourceOf = (target: string): string => target.replace(/^\.\/dist\//, 'src/').replace(/(\.d)?\.js$|\.d\.ts$/, '.ts');

test('the package ships what builds the native addon, and nothing the build made', () => {
  const files = packed();
  const native = files.filter((f) => f.startsWith('native/'));
  const sources = readdirSync(`${ROOT}native/src`).filter((f) => /\.(cc|h)$/.test(f)).map((f) => `native/src/${f}`);
  assert.ok(sources.length > 0);
  for (const f of ['native/binding.gyp', 'native/build.sh', 'native/README.md', ...sources]) assert.ok(native.includes(f), `${f} is not packed`);
  // Only those: not native/build/ (the addon, objects), native/build.log or native/bench/.
  const allowed = (f: string) => ['native/binding.gyp', 'native/build.sh', 'native/README.md'].includes(f) || f.startsWith('native/src/');
  assert.deepEqual(native.filter((f) => !allowed(f)), []);
});

test('npm pack builds dist/ first (prepack), which the exports and the bin point into', () => {
  assert.equal(pkg.scripts['prepack'], 'npm run build');
  assert.match(pkg.scripts['build']!, /tsc -p tsconfig\.build\.json/);
});

test('npm builds the addon at install without failing it, and without apt', () => {
  const install = pkg.scripts['install'];
  assert.ok(install?.startsWith('sh native/build.sh || '), install);
  // build.sh runs apt-get only when the Makefile asks (STRIDE_APT=1), never from npm.
  const aptGates = readFileSync(`${ROOT}native/build.sh`, 'utf8').split('\n').filter((l) => /^\s*if .*apt-get/.test(l));
  assert.equal(aptGates.length, 1);
  assert.match(aptGates[0]!, /"\$\{STRIDE_APT:-\}" = 1/);
  assert.doesNotMatch(install!, /STRIDE_APT/);
});

test("exports map 'stride/native' and 'stride/wasm' to their backends, and every export to an existing source", () => {
  assert.deepEqual(pkg.exports['./native'], { types: './dist/backend/native/index.d.ts', import: './dist/backend/native/index.js' });
  assert.deepEqual(pkg.exports['./wasm'], { types: './dist/backend/wasm/index.d.ts', import: './dist/backend/wasm/index.js' });
  const build = JSON.parse(readFileSync(`${ROOT}tsconfig.build.json`, 'utf8')) as { compilerOptions: { rootDir: string; outDir: string } };
  assert.equal(build.compilerOptions.rootDir, 'src');
  assert.equal(build.compilerOptions.outDir, 'dist');
  for (const [subpath, conditions] of Object.entries(pkg.exports)) {
    // TypeScript reads conditions in order: types must come first.
    assert.deepEqual(Object.keys(conditions), ['types', 'import'], subpath);
    for (const target of Object.values(conditions)) {
      assert.ok(existsSync(`${ROOT}${sourceOf(target)}`), `${subpath}: ${target} has no source ${sourceOf(target)}`);
    }
  }
  for (const target of Object.values(pkg.bin)) assert.ok(existsSync(`${ROOT}${sourceOf(target)}`), target);
});
