import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as st from '../src/index.js';
import { philox4x32 } from '../src/tensor/random.js';

const hex = (words: readonly number[]) => words.map((w) => w.toString(16).padStart(8, '0')).join(' ');

test('Philox4x32-10 matches the Random123 known-answer vectors', () => {
  // Random123's tests/kat_vectors, the "philox4x32 10" lines: counter (4 words), key (2 words) -> output.
  const kat: [[number, number, number, number], [number, number], string][] = [
    [[0, 0, 0, 0], [0, 0], '6627e8d5 e169c58d bc57ac4c 9b00dbd8'],
    [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], '408f276d 41c83b0e a20bc7c6 6d5451fd'],
    [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], 'd16cfe09 94fdcceb 5001e420 24126ea1'],
  ];
  for (const [counter, key, want] of kat) assert.equal(hex(philox4x32(counter, key)), want, `counter ${hex(counter)} key ${hex(key)}`);
});

test('a generator draws block b of its stream from counter (b, 0, 0, 0) and key (seed lo, seed hi)', () => {
  const g = new st.Generator(0);
  assert.equal(hex([...g.uint32(4)]), '6627e8d5 e169c58d bc57ac4c 9b00dbd8', 'seed 0, block 0 is the first KAT');
  assert.equal(hex([...g.uint32(4)]), hex(philox4x32([1, 0, 0, 0], [0, 0])), 'block 1');
  const big = new st.Generator(2 ** 32 + 5);
  assert.equal(hex([...big.uint32(4)]), hex(philox4x32([0, 0, 0, 0], [5, 1])), 'a seed above 2^32 fills the second key word');
  assert.throws(() => new st.Generator(-1), (e: Error) => e instanceof st.StrideError && /^manual_seed:/.test(e.message) && /-1/.test(e.message));
  assert.throws(() => st.manual_seed(1.5), (e: Error) => e instanceof st.StrideError && /1\.5/.test(e.message));
});

test('the same seed gives the same numbers; another seed gives others', () => {
  st.manual_seed(1234);
  const a = st.rand(50).tolist();
  const n = st.randn(7).tolist();
  st.manual_seed(1234);
  assert.deepEqual(st.rand(50).tolist(), a);
  assert.deepEqual(st.randn(7).tolist(), n);
  st.manual_seed(1235);
  assert.notDeepEqual(st.rand(50).tolist(), a);
  const g1 = new st.Generator(9);
  const g2 = new st.Generator(9);
  assert.deepEqual(st.randint(0, 100, [20], { generator: g1 }).tolist(), st.randint(0, 100, [20], { generator: g2 }).tolist());
  assert.equal(g1.initial_seed(), 9);
});

test('get_state / set_state resume the stream where it was', () => {
  const g = new st.Generator(77);
  st.rand([5], { generator: g });
  const state = g.get_state();
  assert.deepEqual(state, { seed: 77, offset: 2 }, '5 uniforms consume 2 blocks of 4');
  const next = st.randn([6], { generator: g }).tolist();
  const h = new st.Generator(0).set_state(state);
  assert.deepEqual(st.randn([6], { generator: h }).tolist(), next);
  g.set_state(state);
  assert.deepEqual(st.randn([6], { generator: g }).tolist(), next);
  assert.throws(() => g.set_state({ seed: 1, offset: 2.5 }), (e: Error) => e instanceof st.StrideError && /^set_state:/.test(e.message) && /2\.5/.test(e.message));
});

test('rand is uniform on [0, 1) in float32 and float64', () => {
  const g = new st.Generator(3);
  for (const dtype of ['float32', 'float64'] as const) {
    const x = st.rand([40000], { generator: g, dtype });
    assert.equal(x.dtype, dtype);
    const v = x.dataSync();
    let lo = 1;
    let hi = 0;
    const buckets = new Array<number>(10).fill(0);
    for (const u of v) {
      lo = Math.min(lo, u);
      hi = Math.max(hi, u);
      buckets[Math.floor(u * 10)]!++;
    }
    assert.ok(lo >= 0 && hi < 1, `${dtype}: range [${lo}, ${hi}]`);
    // Chi-square with 9 degrees of freedom: P(> 27.9) = 0.001.
    const chi2 = buckets.reduce((s, c) => s + (c - 4000) ** 2 / 4000, 0);
    assert.ok(chi2 < 27.9, `${dtype}: chi-square ${chi2} over deciles ${buckets}`);
  }
  assert.throws(() => st.rand([2], { dtype: 'int32' }), (e: Error) => e instanceof st.DTypeError && /^rand:/.test(e.message));
});

test('randn has mean 0 and variance 1 within statistical bounds', () => {
  const n = 100000;
  const v = st.randn([n], { generator: new st.Generator(11), dtype: 'float64' }).dataSync();
  let sum = 0;
  let sq = 0;
  let tails = 0;
  for (const x of v) {
    sum += x;
    sq += x * x;
    if (Math.abs(x) > 1.959964) tails++;
  }
  const mean = sum / n;
  const variance = sq / n - mean * mean;
  // Five standard errors: sd(mean) = 1/sqrt(n), sd(variance) = sqrt(2/n), sd(tail fraction) = sqrt(.05*.95/n).
  assert.ok(Math.abs(mean) < 5 / Math.sqrt(n), `mean ${mean}`);
  assert.ok(Math.abs(variance - 1) < 5 * Math.sqrt(2 / n), `variance ${variance}`);
  assert.ok(Math.abs(tails / n - 0.05) < 5 * Math.sqrt(0.05 * 0.95 / n), `fraction beyond 1.96: ${tails / n}`);
  const odd = st.randn([3, 3], { generator: new st.Generator(1) });
  assert.deepEqual([...odd.shape], [3, 3], 'an odd count of normals');
  assert.ok([...odd.dataSync()].every(Number.isFinite));
});

test('randint stays in [low, high) and reaches every value', () => {
  const x = st.randint(-3, 4, [5000], { generator: new st.Generator(5) });
  assert.equal(x.dtype, 'int32');
  const seen = new Set(x.dataSync());
  assert.deepEqual([...seen].sort((a, b) => a - b), [-3, -2, -1, 0, 1, 2, 3]);
  assert.deepEqual(st.randint(7, 8, [4]).tolist(), [7, 7, 7, 7]);
  assert.throws(() => st.randint(3, 3, [2]), (e: Error) => e instanceof st.StrideError && /^randint:/.test(e.message) && /low=3/.test(e.message));
  assert.throws(() => st.randint(0, 2.5, [2]), (e: Error) => e instanceof st.StrideError && /^randint:/.test(e.message));
});

test('randperm is a permutation, and every ordering is about equally likely', () => {
  const p = st.randperm(50, { generator: new st.Generator(8) });
  assert.equal(p.dtype, 'int32');
  assert.deepEqual([...p.dataSync()].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual(st.randperm(0).tolist(), []);
  const g = new st.Generator(21);
  const counts = new Map<string, number>();
  for (let i = 0; i < 6000; i++) {
    const key = st.randperm(3, { generator: g }).tolist().toString();
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  assert.equal(counts.size, 6, 'all 6 orderings of 3 occur');
  // Chi-square with 5 degrees of freedom: P(> 20.5) = 0.001.
  const chi2 = [...counts.values()].reduce((s, c) => s + (c - 1000) ** 2 / 1000, 0);
  assert.ok(chi2 < 20.5, `chi-square ${chi2}: ${[...counts.entries()]}`);
});

test('rand_like and randn_like keep shape and dtype', () => {
  const t = st.zeros(2, 3, { dtype: 'float64' });
  const r = st.rand_like(t);
  assert.deepEqual([...r.shape], [2, 3]);
  assert.equal(r.dtype, 'float64');
  assert.equal(st.randn_like(t, { dtype: 'float32' }).dtype, 'float32');
});
