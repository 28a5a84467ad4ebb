/**
 * The native backend's primitives against the reference backend's on random inputs: every conv
 * option, matmul layouts and batch broadcasting, pooling, elementwise ops on special values,
 * reductions, gather/scatter, and the error paths. Skipped, with a notice, without the addon.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { nativeBackend, nativeStatus, setThreads } from '../src/backend/native/index.js';
import { IndexError, referenceBackend, type Backend, type DType, type TypedArray, type View } from '../src/index.js';
import type { AvgPoolOptions, BinaryOp, Conv2dParams, Pool2dParams, ReduceOp, UnaryOp } from '../src/backend/backend.js';
import { allocArray } from '../src/tensor/dtype.js';
import { contiguousStrides } from '../src/tensor/shape.js';

const status = nativeStatus();
if (!status.available) console.log(`NOTICE: native backend unavailable: ${status.reason}; skipping test/native.test.ts`);
const skip = status.available ? false : `native backend unavailable: ${status.reason}`;
const native = nativeBackend as Backend<TypedArray>;
const ref = referenceBackend;

/** mulberry32: reproducible inputs. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(42);

/** A view of `shape` (strides default to contiguous) at `offset` in a fresh buffer filled by `values`. */
function view(shape: number[], opts: { dtype?: DType; strides?: number[]; offset?: number; values?: (i: number) => number } = {}): View<TypedArray> {
  const { dtype = 'float32', strides = contiguousStrides(shape), offset = 0, values = () => rand() * 2 - 1 } = opts;
  let extent = offset + 1;
  for (let d = 0; d < shape.length; d++) extent += (shape[d]! - 1) * strides[d]!;
  const buffer = allocArray(dtype, Math.max(extent, 0) + 3);
  for (let i = 0; i < buffer.length; i++) buffer[i] = values(i);
  return { buffer, dtype, shape, strides, offset };
}

/** A copy of `v` with its own buffer: both backends start from the same (random) contents, so an element one leaves unwritten shows. */
function like(v: View<TypedArray>): View<TypedArray> {
  return { ...v, buffer: v.buffer.slice() };
}

/** The elements of v, in row-major order of its shape. */
function elements(v: View<TypedArray>): number[] {
  const out: number[] = [];
  const walk = (d: number, off: number): void => {
    if (d === v.shape.length) {
      out.push(v.buffer[off]!);
      return;
    }
    for (let i = 0; i < v.shape[d]!; i++) walk(d + 1, off + i * v.strides[d]!);
  };
  walk(0, v.offset);
  return out;
}

/**
 * Equal up to 1e-5 relative to each value and to the tensor's largest magnitude (float32 sums in
 * another order), or to each value alone when `scaled` is false (elementwise results).
 */
function assertClose(actual: View<TypedArray>, expected: View<TypedArray>, what: string, scaled = true): void {
  const rtol = 1e-5;
  const a = elements(actual);
  const e = elements(expected);
  const scale = scaled ? Math.max(0, ...e.map(Math.abs).filter(Number.isFinite)) : 0;
  e.forEach((ev, i) => {
    const av = a[i]!;
    const ok = Object.is(av, ev) || (Number.isNaN(av) && Number.isNaN(ev)) || Math.abs(av - ev) <= rtol * (Math.abs(ev) + scale);
    assert.ok(ok, `${what}: element ${i} is ${av}, expected ${ev}`);
  });
}

/** Bit-for-bit equal (NaN to NaN, and -0 distinct from 0). */
function assertSame(actual: View<TypedArray>, expected: View<TypedArray>, what: string): void {
  const a = elements(actual);
  elements(expected).forEach((ev, i) => assert.ok(Object.is(a[i], ev) || (Number.isNaN(a[i]) && Number.isNaN(ev)), `${what}: element ${i} is ${a[i]}, expected ${ev}`));
}

/**
 * Runs a primitive on both backends, each writing its own copy of `outs`, and compares the
 * results: bit for bit when `how` is 'exact' (and for integer outputs), else assertClose.
 */
function compare(what: string, outs: View<TypedArray>[], run: (b: Backend<TypedArray>, outs: View<TypedArray>[]) => void, how: 'exact' | 'scaled' | 'relative' = 'scaled'): void {
  const mine = outs.map(like);
  const theirs = outs.map(like);
  run(ref, theirs);
  run(native, mine);
  mine.forEach((m, i) => {
    if (how === 'exact' || m.dtype === 'int32' || m.dtype === 'bool') assertSame(m, theirs[i]!, `${what} [output ${i}]`);
    else assertClose(m, theirs[i]!, `${what} [output ${i}]`, how === 'scaled');
  });
}

describe('native backend', { skip }, () => {
  test('reports its ISA and thread count', () => {
    assert.equal(status.available, true);
    assert.match(status.isa!, /^(sse41|avx|avx2|avx2_vnni|avx512_\w+|baseline)$/);
    assert.ok(status.threads! >= 1);
  });

  describe('conv2d, its input gradient and its weight gradient', () => {
    interface ConvCase { name: string; x: [number, number, number, number]; w: [number, number, number, number]; p: Partial<Conv2dParams>; gx?: [number, number] }
    const cases: ConvCase[] = [
      { name: '3x3, padding 1', x: [2, 3, 9, 8], w: [4, 3, 3, 3], p: { padding: [1, 1] } },
      { name: 'stride 2 with trailing rows no window reaches', x: [2, 3, 10, 9], w: [5, 3, 3, 3], p: { stride: [2, 2] } },
      { name: 'dilation 2, padding 2', x: [1, 2, 11, 10], w: [3, 2, 3, 3], p: { padding: [2, 2], dilation: [2, 2] } },
      { name: 'groups 2', x: [2, 4, 7, 7], w: [6, 2, 3, 3], p: { padding: [1, 1], groups: 2 } },
      { name: 'depthwise, stride 2', x: [2, 8, 9, 9], w: [8, 1, 3, 3], p: { padding: [1, 1], stride: [2, 2], groups: 8 } },
      { name: '1x1', x: [3, 16, 5, 6], w: [8, 16, 1, 1], p: {} },
      { name: 'asymmetric kernel, stride, padding and dilation', x: [2, 3, 12, 13], w: [4, 3, 3, 5], p: { stride: [2, 1], padding: [1, 2], dilation: [1, 2] } },
      { name: 'one input channel (LeNet C1)', x: [4, 1, 12, 12], w: [6, 1, 5, 5], p: { padding: [2, 2] } },
      { name: 'padding wider than the kernel', x: [1, 2, 4, 5], w: [3, 2, 2, 2], p: { padding: [3, 3] } },
      { name: 'every window in the padding', x: [1, 2, 1, 1], w: [2, 2, 1, 1], p: { padding: [1, 1], stride: [3, 3] } },
      // Input gradients larger than the forward output needs (a transposed conv's output_padding).
      { name: 'input gradient with output_padding', x: [2, 3, 10, 9], w: [4, 3, 2, 2], p: { stride: [3, 3] }, gx: [10, 9] },
      { name: 'dilated input gradient with output_padding', x: [1, 2, 6, 7], w: [1, 2, 2, 2], p: { dilation: [2, 2] }, gx: [6, 7] },
    ];
    for (const c of cases) {
      test(c.name, () => {
        const p: Conv2dParams = { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1, ...c.p };
        const [N, , H, W] = c.x;
        const [O, , KH, KW] = c.w;
        const size = (i: number, k: number, d: 0 | 1) => Math.floor((i + 2 * p.padding[d] - p.dilation[d] * (k - 1) - 1) / p.stride[d]) + 1;
        // output_padding: the forward output of an input 1-2 rows/columns smaller.
        const [OH, OW] = c.gx ? [size(H - 2, KH, 0), size(W - 1, KW, 1)] : [size(H, KH, 0), size(W, KW, 1)];
        const x = view(c.x, { offset: 5 });
        const w = view(c.w, { offset: 2 });
        const gy = view([N, O, OH, OW], { offset: 7 });
        const y = view([N, O, OH, OW], { offset: 3 });
        if (!c.gx) compare('forward', [y], (b, [o]) => b.conv2d(x, w, o!, p));
        compare('input gradient', [view(c.x, { offset: 1 })], (b, [gx]) => b.conv2dInputGrad(gy, w, gx!, p));
        compare('weight gradient', [view(c.w, { offset: 4 })], (b, [gw]) => b.conv2dWeightGrad(x, gy, gw!, p));
      });
    }

    test('a bad geometry is a JS error naming the primitive and shapes, not a crash', () => {
      const x = view([1, 2, 5, 5]);
      const w = view([3, 2, 3, 3]);
      const y = view([1, 3, 3, 3]);
      assert.throws(() => native.conv2d(x, w, y, { stride: [1, 1], padding: [0, 0], dilation: [0, 1], groups: 1 }),
        /stride native conv2d: convolution forward of x \[1, 2, 5, 5\] and w \[3, 2, 3, 3\].*oneDNN invalid arguments/);
      // Groups that do not divide the channels are refused before oneDNN sees them.
      assert.throws(() => native.conv2d(x, w, y, { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 3 }), /inconsistent geometry/);
      // A view reaching past its buffer is refused, not read.
      assert.throws(() => native.conv2d({ ...x, offset: x.buffer.length - 10 }, w, y, { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 }),
        /needs elements \[\d+, \d+\) of a buffer of \d+/);
    });
  });

  describe('matmul', () => {
    const mm = (name: string, a: View<TypedArray>, c: View<TypedArray>, out = view([a.shape[0]!, a.shape[1]!, c.shape[2]!])) =>
      test(name, () => compare(name, [out], (b, [o]) => b.matmul(a, c, o!)));
    mm('contiguous batches', view([2, 5, 7]), view([2, 7, 3]));
    mm('256 x 256', view([1, 256, 256]), view([1, 256, 256]));
    mm('transposed a', view([2, 6, 4], { strides: [24, 1, 6] }), view([2, 4, 5]));
    mm('transposed c', view([3, 6, 4]), view([3, 4, 5], { strides: [20, 1, 4] }));
    mm('broadcast c (batch stride 0)', view([4, 6, 4], { offset: 3 }), view([4, 4, 5], { strides: [0, 5, 1], offset: 1 }));
    mm('broadcast a', view([4, 6, 4], { strides: [0, 4, 1] }), view([4, 4, 5]));
    mm('both broadcast', view([3, 6, 4], { strides: [0, 4, 1] }), view([3, 4, 5], { strides: [0, 1, 4] }));
    mm('strides oneDNN has no fast kernel for', view([2, 5, 6], { strides: [70, 14, 2] }), view([2, 6, 3], { strides: [0, 6, 2] }));
    mm('transposed out', view([2, 5, 6]), view([2, 6, 3]), view([2, 5, 3], { strides: [15, 1, 5] }));
    mm('row vector times matrix', view([1, 1, 9]), view([1, 9, 7]));
    test('K = 0 gives zeros', () => {
      const out = view([2, 3, 4]);
      native.matmul(view([2, 3, 0]), view([2, 0, 4]), out);
      assert.deepEqual(elements(out), new Array(24).fill(0));
    });
  });

  describe('pooling', () => {
    const window = (k: number, s: number, pad = 0, d = 1): Pool2dParams => ({ kind: 'window', kernel: [k, k], stride: [s, s], padding: [pad, pad], dilation: [d, d] });
    const cases: { name: string; x: number[]; out: [number, number]; p: Pool2dParams; nan?: boolean }[] = [
      { name: '2x2 stride 2', x: [2, 3, 8, 8], out: [4, 4], p: window(2, 2) },
      { name: '3x3 stride 2 padding 1', x: [2, 2, 9, 7], out: [5, 4], p: window(3, 2, 1) },
      { name: 'dilation 2', x: [1, 2, 9, 9], out: [5, 5], p: window(3, 1, 0, 2) },
      { name: 'ceil mode: the last window is clipped', x: [1, 3, 7, 7], out: [3, 3], p: window(3, 3) },
      { name: 'adaptive 7 -> 3', x: [2, 2, 7, 10], out: [3, 4], p: { kind: 'adaptive' } },
      { name: 'adaptive 5 -> 7 (overlapping)', x: [1, 2, 5, 5], out: [7, 7], p: { kind: 'adaptive' } },
      { name: 'NaN propagation', x: [1, 2, 6, 6], out: [3, 3], p: window(2, 2), nan: true },
    ];
    const avgOptions: AvgPoolOptions[] = [
      { countIncludePad: true, divisorOverride: null },
      { countIncludePad: false, divisorOverride: null },
      { countIncludePad: false, divisorOverride: 3 },
    ];
    for (const c of cases) {
      test(c.name, () => {
        const values = c.nan ? () => (rand() < 0.15 ? NaN : rand() < 0.1 ? -Infinity : rand() - 0.5) : undefined;
        const x = view(c.x, { offset: 3, ...(values && { values }) });
        const shape = [c.x[0]!, c.x[1]!, ...c.out];
        compare('max', [view(shape), view(shape, { dtype: 'int32' })], (b, [o, i]) => b.maxPool2d(x, o!, i!, c.p), 'exact');
        const gy = view(shape, { offset: 2 });
        for (const opts of avgOptions) {
          compare(`avg ${JSON.stringify(opts)}`, [view(shape)], (b, [o]) => b.avgPool2d(x, o!, c.p, opts));
          compare(`avg grad ${JSON.stringify(opts)}`, [view(c.x)], (b, [gx]) => b.avgPool2dGrad(gy, gx!, c.p, opts));
        }
      });
    }
  });

  describe('elementwise', () => {
    const specials = [NaN, Infinity, -Infinity, 0, -0, 0.5, -0.5, 1.5, 2.5, -2.5, 1, -1, 3, 1e-30, -1e-30, 88.5, -88.5, 1e30, 7.25, -3.75];
    const special = (i: number): number => (i < specials.length ? specials[i]! : (rand() - 0.5) * 20);
    // Ops the reference computes exactly in float32 arithmetic: native must match bit for bit.
    const EXACT = new Set(['neg', 'abs', 'sign', 'sqrt', 'reciprocal', 'relu', 'floor', 'ceil', 'round', 'trunc', 'logical_not',
      'add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logical_and', 'logical_or', 'logical_xor']);

    const UNARY: UnaryOp[] = ['neg', 'abs', 'sign', 'exp', 'log', 'log1p', 'expm1', 'sqrt', 'rsqrt', 'reciprocal', 'sin', 'cos', 'tanh',
      'sigmoid', 'relu', 'floor', 'ceil', 'round', 'trunc', 'erf', 'logical_not'];
    for (const op of UNARY) {
      test(`unary ${op} on special values, contiguous and strided`, () => {
        const dtype: DType = op === 'logical_not' ? 'bool' : 'float32';
        const x = view([6, 8], { values: special });
        compare(op, [view([6, 8], { dtype })], (b, [o]) => b.unary(op, x, o!), EXACT.has(op) ? 'exact' : 'relative');
        const xt = view([8, 6], { strides: [1, 8], values: special });
        compare(`${op} transposed`, [view([8, 6], { dtype, offset: 2 })], (b, [o]) => b.unary(op, xt, o!), EXACT.has(op) ? 'exact' : 'relative');
      });
    }

    const BINARY: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'remainder', 'floor_divide', 'atan2',
      'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logical_and', 'logical_or', 'logical_xor'];
    const COMPARE = new Set<string>(['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logical_and', 'logical_or', 'logical_xor']);
    for (const op of BINARY) {
      test(`binary ${op}: special pairs, broadcasting and strides`, () => {
        const dtype: DType = COMPARE.has(op) ? 'bool' : 'float32';
        const n = specials.length;
        // Every pair of special values.
        const a = view([n, n], { strides: [1, 0], values: special });
        const b = view([n, n], { strides: [0, 1], values: special });
        compare(op, [view([n, n], { dtype })], (be, [o]) => be.binary(op, a, b, o!), EXACT.has(op) ? 'exact' : 'relative');
        const m = view([5, 7], { values: (i) => (i % 3 === 0 ? 2 : special(i)) });
        const scalar = view([5, 7], { strides: [0, 0], values: () => -1.5 });
        compare(`${op} scalar`, [view([5, 7], { dtype })], (be, [o]) => be.binary(op, m, scalar, o!), EXACT.has(op) ? 'exact' : 'relative');
        compare(`${op} scalar first`, [view([5, 7], { dtype })], (be, [o]) => be.binary(op, scalar, m, o!), EXACT.has(op) ? 'exact' : 'relative');
        const [c, ct] = [view([7, 5]), view([7, 5], { strides: [1, 7] })];
        compare(`${op} strided out`, [view([7, 5], { dtype, strides: [1, 7] })], (be, [o]) => be.binary(op, c, ct, o!), EXACT.has(op) ? 'exact' : 'relative');
      });
    }

    test('large broadcast ops run on several threads and agree', () => {
      const a = view([300, 400]);
      const row = view([300, 400], { strides: [0, 1] });
      compare('add by rows', [view([300, 400])], (b, [o]) => b.binary('add', a, row, o!), 'exact');
      const long = view([200000]);
      compare('exp long row', [view([200000])], (b, [o]) => b.unary('exp', long, o!), 'relative');
      const src = view([400, 300], { strides: [1, 400] });
      compare('copy transposed', [view([400, 300])], (b, [o]) => b.copy(src, o!), 'exact');
    });

    test('where with a broadcast condition', () => {
      const cond = view([4, 6], { dtype: 'bool', strides: [0, 1], values: (i) => i % 2 });
      const a = view([4, 6]);
      const b = view([4, 6], { strides: [1, 0] });
      compare('where', [view([4, 6])], (be, [o]) => be.where(cond, a, b, o!), 'exact');
    });

    test('copy keeps every dtype bit for bit; fill writes strided views', () => {
      for (const dtype of ['float32', 'float64', 'int32', 'uint8', 'bool'] as DType[]) {
        const values = dtype === 'bool' ? (i: number) => i % 2 : (i: number) => i * 7 - 20;
        const src = view([3, 4, 5], { dtype, strides: [1, 15, 3], values });
        compare(`copy ${dtype}`, [view([3, 4, 5], { dtype, offset: 1 })], (b, [o]) => b.copy(src, o!), 'exact');
        const row = view([3, 4], { dtype, strides: [0, 1], values });
        compare(`copy broadcast ${dtype}`, [view([3, 4], { dtype })], (b, [o]) => b.copy(row, o!), 'exact');
      }
      for (const dtype of ['float32', 'float64'] as DType[]) {
        compare(`fill ${dtype}`, [view([4, 5], { dtype, strides: [10, 2] })], (b, [o]) => b.fill(o!, -2.75), 'exact');
      }
    });
  });

  describe('reductions, gather and scatter_add', () => {
    const OPS: ReduceOp[] = ['sum', 'prod', 'max', 'min'];
    const shapes: { name: string; out: number[] }[] = [
      { name: 'trailing dims', out: [4, 5, 1, 1] },
      { name: 'leading dims', out: [1, 1, 6, 7] },
      { name: 'a middle dim', out: [4, 1, 6, 7] },
      { name: 'outer and inner dims', out: [1, 5, 1, 1] },
      { name: 'everything', out: [1, 1, 1, 1] },
    ];
    for (const op of OPS) {
      test(`${op} over trailing, leading, middle and all dims, with NaN and strided inputs`, () => {
        const values = op === 'prod' ? () => 0.5 + rand() : () => rand() - 0.5;
        const x = view([4, 5, 6, 7], { values });
        const xt = view([4, 5, 6, 7], { strides: [1, 4, 140, 20], values });
        for (const s of shapes) {
          compare(`${op} ${s.name}`, [view(s.out)], (b, [o]) => b.reduce(op, x, o!));
          compare(`${op} ${s.name} strided`, [view(s.out)], (b, [o]) => b.reduce(op, xt, o!));
        }
        const withNaN = view([3, 8], { values: (i) => (i === 13 ? NaN : rand()) });
        compare(`${op} NaN`, [view([3, 1])], (b, [o]) => b.reduce(op, withNaN, o!));
        // Broadcast inputs (stride 0 along reduced dims, e.g. the gradient of .sum()): the native
        // side reduces one copy and scales the sum.
        const channels = view([5], { values });
        const expanded = { ...channels, shape: [4, 5, 6, 7], strides: [0, 1, 0, 0] };
        const scalar = { ...view([1], { values }), shape: [4, 5, 6, 7], strides: [0, 0, 0, 0] };
        for (const s of shapes) {
          compare(`${op} ${s.name} of a broadcast vector`, [view(s.out)], (b, [o]) => b.reduce(op, expanded, o!));
          compare(`${op} ${s.name} of a broadcast scalar`, [view(s.out)], (b, [o]) => b.reduce(op, scalar, o!));
        }
      });
    }

    test('gather and scatter_add along each dim; a bad index throws the reference IndexError', () => {
      for (const dim of [0, 1]) {
        const x = view([5, 6]);
        const size = x.shape[dim]!;
        const index = view([4, 3], { dtype: 'int32', values: () => Math.floor(rand() * size) });
        compare(`gather dim ${dim}`, [view([4, 3])], (b, [o]) => b.gather(x, dim, index, o!), 'exact');
        const src = view([4, 3]);
        compare(`scatter_add dim ${dim}`, [view([5, 6])], (b, [o]) => b.scatterAdd(o!, dim, index, src));
      }
      const bad = view([2, 2], { dtype: 'int32', values: (i) => (i === 3 ? 5 : 0) });
      assert.throws(() => native.gather(view([3, 3]), 0, bad, view([2, 2])), (e) => e instanceof IndexError && /index 5 is out of bounds/.test((e as Error).message));
      assert.throws(() => native.scatterAdd(view([3, 3]), 1, bad, view([2, 2])), IndexError);
    });
  });

  test('one thread gives the same results; bad thread counts are refused', () => {
    const threads = status.threads!;
    const x = view([8, 16, 20, 20]);
    const w = view([16, 16, 3, 3]);
    const p: Conv2dParams = { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 };
    const many = view([8, 16, 20, 20]);
    native.conv2d(x, w, many, p);
    try {
      setThreads(1);
      assert.equal(nativeStatus().threads, 1);
      compare('conv on one thread', [view([8, 16, 20, 20])], (b, [o]) => b.conv2d(x, w, o!, p));
      const one = like(many);
      native.conv2d(x, w, one, p);
      assertClose(one, many, 'one thread vs many');
    } finally {
      setThreads(threads);
    }
    assert.throws(() => setThreads(0), /positive integer/);
    assert.throws(() => setThreads(1.5), /positive integer/);
  });

  test('signals during oneDNN calls (a sampling profiler) do not corrupt memory', () => {
    // oneDNN 2.6's threaded gemm corrupted the heap within a few thousand of these under node --cpu-prof.
    const dir = mkdtempSync(join(tmpdir(), 'stride-native-'));
    const script = `
      const { nativeBackend } = await import(${JSON.stringify(new URL('../src/backend/native/index.ts', import.meta.url).href)});
      const view = (shape, strides, size) => ({ buffer: new Float32Array(size).fill(1), dtype: 'float32', shape, strides, offset: 0 });
      for (let i = 0; i < 3000; i++) {
        const out = view([1, 64, 120], [7680, 120, 1], 7680);
        nativeBackend.matmul(view([1, 64, 400], [25600, 400, 1], 25600), view([1, 400, 120], [400, 1, 400], 48000), out);
        if (out.buffer[7679] !== 400) throw new Error('wrong product ' + out.buffer[7679]);
      }
      console.log('ok');`;
    try {
      const r = spawnSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--import', 'tsx', '--input-type=module', '-e', script], {
        encoding: 'utf8',
        env: { ...process.env, STRIDE_THREADS: '2' },
      });
      assert.equal(r.status, 0, `the child failed (${r.signal ?? r.status}): ${r.stderr}`);
      assert.equal(r.stdout.trim(), 'ok');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a view reaching past its buffer is a JS error', () => {
    const a = view([4, 4]);
    assert.throws(() => native.binary('add', { ...a, offset: 10 }, a, like(a)), /stride native binary: a view reaches elements \[10, 25\] of a buffer of 19/);
  });
});
