import { fromFlat } from '../tensor/creation.js';
import { ShapeError, StrideError } from '../tensor/errors.js';
import { keep, tidy } from '../tensor/memory.js';
import { default_generator, type Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { asMatrix, distanceBase, labelTensor, positiveInt, squaredDistances } from './common.js';

export interface KMeansOptions {
  n_clusters?: number;
  /** 'k-means++' (default), 'random' (k distinct samples), or initial centers [k, D]. */
  init?: 'k-means++' | 'random' | Tensor;
  /** Runs from different initialisations; the one of least inertia is kept (default 10; 1 with given centers). */
  n_init?: number;
  max_iter?: number;
  /** Convergence when the centers move (squared, summed) by at most tol times the mean feature variance. */
  tol?: number;
  generator?: Generator;
}

interface Run {
  centers: Float64Array;
  labels: Int32Array;
  inertia: number;
  n_iter: number;
}

/**
 * k-means clustering by Lloyd's algorithm, as scikit-learn's KMeans: greedy k-means++ seeding
 * (2 + ⌊ln k⌋ candidates per center, the one that lowers the potential most), n_init restarts,
 * stopping when the labels no longer change or the centers move by less than the tolerance.
 * Distances to the centers are one matrix product per iteration; the rest runs in float64.
 */
export class KMeans {
  readonly n_clusters: number;
  readonly init: 'k-means++' | 'random' | Tensor;
  readonly n_init: number;
  readonly max_iter: number;
  readonly tol: number;
  readonly generator: Generator;
  /** [k, D] float64, after fit. */
  cluster_centers_: Tensor | null = null;
  /** [N] int32: the cluster of each training sample. */
  labels_: Tensor | null = null;
  /** Sum of squared distances of the samples to their centers. */
  inertia_ = NaN;
  n_iter_ = 0;

  constructor(opts: KMeansOptions = {}) {
    const { n_clusters = 8, init = 'k-means++', max_iter = 300, tol = 1e-4 } = opts;
    this.n_clusters = positiveInt(n_clusters, 'KMeans: n_clusters');
    if (typeof init === 'string' && init !== 'k-means++' && init !== 'random') throw new StrideError(`KMeans: init must be 'k-means++', 'random' or a tensor of centers, got '${init}'`);
    this.init = init;
    this.n_init = positiveInt(opts.n_init ?? (typeof init === 'string' ? 10 : 1), 'KMeans: n_init');
    this.max_iter = positiveInt(max_iter, 'KMeans: max_iter');
    if (!(tol >= 0)) throw new StrideError(`KMeans: tol must be non-negative, got ${tol}`);
    this.tol = tol;
    this.generator = opts.generator ?? default_generator;
  }

  fit(X: Tensor): this {
    const m = asMatrix(X, 'KMeans.fit', 'float64');
    const [N, D] = m.shape as [number, number];
    const k = this.n_clusters;
    if (N < k) throw new StrideError(`KMeans: n_samples=${N} should be >= n_clusters=${k}`);
    const x = m.contiguous().dataSync() as Float64Array;
    const tol = this.tol * meanVariance(x, N, D);
    let best: Run | null = null;
    for (let r = 0; r < this.n_init; r++) {
      const run = this.lloyd(m, x, N, D, this.seed(x, N, D), tol);
      if (!best || run.inertia < best.inertia) best = run;
    }
    // Fitted state outlives the caller's tidy scopes.
    this.cluster_centers_ = keep(fromFlat(best!.centers, [k, D], { dtype: 'float64' }));
    this.labels_ = keep(labelTensor(best!.labels));
    this.inertia_ = best!.inertia;
    this.n_iter_ = best!.n_iter;
    return this;
  }

  /** Initial centers [k * D]. */
  private seed(x: Float64Array, N: number, D: number): Float64Array {
    const k = this.n_clusters;
    if (typeof this.init !== 'string') {
      const c = asMatrix(this.init, 'KMeans init', 'float64');
      if (c.shape[0] !== k || c.shape[1] !== D) throw new ShapeError(`KMeans: init centers must have shape [${k}, ${D}], got [${c.shape.join(', ')}]`);
      return Float64Array.from(c.contiguous().dataSync());
    }
    const centers = new Float64Array(k * D);
    const copy = (c: number, i: number) => centers.set(x.subarray(i * D, (i + 1) * D), c * D);
    if (this.init === 'random') {
      // k distinct samples: a partial Fisher-Yates shuffle.
      const order = [...Array(N).keys()];
      const u = this.generator.uniform(k, 53);
      for (let c = 0; c < k; c++) {
        const j = c + Math.floor(u[c]! * (N - c));
        [order[c], order[j]] = [order[j]!, order[c]!];
        copy(c, order[c]!);
      }
      return centers;
    }
    const dist2 = (i: number, j: number) => {
      let s = 0;
      for (let d = 0; d < D; d++) s += (x[i * D + d]! - x[j * D + d]!) ** 2;
      return s;
    };
    const first = Math.floor(this.generator.uniform(1, 53)[0]! * N);
    copy(0, first);
    let closest = Float64Array.from({ length: N }, (_, i) => dist2(i, first));
    let potential = closest.reduce((a, b) => a + b, 0);
    const trials = 2 + Math.floor(Math.log(k));
    for (let c = 1; c < k; c++) {
      const cumulative = new Float64Array(N);
      let acc = 0;
      for (let i = 0; i < N; i++) cumulative[i] = acc += closest[i]!;
      const u = this.generator.uniform(trials, 53);
      let bestPot = Infinity;
      let bestId = 0;
      let bestDist = closest;
      for (let t = 0; t < trials; t++) {
        const id = Math.min(searchSorted(cumulative, u[t]! * potential), N - 1);
        const d = new Float64Array(N);
        let pot = 0;
        for (let i = 0; i < N; i++) pot += d[i] = Math.min(closest[i]!, dist2(i, id));
        if (pot < bestPot) {
          bestPot = pot;
          bestId = id;
          bestDist = d;
        }
      }
      copy(c, bestId);
      closest = bestDist;
      potential = bestPot;
    }
    return centers;
  }

  /** One run of Lloyd's algorithm from `centers`. */
  private lloyd(m: Tensor, x: Float64Array, N: number, D: number, init: Float64Array, tol: number): Run {
    const k = this.n_clusters;
    let centers = init;
    let labels: Int32Array = new Int32Array(N);
    const nearestDist = new Float64Array(N);
    let previous: Int32Array | null = null;
    let strict = false;
    let iter = 0;
    for (; iter < this.max_iter; iter++) {
      labels = this.assign(m, centers, nearestDist);
      const updated = updateCenters(x, N, D, k, labels, centers, nearestDist);
      let shift = 0;
      for (let i = 0; i < k * D; i++) shift += (updated[i]! - centers[i]!) ** 2;
      centers = updated;
      if (previous && previous.every((v, i) => v === labels[i])) {
        strict = true;
        break;
      }
      if (shift <= tol) break;
      previous = labels;
    }
    // The labels must belong to the final centers unless they were already stable.
    if (!strict) labels = this.assign(m, centers, nearestDist);
    let inertia = 0;
    for (let i = 0; i < N; i++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += (x[i * D + d]! - centers[labels[i]! * D + d]!) ** 2;
      inertia += s;
    }
    return { centers, labels, inertia, n_iter: Math.min(iter + 1, this.max_iter) };
  }

  /** The nearest center of every sample (the first on a tie), and the squared distance to it in `dist`. */
  private assign(m: Tensor, centers: Float64Array, dist: Float64Array): Int32Array {
    const k = this.n_clusters;
    const D = m.shape[1]!;
    const d = tidy(() => squaredDistances(m, distanceBase(fromFlat(centers, [k, D], { dtype: 'float64', backend: m.device }))).dataSync());
    const N = m.shape[0]!;
    const labels = new Int32Array(N);
    for (let i = 0; i < N; i++) {
      let best = 0;
      for (let c = 1; c < k; c++) if (d[i * k + c]! < d[i * k + best]!) best = c;
      labels[i] = best;
      dist[i] = d[i * k + best]!;
    }
    return labels;
  }

  private fitted(): Tensor {
    if (!this.cluster_centers_) throw new StrideError('KMeans: call fit(X) first');
    return this.cluster_centers_;
  }

  /** Distances [N, k] of samples to the centers (scikit-learn's transform). */
  transform(X: Tensor): Tensor {
    const c = this.fitted();
    const m = asMatrix(X, 'KMeans.transform', 'float64');
    if (m.shape[1] !== c.shape[1]) throw new ShapeError(`KMeans: samples have ${m.shape[1]} features, the centers ${c.shape[1]}`);
    return tidy(() => squaredDistances(m, distanceBase(c)).sqrt());
  }

  /** The nearest center of each sample [N] (int32). */
  predict(X: Tensor): Tensor {
    const d = this.transform(X);
    const k = this.n_clusters;
    const v = d.dataSync();
    const labels = new Int32Array(d.shape[0]!);
    for (let i = 0; i < labels.length; i++) {
      let best = 0;
      for (let c = 1; c < k; c++) if (v[i * k + c]! < v[i * k + best]!) best = c;
      labels[i] = best;
    }
    return labelTensor(labels);
  }

  fit_predict(X: Tensor): Tensor {
    return this.fit(X).labels_!;
  }
}

/** The first index whose cumulative value reaches v (numpy's searchsorted, side 'left'). */
function searchSorted(cumulative: Float64Array, v: number): number {
  let lo = 0;
  let hi = cumulative.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Mean over features of the per-feature variance (scikit-learn scales tol by it). */
function meanVariance(x: Float64Array, N: number, D: number): number {
  let total = 0;
  for (let d = 0; d < D; d++) {
    let mean = 0;
    for (let i = 0; i < N; i++) mean += x[i * D + d]!;
    mean /= N;
    let v = 0;
    for (let i = 0; i < N; i++) v += (x[i * D + d]! - mean) ** 2;
    total += v / N;
  }
  return total / D;
}

/**
 * The mean of each cluster's samples. A cluster left empty takes the sample farthest from its
 * own center (the next farthest for the next empty one), which leaves that sample's cluster, as
 * scikit-learn relocates empty clusters.
 */
function updateCenters(x: Float64Array, N: number, D: number, k: number, labels: Int32Array, old: Float64Array, dist: Float64Array): Float64Array {
  const sums = new Float64Array(k * D);
  const counts = new Float64Array(k);
  for (let i = 0; i < N; i++) {
    const c = labels[i]!;
    counts[c]!++;
    for (let d = 0; d < D; d++) sums[c * D + d]! += x[i * D + d]!;
  }
  const empty = [...counts.keys()].filter((c) => counts[c] === 0);
  if (empty.length) {
    const far = [...Array(N).keys()].sort((a, b) => dist[b]! - dist[a]! || a - b).slice(0, empty.length);
    empty.forEach((c, e) => {
      const i = far[e]!;
      const from = labels[i]!;
      for (let d = 0; d < D; d++) {
        sums[from * D + d]! -= x[i * D + d]!;
        sums[c * D + d] = x[i * D + d]!;
      }
      counts[from]!--;
      counts[c] = 1;
    });
  }
  const centers = new Float64Array(k * D);
  for (let c = 0; c < k; c++) {
    // A cluster emptied by giving its only sample away keeps its old center.
    for (let d = 0; d < D; d++) centers[c * D + d] = counts[c]! > 0 ? sums[c * D + d]! / counts[c]! : old[c * D + d]!;
  }
  return centers;
}
