import { no_grad } from '../autograd/grad_mode.js';
import { abs, sqrt, sub } from '../ops/elementwise.js';
import { sum } from '../ops/reduce.js';
import { contiguous, narrow, unsqueeze } from '../ops/shape.js';
import { fromFlat } from '../tensor/creation.js';
import { ShapeError, StrideError } from '../tensor/errors.js';
import { keep, tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { asLabels, asMatrix, distanceBase, labelTensor, positiveInt, squaredDistances, type DistanceBase } from './common.js';

export type Metric = 'l2' | 'l1';

export interface KNNOptions {
  /** Neighbours that vote (default 5, scikit-learn's). */
  k?: number;
  /** 'l2' (Euclidean, default) or 'l1' (Manhattan). */
  metric?: Metric;
  /** Query rows per distance computation (bounds the memory of the [rows, N] distance block). */
  batch_size?: number;
}

export interface Neighbors {
  /** Distances to the k nearest training samples, nearest first [M, k]. */
  distances: Tensor;
  /** Their training indices [M, k] (int32). */
  indices: Tensor;
}

/** Elements of the L1 block [rows, N, D] computed at once. */
const L1_BLOCK = 1 << 22;

/**
 * k-nearest-neighbour classification (the course's first classifier, scikit-learn's
 * KNeighborsClassifier with uniform weights and brute force). fit() memorises the training set;
 * predictions take the k training samples nearest to each query and return the most common
 * label among them. Rules for ties: of equally distant samples the one first in the training set
 * is nearer, and of equally common labels the smallest wins (as scikit-learn's vote).
 * L2 distances are computed a batch of queries at a time as ‖a‖² + ‖b‖² − 2ab, one matrix
 * product on the backend; L1 as |a − b| summed, in blocks.
 */
export class KNearestNeighbors {
  readonly k: number;
  readonly metric: Metric;
  readonly batch_size: number;
  private X: Tensor | null = null;
  private base: DistanceBase | null = null;
  private y: Int32Array | null = null;
  /** Number of classes seen in fit (largest label + 1). */
  num_classes = 0;

  constructor(opts: KNNOptions = {}) {
    const { k = 5, metric = 'l2', batch_size = 256 } = opts;
    this.k = positiveInt(k, 'KNearestNeighbors: k');
    if (metric !== 'l2' && metric !== 'l1') throw new StrideError(`KNearestNeighbors: metric must be 'l2' or 'l1', got '${String(metric)}'`);
    this.metric = metric;
    this.batch_size = positiveInt(batch_size, 'KNearestNeighbors: batch_size');
  }

  /** Memorises the training samples [N, ...] and their labels. */
  fit(X: Tensor, y: Tensor | readonly number[]): this {
    const m = asMatrix(X, 'KNearestNeighbors.fit');
    this.y = asLabels(y, m.shape[0]!, 'KNearestNeighbors.fit');
    this.dispose();
    // The training set outlives the caller's tidy scopes (as fitted state should) through a handle
    // of its own: keeping the caller's tensor would take it out of the caller's scope.
    this.X = keep(m === X ? X.detach() : m);
    this.base = this.metric === 'l2' ? keepBase(distanceBase(m)) : null;
    this.num_classes = this.y.reduce((a, b) => Math.max(a, b + 1), 0);
    return this;
  }

  /** Frees what fit kept; fit again before predicting. */
  dispose(): void {
    this.X?.dispose();
    this.base?.bt.dispose();
    this.base?.norms.dispose();
    this.X = this.base = null;
  }

  private fitted(): { X: Tensor; y: Int32Array } {
    if (!this.X || !this.y) throw new StrideError('KNearestNeighbors: call fit(X, y) before predicting');
    return { X: this.X, y: this.y };
  }

  /** Distances [rows, N] from query rows to every training sample (squared for L2: the order is the same). */
  private block(Q: Tensor, X: Tensor): Float64Array | Float32Array {
    if (this.metric === 'l2') return tidy(() => squaredDistances(Q, this.base!).dataSync()) as Float32Array;
    const [n, d] = X.shape as [number, number];
    const rows = Q.shape[0]!;
    const out = new Float64Array(rows * n);
    const per = Math.max(1, Math.floor(L1_BLOCK / Math.max(1, n * d)));
    for (let r = 0; r < rows; r += per) {
      const m = Math.min(per, rows - r);
      const part = tidy(() => no_grad(() => sum(abs(sub(unsqueeze(narrow(Q, 0, r, m), 1), unsqueeze(X, 0))), 2).dataSync()));
      out.set(part, r * n);
    }
    return out;
  }

  /**
   * For each query row, the indices of the k nearest training samples, nearest first (ties to the
   * lower index), as a flat Int32Array [M * k], and their distances (squared for L2).
   */
  private nearest(X: Tensor, k: number): { idx: Int32Array; dist: Float64Array; M: number } {
    const { X: train } = this.fitted();
    const Q = asMatrix(X, 'KNearestNeighbors', train.dtype);
    if (Q.shape[1] !== train.shape[1]) {
      throw new ShapeError(`KNearestNeighbors: queries have ${Q.shape[1]} features, the training samples ${train.shape[1]}`);
    }
    const N = train.shape[0]!;
    if (k > N) throw new StrideError(`KNearestNeighbors: k = ${k} exceeds the ${N} training samples`);
    const M = Q.shape[0]!;
    const idx = new Int32Array(M * k);
    const dist = new Float64Array(M * k);
    for (let start = 0; start < M; start += this.batch_size) {
      const rows = Math.min(this.batch_size, M - start);
      // Each batch's copy of its queries is freed as the batch ends.
      const d = tidy(() => this.block(contiguous(narrow(Q, 0, start, rows)), train));
      for (let r = 0; r < rows; r++) smallestK(d, r * N, N, k, idx, dist, (start + r) * k);
    }
    return { idx, dist, M };
  }

  /** The k nearest training samples of each query (scikit-learn's kneighbors): true distances and indices. */
  kneighbors(X: Tensor, k = this.k): Neighbors {
    positiveInt(k, 'KNearestNeighbors.kneighbors: k');
    const { idx, dist, M } = this.nearest(X, k);
    const d = this.metric === 'l2' ? dist.map(Math.sqrt) : dist;
    return { distances: fromFlat(d, [M, k], { dtype: this.X!.dtype }), indices: fromFlat(idx, [M, k], { dtype: 'int32' }) };
  }

  /** Predicted labels [M] (int32) by majority vote of the k nearest neighbours. */
  predict(X: Tensor, k = this.k): Tensor {
    return this.predict_many(X, [k]).get(k)!;
  }

  /**
   * Predictions for several k from one neighbour search (what cross-validating k needs): a map
   * from each k to its labels [M].
   */
  predict_many(X: Tensor, ks: readonly number[]): Map<number, Tensor> {
    for (const k of ks) positiveInt(k, 'KNearestNeighbors.predict: k');
    const kmax = Math.max(...ks);
    const { idx, M } = this.nearest(X, kmax);
    const { y } = this.fitted();
    const out = new Map<number, Tensor>();
    for (const k of ks) {
      const labels = new Int32Array(M);
      const counts = new Int32Array(this.num_classes);
      for (let m = 0; m < M; m++) {
        counts.fill(0);
        for (let j = 0; j < k; j++) counts[y[idx[m * kmax + j]!]!]!++;
        let best = 0;
        for (let c = 1; c < counts.length; c++) if (counts[c]! > counts[best]!) best = c;
        labels[m] = best;
      }
      out.set(k, labelTensor(labels));
    }
    return out;
  }

  /** Accuracy of predict(X, k) against y. */
  score(X: Tensor, y: Tensor | readonly number[], k = this.k): number {
    return this.score_many(X, y, [k]).get(k)!;
  }

  /** Accuracies for several k from one neighbour search. */
  score_many(X: Tensor, y: Tensor | readonly number[], ks: readonly number[]): Map<number, number> {
    const preds = this.predict_many(X, ks);
    const truth = asLabels(y, preds.get(ks[0]!)!.shape[0]!, 'KNearestNeighbors.score');
    return new Map([...preds].map(([k, p]) => [k, accuracy(p.dataSync(), truth)]));
  }
}

function keepBase(b: DistanceBase): DistanceBase {
  keep(b.bt);
  keep(b.norms);
  return b;
}

function accuracy(pred: ArrayLike<number>, truth: ArrayLike<number>): number {
  let hits = 0;
  for (let i = 0; i < truth.length; i++) if (pred[i] === truth[i]) hits++;
  return truth.length ? hits / truth.length : 0;
}

/**
 * Writes the k smallest of d[off .. off+n) (ascending, equal values in index order) into idx and
 * dist at `at`: an insertion into a sorted list of k, which a candidate enters only if strictly
 * smaller than the current k-th.
 */
function smallestK(d: ArrayLike<number>, off: number, n: number, k: number, idx: Int32Array, dist: Float64Array, at: number): void {
  let filled = 0;
  for (let i = 0; i < n; i++) {
    const v = d[off + i]!;
    if (filled === k && !(v < dist[at + k - 1]!)) continue;
    let p = filled < k ? filled++ : k - 1;
    while (p > 0 && dist[at + p - 1]! > v) {
      dist[at + p] = dist[at + p - 1]!;
      idx[at + p] = idx[at + p - 1]!;
      p--;
    }
    dist[at + p] = v;
    idx[at + p] = i;
  }
}

/** Distances [M, N] between two sets of rows: L2 through one matrix product, or L1. */
export function pairwise_distances(A: Tensor, B: Tensor, metric: Metric = 'l2'): Tensor {
  const a = asMatrix(A, 'pairwise_distances');
  const b = asMatrix(B, 'pairwise_distances', a.dtype);
  if (a.shape[1] !== b.shape[1]) throw new ShapeError(`pairwise_distances: ${a.shape[1]} and ${b.shape[1]} features differ`);
  if (metric === 'l1') return no_grad(() => sum(abs(sub(unsqueeze(a, 1), unsqueeze(b, 0))), 2));
  return no_grad(() => sqrt(squaredDistances(a, distanceBase(b))));
}
