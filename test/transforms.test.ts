import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DTypeError, Generator, ShapeError, StrideError, Tensor, div, tensor, to, zeros } from '../src/index.js';
import * as T from '../src/data/transforms.js';
import { assertClose, assertValues, fromFixture, throwsNaming, type FixtureTensor } from './helpers.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Args = any;

interface TransformCase {
  name: string;
  fn: string;
  image: string;
  uint8: boolean;
  args: Args;
  output: FixtureTensor;
  value?: FixtureTensor;
}

const fx = JSON.parse(readFileSync(new URL('./fixtures/transforms.json', import.meta.url), 'utf8')) as {
  images: Record<string, FixtureTensor>;
  cases: TransformCase[];
};

/** A fixture image: uint8 as stored, or float32 / 255 as ToTensor gives. */
function image(name: string, uint8 = false): Tensor {
  const u8 = fromFixture(fx.images[name]!);
  return uint8 ? u8 : div(to(u8, 'float32'), 255);
}

const rgb = () => image('rgb');
const gray = () => image('gray');

/** The functional call of each fixture case. */
const FUNCTIONAL: Record<string, (img: Tensor, a: Args, value?: Tensor) => Tensor> = {
  normalize: (img, a) => T.normalize(img, a.mean, a.std),
  resize: (img, a) => T.resize(img, a.size, { interpolation: a.interpolation, antialias: a.antialias }),
  center_crop: (img, a) => T.center_crop(img, a.output_size),
  crop: (img, a) => T.crop(img, a.top, a.left, a.height, a.width),
  resized_crop: (img, a) => T.resized_crop(img, a.top, a.left, a.height, a.width, a.size, { interpolation: a.interpolation }),
  pad: (img, a) => T.pad(img, a.padding, { fill: a.fill, padding_mode: a.padding_mode }),
  rgb_to_grayscale: (img, a) => T.rgb_to_grayscale(img, a.num_output_channels),
  hflip: (img) => T.hflip(img),
  vflip: (img) => T.vflip(img),
  erase: (img, a, v) => T.erase(img, a.i, a.j, a.h, a.w, v!),
  affine: (img, a) => T.affine(img, a.angle, a.translate, a.scale, a.shear, { interpolation: a.interpolation, fill: a.fill, center: a.center }),
  adjust_brightness: (img, a) => T.adjust_brightness(img, a.factor),
  adjust_contrast: (img, a) => T.adjust_contrast(img, a.factor),
  adjust_saturation: (img, a) => T.adjust_saturation(img, a.factor),
  adjust_hue: (img, a) => T.adjust_hue(img, a.factor),
};

/** The same cases through the transform classes, where a class takes the arguments as they are. */
const CLASSES: Record<string, (a: Args) => T.Transform> = {
  normalize: (a) => new T.Normalize(a.mean, a.std),
  resize: (a) => new T.Resize(a.size, { interpolation: a.interpolation, antialias: a.antialias }),
  center_crop: (a) => new T.CenterCrop(a.output_size),
  pad: (a) => new T.Pad(a.padding, { fill: a.fill, padding_mode: a.padding_mode }),
  rgb_to_grayscale: (a) => new T.Grayscale(a.num_output_channels),
};

/** Cases that only move or copy pixels (or pick them by nearest), so they must match exactly. */
const exact = (c: TransformCase) =>
  ['crop', 'center_crop', 'pad', 'hflip', 'vflip', 'erase'].includes(c.fn) || c.args.interpolation === 'nearest';

test('transforms.json: every function has a runner and every runner has cases', () => {
  const fns = new Set(fx.cases.map((c) => c.fn));
  assert.deepEqual([...fns].sort(), Object.keys(FUNCTIONAL).sort());
});

for (const c of fx.cases) {
  test(`torchvision ${c.fn}: ${c.name}${c.uint8 ? ' (uint8)' : ''}`, () => {
    const img = image(c.image, c.uint8);
    const value = c.value && fromFixture(c.value);
    // Exact cases compare with the float32 values the fixture's 9 digits stand for.
    const expected = exact(c) ? { shape: c.output.shape, data: fromFixture(c.output).dataSync() } : c.output;
    const tol = exact(c) ? { rtol: 0, scaled_atol: 0 } : {};
    const out = FUNCTIONAL[c.fn]!(img, c.args, value);
    assert.equal(out.dtype, c.uint8 ? 'uint8' : 'float32', 'dtype');
    assertClose(out, expected, c.name, tol);
    const cls = CLASSES[c.fn];
    if (cls) assertClose(cls(c.args).forward(img), expected, `${c.name} (class)`, tol);
  });
}

// ---------------------------------------------------------------- conversion and composition

const caseNamed = (name: string) => {
  const c = fx.cases.find((k) => k.name === name);
  assert.ok(c, `no fixture case '${name}'`);
  return c;
};

/** The float32 values a fixture output stands for, for exact comparisons. */
const exactly = (name: string) => {
  const c = caseNamed(name);
  return { shape: c.output.shape, data: fromFixture(c.output).dataSync() };
};
const EXACT = { rtol: 0, scaled_atol: 0 };
const valuesOf = (t: Tensor) => ({ shape: t.shape, data: t.dataSync() });

test('ToTensor: HWC ImageData and uint8 [H, W, C] / [H, W] tensors become float32 [C, H, W] / 255', () => {
  // 2 pixels wide, 1 high, RGB: (0, 51, 255) and (102, 204, 1).
  const pic: T.ImageData = { data: new Uint8Array([0, 51, 255, 102, 204, 1]), width: 2, height: 1, channels: 3 };
  const x = new T.ToTensor().forward(pic);
  assert.equal(x.dtype, 'float32');
  assertValues(x, [[[0, 0.4]], [[0.2, 0.8]], [[1, 1 / 255]]], 'ToTensor(ImageData)', 6);
  assertValues(T.to_tensor(tensor([[[0, 51, 255], [102, 204, 1]]], { dtype: 'uint8' })), x.tolist(), 'ToTensor(uint8 tensor)', 6);
  assertValues(T.to_tensor(tensor([[255, 0], [0, 51]], { dtype: 'uint8' })), [[[1, 0], [0, 0.2]]], 'ToTensor(uint8 [H, W])', 6);
  const rgba = T.to_tensor({ data: new Uint8Array([1, 2, 3, 255]), width: 1, height: 1, channels: 4 });
  assert.deepEqual([...rgba.shape], [4, 1, 1]);
});

test('PILToTensor keeps uint8 values; ConvertImageDtype maps uint8 <-> float as torchvision', () => {
  const pic: T.ImageData = { data: new Uint8Array([0, 128, 255, 7]), width: 2, height: 2, channels: 1 };
  const u8 = new T.PILToTensor().forward(pic);
  assert.equal(u8.dtype, 'uint8');
  assertValues(u8, [[[0, 128], [255, 7]]], 'PILToTensor');
  assertValues(new T.ConvertImageDtype('float32').forward(u8), T.to_tensor(pic).tolist(), 'uint8 -> float32 is ToTensor');
  // x * (256 - 1e-3), truncated: only 1.0 reaches 255.
  const f = tensor([[[0, 0.5, 0.999, 1]]]);
  assertValues(T.convert_image_dtype(f, 'uint8'), [[[0, 127, 255, 255]]], 'float -> uint8');
  assertValues(T.convert_image_dtype(tensor([[[0.996, 0.9961]]]), 'uint8'), [[[254, 255]]], '255 / 255.999 = 0.99609 is where 255 starts');
  assert.equal(T.convert_image_dtype(f, 'float64').dtype, 'float64');
});

test('Compose runs its transforms in order; Lambda wraps a function', () => {
  const pic: T.ImageData = { data: new Uint8Array([0, 255, 51, 102]), width: 2, height: 2, channels: 1 };
  const t = new T.Compose<T.ImageData>([new T.ToTensor(), new T.Lambda((x: Tensor) => x.mul(2)), new T.Normalize([0.5], [0.5])]);
  assertValues(t.forward(pic), [[[-1, 3], [-0.2, 0.6]]], 'ToTensor, x2, (x - 0.5) / 0.5', 6);
  assert.equal(new T.Compose([]).forward(rgb()).shape.length, 3, 'an empty Compose is the identity');
});

test('Resize with an int: the smaller edge gets the size, max_size bounds the longer one (shapes as torchvision)', () => {
  const wide = zeros(3, 10, 30);
  assert.deepEqual([...T.resize(wide, 5).shape], [3, 5, 15]);
  // 5 x 15 has a longer edge over 12: torchvision takes [int(12 * 5 / 15), 12].
  assert.deepEqual([...T.resize(wide, 5, { max_size: 12 }).shape], [3, 4, 12]);
  assert.deepEqual([...new T.Resize([7], { interpolation: 'nearest' }).forward(zeros(1, 20, 9)).shape], [1, 15, 7], 'int(7 * 20 / 9) = 15');
  const img = rgb();
  assert.equal(T.resize(img, 7), img, 'a resize to the same size returns the image');
});

// ---------------------------------------------------------------- random transforms, parameters fixed

/** A generator whose draws can be replayed from the same state. */
function replayable(seed: number): [Generator, () => Generator] {
  const g = new Generator(seed);
  const state = g.get_state();
  return [g, () => new Generator().set_state(state)];
}

test('RandomHorizontalFlip / RandomVerticalFlip: p=1 always flips (= hflip/vflip), p=0 never', () => {
  assertClose(new T.RandomHorizontalFlip(1).forward(rgb()), exactly('hflip'), 'p=1', EXACT);
  assertClose(new T.RandomVerticalFlip(1).forward(image('batch')), exactly('vflip'), 'p=1', EXACT);
  const img = rgb();
  assert.equal(new T.RandomHorizontalFlip(0).forward(img), img);
  assert.equal(new T.RandomVerticalFlip(0).forward(img), img);
});

test('RandomCrop crops at get_params, after padding (and padding to the size when pad_if_needed)', () => {
  const img = rgb();
  const [g, again] = replayable(5);
  const out = new T.RandomCrop([4, 5], { generator: g }).forward(img);
  const [i, j, h, w] = T.RandomCrop.get_params(img, [4, 5], again());
  assertClose(out, valuesOf(T.crop(img, i, j, h, w)), 'crop at get_params', EXACT);
  // pad 1 all round (9 x 11), then pad_if_needed widens 11 -> 12 by padding 1 on both sides (13).
  const [g2, again2] = replayable(6);
  const t = new T.RandomCrop([9, 12], { padding: 1, pad_if_needed: true, fill: 0.5, generator: g2 });
  const padded = T.pad(T.pad(img, 1, { fill: 0.5 }), [1, 0], { fill: 0.5 });
  const [i2, j2] = T.RandomCrop.get_params(padded, [9, 12], again2());
  assertClose(t.forward(img), valuesOf(T.crop(padded, i2, j2, 9, 12)), 'padded crop', EXACT);
  assert.deepEqual(T.RandomCrop.get_params(img, [7, 9]), [0, 0, 7, 9], 'the whole image needs no draw');
});

test('RandomResizedCrop resizes the crop at get_params; the fallback is the central crop with the ratio clipped', () => {
  const img = rgb();
  const [g, again] = replayable(8);
  const out = new T.RandomResizedCrop(4, { generator: g }).forward(img);
  const [i, j, h, w] = T.RandomResizedCrop.get_params(img, [0.08, 1], [3 / 4, 4 / 3], again());
  assertClose(out, valuesOf(T.resized_crop(img, i, j, h, w, [4, 4])), 'resized crop at get_params');
  // Area 63 with ratio 1 needs an 8 x 8 crop, which never fits a 7 x 9 image: the fallback is
  // ratio 9/7 clipped to 1, i.e. h = 7, w = round(7 * 1) = 7, centred.
  assert.deepEqual(T.RandomResizedCrop.get_params(img, [1, 1], [1, 1], new Generator(0)), [0, 1, 7, 7]);
  assert.deepEqual(T.RandomResizedCrop.get_params(zeros(1, 9, 7), [1, 1], [2, 3], new Generator(0)), [2, 0, 4, 7], 'too tall: h = round(7 / 2)');
});

test('RandomAffine with one-point ranges is torchvision affine (with fill 0 for every channel)', () => {
  const batch = image('batch');
  assertClose(new T.RandomAffine([90, 90]).forward(batch), exactly('affine rotate 90 nearest (half-pixel ties)'), 'rotation only, nearest', EXACT);
  // RandomAffine always passes a fill, so bilinear blends border pixels with it: the fill-0 fixture.
  const t = new T.RandomAffine([60, 60], { scale: [1.1, 1.1], interpolation: 'bilinear', center: [2, 3] });
  assertClose(t.forward(gray()), caseNamed('affine rotate 60 about a centre bilinear fill 0').output, 'bilinear with fill 0');
  const [g, again] = replayable(3);
  const full = new T.RandomAffine(20, { translate: [0.2, 0.3], scale: [0.8, 1.2], shear: [-5, 5, -3, 3], fill: [0.1, 0.2, 0.3], generator: g });
  const [angle, translate, scale, shear] = T.RandomAffine.get_params([-20, 20], [0.2, 0.3], [0.8, 1.2], [-5, 5, -3, 3], [9, 7], again());
  assertClose(full.forward(rgb()), valuesOf(T.affine(rgb(), angle, translate, scale, shear, { fill: [0.1, 0.2, 0.3] })), 'all parameters drawn', EXACT);
});

test('RandomErasing: p=0 leaves the image, p=1 erases the box of get_params with the value', () => {
  const img = rgb();
  assert.equal(new T.RandomErasing({ p: 0 }).forward(img), img);
  const [g, again] = replayable(4);
  const out = new T.RandomErasing({ p: 1, value: [0.1, 0.2, 0.3], generator: g }).forward(img);
  const replay = again();
  replay.uniform(1); // the draw against p
  const [i, j, h, w, v] = T.RandomErasing.get_params(img, [0.02, 0.33], [0.3, 3.3], [0.1, 0.2, 0.3], replay);
  assert.ok(h > 0 && w > 0, 'a box was found');
  assertClose(out, valuesOf(T.erase(img, i, j, h, w, v)), 'erased box', EXACT);
  assertValues(img, rgb().tolist(), 'not in place by default');
  const fixed = caseNamed('erase value per channel');
  assertClose(T.erase(img, 1, 2, 3, 4, tensor([0.1, 0.2, 0.3]).reshape(3, 1, 1)), exactly(fixed.name), 'erase', EXACT);
  // 'random' fills the box with standard normal noise; inplace writes into the image.
  const target = rgb();
  const noisy = new T.RandomErasing({ p: 1, value: 'random', inplace: true, scale: [0.3, 0.3], ratio: [1, 1], generator: new Generator(2) }).forward(target);
  assert.equal(noisy, target);
  assert.ok(noisy.dataSync().some((x) => x < 0), 'normal noise has negative values');
  // No box strictly inside a 7 x 9 image has the whole area: the image comes back unchanged.
  assertValues(new T.RandomErasing({ p: 1, scale: [1, 1], ratio: [1, 1] }).forward(img), img.tolist(), 'no box fits');
});

test('ColorJitter with one-point ranges is the adjust_* function; with several, get_params order', () => {
  assertClose(new T.ColorJitter({ brightness: [0.5, 0.5] }).forward(rgb()), caseNamed('adjust_brightness 0.5').output, 'brightness');
  assertClose(new T.ColorJitter({ contrast: [0.3, 0.3] }).forward(rgb()), caseNamed('adjust_contrast 0.3').output, 'contrast');
  assertClose(new T.ColorJitter({ saturation: [0.2, 0.2] }).forward(rgb()), caseNamed('adjust_saturation 0.2').output, 'saturation');
  assertClose(new T.ColorJitter({ hue: [-0.3, -0.3] }).forward(rgb()), caseNamed('adjust_hue -0.3').output, 'hue');
  const [g, again] = replayable(10);
  const out = new T.ColorJitter({ brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1, generator: g }).forward(rgb());
  const [order, ...factors] = T.ColorJitter.get_params([0.6, 1.4], [0.6, 1.4], [0.6, 1.4], [-0.1, 0.1], again());
  const fns = [T.adjust_brightness, T.adjust_contrast, T.adjust_saturation, T.adjust_hue];
  const expected = order.reduce((x, k) => fns[k]!(x, factors[k]!), rgb());
  assertClose(out, valuesOf(expected), 'the four adjustments in the drawn order', EXACT);
  const none = new T.ColorJitter();
  assert.deepEqual([none.brightness, none.contrast, none.saturation, none.hue], [null, null, null, null]);
  assert.deepEqual(new T.ColorJitter({ brightness: 2 }).brightness, [0, 3], 'the lower end is clipped at 0');
});

// ---------------------------------------------------------------- statistics of the random parameters

/** Asserts that `count` successes of n trials with probability p are within 4.5 standard deviations. */
function assertBinomial(count: number, n: number, p: number, what: string): void {
  const sd = Math.sqrt(n * p * (1 - p));
  assert.ok(Math.abs(count - n * p) <= 4.5 * sd, `${what}: ${count} of ${n}, expected ${n * p} ± ${(4.5 * sd).toFixed(1)}`);
}

test('flips and erasing happen with probability p', () => {
  const g = new Generator(21);
  const img = tensor([[[0, 1]]]);
  const flip = new T.RandomHorizontalFlip(0.3, { generator: g });
  let flips = 0;
  for (let k = 0; k < 2000; k++) flips += flip.forward(img).dataSync()[0] === 1 ? 1 : 0;
  assertBinomial(flips, 2000, 0.3, 'horizontal flips');
  const square = zeros(1, 10, 10);
  const eraser = new T.RandomErasing({ p: 0.6, value: 1, generator: g });
  let erased = 0;
  for (let k = 0; k < 1000; k++) erased += eraser.forward(square).sum().item() > 0 ? 1 : 0;
  assertBinomial(erased, 1000, 0.6, 'erasures');
});

test('RandomCrop.get_params: positions uniform over all that fit', () => {
  const g = new Generator(22);
  const img = zeros(1, 5, 6);
  const rows = [0, 0, 0];
  const cols = [0, 0, 0, 0];
  const n = 3000;
  for (let k = 0; k < n; k++) {
    const [i, j, h, w] = T.RandomCrop.get_params(img, [3, 3], g);
    assert.deepEqual([h, w], [3, 3]);
    rows[i]!++;
    cols[j]!++;
  }
  rows.forEach((c, i) => assertBinomial(c, n, 1 / 3, `top = ${i}`));
  cols.forEach((c, j) => assertBinomial(c, n, 1 / 4, `left = ${j}`));
});

test('RandomAffine.get_params: uniform angle, scale and shear; translations rounded half to even within ± fraction · size', () => {
  const g = new Generator(23);
  const n = 4000;
  let angleSum = 0;
  const tx = new Map<number, number>();
  for (let k = 0; k < n; k++) {
    const [angle, [dx, dy], scale, [sx, sy]] = T.RandomAffine.get_params([-10, 20], [0.2, 0.1], [0.5, 2], [-4, 4, 1, 3], [10, 20], g);
    assert.ok(angle >= -10 && angle <= 20 && scale >= 0.5 && scale <= 2 && sx >= -4 && sx <= 4 && sy >= 1 && sy <= 3, 'in range');
    assert.ok(Number.isInteger(dx) && Number.isInteger(dy) && Math.abs(dx) <= 2 && Math.abs(dy) <= 2, `translation ${dx}, ${dy}`);
    angleSum += angle;
    tx.set(dx, (tx.get(dx) ?? 0) + 1);
  }
  // Uniform angle: mean 5, standard deviation 30/√12 per draw.
  assert.ok(Math.abs(angleSum / n - 5) < (4.5 * 30) / Math.sqrt(12 * n), `mean angle ${angleSum / n}`);
  // dx = round(U(-2, 2)): 0 and ±1 have probability 1/4 each, ±2 1/8 each.
  for (const [v, p] of [[-2, 1 / 8], [-1, 1 / 4], [0, 1 / 4], [1, 1 / 4], [2, 1 / 8]] as const) assertBinomial(tx.get(v) ?? 0, n, p, `dx = ${v}`);
  const [, , scale, shear] = T.RandomAffine.get_params([0, 0], null, null, [-4, 4], [10, 20], g);
  assert.deepEqual([scale, shear[1]], [1, 0], 'no scale range: 1; two shear values: no y shear');
});

test('ColorJitter.get_params: a uniformly random order and factors inside their ranges', () => {
  const g = new Generator(24);
  const n = 2000;
  const firsts = [0, 0, 0, 0];
  for (let k = 0; k < n; k++) {
    const [order, b, c, s, h] = T.ColorJitter.get_params([0.5, 1.5], null, [0, 2], [-0.2, 0.1], g);
    assert.deepEqual([...order].sort(), [0, 1, 2, 3], 'a permutation');
    firsts[order[0]!]!++;
    assert.equal(c, null);
    assert.ok(b! >= 0.5 && b! <= 1.5 && s! >= 0 && s! <= 2 && h! >= -0.2 && h! <= 0.1, 'in range');
  }
  firsts.forEach((count, k) => assertBinomial(count, n, 1 / 4, `adjustment ${k} first`));
});

test('RandomErasing.get_params and RandomResizedCrop.get_params: boxes fit and follow the area and ratio ranges', () => {
  const g = new Generator(25);
  const img = zeros(3, 40, 50);
  for (let k = 0; k < 500; k++) {
    const [i, j, h, w, v] = T.RandomErasing.get_params(img, [0.1, 0.3], [0.5, 2], [0], g);
    assert.ok(h < 40 && w < 50 && i + h <= 40 && j + w <= 50, 'strictly inside');
    // Rounding h and w to integers moves area and ratio a little off their ranges.
    assert.ok(h * w >= 0.1 * 2000 * 0.85 && h * w <= 0.3 * 2000 * 1.15, `area ${h * w}`);
    assert.ok(h / w >= 0.5 * 0.85 && h / w <= 2 * 1.15, `ratio ${h / w}`);
    assert.deepEqual([...v.shape], [1, 1, 1]);
    const [ci, cj, ch, cw] = T.RandomResizedCrop.get_params(img, [0.2, 0.5], [0.75, 4 / 3], g);
    assert.ok(ci + ch <= 40 && cj + cw <= 50 && ch * cw >= 0.2 * 2000 * 0.85 && ch * cw <= 0.5 * 2000 * 1.15, 'crop');
    assert.ok(cw / ch >= 0.75 * 0.85 && cw / ch <= (4 / 3) * 1.15, `crop ratio ${cw / ch}`);
  }
  const [, , h, w, v] = T.RandomErasing.get_params(img, [0.1, 0.1], [1, 1], null, g);
  assert.deepEqual([...v.shape], [3, h, w], "value null draws noise for every erased pixel");
});

// ---------------------------------------------------------------- errors

test('bad images are refused with the function, the shape or dtype, and what was expected', () => {
  throwsNaming(() => T.hflip(zeros(7, 9)), ShapeError, 'hflip', '[7, 9]', '[C, H, W]');
  throwsNaming(() => T.resize(zeros(1, 1, 3, 7, 9), 4), ShapeError, 'resize', '[1, 1, 3, 7, 9]');
  throwsNaming(() => T.crop(zeros([3, 4, 4], { dtype: 'int32' }), 0, 0, 2, 2), DTypeError, 'crop', 'int32', 'uint8');
  throwsNaming(() => T.normalize(image('rgb', true), [0.5], [0.5]), DTypeError, 'normalize', 'uint8', 'float');
  throwsNaming(() => T.normalize(gray(), [0.5, 0.5, 0.5], [1, 1, 1]), ShapeError, 'normalize', 'mean has 3 values', '1 channels');
  throwsNaming(() => T.normalize(rgb(), [0.5], [0, 1, 1]), StrideError, 'normalize', 'std', 'zero');
  throwsNaming(() => new T.Grayscale().forward(zeros(4, 2, 2)), ShapeError, 'rgb_to_grayscale', '1 or 3 channels', 'got 4');
  throwsNaming(() => T.adjust_hue(zeros(2, 2, 2), 0.1), ShapeError, 'adjust_hue', 'got 2');
  throwsNaming(() => T.to_tensor(zeros(2, 2, 3)), DTypeError, 'to_tensor', 'uint8', 'float32');
  throwsNaming(() => T.to_tensor({ data: new Uint8Array(5), width: 2, height: 1, channels: 3 }), ShapeError, 'to_tensor', '6 bytes', 'got 5');
  throwsNaming(() => T.affine(rgb(), 0, [0, 0], 1, 0, { fill: [1, 2] }), ShapeError, 'affine', 'fill has 2 values', '3 channels');
  throwsNaming(() => T.erase(rgb(), 5, 0, 3, 2, zeros(3, 1, 1)), ShapeError, 'erase', '7x9');
  throwsNaming(() => T.RandomCrop.get_params(rgb(), [8, 8]), ShapeError, 'RandomCrop', '8x8', '7x9');
  throwsNaming(() => new T.RandomCrop(8).forward(rgb()), ShapeError, 'RandomCrop', 'pad_if_needed');
  throwsNaming(() => T.pad(gray(), 8, { padding_mode: 'reflect' }), ShapeError, 'pad', 'reflect', '8x8');
  throwsNaming(() => T.pad(gray(), 9, { padding_mode: 'symmetric' }), ShapeError, 'pad', 'symmetric');
  throwsNaming(() => T.pad(gray(), [-5, 0]), ShapeError, 'pad', 'crops more than');
  throwsNaming(() => new T.RandomErasing({ p: 1, value: [1, 2] }).forward(rgb()), ShapeError, 'RandomErasing', '2 entries', '3 channels');
});

test('bad arguments are refused when the transform is made, naming it', () => {
  throwsNaming(() => new T.Resize([1, 2, 3]), StrideError, 'resize', 'size', '[1,2,3]');
  throwsNaming(() => new T.Resize([4, 4], { max_size: 10 }), StrideError, 'max_size');
  throwsNaming(() => new T.Resize(4, { max_size: 4 }), StrideError, 'max_size 4');
  throwsNaming(() => T.resize(rgb(), 4, { interpolation: 'nearest', antialias: true }), StrideError, 'resize', 'antialias', 'bilinear');
  throwsNaming(() => new T.Resize(4, { interpolation: 'bicubic' as T.InterpolationMode }), StrideError, 'Resize', 'bicubic');
  throwsNaming(() => new T.CenterCrop([0, 3]), StrideError, 'CenterCrop', 'size');
  throwsNaming(() => new T.Pad([1, 2, 3]), StrideError, 'Pad', '1, 2 or 4');
  throwsNaming(() => T.pad(rgb(), 1, { padding_mode: 'wrap' as T.PaddingMode }), StrideError, 'pad', 'wrap');
  throwsNaming(() => new T.RandomCrop(3, { padding_mode: 'wrap' as T.PaddingMode }), StrideError, 'RandomCrop', 'wrap');
  throwsNaming(() => new T.RandomResizedCrop(3, { interpolation: 'nearest', antialias: true }), StrideError, 'RandomResizedCrop', 'antialias');
  throwsNaming(() => new T.Grayscale(2 as 1), StrideError, 'Grayscale', 'got 2');
  throwsNaming(() => new T.RandomHorizontalFlip(1.5), StrideError, 'RandomHorizontalFlip', '1.5');
  throwsNaming(() => new T.RandomAffine(-5), StrideError, 'RandomAffine', 'degrees', '-5');
  throwsNaming(() => new T.RandomAffine(5, { translate: [0.1, 1.5] }), StrideError, 'RandomAffine', 'translate');
  throwsNaming(() => new T.RandomAffine(5, { scale: [0, 1] }), StrideError, 'RandomAffine', 'scale');
  throwsNaming(() => new T.RandomAffine(5, { shear: [1, 2, 3] }), StrideError, 'RandomAffine', 'shear', '2 or 4');
  throwsNaming(() => T.affine(rgb(), 0, [0, 0], 0, 0), StrideError, 'affine', 'scale');
  throwsNaming(() => new T.RandomErasing({ scale: [0.5, 1.2] }), StrideError, 'RandomErasing', 'scale');
  throwsNaming(() => new T.RandomErasing({ value: 'noise' as 'random' }), StrideError, 'RandomErasing', "'random'");
  throwsNaming(() => new T.RandomResizedCrop(4, { ratio: [2, 1] }), StrideError, 'RandomResizedCrop', 'ratio');
  throwsNaming(() => new T.ColorJitter({ brightness: -0.1 }), StrideError, 'ColorJitter', 'brightness', 'non-negative');
  throwsNaming(() => new T.ColorJitter({ hue: 0.6 }), StrideError, 'ColorJitter', 'hue', '0.5');
  throwsNaming(() => new T.ColorJitter({ saturation: [1.5, 1] }), StrideError, 'ColorJitter', 'saturation');
  throwsNaming(() => T.adjust_hue(rgb(), 0.7), StrideError, 'adjust_hue', '0.7');
  throwsNaming(() => T.adjust_brightness(rgb(), -1), StrideError, 'adjust_brightness', '-1');
  throwsNaming(() => new T.Lambda(3 as never), StrideError, 'Lambda', 'function');
});
