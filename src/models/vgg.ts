import { ReLU } from '../nn/activation.js';
import { Conv2d } from '../nn/conv.js';
import { Dropout } from '../nn/dropout.js';
import { constant_, kaiming_normal_, normal_ } from '../nn/init.js';
import { Linear } from '../nn/linear.js';
import { Module, Sequential } from '../nn/module.js';
import { BatchNorm2d } from '../nn/normalization.js';
import { AdaptiveAvgPool2d, MaxPool2d } from '../nn/pooling.js';
import { flatten } from '../ops/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { positiveInt } from './common.js';

/** Output channels of each 3x3 convolution, 'M' for 2x2 max pooling (configurations A, B, D, E of Simonyan & Zisserman). */
const CONFIGS = {
  vgg11: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  vgg13: [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  vgg16: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'],
  vgg19: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M'],
} as const;

export type VGGDepth = keyof typeof CONFIGS;

export interface VGGOptions {
  num_classes?: number;
  in_channels?: number;
  /** BatchNorm after every convolution (torchvision's vgg16_bn & co.). */
  batch_norm?: boolean;
  /** torchvision's initialisation (conv: Kaiming normal, fan_out; linear: N(0, 0.01); zero biases); false keeps the layers' defaults. */
  init_weights?: boolean;
  dropout?: number;
}

/**
 * VGG as torchvision builds it: `features` (conv 3x3 pad 1 [+ BatchNorm] + ReLU, 2x2 max
 * pooling), adaptive average pooling to 7x7, `classifier` 25088-4096-4096-classes with dropout
 * after the first two ReLUs. VGG16: 138,357,544 parameters.
 */
export class VGG extends Module {
  features: Sequential;
  avgpool: AdaptiveAvgPool2d;
  classifier: Sequential;

  constructor(readonly depth: VGGDepth, opts: VGGOptions = {}) {
    super();
    const { in_channels = 3, batch_norm = false, init_weights = true, dropout = 0.5 } = opts;
    const num_classes = positiveInt(depth, 'num_classes', opts.num_classes ?? 1000);
    const layers: Module[] = [];
    let channels = in_channels;
    for (const v of CONFIGS[depth]) {
      if (v === 'M') {
        layers.push(new MaxPool2d(2, { stride: 2 }));
        continue;
      }
      layers.push(new Conv2d(channels, v, 3, { padding: 1 }));
      if (batch_norm) layers.push(new BatchNorm2d(v));
      layers.push(new ReLU());
      channels = v;
    }
    this.features = new Sequential(...layers);
    this.avgpool = new AdaptiveAvgPool2d([7, 7]);
    this.classifier = new Sequential(
      new Linear(512 * 7 * 7, 4096), new ReLU(), new Dropout(dropout),
      new Linear(4096, 4096), new ReLU(), new Dropout(dropout),
      new Linear(4096, num_classes),
    );
    if (init_weights) {
      for (const m of this.modules()) {
        if (m instanceof Conv2d) {
          kaiming_normal_(m.weight, { mode: 'fan_out', nonlinearity: 'relu' });
          if (m.bias) constant_(m.bias, 0);
        } else if (m instanceof Linear) {
          normal_(m.weight, 0, 0.01);
          if (m.bias) constant_(m.bias, 0);
        }
      }
    }
  }

  forward(x: Tensor): Tensor {
    const y = this.avgpool.call(this.features.call(x) as Tensor);
    return this.classifier.call(flatten(y, 1)) as Tensor;
  }
}
