import { adam_step_ } from '../ops/elementwise.js';
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
    this.adamStep(p, grad, state, g, false);
  }

  /**
   * The step shared with AdamW, with the bias corrections 1-β₁ᵗ and 1-β₂ᵗ (so the first steps are
   * not biased towards zero): p -= lr/(1-β₁ᵗ) · m / (sqrt(v)/sqrt(1-β₂ᵗ) + eps).
   */
  protected adamStep(p: Tensor, grad: Tensor, state: ParamState, g: ParamGroup<AdamOptions>, decoupled: boolean): void {
    const step = this.countStep(state);
    const m = this.buffer(state, 'exp_avg', p);
    const v = this.buffer(state, 'exp_avg_sq', p);
    const vmax = g.amsgrad ? this.buffer(state, 'max_exp_avg_sq', p) : null;
    adam_step_(p, grad, m, v, vmax, step, { ...g, decoupled_weight_decay: decoupled });
  }
}

/** AdamW (Loshchilov & Hutter): decoupled weight decay p *= 1 - lr·λ before the Adam step. */
export class AdamW extends Adam {
  constructor(params: ParamsInput<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super(params, { weight_decay: 1e-2, ...opts });
  }

  protected override update(p: Tensor, grad: Tensor, state: ParamState, g: ParamGroup<AdamOptions>): void {
    this.adamStep(p, grad, state, g, true);
  }
}
