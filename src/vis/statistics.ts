/**
 * What flows through a network: per-layer statistics and histograms of the activations and of the
 * loss's gradients with respect to them, and the course's initialisation experiment (a deep MLP
 * whose activations collapse with too small weights, saturate with too big ones, and keep their
 * scale with Xavier/He), with a vega-lite figure of it. Pure: Node and browsers.
 */
import type { TopLevelSpec } from 'vega-lite';
import { grad } from '../autograd/engine.js';
import { ReLU, Tanh } from '../nn/activation.js';
import { normal_ } from '../nn/init.js';
import { Linear } from '../nn/linear.js';
import { Sequential, type Module } from '../nn/module.js';
import { sum } from '../ops/reduce.js';
import { randn } from '../tensor/creation.js';
import { StrideError } from '../tensor/errors.js';
import { tidy } from '../tensor/memory.js';
import { default_generator, type Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { scoresOf } from './attribution.js';

export interface Histogram {
  /** bins + 1 increasing bin edges; the last bin includes its right edge. */
  edges: number[];
  counts: number[];
}

export interface Summary {
  mean: number;
  std: number;
  /** Mean of |v|: the typical size of a gradient. */
  abs_mean: number;
  min: number;
  max: number;
  /** Fraction of values exactly 0 (dead ReLUs). */
  zeros: number;
  histogram: Histogram;
}

/** Counts of values in `bins` equal-width bins over `range` (default: the values' min to max); values outside are not counted. */
export function histogram(values: ArrayLike<number>, bins = 30, range?: readonly [number, number]): Histogram {
  if (!(Number.isInteger(bins) && bins >= 1)) throw new StrideError(`histogram: bins must be a positive integer, got ${bins}`);
  let [lo, hi] = range ?? [Infinity, -Infinity];
  if (!range) for (let i = 0; i < values.length; i++) (lo = Math.min(lo, values[i]!)), (hi = Math.max(hi, values[i]!));
  if (!(lo <= hi)) [lo, hi] = [0, 0];
  // Constant values: one unit-wide bin range around them, as numpy does.
  if (lo === hi) [lo, hi] = [lo - 0.5, hi + 0.5];
  const width = (hi - lo) / bins;
  const counts = Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < lo || v > hi) continue;
    counts[Math.min(bins - 1, Math.floor((v - lo) / width))]! += 1;
  }
  return { edges: Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + i * width)), counts };
}

/** Mean, standard deviation (population), mean |v|, extremes, fraction of zeros and histogram of a tensor's values. */
export function summarize(t: Tensor, bins = 30): Summary {
  const v = t.float().contiguous().dataSync();
  const n = v.length;
  if (n === 0) throw new StrideError('summarize: the tensor is empty');
  let [total, absTotal, zeros, min, max] = [0, 0, 0, Infinity, -Infinity];
  for (let i = 0; i < n; i++) {
    const x = v[i]!;
    total += x;
    absTotal += Math.abs(x);
    if (x === 0) zeros++;
    min = Math.min(min, x);
    max = Math.max(max, x);
  }
  const mean = total / n;
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (v[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(squares / n), abs_mean: absTotal / n, min, max, zeros: zeros / n, histogram: histogram(v, bins, [min, max]) };
}

export interface LayerStatistics {
  name: string;
  activation: Summary;
  /** Of d loss / d activation; null when the loss does not depend on the layer. */
  gradient: Summary | null;
}

export interface LayerStatisticsOptions {
  /** The loss whose gradients are taken, from the model's output (default: the sum of the output, so every output unit gets gradient 1). */
  loss?: (output: Tensor) => Tensor;
  bins?: number;
}

/**
 * Runs the model on x (the whole forward: the loss needs the output) and summarises the output of
 * each named module (its last call) and the loss's gradient with respect to it.
 */
export function layer_statistics(model: Module, x: Tensor, names: readonly string[], opts: LayerStatisticsOptions = {}): LayerStatistics[] {
  const { loss = (y: Tensor) => sum(y), bins = 30 } = opts;
  const modules = new Map(model.named_modules());
  const unknown = names.filter((n) => !modules.has(n) || n === '');
  if (unknown.length || names.length === 0) throw new StrideError(`layer_statistics: no module named ${unknown.join(', ') || '(none given)'}; the modules are ${[...modules.keys()].filter(Boolean).join(', ')}`);
  // The forward, the loss and the gradients are freed as the summaries (plain numbers) return.
  return tidy(() => statistics(model, modules, x, names, loss, bins));
}

function statistics(model: Module, modules: Map<string, Module>, x: Tensor, names: readonly string[], loss: (output: Tensor) => Tensor, bins: number): LayerStatistics[] {
  const outputs = new Map<string, Tensor>();
  const hooks = names.map((n) => modules.get(n)!.register_forward_hook((_m, _i, o) => void outputs.set(n, o as Tensor)));
  let value: Tensor;
  try {
    // The input requires grad so that every layer is recorded even in a model without parameters.
    value = loss(scoresOf(model, x.detach().requires_grad_()));
  } finally {
    for (const h of hooks) h.remove();
  }
  const missing = names.filter((n) => !outputs.has(n));
  if (missing.length) throw new StrideError(`layer_statistics: ${missing.join(', ')} did not run in the model's forward`);
  const acts = names.map((n) => outputs.get(n)!);
  const grads = grad(value, acts, { allow_unused: true });
  return names.map((name, i) => ({ name, activation: summarize(acts[i]!, bins), gradient: grads[i] ? summarize(grads[i]!, bins) : null }));
}

/** The weight scales of the experiment: N(0, 0.01²), N(0, 1), Xavier N(0, 1/fan_in), He N(0, 2/fan_in). */
export type InitScheme = 'small' | 'large' | 'xavier' | 'he';

export const INIT_SCHEMES: readonly InitScheme[] = ['small', 'large', 'xavier', 'he'];

export function init_std(scheme: InitScheme, fan_in: number): number {
  return { small: 0.01, large: 1, xavier: 1 / Math.sqrt(fan_in), he: Math.sqrt(2 / fan_in) }[scheme];
}

export interface InitExperimentOptions {
  activation?: 'tanh' | 'relu';
  inits?: readonly InitScheme[];
  /** Hidden layers (default 10). */
  depth?: number;
  /** Units per layer (default 500). */
  width?: number;
  /** Samples of N(0, 1) inputs (default 500). */
  batch?: number;
  bins?: number;
  generator?: Generator;
}

export interface InitRun {
  init: InitScheme;
  weight_std: number;
  /** One per hidden layer, after its activation function ('layer 1' ...). */
  layers: LayerStatistics[];
}

/**
 * The course's initialisation experiment: a `depth`-layer MLP of `width` units (no biases) with
 * tanh or ReLU, its weights drawn with each scheme, run on a batch of N(0, 1) inputs; the
 * statistics of every layer's activations and of the gradients of the output's sum.
 */
export function init_experiment(opts: InitExperimentOptions = {}): InitRun[] {
  const { activation = 'tanh', inits = INIT_SCHEMES, depth = 10, width = 500, batch = 500, bins = 30, generator = default_generator } = opts;
  if (![depth, width, batch].every((v) => Number.isInteger(v) && v >= 1)) throw new StrideError(`init_experiment: depth, width and batch must be positive integers, got ${depth}, ${width}, ${batch}`);
  // The input and each run's model are freed with it (the runs hold plain numbers).
  return tidy(() => {
    const x = randn([batch, width], { generator });
    return inits.map((init) => tidy(() => {
      const std = init_std(init, width);
      const layers: Module[] = [];
      for (let i = 0; i < depth; i++) {
        const linear = new Linear(width, width, false);
        normal_(linear.weight, 0, std, { generator });
        layers.push(linear, activation === 'tanh' ? new Tanh() : new ReLU());
      }
      const mlp = new Sequential(...layers);
      const names = Array.from({ length: depth }, (_, i) => String(2 * i + 1));
      const stats = layer_statistics(mlp, x, names, { bins });
      // Parameters outlive tidy scopes (as a model's should): this one's are freed here.
      for (const p of mlp.parameters()) p.dispose();
      return { init, weight_std: std, layers: stats.map((s, i) => ({ ...s, name: `layer ${i + 1}` })) };
    }));
  });
}

/**
 * The experiment as a figure: each layer's activation standard deviation and mean |gradient| (log
 * scales, one line per scheme), and the activations' histograms, one row per scheme.
 */
export function init_experiment_spec(runs: readonly InitRun[], title = 'Initialisation'): TopLevelSpec {
  const perLayer = runs.flatMap((r) => r.layers.map((l, i) => ({ init: r.init, layer: i + 1, std: l.activation.std, grad: l.gradient?.abs_mean ?? 0 })));
  const bars = runs.flatMap((r) => r.layers.flatMap((l, i) => l.activation.histogram.counts.map((count, b) => ({
    init: r.init, layer: i + 1, from: l.activation.histogram.edges[b]!, to: l.activation.histogram.edges[b + 1]!, count,
  }))));
  // A log scale cannot show 0: a collapsed layer whose values are all exactly 0 is left out.
  const line = (field: 'std' | 'grad', axis: string) => ({
    width: 260,
    height: 180,
    data: { values: perLayer.filter((p) => p[field] > 0) },
    mark: { type: 'line' as const, point: true },
    encoding: {
      x: { field: 'layer', type: 'quantitative' as const, axis: { tickMinStep: 1 } },
      y: { field, type: 'quantitative' as const, scale: { type: 'log' as const }, title: axis },
      color: { field: 'init', type: 'nominal' as const, sort: runs.map((r) => r.init) },
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    background: 'white',
    vconcat: [
      { hconcat: [line('std', 'activation std'), line('grad', 'mean |gradient|')] },
      {
        data: { values: bars },
        facet: {
          row: { field: 'init', type: 'nominal', sort: runs.map((r) => r.init), title: null },
          column: { field: 'layer', type: 'ordinal', title: 'activations per layer' },
        },
        spec: {
          width: 52,
          height: 40,
          mark: 'bar',
          encoding: {
            x: { field: 'from', type: 'quantitative', title: null, axis: { tickCount: 2, format: '.1~g', labelFontSize: 7 } },
            x2: { field: 'to' },
            y: { field: 'count', type: 'quantitative', title: null, axis: null },
            y2: { datum: 0 },
          },
        },
        resolve: { scale: { x: 'independent', y: 'independent' } },
      },
    ],
  };
}
