/**
 * The wasm backend in headless Chromium (issue 7): the page in test/browser/wasm, bundled by
 * Vite and served with cross-origin isolation, loads the kernels, starts its workers on shared
 * memory, and computes LeNet-5's loss and gradients and a set of primitives as the reference
 * backend does in the same page; a few SGD steps make the loss fall. The package as tsc builds
 * it also loads in a plain <script type="module"> without a bundler. Skipped with a NOTICE
 * without Chromium.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { serveStatic } from '../src/cli/serve.js';
import { browserSkip, buildAndServe, launchChromium, type PageGlobals } from '../tools/browser.js';
import { ROOT } from './cli_util.js';

const skip = browserSkip('test/browser_wasm.test.ts');

describe('wasm backend in headless Chromium', { skip }, () => {
  let page: Awaited<ReturnType<typeof buildAndServe>>;
  let chromium: Awaited<ReturnType<typeof launchChromium>>;
  let result: Record<string, unknown>;

  before(async () => {
    page = await buildAndServe(join(ROOT, 'test/browser/wasm'), { build: { target: 'esnext' } });
    chromium = await launchChromium();
    const tab = await chromium.newPage();
    const errors: string[] = [];
    tab.on('pageerror', (e) => errors.push(String(e)));
    await tab.goto(`${page.url}?mode=check`);
    await tab.waitForFunction(() => (globalThis as PageGlobals).strideResult !== undefined, undefined, { timeout: 120_000 });
    result = (await tab.evaluate(() => (globalThis as PageGlobals).strideResult))!;
    assert.equal(result['error'], undefined, String(result['error']));
    assert.deepEqual(errors, []);
  });
  after(async () => {
    await chromium?.close();
    await page?.close();
  });

  test('the page is cross-origin isolated and the backend runs the relaxed-SIMD build on shared memory with workers', () => {
    assert.equal(result['crossOriginIsolated'], true);
    const status = result['status'] as { build: string; threads: number; platform: string };
    assert.equal(status.platform, 'browser');
    // Chromium validates relaxed SIMD without a flag.
    assert.equal(status.build, 'relaxed (shared memory)');
    assert.ok(status.threads >= 2, `threads: ${status.threads}`);
  });

  test("LeNet-5's loss and every gradient agree with the reference backend", () => {
    assert.ok(Math.abs((result['lossWasm'] as number) - (result['lossReference'] as number)) < 1e-5);
    const diffs = result['gradDiff'] as Record<string, number>;
    // Two convolutions and three linear layers, each with a weight and a bias.
    assert.equal(Object.keys(diffs).length, 10);
    for (const [name, d] of Object.entries(diffs)) assert.ok(d < 1e-5, `${name}: ${d}`);
  });

  test('conv (strided, dilated, grouped) and its gradients, pooling, matmul and softmax agree', () => {
    const diffs = result['primitives'] as Record<string, number>;
    assert.deepEqual(Object.keys(diffs).sort(), ['conv', 'conv_input_grad', 'conv_weight_grad', 'matmul', 'softmax']);
    for (const [name, d] of Object.entries(diffs)) assert.ok(d < 1e-4, `${name}: ${d}`);
  });

  test('training on wasm lowers the loss of a batch 10x in 40 steps', () => {
    const losses = result['losses'] as number[];
    assert.equal(losses.length, 40);
    assert.ok(losses[39]! < losses[0]! / 10, losses.join(', '));
  });
});

/** The package as tsc builds it (dist/, with the .wasm files beside the loader) imported by a plain page, no bundler. */
const PLAIN_PAGE = `<!doctype html><meta charset="utf-8"><title>stride without a bundler</title>
<script type="module">
import * as st from './index.js';
import { initWasm } from './backend/wasm/index.js';
try {
  const status = await initWasm();
  st.manual_seed(0);
  const a = st.randn([33, 47]);
  const b = st.randn([47, 29]);
  const want = st.matmul(a, b).dataSync();
  const got = st.with_default_backend('wasm', () => st.matmul(a.to('wasm'), b.to('wasm')).dataSync());
  let maxDiff = 0;
  for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(want[i] - got[i]));
  globalThis.strideResult = { status: { ...status }, maxDiff, size: got.length };
} catch (e) {
  globalThis.strideResult = { error: String(e.stack ?? e) };
}
</script>`;

test('the built package loads in a plain <script type="module"> and its wasm matmul agrees with the reference', { skip }, async () => {
  const dist = mkdtempSync(join(tmpdir(), 'stride-dist-'));
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', dist, '--declaration', 'false', '--sourceMap', 'false'], { cwd: ROOT });
  cpSync(join(ROOT, 'src/backend/wasm/bin'), join(dist, 'backend/wasm/bin'), { recursive: true });
  writeFileSync(join(dist, 'index.html'), PLAIN_PAGE);
  const server = await serveStatic(dist);
  const browser = await launchChromium();
  try {
    const tab = await browser.newPage();
    await tab.goto(server.url);
    await tab.waitForFunction(() => (globalThis as PageGlobals).strideResult !== undefined, undefined, { timeout: 60_000 });
    const r = (await tab.evaluate(() => (globalThis as PageGlobals).strideResult))!;
    assert.equal(r['error'], undefined, String(r['error']));
    assert.equal((r['status'] as { available: boolean }).available, true);
    assert.equal(r['size'], 33 * 29);
    assert.ok((r['maxDiff'] as number) < 1e-4, `max difference ${String(r['maxDiff'])}`);
  } finally {
    await browser.close();
    await server.close();
    rmSync(dist, { recursive: true, force: true });
  }
});
