import { maximum } from '../ops/elementwise.js';
import type { Tensor } from '../tensor/tensor.js';
import { check, Optimizer, type ParamGroup, type ParamsInput, type ParamState } from './optimizer.js';

export interface AdamOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weight_decay: number;
  amsgrad: boolean;
  maximize: boolean;
}

function validateAdam(name: string, g: AdamOptions): void {
  check(g.lr >= 0, name, 'learning rate', g.lr);
  check(g.eps >= 0, name, 'epsilon value', g.eps);
  check(g.betas[0] >= 0 && g.betas[0] < 1, name, 'beta parameter at index 0', g.betas[0]);
  check(g.betas[1] >= 0 && g.betas[1] < 1, name, 'beta parameter at index 1', g.betas[1]);
  check(g.weight_decay >= 0, name, 'weight_decay value', g.weight_decay);
}

/** Adam (Kingma & Ba), L2 weight decay added to the gradient as PyTorch's Adam does. */
export class Adam extends Optimizer<AdamOptions> {
  constructor(params: ParamsInput<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0, amsgrad: false, maximize: false, ...opts });
  }

  protected validate(g: AdamOptions): void {
    validateAdam(this.constructor.name, g);
  }

  protected update(p: Tensor, grad: Tensor, state: ParamState, g: ParamGroup<AdamOptions>): void {
    if (g.maximize) grad = grad.neg();
    if (g.weight_decay !== 0) grad = grad.add(p, g.weight_decay);
    this.adamStep(p, grad, state, g);
  }

  /**
   * The step shared with AdamW, with the bias corrections 1-β₁ᵗ and 1-β₂ᵗ (so the first steps are
   * not biased towards zero): p -= lr/(1-β₁ᵗ) · m / (sqrt(v)/sqrt(1-β₂ᵗ) + eps).
   */
  protected adamStep(p: Tensor, grad: Tensor, state: ParamState, g: ParamGroup<AdamOptions>): void {
    const { step, m, v } = this.updateMoments(state, p, grad, g.betas);
    const stepSize = g.lr / (1 - g.betas[0] ** step);
    const correction2Sqrt = Math.sqrt(1 - g.betas[1] ** step);
    let second = v;
    if (g.amsgrad) {
      const vmax = this.buffer(state, 'max_exp_avg_sq', p);
      vmax.copy_(maximum(vmax, v));
      second = vmax;
    }
    p.add_(m.div(second.sqrt().div(correction2Sqrt).add(g.eps)), -stepSize);
  }
}

/** AdamW (Loshchilov & Hutter): decoupled weight decay p *= 1 - lr·λ before the Adam step. */
export class AdamW extends Adam {
  constructor(params: ParamsInput<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super(params, { weight_decay: 1e-2, ...opts });
  }

  protected override update(p: Tensor, grad: Tensor, state: ParamState, g: ParamGroup<AdamOptions>): void {
    if (g.maximize) grad = grad.neg();
    p.mul_(1 - g.lr * g.weight_decay);
    this.adamStep(p, grad, state, g);
  }
}
