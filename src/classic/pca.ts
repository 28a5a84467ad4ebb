import { no_grad } from '../autograd/grad_mode.js';
import { matmul } from '../ops/linalg.js';
import { mean } from '../ops/reduce.js';
import { t } from '../ops/shape.js';
import { fromFlat } from '../tensor/creation.js';
import { isFloatingPoint, type DType } from '../tensor/dtype.js';
import { ShapeError, StrideError } from '../tensor/errors.js';
import { keep, tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { asMatrix } from './common.js';
import { eigh } from './eigh.js';

/** The dtype results come back in: the input's if floating, else float32. */
function outDtype(X: Tensor): DType {
  return isFloatingPoint(X.dtype) ? X.dtype : 'float32';
}

/** Centered samples (float64) and their scatter matrix XᶜᵀXᶜ [D, D], the product on the backend. */
function scatter(X: Tensor, what: string): { m: Tensor; centered: Tensor; mean: Tensor; S: Float64Array; N: number; D: number } {
  const m = asMatrix(X, what, 'float64');
  const [N, D] = m.shape as [number, number];
  if (N < 2) throw new StrideError(`${what}: needs at least 2 samples, got ${N}`);
  return no_grad(() => {
    const mu = mean(m, 0);
    const centered = m.sub(mu);
    return { m, centered, mean: mu, S: matmul(t(centered), centered).dataSync() as Float64Array, N, D };
  });
}

export interface PCAOptions {
  /**
   * Components kept: a count, a fraction in (0, 1) of the variance to explain (the fewest
   * components that exceed it), or null for all (min(N, D)). Default null.
   */
  n_components?: number | null;
  /** Scale the projections to unit variance (PCA whitening). */
  whiten?: boolean;
}

/**
 * Principal component analysis with scikit-learn's PCA semantics (the exact 'full' solver):
 * components are the leading eigenvectors of the sample covariance, signed as scikit-learn's
 * svd_flip does (the sample with the largest |projection| on a component projects positively),
 * explained variances with the n − 1 denominator, and whitening that divides each projection by
 * the square root of its variance. Computed in float64.
 */
export class PCA {
  readonly n_components: number | null;
  readonly whiten: boolean;
  /** [k, D] float64: the principal axes, rows in order of decreasing variance. */
  components_: Tensor | null = null;
  /** [k]: variance along each component. */
  explained_variance_: Tensor | null = null;
  /** [k]: the fraction of the total variance along each component. */
  explained_variance_ratio_: Tensor | null = null;
  /** [k]: singular values of the centered data. */
  singular_values_: Tensor | null = null;
  /** [D]: the per-feature mean subtracted before projecting. */
  mean_: Tensor | null = null;
  /** The mean variance of the discarded components (probabilistic PCA's noise). */
  noise_variance_ = 0;
  n_components_ = 0;

  constructor(opts: PCAOptions = {}) {
    const { n_components = null, whiten = false } = opts;
    if (n_components !== null && !(n_components > 0 && (n_components < 1 || Number.isInteger(n_components)))) {
      throw new StrideError(`PCA: n_components must be a positive integer, a fraction in (0, 1), or null; got ${n_components}`);
    }
    this.n_components = n_components;
    this.whiten = whiten;
  }

  fit(X: Tensor): this {
    const { centered, mean: mu, S, N, D } = scatter(X, 'PCA.fit');
    const rank = Math.min(N, D);
    const { values, vectors } = eigh(S, D);
    const sv = Float64Array.from(values.subarray(0, rank), (v) => Math.sqrt(Math.max(v, 0)));
    const variance = sv.map((s) => (s * s) / (N - 1));
    const total = variance.reduce((a, b) => a + b, 0);
    const ratio = variance.map((v) => v / total);
    let k = this.n_components ?? rank;
    if (k < 1) {
      let cum = 0;
      let i = 0;
      while (i < rank - 1 && (cum += ratio[i]!) <= k) i++;
      k = i + 1;
    }
    if (k > rank) throw new StrideError(`PCA: n_components=${k} must be at most min(n_samples, n_features)=${rank}`);
    const comps = vectors.slice(0, k * D);
    // svd_flip: the largest |u| entry of each component (u = projections / s) made positive.
    const proj = tidy(() => matmul(centered, t(fromFlat(comps, [k, D], { dtype: 'float64' }))).dataSync());
    for (let j = 0; j < k; j++) {
      let arg = 0;
      for (let i = 1; i < N; i++) if (Math.abs(proj[i * k + j]!) > Math.abs(proj[arg * k + j]!)) arg = i;
      if (proj[arg * k + j]! < 0) for (let d = 0; d < D; d++) comps[j * D + d] = -comps[j * D + d]!;
    }
    this.n_components_ = k;
    // Fitted state outlives the caller's tidy scopes, as a module's parameters do.
    this.components_ = keep(fromFlat(comps, [k, D], { dtype: 'float64' }));
    this.explained_variance_ = keep(fromFlat(variance.subarray(0, k), [k], { dtype: 'float64' }));
    this.explained_variance_ratio_ = keep(fromFlat(ratio.subarray(0, k), [k], { dtype: 'float64' }));
    this.singular_values_ = keep(fromFlat(sv.subarray(0, k), [k], { dtype: 'float64' }));
    this.mean_ = keep(mu);
    this.noise_variance_ = k < rank ? variance.subarray(k).reduce((a, b) => a + b, 0) / (rank - k) : 0;
    return this;
  }

  private fitted(): { C: Tensor; mu: Tensor; ev: Tensor } {
    if (!this.components_ || !this.mean_ || !this.explained_variance_) throw new StrideError('PCA: call fit(X) first');
    return { C: this.components_, mu: this.mean_, ev: this.explained_variance_ };
  }

  /** Projections [N, k] of samples onto the components (whitened if asked). */
  transform(X: Tensor): Tensor {
    const { C, mu, ev } = this.fitted();
    const m = asMatrix(X, 'PCA.transform', 'float64');
    if (m.shape[1] !== C.shape[1]) throw new ShapeError(`PCA.transform: samples have ${m.shape[1]} features, the components ${C.shape[1]}`);
    return tidy(() => no_grad(() => {
      const z = matmul(m.sub(mu), t(C));
      return (this.whiten ? z.div(ev.sqrt()) : z).to(outDtype(X));
    }));
  }

  fit_transform(X: Tensor): Tensor {
    return this.fit(X).transform(X);
  }

  /** Samples [N, D] back from projections [N, k] (the reconstruction from k components). */
  inverse_transform(Z: Tensor): Tensor {
    const { C, mu, ev } = this.fitted();
    const z = asMatrix(Z, 'PCA.inverse_transform', 'float64');
    if (z.shape[1] !== C.shape[0]) throw new ShapeError(`PCA.inverse_transform: got ${z.shape[1]} components, expected ${C.shape[0]}`);
    return tidy(() => no_grad(() => matmul(this.whiten ? z.mul(ev.sqrt()) : z, C).add(mu).to(outDtype(Z))));
  }
}

export interface ZCAOptions {
  /** Added to each variance before its inverse square root (regularises near-zero directions). */
  eps?: number;
}

/**
 * ZCA whitening: x ↦ (x − μ) V diag(1/√(λ + eps)) Vᵀ with the eigenvectors V and variances λ of
 * the sample covariance. Like PCA whitening it decorrelates the features and gives them unit
 * variance, but rotates back so that the result stays closest to the input (whitened images
 * still look like images).
 */
export class ZCAWhitening {
  readonly eps: number;
  mean_: Tensor | null = null;
  /** [D, D]: the whitening matrix (symmetric). */
  whitening_: Tensor | null = null;
  /** [D, D]: its inverse, for inverse_transform. */
  coloring_: Tensor | null = null;

  constructor(opts: ZCAOptions = {}) {
    const { eps = 1e-5 } = opts;
    if (!(eps >= 0)) throw new StrideError(`ZCAWhitening: eps must be non-negative, got ${eps}`);
    this.eps = eps;
  }

  fit(X: Tensor): this {
    const { mean: mu, S, N, D } = scatter(X, 'ZCAWhitening.fit');
    const { values, vectors } = eigh(S, D);
    const build = (f: (variance: number) => number) => {
      const W = new Float64Array(D * D);
      for (let e = 0; e < D; e++) {
        const g = f(Math.max(values[e]!, 0) / (N - 1) + this.eps);
        if (!Number.isFinite(g)) throw new StrideError(`ZCAWhitening: a direction has zero variance; use eps > 0`);
        for (let i = 0; i < D; i++) {
          const vi = vectors[e * D + i]! * g;
          for (let j = 0; j < D; j++) W[i * D + j]! += vi * vectors[e * D + j]!;
        }
      }
      return keep(fromFlat(W, [D, D], { dtype: 'float64' }));
    };
    this.mean_ = keep(mu);
    this.whitening_ = build((v) => 1 / Math.sqrt(v));
    this.coloring_ = build((v) => Math.sqrt(v));
    return this;
  }

  private fitted(): { mu: Tensor; W: Tensor; Winv: Tensor } {
    if (!this.mean_ || !this.whitening_ || !this.coloring_) throw new StrideError('ZCAWhitening: call fit(X) first');
    return { mu: this.mean_, W: this.whitening_, Winv: this.coloring_ };
  }

  transform(X: Tensor): Tensor {
    const { mu, W } = this.fitted();
    const m = asMatrix(X, 'ZCAWhitening.transform', 'float64');
    if (m.shape[1] !== W.shape[0]) throw new ShapeError(`ZCAWhitening.transform: samples have ${m.shape[1]} features, expected ${W.shape[0]}`);
    return tidy(() => no_grad(() => matmul(m.sub(mu), W).to(outDtype(X))));
  }

  fit_transform(X: Tensor): Tensor {
    return this.fit(X).transform(X);
  }

  inverse_transform(Z: Tensor): Tensor {
    const { mu, Winv } = this.fitted();
    const z = asMatrix(Z, 'ZCAWhitening.inverse_transform', 'float64');
    return tidy(() => no_grad(() => matmul(z, Winv).add(mu).to(outDtype(Z))));
  }
}
