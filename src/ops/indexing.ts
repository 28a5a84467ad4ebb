import { ones, scalar_tensor, zeros } from '../tensor/creation.js';
import { isIntegral } from '../tensor/dtype.js';
import { DTypeError, IndexError, ShapeError } from '../tensor/errors.js';
import { formatShape, indexedDim, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { defineOp, emptyLike, installMethods } from './define.js';
import { to, where, type Operand } from './elementwise.js';
import { pad } from './join.js';
import { amax, amin } from './reduce.js';
import { expand, reshape } from './shape.js';

function requireIndex(index: Tensor, op: string): void {
  if (!isIntegral(index.dtype)) throw new DTypeError(`${op}: index must be an integer tensor (int32), got ${index.dtype}`);
}

/** index must have input's rank and fit inside `bound` on every dim but `dim`. */
function checkIndexShape(op: string, index: Tensor, dim: number, bounds: { name: string; t: Tensor; skipDim: boolean }[]): void {
  for (const { name, t, skipDim } of bounds) {
    if (t.ndim !== index.ndim) {
      throw new ShapeError(`${op}: index (shape ${formatShape(index.shape)}) and ${name} (shape ${formatShape(t.shape)}) must have the same number of dims`);
    }
    index.shape.forEach((s, d) => {
      if ((!skipDim || d !== dim) && s > t.shape[d]!) {
        throw new ShapeError(`${op}: index size ${s} at dim ${d} exceeds ${name} size ${t.shape[d]} (index ${formatShape(index.shape)}, ${name} ${formatShape(t.shape)})`);
      }
    });
  }
}

const gatherOp = defineOp<[Tensor, Tensor], { dim: number }>({
  name: 'gather',
  shape: ([x, index], { dim }) => {
    requireIndex(index, 'gather');
    checkIndexShape('gather', index, dim, [{ name: 'input', t: x, skipDim: true }]);
    return index.shape;
  },
  forward: ([x, index], { dim }, shape) => {
    const out = emptyLike(x, shape);
    x.backend.gather(x, dim, index, out);
    return out;
  },
  save: 'inputs',
  backward: (gy, { inputs: [x, index], attrs: { dim } }) => [scatterIntoZeros(gy, dim, index, x.shape), null],
});

/**
 * zeros(shape) with src added at index along dim: gather's adjoint (and max/min's gradient),
 * written into fresh zeros instead of scatter_add onto a zeros tensor, which copied the zeros.
 */
const scatterIntoZerosOp = defineOp<[Tensor, Tensor], { dim: number; shape: Shape }>({
  name: 'scatter_add',
  shape: (_inputs, { shape }) => shape,
  forward: ([src, index], { dim }, shape) => {
    const out = emptyLike(src, shape);
    src.backend.fill(out, 0);
    src.backend.scatterAdd(out, dim, index, src);
    return out;
  },
  save: 'inputs',
  backward: (gy, { inputs: [, index], attrs: { dim } }) => [gather(gy, dim, index), null],
});

/** src (index's shape) scattered into zeros of `shape` along dim; repeated indices accumulate. */
export function scatterIntoZeros(src: Tensor, dim: number, index: Tensor, shape: Shape): Tensor {
  return scatterIntoZerosOp([src, index], { dim, shape });
}

/** out[i][j] = x[index[i][j]][j] for dim 0 (and so on), as torch.gather. */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  return gatherOp([x, index], { dim: indexedDim(dim, x.ndim, 'gather') });
}

const scatterAddOp = defineOp<[Tensor, Tensor, Tensor], { dim: number }>({
  name: 'scatter_add',
  shape: ([self, index, src], { dim }) => {
    requireIndex(index, 'scatter_add');
    checkIndexShape('scatter_add', index, dim, [
      { name: 'self', t: self, skipDim: true },
      { name: 'src', t: src, skipDim: false },
    ]);
    return self.shape;
  },
  forward: ([self, index, src], { dim }, shape) => {
    const out = emptyLike(self, shape);
    self.backend.copy(self, out);
    self.backend.scatterAdd(out, dim, index, src);
    return out;
  },
  save: 'inputs',
  backward: (gy, { inputs: [, index], shapes, needs, attrs: { dim } }) => {
    // src may be larger than index: only the part index covers received values.
    const gsrc = needs[2] ? pad(gather(gy, dim, index), index.shape.map((s, d) => [0, shapes[2][d]! - s]).reverse().flat()) : null;
    return [gy, null, gsrc];
  },
});

/** self + src scattered along dim at index (torch.scatter_add); repeated indices accumulate. */
export function scatter_add(self: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  return scatterAddOp([self, index, src], { dim: indexedDim(dim, self.ndim, 'scatter_add') });
}

/** The entries of x at `index` (1-d) along dim (torch.index_select). */
export function index_select(x: Tensor, dim: number, index: Tensor): Tensor {
  const d = indexedDim(dim, x.ndim, 'index_select');
  requireIndex(index, 'index_select');
  if (index.ndim > 1) throw new ShapeError(`index_select: index must be 1-d, got shape ${formatShape(index.shape)}`);
  const n = index.numel();
  // Checked here so that the error names index_select rather than the gather it runs on.
  if (n > 0) {
    const bad = [amin(index).item(), amax(index).item()].find((i) => i < 0 || i >= x.shape[d]!);
    if (bad !== undefined) throw new IndexError(`index_select: index ${bad} is out of bounds for dimension ${d} with size ${x.shape[d]}`);
  }
  const outShape = x.shape.map((s, i) => (i === d ? n : s));
  const idx = expand(reshape(index, x.shape.map((_, i) => (i === d ? n : 1))), outShape);
  return gatherOp([x, idx], { dim: d });
}

/** x with `value` where mask is true (torch.masked_fill); the value takes x's dtype, as in PyTorch. */
export function masked_fill(x: Tensor, mask: Tensor, value: Operand): Tensor {
  const v = value instanceof Tensor ? to(value, x.dtype) : scalar_tensor(value, { dtype: x.dtype, backend: x.device });
  return where(mask, v, x);
}

/** int32 one-hot encoding along a new last dim; num_classes -1 means max(index) + 1. */
export function one_hot(index: Tensor, num_classes = -1): Tensor {
  requireIndex(index, 'one_hot');
  if (index.numel() > 0 && index.min().item() < 0) throw new IndexError('one_hot: class values must be non-negative');
  const n = num_classes === -1 ? (index.numel() === 0 ? 0 : amax(index).item() + 1) : num_classes;
  if (index.numel() > 0 && amax(index).item() >= n) {
    throw new IndexError(`one_hot: class value ${amax(index).item()} is out of range for num_classes ${n}`);
  }
  const out = zeros([...index.shape, n], { dtype: 'int32', backend: index.device });
  const idx = reshape(index.to('int32'), [...index.shape, 1]);
  out.backend.scatterAdd(out, index.ndim, idx, expand(ones([1], { dtype: 'int32', backend: index.device }), idx.shape));
  return out;
}

declare module '../tensor/tensor.js' {
  interface Tensor {
    gather(dim: number, index: Tensor): Tensor;
    scatter_add(dim: number, index: Tensor, src: Tensor): Tensor;
    index_select(dim: number, index: Tensor): Tensor;
    masked_fill(mask: Tensor, value: Operand): Tensor;
  }
}

installMethods({
  gather(this: Tensor, dim: number, index: Tensor) { return gather(this, dim, index); },
  scatter_add(this: Tensor, dim: number, index: Tensor, src: Tensor) { return scatter_add(this, dim, index, src); },
  index_select(this: Tensor, dim: number, index: Tensor) { return index_select(this, dim, index); },
  masked_fill(this: Tensor, mask: Tensor, value: Operand) { return masked_fill(this, mask, value); },
});
