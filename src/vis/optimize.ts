/**
 * Images made by optimising the input of a fixed network: activation maximisation ("visualise a
 * neuron by optimising the image", with L2, blur and jitter), feature inversion (Mahendran &
 * Vedaldi 2015, with their total-variation regulariser R_TV^β), DeepDream (octaves and jitter) and
 * neural style transfer (Gatys et al. 2016: content loss on a deep layer, Gram-matrix style loss
 * on several, TV). Each returns the image and its objective at every step. Pure.
 */
import { grad } from '../autograd/engine.js';
import { no_grad } from '../autograd/grad_mode.js';
import type { Module } from '../nn/module.js';
import { abs, add, clamp, div, maximum, mul, pow, sqrt, square, sub } from '../ops/elementwise.js';
import { interpolate } from '../ops/interpolate.js';
import { cat } from '../ops/join.js';
import { matmul } from '../ops/linalg.js';
import { avg_pool2d } from '../ops/pool.js';
import { mean, sum } from '../ops/reduce.js';
import { narrow, reshape, transpose } from '../ops/shape.js';
import { Adam } from '../optim/adam.js';
import { ShapeError, StrideError } from '../tensor/errors.js';
import { tidy } from '../tensor/memory.js';
import { default_generator, type Generator } from '../tensor/random.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { capture } from './pictures.js';

export interface Optimized {
  image: Tensor;
  /** The objective after each step (what the method minimises; ascent methods report its negation). */
  losses: number[];
}

function image4d(op: string, x: Tensor): void {
  if (x.ndim !== 4) throw new ShapeError(`${op}: expected images [N, C, H, W], got ${formatShape(x.shape)}`);
}

/**
 * Total variation Σ ((x[i, j+1] − x[i, j])² + (x[i+1, j] − x[i, j])²)^(β/2) over pixels with both
 * neighbours, summed over channels and images (Mahendran & Vedaldi's R_TV^β; β = 1 is isotropic TV).
 */
export function total_variation(x: Tensor, beta = 2): Tensor {
  image4d('total_variation', x);
  const [h, w] = [x.shape[2]!, x.shape[3]!];
  const at = (dy: number, dx: number) => narrow(narrow(x, 2, dy, h - 1), 3, dx, w - 1);
  const base = at(0, 0);
  const d2 = add(square(sub(at(0, 1), base)), square(sub(at(1, 0), base)));
  return sum(beta === 2 ? d2 : pow(add(d2, 1e-8), beta / 2));
}

/** Gram matrices of features [N, C, H, W]: F Fᵀ / (C·H·W), [N, C, C]. */
export function gram(f: Tensor): Tensor {
  image4d('gram', f);
  const [n, c, h, w] = f.shape as [number, number, number, number];
  const flat = reshape(f, [n, c, h * w]);
  return div(matmul(flat, transpose(flat, 1, 2)), c * h * w);
}

/** Shifts images by (dy, dx) pixels with wrap-around (jitter that keeps every pixel). */
function roll(x: Tensor, dy: number, dx: number): Tensor {
  const shift = (t: Tensor, dim: number, k: number) => {
    const n = t.shape[dim]!;
    const s = ((k % n) + n) % n;
    return s === 0 ? t : cat([narrow(t, dim, n - s, s), narrow(t, dim, 0, n - s)], dim);
  };
  return shift(shift(x, 2, dy), 3, dx);
}

const randomShift = (g: Generator, max: number) => g.integers(1, -max, max + 1)[0]!;

/** Runs `steps` Adam steps on x (a leaf copy of x0) minimising loss(x), with `after` applied to x's data after each step. */
function descend(x0: Tensor, steps: number, lr: number, loss: (x: Tensor, step: number) => Tensor, after?: (x: Tensor, step: number) => Tensor): Optimized {
  if (!(steps >= 1) || !(lr > 0)) throw new StrideError(`image optimisation: steps and lr must be positive, got ${steps} and ${lr}`);
  const x = tidy(() => x0.detach().clone()).requires_grad_();
  const opt = new Adam([x], { lr });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    // Each step's graph is freed as the step ends: backends with memory outside the JS heap
    // (wasm, native) would otherwise wait for the garbage collector.
    losses.push(tidy(() => {
      opt.zero_grad();
      const l = loss(x, s);
      l.backward();
      opt.step();
      if (after) no_grad(() => x.copy_(after(x, s)));
      return l.item();
    }));
  }
  // The leaf, its gradient and Adam's moments are freed now, not when a GC finds them.
  const image = x.detach();
  opt.zero_grad();
  x.dispose();
  opt.dispose();
  return { image, losses };
}

export interface MaximizeOptions {
  /** Channel of the layer's output to excite (default: all of them). */
  channel?: number | null;
  steps?: number;
  lr?: number;
  /** Weight of the L2 penalty on the image (default 1e-3). */
  l2?: number;
  /** Blur with a 3x3 mean filter every this many steps (default 4; 0 for never). */
  blur_every?: number;
  /** Random shift of up to this many pixels before each step (default 1). */
  jitter?: number;
  range?: readonly [number, number] | null;
  generator?: Generator;
}

/**
 * Activation maximisation: the image (from x0) that maximises the mean activation of `layer`
 * (one channel, or all), by gradient ascent with L2, blur and jitter regularisation.
 */
export function maximize_activation(model: Module, layer: string, x0: Tensor, opts: MaximizeOptions = {}): Optimized {
  image4d('maximize_activation', x0);
  const { channel = null, steps = 100, lr = 0.05, l2 = 1e-3, blur_every = 4, jitter = 1, range = null, generator = default_generator } = opts;
  return descend(x0, steps, lr, (x) => {
    const shifted = jitter > 0 ? roll(x, randomShift(generator, jitter), randomShift(generator, jitter)) : x;
    const a = capture(model, shifted, [layer])[layer]!;
    const act = channel === null ? a : narrow(a, 1, channel, 1);
    return sub(mul(sum(mul(x, x)), l2), mean(act));
  }, (x, s) => {
    let y = blur_every > 0 && (s + 1) % blur_every === 0 ? avg_pool2d(x, 3, { stride: 1, padding: 1, count_include_pad: false }) : x;
    if (range) y = clamp(y, range[0], range[1]);
    return y;
  });
}

export interface InvertOptions {
  steps?: number;
  lr?: number;
  /** λ, the weight of R_TV^β (default 1e-3). */
  tv_weight?: number;
  /** β of R_TV^β (default 2). */
  beta?: number;
}

/**
 * Feature inversion: x* = argmin ‖Φ(x) − Φ0‖² / ‖Φ0‖² + λ R_TV^β(x), with Φ the output of
 * `layer` and Φ0 = Φ(target), starting from x0 (e.g. noise).
 */
export function invert(model: Module, layer: string, target: Tensor, x0: Tensor, opts: InvertOptions = {}): Optimized {
  image4d('invert', x0);
  const { steps = 200, lr = 0.05, tv_weight = 1e-3, beta = 2 } = opts;
  const phi0 = no_grad(() => capture(model, target, [layer])[layer]!);
  const norm = no_grad(() => sum(square(phi0)).item()) || 1;
  return descend(x0, steps, lr, (x) => {
    const phi = capture(model, x, [layer])[layer]!;
    return add(div(sum(square(sub(phi, phi0))), norm), mul(total_variation(x, beta), tv_weight));
  });
}

export interface DreamOptions {
  /** Gradient-ascent steps per octave (default 10). */
  steps?: number;
  /** Step size, in units of the input's standard deviation of the normalised gradient (default 0.02). */
  lr?: number;
  octaves?: number;
  /** Size ratio between octaves (default 1.4). */
  octave_scale?: number;
  jitter?: number;
  generator?: Generator;
}

/**
 * DeepDream: amplify what `layer` sees by gradient ascent on the mean of its squared activations,
 * from the smallest octave up, each upscaled result carrying the detail added so far.
 * `losses` holds the negated objective after each step.
 */
export function deep_dream(model: Module, layer: string, x: Tensor, opts: DreamOptions = {}): Optimized {
  image4d('deep_dream', x);
  const { steps = 10, lr = 0.02, octaves = 3, octave_scale = 1.4, jitter = 2, generator = default_generator } = opts;
  const [h, w] = [x.shape[2]!, x.shape[3]!];
  const sizes = Array.from({ length: octaves }, (_, i) => [Math.max(8, Math.round(h / octave_scale ** (octaves - 1 - i))), Math.max(8, Math.round(w / octave_scale ** (octaves - 1 - i)))] as [number, number]);
  const resize = (t: Tensor, size: [number, number]) => (t.shape[2] === size[0] && t.shape[3] === size[1] ? t : interpolate(t, { size, mode: 'bilinear' }));
  let detail = no_grad(() => mul(resize(x, sizes[0]!), 0));
  const losses: number[] = [];
  let image = x;
  for (const size of sizes) {
    const base = no_grad(() => resize(x, size));
    detail = no_grad(() => resize(detail, size));
    let dreamed = no_grad(() => add(base, detail)).detach();
    for (let s = 0; s < steps; s++) {
      const previous = dreamed;
      dreamed = tidy(() => {
        const [dy, dx] = [randomShift(generator, jitter), randomShift(generator, jitter)];
        const xs = roll(previous, dy, dx).detach().requires_grad_();
        const objective = mean(square(capture(model, xs, [layer])[layer]!));
        // grad() rather than backward(): xs.grad would outlive the scope (leaf gradients are kept).
        const dxs = grad(objective, xs)[0]!;
        losses.push(-objective.item());
        return no_grad(() => {
          const g = roll(dxs, -dy, -dx);
          // Steps of a fixed size whatever the gradient's scale, as the original's normalisation.
          return add(previous, mul(g, lr / (mean(abs(g)).item() + 1e-8)));
        });
      });
      previous.dispose();
    }
    detail = no_grad(() => sub(dreamed, base));
    image = dreamed;
  }
  return { image: resize(image, [h, w]), losses };
}

/**
 * x with each channel shifted and scaled to the mean and standard deviation of that channel in
 * `reference` (both [N, C, H, W]; statistics over N, H, W), clamped to [0, 1]: a photo in a
 * painting's palette, a starting point from which style transfer need not move every colour.
 */
export function match_colors(x: Tensor, reference: Tensor): Tensor {
  image4d('match_colors', x);
  image4d('match_colors', reference);
  if (x.shape[1] !== reference.shape[1]) throw new ShapeError(`match_colors: ${x.shape[1]} channels against ${reference.shape[1]}`);
  return no_grad(() => {
    const stats = (t: Tensor) => {
      const m = mean(t, [0, 2, 3], true);
      return [m, sqrt(mean(square(sub(t, m)), [0, 2, 3], true))] as const;
    };
    const [mx, sx] = stats(x);
    const [mr, sr] = stats(reference);
    return clamp(add(mul(div(sub(x, mx), maximum(sx, 1e-8)), sr), mr), 0, 1);
  });
}

export interface StyleOptions {
  content_layer: string;
  style_layers: readonly string[];
  steps?: number;
  lr?: number;
  /** β: loss = β·content + (1 − β)·style + λ·TV (default 0.001: style dominates, as in the paper's ratios). */
  beta?: number;
  tv_weight?: number;
  /** Start from the content image (default) or from noise. */
  init?: 'content' | Tensor;
}

export interface StyleResult extends Optimized {
  /** The style and content losses at each step, unweighted. */
  style_losses: number[];
  content_losses: number[];
}

/**
 * Neural style transfer: an image with `content`'s features at content_layer and `style`'s Gram
 * matrices at style_layers, by Adam on βℓ_content + (1 − β)ℓ_style + λR_TV. Both losses are
 * relative: each layer's squared error is divided by the mean square of its target, since Gram
 * matrices of different layers differ in size by orders of magnitude and the largest would
 * otherwise be the only style that counts.
 */
export function style_transfer(model: Module, content: Tensor, style: Tensor, opts: StyleOptions): StyleResult {
  image4d('style_transfer', content);
  image4d('style_transfer', style);
  const { content_layer, style_layers, steps = 200, lr = 0.02, beta = 1e-3, tv_weight = 0, init = 'content' } = opts;
  if (style_layers.length === 0) throw new StrideError('style_transfer: style_layers is empty');
  const names = [content_layer, ...style_layers];
  const meanSquare = (t: Tensor) => mean(square(t)).item() || 1;
  const [contentTarget, styleTargets] = no_grad(() => {
    const c = capture(model, content, [content_layer])[content_layer]!;
    const s = capture(model, style, style_layers);
    return [{ target: c, scale: meanSquare(c) }, style_layers.map((n) => gram(s[n]!)).map((g) => ({ target: g, scale: meanSquare(g) }))] as const;
  });
  const relativeError = (t: Tensor, { target, scale }: { target: Tensor; scale: number }) => div(mean(square(sub(t, target))), scale);
  const style_losses: number[] = [];
  const content_losses: number[] = [];
  const result = descend(init === 'content' ? content : init, steps, lr, (x) => {
    const f = capture(model, x, names);
    const lc = relativeError(f[content_layer]!, contentTarget);
    let ls: Tensor | null = null;
    style_layers.forEach((n, i) => {
      const l = relativeError(gram(f[n]!), styleTargets[i]!);
      ls = ls ? add(ls, l) : l;
    });
    content_losses.push(lc.item());
    style_losses.push((ls as unknown as Tensor).item());
    const total = add(mul(lc, beta), mul(ls as unknown as Tensor, 1 - beta));
    return tv_weight > 0 ? add(total, mul(total_variation(x), tv_weight)) : total;
  });
  return { ...result, style_losses, content_losses };
}
