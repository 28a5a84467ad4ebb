import { sgd_step_ } from '../ops/elementwise.js';
import type { Tensor } from '../tensor/tensor.js';
import { check, Optimizer, type ParamGroup, type ParamsInput, type ParamState } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weight_decay: number;
  nesterov: boolean;
  maximize: boolean;
}

/** Stochastic gradient descent with momentum (PyTorch's formulation: v = μv + (1-τ)g; p -= lr·v). */
export class SGD extends Optimizer<SGDOptions> {
  constructor(params: ParamsInput<SGDOptions>, opts: Partial<SGDOptions> & { lr: number }) {
    super(params, { momentum: 0, dampening: 0, weight_decay: 0, nesterov: false, maximize: false, ...opts });
  }

  protected validate(g: SGDOptions): void {
    check(g.lr >= 0, 'SGD', 'learning rate', g.lr);
    check(g.momentum >= 0, 'SGD', 'momentum value', g.momentum);
    check(g.weight_decay >= 0, 'SGD', 'weight_decay value', g.weight_decay);
    check(!g.nesterov || (g.momentum > 0 && g.dampening === 0), 'SGD', 'Nesterov momentum (it requires a momentum and zero dampening)', g.nesterov);
  }

  protected update(p: Tensor, grad: Tensor, state: ParamState, g: ParamGroup<SGDOptions>): void {
    let buf = state['momentum_buffer'] as Tensor | undefined;
    const first = g.momentum !== 0 && !buf;
    if (first) buf = this.buffer(state, 'momentum_buffer', p);
    sgd_step_(p, grad, g.momentum !== 0 ? buf! : null, g, first);
  }
}
