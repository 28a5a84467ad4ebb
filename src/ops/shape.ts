import { zeros } from '../tensor/creation.js';
import { IndexError, ShapeError, StrideError } from '../tensor/errors.js';
import { checkShape, formatShape, indexedDim, inferShape, normalizeDim, viewStrides, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { defineOp, emptyLike, installMethods, viewOf, type Op } from './define.js';
import { sumTo } from './reduce.js';

/**
 * Ops that change how the data is looked at. All of them return views sharing storage with
 * their input (as in PyTorch), except reshape of a layout that cannot be viewed, which copies.
 */

// ---------------------------------------------------------------- view / reshape

/** A shape given as sizes or as one array: view(2, -1) or view([2, -1]). */
export type ShapeArgs = number[] | [Shape];

function shapeArg(args: ShapeArgs): number[] {
  return [...((args.length === 1 && Array.isArray(args[0]) ? args[0] : args) as number[])];
}

const viewOp = defineOp<[Tensor], { shape: number[] }>({
  name: 'view',
  shape: ([x], { shape }) => {
    if (!viewStrides(x.shape, x.strides, shape)) {
      throw new ShapeError(
        `view: size ${formatShape(shape)} is not compatible with the input's layout (shape ${formatShape(x.shape)}, strides [${x.strides.join(', ')}]); use reshape(), which copies when needed`,
      );
    }
    return shape;
  },
  forward: ([x], { shape }) => x.viewAs(shape, viewStrides(x.shape, x.strides, shape)!, x.offset),
  save: 'none',
  backward: (gy, { shapes: [shape] }) => [reshape(gy, shape)],
});

/** A view with another shape (one size may be -1); fails when the layout cannot be viewed. */
export function view(x: Tensor, ...shape: ShapeArgs): Tensor {
  return viewOp([x], { shape: inferShape(shapeArg(shape), x.numel(), 'view') });
}

const cloneOp = defineOp<[Tensor], object>({
  name: 'clone',
  shape: ([x]) => x.shape,
  forward: ([x], _a, shape) => {
    const out = emptyLike(x, shape);
    x.backend.copy(x, out);
    return out;
  },
  save: 'none',
  backward: (gy) => [gy],
});

/** A contiguous copy of the data (keeps the graph). */
export function clone(x: Tensor): Tensor {
  return cloneOp([x], {});
}

/** The tensor itself when row-major contiguous, otherwise a contiguous copy. */
export function contiguous(x: Tensor): Tensor {
  return x.is_contiguous() ? x : clone(x);
}

/** Another shape for the same elements: a view when the layout allows, else a copy. */
export function reshape(x: Tensor, ...shape: ShapeArgs): Tensor {
  const s = inferShape(shapeArg(shape), x.numel(), 'reshape');
  const source = viewStrides(x.shape, x.strides, s) ? x : clone(x);
  return viewOp([source], { shape: s });
}

/** Collapses dims start_dim..end_dim into one. */
export function flatten(x: Tensor, start_dim = 0, end_dim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normalizeDim(start_dim, x.ndim, 'flatten');
  const e = normalizeDim(end_dim, x.ndim, 'flatten');
  if (s > e) throw new ShapeError(`flatten: start_dim ${start_dim} comes after end_dim ${end_dim}`);
  const merged = x.shape.slice(s, e + 1).reduce((a, b) => a * b, 1);
  return reshape(x, [...x.shape.slice(0, s), merged, ...x.shape.slice(e + 1)]);
}

/** Splits dim into `sizes` (one may be -1). */
export function unflatten(x: Tensor, dim: number, sizes: readonly number[]): Tensor {
  const d = indexedDim(dim, x.ndim, 'unflatten');
  const inner = inferShape(sizes, x.shape[d]!, 'unflatten');
  return reshape(x, [...x.shape.slice(0, d), ...inner, ...x.shape.slice(d + 1)]);
}

// ---------------------------------------------------------------- permute / transpose

const permuteOp: Op<[Tensor], { dims: number[] }> = defineOp<[Tensor], { dims: number[] }>({
  name: 'permute',
  shape: ([x], { dims }) => {
    if (dims.length !== x.ndim || new Set(dims).size !== dims.length) {
      throw new ShapeError(`permute: dims [${dims.join(', ')}] must be a permutation of the ${x.ndim} dims of a tensor of shape ${formatShape(x.shape)}`);
    }
    return dims.map((d) => x.shape[d]!);
  },
  forward: ([x], { dims }, shape) => x.viewAs(shape, dims.map((d) => x.strides[d]!), x.offset),
  save: 'none',
  backward: (gy, { attrs: { dims } }) => {
    const inverse = new Array<number>(dims.length);
    dims.forEach((d, i) => (inverse[d] = i));
    return [permuteOp([gy], { dims: inverse })];
  },
});

export function permute(x: Tensor, ...dims: number[] | [readonly number[]]): Tensor {
  const list = (dims.length === 1 && Array.isArray(dims[0]) ? dims[0] : dims) as number[];
  return permuteOp([x], { dims: list.map((d) => normalizeDim(d, x.ndim, 'permute')) });
}

export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const dims = [...x.shape.keys()];
  const a = normalizeDim(dim0, x.ndim, 'transpose');
  const b = normalizeDim(dim1, x.ndim, 'transpose');
  if (x.ndim === 0) return x; // dims 0 and -1 of a 0-d tensor name the tensor itself
  [dims[a], dims[b]] = [dims[b]!, dims[a]!];
  return permuteOp([x], { dims });
}

/** Transpose of a matrix (a 0-d or 1-d tensor is returned as is), as torch.t. */
export function t(x: Tensor): Tensor {
  if (x.ndim > 2) throw new ShapeError(`t: expects a tensor with <= 2 dimensions, got shape ${formatShape(x.shape)}`);
  return x.ndim < 2 ? x : transpose(x, 0, 1);
}

// ---------------------------------------------------------------- expand / squeeze / unsqueeze

const expandOp = defineOp<[Tensor], { shape: number[] }>({
  name: 'expand',
  shape: ([x], { shape }) => {
    const lead = shape.length - x.ndim;
    if (lead < 0) throw new ShapeError(`expand: the target ${formatShape(shape)} has fewer dims than the input ${formatShape(x.shape)}`);
    return shape.map((s, i) => {
      const d = i - lead;
      const have = d >= 0 ? x.shape[d]! : 1;
      if (!Number.isInteger(s) || s < -1) throw new ShapeError(`expand: invalid size ${s} in the target ${formatShape(shape)}`);
      const want = s === -1 ? (d >= 0 ? have : NaN) : s;
      if (Number.isNaN(want)) throw new ShapeError(`expand: -1 is not allowed for the new leading dim ${i} (target ${formatShape(shape)})`);
      if (have !== want && have !== 1) {
        throw new ShapeError(`expand: the size of dim ${d} (${have}) must match the target size ${want}, or be 1 (input ${formatShape(x.shape)}, target ${formatShape(shape)})`);
      }
      return want;
    });
  },
  forward: ([x], _a, shape) => {
    const lead = shape.length - x.ndim;
    const strides = shape.map((s, i) => {
      const d = i - lead;
      return d < 0 || (x.shape[d] === 1 && s !== 1) ? 0 : x.strides[d]!;
    });
    return x.viewAs(shape, strides, x.offset);
  },
  save: 'none',
  backward: (gy, { shapes: [shape] }) => [sumTo(gy, shape)],
});

/** A broadcast view (stride 0 along expanded dims); -1 keeps a size. */
export function expand(x: Tensor, ...shape: ShapeArgs): Tensor {
  const list = shapeArg(shape);
  if (list.length === x.ndim && list.every((s, i) => s === x.shape[i] || s === -1)) return x;
  return expandOp([x], { shape: [...list] });
}

export function expand_as(x: Tensor, other: Tensor): Tensor {
  return expand(x, other.shape);
}

export function broadcast_to(x: Tensor, shape: Shape): Tensor {
  return expand(x, shape);
}

const restrideOp = defineOp<[Tensor], { shape: number[]; strides: number[] }>({
  name: 'squeeze_unsqueeze',
  shape: (_x, { shape }) => shape,
  forward: ([x], { shape, strides }) => x.viewAs(shape, strides, x.offset),
  save: 'none',
  backward: (gy, { shapes: [shape] }) => [reshape(gy, shape)],
});

/** Removes size-1 dims (all of them, or only `dim`). */
export function squeeze(x: Tensor, dim?: number): Tensor {
  const drop = dim === undefined ? x.shape.map((s) => s === 1) : x.shape.map((s, d) => d === normalizeDim(dim, x.ndim, 'squeeze') && s === 1);
  if (!drop.some(Boolean)) return x;
  return restrideOp([x], { shape: x.shape.filter((_, d) => !drop[d]), strides: x.strides.filter((_, d) => !drop[d]) });
}

/** Inserts a size-1 dim at `dim` (which may be -1 for the end). */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normalizeDim(dim, x.ndim + 1, 'unsqueeze');
  const shape = [...x.shape];
  const strides = [...x.strides];
  shape.splice(d, 0, 1);
  strides.splice(d, 0, d < x.ndim ? x.strides[d]! * x.shape[d]! : 1);
  return restrideOp([x], { shape, strides });
}

// ---------------------------------------------------------------- slicing

interface SliceAttrs { dim: number; start: number; end: number; step: number }

function sliceGeometry(x: { shape: Shape; strides: readonly number[]; offset: number }, { dim, start, end, step }: SliceAttrs) {
  const shape = [...x.shape];
  shape[dim] = Math.max(0, Math.ceil((end - start) / step));
  const strides = [...x.strides];
  strides[dim] = x.strides[dim]! * step;
  return { shape, strides, offset: x.offset + start * x.strides[dim]! };
}

const sliceOp: Op<[Tensor], SliceAttrs> = defineOp<[Tensor], SliceAttrs>({
  name: 'slice',
  shape: ([x], a) => sliceGeometry(x, a).shape,
  forward: ([x], a) => {
    const g = sliceGeometry(x, a);
    return x.viewAs(g.shape, g.strides, g.offset);
  },
  save: 'none',
  backward: (gy, { shapes: [shape], attrs }) => [sliceBackwardOp([gy], { ...attrs, inputShape: [...shape] })],
});

/** Places a slice's gradient into zeros of the input's shape; its own gradient is the slice again. */
const sliceBackwardOp: Op<[Tensor], SliceAttrs & { inputShape: number[] }> = defineOp<[Tensor], SliceAttrs & { inputShape: number[] }>({
  name: 'slice_backward',
  shape: (_g, { inputShape }) => inputShape,
  forward: ([g], attrs, shape) => {
    const out = zeros(shape, { dtype: g.dtype, backend: g.device });
    const v = sliceGeometry(out, attrs);
    g.backend.copy(g, viewOf(out, v.shape, v.strides, v.offset));
    return out;
  },
  save: 'none',
  backward: (gg, { attrs }) => [sliceOp([gg], attrs)],
});

/**
 * x[..., start:end:step, ...] along dim, with Python's rules: negative start/end count from the
 * end and out-of-range bounds are clipped. step must be positive (as in PyTorch).
 */
export function slice(x: Tensor, dim: number, start = 0, end: number = Number.MAX_SAFE_INTEGER, step = 1): Tensor {
  const d = indexedDim(dim, x.ndim, 'slice');
  if (!Number.isInteger(step) || step <= 0) throw new StrideError(`slice: step must be a positive integer, got ${step}`);
  // ±Infinity are fine (clipped like any bound past the end); fractions and NaN would give a fractional offset.
  const whole = (v: number) => Number.isInteger(v) || Math.abs(v) === Infinity;
  if (!whole(start) || !whole(end)) throw new StrideError(`slice: start and end must be integers, got ${start} and ${end}`);
  const size = x.shape[d]!;
  const clip = (i: number) => Math.min(Math.max(i < 0 ? i + size : i, 0), size);
  const s = clip(start);
  const e = Math.max(clip(end), s);
  if (s === 0 && e === size && step === 1) return x;
  return sliceOp([x], { dim: d, start: s, end: e, step });
}

/** `length` elements of dim from start (start may be negative); must fit, as torch.narrow. */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = indexedDim(dim, x.ndim, 'narrow');
  const size = x.shape[d]!;
  const s = start < 0 ? start + size : start;
  if (s < 0 || length < 0 || s + length > size || !Number.isInteger(s) || !Number.isInteger(length)) {
    throw new ShapeError(`narrow: start ${start} and length ${length} exceed dim ${d} of size ${size} (shape ${formatShape(x.shape)})`);
  }
  return slice(x, d, s, s + length);
}

/** The sub-tensor at `index` along dim, with that dim removed (x[:, i] for dim 1). */
export function select(x: Tensor, dim: number, index: number): Tensor {
  const d = indexedDim(dim, x.ndim, 'select');
  const size = x.shape[d]!;
  if (!Number.isInteger(index) || index < -size || index >= size) {
    throw new IndexError(`select: index ${index} is out of range for dim ${d} of size ${size} (shape ${formatShape(x.shape)})`);
  }
  const i = index < 0 ? index + size : index;
  return squeeze(sliceOp([x], { dim: d, start: i, end: i + 1, step: 1 }), d);
}

/** Pieces of `split_size` along dim (the last may be smaller), or of the listed sizes. */
export function split(x: Tensor, split_size_or_sections: number | readonly number[], dim = 0): Tensor[] {
  const d = indexedDim(dim, x.ndim, 'split');
  const size = x.shape[d]!;
  let sizes: number[];
  if (typeof split_size_or_sections === 'number') {
    const n = split_size_or_sections;
    if (!Number.isInteger(n) || n <= 0) throw new ShapeError(`split: split_size must be a positive integer, got ${n}`);
    sizes = [];
    for (let s = 0; s < size; s += n) sizes.push(Math.min(n, size - s));
    if (size === 0) sizes.push(0);
  } else {
    sizes = [...split_size_or_sections];
    checkShape(sizes, 'split');
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total !== size) throw new ShapeError(`split: sections [${sizes.join(', ')}] sum to ${total} but dim ${d} has size ${size}`);
  }
  let start = 0;
  return sizes.map((n) => {
    const piece = narrow(x, d, start, n);
    start += n;
    return piece;
  });
}

/** `chunks` pieces of equal size ceil(n/chunks) along dim (fewer if it does not divide). */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  if (!Number.isInteger(chunks) || chunks <= 0) throw new ShapeError(`chunk: chunks must be a positive integer, got ${chunks}`);
  const size = x.shape[indexedDim(dim, x.ndim, 'chunk')]!;
  return split(x, Math.max(1, Math.ceil(size / chunks)), dim);
}

/** Every slice along dim, with that dim removed. */
export function unbind(x: Tensor, dim = 0): Tensor[] {
  const d = indexedDim(dim, x.ndim, 'unbind');
  return Array.from({ length: x.shape[d]! }, (_, i) => select(x, d, i));
}

declare module '../tensor/tensor.js' {
  interface Tensor {
    view(...shape: ShapeArgs): Tensor;
    reshape(...shape: ShapeArgs): Tensor;
    clone(): Tensor;
    contiguous(): Tensor;
    flatten(start_dim?: number, end_dim?: number): Tensor;
    unflatten(dim: number, sizes: readonly number[]): Tensor;
    permute(...dims: number[] | [readonly number[]]): Tensor;
    transpose(dim0: number, dim1: number): Tensor;
    t(): Tensor;
    /** Matrix transpose of the last two dims (PyTorch's .mT). */
    readonly mT: Tensor;
    expand(...shape: ShapeArgs): Tensor;
    expand_as(other: Tensor): Tensor;
    squeeze(dim?: number): Tensor;
    unsqueeze(dim: number): Tensor;
    slice(dim: number, start?: number, end?: number, step?: number): Tensor;
    narrow(dim: number, start: number, length: number): Tensor;
    select(dim: number, index: number): Tensor;
    split(split_size_or_sections: number | readonly number[], dim?: number): Tensor[];
    chunk(chunks: number, dim?: number): Tensor[];
    unbind(dim?: number): Tensor[];
  }
}

installMethods({
  view(this: Tensor, ...s: ShapeArgs) { return view(this, ...s); },
  reshape(this: Tensor, ...s: ShapeArgs) { return reshape(this, ...s); },
  clone(this: Tensor) { return clone(this); },
  contiguous(this: Tensor) { return contiguous(this); },
  flatten(this: Tensor, s?: number, e?: number) { return flatten(this, s, e); },
  unflatten(this: Tensor, dim: number, sizes: readonly number[]) { return unflatten(this, dim, sizes); },
  permute(this: Tensor, ...dims: number[] | [readonly number[]]) { return permute(this, ...dims); },
  transpose(this: Tensor, a: number, b: number) { return transpose(this, a, b); },
  t(this: Tensor) { return t(this); },
  expand(this: Tensor, ...s: ShapeArgs) { return expand(this, ...s); },
  expand_as(this: Tensor, o: Tensor) { return expand_as(this, o); },
  squeeze(this: Tensor, dim?: number) { return squeeze(this, dim); },
  unsqueeze(this: Tensor, dim: number) { return unsqueeze(this, dim); },
  slice(this: Tensor, dim: number, start?: number, end?: number, step?: number) { return slice(this, dim, start, end, step); },
  narrow(this: Tensor, dim: number, start: number, length: number) { return narrow(this, dim, start, length); },
  select(this: Tensor, dim: number, index: number) { return select(this, dim, index); },
  split(this: Tensor, s: number | readonly number[], dim?: number) { return split(this, s, dim); },
  chunk(this: Tensor, c: number, dim?: number) { return chunk(this, c, dim); },
  unbind(this: Tensor, dim?: number) { return unbind(this, dim); },
});

Object.defineProperty(Tensor.prototype, 'mT', {
  get(this: Tensor) {
    if (this.ndim < 2) throw new ShapeError(`mT: tensor of shape ${formatShape(this.shape)} has fewer than 2 dims`);
    return transpose(this, -2, -1);
  },
  configurable: true,
});
