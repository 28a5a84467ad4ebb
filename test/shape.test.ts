import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as st from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { assertValues, runFixtureFile, throwsNaming, type FixtureRunner } from './helpers.js';
import { viewAs, withLayouts } from './layouts.js';
import { checkGrad, randn64 } from './gradcheck_util.js';

/** Mirrors cases_shape.py's pieces(): the weighted concatenation of the parts, and the parts. */
function pieces(parts: Tensor[]): { out: Tensor; extras: Tensor[] } {
  return { out: st.cat(parts.map((p, i) => p.reshape(-1).mul(i + 1))), extras: parts };
}

interface A {
  shape: number[]; dims: number[]; dim: number; dim0: number; dim1: number; start_dim?: number; end_dim?: number;
  sizes: number[]; start: number; end: number | null; step: number; length: number; index: number;
  split: number | number[]; chunks: number; pad: number[]; mode?: st.PadMode; value?: number;
}

const runners: Record<string, FixtureRunner> = {
  reshape: ([x], a: A) => x!.reshape(a.shape),
  view: ([x], a: A) => x!.view(a.shape),
  flatten: ([x], a: A) => st.flatten(x!, a.start_dim, a.end_dim),
  unflatten: ([x], a: A) => st.unflatten(x!, a.dim, a.sizes),
  permute: ([x], a: A) => x!.permute(a.dims),
  transpose: ([x], a: A) => st.transpose(x!, a.dim0, a.dim1),
  t: ([x]) => st.t(x!),
  mT: ([x]) => x!.mT,
  expand: ([x], a: A) => x!.expand(a.shape),
  squeeze: ([x], a: A) => st.squeeze(x!, a.dim),
  unsqueeze: ([x], a: A) => st.unsqueeze(x!, a.dim),
  slice: ([x], a: A) => st.slice(x!, a.dim, a.start, a.end ?? undefined, a.step),
  narrow: ([x], a: A) => st.narrow(x!, a.dim, a.start, a.length),
  select: ([x], a: A) => st.select(x!, a.dim, a.index),
  split: ([x], a: A) => pieces(st.split(x!, a.split, a.dim)),
  chunk: ([x], a: A) => pieces(st.chunk(x!, a.chunks, a.dim)),
  unbind: ([x], a: A) => pieces(st.unbind(x!, a.dim)),
  contiguous: ([x]) => st.contiguous(x!),
  clone: ([x]) => st.clone(x!),
  cat: (xs, a: A) => st.cat(xs, a.dim),
  stack: (xs, a: A) => st.stack(xs, a.dim),
  pad: ([x], a: A) => st.pad(x!, a.pad, a.mode, a.value),
};

runFixtureFile('shape.json', withLayouts(runners));

test('fixture layouts hand non-contiguous views to the ops', () => {
  const x = st.zeros(2, 3, 4);
  for (const how of ['T', 'S', 'R'] as const) {
    const v = viewAs(x, how);
    assert.equal(v.is_contiguous(), false, how);
    assert.equal(v.storage, x.storage, how);
  }
  assert.deepEqual([...viewAs(x, 'S').shape], [2, 3, 2]);
  assert.deepEqual([...viewAs(x, 'R').strides], [1, 4, 12]);
});

// ---------------------------------------------------------------- views share storage

test('view ops return views: same storage, PyTorch strides and offsets', () => {
  const x = st.arange(0, 24, 1, { dtype: 'float32' }).reshape(2, 3, 4);
  const col = st.ones(3, 1);
  // [name, base, view, shape, strides, offset], strides and offsets as PyTorch gives them.
  const cases: [string, Tensor, Tensor, number[], number[], number][] = [
    ['view', x, x.view(6, 4), [6, 4], [4, 1], 0],
    ['permute', x, x.permute(2, 0, 1), [4, 2, 3], [1, 12, 4], 0],
    ['transpose', x, x.transpose(0, 2), [4, 3, 2], [1, 4, 12], 0],
    ['expand', col, col.expand(2, 3, 4), [2, 3, 4], [0, 1, 0], 0],
    ['slice step 2', x, st.slice(x, 2, 1, 4, 2), [2, 3, 2], [12, 4, 2], 1],
    ['narrow', x, st.narrow(x, 1, 1, 2), [2, 2, 4], [12, 4, 1], 4],
    ['select', x, st.select(x, 1, 2), [2, 4], [12, 1], 8],
    ['unsqueeze', x, st.unsqueeze(x, 1), [2, 1, 3, 4], [12, 12, 4, 1], 0],
    ['squeeze', col, col.squeeze(1), [3], [1], 0],
    ['split piece', x, st.split(x, 2, 2)[1]!, [2, 3, 2], [12, 4, 1], 2],
    ['mT', x, x.mT, [2, 4, 3], [12, 1, 4], 0],
  ];
  for (const [name, base, v, shape, strides, offset] of cases) {
    assert.deepEqual([...v.shape], shape, `${name} shape`);
    assert.deepEqual([...v.strides], strides, `${name} strides`);
    assert.equal(v.offset, offset, `${name} offset`);
    assert.equal(v.storage, base.storage, `${name} shares storage`);
  }
});

test('reshape views when it can and copies when it must', () => {
  const x = st.arange(0, 6, 1, { dtype: 'float32' }).reshape(2, 3);
  assert.equal(x.reshape(3, 2).storage, x.storage, 'contiguous reshape is a view');
  const xt = x.t();
  assert.equal(xt.is_contiguous(), false);
  const r = xt.reshape(6);
  assert.notEqual(r.storage, x.storage, 'reshape of a transposed tensor copies');
  assertValues(r, [0, 3, 1, 4, 2, 5], 'reshape of transposed');
  assert.throws(() => xt.view(6), (e: Error) =>
    e instanceof st.ShapeError && /^view:/.test(e.message) && /\[6\]/.test(e.message) && /\[3, 2\]/.test(e.message) && /reshape/.test(e.message));
  // contiguous() is the tensor itself when already contiguous.
  assert.equal(st.contiguous(x), x);
  assert.deepEqual([...st.contiguous(xt).strides], [2, 1]);
});

// ---------------------------------------------------------------- gradcheck (float64)

test('gradcheck view ops, including non-contiguous inputs', () => {
  const x = () => randn64([2, 3, 4], 1, true);
  const fns: [string, (t: Tensor) => Tensor][] = [
    ['reshape', (t) => t.reshape(4, 6)],
    ['reshape of transposed', (t) => t.transpose(0, 2).reshape(-1)],
    ['view', (t) => t.view(6, 4)],
    ['flatten', (t) => st.flatten(t, 1)],
    ['permute', (t) => t.permute(1, 2, 0)],
    ['transpose', (t) => t.transpose(-1, 0)],
    ['expand', (t) => st.slice(t, 1, 0, 1).expand(2, 5, 4)],
    ['expand_as', (t) => st.expand_as(st.select(t, 0, 1), t)],
    ['broadcast_to', (t) => st.broadcast_to(st.narrow(t, 2, 0, 1), [3, 2, 3, 4])],
    ['squeeze/unsqueeze', (t) => st.unsqueeze(t, 1).mul(2).squeeze(1)],
    ['slice step 3', (t) => st.slice(t, 2, 1, undefined, 3)],
    ['slice of transposed', (t) => st.slice(t.transpose(1, 2), 1, 1, 3)],
    ['narrow', (t) => st.narrow(t, 1, 1, 2)],
    ['select', (t) => st.select(t, -1, 2)],
    ['split', (t) => st.cat(st.split(t, [1, 2], 1).map((p, i) => p.mul(i + 1)), 1)],
    ['chunk', (t) => st.chunk(t, 3, 2)[1]!],
    ['unbind', (t) => st.stack(st.unbind(t, 1).reverse(), 0)],
    ['cat', (t) => st.cat([t, t.mul(t)], -1)],
    ['stack', (t) => st.stack([t, t.transpose(0, 0)], 1)],
    ['pad constant', (t) => st.pad(t, [1, -1, 2, 0], 'constant', 0.5)],
    ['pad reflect', (t) => st.pad(t, [3, 2, 1, 2], 'reflect')],
    ['pad replicate', (t) => st.pad(t, [2, 3, 3, 1], 'replicate')],
    ['pad circular', (t) => st.pad(t.transpose(1, 2), [1, 2, 3, 3], 'circular')],
  ];
  for (const [name, f] of fns) {
    assert.doesNotThrow(() => checkGrad(f, [x()]), name);
  }
});

test('slice backward is itself differentiable (second derivative through a slice)', () => {
  const x = st.tensor([1, 2, 3, 4, 5], { requires_grad: true });
  const y = st.slice(x, 0, 1, 5, 2).pow(3).sum();
  const [g] = st.autograd.grad(y, x, { create_graph: true });
  assertValues(g!, [0, 12, 0, 48, 0], 'dy/dx = 3x^2 on the slice');
  g!.sum().backward();
  assertValues(x.grad!, [0, 12, 0, 24, 0], 'd2y/dx2 = 6x on the slice');
});

// ---------------------------------------------------------------- worked examples

test('split, chunk and unbind return views of the right sizes', () => {
  const x = st.arange(0, 10, 1, { dtype: 'float32' });
  assert.deepEqual(st.split(x, 4).map((p) => p.tolist()), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
  assert.deepEqual(st.chunk(x, 4).map((p) => p.shape[0]), [3, 3, 3, 1]);
  assert.deepEqual(st.chunk(st.zeros(6), 4).map((p) => p.shape[0]), [2, 2, 2]);
  assert.deepEqual(st.unbind(x.reshape(2, 5), 1).map((p) => p.tolist()), [[0, 5], [1, 6], [2, 7], [3, 8], [4, 9]]);
});

test('pad worked example in each mode', () => {
  const x = st.tensor([[[1, 2, 3]]]);
  assertValues(st.pad(x, [2, 2], 'reflect'), [[[3, 2, 1, 2, 3, 2, 1]]], 'reflect');
  assertValues(st.pad(x, [2, 2], 'replicate'), [[[1, 1, 1, 2, 3, 3, 3]]], 'replicate');
  assertValues(st.pad(x, [2, 2], 'circular'), [[[2, 3, 1, 2, 3, 1, 2]]], 'circular');
  assertValues(st.pad(x, [1, -1], 'constant', 9), [[[9, 1, 2]]], 'constant with cropping');
});

// ---------------------------------------------------------------- bad input

test('bad shapes and dims raise ShapeError naming the op and what came', () => {
  const x = st.zeros(2, 3);
  throwsNaming(() => x.reshape(4, 2), st.ShapeError, 'reshape:', '[4, 2]', '6');
  throwsNaming(() => x.view(-1, -1), st.ShapeError, 'view:', '[-1, -1]');
  throwsNaming(() => x.permute(0, 0), st.ShapeError, 'permute:', '[0, 0]', '[2, 3]');
  throwsNaming(() => x.permute(0), st.ShapeError, 'permute:', '[0]');
  throwsNaming(() => x.transpose(0, 2), st.ShapeError, 'transpose:', 'dim 2');
  throwsNaming(() => x.expand(4, 3), st.ShapeError, 'expand:', '[2, 3]', '[4, 3]');
  throwsNaming(() => x.expand(3), st.ShapeError, 'expand:', '[3]', '[2, 3]');
  throwsNaming(() => st.squeeze(x, 2), st.ShapeError, 'squeeze:', 'dim 2');
  throwsNaming(() => st.unsqueeze(x, 3), st.ShapeError, 'unsqueeze:', 'dim 3');
  throwsNaming(() => st.flatten(x, 1, 0), st.ShapeError, 'flatten:');
  throwsNaming(() => st.narrow(x, 1, 2, 2), st.ShapeError, 'narrow:', 'size 3');
  throwsNaming(() => st.split(x, [1, 1], 1), st.ShapeError, 'split:', '[1, 1]', '3');
  throwsNaming(() => st.chunk(x, 0), st.ShapeError, 'chunk:', '0');
  throwsNaming(() => st.t(st.zeros(2, 2, 2)), st.ShapeError, 't:', '[2, 2, 2]');
  for (const i of [2, -3]) {
    assert.throws(() => st.select(x, 0, i), (e: Error) =>
      e instanceof st.IndexError && e.message.startsWith('select:') && e.message.includes(`index ${i}`) && e.message.includes('[2, 3]'));
  }
  assert.throws(() => st.slice(x, 1, 0.5, 3), (e: Error) => e instanceof st.StrideError && /^slice:/.test(e.message) && /0\.5/.test(e.message));
  assert.throws(() => st.slice(x, 1, 0, Number.NaN), (e: Error) => e instanceof st.StrideError && /^slice:/.test(e.message) && /NaN/.test(e.message));
  assertValues(st.slice(st.tensor([1, 2, 3]), 0, -Infinity, Infinity, 2), [1, 3], 'infinite bounds clip to the ends');
  throwsNaming(() => x.expand(2, 2.5), st.ShapeError, 'expand:', '2.5');
  throwsNaming(() => st.ones(1).expand(-2), st.ShapeError, 'expand:', '-2');
  assert.throws(() => st.slice(x, 1, 0, 3, 0), (e: Error) => e instanceof st.StrideError && /slice/.test(e.message) && /step/.test(e.message));
});

test('ops that index along a dim refuse 0-d tensors; transpose of a 0-d tensor is itself', () => {
  const s = st.scalar_tensor(2.5);
  for (const [op, f] of [
    ['select', () => st.select(s, 0, 0)], ['narrow', () => st.narrow(s, 0, 0, 1)], ['slice', () => st.slice(s, 0, 0, 1)],
    ['split', () => st.split(s, 1)], ['chunk', () => st.chunk(s, 1)], ['unbind', () => st.unbind(s)],
    ['unflatten', () => st.unflatten(s, 0, [1])],
  ] as const) {
    throwsNaming(f, st.ShapeError, `${op}:`, '0-d');
  }
  assertValues(st.transpose(s, 0, -1), 2.5, 'transpose(0, -1) of a 0-d tensor');
  throwsNaming(() => st.transpose(s, 0, 1), st.ShapeError, 'transpose:', 'dim 1');
  throwsNaming(() => st.cat([s, s]), st.ShapeError, 'cat:', 'zero-dimensional', 'position 0');
  assertValues(st.stack([s, s]), [2.5, 2.5], 'stack of 0-d tensors');
});

test('cat, stack and pad refuse mismatched inputs', () => {
  throwsNaming(() => st.cat([st.zeros(2, 3), st.zeros(2, 4)], 0), st.ShapeError, 'cat:', '[2, 3]', '[2, 4]');
  throwsNaming(() => st.cat([st.zeros(2, 3), st.zeros(3)], 0), st.ShapeError, 'cat:', '[2, 3]', '[3]');
  throwsNaming(() => st.cat([st.zeros(2, 3)], 2), st.ShapeError, 'cat:', 'dim 2');
  throwsNaming(() => st.cat([]), st.ShapeError, 'cat:');
  throwsNaming(() => st.stack([st.zeros(2, 3), st.zeros(3, 2)]), st.ShapeError, 'stack:', '[2, 3]', '[3, 2]');
  throwsNaming(() => st.pad(st.zeros(1, 3), [1], 'constant'), st.ShapeError, 'pad:', '[1]');
  throwsNaming(() => st.pad(st.zeros(1, 3), [3, 0], 'reflect'), st.ShapeError, 'pad:', 'size 3');
  throwsNaming(() => st.pad(st.zeros(1, 3), [4, 0], 'circular'), st.ShapeError, 'pad:', 'size 3');
  throwsNaming(() => st.pad(st.zeros(1, 3), [-1, 0], 'replicate'), st.ShapeError, 'pad:', '[-1, 0]');
  throwsNaming(() => st.pad(st.zeros(1, 3), [-2, -2]), st.ShapeError, 'pad:', '3');
});
