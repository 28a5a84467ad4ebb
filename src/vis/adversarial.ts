/**
 * Adversarial examples: FGSM (Goodfellow et al. 2015), PGD in L∞ and L2 (Madry et al. 2018), and
 * the course's recipe: start from an image, pick a class, climb that class's score by gradient
 * ascent on the image until the model says it. Inputs are in the space `model` takes; give a
 * function that normalises first to attack in pixel space, and `range` to keep pixels valid.
 */
import { grad } from '../autograd/engine.js';
import { no_grad } from '../autograd/grad_mode.js';
import { cross_entropy } from '../ops/loss.js';
import { add, clamp, div, maximum, mul, sign, sqrt, sub } from '../ops/elementwise.js';
import { argmax, sum } from '../ops/reduce.js';
import { reshape } from '../ops/shape.js';
import { fromFlat, rand_like } from '../tensor/creation.js';
import { StrideError } from '../tensor/errors.js';
import { tidy } from '../tensor/memory.js';
import type { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { scoresOf, targetScore, type Classifier } from './attribution.js';

/** Pixel bounds kept after every step (default [0, 1]); null for none. */
export type Range = readonly [number, number] | null;

const labelsTensor = (labels: Tensor | readonly number[]) => (Array.isArray(labels) ? fromFlat(labels as number[], [labels.length], { dtype: 'int32' }) : (labels as Tensor));

function lossGrad(model: Classifier, x: Tensor, y: Tensor): Tensor {
  const xs = x.detach().requires_grad_();
  return grad(cross_entropy(scoresOf(model, xs), y, { reduction: 'sum' }), xs)[0]!;
}

const keep = (x: Tensor, range: Range) => (range ? clamp(x, range[0], range[1]) : x);

/** FGSM: x + ε · sign(∇x loss(model(x), y)), clamped to range. */
export function fgsm(model: Classifier, x: Tensor, labels: Tensor | readonly number[], eps: number, range: Range = [0, 1]): Tensor {
  return tidy(() => {
    const g = lossGrad(model, x, labelsTensor(labels));
    return no_grad(() => keep(add(x, mul(sign(g), eps)), range));
  });
}

/** Per-sample L2 norms of [N, ...] as [N, 1, 1, ...] for broadcasting. */
function norms(t: Tensor): Tensor {
  const n = t.shape[0]!;
  const flat = reshape(t, [n, -1]);
  return reshape(sqrt(sum(mul(flat, flat), 1)), [n, ...t.shape.slice(1).map(() => 1)]);
}

export interface PGDOptions {
  eps: number;
  /** Step size (default 2.5 ε / steps). */
  alpha?: number;
  steps?: number;
  norm?: 'linf' | 'l2';
  /** Start from a random point of the ε-ball (L∞) (default false). */
  random_start?: boolean;
  range?: Range;
  generator?: Generator;
}

/** Projected gradient descent on the loss's ascent: steps of size α, projected back onto the ε-ball around x. */
export function pgd(model: Classifier, x: Tensor, labels: Tensor | readonly number[], opts: PGDOptions): Tensor {
  const { eps, steps = 10, norm = 'linf', random_start = false, range = [0, 1], generator } = opts;
  const alpha = opts.alpha ?? (2.5 * eps) / steps;
  if (!(eps > 0) || !(alpha > 0) || !(steps >= 1)) throw new StrideError(`pgd: eps, alpha and steps must be positive, got ${eps}, ${alpha}, ${steps}`);
  return tidy(() => {
    const y = labelsTensor(labels);
    let adv = random_start ? no_grad(() => keep(add(x, mul(sub(mul(rand_like(x, { generator }), 2), 1), eps)), range)) : x.detach();
    for (let i = 0; i < steps; i++) {
      const previous = adv;
      // Each step's graph and arithmetic are freed as it ends, not left to the garbage collector
      // (backends with memory outside the JS heap would run out first).
      adv = tidy(() => {
        const g = lossGrad(model, previous, y);
        return no_grad(() => {
          if (norm === 'linf') {
            const stepped = add(previous, mul(sign(g), alpha));
            return keep(add(x, clamp(sub(stepped, x), -eps, eps)), range);
          }
          const stepped = add(previous, mul(div(g, maximum(norms(g), 1e-12)), alpha));
          const delta = sub(stepped, x);
          // Scale δ back onto the ball only where it left it.
          return keep(add(x, mul(delta, clamp(div(eps, maximum(norms(delta), 1e-12)), null, 1))), range);
        });
      });
      previous.dispose();
    }
    return adv;
  });
}

export interface FoolOptions {
  /** Gradient-ascent step on the image (default 0.01, in the input's units). */
  lr?: number;
  /** Steps before giving up on an image (default 200). */
  max_steps?: number;
  range?: Range;
}

export interface FoolResult {
  /** The modified images. */
  image: Tensor;
  /** image − x. */
  perturbation: Tensor;
  /** Per image: the steps taken, and whether the model now gives the target class. */
  steps: number[];
  fooled: boolean[];
}

/**
 * The course's "fool the network": for each image, gradient ascent on the target class's score
 * (normalised steps of size lr), stopping for that image as soon as the model predicts the
 * target. Images are processed as one batch; finished ones stop changing.
 */
export function fool(model: Classifier, x: Tensor, targets: readonly number[], opts: FoolOptions = {}): FoolResult {
  const { lr = 0.01, max_steps = 200, range = [0, 1] } = opts;
  const n = x.shape[0]!;
  if (targets.length !== n) throw new StrideError(`fool: ${targets.length} targets for ${n} images`);
  const predicted = (img: Tensor) => tidy(() => Array.from(no_grad(() => argmax(scoresOf(model, img), 1)).dataSync()));
  let image = x.detach();
  const steps = Array<number>(n).fill(0);
  let done = predicted(image).map((p, i) => p === targets[i]);
  for (let s = 0; s < max_steps && done.some((d) => !d); s++) {
    const previous = image;
    // The step's graph, gradient and mask are freed as it ends; only the new image stays.
    image = tidy(() => {
      const xs = previous.detach().requires_grad_();
      const g = grad(targetScore(model, xs, targets), xs)[0]!;
      const active = fromFlat(done.map((d) => (d ? 0 : 1)), [n, ...x.shape.slice(1).map(() => 1)], { backend: x.device });
      return no_grad(() => keep(add(previous, mul(mul(div(g, maximum(norms(g), 1e-12)), lr * Math.sqrt(g.numel() / n)), active)), range));
    });
    previous.dispose();
    done.forEach((d, i) => (steps[i]! += d ? 0 : 1));
    done = predicted(image).map((p, i) => p === targets[i]);
  }
  return { image, perturbation: no_grad(() => sub(image, x)), steps, fooled: done };
}
