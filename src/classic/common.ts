/** Input handling shared by the classic estimators. */
import { no_grad } from '../autograd/grad_mode.js';
import { to } from '../ops/elementwise.js';
import { matmul } from '../ops/linalg.js';
import { sum } from '../ops/reduce.js';
import { contiguous, flatten, t } from '../ops/shape.js';
import { fromFlat } from '../tensor/creation.js';
import { isFloatingPoint, isIntegral, type DType } from '../tensor/dtype.js';
import { DTypeError, ShapeError, StrideError } from '../tensor/errors.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

/** Samples as rows: [N, ...] flattened to [N, D] and converted to `dtype` (integer pixels become floats). */
export function asMatrix(X: Tensor, what: string, dtype?: DType): Tensor {
  if (!(X instanceof Tensor)) throw new StrideError(`${what}: expected a tensor of samples [N, ...], got ${typeof X}`);
  if (X.ndim < 2) throw new ShapeError(`${what}: expected samples as rows [N, D] (or [N, ...], flattened), got shape ${formatShape(X.shape)}`);
  const m = X.ndim === 2 ? X : flatten(X, 1);
  const target = dtype ?? (isFloatingPoint(m.dtype) ? m.dtype : 'float32');
  return m.dtype === target ? m : to(m, target);
}

/** Class labels as integers 0..C-1, from an integer tensor [N] or a list. */
export function asLabels(y: Tensor | readonly number[], n: number, what: string): Int32Array {
  if (y instanceof Tensor && !isIntegral(y.dtype)) throw new DTypeError(`${what}: labels must be an integer tensor, got ${y.dtype}`);
  const values = y instanceof Tensor ? y.dataSync() : y;
  if (values.length !== n) throw new ShapeError(`${what}: got ${values.length} labels for ${n} samples`);
  const out = Int32Array.from(values);
  for (const v of out) if (v < 0) throw new StrideError(`${what}: labels must be non-negative class indices, got ${v}`);
  return out;
}

export function labelTensor(labels: ArrayLike<number>): Tensor {
  return fromFlat(labels, [labels.length], { dtype: 'int32' });
}

/** A positive integer option, or an error naming it. */
export function positiveInt(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1) throw new StrideError(`${what} must be a positive integer, got ${value}`);
  return value;
}

/**
 * The right-hand side of batched squared Euclidean distances: B transposed and contiguous
 * ([D, N], the layout the reference matmul streams fastest) and the squared norms of its rows.
 */
export interface DistanceBase {
  bt: Tensor;
  norms: Tensor;
}

export function distanceBase(B: Tensor): DistanceBase {
  return no_grad(() => ({ bt: contiguous(t(B)), norms: sum(B.mul(B), 1) }));
}

/**
 * Squared Euclidean distances [M, N] between the rows of A and those of the base, as
 * ‖a‖² + ‖b‖² − 2 a·b (one matrix product), clamped at 0 against rounding.
 */
export function squaredDistances(A: Tensor, base: DistanceBase): Tensor {
  return no_grad(() => {
    const an = sum(A.mul(A), 1, true);
    return matmul(A, base.bt).mul(-2).add(an).add(base.norms).clamp(0);
  });
}
