/**
 * The native backend: the reference backend's buffers (typed arrays on the JS heap, so reading,
 * writing and allocating are the reference's) with the heavy primitives run by an N-API addon
 * over oneDNN, built from native/ by `make native` in a clone and by npm when the package is
 * installed (see native/README.md). Primitives or dtypes the addon does not cover (float64 and
 * integer maths, argmax/argmin, dtype conversions) run on the reference code.
 *
 * Node only: import it from a Node entry point (the package exports it as 'stride/native'), never
 * from the core. Importing it registers the backend as 'native' when the addon loads;
 * nativeStatus() says why it did not otherwise.
 */
import { registerBackend, type Backend, type Conv2dParams, type Pool2dParams, type View } from '../backend.js';
import { referenceBackend } from '../reference/index.js';
import { allocArray, type DType, type TypedArray } from '../../tensor/dtype.js';
import { numel } from '../../tensor/shape.js';
import { loadAddon, type Addon, type OpTable } from './addon.js';
import { Layouts } from './layout.js';

export interface NativeStatus {
  available: boolean;
  /** Why the backend is unavailable. */
  reason?: string;
  /** The instruction set oneDNN runs on (its own dispatch), e.g. avx512_core. */
  isa?: string;
  /** Threads used by oneDNN and the addon's parallel loops. */
  threads?: number;
  /** oneDNN's version and threading runtime. */
  onednn?: string;
}

type NView = View<TypedArray>;

/** The addon's loops handle views up to this rank (PyTorch allows 25; stride's models use at most 5). */
const MAX_RANK = 16;

/**
 * Shapes, strides and parameters go to the addon in this one array, refilled by every call
 * (calls are synchronous). 128 numbers cover the largest packing, gather's: three views of rank
 * 16 with their shapes, 101 numbers.
 */
const geometry = new Float64Array(128);
/** adamStep's scalars, beside the geometry. */
const adamParams = new Float64Array(8);

/** [rank, shape..., then per view: offset, strides...]: views walking one common shape. */
// Index loops, not for-of: every primitive call packs here, and V8 left these iterators
// unoptimised (a fifteenth of a LeNet-5 step's garbage).
function packViews(shape: readonly number[], views: readonly NView[]): Float64Array {
  let i = 0;
  geometry[i++] = shape.length;
  for (let d = 0; d < shape.length; d++) geometry[i++] = shape[d]!;
  for (let k = 0; k < views.length; k++) {
    const v = views[k]!;
    geometry[i++] = v.offset;
    for (let d = 0; d < v.strides.length; d++) geometry[i++] = v.strides[d]!;
  }
  return geometry;
}

/** Appends a view with its own shape: shape..., offset, strides... */
function packView(i: number, v: NView): number {
  for (let d = 0; d < v.shape.length; d++) geometry[i++] = v.shape[d]!;
  geometry[i++] = v.offset;
  for (let d = 0; d < v.strides.length; d++) geometry[i++] = v.strides[d]!;
  return i;
}

/**
 * [x shape, w shape, OH, OW, stride, padding, dilation, groups, the three offsets, the weights'
 * id and stamp (0, 0: none), the three operands' blocked flags (Layouts.convFlags), the offset of
 * the forward's bias or the weight gradient's bias gradient (-1: none)].
 */
function packConv(x: readonly number[], w: readonly number[], y: readonly number[], p: Conv2dParams, offsets: readonly [number, number, number], weights: readonly [number, number], blocked: readonly [number, number, number], biasOffset = -1): Float64Array {
  geometry.set(x);
  geometry.set(w, 4);
  geometry.set(y.slice(2), 8);
  geometry.set([...p.stride, ...p.padding, ...p.dilation, p.groups, ...offsets, ...weights, ...blocked, biasOffset], 10);
  return geometry;
}

/**
 * Stamps of buffer contents, for the addon's copies of convolution weights in oneDNN's layout
 * (KeptWeights in native/src/onednn.cc): whenever a primitive or write() changes a buffer, it
 * gets a number never used before, so the addon reuses a copy only for the very contents it was
 * made from. Buffers get ids the same way (never reused), since a freed buffer may be collected
 * and another take its place.
 */
const stamps = new WeakMap<TypedArray, number>();
const ids = new WeakMap<TypedArray, number>();
let lastNumber = 0;

const stamp = (b: TypedArray): void => void stamps.set(b, ++lastNumber);

/** The weights' [id, stamp] for packConv. */
function weightsKey(w: NView): [number, number] {
  let id = ids.get(w.buffer);
  if (id === undefined) ids.set(w.buffer, (id = ++lastNumber));
  return [id, stamps.get(w.buffer) ?? 0];
}

/** The argument positions of each primitive's outputs (optional ones may be absent), stamped after every call. */
const OUTPUTS = {
  copy: [1], fill: [0], unary: [2], binary: [3], where: [3], mulAdd: [3], sgdStep: [0, 2], adamStep: [0, 2, 3, 4], reduce: [2], argreduce: [3], matmul: [2], gather: [3], scatterAdd: [0],
  conv2d: [3], conv2dInputGrad: [2], conv2dWeightGrad: [2, 4], maxPool2d: [1, 2], maxPool2dGrad: [2], avgPool2d: [1], avgPool2dGrad: [1],
  batchNormStats: [1, 2], batchNormGrad: [5, 6, 7],
} as const satisfies Record<Exclude<keyof Backend, 'name' | 'externalMemory' | 'alloc' | 'free' | 'read' | 'write'>, readonly number[]>;

/** The backend with every write stamped: its primitives' outputs (whichever code computed them) and write(). */
function stamped(b: Backend<TypedArray>): Backend<TypedArray> {
  const out: Record<string, unknown> = { ...b };
  for (const [name, positions] of Object.entries(OUTPUTS)) {
    const f = (b as unknown as Record<string, (...args: unknown[]) => void>)[name]!;
    out[name] = (...args: unknown[]) => {
      f(...args);
      for (let k = 0; k < positions.length; k++) {
        const v = args[positions[k]!] as NView | null | undefined;
        if (v) stamp(v.buffer);
      }
    };
  }
  out['write'] = (buffer: TypedArray, dtype: DType, offset: number, data: ArrayLike<number>) => {
    b.write(buffer, dtype, offset, data);
    stamp(buffer);
  };
  return out as unknown as Backend<TypedArray>;
}

/** [N, C, H, W, OH, OW, adaptive, kh, kw, sh, sw, ph, pw, dh, dw, in offset, out offset, ...extra]. */
function packPool(input: NView, output: NView, p: Pool2dParams, extra: readonly number[]): Float64Array {
  geometry.set(input.shape);
  geometry.set(output.shape.slice(2), 4);
  if (p.kind === 'window') geometry.set([0, ...p.kernel, ...p.stride, ...p.padding, ...p.dilation], 6);
  else geometry.set([1, 0, 0, 0, 0, 0, 0, 0, 0], 6);
  geometry.set([input.offset, output.offset, ...extra], 15);
  return geometry;
}

const codes = (table: OpTable): Map<string, { code: number; out: DType }> =>
  new Map(table.map(([name, out], code) => [name, { code, out: out as DType }]));

const f32 = (a: NView, b: NView = a, c: NView = a): boolean => a.dtype === 'float32' && b.dtype === 'float32' && c.dtype === 'float32';
const fits = (v: NView): boolean => v.shape.length <= MAX_RANK;
/** oneDNN rejects empty tensors; the reference handles them. */
const nonEmpty = (a: NView, b: NView, c: NView): boolean => numel(a.shape) > 0 && numel(b.shape) > 0 && numel(c.shape) > 0;

/** A buffer's kind: bool and uint8 are both Uint8Arrays, so the pool's one list serves both. */
type Kind = 'float32' | 'float64' | 'int32' | 'uint8';
const kindOf = (b: TypedArray): Kind =>
  b instanceof Float32Array ? 'float32' : b instanceof Float64Array ? 'float64' : b instanceof Int32Array ? 'int32' : 'uint8';

/**
 * Freed buffers kept for reuse, by dtype and length. A training step frees (through tidy) the
 * same sizes it allocates next step, and recycling them instead of leaving them to the GC took
 * allocation and collection from about a quarter of a LeNet-5 step to almost nothing. Bounded,
 * so a model that changes shapes does not hoard memory.
 */
class BufferPool {
  // By kind, then length: no key string built per call (a ResNet-20 step allocates ~800 times).
  private readonly free: Record<Kind, Map<number, TypedArray[]>> = {
    float32: new Map(), float64: new Map(), int32: new Map(), uint8: new Map(),
  };
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  take(dtype: DType, size: number): TypedArray {
    const reused = this.free[dtype === 'bool' ? 'uint8' : dtype].get(size)?.pop();
    if (!reused) return allocArray(dtype, size);
    this.bytes -= reused.byteLength;
    // Not zeroed: Backend.alloc promises no contents (the native test run poisons them to check).
    return reused;
  }

  give(buffer: TypedArray): void {
    if (this.bytes + buffer.byteLength > this.maxBytes) return;
    const lists = this.free[kindOf(buffer)];
    const list = lists.get(buffer.length);
    if (list) list.push(buffer);
    else lists.set(buffer.length, [buffer]);
    this.bytes += buffer.byteLength;
  }
}

/** Index buffers written by a max pooling over a blocked input (a hint for its gradient's layout). */
const pooledBlocked = new WeakSet<TypedArray>();

function makeBackend(addon: Addon, layouts: Layouts): Backend<TypedArray> {
  const ref = referenceBackend;
  const unaryOps = codes(addon.unaryOps);
  const binaryOps = codes(addon.binaryOps);
  const reduceOps = codes(addon.reduceOps);
  const pool = new BufferPool(2 ** 30);
  /** Runs the reference's code on plain buffers. */
  const plainly = (run: () => void, ...views: NView[]): void => {
    layouts.plain(...views);
    run();
  };
  return {
    ...ref,
    name: 'native',
    alloc: (dtype, size) => pool.take(dtype, size),
    free: (buffer) => pool.give(buffer),
    copy(src, dst) {
      if (src.dtype === dst.dtype && fits(dst)) addon.copy(src.buffer, dst.buffer, packViews(dst.shape, [src, dst]));
      else ref.copy(src, dst);
    },
    fill(dst, value) {
      if ((dst.dtype === 'float32' || dst.dtype === 'float64') && fits(dst)) addon.fill(dst.buffer, value, packViews(dst.shape, [dst]));
      else ref.fill(dst, value);
    },
    // Elementwise ops run over blocked positions when an input is blocked (see layout.ts).
    unary(op, x0, out0) {
      const [out, x] = layouts.elementwise(out0, [x0]) ?? [out0, x0];
      const o = unaryOps.get(op);
      if (o && o.out === out.dtype && f32(x) && fits(out)) addon.unary(o.code, x.buffer, out.buffer, packViews(out.shape, [x, out]));
      else ref.unary(op, x, out);
      layouts.wrote(out0, out !== out0);
    },
    binary(op, a0, b0, out0) {
      const [out, a, b] = layouts.elementwise(out0, [a0, b0]) ?? [out0, a0, b0];
      const o = binaryOps.get(op);
      if (o && o.out === out.dtype && f32(a, b) && fits(out)) addon.binary(o.code, a.buffer, b.buffer, out.buffer, packViews(out.shape, [a, b, out]));
      else ref.binary(op, a, b, out);
      layouts.wrote(out0, out !== out0);
    },
    where(cond0, a0, b0, out0) {
      const [out, cond, a, b] = layouts.elementwise(out0, [cond0, a0, b0]) ?? [out0, cond0, a0, b0];
      if (cond.dtype === 'bool' && f32(a, b, out) && fits(out)) addon.where(cond.buffer, a.buffer, b.buffer, out.buffer, packViews(out.shape, [cond, a, b, out]));
      else ref.where(cond, a, b, out);
      layouts.wrote(out0, out !== out0);
    },
    mulAdd(a0, b0, c0, out0) {
      const [out, a, b, c] = layouts.elementwise(out0, [a0, b0, c0]) ?? [out0, a0, b0, c0];
      if (f32(a, b, c) && f32(out) && fits(out)) addon.mulAdd(a.buffer, b.buffer, c.buffer, out.buffer, packViews(out.shape, [a, b, c, out]));
      else ref.mulAdd(a, b, c, out);
      layouts.wrote(out0, out !== out0);
    },
    sgdStep(p, grad, buf, s) {
      if (!(f32(p, grad, buf ?? p) && fits(p))) return ref.sgdStep(p, grad, buf, s);
      const b = buf ?? p;
      addon.sgdStep(p.buffer, grad.buffer, b.buffer, packViews(p.shape, [p, grad, b]), s.alpha, s.weightDecay, s.momentum, s.dampening,
        (s.nesterov ? 1 : 0) | (s.first ? 2 : 0) | (buf ? 4 : 0));
    },
    adamStep(p, grad, m, v, vmax, s) {
      const x = vmax ?? v;
      if (!(f32(p, grad, m) && f32(v, x) && fits(p))) return ref.adamStep(p, grad, m, v, vmax, s);
      adamParams.set([s.stepSize, s.beta1, s.beta2, s.eps, s.correction2Sqrt, s.weightDecay, s.decay, (s.maximize ? 1 : 0) | (vmax ? 2 : 0)]);
      addon.adamStep(p.buffer, grad.buffer, m.buffer, v.buffer, x.buffer, packViews(p.shape, [p, grad, m, v, x]), adamParams);
    },
    // A per-channel reduction reads a blocked x as it is (see layout.ts).
    reduce(op, x0, out0) {
      const o = reduceOps.get(op);
      if (!(o && f32(x0, out0) && fits(x0))) return plainly(() => ref.reduce(op, x0, out0), x0, out0);
      const [x, out] = layouts.channelwise(x0, out0) ?? [x0, out0];
      // A reduced dim along which x is broadcast (stride 0) holds one value: max and min ignore
      // it and a sum multiplies by its size, instead of visiting every copy (the gradient of
      // .sum() is such a view, and summing it per channel took 1.8 ms for 2 MB).
      let copies = 1;
      const shape = x.shape.map((n, d) => {
        if (x.strides[d] !== 0 || out.shape[d] !== 1 || n <= 1 || op === 'prod') return n;
        copies *= n;
        return 1;
      });
      // Views may be tensors, whose fields are getters: a spread would lose them.
      const view = copies > 1 ? { buffer: x.buffer, dtype: x.dtype, shape, strides: x.strides, offset: x.offset } : x;
      let i = 0;
      geometry[i++] = view.shape.length;
      i = packView(i, view);
      packView(i, out);
      addon.reduce(o.code, view.buffer, out.buffer, geometry);
      if (copies > 1 && op === 'sum') {
        const factor = { buffer: Float32Array.of(copies), dtype: 'float32' as const, shape: out.shape, strides: out.shape.map(() => 0), offset: 0 };
        addon.binary(binaryOps.get('mul')!.code, out.buffer, factor.buffer, out.buffer, packViews(out.shape, [out, factor, out]));
      }
    },
    // An out-of-range index sends the call to the reference, which throws its IndexError.
    gather(x, dim, index, out) {
      if (!(f32(x, out) && index.dtype === 'int32' && fits(x) && addon.gather(x.buffer, index.buffer, out.buffer, packIndexed(dim, x, index, out)))) {
        ref.gather(x, dim, index, out);
      }
    },
    scatterAdd(out, dim, index, src) {
      if (!(f32(out, src) && index.dtype === 'int32' && fits(out) && addon.scatterAdd(out.buffer, index.buffer, src.buffer, packIndexed(dim, out, index, src)))) {
        ref.scatterAdd(out, dim, index, src);
      }
    },
    matmul(a, c, out) {
      if (!f32(a, c, out)) return ref.matmul(a, c, out);
      geometry.set([...a.shape, c.shape[2]!, a.offset, ...a.strides, c.offset, ...c.strides, out.offset, ...out.strides]);
      addon.matmul(a.buffer, c.buffer, out.buffer, geometry);
    },
    // Convolutions read blocked activations and leave blocked outputs (see layout.ts).
    conv2d(x, w, bias, out, p) {
      if (!(f32(x, w, out) && (!bias || f32(bias)) && nonEmpty(x, w, out))) {
        return plainly(() => ref.conv2d(x, w, bias, out, p), x, w, out, ...(bias ? [bias] : []));
      }
      const blocked = layouts.convFlags([x, w, out], [true, false, true]);
      const g = packConv(x.shape, w.shape, out.shape, p, [x.offset, w.offset, out.offset], weightsKey(w), blocked, bias ? bias.offset : -1);
      if (!bias) return layouts.wrote(out, addon.conv2d(x.buffer, w.buffer, out.buffer, g));
      layouts.plain(bias);
      layouts.wrote(out, addon.conv2d(x.buffer, w.buffer, out.buffer, g, bias.buffer));
    },
    conv2dInputGrad(gy, w, gx, p) {
      if (!(f32(gy, w, gx) && nonEmpty(gy, w, gx))) return plainly(() => ref.conv2dInputGrad(gy, w, gx, p), gy, w, gx);
      const blocked = layouts.convFlags([gy, w, gx], [true, false, true]);
      layouts.wrote(gx, addon.conv2dInputGrad(gy.buffer, w.buffer, gx.buffer, packConv(gx.shape, w.shape, gy.shape, p, [gy.offset, w.offset, gx.offset], weightsKey(w), blocked)));
    },
    // The bias gradient, when asked for, comes from the same pass (oneDNN's diff_bias, or the sums
    // of gy's rows as stride's kernel copies them); the addon takes it with unit stride.
    conv2dWeightGrad(x, gy, gw, p, gb = null) {
      const gbFits = !gb || (f32(gb) && (gb.shape[0]! <= 1 || gb.strides[0] === 1));
      if (!(f32(x, gy, gw) && gbFits && nonEmpty(x, gy, gw))) return plainly(() => ref.conv2dWeightGrad(x, gy, gw, p, gb), x, gy, gw, ...(gb ? [gb] : []));
      if (gb) layouts.plain(gb);
      const blocked = layouts.convFlags([x, gy, gw], [true, true, false]);
      const g = packConv(x.shape, gw.shape, gy.shape, p, [x.offset, gy.offset, gw.offset], [0, 0], blocked, gb ? gb.offset : -1);
      layouts.wrote(gw, gb ? addon.conv2dWeightGrad(x.buffer, gy.buffer, gw.buffer, g, gb.buffer) : addon.conv2dWeightGrad(x.buffer, gy.buffer, gw.buffer, g));
    },
    // Max pooling reads a blocked input as it is and leaves its output blocked (see layout.ts).
    maxPool2d(x, out, indices, p) {
      if (!(f32(x, out) && indices.dtype === 'int32')) return plainly(() => ref.maxPool2d(x, out, indices, p), x, out, indices);
      const blocked = p.kind === 'window' && layouts.isBlocked(x) && Layouts.canBlock(out);
      if (blocked) layouts.plain(indices);
      else layouts.plain(x, out, indices);
      addon.maxPool2d(x.buffer, out.buffer, indices.buffer, packPool(x, out, p, [indices.offset, blocked ? 1 : 0]));
      layouts.wrote(out, blocked);
      if (blocked) pooledBlocked.add(indices.buffer);
      else pooledBlocked.delete(indices.buffer);
    },
    // gx is blocked when gy is, or when the pooling read a blocked input (LeNet-5: its gradient
    // then meets the blocked ReLU output as it is).
    maxPool2dGrad(gy, indices, gx) {
      if (!(f32(gy, gx) && indices.dtype === 'int32')) return plainly(() => ref.maxPool2dGrad(gy, indices, gx), gy, indices, gx);
      const blocked = (layouts.isBlocked(gy) || pooledBlocked.has(indices.buffer)) && Layouts.canBlock(gx);
      const gyBlocked = blocked && layouts.isBlocked(gy);
      layouts.plain(indices, ...(gyBlocked ? [] : [gy]), ...(blocked ? [] : [gx]));
      const [N, C, H, W] = gx.shape as [number, number, number, number];
      geometry.set([N * C, C, H * W, gy.shape[2]! * gy.shape[3]!, gy.offset, indices.offset, gx.offset, blocked ? 1 : 0, gyBlocked ? 1 : 0]);
      if (!addon.maxPool2dGrad(gy.buffer, indices.buffer, gx.buffer, geometry)) return plainly(() => ref.maxPool2dGrad(gy, indices, gx), gy, gx);
      layouts.wrote(gx, blocked);
    },
    avgPool2d(x, out, p, opts) {
      if (f32(x, out)) addon.avgPool2d(x.buffer, out.buffer, packPool(x, out, p, [opts.countIncludePad ? 1 : 0, opts.divisorOverride ?? NaN]));
      else ref.avgPool2d(x, out, p, opts);
    },
    avgPool2dGrad(gy, gx, p, opts) {
      if (f32(gy, gx)) addon.avgPool2dGrad(gy.buffer, gx.buffer, packPool(gx, gy, p, [opts.countIncludePad ? 1 : 0, opts.divisorOverride ?? NaN]));
      else ref.avgPool2dGrad(gy, gx, p, opts);
    },
    // Batch norm reads (and its gradient writes) blocked rows as they are (see layout.ts).
    batchNormStats(x, mean, variance) {
      if (!(f32(x, mean, variance) && unitStride(mean, variance))) return plainly(() => ref.batchNormStats(x, mean, variance), x);
      const blocked = layouts.rows(x);
      addon.batchNormStats(x.buffer, mean.buffer, variance.buffer, packRows(x, [x, mean, variance], blocked));
    },
    batchNormGrad(x, gy, mean, invstd, w, gx, gw, gb) {
      const all = [x, gy, mean, invstd, w, gx, gw, gb] as const;
      if (!(all.every((v) => v.dtype === 'float32') && unitStride(mean, invstd, w, gw, gb))) {
        return plainly(() => ref.batchNormGrad(x, gy, mean, invstd, w, gx, gw, gb), x, gy, gx);
      }
      const blocked = layouts.rows(x, gy, gx);
      addon.batchNormGrad(x.buffer, gy.buffer, mean.buffer, invstd.buffer, w.buffer, gx.buffer, gw.buffer, gb.buffer, packRows(x, all, blocked));
      layouts.wrote(gx, blocked);
    },
  };
}

/** [C] views the addon reads as C consecutive floats. */
const unitStride = (...vs: NView[]): boolean => vs.every((v) => v.shape[0]! <= 1 || v.strides[0] === 1);

/** [B, C, S] of the (contiguous) [B, C, S] view x, then each view's offset, then whether the rows are blocked. */
function packRows(x: NView, views: readonly NView[], blocked: boolean): Float64Array {
  geometry.set(x.shape);
  views.forEach((v, i) => (geometry[3 + i] = v.offset));
  geometry[3 + views.length] = blocked ? 1 : 0;
  return geometry;
}

/** [rank, dim, then three views with their own shapes]: gather's x, index, out or scatter's out, index, src. */
function packIndexed(dim: number, a: NView, index: NView, b: NView): Float64Array {
  geometry[0] = a.shape.length;
  geometry[1] = dim;
  packView(packView(packView(2, a), index), b);
  return geometry;
}

/** STRIDE_THREADS, when set, must be a positive integer. */
function envThreads(): number | undefined {
  const s = process.env['STRIDE_THREADS'];
  if (s === undefined || s === '') return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`STRIDE_THREADS must be a positive integer, got '${s}'`);
  return n;
}

function init(): { addon: Addon; backend: Backend<TypedArray> } | { reason: string } {
  const loaded = loadAddon();
  if (!('addon' in loaded)) return loaded;
  try {
    const threads = envThreads();
    if (threads !== undefined) loaded.addon.setThreads(threads);
  } catch (e) {
    return { reason: (e as Error).message };
  }
  const layouts = new Layouts((buffer, g) => loaded.addon.relayout(buffer, g), stamp);
  return { addon: loaded.addon, backend: stamped(layouts.wrap(makeBackend(loaded.addon, layouts))) };
}

const state = init();

/** The native backend, or null when the addon is unavailable (see nativeStatus). */
export const nativeBackend: Backend | null = 'backend' in state ? (state.backend as Backend) : null;
if (nativeBackend) registerBackend(nativeBackend);

export function nativeStatus(): NativeStatus {
  if (!('addon' in state)) return { available: false, reason: state.reason };
  const s = state.addon.status();
  return { available: true, isa: s.isa, threads: s.threads, onednn: `${s.onednn} (${s.runtime})` };
}

/**
 * Whether this JS thread's convolutions may use Winograd's algorithm where it pays (3x3, stride
 * 1, >= 32 channels; default on): oneDNN's forward and input gradient, stride's weight gradient.
 * Off gives direct convolutions only, whose rounding is a little tighter (see native/README.md,
 * Numerics).
 */
export function setWinograd(on: boolean): void {
  if (!('addon' in state)) throw new Error(`setWinograd: the native backend is unavailable: ${state.reason}`);
  state.addon.setWinograd(on ? 1 : 0);
}

/**
 * Threads for oneDNN and the addon's loops (default: the core count, or STRIDE_THREADS). oneDNN
 * follows it when built on OpenMP, as Debian's is; small ops always run on the calling thread.
 */
export function setThreads(n: number): void {
  if (!('addon' in state)) throw new Error(`setThreads: the native backend is unavailable: ${state.reason}`);
  if (!Number.isInteger(n) || n < 1) throw new Error(`setThreads: expected a positive integer, got ${n}`);
  state.addon.setThreads(n);
}
