/**
 * `stride visualize invert|dream|style|similarity|init` at small sizes and few steps: the objective
 * falls (style loss ≥ 10x), the PNG has the size asked for, similarity gives 1 for a photo and
 * its copy, and the initialisation experiment's figure and table are written. The photos are
 * the CC0 ones in docs/images; the backbone is nsfwjs's MobileNetV2 in bench/node_modules
 * (skipped with a NOTICE without it).
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { ROOT, stride, tempDir } from './cli_util.js';

const IMAGES = join(ROOT, 'docs/images');
const dir = tempDir('vis-extra');
after(() => rmSync(dir, { recursive: true, force: true }));

const nsfwjs = existsSync(join(ROOT, 'bench/node_modules/nsfwjs/dist/models/mobilenet_v2/model.min.js'));
if (!nsfwjs) console.log('NOTICE: nsfwjs is not installed in bench/node_modules (cd bench && npm ci --ignore-scripts); the backbone commands are not tested');
const skip = nsfwjs ? false : 'nsfwjs is not installed in bench/node_modules';

async function run(args: string[]): Promise<string> {
  const r = await stride(['visualize', ...args]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** The numbers of a printed "NAME A → B". */
function fromTo(stdout: string, name: string): [number, number] {
  const m = new RegExp(`${name} ([^\\s,]+) → ([^\\s,]+)`).exec(stdout);
  assert.ok(m, `no '${name} A → B' in:\n${stdout}`);
  return [Number(m[1]), Number(m[2])];
}

async function pngSize(path: string): Promise<[number, number]> {
  const meta = await sharp(path).metadata();
  assert.equal(meta.format, 'png');
  return [meta.width!, meta.height!];
}

test('invert: from noise, the feature error at block_6 falls over 4x; a 48x48 PNG', { skip }, async () => {
  const out = join(dir, 'invert.png');
  const stdout = await run(['invert', join(IMAGES, 'astronaut.jpg'), '--size', '48', '--steps', '40', '--out', out]);
  const [first, last] = fromTo(stdout, 'objective');
  assert.ok(last < first / 4, `${first} → ${last}`);
  assert.deepEqual(await pngSize(out), [48, 48]);
});

test('dream: the last octave raises the mean squared activation; the PNG keeps the photo\'s aspect (320x213 → 64x43)', { skip }, async () => {
  const out = join(dir, 'dream.png');
  const stdout = await run(['dream', join(IMAGES, 'coffee.jpg'), '--size', '64', '--octaves', '2', '--steps', '5', '--out', out]);
  // The negated objective: it falls as the activations grow.
  const [first, last] = fromTo(stdout, 'objective');
  assert.ok(first < 0 && last < 1.3 * first, `${first} → ${last}`);
  assert.deepEqual(await pngSize(out), [64, 43]);
});

test('style: the style loss falls at least 10x in 40 steps and the objective falls; a 64x43 PNG', { skip }, async () => {
  const out = join(dir, 'style.png');
  const stdout = await run(['style', '--content', join(IMAGES, 'chelsea.jpg'), '--style', join(IMAGES, 'starry_night.jpg'), '--size', '64', '--steps', '40', '--out', out]);
  const [styleFirst, styleLast] = fromTo(stdout, 'style loss');
  assert.ok(styleLast < styleFirst / 10, `style loss ${styleFirst} → ${styleLast}`);
  const [first, last] = fromTo(stdout, 'objective');
  assert.ok(last < first / 2, `${first} → ${last}`);
  assert.deepEqual(await pngSize(out), [64, 43]);
});

test('similarity: a photo and its copy score 1, different photos less; the picture has the photos along its edges', { skip }, async () => {
  const copy = join(dir, 'copy.jpg');
  copyFileSync(join(IMAGES, 'chelsea.jpg'), copy);
  const out = join(dir, 'similarity.png');
  const stdout = await run(['similarity', join(IMAGES, 'chelsea.jpg'), copy, join(IMAGES, 'rocket.jpg'), '--out', out]);
  const rows = Object.fromEntries(stdout.split('\n').filter((l) => /^(chelsea|copy|rocket) /.test(l)).map((l) => [l.split(/\s+/)[0]!, l.trim().split(/\s+/).slice(1).map(Number)]));
  assert.deepEqual(rows['chelsea']!.slice(0, 2), [1, 1]);
  assert.deepEqual(rows['copy']!.slice(0, 2), [1, 1]);
  assert.equal(rows['rocket']![2], 1);
  assert.ok(rows['rocket']![0]! < 0.95 && rows['rocket']![0]! === rows['chelsea']![2], stdout);
  // Three photos and their thumbnails: 4 cells of 64 pixels a side.
  assert.deepEqual(await pngSize(out), [256, 256]);
});

test('invert: an unknown layer is an error that lists the backbone\'s layers', { skip }, async () => {
  const r = await stride(['visualize', 'invert', join(IMAGES, 'astronaut.jpg'), '--layer', 'block_99', '--size', '32', '--steps', '1', '--out', join(dir, 'x.png')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no module named block_99; the modules are .*block_6_expand_relu/);
  assert.equal(existsSync(join(dir, 'x.png')), false);
});

test('init: the table shows N(0, 0.01²) collapsing and He holding; the figure is written as PNG and SVG', async () => {
  const out = join(dir, 'init', 'relu.png');
  const stdout = await run(['init', '--activation', 'relu', '--depth', '6', '--width', '64', '--batch', '64', '--out', out]);
  const stds = (init: string) => {
    const line = stdout.split('\n').find((l) => l.startsWith(init));
    assert.ok(line, stdout);
    return [...line.split(':')[1]!.matchAll(/(\S+) \((\S+)\)/g)].map((m) => Number(m[1]));
  };
  assert.equal(stds('small').length, 6);
  assert.ok(stds('small')[5]! < 1e-6 * stds('small')[0]!, String(stds('small')));
  for (const s of stds('he')) assert.ok(s > 0.4 && s < 2.5, String(stds('he')));
  const [w, h] = await pngSize(out);
  assert.ok(w > 800 && h > 500, `${w}x${h}`);
  assert.ok(existsSync(join(dir, 'init', 'relu.svg')));
});
