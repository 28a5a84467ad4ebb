import type { Conv2dParams } from '../backend/backend.js';
import { is_grad_enabled } from '../autograd/grad_mode.js';
import { DTypeError, ShapeError } from '../tensor/errors.js';
import { formatShape, type Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { defineOp, emptyLike, requireFloat, type Op } from './define.js';
import { add } from './elementwise.js';
import { pad } from './join.js';
import { sum } from './reduce.js';
import { contiguous, narrow, reshape, squeeze, unsqueeze } from './shape.js';

/** PyTorch's int-or-tuple arguments: one int for every spatial dim, or one per dim. */
export type IntOrPair = number | readonly [number, number];
export type IntOrSingle = number | readonly [number];

// ---------------------------------------------------------------- helpers shared with pool.ts

/** @internal An int-or-tuple argument as one integer >= min per spatial dim; errors name op and argument. */
export function spatialArg(op: string, name: string, value: number | readonly number[], nd: number, min: number): number[] {
  const list = typeof value === 'number' ? new Array<number>(nd).fill(value) : Array.isArray(value) ? [...value] : [];
  if (list.length !== nd || !list.every((v) => Number.isInteger(v) && v >= min)) {
    throw new ShapeError(`${op}: ${name} must be an integer >= ${min} or a list of ${nd} such integers, got ${JSON.stringify(value)}`);
  }
  return list;
}

/** @internal
 * Brings a batched or unbatched input of an nd-spatial op to [N, C, H, W] (a 1-d signal gets
 * H = 1), and gives the function that brings a result back to the caller's layout.
 */
export function toNCHW(op: string, x: Tensor, nd: 1 | 2): { x: Tensor; back: (y: Tensor) => Tensor } {
  if (x.ndim !== nd + 1 && x.ndim !== nd + 2) {
    throw new ShapeError(`${op}: expected a ${nd + 1}-d (unbatched) or ${nd + 2}-d (batched) input, got shape ${formatShape(x.shape)}`);
  }
  const batched = x.ndim === nd + 2;
  const x4 = batched ? x : unsqueeze(x, 0);
  return {
    x: nd === 1 ? unsqueeze(x4, 2) : x4,
    back: (y) => {
      const y3 = nd === 1 ? squeeze(y, 2) : y;
      return batched ? y3 : squeeze(y3, 0);
    },
  };
}

/** @internal A per-dim argument of a 1-d op extended to the 2-d primitive (the added H dim gets `fill`). */
export function to2d(v: readonly number[], fill: number): [number, number] {
  return v.length === 1 ? [fill, v[0]!] : [v[0]!, v[1]!];
}

export interface ConvOutputSizeOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
  /** Round up, as PyTorch's pooling ceil_mode (a last window must start inside the input or left padding). */
  ceil_mode?: boolean;
  /** Throw unless the windows tile the padded input exactly (the kernel fits and the stride divides). */
  exact?: boolean;
}

/**
 * Output length of a sliding window over `input` positions: floor((i + 2p - d(k-1) - 1)/s) + 1.
 * Without `exact` this is plain arithmetic (PyTorch's pooling_output_shape), which is < 1 when the
 * kernel does not fit; the ops check that and report it in their own terms.
 */
export function conv_output_size(input: number, kernel: number, opts: ConvOutputSizeOptions = {}): number {
  const what = 'conv_output_size';
  const [i] = spatialArg(what, 'input', input, 1, 0);
  const [k] = spatialArg(what, 'kernel', kernel, 1, 1);
  const [s] = spatialArg(what, 'stride', opts.stride ?? 1, 1, 1);
  const [p] = spatialArg(what, 'padding', opts.padding ?? 0, 1, 0);
  const [d] = spatialArg(what, 'dilation', opts.dilation ?? 1, 1, 1);
  const span = i! + 2 * p! - d! * (k! - 1) - 1;
  if (opts.exact) {
    const where = `an input of ${i} with a kernel of ${k} (padding ${p}, dilation ${d})`;
    if (span < 0) throw new ShapeError(`${what}: the kernel does not fit ${where}`);
    if (span % s! !== 0) {
      throw new ShapeError(`${what}: stride ${s} does not fit ${where}: i + 2p - d(k-1) - 1 = ${span} is not divisible by ${s}`);
    }
  }
  const o = Math.floor((span + (opts.ceil_mode ? s! - 1 : 0)) / s!) + 1;
  return opts.ceil_mode && (o - 1) * s! >= i! + p! ? o - 1 : o;
}

// ---------------------------------------------------------------- the three convolution ops

interface InputGradAttrs extends Conv2dParams {
  /** Spatial size of the input gradient (more than one size maps to the same output size). */
  readonly size: readonly [number, number];
}

interface WeightGradAttrs extends Conv2dParams {
  readonly kernel: readonly [number, number];
}

const geometry = ({ stride, padding, dilation, groups }: Conv2dParams): Conv2dParams => ({ stride, padding, dilation, groups });

/**
 * A convolution of an input larger than the one a transposed convolution was taken from (its
 * output_padding) has extra trailing rows/columns that the transposed op never read: cut them.
 */
function cropTo(y: Tensor, shape: Shape): Tensor {
  return narrow(narrow(y, 2, 0, shape[2]!), 3, 0, shape[3]!);
}

// The ops take checked 4-d arguments from the public functions below. Convolution is bilinear,
// so each op's gradients are the other two: double backward comes for free.

function convShape(x: Tensor, w: Tensor, p: Conv2dParams): Shape {
  return [
    x.shape[0]!,
    w.shape[0]!,
    ...[0, 1].map((d) => conv_output_size(x.shape[2 + d]!, w.shape[2 + d]!, { stride: p.stride[d], padding: p.padding[d], dilation: p.dilation[d] })),
  ];
}

function convForward(x: Tensor, w: Tensor, b: Tensor | null, p: Conv2dParams, shape: Shape): Tensor {
  const out = emptyLike(x, shape);
  x.backend.conv2d(contiguous(x), contiguous(w), b && contiguous(b), out, p);
  return out;
}

function convGrads(gy: Tensor, x: Tensor, w: Tensor, attrs: Conv2dParams, needs: readonly boolean[]): [Tensor | null, Tensor | null] {
  return [
    needs[0] ? convInputGradOp([gy, w], { ...geometry(attrs), size: [x.shape[2]!, x.shape[3]!] }) : null,
    needs[1] ? convWeightGradOp([x, gy], { ...geometry(attrs), kernel: [w.shape[2]!, w.shape[3]!] }) : null,
  ];
}

const conv2dOp: Op<[Tensor, Tensor], Conv2dParams> = defineOp<[Tensor, Tensor], Conv2dParams>({
  name: 'conv2d',
  shape: ([x, w], p) => convShape(x, w, p),
  forward: ([x, w], p, shape) => convForward(x, w, null, p, shape),
  save: 'inputs',
  backward: (gy, { inputs: [x, w], attrs, needs }) => convGrads(gy, x, w, attrs, needs),
});

/**
 * The weight and bias gradients from one primitive call, which takes the bias gradient (gy summed
 * over N, H and W) from its pass over gy. Not differentiable: for backward without create_graph.
 */
function convWeightAndBiasGrads(x: Tensor, gy: Tensor, w: Tensor, attrs: Conv2dParams): [Tensor, Tensor] {
  const gw = emptyLike(x, w.shape);
  const gb = emptyLike(x, [w.shape[0]!]);
  x.backend.conv2dWeightGrad(contiguous(x), contiguous(gy), gw, geometry(attrs), gb);
  return [gw, gb];
}

/** conv2d plus a bias [O] per output channel, added by the backend's primitive (no separate pass over y). */
const conv2dBiasOp: Op<[Tensor, Tensor, Tensor], Conv2dParams> = defineOp<[Tensor, Tensor, Tensor], Conv2dParams>({
  name: 'conv2d',
  shape: ([x, w], p) => convShape(x, w, p),
  forward: ([x, w, b], p, shape) => convForward(x, w, b, p, shape),
  save: 'inputs',
  backward: (gy, { inputs: [x, w], attrs, needs }) => {
    // Gradients that will not be differentiated again: the bias gradient comes with the weights'.
    if (needs[1] && needs[2] && !is_grad_enabled()) {
      const [gx] = convGrads(gy, x, w, attrs, [needs[0]!, false]);
      return [gx, ...convWeightAndBiasGrads(x, gy, w, attrs)];
    }
    return [...convGrads(gy, x, w, attrs, needs), needs[2] ? sum(gy, [0, 2, 3]) : null];
  },
});

/** gy, w → gx: the gradient of conv2d w.r.t. its input, which is also the transposed convolution. */
const convInputGradOp: Op<[Tensor, Tensor], InputGradAttrs> = defineOp<[Tensor, Tensor], InputGradAttrs>({
  name: 'conv_transpose2d',
  shape: ([gy, w], { groups, size }) => [gy.shape[0]!, w.shape[1]! * groups, ...size],
  forward: ([gy, w], p, shape) => {
    const gx = emptyLike(gy, shape);
    gy.backend.conv2dInputGrad(contiguous(gy), contiguous(w), gx, p);
    return gx;
  },
  save: 'inputs',
  backward: (ggx, { inputs: [gy, w], attrs, needs }) => [
    needs[0] ? cropTo(conv2dOp([ggx, w], geometry(attrs)), gy.shape) : null,
    needs[1] ? convWeightGradOp([ggx, gy], { ...geometry(attrs), kernel: [w.shape[2]!, w.shape[3]!] }) : null,
  ],
});

/** x, gy → gw: the gradient of conv2d w.r.t. its weight. */
const convWeightGradOp: Op<[Tensor, Tensor], WeightGradAttrs> = defineOp<[Tensor, Tensor], WeightGradAttrs>({
  name: 'conv2d_weight_grad',
  shape: ([x, gy], { groups, kernel }) => [gy.shape[1]!, x.shape[1]! / groups, ...kernel],
  forward: ([x, gy], p, shape) => {
    const gw = emptyLike(x, shape);
    x.backend.conv2dWeightGrad(contiguous(x), contiguous(gy), gw, p);
    return gw;
  },
  save: 'inputs',
  backward: (ggw, { inputs: [x, gy], attrs, needs }) => [
    needs[0] ? convInputGradOp([gy, ggw], { ...geometry(attrs), size: [x.shape[2]!, x.shape[3]!] }) : null,
    needs[1] ? cropTo(conv2dOp([x, ggw], geometry(attrs)), gy.shape) : null,
  ],
});

// ---------------------------------------------------------------- public functions

export interface ConvOptions<S> {
  stride?: S;
  /** Zero padding on both sides, or 'valid' (none) or 'same' (output size = input size; stride 1). */
  padding?: S | 'same' | 'valid';
  dilation?: S;
  groups?: number;
}

export interface ConvTransposeOptions<S> {
  stride?: S;
  /** Positions cut from each side of the full output of (i - 1) * stride + dilation * (kernel - 1) + 1. */
  padding?: S;
  /** Extra positions on the bottom/right, to reach an output size a strided conv would map back from. */
  output_padding?: S;
  dilation?: S;
  groups?: number;
}

export type Conv2dOptions = ConvOptions<IntOrPair>;
export type Conv1dOptions = ConvOptions<IntOrSingle>;
export type ConvTranspose2dOptions = ConvTransposeOptions<IntOrPair>;
export type ConvTranspose1dOptions = ConvTransposeOptions<IntOrSingle>;

interface Checked {
  x: Tensor;
  w: Tensor;
  back: (y: Tensor) => Tensor;
  groups: number;
  outChannels: number;
  /** The input's and the kernel's spatial sizes (nd entries). */
  spatial: number[];
  kernel: number[];
}

/** The checks shared by convolution and transposed convolution (ranks, dtypes, channels, bias). */
function checkConv(op: string, nd: 1 | 2, x: Tensor, weight: Tensor, bias: Tensor | null, groups: number, transposed: boolean): Checked {
  requireFloat(x, op);
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t && t.dtype !== x.dtype) throw new DTypeError(`${op}: ${name} is ${t.dtype} but the input is ${x.dtype}; they must have the same dtype`);
  }
  const { x: x4, back } = toNCHW(op, x, nd);
  const layout = transposed ? 'in_channels, out_channels/groups' : 'out_channels, in_channels/groups';
  if (weight.ndim !== nd + 2 || weight.shape.slice(2).some((k) => k < 1)) {
    throw new ShapeError(`${op}: expected a ${nd + 2}-d weight [${layout}, ${nd === 2 ? 'kH, kW' : 'kW'}] with kernel sizes >= 1, got shape ${formatShape(weight.shape)}`);
  }
  if (!Number.isInteger(groups) || groups < 1) throw new ShapeError(`${op}: groups must be a positive integer, got ${groups}`);
  const C = x4.shape[1]!;
  if (C % groups !== 0) {
    throw new ShapeError(`${op}: the input's ${C} channels (shape ${formatShape(x.shape)}) are not divisible by groups ${groups}`);
  }
  const expected = transposed ? weight.shape[0]! : weight.shape[1]! * groups;
  if (C !== expected) {
    throw new ShapeError(`${op}: a weight of shape ${formatShape(weight.shape)} with groups ${groups} expects ${expected} input channels, but the input of shape ${formatShape(x.shape)} has ${C}`);
  }
  if (!transposed && weight.shape[0]! % groups !== 0) {
    throw new ShapeError(`${op}: out_channels ${weight.shape[0]} (weight shape ${formatShape(weight.shape)}) are not divisible by groups ${groups}`);
  }
  const outChannels = transposed ? weight.shape[1]! * groups : weight.shape[0]!;
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== outChannels)) {
    throw new ShapeError(`${op}: expected a bias of shape [${outChannels}], got ${formatShape(bias.shape)}`);
  }
  return {
    x: x4,
    w: nd === 1 ? unsqueeze(weight, 2) : weight,
    back,
    groups,
    outChannels,
    spatial: x4.shape.slice(4 - nd),
    kernel: weight.shape.slice(2),
  };
}

function finish(c: Checked, y: Tensor, bias: Tensor | null): Tensor {
  return c.back(bias ? add(y, reshape(bias, [c.outChannels, 1, 1])) : y);
}

function convolution(op: string, nd: 1 | 2, x: Tensor, weight: Tensor, bias: Tensor | null, opts: ConvOptions<number | readonly number[]>): Tensor {
  const c = checkConv(op, nd, x, weight, bias, opts.groups ?? 1, false);
  const stride = spatialArg(op, 'stride', opts.stride ?? 1, nd, 1);
  const dilation = spatialArg(op, 'dilation', opts.dilation ?? 1, nd, 1);
  const span = c.kernel.map((k, d) => dilation[d]! * (k - 1));
  let left: number[];
  let right: number[];
  if (opts.padding === 'same') {
    if (stride.some((s) => s !== 1)) throw new ShapeError(`${op}: padding='same' is not supported for strided convolutions (stride ${formatShape(stride)})`);
    // PyTorch puts the odd one of the total padding d(k-1) on the bottom/right.
    left = span.map((t) => Math.floor(t / 2));
    right = span.map((t, d) => t - left[d]!);
  } else {
    left = right = spatialArg(op, 'padding', opts.padding === 'valid' ? 0 : (opts.padding ?? 0), nd, 0);
  }
  const padded = c.spatial.map((i, d) => i + left[d]! + right[d]!);
  if (padded.some((i, d) => span[d]! + 1 > i)) {
    throw new ShapeError(
      `${op}: the kernel ${formatShape(c.kernel)} with dilation ${formatShape(dilation)} spans ${formatShape(span.map((t) => t + 1))}, ` +
        `more than the padded input ${formatShape(padded)} (input shape ${formatShape(x.shape)}, padding ${formatShape(left)}, weight shape ${formatShape(weight.shape)})`,
    );
  }
  const extra = to2d(right.map((r, d) => r - left[d]!), 0);
  const xp = extra[0] || extra[1] ? pad(c.x, [0, extra[1], 0, extra[0]]) : c.x;
  const p: Conv2dParams = { stride: to2d(stride, 1), padding: to2d(left, 0), dilation: to2d(dilation, 1), groups: c.groups };
  return c.back(bias ? conv2dBiasOp([xp, c.w, bias], p) : conv2dOp([xp, c.w], p));
}

function transposedConvolution(op: string, nd: 1 | 2, x: Tensor, weight: Tensor, bias: Tensor | null, opts: ConvTransposeOptions<number | readonly number[]>): Tensor {
  const c = checkConv(op, nd, x, weight, bias, opts.groups ?? 1, true);
  const stride = spatialArg(op, 'stride', opts.stride ?? 1, nd, 1);
  const padding = spatialArg(op, 'padding', opts.padding ?? 0, nd, 0);
  const outputPadding = spatialArg(op, 'output_padding', opts.output_padding ?? 0, nd, 0);
  const dilation = spatialArg(op, 'dilation', opts.dilation ?? 1, nd, 1);
  if (outputPadding.some((o, d) => o >= stride[d]! && o >= dilation[d]!)) {
    throw new ShapeError(`${op}: output_padding ${formatShape(outputPadding)} must be smaller than either stride ${formatShape(stride)} or dilation ${formatShape(dilation)}`);
  }
  const size = c.spatial.map((i, d) => (i - 1) * stride[d]! - 2 * padding[d]! + dilation[d]! * (c.kernel[d]! - 1) + outputPadding[d]! + 1);
  if (size.some((o) => o < 1)) {
    throw new ShapeError(
      `${op}: output size ${formatShape(size)} is too small (< 1) for input shape ${formatShape(x.shape)}, weight shape ${formatShape(weight.shape)}, ` +
        `stride ${formatShape(stride)}, padding ${formatShape(padding)}, output_padding ${formatShape(outputPadding)}, dilation ${formatShape(dilation)}`,
    );
  }
  const y = convInputGradOp([c.x, c.w], {
    stride: to2d(stride, 1),
    padding: to2d(padding, 0),
    dilation: to2d(dilation, 1),
    groups: c.groups,
    size: to2d(size, 1),
  });
  return finish(c, y, bias);
}

/**
 * 2-d convolution (cross-correlation, as torch.nn.functional.conv2d) of x [N, C, H, W] or
 * [C, H, W] with weight [out_channels, C/groups, kH, kW], plus bias [out_channels] when given.
 */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  return convolution('conv2d', 2, x, weight, bias, opts);
}

/** 1-d convolution of x [N, C, L] or [C, L] with weight [out_channels, C/groups, k]. */
export function conv1d(x: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Conv1dOptions = {}): Tensor {
  return convolution('conv1d', 1, x, weight, bias, opts);
}

/**
 * Transposed 2-d convolution (the gradient of conv2d w.r.t. its input) of x [N, C, H, W] with
 * weight [C, out_channels/groups, kH, kW]; output size (i-1)s - 2p + d(k-1) + output_padding + 1.
 */
export function conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, opts: ConvTranspose2dOptions = {}): Tensor {
  return transposedConvolution('conv_transpose2d', 2, x, weight, bias, opts);
}

/** Transposed 1-d convolution of x [N, C, L] with weight [C, out_channels/groups, k]. */
export function conv_transpose1d(x: Tensor, weight: Tensor, bias: Tensor | null = null, opts: ConvTranspose1dOptions = {}): Tensor {
  return transposedConvolution('conv_transpose1d', 1, x, weight, bias, opts);
}
