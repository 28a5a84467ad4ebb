import { StrideError, ShapeError } from '../tensor/errors.js';
import { formatShape, normalizeDim } from '../tensor/shape.js';
import { fromFlat } from '../tensor/creation.js';
import { default_generator, type Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { defineOp, emptyLike, installMethods, requireFloat } from './define.js';
import {
  abs, add, clamp, div, erf, exp, expm1, ge, gt, le, log, log1p, logical_and, lt, minimum, mul, neg, sigmoid, sub, tanh, where,
} from './elementwise.js';
import { amax, sum } from './reduce.js';
import { reshape } from './shape.js';

/**
 * Activation functions (torch.nn.functional). Most are written with other ops and get their
 * gradient from autograd; where a formula has an overflowing branch that `where` discards, that
 * branch only sees the inputs it is used for, since 0 · inf in its gradient would be NaN.
 * Gradients at kinks are PyTorch's (see each function).
 */

function checkNumber(op: string, name: string, value: number, ok: (v: number) => boolean, expected: string): void {
  if (typeof value !== 'number' || !ok(value)) throw new StrideError(`${op}: ${name} must be ${expected}, got ${value}`);
}

/** x for x > 0, negative_slope · x otherwise (the gradient at 0 is negative_slope, as PyTorch). */
export function leaky_relu(x: Tensor, negative_slope = 0.01): Tensor {
  requireFloat(x, 'leaky_relu');
  return where(gt(x, 0), x, mul(x, negative_slope));
}

export interface RReLUOptions {
  generator?: Generator;
}

/**
 * Randomized leaky ReLU (Xu et al.): in training each negative element gets its own slope drawn
 * from U(lower, upper) (from the seeded generator); in evaluation the slope is (lower + upper) / 2.
 */
export function rrelu(x: Tensor, lower = 1 / 8, upper = 1 / 3, training = false, opts: RReLUOptions = {}): Tensor {
  requireFloat(x, 'rrelu');
  if (!(lower <= upper)) throw new StrideError(`rrelu: lower bound ${lower} must not exceed upper bound ${upper}`);
  if (!training) return leaky_relu(x, (lower + upper) / 2);
  const u = (opts.generator ?? default_generator).uniform(x.numel(), 24);
  for (let i = 0; i < u.length; i++) u[i] = lower + (upper - lower) * u[i]!;
  const slopes = fromFlat(u, x.shape, { dtype: x.dtype, backend: x.device });
  return where(ge(x, 0), x, mul(x, slopes));
}

/**
 * PyTorch's ELU kernel, which elu, selu and celu share: scale · x for x > 0, else
 * scale · alpha · (exp(input_scale · x) - 1); at 0 the gradient is the exponential branch's.
 */
function eluKernel(op: string, x: Tensor, alpha: number, scale: number, inputScale: number): Tensor {
  requireFloat(x, op);
  const negative = le(x, 0);
  const expBranch = mul(expm1(mul(where(negative, x, 0), inputScale)), alpha * scale);
  return where(negative, expBranch, mul(x, scale));
}

export function elu(x: Tensor, alpha = 1): Tensor {
  return eluKernel('elu', x, alpha, 1, 1);
}

const SELU_ALPHA = 1.6732632423543772848170429916717;
const SELU_SCALE = 1.0507009873554804934193349852946;

/** scale · elu(x, alpha) with the self-normalising constants of Klambauer et al. (2017). */
export function selu(x: Tensor): Tensor {
  return eluKernel('selu', x, SELU_ALPHA, SELU_SCALE, 1);
}

/** max(0, x) + min(0, alpha · (exp(x / alpha) - 1)). */
export function celu(x: Tensor, alpha = 1): Tensor {
  checkNumber('celu', 'alpha', alpha, (v) => v !== 0, 'non-zero');
  return eluKernel('celu', x, alpha, 1, 1 / alpha);
}

export type GeluApproximate = 'none' | 'tanh';

/** x · Φ(x) with the exact normal CDF, or its tanh approximation (approximate 'tanh'). */
export function gelu(x: Tensor, approximate: GeluApproximate = 'none'): Tensor {
  requireFloat(x, 'gelu');
  if (approximate === 'none') return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
  if (approximate === 'tanh') {
    const inner = mul(add(x, mul(mul(mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
    return mul(mul(x, 0.5), add(tanh(inner), 1));
  }
  throw new StrideError(`gelu: approximate must be 'none' or 'tanh', got '${String(approximate)}'`);
}

/** x · sigmoid(x) (also called swish). */
export function silu(x: Tensor): Tensor {
  requireFloat(x, 'silu');
  return mul(x, sigmoid(x));
}

/** log(1 + exp(beta · x)) / beta, and x itself where beta · x > threshold (as PyTorch). */
export function softplus(x: Tensor, beta = 1, threshold = 20): Tensor {
  requireFloat(x, 'softplus');
  checkNumber('softplus', 'beta', beta, (v) => v !== 0, 'non-zero');
  const bx = mul(x, beta);
  const linear = gt(bx, threshold);
  const soft = div(log1p(exp(where(linear, 0, bx))), beta);
  return where(linear, x, soft);
}

interface HardtanhAttrs { min_val: number; max_val: number }

const hardtanhOp = defineOp<[Tensor], HardtanhAttrs>({
  name: 'hardtanh',
  shape: ([x]) => x.shape,
  forward: ([x], { min_val, max_val }) => clamp(x, min_val, max_val),
  save: 'inputs',
  // Unlike clamp, PyTorch passes the gradient only strictly inside (min_val, max_val).
  backward: (gy, { inputs: [x], attrs: { min_val, max_val } }) => [where(logical_and(gt(x, min_val), lt(x, max_val)), gy, 0)],
});

/** x limited to [min_val, max_val]; the gradient is 0 at the bounds. */
export function hardtanh(x: Tensor, min_val = -1, max_val = 1): Tensor {
  requireFloat(x, 'hardtanh');
  if (!(min_val <= max_val)) throw new StrideError(`hardtanh: min_val (${min_val}) must not exceed max_val (${max_val})`);
  return hardtanhOp([x], { min_val, max_val });
}

/** min(max(x, 0), 6); the gradient is 0 at 0 and 6. */
export function relu6(x: Tensor): Tensor {
  requireFloat(x, 'relu6');
  return hardtanhOp([x], { min_val: 0, max_val: 6 });
}

/** relu6(x + 3) / 6; the gradient is 0 at ±3, as PyTorch. */
export function hardsigmoid(x: Tensor): Tensor {
  requireFloat(x, 'hardsigmoid');
  return add(div(hardtanh(x, -3, 3), 6), 0.5);
}

/** x · relu6(x + 3) / 6; PyTorch's gradient takes the middle piece (x/3 + 1/2) at ±3, hence clamp. */
export function hardswish(x: Tensor): Tensor {
  requireFloat(x, 'hardswish');
  return mul(x, add(div(clamp(x, -3, 3), 6), 0.5));
}

/** x / (1 + |x|). */
export function softsign(x: Tensor): Tensor {
  requireFloat(x, 'softsign');
  return div(x, add(abs(x), 1));
}

/**
 * log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), which never overflows. At 0, minimum splits
 * its gradient between its ties and |x| has none, which gives sigmoid(0) = 1/2 as it should.
 */
export function logsigmoid(x: Tensor): Tensor {
  requireFloat(x, 'logsigmoid');
  return sub(minimum(x, 0), log1p(exp(neg(abs(x)))));
}

/**
 * x for x > 0, weight · x otherwise, with one weight shared by all channels (numel 1) or one per
 * channel along dim 1 (a 0-d or 1-d input counts as one channel, as in PyTorch).
 */
export function prelu(x: Tensor, weight: Tensor): Tensor {
  requireFloat(x, 'prelu');
  requireFloat(weight, 'prelu (weight)');
  if (weight.ndim > 1) throw new ShapeError(`prelu: weight must be a scalar or 1-d tensor, got shape ${formatShape(weight.shape)}`);
  let w: Tensor;
  if (weight.numel() === 1) {
    w = reshape(weight, []);
  } else {
    const channels = x.ndim >= 2 ? x.shape[1]! : 1;
    if (weight.numel() !== channels) {
      throw new ShapeError(
        `prelu: weight has ${weight.numel()} parameters but the input of shape ${formatShape(x.shape)} has ${channels} channel(s) (dim 1); expected 1 or ${channels}`,
      );
    }
    w = reshape(weight, x.shape.map((s, d) => (d === 1 ? s : 1)));
  }
  return where(gt(x, 0), x, mul(w, x));
}

// ---------------------------------------------------------------- softmax

interface DimAttrs { dim: number }

/** x - max(x) along dim: as PyTorch, so large logits keep their precision (and an all -inf row gives NaN). */
function shiftByMax(x: Tensor, dim: number): Tensor {
  return sub(x, amax(x, dim, true));
}

// softmax and log_softmax keep one node each (instead of the ~8 of the composite) and their
// classic backward formulas, as they sit on the hot path of every classifier.
const softmaxOp = defineOp<[Tensor], DimAttrs>({
  name: 'softmax',
  shape: ([x]) => x.shape,
  forward: ([x], { dim }) => {
    if (x.numel() === 0) return emptyLike(x);
    const e = exp(shiftByMax(x, dim));
    return div(e, sum(e, dim, true));
  },
  save: 'output',
  // y = softmax(x): dx = y · (gy - Σ gy·y).
  backward: (gy, { out, attrs: { dim } }) => [mul(out, sub(gy, sum(mul(gy, out), dim, true)))],
});

const logSoftmaxOp = defineOp<[Tensor], DimAttrs>({
  name: 'log_softmax',
  shape: ([x]) => x.shape,
  forward: ([x], { dim }) => {
    if (x.numel() === 0) return emptyLike(x);
    const z = shiftByMax(x, dim);
    return sub(z, log(sum(exp(z), dim, true)));
  },
  save: 'output',
  // y = log_softmax(x): dx = gy - exp(y) · Σ gy.
  backward: (gy, { out, attrs: { dim } }) => [sub(gy, mul(exp(out), sum(gy, dim, true)))],
});

export interface SoftmaxOptions {
  /**
   * Divides the logits first: softmax(x / temperature). Above 1 it flattens the distribution,
   * below 1 it sharpens it. The inverse-temperature form exp(β x_i) / Σ_j exp(β x_j) is
   * temperature = 1/β. Must be a positive number (default 1).
   */
  temperature?: number;
}

function scaledLogits(op: string, x: Tensor, dim: number, opts: SoftmaxOptions): [Tensor, DimAttrs] {
  const { temperature = 1 } = opts;
  requireFloat(x, op);
  checkNumber(op, 'temperature', temperature, (t) => t > 0 && Number.isFinite(t), 'a positive finite number');
  const d = normalizeDim(dim, x.ndim, op);
  return [temperature === 1 ? x : div(x, temperature), { dim: d }];
}

/** exp(x_i) / Σ_j exp(x_j) along dim, computed stably (the row maximum is taken out first). */
export function softmax(x: Tensor, dim: number, opts: SoftmaxOptions = {}): Tensor {
  const [logits, attrs] = scaledLogits('softmax', x, dim, opts);
  return softmaxOp([logits], attrs);
}

/** log(softmax(x)) along dim as x_i - max - log Σ_j exp(x_j - max): finite for any finite logits. */
export function log_softmax(x: Tensor, dim: number, opts: SoftmaxOptions = {}): Tensor {
  const [logits, attrs] = scaledLogits('log_softmax', x, dim, opts);
  return logSoftmaxOp([logits], attrs);
}

/** softmax(-x) along dim. */
export function softmin(x: Tensor, dim: number, opts: SoftmaxOptions = {}): Tensor {
  const [logits, attrs] = scaledLogits('softmin', x, dim, opts);
  return softmaxOp([neg(logits)], attrs);
}

declare module '../tensor/tensor.js' {
  interface Tensor {
    softmax(dim: number, opts?: SoftmaxOptions): Tensor;
    log_softmax(dim: number, opts?: SoftmaxOptions): Tensor;
    prelu(weight: Tensor): Tensor;
  }
}

installMethods({
  softmax(this: Tensor, dim: number, opts?: SoftmaxOptions) { return softmax(this, dim, opts); },
  log_softmax(this: Tensor, dim: number, opts?: SoftmaxOptions) { return log_softmax(this, dim, opts); },
  prelu(this: Tensor, weight: Tensor) { return prelu(this, weight); },
});
