import type { Tensor } from '../tensor/tensor.js';
import { check, Optimizer, type ParamGroup, type ParamsInput, type ParamState } from './optimizer.js';

export interface AdagradOptions {
  lr: number;
  lr_decay: number;
  weight_decay: number;
  initial_accumulator_value: number;
  eps: number;
  maximize: boolean;
}

/** Adagrad (Duchi et al.): per-element steps lr / (sqrt(Σ g²) + eps). */
export class Adagrad extends Optimizer<AdagradOptions> {
  constructor(params: ParamsInput<AdagradOptions>, opts: Partial<AdagradOptions> = {}) {
    super(params, { lr: 1e-2, lr_decay: 0, weight_decay: 0, initial_accumulator_value: 0, eps: 1e-10, maximize: false, ...opts });
  }

  protected validate(g: AdagradOptions): void {
    check(g.lr >= 0, 'Adagrad', 'learning rate', g.lr);
    check(g.lr_decay >= 0, 'Adagrad', 'lr_decay value', g.lr_decay);
    check(g.weight_decay >= 0, 'Adagrad', 'weight_decay value', g.weight_decay);
    check(g.initial_accumulator_value >= 0, 'Adagrad', 'initial_accumulator_value', g.initial_accumulator_value);
    check(g.eps >= 0, 'Adagrad', 'epsilon value', g.eps);
  }

  protected update(p: Tensor, grad: Tensor, state: ParamState, g: ParamGroup<AdagradOptions>): void {
    const sum = this.buffer(state, 'sum', p, g.initial_accumulator_value);
    const step = this.countStep(state);
    if (g.maximize) grad = grad.neg();
    if (g.weight_decay !== 0) grad = grad.add(p, g.weight_decay);
    const clr = g.lr / (1 + (step - 1) * g.lr_decay);
    sum.add_(grad.mul(grad));
    p.add_(grad.div(sum.sqrt().add(g.eps)), -clr);
  }
}
