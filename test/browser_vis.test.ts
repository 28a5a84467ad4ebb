/**
 * stride/vis in headless Chromium from the same code as in Node (issue 9): the page in
 * test/browser/vis fetches the trained Fashion-MNIST convnet's safetensors, draws the filter grid,
 * the first layer's feature-map grid, and saliency and Grad-CAM overlays of a test image on
 * canvases, and the pixels read back from the canvases must equal the ones Node computes with
 * the same functions on the file's bytes (skipped with a NOTICE without Chromium).
 * Without a browser, a bundle of stride/vis for browsers must reach no Node module.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { build } from 'vite';
import { parseIdx } from '../src/data/idx.js';
import { with_default_backend } from '../src/index.js';
import { BUNDLED_SUBSET } from '../src/io/datasets.js';
import { readBytes } from '../src/io/files.js';
import { parseSafetensors } from '../src/io/safetensors.js';
import { browserSkip, buildAndServe, launchChromium } from '../tools/browser.js';
import { convnetFromBytes, convnetPictures, type ConvnetInfo } from './browser/vis/pictures.js';
import { ROOT } from './cli_util.js';

const skip = browserSkip('test/browser_vis.test.ts');
const RUN = join(ROOT, 'test/fixtures/models/stride_convnet');
const bytes = await readBytes(`${BUNDLED_SUBSET}/t10k-images-idx3-ubyte.gz`);
// Tensors on the reference backend, whichever backend was registered first.
const images = with_default_backend('reference', () => parseIdx(bytes, 't10k-images'));
const image = (i: number) => Array.from(images.select(0, i).contiguous().dataSync());
const info = JSON.parse(readFileSync(join(RUN, 'model.json'), 'utf8')) as ConvnetInfo;
const weights = new Uint8Array(readFileSync(join(RUN, 'model.safetensors')));

interface CanvasPixels { width: number; height: number; data: number[] }
type VisPage = { strideResult?: Record<string, unknown>; strideVis: { render(image: number[]): Record<string, CanvasPixels> } };

describe('stride/vis in headless Chromium', { skip }, () => {
  let page: Awaited<ReturnType<typeof buildAndServe>>;
  let chromium: Awaited<ReturnType<typeof launchChromium>>;
  const drawn = new Map<number, Record<string, CanvasPixels>>();

  before(async () => {
    // The run directory is the page's public folder: model.json and model.safetensors are served beside it.
    page = await buildAndServe(join(ROOT, 'test/browser/vis'), { publicDir: RUN, build: { target: 'esnext' } });
    chromium = await launchChromium();
    const tab = await chromium.newPage();
    const errors: string[] = [];
    tab.on('pageerror', (e) => errors.push(String(e)));
    await tab.goto(page.url);
    await tab.waitForFunction(() => (globalThis as unknown as VisPage).strideResult !== undefined, undefined, { timeout: 60_000 });
    const status = await tab.evaluate(() => (globalThis as unknown as VisPage).strideResult!);
    assert.equal(status['error'], undefined, String(status['error']));
    // A trouser (test image 2) and an ankle boot (test image 0).
    for (const i of [0, 2]) drawn.set(i, await tab.evaluate((px) => (globalThis as unknown as VisPage).strideVis.render(px), image(i)));
    assert.deepEqual(errors, []);
  });
  after(async () => {
    await chromium?.close();
    await page?.close();
  });

  test('the canvases hold exactly the pixels Node computes: filters, feature maps, saliency, Grad-CAM', () => {
    const model = convnetFromBytes(info, weights);
    const sizes: Record<string, [number, number]> = { filters: [30, 30], features: [66, 66], saliency: [28, 28], gradcam: [28, 28] };
    for (const [i, inPage] of drawn) {
      const inNode = convnetPictures(model, info, image(i));
      assert.deepEqual(Object.keys(inPage).sort(), Object.keys(sizes).sort());
      for (const [name, [w, h]] of Object.entries(sizes)) {
        const want = inNode[name as keyof typeof inNode];
        const got = inPage[name]!;
        assert.deepEqual([got.width, got.height, want.width, want.height], [w, h, w, h], `image ${i} ${name}: size`);
        const differing = got.data.filter((v, k) => v !== want.data[k]).length;
        assert.equal(differing, 0, `image ${i} ${name}: ${differing} of ${got.data.length} bytes differ`);
        // Not a blank canvas: the picture uses a range of values.
        assert.ok(new Set(got.data).size > 20, `image ${i} ${name}: ${new Set(got.data).size} distinct byte values`);
      }
    }
    // The two images give different feature maps and saliency maps.
    assert.notDeepEqual(drawn.get(0)!['features']!.data, drawn.get(2)!['features']!.data);
    assert.notDeepEqual(drawn.get(0)!['saliency']!.data, drawn.get(2)!['saliency']!.data);
  });

  test('the page loaded the weights it fetched, not fresh ones: its filters are the file\'s', () => {
    const weight = with_default_backend('reference', () => parseSafetensors(weights).tensors['layer1.0.weight']!.dataSync());
    // The filter grid scales each 5x5 filter into [0, 1]: its darkest pixel is its smallest weight.
    const first = Array.from(weight.subarray(0, 25));
    const min = first.indexOf(Math.min(...first));
    const filters = drawn.get(0)!['filters']!;
    // Tile 0 starts after 2 pixels of padding; RGBA, red channel.
    const at = (k: number) => filters.data[4 * ((2 + Math.floor(k / 5)) * filters.width + 2 + (k % 5))]!;
    assert.equal(at(min), 0);
    assert.equal(at(first.indexOf(Math.max(...first))), 255);
  });
});

test('stride/vis bundles for browsers from stride\'s own modules alone (no Node module, no Node-only package)', async () => {
  const out = await build({ logLevel: 'silent', configFile: false, build: { write: false, lib: { entry: join(ROOT, 'src/vis/index.ts'), formats: ['es'] } } });
  const chunks = (Array.isArray(out) ? out : [out]) as { output: { type: string; moduleIds?: string[] }[] }[];
  // Vite stands '__vite-browser-external' in for Node's modules; sharp would come from node_modules;
  // ids starting with NUL are the bundler's own helpers.
  const modules = chunks.flatMap((c) => c.output.flatMap((o) => o.moduleIds ?? []));
  assert.ok(modules.includes(join(ROOT, 'src/vis/attribution.ts')), modules.join(', '));
  assert.deepEqual(modules.filter((m) => !m.startsWith(join(ROOT, 'src') + '/') && !m.startsWith('\0')), []);
});
