/**
 * The wasm backend: tensors live in one WebAssembly.Memory (externalMemory: buffers are blocks
 * of it, freed through dispose/tidy or the finalizer), and the primitives run as WebAssembly
 * SIMD128 kernels compiled from wasm/assembly/ by AssemblyScript, split over a pool of workers
 * sharing the memory. A relaxed-SIMD build is chosen when the engine validates it (Node 20 and 21
 * once V8's flag is set, which the backend does). Primitives or dtypes the kernels do not cover
 * (float64 and integer maths, dtype conversions) run on the reference code, over typed arrays
 * viewing the same memory, so nothing is copied either way.
 *
 * Runs in Node and browsers. Importing this module loads it (a top-level await) and registers
 * it as 'wasm' when WebAssembly SIMD is there; wasmStatus() says which build and how many threads,
 * or why not. `await initWasm()` returns the same status.
 */
import {
  registerBackend, type AvgPoolOptions, type Backend, type BinaryOp, type Conv2dParams, type Pool2dParams, type UnaryOp, type View,
} from '../backend.js';
import { referenceBackend } from '../reference/index.js';
import { coalesceInto } from '../reference/strided.js';
import type { DType, TypedArray } from '../../tensor/dtype.js';
import { numel } from '../../tensor/shape.js';
import { WebAssemblyApi, type WasmGlobal, type WasmMemory } from './api.js';
import { Heap } from './heap.js';
import { ARGS, ARGS_F64, HEAP_BASE, MAX_RANK, PAGE } from './layout.js';
import { currentPlatform, type Platform } from './platform.js';
import { ThreadPool, type Kernel } from './threads.js';

/** A block of the wasm memory holding `size` elements of `dtype`. */
export class WasmBuffer {
  freed = false;
  constructor(
    private readonly owner: WasmState,
    readonly ptr: number,
    readonly dtype: DType,
    readonly size: number,
  ) {}

  /** A typed array over the block (valid until the memory grows, when it is unshared). */
  array(): TypedArray {
    if (this.freed) throw new Error('wasm backend: use of a freed buffer');
    const ctor = ARRAYS[this.dtype];
    return new ctor(this.owner.memory.buffer as ArrayBuffer, this.ptr, this.size);
  }
}

const ARRAYS = { float32: Float32Array, float64: Float64Array, int32: Int32Array, uint8: Uint8Array, bool: Uint8Array } as const;
const SHIFT: Record<DType, number> = { float32: 2, float64: 3, int32: 2, uint8: 0, bool: 0 };

// Op codes: positions in these lists (wasm/assembly/elementwise.ts numbers them the same way).
const UNARY: readonly UnaryOp[] = [
  'neg', 'abs', 'sign', 'exp', 'log', 'log1p', 'expm1', 'sqrt', 'rsqrt', 'reciprocal', 'sin', 'cos', 'tanh', 'sigmoid',
  'relu', 'floor', 'ceil', 'round', 'trunc', 'erf', 'logical_not',
];
const BINARY: readonly BinaryOp[] = [
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'remainder', 'floor_divide', 'atan2', 'eq', 'ne', 'lt', 'le',
  'gt', 'ge', 'logical_and', 'logical_or', 'logical_xor', 'relu_grad',
];
/** Unary ops computed in float64 per element (the rest are float32 SIMD): threads pay off sooner. */
const CHEAP_UNARY = new Set<UnaryOp>(['neg', 'abs', 'sqrt', 'reciprocal', 'relu', 'floor', 'ceil', 'round', 'trunc']);
const REDUCE = ['sum', 'prod', 'max', 'min'] as const;

/** Elements per thread below which elementwise work stays on one thread. */
const GRAIN = 1 << 15;
const GRAIN_COSTLY = 1 << 12;
/** Multiply-adds per thread below which a product or convolution stays on one thread. */
const FLOP_GRAIN = 1 << 18;

/** The kernels' exports the pool can run, by name. */
const PARALLEL = ['sgemm', 'unary', 'binary', 'where', 'mulAdd', 'sgdStep', 'adamStep', 'copy', 'fill', 'storeF64', 'reduce', 'argreduce', 'conv2d', 'conv2dInputGrad', 'conv2dWeightGrad', 'maxPool2d', 'maxPool2dGrad', 'avgPool2d', 'avgPool2dGrad', 'batchNormStats', 'batchNormGrad'] as const;

interface Exports {
  fillF64(p: number, n: number, value: number): void;
  gather(g: number, count: number): number;
  scatterAdd(g: number, count: number): number;
  /** pass: 0 forward, 1 input gradient, 2 weight gradient. */
  convScratch(args: number, pass: number): number;
  /** The items of a pass's kernel (0 forward, 1 input gradient, 2 weight gradient). */
  convItems(args: number, pass: number): number;
  convWeightGradReduce(args: number, parts: number, count: number): void;
  poolScratch(args: number): number;
  GEMM_SCRATCH: WasmGlobal;
}

interface WasmState {
  memory: WasmMemory;
}

type WView = View<WasmBuffer>;

/**
 * Byte address of v's element 0, after checking that every element of v lies in its buffer: the
 * kernels would otherwise read or write whatever else is in the memory.
 */
function addr(v: WView, shape: readonly number[] = v.shape, strides: readonly number[] = v.strides): number {
  // Another backend's buffer (a typed array) has no address here: reading one would be garbage.
  if (!(v.buffer instanceof WasmBuffer)) throw new TypeError(`stride wasm: a view of ${describeBuffer(v.buffer)} is not in wasm memory (tensors of another backend must be moved with .to('wasm'))`);
  let lo = v.offset;
  let hi = v.offset;
  let empty = false;
  // A loop, not forEach: this runs for every operand of every primitive.
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 0) empty = true;
    const reach = (n - 1) * strides[d]!;
    if (reach < 0) lo += reach;
    else hi += reach;
  }
  if (!empty && (lo < 0 || hi >= v.buffer.size)) {
    throw new RangeError(`stride wasm: a view reaches elements [${lo}, ${hi}] of a buffer of ${v.buffer.size}`);
  }
  return v.buffer.ptr + v.offset * (1 << SHIFT[v.dtype]);
}
const describeBuffer = (b: unknown): string => (b === null || typeof b !== 'object' ? String(b) : `a ${b.constructor.name}`);
/** Whether every operand given is float32 (fixed parameters: rest arguments allocated on every call). */
const f32 = (a: WView, b?: WView, c?: WView, d?: WView): boolean =>
  a.dtype === 'float32' && (b === undefined || b.dtype === 'float32') && (c === undefined || c.dtype === 'float32') && (d === undefined || d.dtype === 'float32');
const isBool = (v: WView): boolean => v.dtype === 'bool';

/** A view's stride along dim d, or the one it is walked with. */
const strideOf = (x: { v: WView; strides?: readonly number[] }, d: number): number => (x.strides ?? x.v.strides)[d]!;
/** Operands of an elementwise walk: at most adamStep's five. */
const MAX_WALK_VIEWS = 5;

class WasmBackendImpl {
  readonly heap: Heap;
  private args: Float64Array;
  /** packWalk's merged shape and strides, reused. */
  private readonly walkShape = new Float64Array(MAX_RANK);
  private readonly walkStrides = new Float64Array(MAX_RANK * MAX_WALK_VIEWS);

  constructor(
    readonly memory: WasmMemory,
    readonly pool: ThreadPool,
  ) {
    this.heap = new Heap(memory, HEAP_BASE);
    this.args = new Float64Array(memory.buffer, ARGS, ARGS_F64);
  }

  /** The argument block, re-viewed when the memory grew (an unshared memory's old buffer is detached). */
  argBlock(): Float64Array {
    if (this.args.buffer !== this.memory.buffer) this.args = new Float64Array(this.memory.buffer, ARGS, ARGS_F64);
    return this.args;
  }

  /**
   * Writes [op, p1, p2, rank, shape, then per view: address, strides] for views walking `shape`,
   * or returns -1 when the merged rank exceeds what the block holds. Returns the element count.
   */
  packWalk(op: number, p1: number, p2: number, shape: readonly number[], views: readonly { v: WView; strides?: readonly number[] }[]): number {
    const k = views.length;
    const dims = this.walkShape;
    const steps = this.walkStrides;
    const r = coalesceInto(shape, views, strideOf, dims, steps, MAX_RANK);
    if (r < 0) return -1;
    const a = this.argBlock();
    a[0] = op;
    a[1] = p1;
    a[2] = p2;
    a[3] = r;
    let i = 4;
    for (let d = 0; d < r; d++) a[i++] = dims[d]!;
    for (let j = 0; j < k; j++) {
      const x = views[j]!;
      a[i++] = addr(x.v, shape, x.strides ?? x.v.strides);
      for (let d = 0; d < r; d++) a[i++] = steps[j * MAX_RANK + d]!;
    }
    return numel(shape);
  }

  /** Runs an elementwise kernel over the packed walk of `count` elements. */
  runWalk(kernel: string, count: number, grain = GRAIN): void {
    if (count > 0) this.pool.run(kernel, ARGS, count, grain, 0);
  }

  packArgs(values: readonly number[]): void {
    this.argBlock().set(values);
  }
}

/** A view the reference code can read: the same geometry over a typed array on the wasm memory. */
function refView(v: WView): View<TypedArray> {
  return { buffer: v.buffer.array(), dtype: v.dtype, shape: v.shape, strides: v.strides, offset: v.offset };
}

/**
 * conv.ts's args; the thread count lets the kernels split work a single image leaves too coarse;
 * the forward's bias (address and stride, or 0) is added by the kernels as they write y.
 */
function convArgs(x: readonly number[], w: readonly number[], y: readonly number[], p: Conv2dParams, ptrs: [number, number, number], threads: number, bias: WView | null = null): number[] {
  const [N, C, H, W] = x as [number, number, number, number];
  const [O, Cg, KH, KW] = w as [number, number, number, number];
  const [OH, OW] = [y[2]!, y[3]!];
  // Output positions per im2col chunk: a column buffer of at most ~4 MB per thread.
  const chunk = Math.max(64, Math.min(OH * OW, Math.floor((1 << 20) / Math.max(1, Cg * KH * KW))));
  return [N, C, H, W, O, KH, KW, OH, OW, ...p.stride, ...p.padding, ...p.dilation, p.groups, ...ptrs, chunk, threads, bias ? addr(bias) : 0, bias ? bias.strides[0]! : 0];
}

function poolArgs(input: WView, output: WView, p: Pool2dParams, extra: readonly number[]): number[] {
  const win = p.kind === 'window' ? [0, ...p.kernel, ...p.stride, ...p.padding, ...p.dilation] : [1, 0, 0, 0, 0, 0, 0, 0, 0];
  return [...input.shape, ...output.shape.slice(2), ...win, addr(input), addr(output), ...extra];
}

function makeBackend(impl: WasmBackendImpl, k: Exports, kernels: Record<string, Kernel>): Backend<WasmBuffer> {
  const ref = referenceBackend;
  const state: WasmState = { memory: impl.memory };
  const nonEmpty = (...vs: WView[]): boolean => vs.every((v) => numel(v.shape) > 0);

  const backend: Backend<WasmBuffer> = {
    name: 'wasm',
    externalMemory: true,
    alloc(dtype, size) {
      const bytes = Math.max(1, size) << SHIFT[dtype];
      return new WasmBuffer(state, impl.heap.alloc(bytes), dtype, size);
    },
    free(buffer) {
      if (buffer.freed) return;
      buffer.freed = true;
      impl.heap.free(buffer.ptr);
    },
    read: (buffer, dtype, offset, size) => ref.read(buffer.array(), dtype, offset, size),
    write: (buffer, dtype, offset, data) => ref.write(buffer.array(), dtype, offset, data),

    copy(src, dst) {
      if (src.dtype !== dst.dtype) return ref.copy(refView(src), refView(dst));
      const n = impl.packWalk(0, SHIFT[dst.dtype], 0, dst.shape, [{ v: src }, { v: dst }]);
      if (n < 0) return ref.copy(refView(src), refView(dst));
      impl.runWalk('copy', n);
    },
    fill(dst, value) {
      const n = f32(dst) ? impl.packWalk(0, value, 0, dst.shape, [{ v: dst }]) : -1;
      if (n < 0) return ref.fill(refView(dst), value);
      impl.runWalk('fill', n);
    },
    unary(op, x, out) {
      const n = f32(x) && (f32(out) || isBool(out)) ? impl.packWalk(UNARY.indexOf(op), isBool(out) ? 1 : 0, 0, out.shape, [{ v: x }, { v: out }]) : -1;
      if (n < 0) return ref.unary(op, refView(x), refView(out));
      impl.runWalk('unary', n, CHEAP_UNARY.has(op) ? GRAIN : GRAIN_COSTLY);
    },
    binary(op, a, b, out) {
      const n = f32(a, b) && (f32(out) || isBool(out)) ? impl.packWalk(BINARY.indexOf(op), isBool(out) ? 1 : 0, 0, out.shape, [{ v: a }, { v: b }, { v: out }]) : -1;
      if (n < 0) return ref.binary(op, refView(a), refView(b), refView(out));
      impl.runWalk('binary', n);
    },
    where(cond, a, b, out) {
      const ok = (cond.dtype === 'bool' || cond.dtype === 'uint8') && f32(a, b, out);
      const n = ok ? impl.packWalk(0, 0, 0, out.shape, [{ v: cond }, { v: a }, { v: b }, { v: out }]) : -1;
      if (n < 0) return ref.where(refView(cond), refView(a), refView(b), refView(out));
      impl.runWalk('where', n);
    },
    mulAdd(a, b, c, out) {
      const n = f32(a, b, c, out) ? impl.packWalk(0, 0, 0, out.shape, [{ v: a }, { v: b }, { v: c }, { v: out }]) : -1;
      if (n < 0) return ref.mulAdd(refView(a), refView(b), refView(c), refView(out));
      impl.runWalk('mulAdd', n);
    },
    sgdStep(p, grad, buf, s) {
      const b = buf ?? p;
      const flags = (s.nesterov ? 1 : 0) | (s.first ? 2 : 0) | (buf ? 4 : 0);
      const n = f32(p, grad, b) ? impl.packWalk(flags, 0, 0, p.shape, [{ v: p }, { v: grad }, { v: b }]) : -1;
      if (n < 0) return ref.sgdStep(refView(p), refView(grad), buf && refView(buf), s);
      // The scalars follow the walk's three views (the kernel finds them from its rank).
      const a = impl.argBlock();
      a.set([s.alpha, s.weightDecay, s.momentum, 1 - s.dampening], 4 + a[3]! + 3 * (1 + a[3]!));
      impl.runWalk('sgdStep', n);
    },
    adamStep(p, grad, m, v, vmax, s) {
      const x = vmax ?? v;
      const flags = (s.maximize ? 1 : 0) | (vmax ? 2 : 0);
      const n = f32(p, grad, m, v) && f32(x) ? impl.packWalk(flags, 0, 0, p.shape, [{ v: p }, { v: grad }, { v: m }, { v: v }, { v: x }]) : -1;
      if (n < 0) return ref.adamStep(refView(p), refView(grad), refView(m), refView(v), vmax && refView(vmax), s);
      const a = impl.argBlock();
      a.set([s.stepSize, s.beta1, s.beta2, s.eps, s.correction2Sqrt, s.weightDecay, s.decay], 4 + a[3]! + 5 * (1 + a[3]!));
      impl.runWalk('adamStep', n);
    },
    reduce(op, x, out) {
      if (!f32(x, out) || x.shape.length > MAX_RANK) return ref.reduce(op, refView(x), refView(out));
      const size = numel(out.shape);
      if (size === 0) return;
      // A reduced dim along which x is broadcast (stride 0) holds one value: max and min ignore
      // it and a sum multiplies by its size, instead of visiting every copy.
      let copies = 1;
      const shape = x.shape.map((n, d) => {
        if (x.strides[d] !== 0 || out.shape[d] !== 1 || n <= 1 || op === 'prod') return n;
        copies *= n;
        return 1;
      });
      const acc = impl.pool.scratchFor(size * 8)[0]!;
      k.fillF64(acc, size, op === 'sum' ? 0 : op === 'prod' ? 1 : op === 'max' ? -Infinity : Infinity);
      // Each x element lands on the accumulator of its out position (reduced coordinates zeroed).
      const target: number[] = [];
      for (let d = out.shape.length - 1, s = 1; d >= 0; d--) {
        target[d] = out.shape[d] === 1 ? 0 : s;
        s *= out.shape[d]!;
      }
      const total = numel(shape);
      if (op === 'sum' && total >= 4 * GRAIN && size * 64 <= total) {
        // A sum into few accumulators (a bias gradient: gy over N, H and W) splits the positions
        // over threads, each share folding into accumulators of its own in its scratch (the
        // view's addresses are offsets there; share 0's are acc), added up in share order.
        const own = { buffer: new WasmBuffer(state, 0, 'float64', size), dtype: 'float64' as const, shape, strides: target, offset: 0 };
        const n = impl.packWalk(REDUCE.indexOf(op), size, 0, shape, [{ v: x }, { v: own }]);
        const shares = impl.pool.run('reduce', ARGS, n, GRAIN, size * 8);
        const sums = new Float64Array(impl.memory.buffer as ArrayBuffer, acc, size);
        for (const part of impl.pool.scratchFor(size * 8).slice(1, shares)) {
          const p = new Float64Array(impl.memory.buffer as ArrayBuffer, part, size);
          for (let i = 0; i < size; i++) sums[i]! += p[i]!;
        }
      } else {
        const accView = { buffer: new WasmBuffer(state, acc, 'float64', size), dtype: 'float64' as const, shape, strides: target, offset: 0 };
        const n = impl.packWalk(REDUCE.indexOf(op), 0, 0, shape, [{ v: x }, { v: accView }]);
        // One thread: the accumulators are shared by every thread's elements.
        if (n > 0) kernels['reduce']!(ARGS, 0, 0, n);
      }
      if (copies > 1 && op === 'sum') {
        const a = new Float64Array(impl.memory.buffer as ArrayBuffer, acc, size);
        for (let i = 0; i < size; i++) a[i]! *= copies;
      }
      const m = impl.packWalk(0, acc, 0, out.shape, [{ v: out, strides: out.strides }]);
      impl.runWalk('storeF64', m);
    },
    argreduce(op, x, dim, out) {
      const len = x.shape[dim]!;
      const outer = x.shape.map((s, d) => (d === dim ? 1 : s));
      const n = f32(x) && out.dtype === 'int32' && len > 0 ? impl.packWalk(op === 'argmin' ? 1 : 0, len, x.strides[dim]!, outer, [{ v: x }, { v: out }]) : -1;
      if (n < 0) return ref.argreduce(op, refView(x), dim, refView(out));
      impl.runWalk('argreduce', n, Math.max(1, Math.floor(GRAIN / len)));
    },
    matmul(a, c, out) {
      if (!f32(a, c, out)) return ref.matmul(refView(a), refView(c), refView(out));
      const [B, M, K] = a.shape as [number, number, number];
      const N = c.shape[2]!;
      if (B * M * N === 0) return;
      // Split the longer side of C over threads, in whole register tiles (4 rows, 8 columns).
      const splitN = N > M;
      const grain = Math.max(1, Math.ceil(FLOP_GRAIN / (Math.max(K, 1) * (splitN ? M : N))));
      const scratch = k.GEMM_SCRATCH.value;
      for (let b = 0; b < B; b++) {
        impl.packArgs([
          M, N, K, addr(a) + 4 * b * a.strides[0]!, a.strides[1]!, a.strides[2]!, addr(c) + 4 * b * c.strides[0]!, c.strides[1]!, c.strides[2]!,
          addr(out) + 4 * b * out.strides[0]!, out.strides[1]!, out.strides[2]!, 0, splitN ? 1 : 0,
        ]);
        impl.pool.run('sgemm', ARGS, splitN ? N : M, grain, scratch, splitN ? 8 : 4);
      }
    },
    gather(x, dim, index, out) {
      addr(x);
      const base = { v: x, strides: x.strides.map((s, d) => (d === dim ? 0 : s)) };
      const n = f32(x, out) && index.dtype === 'int32' ? impl.packWalk(0, x.shape[dim]!, x.strides[dim]!, index.shape, [base, { v: index }, { v: out }]) : -1;
      if (n < 0 || (n > 0 && k.gather(ARGS, n) !== 0)) ref.gather(refView(x), dim, refView(index), refView(out));
    },
    scatterAdd(out, dim, index, src) {
      addr(out);
      const base = { v: out, strides: out.strides.map((s, d) => (d === dim ? 0 : s)) };
      const n = f32(out, src) && index.dtype === 'int32' ? impl.packWalk(0, out.shape[dim]!, out.strides[dim]!, index.shape, [base, { v: index }, { v: src }]) : -1;
      // An out-of-range index is found before anything is written; the reference then reports it.
      if (n < 0 || (n > 0 && k.scatterAdd(ARGS, n) !== 0)) ref.scatterAdd(refView(out), dim, refView(index), refView(src));
    },
    conv2d(x, w, bias, out, p) {
      if (!(f32(x, w, out, bias ?? undefined) && nonEmpty(x, w, out))) return ref.conv2d(refView(x), refView(w), bias && refView(bias), refView(out), p);
      const args = convArgs(x.shape, w.shape, out.shape, p, [addr(x), addr(w), addr(out)], impl.pool.threads, bias);
      impl.packArgs(args);
      const [N, , , , , , , OH, OW] = args as number[] as [number, number, number, number, number, number, number, number, number];
      const perImage = numel(w.shape) * OH * OW;
      const items = k.convItems(ARGS, 0);
      impl.pool.run('conv2d', ARGS, items, Math.ceil(FLOP_GRAIN / (perImage * (N / items))), k.convScratch(ARGS, 0));
    },
    conv2dInputGrad(gy, w, gx, p) {
      if (!(f32(gy, w, gx) && nonEmpty(gy, w, gx))) return ref.conv2dInputGrad(refView(gy), refView(w), refView(gx), p);
      impl.packArgs(convArgs(gx.shape, w.shape, gy.shape, p, [addr(gy), addr(w), addr(gx)], impl.pool.threads));
      const N = gx.shape[0]!;
      const perImage = numel(w.shape) * gy.shape[2]! * gy.shape[3]!;
      const items = k.convItems(ARGS, 1);
      impl.pool.run('conv2dInputGrad', ARGS, items, Math.ceil(FLOP_GRAIN / (perImage * (N / items))), k.convScratch(ARGS, 1));
    },
    conv2dWeightGrad(x, gy, gw, p, gb = null) {
      if (!(f32(x, gy, gw) && nonEmpty(x, gy, gw))) return ref.conv2dWeightGrad(refView(x), refView(gy), refView(gw), p, gb && refView(gb));
      // The bias gradient: gy summed over N, H and W into gb seen as [1, O, 1, 1].
      if (gb) backend.reduce('sum', gy, { buffer: gb.buffer, dtype: gb.dtype, shape: [1, gb.shape[0]!, 1, 1], strides: [0, gb.strides[0]!, 0, 0], offset: gb.offset });
      const args = convArgs(x.shape, gw.shape, gy.shape, p, [addr(x), addr(gy), addr(gw)], impl.pool.threads);
      impl.packArgs(args);
      const N = x.shape[0]!;
      const OHW = gy.shape[2]! * gy.shape[3]!;
      const perImage = numel(gw.shape) * OHW;
      const items = k.convItems(ARGS, 2);
      const used = impl.pool.run('conv2dWeightGrad', ARGS, items, Math.ceil(FLOP_GRAIN / (perImage * (N / items))), k.convScratch(ARGS, 2));
      // Each thread summed its items into its own scratch; add those partials up into gw.
      const parts = ARGS + 8 * 64;
      impl.argBlock().set(impl.pool.scratchFor(0).slice(0, used), 64);
      k.convWeightGradReduce(ARGS, parts, used);
    },
    maxPool2d(x, out, indices, p) {
      if (!(f32(x, out) && indices.dtype === 'int32')) return ref.maxPool2d(refView(x), refView(out), refView(indices), p);
      impl.packArgs(poolArgs(x, out, p, [addr(indices), 0]));
      runPool(impl, k, 'maxPool2d', x, out);
    },
    maxPool2dGrad(gy, indices, gx) {
      const fallback = () => ref.maxPool2dGrad(refView(gy), refView(indices), refView(gx));
      if (!(f32(gy, gx) && indices.dtype === 'int32')) return fallback();
      const [N, C, H, W] = gx.shape as [number, number, number, number];
      const outPlane = gy.shape[2]! * gy.shape[3]!;
      impl.packArgs([N * C, H * W, outPlane, addr(gy), addr(indices), addr(gx), 0]);
      if (N * C > 0) impl.pool.run('maxPool2dGrad', ARGS, N * C, Math.ceil(GRAIN / Math.max(1, H * W + outPlane)), 0);
      if (impl.argBlock()[6] !== 0) fallback();
    },
    avgPool2d(x, out, p, opts) {
      if (!f32(x, out)) return ref.avgPool2d(refView(x), refView(out), p, opts);
      impl.packArgs(poolArgs(x, out, p, avgExtra(opts)));
      runPool(impl, k, 'avgPool2d', x, out);
    },
    avgPool2dGrad(gy, gx, p, opts) {
      if (!f32(gy, gx)) return ref.avgPool2dGrad(refView(gy), refView(gx), p, opts);
      impl.packArgs(poolArgs(gx, gy, p, avgExtra(opts)));
      runPool(impl, k, 'avgPool2dGrad', gx, gy);
    },
    batchNormStats(x, mean, variance) {
      if (!(f32(x, mean, variance) && unitStride(mean, variance))) return ref.batchNormStats(refView(x), refView(mean), refView(variance));
      runRows(impl, 'batchNormStats', x, [x, mean, variance]);
    },
    batchNormGrad(x, gy, mean, invstd, w, gx, gw, gb) {
      const all = [x, gy, mean, invstd, w, gx, gw, gb];
      if (!(all.every((v) => v.dtype === 'float32') && unitStride(mean, invstd, w, gw, gb))) {
        return ref.batchNormGrad(refView(x), refView(gy), refView(mean), refView(invstd), refView(w), refView(gx), refView(gw), refView(gb));
      }
      runRows(impl, 'batchNormGrad', x, all);
    },
  };
  return backend;
}

function avgExtra(opts: AvgPoolOptions): number[] {
  return [opts.countIncludePad ? 1 : 0, opts.divisorOverride ?? NaN];
}

/** [C] views the kernels read as C consecutive floats. */
const unitStride = (...vs: WView[]): boolean => vs.every((v) => v.shape[0]! <= 1 || v.strides[0] === 1);

/** A batch norm kernel over the channels of the [B, C, S] view x; `views` in the kernel's argument order. */
function runRows(impl: WasmBackendImpl, kernel: string, x: WView, views: readonly WView[]): void {
  const [B, C, S] = x.shape as [number, number, number];
  impl.packArgs([B, C, S, ...views.map((v) => addr(v))]);
  impl.pool.run(kernel, ARGS, C, Math.ceil(GRAIN / Math.max(1, 2 * B * S)), 0);
}

function runPool(impl: WasmBackendImpl, k: Exports, kernel: string, input: WView, output: WView): void {
  const planes = input.shape[0]! * input.shape[1]!;
  const perPlane = numel(input.shape.slice(2)) + numel(output.shape.slice(2));
  if (planes > 0) impl.pool.run(kernel, ARGS, planes, Math.ceil(GRAIN / Math.max(1, perPlane)), k.poolScratch(ARGS));
}

export interface WasmStatus {
  available: boolean;
  /** Why the backend is unavailable. */
  reason?: string;
  /** The build in use: 'simd' or 'relaxed', and whether its memory is shared. */
  build?: string;
  threads?: number;
  platform?: string;
}

/** f32x4.relaxed_madd in a one-function module: WebAssembly.validate tells whether the engine has relaxed SIMD. */
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00, 0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfd, 0x85, 0x02, 0x0b,
]);

interface Loaded {
  backend: Backend<WasmBuffer>;
  impl: WasmBackendImpl;
  status: WasmStatus;
}

let loading: Promise<Loaded | { reason: string }> | undefined;
let loaded: Loaded | undefined;

/** The backend once initWasm() resolved, else null. */
export let wasmBackend: Backend | null = null;

/** STRIDE_THREADS in Node, else the core count, at most 8. */
function threadCount(platform: Platform): number {
  const env = platform.envThreads();
  if (env === undefined || env === '') return Math.min(platform.cores, 8);
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1) throw new Error(`STRIDE_THREADS must be a positive integer, got '${env}'`);
  return n;
}

/**
 * Whether to load the relaxed-SIMD build: where the engine validates it (in Node 20 and 21 once
 * allowed: 10-15% off a LeNet-5 training step), unless STRIDE_WASM_BUILD=simd asks for the plain one.
 */
async function chooseRelaxed(platform: Platform): Promise<boolean> {
  const wanted = platform.envBuild();
  if (wanted !== undefined && wanted !== '' && wanted !== 'simd' && wanted !== 'relaxed') {
    throw new Error(`STRIDE_WASM_BUILD must be 'simd' or 'relaxed', got '${wanted}'`);
  }
  if (wanted === 'simd') return false;
  if (!WebAssemblyApi.validate(RELAXED_PROBE)) await platform.allowRelaxedSimd();
  const relaxed = WebAssemblyApi.validate(RELAXED_PROBE);
  if (wanted === 'relaxed' && !relaxed) throw new Error('STRIDE_WASM_BUILD=relaxed, but this engine does not validate relaxed SIMD');
  return relaxed;
}

async function load(): Promise<Loaded> {
  const platform = await currentPlatform();
  const threads = threadCount(platform);
  const shared = platform.sharedMemory && threads > 1;
  const relaxed = await chooseRelaxed(platform);
  const file = `stride-${relaxed ? 'relaxed' : 'simd'}${shared ? '' : '-unshared'}.wasm`;
  const bytes = await platform.readBytes(new URL(`./bin/${file}`, import.meta.url));
  const module = await WebAssemblyApi.compile(bytes);
  const memory = newMemory(shared);
  const { exports } = await WebAssemblyApi.instantiate(module, { env: { memory } });
  const kernels = exports as unknown as Record<string, Kernel>;
  const k = exports as unknown as Exports;
  // Filled in once the pool exists: scratch comes from the heap the backend owns.
  let heap: Heap | undefined;
  const pool = await ThreadPool.create({
    memory, module, exports: kernels, names: PARALLEL, threads: shared ? threads : 1, platform,
    allocScratch: (n) => heap!.alloc(n), freeScratch: (p) => heap!.free(p),
  });
  const impl = new WasmBackendImpl(memory, pool);
  heap = impl.heap;
  const backend = makeBackend(impl, k, kernels);
  const status: WasmStatus = { available: true, build: `${relaxed ? 'relaxed' : 'simd'}${shared ? ' (shared memory)' : ''}`, threads: pool.threads, platform: platform.name };
  return { backend, impl, status };
}

/** A memory of 16 MiB that can grow to 4 GiB (less where the engine reserves less). */
function newMemory(shared: boolean): WasmMemory {
  const initial = (16 << 20) / PAGE;
  for (const maximum of [65536, 32768, 16384]) {
    try {
      return new WebAssemblyApi.Memory({ initial, maximum, shared });
    } catch (e) {
      if (maximum === 16384) throw e;
    }
  }
  throw new Error('unreachable');
}

/**
 * Loads the kernels, starts the workers and registers the backend as 'wasm'. Resolves to its
 * status (available: false with a reason when WebAssembly SIMD is missing). Importing the module
 * already calls it, so later calls return that result.
 */
export async function initWasm(): Promise<WasmStatus> {
  loading ??= load().catch((e: unknown) => ({ reason: (e as Error).message }));
  const r = await loading;
  if ('reason' in r) return { available: false, reason: r.reason };
  if (!loaded) {
    loaded = r;
    wasmBackend = r.backend as Backend;
    registerBackend(wasmBackend);
  }
  return r.status;
}

export function wasmStatus(): WasmStatus {
  return loaded ? loaded.status : { available: false, reason: 'initWasm() has not completed' };
}

/** Bytes of the wasm memory in use by live buffers and scratch, and the memory's size. */
export function wasmMemory(): { allocated: number; memoryBytes: number } {
  if (!loaded) return { allocated: 0, memoryBytes: 0 };
  return { allocated: loaded.impl.heap.allocated, memoryBytes: loaded.impl.memory.buffer.byteLength };
}

/**
 * Threads the kernels split work over, at most those started at load (STRIDE_THREADS or the core
 * count, up to 8); small ops always run on the calling thread.
 */
export function setWasmThreads(n: number): void {
  if (!loaded) throw new Error('setWasmThreads: the wasm backend is not loaded');
  if (!Number.isInteger(n) || n < 1) throw new Error(`setWasmThreads: expected a positive integer, got ${n}`);
  loaded.impl.pool.setThreads(n);
  loaded.status.threads = loaded.impl.pool.threads;
}

await initWasm();
