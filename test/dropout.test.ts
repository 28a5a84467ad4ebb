import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DTypeError, Generator, ShapeError, StrideError, Tensor, alpha_dropout, dropout, dropout1d, dropout2d, dropout3d, gradcheck,
  manual_seed, randn, tensor,
} from '../src/index.js';
import { throwsNaming } from './helpers.js';

/**
 * The masks come from stride's Philox generator, so they cannot match PyTorch's; these tests
 * check the semantics: values, gradients, reproducibility and the statistics of the mask.
 */

const gen = (seed: number) => ({ generator: new Generator(seed) });

/** For each element: true where out kept x (as x·scale), false where it is 0; fails on anything else. */
function keptMask(x: Tensor, out: Tensor, scale: number): boolean[] {
  const xs = x.dataSync();
  const os = out.dataSync();
  return Array.from(xs, (v, i) => {
    const o = os[i]!;
    if (o === 0) return false;
    assert.ok(Math.abs(o - v * scale) <= 1e-6 * Math.abs(v * scale), `element ${i} is ${o}: neither 0 nor ${v} · ${scale}`);
    return true;
  });
}

/** Asserts that the kept fraction is within 5 standard deviations of 1 - p (a false alarm has probability < 1e-6). */
function assertKeptFraction(kept: boolean[], p: number): void {
  const frac = kept.filter(Boolean).length / kept.length;
  const bound = 5 * Math.sqrt((p * (1 - p)) / kept.length);
  assert.ok(Math.abs(frac - (1 - p)) < bound, `kept fraction ${frac}, expected ${1 - p} ± ${bound}`);
}

test('dropout: every output is 0 or x / (1 - p), and about 1 - p of them are kept', () => {
  for (const p of [0.1, 0.5, 0.8]) {
    const x = randn([400, 250], gen(1));
    const kept = keptMask(x, dropout(x, p, true, gen(2)), 1 / (1 - p));
    assertKeptFraction(kept, p);
  }
});

test('dropout: the gradient is the mask divided by 1 - p', () => {
  const x = randn([30, 40], gen(3)).requires_grad_();
  const gy = randn([30, 40], gen(4));
  const out = dropout(x, 0.4, true, gen(5));
  out.backward(gy);
  const kept = keptMask(x, out, 1 / 0.6);
  const g = x.grad!.dataSync();
  const gys = gy.dataSync();
  kept.forEach((k, i) => assert.ok(Math.abs(g[i]! - (k ? gys[i]! / 0.6 : 0)) <= 1e-6 * Math.abs(gys[i]! / 0.6), `grad element ${i}`));
});

test('dropout: the same seed gives the same mask, another seed another one', () => {
  const x = randn([1000], gen(6));
  const a = dropout(x, 0.5, true, gen(42)).tolist();
  assert.deepEqual(dropout(x, 0.5, true, gen(42)).tolist(), a);
  assert.notDeepEqual(dropout(x, 0.5, true, gen(43)).tolist(), a);
  // Without a generator the default one is used, which manual_seed resets.
  manual_seed(9);
  const b = dropout(x, 0.5).tolist();
  manual_seed(9);
  assert.deepEqual(dropout(x, 0.5).tolist(), b);
  assert.notDeepEqual(dropout(x, 0.5).tolist(), b, 'the generator advances');
});

test('dropout: identity in eval mode and for p = 0, zeros for p = 1', () => {
  const x = randn([5, 4], gen(7)).requires_grad_();
  assert.equal(dropout(x, 0.5, false), x);
  assert.equal(dropout(x, 0, true), x);
  const z = dropout(x, 1, true);
  assert.ok(z.dataSync().every((v) => v === 0), 'p = 1 zeroes everything (-0 for negative x, as x · 0)');
  z.sum().backward();
  assert.ok(x.grad!.dataSync().every((v) => v === 0), 'p = 1 passes no gradient');
});

test('dropout keeps the dtype and works on strided inputs', () => {
  const x = randn([6, 8], { dtype: 'float64', generator: new Generator(8) }).t();
  const out = dropout(x, 0.25, true, gen(9));
  assert.equal(out.dtype, 'float64');
  keptMask(x, out, 1 / 0.75);
});

test('dropout1d/2d/3d drop whole channels, one draw per (sample, channel)', () => {
  const cases: [string, (x: Tensor, p: number, o: { generator: Generator }) => Tensor, number[], number][] = [
    ['dropout1d (N, C, L)', (x, p, o) => dropout1d(x, p, true, o), [20, 30, 3], 2],
    ['dropout1d unbatched (C, L)', (x, p, o) => dropout1d(x, p, true, o), [600, 4], 1],
    ['dropout2d (N, C, H, W)', (x, p, o) => dropout2d(x, p, true, o), [20, 30, 2, 3], 2],
    ['dropout2d (N, C, L)', (x, p, o) => dropout2d(x, p, true, o), [20, 30, 3], 2],
    ['dropout3d (N, C, D, H, W)', (x, p, o) => dropout3d(x, p, true, o), [20, 30, 2, 1, 2], 2],
    ['dropout3d unbatched (C, D, H, W)', (x, p, o) => dropout3d(x, p, true, o), [600, 2, 1, 2], 1],
  ];
  for (const [name, f, shape, lead] of cases) {
    const p = 0.3;
    const x = randn(shape, gen(10));
    const kept = keptMask(x, f(x, p, gen(11)), 1 / (1 - p));
    const planes = shape.slice(0, lead).reduce((a, b) => a * b, 1);
    const size = kept.length / planes;
    const perPlane = Array.from({ length: planes }, (_, i) => kept.slice(i * size, (i + 1) * size));
    perPlane.forEach((pl, i) => assert.ok(pl.every((k) => k === pl[0]), `${name}: channel ${i} is partly dropped`));
    assertKeptFraction(perPlane.map((pl) => pl[0]!), p);
  }
});

test('dropout2d: gradient is the channel mask over 1 - p, and eval mode is the identity', () => {
  const x = randn([3, 4, 2, 2], gen(12)).requires_grad_();
  const out = dropout2d(x, 0.5, true, gen(13));
  out.sum().backward();
  const kept = keptMask(x, out, 2);
  assert.deepEqual(Array.from(x.grad!.dataSync()), kept.map((k) => (k ? 2 : 0)));
  assert.equal(dropout2d(x, 0.5, false), x);
});

test('alpha_dropout: kept values are a·x + b, dropped ones a constant; mean and variance are kept', () => {
  const p = 0.2;
  const alpha = 1.7580993408473766;
  const a = 1 / Math.sqrt((alpha * alpha * p + 1) * (1 - p));
  const b = alpha * a * p;
  const x = randn([200000], { dtype: 'float64', generator: new Generator(14) }).requires_grad_();
  const out = alpha_dropout(x, p, true, gen(15));
  const xs = x.dataSync();
  const os = Array.from(out.dataSync());
  const kept = os.map((o, i) => {
    if (Math.abs(o - (a * xs[i]! + b)) < 1e-12) return true;
    assert.ok(Math.abs(o - (b - a * alpha)) < 1e-12, `element ${i} is ${o}`);
    return false;
  });
  assertKeptFraction(kept, p);
  // For standard normal inputs the output keeps mean 0 and variance 1 (the point of alpha dropout).
  const n = os.length;
  const mean = os.reduce((s, v) => s + v, 0) / n;
  const variance = os.reduce((s, v) => s + (v - mean) ** 2, 0) / n;
  assert.ok(Math.abs(mean) < 0.01 && Math.abs(variance - 1) < 0.02, `mean ${mean}, variance ${variance}`);
  out.sum().backward();
  const g = x.grad!.dataSync();
  kept.forEach((k, i) => assert.ok(Math.abs(g[i]! - (k ? a : 0)) < 1e-12, `grad element ${i}`));
});

test('alpha_dropout: eval by default (as PyTorch), p = 0 identity, p = 1 zeros', () => {
  const x = randn([10], gen(16));
  assert.equal(alpha_dropout(x), x);
  assert.equal(alpha_dropout(x, 0, true), x);
  assert.ok(alpha_dropout(x, 1, true).dataSync().every((v) => v === 0));
});

test('gradcheck of every dropout with a fixed mask (a fresh generator per call)', () => {
  const x = (shape: number[]) => randn(shape, { dtype: 'float64', generator: new Generator(17) }).requires_grad_();
  assert.ok(gradcheck((t) => dropout(t, 0.3, true, gen(1)), [x([4, 5])]).ok);
  assert.ok(gradcheck((t) => dropout1d(t, 0.3, true, gen(2)), [x([2, 4, 3])]).ok);
  assert.ok(gradcheck((t) => dropout2d(t, 0.3, true, gen(3)), [x([2, 4, 2, 2])]).ok);
  assert.ok(gradcheck((t) => dropout3d(t, 0.3, true, gen(4)), [x([3, 2, 2, 2])]).ok);
  assert.ok(gradcheck((t) => alpha_dropout(t, 0.3, true, gen(5)), [x([4, 5])]).ok);
});

test('bad p, integer inputs and wrong ranks are refused, even in eval mode', () => {
  const x = randn([2, 3, 4, 4]);
  for (const p of [-0.1, 1.5, NaN]) {
    throwsNaming(() => dropout(x, p), StrideError, 'dropout:', 'between 0 and 1', String(p));
    throwsNaming(() => dropout2d(x, p, false), StrideError, 'dropout2d:', String(p));
    throwsNaming(() => alpha_dropout(x, p), StrideError, 'alpha_dropout:', String(p));
  }
  const i = tensor([1, 2], { dtype: 'int32' });
  throwsNaming(() => dropout(i), DTypeError, 'dropout', 'int32');
  throwsNaming(() => alpha_dropout(i), DTypeError, 'alpha_dropout', 'int32');
  throwsNaming(() => dropout1d(randn([2, 3, 4, 5])), ShapeError, 'dropout1d', '[2, 3, 4, 5]', '2-d or 3-d');
  throwsNaming(() => dropout2d(randn([2, 3])), ShapeError, 'dropout2d', '[2, 3]', '3-d or 4-d');
  throwsNaming(() => dropout3d(randn([2, 3, 4])), ShapeError, 'dropout3d', '[2, 3, 4]', '4-d or 5-d');
});
