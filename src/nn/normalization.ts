import { no_grad } from '../autograd/grad_mode.js';
import { batch_norm, group_norm, instance_norm, layer_norm, local_response_norm } from '../ops/normalization.js';
import { full, zeros } from '../tensor/creation.js';
import { ShapeError, StrideError } from '../tensor/errors.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module, Parameter } from './module.js';

export interface BatchNormLayerOptions {
  eps?: number;
  /** Weight of each batch in the running statistics; null for a cumulative average. */
  momentum?: number | null;
  affine?: boolean;
  track_running_stats?: boolean;
}

/** Shared by BatchNorm1d/2d and InstanceNorm2d: affine parameters and running statistics. */
abstract class NormBase extends Module {
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly track_running_stats: boolean;
  weight: Parameter | null;
  bias: Parameter | null;
  declare running_mean: Tensor | null;
  declare running_var: Tensor | null;
  declare num_batches_tracked: Tensor | null;

  constructor(readonly num_features: number, opts: BatchNormLayerOptions, defaults: { affine: boolean; track_running_stats: boolean }) {
    super();
    const name = this.constructor.name;
    if (!Number.isInteger(num_features) || num_features <= 0) throw new StrideError(`${name}: num_features must be a positive integer, got ${num_features}`);
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    this.affine = opts.affine ?? defaults.affine;
    this.track_running_stats = opts.track_running_stats ?? defaults.track_running_stats;
    this.weight = this.affine ? new Parameter(full([num_features], 1)) : null;
    this.bias = this.affine ? new Parameter(zeros([num_features])) : null;
    if (this.track_running_stats) {
      this.register_buffer('running_mean', zeros([num_features]));
      this.register_buffer('running_var', full([num_features], 1));
      this.register_buffer('num_batches_tracked', zeros([], { dtype: 'int32' }));
    } else {
      this.register_buffer('running_mean', null);
      this.register_buffer('running_var', null);
      this.register_buffer('num_batches_tracked', null);
    }
  }

  /** The momentum for this training step, counting the batch (cumulative average when momentum is null). */
  protected stepMomentum(): number {
    if (!this.training || !this.track_running_stats || !this.num_batches_tracked) return this.momentum ?? 0;
    no_grad(() => this.num_batches_tracked!.add_(1));
    return this.momentum ?? 1 / this.num_batches_tracked.item();
  }

  reset_running_stats(): void {
    no_grad(() => {
      this.running_mean?.zero_();
      this.running_var?.fill_(1);
      this.num_batches_tracked?.zero_();
    });
  }

  override extra_repr(): string {
    return `${this.num_features}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.affine}, track_running_stats=${this.track_running_stats}`;
  }
}

abstract class BatchNormNd extends NormBase {
  constructor(num_features: number, opts: BatchNormLayerOptions, private readonly ranks: readonly number[]) {
    super(num_features, opts, { affine: true, track_running_stats: true });
  }

  forward(x: Tensor): Tensor {
    if (!this.ranks.includes(x.ndim)) {
      throw new ShapeError(`${this.constructor.name}: expected a ${this.ranks.join('-d or ')}-d input, got shape ${formatShape(x.shape)}`);
    }
    const momentum = this.stepMomentum();
    // Batch statistics when training, or when there are no running statistics to use.
    const useBatch = this.training || !this.running_mean;
    const trackNow = !this.training || this.track_running_stats;
    return batch_norm(x, trackNow ? this.running_mean : null, trackNow ? this.running_var : null, {
      weight: this.weight, bias: this.bias, training: useBatch, momentum, eps: this.eps,
    });
  }
}

/** Batch normalisation (Ioffe & Szegedy) over [N, C] or [N, C, L]. */
export class BatchNorm1d extends BatchNormNd {
  constructor(num_features: number, opts: BatchNormLayerOptions = {}) {
    super(num_features, opts, [2, 3]);
  }
}

/** Batch normalisation over [N, C, H, W]. */
export class BatchNorm2d extends BatchNormNd {
  constructor(num_features: number, opts: BatchNormLayerOptions = {}) {
    super(num_features, opts, [4]);
  }
}

/** Instance normalisation over [N, C, H, W] or [C, H, W]; no affine and no running stats by default. */
export class InstanceNorm2d extends NormBase {
  constructor(num_features: number, opts: BatchNormLayerOptions = {}) {
    super(num_features, opts, { affine: false, track_running_stats: false });
    // PyTorch's instance norm does not count batches, so it has no cumulative average: its
    // forward rejects momentum None.
    if (this.momentum === null) throw new StrideError('InstanceNorm2d: momentum must be a number (instance norm keeps no cumulative average), got null');
  }

  forward(x: Tensor): Tensor {
    if (x.ndim !== 3 && x.ndim !== 4) throw new ShapeError(`InstanceNorm2d: expected a 3-d or 4-d input, got shape ${formatShape(x.shape)}`);
    const batched = x.ndim === 4 ? x : x.unsqueeze(0);
    const y = instance_norm(batched, {
      running_mean: this.running_mean, running_var: this.running_var, weight: this.weight, bias: this.bias,
      use_input_stats: this.training || !this.track_running_stats, momentum: this.momentum!, eps: this.eps,
    });
    return x.ndim === 4 ? y : y.squeeze(0);
  }
}

export interface AffineNormOptions {
  eps?: number;
  elementwise_affine?: boolean;
}

/** Layer normalisation over the trailing normalized_shape dims. */
export class LayerNorm extends Module {
  readonly normalized_shape: number[];
  readonly eps: number;
  weight: Parameter | null;
  bias: Parameter | null;

  constructor(normalized_shape: number | readonly number[], opts: AffineNormOptions = {}) {
    super();
    this.normalized_shape = typeof normalized_shape === 'number' ? [normalized_shape] : [...normalized_shape];
    if (!this.normalized_shape.every((s) => Number.isInteger(s) && s > 0)) {
      throw new StrideError(`LayerNorm: normalized_shape must be positive integers, got ${JSON.stringify(normalized_shape)}`);
    }
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.elementwise_affine ?? true;
    this.weight = affine ? new Parameter(full(this.normalized_shape, 1)) : null;
    this.bias = affine ? new Parameter(zeros(this.normalized_shape)) : null;
  }

  forward(x: Tensor): Tensor {
    return layer_norm(x, this.normalized_shape, { weight: this.weight, bias: this.bias, eps: this.eps });
  }

  override extra_repr(): string {
    return `[${this.normalized_shape.join(', ')}], eps=${this.eps}, elementwise_affine=${this.weight !== null}`;
  }
}

/** Group normalisation (Wu & He): channels split into num_groups groups normalised together. */
export class GroupNorm extends Module {
  readonly eps: number;
  weight: Parameter | null;
  bias: Parameter | null;

  constructor(readonly num_groups: number, readonly num_channels: number, opts: { eps?: number; affine?: boolean } = {}) {
    super();
    if (!Number.isInteger(num_channels) || num_channels <= 0) throw new StrideError(`GroupNorm: num_channels must be a positive integer, got ${num_channels}`);
    if (!Number.isInteger(num_groups) || num_groups <= 0 || num_channels % num_groups !== 0) {
      throw new StrideError(`GroupNorm: num_channels (${num_channels}) must be divisible by num_groups (${num_groups})`);
    }
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.affine ?? true;
    this.weight = affine ? new Parameter(full([num_channels], 1)) : null;
    this.bias = affine ? new Parameter(zeros([num_channels])) : null;
  }

  forward(x: Tensor): Tensor {
    return group_norm(x, this.num_groups, { weight: this.weight, bias: this.bias, eps: this.eps });
  }

  override extra_repr(): string {
    return `${this.num_groups}, ${this.num_channels}, eps=${this.eps}, affine=${this.weight !== null}`;
  }
}

/** Local response normalisation across channels (AlexNet's), PyTorch's definition. */
export class LocalResponseNorm extends Module {
  constructor(readonly size: number, readonly alpha = 1e-4, readonly beta = 0.75, readonly k = 1) {
    super();
  }

  forward(x: Tensor): Tensor {
    return local_response_norm(x, this.size, { alpha: this.alpha, beta: this.beta, k: this.k });
  }

  override extra_repr(): string {
    return `${this.size}, alpha=${this.alpha}, beta=${this.beta}, k=${this.k}`;
  }
}
