import { ReLU } from '../nn/activation.js';
import { Conv2d } from '../nn/conv.js';
import { Module, Sequential } from '../nn/module.js';
import { MaxPool2d } from '../nn/pooling.js';
import { flatten } from '../ops/shape.js';
import { StrideError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { alexnetClassifier, krizhevskyLRN, positiveInt } from './common.js';

export interface ZFNetOptions {
  num_classes?: number;
  in_channels?: number;
  /** Side of the square input; must be 224 (the classifier expects 6x6x256 maps). */
  input_size?: number;
  dropout?: number;
}

/**
 * ZFNet (Zeiler & Fergus 2013, Fig. 3): AlexNet with a 7x7 stride-2 first layer and a stride-2
 * second layer, 224 → 110 → 55 → 26 → 13 → 13 → 13 → 13 → 6. Each of the first two layers is
 * conv, ReLU, 3x3/2 max pooling, then contrast normalisation across maps (AlexNet's LRN). The
 * paper's sizes need the pooling to round up (ceil_mode, as in the Caffe-era code) and a padding
 * of 1 in the first convolution. 62,357,608 parameters for 1000 classes.
 */
export class ZFNet extends Module {
  features: Sequential;
  classifier: Sequential;

  constructor(opts: ZFNetOptions = {}) {
    super();
    const { in_channels = 3, dropout = 0.5 } = opts;
    const num_classes = positiveInt('zfnet', 'num_classes', opts.num_classes ?? 1000);
    if (opts.input_size !== undefined && opts.input_size !== 224) {
      throw new StrideError(`zfnet: takes 224x224 input (its classifier expects 6x6x256 maps), got input_size ${opts.input_size}`);
    }
    const pool = () => new MaxPool2d(3, { stride: 2, ceil_mode: true });
    this.features = new Sequential(
      new Conv2d(in_channels, 96, 7, { stride: 2, padding: 1 }), new ReLU(), pool(), krizhevskyLRN(),
      new Conv2d(96, 256, 5, { stride: 2 }), new ReLU(), pool(), krizhevskyLRN(),
      new Conv2d(256, 384, 3, { padding: 1 }), new ReLU(),
      new Conv2d(384, 384, 3, { padding: 1 }), new ReLU(),
      new Conv2d(384, 256, 3, { padding: 1 }), new ReLU(), pool(),
    );
    this.classifier = alexnetClassifier(num_classes, dropout);
  }

  forward(x: Tensor): Tensor {
    return this.classifier.call(flatten(this.features.call(x) as Tensor, 1)) as Tensor;
  }
}
