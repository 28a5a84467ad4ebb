/**
 * ImageFolder and readImage: the layout torchvision reads (one sub-folder per class, sorted),
 * exact pixels from PNG, JPEG decoded close to its source, conversions, and clear errors.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { ImageFolder, readImage } from '../src/io/image_folder.js';
import type { Tensor } from '../src/index.js';
import { tempDir } from './cli_util.js';

const root = tempDir('image-folder');
after(() => rmSync(root, { recursive: true, force: true }));

/** A w x h RGB image whose pixel (x, y) is (10x + y, 3y, 200 - x). */
function rgb(w: number, h: number): Buffer {
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) px.set([10 * x + y, 3 * y, 200 - x], 3 * (y * w + x));
  }
  return px;
}
/** Element [c, y, x] of a [C, H, W] tensor. */
const at = (t: Tensor, c: number, y: number, x: number): number => t.dataSync()[(c * t.shape[1]! + y) * t.shape[2]! + x]!;
const raw = (w: number, h: number) => sharp(rgb(w, h), { raw: { width: w, height: h, channels: 3 } });

before(async () => {
  // Classes on disk in an order that is not sorted; a stray text file and an empty sub-sub-folder are ignored.
  for (const c of ['zebra', 'ant', 'moth']) mkdirSync(join(root, 'pets', c), { recursive: true });
  await raw(4, 3).png().toFile(join(root, 'pets', 'zebra', 'b.png'));
  await raw(4, 3).png().toFile(join(root, 'pets', 'zebra', 'a.PNG'));
  await raw(4, 3).jpeg({ quality: 100 }).toFile(join(root, 'pets', 'ant', 'x.jpg'));
  await raw(6, 5).png().toFile(join(root, 'pets', 'moth', 'm.png'));
  writeFileSync(join(root, 'pets', 'moth', 'notes.txt'), 'not an image');
  mkdirSync(join(root, 'empty', 'only'), { recursive: true });
  mkdirSync(join(root, 'broken', 'c'), { recursive: true });
  writeFileSync(join(root, 'broken', 'c', 'bad.png'), 'PNG? no');
});

test('classes are the sorted sub-folders; samples are sorted paths with class indices', async () => {
  const ds = await ImageFolder.open(join(root, 'pets'));
  assert.deepEqual(ds.classes, ['ant', 'moth', 'zebra']);
  assert.deepEqual(ds.class_to_idx, { ant: 0, moth: 1, zebra: 2 });
  assert.deepEqual(ds.samples.map(([p, c]) => [p.slice(root.length + 6), c]), [['ant/x.jpg', 0], ['moth/m.png', 1], ['zebra/a.PNG', 2], ['zebra/b.png', 2]]);
  assert.equal(ds.length, 4);
});

test('a PNG decodes to its exact pixels as float32 [3, H, W] in [0, 1]', async () => {
  const ds = await ImageFolder.open(join(root, 'pets'));
  const [image, label] = await ds.get(3);
  assert.equal(label, 2);
  assert.deepEqual(image.shape, [3, 3, 4]);
  assert.equal(image.dtype, 'float32');
  // Pixel (x=2, y=1) is (21, 3, 198).
  assert.deepEqual([0, 1, 2].map((c) => Math.round(at(image, c, 1, 2) * 255)), [21, 3, 198]);
  assert.ok(Math.abs(at(image, 0, 1, 2) - 21 / 255) < 1e-7);
});

test('a JPEG decodes close to its source; grayscale, resizing and the transform apply', async () => {
  const jpeg = await readImage(join(root, 'pets', 'ant', 'x.jpg'));
  const source = rgb(4, 3);
  const err = Math.max(...Array.from(jpeg.permute(1, 2, 0).dataSync(), (v, i) => Math.abs(v * 255 - source[i]!)));
  assert.ok(err <= 12, `largest JPEG error ${err} of 255`);

  const gray = await readImage(join(root, 'pets', 'moth', 'm.png'), { channels: 1, size: [10, 12] });
  assert.deepEqual(gray.shape, [1, 10, 12]);
  const ds = await ImageFolder.open(join(root, 'pets'), { channels: 1, transform: (x, i) => x.mul(0).add(i) });
  const [t] = await ds.get(1);
  assert.deepEqual(t.shape, [1, 5, 6]);
  assert.equal(at(t, 0, 4, 5), 1);
});

test('bad folders and files are refused naming the path', async () => {
  await assert.rejects(ImageFolder.open(join(root, 'missing')), /ImageFolder: cannot read the folder .*missing/);
  await assert.rejects(ImageFolder.open(join(root, 'pets', 'moth')), /has no sub-folders; expected one per class/);
  await assert.rejects(ImageFolder.open(join(root, 'empty')), /no \.png\/\.jpg\/\.jpeg images in the class folder\(s\) only of/);
  const broken = await ImageFolder.open(join(root, 'broken'));
  await assert.rejects(broken.get(0), /broken\/c\/bad\.png: not a readable image/);
  await assert.rejects((await ImageFolder.open(join(root, 'pets'))).get(4), /index 4 is out of range for 4 images/);
});
