/**
 * stride's wasm backend inside headless Chromium (issue 7 asks for W1 measured there): the page
 * test/browser/wasm, bundled by Vite and served with cross-origin isolation (so the backend has
 * its workers on shared memory), driven by playwright-core. A step runs several training steps
 * in the page, so the round trip to it (~1 ms) is under 5% of a step. --threads N sets the
 * threads the page's backend splits work over (Chromium starts one per core).
 */
import { join } from 'node:path';
import { buildAndServe, launchChromium, type PageGlobals } from '../../tools/browser.js';
import { serve, type Runner } from '../lib/serve.js';

const threads = Number(process.argv[process.argv.indexOf('--threads') + 1] ?? 2);
const ROOT = join(import.meta.dirname, '../..');
const site = await buildAndServe(join(ROOT, 'test/browser/wasm'), { build: { target: 'esnext' } });
const browser = await launchChromium();
const page = await browser.newPage();
await page.goto(site.url);
await page.waitForFunction(() => (globalThis as PageGlobals).strideResult !== undefined, undefined, { timeout: 60_000 });
const status = await page.evaluate((n) => {
  (globalThis as PageGlobals).strideBench!.threads(n);
  return (globalThis as PageGlobals).strideResult;
}, threads);
if (status?.['error']) throw new Error(String(status['error']));

/** Steps per round trip to the page. */
const INNER = { w1_train: 10, w1_eval: 4 } as const;

await serve({
  info: () => ({ system: 'stride wasm in Chromium', browser: browser.version(), status: status?.['status'], crossOriginIsolated: status?.['crossOriginIsolated'], threads }),
  async prepare(id, p) {
    if (id !== 'w1_train' && id !== 'w1_eval') return { unsupported: 'only W1 runs in the browser' };
    await page.evaluate(([i, q]) => (globalThis as PageGlobals).strideBench!.prepare(i, q), [id, p] as const);
    const n = INNER[id];
    const runner: Runner = {
      items: n * p.batch,
      step: async () => void (await page.evaluate((k) => (globalThis as PageGlobals).strideBench!.steps(k), n)),
      notes: ['in headless Chromium (playwright-core), random images'],
    };
    return runner;
  },
});

// The orchestrator closed our stdin: the browser and the page server would keep the process alive.
await browser.close();
await site.close();
