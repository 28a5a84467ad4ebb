import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as st from '../src/index.js';
import { assertValues, runFixtureFile, throwsNaming } from './helpers.js';
import { withLayouts } from './layouts.js';
import { checkGrad, randn64 } from './gradcheck_util.js';

runFixtureFile('linalg.json', withLayouts({
  matmul: ([a, b]) => st.matmul(a!, b!),
  mm: ([a, b]) => st.mm(a!, b!),
  bmm: ([a, b]) => st.bmm(a!, b!),
  mv: ([a, b]) => st.mv(a!, b!),
  dot: ([a, b]) => st.dot(a!, b!),
  outer: ([a, b]) => st.outer(a!, b!),
  linear: ([x, w, b]) => st.linear(x!, w!, b),
}));

// ---------------------------------------------------------------- gradcheck (float64)

test('gradcheck matmul in every shape combination', () => {
  const shapes: [number[], number[]][] = [
    [[4], [4]], [[3, 4], [4]], [[4], [4, 2]], [[3, 4], [4, 2]], [[2, 3, 4], [2, 4, 2]],
    [[2, 3, 4], [4, 2]], [[3, 4], [2, 4, 2]], [[2, 1, 3, 4], [3, 4, 2]], [[4], [2, 4, 3]], [[2, 3, 4], [4]],
  ];
  shapes.forEach(([sa, sb], k) => {
    assert.doesNotThrow(() => checkGrad((a, b) => st.matmul(a, b), [randn64(sa, 2 * k, true), randn64(sb, 2 * k + 1, true)]), `${sa} @ ${sb}`);
  });
  checkGrad((a, b) => st.matmul(a.mT, b.permute(2, 0, 1)), [randn64([2, 4, 3], 30, true), randn64([4, 2, 2], 31, true)]);
});

test('gradcheck bmm, mv, dot, outer, linear', () => {
  checkGrad((a, b) => st.bmm(a, b), [randn64([2, 3, 4], 40, true), randn64([2, 4, 2], 41, true)]);
  checkGrad((a, v) => st.mv(a, v), [randn64([3, 4], 42, true), randn64([4], 43, true)]);
  checkGrad((a, b) => st.dot(a, b), [randn64([5], 44, true), randn64([5], 45, true)]);
  checkGrad((a, b) => st.outer(a, b), [randn64([3], 46, true), randn64([2], 47, true)]);
  checkGrad((x, w, b) => st.linear(x, w, b), [randn64([2, 5, 4], 48, true), randn64([3, 4], 49, true), randn64([3], 50, true)]);
  checkGrad((x, w) => st.linear(x.t(), w), [randn64([4, 5], 51, true), randn64([3, 4], 52, true)]);
  // A 1-d input and a transposed (non-contiguous) weight; and linear's gradient differentiated again.
  checkGrad((x, w, b) => st.linear(x, w.t(), b), [randn64([4], 53, true), randn64([4, 3], 54, true), randn64([3], 55, true)]);
  const gradOfLinear = (x: st.Tensor, w: st.Tensor, gy: st.Tensor) => st.enable_grad(() => {
    const [xr, wr] = [x, w].map((t) => (t.requires_grad ? t : t.requires_grad_())) as [st.Tensor, st.Tensor];
    const [gx, gw] = st.autograd.grad(st.linear(xr, wr), [xr, wr], { grad_outputs: [gy], create_graph: true });
    return gx!.sum().add(gw!.mul(gw!).sum());
  });
  checkGrad(gradOfLinear, [randn64([2, 4], 56, true), randn64([3, 4], 57, true), randn64([2, 3], 58, true)]);
});

// ---------------------------------------------------------------- worked examples

test('matmul worked examples and output shapes', () => {
  const a = st.tensor([[1, 2], [3, 4]]);
  const b = st.tensor([[5, 6], [7, 8]]);
  assertValues(st.matmul(a, b), [[19, 22], [43, 50]], 'matrix product');
  assertValues(st.matmul(st.tensor([1, 2]), st.tensor([3, 4])), 11, 'dot of vectors is 0-d');
  assertValues(st.matmul(a, st.tensor([1, 1])), [3, 7], 'matrix @ vector');
  assertValues(st.matmul(st.tensor([1, 1]), a), [4, 6], 'vector @ matrix');
  assert.deepEqual([...st.matmul(st.zeros(2, 1, 3, 4), st.zeros(5, 4, 6)).shape], [2, 5, 3, 6]);
  assert.deepEqual([...st.matmul(st.zeros(4), st.zeros(7, 4, 6)).shape], [7, 6]);
  assertValues(st.matmul(st.zeros(2, 0), st.zeros(0, 3)), [[0, 0, 0], [0, 0, 0]], 'K = 0 gives zeros');
  assertValues(st.linear(st.tensor([[1, 2]]), st.tensor([[1, 0], [1, 1], [0, -1]]), st.tensor([10, 20, 30])), [[11, 23, 28]], 'linear');
});

test('a product of two matrices is one mm node whose edges lead straight to the leaves', () => {
  const a = st.randn([3, 4]).requires_grad_(), b = st.randn([4, 2]).requires_grad_();
  const node = st.matmul(a, b).grad_fn as unknown as { name: string; edges: readonly unknown[] };
  assert.equal(node.name, 'mm');
  assert.deepEqual(node.edges, [a, b]);
});

test('matmul propagates inf and NaN as PyTorch: 0 * inf is NaN', () => {
  const a = st.tensor([[0, 1]]);
  const b = st.tensor([[Infinity], [1]]);
  assertValues(st.matmul(a, b), [[Number.NaN]], '[0, 1] @ [inf, 1]');
  assertValues(st.matmul(st.tensor([[1, 1]]), st.tensor([[Infinity], [1]])), [[Infinity]], '[1, 1] @ [inf, 1]');
});

test('matmul of integer tensors stays integer', () => {
  const r = st.matmul(st.tensor([[1, 2]], { dtype: 'int32' }), st.tensor([[3], [4]], { dtype: 'int32' }));
  assert.equal(r.dtype, 'int32');
  assertValues(r, [[11]], 'int matmul');
});

// ---------------------------------------------------------------- bad input

test('wrong ranks and sizes raise ShapeError naming the op and the shapes', () => {
  throwsNaming(() => st.matmul(st.zeros(2, 3), st.zeros(4, 2)), st.ShapeError, 'matmul:', '[2, 3]', '[4, 2]');
  throwsNaming(() => st.matmul(st.zeros(3), st.zeros(4)), st.ShapeError, 'matmul:', '[3]', '[4]');
  throwsNaming(() => st.matmul(st.zeros([]), st.zeros(4)), st.ShapeError, 'matmul:', '[]');
  throwsNaming(() => st.matmul(st.zeros(2, 2, 3), st.zeros(3, 3, 2)), st.ShapeError, 'matmul:', '[2]', '[3]');
  throwsNaming(() => st.bmm(st.zeros(2, 3), st.zeros(2, 3, 4)), st.ShapeError, 'bmm:', '[2, 3]', '[2, 3, 4]');
  throwsNaming(() => st.bmm(st.zeros(2, 3, 4), st.zeros(3, 4, 5)), st.ShapeError, 'bmm:', '[2, 3, 4]', '[3, 4, 5]');
  throwsNaming(() => st.mm(st.zeros(2, 3, 4), st.zeros(4, 2)), st.ShapeError, 'mm:', '[2, 3, 4]');
  throwsNaming(() => st.mv(st.zeros(2, 3), st.zeros(3, 1)), st.ShapeError, 'mv:', '[3, 1]');
  throwsNaming(() => st.dot(st.zeros(3), st.zeros(4)), st.ShapeError, 'dot:', '[3]', '[4]');
  throwsNaming(() => st.linear(st.zeros(2, 3), st.zeros(4, 2)), st.ShapeError, 'linear:', '[2, 3]', '[4, 2]');
  throwsNaming(() => st.linear(st.zeros(2, 3), st.zeros(3)), st.ShapeError, 'linear:', '[3]');
  throwsNaming(() => st.linear(st.zeros(2, 3), st.zeros(4, 3), st.zeros(3)), st.ShapeError, 'linear:', '[3]');
  assert.throws(() => st.bmm(st.zeros(1, 2, 2), st.zeros(1, 2, 2, { dtype: 'float64' })), (e: Error) =>
    e instanceof st.DTypeError && /^bmm:/.test(e.message) && /float32/.test(e.message) && /float64/.test(e.message));
  // Two matrices go through the mm op, which refuses mixed dtypes the same way.
  assert.throws(() => st.matmul(st.zeros(2, 3), st.zeros(3, 2, { dtype: 'float64' })), (e: Error) =>
    e instanceof st.DTypeError && /^mm:/.test(e.message) && /float32/.test(e.message) && /float64/.test(e.message));
});
