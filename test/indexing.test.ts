import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as st from '../src/index.js';
import { assertValues, runFixtureFile, throwsNaming } from './helpers.js';
import { withLayouts } from './layouts.js';
import { checkGrad, randn64 } from './gradcheck_util.js';

runFixtureFile('indexing.json', withLayouts({
  gather: ([x, i], a: { dim: number }) => st.gather(x!, a.dim, i!),
  scatter_add: ([s, i, src], a: { dim: number }) => st.scatter_add(s!, a.dim, i!, src!),
  index_select: ([x, i], a: { dim: number }) => st.index_select(x!, a.dim, i!),
  masked_fill: ([x, m], a: { value: number }) => st.masked_fill(x!, m!, a.value),
  one_hot: ([i], a: { num_classes?: number }) => st.one_hot(i!, a.num_classes),
}));

const idx = (values: st.NestedArray) => st.tensor(values, { dtype: 'int32' });

// ---------------------------------------------------------------- gradcheck (float64)

test('gradcheck gather, scatter_add, index_select, masked_fill', () => {
  const i = idx([[2, 0, 1, 2], [1, 1, 0, 0]]);
  checkGrad((x) => st.gather(x, 0, i), [randn64([3, 4], 1, true)]);
  checkGrad((x) => st.gather(x.t(), 1, idx([[0, 3], [3, 3], [1, 2]])), [randn64([4, 3], 2, true)]);
  checkGrad((s, src) => st.scatter_add(s, 0, i, src), [randn64([3, 4], 3, true), randn64([2, 4], 4, true)]);
  checkGrad((s, src) => st.scatter_add(s.t(), 1, idx([[0, 0], [2, 1]]), src), [randn64([3, 2], 5, true), randn64([2, 3], 6, true)]);
  checkGrad((x) => st.index_select(x, 1, idx([2, 0, 2])), [randn64([2, 3, 2], 7, true)]);
  const mask = randn64([3, 4], 8).gt(0);
  checkGrad((x) => st.masked_fill(x, mask, 0.25), [randn64([3, 4], 9, true)]);
});

test('gather is twice differentiable: its backward scatter_add records a graph', () => {
  const x = st.tensor([1, 2, 3], { requires_grad: true });
  const y = st.gather(x, 0, idx([2, 2, 0])).pow(2).sum(); // x2^2 + x2^2 + x0^2
  const [g] = st.autograd.grad(y, x, { create_graph: true });
  assertValues(g!, [2, 0, 12], 'dy/dx');
  g!.mul(st.tensor([1, 10, 100])).sum().backward();
  assertValues(x.grad!, [2, 0, 400], 'd(w . dy/dx)/dx');
});

// ---------------------------------------------------------------- worked examples

test('scatter_add accumulates repeated indices; src beyond the index takes no part', () => {
  const self = st.zeros(2, 3, { requires_grad: true });
  const src = st.tensor([[1, 2, 3, 4], [5, 6, 7, 8]], { requires_grad: true });
  const out = st.scatter_add(self, 1, idx([[0, 0, 2], [1, 1, 1]]), src);
  assertValues(out, [[3, 0, 3], [0, 18, 0]], 'scatter_add');
  out.backward(st.tensor([[1, 10, 100], [1000, 10000, 100000]]));
  assertValues(self.grad!, [[1, 10, 100], [1000, 10000, 100000]], 'd self');
  assertValues(src.grad!, [[1, 1, 100, 0], [10000, 10000, 10000, 0]], 'd src (zero where the index does not reach)');
});

test('one_hot is int32 with a new last dim', () => {
  const o = st.one_hot(idx([[0, 2], [1, 0]]), 3);
  assert.equal(o.dtype, 'int32');
  assertValues(o, [[[1, 0, 0], [0, 0, 1]], [[0, 1, 0], [1, 0, 0]]], 'one_hot');
  assert.deepEqual([...st.one_hot(idx([]), 4).shape], [0, 4]);
});

// ---------------------------------------------------------------- bad input

test('indices out of range raise IndexError naming the op, the index and the size', () => {
  const x = st.zeros(3, 4);
  throwsNaming(() => st.gather(x, 0, idx([[3, 0, 0, 0]])), st.IndexError, 'gather:', 'index 3', 'size 3');
  throwsNaming(() => st.gather(x, 1, idx([[0], [-1]])), st.IndexError, 'gather:', 'index -1', 'size 4');
  throwsNaming(() => st.index_select(x, 0, idx([0, 5])), st.IndexError, 'index_select:', 'index 5', 'size 3');
  throwsNaming(() => st.index_select(x, 1, idx([-1])), st.IndexError, 'index_select:', 'index -1', 'size 4');
  throwsNaming(() => st.scatter_add(x, 1, idx([[4]]), st.ones(1, 1)), st.IndexError, 'scatter_add:', 'index 4', 'size 4');
  throwsNaming(() => st.one_hot(idx([0, 3]), 3), st.IndexError, 'one_hot:', '3');
  throwsNaming(() => st.one_hot(idx([0, -1])), st.IndexError, 'one_hot:', 'non-negative');
  // A failed scatter_add leaves its self input untouched.
  const self = st.ones(2);
  assert.throws(() => st.scatter_add(self, 0, idx([0, 2]), st.ones(2)), st.IndexError);
  assertValues(self, [1, 1], 'self after a failed scatter_add');
});

test('index tensors must be integers and fit the input', () => {
  const x = st.zeros(3, 4);
  assert.throws(() => st.gather(x, 0, st.zeros(1, 4)), (e: Error) => e instanceof st.DTypeError && /^gather:/.test(e.message) && /float32/.test(e.message));
  assert.throws(() => st.index_select(x, 0, st.zeros(2)), (e: Error) => e instanceof st.DTypeError && /^index_select:/.test(e.message));
  assert.throws(() => st.one_hot(st.zeros(2)), (e: Error) => e instanceof st.DTypeError && /^one_hot:/.test(e.message));
  assert.throws(() => st.gather(x, 0, idx([0, 1])), (e: Error) =>
    e instanceof st.ShapeError && /^gather:/.test(e.message) && /\[2\]/.test(e.message) && /\[3, 4\]/.test(e.message));
  assert.throws(() => st.gather(x, 0, idx([[0, 0, 0, 0, 0]])), (e: Error) =>
    e instanceof st.ShapeError && /^gather:/.test(e.message) && /\[1, 5\]/.test(e.message));
  assert.throws(() => st.scatter_add(x, 0, idx([[0, 1]]), st.ones(1, 1)), (e: Error) =>
    e instanceof st.ShapeError && /^scatter_add:/.test(e.message) && /src/.test(e.message) && /\[1, 2\]/.test(e.message));
  assert.throws(() => st.index_select(x, 0, idx([[0]])), (e: Error) =>
    e instanceof st.ShapeError && /^index_select:/.test(e.message) && /\[1, 1\]/.test(e.message));
  const s = st.scalar_tensor(1);
  assert.throws(() => st.gather(s, 0, idx(0)), (e: Error) => e instanceof st.ShapeError && /^gather:/.test(e.message) && /0-d/.test(e.message));
  assert.throws(() => st.index_select(s, 0, idx([0])), (e: Error) => e instanceof st.ShapeError && /^index_select:/.test(e.message) && /0-d/.test(e.message));
  assert.throws(() => st.scatter_add(s, 0, idx(0), s), (e: Error) => e instanceof st.ShapeError && /^scatter_add:/.test(e.message) && /0-d/.test(e.message));
  assert.throws(() => st.gather(x, 2, idx([[0]])), (e: Error) => e instanceof st.ShapeError && /^gather:/.test(e.message) && /dim 2/.test(e.message));
});
