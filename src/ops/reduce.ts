import type { ReduceOp } from '../backend/backend.js';
import { isFloatingPoint, type DType } from '../tensor/dtype.js';
import { ShapeError } from '../tensor/errors.js';
import { contiguousStrides, formatShape, indexedDim, normalizeDim, sameShape, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { defineOp, defineOpWithExtras, emptyLike, installMethods, requireFloat, viewOf } from './define.js';
import { add, div, eq, exp, isinf, log, logical_and, mul, ne, sub, where } from './elementwise.js';
import { scatterIntoZeros } from './indexing.js';
import { expand, reshape } from './shape.js';

export type Dims = number | readonly number[] | null | undefined;

/** @internal The dims to reduce, normalised and sorted; none given (or an empty list, as PyTorch 1.13) means all. */
export function reductionDims(dim: Dims, ndim: number, op: string): number[] {
  if (dim === null || dim === undefined || (typeof dim !== 'number' && dim.length === 0)) return [...Array(ndim).keys()];
  const list = typeof dim === 'number' ? [dim] : dim;
  const out = list.map((d) => (ndim === 0 ? (normalizeDim(d, 0, op), 0) : normalizeDim(d, ndim, op)));
  if (new Set(out).size !== out.length) throw new ShapeError(`${op}: dim ${list.join(', ')} appears more than once`);
  return ndim === 0 ? [] : out.sort((a, b) => a - b);
}

/** The input shape with the reduced dims set to 1. */
function keptShape(shape: Shape, dims: readonly number[]): number[] {
  return shape.map((s, d) => (dims.includes(d) ? 1 : s));
}

function reducedShape(shape: Shape, dims: readonly number[], keepdim: boolean): number[] {
  return keepdim ? keptShape(shape, dims) : shape.filter((_, d) => !dims.includes(d));
}

interface ReduceAttrs { dims: number[]; keepdim: boolean }

/** Runs a reduce primitive into a fresh tensor of the reduced shape. */
function runReduce(prim: ReduceOp, x: Tensor, { dims }: ReduceAttrs, shape: Shape, dtype: DType): Tensor {
  const out = emptyLike(x, shape, dtype);
  const kept = keptShape(x.shape, dims);
  x.backend.reduce(prim, x, viewOf(out, kept, contiguousStrides(kept), 0));
  return out;
}

/** Spreads a reduced gradient back over the input shape. */
function expandBack(gy: Tensor, inputShape: Shape, dims: readonly number[]): Tensor {
  return expand(reshape(gy, keptShape(inputShape, dims)), inputShape);
}

const sumOp = defineOp<[Tensor], ReduceAttrs>({
  name: 'sum',
  shape: ([x], { dims, keepdim }) => reducedShape(x.shape, dims, keepdim),
  // Integer sums widen as in PyTorch (to int32 here, as there is no int64).
  dtype: ([x]) => (isFloatingPoint(x.dtype) ? x.dtype : 'int32'),
  forward: ([x], attrs, shape, dtype) => runReduce('sum', x, attrs, shape, dtype),
  save: 'none',
  backward: (gy, { shapes: [shape], attrs: { dims } }) => [expandBack(gy, shape, dims)],
});

/** Sum over `dim` (all dims when omitted), like torch.sum. */
export function sum(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  return sumOp([x], { dims: reductionDims(dim, x.ndim, 'sum'), keepdim });
}

/** @internal Sums a broadcast gradient down to `shape` (the adjoint of broadcasting). */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  const dims: number[] = [];
  for (let d = 0; d < g.ndim; d++) if (d < lead || (shape[d - lead] === 1 && g.shape[d] !== 1)) dims.push(d);
  return reshape(sum(g, dims, true), shape);
}

export function mean(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  requireFloat(x, 'mean');
  const dims = reductionDims(dim, x.ndim, 'mean');
  const count = dims.reduce((n, d) => n * x.shape[d]!, 1);
  return div(sum(x, dims, keepdim), count);
}

const prodOp = defineOp<[Tensor], ReduceAttrs>({
  name: 'prod',
  shape: ([x], { dims, keepdim }) => reducedShape(x.shape, dims, keepdim),
  dtype: ([x]) => (isFloatingPoint(x.dtype) ? x.dtype : 'int32'),
  forward: ([x], attrs, shape, dtype) => runReduce('prod', x, attrs, shape, dtype),
  save: 'both',
  // d prod / d x_i is the product of the others: out / x_i without zeros; with one zero only that
  // element gets the product of the rest; with two or more every gradient is 0.
  backward: (gy, { inputs: [x], out, attrs: { dims } }) => {
    const g = expandBack(gy, x.shape, dims);
    const isZero = eq(x, 0);
    const zeroCount = expandBack(sum(isZero, dims, true), x.shape, dims);
    const prodNonZero = expandBack(prodOp([where(isZero, 1, x)], { dims, keepdim: true }), x.shape, dims);
    const others = where(eq(zeroCount, 0), div(expandBack(out, x.shape, dims), x), where(logical_and(isZero, eq(zeroCount, 1)), prodNonZero, 0));
    return [mul(g, others)];
  },
});

export function prod(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  return prodOp([x], { dims: reductionDims(dim, x.ndim, 'prod'), keepdim });
}

function checkNonEmpty(x: Tensor, dims: readonly number[], op: string): void {
  for (const d of dims.length ? dims : [...x.shape.keys()]) {
    if (x.shape[d] === 0) throw new ShapeError(`${op}: cannot reduce over dim ${d} of size 0 (input shape ${formatShape(x.shape)})`);
  }
}

/** amax/amin: the gradient is shared evenly among tied extreme values, as PyTorch does. */
function extremeOp(name: 'amax' | 'amin') {
  return defineOp<[Tensor], ReduceAttrs>({
    name,
    shape: ([x], { dims, keepdim }) => {
      checkNonEmpty(x, dims, name);
      return reducedShape(x.shape, dims, keepdim);
    },
    forward: ([x], attrs, shape, dtype) => runReduce(name === 'amax' ? 'max' : 'min', x, attrs, shape, dtype),
    save: 'both',
    backward: (gy, { inputs: [x], out, attrs: { dims } }) => {
      const mask = eq(x, expandBack(out, x.shape, dims));
      const count = expandBack(sum(mask, dims, true), x.shape, dims);
      return [div(mul(expandBack(gy, x.shape, dims), mask), count)];
    },
  });
}

const amaxOp = extremeOp('amax');
const aminOp = extremeOp('amin');

export function amax(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  return amaxOp([x], { dims: reductionDims(dim, x.ndim, 'amax'), keepdim });
}

export function amin(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  return aminOp([x], { dims: reductionDims(dim, x.ndim, 'amin'), keepdim });
}

interface DimAttrs { dim: number; keepdim: boolean }

/** max(dim)/min(dim): values and the index (first occurrence) along dim; the gradient goes to that index. */
function valuesIndicesOp(name: 'max' | 'min') {
  return defineOpWithExtras<[Tensor], DimAttrs>({
    name,
    shape: ([x], { dim, keepdim }) => {
      checkNonEmpty(x, [dim], name);
      return reducedShape(x.shape, [dim], keepdim);
    },
    forward: ([x], { dim }, shape, dtype) => {
      const kept = keptShape(x.shape, [dim]);
      const keptStrides = contiguousStrides(kept);
      const indices = emptyLike(x, shape, 'int32');
      const values = emptyLike(x, shape, dtype);
      x.backend.argreduce(name === 'max' ? 'argmax' : 'argmin', x, dim, viewOf(indices, kept, keptStrides, 0));
      x.backend.gather(x, dim, viewOf(indices, kept, keptStrides, 0), viewOf(values, kept, keptStrides, 0));
      return { out: values, extras: [indices] };
    },
    save: 'none',
    backward: (gy, { shapes: [shape], extras: [indices], attrs: { dim } }) => {
      const kept = keptShape(shape, [dim]);
      return [scatterIntoZeros(reshape(gy, kept), dim, reshape(indices!, kept), shape)];
    },
  });
}

const maxDimOp = valuesIndicesOp('max');
const minDimOp = valuesIndicesOp('min');

export interface ValuesIndices {
  values: Tensor;
  indices: Tensor;
}

/** max(x): the largest element; max(x, dim, keepdim): {values, indices} along dim. */
export function max(x: Tensor): Tensor;
export function max(x: Tensor, dim: number, keepdim?: boolean): ValuesIndices;
export function max(x: Tensor, dim?: number, keepdim = false): Tensor | ValuesIndices {
  if (dim === undefined) return amax(x);
  const { out, extras } = maxDimOp([x], { dim: indexedDim(dim, x.ndim, 'max'), keepdim });
  return { values: out, indices: extras![0]! };
}

export function min(x: Tensor): Tensor;
export function min(x: Tensor, dim: number, keepdim?: boolean): ValuesIndices;
export function min(x: Tensor, dim?: number, keepdim = false): Tensor | ValuesIndices {
  if (dim === undefined) return amin(x);
  const { out, extras } = minDimOp([x], { dim: indexedDim(dim, x.ndim, 'min'), keepdim });
  return { values: out, indices: extras![0]! };
}

function argOp(name: 'argmax' | 'argmin') {
  const op = defineOp<[Tensor], DimAttrs>({
    name,
    shape: ([x], { dim, keepdim }) => {
      checkNonEmpty(x, [dim], name);
      return reducedShape(x.shape, [dim], keepdim);
    },
    dtype: () => 'int32',
    forward: ([x], { dim }, shape) => {
      const out = emptyLike(x, shape, 'int32');
      const kept = keptShape(x.shape, [dim]);
      x.backend.argreduce(name, x, dim, viewOf(out, kept, contiguousStrides(kept), 0));
      return out;
    },
    backward: 'not differentiable',
  });
  /** Index of the first max (min) along dim, or in the flattened tensor when dim is omitted. */
  return (x: Tensor, dim?: number | null, keepdim = false): Tensor => {
    if (dim === undefined || dim === null) {
      const flat = reshape(x, [-1]);
      const idx = op([flat], { dim: 0, keepdim: false });
      return keepdim ? reshape(idx, x.shape.map(() => 1)) : idx;
    }
    return op([x], { dim: normalizeDim(dim, x.ndim, name), keepdim });
  };
}

export const argmax = argOp('argmax');
export const argmin = argOp('argmin');

export interface VarOptions {
  /** Bessel's correction (divide by N-1); default true. */
  unbiased?: boolean;
  /** Degrees of freedom subtracted from N (overrides unbiased). */
  correction?: number;
  keepdim?: boolean;
}

/** Variance over dim: Σ(x - mean)² / (N - correction), correction 1 unless unbiased is false. */
export function variance(x: Tensor, dim?: Dims, opts: VarOptions = {}): Tensor {
  requireFloat(x, 'var');
  const dims = reductionDims(dim, x.ndim, 'var');
  const n = dims.reduce((k, d) => k * x.shape[d]!, 1);
  const correction = opts.correction ?? (opts.unbiased === false ? 0 : 1);
  const centered = sub(x, mean(x, dims, true));
  return div(sum(mul(centered, centered), dims, opts.keepdim ?? false), Math.max(n - correction, 0));
}

/** The square root that ends std: where the std is 0 its gradient is 0, not inf (PyTorch masks it). */
const stdRootOp = defineOp<[Tensor], object>({
  name: 'std',
  shape: ([v]) => v.shape,
  forward: ([v], _attrs, shape, dtype) => {
    const out = emptyLike(v, shape, dtype);
    v.backend.unary('sqrt', v, out);
    return out;
  },
  save: 'output',
  backward: (gy, { out }) => [where(eq(out, 0), 0, div(gy, mul(out, 2)))],
});

export function std(x: Tensor, dim?: Dims, opts: VarOptions = {}): Tensor {
  requireFloat(x, 'std');
  return stdRootOp([variance(x, dim, opts)], {});
}

/** log Σ exp(x) over dim, stable: the max is taken out first (and detached: it cancels exactly). */
export function logsumexp(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  requireFloat(x, 'logsumexp');
  const dims = reductionDims(dim, x.ndim, 'logsumexp');
  const m = amax(x.detach(), dims, true);
  const shift = where(isinf(m), 0, m);
  const out = add(log(sum(exp(sub(x, shift)), dims, true)), shift);
  return keepdim ? out : reshape(out, reducedShape(x.shape, dims, false));
}

/** True where any (all) element along dim is non-zero; counts, so that empty dims give false (true). */
export function any(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  return ne(sum(ne(x, 0), dim, keepdim), 0);
}

export function all(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  return eq(sum(eq(x, 0), dim, keepdim), 0);
}

declare module '../tensor/tensor.js' {
  interface Tensor {
    sum(dim?: Dims, keepdim?: boolean): Tensor;
    mean(dim?: Dims, keepdim?: boolean): Tensor;
    prod(dim?: Dims, keepdim?: boolean): Tensor;
    amax(dim?: Dims, keepdim?: boolean): Tensor;
    amin(dim?: Dims, keepdim?: boolean): Tensor;
    max(): Tensor;
    max(dim: number, keepdim?: boolean): ValuesIndices;
    min(): Tensor;
    min(dim: number, keepdim?: boolean): ValuesIndices;
    argmax(dim?: number | null, keepdim?: boolean): Tensor;
    argmin(dim?: number | null, keepdim?: boolean): Tensor;
    var(dim?: Dims, opts?: VarOptions): Tensor;
    std(dim?: Dims, opts?: VarOptions): Tensor;
    logsumexp(dim?: Dims, keepdim?: boolean): Tensor;
    any(dim?: Dims, keepdim?: boolean): Tensor;
    all(dim?: Dims, keepdim?: boolean): Tensor;
  }
}

installMethods({
  sum(this: Tensor, dim?: Dims, keepdim?: boolean) { return sum(this, dim, keepdim); },
  mean(this: Tensor, dim?: Dims, keepdim?: boolean) { return mean(this, dim, keepdim); },
  prod(this: Tensor, dim?: Dims, keepdim?: boolean) { return prod(this, dim, keepdim); },
  amax(this: Tensor, dim?: Dims, keepdim?: boolean) { return amax(this, dim, keepdim); },
  amin(this: Tensor, dim?: Dims, keepdim?: boolean) { return amin(this, dim, keepdim); },
  max(this: Tensor, dim?: number, keepdim?: boolean) { return dim === undefined ? max(this) : max(this, dim, keepdim); },
  min(this: Tensor, dim?: number, keepdim?: boolean) { return dim === undefined ? min(this) : min(this, dim, keepdim); },
  argmax(this: Tensor, dim?: number | null, keepdim?: boolean) { return argmax(this, dim, keepdim); },
  argmin(this: Tensor, dim?: number | null, keepdim?: boolean) { return argmin(this, dim, keepdim); },
  var(this: Tensor, dim?: Dims, opts?: VarOptions) { return variance(this, dim, opts); },
  std(this: Tensor, dim?: Dims, opts?: VarOptions) { return std(this, dim, opts); },
  logsumexp(this: Tensor, dim?: Dims, keepdim?: boolean) { return logsumexp(this, dim, keepdim); },
  any(this: Tensor, dim?: Dims, keepdim?: boolean) { return any(this, dim, keepdim); },
  all(this: Tensor, dim?: Dims, keepdim?: boolean) { return all(this, dim, keepdim); },
});
