import type { IntOrPair, IntOrSingle } from '../ops/conv.js';
import {
  adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool1d, avg_pool2d, max_pool1d, max_pool2d,
  type AdaptiveSize2d, type AvgPool1dOptions, type AvgPool2dOptions, type MaxPool1dOptions, type MaxPool2dOptions,
} from '../ops/pool.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

function repr(kernel: unknown, opts: object): string {
  return [`kernel_size=${JSON.stringify(kernel)}`, ...Object.entries(opts).map(([k, v]) => `${k}=${JSON.stringify(v)}`)].join(', ');
}

export class MaxPool2d extends Module {
  constructor(readonly kernel_size: IntOrPair, readonly opts: MaxPool2dOptions = {}) {
    super();
  }

  forward(x: Tensor): Tensor {
    return max_pool2d(x, this.kernel_size, this.opts);
  }

  override extra_repr(): string {
    return repr(this.kernel_size, this.opts);
  }
}

export class MaxPool1d extends Module {
  constructor(readonly kernel_size: IntOrSingle, readonly opts: MaxPool1dOptions = {}) {
    super();
  }

  forward(x: Tensor): Tensor {
    return max_pool1d(x, this.kernel_size, this.opts);
  }

  override extra_repr(): string {
    return repr(this.kernel_size, this.opts);
  }
}

export class AvgPool2d extends Module {
  constructor(readonly kernel_size: IntOrPair, readonly opts: AvgPool2dOptions = {}) {
    super();
  }

  forward(x: Tensor): Tensor {
    return avg_pool2d(x, this.kernel_size, this.opts);
  }

  override extra_repr(): string {
    return repr(this.kernel_size, this.opts);
  }
}

export class AvgPool1d extends Module {
  constructor(readonly kernel_size: IntOrSingle, readonly opts: AvgPool1dOptions = {}) {
    super();
  }

  forward(x: Tensor): Tensor {
    return avg_pool1d(x, this.kernel_size, this.opts);
  }

  override extra_repr(): string {
    return repr(this.kernel_size, this.opts);
  }
}

/** Average pooling to a fixed output size; output_size 1 is global average pooling. */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly output_size: AdaptiveSize2d) {
    super();
  }

  forward(x: Tensor): Tensor {
    return adaptive_avg_pool2d(x, this.output_size);
  }

  override extra_repr(): string {
    return `output_size=${JSON.stringify(this.output_size)}`;
  }
}

export class AdaptiveAvgPool1d extends Module {
  constructor(readonly output_size: IntOrSingle) {
    super();
  }

  forward(x: Tensor): Tensor {
    return adaptive_avg_pool1d(x, this.output_size);
  }

  override extra_repr(): string {
    return `output_size=${JSON.stringify(this.output_size)}`;
  }
}

export class AdaptiveMaxPool2d extends Module {
  constructor(readonly output_size: AdaptiveSize2d) {
    super();
  }

  forward(x: Tensor): Tensor {
    return adaptive_max_pool2d(x, this.output_size);
  }

  override extra_repr(): string {
    return `output_size=${JSON.stringify(this.output_size)}`;
  }
}
