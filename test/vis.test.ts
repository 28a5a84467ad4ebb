/**
 * stride/vis attribution and adversarial examples. Saliency and Grad-CAM of the PyTorch-trained
 * Fashion-MNIST CNN (test/fixtures/models/fashion_convnet.safetensors) equal PyTorch's
 * (tools/fixtures/vis_reference.py). The attacks target the same architecture trained by stride
 * (test/fixtures/models/stride_convnet/, from `stride train --model convnet --schedule
 * cosine --weight-decay 5e-4` on the full Fashion-MNIST, seed 0: 91.61% test accuracy): FGSM and
 * PGD flip most correct predictions, fool() reaches its targets. Occlusion and SmoothGrad are
 * checked on hand-computed cases.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fromFlat, Generator, memory, no_grad, set_memory_debug, type Tensor } from '../src/index.js';
import { parseIdx, parseIdxLabels } from '../src/data/idx.js';
import { readBytes } from '../src/io/files.js';
import { BUNDLED_SUBSET } from '../src/io/datasets.js';
import { load_weights } from '../src/io/weights.js';
import { ConvNet } from '../src/models/index.js';
import { fgsm, fool, grad_cam, occlusion, pgd, saliency, smooth_grad } from '../src/vis/index.js';
import { assertClose } from './helpers.js';

const FIXTURE = JSON.parse(readFileSync(new URL('./fixtures/vis/attribution.json', import.meta.url), 'utf8')) as {
  labels: number[]; saliency: number[][][]; gradcam: number[][][]; gradcam_7x7: number[][][];
};
const MEAN = 0.286;
const STD = 0.353;

const model = new ConvNet();
await load_weights(model, new URL('./fixtures/models/fashion_convnet.safetensors', import.meta.url).pathname);
model.eval();
const trained = new ConvNet();
await load_weights(trained, new URL('./fixtures/models/stride_convnet/model.safetensors', import.meta.url).pathname);
trained.eval();

const images = parseIdx(await readBytes(`${BUNDLED_SUBSET}/t10k-images-idx3-ubyte.gz`), 't10k-images');
const labels = Array.from(parseIdxLabels(await readBytes(`${BUNDLED_SUBSET}/t10k-labels-idx1-ubyte.gz`), 10).dataSync());
/** The first n test images: pixels in [0, 1] and, as the model takes them, normalised (the fixture's float32 table). */
function batch(n: number): { pixels: Tensor; normalised: Tensor } {
  const raw = Array.from(images.narrow(0, 0, n).dataSync());
  return {
    pixels: fromFlat(raw.map((p) => p / 255), [n, 1, 28, 28]),
    normalised: fromFlat(raw.map((p) => Math.fround((p / 255 - MEAN) / STD)), [n, 1, 28, 28]),
  };
}
/** The model on pixels in [0, 1]: attacks move pixels, and ε is in pixel units. */
const onPixels = (x: Tensor) => (trained.call as (x: Tensor) => Tensor)(x.sub(MEAN).div(STD));
const predict = (x: Tensor) => Array.from(no_grad(() => onPixels(x).argmax(1)).dataSync());
const flat = (t: number[][][]) => ({ shape: [t.length, t[0]!.length, t[0]![0]!.length], data: t.flat(2) });

test('saliency equals PyTorch\'s |d score / d x| for the true class (8 images, 1e-4)', () => {
  const { normalised } = batch(8);
  assert.deepEqual(labels.slice(0, 8), FIXTURE.labels);
  assertClose(saliency(model, normalised, FIXTURE.labels), flat(FIXTURE.saliency), 'saliency', { rtol: 1e-4, scaled_atol: 1e-4 });
});

test('Grad-CAM of layer2 equals PyTorch\'s, at 7x7 and upsampled to 28x28 (1e-4)', () => {
  const { normalised } = batch(8);
  const { cam, upsampled } = grad_cam(model, model.layer2, normalised, FIXTURE.labels);
  assertClose(cam, flat(FIXTURE.gradcam_7x7), 'cam', { rtol: 1e-4, scaled_atol: 1e-4 });
  assertClose(upsampled, flat(FIXTURE.gradcam), 'upsampled cam', { rtol: 1e-4, scaled_atol: 1e-4 });
});

test('Grad-CAM leaves only its two maps: the forward, the score and the gradient are freed as it returns', () => {
  const { normalised } = batch(2);
  set_memory_debug(true);
  try {
    const before = memory().liveTensors;
    const { cam, upsampled } = grad_cam(model, model.layer2, normalised, [1, 2]);
    assert.equal(memory().liveTensors - before, 2);
    cam.dispose();
    upsampled.dispose();
  } finally {
    set_memory_debug(false);
  }
});

test('SmoothGrad without noise is the saliency; occlusion of a linear score is the patch\'s share of it', () => {
  const { normalised } = batch(2);
  assertClose(smooth_grad(model, normalised, [1, 2], { samples: 2, noise_level: 0 }), { shape: [2, 28, 28], data: saliency(model, normalised, [1, 2]).dataSync() }, 'smooth_grad');
  // score_c(x) = Σ w_c · x with w_c = c + 1 everywhere: occluding a 2x2 patch to 0 drops it by (c + 1) · Σ patch.
  const x = fromFlat(Array.from({ length: 16 }, (_, i) => i), [1, 1, 4, 4]);
  const linear = (t: Tensor) => t.reshape([t.shape[0]!, 16]).sum(1, true).mul(fromFlat([1, 2, 3], [1, 3]));
  const map = occlusion(linear, x, 2, { window: 2 });
  assert.deepEqual(map.shape, [1, 2, 2]);
  assert.deepEqual(Array.from(map.dataSync()), [3 * (0 + 1 + 4 + 5), 3 * (2 + 3 + 6 + 7), 3 * (8 + 9 + 12 + 13), 3 * (10 + 11 + 14 + 15)]);
});

test('FGSM at ε = 0.1 flips most correct predictions; PGD at the same ε flips at least as many, inside the ball', () => {
  const n = 100;
  const { pixels } = batch(n);
  const before = predict(pixels);
  const correct = before.map((p, i) => p === labels[i]).map((c, i) => (c ? i : -1)).filter((i) => i >= 0);
  assert.ok(correct.length >= 80, `${correct.length} of ${n} correct`);
  const adv = fgsm(onPixels, pixels, labels.slice(0, n), 0.1);
  const after = predict(adv);
  const flipped = correct.filter((i) => after[i] !== labels[i]!).length / correct.length;
  assert.ok(flipped >= 0.8, `FGSM flipped ${(100 * flipped).toFixed(1)}% of the correctly classified images`);
  const d = adv.sub(pixels).abs().max().item();
  assert.ok(d <= 0.1 + 1e-6 && adv.min().item() >= 0 && adv.max().item() <= 1, `perturbation ${d}, range kept`);

  const strong = pgd(onPixels, pixels, labels.slice(0, n), { eps: 0.1, steps: 5 });
  const pgdAfter = predict(strong);
  const pgdFlipped = correct.filter((i) => pgdAfter[i] !== labels[i]!).length / correct.length;
  console.log(`FGSM ε 0.1 flipped ${(100 * flipped).toFixed(1)}%, PGD (5 steps) ${(100 * pgdFlipped).toFixed(1)}% of ${correct.length} correctly classified images`);
  assert.ok(pgdFlipped >= flipped, `PGD ${pgdFlipped} vs FGSM ${flipped}`);
  assert.ok(strong.sub(pixels).abs().max().item() <= 0.1 + 1e-6);
  const l2 = pgd(onPixels, pixels.narrow(0, 0, 8), labels.slice(0, 8), { eps: 1.5, steps: 5, norm: 'l2' });
  const norms = l2.sub(pixels.narrow(0, 0, 8)).reshape([8, -1]).pow(2).sum(1).sqrt().dataSync();
  for (const v of norms) assert.ok(v <= 1.5 + 1e-4, `L2 perturbation ${v}`);
});

test('fool: gradient ascent on a chosen class reaches it on at least 95% of images, with small perturbations', () => {
  const n = 10;
  const { pixels } = batch(n);
  const targets = labels.slice(0, n).map((l) => (l + 1) % 10);
  const r = fool(onPixels, pixels, targets, { lr: 0.02, max_steps: 100 });
  assert.deepEqual(predict(r.image).map((p, i) => p === targets[i]), r.fooled);
  const rate = r.fooled.filter(Boolean).length / n;
  assert.ok(rate >= 0.95, `fooled ${rate}`);
  const p = r.perturbation.reshape([n, -1]);
  const l2 = Array.from(p.pow(2).sum(1).sqrt().dataSync());
  const linf = Array.from(p.abs().amax(1).dataSync());
  const meanOf = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  console.log(`fool: ${rate * 100}% reached the target in ${meanOf(r.steps)} steps on average; mean L2 ${meanOf(l2).toFixed(3)}, mean L∞ ${meanOf(linf).toFixed(3)} (pixels in [0, 1])`);
  assert.ok(r.steps.every((s, i) => s >= 0 && (r.fooled[i] || s === 100)));
  assert.ok(meanOf(linf) < 0.5, 'the images still look like themselves');
});

test('attacks and attributions free what each step makes: the live tensors are those returned, the results unchanged', () => {
  const { pixels } = batch(2);
  const sum = (t: Tensor) => Array.from(t.dataSync()).reduce((a, b) => a + b, 0);
  const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) <= 1e-4 * Math.max(1, Math.abs(expected)), `${what}: ${actual}, expected ${expected}`);
  set_memory_debug(true);
  try {
    /** Runs fn and checks that it leaves exactly `returned` new tensors alive (before the fix: 50 to 800 here). */
    const leaves = <T>(returned: number, what: string, fn: () => T): T => {
      const before = memory().liveTensors;
      const r = fn();
      assert.equal(memory().liveTensors - before, returned, `${what} leaves only its result`);
      return r;
    };
    // Expected values: the results of the code before the fix (1e-4 for other backends' rounding).
    const linf = leaves(1, 'pgd', () => pgd(onPixels, pixels, labels.slice(0, 2), { eps: 0.05, steps: 3 }));
    close(sum(linf), 543.90442, 'pgd sum');
    close(sum(linf.sub(pixels).abs()), 50.262262, 'pgd |δ|');
    const l2 = leaves(1, 'pgd l2', () => pgd(onPixels, pixels, labels.slice(0, 2), { eps: 1, steps: 3, norm: 'l2', random_start: true, generator: new Generator(3) }));
    close(sum(l2), 539.26874, 'pgd l2 sum');
    close(sum(l2.sub(pixels).abs()), 37.584489, 'pgd l2 |δ|');
    close(sum(leaves(1, 'fgsm', () => fgsm(onPixels, pixels, labels.slice(0, 2), 0.05))), 543.85785, 'fgsm sum');
    const fooled = leaves(2, 'fool', () => fool(onPixels, pixels, [3, 4], { lr: 0.02, max_steps: 6 }));
    assert.deepEqual([fooled.steps, fooled.fooled], [[5, 2], [true, true]]);
    close(sum(fooled.image), 548.24991, 'fool sum');
    close(sum(fooled.perturbation.abs()), 52.789224, 'fool |δ|');
    const smooth = leaves(1, 'smooth_grad', () => smooth_grad(onPixels, pixels, [1, 2], { samples: 3, generator: new Generator(2) }));
    close(sum(smooth), 292.11504, 'smooth_grad sum');
    close(smooth.max().item(), 1.0981486, 'smooth_grad max');
    close(sum(leaves(1, 'saliency', () => saliency(onPixels, pixels, [1, 2]))), 383.14445, 'saliency sum');
    const occluded = leaves(1, 'occlusion', () => occlusion(onPixels, pixels, labels.slice(0, 2), { window: 7 }));
    close(sum(occluded), 47.497949, 'occlusion sum');
    Array.from(occluded.dataSync()).slice(4, 6).forEach((v, i) => close(v, [-0.0042934418, 0.37653255][i]!, `occlusion ${4 + i}`));
  } finally {
    set_memory_debug(false);
  }
});
