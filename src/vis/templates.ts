/**
 * The weights of a linear classifier seen as images (the course's CIFAR-10 linear classifier
 * picture): row k of W [classes, C·H·W] is the template class k's score matches the input
 * against. Pure.
 */
import { Linear } from '../nn/linear.js';
import { fromFlat } from '../tensor/creation.js';
import { ShapeError } from '../tensor/errors.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * One image [C, H, W] per class from a Linear layer (or its weight [classes, C·H·W]), each scaled
 * by its own min and max into [0, 1]: [classes, C, H, W], ready for make_grid with normalize 'none'.
 */
export function class_templates(classifier: Linear | Tensor, shape: readonly [number, number, number]): Tensor {
  const weight = classifier instanceof Linear ? classifier.weight : classifier;
  const size = shape[0] * shape[1] * shape[2];
  if (weight.ndim !== 2 || weight.shape[1] !== size) {
    throw new ShapeError(`class_templates: expected a weight [classes, ${size}] for images ${formatShape(shape)}, got ${formatShape(weight.shape)}`);
  }
  const classes = weight.shape[0]!;
  const w = weight.detach().float().contiguous().dataSync();
  const out = new Float32Array(classes * size);
  for (let k = 0; k < classes; k++) {
    const row = w.subarray(k * size, (k + 1) * size);
    let [lo, hi] = [Infinity, -Infinity];
    for (const v of row) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
    for (let i = 0; i < size; i++) out[k * size + i] = hi > lo ? (row[i]! - lo) / (hi - lo) : 0;
  }
  return fromFlat(out, [classes, ...shape]);
}
