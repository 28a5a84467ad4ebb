import { Conv2d } from '../nn/conv.js';
import { Flatten, Linear } from '../nn/linear.js';
import { Module, Sequential } from '../nn/module.js';
import { AvgPool2d, MaxPool2d } from '../nn/pooling.js';
import { ReLU, Tanh } from '../nn/activation.js';
import { StrideError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';

export interface LeNet5Options {
  num_classes?: number;
  in_channels?: number;
  /** 32 (the paper's input) or 28 (MNIST-sized: the first convolution pads by 2). */
  input_size?: 28 | 32;
  /** 'modern': ReLU and max pooling; 'classic': tanh and average pooling (subsampling). */
  variant?: 'modern' | 'classic';
}

/**
 * LeNet-5 (LeCun et al. 1998) as the course draws it: C1 conv 6@5x5, S2 pool, C3 conv 16@5x5,
 * S4 pool, then fully connected 400-120-84-classes (C5's 5x5 convolution over a 5x5 map is this
 * 400→120 layer). 61,706 parameters for 10 classes.
 */
export class LeNet5 extends Module {
  features: Sequential;
  classifier: Sequential;

  constructor(opts: LeNet5Options = {}) {
    super();
    const { num_classes = 10, in_channels = 1, input_size = 32, variant = 'modern' } = opts;
    if (input_size !== 28 && input_size !== 32) throw new StrideError(`lenet5: input_size must be 28 or 32, got ${String(input_size)}`);
    const act = () => (variant === 'classic' ? new Tanh() : new ReLU());
    const pool = () => (variant === 'classic' ? new AvgPool2d(2) : new MaxPool2d(2));
    this.features = new Sequential(
      new Conv2d(in_channels, 6, 5, { padding: input_size === 28 ? 2 : 0 }), act(), pool(),
      new Conv2d(6, 16, 5), act(), pool(),
    );
    this.classifier = new Sequential(
      new Flatten(), new Linear(16 * 5 * 5, 120), act(), new Linear(120, 84), act(), new Linear(84, num_classes),
    );
  }

  forward(x: Tensor): Tensor {
    return this.classifier.call(this.features.call(x)) as Tensor;
  }
}
