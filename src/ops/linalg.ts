import { DTypeError, ShapeError } from '../tensor/errors.js';
import { broadcastShapes, formatShape, type Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { defineOp, emptyLike, installMethods, viewOf, type Op } from './define.js';
import { sum } from './reduce.js';
import { contiguous, expand, reshape, squeeze, t, transpose, unsqueeze } from './shape.js';

const bmmOp: Op<[Tensor, Tensor], object> = defineOp<[Tensor, Tensor], object>({
  name: 'bmm',
  shape: ([a, b]) => {
    if (a.ndim !== 3 || b.ndim !== 3) {
      throw new ShapeError(`bmm: expected 3-d tensors, got shapes ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
    }
    if (a.shape[0] !== b.shape[0] || a.shape[2] !== b.shape[1]) {
      throw new ShapeError(`bmm: shapes ${formatShape(a.shape)} and ${formatShape(b.shape)} cannot be multiplied (batch sizes must match and ${a.shape[2]} must equal ${b.shape[1]})`);
    }
    if (a.dtype !== b.dtype) throw new DTypeError(`bmm: expected both operands to have the same dtype, got ${a.dtype} and ${b.dtype}`);
    return [a.shape[0]!, a.shape[1]!, b.shape[2]!];
  },
  forward: ([a, b], _attrs, shape) => {
    const out = emptyLike(a, shape);
    a.backend.matmul(a, b, out);
    return out;
  },
  save: 'inputs',
  backward: (gy, { inputs: [a, b], needs }) => [
    needs[0] ? bmmOp([gy, transpose(b, 1, 2)], {}) : null,
    needs[1] ? bmmOp([transpose(a, 1, 2), gy], {}) : null,
  ],
});

/** Batched matrix product of [B, M, K] and [B, K, N]. */
export function bmm(a: Tensor, b: Tensor): Tensor {
  return bmmOp([a, b], {});
}

/**
 * The product of two matrices, as its own op: through matmul's batched form a 2-d product
 * recorded five reshapes and expands around a bmm, and a Linear layer's backward fourteen.
 */
const mmOp: Op<[Tensor, Tensor], object> = defineOp<[Tensor, Tensor], object>({
  name: 'mm',
  shape: ([a, b]) => {
    if (a.ndim !== 2 || b.ndim !== 2) throw new ShapeError(`mm: expected 2-d tensors, got shapes ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
    if (a.shape[1] !== b.shape[0]) cannotMultiply(a, b);
    if (a.dtype !== b.dtype) throw new DTypeError(`mm: expected both operands to have the same dtype, got ${a.dtype} and ${b.dtype}`);
    return [a.shape[0]!, b.shape[1]!];
  },
  forward: ([a, b], _attrs, shape) => {
    const [M, N] = shape as [number, number];
    const out = emptyLike(a, shape);
    a.backend.matmul(viewOf(a, [1, M, a.shape[1]!], [0, a.strides[0]!, a.strides[1]!]), viewOf(b, [1, b.shape[0]!, N], [0, b.strides[0]!, b.strides[1]!]), viewOf(out, [1, M, N], [0, N, 1]));
    return out;
  },
  save: 'inputs',
  backward: (gy, { inputs: [a, b], needs }) => [needs[0] ? mmOp([gy, t(b)], {}) : null, needs[1] ? mmOp([t(a), gy], {}) : null],
});

function cannotMultiply(a: Tensor, b: Tensor): never {
  throw new ShapeError(`matmul: shapes ${formatShape(a.shape)} and ${formatShape(b.shape)} cannot be multiplied (${a.shape[a.ndim - 1]} != ${b.shape[Math.max(b.ndim - 2, 0)]})`);
}

/**
 * torch.matmul: dot product for two vectors, matrix product for matrices, and batched products
 * with broadcast batch dims; a 1-d operand gets a dim added and removed again.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.ndim === 0 || b.ndim === 0) {
    throw new ShapeError(`matmul: both arguments need at least 1 dimension, got shapes ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  }
  if (a.ndim === 2 && b.ndim === 2) return mmOp([a, b], {});
  const a2 = a.ndim === 1 ? unsqueeze(a, 0) : a;
  const b2 = b.ndim === 1 ? unsqueeze(b, 1) : b;
  const [M, K] = a2.shape.slice(-2) as [number, number];
  const [K2, N] = b2.shape.slice(-2) as [number, number];
  if (K !== K2) cannotMultiply(a, b);
  const batch = broadcastShapes(a2.shape.slice(0, -2), b2.shape.slice(0, -2), 'matmul');
  const B = batch.reduce((x, y) => x * y, 1);
  const a3 = reshape(expand(a2, [...batch, M, K]), [B, M, K]);
  const b3 = reshape(expand(b2, [...batch, K, N]), [B, K, N]);
  let out = reshape(bmmOp([a3, b3], {}), [...batch, M, N]);
  if (a.ndim === 1) out = squeeze(out, -2);
  if (b.ndim === 1) out = squeeze(out, -1);
  return out;
}

/** Matrix product of two 2-d tensors. */
export function mm(a: Tensor, b: Tensor): Tensor {
  if (a.ndim !== 2 || b.ndim !== 2) throw new ShapeError(`mm: expected 2-d tensors, got shapes ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  return matmul(a, b);
}

/** Matrix-vector product. */
export function mv(a: Tensor, v: Tensor): Tensor {
  if (a.ndim !== 2 || v.ndim !== 1) throw new ShapeError(`mv: expected a 2-d and a 1-d tensor, got shapes ${formatShape(a.shape)} and ${formatShape(v.shape)}`);
  return matmul(a, v);
}

/** Inner product of two 1-d tensors. */
export function dot(a: Tensor, b: Tensor): Tensor {
  if (a.ndim !== 1 || b.ndim !== 1 || a.shape[0] !== b.shape[0]) {
    throw new ShapeError(`dot: expected two 1-d tensors of the same size, got shapes ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  }
  return matmul(a, b);
}

/** Outer product of two 1-d tensors. */
export function outer(a: Tensor, b: Tensor): Tensor {
  return matmul(unsqueeze(a, 1), unsqueeze(b, 0));
}

// linear is one op rather than matmul(x, t(W)) + b: its weight gradient gyᵀx comes out as W's
// shape, contiguous, where the composed form gave (xᵀgy)ᵀ, a transposed view copied into .grad;
// and a forward or backward pass records one node instead of eight.

function linearShape(x: Tensor, w: Tensor): Shape {
  if (x.dtype !== w.dtype) throw new DTypeError(`linear: expected the input and the weight to have the same dtype, got ${x.dtype} and ${w.dtype}`);
  return [...x.shape.slice(0, -1), w.shape[0]!];
}

function linearForward(x: Tensor, w: Tensor, b: Tensor | null, shape: Shape): Tensor {
  const [N, K] = w.shape as [number, number];
  const M = x.numel() / K;
  const xc = contiguous(x), wc = contiguous(w);
  const out = emptyLike(x, shape);
  // Wᵀ is W read with its strides swapped.
  x.backend.matmul(viewOf(xc, [1, M, K], [0, K, 1]), viewOf(wc, [1, K, N], [0, 1, K]), viewOf(out, [1, M, N], [0, N, 1]));
  if (b) {
    const rows = viewOf(out, [M, N], [N, 1]);
    x.backend.binary('add', rows, viewOf(b, [M, N], [0, b.strides[0]!]), rows);
  }
  return out;
}

/** gy and x as matrices: rows of out_features and of in_features (no reshape when already 2-d). */
const rows = (a: Tensor, n: number): Tensor => (a.ndim === 2 ? a : reshape(a, [a.numel() / n, n]));

function linearGrads(gy: Tensor, x: Tensor, w: Tensor, needs: readonly boolean[]): [Tensor | null, Tensor | null] {
  const [N, K] = w.shape as [number, number];
  const gy2 = rows(gy, N);
  const gx = needs[0] ? mmOp([gy2, w], {}) : null;
  return [gx && x.ndim !== 2 ? reshape(gx, x.shape) : gx, needs[1] ? mmOp([t(gy2), rows(x, K)], {}) : null];
}

const linearOp = defineOp<[Tensor, Tensor], object>({
  name: 'linear',
  shape: ([x, w]) => linearShape(x, w),
  forward: ([x, w], _attrs, shape) => linearForward(x, w, null, shape),
  save: 'inputs',
  backward: (gy, { inputs: [x, w], needs }) => linearGrads(gy, x, w, needs),
});

const linearBiasOp = defineOp<[Tensor, Tensor, Tensor], object>({
  name: 'linear',
  shape: ([x, w]) => linearShape(x, w),
  forward: ([x, w, b], _attrs, shape) => linearForward(x, w, b, shape),
  save: 'inputs',
  backward: (gy, { inputs: [x, w], needs }) => [...linearGrads(gy, x, w, needs), needs[2] ? sum(rows(gy, w.shape[0]!), [0]) : null],
});

/** y = x Wᵀ + b, as torch.nn.functional.linear (x [..., in], W [out, in], b [out]). */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (weight.ndim !== 2) throw new ShapeError(`linear: weight must be 2-d [out_features, in_features], got ${formatShape(weight.shape)}`);
  if (x.ndim === 0 || x.shape[x.ndim - 1] !== weight.shape[1]) {
    throw new ShapeError(`linear: input of shape ${formatShape(x.shape)} does not end in in_features = ${weight.shape[1]} (weight ${formatShape(weight.shape)})`);
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== weight.shape[0])) {
    throw new ShapeError(`linear: bias must have shape [${weight.shape[0]}], got ${formatShape(bias.shape)}`);
  }
  if (bias && bias.dtype !== weight.dtype) throw new DTypeError(`linear: expected the bias to have the weight's dtype ${weight.dtype}, got ${bias.dtype}`);
  return bias ? linearBiasOp([x, weight, bias], {}) : linearOp([x, weight], {});
}

declare module '../tensor/tensor.js' {
  interface Tensor {
    matmul(other: Tensor): Tensor;
    mm(other: Tensor): Tensor;
    bmm(other: Tensor): Tensor;
    mv(v: Tensor): Tensor;
    dot(other: Tensor): Tensor;
  }
}

installMethods({
  matmul(this: Tensor, o: Tensor) { return matmul(this, o); },
  mm(this: Tensor, o: Tensor) { return mm(this, o); },
  bmm(this: Tensor, o: Tensor) { return bmm(this, o); },
  mv(this: Tensor, v: Tensor) { return mv(this, v); },
  dot(this: Tensor, o: Tensor) { return dot(this, o); },
});
