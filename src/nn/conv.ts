import { conv1d, conv2d, conv_transpose1d, conv_transpose2d, spatialArg, type IntOrPair, type IntOrSingle } from '../ops/conv.js';
import { pad, type PadMode } from '../ops/join.js';
import { StrideError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { parameter, resetLinearLike } from './linear.js';
import { Module, type Parameter } from './module.js';

export type PaddingMode = 'zeros' | 'reflect' | 'replicate' | 'circular';

export interface ConvLayerOptions<S> {
  stride?: S;
  padding?: S | 'same' | 'valid';
  dilation?: S;
  groups?: number;
  bias?: boolean;
  padding_mode?: PaddingMode;
}

/** Shared by Conv1d and Conv2d: weights, PyTorch's init, and non-zero padding modes. */
abstract class ConvNd<S extends IntOrPair> extends Module {
  weight: Parameter;
  bias: Parameter | null;
  readonly kernel_size: number[];
  readonly stride: number[];
  readonly padding: number[] | 'same' | 'valid';
  readonly dilation: number[];
  readonly groups: number;
  readonly padding_mode: PaddingMode;

  constructor(readonly in_channels: number, readonly out_channels: number, kernel_size: S, opts: ConvLayerOptions<S>, protected readonly nd: 1 | 2, transposed: boolean) {
    super();
    const name = this.constructor.name;
    const { stride = 1, padding = 0, dilation = 1, groups = 1, bias = true, padding_mode = 'zeros' } = opts;
    this.kernel_size = spatialArg(name, 'kernel_size', kernel_size, nd, 1);
    this.stride = spatialArg(name, 'stride', stride, nd, 1);
    this.dilation = spatialArg(name, 'dilation', dilation, nd, 1);
    if (typeof padding === 'string' && padding !== 'same' && padding !== 'valid') {
      throw new StrideError(`${name}: padding must be an int, a tuple of ints, 'same' or 'valid', got '${padding}'`);
    }
    this.padding = typeof padding === 'string' ? padding : spatialArg(name, 'padding', padding, nd, 0);
    for (const [what, v] of [['in_channels', in_channels], ['out_channels', out_channels], ['groups', groups]] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new StrideError(`${name}: ${what} must be a positive integer, got ${v}`);
    }
    if (in_channels % groups !== 0) throw new StrideError(`${name}: in_channels (${in_channels}) must be divisible by groups (${groups})`);
    if (out_channels % groups !== 0) throw new StrideError(`${name}: out_channels (${out_channels}) must be divisible by groups (${groups})`);
    if (!['zeros', 'reflect', 'replicate', 'circular'].includes(padding_mode)) {
      throw new StrideError(`${name}: padding_mode must be one of zeros, reflect, replicate, circular, got '${padding_mode}'`);
    }
    if (padding === 'same' && this.stride.some((s) => s !== 1)) throw new StrideError(`${name}: padding='same' is not supported for strided convolutions`);
    this.groups = groups;
    this.padding_mode = padding_mode;
    const shape = transposed
      ? [in_channels, out_channels / groups, ...this.kernel_size]
      : [out_channels, in_channels / groups, ...this.kernel_size];
    this.weight = parameter(shape, name);
    this.bias = bias ? parameter([out_channels], name) : null;
    this.reset_parameters();
  }

  reset_parameters(): void {
    const receptive = this.kernel_size.reduce((a, b) => a * b, 1);
    resetLinearLike(this.weight, this.bias, this.weight.shape[1]! * receptive);
  }

  /** For non-zero padding modes: pad explicitly (F.pad order: last dim first), then convolve unpadded. */
  protected padInput(x: Tensor): { x: Tensor; padding: number[] | 'same' | 'valid' } {
    if (this.padding_mode === 'zeros' || this.padding === 'valid') return { x, padding: this.padding };
    const perDim =
      this.padding === 'same'
        ? this.kernel_size.map((k, i) => {
            const total = this.dilation[i]! * (k - 1);
            return [Math.floor(total / 2), total - Math.floor(total / 2)];
          })
        : this.padding.map((p) => [p, p]);
    const spec = perDim.reverse().flat();
    return { x: pad(x, spec, this.padding_mode as PadMode), padding: this.kernel_size.map(() => 0) };
  }

  override extra_repr(): string {
    const parts = [`${this.in_channels}, ${this.out_channels}, kernel_size=[${this.kernel_size.join(', ')}]`, `stride=[${this.stride.join(', ')}]`];
    if (this.padding === 'same' || this.padding === 'valid') parts.push(`padding=${this.padding}`);
    else if (this.padding.some((p) => p !== 0)) parts.push(`padding=[${this.padding.join(', ')}]`);
    if (this.dilation.some((d) => d !== 1)) parts.push(`dilation=[${this.dilation.join(', ')}]`);
    if (this.groups !== 1) parts.push(`groups=${this.groups}`);
    if (!this.bias) parts.push('bias=false');
    if (this.padding_mode !== 'zeros') parts.push(`padding_mode=${this.padding_mode}`);
    return parts.join(', ');
  }
}

/** 2-d convolution over [N, C, H, W] (torch.nn.Conv2d). */
export class Conv2d extends ConvNd<IntOrPair> {
  constructor(in_channels: number, out_channels: number, kernel_size: IntOrPair, opts: ConvLayerOptions<IntOrPair> = {}) {
    super(in_channels, out_channels, kernel_size, opts, 2, false);
  }

  forward(input: Tensor): Tensor {
    const { x, padding } = this.padInput(input);
    return conv2d(x, this.weight, this.bias, {
      stride: this.stride as [number, number],
      padding: typeof padding === 'string' ? padding : (padding as [number, number]),
      dilation: this.dilation as [number, number],
      groups: this.groups,
    });
  }
}

/** 1-d convolution over [N, C, L] (torch.nn.Conv1d). */
export class Conv1d extends ConvNd<IntOrPair> {
  constructor(in_channels: number, out_channels: number, kernel_size: IntOrSingle, opts: ConvLayerOptions<IntOrSingle> = {}) {
    super(in_channels, out_channels, kernel_size as IntOrPair, opts as ConvLayerOptions<IntOrPair>, 1, false);
  }

  forward(input: Tensor): Tensor {
    const { x, padding } = this.padInput(input);
    return conv1d(x, this.weight, this.bias, {
      stride: this.stride as [number],
      padding: typeof padding === 'string' ? padding : (padding as [number]),
      dilation: this.dilation as [number],
      groups: this.groups,
    });
  }
}

export interface ConvTransposeLayerOptions<S> {
  stride?: S;
  padding?: S;
  output_padding?: S;
  dilation?: S;
  groups?: number;
  bias?: boolean;
}

/** Transposed ("fractionally strided", the "up-convolution" of U-Net) 2-d convolution. */
export class ConvTranspose2d extends ConvNd<IntOrPair> {
  readonly output_padding: number[];

  constructor(in_channels: number, out_channels: number, kernel_size: IntOrPair, opts: ConvTransposeLayerOptions<IntOrPair> = {}) {
    super(in_channels, out_channels, kernel_size, { ...opts, padding: opts.padding ?? 0 }, 2, true);
    this.output_padding = spatialArg('ConvTranspose2d', 'output_padding', opts.output_padding ?? 0, 2, 0);
  }

  forward(x: Tensor): Tensor {
    return conv_transpose2d(x, this.weight, this.bias, {
      stride: this.stride as [number, number],
      padding: this.padding as [number, number],
      output_padding: this.output_padding as [number, number],
      dilation: this.dilation as [number, number],
      groups: this.groups,
    });
  }
}

/** Transposed 1-d convolution. */
export class ConvTranspose1d extends ConvNd<IntOrPair> {
  readonly output_padding: number[];

  constructor(in_channels: number, out_channels: number, kernel_size: IntOrSingle, opts: ConvTransposeLayerOptions<IntOrSingle> = {}) {
    super(in_channels, out_channels, kernel_size as IntOrPair, { ...(opts as ConvTransposeLayerOptions<IntOrPair>), padding: (opts.padding ?? 0) as IntOrPair }, 1, true);
    this.output_padding = spatialArg('ConvTranspose1d', 'output_padding', opts.output_padding ?? 0, 1, 0);
  }

  forward(x: Tensor): Tensor {
    return conv_transpose1d(x, this.weight, this.bias, {
      stride: this.stride as [number],
      padding: this.padding as [number],
      output_padding: this.output_padding as [number],
      dilation: this.dilation as [number],
      groups: this.groups,
    });
  }
}
