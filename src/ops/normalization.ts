import { is_grad_enabled, no_grad } from '../autograd/grad_mode.js';
import { ShapeError, StrideError } from '../tensor/errors.js';
import { full } from '../tensor/creation.js';
import { formatShape, sameShape, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { defineOpWithExtras, emptyLike, requireFloat, viewOf } from './define.js';
import { add, addcmul, div, mul, neg, pow, rsqrt, square, sub } from './elementwise.js';
import { pad } from './join.js';
import { mean, sum } from './reduce.js';
import { contiguous, narrow, reshape } from './shape.js';

/**
 * Normalisation layers as functions (torch.nn.functional). Batch, instance, layer and group
 * norm share one op over batch statistics, with its own backward through them (two backend
 * primitives: the statistics, and the gradients); running statistics are updated in place
 * without recording, as PyTorch does.
 */

// ---------------------------------------------------------------- shared pieces

/** x viewed as [B, C, S]: one statistic per C over B and S. */
type Rows = readonly [number, number, number];

interface BatchStatsAttrs {
  readonly rows: Rows;
  readonly eps: number;
}

const rowsView = (t: Tensor, [B, C, S]: Rows) => viewOf(t, [B, C, S], [C * S, S, 1]);

/**
 * (x - mean)·invstd·w + b with the biased mean and variance of each channel of x's [B, C, S]
 * view, differentiated through them. Extras: mean, invstd and variance [C] (for the running
 * statistics). The output is computed as x·scale + shift, as PyTorch does.
 */
const batchStatsNormOp = defineOpWithExtras<[Tensor, Tensor, Tensor], BatchStatsAttrs>({
  name: 'batch_norm',
  shape: ([x]) => x.shape,
  forward: ([x, w, b], { rows, eps }) => {
    const xc = contiguous(x);
    const C = rows[1];
    const m = Tensor.empty([C], x.dtype, x.backend);
    const variance = Tensor.empty([C], x.dtype, x.backend);
    x.backend.batchNormStats(rowsView(xc, rows), m, variance);
    const invstd = rsqrt(add(variance, eps));
    const y = normalizeWith(reshape(xc, rows), m, invstd, w, b);
    return { out: reshape(y, x.shape), extras: [m, invstd, variance] };
  },
  save: 'inputs',
  backward: (gy, { inputs: [x, w], extras: [m, invstd], attrs: { rows, eps }, needs }) => {
    // Recording (create_graph): the same formula with ops, which can be differentiated again.
    const [gx, gw, gb] = is_grad_enabled()
      ? composedGrads(x, gy, w, rows, eps)
      : ((r) => [r.out, r.extras![0]!, r.extras![1]!])(batchNormGradOp([x, gy, m!, invstd!, w], { rows }));
    return [needs[0] ? gx : null, needs[1] ? gw : null, needs[2] ? gb : null];
  },
});

/** batchNormGrad's formula (backend.ts) with ops, the statistics recomputed from x: differentiable. */
function composedGrads(x: Tensor, gy: Tensor, w: Tensor, rows: Rows, eps: number): [Tensor, Tensor, Tensor] {
  const [B, C, S] = rows;
  const perChannel = (t: Tensor) => reshape(t, [1, C, 1]);
  const x3 = reshape(x, rows);
  const g3 = reshape(gy, rows);
  const centered = sub(x3, mean(x3, [0, 2], true));
  const invstd = rsqrt(add(mean(square(centered), [0, 2], true), eps));
  const xhat = mul(centered, invstd);
  const gb = sum(g3, [0, 2]);
  const gw = sum(mul(g3, xhat), [0, 2]);
  const gx = mul(mul(perChannel(w), invstd), sub(g3, div(add(perChannel(gb), mul(xhat, perChannel(gw))), B * S)));
  return [reshape(gx, x.shape), gw, gb];
}

const batchNormGradOp = defineOpWithExtras<[Tensor, Tensor, Tensor, Tensor, Tensor], Pick<BatchStatsAttrs, 'rows'>>({
  name: 'batch_norm_backward',
  shape: ([x]) => x.shape,
  forward: ([x, gy, m, invstd, w], { rows }) => {
    const gx = emptyLike(x);
    const gw = emptyLike(w);
    const gb = emptyLike(w);
    x.backend.batchNormGrad(rowsView(contiguous(x), rows), rowsView(contiguous(gy), rows), m, invstd, contiguous(w), rowsView(gx, rows), gw, gb);
    return { out: gx, extras: [gw, gb] };
  },
  backward: 'not differentiable',
});

interface Standardized {
  y: Tensor;
  /** Per row of the [B, C, S] view: the mean and the biased variance [C]. */
  mean: Tensor;
  var: Tensor;
}

/**
 * (x - mean) / sqrt(var + eps) per channel of x's [B, C, S] view, with the biased variance (as
 * every PyTorch norm), times weight plus bias [C] when given.
 */
function standardize(x: Tensor, rows: Rows, eps: number, weight: Tensor | null = null, bias: Tensor | null = null): Standardized {
  const constant = (v: number) => full([rows[1]], v, { dtype: x.dtype, backend: x.device });
  const { out, extras } = batchStatsNormOp([x, weight ?? constant(1), bias ?? constant(0)], { rows, eps });
  return { y: out, mean: extras![0]!, var: extras![2]! };
}

/** The product of x's dims from `from` on (1 when there are none). */
const sizeFrom = (x: Tensor, from: number): number => x.shape.slice(from).reduce((a, b) => a * b, 1);

/** [1, C, 1, ...] with x's rank, to broadcast one value per channel (dim 1) of x. */
function channelShape(x: Tensor): number[] {
  return x.shape.map((s, d) => (d === 1 ? s : 1));
}

/** y · weight + bias, each (when given) reshaped to `shape` to broadcast. */
function affine(y: Tensor, weight: Tensor | null, bias: Tensor | null, shape: Shape): Tensor {
  if (weight && bias) return addcmul(reshape(bias, shape), y, reshape(weight, shape));
  if (weight) return mul(y, reshape(weight, shape));
  return bias ? add(y, reshape(bias, shape)) : y;
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
 * x·scale + shift with scale = weight·invstd and shift = bias - mean·scale computed per channel
 * (dim 1) from [C] tensors: one pass over x (addcmul) instead of four.
 */
function normalizeWith(x: Tensor, m: Tensor, invstd: Tensor, weight: Tensor | null, bias: Tensor | null): Tensor {
  const shape = channelShape(x);
  const scale = weight ? mul(invstd, weight) : invstd;
  const moved = mul(m, scale);
  const shift = bias ? sub(bias, moved) : neg(moved);
  return addcmul(reshape(shift, shape), x, reshape(scale, shape));
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
    const s = standardize(x, [x.shape[0]!, c, sizeFrom(x, 2)], eps, weight, bias);
    if (running_mean && running_var) updateRunning(running_mean, running_var, momentum, () => [s.mean, mul(s.var, n / (n - 1))]);
    return s.y;
  }
  if (!running_mean || !running_var) {
    throw new StrideError('batch_norm: running_mean and running_var must be given in evaluation mode (training: false)');
  }
  return normalizeWith(x, running_mean, rsqrt(add(running_var, eps)), weight, bias);
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
    const n = sizeFrom(x, 2);
    if (n === 1) throw new ShapeError(`instance_norm: expected more than 1 spatial element when training, got input of shape ${formatShape(x.shape)}`);
    const [N, C] = x.shape as [number, number];
    const s = standardize(x, [1, N * C, n], eps);
    if (running_mean && running_var) {
      const perSample = (t: Tensor) => reshape(t, [N, C]);
      updateRunning(running_mean, running_var, momentum, () => [mean(perSample(s.mean), 0), mean(mul(perSample(s.var), n / (n - 1)), 0)]);
    }
    return affine(s.y, weight, bias, channelShape(x));
  }
  if (!running_mean || !running_var) {
    throw new StrideError('instance_norm: running_mean and running_var must be given when use_input_stats is false');
  }
  return normalizeWith(x, running_mean, rsqrt(add(running_var, eps)), weight, bias);
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
  const d = sizeFrom(x, lead);
  const { y } = standardize(x, [1, d === 0 ? 0 : x.numel() / d, d], eps);
  return affine(y, weight, bias, shape);
}

/** Splits the C channels of an (N, C, *) input into num_groups groups and normalises each group of each sample. */
export function group_norm(x: Tensor, num_groups: number, opts: NormOptions = {}): Tensor {
  const { weight = null, bias = null, eps = 1e-5 } = opts;
  const c = checkChannels('group_norm', x, 2, { weight, bias });
  if (!Number.isInteger(num_groups) || num_groups <= 0 || c % num_groups !== 0) {
    throw new ShapeError(`group_norm: the number of channels must be divisible by num_groups, got input of shape ${formatShape(x.shape)} and num_groups=${num_groups}`);
  }
  const { y } = standardize(x, [1, x.shape[0]! * num_groups, (c / num_groups) * sizeFrom(x, 2)], eps);
  return affine(y, weight, bias, channelShape(x));
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
