import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DTypeError, Generator, enable_grad, ShapeError, StrideError, Tensor, autograd, celu, elu, gelu, gradcheck, hardsigmoid, hardswish, hardtanh,
  leaky_relu, log_softmax, logsigmoid, prelu, randn, relu6, selu, silu, softmax, softmin, softplus, softsign, tensor,
} from '../src/index.js';
import { assertClose, assertValues, runFixtureFile, throwsNaming } from './helpers.js';
import { withLayouts } from './layouts.js';

// ---------------------------------------------------------------- PyTorch fixtures

const unary = (f: (x: Tensor) => Tensor) => ([x]: Tensor[]) => f(x!);

runFixtureFile(
  'activation.json',
  withLayouts({
    leaky_relu: ([x], a: { negative_slope?: number }) => leaky_relu(x!, a.negative_slope),
    elu: ([x], a: { alpha?: number }) => elu(x!, a.alpha),
    selu: unary(selu),
    celu: ([x], a: { alpha?: number }) => celu(x!, a.alpha),
    gelu: ([x], a: { approximate?: 'none' | 'tanh' }) => gelu(x!, a.approximate),
    silu: unary(silu),
    softplus: ([x], a: { beta?: number; threshold?: number }) => softplus(x!, a.beta, a.threshold),
    hardtanh: ([x], a: { min_val?: number; max_val?: number }) => hardtanh(x!, a.min_val, a.max_val),
    relu6: unary(relu6),
    hardsigmoid: unary(hardsigmoid),
    hardswish: unary(hardswish),
    softsign: unary(softsign),
    logsigmoid: unary(logsigmoid),
    prelu: ([x, w]) => prelu(x!, w!),
    softmax: ([x], a: { dim: number; temperature?: number }) => softmax(x!, a.dim, { temperature: a.temperature }),
    log_softmax: ([x], a: { dim: number; temperature?: number }) => log_softmax(x!, a.dim, { temperature: a.temperature }),
    softmin: ([x], a: { dim: number; temperature?: number }) => softmin(x!, a.dim, { temperature: a.temperature }),
  }),
);

// ---------------------------------------------------------------- worked examples

test('softmax and log_softmax of [1, 2, 3] by hand', () => {
  const z = Math.exp(1) + Math.exp(2) + Math.exp(3);
  const x = tensor([1, 2, 3], { dtype: 'float64' });
  assertClose(softmax(x, 0), { shape: [3], data: [Math.exp(1) / z, Math.exp(2) / z, Math.exp(3) / z] }, 'softmax', { rtol: 1e-14, scaled_atol: 0 });
  assertClose(log_softmax(x, 0), { shape: [3], data: [1 - Math.log(z), 2 - Math.log(z), 3 - Math.log(z)] }, 'log_softmax', { rtol: 1e-14, scaled_atol: 0 });
  assertClose(softmin(x, 0), { shape: [3], data: [Math.exp(-1), Math.exp(-2), Math.exp(-3)].map((v) => v / (Math.exp(-1) + Math.exp(-2) + Math.exp(-3))) }, 'softmin', { rtol: 1e-14, scaled_atol: 0 });
});

test('temperature T is the inverse of β: softmax(x, {temperature: 1/β}) = exp(βx) / Σ exp(βx)', () => {
  const beta = 4;
  const x = tensor([[0.5, -1, 2]], { dtype: 'float64' });
  const e = [0.5, -1, 2].map((v) => Math.exp(beta * v));
  const s = e.reduce((a, b) => a + b);
  assertClose(softmax(x, 1, { temperature: 1 / beta }), { shape: [1, 3], data: e.map((v) => v / s) }, 'softmax β=4', { rtol: 1e-13, scaled_atol: 0 });
  // A high temperature flattens towards uniform, a low one towards one-hot.
  assertValues(softmax(x, 1, { temperature: 1e6 }), [[1 / 3, 1 / 3, 1 / 3]], 'T → ∞', 5);
  assertValues(softmax(x, 1, { temperature: 1e-3 }), [[0, 0, 1]], 'T → 0', 12);
});

test('softmax stays finite for huge logits and gives NaN rows only for all -inf, as PyTorch', () => {
  const x = tensor([[1e30, 0, -1e30], [-Infinity, 0, 1], [-Infinity, -Infinity, -Infinity]]);
  assertValues(softmax(x, 1).slice(0, 0, 2), [[1, 0, 0], [0, 1 / (1 + Math.E), Math.E / (1 + Math.E)]], 'rows 0-1', 6);
  assert.ok(softmax(x, 1).select(0, 2).isnan().all().item(), 'all -inf row is NaN');
  assertValues(log_softmax(tensor([[1e300, 0]], { dtype: 'float64' }), 1), [[0, -1e300]], 'log_softmax huge');
});

test('softmax of a 0-d tensor is 1 and of an empty tensor is empty', () => {
  assertValues(softmax(tensor(5), 0), 1, 'softmax 0-d');
  assertValues(log_softmax(tensor(5), -1), 0, 'log_softmax 0-d');
  assert.deepEqual([...softmax(tensor([[], []]), 1).shape], [2, 0]);
});

test('tensor methods softmax, log_softmax and prelu match the functions', () => {
  const x = randn([3, 4], { generator: new Generator(1) });
  assertValues(x.softmax(1), softmax(x, 1).tolist(), 'softmax');
  assertValues(x.log_softmax(0, { temperature: 2 }), log_softmax(x, 0, { temperature: 2 }).tolist(), 'log_softmax');
  const w = tensor([0.1, 0.2, 0.3, 0.4]);
  assertValues(x.prelu(w), prelu(x, w).tolist(), 'prelu');
});

test('gradients at kinks follow PyTorch (hand-checked)', () => {
  const at = (f: (x: Tensor) => Tensor, values: number[]) => {
    const x = tensor(values, { dtype: 'float64', requires_grad: true });
    f(x).sum().backward();
    return x.grad!.tolist();
  };
  assert.deepEqual(at((x) => leaky_relu(x, 0.2), [0]), [0.2]);
  assert.deepEqual(at((x) => hardtanh(x), [-1, 1, 0.5]), [0, 0, 1]);
  assert.deepEqual(at(relu6, [0, 6, 3]), [0, 0, 1]);
  assert.deepEqual(at(hardsigmoid, [-3, 3, 0]), [0, 0, 1 / 6]);
  assert.deepEqual(at(hardswish, [-3, 3, 0]), [-0.5, 1.5, 0.5]);
  assert.deepEqual(at((x) => elu(x, 2), [0, 1000]), [2, 1]);
  assert.deepEqual(at(logsigmoid, [0]), [0.5]);
  assert.deepEqual(at(softsign, [0]), [1]);
  assert.deepEqual(at((x) => softplus(x, 1, 20), [1000, -1000]), [1, 0]);
});

// ---------------------------------------------------------------- gradcheck in float64

const gen = new Generator(7);
const rnd = (shape: number[], scale = 2) => randn(shape, { dtype: 'float64', generator: gen }).mul(scale).requires_grad_();

const elementwise: [string, (x: Tensor) => Tensor][] = [
  ['leaky_relu', (x) => leaky_relu(x, 0.3)],
  ['elu', (x) => elu(x, 0.7)],
  ['selu', selu],
  ['celu', (x) => celu(x, 1.5)],
  ['gelu', gelu],
  ['gelu tanh', (x) => gelu(x, 'tanh')],
  ['silu', silu],
  ['softplus', (x) => softplus(x, 2, 3)],
  ['hardtanh', (x) => hardtanh(x, -1.5, 2)],
  ['relu6', (x) => relu6(x.mul(3))],
  ['hardsigmoid', (x) => hardsigmoid(x.mul(2))],
  ['hardswish', (x) => hardswish(x.mul(2))],
  ['softsign', softsign],
  ['logsigmoid', logsigmoid],
];

for (const [name, f] of elementwise) {
  test(`gradcheck ${name}`, () => {
    assert.ok(gradcheck(f, [rnd([3, 4])]).ok);
    assert.ok(gradcheck(f, [rnd([2, 3, 2], 5)]).ok);
  });
}

test('gradcheck prelu (input and weight, shared and per channel)', () => {
  assert.ok(gradcheck(prelu, [rnd([2, 3, 4]), rnd([3], 0.5)]).ok);
  assert.ok(gradcheck(prelu, [rnd([4, 2]), rnd([1], 0.5)]).ok);
});

test('gradcheck softmax, log_softmax and softmin over each dim, with temperature', () => {
  for (const dim of [0, 1, -1]) {
    for (const f of [softmax, log_softmax, softmin]) {
      assert.ok(gradcheck((x) => f(x, dim), [rnd([3, 4, 2])]).ok);
      assert.ok(gradcheck((x) => f(x, dim, { temperature: 0.7 }), [rnd([2, 5])]).ok);
    }
  }
});

test('second derivatives of the explicit-backward ops (softmax, log_softmax, hardtanh) pass gradcheck', () => {
  // gradcheck also evaluates fn without recording (for finite differences): record here regardless.
  const gradOf = (f: (x: Tensor) => Tensor) => (x: Tensor, v: Tensor) =>
    enable_grad(() => autograd.grad(f(x.requires_grad ? x : x.requires_grad_()), x, { grad_outputs: [v], create_graph: true })[0]!);
  assert.ok(gradcheck(gradOf((x) => softmax(x, 1)), [rnd([2, 4]), rnd([2, 4])]).ok);
  assert.ok(gradcheck(gradOf((x) => log_softmax(x, 0)), [rnd([3, 2]), rnd([3, 2])]).ok);
  assert.ok(gradcheck(gradOf((x) => hardtanh(x).mul(x)), [rnd([5]), rnd([5])]).ok);
});

// ---------------------------------------------------------------- bad input

test('integer inputs are refused, naming the op', () => {
  const i = tensor([1, -2], { dtype: 'int32' });
  const ops: [string, () => unknown][] = [
    ['leaky_relu', () => leaky_relu(i)], ['elu', () => elu(i)], ['selu', () => selu(i)], ['celu', () => celu(i)],
    ['gelu', () => gelu(i)], ['silu', () => silu(i)], ['softplus', () => softplus(i)], ['hardtanh', () => hardtanh(i)],
    ['relu6', () => relu6(i)], ['hardsigmoid', () => hardsigmoid(i)], ['hardswish', () => hardswish(i)],
    ['softsign', () => softsign(i)], ['logsigmoid', () => logsigmoid(i)], ['prelu', () => prelu(i, tensor([0.1]))],
    ['softmax', () => softmax(i, 0)], ['log_softmax', () => log_softmax(i, 0)], ['softmin', () => softmin(i, 0)],
  ];
  for (const [name, f] of ops) throwsNaming(f, DTypeError, `${name}:`, 'int32');
  throwsNaming(() => prelu(tensor([1]), tensor([1], { dtype: 'int32' })), DTypeError, 'prelu (weight)', 'int32');
});

test('prelu checks the weight against the channels', () => {
  throwsNaming(() => prelu(randn([2, 3]), randn([4])), ShapeError, 'prelu', '4 parameters', '[2, 3]', '3 channel');
  throwsNaming(() => prelu(randn([5]), randn([5])), ShapeError, 'prelu', '[5]', '1 channel');
  throwsNaming(() => prelu(randn([2, 3]), randn([3, 1])), ShapeError, 'prelu', 'scalar or 1-d', '[3, 1]');
});

test('softmax family checks dim and temperature', () => {
  const x = randn([2, 3]);
  throwsNaming(() => softmax(x, 2), ShapeError, 'softmax', 'dim 2', '2 dimension');
  throwsNaming(() => log_softmax(x, -3), ShapeError, 'log_softmax', 'dim -3');
  for (const t of [0, -1, Infinity, NaN]) throwsNaming(() => softmax(x, 1, { temperature: t }), StrideError, 'softmax', 'temperature', String(t));
  throwsNaming(() => softmin(x, 1, { temperature: 0 }), StrideError, 'softmin', 'temperature');
  throwsNaming(() => softmin(x, 5), ShapeError, 'softmin', 'dim 5');
});

test('scalar arguments are checked', () => {
  const x = randn([3]);
  throwsNaming(() => hardtanh(x, 1, -1), StrideError, 'hardtanh', 'min_val (1)', 'max_val (-1)');
  throwsNaming(() => softplus(x, 0), StrideError, 'softplus', 'beta', 'non-zero');
  throwsNaming(() => celu(x, 0), StrideError, 'celu', 'alpha');
  throwsNaming(() => gelu(x, 'erf' as 'none'), StrideError, 'gelu', "'erf'");
});
