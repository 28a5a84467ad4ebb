/**
 * import_onnx: models exported by stride come back as modules with the same outputs (and
 * gradients flow through them); hostile and unsupported files give errors that say what and
 * where, without allocating what a header claims.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cross_entropy, manual_seed, no_grad, randint, randn, type Tensor } from '../src/index.js';
import { export_onnx } from '../src/io/onnx/export.js';
import { import_onnx } from '../src/io/onnx/import.js';
import { Writer } from '../src/io/onnx/protobuf.js';
import { LeNet5 } from '../src/models/index.js';
import { ONNX_MODELS } from './onnx_models.js';
import type { Module } from '../src/nn/module.js';

const call = (m: Module, x: Tensor) => (m.call as (x: Tensor) => Tensor)(x);


for (const [name, make, shape] of ONNX_MODELS) {
  test(`${name}: exported and imported, the same outputs (1e-5 of their scale) at two batch sizes`, () => {
    manual_seed(3);
    const model = make();
    model.train();
    for (let i = 0; i < 2; i++) no_grad(() => call(model, randn(shape)));
    model.eval();
    const imported = import_onnx(export_onnx(model, randn(shape)), name);
    for (const n of [shape[0]!, shape[0]! + 1]) {
      const x = randn([n, ...shape.slice(1)]);
      const want = no_grad(() => call(model, x)).dataSync();
      const got = no_grad(() => call(imported, x)).dataSync();
      const scale = Math.max(...Array.from(want, Math.abs));
      const err = Math.max(...Array.from(want, (v, i) => Math.abs(v - got[i]!)));
      assert.ok(err <= 1e-5 * Math.max(scale, 1e-3), `${name} batch ${n}: ${err} for outputs up to ${scale}`);
    }
  });
}

test('an imported model trains: its initializers are parameters that receive gradients', () => {
  manual_seed(4);
  const imported = import_onnx(export_onnx(new LeNet5({ input_size: 28 }).eval(), randn([2, 1, 28, 28])));
  const params = imported.parameters();
  assert.ok(params.length >= 10, `${params.length} parameters`);
  cross_entropy(call(imported, randn([4, 1, 28, 28])), randint(0, 10, [4], { dtype: 'int32' })).backward();
  assert.ok(params.filter((p) => p.ndim === 4).every((p) => p.grad !== null && p.grad.abs().sum().item() > 0));
});

/** A model with a graph holding `nodes` (op types) and one input and output. */
function modelWith(ops: string[]): Uint8Array {
  const graph = new Writer();
  ops.forEach((op, i) => graph.message(1, new Writer().string(1, i === 0 ? 'x' : `t${i}`).string(2, i === ops.length - 1 ? 'y' : `t${i + 1}`).string(3, `n${i}`).string(4, op)));
  const info = (name: string) => new Writer().string(1, name);
  graph.message(11, info('x')).message(12, info('y'));
  return new Writer().int(1, 8).message(7, graph).message(8, new Writer().string(1, '').int(2, 13)).finish();
}

test('unsupported operators are all listed with their nodes', () => {
  assert.throws(() => import_onnx(modelWith(['Relu', 'NonMaxSuppression', 'Relu', 'Loop']), 'm.onnx'),
    /m\.onnx: unsupported operators: NonMaxSuppression \('n1'\), Loop \('n3'\); stride imports Conv, /);
  const y = no_grad(() => call(import_onnx(modelWith(['Relu', 'Sigmoid'])), randn([2, 3])));
  assert.deepEqual(y.shape, [2, 3]);
});

test('hostile files: truncation, a bad varint, a length past the end, a 10 GB tensor, not ONNX', () => {
  const good = export_onnx(new LeNet5({ input_size: 28 }).eval(), randn([1, 1, 28, 28]));
  assert.throws(() => import_onnx(good.subarray(0, good.length - 7), 'cut.onnx'), /cut\.onnx: .*(runs past the end|declares \d+ bytes but \d+ remain)/);
  assert.throws(() => import_onnx(Uint8Array.from([0x08, ...Array(11).fill(0xff)]), 'v.onnx'), /v\.onnx: a varint (longer than 10 bytes|runs past the end) at byte/);
  assert.throws(() => import_onnx(Uint8Array.from([0x3a, 0xff, 0xff, 0x03, 0x00]), 'len.onnx'), /len\.onnx: field 7 at byte 0 declares 65535 bytes but 1 remain/);
  // An initializer declaring 50,000 x 50,000 floats with 4 bytes of data.
  const huge = new Writer().ints(1, [50_000, 50_000]).int(2, 1).string(8, 'w').bytes(9, new Uint8Array(4));
  const bytes = new Writer().int(1, 8).message(7, new Writer().message(5, huge)).finish();
  assert.throws(() => import_onnx(bytes, 'huge.onnx'), /huge\.onnx: tensor 'w' at byte \d+ declares \[50000, 50000\] \(10000000000 bytes\) but holds 4/);
  assert.throws(() => import_onnx(new TextEncoder().encode('{"not": "onnx"}'), 'j.onnx'), /j\.onnx: /);
});
