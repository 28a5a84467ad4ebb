import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Generator, ShapeError, StrideError, Tensor, empty, manual_seed, matmul } from '../src/index.js';
import { Parameter, init } from '../src/nn/index.js';
import { assertClose, throwsNaming } from './helpers.js';

/**
 * stride's generator is not PyTorch's, so initialisers are checked against PyTorch's
 * distributions: gains and fans exactly, and the mean, standard deviation and bounds of large
 * draws within five standard errors (a false alarm has probability below 1e-6).
 */
const fixture = JSON.parse(readFileSync(new URL('./fixtures/nn_utils.json', import.meta.url), 'utf8')) as {
  gains: { nonlinearity: init.Nonlinearity; param: number | null; gain: number }[];
  fans: { shape: number[]; fan_in: number; fan_out: number }[];
  init: { fn: string; shape: number[]; args: Record<string, number | string>; mean: number; std: number; bound: [number, number] | null }[];
};

const gen = (seed: number) => ({ generator: new Generator(seed) });

test('calculate_gain matches PyTorch for every nonlinearity', () => {
  for (const { nonlinearity, param, gain } of fixture.gains) {
    const got = init.calculate_gain(nonlinearity, param ?? undefined);
    assert.ok(Math.abs(got - gain) <= 1e-15 * gain, `${nonlinearity}(${param}): ${got}, PyTorch ${gain}`);
  }
  throwsNaming(() => init.calculate_gain('swish' as init.Nonlinearity), StrideError, 'calculate_gain', "'swish'", 'leaky_relu');
});

test('calculate_fan_in_and_fan_out matches PyTorch; fewer than 2 dims is an error', () => {
  for (const { shape, fan_in, fan_out } of fixture.fans) {
    assert.deepEqual(init.calculate_fan_in_and_fan_out(empty(shape)), [fan_in, fan_out], `shape [${shape}]`);
  }
  throwsNaming(() => init.calculate_fan_in_and_fan_out(empty([5])), ShapeError, 'fan in and fan out', '[5]');
  throwsNaming(() => init.xavier_uniform_(empty([5])), ShapeError, 'fewer than 2 dimensions');
  throwsNaming(() => init.kaiming_normal_(empty([])), ShapeError, 'fewer than 2 dimensions');
});

type Init = (t: Tensor, args: Record<string, number | string>, g: { generator: Generator }) => Tensor;

const INITS: Record<string, Init> = {
  uniform_: (t, a, g) => init.uniform_(t, a['a'] as number, a['b'] as number, g),
  normal_: (t, a, g) => init.normal_(t, a['mean'] as number, a['std'] as number, g),
  trunc_normal_: (t, a, g) => init.trunc_normal_(t, a['mean'] as number, a['std'] as number, a['a'] as number, a['b'] as number, g),
  xavier_uniform_: (t, a, g) => init.xavier_uniform_(t, a['gain'] as number, g),
  xavier_normal_: (t, a, g) => init.xavier_normal_(t, a['gain'] as number, g),
  kaiming_uniform_: (t, a, g) => init.kaiming_uniform_(t, { ...a, ...g }),
  kaiming_normal_: (t, a, g) => init.kaiming_normal_(t, { ...a, ...g }),
};

test('every initialiser draws from PyTorch\'s distribution: mean, std and bounds on large tensors', () => {
  for (const [i, c] of fixture.init.entries()) {
    const what = `${c.fn}(${JSON.stringify(c.args)}) on [${c.shape}]`;
    const t = INITS[c.fn]!(empty(c.shape), c.args, gen(100 + i));
    const v = t.dataSync();
    const n = v.length;
    let sum = 0;
    let min = Infinity;
    let max = -Infinity;
    for (const x of v) {
      sum += x;
      min = Math.min(min, x);
      max = Math.max(max, x);
    }
    const mean = sum / n;
    let ss = 0;
    for (const x of v) ss += (x - mean) ** 2;
    const std = Math.sqrt(ss / (n - 1));
    assert.ok(Math.abs(mean - c.mean) < (5 * c.std) / Math.sqrt(n), `${what}: mean ${mean}, expected ${c.mean}`);
    assert.ok(Math.abs(std / c.std - 1) < 5 / Math.sqrt(2 * n), `${what}: std ${std}, expected ${c.std}`);
    if (c.bound) {
      // Within the bounds, and reaching close to both (n draws leave a gap of about width/n).
      const [lo, hi] = c.bound;
      const slack = (50 * (hi - lo)) / n;
      assert.ok(min >= Math.fround(lo) && max <= Math.fround(hi), `${what}: range [${min}, ${max}] outside [${lo}, ${hi}]`);
      assert.ok(min < lo + slack && max > hi - slack, `${what}: range [${min}, ${max}] does not fill [${lo}, ${hi}]`);
    }
  }
  assert.deepEqual(new Set(fixture.init.map((c) => c.fn)), new Set(Object.keys(INITS)), 'every initialiser has a case');
});

test('xavier and kaiming scale exactly as PyTorch: the same draws as uniform_/normal_ with PyTorch\'s bound or std', () => {
  for (const c of fixture.init.filter((c) => c.fn.startsWith('xavier') || c.fn.startsWith('kaiming'))) {
    const got = INITS[c.fn]!(empty(c.shape), c.args, gen(9));
    const expected = c.bound ? init.uniform_(empty(c.shape), c.bound[0], c.bound[1], gen(9)) : init.normal_(empty(c.shape), 0, c.std, gen(9));
    assertClose(got, { shape: expected.shape, data: expected.dataSync() }, `${c.fn}(${JSON.stringify(c.args)}) on [${c.shape}]`, { rtol: 1e-6, scaled_atol: 0 });
  }
});

test('trunc_normal_ keeps every value inside [a, b], also far in the tail', () => {
  const t = init.trunc_normal_(empty([20000]), 0, 1, 2, 2.5, gen(1));
  const v = t.dataSync();
  assert.ok(v.every((x) => x >= 2 && x <= Math.fround(2.5)), 'inside [2, 2.5]');
  assert.ok(Math.min(...v) < 2.01 && Math.max(...v) > 2.49);
  throwsNaming(() => init.trunc_normal_(empty([3]), 0, 1, 1, 1), StrideError, 'trunc_normal_', 'a < b', 'a=1, b=1');
  throwsNaming(() => init.trunc_normal_(empty([3]), 0, 1, 50, 51), StrideError, 'trunc_normal_', 'tail');
});

test('constant_, zeros_, ones_ and eye_ write exact values', () => {
  assert.deepEqual(init.constant_(empty([2, 2]), 0.25).tolist(), [[0.25, 0.25], [0.25, 0.25]]);
  assert.deepEqual(init.zeros_(empty([3])).tolist(), [0, 0, 0]);
  assert.deepEqual(init.ones_(empty([1, 2], { dtype: 'float64' })).tolist(), [[1, 1]]);
  assert.deepEqual(init.eye_(empty([2, 3])).tolist(), [[1, 0, 0], [0, 1, 0]]);
  assert.deepEqual(init.eye_(empty([3, 2])).tolist(), [[1, 0], [0, 1], [0, 0]]);
  throwsNaming(() => init.eye_(empty([2, 2, 2])), ShapeError, 'eye_', '2-d', '[2, 2, 2]');
});

test('initialisers fill parameters in place without recording autograd, and return the tensor', () => {
  const p = new Parameter(empty([4, 3]));
  assert.equal(init.kaiming_uniform_(p), p);
  assert.equal(p.grad_fn, null);
  assert.ok(p.requires_grad);
  assert.equal(init.constant_(p, 2), p);
  assert.equal(p.sum().item(), 24);
});

test('kaiming initialisers reject an unknown mode', () => {
  throwsNaming(() => init.kaiming_uniform_(empty([3, 3]), { mode: 'fan_avg' as init.FanMode }), StrideError, "'fan_in' or 'fan_out'", "'fan_avg'");
  throwsNaming(() => init.kaiming_normal_(empty([3, 3]), { nonlinearity: 'gelu' as init.Nonlinearity }), StrideError, 'calculate_gain', "'gelu'");
});

/** max |A - gain²·I| for A = QᵀQ (tall) or QQᵀ (wide), with Q the tensor viewed as [size(0), rest]. */
function orthogonalityError(t: Tensor, gain: number): number {
  const q = t.reshape([t.shape[0]!, -1]).to('float64');
  const a = q.shape[0]! >= q.shape[1]! ? matmul(q.t(), q) : matmul(q, q.t());
  const k = a.shape[0]!;
  const v = a.dataSync();
  let err = 0;
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) err = Math.max(err, Math.abs(v[i * k + j]! - (i === j ? gain * gain : 0)));
  return err;
}

test('orthogonal_: QᵀQ = gain²·I for tall matrices, QQᵀ = gain²·I for wide ones and conv weights', () => {
  for (const [shape, gain] of [[[6, 3], 1], [[3, 5], 2], [[8, 2, 3, 3], 1], [[32, 2, 2, 2], Math.SQRT2], [[4, 4], 0.5]] as const) {
    const t = init.orthogonal_(empty([...shape]), gain, gen(3));
    const err = orthogonalityError(t, gain);
    assert.ok(err < 1e-6 * gain * gain, `orthogonal_ on [${shape}] with gain ${gain}: off by ${err}`);
  }
  // Random, not a fixed basis: two seeds give different matrices.
  assert.notDeepEqual(init.orthogonal_(empty([3, 3]), 1, gen(1)).tolist(), init.orthogonal_(empty([3, 3]), 1, gen(2)).tolist());
  throwsNaming(() => init.orthogonal_(empty([4])), ShapeError, 'orthogonal_', '2 or more dimensions', '[4]');
});

test('a seeded Generator makes every initialiser reproducible', () => {
  const draws: [string, (g: { generator: Generator }) => Tensor][] = [
    ['uniform_', (g) => init.uniform_(empty([50]), -1, 1, g)],
    ['normal_', (g) => init.normal_(empty([50]), 0, 1, g)],
    ['trunc_normal_', (g) => init.trunc_normal_(empty([50]), 0, 1, -1, 1, g)],
    ['xavier_normal_', (g) => init.xavier_normal_(empty([5, 10]), 1, g)],
    ['kaiming_uniform_', (g) => init.kaiming_uniform_(empty([5, 10]), g)],
    ['orthogonal_', (g) => init.orthogonal_(empty([5, 10]), 1, g)],
  ];
  for (const [name, draw] of draws) {
    assert.deepEqual(draw(gen(42)).tolist(), draw(gen(42)).tolist(), `${name}: same seed`);
    assert.notDeepEqual(draw(gen(42)).tolist(), draw(gen(43)).tolist(), `${name}: another seed`);
  }
  // Without a generator, the global one: manual_seed replays it.
  manual_seed(7);
  const a = init.normal_(empty([20])).tolist();
  const b = init.normal_(empty([20])).tolist();
  manual_seed(7);
  assert.deepEqual(init.normal_(empty([20])).tolist(), a);
  assert.notDeepEqual(a, b, 'the global generator advances');
});

test('initialisers honour the tensor\'s dtype', () => {
  const t = init.uniform_(empty([1000], { dtype: 'float64' }), 0, 1, gen(5));
  assert.equal(t.dtype, 'float64');
  // float64 draws carry more than float32's 24 bits.
  assert.ok(t.dataSync().some((x) => x !== Math.fround(x)));
  assertClose(init.constant_(empty([2], { dtype: 'float64' }), 0.1), { shape: [2], data: [0.1, 0.1] }, 'float64 constant', { rtol: 0, scaled_atol: 0 });
});
