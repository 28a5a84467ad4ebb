import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as st from '../src/index.js';
import type { Operand, Tensor } from '../src/index.js';
import { assertValues, runFixtureFile, type FixtureRunner } from './helpers.js';
import { withLayouts } from './layouts.js';
import { checkGrad, randn64 } from './gradcheck_util.js';

interface BinaryArgs { scalar?: number; scalar_first?: boolean; alpha?: number }

/** A binary op with a tensor or (args.scalar) a JS number on either side, and add/sub's alpha. */
function binary(f: (a: Operand, b: Operand, alpha?: number) => Tensor): FixtureRunner {
  return ([a, b], args: BinaryArgs) => {
    if (args.scalar === undefined) return f(a!, b!, args.alpha);
    return args.scalar_first ? f(args.scalar, a!) : f(a!, args.scalar);
  };
}

const unary = (f: (x: Tensor) => Tensor): FixtureRunner => ([x]) => f(x!);

runFixtureFile('elementwise.json', withLayouts({
  neg: unary(st.neg), abs: unary(st.abs), sign: unary(st.sign), exp: unary(st.exp), log: unary(st.log),
  log1p: unary(st.log1p), expm1: unary(st.expm1), sqrt: unary(st.sqrt), rsqrt: unary(st.rsqrt),
  reciprocal: unary(st.reciprocal), sin: unary(st.sin), cos: unary(st.cos), tanh: unary(st.tanh),
  sigmoid: unary(st.sigmoid), relu: unary(st.relu), erf: unary(st.erf), floor: unary(st.floor),
  ceil: unary(st.ceil), round: unary(st.round), trunc: unary(st.trunc), square: unary(st.square),
  logical_not: unary(st.logical_not),
  add: binary(st.add), sub: binary(st.sub), rsub: binary(st.rsub),
  mul: binary(st.mul), div: binary(st.div), pow: binary(st.pow),
  maximum: binary(st.maximum), minimum: binary(st.minimum), atan2: binary(st.atan2),
  remainder: binary(st.remainder), floor_divide: binary(st.floor_divide),
  eq: binary(st.eq), ne: binary(st.ne), lt: binary(st.lt), le: binary(st.le), gt: binary(st.gt), ge: binary(st.ge),
  logical_and: binary(st.logical_and), logical_or: binary(st.logical_or), logical_xor: binary(st.logical_xor),
  where: ([c, a, b], args: BinaryArgs) => st.where(c!, a!, args.scalar ?? b!),
  addcmul: ([x, a, b], args: { value?: number }) => st.addcmul(x!, a!, b!, args.value),
  clamp: ([x], args: { min?: number; max?: number }) => st.clamp(x!, args.min, args.max),
  to: ([x], args: { dtype: st.DType }) => st.to(x!, args.dtype),
}));

// ---------------------------------------------------------------- gradcheck (float64)

const UNARY: [string, (x: Tensor) => Tensor, 'any' | 'positive'][] = [
  ['neg', st.neg, 'any'], ['abs', st.abs, 'any'], ['exp', st.exp, 'any'], ['log', st.log, 'positive'],
  ['log1p', st.log1p, 'positive'], ['expm1', st.expm1, 'any'], ['sqrt', st.sqrt, 'positive'],
  ['rsqrt', st.rsqrt, 'positive'], ['reciprocal', st.reciprocal, 'positive'], ['sin', st.sin, 'any'],
  ['cos', st.cos, 'any'], ['tanh', st.tanh, 'any'], ['sigmoid', st.sigmoid, 'any'], ['relu', st.relu, 'any'],
  ['erf', st.erf, 'any'], ['square', st.square, 'any'], ['sign', st.sign, 'any'], ['floor', st.floor, 'any'],
];

for (const [name, f, domain] of UNARY) {
  test(`gradcheck ${name} (contiguous and transposed)`, () => {
    // Values kept away from 0 so that abs/relu/sign/floor are smooth within eps.
    const x = randn64([3, 4], 1).abs().add(0.1);
    const signs = st.tensor([[1, -1, 1, -1], [-1, 1, 1, -1], [1, 1, -1, -1]], { dtype: 'float64' });
    const input = (domain === 'positive' ? x : x.mul(signs)).detach().requires_grad_();
    checkGrad((t) => f(t), [input]);
    checkGrad((t) => f(t.t()), [input]);
  });
}

const BINARY: [string, (a: Operand, b: Operand) => Tensor][] = [
  ['add', st.add], ['sub', st.sub], ['mul', st.mul], ['div', st.div], ['rsub', st.rsub],
  ['pow', st.pow], ['atan2', st.atan2], ['maximum', st.maximum], ['minimum', st.minimum],
];

/** A float64 leaf with values in [0.5, inf): pow's log stays defined and div stays away from 0. */
const pos = (shape: number[], seed: number) => randn64(shape, seed).abs().add(0.5).detach().requires_grad_();

for (const [name, f] of BINARY) {
  test(`gradcheck ${name} with broadcasting both ways, 0-d and non-contiguous operands`, () => {
    checkGrad((a, b) => f(a, b), [pos([3, 4], 2), pos([3, 4], 3)]);
    checkGrad((a, b) => f(a, b), [pos([3, 1], 4), pos([1, 4], 5)]);
    checkGrad((a, b) => f(a, b), [pos([4], 6), pos([2, 3, 4], 7)]);
    checkGrad((a, b) => f(a, b), [pos([], 8), pos([2, 3], 9)]);
    checkGrad((a, b) => f(a.t(), b.slice(1, 0, undefined, 2)), [pos([4, 3], 10), pos([3, 8], 11)]);
    checkGrad((a) => f(a, 1.5), [pos([2, 3], 12)]);
    checkGrad((b) => f(1.5, b), [pos([2, 3], 13)]);
  });
}

test('gradcheck binary ops on random broadcast-compatible shapes', () => {
  const g = new st.Generator(99);
  const draw = (n: number) => [...g.integers(n, 0, 4)];
  for (let trial = 0; trial < 8; trial++) {
    const [ndim] = draw(1);
    const full = draw(ndim!).map((s) => s + 1);
    // Each side keeps a random suffix of the dims and sets some of them to 1.
    const side = () => {
      const [drop] = draw(1);
      return full.slice(Math.min(drop!, ndim!)).map((s) => (draw(1)[0]! === 0 ? 1 : s));
    };
    const [sa, sb] = [side(), side()];
    for (const [name, f] of BINARY) {
      assert.doesNotThrow(() => checkGrad((a, b) => f(a, b), [pos(sa, 2 * trial), pos(sb, 2 * trial + 1)]), `${name} ${sa} & ${sb}`);
    }
  }
});

test('gradcheck casts between float32 and float64', () => {
  // The float32 round trip is only accurate to ~1e-7, so the step is large; x * x is quadratic, so
  // central differences are exact at any step.
  checkGrad((x) => st.to(st.to(x, 'float32'), 'float64').mul(x), [randn64([2, 3], 30, true)], { eps: 1e-2 });
});

test('addcmul refuses shapes that do not broadcast and integer tensors, naming itself and the shapes', () => {
  assert.throws(() => st.addcmul(st.ones(2, 3), st.ones(4), st.ones(3)), (e: Error) =>
    e instanceof st.ShapeError && /addcmul/.test(e.message) && /\[2, 3\]/.test(e.message) && /\[4\]/.test(e.message));
  assert.throws(() => st.addcmul(st.ones(3), st.ones(3, { dtype: 'int32' }), st.ones(3)), (e: Error) =>
    e instanceof st.DTypeError && /addcmul/.test(e.message) && /int32/.test(e.message));
  assertValues(st.addcmul(st.tensor([1, 2]), st.tensor([3, 4]), st.tensor([5, 6]), 0.5), [8.5, 14], 'input + 0.5·t1·t2');
});

test('gradcheck addcmul, broadcasting all three operands, with and without a value', () => {
  checkGrad((x, a, b) => st.addcmul(x, a, b), [randn64([1, 3, 1], 23, true), randn64([2, 3, 4], 24, true), randn64([3, 1], 25, true)]);
  checkGrad((x, a, b) => st.addcmul(x.t(), a, b, -0.25), [randn64([4, 3], 26, true), randn64([3, 4], 27, true), randn64([4], 28, true)]);
});

test('gradcheck where, clamp, remainder', () => {
  const cond = randn64([3, 4], 20).gt(0);
  checkGrad((a, b) => st.where(cond, a, b), [randn64([3, 1], 21, true), randn64([4], 22, true)]);
  // Stay 0.1 away from the clamp bounds, where the gradient jumps.
  const x = st.tensor([[-2, -0.7, -0.3, 0.2], [0.45, 0.7, 1.3, -1.1]], { dtype: 'float64', requires_grad: true });
  checkGrad((t) => st.clamp(t, -0.5, 0.6), [x]);
  checkGrad((t) => st.clamp(t.t(), null, 0.6), [x]);
  const a = st.tensor([5.5, -5.3, 5.2, -5.7, 3.1], { dtype: 'float64', requires_grad: true });
  const b = st.tensor([2.1, 2.2, -2.3, -1.7, 1.5], { dtype: 'float64', requires_grad: true });
  checkGrad((p, q) => st.remainder(p, q), [a, b]);
});

// ---------------------------------------------------------------- worked examples

test('maximum/minimum split the gradient in half on ties', () => {
  const a = st.tensor([1, 2, 3], { requires_grad: true });
  const b = st.tensor([1, 5, 0], { requires_grad: true });
  st.maximum(a, b).sum().backward();
  assertValues(a.grad!, [0.5, 0, 1], 'd max / da');
  assertValues(b.grad!, [0.5, 1, 0], 'd max / db');
  const c = st.tensor([2, 2], { requires_grad: true });
  st.minimum(c, 2).mul(st.tensor([4, 6])).sum().backward();
  assertValues(c.grad!, [2, 3], 'd min(c, 2) / dc with every element tied');
});

test('pow: zero base gives a zero exponent gradient; x**0 has zero base gradient', () => {
  const x = st.tensor([0, 0, 2], { requires_grad: true });
  const e = st.tensor([0, 2, 3], { requires_grad: true });
  st.pow(x, e).sum().backward();
  // d/dx = e x^(e-1): 0 (e = 0), 0, 3*4; d/de = x^e log x: 0, 0, 8 log 2.
  assertValues(x.grad!, [0, 0, 12], 'd/dx');
  assertValues(e.grad!, [0, 0, 8 * Math.log(2)], 'd/de', 5);
});

test('clamp passes the gradient at the bounds and blocks it outside', () => {
  const x = st.tensor([-2, -1, 0, 1, 2], { requires_grad: true });
  const y = st.clamp(x, -1, 1);
  assertValues(y, [-1, -1, 0, 1, 1], 'clamp values');
  y.sum().backward();
  assertValues(x.grad!, [0, 1, 1, 1, 0], 'clamp gradient');
});

test('isnan/isinf/isfinite and ops on inf/nan follow IEEE as PyTorch', () => {
  const x = st.tensor([Number.NaN, Infinity, -Infinity, 0, -1.5]);
  assertValues(st.isnan(x), [true, false, false, false, false], 'isnan');
  assertValues(st.isinf(x), [false, true, true, false, false], 'isinf');
  assertValues(st.isfinite(x), [false, false, false, true, true], 'isfinite');
  assertValues(st.sigmoid(x), [Number.NaN, 1, 0, 0.5, 1 / (1 + Math.exp(1.5))].map(Math.fround), 'sigmoid');
  assertValues(st.relu(x), [Number.NaN, Infinity, 0, 0, 0], 'relu');
  assertValues(st.maximum(x, 0), [Number.NaN, Infinity, 0, 0, 0], 'maximum propagates NaN');
  assertValues(st.exp(st.tensor([-Infinity, Infinity])), [0, Infinity], 'exp at infinities');
});

test('sign of -0 and NaN is 0, as PyTorch computes (0 < x) - (x < 0)', () => {
  const s = st.sign(st.tensor([-0, Number.NaN, -2, 3])).dataSync();
  assert.deepEqual([...s], [0, 0, -1, 1]);
  assert.ok(Object.is(s[0], 0), 'sign(-0) is +0');
});

test('integer division by zero and negative integer powers raise instead of wrapping', () => {
  const i = st.tensor([5, -3], { dtype: 'int32' });
  assert.throws(() => st.floor_divide(i, st.tensor([2, 0], { dtype: 'int32' })), (e: Error) =>
    e instanceof st.StrideError && /^floor_divide:/.test(e.message) && /division by zero/.test(e.message));
  assert.throws(() => st.remainder(i, 0), (e: Error) => e instanceof st.StrideError && /^remainder:/.test(e.message) && /division by zero/.test(e.message));
  assert.throws(() => st.pow(i, -1), (e: Error) => e instanceof st.DTypeError && /^pow:/.test(e.message) && /-1/.test(e.message));
  assert.throws(() => st.pow(2, i), (e: Error) => e instanceof st.DTypeError && /^pow:/.test(e.message) && /-3/.test(e.message));
  assertValues(st.floor_divide(i, st.tensor([2, -2], { dtype: 'int32' })), [2, 1], 'floor division rounds down');
  assertValues(st.remainder(i, 2), [1, 1], 'remainder has the divisor\'s sign');
  assertValues(st.pow(i, 2), [25, 9], 'non-negative integer powers');
  assertValues(st.floor_divide(st.tensor([5, -5]), 0), [Infinity, -Infinity], 'float floor division by zero is inf');
});

test('a cast to an integer type records no graph, a float cast does', () => {
  const x = st.tensor([1.7, -2.2], { requires_grad: true });
  const i = x.int();
  assert.equal(i.requires_grad, false);
  assertValues(i, [1, -2], 'truncated');
  assert.equal(x.bool().requires_grad, false);
  const d = x.double();
  assert.equal(d.grad_fn!.name, 'to');
  d.mul(2).sum().backward();
  assert.equal(x.grad!.dtype, 'float32');
  assertValues(x.grad!, [2, 2], 'gradient cast back to float32');
});

test('erf matches reference values to float64 precision', () => {
  // erf(0.5), erf(1), erf(2), erf(-3) from Abramowitz & Stegun table 7.1 / mpmath.
  const x = st.tensor([0.5, 1, 2, -3, 0], { dtype: 'float64' });
  const want = [0.5204998778130465, 0.8427007929497149, 0.9953222650189527, -0.9999779095030014, 0];
  st.erf(x).dataSync().forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-15, `erf element ${i}: ${v} vs ${want[i]}`));
  // erf never leaves [-1, 1], also where the series is summed to many terms.
  const far = st.linspace(-7, 7, 1401, { dtype: 'float64' }).erf().dataSync();
  assert.ok(far.every((v) => v >= -1 && v <= 1), `erf out of [-1, 1]: ${far.filter((v) => Math.abs(v) > 1)}`);
});

// ---------------------------------------------------------------- dtypes

test('dtype promotion of binary ops follows PyTorch', () => {
  const i = st.tensor([1, 2, 3], { dtype: 'int32' });
  const f = st.tensor([1, 2, 3]);
  const d = st.tensor([1, 2, 3], { dtype: 'float64' });
  const b = st.tensor([true, false, true]);
  assert.equal(st.add(i, 0.5).dtype, 'float32', 'int + float scalar');
  assert.equal(st.add(i, 2).dtype, 'int32', 'int + int scalar');
  assert.equal(st.add(b, 2).dtype, 'int32', 'bool + int scalar');
  assertValues(st.add(b, 2), [3, 2, 3], 'bool + 2');
  assert.equal(st.add(b, b).dtype, 'bool', 'bool + bool');
  assert.equal(st.div(i, i).dtype, 'float32', 'int / int is true division');
  assertValues(st.div(st.tensor([7, -7], { dtype: 'int32' }), st.tensor([2, 2], { dtype: 'int32' })), [3.5, -3.5], '7 / 2');
  assert.equal(st.add(i, f).dtype, 'float32', 'int + float32');
  assert.equal(st.mul(f, d).dtype, 'float64', 'float32 * float64');
  assert.equal(st.exp(i).dtype, 'float32', 'exp(int)');
  assert.equal(st.neg(i).dtype, 'int32', 'neg(int) stays int');
  assert.equal(st.eq(f, 2).dtype, 'bool', 'comparison');
  // A 0-d tensor only promotes a dimensioned operand to a higher category (PyTorch's result_type).
  assert.equal(st.mul(f, st.scalar_tensor(2, { dtype: 'float64' })).dtype, 'float32', 'float32 [3] * 0-d float64');
  assert.equal(st.add(i, st.scalar_tensor(1.5, { dtype: 'float64' })).dtype, 'float64', 'int32 [3] + 0-d float64');
  assert.equal(st.add(st.tensor([1], { dtype: 'uint8' }), st.scalar_tensor(3, { dtype: 'int32' })).dtype, 'uint8', 'uint8 [1] + 0-d int32');
  assert.equal(st.where(st.tensor([true, false, true]), f, st.scalar_tensor(1, { dtype: 'float64' })).dtype, 'float32', 'where with a 0-d float64');
});

test('uint8 arithmetic wraps around as in PyTorch', () => {
  assertValues(st.sub(st.tensor([1, 2, 3], { dtype: 'uint8' }), 5), [252, 253, 254], 'uint8 - 5');
});

test('the gradient of a mixed-dtype op comes back in each input\'s dtype', () => {
  const a = st.tensor([1, 2], { requires_grad: true });
  const b = st.tensor([3, 4], { dtype: 'float64', requires_grad: true });
  st.mul(a, b).sum().backward();
  assert.equal(a.grad!.dtype, 'float32');
  assert.equal(b.grad!.dtype, 'float64');
  assertValues(a.grad!, [3, 4], 'da');
  assertValues(b.grad!, [1, 2], 'db');
});

test('comparisons and integer ops are not differentiable and record no graph', () => {
  const x = st.tensor([1, 2], { requires_grad: true });
  const c = st.gt(x, 1);
  assert.equal(c.requires_grad, false);
  assert.equal(c.grad_fn, null);
  assert.equal(st.floor_divide(x, 2).requires_grad, false);
});

// ---------------------------------------------------------------- in place

test('add_ and sub_ with alpha and addcmul_ update in one pass, rounded once, and read an overlapping operand as it was', () => {
  // p + α·v rounded once: -(1 + 2^-11) + (1 + 2^-12)·(1 + 2^-12) is 2^-24, where rounding α·v to float32 first gives 0.
  const near = 1 + 2 ** -12;
  const p = st.tensor([-(1 + 2 ** -11), 1]);
  p.add_(st.tensor([near, 2]), near);
  assertValues(p, [2 ** -24, 1 + 2 * near], 'p.add_(v, α)');
  const q = st.tensor([[1, 2], [3, 4]]);
  q.sub_(q.t(), 0.5);
  assertValues(q, [[0.5, 0.5], [2, 2]], 'q.sub_(q.t(), 0.5) reads q as it was');
  const r = st.tensor([[1, 2], [3, 4]]);
  r.addcmul_(r.t(), st.tensor([10, 100]), 0.5);
  assertValues(r, [[6, 152], [13, 204]], 'r.addcmul_(r.t(), [10, 100], 0.5)');
  assertValues(st.ones(2, 3).addcmul_(st.tensor([1, 2, 3]), 2), [[3, 5, 7], [3, 5, 7]], 'addcmul_ by a number');
  assert.throws(() => st.ones(3).addcmul_(st.ones(2, 3), st.ones(3)), (e: Error) =>
    e instanceof st.ShapeError && /addcmul_/.test(e.message) && /\[3\]/.test(e.message) && /\[2, 3\]/.test(e.message));
  assert.throws(() => st.ones(3, { dtype: 'int32' }).addcmul_(st.ones(3), st.ones(3)), (e: Error) =>
    e instanceof st.DTypeError && /addcmul_/.test(e.message));
  const w = st.ones(3, { requires_grad: true });
  assert.throws(() => st.ones(3).addcmul_(w, st.ones(3)), (e: Error) => e instanceof st.AutogradError && /operand requires grad/.test(e.message));
  assert.throws(() => st.ones(3).add_(w, 2), (e: Error) => e instanceof st.AutogradError && /operand requires grad/.test(e.message));
});


test('in-place ops write through, refuse broadcasting the target and bad dtypes', () => {
  const x = st.zeros(2, 3);
  st.add_(x, st.tensor([1, 2, 3]));
  x.mul_(2).sub_(1, 0.5).div_(2);
  assertValues(st.add(st.tensor([1, 2]), 2, 3), [7, 8], 'add with a number operand and alpha');
  assertValues(st.sub(st.tensor([1, 2]), st.tensor([1, 1]), -2), [3, 4], 'sub with a tensor operand and alpha');
  assertValues(x, [[0.75, 1.75, 2.75], [0.75, 1.75, 2.75]], 'add_ mul_ sub_ div_');
  assert.throws(() => st.add_(st.zeros(3), st.zeros(2, 3)), (e: Error) =>
    e instanceof st.ShapeError && /add_/.test(e.message) && /\[3\]/.test(e.message) && /\[2, 3\]/.test(e.message));
  assert.throws(() => st.add_(st.zeros(3, { dtype: 'int32' }), 0.5), (e: Error) =>
    e instanceof st.DTypeError && /add_/.test(e.message) && /int32/.test(e.message));
  assert.throws(() => st.fill_(st.zeros(1).expand(3), 1), (e: Error) =>
    e instanceof st.ShapeError && /fill_/.test(e.message) && /expanded/.test(e.message));
  assertValues(st.clamp_(st.tensor([-2, 0.5, 2]), -1, 1), [-1, 0.5, 1], 'clamp_');
});

// ---------------------------------------------------------------- bad input

test('mismatched broadcast names the op and both shapes', () => {
  for (const [name, f] of BINARY) {
    assert.throws(() => f(st.zeros(2, 3), st.zeros(4)), (e: Error) =>
      // rsub is sub with its operands swapped, and is reported as sub.
      e instanceof st.ShapeError && e.message.startsWith(`${name === 'rsub' ? 'sub' : name}:`) && e.message.includes('[2, 3]') && e.message.includes('[4]'),
    `${name} with shapes [2,3] and [4]`);
  }
  assert.throws(() => st.where(st.zeros(2).gt(0), st.zeros(3), 0), (e: Error) =>
    e instanceof st.ShapeError && /where/.test(e.message) && /\[2\]/.test(e.message) && /\[3\]/.test(e.message));
});

test('where needs a bool condition; clamp needs a bound; operands must be tensors or numbers', () => {
  assert.throws(() => st.where(st.zeros(2), st.zeros(2), 0), (e: Error) =>
    e instanceof st.DTypeError && /where/.test(e.message) && /float32/.test(e.message));
  assert.throws(() => st.clamp(st.zeros(2)), (e: Error) => e instanceof st.ShapeError && /clamp/.test(e.message));
  assert.throws(() => st.add(st.zeros(2), '1' as unknown as number), (e: Error) =>
    e instanceof st.DTypeError && /add/.test(e.message) && /string/.test(e.message));
});
