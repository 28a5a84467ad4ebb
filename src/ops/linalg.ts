import { DTypeError, ShapeError } from '../tensor/errors.js';
import { broadcastShapes, formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { defineOp, emptyLike, installMethods, type Op } from './define.js';
import { add } from './elementwise.js';
import { expand, reshape, squeeze, t, transpose, unsqueeze } from './shape.js';

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

/** y = x Wᵀ + b, as torch.nn.functional.linear (x [..., in], W [out, in], b [out]). */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (weight.ndim !== 2) throw new ShapeError(`linear: weight must be 2-d [out_features, in_features], got ${formatShape(weight.shape)}`);
  if (x.ndim === 0 || x.shape[x.ndim - 1] !== weight.shape[1]) {
    throw new ShapeError(`linear: input of shape ${formatShape(x.shape)} does not end in in_features = ${weight.shape[1]} (weight ${formatShape(weight.shape)})`);
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== weight.shape[0])) {
    throw new ShapeError(`linear: bias must have shape [${weight.shape[0]}], got ${formatShape(bias.shape)}`);
  }
  const y = matmul(x, t(weight));
  return bias ? add(y, bias) : y;
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
