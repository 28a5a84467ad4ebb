import { DTypeError, GradcheckError } from '../tensor/errors.js';
import { Generator } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { grad } from './engine.js';
import { enable_grad, no_grad } from './grad_mode.js';

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Absolute tolerance (default 1e-5). */
  atol?: number;
  /** Relative tolerance (default 1e-3). */
  rtol?: number;
  /** Random projections of the outputs to check (default 2). */
  projections?: number;
  /** Seed for the projections (default 0). */
  seed?: number;
  /** Throw a GradcheckError on failure (default true); otherwise only report. */
  raise?: boolean;
}

export interface GradcheckMismatch {
  /** Position of the input in the inputs list. */
  input: number;
  /** Multi-dim index of the element within that input. */
  index: number[];
  analytic: number;
  numeric: number;
}

export interface GradcheckResult {
  ok: boolean;
  /** Largest |analytic - numeric| over all checked elements. */
  maxError: number;
  /** The element that exceeds its tolerance by the most (when ok: the one closest to its tolerance). */
  worst: GradcheckMismatch | null;
}

type Fn = (...inputs: Tensor[]) => Tensor | readonly Tensor[];

function outputsOf(r: Tensor | readonly Tensor[]): Tensor[] {
  return (r instanceof Tensor ? [r] : [...r]).filter((t) => t.is_floating_point());
}

function unravel(pos: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = pos % shape[d]!;
    pos = Math.floor(pos / shape[d]!);
  }
  return idx;
}

/**
 * Compares autograd's gradients with central finite differences, in float64. For speed it
 * checks vector-Jacobian products vᵀJ for a few random v (a wrong Jacobian agrees with a random
 * projection with probability zero) against (f(x+eps e_i) - f(x-eps e_i))·v / 2eps for every
 * element i of every input that requires grad.
 */
export function gradcheck(fn: Fn, inputs: readonly Tensor[], opts: GradcheckOptions = {}): GradcheckResult {
  const { eps = 1e-6, atol = 1e-5, rtol = 1e-3, projections = 2, seed = 0, raise = true } = opts;
  inputs.forEach((t, i) => {
    if (t.requires_grad && t.dtype !== 'float64') {
      throw new DTypeError(`gradcheck: input ${i} requires grad but is ${t.dtype}; use float64 inputs for finite differences`);
    }
  });
  const values = inputs.map((t) => Float64Array.from(t.dataSync()));
  const make = (i: number, data: Float64Array, requiresGrad: boolean): Tensor => {
    const t = Tensor.empty(inputs[i]!.shape, inputs[i]!.dtype, inputs[i]!.backend);
    t.backend.write(t.buffer, t.dtype, 0, data);
    return requiresGrad ? t.requires_grad_(true) : t;
  };
  const diff = inputs.map((t) => t.requires_grad);

  // Analytic vᵀJ for each projection.
  const leaves = inputs.map((_, i) => make(i, values[i]!, diff[i]!));
  const outs = enable_grad(() => outputsOf(fn(...leaves)));
  const gen = new Generator(seed);
  const vs = Array.from({ length: projections }, () => outs.map((o) => gen.normal(o.numel())));
  const wrt = leaves.filter((_, i) => diff[i]);
  const analytic = vs.map((v, p) =>
    grad(outs, wrt, {
      grad_outputs: outs.map((o, k) => {
        const g = Tensor.empty(o.shape, o.dtype, o.backend);
        g.backend.write(g.buffer, g.dtype, 0, v[k]!);
        return g;
      }),
      allow_unused: true,
      retain_graph: p < projections - 1,
    }).map((g) => (g ? g.dataSync() : null)),
  );

  // Numeric: one pair of evaluations per element serves every projection.
  const project = (ts: Tensor[]): number[] =>
    vs.map((v) =>
      ts.reduce((s, t, k) => {
        const d = t.dataSync();
        for (let j = 0; j < d.length; j++) s += d[j]! * v[k]![j]!;
        return s;
      }, 0),
    );
  let maxError = 0;
  let worst: GradcheckMismatch | null = null;
  let worstExcess = -Infinity;
  let w = 0;
  inputs.forEach((_, i) => {
    if (!diff[i]) return;
    const x = values[i]!;
    for (let j = 0; j < x.length; j++) {
      const orig = x[j]!;
      const evalAt = (v: number): number[] => {
        const data = Float64Array.from(x);
        data[j] = v;
        return no_grad(() => project(outputsOf(fn(...inputs.map((_, k) => (k === i ? make(k, data, false) : make(k, values[k]!, false)))))));
      };
      const plus = evalAt(orig + eps);
      const minus = evalAt(orig - eps);
      for (let p = 0; p < projections; p++) {
        const numeric = (plus[p]! - minus[p]!) / (2 * eps);
        const a = analytic[p]![w]?.[j] ?? 0;
        const err = Math.abs(a - numeric);
        const excess = err - (atol + rtol * Math.abs(numeric));
        maxError = Math.max(maxError, Number.isNaN(err) ? Infinity : err);
        if (excess > worstExcess || Number.isNaN(excess)) {
          worstExcess = Number.isNaN(excess) ? Infinity : excess;
          worst = { input: i, index: unravel(j, inputs[i]!.shape), analytic: a, numeric };
        }
      }
    }
    w++;
  });
  const ok = worstExcess <= 0;
  if (!ok && raise) {
    const m = worst!;
    throw new GradcheckError(
      `gradcheck: gradient of input ${m.input} at index [${m.index.join(', ')}] is ${m.analytic} by autograd but ${m.numeric} by finite differences (eps ${eps}, atol ${atol}, rtol ${rtol})`,
      { ok, maxError, worst },
    );
  }
  return { ok, maxError, worst };
}
