/**
 * stride/vis pictures (grids, filters, feature maps, colour maps) on hand-computed cases, PNG
 * writing, and the `stride visualize` commands on the convnet stride trained.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { arange, fromFlat } from '../src/index.js';
import { readImage, writeImage } from '../src/io/image_folder.js';
import { loadTrained } from '../src/cli/commands.js';
import { colorize, feature_map_grid, features, filter_grid, make_grid, overlay, toImageData } from '../src/vis/index.js';
import { stride, tempDir } from './cli_util.js';

const dir = tempDir('vis-pictures');
after(() => rmSync(dir, { recursive: true, force: true }));
const RUN = new URL('./fixtures/models/stride_convnet', import.meta.url).pathname;
const BOOT = join(dir, 'boot.png');

before(async () => {
  // A 28x28 gray picture: a bright block on black, enough for the commands to run on.
  const px = Buffer.alloc(28 * 28);
  for (let y = 12; y < 24; y++) for (let x = 4; x < 26; x++) px[y * 28 + x] = 200;
  await sharp(px, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(BOOT);
});

test('make_grid lays images out with padding and scales each into [0, 1]', () => {
  // Two 1x2x2 images: [0, 1, 2, 3] and [10, 10, 10, 14]; one row, padding 1, pad value 0.5.
  const g = make_grid(fromFlat([0, 1, 2, 3, 10, 10, 10, 14], [2, 1, 2, 2]), { nrow: 2, padding: 1, pad_value: 0.5 });
  assert.deepEqual(g.shape, [1, 4, 7]);
  const p = 0.5;
  assert.deepEqual(Array.from(g.dataSync()), [
    p, p, p, p, p, p, p,
    p, 0, 1 / 3, p, 0, 0, p,
    p, 2 / 3, 1, p, 0, 1, p,
    p, p, p, p, p, p, p,
  ].map(Math.fround));
  const none = make_grid(fromFlat([-1, 0.5, 2, 0.25], [1, 1, 2, 2]), { padding: 0, normalize: 'none' });
  assert.deepEqual(Array.from(none.dataSync()), [0, 0.5, 1, 0.25]);
  assert.throws(() => make_grid(fromFlat([1, 2], [2])), /make_grid: expected images \[N, 1 or 3, H, W\], got \[2\]/);
});

test('filter and feature-map grids of the trained convnet; features by module name', async () => {
  const { model } = await loadTrained(RUN);
  const weight = model.state_dict()['layer1.0.weight']!;
  // 16 filters of 1x5x5: a 4x4 grid of 5x5 tiles with padding 2.
  assert.deepEqual(filter_grid(weight).shape, [1, 4 * 7 + 2, 4 * 7 + 2]);
  const x = (await readImage(BOOT, { channels: 1 })).unsqueeze(0);
  const f = features(model, x, ['layer1', 'layer2.2']);
  assert.deepEqual(Object.keys(f), ['layer1', 'layer2.2']);
  assert.deepEqual(f['layer1']!.shape, [1, 16, 14, 14]);
  assert.deepEqual(f['layer2.2']!.shape, [1, 32, 14, 14]);
  assert.ok(f['layer2.2']!.min().item() >= 0, 'a ReLU output');
  assert.deepEqual(feature_map_grid(f['layer1']!).shape, [1, 4 * 16 + 2, 4 * 16 + 2]);
  assert.throws(() => features(model, x, ['layer3']), /features: no module named layer3; the modules are layer1, layer1\.0/);
});

test('colorize maps min to dark blue and max to yellow; overlay mixes; toImageData gives RGBA bytes', () => {
  const c = colorize(fromFlat([0, 1, 4, 2], [2, 2]));
  const v = c.dataSync();
  assert.deepEqual([v[0], v[4], v[8]].map((x) => Math.round(x! * 1000)), [267, 5, 329]);
  assert.deepEqual([v[2], v[6], v[10]].map((x) => Math.round(x! * 1000)), [993, 906, 144]);
  const o = overlay(fromFlat([1, 1, 1, 1], [1, 2, 2]), fromFlat([0, 0, 0, 1], [2, 2]), 0.5);
  assert.deepEqual(o.shape, [3, 2, 2]);
  assert.ok(Math.abs(o.dataSync()[0]! - (0.5 + 0.5 * 0.267)) < 1e-6);
  const img = toImageData(fromFlat([0, 0.5, 1, 0.25], [1, 2, 2]));
  assert.deepEqual([img.width, img.height], [2, 2]);
  assert.deepEqual(Array.from(img.data.subarray(0, 8)), [0, 0, 0, 255, 128, 128, 128, 255]);
});

test('writeImage writes a PNG that reads back to the same pixels', async () => {
  const image = arange(0, 48).div(47).reshape([3, 4, 4]);
  const path = join(dir, 'ramp.png');
  await writeImage(path, image);
  const back = await readImage(path);
  assert.deepEqual(Array.from(back.dataSync(), (x) => Math.round(x * 255)), Array.from(image.dataSync(), (x) => Math.round(x * 255)));
  await assert.rejects(writeImage(path, arange(0, 4)), /writeImage .*ramp\.png: expected an image \[1 or 3, H, W\], got \[4\]/);
});

test('stride visualize writes filters, feature maps, saliency, Grad-CAM and adversarial pictures; bad names are refused', async () => {
  const out = join(dir, 'out');
  const run = async (...args: string[]) => {
    const r = await stride(['visualize', ...args, '--out', out, '--scale', '2']);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  await run('filters', RUN);
  assert.match(await run('features', RUN, BOOT, '--layer', 'layer1'), /wrote .*boot-layer1\.png/);
  assert.match(await run('saliency', RUN, BOOT, '--class', 'Bag'), /predicted .*; saliency for Bag/);
  assert.match(await run('gradcam', RUN, BOOT, '--layer', 'layer1'), /Grad-CAM of layer1 for /);
  assert.match(await run('adversarial', RUN, BOOT, '--eps', '0.2'), /boot\.png: .* → .* with ε = 0\.2/);
  const sizes: Record<string, [number, number]> = {
    'filters.png': [60, 60], 'boot-layer1.png': [132, 132], 'boot-saliency.png': [56, 56], 'boot-gradcam-layer1.png': [56, 56], 'boot-adversarial.png': [2 * (3 * 30 + 2), 2 * 32],
  };
  for (const [file, [w, h]] of Object.entries(sizes)) {
    const meta = await sharp(join(out, file)).metadata();
    assert.deepEqual([meta.width, meta.height], [w, h], file);
    const { channels } = await sharp(join(out, file)).stats();
    assert.ok(channels.some((ch) => ch.stdev > 1), `${file} is not blank`);
  }
  const bad = await stride(['visualize', 'gradcam', RUN, BOOT, '--layer', 'nope', '--out', out]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /no module named 'nope'; the modules are layer1, /);
  const cls = await stride(['visualize', 'saliency', RUN, BOOT, '--class', 'Hat', '--out', out]);
  assert.match(cls.stderr, /unknown class 'Hat'; valid: T-shirt\/top, Trouser/);
});
