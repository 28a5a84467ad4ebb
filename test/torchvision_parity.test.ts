/**
 * Weights from PyTorch: stride loads torchvision models exported to safetensors and reproduces
 * torch's logits, and a CNN trained with torch on Fashion-MNIST reproduces torch's predictions.
 *
 * The torchvision files are too large to commit: `make models-fixtures` writes them to
 * $STRIDE_TORCHVISION_DIR or ~/.cache/stride/torchvision (tools/models/export_torchvision.py);
 * without them those tests are skipped with a notice. The Fashion-MNIST CNN is committed
 * (test/fixtures/models/, tools/models/train_fashion_cnn.py) and runs on the bundled subset's
 * 1,000 test images, or on the full 10,000 with STRIDE_FULL_TESTS=1.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { fromFlat, no_grad, tidy, type Tensor } from '../src/index.js';
import { parseIdx, parseIdxLabels } from '../src/data/idx.js';
import { BUNDLED_SUBSET, userCacheDir } from '../src/io/datasets.js';
import { loadSafetensors, readBytes } from '../src/io/files.js';
import { load_weights } from '../src/io/weights.js';
import { AlexNet, ConvNet, MobileNetV2, ResNet, VGG } from '../src/models/index.js';
import type { Module } from '../src/nn/module.js';
import { assertClose } from './helpers.js';

const FULL = process.env['STRIDE_FULL_TESTS'] === '1';
const TORCHVISION_DIR = process.env['STRIDE_TORCHVISION_DIR'] || join(userCacheDir(), 'torchvision');
const FIXTURES = fileURLToPath(new URL('./fixtures/models/', import.meta.url));

/** Loads a state_dict file into the model (strict: every key, shape and buffer must match) and frees the file's tensors. */
async function loadWeights(model: Module, path: string): Promise<void> {
  assert.deepEqual(await load_weights(model, path), { missing_keys: [], unexpected_keys: [] });
}

// ---------------------------------------------------------------- torchvision models

const MODELS: [string, () => Module][] = [
  ['resnet18', () => new ResNet('resnet18')],
  ['mobilenet_v2', () => new MobileNetV2()],
  ['alexnet', () => new AlexNet()],
  // Its own init would only be overwritten (and takes half a minute for 133M weights).
  ['vgg11', () => new VGG('vgg11', { init_weights: false })],
];

for (const [name, make] of MODELS) {
  const weights = join(TORCHVISION_DIR, `${name}.safetensors`);
  const reference = join(TORCHVISION_DIR, `${name}.reference.safetensors`);
  const missing = !existsSync(weights) || !existsSync(reference);
  const skip = missing && `NOTICE: no ${name} export in ${TORCHVISION_DIR}; run \`make models-fixtures\` (needs Debian's python3-torch and python3-torchvision)`;
  test(`${name}: torchvision's weights give torch's eval-mode logits (1e-4 relative)`, { skip }, async () => {
    const model = make();
    await loadWeights(model, weights);
    const { tensors, metadata } = await loadSafetensors(reference);
    assert.equal(metadata['model'], name);
    const logits = no_grad(() => (model.eval().call as (x: Tensor) => Tensor)(tensors['input']!));
    assertClose(logits, { shape: tensors['logits']!.shape, data: tensors['logits']!.dataSync() }, `${name} logits`, { rtol: 1e-4, scaled_atol: 1e-4 });
  });
}

// ---------------------------------------------------------------- the Fashion-MNIST CNN trained with torch

interface SplitRecord {
  images: number;
  accuracy: number;
  correct: number;
  min_top2_gap: number;
  predictions: number[];
  logits?: number[][];
}
interface PredictionRecord {
  normalization: { mean: number; std: number };
  full: SplitRecord;
  subset: SplitRecord;
}

const RECORD = JSON.parse(readFileSync(join(FIXTURES, 'fashion_convnet_predictions.json'), 'utf8')) as PredictionRecord;
const FULL_SET = '/usr/share/datasets/fashion-mnist';
const useFull = FULL && existsSync(join(FULL_SET, 't10k-images-idx3-ubyte.gz'));

/**
 * The test images as the script normalised them: (p / 255 - mean) / std per grey level, computed
 * in double precision and rounded to float32 once, so the inputs are bit-identical to torch's.
 */
async function testImages(dir: string): Promise<{ x: Tensor; labels: Int32Array }> {
  const images = parseIdx(await readBytes(join(dir, 't10k-images-idx3-ubyte.gz')));
  const labels = parseIdxLabels(await readBytes(join(dir, 't10k-labels-idx1-ubyte.gz')), 10);
  const { mean, std } = RECORD.normalization;
  const table = Float32Array.from({ length: 256 }, (_, p) => (p / 255 - mean) / std);
  const pixels = images.dataSync();
  const [n, h, w] = images.shape as [number, number, number];
  return { x: fromFlat(Float32Array.from(pixels, (p) => table[p]!), [n, 1, h, w]), labels: Int32Array.from(labels.dataSync()) };
}

test(
  `fashion-mnist convnet trained with torch: stride predicts the same class for each of the ${useFull ? '10,000 test images' : "bundled subset's 1,000 test images"} and so the same accuracy`,
  async () => {
    if (FULL && !useFull) console.log(`NOTICE: STRIDE_FULL_TESTS=1 but ${FULL_SET} has no Fashion-MNIST test set; checking the bundled subset's 1,000 images`);
    const expected = useFull ? RECORD.full : RECORD.subset;
    const model = new ConvNet();
    await loadWeights(model, join(FIXTURES, 'fashion_convnet.safetensors'));
    model.eval();
    const { x, labels } = await testImages(useFull ? FULL_SET : BUNDLED_SUBSET);
    assert.equal(labels.length, expected.images);
    const predictions: number[] = [];
    for (let i = 0; i < labels.length; i += 250) {
      const batch = tidy(() => {
        const logits = no_grad(() => model.call(x.narrow(0, i, Math.min(250, labels.length - i))));
        if (i === 0 && expected.logits) {
          const k = expected.logits.length;
          assertClose(logits.narrow(0, 0, k), { shape: [k, 10], data: expected.logits.flat() }, 'first logits', { rtol: 1e-4, scaled_atol: 1e-5 });
        }
        return Array.from(logits.argmax(1).dataSync());
      });
      predictions.push(...batch);
    }
    const differing = predictions.flatMap((p, i) => (p === expected.predictions[i] ? [] : [`image ${i}: stride ${p}, torch ${expected.predictions[i]}`]));
    assert.deepEqual(differing, [], `predictions that differ (torch's smallest top-2 logit gap is ${expected.min_top2_gap})`);
    const correct = predictions.filter((p, i) => p === labels[i]).length;
    assert.equal(correct, expected.correct);
    // torch's accuracy is a float32 mean, so equal to about 1e-7.
    assert.ok(Math.abs(correct / labels.length - expected.accuracy) < 1e-6, `accuracy ${correct / labels.length}, torch ${expected.accuracy}`);
  },
);
