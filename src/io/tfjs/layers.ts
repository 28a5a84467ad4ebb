/**
 * Keras layers as stride modules, for imported TF.js models. Keras computes in NHWC; these
 * modules hold a 4-d tensor as NCHW (stride's layout) and any other tensor as Keras holds it, so
 * that convolutions, pooling and batch norm run on stride's ops unchanged, and only the layers
 * whose result depends on the memory order (Flatten, Reshape, Dense on 4-d input, axis
 * arguments) translate. Weighted layers extend stride's own (Conv2d, Linear, BatchNorm2d), so
 * their parameters have PyTorch's names and shapes. Pure.
 */
import { Conv2d } from '../../nn/conv.js';
import { Linear } from '../../nn/linear.js';
import { Module } from '../../nn/module.js';
import { BatchNorm2d, type BatchNormLayerOptions } from '../../nn/normalization.js';
import { elu, gelu, leaky_relu, relu6, selu, silu, softmax, softplus, softsign } from '../../ops/activation.js';
import { conv2d } from '../../ops/conv.js';
import { add, clamp, div, gt, mul, relu, rsub, sigmoid, tanh, where } from '../../ops/elementwise.js';
import { cat, pad } from '../../ops/join.js';
import { linear } from '../../ops/linalg.js';
import { avg_pool2d, max_pool2d } from '../../ops/pool.js';
import { amax, mean } from '../../ops/reduce.js';
import { flatten, narrow, permute, reshape } from '../../ops/shape.js';
import { ones_like } from '../../tensor/creation.js';
import { ShapeError } from '../../tensor/errors.js';
import { formatShape } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';

/** The dim holding Keras' last (channel) axis: 1 in NCHW, the last one otherwise. */
const channelDim = (x: Tensor): number => (x.ndim === 4 ? 1 : x.ndim - 1);

/** Keras axis (of its NHWC tensor) → dim of the tensor as held here. */
export function strideAxis(axis: number, ndim: number): number {
  const a = axis < 0 ? axis + ndim : axis;
  if (a < 0 || a >= ndim) throw new ShapeError(`axis ${axis} is out of range for a ${ndim}-d tensor`);
  return ndim === 4 ? [0, 2, 3, 1][a]! : a;
}

const toNHWC = (x: Tensor): Tensor => (x.ndim === 4 ? permute(x, [0, 2, 3, 1]) : x);
const toNCHW = (x: Tensor): Tensor => (x.ndim === 4 ? permute(x, [0, 3, 1, 2]) : x);

/** Keras' activation functions by their serialized names. */
const ACTIVATIONS: Record<string, (x: Tensor) => Tensor> = {
  linear: (x) => x,
  relu,
  relu6,
  sigmoid,
  tanh,
  softmax: (x) => softmax(x, channelDim(x)),
  elu: (x) => elu(x),
  selu,
  gelu: (x) => gelu(x),
  softplus: (x) => softplus(x),
  softsign,
  swish: silu,
  // Keras 2's piecewise-linear definition (PyTorch's hardsigmoid uses x/6 instead).
  hard_sigmoid: (x) => clamp(add(mul(x, 0.2), 0.5), 0, 1),
};

export const ACTIVATION_NAMES = Object.keys(ACTIVATIONS);

export function isActivation(name: unknown): name is string {
  return typeof name === 'string' && Object.hasOwn(ACTIVATIONS, name);
}

function activate(name: string, x: Tensor): Tensor {
  return ACTIVATIONS[name]!(x);
}

export type KerasPadding = 'same' | 'valid';

/**
 * TF's padding of one spatial dim, [before, after]: 'same' makes ceil(size / stride) outputs and
 * puts the odd pixel of the total after (bottom/right), which PyTorch's symmetric padding cannot.
 */
export function tfPadding(mode: KerasPadding, size: number, kernel: number, stride: number, dilation: number): [number, number] {
  if (mode === 'valid') return [0, 0];
  const total = Math.max((Math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** [top, bottom, left, right] for a window op over NCHW x. */
function windowPadding(mode: KerasPadding, x: Tensor, kernel: readonly number[], stride: readonly number[], dilation: readonly number[]): number[] {
  if (x.ndim !== 4) throw new ShapeError(`expected a 4-d input (NCHW), got shape ${formatShape(x.shape)}`);
  return [0, 1].flatMap((d) => tfPadding(mode, x.shape[2 + d]!, kernel[d]!, stride[d]!, dilation[d]!));
}

export interface KerasConvOptions {
  stride: [number, number];
  dilation: [number, number];
  groups: number;
  bias: boolean;
  padding: KerasPadding;
  activation: string;
}

/** Conv2D and DepthwiseConv2D (groups = channels): TF's padding, then the activation. */
export class KerasConv2d extends Conv2d {
  readonly tf_padding: KerasPadding;
  readonly activation: string;

  constructor(in_channels: number, out_channels: number, kernel_size: [number, number], opts: KerasConvOptions) {
    super(in_channels, out_channels, kernel_size, { stride: opts.stride, dilation: opts.dilation, groups: opts.groups, bias: opts.bias });
    this.tf_padding = opts.padding;
    this.activation = opts.activation;
  }

  override forward(x: Tensor): Tensor {
    const [top, bottom, left, right] = windowPadding(this.tf_padding, x, this.kernel_size, this.stride, this.dilation);
    const symmetric = top === bottom && left === right;
    const y = conv2d(symmetric ? x : pad(x, [left, right, top, bottom]), this.weight, this.bias, {
      stride: this.stride as [number, number],
      padding: symmetric ? [top!, left!] : [0, 0],
      dilation: this.dilation as [number, number],
      groups: this.groups,
    });
    return activate(this.activation, y);
  }

  override extra_repr(): string {
    return `${super.extra_repr()}, tf_padding=${this.tf_padding}, activation=${this.activation}`;
  }
}

/** SeparableConv2D: a depthwise convolution (with TF's padding), a 1x1 convolution with the bias, the activation. */
export class KerasSeparableConv2d extends Module {
  depthwise: KerasConv2d;
  pointwise: Conv2d;

  constructor(in_channels: number, depth_multiplier: number, filters: number, kernel_size: [number, number], readonly activation: string, opts: Omit<KerasConvOptions, 'groups' | 'activation'>) {
    super();
    this.depthwise = new KerasConv2d(in_channels, in_channels * depth_multiplier, kernel_size, { ...opts, groups: in_channels, bias: false, activation: 'linear' });
    this.pointwise = new Conv2d(in_channels * depth_multiplier, filters, 1, { bias: opts.bias });
  }

  forward(x: Tensor): Tensor {
    return activate(this.activation, this.pointwise.call(this.depthwise.call(x)));
  }

  override extra_repr(): string {
    return `activation=${this.activation}`;
  }
}

/** Dense: acts on Keras' last axis, which a 4-d input holds in dim 1. */
export class KerasDense extends Linear {
  constructor(in_features: number, out_features: number, bias: boolean, readonly activation: string) {
    super(in_features, out_features, bias);
  }

  override forward(x: Tensor): Tensor {
    return activate(this.activation, toNCHW(linear(toNHWC(x), this.weight, this.bias)));
  }

  override extra_repr(): string {
    return `${super.extra_repr()}, activation=${this.activation}`;
  }
}

/**
 * BatchNormalization over Keras' last axis (the only one supported). BatchNorm2d normalises dim
 * 1 of a 4-d tensor, so other ranks are brought to [N, C, L, 1] for it.
 */
export class KerasBatchNorm extends BatchNorm2d {
  constructor(num_features: number, readonly axis: number, opts: BatchNormLayerOptions) {
    super(num_features, opts);
  }

  override forward(x: Tensor): Tensor {
    if (x.ndim < 2 || strideAxis(this.axis, x.ndim) !== channelDim(x)) {
      throw new ShapeError(`BatchNormalization: stride normalises Keras' last axis only, got axis ${this.axis} for an input of ${x.ndim} dims`);
    }
    if (x.ndim === 4) return super.forward(x);
    const [n, c] = [x.shape[0]!, x.shape[x.ndim - 1]!];
    const asImage = reshape(permute(reshape(x, [n, -1, c]), [0, 2, 1]), [n, c, -1, 1]);
    const y = super.forward(asImage);
    return reshape(permute(reshape(y, [n, c, -1]), [0, 2, 1]), x.shape);
  }
}

/** The part of Keras' ReLU past its options: max(x, 0), or with negative_slope and threshold, capped at max_value. */
export class KerasReLU extends Module {
  constructor(readonly max_value: number | null, readonly negative_slope: number, readonly threshold: number) {
    super();
  }

  forward(x: Tensor): Tensor {
    if (this.max_value === 6 && this.negative_slope === 0 && this.threshold === 0) return relu6(x);
    // Keras: x above the threshold (capped to [0, max_value]), else negative_slope · (x − threshold).
    const above = this.threshold === 0 ? relu(x) : where(gt(x, this.threshold), x, 0);
    const capped = this.max_value === null ? above : clamp(above, 0, this.max_value);
    return this.negative_slope === 0 ? capped : add(capped, mul(relu(rsub(x, this.threshold)), -this.negative_slope));
  }

  override extra_repr(): string {
    return `max_value=${this.max_value}, negative_slope=${this.negative_slope}, threshold=${this.threshold}`;
  }
}

/** Activation, LeakyReLU and Softmax layers. */
export class KerasActivation extends Module {
  constructor(readonly activation: string, private readonly fn: (x: Tensor) => Tensor = (x) => activate(activation, x)) {
    super();
  }

  static leaky(alpha: number): KerasActivation {
    return new KerasActivation(`leaky_relu(${alpha})`, (x) => leaky_relu(x, alpha));
  }

  static softmax(axis: number): KerasActivation {
    return new KerasActivation(`softmax(axis=${axis})`, (x) => softmax(x, strideAxis(axis, x.ndim)));
  }

  forward(x: Tensor): Tensor {
    return this.fn(x);
  }

  override extra_repr(): string {
    return this.activation;
  }
}

/**
 * MaxPooling2D and AveragePooling2D. TF's 'same' pooling ignores the padding: max pads with -∞;
 * average divides each window's sum by its count of real pixels, the average pooling of the
 * zero-padded ones mask (exact also when the padding is asymmetric).
 */
export class KerasPool2d extends Module {
  constructor(readonly kind: 'max' | 'avg', readonly pool_size: [number, number], readonly strides: [number, number], readonly tf_padding: KerasPadding) {
    super();
  }

  forward(x: Tensor): Tensor {
    const [top, bottom, left, right] = windowPadding(this.tf_padding, x, this.pool_size, this.strides, [1, 1]);
    const padded = top! + bottom! + left! + right! > 0;
    const padding = [left!, right!, top!, bottom!];
    const opts = { stride: this.strides };
    if (this.kind === 'max') return max_pool2d(padded ? pad(x, padding, 'constant', -Infinity) : x, this.pool_size, opts);
    if (!padded) return avg_pool2d(x, this.pool_size, opts);
    const plane = narrow(narrow(x, 0, 0, 1), 1, 0, 1);
    const realFraction = avg_pool2d(pad(ones_like(plane), padding), this.pool_size, opts);
    return div(avg_pool2d(pad(x, padding), this.pool_size, opts), realFraction);
  }

  override extra_repr(): string {
    return `${this.kind}, pool_size=[${this.pool_size.join(', ')}], strides=[${this.strides.join(', ')}], tf_padding=${this.tf_padding}`;
  }
}

/** GlobalAveragePooling2D and GlobalMaxPooling2D: [N, C] (or [N, C, 1, 1] with keepdims). */
export class KerasGlobalPool2d extends Module {
  constructor(readonly kind: 'max' | 'avg', readonly keepdims: boolean) {
    super();
  }

  forward(x: Tensor): Tensor {
    if (x.ndim !== 4) throw new ShapeError(`global pooling: expected a 4-d input (NCHW), got shape ${formatShape(x.shape)}`);
    return (this.kind === 'max' ? amax : mean)(x, [2, 3], this.keepdims);
  }

  override extra_repr(): string {
    return `${this.kind}, keepdims=${this.keepdims}`;
  }
}

/** Flatten in Keras' (NHWC) order, so that a following Dense sees its inputs where its kernel expects them. */
export class KerasFlatten extends Module {
  forward(x: Tensor): Tensor {
    return flatten(toNHWC(x), 1);
  }
}

/** Reshape to Keras' target_shape (without the batch dim), in Keras' order. */
export class KerasReshape extends Module {
  constructor(readonly target_shape: readonly number[]) {
    super();
  }

  forward(x: Tensor): Tensor {
    return toNCHW(reshape(toNHWC(x), [x.shape[0]!, ...this.target_shape]));
  }

  override extra_repr(): string {
    return `target_shape=[${this.target_shape.join(', ')}]`;
  }
}

/** Add and Concatenate (of two or more inputs: the importer checks). */
export class KerasMerge extends Module {
  constructor(readonly kind: 'add' | 'concatenate', readonly axis = -1) {
    super();
  }

  forward(...xs: Tensor[]): Tensor {
    if (this.kind === 'add') return xs.slice(1).reduce((sum, x) => add(sum, x), xs[0]!);
    return cat(xs, strideAxis(this.axis, xs[0]!.ndim));
  }

  override extra_repr(): string {
    return this.kind === 'add' ? 'add' : `concatenate, axis=${this.axis}`;
  }
}
