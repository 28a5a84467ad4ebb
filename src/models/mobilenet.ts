import { ReLU6 } from '../nn/activation.js';
import { Conv2d } from '../nn/conv.js';
import { Dropout } from '../nn/dropout.js';
import { kaiming_normal_, normal_, zeros_ } from '../nn/init.js';
import { Linear } from '../nn/linear.js';
import { Module, Sequential } from '../nn/module.js';
import { BatchNorm2d } from '../nn/normalization.js';
import { adaptive_avg_pool2d } from '../ops/pool.js';
import { flatten } from '../ops/shape.js';
import { StrideError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { positiveInt } from './common.js';

/** Conv (no bias, "same" padding), BatchNorm, ReLU6 as torchvision's Conv2dNormActivation (a Sequential: keys 0, 1). */
export class Conv2dNormActivation extends Sequential {
  constructor(in_channels: number, out_channels: number, kernel_size = 3, stride = 1, groups = 1) {
    super(
      new Conv2d(in_channels, out_channels, kernel_size, { stride, padding: (kernel_size - 1) >> 1, groups, bias: false }),
      new BatchNorm2d(out_channels),
      new ReLU6(),
    );
  }
}

/**
 * MobileNetV2's inverted residual: 1x1 expansion (skipped when expand_ratio is 1), 3x3 depthwise
 * convolution, linear 1x1 projection; added to the input when stride is 1 and the channels match.
 */
export class InvertedResidual extends Module {
  readonly use_res_connect: boolean;
  conv: Sequential;

  constructor(inp: number, oup: number, readonly stride: number, expand_ratio: number) {
    super();
    if (stride !== 1 && stride !== 2) throw new StrideError(`InvertedResidual: stride must be 1 or 2, got ${stride}`);
    const hidden = Math.round(inp * expand_ratio);
    this.use_res_connect = stride === 1 && inp === oup;
    const layers: Module[] = expand_ratio !== 1 ? [new Conv2dNormActivation(inp, hidden, 1)] : [];
    layers.push(new Conv2dNormActivation(hidden, hidden, 3, stride, hidden), new Conv2d(hidden, oup, 1, { bias: false }), new BatchNorm2d(oup));
    this.conv = new Sequential(...layers);
  }

  forward(x: Tensor): Tensor {
    const y = this.conv.call(x) as Tensor;
    return this.use_res_connect ? x.add(y) : y;
  }
}

/**
 * `v` rounded to the nearest multiple of `divisor`, but not below it nor more than 10% below v
 * (the channel rounding of the TensorFlow MobileNet code that torchvision reproduces).
 */
function makeDivisible(v: number, divisor: number): number {
  let rounded = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (rounded < 0.9 * v) rounded += divisor;
  return rounded;
}

/** Expansion t, output channels c, repeats n, first stride s of each stage (the paper's Table 2). */
const SETTINGS: readonly (readonly [number, number, number, number])[] = [
  [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
];

export interface MobileNetV2Options {
  num_classes?: number;
  in_channels?: number;
  /** Scales every layer's channels (rounded to multiples of round_nearest). */
  width_mult?: number;
  round_nearest?: number;
  dropout?: number;
}

/** MobileNetV2 (Sandler et al. 2018) as torchvision defines it, with its attribute names. 3,504,872 parameters. */
export class MobileNetV2 extends Module {
  readonly last_channel: number;
  features: Sequential;
  classifier: Sequential;

  constructor(opts: MobileNetV2Options = {}) {
    super();
    const { in_channels = 3, width_mult = 1, dropout = 0.2 } = opts;
    const num_classes = positiveInt('mobilenet_v2', 'num_classes', opts.num_classes ?? 1000);
    const round = positiveInt('mobilenet_v2', 'round_nearest', opts.round_nearest ?? 8);
    if (!(width_mult > 0)) throw new StrideError(`mobilenet_v2: width_mult must be positive, got ${width_mult}`);
    let channels = makeDivisible(32 * width_mult, round);
    this.last_channel = makeDivisible(1280 * Math.max(1, width_mult), round);
    const features: Module[] = [new Conv2dNormActivation(in_channels, channels, 3, 2)];
    for (const [t, c, n, s] of SETTINGS) {
      const out = makeDivisible(c * width_mult, round);
      for (let i = 0; i < n; i++) {
        features.push(new InvertedResidual(channels, out, i === 0 ? s : 1, t));
        channels = out;
      }
    }
    features.push(new Conv2dNormActivation(channels, this.last_channel, 1));
    this.features = new Sequential(...features);
    this.classifier = new Sequential(new Dropout(dropout), new Linear(this.last_channel, num_classes));
    for (const m of this.modules()) {
      if (m instanceof Conv2d) kaiming_normal_(m.weight, { mode: 'fan_out' });
      else if (m instanceof Linear) {
        normal_(m.weight, 0, 0.01);
        zeros_(m.bias!);
      }
    }
  }

  forward(x: Tensor): Tensor {
    const y = adaptive_avg_pool2d(this.features.call(x) as Tensor, [1, 1]);
    return this.classifier.call(flatten(y, 1)) as Tensor;
  }
}
