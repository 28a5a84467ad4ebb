import type { AvgPoolOptions, Pool2dParams } from '../backend/backend.js';
import { ShapeError } from '../tensor/errors.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { conv_output_size, spatialArg, to2d, toNCHW, type IntOrPair, type IntOrSingle } from './conv.js';
import { defineOp, defineOpWithExtras, emptyLike, requireFloat, type Op } from './define.js';
import { gather } from './indexing.js';
import { contiguous, reshape } from './shape.js';

// ---------------------------------------------------------------- ops on checked [N, C, H, W] inputs

interface PoolAttrs {
  readonly p: Pool2dParams;
  /** Output spatial size [oh, ow]. */
  readonly out: readonly [number, number];
}

interface AvgPoolAttrs extends PoolAttrs {
  readonly opts: AvgPoolOptions;
}

interface AvgPoolGradAttrs extends AvgPoolAttrs {
  /** Spatial size of the input gradient. */
  readonly size: readonly [number, number];
}

const maxPoolOp = defineOpWithExtras<[Tensor], PoolAttrs>({
  name: 'max_pool2d',
  shape: ([x], { out }) => [x.shape[0]!, x.shape[1]!, ...out],
  forward: ([x], { p }, shape) => {
    const out = emptyLike(x, shape);
    const indices = emptyLike(x, shape, 'int32');
    x.backend.maxPool2d(contiguous(x), out, indices, p);
    return { out, extras: [indices] };
  },
  save: 'none',
  backward: (gy, { extras: [indices], shapes: [shape] }) => [maxPoolGradOp([gy, indices!], { size: [shape[2]!, shape[3]!] })],
});

/**
 * Each output's gradient goes to the position its max came from. Its own gradient picks those
 * positions out again (a gather over the flat planes), which gives double backward.
 */
const maxPoolGradOp = defineOp<[Tensor, Tensor], { readonly size: readonly [number, number] }>({
  name: 'max_pool2d_backward',
  shape: ([gy], { size }) => [gy.shape[0]!, gy.shape[1]!, ...size],
  forward: ([gy, indices], _attrs, shape) => {
    const gx = emptyLike(gy, shape);
    gy.backend.maxPool2dGrad(contiguous(gy), indices, gx);
    return gx;
  },
  save: 'inputs',
  backward: (ggx, { inputs: [gy, indices] }) => {
    const [N, C, H, W] = ggx.shape as [number, number, number, number];
    const flat = [N * C, gy.shape[2]! * gy.shape[3]!];
    return [reshape(gather(reshape(ggx, [N * C, H * W]), 1, reshape(indices, flat)), gy.shape), null];
  },
});

// Average pooling is linear and avgPool2dGrad is its adjoint, so each op's gradient is the other.

const avgPoolOp: Op<[Tensor], AvgPoolAttrs> = defineOp<[Tensor], AvgPoolAttrs>({
  name: 'avg_pool2d',
  shape: ([x], { out }) => [x.shape[0]!, x.shape[1]!, ...out],
  forward: ([x], { p, opts }, shape) => {
    const out = emptyLike(x, shape);
    x.backend.avgPool2d(contiguous(x), out, p, opts);
    return out;
  },
  save: 'none',
  backward: (gy, { attrs, shapes: [shape] }) => [avgPoolGradOp([gy], { ...attrs, size: [shape[2]!, shape[3]!] })],
});

const avgPoolGradOp: Op<[Tensor], AvgPoolGradAttrs> = defineOp<[Tensor], AvgPoolGradAttrs>({
  name: 'avg_pool2d_backward',
  shape: ([gy], { size }) => [gy.shape[0]!, gy.shape[1]!, ...size],
  forward: ([gy], { p, opts }, shape) => {
    const gx = emptyLike(gy, shape);
    gy.backend.avgPool2dGrad(contiguous(gy), gx, p, opts);
    return gx;
  },
  save: 'none',
  backward: (ggx, { attrs }) => [avgPoolOp([ggx], attrs)],
});

// ---------------------------------------------------------------- argument checks

interface Prepared {
  x: Tensor;
  back: (y: Tensor) => Tensor;
  attrs: PoolAttrs;
}

/** Rank, dtype and non-empty channel and spatial dims, as PyTorch's pooling checks. */
function prepareInput(op: string, x: Tensor, nd: 1 | 2): { x: Tensor; back: (y: Tensor) => Tensor } {
  requireFloat(x, op);
  const lifted = toNCHW(op, x, nd);
  if (lifted.x.shape.slice(1).some((s) => s === 0)) {
    throw new ShapeError(`${op}: expected non-zero sizes for the channel and spatial dims, got input shape ${formatShape(x.shape)}`);
  }
  return lifted;
}

interface WindowOptions<S> {
  /** Default: kernel_size. */
  stride?: S | null;
  padding?: S;
  dilation?: S;
  ceil_mode?: boolean;
}

function windowPool(op: string, nd: 1 | 2, x: Tensor, kernelSize: number | readonly number[], opts: WindowOptions<number | readonly number[]>): Prepared {
  const { x: x4, back } = prepareInput(op, x, nd);
  const kernel = spatialArg(op, 'kernel_size', kernelSize, nd, 1);
  const stride = opts.stride == null ? kernel : spatialArg(op, 'stride', opts.stride, nd, 1);
  const padding = spatialArg(op, 'padding', opts.padding ?? 0, nd, 0);
  const dilation = spatialArg(op, 'dilation', opts.dilation ?? 1, nd, 1);
  const ceil_mode = opts.ceil_mode ?? false;
  const args = () =>
    `input shape ${formatShape(x.shape)}, kernel_size ${formatShape(kernel)}, stride ${formatShape(stride)}, padding ${formatShape(padding)}, dilation ${formatShape(dilation)}, ceil_mode ${ceil_mode}`;
  if (padding.some((p, d) => 2 * p > kernel[d]!)) {
    throw new ShapeError(`${op}: padding ${formatShape(padding)} must be at most half of kernel_size ${formatShape(kernel)}`);
  }
  const spatial = x4.shape.slice(4 - nd);
  const out = spatial.map((i, d) => conv_output_size(i, kernel[d]!, { stride: stride[d]!, padding: padding[d]!, dilation: dilation[d]!, ceil_mode }));
  if (out.some((o) => o < 1)) throw new ShapeError(`${op}: output size ${formatShape(out)} is too small (< 1) for ${args()}`);
  // A dilated window can step over the whole input and see only padding; PyTorch then returns
  // -inf with an index outside the plane, so refuse instead.
  spatial.forEach((i, d) => {
    for (let o = 0; o < out[d]!; o++) {
      const start = o * stride[d]! - padding[d]!;
      const first = Math.max(0, Math.ceil(-start / dilation[d]!));
      if (first >= kernel[d]! || start + first * dilation[d]! >= i) {
        throw new ShapeError(`${op}: the window of output position ${o} along spatial dim ${d} covers no input element (${args()})`);
      }
    }
  });
  return {
    x: x4,
    back,
    attrs: {
      p: { kind: 'window', kernel: to2d(kernel, 1), stride: to2d(stride, 1), padding: to2d(padding, 0), dilation: to2d(dilation, 1) },
      out: to2d(out, 1),
    },
  };
}

/** output_size entries that are null keep the input's size. */
function adaptivePool(op: string, nd: 1 | 2, x: Tensor, outputSize: number | readonly (number | null)[]): Prepared {
  const { x: x4, back } = prepareInput(op, x, nd);
  const spatial = x4.shape.slice(4 - nd);
  const given = typeof outputSize === 'number' ? new Array<number>(nd).fill(outputSize) : Array.isArray(outputSize) ? outputSize : [];
  const out = spatialArg(op, 'output_size', given.map((o, d) => o ?? spatial[d]!), nd, 0);
  return { x: x4, back, attrs: { p: { kind: 'adaptive' }, out: to2d(out, 1) } };
}

function maxPool({ x, back, attrs }: Prepared): { output: Tensor; indices: Tensor } {
  const { out, extras } = maxPoolOp([x], attrs);
  return { output: back(out), indices: back(extras![0]!) };
}

const avgDefaults: AvgPoolOptions = { countIncludePad: true, divisorOverride: null };

function avgPool({ x, back, attrs }: Prepared, opts: AvgPoolOptions = avgDefaults): Tensor {
  return back(avgPoolOp([x], { ...attrs, opts }));
}

// ---------------------------------------------------------------- public functions

export type MaxPool2dOptions = WindowOptions<IntOrPair>;
export type MaxPool1dOptions = WindowOptions<IntOrSingle>;

export interface AvgPool1dOptions {
  /** Default: kernel_size. */
  stride?: IntOrSingle | null;
  padding?: IntOrSingle;
  ceil_mode?: boolean;
  /** Count the zero padding in each window's divisor (default true). */
  count_include_pad?: boolean;
}

export interface AvgPool2dOptions extends Omit<AvgPool1dOptions, 'stride' | 'padding'> {
  stride?: IntOrPair | null;
  padding?: IntOrPair;
  /** Divide every window's sum by this instead. */
  divisor_override?: number | null;
}

/** Output size of the adaptive pools: an int for both dims or [h, w], where null keeps the input size. */
export type AdaptiveSize2d = number | readonly [number | null, number | null];

export interface PoolWithIndices {
  output: Tensor;
  /** int32 position of each max within its input plane (h * W + w), as PyTorch's return_indices. */
  indices: Tensor;
}

/** Max over kernel_size windows of x [N, C, H, W] or [C, H, W] (torch.nn.functional.max_pool2d). */
export function max_pool2d(x: Tensor, kernel_size: IntOrPair, opts: MaxPool2dOptions = {}): Tensor {
  return max_pool2d_with_indices(x, kernel_size, opts).output;
}

/** max_pool2d that also returns where each max came from (PyTorch's return_indices=True). */
export function max_pool2d_with_indices(x: Tensor, kernel_size: IntOrPair, opts: MaxPool2dOptions = {}): PoolWithIndices {
  return maxPool(windowPool('max_pool2d', 2, x, kernel_size, opts));
}

export function max_pool1d(x: Tensor, kernel_size: IntOrSingle, opts: MaxPool1dOptions = {}): Tensor {
  return maxPool(windowPool('max_pool1d', 1, x, kernel_size, opts)).output;
}

/** Mean over kernel_size windows (torch.nn.functional.avg_pool2d). */
export function avg_pool2d(x: Tensor, kernel_size: IntOrPair, opts: AvgPool2dOptions = {}): Tensor {
  const divisor = opts.divisor_override ?? null;
  if (divisor !== null && (!Number.isInteger(divisor) || divisor === 0)) {
    throw new ShapeError(`avg_pool2d: divisor_override must be a non-zero integer, got ${divisor}`);
  }
  const prepared = windowPool('avg_pool2d', 2, x, kernel_size, opts);
  return avgPool(prepared, { countIncludePad: opts.count_include_pad ?? true, divisorOverride: divisor });
}

export function avg_pool1d(x: Tensor, kernel_size: IntOrSingle, opts: AvgPool1dOptions = {}): Tensor {
  const prepared = windowPool('avg_pool1d', 1, x, kernel_size, opts);
  return avgPool(prepared, { countIncludePad: opts.count_include_pad ?? true, divisorOverride: null });
}

/**
 * Mean over output_size windows that cover the input: output o of O spans input positions
 * [floor(o I / O), ceil((o + 1) I / O)) (torch.nn.functional.adaptive_avg_pool2d).
 */
export function adaptive_avg_pool2d(x: Tensor, output_size: AdaptiveSize2d): Tensor {
  return avgPool(adaptivePool('adaptive_avg_pool2d', 2, x, output_size));
}

export function adaptive_avg_pool1d(x: Tensor, output_size: IntOrSingle): Tensor {
  return avgPool(adaptivePool('adaptive_avg_pool1d', 1, x, output_size));
}

export function adaptive_max_pool2d(x: Tensor, output_size: AdaptiveSize2d): Tensor {
  return adaptive_max_pool2d_with_indices(x, output_size).output;
}

export function adaptive_max_pool2d_with_indices(x: Tensor, output_size: AdaptiveSize2d): PoolWithIndices {
  return maxPool(adaptivePool('adaptive_max_pool2d', 2, x, output_size));
}
