/**
 * ONNX files exported by PyTorch (tools/models/export_onnx_torch.py; committed in
 * test/fixtures/onnx_torch): each model with its BatchNorms folded into the convolutions (the
 * exporter's default in eval mode) and kept as BatchNormalization nodes. import_onnx gives
 * torch's outputs, and the trained Fashion-MNIST CNN classifies the bundled test subset as torch
 * does, image by image.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fromFlat, no_grad, tidy } from '../src/index.js';
import { import_onnx, onnx_operators, read_onnx_tensor } from '../src/io/onnx/import.js';
import { bundledSubset, readJson, ROOT } from './cli_util.js';

const FIXTURES = join(ROOT, 'test/fixtures/onnx_torch');

interface Export {
  file: string;
  operators: string[];
}
interface Reference {
  torch: string;
  models: Record<string, { folded: Export; kept: Export }>;
  fashion_subset: { normalization: { mean: number; std: number }; images: number; correct: number; accuracy: number; min_top2_gap: number; predictions: number[] };
}
const REFERENCE = readJson<Reference>(join(FIXTURES, 'torch_reference.json'));
const fixture = (file: string) => readFileSync(join(FIXTURES, file));

for (const [name, exports] of Object.entries(REFERENCE.models)) {
  for (const [variant, { file, operators }] of Object.entries(exports)) {
    test(`${name} (BatchNorm ${variant}): torch ${REFERENCE.torch}'s outputs to 1e-5 of their scale`, () => {
      const bytes = fixture(file);
      assert.deepEqual([...new Set(onnx_operators(bytes, file))].sort(), operators);
      assert.equal(operators.includes('BatchNormalization'), variant === 'kept');
      const model = import_onnx(bytes, file).eval();
      const x = read_onnx_tensor(fixture(`${name}_input.pb`));
      const want = read_onnx_tensor(fixture(`${name}_output.pb`)).dataSync();
      const got = no_grad(() => model.call(x));
      assert.deepEqual(got.shape, [x.shape[0], 10]);
      const scale = Math.max(...Array.from(want, Math.abs));
      const err = Math.max(...Array.from(got.dataSync(), (v, i) => Math.abs(v - want[i]!)));
      assert.ok(err <= 1e-5 * scale, `largest difference ${err} for outputs up to ${scale}`);
    });
  }
}

test(`the trained Fashion-MNIST CNN, imported from either export, predicts torch's class for each subset image (accuracy ${REFERENCE.fashion_subset.accuracy})`, async () => {
  const expected = REFERENCE.fashion_subset;
  const { test: split } = await bundledSubset();
  // Normalised as the generator does: per grey level in double precision, rounded to float32 once.
  const { mean, std } = expected.normalization;
  const table = Float32Array.from({ length: 256 }, (_, p) => (p / 255 - mean) / std);
  const x = fromFlat(Float32Array.from(split.images.dataSync(), (p) => table[p]!), split.images.shape);
  const labels = split.labels.dataSync();
  assert.equal(labels.length, expected.images);
  for (const { file } of Object.values(REFERENCE.models['fashion_convnet']!)) {
    const model = import_onnx(fixture(file), file).eval();
    const predictions: number[] = [];
    for (let i = 0; i < labels.length; i += 250) {
      predictions.push(...tidy(() => Array.from(no_grad(() => model.call(x.narrow(0, i, Math.min(250, labels.length - i)))).argmax(1).dataSync())));
    }
    const differing = predictions.flatMap((p, i) => (p === expected.predictions[i] ? [] : [`image ${i}: stride ${p}, torch ${expected.predictions[i]}`]));
    assert.deepEqual(differing, [], `${file}: predictions that differ (torch's smallest top-2 logit gap is ${expected.min_top2_gap})`);
    const correct = predictions.filter((p, i) => p === labels[i]).length;
    assert.equal(correct, expected.correct, file);
    assert.equal(correct / labels.length, expected.accuracy, file);
  }
});
