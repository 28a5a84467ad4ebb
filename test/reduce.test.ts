import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as st from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { assertValues, runFixtureFile, type FixtureRunner } from './helpers.js';
import { withLayouts } from './layouts.js';
import { checkGrad, randn64 } from './gradcheck_util.js';

interface ReduceArgs { dim?: number | number[]; keepdim?: boolean; unbiased?: boolean; correction?: number }

const reduction = (f: (x: Tensor, dim?: number | number[], keepdim?: boolean) => Tensor): FixtureRunner =>
  ([x], a: ReduceArgs) => f(x!, a.dim, a.keepdim);

const valuesIndices = (f: (x: Tensor, dim: number, keepdim?: boolean) => st.ValuesIndices): FixtureRunner =>
  ([x], a: { dim: number; keepdim: boolean }) => {
    const { values, indices } = f(x!, a.dim, a.keepdim);
    return { out: values, extras: [indices] };
  };

const spread = (f: (x: Tensor, dim: number | number[] | undefined, opts: st.VarOptions) => Tensor): FixtureRunner =>
  ([x], a: ReduceArgs) => f(x!, a.dim, { unbiased: a.unbiased, correction: a.correction, keepdim: a.keepdim });

runFixtureFile('reduce.json', withLayouts({
  sum: reduction(st.sum), mean: reduction(st.mean), prod: reduction(st.prod),
  amax: reduction(st.amax), amin: reduction(st.amin),
  max_dim: valuesIndices(st.max), min_dim: valuesIndices(st.min),
  max: ([x]) => st.max(x!), min: ([x]) => st.min(x!),
  argmax: ([x], a: { dim?: number; keepdim?: boolean }) => st.argmax(x!, a.dim, a.keepdim),
  argmin: ([x], a: { dim?: number; keepdim?: boolean }) => st.argmin(x!, a.dim, a.keepdim),
  var: spread(st.variance), std: spread(st.std),
  logsumexp: reduction(st.logsumexp),
  any: reduction(st.any), all: reduction(st.all),
}));

// ---------------------------------------------------------------- gradcheck (float64)

test('gradcheck sum, mean, prod over dims, keepdim and non-contiguous inputs', () => {
  for (const f of [st.sum, st.mean, st.prod]) {
    checkGrad((x) => f(x), [randn64([2, 3, 4], 1, true)]);
    checkGrad((x) => f(x, 1), [randn64([2, 3, 4], 2, true)]);
    checkGrad((x) => f(x, [0, 2], true), [randn64([2, 3, 4], 3, true)]);
    checkGrad((x) => f(x.transpose(0, 2), -1), [randn64([2, 3, 4], 4, true)]);
  }
  // prod is multilinear, so finite differences are exact even through a zero.
  const z = st.tensor([[0, 2, -1.5], [0, 0, 3], [1.2, -0.7, 2]], { dtype: 'float64', requires_grad: true });
  checkGrad((x) => st.prod(x, 1), [z]);
  checkGrad((x) => st.prod(x), [z]);
});

test('gradcheck amax, amin, max(dim), min(dim) without ties', () => {
  checkGrad((x) => st.amax(x, [0, 2]), [randn64([3, 2, 4], 5, true)]);
  checkGrad((x) => st.amin(x.t(), 1, true), [randn64([4, 3], 6, true)]);
  checkGrad((x) => st.max(x, 1).values, [randn64([3, 5], 7, true)]);
  checkGrad((x) => st.min(x.t(), 0, true).values, [randn64([3, 5], 8, true)]);
});

test('gradcheck var, std, logsumexp', () => {
  checkGrad((x) => st.variance(x, 1), [randn64([3, 4], 9, true)]);
  checkGrad((x) => st.variance(x, null, { unbiased: false }), [randn64([3, 4], 10, true)]);
  checkGrad((x) => st.std(x.t(), [0], { keepdim: true }), [randn64([3, 4], 11, true)]);
  checkGrad((x) => st.std(x, 1, { correction: 2 }), [randn64([2, 5], 12, true)]);
  checkGrad((x) => st.logsumexp(x, 1), [randn64([3, 4], 13, true)]);
  checkGrad((x) => st.logsumexp(x.mul(50), [0, 1]), [randn64([3, 4], 14, true)]);
});

// ---------------------------------------------------------------- worked examples

test('prod gradient with zeros: product of the others, or 0 with two zeros', () => {
  const x = st.tensor([[2, 0, 3], [0, 4, 0], [1, 2, 3]], { requires_grad: true });
  const p = st.prod(x, 1);
  assertValues(p, [0, 0, 6], 'prod');
  p.sum().backward();
  assertValues(x.grad!, [[0, 6, 0], [0, 0, 0], [6, 3, 2]], 'd prod');
});

test('amax shares the gradient among ties; max(dim) sends it to the first index', () => {
  const x = st.tensor([[1, 3, 3], [2, 2, 2]], { requires_grad: true });
  st.amax(x, 1).sum().backward();
  assertValues(x.grad!, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]].map((r) => r.map(Math.fround)), 'd amax');
  const y = st.tensor([[1, 3, 3], [2, 2, 2]], { requires_grad: true });
  const { values, indices } = st.max(y, 1);
  assertValues(values, [3, 2], 'max values');
  assertValues(indices, [1, 0], 'max indices (first occurrence)');
  assert.equal(indices.dtype, 'int32');
  values.sum().backward();
  assertValues(y.grad!, [[0, 1, 0], [1, 0, 0]], 'd max(dim)');
});

test('logsumexp of -inf and +inf rows matches PyTorch, NaN gradients included', () => {
  const x = st.tensor([[-Infinity, -Infinity], [0, -Infinity], [Infinity, 1]], { requires_grad: true });
  const y = st.logsumexp(x, 1);
  assertValues(y, [-Infinity, 0, Infinity], 'logsumexp');
  y.sum().backward();
  // PyTorch 1.13: [[nan, nan], [1, 0], [nan, 0]].
  assertValues(x.grad!, [[Number.NaN, Number.NaN], [1, 0], [Number.NaN, 0]], 'd logsumexp');
  // log(e^2 + e^3 + e^5) in float64 (PyTorch: 5.169846019556286).
  assert.equal(st.logsumexp(st.tensor([2, 3, 5], { dtype: 'float64' }), 0).item(), 5.169846019556286);
});

test('var/std of one element with the Bessel correction is NaN, as in PyTorch', () => {
  assert.ok(Number.isNaN(st.variance(st.tensor([1])).item()));
  assertValues(st.std(st.tensor([[1, 2]]), 0), [Number.NaN, Number.NaN], 'std over a dim of size 1');
  assertValues(st.variance(st.tensor([1, 2, 3, 4]), 0, { unbiased: false }), 1.25, 'population variance');
  assertValues(st.variance(st.tensor([1, 2, 3, 4])), Math.fround(5 / 3), 'sample variance');
});

test('reductions of integer and bool tensors', () => {
  const i = st.tensor([[1, 2], [3, 4]], { dtype: 'int32' });
  assert.equal(st.sum(i).dtype, 'int32');
  assertValues(st.prod(i, 0), [3, 8], 'prod of int32');
  assertValues(st.sum(st.tensor([true, true, false])), 2, 'sum of bool');
  assertValues(st.amax(i, 1), [2, 4], 'amax of int32');
  assertValues(st.any(st.tensor([[0, 0], [0, 1]]), 1), [false, true], 'any');
  assertValues(st.all(st.tensor([[1, 2], [0, 1]]), 1), [true, false], 'all');
  assertValues(st.any(st.tensor([Number.NaN, 0])), true, 'NaN counts as non-zero');
  assertValues(st.any(st.zeros(0)), false, 'any of nothing');
  assertValues(st.all(st.zeros(0)), true, 'all of nothing');
});

test('reductions over an empty dim: sum is 0, prod is 1, amax refuses', () => {
  const e = st.zeros(2, 0);
  assertValues(st.sum(e, 1), [0, 0], 'sum over empty');
  assertValues(st.prod(e, 1), [1, 1], 'prod over empty');
  assert.throws(() => st.amax(e, 1), (err: Error) => err instanceof st.ShapeError && /amax/.test(err.message) && /\[2, 0\]/.test(err.message));
  assert.throws(() => st.max(e, 1), (err: Error) => err instanceof st.ShapeError && /max/.test(err.message) && /\[2, 0\]/.test(err.message));
  assert.throws(() => st.argmax(e), (err: Error) => err instanceof st.ShapeError && /argmax/.test(err.message));
  // Reducing a non-empty dim of an empty tensor is fine: the result is empty (PyTorch).
  const rows = st.zeros(0, 3);
  assert.deepEqual([...st.amax(rows, 1).shape], [0]);
  assert.deepEqual([...st.max(rows, 1).indices.shape], [0]);
  assert.deepEqual([...st.argmin(rows, 1, true).shape], [0, 1]);
  assert.throws(() => st.max(st.scalar_tensor(1), 0), (err: Error) => err instanceof st.ShapeError && /^max:/.test(err.message) && /0-d/.test(err.message));
});

// ---------------------------------------------------------------- bad input

test('integer tensors where a float is needed raise DTypeError naming the op', () => {
  const i = st.tensor([1, 2, 3], { dtype: 'int32' });
  for (const [name, f] of [['mean', () => st.mean(i)], ['var', () => st.variance(i)], ['std', () => st.std(i)], ['logsumexp', () => st.logsumexp(i, 0)]] as const) {
    assert.throws(f, (e: Error) => e instanceof st.DTypeError && e.message.startsWith(`${name}:`) && /int32/.test(e.message), name);
  }
});

test('dims out of range or repeated raise ShapeError naming the op and the rank', () => {
  const x = st.zeros(2, 3);
  for (const [name, f] of [
    ['sum', () => st.sum(x, 2)], ['mean', () => st.mean(x, -3)], ['prod', () => st.prod(x, 5)],
    ['amax', () => st.amax(x, [0, 2])], ['max', () => st.max(x, 2)], ['argmin', () => st.argmin(x, -3)],
    ['var', () => st.variance(x, 3)], ['logsumexp', () => st.logsumexp(x, 2)],
  ] as const) {
    assert.throws(f, (e: Error) => e instanceof st.ShapeError && e.message.startsWith(`${name}:`) && /2 dimension/.test(e.message), name);
  }
  assert.throws(() => st.sum(x, [1, -1]), (e: Error) => e instanceof st.ShapeError && /sum/.test(e.message) && /more than once/.test(e.message));
});

test('an empty dim list reduces every dim, as PyTorch 1.13', async () => {
  const { tensor } = await import('../src/index.js');
  const x = tensor([[1, 2], [3, 4]]);
  assert.equal(x.sum([]).item(), 10);
  assert.equal(x.amax([]).item(), 4);
  assert.deepEqual(x.sum([], true).shape, [1, 1]);
});
