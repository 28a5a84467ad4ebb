import type { DType, TypedArray } from '../tensor/dtype.js';
import type { Shape } from '../tensor/shape.js';

/**
 * A strided window onto a backend buffer: what primitives read and write. Element (i0, i1, ...)
 * lives at buffer index offset + Σ i_k * strides[k]. Broadcast inputs have stride 0.
 */
export interface View<B = unknown> {
  readonly buffer: B;
  readonly dtype: DType;
  readonly shape: Shape;
  readonly strides: readonly number[];
  readonly offset: number;
}

/** A per-channel [C] vector (a convolution's bias) broadcast over an [N, C, H, W] view. */
export function channelBroadcast<B>(v: View<B>, over: View<B>): View<B> {
  return { buffer: v.buffer, dtype: v.dtype, shape: over.shape, strides: [0, v.strides[0]!, 0, 0], offset: v.offset };
}

export type UnaryOp =
  | 'neg' | 'abs' | 'sign' | 'exp' | 'log' | 'log1p' | 'expm1' | 'sqrt' | 'rsqrt' | 'reciprocal'
  | 'sin' | 'cos' | 'tanh' | 'sigmoid' | 'relu' | 'floor' | 'ceil' | 'round' | 'trunc' | 'erf'
  | 'logical_not';

export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'remainder' | 'floor_divide'
  | 'atan2' | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'logical_and' | 'logical_or' | 'logical_xor'
  /** ReLU's gradient: a where b > 0 (or NaN), else 0: PyTorch's threshold_backward(a, b, 0). */
  | 'relu_grad';

export type ReduceOp = 'sum' | 'prod' | 'max' | 'min';

export type ArgReduceOp = 'argmax' | 'argmin';

/** Convolution geometry per spatial dim [h, w]; bottom/right padding follows from the output size. */
export interface Conv2dParams {
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number];
  readonly dilation: readonly [number, number];
  readonly groups: number;
}

/**
 * Pooling windows. 'window': output index o covers input o*stride - padding + j*dilation for
 * j < kernel. 'adaptive': output o of O covers input [floor(o*I/O), ceil((o+1)*I/O)).
 */
export type Pool2dParams =
  | {
      readonly kind: 'window';
      readonly kernel: readonly [number, number];
      readonly stride: readonly [number, number];
      readonly padding: readonly [number, number];
      readonly dilation: readonly [number, number];
    }
  | { readonly kind: 'adaptive' };

/**
 * One step of SGD (PyTorch's formulation) on a parameter p with gradient g, each quantity computed
 * in float64 and rounded to the dtype as its own op would round it (a·b + c once), with the
 * scalars rounded to the dtype first:
 *   d = weightDecay ≠ 0 ? p·weightDecay + g : g;
 *   with a momentum buffer: buf = first ? d : d·(1 - dampening) + (buf·momentum), and then
 *   d = nesterov ? buf·momentum + d : buf;
 *   p = d·alpha + p (alpha is -lr, or lr when maximizing).
 */
export interface SgdStep {
  readonly alpha: number;
  readonly weightDecay: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  /** The buffer's first step: it takes d as it is. */
  readonly first: boolean;
}

/**
 * One step of Adam or AdamW (PyTorch's formulation) on a parameter p with gradient g and moment
 * estimates m and v, rounded as SgdStep (scalars to the dtype first; each quantity as its own op):
 *   p = p·decay (AdamW's decoupled decay; 1 for Adam); g = maximize ? -g : g;
 *   g = weightDecay ≠ 0 ? p·weightDecay + g : g (Adam's L2);
 *   m = g·(1 - beta1) + (m·beta1); v = (g·g)·(1 - beta2) + (v·beta2);
 *   with amsgrad, vmax = max(vmax, v) and vmax replaces v below;
 *   p = (m / (sqrt(v) / correction2Sqrt + eps))·(-stepSize) + p.
 */
export interface AdamStep {
  /** lr / (1 - beta1^t). */
  readonly stepSize: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** sqrt(1 - beta2^t). */
  readonly correction2Sqrt: number;
  readonly weightDecay: number;
  readonly decay: number;
  readonly maximize: boolean;
}

export interface AvgPoolOptions {
  /** Count padded positions in the divisor (PyTorch's count_include_pad). */
  readonly countIncludePad: boolean;
  /** Divide by this instead of the window size when set. */
  readonly divisorOverride: number | null;
}

/**
 * What a backend implements. Everything else in stride is composed from these. Outputs are
 * passed in already allocated (usually contiguous; in-place ops pass an input as output), in
 * the dtype the op wants; a primitive converts as it stores. Shapes have been checked by the
 * op's shape rule before a primitive runs, except index values, which the primitive checks.
 */
export interface Backend<B = unknown> {
  readonly name: string;
  /** True when buffers live outside the JS heap and must be freed (finalizers are then armed). */
  readonly externalMemory: boolean;

  /** A buffer of `size` elements with unspecified contents: every caller writes before it reads. */
  alloc(dtype: DType, size: number): B;
  free(buffer: B): void;
  /** Copies `size` elements starting at `offset` out of the buffer. */
  read(buffer: B, dtype: DType, offset: number, size: number): TypedArray;
  /** Copies `data` into the buffer at `offset` (converting to `dtype`). */
  write(buffer: B, dtype: DType, offset: number, data: ArrayLike<number>): void;

  /** dst[i] = src[i] for every index, converting dtypes; src may broadcast (stride 0). */
  copy(src: View<B>, dst: View<B>): void;
  fill(dst: View<B>, value: number): void;
  unary(op: UnaryOp, x: View<B>, out: View<B>): void;
  /** a and b have out's rank and shape, broadcast dims with stride 0. */
  binary(op: BinaryOp, a: View<B>, b: View<B>, out: View<B>): void;
  /** out = cond ? a : b, all broadcast to out's shape. */
  where(cond: View<B>, a: View<B>, b: View<B>, out: View<B>): void;
  /**
   * out = a·b + c for float views broadcast to out's shape, computed in float64 and rounded once
   * on store (a float32 product is exact in float64): batch norm's x·scale + shift and the
   * optimizers' p + α·v in one pass instead of two. out may be a or c (in-place updates).
   */
  mulAdd(a: View<B>, b: View<B>, c: View<B>, out: View<B>): void;
  /**
   * SGD's update in one pass (see SgdStep): p and buf (null without momentum) are written in
   * place; p, grad and buf have one shape and one float dtype and do not overlap.
   */
  sgdStep(p: View<B>, grad: View<B>, buf: View<B> | null, s: SgdStep): void;
  /**
   * Adam's update in one pass (see AdamStep): p, m, v and vmax (null without amsgrad) are written
   * in place; all have grad's shape and one float dtype and do not overlap.
   */
  adamStep(p: View<B>, grad: View<B>, m: View<B>, v: View<B>, vmax: View<B> | null, s: AdamStep): void;
  /** Reduces x over every dim where out has size 1 and x does not (out keeps x's rank). */
  reduce(op: ReduceOp, x: View<B>, out: View<B>): void;
  /** Index (int32) of the first max/min along `dim`; out has x's shape with out.shape[dim] = 1. */
  argreduce(op: ArgReduceOp, x: View<B>, dim: number, out: View<B>): void;
  /** out[b] = a[b] @ c[b] for a [B, M, K], c [B, K, N], out [B, M, N]. */
  matmul(a: View<B>, c: View<B>, out: View<B>): void;
  /** out[...i_dim...] = x[...index[...]...] along dim; out and index have the same shape. */
  gather(x: View<B>, dim: number, index: View<B>, out: View<B>): void;
  /** out[...index[...]...] += src[...] along dim (the adjoint of gather). */
  scatterAdd(out: View<B>, dim: number, index: View<B>, src: View<B>): void;

  // The conv and pool primitives take contiguous row-major views (any offset), inputs and outputs.

  /** x [N, C, H, W], w [O, C/groups, kh, kw], bias [O] or null → out [N, O, oh, ow]. */
  conv2d(x: View<B>, w: View<B>, bias: View<B> | null, out: View<B>, p: Conv2dParams): void;
  /** Gradient of conv2d w.r.t. x (also the transposed convolution): gy, w → gx. */
  conv2dInputGrad(gy: View<B>, w: View<B>, gx: View<B>, p: Conv2dParams): void;
  /**
   * Gradient of conv2d w.r.t. w: x, gy → gw; with gb [O], also the bias gradient, gy summed over
   * N, H and W (fast backends take it from the same pass over gy).
   */
  conv2dWeightGrad(x: View<B>, gy: View<B>, gw: View<B>, p: Conv2dParams, gb?: View<B> | null): void;
  /** Max over each window of x [N, C, H, W]; indices (int32) are flat h*W+w within the plane. */
  maxPool2d(x: View<B>, out: View<B>, indices: View<B>, p: Pool2dParams): void;
  /**
   * Adjoint of maxPool2d given its indices: gx [N, C, H, W] (which it overwrites) gets each of gy
   * [N, C, OH, OW] at the position its max came from, summed where windows overlap. An index
   * outside the plane throws the reference's IndexError before anything is written.
   */
  maxPool2dGrad(gy: View<B>, indices: View<B>, gx: View<B>): void;
  avgPool2d(x: View<B>, out: View<B>, p: Pool2dParams, opts: AvgPoolOptions): void;
  /** Adjoint of avgPool2d: spreads gy over the windows into gx (which it overwrites). */
  avgPool2dGrad(gy: View<B>, gx: View<B>, p: Pool2dParams, opts: AvgPoolOptions): void;

  // Normalisation over batch statistics, on contiguous [B, C, S] views (any offset) with one
  // statistic per channel C over B and S: batch norm's [N, C, H·W], or layer, group and instance
  // norm's rows as [1, rows, S].

  /** Per channel: the mean and the biased variance of x [B, C, S] into mean and variance [C]. */
  batchNormStats(x: View<B>, mean: View<B>, variance: View<B>): void;
  /**
   * The gradients of y = x̂·w + b with x̂ = (x - mean)·invstd over batch statistics (so through
   * them), given gy: per channel gw = Σ gy·x̂ and gb = Σ gy over B and S, and gx = w·invstd·(gy -
   * (gb + x̂·gw) / (B·S)). x, gy, gx [B, C, S]; mean, invstd, w, gw, gb [C].
   */
  batchNormGrad(x: View<B>, gy: View<B>, mean: View<B>, invstd: View<B>, w: View<B>, gx: View<B>, gw: View<B>, gb: View<B>): void;
}

const registry = new Map<string, Backend>();
let defaultBackend: Backend | undefined;

export function registerBackend(backend: Backend): void {
  registry.set(backend.name, backend);
  defaultBackend ??= backend;
}

export function getBackend(name?: string): Backend {
  if (name === undefined) {
    if (!defaultBackend) throw new Error('no backend registered');
    return defaultBackend;
  }
  const b = registry.get(name);
  if (!b) {
    throw new Error(`unknown backend '${name}'; available: ${[...registry.keys()].join(', ')}`);
  }
  return b;
}

/** Makes `name` the backend new tensors are created on (PyTorch's set_default_device). */
export function set_default_backend(name: string): void {
  defaultBackend = getBackend(name);
}

/** Runs fn with `name` as the default backend, e.g. building a model on 'meta' to read its shapes. */
export function with_default_backend<T>(name: string, fn: () => T): T {
  const previous = defaultBackend;
  defaultBackend = getBackend(name);
  try {
    return fn();
  } finally {
    defaultBackend = previous;
  }
}

export function get_default_backend(): string {
  return getBackend().name;
}

export function list_backends(): string[] {
  return [...registry.keys()];
}
