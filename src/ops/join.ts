import { full } from '../tensor/creation.js';
import { promoteTypes } from '../tensor/dtype.js';
import { ShapeError, StrideError } from '../tensor/errors.js';
import { tidy } from '../tensor/memory.js';
import { formatShape, normalizeDim } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { defineOp, emptyLike, viewOf } from './define.js';
import { index_select } from './indexing.js';
import { narrow, unsqueeze } from './shape.js';

const catOp = defineOp<Tensor[], { dim: number }>({
  name: 'cat',
  shape: (tensors, { dim }) => {
    if (tensors.length === 0) throw new ShapeError('cat: expected a non-empty list of tensors');
    const first = tensors[0]!;
    tensors.forEach((x, i) => {
      if (x.ndim !== first.ndim || x.shape.some((s, d) => d !== dim && s !== first.shape[d])) {
        throw new ShapeError(`cat: sizes must match except in dim ${dim}; tensor 0 has shape ${formatShape(first.shape)}, tensor ${i} has ${formatShape(x.shape)}`);
      }
    });
    return first.shape.map((s, d) => (d === dim ? tensors.reduce((n, x) => n + x.shape[dim]!, 0) : s));
  },
  dtype: (tensors) => tensors.map((x) => x.dtype).reduce(promoteTypes),
  forward: (tensors, { dim }, shape, dtype) => {
    const out = emptyLike(tensors[0]!, shape, dtype);
    let start = 0;
    for (const x of tensors) {
      const offset = start * out.strides[dim]!;
      out.backend.copy(x, viewOf(out, x.shape, out.strides, offset));
      start += x.shape[dim]!;
    }
    return out;
  },
  save: 'none',
  backward: (gy, { shapes, attrs: { dim } }) => {
    let start = 0;
    return shapes.map((s) => {
      const piece = narrow(gy, dim, start, s[dim]!);
      start += s[dim]!;
      return piece;
    });
  },
});

/** Joins tensors along an existing dim (torch.cat). */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new ShapeError('cat: expected a non-empty list of tensors');
  const scalar = tensors.findIndex((x) => x.ndim === 0);
  if (scalar >= 0) throw new ShapeError(`cat: zero-dimensional tensor (at position ${scalar}) cannot be concatenated; use stack`);
  return catOp([...tensors], { dim: normalizeDim(dim, tensors[0]!.ndim, 'cat') });
}

/** Joins equally shaped tensors along a new dim (torch.stack). */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new ShapeError('stack: expected a non-empty list of tensors');
  const first = tensors[0]!;
  tensors.forEach((x, i) => {
    if (x.ndim !== first.ndim || x.shape.some((s, d) => s !== first.shape[d])) {
      throw new ShapeError(`stack: all tensors must have the same shape; tensor 0 has ${formatShape(first.shape)}, tensor ${i} has ${formatShape(x.shape)}`);
    }
  });
  const d = normalizeDim(dim, first.ndim + 1, 'stack');
  // The unsqueezed views are freed here, not left holding the inputs' buffers until a GC.
  return tidy(() => cat(tensors.map((x) => unsqueeze(x, d)), d));
}

const constantPadOp = defineOp<[Tensor], { before: number[]; after: number[]; value: number }>({
  name: 'constant_pad',
  shape: ([x], { before, after }) => x.shape.map((s, d) => s + before[d]! + after[d]!),
  forward: ([x], { before, value }, shape) => {
    const out = full(shape, value, { dtype: x.dtype, backend: x.device });
    const offset = before.reduce((o, b, d) => o + b * out.strides[d]!, 0);
    x.backend.copy(x, viewOf(out, x.shape, out.strides, offset));
    return out;
  },
  save: 'none',
  backward: (gy, { shapes: [shape], attrs: { before } }) => {
    let g = gy;
    shape.forEach((s, d) => (g = narrow(g, d, before[d]!, s)));
    return [g];
  },
});

export type PadMode = 'constant' | 'reflect' | 'replicate' | 'circular';

/** Source index along a padded dim for each output position, for the index-based modes. */
function padIndex(size: number, left: number, right: number, mode: Exclude<PadMode, 'constant'>, dim: number): number[] {
  if (mode === 'reflect' && (left >= size || right >= size)) {
    throw new ShapeError(`pad: reflect padding (${left}, ${right}) must be smaller than the size ${size} of dim ${dim}`);
  }
  if (mode === 'circular' && (left > size || right > size)) {
    throw new ShapeError(`pad: circular padding (${left}, ${right}) must not exceed the size ${size} of dim ${dim}`);
  }
  if (mode === 'replicate' && size === 0) throw new ShapeError(`pad: cannot replicate-pad the empty dim ${dim}`);
  const out: number[] = [];
  for (let i = -left; i < size + right; i++) {
    if (mode === 'reflect') out.push(i < 0 ? -i : i >= size ? 2 * (size - 1) - i : i);
    else if (mode === 'replicate') out.push(Math.min(Math.max(i, 0), size - 1));
    else out.push(((i % size) + size) % size);
  }
  return out;
}

/**
 * torch.nn.functional.pad: `pad` lists (left, right) pairs starting from the last dim. Constant
 * padding may be negative (cropping); reflect, replicate and circular index into the input.
 */
export function pad(x: Tensor, padding: readonly number[], mode: PadMode = 'constant', value = 0): Tensor {
  if (padding.length % 2 !== 0 || padding.length / 2 > x.ndim || !padding.every(Number.isInteger)) {
    throw new ShapeError(`pad: expected an even number (at most ${2 * x.ndim}) of integer sizes for a tensor of shape ${formatShape(x.shape)}, got [${padding.join(', ')}]`);
  }
  const before = x.shape.map(() => 0);
  const after = x.shape.map(() => 0);
  for (let i = 0; i < padding.length / 2; i++) {
    before[x.ndim - 1 - i] = padding[2 * i]!;
    after[x.ndim - 1 - i] = padding[2 * i + 1]!;
  }
  if (mode === 'constant') {
    let y = x;
    // Negative sizes crop first; what remains pads.
    before.forEach((b, d) => {
      const a = after[d]!;
      if (b < 0 || a < 0) {
        const start = Math.max(-b, 0);
        const length = y.shape[d]! - start - Math.max(-a, 0);
        if (length < 0) throw new ShapeError(`pad: cropping (${b}, ${a}) removes more than the size ${y.shape[d]} of dim ${d}`);
        y = narrow(y, d, start, length);
      }
    });
    const pos = (v: number) => Math.max(v, 0);
    if (before.every((b) => b <= 0) && after.every((a) => a <= 0)) return y;
    return constantPadOp([y], { before: before.map(pos), after: after.map(pos), value });
  }
  if (!['reflect', 'replicate', 'circular'].includes(mode)) {
    throw new StrideError(`pad: unknown mode '${mode}'; expected constant, reflect, replicate or circular`);
  }
  if (padding.some((p) => p < 0)) throw new ShapeError(`pad: ${mode} padding sizes must be non-negative, got [${padding.join(', ')}]`);
  let y = x;
  before.forEach((b, d) => {
    const a = after[d]!;
    if (b === 0 && a === 0) return;
    const idx = padIndex(y.shape[d]!, b, a, mode, d);
    const index = Tensor.empty([idx.length], 'int32', y.backend);
    index.backend.write(index.buffer, 'int32', 0, idx);
    y = index_select(y, d, index);
  });
  return y;
}
