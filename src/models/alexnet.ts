import { ReLU } from '../nn/activation.js';
import { Conv2d } from '../nn/conv.js';
import { Module, Sequential } from '../nn/module.js';
import { AdaptiveAvgPool2d, MaxPool2d } from '../nn/pooling.js';
import { flatten } from '../ops/shape.js';
import { StrideError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { alexnetClassifier, krizhevskyLRN, oneOf, positiveInt } from './common.js';

export interface AlexNetOptions {
  num_classes?: number;
  in_channels?: number;
  /**
   * 'torchvision': torchvision's AlexNet (64-192-384-256-256 channels, adaptive pooling to 6x6, no
   * LRN; 61,100,840 parameters). 'original': Krizhevsky et al. 2012 as one tower on 227x227
   * input (96-256-384-384-256 channels, LRN after the first two convolutions; 62,378,344).
   */
  variant?: 'torchvision' | 'original';
  /** Side of the square input; the original variant needs 227 (its classifier expects 6x6x256). */
  input_size?: number;
  /** Dropout probability before the first two fully connected layers. */
  dropout?: number;
}

/** AlexNet with torchvision's attribute names (features, avgpool, classifier). */
export class AlexNet extends Module {
  features: Sequential;
  avgpool: AdaptiveAvgPool2d | null;
  classifier: Sequential;

  constructor(opts: AlexNetOptions = {}) {
    super();
    const { in_channels = 3, variant = 'torchvision', dropout = 0.5 } = opts;
    const num_classes = positiveInt('alexnet', 'num_classes', opts.num_classes ?? 1000);
    oneOf('alexnet', 'variant', variant, ['torchvision', 'original']);
    const pool = () => new MaxPool2d(3, { stride: 2 });
    if (variant === 'torchvision') {
      this.features = new Sequential(
        new Conv2d(in_channels, 64, 11, { stride: 4, padding: 2 }), new ReLU(), pool(),
        new Conv2d(64, 192, 5, { padding: 2 }), new ReLU(), pool(),
        new Conv2d(192, 384, 3, { padding: 1 }), new ReLU(),
        new Conv2d(384, 256, 3, { padding: 1 }), new ReLU(),
        new Conv2d(256, 256, 3, { padding: 1 }), new ReLU(), pool(),
      );
      this.avgpool = new AdaptiveAvgPool2d([6, 6]);
    } else {
      if (opts.input_size !== undefined && opts.input_size !== 227) {
        throw new StrideError(`alexnet: the original variant takes 227x227 input (its classifier expects 6x6x256 maps), got input_size ${opts.input_size}`);
      }
      // 227 → 55 → 27 → 27 → 13 → 13 → 13 → 13 → 6, the paper's overlapping 3x3/2 pooling.
      this.features = new Sequential(
        new Conv2d(in_channels, 96, 11, { stride: 4 }), new ReLU(), krizhevskyLRN(), pool(),
        new Conv2d(96, 256, 5, { padding: 2 }), new ReLU(), krizhevskyLRN(), pool(),
        new Conv2d(256, 384, 3, { padding: 1 }), new ReLU(),
        new Conv2d(384, 384, 3, { padding: 1 }), new ReLU(),
        new Conv2d(384, 256, 3, { padding: 1 }), new ReLU(), pool(),
      );
      this.avgpool = null;
    }
    this.classifier = alexnetClassifier(num_classes, dropout);
  }

  forward(x: Tensor): Tensor {
    let y = this.features.call(x) as Tensor;
    if (this.avgpool) y = this.avgpool.call(y);
    return this.classifier.call(flatten(y, 1)) as Tensor;
  }
}
