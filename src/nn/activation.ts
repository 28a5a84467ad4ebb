import {
  celu, elu, gelu, hardsigmoid, hardswish, hardtanh, leaky_relu, log_softmax, logsigmoid, prelu, relu6, rrelu, selu,
  silu, softmax, softmin, softplus, softsign, type GeluApproximate,
} from '../ops/activation.js';
import { relu, sigmoid, tanh } from '../ops/elementwise.js';
import { full } from '../tensor/creation.js';
import { StrideError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module, Parameter } from './module.js';

/**
 * Activation functions as modules (torch.nn's). PyTorch's `inplace` flags are not offered:
 * stride computes every activation out of place.
 */

export class ReLU extends Module {
  forward(x: Tensor): Tensor { return relu(x); }
}

export class ReLU6 extends Module {
  forward(x: Tensor): Tensor { return relu6(x); }
}

export class Sigmoid extends Module {
  forward(x: Tensor): Tensor { return sigmoid(x); }
}

export class Tanh extends Module {
  forward(x: Tensor): Tensor { return tanh(x); }
}

export class SiLU extends Module {
  forward(x: Tensor): Tensor { return silu(x); }
}

export class SELU extends Module {
  forward(x: Tensor): Tensor { return selu(x); }
}

export class Hardsigmoid extends Module {
  forward(x: Tensor): Tensor { return hardsigmoid(x); }
}

export class Hardswish extends Module {
  forward(x: Tensor): Tensor { return hardswish(x); }
}

export class Softsign extends Module {
  forward(x: Tensor): Tensor { return softsign(x); }
}

export class LogSigmoid extends Module {
  forward(x: Tensor): Tensor { return logsigmoid(x); }
}

export class LeakyReLU extends Module {
  constructor(readonly negative_slope = 0.01) { super(); }
  forward(x: Tensor): Tensor { return leaky_relu(x, this.negative_slope); }
  override extra_repr(): string { return `negative_slope=${this.negative_slope}`; }
}

/** Randomized leaky ReLU: random slopes in U(lower, upper) when training, their mean in eval. */
export class RReLU extends Module {
  constructor(readonly lower = 1 / 8, readonly upper = 1 / 3) { super(); }
  forward(x: Tensor): Tensor { return rrelu(x, this.lower, this.upper, this.training); }
  override extra_repr(): string { return `lower=${this.lower}, upper=${this.upper}`; }
}

export class ELU extends Module {
  constructor(readonly alpha = 1) { super(); }
  forward(x: Tensor): Tensor { return elu(x, this.alpha); }
  override extra_repr(): string { return `alpha=${this.alpha}`; }
}

export class CELU extends Module {
  constructor(readonly alpha = 1) { super(); }
  forward(x: Tensor): Tensor { return celu(x, this.alpha); }
  override extra_repr(): string { return `alpha=${this.alpha}`; }
}

export class GELU extends Module {
  constructor(readonly approximate: GeluApproximate = 'none') { super(); }
  forward(x: Tensor): Tensor { return gelu(x, this.approximate); }
  override extra_repr(): string { return `approximate='${this.approximate}'`; }
}

export class Softplus extends Module {
  constructor(readonly beta = 1, readonly threshold = 20) { super(); }
  forward(x: Tensor): Tensor { return softplus(x, this.beta, this.threshold); }
  override extra_repr(): string { return `beta=${this.beta}, threshold=${this.threshold}`; }
}

export class Hardtanh extends Module {
  constructor(readonly min_val = -1, readonly max_val = 1) {
    super();
    if (!(max_val > min_val)) throw new StrideError(`Hardtanh: max_val (${max_val}) must be greater than min_val (${min_val})`);
  }

  forward(x: Tensor): Tensor { return hardtanh(x, this.min_val, this.max_val); }
  override extra_repr(): string { return `min_val=${this.min_val}, max_val=${this.max_val}`; }
}

/** Leaky ReLU with learned slopes: one shared (num_parameters = 1) or one per channel. */
export class PReLU extends Module {
  weight: Parameter;

  constructor(readonly num_parameters = 1, init = 0.25) {
    super();
    if (!Number.isInteger(num_parameters) || num_parameters <= 0) {
      throw new StrideError(`PReLU: num_parameters must be a positive integer, got ${num_parameters}`);
    }
    this.weight = new Parameter(full([num_parameters], init));
  }

  forward(x: Tensor): Tensor { return prelu(x, this.weight); }
  override extra_repr(): string { return `num_parameters=${this.num_parameters}`; }
}

/** softmax(x / temperature) along dim (temperature 1/β in the course's notation). */
export class Softmax extends Module {
  constructor(readonly dim: number, readonly temperature = 1) { super(); }
  forward(x: Tensor): Tensor { return softmax(x, this.dim, { temperature: this.temperature }); }
  override extra_repr(): string { return `dim=${this.dim}`; }
}

export class LogSoftmax extends Module {
  constructor(readonly dim: number, readonly temperature = 1) { super(); }
  forward(x: Tensor): Tensor { return log_softmax(x, this.dim, { temperature: this.temperature }); }
  override extra_repr(): string { return `dim=${this.dim}`; }
}

export class Softmin extends Module {
  constructor(readonly dim: number) { super(); }
  forward(x: Tensor): Tensor { return softmin(x, this.dim); }
  override extra_repr(): string { return `dim=${this.dim}`; }
}
