import { Conv2d, type ConvLayerOptions } from '../nn/conv.js';
import { Dropout } from '../nn/dropout.js';
import { trunc_normal_ } from '../nn/init.js';
import { Linear } from '../nn/linear.js';
import { Module, Sequential } from '../nn/module.js';
import { BatchNorm2d } from '../nn/normalization.js';
import { AdaptiveAvgPool2d, MaxPool2d } from '../nn/pooling.js';
import type { IntOrPair } from '../ops/conv.js';
import { relu } from '../ops/elementwise.js';
import { cat } from '../ops/join.js';
import { adaptive_avg_pool2d } from '../ops/pool.js';
import { flatten, select } from '../ops/shape.js';
import { StrideError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { positiveInt } from './common.js';

/** Convolution without bias, BatchNorm (eps 0.001) and ReLU. */
export class BasicConv2d extends Module {
  conv: Conv2d;
  bn: BatchNorm2d;

  constructor(in_channels: number, out_channels: number, kernel_size: IntOrPair, opts: Omit<ConvLayerOptions<IntOrPair>, 'bias'> = {}) {
    super();
    this.conv = new Conv2d(in_channels, out_channels, kernel_size, { ...opts, bias: false });
    this.bn = new BatchNorm2d(out_channels, { eps: 0.001 });
  }

  forward(x: Tensor): Tensor {
    return relu(this.bn.call(this.conv.call(x)));
  }
}

/**
 * An Inception module: 1x1, 1x1→3x3, 1x1→"5x5" and 3x3 max pool→1x1 branches concatenated
 * along channels. The "5x5" branch uses a 3x3 kernel, as torchvision's does (its issue 906: the
 * pretrained weights were trained so, and keeping it keeps the state_dict shapes).
 */
export class Inception extends Module {
  branch1: BasicConv2d;
  branch2: Sequential;
  branch3: Sequential;
  branch4: Sequential;

  constructor(in_channels: number, ch1x1: number, ch3x3red: number, ch3x3: number, ch5x5red: number, ch5x5: number, pool_proj: number) {
    super();
    this.branch1 = new BasicConv2d(in_channels, ch1x1, 1);
    this.branch2 = new Sequential(new BasicConv2d(in_channels, ch3x3red, 1), new BasicConv2d(ch3x3red, ch3x3, 3, { padding: 1 }));
    this.branch3 = new Sequential(new BasicConv2d(in_channels, ch5x5red, 1), new BasicConv2d(ch5x5red, ch5x5, 3, { padding: 1 }));
    this.branch4 = new Sequential(new MaxPool2d(3, { stride: 1, padding: 1, ceil_mode: true }), new BasicConv2d(in_channels, pool_proj, 1));
  }

  forward(x: Tensor): Tensor {
    return cat([this.branch1.call(x), this.branch2.call(x) as Tensor, this.branch3.call(x) as Tensor, this.branch4.call(x) as Tensor], 1);
  }
}

/** An auxiliary classifier: 4x4 average pooling, 1x1 conv to 128 maps, fc 2048-1024-classes. */
export class InceptionAux extends Module {
  conv: BasicConv2d;
  fc1: Linear;
  fc2: Linear;
  dropout: Dropout;

  constructor(in_channels: number, num_classes: number, dropout = 0.7) {
    super();
    this.conv = new BasicConv2d(in_channels, 128, 1);
    this.fc1 = new Linear(2048, 1024);
    this.fc2 = new Linear(1024, num_classes);
    this.dropout = new Dropout(dropout);
  }

  forward(x: Tensor): Tensor {
    const y = flatten(this.conv.call(adaptive_avg_pool2d(x, [4, 4])), 1);
    return this.fc2.call(this.dropout.call(relu(this.fc1.call(y))));
  }
}

/** What GoogLeNet returns in training mode with aux_logits (torchvision's GoogLeNetOutputs). */
export interface GoogLeNetOutputs {
  logits: Tensor;
  aux_logits2: Tensor;
  aux_logits1: Tensor;
}

export interface GoogLeNetOptions {
  num_classes?: number;
  in_channels?: number;
  /** The two auxiliary classifiers (after inception4a and 4d), used only in training mode. Default true, as torchvision's constructor. */
  aux_logits?: boolean;
  /**
   * Maps input normalised with ImageNet's mean and std to the (x - 0.5) / 0.5 normalisation that
   * the Google weights were trained with (torchvision sets it when loading them). Needs 3 channels.
   */
  transform_input?: boolean;
  /** torchvision's initialisation: conv and linear weights from N(0, 0.01) truncated to [-2, 2]. */
  init_weights?: boolean;
  dropout?: number;
  dropout_aux?: number;
}

/** ImageNet's per-channel mean and std, which transform_input undoes. */
const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

/**
 * GoogLeNet (Inception v1, Szegedy et al. 2014) as torchvision defines it, with its attribute
 * names: BatchNorm after every convolution, max pooling with ceil_mode, and optional auxiliary
 * heads. 6,624,904 parameters without the auxiliary heads, 13,004,888 with them.
 */
export class GoogLeNet extends Module {
  readonly aux_logits: boolean;
  readonly transform_input: boolean;
  conv1: BasicConv2d;
  maxpool1: MaxPool2d;
  conv2: BasicConv2d;
  conv3: BasicConv2d;
  maxpool2: MaxPool2d;
  inception3a: Inception;
  inception3b: Inception;
  maxpool3: MaxPool2d;
  inception4a: Inception;
  inception4b: Inception;
  inception4c: Inception;
  inception4d: Inception;
  inception4e: Inception;
  maxpool4: MaxPool2d;
  inception5a: Inception;
  inception5b: Inception;
  aux1: InceptionAux | null;
  aux2: InceptionAux | null;
  avgpool: AdaptiveAvgPool2d;
  dropout: Dropout;
  fc: Linear;

  constructor(opts: GoogLeNetOptions = {}) {
    super();
    const { in_channels = 3, aux_logits = true, transform_input = false, init_weights = true, dropout = 0.2, dropout_aux = 0.7 } = opts;
    const num_classes = positiveInt('googlenet', 'num_classes', opts.num_classes ?? 1000);
    if (transform_input && in_channels !== 3) throw new StrideError(`googlenet: transform_input needs 3 input channels (RGB), got in_channels ${in_channels}`);
    this.aux_logits = aux_logits;
    this.transform_input = transform_input;
    this.conv1 = new BasicConv2d(in_channels, 64, 7, { stride: 2, padding: 3 });
    this.maxpool1 = new MaxPool2d(3, { stride: 2, ceil_mode: true });
    this.conv2 = new BasicConv2d(64, 64, 1);
    this.conv3 = new BasicConv2d(64, 192, 3, { padding: 1 });
    this.maxpool2 = new MaxPool2d(3, { stride: 2, ceil_mode: true });
    this.inception3a = new Inception(192, 64, 96, 128, 16, 32, 32);
    this.inception3b = new Inception(256, 128, 128, 192, 32, 96, 64);
    this.maxpool3 = new MaxPool2d(3, { stride: 2, ceil_mode: true });
    this.inception4a = new Inception(480, 192, 96, 208, 16, 48, 64);
    this.inception4b = new Inception(512, 160, 112, 224, 24, 64, 64);
    this.inception4c = new Inception(512, 128, 128, 256, 24, 64, 64);
    this.inception4d = new Inception(512, 112, 144, 288, 32, 64, 64);
    this.inception4e = new Inception(528, 256, 160, 320, 32, 128, 128);
    this.maxpool4 = new MaxPool2d(2, { stride: 2, ceil_mode: true });
    this.inception5a = new Inception(832, 256, 160, 320, 32, 128, 128);
    this.inception5b = new Inception(832, 384, 192, 384, 48, 128, 128);
    this.aux1 = aux_logits ? new InceptionAux(512, num_classes, dropout_aux) : null;
    this.aux2 = aux_logits ? new InceptionAux(528, num_classes, dropout_aux) : null;
    this.avgpool = new AdaptiveAvgPool2d([1, 1]);
    this.dropout = new Dropout(dropout);
    this.fc = new Linear(1024, num_classes);
    if (init_weights) {
      for (const m of this.modules()) if (m instanceof Conv2d || m instanceof Linear) trunc_normal_(m.weight, 0, 0.01, -2, 2);
    }
  }

  private transformInput(x: Tensor): Tensor {
    if (!this.transform_input) return x;
    const channels = IMAGENET_MEAN.map((mean, c) => select(x, 1, c).unsqueeze(1).mul(IMAGENET_STD[c]! / 0.5).add((mean - 0.5) / 0.5));
    return cat(channels, 1);
  }

  /** Logits; in training mode with aux_logits, also the auxiliary heads' logits. */
  forward(input: Tensor): Tensor | GoogLeNetOutputs {
    let x = this.transformInput(input);
    x = this.maxpool1.call(this.conv1.call(x));
    x = this.maxpool2.call(this.conv3.call(this.conv2.call(x)));
    x = this.maxpool3.call(this.inception3b.call(this.inception3a.call(x)));
    x = this.inception4a.call(x);
    const aux1 = this.aux1 && this.training ? this.aux1.call(x) : null;
    x = this.inception4d.call(this.inception4c.call(this.inception4b.call(x)));
    const aux2 = this.aux2 && this.training ? this.aux2.call(x) : null;
    x = this.maxpool4.call(this.inception4e.call(x));
    x = this.inception5b.call(this.inception5a.call(x));
    const logits = this.fc.call(this.dropout.call(flatten(this.avgpool.call(x), 1)));
    return aux1 && aux2 ? { logits, aux_logits2: aux2, aux_logits1: aux1 } : logits;
  }
}
