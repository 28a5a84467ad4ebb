import { dropout, dropout2d } from '../ops/dropout.js';
import { StrideError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

abstract class DropoutBase extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new StrideError(`${this.constructor.name}: dropout probability has to be between 0 and 1, but got ${p}`);
  }

  override extra_repr(): string {
    return `p=${this.p}`;
  }
}

/** Zeroes each element with probability p while training, scaling the rest by 1/(1-p). */
export class Dropout extends DropoutBase {
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training);
  }
}

/** Zeroes whole channels of [N, C, H, W] (or [C, H, W]) with probability p while training. */
export class Dropout2d extends DropoutBase {
  forward(x: Tensor): Tensor {
    return dropout2d(x, this.p, this.training);
  }
}
