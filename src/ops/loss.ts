import { arange } from '../tensor/creation.js';
import { isFloatingPoint, isIntegral } from '../tensor/dtype.js';
import { DTypeError, IndexError, ShapeError, StrideError } from '../tensor/errors.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { log_softmax } from './activation.js';
import { requireFloat } from './define.js';
import { abs, clamp, eq, exp, log, log1p, lt, mul, ne, neg, rsub, sub, where } from './elementwise.js';
import { gather, index_select } from './indexing.js';
import { amax, amin, mean, sum } from './reduce.js';
import { permute, reshape, unsqueeze } from './shape.js';

/**
 * Loss functions with torch.nn.functional's semantics (reduction 'mean' | 'sum' | 'none').
 * They are compositions of differentiable ops; the log-sum-exp inside log_softmax keeps cross
 * entropy stable for large logits.
 */
export type Reduction = 'mean' | 'sum' | 'none';

function checkReduction(reduction: Reduction, op: string): void {
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw new StrideError(`${op}: reduction must be 'mean', 'sum' or 'none', got '${String(reduction)}'`);
  }
}

function reduce(loss: Tensor, reduction: Reduction, op: string): Tensor {
  checkReduction(reduction, op);
  switch (reduction) {
    case 'mean': return mean(loss);
    case 'sum': return sum(loss);
    case 'none': return loss;
  }
}

function requireSameShape(op: string, input: Tensor, target: Tensor): void {
  if (!sameShape(input.shape, target.shape)) {
    throw new ShapeError(`${op}: target shape ${formatShape(target.shape)} must match input shape ${formatShape(input.shape)}`);
  }
}

/**
 * Class-index targets: integer, in [0, C) except ignore_index; the class dim is 1 (or 0
 * unbatched). Returns whether some target is ignore_index. The targets are read once (a batch's
 * labels: small) rather than checked with reductions, which took five ops and two reads a step.
 */
function checkClassTargets(op: string, input: Tensor, target: Tensor, ignore_index: number): boolean {
  if (!isIntegral(target.dtype)) throw new DTypeError(`${op}: class-index targets must be an integer tensor, got ${target.dtype}`);
  const expected = input.ndim === 1 ? [] : [input.shape[0]!, ...input.shape.slice(2)];
  if (!sameShape(target.shape, expected)) {
    throw new ShapeError(`${op}: for input of shape ${formatShape(input.shape)} the target must have shape ${formatShape(expected)}, got ${formatShape(target.shape)}`);
  }
  let lo = Infinity, hi = -Infinity, ignored = false;
  for (const v of target.dataSync()) {
    if (v === ignore_index) ignored = true;
    else {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  const C = input.shape[input.ndim === 1 ? 0 : 1]!;
  if (lo < 0 || hi >= C) throw new IndexError(`${op}: target ${lo < 0 ? lo : hi} is out of bounds for ${C} classes`);
  return ignored;
}

function checkClassWeight(op: string, weight: Tensor | null, C: number): void {
  if (weight && (weight.ndim !== 1 || weight.shape[0] !== C)) {
    throw new ShapeError(`${op}: weight must have shape [${C}] (one per class), got ${formatShape(weight.shape)}`);
  }
}

export interface NLLOptions {
  /** Per-class weights [C]. */
  weight?: Tensor | null;
  ignore_index?: number;
  reduction?: Reduction;
}

/** Class dim moved last and everything else flattened: [M, C]. */
function rows(input: Tensor): Tensor {
  if (input.ndim === 1) return unsqueeze(input, 0);
  const dims = [...input.shape.keys()];
  return reshape(permute(input, [0, ...dims.slice(2), 1]), [-1, input.shape[1]!]);
}

/**
 * Negative log likelihood of the target classes: -w[y]·logp[y]; 'mean' divides by the summed
 * weights of the non-ignored targets (PyTorch's weighted mean).
 */
export function nll_loss(logp: Tensor, target: Tensor, opts: NLLOptions = {}): Tensor {
  const { weight = null, ignore_index = -100, reduction = 'mean' } = opts;
  requireFloat(logp, 'nll_loss');
  checkReduction(reduction, 'nll_loss');
  if (logp.ndim < 1) throw new ShapeError(`nll_loss: input must have at least 1 dim (classes), got shape ${formatShape(logp.shape)}`);
  const ignored = checkClassTargets('nll_loss', logp, target, ignore_index);
  checkClassWeight('nll_loss', weight, logp.shape[logp.ndim === 1 ? 0 : 1]!);
  const t = reshape(target, [-1]).to('int32');
  if (!ignored && !weight) {
    // Every target counts, with weight 1: -logp[y], reduced directly (the training step's case).
    const picked = reshape(gather(rows(logp), 1, unsqueeze(t, 1)), [-1]);
    if (reduction === 'none') return neg(reshape(picked, target.shape));
    return neg(reduction === 'sum' ? sum(picked) : mean(picked));
  }
  const keep = ne(t, ignore_index);
  const safe = where(keep, t, 0).to('int32');
  const picked = reshape(gather(rows(logp), 1, unsqueeze(safe, 1)), [-1]);
  const w = where(keep, weight ? index_select(weight, 0, safe) : 1, 0);
  const losses = neg(mul(picked, w));
  if (reduction === 'none') return reshape(losses, target.shape);
  if (reduction === 'sum') return sum(losses);
  return sum(losses).div(sum(w));
}

export interface CrossEntropyOptions extends NLLOptions {
  /** Mixes the target with the uniform distribution: (1-ε)·target + ε/C. */
  label_smoothing?: number;
}

/**
 * Softmax cross-entropy (torch.nn.functional.cross_entropy) over dim 1 of [N, C, ...] or dim 0
 * of [C]: targets are class indices (int) or class probabilities (float, input's shape).
 */
export function cross_entropy(input: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const { weight = null, ignore_index = -100, reduction = 'mean', label_smoothing = 0 } = opts;
  requireFloat(input, 'cross_entropy');
  checkReduction(reduction, 'cross_entropy');
  if (!(label_smoothing >= 0 && label_smoothing <= 1)) {
    throw new StrideError(`cross_entropy: label_smoothing must be in [0, 1], got ${label_smoothing}`);
  }
  if (input.ndim < 1) throw new ShapeError(`cross_entropy: input must have at least 1 dim (classes), got shape ${formatShape(input.shape)}`);
  const classDim = input.ndim === 1 ? 0 : 1;
  const C = input.shape[classDim]!;
  checkClassWeight('cross_entropy', weight, C);
  const logp = log_softmax(input, classDim);
  const classShape = input.shape.map((_, d) => (d === classDim ? C : 1));
  const w = weight ? reshape(weight, classShape) : null;
  if (isFloatingPoint(target.dtype)) {
    requireSameShape('cross_entropy', input, target);
    const smoothed = label_smoothing > 0 ? target.mul(1 - label_smoothing).add(label_smoothing / C) : target;
    const terms = w ? mul(mul(logp, smoothed), w) : mul(logp, smoothed);
    const losses = neg(sum(terms, classDim));
    // With probability targets 'mean' averages over the batch (and spatial) positions, weights or not.
    return reduce(losses, reduction, 'cross_entropy');
  }
  const nll = nll_loss(logp, target, { weight, ignore_index, reduction });
  if (label_smoothing === 0) return nll;
  // PyTorch: (1-ε)·nll + ε/C · Σ_c -w_c·logp_c, ignored positions zeroed, normalised as nll is.
  const ignored = eq(target, ignore_index);
  const smooth = where(ignored, 0, neg(sum(w ? mul(logp, w) : logp, classDim)));
  let smoothReduced: Tensor;
  if (reduction === 'none') smoothReduced = smooth;
  else if (reduction === 'sum') smoothReduced = sum(smooth);
  else if (weight) {
    const t = where(ignored, 0, target).to('int32');
    smoothReduced = sum(smooth).div(sum(where(ignored, 0, index_select(weight, 0, reshape(t, [-1])).reshape(target.shape))));
  } else smoothReduced = sum(smooth).div(sum(ne(target, ignore_index)));
  return nll.mul(1 - label_smoothing).add(smoothReduced.mul(label_smoothing / C));
}

export interface WeightedOptions {
  /** Rescaling weight, broadcast against the input. */
  weight?: Tensor | null;
  reduction?: Reduction;
}

/** -w·(y·log p + (1-y)·log(1-p)) with each log clamped at -100, as PyTorch. */
export function binary_cross_entropy(input: Tensor, target: Tensor, opts: WeightedOptions = {}): Tensor {
  const { weight = null, reduction = 'mean' } = opts;
  requireFloat(input, 'binary_cross_entropy');
  requireSameShape('binary_cross_entropy', input, target);
  if (amin(input).item() < 0 || amax(input).item() > 1) {
    throw new StrideError('binary_cross_entropy: all elements of input should be between 0 and 1 (apply sigmoid, or use binary_cross_entropy_with_logits)');
  }
  const logP = clamp(log(input), -100);
  const log1mP = clamp(log(rsub(input, 1)), -100);
  let loss = neg(target.mul(logP).add(rsub(target, 1).mul(log1mP)));
  if (weight) loss = mul(loss, weight);
  return reduce(loss, reduction, 'binary_cross_entropy');
}

export interface BCEWithLogitsOptions extends WeightedOptions {
  /** Weight of the positive examples per class, broadcast along the last dim. */
  pos_weight?: Tensor | null;
}

/**
 * Sigmoid and binary cross-entropy in one stable formula:
 * (1-y)·x + (1 + (pos_weight-1)·y)·(log(1 + e^{-|x|}) + max(-x, 0)).
 */
export function binary_cross_entropy_with_logits(input: Tensor, target: Tensor, opts: BCEWithLogitsOptions = {}): Tensor {
  const { weight = null, pos_weight = null, reduction = 'mean' } = opts;
  requireFloat(input, 'binary_cross_entropy_with_logits');
  requireSameShape('binary_cross_entropy_with_logits', input, target);
  const softplusNeg = log1p(exp(neg(abs(input)))).add(clamp(neg(input), 0));
  const logWeight = pos_weight ? pos_weight.sub(1).mul(target).add(1) : null;
  let loss = rsub(target, 1).mul(input).add(logWeight ? mul(logWeight, softplusNeg) : softplusNeg);
  if (weight) loss = mul(loss, weight);
  return reduce(loss, reduction, 'binary_cross_entropy_with_logits');
}

export function mse_loss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  requireFloat(input, 'mse_loss');
  requireSameShape('mse_loss', input, target);
  const d = sub(input, target);
  return reduce(mul(d, d), reduction, 'mse_loss');
}

export function l1_loss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  requireFloat(input, 'l1_loss');
  requireSameShape('l1_loss', input, target);
  return reduce(abs(sub(input, target)), reduction, 'l1_loss');
}

/** 0.5·d²/β where |d| < β, else |d| - 0.5·β (β = 0 is the L1 loss). */
export function smooth_l1_loss(input: Tensor, target: Tensor, reduction: Reduction = 'mean', beta = 1): Tensor {
  requireFloat(input, 'smooth_l1_loss');
  requireSameShape('smooth_l1_loss', input, target);
  if (!(beta >= 0)) throw new StrideError(`smooth_l1_loss: beta must be non-negative, got ${beta}`);
  const d = abs(sub(input, target));
  if (beta === 0) return reduce(d, reduction, 'smooth_l1_loss');
  return reduce(where(lt(d, beta), mul(d, d).mul(0.5 / beta), d.sub(0.5 * beta)), reduction, 'smooth_l1_loss');
}

/** 0.5·d² where |d| < δ, else δ·(|d| - 0.5·δ). */
export function huber_loss(input: Tensor, target: Tensor, reduction: Reduction = 'mean', delta = 1): Tensor {
  requireFloat(input, 'huber_loss');
  requireSameShape('huber_loss', input, target);
  if (!(delta > 0)) throw new StrideError(`huber_loss: delta must be positive, got ${delta}`);
  const d = abs(sub(input, target));
  return reduce(where(lt(d, delta), mul(d, d).mul(0.5), d.sub(0.5 * delta).mul(delta)), reduction, 'huber_loss');
}

/** x where y = 1, max(0, margin - x) where y = -1 (PyTorch's HingeEmbeddingLoss). */
export function hinge_embedding_loss(input: Tensor, target: Tensor, margin = 1, reduction: Reduction = 'mean'): Tensor {
  requireFloat(input, 'hinge_embedding_loss');
  requireSameShape('hinge_embedding_loss', input, target);
  const marginTerm = where(ne(target, 1), clamp(rsub(input, margin), 0), 0);
  const selfTerm = where(ne(target, -1), input, 0);
  return reduce(marginTerm.add(selfTerm), reduction, 'hinge_embedding_loss');
}

export interface MultiMarginOptions {
  p?: 1 | 2;
  margin?: number;
  weight?: Tensor | null;
  reduction?: Reduction;
}

/** The per-sample hinge terms max(0, Δ - s_y + s_j) for j ≠ y, [N, C] with zeros at j = y. */
function hingeTerms(op: string, scores: Tensor, target: Tensor, margin: number): { terms: Tensor; y: Tensor } {
  requireFloat(scores, op);
  if (scores.ndim !== 2 && scores.ndim !== 1) throw new ShapeError(`${op}: expected scores of shape [N, C] or [C], got ${formatShape(scores.shape)}`);
  checkClassTargets(op, scores, target, -Infinity);
  const s = scores.ndim === 1 ? unsqueeze(scores, 0) : scores;
  const y = reshape(target, [-1, 1]).to('int32');
  const correct = gather(s, 1, y);
  const C = s.shape[1]!;
  const notTarget = ne(reshape(arange(C, { backend: s.device }), [1, C]), y);
  const terms = where(notTarget, clamp(s.sub(correct).add(margin), 0), 0);
  return { terms, y };
}

/** PyTorch's MultiMarginLoss: Σ_{j≠y} max(0, margin - s_y + s_j)^p · w_y / C per sample. */
export function multi_margin_loss(input: Tensor, target: Tensor, opts: MultiMarginOptions = {}): Tensor {
  const { p = 1, margin = 1, weight = null, reduction = 'mean' } = opts;
  if (p !== 1 && p !== 2) throw new StrideError(`multi_margin_loss: only p = 1 and p = 2 are supported, got ${String(p)}`);
  const { terms, y } = hingeTerms('multi_margin_loss', input, target, margin);
  const C = terms.shape[1]!;
  let t = p === 2 ? mul(terms, terms) : terms;
  if (weight) t = mul(t, index_select(weight, 0, reshape(y, [-1])).unsqueeze(1));
  const perSample = sum(t, 1).div(C);
  return reduce(input.ndim === 1 ? reshape(perSample, []) : perSample, reduction, 'multi_margin_loss');
}

/**
 * The course's multiclass SVM loss L_i = Σ_{j≠y_i} max(0, s_j - s_{y_i} + Δ), averaged over the
 * batch (not divided by the class count, unlike PyTorch's multi_margin_loss).
 */
export function multiclass_svm_loss(scores: Tensor, target: Tensor, delta = 1, reduction: Reduction = 'mean'): Tensor {
  const { terms } = hingeTerms('multiclass_svm_loss', scores, target, delta);
  const perSample = sum(terms, 1);
  return reduce(scores.ndim === 1 ? reshape(perSample, []) : perSample, reduction, 'multiclass_svm_loss');
}
