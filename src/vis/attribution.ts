/**
 * Attribution: which input pixels a class score depends on. Vanilla gradient saliency
 * (Simonyan et al. 2014), SmoothGrad (Smilkov et al. 2017), guided backpropagation (Springenberg
 * et al. 2015), Grad-CAM (Selvaraju et al. 2017) and occlusion sensitivity (Zeiler & Fergus
 * 2014), for any model: a Module or a function of the input. Pure: runs in Node and in browsers.
 */
import { grad } from '../autograd/engine.js';
import { no_grad } from '../autograd/grad_mode.js';
import { ReLU } from '../nn/activation.js';
import type { Module } from '../nn/module.js';
import { defineOp } from '../ops/define.js';
import { abs, add, gt, logical_and, mul, relu, where } from '../ops/elementwise.js';
import { gather } from '../ops/indexing.js';
import { interpolate } from '../ops/interpolate.js';
import { amax, mean, sum } from '../ops/reduce.js';
import { reshape } from '../ops/shape.js';
import { fromFlat, randn_like } from '../tensor/creation.js';
import { ShapeError, StrideError } from '../tensor/errors.js';
import { tidy } from '../tensor/memory.js';
import type { Generator } from '../tensor/random.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/** A classifier: a Module, or a function from a batch of inputs to [N, classes] scores. */
export type Classifier = Module | ((x: Tensor) => Tensor);

export const scoresOf = (model: Classifier, x: Tensor): Tensor =>
  typeof model === 'function' ? model(x) : (model.call as (x: Tensor) => Tensor)(x);

/** One class per input: a number for all, or one per sample. */
export type Targets = number | readonly number[];

function targetIndex(targets: Targets, n: number, classes: number): Tensor {
  const list = typeof targets === 'number' ? Array<number>(n).fill(targets) : [...targets];
  if (list.length !== n) throw new ShapeError(`attribution: ${list.length} targets for a batch of ${n} inputs`);
  for (const t of list) {
    if (!Number.isInteger(t) || t < 0 || t >= classes) throw new StrideError(`attribution: target class ${t} is not one of the model's ${classes} classes`);
  }
  return fromFlat(list, [n, 1], { dtype: 'int32' });
}

/** The sum over the batch of each sample's target score (their gradients do not mix). */
export function targetScore(model: Classifier, x: Tensor, targets: Targets): Tensor {
  const scores = scoresOf(model, x);
  if (scores.ndim !== 2) throw new ShapeError(`attribution: the model should give scores [N, classes], got ${formatShape(scores.shape)}`);
  return sum(gather(scores, 1, targetIndex(targets, scores.shape[0]!, scores.shape[1]!)));
}

/** d score / d x; the forward's tensors are freed as it returns. */
function inputGrad(model: Classifier, x: Tensor, targets: Targets): Tensor {
  return tidy(() => {
    const xs = x.detach().requires_grad_();
    return grad(targetScore(model, xs, targets), xs)[0]!;
  });
}

/** Vanilla gradient saliency: |d score / d x|, the max over channels: [N, H, W] for x [N, C, H, W]. */
export function saliency(model: Classifier, x: Tensor, targets: Targets): Tensor {
  return tidy(() => amax(abs(inputGrad(model, x, targets)), 1));
}

export interface SmoothGradOptions {
  /** Noisy copies averaged (default 25). */
  samples?: number;
  /** Noise standard deviation as a fraction of the input's range (default 0.15). */
  noise_level?: number;
  generator?: Generator;
}

/** SmoothGrad: the saliency of the gradient averaged over noisy copies of the input. */
export function smooth_grad(model: Classifier, x: Tensor, targets: Targets, opts: SmoothGradOptions = {}): Tensor {
  const { samples = 25, noise_level = 0.15, generator } = opts;
  return tidy(() => {
    const range = x.max().item() - x.min().item();
    let total: Tensor | null = null;
    for (let i = 0; i < samples; i++) {
      const previous = total;
      // Each sample's noisy copy and gradient are freed as it ends; only the running sum stays.
      total = tidy((): Tensor => {
        const g = inputGrad(model, add(x, mul(randn_like(x, { generator }), noise_level * range)), targets);
        return previous ? add(previous, g) : g;
      });
      previous?.dispose();
    }
    return amax(abs(mul(total!, 1 / samples)), 1);
  });
}

/** relu whose backward passes a gradient only where both it and the input are positive. */
const guidedRelu = defineOp<[Tensor], null>({
  name: 'guided_relu',
  shape: ([x]) => x.shape,
  forward: ([x]) => relu(x),
  save: 'inputs',
  backward: (gy, { inputs: [x] }) => [where(logical_and(gt(x, 0), gt(gy, 0)), gy, 0)],
});

/**
 * Guided backpropagation: d score / d x ([N, C, H, W], signed) with every ReLU module of the
 * model letting only positive gradients back (Captum's GuidedBackprop: relus called as functions
 * inside a forward are not seen, so the model must have ReLU modules).
 */
export function guided_backprop(model: Module, x: Tensor, targets: Targets): Tensor {
  const relus = [...model.modules()].filter((m) => m instanceof ReLU);
  if (relus.length === 0) throw new StrideError('guided_backprop: the model has no ReLU modules to guide');
  const hooks = relus.map((m) => m.register_forward_hook((_m, inputs) => guidedRelu([inputs[0] as Tensor], null)));
  try {
    return inputGrad(model, x, targets);
  } finally {
    for (const h of hooks) h.remove();
  }
}

export interface GradCamResult {
  /** relu(Σ_k α_k A_k) at the layer's resolution: [N, h, w]. */
  cam: Tensor;
  /** The cam upsampled (bilinear) to the input's size: [N, H, W]. */
  upsampled: Tensor;
}

/**
 * Grad-CAM for `layer` (a module inside `model` whose output is [N, K, h, w]): the channel
 * weights α_k are the spatial means of d score / d A_k.
 */
export function grad_cam(model: Module, layer: Module, x: Tensor, targets: Targets): GradCamResult {
  // The forward's tensors and the layer's gradient are freed as it returns.
  return tidy(() => gradCam(model, layer, x, targets));
}

function gradCam(model: Module, layer: Module, x: Tensor, targets: Targets): GradCamResult {
  let activation: Tensor | null = null;
  const hook = layer.register_forward_hook((_m, _i, out) => {
    activation = out as Tensor;
  });
  let score: Tensor;
  try {
    score = targetScore(model, x.detach(), targets);
  } finally {
    hook.remove();
  }
  const a = activation as Tensor | null;
  if (!a) throw new StrideError('grad_cam: the layer did not run in the model\'s forward');
  if (a.ndim !== 4) throw new ShapeError(`grad_cam: the layer's output should be [N, K, h, w], got ${formatShape(a.shape)}`);
  if (!a.requires_grad) throw new StrideError('grad_cam: the score does not depend on the layer\'s output through recorded operations');
  const da = grad(score, a)[0]!;
  return no_grad(() => {
    const cam = relu(sum(mul(mean(da, [2, 3], true), a), 1));
    const [h, w] = [x.shape[x.ndim - 2]!, x.shape[x.ndim - 1]!];
    const upsampled = reshape(interpolate(reshape(cam, [cam.shape[0]!, 1, cam.shape[1]!, cam.shape[2]!]), { size: [h, w], mode: 'bilinear' }), [cam.shape[0]!, h, w]);
    return { cam, upsampled };
  });
}

export interface OcclusionOptions {
  /** Side of the square patch (default 4). */
  window?: number;
  /** Step between patches (default: the window). */
  stride?: number;
  /** Value the patch is filled with (default 0). */
  baseline?: number;
}

/**
 * Occlusion sensitivity: the drop of the target score when a patch of the input is replaced by
 * the baseline, for each patch position: [N, ⌊(H - window) / stride⌋ + 1, same for W].
 */
export function occlusion(model: Classifier, x: Tensor, targets: Targets, opts: OcclusionOptions = {}): Tensor {
  const { window = 4, baseline = 0 } = opts;
  const stride = opts.stride ?? window;
  if (x.ndim !== 4) throw new ShapeError(`occlusion: expected inputs [N, C, H, W], got ${formatShape(x.shape)}`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  if (!(window >= 1 && window <= Math.min(h, w) && stride >= 1)) throw new StrideError(`occlusion: window ${window} and stride ${stride} do not fit an input of ${h}x${w}`);
  const rows = Math.floor((h - window) / stride) + 1;
  const cols = Math.floor((w - window) / stride) + 1;
  return no_grad(() => {
    const score = (input: Tensor) => {
      const s = scoresOf(model, input);
      return gather(s, 1, targetIndex(targets, n, s.shape[1]!)).dataSync();
    };
    const base = tidy(() => score(x));
    const pixels = x.contiguous().dataSync();
    const out = new Float32Array(n * rows * cols);
    for (let r = 0; r < rows; r++) {
      for (let q = 0; q < cols; q++) {
        const patched = Float32Array.from(pixels);
        for (let s = 0; s < n * c; s++) {
          for (let y = r * stride; y < r * stride + window; y++) patched.fill(baseline, (s * h + y) * w + q * stride, (s * h + y) * w + q * stride + window);
        }
        // Each patch's forward is freed as it ends.
        const occluded = tidy(() => score(fromFlat(patched, [n, c, h, w], { backend: x.device })));
        for (let i = 0; i < n; i++) out[(i * rows + r) * cols + q] = base[i]! - occluded[i]!;
      }
    }
    return fromFlat(out, [n, rows, cols]);
  });
}
