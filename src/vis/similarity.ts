/**
 * How alike images look to a network (the course's ResNet-50 exercise): the cosine similarity of
 * their features at a layer (the penultimate one, for a classifier), as a matrix and as a
 * picture with the images along its edges. Pure.
 */
import { no_grad } from '../autograd/grad_mode.js';
import type { Module } from '../nn/module.js';
import { clamp, div, maximum, mul, sqrt } from '../ops/elementwise.js';
import { interpolate } from '../ops/interpolate.js';
import { matmul } from '../ops/linalg.js';
import { sum } from '../ops/reduce.js';
import { reshape, transpose } from '../ops/shape.js';
import { fromFlat } from '../tensor/creation.js';
import { ShapeError } from '../tensor/errors.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { colorize, features } from './pictures.js';

/** Cosine similarities between the rows of f [N, ...] (each sample flattened): [N, N], in [-1, 1]. */
export function cosine_similarity_matrix(f: Tensor): Tensor {
  if (f.ndim < 2) throw new ShapeError(`cosine_similarity_matrix: expected features [N, ...], got ${formatShape(f.shape)}`);
  return no_grad(() => {
    const flat = reshape(f.float(), [f.shape[0]!, -1]);
    const unit = div(flat, maximum(sqrt(sum(mul(flat, flat), 1, true)), 1e-12));
    // Rounding can leave |cos| a hair above 1.
    return clamp(matmul(unit, transpose(unit, 0, 1)), -1, 1);
  });
}

export interface FeatureSimilarity {
  /** The layer's output for each image. */
  features: Tensor;
  /** [N, N] cosine similarities of the flattened features. */
  similarity: Tensor;
}

/** The output of `layer` (a module name) for each image of x, and their cosine similarities. */
export function feature_similarity(model: Module, x: Tensor, layer: string): FeatureSimilarity {
  const f = features(model, x, [layer])[layer]!;
  return { features: f, similarity: cosine_similarity_matrix(f) };
}

/**
 * The matrix as an RGB picture [3, n·cell, n·cell], each entry a cell coloured from `range`
 * (default [0, 1]: unrelated to identical); with images [N, 1 or 3, H, W] in [0, 1], they are
 * shown resized to a cell along the top and the left (then n = N + 1).
 */
export function similarity_picture(similarity: Tensor, opts: { images?: Tensor; cell?: number; range?: readonly [number, number] } = {}): Tensor {
  const { images, cell = 32, range = [0, 1] } = opts;
  const n = similarity.shape[0]!;
  if (similarity.ndim !== 2 || similarity.shape[1] !== n) throw new ShapeError(`similarity_picture: expected a square matrix, got ${formatShape(similarity.shape)}`);
  if (images && (images.ndim !== 4 || images.shape[0] !== n || (images.shape[1] !== 1 && images.shape[1] !== 3))) {
    throw new ShapeError(`similarity_picture: expected ${n} images [${n}, 1 or 3, H, W], got ${formatShape(images.shape)}`);
  }
  const edge = images ? 1 : 0;
  const side = (n + edge) * cell;
  const colours = colorize(similarity, range).dataSync();
  const out = new Float32Array(3 * side * side).fill(1);
  const paint = (row: number, col: number, rgb: (ch: number, y: number, x: number) => number) => {
    for (let ch = 0; ch < 3; ch++) {
      for (let y = 0; y < cell; y++) for (let x = 0; x < cell; x++) out[(ch * side + row * cell + y) * side + col * cell + x] = rgb(ch, y, x);
    }
  };
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) paint(i + edge, j + edge, (ch) => colours[(ch * n + i) * n + j]!);
  if (images) {
    const small = no_grad(() => interpolate(images.float(), { size: [cell, cell], mode: 'bilinear' })).contiguous().dataSync();
    const c = images.shape[1]!;
    const pixel = (k: number) => (ch: number, y: number, x: number) => small[((k * c + (c === 3 ? ch : 0)) * cell + y) * cell + x]!;
    for (let k = 0; k < n; k++) {
      paint(0, k + 1, pixel(k));
      paint(k + 1, 0, pixel(k));
    }
  }
  return fromFlat(out, [3, side, side]);
}
