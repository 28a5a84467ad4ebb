import { no_grad } from '../autograd/grad_mode.js';
import { gt, where } from '../ops/elementwise.js';
import { amax, sum } from '../ops/reduce.js';
import { StrideError } from '../tensor/errors.js';
import { tidy } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import { Module, type Parameter } from './module.js';

/** Parameters to regularise: a module's (biases excluded unless asked), or an explicit list. */
export type ParamSource = Module | Iterable<Tensor>;

export interface PenaltyOptions {
  /** Include parameters whose name ends in "bias" (default false: the course's R(W) covers weights only). */
  include_bias?: boolean;
}

function selectParams(source: ParamSource, opts: PenaltyOptions = {}): Tensor[] {
  if (source instanceof Module) {
    return [...source.named_parameters()].filter(([name]) => opts.include_bias || !/(^|\.)bias$/.test(name)).map(([, p]) => p);
  }
  return [...source];
}

function total(terms: Tensor[], what: string): Tensor {
  if (terms.length === 0) throw new StrideError(`${what}: no parameters to regularise`);
  return terms.reduce((a, b) => a.add(b));
}

/** Σ w² over the parameters (the L2 penalty R(W) = Σ_k Σ_l W²_kl; multiply by λ yourself). */
export function l2_penalty(source: ParamSource, opts: PenaltyOptions = {}): Tensor {
  return total(selectParams(source, opts).map((p) => p.mul(p).sum()), 'l2_penalty');
}

/** Σ |w| over the parameters. */
export function l1_penalty(source: ParamSource, opts: PenaltyOptions = {}): Tensor {
  return total(selectParams(source, opts).map((p) => p.abs().sum()), 'l1_penalty');
}

/** Elastic net: Σ (β|w| + w²), the course's combination of L1 and L2 (β weighs the L1 part). */
export function elastic_net_penalty(source: ParamSource, beta: number, opts: PenaltyOptions = {}): Tensor {
  return total(selectParams(source, opts).map((p) => p.abs().mul(beta).add(p.mul(p)).sum()), 'elastic_net_penalty');
}

/**
 * The max-norm constraint: rescales, in place, every slice along dim 0 of each weight (one
 * output unit's incoming weights) whose L2 norm exceeds max_norm back to max_norm.
 */
export function max_norm_(source: ParamSource, max_norm: number, opts: PenaltyOptions = {}): void {
  if (!(max_norm > 0)) throw new StrideError(`max_norm_: max_norm must be positive, got ${max_norm}`);
  // Called every step: the norms and factors are freed here, the weights change in place.
  tidy(() => no_grad(() => {
    for (const p of selectParams(source, opts)) {
      if (p.ndim < 1) continue;
      // A 1-d weight has one incoming weight per unit: its norm is the absolute value.
      const norms = p.ndim === 1 ? p.abs() : p.mul(p).sum([...Array(p.ndim).keys()].slice(1), true).sqrt();
      // Slices within the limit keep their exact values (max_norm / max_norm need not round to 1).
      p.mul_(where(gt(norms, max_norm), norms.reciprocal().mul(max_norm), 1));
    }
  }));
}

function grads(parameters: Iterable<Tensor> | Tensor): Tensor[] {
  const list = parameters instanceof Tensor ? [parameters] : [...parameters];
  return list.map((p) => p.grad).filter((g): g is Tensor => g !== null);
}

/**
 * Scales all gradients together so that their joint norm is at most max_norm (torch.nn.utils.
 * clip_grad_norm_); returns the norm before clipping. norm_type may be Infinity.
 */
export function clip_grad_norm_(parameters: Iterable<Parameter | Tensor> | Tensor, max_norm: number, norm_type = 2, error_if_nonfinite = false): number {
  const gs = grads(parameters);
  if (gs.length === 0) return 0;
  // Called every step: the per-gradient norms are freed here, the gradients scale in place.
  return tidy(() => no_grad(() => {
    const norm =
      norm_type === Infinity
        ? Math.max(...gs.map((g) => amax(g.abs()).item()))
        : gs.reduce((s, g) => s + sum(g.abs().pow(norm_type)).item(), 0) ** (1 / norm_type);
    if (error_if_nonfinite && !Number.isFinite(norm)) {
      throw new StrideError(`clip_grad_norm_: the total norm of order ${norm_type} for gradients is non-finite (${norm}), so it cannot be clipped`);
    }
    const coef = Math.min(max_norm / (norm + 1e-6), 1);
    for (const g of gs) g.mul_(coef);
    return norm;
  }));
}

/** Clamps every gradient element to [-clip_value, clip_value] in place. */
export function clip_grad_value_(parameters: Iterable<Parameter | Tensor> | Tensor, clip_value: number): void {
  if (!(clip_value >= 0)) throw new StrideError(`clip_grad_value_: clip_value must be non-negative, got ${clip_value}`);
  no_grad(() => {
    for (const g of grads(parameters)) g.clamp_(-clip_value, clip_value);
  });
}
