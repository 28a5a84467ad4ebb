import {
  binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, hinge_embedding_loss, huber_loss, l1_loss,
  mse_loss, multi_margin_loss, multiclass_svm_loss, nll_loss, smooth_l1_loss, type Reduction,
} from '../ops/loss.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

export interface LossOptions {
  reduction?: Reduction;
}

/**
 * Loss modules (torch.nn's): the options, PyTorch's keyword arguments, are fixed at construction;
 * forward(input, target).
 */
abstract class Loss extends Module {
  readonly reduction: Reduction;

  constructor(opts: LossOptions = {}) {
    super();
    this.reduction = opts.reduction ?? 'mean';
  }

  abstract override forward(input: Tensor, target: Tensor): Tensor;

  override extra_repr(): string {
    return `reduction='${this.reduction}'`;
  }
}

export interface WeightedLossOptions extends LossOptions {
  weight?: Tensor | null;
}

export class CrossEntropyLoss extends Loss {
  readonly weight: Tensor | null;
  readonly ignore_index: number;
  readonly label_smoothing: number;

  constructor(opts: WeightedLossOptions & { ignore_index?: number; label_smoothing?: number } = {}) {
    super(opts);
    this.weight = opts.weight ?? null;
    this.ignore_index = opts.ignore_index ?? -100;
    this.label_smoothing = opts.label_smoothing ?? 0;
    if (this.weight) this.register_buffer('weight', this.weight);
  }

  forward(input: Tensor, target: Tensor): Tensor {
    return cross_entropy(input, target, { weight: this.weight, ignore_index: this.ignore_index, reduction: this.reduction, label_smoothing: this.label_smoothing });
  }
}

export class NLLLoss extends Loss {
  readonly weight: Tensor | null;
  readonly ignore_index: number;

  constructor(opts: WeightedLossOptions & { ignore_index?: number } = {}) {
    super(opts);
    this.weight = opts.weight ?? null;
    this.ignore_index = opts.ignore_index ?? -100;
    if (this.weight) this.register_buffer('weight', this.weight);
  }

  forward(input: Tensor, target: Tensor): Tensor {
    return nll_loss(input, target, { weight: this.weight, ignore_index: this.ignore_index, reduction: this.reduction });
  }
}

export class BCELoss extends Loss {
  readonly weight: Tensor | null;

  constructor(opts: WeightedLossOptions = {}) {
    super(opts);
    this.weight = opts.weight ?? null;
    if (this.weight) this.register_buffer('weight', this.weight);
  }

  forward(input: Tensor, target: Tensor): Tensor {
    return binary_cross_entropy(input, target, { weight: this.weight, reduction: this.reduction });
  }
}

export class BCEWithLogitsLoss extends Loss {
  readonly weight: Tensor | null;
  readonly pos_weight: Tensor | null;

  constructor(opts: WeightedLossOptions & { pos_weight?: Tensor | null } = {}) {
    super(opts);
    this.weight = opts.weight ?? null;
    this.pos_weight = opts.pos_weight ?? null;
    if (this.weight) this.register_buffer('weight', this.weight);
    if (this.pos_weight) this.register_buffer('pos_weight', this.pos_weight);
  }

  forward(input: Tensor, target: Tensor): Tensor {
    return binary_cross_entropy_with_logits(input, target, { weight: this.weight, pos_weight: this.pos_weight, reduction: this.reduction });
  }
}

export class MSELoss extends Loss {
  forward(input: Tensor, target: Tensor): Tensor {
    return mse_loss(input, target, this.reduction);
  }
}

export class L1Loss extends Loss {
  forward(input: Tensor, target: Tensor): Tensor {
    return l1_loss(input, target, this.reduction);
  }
}

export class SmoothL1Loss extends Loss {
  readonly beta: number;

  constructor(opts: LossOptions & { beta?: number } = {}) {
    super(opts);
    this.beta = opts.beta ?? 1;
  }

  forward(input: Tensor, target: Tensor): Tensor {
    return smooth_l1_loss(input, target, this.reduction, this.beta);
  }
}

export class HuberLoss extends Loss {
  readonly delta: number;

  constructor(opts: LossOptions & { delta?: number } = {}) {
    super(opts);
    this.delta = opts.delta ?? 1;
  }

  forward(input: Tensor, target: Tensor): Tensor {
    return huber_loss(input, target, this.reduction, this.delta);
  }
}

export class HingeEmbeddingLoss extends Loss {
  readonly margin: number;

  constructor(opts: LossOptions & { margin?: number } = {}) {
    super(opts);
    this.margin = opts.margin ?? 1;
  }

  forward(input: Tensor, target: Tensor): Tensor {
    return hinge_embedding_loss(input, target, this.margin, this.reduction);
  }
}

/** PyTorch's MultiMarginLoss (divides each sample's hinge sum by the class count). */
export class MultiMarginLoss extends Loss {
  readonly p: 1 | 2;
  readonly margin: number;
  readonly weight: Tensor | null;

  constructor(opts: WeightedLossOptions & { p?: 1 | 2; margin?: number } = {}) {
    super(opts);
    this.p = opts.p ?? 1;
    this.margin = opts.margin ?? 1;
    this.weight = opts.weight ?? null;
    if (this.weight) this.register_buffer('weight', this.weight);
  }

  forward(input: Tensor, target: Tensor): Tensor {
    return multi_margin_loss(input, target, { p: this.p, margin: this.margin, weight: this.weight, reduction: this.reduction });
  }
}

/** The course's multiclass SVM loss Σ_{j≠y} max(0, s_j - s_y + Δ), averaged over the batch. */
export class MulticlassSVMLoss extends Loss {
  readonly delta: number;

  constructor(opts: LossOptions & { delta?: number } = {}) {
    super(opts);
    this.delta = opts.delta ?? 1;
  }

  forward(scores: Tensor, target: Tensor): Tensor {
    return multiclass_svm_loss(scores, target, this.delta, this.reduction);
  }
}
