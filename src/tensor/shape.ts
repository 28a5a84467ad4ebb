import { ShapeError } from './errors.js';

export type Shape = readonly number[];

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

// Index loops, not for-of, in these per-op helpers: V8 left their iterators unoptimised, a tenth
// of a training step's garbage.
export function numel(shape: Shape): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i]!;
  return n;
}

/** Row-major strides of a contiguous tensor of `shape`. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= Math.max(shape[i]!, 1);
  }
  return strides;
}

export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] === 1) continue;
    if (strides[i] !== expected) return false;
    expected *= shape[i]!;
  }
  return true;
}

export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Checks that a size list is made of non-negative integers; `what` names the caller. */
export function checkShape(shape: Shape, what: string): void {
  for (let i = 0; i < shape.length; i++) {
    const s = shape[i]!;
    if (!Number.isInteger(s) || s < 0) {
      throw new ShapeError(`${what}: sizes must be non-negative integers, got ${formatShape(shape)}`);
    }
  }
}

/** Wraps a possibly negative dim into [0, ndim), as PyTorch does; throws naming the op. */
export function normalizeDim(dim: number, ndim: number, op: string): number {
  const rank = Math.max(ndim, 1);
  if (!Number.isInteger(dim) || dim < -rank || dim >= rank) {
    throw new ShapeError(`${op}: dim ${dim} is out of range for a tensor of ${ndim} dimension(s) (expected -${rank}..${rank - 1})`);
  }
  return dim < 0 ? dim + rank : dim;
}

/**
 * normalizeDim for ops that index along the dim (select, slice, gather, max(dim)...), which a 0-d
 * tensor does not have: normalizeDim would accept dim 0 for it and the op would read shape[0].
 */
export function indexedDim(dim: number, ndim: number, op: string): number {
  if (ndim === 0) throw new ShapeError(`${op}: cannot be applied to a 0-d tensor`);
  return normalizeDim(dim, ndim, op);
}

/** PyTorch broadcasting: align trailing dims; each pair must be equal or contain a 1. */
export function broadcastShapes(a: Shape, b: Shape, op: string): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`${op}: shapes ${formatShape(a)} and ${formatShape(b)} cannot be broadcast together (dim ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Strides for viewing a tensor of (shape, strides) as newShape without copying, or null when the
 * memory layout does not allow it (PyTorch's computeStride: dims can merge or split only inside
 * runs that are contiguous with each other).
 */
export function viewStrides(shape: Shape, strides: readonly number[], newShape: Shape): number[] | null {
  const newStrides = new Array<number>(newShape.length);
  if (numel(shape) === 0) return contiguousStrides(newShape);
  if (shape.length === 0) return newStrides.fill(1);
  let viewD = newShape.length - 1;
  let chunkBase = strides[strides.length - 1] ?? 1;
  let tensorNumel = 1;
  let viewNumel = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    tensorNumel *= shape[d]!;
    if (d === 0 || (shape[d - 1] !== 1 && strides[d - 1] !== tensorNumel * chunkBase)) {
      while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] === 1)) {
        newStrides[viewD] = viewNumel * chunkBase;
        viewNumel *= newShape[viewD]!;
        viewD--;
      }
      if (viewNumel !== tensorNumel) return null;
      if (d > 0) {
        chunkBase = strides[d - 1]!;
        tensorNumel = 1;
        viewNumel = 1;
      }
    }
  }
  if (viewD !== -1) return null;
  return newStrides;
}

/** Resolves a single -1 in a requested shape against the element count. */
export function inferShape(requested: Shape, total: number, op: string): number[] {
  let unknown = -1;
  let known = 1;
  requested.forEach((s, i) => {
    if (s === -1) {
      if (unknown >= 0) throw new ShapeError(`${op}: only one dimension can be -1, got ${formatShape(requested)}`);
      unknown = i;
    } else if (!Number.isInteger(s) || s < 0) {
      throw new ShapeError(`${op}: invalid size ${s} in ${formatShape(requested)}`);
    } else known *= s;
  });
  const out = [...requested];
  if (unknown >= 0) {
    if (known === 0 || total % known !== 0) {
      throw new ShapeError(`${op}: shape ${formatShape(requested)} is invalid for input of size ${total}`);
    }
    out[unknown] = total / known;
  } else if (known !== total) {
    throw new ShapeError(`${op}: shape ${formatShape(requested)} is invalid for input of size ${total}`);
  }
  return out;
}
