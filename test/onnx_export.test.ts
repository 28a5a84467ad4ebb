/**
 * export_onnx: stride models run in onnxruntime-node (bench/'s copy, which make test installs)
 * with the same outputs, the batch dimension stays symbolic, BatchNorm folds into constants,
 * and what cannot be exported is named. The protobuf encoder against hand-encoded bytes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cross_entropy, manual_seed, no_grad, randint, randn, type Tensor } from '../src/index.js';
import { export_onnx } from '../src/io/onnx/export.js';
import { Writer } from '../src/io/onnx/protobuf.js';
import { ConvNet } from '../src/models/index.js';
import { ONNX_MODELS } from './onnx_models.js';
import { Module } from '../src/nn/module.js';
import { ortSkip, runOrt, type OrtTensor } from './ort_util.js';

const skip = ortSkip('test/onnx_export.test.ts');

/** A few training steps so that BatchNorm's running statistics are not the fresh 0 and 1. */
function settle(model: Module, shape: number[], classes = 10): void {
  model.train();
  for (let i = 0; i < 3; i++) no_grad(() => cross_entropy((model.call as (x: Tensor) => Tensor)(randn(shape)), randint(0, classes, [shape[0]!], { dtype: 'int32' })));
  model.eval();
}


function assertSameOutputs(got: OrtTensor, want: Tensor, what: string): void {
  assert.deepEqual(got.dims.map(Number), want.shape, `${what}: shape`);
  const w = want.dataSync();
  const scale = Math.max(...Array.from(w, Math.abs));
  let err = 0;
  for (let i = 0; i < w.length; i++) err = Math.max(err, Math.abs(got.data[i]! - w[i]!));
  assert.ok(err <= 1e-5 * Math.max(scale, 1e-3), `${what}: largest difference ${err} for outputs up to ${scale}`);
}


for (const [name, make, shape] of ONNX_MODELS) {
  test(`${name}: onnxruntime gives stride's outputs (1e-5 of their scale), also for another batch size`, { skip }, async () => {
    manual_seed(1);
    const model = make();
    settle(model, shape);
    const x = randn(shape);
    const bytes = export_onnx(model, x);
    assertSameOutputs(await runOrt(bytes, x), no_grad(() => (model.call as (x: Tensor) => Tensor)(x)), name);
    const other = randn([shape[0]! + 2, ...shape.slice(1)]);
    assertSameOutputs(await runOrt(bytes, other), no_grad(() => (model.call as (x: Tensor) => Tensor)(other)), `${name} at batch ${shape[0]! + 2}`);
  });
}

test('BatchNorm in eval mode folds into constants: the exported ConvNet has no BatchNorm-sized subgraph', () => {
  manual_seed(2);
  const model = new ConvNet();
  settle(model, [4, 1, 28, 28]);
  const bytes = export_onnx(model, randn([1, 1, 28, 28]));
  const text = new TextDecoder('latin1').decode(bytes);
  const ops = [...text.matchAll(/(Conv|Mul|Add|Relu|MaxPool|Reshape|MatMul|Sqrt|Div|Sub|ReduceMean)_\d+/g)].map((m) => m[1]);
  // conv, mul, add (folded BN), relu, pool for each block; the classifier's flatten and matmul + bias.
  assert.deepEqual(ops.filter((o) => o === 'Sqrt' || o === 'Div' || o === 'Sub' || o === 'ReduceMean'), []);
  assert.equal(ops.filter((o) => o === 'Conv').length, 2);
  assert.equal(ops.filter((o) => o === 'MaxPool').length, 2);
});

test('a product of two matrices (the mm op) exports as MatMul that onnxruntime runs', { skip }, async () => {
  manual_seed(3);
  class Projection extends Module {
    w = randn([5, 3]);
    forward(x: Tensor): Tensor {
      return x.matmul(this.w).relu();
    }
  }
  const model = new Projection();
  const x = randn([4, 5]);
  const bytes = export_onnx(model, x);
  assert.match(new TextDecoder('latin1').decode(bytes), /MatMul_\d+/);
  assertSameOutputs(await runOrt(bytes, x), no_grad(() => model.call(x) as Tensor), 'x @ w');
});

test('what cannot be exported is named, with counts; an output that ignores the input is refused', () => {
  class ArgMaxNet extends Module {
    forward(x: Tensor): Tensor {
      return x.amax(1).add(x.sum(1));
    }
  }
  assert.throws(() => export_onnx(new ArgMaxNet(), randn([2, 3])), /export_onnx: no ONNX mapping for amax \(1x\), sum \(1x\)/);
  class Constant extends Module {
    forward(): Tensor {
      return randn([2]);
    }
  }
  assert.throws(() => export_onnx(new Constant(), randn([2, 3])), /export_onnx: the output does not depend on the input/);
});

test('protobuf encoding: varints, negative int64, fixed floats, packed ints, nested messages', () => {
  assert.deepEqual(Array.from(new Writer().int(1, 300).finish()), [0x08, 0xac, 0x02]);
  assert.deepEqual(Array.from(new Writer().int(2, -1).finish()), [0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  assert.deepEqual(Array.from(new Writer().float(2, 1.5).finish()), [0x15, 0x00, 0x00, 0xc0, 0x3f]);
  assert.deepEqual(Array.from(new Writer().ints(8, [1, 150]).finish()), [0x42, 0x03, 0x01, 0x96, 0x01]);
  assert.deepEqual(Array.from(new Writer().message(7, new Writer().string(1, 'ab')).finish()), [0x3a, 0x04, 0x0a, 0x02, 0x61, 0x62]);
});
