/**
 * The primitive-comparison suite every backend passes ("one primitive list, one shared test
 * suite, every backend passes it"): a backend's primitives against the reference backend's on
 * random inputs. Every conv option (and large, chunked, multi-threaded convolutions), matmul
 * layouts and batch broadcasting, pooling, elementwise ops on special values, copy and fill,
 * reductions, argmax/argmin, gather/scatter, float64 and integer maths, and the error paths.
 *
 * Only the Backend interface is used: inputs are made as typed arrays (the reference's buffers),
 * uploaded to the backend under test with alloc + write, and its outputs read back with read.
 * test/<backend>.test.ts calls primitiveSuite inside its describe and adds what only that backend
 * has (threads, memory, builds).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IndexError, referenceBackend, type Backend, type DType, type TypedArray, type View } from '../src/index.js';
import type { AdamStep, AvgPoolOptions, BinaryOp, Conv2dParams, Pool2dParams, ReduceOp, SgdStep, UnaryOp } from '../src/backend/backend.js';
import { allocArray } from '../src/tensor/dtype.js';
import { contiguousStrides } from '../src/tensor/shape.js';

/** A view on a typed array: how inputs are made, and what the reference reads and writes. */
export type RView = View<TypedArray>;

/**
 * How outputs must agree: 'exact' bit for bit (NaN to NaN, -0 distinct from 0); 'scaled' up to
 * 1e-5 relative to each value and to the tensor's largest magnitude (float32 sums in another
 * order); 'relative' up to 1e-5 relative to each value alone (elementwise results).
 */
export type How = 'exact' | 'scaled' | 'relative';

/** Puts a reference view on a backend (the same geometry over its own copy of the buffer). */
export type Upload<B> = (r: RView) => View<B>;

/** A primitive call, run once on the reference and once on the backend under test. */
export type Run = <B>(backend: Backend<B>, outs: View<B>[], v: Upload<B>) => void;

/** mulberry32: reproducible inputs. */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The elements of v, in row-major order of its shape. */
export function elements(v: RView): number[] {
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

/** Asserts that `a` (the backend's) matches `e` (the reference's) as `how` says. */
export function assertMatch(a: number[], e: number[], what: string, how: How): void {
  const rtol = 1e-5;
  const scale = how === 'scaled' ? e.reduce((m, v) => (Number.isFinite(v) ? Math.max(m, Math.abs(v)) : m), 0) : 0;
  assert.equal(a.length, e.length, `${what}: ${a.length} elements, expected ${e.length}`);
  e.forEach((ev, i) => {
    const av = a[i]!;
    const ok = Object.is(av, ev) || (Number.isNaN(av) && Number.isNaN(ev)) || (how !== 'exact' && Math.abs(av - ev) <= rtol * (Math.abs(ev) + scale));
    assert.ok(ok, `${what}: element ${i} is ${av}, expected ${ev}`);
  });
}

export interface ViewOptions {
  dtype?: DType;
  strides?: number[];
  offset?: number;
  /** The buffer's element i (default: uniform in [-1, 1)). */
  values?: (i: number) => number;
}

/** Making inputs, putting them on a backend and comparing it with the reference. */
export interface Harness<B> {
  /** The harness's reproducible random numbers in [0, 1). */
  rand: () => number;
  /** A view of `shape` (strides default to contiguous) at `offset` in a fresh buffer (3 elements longer than it reaches) filled by `values`. */
  view(shape: number[], opts?: ViewOptions): RView;
  /** A copy of `v` with its own buffer. */
  like(v: RView): RView;
  /** Runs fn with an upload function; every buffer it uploads is freed afterwards. */
  uploaded<T>(fn: (up: Upload<B>) => T): T;
  /**
   * Runs a primitive on the reference and on the backend, each writing its own copy of `outs`,
   * and compares both the views and the whole buffers (so writes outside the views show too): bit
   * for bit when `how` is 'exact' and for integer outputs. Returns the backend's outputs.
   */
  compare(what: string, outs: RView[], run: Run, how?: How): RView[];
}

export function harness<B>(backend: Backend<B>, seed: number): Harness<B> {
  const ref = referenceBackend;
  const rand = rng(seed);

  const view = (shape: number[], opts: ViewOptions = {}): RView => {
    const { dtype = 'float32', strides = contiguousStrides(shape), offset = 0, values = () => rand() * 2 - 1 } = opts;
    let extent = offset + 1;
    for (let d = 0; d < shape.length; d++) extent += (shape[d]! - 1) * strides[d]!;
    const buffer = allocArray(dtype, Math.max(extent, 0) + 3);
    for (let i = 0; i < buffer.length; i++) buffer[i] = values(i);
    return { buffer, dtype, shape, strides, offset };
  };
  const like = (v: RView): RView => ({ ...v, buffer: v.buffer.slice() });

  const uploaded = <T>(fn: (up: Upload<B>) => T): T => {
    const buffers: B[] = [];
    const up: Upload<B> = (r) => {
      const buffer = backend.alloc(r.dtype, r.buffer.length);
      buffers.push(buffer);
      backend.write(buffer, r.dtype, 0, r.buffer);
      return { buffer, dtype: r.dtype, shape: r.shape, strides: r.strides, offset: r.offset };
    };
    try {
      return fn(up);
    } finally {
      for (const b of buffers) backend.free(b);
    }
  };

  const compare = (what: string, outs: RView[], run: Run, how: How = 'scaled'): RView[] => {
    const theirs = outs.map(like);
    run(ref, theirs, (r) => r);
    const mine = uploaded((up) => {
      const inputs = new Map<RView, View<B>>();
      const v: Upload<B> = (r) => inputs.get(r) ?? inputs.set(r, up(r)).get(r)!;
      const os = outs.map(up);
      run(backend, os, v);
      return os.map((o, i): RView => ({ ...outs[i]!, buffer: backend.read(o.buffer, o.dtype, 0, outs[i]!.buffer.length) }));
    });
    const whole = (v: RView): number[] => Array.from(v.buffer);
    mine.forEach((m, i) => {
      const t = theirs[i]!;
      const h = how === 'exact' || m.dtype === 'int32' || m.dtype === 'bool' ? 'exact' : how;
      assertMatch(elements(m), elements(t), `${what} [output ${i}]`, h);
      assertMatch(whole(m), whole(t), `${what} [output ${i}, whole buffer]`, h);
    });
    return mine;
  };

  return { rand, view, like, uploaded, compare };
}

export interface PrimitiveSuiteOptions {
  /** Seeds the random inputs. */
  seed?: number;
  /**
   * Unary and binary ops this backend computes bit for bit like the reference, besides those
   * every backend must (the ones exact in float32 arithmetic: neg, abs, sqrt, add, eq, ...).
   */
  exactOps?: readonly (UnaryOp | BinaryOp)[];
  /**
   * Sums (average pooling and its gradient, scatter_add) and reductions other than sum are
   * computed in the reference's order, so they match it bit for bit; otherwise to 'scaled'
   * tolerance. Reductions' sums always are compared to 'scaled' tolerance: they are worth
   * vectorising, which changes their order.
   */
  exactSums?: boolean;
  /**
   * The error `primitive` raises for an input view reaching elements [lo, hi] (inclusive) of a
   * buffer of `size` elements.
   */
  pastBuffer(primitive: 'binary' | 'conv2d', lo: number, hi: number, size: number): RegExp;
}

/** Ops exact in float32 arithmetic (or in float64 rounded once): every backend matches them bit for bit. */
const EXACT_OPS: readonly (UnaryOp | BinaryOp)[] = [
  'neg', 'abs', 'sign', 'sqrt', 'reciprocal', 'relu', 'floor', 'ceil', 'round', 'trunc', 'logical_not',
  'add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logical_and', 'logical_or', 'logical_xor',
  'relu_grad',
];

/** Regexp source matching `s` literally. */
export const literal = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Registers the shared comparison of `backend` with the reference backend as node:test describe
 * and test blocks (call it inside the backend's describe, which skips it when unavailable).
 */
export function primitiveSuite<B>(backend: Backend<B>, opts: PrimitiveSuiteOptions): void {
  const ref = referenceBackend;
  const { view, like, uploaded, compare, rand } = harness(backend, opts.seed ?? 7);
  const sums: How = opts.exactSums ? 'exact' : 'scaled';

  describe('conv2d, its input gradient and its weight gradient', () => {
    interface ConvCase { name: string; x: [number, number, number, number]; w: [number, number, number, number]; p: Partial<Conv2dParams>; gx?: boolean }
    const cases: ConvCase[] = [
      { name: '3x3, padding 1', x: [2, 3, 9, 8], w: [4, 3, 3, 3], p: { padding: [1, 1] } },
      { name: 'stride 2 with trailing rows no window reaches', x: [2, 3, 10, 9], w: [5, 3, 3, 3], p: { stride: [2, 2] } },
      { name: 'dilation 2, padding 2', x: [1, 2, 11, 10], w: [3, 2, 3, 3], p: { padding: [2, 2], dilation: [2, 2] } },
      { name: 'groups 2', x: [2, 4, 7, 7], w: [6, 2, 3, 3], p: { padding: [1, 1], groups: 2 } },
      { name: 'depthwise, stride 2', x: [2, 8, 9, 9], w: [8, 1, 3, 3], p: { padding: [1, 1], stride: [2, 2], groups: 8 } },
      { name: '1x1', x: [3, 16, 5, 6], w: [8, 16, 1, 1], p: {} },
      { name: '1x1 with groups', x: [2, 6, 4, 5], w: [9, 2, 1, 1], p: { groups: 3 } },
      { name: '1x1 stride 2', x: [2, 4, 7, 7], w: [3, 4, 1, 1], p: { stride: [2, 2] } },
      { name: 'asymmetric kernel, stride, padding and dilation', x: [2, 3, 12, 13], w: [4, 3, 3, 5], p: { stride: [2, 1], padding: [1, 2], dilation: [1, 2] } },
      { name: 'one input channel (LeNet C1)', x: [4, 1, 12, 12], w: [6, 1, 5, 5], p: { padding: [2, 2] } },
      // Native's direct kernels for few input channels: 8 + 3 output channels, rows of 2 whole
      // 16-column strips and a partial one, the widest kernel they take; then over threads.
      { name: 'few input channels, many outputs, wide rows', x: [3, 3, 7, 37], w: [11, 3, 3, 8], p: { padding: [1, 3] } },
      { name: 'LeNet C1 over threads', x: [16, 1, 28, 28], w: [6, 1, 5, 5], p: { padding: [2, 2] } },
      // Rows of 33 whose 16-lane copies would pass the padded row (native copies them one by one).
      { name: 'few input channels, rows wider than their strips', x: [2, 1, 6, 33], w: [4, 1, 5, 5], p: {} },
      // 4,761 outputs per plane: wasm's chunks of 4,096 positions split a row.
      { name: 'few input channels in chunks', x: [1, 4, 70, 70], w: [3, 4, 8, 8], p: { padding: [3, 3] } },
      { name: 'padding wider than the kernel', x: [1, 2, 4, 5], w: [3, 2, 2, 2], p: { padding: [3, 3] } },
      { name: 'every window in the padding', x: [1, 2, 1, 1], w: [2, 2, 1, 1], p: { padding: [1, 1], stride: [3, 3] } },
      // Large enough for chunked im2col (576 rows: 1820 positions per chunk) and several threads.
      { name: 'large: chunked and over threads', x: [2, 64, 50, 50], w: [5, 64, 3, 3], p: { padding: [1, 1] } },
      // Native's kernels vectorised over the batch (32 images or more, channels not in sixteens):
      // LeNet-5's second layer (its input gradient); then a batch that is not whole 16-lane
      // vectors with stride, padding and dilation, and tiles of 2 and 3 channels (5 and 9).
      { name: 'batch lanes (LeNet C3)', x: [64, 6, 14, 14], w: [16, 6, 5, 5], p: {} },
      { name: 'batch lanes: partial vectors, stride, padding, dilation', x: [37, 9, 9, 8], w: [5, 9, 3, 2], p: { stride: [2, 1], padding: [1, 2], dilation: [1, 2] } },
      // One image whose output positions are a single chunk: wasm splits the output channels over
      // threads (parts of whole 4-row tiles: 10 as 4 + 6), also per group.
      { name: 'one image, its output channels split over threads', x: [1, 8, 12, 12], w: [10, 8, 3, 3], p: { padding: [1, 1] } },
      { name: 'one image, grouped, its output channels split over threads', x: [1, 8, 9, 9], w: [16, 4, 3, 3], p: { padding: [1, 1], groups: 2 } },
      // Input gradients larger than the forward output needs (a transposed conv's output_padding).
      { name: 'input gradient with output_padding', x: [2, 3, 10, 9], w: [4, 3, 2, 2], p: { stride: [3, 3] }, gx: true },
      { name: 'dilated input gradient with output_padding', x: [1, 2, 6, 7], w: [1, 2, 2, 2], p: { dilation: [2, 2] }, gx: true },
      { name: 'batch lanes: input gradient with output_padding', x: [33, 6, 11, 10], w: [7, 6, 3, 3], p: { stride: [2, 2], padding: [1, 1] }, gx: true },
      // Every window in the padding: the output is the bias alone (native fills it without oneDNN).
      { name: 'every window in the padding', x: [2, 3, 2, 2], w: [4, 3, 1, 1], p: { stride: [5, 5], padding: [2, 2] } },
      // Native input-gradient tiles of up to 6 channels: 11 as 5 + 6, over 3 vectors of images.
      { name: 'batch lanes: 11 channels, 40 images', x: [40, 11, 7, 7], w: [3, 11, 3, 3], p: { padding: [1, 0] } },
      // wasm batch-lane kernels (groups of 4 images): LeNet-5's second layer; batches of 21 (a
      // partial last group) with stride, padding and dilation, with unit stride and padding
      // (the input gradient's runs of taps), blocks of 3 input channels (5) and of 4 (7), and
      // output channels that are not a multiple of 4; an input gradient with output_padding.
      { name: 'wasm batch lanes: LeNet-5 C3', x: [64, 6, 14, 14], w: [16, 6, 5, 5], p: {} },
      { name: 'wasm batch lanes: partial group, stride, padding, dilation', x: [21, 5, 11, 10], w: [6, 5, 3, 3], p: { stride: [2, 1], padding: [1, 2], dilation: [2, 1] } },
      { name: 'wasm batch lanes: partial group, padding', x: [21, 7, 9, 8], w: [10, 7, 3, 4], p: { padding: [1, 2] } },
      { name: 'wasm batch lanes: input gradient with output_padding', x: [6, 5, 10, 9], w: [4, 5, 2, 2], p: { stride: [3, 3] }, gx: true },
      // wasm batch-lane forward and weight gradient in blocks of 2 output channels x 4 columns or
      // taps (LeNet-5's first layer): a partial group, an odd channel count, rows of 11 columns
      // (a last step of 3) and 25 taps (of 1); then stride and dilation (rows of 7, 18 taps).
      { name: 'wasm batch lanes in blocks of 2 channels: partial group, odd channels and rows', x: [9, 1, 13, 11], w: [5, 1, 5, 5], p: { padding: [2, 2] } },
      { name: 'wasm batch lanes in blocks of 2 channels: stride and dilation', x: [6, 2, 12, 15], w: [2, 2, 3, 3], p: { stride: [1, 2], dilation: [2, 1] } },
      // The wasm batch-lane forward stacks the rows of a window as channels when its rows have
      // fewer than 32 taps (the cases above); these have 36 and 33, in blocks of 2 and of 4.
      { name: 'wasm batch lanes, window rows not stacked: partial group, stride and dilation', x: [5, 12, 9, 9], w: [6, 12, 3, 3], p: { stride: [2, 1], padding: [1, 1], dilation: [1, 2] } },
      { name: 'wasm batch lanes, window rows not stacked: blocks of 4 channels', x: [6, 11, 8, 7], w: [8, 11, 3, 3], p: { padding: [1, 1] } },
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
        if (!c.gx) {
          compare('forward', [view([N, O, OH, OW], { offset: 3 })], (b, [o], v) => b.conv2d(v(x), v(w), null, o!, p));
          const bias = view([O], { offset: 6 });
          compare('forward with bias', [view([N, O, OH, OW], { offset: 3 })], (b, [o], v) => b.conv2d(v(x), v(w), v(bias), o!, p));
        }
        compare('input gradient', [view(c.x, { offset: 1 })], (b, [gx], v) => b.conv2dInputGrad(v(gy), v(w), gx!, p));
        compare('weight gradient', [view(c.w, { offset: 4 })], (b, [gw], v) => b.conv2dWeightGrad(v(x), v(gy), gw!, p));
        compare('weight and bias gradients', [view(c.w, { offset: 4 }), view([O], { offset: 3 })], (b, [gw, gb], v) => b.conv2dWeightGrad(v(x), v(gy), gw!, p, gb));
      });
    }

    test('an inf in the input reaches only the weight gradients whose windows read it', () => {
      // Direct kernels compute whole strips of columns, past the last output: the input there
      // times the gradient's zero padding must not become a NaN the true sum does not have.
      const p: Conv2dParams = { stride: [1, 1], padding: [2, 2], dilation: [1, 1], groups: 1 };
      const x = view([2, 1, 12, 12], { values: (i) => (i === 5 * 12 + 11 ? Infinity : rand() * 2 - 1) });
      const gy = view([2, 6, 12, 12]);
      const [gw] = compare('weight gradient', [view([6, 1, 5, 5])], (b, [o], v) => b.conv2dWeightGrad(v(x), v(gy), o!, p));
      // Column 11 is read by taps kw >= 2 only (output column 13 - kw must exist).
      const values = Array.from(gw!.buffer).slice(0, 150);
      assert.ok(values.every((g, i) => Number.isFinite(g) === (i % 5 < 2)), `finite exactly at kw 0 and 1: ${values.join(', ')}`);
    });

    // wasm batch-lane kernels: the inf in the last image of a partial group, whose empty lanes
    // and the input's zero padding must not meet it; in blocks of 4 output channels x 2 taps
    // (4 channels of 6 inputs), and of 2 x 4 (6 channels of 1 input: the last step's taps past
    // the 25th are copies).
    for (const [C, O] of [[6, 4], [1, 6]] as const) {
      test(`an inf in the input reaches only the weight gradients whose windows read it (images in groups, ${O} of ${C} channels)`, () => {
        const p: Conv2dParams = { stride: [1, 1], padding: [2, 2], dilation: [1, 1], groups: 1 };
        const c = Math.min(2, C - 1);
        const x = view([5, C, 12, 12], { values: (i) => (i === (4 * C + c) * 144 + 5 * 12 + 11 ? Infinity : rand() * 2 - 1) });
        const gy = view([5, O, 12, 12]);
        const [gw] = compare('weight gradient', [view([O, C, 5, 5])], (b, [o], v) => b.conv2dWeightGrad(v(x), v(gy), o!, p));
        // Channel c's column 11 is read by taps kw >= 2 only; the other channels hold no inf.
        const values = Array.from(gw!.buffer).slice(0, O * C * 25);
        assert.ok(values.every((g, i) => Number.isFinite(g) === (Math.floor(i / 25) % C !== c || i % 5 < 2)), `finite exactly off channel ${c} and at kw 0 and 1: ${values.join(', ')}`);
      });
    }

    test('empty batches and float64 agree with the reference exactly', () => {
      const p: Conv2dParams = { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 };
      const x = view([2, 2, 5, 5], { dtype: 'float64' });
      const w = view([3, 2, 3, 3], { dtype: 'float64' });
      compare('float64 forward', [view([2, 3, 3, 3], { dtype: 'float64' })], (b, [o], v) => b.conv2d(v(x), v(w), null, o!, p), 'exact');
      const x0 = view([0, 2, 5, 5]);
      const w0 = view([3, 2, 3, 3]);
      compare('empty batch', [view([0, 3, 3, 3])], (b, [o], v) => b.conv2d(v(x0), v(w0), null, o!, p), 'exact');
    });
  });

  describe('matmul', () => {
    const mm = (name: string, a: RView, c: RView, out = view([a.shape[0]!, a.shape[1]!, c.shape[2]!])) =>
      test(name, () => {
        compare(name, [out], (b, [o], v) => b.matmul(v(a), v(c), o!));
      });
    mm('contiguous batches', view([2, 5, 7]), view([2, 7, 3]));
    mm('256 x 256 (threads split the rows)', view([1, 256, 256]), view([1, 256, 256]));
    mm('5 x 300 x 700 (threads split the columns)', view([1, 5, 300]), view([1, 300, 700], { offset: 1 }));
    mm('K beyond one packed block (300 > 256) and N beyond one (600 > 512)', view([1, 9, 300]), view([1, 300, 600]));
    mm('transposed a', view([2, 6, 4], { strides: [24, 1, 6] }), view([2, 4, 5]));
    mm('transposed c', view([3, 6, 4]), view([3, 4, 5], { strides: [20, 1, 4] }));
    mm('broadcast c (batch stride 0)', view([4, 6, 4], { offset: 3 }), view([4, 4, 5], { strides: [0, 5, 1], offset: 1 }));
    mm('broadcast a', view([4, 6, 4], { strides: [0, 4, 1] }), view([4, 4, 5]));
    mm('both broadcast', view([3, 6, 4], { strides: [0, 4, 1] }), view([3, 4, 5], { strides: [0, 1, 4] }));
    mm('odd strides (no fast kernel for them)', view([2, 5, 6], { strides: [70, 14, 2] }), view([2, 6, 3], { strides: [0, 6, 2] }));
    mm('transposed out', view([2, 5, 6]), view([2, 6, 3]), view([2, 5, 3], { strides: [15, 1, 5] }));
    mm('row vector times matrix', view([1, 1, 9]), view([1, 9, 7]));
    // A Linear layer at batch 1, x w^T: native computes (w x^T)^T, which needs no copy of w.
    mm('row vectors times transposed matrices', view([2, 1, 300]), view([2, 300, 40], { strides: [12000, 1, 300] }));
    // Single products whose operands are matrices or transposes with rows apart (native: sgemm).
    mm('one product of transposed operands, rows apart', view([1, 6, 5], { strides: [0, 1, 8], offset: 2 }), view([1, 5, 7], { strides: [0, 1, 9] }));
    mm('one product into a transposed out', view([1, 7, 4]), view([1, 4, 5], { strides: [20, 1, 4] }), view([1, 7, 5], { strides: [35, 1, 7] }));
    mm('one product into rows apart', view([1, 3, 4], { strides: [0, 6, 1] }), view([1, 4, 5]), view([1, 3, 5], { strides: [0, 8, 1], offset: 1 }));
    mm('both broadcast, transposed (one product copied)', view([3, 6, 4], { strides: [0, 1, 6] }), view([3, 4, 5], { strides: [0, 1, 4] }));
    mm('infinities and NaN propagate (0 * inf is NaN)', view([1, 4, 4], { values: (i) => [0, Infinity, NaN, 1][i % 4]! }), view([1, 4, 9]));
    test('K = 0 gives zeros', () => {
      const [a, c] = [view([2, 3, 0]), view([2, 0, 4])];
      const [out] = compare('K = 0', [view([2, 3, 4])], (b, [o], v) => b.matmul(v(a), v(c), o!), 'exact');
      assert.deepEqual(elements(out!), new Array(24).fill(0));
    });
  });

  describe('batch norm statistics and gradients over [B, C, S] rows', () => {
    // The last is large enough to run its channels on several threads.
    const cases: [number, number, number][] = [[4, 3, 10], [2, 5, 1], [1, 7, 33], [16, 16, 1024]];
    for (const [B, C, S] of cases) {
      test(`[${B}, ${C}, ${S}]`, () => {
        // Values around 3 with deviations of ~0.6: a one-pass variance (E[x²] - E[x]²) in
        // float32 would lose most of its digits.
        const x = view([B, C, S], { offset: 3, values: () => 3 + rand() * 2 - 1 });
        compare('statistics', [view([C], { offset: 1 }), view([C], { offset: 2 })], (b, [m, v], up) => b.batchNormStats(up(x), m!, v!));
        const gy = view([B, C, S], { offset: 1 });
        const mean = view([C], { values: () => 2.5 + rand() });
        const invstd = view([C], { values: () => 0.5 + rand() * 1.5 });
        const w = view([C], { offset: 2 });
        compare('gradients', [view([B, C, S], { offset: 2 }), view([C]), view([C], { offset: 1 })], (b, [gx, gw, gb], up) =>
          b.batchNormGrad(up(x), up(gy), up(mean), up(invstd), up(w), gx!, gw!, gb!));
      });
    }
  });

  describe('pooling', () => {
    const window = (k: number, s: number, pad = 0, d = 1): Pool2dParams => ({ kind: 'window', kernel: [k, k], stride: [s, s], padding: [pad, pad], dilation: [d, d] });
    const cases: { name: string; x: number[]; out: [number, number]; p: Pool2dParams; nan?: boolean; ties?: boolean }[] = [
      { name: '2x2 stride 2', x: [2, 3, 8, 8], out: [4, 4], p: window(2, 2) },
      { name: '3x3 stride 2 padding 1', x: [2, 2, 9, 7], out: [5, 4], p: window(3, 2, 1) },
      { name: 'dilation 2', x: [1, 2, 9, 9], out: [5, 5], p: window(3, 1, 0, 2) },
      { name: 'ceil mode: the last window is clipped', x: [1, 3, 7, 7], out: [3, 3], p: window(3, 3) },
      { name: 'adaptive 7 -> 3', x: [2, 2, 7, 10], out: [3, 4], p: { kind: 'adaptive' } },
      { name: 'adaptive 5 -> 7 (overlapping)', x: [1, 2, 5, 5], out: [7, 7], p: { kind: 'adaptive' } },
      { name: 'NaN propagation', x: [1, 2, 6, 6], out: [3, 3], p: window(2, 2), nan: true },
      { name: '2x2 stride 2 over odd sizes, with NaN and -Infinity, 4 outputs at a time and a tail', x: [2, 3, 9, 19], out: [4, 9], p: window(2, 2), nan: true },
      { name: '2x2 stride 2 in ceil mode: the last window is clipped', x: [1, 2, 7, 9], out: [4, 5], p: window(2, 2) },
      // Native splits 16 windows of a row pair at a time: a row of 21 (a whole 16 and a partial
      // chunk, the last rows near the buffer's end one window at a time) and one of exactly 16.
      { name: '2x2 stride 2, rows of 21 windows, with NaN', x: [2, 3, 6, 42], out: [3, 21], p: window(2, 2), nan: true },
      { name: '2x2 stride 2, rows of 16 windows', x: [1, 2, 4, 32], out: [2, 16], p: window(2, 2) },
      { name: 'many planes over threads', x: [16, 32, 24, 24], out: [12, 12], p: window(2, 2) },
      // Strided windows read column phases (native): ResNet's stem pooling over threads, odd
      // width, with NaN and -Infinity; a stride of 3 with dilation and padding.
      { name: "3x3 stride 2 padding 1 (ResNet's stem) over threads, with NaN and -Infinity", x: [6, 16, 56, 57], out: [28, 29], p: window(3, 2, 1), nan: true },
      { name: 'stride 3, dilation 2, padding 2', x: [1, 2, 13, 14], out: [5, 5], p: window(3, 3, 2, 2) },
      // wasm's strided windows: the outputs whose windows lie inside the row 8 and 4 at a time
      // (the last 4 overlapping), the edges one at a time; values 0-2 with NaN and -Infinity, so
      // ties (the first position wins) and NaN (the last wins) meet in the vectors. Stride 2 over
      // an odd width (19 inside), stride 2 with dilation 2 (13), stride 1 read from x itself (11),
      // stride 3 over a width that is not a multiple of 3 (15), exactly 4 inside, and an
      // asymmetric window.
      { name: 'strided windows: 3x3 stride 2 padding 1, with ties, NaN and -Infinity', x: [2, 3, 11, 41], out: [6, 21], p: window(3, 2, 1), ties: true },
      { name: 'strided windows: stride 2, dilation 2, padding 2, with ties', x: [1, 2, 12, 30], out: [6, 15], p: window(3, 2, 2, 2), ties: true },
      { name: 'strided windows: stride 1, padding 1, with ties', x: [1, 2, 7, 13], out: [7, 13], p: window(3, 1, 1), ties: true },
      { name: 'strided windows: stride 3, dilation 2, padding 2, with ties', x: [1, 2, 9, 50], out: [3, 17], p: window(3, 3, 2, 2), ties: true },
      { name: 'strided windows: exactly 4 inside the row', x: [1, 3, 11, 11], out: [6, 6], p: window(3, 2, 1), ties: true },
      { name: 'strided windows: asymmetric kernel, stride, padding and dilation', x: [2, 2, 10, 37], out: [8, 19], p: { kind: 'window', kernel: [3, 4], stride: [1, 2], padding: [1, 2], dilation: [2, 1] }, ties: true },
    ];
    const avgOptions: AvgPoolOptions[] = [
      { countIncludePad: true, divisorOverride: null },
      { countIncludePad: false, divisorOverride: null },
      { countIncludePad: false, divisorOverride: 3 },
    ];
    for (const c of cases) {
      test(c.name, () => {
        const special = (v: () => number) => () => (rand() < 0.15 ? NaN : rand() < 0.1 ? -Infinity : v());
        const values = c.ties ? special(() => Math.floor(rand() * 3)) : c.nan ? special(() => rand() - 0.5) : undefined;
        const x = view(c.x, { offset: 3, ...(values && { values }) });
        const shape = [c.x[0]!, c.x[1]!, ...c.out];
        compare('max', [view(shape), view(shape, { dtype: 'int32' })], (b, [o, i], v) => b.maxPool2d(v(x), o!, i!, c.p), 'exact');
        const gy = view(shape, { offset: 2 });
        // The gradient at the reference's indices (overlapping windows send several to one place).
        const indices = view(shape, { dtype: 'int32', offset: 1 });
        ref.maxPool2d(x, like(view(shape)), indices, c.p);
        compare('max grad', [view(c.x, { offset: 4 })], (b, [gx], v) => b.maxPool2dGrad(v(gy), v(indices), gx!), sums);
        for (const o of avgOptions) {
          compare(`avg ${JSON.stringify(o)}`, [view(shape)], (b, [out], v) => b.avgPool2d(v(x), out!, c.p, o), sums);
          compare(`avg grad ${JSON.stringify(o)}`, [view(c.x)], (b, [gx], v) => b.avgPool2dGrad(v(gy), gx!, c.p, o), sums);
        }
      });
    }
  });

  test("max pooling's gradient: an index outside the plane throws the reference IndexError", () => {
    // wasm checks a plane's indices 4 at a time, then the tail: 5 outputs per plane.
    for (const [at, value] of [[7, 20], [9, -1], [2, 12 * 1000]] as const) {
      const bad = view([1, 2, 1, 5], { dtype: 'int32', values: (i) => (i === at ? value : i % 5) });
      const message = new RegExp(literal(`maxPool2dGrad: index ${value} is out of bounds for an input plane of 4x5`));
      assert.throws(() => ref.maxPool2dGrad(view([1, 2, 1, 5]), bad, view([1, 2, 4, 5])), (e) => e instanceof IndexError && message.test((e as Error).message));
      uploaded((up) => assert.throws(() => backend.maxPool2dGrad(up(view([1, 2, 1, 5])), up(bad), up(view([1, 2, 4, 5]))), (e) => e instanceof IndexError && message.test((e as Error).message)));
    }
  });

  describe('elementwise', () => {
    const specials = [NaN, Infinity, -Infinity, 0, -0, 0.5, -0.5, 1.5, 2.5, -2.5, 1, -1, 3, 1e-30, -1e-30, 88.5, -88.5, 1e30, 7.25, -3.75];
    const special = (i: number): number => (i < specials.length ? specials[i]! : (rand() - 0.5) * 20);
    const exact = new Set<string>([...EXACT_OPS, ...(opts.exactOps ?? [])]);
    const howFor = (op: string): How => (exact.has(op) ? 'exact' : 'relative');

    const UNARY: UnaryOp[] = ['neg', 'abs', 'sign', 'exp', 'log', 'log1p', 'expm1', 'sqrt', 'rsqrt', 'reciprocal', 'sin', 'cos', 'tanh',
      'sigmoid', 'relu', 'floor', 'ceil', 'round', 'trunc', 'erf', 'logical_not'];
    for (const op of UNARY) {
      test(`unary ${op} on special values, contiguous and strided`, () => {
        const dtype: DType = op === 'logical_not' ? 'bool' : 'float32';
        // A row a multiple of the SIMD width, and one with a tail.
        for (const n of [8, 9]) {
          const x = view([6, n], { values: special });
          compare(`${op} [6, ${n}]`, [view([6, n], { dtype })], (b, [o], v) => b.unary(op, v(x), o!), howFor(op));
          const xt = view([n, 6], { strides: [1, n], values: special });
          compare(`${op} [${n}, 6] transposed`, [view([n, 6], { dtype, offset: 2 })], (b, [o], v) => b.unary(op, v(xt), o!), howFor(op));
        }
      });
    }

    const BINARY: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'remainder', 'floor_divide', 'atan2',
      'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logical_and', 'logical_or', 'logical_xor', 'relu_grad'];
    const COMPARE = new Set<string>(['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logical_and', 'logical_or', 'logical_xor']);
    for (const op of BINARY) {
      test(`binary ${op}: special pairs, broadcasting and strides`, () => {
        const dtype: DType = COMPARE.has(op) ? 'bool' : 'float32';
        const how = howFor(op);
        const n = specials.length;
        // Every pair of special values.
        const a = view([n, n], { strides: [1, 0], values: special });
        const b = view([n, n], { strides: [0, 1], values: special });
        compare(op, [view([n, n], { dtype })], (be, [o], v) => be.binary(op, v(a), v(b), o!), how);
        // Both contiguous (the loops over whole vectors, and a tail), special values on both sides.
        const p = view([3, 2 * n + 3], { values: (i) => special(i % (2 * n)) }), q = view([3, 2 * n + 3], { values: (i) => special((i * 7) % n) });
        compare(`${op} contiguous`, [view([3, 2 * n + 3], { dtype })], (be, [o], v) => be.binary(op, v(p), v(q), o!), how);
        const m = view([5, 7], { values: (i) => (i % 3 === 0 ? 2 : special(i)) });
        const scalar = view([5, 7], { strides: [0, 0], values: () => -1.5 });
        compare(`${op} scalar`, [view([5, 7], { dtype })], (be, [o], v) => be.binary(op, v(m), v(scalar), o!), how);
        compare(`${op} scalar first`, [view([5, 7], { dtype })], (be, [o], v) => be.binary(op, v(scalar), v(m), o!), how);
        const [c, ct] = [view([7, 5]), view([7, 5], { strides: [1, 7] })];
        compare(`${op} strided out`, [view([7, 5], { dtype, strides: [1, 7] })], (be, [o], v) => be.binary(op, v(c), v(ct), o!), how);
      });
    }

    test('pow follows JavaScript: 1 ** NaN and (-1) ** Infinity are NaN', () => {
      const a = view([4], { values: (i) => [1, -1, 1, 2][i % 4]! });
      const b = view([4], { values: (i) => [NaN, Infinity, -Infinity, 0.5][i % 4]! });
      compare('pow', [view([4])], (be, [o], v) => be.binary('pow', v(a), v(b), o!), 'exact');
    });

    test('large broadcast ops run on several threads and agree', () => {
      const a = view([300, 400]);
      const row = view([300, 400], { strides: [0, 1] });
      compare('add by rows', [view([300, 400])], (b, [o], v) => b.binary('add', v(a), v(row), o!), 'exact');
      for (const n of [100003, 200000]) {
        const long = view([n]);
        compare(`exp long row of ${n}`, [view([n])], (b, [o], v) => b.unary('exp', v(long), o!), 'relative');
      }
      const src = view([400, 300], { strides: [1, 400] });
      compare('copy transposed', [view([400, 300])], (b, [o], v) => b.copy(v(src), o!), 'exact');
      compare('fill', [view([100001], { offset: 1 })], (b, [o]) => b.fill(o!, 0.25), 'exact');
    });

    test('where with a broadcast condition', () => {
      const cond = view([4, 6], { dtype: 'bool', strides: [0, 1], values: (i) => i % 2 });
      const a = view([4, 6]);
      const b = view([4, 6], { strides: [1, 0] });
      compare('where', [view([4, 6])], (be, [o], v) => be.where(v(cond), v(a), v(b), o!), 'exact');
      // ReLU's backward: a contiguous mask choosing between a gradient and a broadcast zero.
      const mask = view([3, 37], { dtype: 'bool', values: () => (rand() < 0.5 ? 1 : 0) });
      const grad = view([3, 37]);
      const zero = view([3, 37], { strides: [0, 0], values: () => 0 });
      compare('where contiguous', [view([3, 37])], (be, [o], v) => be.where(v(mask), v(grad), v(zero), o!), 'exact');
    });

    test('mulAdd: broadcast scale and shift, a scalar factor, strides, in place, special values and long rows', () => {
      // Batch norm's x·scale + shift with per-channel [1, C, 1, 1] operands, C = 32 (blocked on native).
      const x = view([2, 32, 3, 3]);
      const scale = view([2, 32, 3, 3], { strides: [0, 1, 0, 0] });
      const shift = view([2, 32, 3, 3], { strides: [0, 1, 0, 0] });
      compare('mulAdd per channel', [view([2, 32, 3, 3])], (be, [o], v) => be.mulAdd(v(x), v(scale), v(shift), o!), 'exact');
      // p + α·v (an optimizer's update) and every operand strided or broadcast.
      const p = view([5, 7]);
      const alpha = view([5, 7], { strides: [0, 0], values: () => -0.01 });
      compare('mulAdd scalar factor', [view([5, 7])], (be, [o], v) => be.mulAdd(v(p), v(alpha), v(p), o!), 'exact');
      const [t, col, row] = [view([7, 5], { strides: [1, 7] }), view([7, 5], { strides: [1, 0] }), view([7, 5], { strides: [0, 1] })];
      compare('mulAdd strided', [view([7, 5], { strides: [1, 7] })], (be, [o], v) => be.mulAdd(v(t), v(col), v(row), o!), 'exact');
      // In place: out is a (v = m·v + g), or c (p = v·α + p).
      const n = specials.length;
      const a = view([n, n], { strides: [1, 0], values: special });
      const b = view([n, n], { strides: [0, 1], values: special });
      compare('mulAdd specials into a', [view([n, n], { values: (i) => special(i % n) })], (be, [o], v) => be.mulAdd(o!, v(b), v(a), o!), 'exact');
      compare('mulAdd into c', [view([n, n])], (be, [o], v) => be.mulAdd(v(a), v(b), o!, o!), 'exact');
      // Rounded once: (1 + 2^-12)² - (1 + 2^-11) is 2^-24, where rounding the product to float32 first gives 0.
      const near = view([4], { values: () => 1 + 2 ** -12 });
      const minus = view([4], { values: () => -(1 + 2 ** -11) });
      const [once] = compare('mulAdd rounds once', [view([4])], (be, [o], v) => be.mulAdd(v(near), v(near), v(minus), o!), 'exact');
      assert.deepEqual(elements(once!), [2 ** -24, 2 ** -24, 2 ** -24, 2 ** -24]);
      const long = [view([300001]), view([300001]), view([300001])];
      compare('mulAdd long row', [view([300001])], (be, [o], v) => be.mulAdd(v(long[0]!), v(long[1]!), v(long[2]!), o!), 'exact');
    });

    test('sgdStep: plain, momentum (first step and later), dampening, weight decay, Nesterov, strides, special values, long rows', () => {
      const step = (s: Partial<SgdStep>): SgdStep => ({ alpha: -0.1, weightDecay: 0, momentum: 0, dampening: 0, nesterov: false, first: false, ...s });
      const steps = [
        step({ alpha: -0.01 }),
        step({ alpha: 0.05, weightDecay: 1e-3 }),
        step({ momentum: 0.9 }),
        step({ momentum: 0.9, first: true }),
        step({ momentum: 0.8, dampening: 0.1, weightDecay: 1e-3, first: true }),
        step({ alpha: 0.05, momentum: 0.8, dampening: 0.1, weightDecay: 1e-3 }),
        step({ alpha: -0.3, momentum: 0.7, weightDecay: 0.01, nesterov: true }),
      ];
      const n = specials.length;
      for (const s of steps) {
        const what = `sgdStep ${JSON.stringify(s)}`;
        const g = view([9, 13]);
        compare(what, [view([9, 13]), view([9, 13])], (be, [p, b], v) => be.sgdStep(p!, v(g), s.momentum ? b! : null, s), 'exact');
        // A transposed parameter, a gradient at an offset, a buffer with rows apart.
        const gs = view([13, 9], { offset: 5 });
        compare(`${what} strided`, [view([13, 9], { strides: [1, 13] }), view([13, 9], { strides: [12, 1] })],
          (be, [p, b], v) => be.sgdStep(p!, v(gs), s.momentum ? b! : null, s), 'exact');
        // Every special value against every other, as parameter, gradient and buffer.
        const sg = view([n, n], { values: (i) => special(Math.floor(i / n)) });
        compare(`${what} specials`, [view([n, n], { values: (i) => special(i % n) }), view([n, n], { values: (i) => special((i * 7) % n) })],
          (be, [p, b], v) => be.sgdStep(p!, v(sg), s.momentum ? b! : null, s), 'exact');
        // Long enough to be split between threads.
        const long = view([70001]);
        compare(`${what} long row`, [view([70001]), view([70001])], (be, [p, b], v) => be.sgdStep(p!, v(long), s.momentum ? b! : null, s), 'exact');
      }
      // p = d·α + p rounded once: (1 + 2^-12)² - (1 + 2^-11) is 2^-24, where rounding α·d first gives 0.
      const near = view([5], { values: () => 1 + 2 ** -12 });
      const [once] = compare('sgdStep rounds once', [view([5], { values: () => -(1 + 2 ** -11) })],
        (be, [p], v) => be.sgdStep(p!, v(near), null, step({ alpha: 1 + 2 ** -12 })), 'exact');
      assert.deepEqual(elements(once!), [2 ** -24, 2 ** -24, 2 ** -24, 2 ** -24, 2 ** -24]);
    });

    test('adamStep: Adam, L2 weight decay, AdamW, maximize, AMSGrad, strides, special values, long rows', () => {
      const step = (s: Partial<AdamStep>): AdamStep => ({
        stepSize: 1e-3 / (1 - 0.9 ** 3), beta1: 0.9, beta2: 0.999, eps: 1e-8, correction2Sqrt: Math.sqrt(1 - 0.999 ** 3), weightDecay: 0, decay: 1, maximize: false, ...s,
      });
      const steps = [step({}), step({ weightDecay: 0.01 }), step({ decay: 1 - 1e-3 * 0.01 }), step({ maximize: true, weightDecay: 0.1 }), step({ stepSize: 0.1, eps: 1e-3 })];
      const n = specials.length;
      // v and vmax must not be negative (they are sums of squares), except that specials test NaN and -0.
      const positive = (i: number) => Math.abs(special(i));
      for (const amsgrad of [false, true]) {
        for (const s of steps) {
          const what = `adamStep ${JSON.stringify(s)}${amsgrad ? ' amsgrad' : ''}`;
          const g = view([9, 13]);
          const outs = () => [view([9, 13]), view([9, 13]), view([9, 13], { values: () => rand() }), view([9, 13], { values: () => rand() })];
          compare(what, outs(), (be, [p, m, v, x], vw) => be.adamStep(p!, vw(g), m!, v!, amsgrad ? x! : null, s), 'exact');
          // A transposed parameter, a gradient at an offset, moments with rows apart.
          const gs = view([13, 9], { offset: 5 });
          compare(`${what} strided`, [view([13, 9], { strides: [1, 13] }), view([13, 9], { strides: [12, 1] }), view([13, 9], { strides: [10, 1], values: () => rand() }), view([13, 9], { values: () => rand() })],
            (be, [p, m, v, x], vw) => be.adamStep(p!, vw(gs), m!, v!, amsgrad ? x! : null, s), 'exact');
          const sg = view([n, n], { values: (i) => special(Math.floor(i / n)) });
          compare(`${what} specials`, [view([n, n], { values: (i) => special(i % n) }), view([n, n], { values: (i) => special((i * 7) % n) }),
            view([n, n], { values: (i) => positive((i * 3) % n) }), view([n, n], { values: (i) => positive((i * 5) % n) })],
          (be, [p, m, v, x], vw) => be.adamStep(p!, vw(sg), m!, v!, amsgrad ? x! : null, s), 'exact');
          const long = view([70001]);
          compare(`${what} long row`, [view([70001]), view([70001]), view([70001], { values: () => rand() }), view([70001], { values: () => rand() })],
            (be, [p, m, v, x], vw) => be.adamStep(p!, vw(long), m!, v!, amsgrad ? x! : null, s), 'exact');
        }
      }
    });

    test('copy keeps every dtype bit for bit and converts between them; fill writes strided views', () => {
      const dtypes: DType[] = ['float32', 'float64', 'int32', 'uint8', 'bool'];
      for (const dtype of dtypes) {
        const values = dtype === 'bool' ? (i: number) => i % 2 : (i: number) => i * 7 - 20;
        const src = view([3, 4, 5], { dtype, strides: [1, 15, 3], values });
        compare(`copy ${dtype}`, [view([3, 4, 5], { dtype, offset: 1 })], (b, [o], v) => b.copy(v(src), o!), 'exact');
        const row = view([3, 4], { dtype, strides: [0, 1], values });
        compare(`copy broadcast ${dtype}`, [view([3, 4], { dtype })], (b, [o], v) => b.copy(v(row), o!), 'exact');
        for (const to of dtypes) compare(`copy ${dtype} -> ${to}`, [view([3, 4], { dtype: to })], (b, [o], v) => b.copy(v(row), o!), 'exact');
      }
      for (const dtype of ['float32', 'float64', 'int32'] as DType[]) {
        compare(`fill ${dtype}`, [view([4, 5], { dtype, strides: [10, 2] })], (b, [o]) => b.fill(o!, -2.75), 'exact');
      }
    });

    test('integer and float64 maths agree with the reference exactly, with its errors', () => {
      const a = view([3, 4], { dtype: 'int32', values: (i) => i - 5 });
      const b = view([3, 4], { dtype: 'int32', values: (i) => (i % 3) + 1 });
      compare('int32 floor_divide', [view([3, 4], { dtype: 'int32' })], (be, [o], v) => be.binary('floor_divide', v(a), v(b), o!), 'exact');
      const d = view([3, 4], { dtype: 'float64' });
      compare('float64 exp', [view([3, 4], { dtype: 'float64' })], (be, [o], v) => be.unary('exp', v(d), o!), 'exact');
      const zero = view([3, 4], { dtype: 'int32', values: () => 0 });
      assert.throws(() => ref.binary('remainder', a, zero, like(a)), /integer division by zero/);
      uploaded((up) => assert.throws(() => backend.binary('remainder', up(a), up(zero), up(a)), /integer division by zero/));
    });
  });

  describe('reductions, argmax/argmin, gather and scatter_add', () => {
    const OPS: ReduceOp[] = ['sum', 'prod', 'max', 'min'];
    const shapes: { name: string; out: number[] }[] = [
      { name: 'trailing dims', out: [4, 5, 1, 1] },
      { name: 'leading dims', out: [1, 1, 6, 7] },
      { name: 'a middle dim', out: [4, 1, 6, 7] },
      { name: 'outer and inner dims', out: [1, 5, 1, 1] },
      { name: 'everything', out: [1, 1, 1, 1] },
    ];
    const reduced = (op: ReduceOp): How => (op === 'sum' ? 'scaled' : sums);
    for (const op of OPS) {
      test(`${op} over trailing, leading, middle and all dims, with NaN, strided and broadcast inputs`, () => {
        const values = op === 'prod' ? () => 0.5 + rand() : () => rand() - 0.5;
        const x = view([4, 5, 6, 7], { values });
        const xt = view([4, 5, 6, 7], { strides: [1, 4, 140, 20], values });
        for (const s of shapes) {
          compare(`${op} ${s.name}`, [view(s.out)], (b, [o], v) => b.reduce(op, v(x), o!), reduced(op));
          compare(`${op} ${s.name} strided`, [view(s.out)], (b, [o], v) => b.reduce(op, v(xt), o!), reduced(op));
        }
        compare(`${op} into a strided out`, [view([5, 4], { strides: [1, 5] })], (b, [o], v) => b.reduce(op, v(x), { ...o!, shape: [4, 5, 1, 1], strides: [1, 4, 0, 0] }), reduced(op));
        const withNaN = view([3, 8], { values: (i) => (i === 13 ? NaN : rand()) });
        compare(`${op} NaN`, [view([3, 1])], (b, [o], v) => b.reduce(op, v(withNaN), o!), reduced(op));
        // Broadcast inputs (stride 0 along reduced dims, e.g. the gradient of .sum()): a backend
        // may reduce one copy and scale the sum.
        const channels = view([5], { values });
        const expanded = { ...channels, shape: [4, 5, 6, 7], strides: [0, 1, 0, 0] };
        const scalar = { ...view([1], { values }), shape: [4, 5, 6, 7], strides: [0, 0, 0, 0] };
        for (const s of shapes) {
          compare(`${op} ${s.name} of a broadcast vector`, [view(s.out)], (b, [o], v) => b.reduce(op, v(expanded), o!));
          compare(`${op} ${s.name} of a broadcast scalar`, [view(s.out)], (b, [o], v) => b.reduce(op, v(scalar), o!));
        }
      });
    }

    test('sums of long contiguous runs with mixed magnitudes, Infinity and NaN', () => {
      // wasm sums runs in 8 lanes then the tail: 1037 = 129 * 8 + 5; magnitudes from 1e-3 to 1e4 of both signs.
      const x = view([4, 1037], { values: (i) => (i === 2 * 1037 + 500 ? Infinity : i === 3 * 1037 + 7 ? NaN : (rand() - 0.5) * 10 ** Math.floor(rand() * 8 - 3)) });
      compare('sum along the last dim', [view([4, 1])], (b, [o], v) => b.reduce('sum', v(x), o!), 'scaled');
      const planes = view([3, 5, 21, 19]);
      compare('sum over dims 0, 2, 3 (a bias gradient)', [view([1, 5, 1, 1])], (b, [o], v) => b.reduce('sum', v(planes), o!), 'scaled');
      // Large enough to be split over threads (wasm: each share into accumulators of its own),
      // an Infinity in the first half and a NaN in the second; rows kept, and a bias gradient.
      const many = view([2, 70000], { values: (i) => (i === 123 ? Infinity : i === 70000 + 456 ? NaN : rand() - 0.5) });
      compare('sum along the last dim, split', [view([2, 1])], (b, [o], v) => b.reduce('sum', v(many), o!), 'scaled');
      const batch = view([40, 5, 30, 30]);
      compare('sum over dims 0, 2, 3, split', [view([1, 5, 1, 1])], (b, [o], v) => b.reduce('sum', v(batch), o!), 'scaled');
    });

    test('argmax and argmin along each dim, first of ties, NaN wins', () => {
      const x = view([4, 5, 6], { values: (i) => (i === 17 ? NaN : Math.floor(rand() * 4)) });
      for (const op of ['argmax', 'argmin'] as const) {
        for (const dim of [0, 1, 2]) {
          const shape = x.shape.map((s, d) => (d === dim ? 1 : s));
          compare(`${op} dim ${dim}`, [view(shape, { dtype: 'int32' })], (b, [o], v) => b.argreduce(op, v(x), dim, o!));
        }
      }
    });

    test('gather and scatter_add along each dim; a bad index throws the reference IndexError', () => {
      for (const dim of [0, 1]) {
        const x = view([5, 6]);
        const size = x.shape[dim]!;
        const index = view([4, 3], { dtype: 'int32', values: () => Math.floor(rand() * size) });
        compare(`gather dim ${dim}`, [view([4, 3])], (b, [o], v) => b.gather(v(x), dim, v(index), o!), 'exact');
        const src = view([4, 3]);
        compare(`scatter_add dim ${dim}`, [view([5, 6])], (b, [o], v) => b.scatterAdd(o!, dim, v(index), v(src)), sums);
      }
      const bad = view([2, 2], { dtype: 'int32', values: (i) => (i === 3 ? 5 : 0) });
      const [x, out] = [view([3, 3]), view([2, 2])];
      const theirs = /index 5 is out of bounds for dimension 0 with size 3/;
      assert.throws(() => ref.gather(x, 0, bad, like(out)), (e) => e instanceof IndexError && theirs.test((e as Error).message));
      uploaded((up) => {
        assert.throws(() => backend.gather(up(x), 0, up(bad), up(out)), (e) => e instanceof IndexError && theirs.test((e as Error).message));
        assert.throws(() => backend.scatterAdd(up(x), 1, up(bad), up(out)), (e) => e instanceof IndexError && /index 5 is out of bounds for dimension 1/.test((e as Error).message));
      });
    });

    test("scatter_add of rows (max pooling's gradient): repeated indices accumulate; a bad index in any row throws", () => {
      // wasm checks a row's indices 4 at a time, then the tail: 13 = 3 * 4 + 1.
      const index = view([6, 13], { dtype: 'int32', values: () => Math.floor(rand() * 40) });
      const src = view([6, 13]);
      compare('scatter_add rows', [view([6, 40])], (b, [o], v) => b.scatterAdd(o!, 1, v(index), v(src)), sums);
      const [columns, columnSrc] = [view([13, 6], { dtype: 'int32', values: () => Math.floor(rand() * 40) }), view([13, 6])];
      compare('scatter_add along dim 0', [view([40, 6])], (b, [o], v) => b.scatterAdd(o!, 0, v(columns), v(columnSrc)), sums);
      for (const [at, value] of [[5 * 13 + 2, 40], [3 * 13 + 12, -1]] as const) {
        const bad = view([6, 13], { dtype: 'int32', values: (i) => (i === at ? value : 0) });
        const message = new RegExp(literal(`index ${value} is out of bounds for dimension 1 with size 40`));
        uploaded((up) => assert.throws(() => backend.scatterAdd(up(view([6, 40])), 1, up(bad), up(src)), (e) => e instanceof IndexError && message.test((e as Error).message)));
      }
    });
  });

  test('a view reaching past its buffer is a JS error, not a read or write of other memory', () => {
    const p: Conv2dParams = { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 };
    const a = view([4, 4]);
    const size = a.buffer.length;
    uploaded((up) => {
      assert.throws(() => backend.binary('add', { ...up(a), offset: 10 }, up(a), up(a)), opts.pastBuffer('binary', 10, 25, size));
      // A shape larger than the buffer, and an offset too far into it.
      const w = view([1, 1, 3, 3]);
      assert.throws(() => backend.conv2d({ ...up(a), shape: [1, 1, 5, 5], strides: [25, 25, 5, 1] }, up(w), null, up(view([1, 1, 3, 3])), p), opts.pastBuffer('conv2d', 0, 24, size));
      const x = view([1, 2, 5, 5]);
      const xSize = x.buffer.length;
      assert.throws(() => backend.conv2d({ ...up(x), offset: xSize - 10 }, up(view([3, 2, 3, 3])), null, up(view([1, 3, 3, 3])), p),
        opts.pastBuffer('conv2d', xSize - 10, xSize + 39, xSize));
      // Batch norm's [B, C, S] operand starting too far into its buffer.
      const rows = view([2, 3, 4]);
      const stats = () => backend.batchNormStats({ ...up(rows), offset: rows.buffer.length - 5 }, up(view([3])), up(view([3])));
      assert.throws(stats, /of a buffer of 27/);
    });
  });
}
