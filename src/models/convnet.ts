import { ReLU } from '../nn/activation.js';
import { Conv2d } from '../nn/conv.js';
import { Linear } from '../nn/linear.js';
import { Module, Sequential } from '../nn/module.js';
import { BatchNorm2d } from '../nn/normalization.js';
import { MaxPool2d } from '../nn/pooling.js';
import { flatten } from '../ops/shape.js';
import type { Tensor } from '../tensor/tensor.js';

export interface ConvNetOptions {
  num_classes?: number;
  in_channels?: number;
  /** Side of the square input (28 for MNIST); the classifier sees 32 maps of side/4. */
  input_size?: number;
}

/**
 * The small CNN of the course's PyTorch MNIST example: two blocks of conv 5x5 (padding 2),
 * BatchNorm, ReLU and 2x2 max pooling with 16 and 32 channels, then Linear(7*7*32, classes).
 */
export class ConvNet extends Module {
  layer1: Sequential;
  layer2: Sequential;
  fc: Linear;

  constructor(opts: ConvNetOptions = {}) {
    super();
    const { num_classes = 10, in_channels = 1, input_size = 28 } = opts;
    const block = (cin: number, cout: number) =>
      new Sequential(new Conv2d(cin, cout, 5, { padding: 2 }), new BatchNorm2d(cout), new ReLU(), new MaxPool2d(2));
    this.layer1 = block(in_channels, 16);
    this.layer2 = block(16, 32);
    const side = Math.floor(Math.floor(input_size / 2) / 2);
    this.fc = new Linear(side * side * 32, num_classes);
  }

  forward(x: Tensor): Tensor {
    const y = this.layer2.call(this.layer1.call(x) as Tensor) as Tensor;
    return this.fc.call(flatten(y, 1));
  }
}
