import { no_grad } from '../autograd/grad_mode.js';
import { ShapeError, StrideError } from '../tensor/errors.js';
import { formatShape, sameShape, type Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { requireFloat } from './define.js';
import { add, div, mul, neg, pow, rsqrt, square, sub } from './elementwise.js';
import { pad } from './join.js';
import { mean } from './reduce.js';
import { narrow, reshape } from './shape.js';

/**
 * Normalisation layers as functions (torch.nn.functional). All are written with other ops, so
 * autograd differentiates through the batch statistics; running statistics are updated in
 * place without recording, as PyTorch does.
 */

// ---------------------------------------------------------------- shared pieces

interface Standardized {
  y: Tensor;
  /** The mean and biased variance over the reduced dims (kept as size-1 dims). */
  mean: Tensor;
  var: Tensor;
}

/** (x - mean) / sqrt(var + eps) over `dims`, with the biased variance (as every PyTorch norm). */
function standardize(x: Tensor, dims: readonly number[], eps: number): Standardized {
  const mu = mean(x, dims, true);
  const centered = sub(x, mu);
  const v = mean(square(centered), dims, true);
  return { y: mul(centered, rsqrt(add(v, eps))), mean: mu, var: v };
}

/** [1, C, 1, ...] with x's rank, to broadcast one value per channel (dim 1) of x. */
function channelShape(x: Tensor): number[] {
  return x.shape.map((s, d) => (d === 1 ? s : 1));
}

/** y · weight + bias, each (when given) reshaped to `shape` to broadcast. */
function affine(y: Tensor, weight: Tensor | null, bias: Tensor | null, shape: Shape): Tensor {
  const scaled = weight ? mul(y, reshape(weight, shape)) : y;
  return bias ? add(scaled, reshape(bias, shape)) : scaled;
}

/** Checks that each given parameter is a float tensor of exactly `shape`; `what` says what shape means. */
function checkParams(op: string, shape: Shape, what: string, params: Record<string, Tensor | null>): void {
  for (const [name, t] of Object.entries(params)) {
    if (!t) continue;
    requireFloat(t, `${op} (${name})`);
    if (!sameShape(t.shape, shape)) {
      throw new ShapeError(`${op}: ${name} should have shape ${formatShape(shape)} (${what}), got ${formatShape(t.shape)}`);
    }
  }
}

/** The channel count of an (N, C, *) input, after checking its rank and per-channel parameters. */
function checkChannels(op: string, x: Tensor, minRank: number, params: Record<string, Tensor | null>): number {
  requireFloat(x, op);
  if (x.ndim < minRank) {
    throw new ShapeError(`${op}: expected an input of shape (N, C${minRank > 2 ? ', L, ...' : ', ...'}) with at least ${minRank} dims, got ${formatShape(x.shape)}`);
  }
  const c = x.shape[1]!;
  checkParams(op, [c], `one value per channel of the input of shape ${formatShape(x.shape)}`, params);
  return c;
}

function checkMomentum(op: string, momentum: number | null): number {
  if (momentum === null) {
    throw new StrideError(`${op}: momentum null (a cumulative moving average) needs the batch count; pass momentum = 1 / num_batches_tracked instead`);
  }
  if (typeof momentum !== 'number' || !(momentum >= 0 && momentum <= 1)) {
    throw new StrideError(`${op}: momentum must be a number in [0, 1], got ${momentum}`);
  }
  return momentum;
}

function checkRunningPair(op: string, running_mean: Tensor | null, running_var: Tensor | null): void {
  if (!running_mean !== !running_var) {
    throw new StrideError(`${op}: running_mean and running_var must be given together (got only ${running_mean ? 'running_mean' : 'running_var'})`);
  }
}

/**
 * running ← (1 - momentum) · running + momentum · batch for the mean and the variance, in place;
 * `batch` computes the new statistics, unrecorded like the update.
 */
function updateRunning(running_mean: Tensor, running_var: Tensor, momentum: number, batch: () => [Tensor, Tensor]): void {
  no_grad(() => {
    const [m, v] = batch();
    running_mean.mul_(1 - momentum).add_(reshape(m, running_mean.shape), momentum);
    running_var.mul_(1 - momentum).add_(reshape(v, running_var.shape), momentum);
  });
}

/**
 * Normalises with given statistics of shape [C] (evaluation mode) and applies the affine
 * parameters, as x · scale + shift with scale = weight / sqrt(var + eps) and shift = bias -
 * mean · scale computed per channel: two passes over x instead of four, as PyTorch does.
 */
function normalizeWith(x: Tensor, running_mean: Tensor, running_var: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  const shape = channelShape(x);
  const rstd = rsqrt(add(running_var, eps));
  const scale = weight ? mul(rstd, weight) : rstd;
  const moved = mul(running_mean, scale);
  const shift = bias ? sub(bias, moved) : neg(moved);
  return add(mul(x, reshape(scale, shape)), reshape(shift, shape));
}

// ---------------------------------------------------------------- batch_norm

export interface BatchNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  /** Normalise with the batch's statistics and update the running ones (default false: use the running ones). */
  training?: boolean;
  /**
   * Weight of this batch in the running averages: running ← (1 - momentum) · running +
   * momentum · batch (default 0.1). For a cumulative moving average (nn.BatchNorm's
   * momentum=None) count the batches, this one included, and pass 1 / num_batches_tracked.
   */
  momentum?: number;
  eps?: number;
}

/**
 * Batch normalisation of an (N, C), (N, C, L) or (N, C, H, W) input, per channel (dim 1).
 * Training normalises with the batch mean and biased variance and, when running_mean/running_var
 * are given, updates them in place with the mean and the unbiased variance, as PyTorch. Evaluation
 * normalises with running_mean/running_var, which must then be given.
 */
export function batch_norm(x: Tensor, running_mean: Tensor | null, running_var: Tensor | null, opts: BatchNormOptions = {}): Tensor {
  const { weight = null, bias = null, training = false, eps = 1e-5 } = opts;
  const momentum = checkMomentum('batch_norm', opts.momentum === undefined ? 0.1 : opts.momentum);
  checkRunningPair('batch_norm', running_mean, running_var);
  const c = checkChannels('batch_norm', x, 2, { running_mean, running_var, weight, bias });
  if (training) {
    const n = x.numel() / c;
    if (n === 1) throw new ShapeError(`batch_norm: expected more than 1 value per channel when training, got input of shape ${formatShape(x.shape)}`);
    const dims = x.shape.map((_, d) => d).filter((d) => d !== 1);
    const s = standardize(x, dims, eps);
    if (running_mean && running_var) updateRunning(running_mean, running_var, momentum, () => [s.mean, mul(s.var, n / (n - 1))]);
    return affine(s.y, weight, bias, channelShape(x));
  }
  if (!running_mean || !running_var) {
    throw new StrideError('batch_norm: running_mean and running_var must be given in evaluation mode (training: false)');
  }
  return normalizeWith(x, running_mean, running_var, weight, bias, eps);
}

// ---------------------------------------------------------------- instance_norm

export interface InstanceNormOptions {
  running_mean?: Tensor | null;
  running_var?: Tensor | null;
  weight?: Tensor | null;
  bias?: Tensor | null;
  /** Normalise each instance with its own statistics (default true); false uses the running ones. */
  use_input_stats?: boolean;
  /** As batch_norm's (default 0.1). */
  momentum?: number;
  eps?: number;
}

/**
 * Normalises each (sample, channel) plane of an (N, C, *) input over its spatial dims. With
 * running statistics and use_input_stats, these are updated with the per-instance means and
 * unbiased variances averaged over the batch, as PyTorch.
 */
export function instance_norm(x: Tensor, opts: InstanceNormOptions = {}): Tensor {
  const { running_mean = null, running_var = null, weight = null, bias = null, use_input_stats = true, eps = 1e-5 } = opts;
  const momentum = checkMomentum('instance_norm', opts.momentum === undefined ? 0.1 : opts.momentum);
  checkRunningPair('instance_norm', running_mean, running_var);
  checkChannels('instance_norm', x, 3, { running_mean, running_var, weight, bias });
  if (use_input_stats) {
    const n = x.shape.slice(2).reduce((a, b) => a * b, 1);
    if (n === 1) throw new ShapeError(`instance_norm: expected more than 1 spatial element when training, got input of shape ${formatShape(x.shape)}`);
    const s = standardize(x, x.shape.map((_, d) => d).slice(2), eps);
    if (running_mean && running_var) {
      updateRunning(running_mean, running_var, momentum, () => [mean(s.mean, 0), mean(mul(s.var, n / (n - 1)), 0)]);
    }
    return affine(s.y, weight, bias, channelShape(x));
  }
  if (!running_mean || !running_var) {
    throw new StrideError('instance_norm: running_mean and running_var must be given when use_input_stats is false');
  }
  return normalizeWith(x, running_mean, running_var, weight, bias, eps);
}

// ---------------------------------------------------------------- layer_norm, group_norm

export interface NormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  eps?: number;
}

/**
 * Normalises over the trailing dims given by normalized_shape (which must match them), with an
 * elementwise weight and bias of that shape.
 */
export function layer_norm(x: Tensor, normalized_shape: number | readonly number[], opts: NormOptions = {}): Tensor {
  const { weight = null, bias = null, eps = 1e-5 } = opts;
  requireFloat(x, 'layer_norm');
  const shape = typeof normalized_shape === 'number' ? [normalized_shape] : [...normalized_shape];
  if (shape.length === 0) throw new ShapeError('layer_norm: normalized_shape must have at least one dim, got []');
  const lead = x.ndim - shape.length;
  if (lead < 0 || !sameShape(x.shape.slice(lead), shape)) {
    throw new ShapeError(`layer_norm: normalized_shape ${formatShape(shape)} must match the trailing dims of the input, expected shape [*, ${shape.join(', ')}], got ${formatShape(x.shape)}`);
  }
  checkParams('layer_norm', shape, 'normalized_shape', { weight, bias });
  const { y } = standardize(x, shape.map((_, i) => lead + i), eps);
  return affine(y, weight, bias, shape);
}

/** Splits the C channels of an (N, C, *) input into num_groups groups and normalises each group of each sample. */
export function group_norm(x: Tensor, num_groups: number, opts: NormOptions = {}): Tensor {
  const { weight = null, bias = null, eps = 1e-5 } = opts;
  const c = checkChannels('group_norm', x, 2, { weight, bias });
  if (!Number.isInteger(num_groups) || num_groups <= 0 || c % num_groups !== 0) {
    throw new ShapeError(`group_norm: the number of channels must be divisible by num_groups, got input of shape ${formatShape(x.shape)} and num_groups=${num_groups}`);
  }
  const perGroup = (c / num_groups) * x.shape.slice(2).reduce((a, b) => a * b, 1);
  const { y } = standardize(reshape(x, [x.shape[0]!, num_groups, perGroup]), [2], eps);
  return affine(reshape(y, x.shape), weight, bias, channelShape(x));
}

// ---------------------------------------------------------------- local_response_norm

export interface LocalResponseNormOptions {
  alpha?: number;
  beta?: number;
  k?: number;
}

/**
 * x / (k + alpha/size · Σ x²)^beta, the sum running over `size` neighbouring channels (dim 1):
 * floor(size/2) before and floor((size-1)/2) after each, zero beyond the ends (PyTorch's window).
 */
export function local_response_norm(x: Tensor, size: number, opts: LocalResponseNormOptions = {}): Tensor {
  const { alpha = 1e-4, beta = 0.75, k = 1 } = opts;
  requireFloat(x, 'local_response_norm');
  if (x.ndim < 3) throw new ShapeError(`local_response_norm: expected an input of shape (N, C, L, ...) with at least 3 dims, got ${formatShape(x.shape)}`);
  if (!Number.isInteger(size) || size <= 0) throw new StrideError(`local_response_norm: size must be a positive integer, got ${size}`);
  const c = x.shape[1]!;
  // pad() lists (before, after) pairs from the last dim back; only dim 1 is padded.
  const padded = pad(square(x), [...new Array<number>(2 * (x.ndim - 2)).fill(0), Math.floor(size / 2), Math.floor((size - 1) / 2)]);
  let windowSum = narrow(padded, 1, 0, c);
  for (let j = 1; j < size; j++) windowSum = add(windowSum, narrow(padded, 1, j, c));
  return div(x, pow(add(mul(windowSum, alpha / size), k), beta));
}
