import { fromFlat } from '../tensor/creation.js';
import { ShapeError, StrideError } from '../tensor/errors.js';
import { tidy } from '../tensor/memory.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { requireFloat } from './define.js';
import { add, mul } from './elementwise.js';
import { index_select } from './indexing.js';

export type InterpolateMode = 'nearest' | 'linear' | 'bilinear';

export interface InterpolateOptions {
  /** Output spatial size (an int for every spatial dim, or one per dim). */
  size?: number | readonly number[];
  /** Multiplier of the spatial size (an int/float for every dim, or one per dim). */
  scale_factor?: number | readonly number[];
  mode?: InterpolateMode;
  /** For linear modes: map corner pixel centres onto each other (default false). */
  align_corners?: boolean;
}

const f = Math.fround;

/** PyTorch's scale for one dim: 1/scale_factor when given, else in/out, in float32. */
function scaleOf(inSize: number, outSize: number, scaleFactor: number | null): number {
  return f(scaleFactor !== null ? 1 / scaleFactor : inSize / outSize);
}

function nearestIndex(o: number, inSize: number, outSize: number, scaleFactor: number | null): number {
  if (outSize === inSize) return o;
  if (outSize === 2 * inSize) return o >> 1;
  return Math.min(Math.floor(f(o * scaleOf(inSize, outSize, scaleFactor))), inSize - 1);
}

/** Source position, its two neighbours and the weight of the second, as PyTorch's linear kernels. */
function linearTaps(o: number, inSize: number, outSize: number, scaleFactor: number | null, alignCorners: boolean): [number, number, number] {
  const scale = alignCorners ? (outSize > 1 ? f((inSize - 1) / (outSize - 1)) : 0) : scaleOf(inSize, outSize, scaleFactor);
  const src = alignCorners ? f(scale * o) : Math.max(f(f(scale * f(o + 0.5)) - 0.5), 0);
  const i0 = Math.trunc(src);
  const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
  return [i0, i1, f(src - i0)];
}

function indexTensor(values: number[], like: Tensor): Tensor {
  return fromFlat(values, [values.length], { dtype: 'int32', backend: like.device });
}

/**
 * Resizes the spatial dims of [N, C, L] or [N, C, H, W] (torch.nn.functional.interpolate):
 * 'nearest' copies the nearest source pixel; 'linear'/'bilinear' interpolate separably along each
 * dim. Built from index_select, so gradients flow to the input.
 */
export function interpolate(x: Tensor, opts: InterpolateOptions): Tensor {
  const { mode = 'nearest', align_corners = false } = opts;
  requireFloat(x, 'interpolate');
  const nd = x.ndim - 2;
  if (nd !== 1 && nd !== 2) throw new ShapeError(`interpolate: expected a 3-d or 4-d input, got shape ${formatShape(x.shape)}`);
  if (mode === 'linear' && nd !== 1) throw new StrideError(`interpolate: mode 'linear' needs a 3-d input, got shape ${formatShape(x.shape)}`);
  if (mode === 'bilinear' && nd !== 2) throw new StrideError(`interpolate: mode 'bilinear' needs a 4-d input, got shape ${formatShape(x.shape)}`);
  if (!['nearest', 'linear', 'bilinear'].includes(mode)) throw new StrideError(`interpolate: unknown mode '${mode}'; expected nearest, linear or bilinear`);
  if ((opts.size === undefined) === (opts.scale_factor === undefined)) {
    throw new StrideError('interpolate: give exactly one of size and scale_factor');
  }
  const perDim = (v: number | readonly number[], what: string): number[] => {
    const list = typeof v === 'number' ? new Array<number>(nd).fill(v) : [...v];
    if (list.length !== nd || !list.every((s) => s > 0)) throw new StrideError(`interpolate: ${what} must be ${nd} positive value(s), got ${JSON.stringify(v)}`);
    return list;
  };
  const inSizes = x.shape.slice(2);
  const factors = opts.scale_factor !== undefined ? perDim(opts.scale_factor, 'scale_factor') : null;
  const outSizes = opts.size !== undefined ? perDim(opts.size, 'size') : inSizes.map((s, i) => Math.floor(s * factors![i]!));
  if (!outSizes.every(Number.isInteger)) throw new StrideError(`interpolate: size must be integers, got ${JSON.stringify(opts.size)}`);
  // The index tensors, weights and per-dim intermediates are freed here, not left to a GC.
  return tidy(() => resize(x, mode, align_corners, inSizes, outSizes, factors));
}

function resize(x: Tensor, mode: InterpolateMode, align_corners: boolean, inSizes: readonly number[], outSizes: readonly number[], factors: readonly number[] | null): Tensor {
  let y = x;
  inSizes.forEach((inSize, i) => {
    const dim = 2 + i;
    const outSize = outSizes[i]!;
    const factor = factors ? factors[i]! : null;
    const positions = [...Array(outSize).keys()];
    if (mode === 'nearest') {
      y = index_select(y, dim, indexTensor(positions.map((o) => nearestIndex(o, inSize, outSize, factor)), y));
      return;
    }
    const taps = positions.map((o) => linearTaps(o, inSize, outSize, factor, align_corners));
    const wShape = y.shape.map((_, d) => (d === dim ? outSize : 1));
    const w1 = fromFlat(taps.map((t) => t[2]), wShape, { dtype: y.dtype, backend: y.device });
    const w0 = fromFlat(taps.map((t) => f(1 - t[2])), wShape, { dtype: y.dtype, backend: y.device });
    const lo = index_select(y, dim, indexTensor(taps.map((t) => t[0]), y));
    const hi = index_select(y, dim, indexTensor(taps.map((t) => t[1]), y));
    y = add(mul(lo, w0), mul(hi, w1));
  });
  return y;
}
