/**
 * stride/vis inspection beyond saliency: guided backpropagation equal to PyTorch's (Captum's
 * rule, tools/fixtures/vis_reference.py) on the PyTorch-trained Fashion-MNIST CNN; per-layer
 * statistics and histograms on hand-computed cases and the initialisation experiment's collapse,
 * saturation and healthy scales, with its figure; linear classifier templates and cosine
 * feature similarity on hand-computed cases and on the CNN; match_colors (style transfer's start).
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { cat, fromFlat, Generator, memory, no_grad, set_memory_debug, type Tensor } from '../src/index.js';
import { render, writePlot } from '../src/cli/report.js';
import { parseIdx } from '../src/data/idx.js';
import { readBytes } from '../src/io/files.js';
import { BUNDLED_SUBSET } from '../src/io/datasets.js';
import { load_weights } from '../src/io/weights.js';
import { ConvNet } from '../src/models/index.js';
import { Linear, ReLU, Sequential } from '../src/nn/index.js';
import {
  class_templates, cosine_similarity_matrix, feature_similarity, guided_backprop, histogram, init_experiment, init_experiment_spec, layer_statistics,
  match_colors, saliency, similarity_picture, summarize, type InitRun,
} from '../src/vis/index.js';
import { tempDir } from './cli_util.js';
import { assertClose } from './helpers.js';

const FIXTURE = JSON.parse(readFileSync(new URL('./fixtures/vis/attribution.json', import.meta.url), 'utf8')) as {
  labels: number[]; guided_backprop: number[][][][];
};
const MEAN = 0.286;
const STD = 0.353;

const fashion = new ConvNet();
await load_weights(fashion, new URL('./fixtures/models/fashion_convnet.safetensors', import.meta.url).pathname);
fashion.eval();
const images = parseIdx(await readBytes(`${BUNDLED_SUBSET}/t10k-images-idx3-ubyte.gz`), 't10k-images');

/** The first n test images normalised as the fixture's float32 table does. */
function normalised(n: number): Tensor {
  const raw = Array.from(images.narrow(0, 0, n).dataSync());
  return fromFlat(raw.map((p) => Math.fround((p / 255 - MEAN) / STD)), [n, 1, 28, 28]);
}

test("guided backpropagation equals PyTorch's (ReLU modules pass back positive gradients only; 8 images, 1e-4)", () => {
  const x = normalised(8);
  const plain = Array.from(saliency(fashion, x, FIXTURE.labels).dataSync());
  const guided = guided_backprop(fashion, x, FIXTURE.labels);
  assertClose(guided, { shape: [8, 1, 28, 28], data: FIXTURE.guided_backprop.flat(3) }, 'guided backprop', { rtol: 1e-4, scaled_atol: 1e-4 });
  // It is not the plain gradient, and the hooks are gone afterwards: saliency is as before.
  const guidedAbs = guided.abs().amax(1).dataSync();
  assert.ok(plain.some((v, i) => Math.abs(v - guidedAbs[i]!) > 1e-3));
  assert.deepEqual(Array.from(saliency(fashion, x, FIXTURE.labels).dataSync()), plain);
  assert.throws(() => guided_backprop(new Linear(4, 2), fromFlat([1, 2, 3, 4], [1, 4]), 0), /guided_backprop: the model has no ReLU modules/);
});

test('histogram: equal-width bins over the values\' range (the last one closed), or a given range; constant values get a unit range', () => {
  assert.deepEqual(histogram([0, 1, 1, 2, 5], 5), { edges: [0, 1, 2, 3, 4, 5], counts: [1, 2, 1, 0, 1] });
  assert.deepEqual(histogram([-3, 0, 0.5, 1, 9], 2, [0, 1]), { edges: [0, 0.5, 1], counts: [1, 2] });
  assert.deepEqual(histogram([3, 3], 2), { edges: [2.5, 3, 3.5], counts: [0, 2] });
  assert.throws(() => histogram([1], 0), /histogram: bins must be a positive integer, got 0/);
});

test('layer_statistics: activations and d loss / d activation of named modules, by hand', () => {
  // x [[1, -1], [2, 0]] through W = [[1, 2], [3, -4]] gives [[-1, 7], [2, 6]]; the ReLU zeroes -1.
  const linear = new Linear(2, 2, false);
  no_grad(() => linear.weight.copy_(fromFlat([1, 2, 3, -4], [2, 2])));
  const model = new Sequential(linear, new ReLU());
  // loss = Σ y² / 2: d loss / d y = y = [0, 7, 2, 6]; through the ReLU, the same with 0 where the input was -1.
  const [lin, relu] = layer_statistics(model, fromFlat([1, -1, 2, 0], [2, 2]), ['0', '1'], { loss: (y) => y.mul(y).sum().div(2), bins: 2 });
  assert.equal(lin!.name, '0');
  const { histogram: linHist, ...linStats } = lin!.activation;
  assert.deepEqual(linStats, { mean: 3.5, std: Math.sqrt(10.25), abs_mean: 4, min: -1, max: 7, zeros: 0 });
  assert.deepEqual(linHist, { edges: [-1, 3, 7], counts: [2, 2] });
  assert.deepEqual({ ...relu!.activation, histogram: null }, { mean: 3.75, std: Math.sqrt(8.1875), abs_mean: 3.75, min: 0, max: 7, zeros: 0.25, histogram: null });
  assert.deepEqual(relu!.activation.histogram, { edges: [0, 3.5, 7], counts: [2, 2] });
  assert.equal(relu!.gradient!.mean, 3.75);
  assert.deepEqual([lin!.gradient!.mean, lin!.gradient!.zeros, lin!.gradient!.max], [3.75, 0.25, 7]);
  // The default loss, the output's sum, gives every output unit a gradient of 1.
  const [, ones] = layer_statistics(model, fromFlat([1, -1, 2, 0], [2, 2]), ['0', '1']);
  assert.deepEqual([ones!.gradient!.mean, ones!.gradient!.std], [1, 0]);
  assert.throws(() => layer_statistics(model, fromFlat([1, 2], [1, 2]), ['2']), /layer_statistics: no module named 2; the modules are 0, 1/);
});

const stds = (r: InitRun) => r.layers.map((l) => l.activation.std);
const gradients = (r: InitRun) => r.layers.map((l) => l.gradient!.abs_mean);
/** Fraction of the activations in the histogram's two end bins: near ±1 for a saturated tanh. */
const ends = (r: InitRun) => r.layers.map(({ activation: { histogram: { counts } } }) => (counts[0]! + counts.at(-1)!) / counts.reduce((a, b) => a + b));

test('the initialisation experiment and layer_statistics leave no tensor behind (models, inputs, forwards, gradients)', () => {
  set_memory_debug(true);
  try {
    const before = memory().liveTensors;
    const runs = init_experiment({ depth: 3, width: 20, batch: 10, inits: ['xavier', 'he'], generator: new Generator(3) });
    assert.equal(memory().liveTensors - before, 0);
    assert.equal(runs.length, 2);
    assert.ok(runs.every((r) => r.layers.length === 3 && r.layers.every((l) => l.gradient !== null)));
  } finally {
    set_memory_debug(false);
  }
});

test('the initialisation experiment (tanh, 10 layers): N(0, 0.01²) collapses, N(0, 1) saturates, Xavier keeps the scale', () => {
  const [small, large, xavier] = init_experiment({ activation: 'tanh', inits: ['small', 'large', 'xavier'], width: 100, batch: 100, generator: new Generator(0) });
  assert.deepEqual([small!.init, small!.weight_std, large!.weight_std, xavier!.weight_std], ['small', 0.01, 1, 0.1]);
  assert.equal(small!.layers.length, 10);
  // Each layer multiplies the scale by about 0.01 · √100 = 0.1; the gradients vanish going back.
  stds(small!).slice(1).forEach((s, i) => assert.ok(s < 0.2 * stds(small!)[i]!, `layer ${i + 2}: ${s}`));
  assert.ok(stds(small!)[9]! < 1e-8, String(stds(small!)));
  assert.ok(gradients(small!)[0]! < 1e-6, String(gradients(small!)));
  // Pre-activations of std ≈ 10: at least 80% of the units sit at ±1.
  for (const e of ends(large!)) assert.ok(e > 0.8, String(ends(large!)));
  for (const s of stds(large!)) assert.ok(s > 0.9, String(stds(large!)));
  // Xavier: every layer's std within [0.1, 1], hardly any unit saturated after the first, gradients of order 1.
  for (const s of stds(xavier!)) assert.ok(s > 0.1 && s < 1, String(stds(xavier!)));
  for (const e of ends(xavier!).slice(1)) assert.ok(e < 0.05, String(ends(xavier!)));
  for (const g of gradients(xavier!)) assert.ok(g > 0.1 && g < 10, String(gradients(xavier!)));
});

test('the initialisation experiment (ReLU): He keeps std and gradients of order 1 with half the units off; Xavier halves the variance per layer; N(0, 1) explodes', () => {
  const [small, large, xavier, he] = init_experiment({ activation: 'relu', width: 100, batch: 100, generator: new Generator(1) });
  for (const s of stds(he!)) assert.ok(s > 0.5 && s < 2, String(stds(he!)));
  for (const g of gradients(he!)) assert.ok(g > 0.3 && g < 5, String(gradients(he!)));
  for (const l of he!.layers) assert.ok(Math.abs(l.activation.zeros - 0.5) < 0.1, `${l.name}: ${l.activation.zeros}`);
  // Var halves per layer with Xavier: 2^-4.5 ≈ 0.044 of the first layer's std after 9 more layers.
  assert.ok(stds(xavier!)[9]! < 0.1 * stds(xavier!)[0]!, String(stds(xavier!)));
  assert.ok(stds(small!)[9]! < 1e-8, String(stds(small!)));
  assert.ok(stds(large!)[9]! > 1e6, String(stds(large!)));
});

const dir = tempDir('vis-inspect');
after(() => rmSync(dir, { recursive: true, force: true }));

test('the experiment\'s figure holds its numbers and renders to a PNG', async () => {
  const runs = init_experiment({ activation: 'tanh', width: 20, batch: 20, depth: 3, bins: 5, generator: new Generator(2) });
  const spec = init_experiment_spec(runs, 'tanh');
  const parts = spec as unknown as { vconcat: [{ hconcat: { data: { values: { init: string; layer: number; std: number }[] } }[] }, { data: { values: { count: number }[] } }] };
  const lines = parts.vconcat[0].hconcat[0]!.data.values;
  assert.deepEqual(lines.map((v) => [v.init, v.layer, v.std]), runs.flatMap((r) => r.layers.map((l, i) => [r.init, i + 1, l.activation.std])));
  // 4 schemes x 3 layers x 5 bins, each layer's counts summing to the 20 x 20 activations.
  const bars = parts.vconcat[1].data.values;
  assert.equal(bars.length, 60);
  assert.equal(bars.reduce((n, b) => n + b.count, 0), 12 * 400);
  await writePlot(dir, 'init', await render(spec));
  const meta = await sharp(join(dir, 'init.png')).metadata();
  assert.equal(meta.format, 'png');
  assert.ok(meta.width! > 800 && meta.height! > 600, `${meta.width}x${meta.height}`);
});

test('summarize: population std, mean |v| and zeros of a tensor', () => {
  const s = summarize(fromFlat([0, -2, 2, 4], [2, 2]), 3);
  assert.deepEqual({ ...s, histogram: null }, { mean: 1, std: Math.sqrt(5), abs_mean: 2, min: -2, max: 4, zeros: 0.25, histogram: null });
  assert.deepEqual(s.histogram, { edges: [-2, 0, 2, 4], counts: [1, 1, 2] });
});

test('class templates: each row of a linear classifier\'s weight as an image, scaled into [0, 1] on its own', () => {
  const linear = new Linear(4, 2);
  no_grad(() => linear.weight.copy_(fromFlat([0, 1, 2, 3, -1, -1, 1, 3], [2, 4])));
  const t = class_templates(linear, [1, 2, 2]);
  assert.deepEqual(t.shape, [2, 1, 2, 2]);
  assert.deepEqual(Array.from(t.dataSync()), [0, 1 / 3, 2 / 3, 1, 0, 0, 0.5, 1].map(Math.fround));
  // RGB: the weight of a 3072-input classifier is [classes, 3·32·32], channel-major as the images.
  const rgb = class_templates(fromFlat([0, 2, 4, 1, 1, 1], [2, 3]), [3, 1, 1]);
  assert.deepEqual(Array.from(rgb.dataSync()), [0, 0.5, 1, 0, 0, 0]);
  assert.throws(() => class_templates(linear, [3, 2, 2]), /class_templates: expected a weight \[classes, 12\] for images \[3, 2, 2\], got \[2, 4\]/);
});

test('cosine similarity: a hand-computed matrix; identical images score 1 on the CNN\'s penultimate features', () => {
  const s = cosine_similarity_matrix(fromFlat([1, 0, 0, 2, 1, 1, 2, 0], [4, 2]));
  const r = Math.SQRT1_2;
  assertClose(s, { shape: [4, 4], data: [1, 0, r, 1, 0, 1, r, 0, r, r, 1, r, 1, 0, r, 1] }, 'cosine', { rtol: 1e-6, scaled_atol: 1e-6 });
  const x = normalised(3);
  // Images 0, 1, 0 again: layer2 (flattened, 1568 values) is what the classifier's fc reads.
  const { features, similarity } = feature_similarity(fashion, cat([x.narrow(0, 0, 2), x.narrow(0, 0, 1)], 0), 'layer2');
  assert.deepEqual(features.shape, [3, 32, 7, 7]);
  const m = similarity.dataSync();
  assert.ok(Math.abs(m[2]! - 1) < 1e-6 && Math.abs(m[6]! - 1) < 1e-6, `sim(0, 0') = ${m[2]}`);
  for (const i of [0, 4, 8]) assert.ok(Math.abs(m[i]! - 1) < 1e-6);
  // An ankle boot and a pullover: ReLU features, so similar only in part.
  assert.ok(m[1]! > 0 && m[1]! < 0.9, `sim(boot, pullover) = ${m[1]}`);
  assert.equal(m[1], m[3]);
});

test('similarity_picture colours each entry from [0, 1] and puts the images along the edges', () => {
  const yellow = [0.993, 0.906, 0.144].map(Math.fround);
  const blue = [0.267, 0.005, 0.329].map(Math.fround);
  const p = similarity_picture(fromFlat([1, 0, 0, 1], [2, 2]), { cell: 2 });
  assert.deepEqual(p.shape, [3, 4, 4]);
  const px = (t: Tensor, y: number, x: number) => [0, 1, 2].map((c) => t.dataSync()[(c * t.shape[1]! + y) * t.shape[2]! + x]);
  assert.deepEqual([px(p, 0, 0), px(p, 1, 1), px(p, 0, 2), px(p, 3, 3)], [yellow, yellow, blue, yellow]);
  const images = fromFlat([0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75], [2, 1, 2, 2]);
  const framed = similarity_picture(fromFlat([1, 0.5, 0.5, 1], [2, 2]), { cell: 2, images });
  assert.deepEqual(framed.shape, [3, 6, 6]);
  // White corner, image 0 above column 1 and left of row 1, image 1 above column 2.
  assert.deepEqual([px(framed, 0, 0), px(framed, 0, 2), px(framed, 2, 0), px(framed, 1, 5)], [[1, 1, 1], [0.25, 0.25, 0.25], [0.25, 0.25, 0.25], [0.75, 0.75, 0.75]]);
  assert.deepEqual(px(framed, 2, 2), yellow);
  assert.throws(() => similarity_picture(fromFlat([1, 2], [1, 2])), /similarity_picture: expected a square matrix, got \[1, 2\]/);
});

test('match_colors gives each channel the reference channel\'s mean and standard deviation, within [0, 1]', () => {
  // Channel 0: [0, 1, 2, 3] (mean 1.5, std √1.25) onto [0.4, 0.6, 0.4, 0.6] (mean 0.5, std 0.1);
  // channel 1: [1, 1, 1, 5] onto [0, 0, 1, 1] (std 0.5): stretched beyond [0, 1] and clamped.
  const x = fromFlat([0, 1, 2, 3, 1, 1, 1, 5], [1, 2, 2, 2]);
  const reference = fromFlat([0.4, 0.6, 0.4, 0.6, 0, 0, 1, 1], [1, 2, 2, 2]);
  const d = 0.1 / Math.sqrt(1.25);
  const low = 0.5 - 0.5 / Math.sqrt(3);
  assertClose(match_colors(x, reference), { shape: [1, 2, 2, 2], data: [0.5 - 1.5 * d, 0.5 - 0.5 * d, 0.5 + 0.5 * d, 0.5 + 1.5 * d, low, low, low, 1] }, 'matched', { rtol: 1e-5, scaled_atol: 1e-6 });
  assert.throws(() => match_colors(x, fromFlat([1, 2, 3], [1, 3, 1, 1])), /match_colors: 2 channels against 3/);
});
