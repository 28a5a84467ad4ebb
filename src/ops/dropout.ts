import { fromFlat } from '../tensor/creation.js';
import { ShapeError, StrideError } from '../tensor/errors.js';
import { default_generator, type Generator } from '../tensor/random.js';
import { formatShape, numel, type Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { requireFloat } from './define.js';
import { add, mul } from './elementwise.js';

/**
 * Dropout (torch.nn.functional). Masks come from the seeded Philox generator, so they are
 * reproducible but not PyTorch's. Each op is a product with a constant mask, so the gradient
 * is the same mask (autograd's mul backward).
 */

export interface DropoutOptions {
  /** Where the mask's random numbers come from (default: default_generator). */
  generator?: Generator;
}

/** Validates p and x; false when the op is the identity (not training, or p = 0: x itself is returned, as PyTorch does). */
function active(op: string, x: Tensor, p: number, training: boolean): boolean {
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new StrideError(`${op}: dropout probability has to be between 0 and 1, but got ${p}`);
  requireFloat(x, op);
  return training && p !== 0;
}

/** A mask of `shape` (broadcastable to x) holding `kept` with probability 1 - p and 0 otherwise, in x's dtype and on its backend. */
function bernoulliMask(x: Tensor, shape: Shape, p: number, kept: number, generator: Generator | undefined): Tensor {
  const u = (generator ?? default_generator).uniform(numel(shape));
  return fromFlat(u.map((v) => (v < 1 - p ? kept : 0)), shape, { dtype: x.dtype, backend: x.device });
}

/** x times a mask of `maskShape` holding 1/(1-p) with probability 1 - p and 0 otherwise. */
function scaledDropout(op: string, x: Tensor, p: number, training: boolean, maskShape: Shape, opts: DropoutOptions): Tensor {
  return active(op, x, p, training) ? mul(x, bernoulliMask(x, maskShape, p, 1 / (1 - p), opts.generator)) : x;
}

/** Zeroes each element with probability p and scales the rest by 1/(1-p), so the expectation is unchanged. */
export function dropout(x: Tensor, p = 0.5, training = true, opts: DropoutOptions = {}): Tensor {
  return scaledDropout('dropout', x, p, training, x.shape, opts);
}

/** The mask shape that drops whole channels: x's sizes up to the channel dim, 1 after it. */
function channelMask(x: Tensor, channelDim: 0 | 1): Shape {
  return x.shape.map((s, d) => (d <= channelDim ? s : 1));
}

function checkRank(op: string, x: Tensor, ranks: readonly number[], layouts: string): void {
  if (!ranks.includes(x.ndim)) throw new ShapeError(`${op}: expected a ${ranks.join('-d or ')}-d input (${layouts}), got shape ${formatShape(x.shape)}`);
}

/** Zeroes whole channels of an (N, C, L) or unbatched (C, L) input. */
export function dropout1d(x: Tensor, p = 0.5, training = true, opts: DropoutOptions = {}): Tensor {
  checkRank('dropout1d', x, [2, 3], '(N, C, L) or (C, L)');
  return scaledDropout('dropout1d', x, p, training, channelMask(x, x.ndim === 3 ? 1 : 0), opts);
}

/**
 * Zeroes whole channels of an (N, C, H, W) input. A 3-d input is read as (N, C, L), as
 * PyTorch 1.13 does (use dropout1d to say so, or unsqueeze an unbatched (C, H, W) input).
 */
export function dropout2d(x: Tensor, p = 0.5, training = true, opts: DropoutOptions = {}): Tensor {
  checkRank('dropout2d', x, [3, 4], '(N, C, H, W) or (N, C, L)');
  return scaledDropout('dropout2d', x, p, training, channelMask(x, 1), opts);
}

/** Zeroes whole channels of an (N, C, D, H, W) or unbatched (C, D, H, W) input. */
export function dropout3d(x: Tensor, p = 0.5, training = true, opts: DropoutOptions = {}): Tensor {
  checkRank('dropout3d', x, [4, 5], '(N, C, D, H, W) or (C, D, H, W)');
  return scaledDropout('dropout3d', x, p, training, channelMask(x, x.ndim === 5 ? 1 : 0), opts);
}

/** SELU's scale · alpha: SELU tends to -ALPHA_PRIME for very negative inputs. */
const ALPHA_PRIME = 1.7580993408473766;

/**
 * Dropout for SELU networks (Klambauer et al., 2017): dropped elements are set to SELU's
 * negative saturation value and the result is shifted and scaled (a·x + b) so that zero mean
 * and unit variance are kept. Note training defaults to false, as in PyTorch.
 */
export function alpha_dropout(x: Tensor, p = 0.5, training = false, opts: DropoutOptions = {}): Tensor {
  if (!active('alpha_dropout', x, p, training)) return x;
  // PyTorch's constants; at p = 1 everything is dropped, to 0.
  const a = p === 1 ? 0 : 1 / Math.sqrt((ALPHA_PRIME * ALPHA_PRIME * p + 1) * (1 - p));
  const b = ALPHA_PRIME * a * p;
  const keep = bernoulliMask(x, x.shape, p, 1, opts.generator);
  // kept: a·x + b; dropped: b - a·ALPHA_PRIME.
  return add(mul(x, mul(keep, a)), add(mul(keep, ALPHA_PRIME * a), b - ALPHA_PRIME * a));
}
