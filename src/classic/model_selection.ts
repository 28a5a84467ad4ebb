import { index_select } from '../ops/indexing.js';
import { fromFlat } from '../tensor/creation.js';
import { StrideError } from '../tensor/errors.js';
import { tidy } from '../tensor/memory.js';
import { default_generator, type Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { asLabels, asMatrix, labelTensor, positiveInt } from './common.js';
import { KNearestNeighbors, type Metric } from './knn.js';

export interface Fold {
  train: number[];
  test: number[];
}

export interface KFoldOptions {
  /** Shuffle the samples before cutting them into folds (default false, as scikit-learn's KFold). */
  shuffle?: boolean;
  generator?: Generator;
}

/**
 * k-fold cross-validation splits of n samples (scikit-learn's KFold): n_splits consecutive test
 * folds, the first n % n_splits of them one sample larger; each fold's training set is the rest.
 */
export function k_fold(n: number, n_splits = 5, opts: KFoldOptions = {}): Fold[] {
  positiveInt(n_splits, 'k_fold: n_splits');
  if (n_splits < 2) throw new StrideError(`k_fold: n_splits must be at least 2, got ${n_splits}`);
  if (!Number.isInteger(n) || n < n_splits) throw new StrideError(`k_fold: cannot make ${n_splits} folds of ${n} samples`);
  const order = [...Array(n).keys()];
  if (opts.shuffle) {
    const r = (opts.generator ?? default_generator).uniform(n, 53);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(r[i]! * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
  }
  const folds: Fold[] = [];
  let start = 0;
  for (let f = 0; f < n_splits; f++) {
    const size = Math.floor(n / n_splits) + (f < n % n_splits ? 1 : 0);
    const test = order.slice(start, start + size);
    folds.push({ test, train: [...order.slice(0, start), ...order.slice(start + size)] });
    start += size;
  }
  return folds;
}

/** Rows of X and entries of y at `indices`. */
function take(X: Tensor, y: Int32Array, indices: readonly number[]): { X: Tensor; y: Tensor } {
  const idx = fromFlat(indices, [indices.length], { dtype: 'int32', backend: X.device });
  return { X: index_select(X, 0, idx), y: labelTensor(indices.map((i) => y[i]!)) };
}

/** Anything with fit and score (the classic estimators). */
export interface Estimator {
  fit(X: Tensor, y: Tensor): unknown;
  score(X: Tensor, y: Tensor): number;
  /** Frees the fitted state, called when the fold is done (state kept past tidy needs it). */
  dispose?(): void;
}

/** The score of a fresh estimator on each fold, trained on the rest (scikit-learn's cross_val_score). */
export function cross_val_score(make: () => Estimator, X: Tensor, y: Tensor | readonly number[], folds: number | readonly Fold[] = 5): number[] {
  // Each fold's copies and fitted model are freed with it, not left to a GC.
  return tidy(() => {
    const m = asMatrix(X, 'cross_val_score');
    const labels = asLabels(y, m.shape[0]!, 'cross_val_score');
    const splits = typeof folds === 'number' ? k_fold(m.shape[0]!, folds) : folds;
    return splits.map(({ train, test }) => tidy(() => {
      const tr = take(m, labels, train);
      const te = take(m, labels, test);
      const est = make();
      est.fit(tr.X, tr.y);
      const score = est.score(te.X, te.y);
      est.dispose?.();
      return score;
    }));
  });
}

export interface KnnCrossValidation {
  ks: number[];
  /** Accuracy of each k (row) on each fold (column). */
  scores: number[][];
  mean: number[];
  std: number[];
  /** The k of the highest mean accuracy (the smallest such k on a tie). */
  best_k: number;
}

export interface KnnCrossValidationOptions extends KFoldOptions {
  n_splits?: number;
  metric?: Metric;
  batch_size?: number;
}

/**
 * Chooses k for kNN by k-fold cross-validation, as the course does: for each fold, every k in
 * `ks` is scored from one neighbour search. The result holds what the course plots: each fold's
 * accuracy per k, and their mean and standard deviation.
 */
export function cross_validate_knn(X: Tensor, y: Tensor | readonly number[], ks: readonly number[], opts: KnnCrossValidationOptions = {}): KnnCrossValidation {
  const { n_splits = 5, metric = 'l2', batch_size = 256 } = opts;
  if (ks.length === 0) throw new StrideError('cross_validate_knn: expected at least one k');
  const scores = ks.map(() => [] as number[]);
  // Each fold's copies are freed with it, not left to a GC.
  tidy(() => {
    const m = asMatrix(X, 'cross_validate_knn');
    const labels = asLabels(y, m.shape[0]!, 'cross_validate_knn');
    for (const { train, test } of k_fold(m.shape[0]!, n_splits, opts)) {
      tidy(() => {
        const tr = take(m, labels, train);
        const te = take(m, labels, test);
        const knn = new KNearestNeighbors({ metric, batch_size }).fit(tr.X, tr.y);
        const byK = knn.score_many(te.X, te.y, ks);
        knn.dispose();
        ks.forEach((k, i) => scores[i]!.push(byK.get(k)!));
      });
    }
  });
  const mean = scores.map((s) => s.reduce((a, b) => a + b, 0) / s.length);
  const std = scores.map((s, i) => Math.sqrt(s.reduce((a, b) => a + (b - mean[i]!) ** 2, 0) / s.length));
  let best = 0;
  mean.forEach((v, i) => {
    if (v > mean[best]! || (v === mean[best]! && ks[i]! < ks[best]!)) best = i;
  });
  return { ks: [...ks], scores, mean, std, best_k: ks[best]! };
}

/**
 * The course's cross-validation plot as a Vega-Lite spec: each fold's accuracy per k as points,
 * the mean as a line and ± one standard deviation as error bars.
 */
export function cross_validation_plot(cv: KnnCrossValidation): Record<string, unknown> {
  const points = cv.ks.flatMap((k, i) => cv.scores[i]!.map((accuracy, fold) => ({ k, accuracy, fold })));
  const summary = cv.ks.map((k, i) => ({ k, mean: cv.mean[i]!, lo: cv.mean[i]! - cv.std[i]!, hi: cv.mean[i]! + cv.std[i]! }));
  const x = { field: 'k', type: 'quantitative', title: 'k' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `${cv.scores[0]?.length ?? 0}-fold cross-validation of k (best k = ${cv.best_k})`,
    width: 400,
    height: 260,
    layer: [
      { data: { values: points }, mark: { type: 'point', filled: true, opacity: 0.6 }, encoding: { x, y: { field: 'accuracy', type: 'quantitative', scale: { zero: false }, title: 'cross-validation accuracy' } } },
      { data: { values: summary }, mark: 'line', encoding: { x, y: { field: 'mean', type: 'quantitative' } } },
      { data: { values: summary }, mark: 'errorbar', encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
    ],
  };
}
