import { ReLU } from '../nn/activation.js';
import { Conv2d } from '../nn/conv.js';
import { constant_, kaiming_normal_ } from '../nn/init.js';
import { fuse_modules } from '../nn/fusion.js';
import { Identity, Linear } from '../nn/linear.js';
import { Module, Sequential } from '../nn/module.js';
import { BatchNorm2d } from '../nn/normalization.js';
import { AdaptiveAvgPool2d, MaxPool2d } from '../nn/pooling.js';
import { flatten } from '../ops/shape.js';
import { StrideError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { positiveInt } from './common.js';

const conv3x3 = (cin: number, cout: number, stride = 1) => new Conv2d(cin, cout, 3, { stride, padding: 1, bias: false });
const conv1x1 = (cin: number, cout: number, stride = 1) => new Conv2d(cin, cout, 1, { stride, bias: false });

/** A 1x1 projection shortcut with BatchNorm (torchvision's `downsample`), for blocks that change the shape. */
function projection(cin: number, cout: number, stride: number): Sequential {
  return new Sequential(conv1x1(cin, cout, stride), new BatchNorm2d(cout));
}

/** Two 3x3 convolutions with BatchNorm and a shortcut (ResNet-18/34 and the CIFAR ResNets). */
export class BasicBlock extends Module {
  static readonly expansion = 1;
  conv1: Conv2d;
  bn1: BatchNorm2d | Identity;
  relu: ReLU;
  conv2: Conv2d;
  bn2: BatchNorm2d | Identity;
  downsample: Sequential | null;

  constructor(inplanes: number, planes: number, stride = 1, downsample: Sequential | null = null) {
    super();
    this.conv1 = conv3x3(inplanes, planes, stride);
    this.bn1 = new BatchNorm2d(planes);
    this.relu = new ReLU();
    this.conv2 = conv3x3(planes, planes);
    this.bn2 = new BatchNorm2d(planes);
    this.downsample = downsample;
  }

  forward(x: Tensor): Tensor {
    const out = this.bn2.call(this.conv2.call(this.relu.call(this.bn1.call(this.conv1.call(x)))));
    const identity = this.downsample ? (this.downsample.call(x) as Tensor) : x;
    return this.relu.call(out.add(identity));
  }
}

/**
 * 1x1 reduce, 3x3, 1x1 expand (x4) with BatchNorm and a shortcut (ResNet-50/101/152). The stride
 * sits on the 3x3 convolution, as in torchvision ("ResNet v1.5"; the paper puts it on the first 1x1).
 */
export class Bottleneck extends Module {
  static readonly expansion = 4;
  conv1: Conv2d;
  bn1: BatchNorm2d | Identity;
  conv2: Conv2d;
  bn2: BatchNorm2d | Identity;
  conv3: Conv2d;
  bn3: BatchNorm2d | Identity;
  relu: ReLU;
  downsample: Sequential | null;

  constructor(inplanes: number, planes: number, stride = 1, downsample: Sequential | null = null) {
    super();
    this.conv1 = conv1x1(inplanes, planes);
    this.bn1 = new BatchNorm2d(planes);
    this.conv2 = conv3x3(planes, planes, stride);
    this.bn2 = new BatchNorm2d(planes);
    this.conv3 = conv1x1(planes, planes * Bottleneck.expansion);
    this.bn3 = new BatchNorm2d(planes * Bottleneck.expansion);
    this.relu = new ReLU();
    this.downsample = downsample;
  }

  forward(x: Tensor): Tensor {
    let out = this.relu.call(this.bn1.call(this.conv1.call(x)));
    out = this.relu.call(this.bn2.call(this.conv2.call(out)));
    out = this.bn3.call(this.conv3.call(out));
    const identity = this.downsample ? (this.downsample.call(x) as Tensor) : x;
    return this.relu.call(out.add(identity));
  }
}

type Block = typeof BasicBlock | typeof Bottleneck;

/**
 * A stage of `blocks` residual blocks of `planes` (times the block's expansion) channels; the
 * first one applies `stride` and gets a projection shortcut when the shape changes.
 */
function makeLayer(block: Block, inplanes: number, planes: number, blocks: number, stride: number): Sequential {
  const out = planes * block.expansion;
  const downsample = stride !== 1 || inplanes !== out ? projection(inplanes, out, stride) : null;
  const layers: Module[] = [new block(inplanes, planes, stride, downsample)];
  for (let i = 1; i < blocks; i++) layers.push(new block(out, planes));
  return new Sequential(...layers);
}

/**
 * torchvision's initialisation: Kaiming normal (fan_out, ReLU) convolutions; with
 * zero_init_residual, the last BatchNorm of each residual branch starts at 0 so every block
 * starts as the identity (Goyal et al. 2017).
 */
function initResNet(model: Module, zero_init_residual: boolean): void {
  for (const m of model.modules()) if (m instanceof Conv2d) kaiming_normal_(m.weight, { mode: 'fan_out', nonlinearity: 'relu' });
  if (!zero_init_residual) return;
  for (const m of model.modules()) {
    const last = m instanceof Bottleneck ? m.bn3 : m instanceof BasicBlock ? m.bn2 : null;
    if (last instanceof BatchNorm2d) constant_(last.weight!, 0);
  }
}

/**
 * Folds every batch norm of a ResNet into the convolution before it (the stem, each block's
 * convolutions and projection shortcuts), in evaluation mode, as torchvision's quantizable
 * ResNets' fuse_model() does: see fuse_modules.
 */
function fuseResNet<M extends Module>(model: M): M {
  const groups = [['conv1', 'bn1']];
  for (const [name, m] of model.named_modules()) {
    if (!(m instanceof BasicBlock || m instanceof Bottleneck)) continue;
    for (let i = 1; i <= (m instanceof Bottleneck ? 3 : 2); i++) groups.push([`${name}.conv${i}`, `${name}.bn${i}`]);
    if (m.downsample) groups.push([`${name}.downsample.0`, `${name}.downsample.1`]);
  }
  return fuse_modules(model, groups);
}

export interface ResNetOptions {
  num_classes?: number;
  in_channels?: number;
  zero_init_residual?: boolean;
}

const DEPTHS = {
  resnet18: [BasicBlock, [2, 2, 2, 2]],
  resnet34: [BasicBlock, [3, 4, 6, 3]],
  resnet50: [Bottleneck, [3, 4, 6, 3]],
  resnet101: [Bottleneck, [3, 4, 23, 3]],
  resnet152: [Bottleneck, [3, 8, 36, 3]],
} as const satisfies Record<string, readonly [Block, readonly number[]]>;

export type ResNetDepth = keyof typeof DEPTHS;

/**
 * ResNet (He et al. 2015) for ImageNet as torchvision defines it, with its attribute names:
 * 7x7/2 conv, 3x3/2 max pooling, four stages of 64-128-256-512 planes, global average pooling,
 * fc. ResNet-18: 11,689,512 parameters.
 */
export class ResNet extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d | Identity;
  relu: ReLU;
  maxpool: MaxPool2d;
  layer1: Sequential;
  layer2: Sequential;
  layer3: Sequential;
  layer4: Sequential;
  avgpool: AdaptiveAvgPool2d;
  fc: Linear;

  constructor(readonly depth: ResNetDepth, opts: ResNetOptions = {}) {
    super();
    const { in_channels = 3, zero_init_residual = false } = opts;
    const num_classes = positiveInt(depth, 'num_classes', opts.num_classes ?? 1000);
    const [block, layers] = DEPTHS[depth];
    this.conv1 = new Conv2d(in_channels, 64, 7, { stride: 2, padding: 3, bias: false });
    this.bn1 = new BatchNorm2d(64);
    this.relu = new ReLU();
    this.maxpool = new MaxPool2d(3, { stride: 2, padding: 1 });
    const e = block.expansion;
    this.layer1 = makeLayer(block, 64, 64, layers[0], 1);
    this.layer2 = makeLayer(block, 64 * e, 128, layers[1], 2);
    this.layer3 = makeLayer(block, 128 * e, 256, layers[2], 2);
    this.layer4 = makeLayer(block, 256 * e, 512, layers[3], 2);
    this.avgpool = new AdaptiveAvgPool2d([1, 1]);
    this.fc = new Linear(512 * e, num_classes);
    initResNet(this, zero_init_residual);
  }

  /** For inference: folds every batch norm into its convolution (in place; evaluation mode only). */
  fuse_model(): this {
    return fuseResNet(this);
  }

  forward(x: Tensor): Tensor {
    let y = this.maxpool.call(this.relu.call(this.bn1.call(this.conv1.call(x))));
    for (const layer of [this.layer1, this.layer2, this.layer3, this.layer4]) y = layer.call(y) as Tensor;
    return this.fc.call(flatten(this.avgpool.call(y), 1));
  }
}

export interface CifarResNetOptions extends ResNetOptions {
  /** 6n + 2: 20, 32, 44, 56, 110, ... */
  depth?: number;
}

/**
 * The CIFAR-10 ResNets of He et al. 2015 (section 4.2): a 3x3 conv to 16 maps, three stages of
 * n basic blocks with 16, 32 and 64 channels (stride 2 at the start of the last two), global
 * average pooling, fc; depth 6n + 2. Shortcuts are identities except where the shape changes,
 * which get a 1x1 projection with BatchNorm (the paper's option B; its CIFAR runs used option A,
 * zero padding, which has no parameters). Key names follow torchvision's ResNet. ResNet-20:
 * 272,474 parameters.
 */
export class CifarResNet extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d | Identity;
  relu: ReLU;
  layer1: Sequential;
  layer2: Sequential;
  layer3: Sequential;
  avgpool: AdaptiveAvgPool2d;
  fc: Linear;

  constructor(opts: CifarResNetOptions = {}) {
    super();
    const { in_channels = 3, zero_init_residual = false, depth = 20 } = opts;
    const num_classes = positiveInt('cifar resnet', 'num_classes', opts.num_classes ?? 10);
    if (!Number.isInteger(depth) || depth < 8 || (depth - 2) % 6 !== 0) {
      throw new StrideError(`cifar resnet: depth must be 6n + 2 with n >= 1 (20, 32, 56, ...), got ${depth}`);
    }
    const n = (depth - 2) / 6;
    this.conv1 = conv3x3(in_channels, 16);
    this.bn1 = new BatchNorm2d(16);
    this.relu = new ReLU();
    this.layer1 = makeLayer(BasicBlock, 16, 16, n, 1);
    this.layer2 = makeLayer(BasicBlock, 16, 32, n, 2);
    this.layer3 = makeLayer(BasicBlock, 32, 64, n, 2);
    this.avgpool = new AdaptiveAvgPool2d([1, 1]);
    this.fc = new Linear(64, num_classes);
    initResNet(this, zero_init_residual);
  }

  /** For inference: folds every batch norm into its convolution (in place; evaluation mode only). */
  fuse_model(): this {
    return fuseResNet(this);
  }

  forward(x: Tensor): Tensor {
    let y = this.relu.call(this.bn1.call(this.conv1.call(x)));
    for (const layer of [this.layer1, this.layer2, this.layer3]) y = layer.call(y) as Tensor;
    return this.fc.call(flatten(this.avgpool.call(y), 1));
  }
}
