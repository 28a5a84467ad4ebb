import { no_grad } from '../autograd/grad_mode.js';
import { Conv2d } from '../nn/conv.js';
import { uniform_ } from '../nn/init.js';
import { Flatten, Linear, parameter } from '../nn/linear.js';
import { Module, Sequential, type Parameter } from '../nn/module.js';
import { AvgPool2d, MaxPool2d } from '../nn/pooling.js';
import { ReLU, Tanh } from '../nn/activation.js';
import { conv2d } from '../ops/conv.js';
import { index_select } from '../ops/indexing.js';
import { cat } from '../ops/join.js';
import { fromFlat, zeros } from '../tensor/creation.js';
import { StrideError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * Table I of LeCun et al. 1998: the S2 maps (0-5) that feed each of the 16 C3 maps. Maps 0-5 see
 * three contiguous S2 maps, 6-11 four contiguous ones, 12-14 four non-contiguous ones, 15 all six
 * (60 connections: 1,500 weights and 16 biases, the paper's 1,516 parameters).
 */
export const LENET_C3_TABLE: readonly (readonly number[])[] = [
  [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [0, 4, 5], [0, 1, 5],
  [0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [0, 3, 4, 5], [0, 1, 4, 5], [0, 1, 2, 5],
  [0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5],
  [0, 1, 2, 3, 4, 5],
];

/**
 * A convolution in which output map o sees only the input maps table[o] (Lua Torch's
 * SpatialConvolutionMap). One kernel per connection: weight [connections, kH, kW] in table order
 * (output 0's inputs first), bias [out_channels]. Forward scatters the kernels into a dense
 * [out, in, kH, kW] weight with zeros for the missing connections, so it costs one ordinary
 * convolution and the gradient reaches only the kernels that exist.
 */
export class ConnectionTableConv2d extends Module {
  weight: Parameter;
  bias: Parameter;
  readonly out_channels: number;
  readonly kernel_size: [number, number];
  declare dense_index: Tensor;

  constructor(readonly in_channels: number, readonly table: readonly (readonly number[])[], kernel_size: number) {
    super();
    this.out_channels = table.length;
    this.kernel_size = [kernel_size, kernel_size];
    const connections = table.flat().length;
    // Row o * in + i of the dense weight is kernel c of the connection (o, i), or row `connections` (zeros).
    const index = new Array<number>(this.out_channels * in_channels).fill(connections);
    let c = 0;
    table.forEach((inputs, o) => {
      if (inputs.length === 0 || new Set(inputs).size !== inputs.length || inputs.some((i) => !Number.isInteger(i) || i < 0 || i >= in_channels)) {
        throw new StrideError(`ConnectionTableConv2d: output ${o} must list distinct input maps in 0..${in_channels - 1}, got [${inputs.join(', ')}]`);
      }
      for (const i of inputs) index[o * in_channels + i] = c++;
    });
    this.weight = parameter([connections, kernel_size, kernel_size], 'ConnectionTableConv2d');
    this.bias = parameter([this.out_channels], 'ConnectionTableConv2d');
    this.register_buffer('dense_index', fromFlat(index, [index.length], { dtype: 'int32' }), false);
    this.reset_parameters();
  }

  /** PyTorch's default rule, U(-1/√fan_in, 1/√fan_in), with each output map's own fan-in (its connections × kernel area). */
  reset_parameters(): void {
    const area = this.kernel_size[0] * this.kernel_size[1];
    const bounds = this.table.map((inputs) => 1 / Math.sqrt(inputs.length * area));
    const perKernel = this.table.flatMap((inputs, o) => inputs.map(() => bounds[o]!));
    uniform_(this.weight, -1, 1);
    uniform_(this.bias, -1, 1);
    const backend = this.weight.device;
    no_grad(() => {
      this.weight.mul_(fromFlat(perKernel, [perKernel.length, 1, 1], { backend }));
      this.bias.mul_(fromFlat(bounds, [bounds.length], { backend }));
    });
  }

  forward(x: Tensor): Tensor {
    const [kh, kw] = this.kernel_size;
    const padded = cat([this.weight, zeros([1, kh, kw], { backend: this.weight.device })], 0);
    const dense = index_select(padded, 0, this.dense_index).reshape(this.out_channels, this.in_channels, kh, kw);
    return conv2d(x, dense, this.bias);
  }

  override extra_repr(): string {
    return `${this.in_channels}, ${this.out_channels}, kernel_size=[${this.kernel_size.join(', ')}], connections=${this.weight.shape[0]}`;
  }
}

export interface LeNet5Options {
  num_classes?: number;
  in_channels?: number;
  /** 32 (the paper's input) or 28 (MNIST-sized: the first convolution pads by 2). */
  input_size?: 28 | 32;
  /** 'modern': ReLU and max pooling; 'classic': tanh and average pooling (subsampling). */
  variant?: 'modern' | 'classic';
  /** C3 sees only the S2 maps of the paper's Table I (1,516 parameters instead of 2,416). */
  c3_table?: boolean;
}

/**
 * LeNet-5 (LeCun et al. 1998) as the course draws it: C1 conv 6@5x5, S2 pool, C3 conv 16@5x5,
 * S4 pool, then fully connected 400-120-84-classes (C5's 5x5 convolution over a 5x5 map is this
 * 400→120 layer). 61,706 parameters for 10 classes; 60,806 with the C3 connection table.
 */
export class LeNet5 extends Module {
  features: Sequential;
  classifier: Sequential;

  constructor(opts: LeNet5Options = {}) {
    super();
    const { num_classes = 10, in_channels = 1, input_size = 32, variant = 'modern', c3_table = false } = opts;
    if (input_size !== 28 && input_size !== 32) throw new StrideError(`lenet5: input_size must be 28 or 32, got ${String(input_size)}`);
    if (variant !== 'modern' && variant !== 'classic') throw new StrideError(`lenet5: variant must be 'modern' or 'classic', got ${JSON.stringify(variant)}`);
    const act = () => (variant === 'classic' ? new Tanh() : new ReLU());
    const pool = () => (variant === 'classic' ? new AvgPool2d(2) : new MaxPool2d(2));
    this.features = new Sequential(
      new Conv2d(in_channels, 6, 5, { padding: input_size === 28 ? 2 : 0 }), act(), pool(),
      c3_table ? new ConnectionTableConv2d(6, LENET_C3_TABLE, 5) : new Conv2d(6, 16, 5), act(), pool(),
    );
    this.classifier = new Sequential(
      new Flatten(), new Linear(16 * 5 * 5, 120), act(), new Linear(120, 84), act(), new Linear(84, num_classes),
    );
  }

  forward(x: Tensor): Tensor {
    return this.classifier.call(this.features.call(x)) as Tensor;
  }
}
