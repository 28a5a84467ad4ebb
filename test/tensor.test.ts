import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as st from '../src/index.js';
import { resultType } from '../src/tensor/dtype.js';
import { assertValues } from './helpers.js';

// ---------------------------------------------------------------- dtypes

test('default dtypes: numbers float32, booleans bool, typed arrays their own type', () => {
  assert.equal(st.tensor([1, 2]).dtype, 'float32');
  assert.equal(st.tensor(3).dtype, 'float32');
  assert.equal(st.tensor([[true], [false]]).dtype, 'bool');
  assert.equal(st.tensor(new Int32Array([1])).dtype, 'int32');
  assert.equal(st.tensor(new Float64Array([1])).dtype, 'float64');
  assert.equal(st.tensor(new Uint8Array([1])).dtype, 'uint8');
  assert.equal(st.tensor([1.7, -1.7, 3e9], { dtype: 'int32' }).tolist().toString(), [1, -1, -1294967296].toString(), 'int32 truncates and wraps');
  assertValues(st.tensor([0, 2, -1], { dtype: 'bool' }), [false, true, true], 'bool of numbers');
  assertValues(st.tensor([0.1]), [Math.fround(0.1)], 'float32 rounds');
});

test('promote_types and resultType follow PyTorch', () => {
  const order: st.DType[] = ['bool', 'uint8', 'int32', 'float32', 'float64'];
  for (const [i, a] of order.entries()) {
    for (const [j, b] of order.entries()) assert.equal(st.promote_types(a, b), order[Math.max(i, j)], `${a} with ${b}`);
  }
  const t = (dtype: st.DType, ndim: number) => ({ dtype, ndim });
  assert.equal(resultType(t('float32', 1), t('float64', 0)), 'float32', 'a 0-d float64 does not widen float32');
  assert.equal(resultType(t('int32', 2), t('float64', 0)), 'float64', 'a 0-d float lifts an int tensor');
  assert.equal(resultType(t('bool', 1), t('uint8', 0)), 'uint8', 'a 0-d int lifts a bool tensor');
  assert.equal(resultType(t('uint8', 1), t('int32', 0)), 'uint8', 'a 0-d int32 does not widen uint8');
  assert.equal(resultType(t('float64', 0), t('float32', 0)), 'float64', 'two 0-d tensors promote normally');
});

test('only floating point tensors can require grad', () => {
  assert.throws(() => st.tensor([1], { dtype: 'int32', requires_grad: true }), (e: Error) => e instanceof st.DTypeError && /int32/.test(e.message));
  assert.throws(() => st.zeros(2, { dtype: 'bool' }).requires_grad_(), st.DTypeError);
  assert.equal(st.zeros(2, { dtype: 'float64', requires_grad: true }).requires_grad, true);
});

// ---------------------------------------------------------------- creation

test('zeros, ones, full, empty take sizes as PyTorch does', () => {
  assertValues(st.zeros(2, 3), [[0, 0, 0], [0, 0, 0]], 'zeros(2, 3)');
  assertValues(st.ones([2]), [1, 1], 'ones([2])');
  assert.equal(st.ones(2, 2, { dtype: 'int32' }).dtype, 'int32');
  assertValues(st.full([2], 1.5, { dtype: 'int32' }), [1, 1], 'full truncates to int32');
  assertValues(st.full([1, 2], -7), [[-7, -7]], 'full');
  assert.deepEqual([...st.empty(3, 0).shape], [3, 0]);
  assert.deepEqual([...st.zeros().shape], [], 'zeros() is 0-d');
  assert.throws(() => st.zeros(2, -1), (e: Error) => e instanceof st.ShapeError && /^zeros:/.test(e.message) && /\[2, -1\]/.test(e.message));
  assert.throws(() => st.ones(1.5), (e: Error) => e instanceof st.ShapeError && /^ones:/.test(e.message));
});

test('arange, linspace, eye', () => {
  const a = st.arange(5);
  assert.equal(a.dtype, 'int32');
  assertValues(a, [0, 1, 2, 3, 4], 'arange(5)');
  assertValues(st.arange(5, 0, -2), [5, 3, 1], 'negative step');
  const f = st.arange(0, 1, 0.25);
  assert.equal(f.dtype, 'float32');
  assertValues(f, [0, 0.25, 0.5, 0.75], 'fractional step');
  assert.equal(st.arange(0, 1, 0.1).numel(), 10, 'arange(0, 1, 0.1) has 10 elements as in PyTorch');
  assertValues(st.arange(1.5), [0, 1], 'arange(1.5)');
  assertValues(st.arange(3, 3), [], 'empty arange');
  assert.throws(() => st.arange(0, 5, -1), (e: Error) => e instanceof st.StrideError && /^arange:/.test(e.message) && /step -1/.test(e.message));
  assert.throws(() => st.arange(0, 5, 0), (e: Error) => e instanceof st.StrideError && /^arange:/.test(e.message));
  assert.throws(() => st.arange(0, Number.NaN), (e: Error) => e instanceof st.StrideError && /^arange:/.test(e.message) && /NaN/.test(e.message));
  assertValues(st.linspace(0, 1, 5), [0, 0.25, 0.5, 0.75, 1], 'linspace');
  assertValues(st.linspace(-1, 1, 4), [-1, -1 / 3, 1 / 3, 1].map(Math.fround), 'linspace, both ends exact');
  assertValues(st.linspace(2, 3, 1), [2], 'one step is start (PyTorch)');
  assertValues(st.linspace(2, 3, 0), [], 'no steps');
  assertValues(st.eye(2), [[1, 0], [0, 1]], 'eye(2)');
  assertValues(st.eye(2, 3), [[1, 0, 0], [0, 1, 0]], 'eye(2, 3)');
  assertValues(st.eye(3, 1, { dtype: 'int32' }), [[1], [0], [0]], 'eye(3, 1)');
});

test('*_like copy shape and dtype; options override', () => {
  const x = st.zeros(2, 3, { dtype: 'float64' });
  const o = st.ones_like(x);
  assert.deepEqual([...o.shape], [2, 3]);
  assert.equal(o.dtype, 'float64');
  assert.equal(st.zeros_like(x, { dtype: 'int32' }).dtype, 'int32');
  assertValues(st.full_like(st.zeros(2), 4), [4, 4], 'full_like');
  assert.deepEqual([...st.empty_like(x).shape], [2, 3]);
  assert.equal(st.ones_like(x, { requires_grad: true }).requires_grad, true);
});

test('tensor() from nested arrays, typed arrays with a shape, and its errors', () => {
  assertValues(st.tensor([[1, 2, 3], [4, 5, 6]]), [[1, 2, 3], [4, 5, 6]], 'nested');
  assert.deepEqual([...st.tensor([[[1], [2]]]).shape], [1, 2, 1]);
  assert.deepEqual([...st.tensor(5).shape], []);
  assert.deepEqual([...st.tensor([]).shape], [0]);
  assertValues(st.tensor(new Float64Array([1, 2, 3, 4, 5, 6]), { shape: [3, 2] }), [[1, 2], [3, 4], [5, 6]], 'typed array with shape');
  assert.equal(st.scalar_tensor(2.5).item(), 2.5);
  assert.throws(() => st.tensor([[1, 2], [3]]), (e: Error) =>
    e instanceof st.ShapeError && /^tensor:/.test(e.message) && /ragged/.test(e.message) && /data\[1\]/.test(e.message));
  assert.throws(() => st.tensor([[1, 2], 3] as st.NestedArray), (e: Error) => e instanceof st.ShapeError && /ragged/.test(e.message));
  assert.throws(() => st.tensor(new Float32Array(5), { shape: [2, 3] }), (e: Error) =>
    e instanceof st.ShapeError && /5 values/.test(e.message) && /\[2, 3\]/.test(e.message));
  assert.throws(() => st.tensor(['a'] as unknown as number[]), (e: Error) => e instanceof st.DTypeError && /string/.test(e.message));
});

// ---------------------------------------------------------------- views and storage

test('views share storage: writes through a view show in the base and the other way round', () => {
  const base = st.zeros(3, 4);
  const row = st.select(base, 0, 1);
  const col = base.t().select(0, 2); // column 2 of base
  const stepped = st.slice(base, 1, 0, undefined, 2);
  st.copy_(row, st.tensor([1, 2, 3, 4]));
  col.add_(10);
  stepped.sub_(1);
  assertValues(base, [[-1, 0, 9, 0], [0, 2, 12, 4], [-1, 0, 9, 0]], 'base after writes through views');
  base.fill_(1);
  assertValues(row, [1, 1, 1, 1], 'view sees writes to the base');
});

test('in-place ops whose operand overlaps the target read the operand as it was', () => {
  const x = st.arange(0, 4, 1, { dtype: 'float32' }).reshape(2, 2);
  x.add_(x.t());
  assertValues(x, [[0, 3], [3, 6]], 'x.add_(x.t()) is x + x.t()');
  const y = st.arange(0, 5, 1, { dtype: 'float32' });
  st.slice(y, 0, 1).copy_(st.slice(y, 0, 0, 4));
  assertValues(y, [0, 0, 1, 2, 3], 'a shifted copy within one tensor');
  const z = st.arange(0, 6, 1, { dtype: 'float32' }).reshape(2, 3);
  z.mul_(st.select(z, 0, 1));
  assertValues(z, [[0, 4, 10], [9, 16, 25]], 'a row broadcast over the tensor it belongs to');
  const w = st.tensor([1, 2, 3]);
  w.add_(w);
  assertValues(w, [2, 4, 6], 'the same view on both sides');
});

test('writes through a view of a tensor that requires grad are allowed under no_grad', () => {
  const w = st.zeros(2, 2, { requires_grad: true });
  assert.throws(() => w.t().add_(1), (e: Error) => e instanceof st.AutogradError && /add_/.test(e.message));
  st.no_grad(() => st.select(w.detach(), 0, 0).add_(5));
  st.no_grad(() => w.add_(1));
  assertValues(w, [[6, 6], [1, 1]], 'w after no_grad writes');
  assert.equal(w.requires_grad, true);
  assert.equal(w.is_leaf, true);
});

test('strides as PyTorch gives them for transpose, expand and slice', () => {
  const x = st.zeros(2, 3);
  assert.deepEqual([...x.strides], [3, 1]);
  assert.deepEqual([...x.t().strides], [1, 3]);
  assert.deepEqual([...st.slice(x, 1, 0, undefined, 2).strides], [3, 2]);
  assert.deepEqual([...st.zeros(3, 1).expand(3, 4).strides], [1, 0]);
  assert.equal(x.t().is_contiguous(), false);
  assert.equal(st.zeros(3, 1).expand(3, 4).is_contiguous(), false);
  assert.equal(st.zeros(1, 3).t().is_contiguous(), true, 'size-1 dims do not break contiguity');
  assert.equal(x.stride(-1), 1);
  assert.equal(x.size(0), 2);
  assert.equal(x.dim(), 2);
  assert.equal(x.numel(), 6);
});

test('view() refuses an incompatible layout; reshape() copies instead and does not write through', () => {
  const x = st.zeros(2, 3);
  assert.throws(() => x.t().view(6), (e: Error) =>
    e instanceof st.ShapeError && /^view:/.test(e.message) && /\[6\]/.test(e.message) && /strides \[1, 3\]/.test(e.message));
  const r = x.t().reshape(6);
  r.fill_(1);
  assertValues(x, [[0, 0, 0], [0, 0, 0]], 'the base is unchanged by writes to the reshaped copy');
  const v = x.view(3, 2);
  v.fill_(2);
  assertValues(x, [[2, 2, 2], [2, 2, 2]], 'the base sees writes through view()');
});

// ---------------------------------------------------------------- reading values

test('item, tolist, dataSync, data', async () => {
  assert.equal(st.tensor([[2.5]]).item(), 2.5);
  assert.equal(st.tensor([true]).item(), 1);
  assert.throws(() => st.zeros(2).item(), (e: Error) => e instanceof st.StrideError && /item/.test(e.message) && /2 elements/.test(e.message));
  assert.deepEqual(st.tensor([[true, false]]).tolist(), [[true, false]]);
  assert.deepEqual(st.arange(6).reshape(2, 3).t().tolist(), [[0, 3], [1, 4], [2, 5]]);
  assert.deepEqual(st.scalar_tensor(4).tolist(), 4);
  assert.deepEqual([...st.arange(4).reshape(2, 2).t().dataSync()], [0, 2, 1, 3]);
  assert.deepEqual([...(await st.tensor([1, 2]).data())], [1, 2]);
  // item of a view reads the view's own element, not the storage's first.
  assert.equal(st.select(st.tensor([7, 8, 9]), 0, 2).item(), 9);
});

test('toString prints values, dtype and autograd state', () => {
  assert.equal(st.tensor([[0, 1, 2], [3, 4, 5]]).toString(), 'tensor([[0., 1., 2.],\n        [3., 4., 5.]])');
  assert.equal(st.tensor([1, 2], { dtype: 'int32' }).toString(), 'tensor([1, 2])');
  assert.equal(st.tensor([1.5], { dtype: 'float64', requires_grad: true }).toString(), 'tensor([1.5], dtype=float64, requires_grad=True)');
  assert.equal(st.tensor([1, 2], { requires_grad: true }).mul(2).toString(), 'tensor([2., 4.], grad_fn=<mul>)');
  assert.equal(st.scalar_tensor(-0.125).toString(), 'tensor(-0.125)');
  assert.equal(st.tensor([true, false]).toString(), 'tensor([True, False])');
  assert.equal(st.tensor([3], { dtype: 'uint8' }).toString(), 'tensor([3], dtype=uint8)');
});

// ---------------------------------------------------------------- dispose

test('dispose frees the handle; use after dispose throws DisposedError; views keep the data alive', () => {
  const x = st.tensor([[1, 2], [3, 4]]);
  const v = x.t();
  x.dispose();
  assert.equal(x.disposed, true);
  for (const [what, f] of [['add', () => x.add(1)], ['dataSync', () => x.dataSync()], ['item', () => x.item()], ['view', () => x.view(4)]] as const) {
    assert.throws(f, (e: Error) => e instanceof st.DisposedError && /\[2, 2\]/.test(e.message), what);
  }
  assert.equal(x.toString(), 'tensor(<disposed>, shape=[2, 2])');
  x.dispose(); // twice is harmless
  assertValues(v, [[1, 3], [2, 4]], 'a view outlives its base');
  v.dispose();
  assert.equal(v.storage.freed, true, 'the last handle frees the storage');
});

test('tidy disposes what the function created except what it returns or keeps', () => {
  let inner: st.Tensor | undefined;
  let kept: st.Tensor | undefined;
  const out = st.tidy(() => {
    inner = st.ones(2).add(1);
    kept = st.keep(st.ones(3));
    return { result: inner.mul(2) };
  });
  assert.equal(inner!.disposed, true);
  assert.equal(kept!.disposed, false);
  assert.equal(out.result.disposed, false);
  assertValues(out.result, [4, 4], 'returned tensor');
});

test('tidy with an async function closes its scope when the promise settles', async () => {
  let inner: st.Tensor | undefined;
  const out = await st.tidy(async () => {
    inner = st.ones(2);
    await new Promise((r) => setTimeout(r, 1));
    return inner.add(1);
  });
  assert.equal(inner!.disposed, true);
  assertValues(out, [2, 2], 'async result');
});

test('arange takes its options after any number of positional arguments', async () => {
  const { arange } = await import('../src/index.js');
  assert.deepEqual(arange(3, { dtype: 'float64' }).tolist(), [0, 1, 2]);
  assert.equal(arange(3, { dtype: 'float64' }).dtype, 'float64');
  assert.deepEqual(arange(1, 4, { dtype: 'float32' }).tolist(), [1, 2, 3]);
  assert.deepEqual(arange(0, 1, 0.25).tolist(), [0, 0.25, 0.5, 0.75]);
});
