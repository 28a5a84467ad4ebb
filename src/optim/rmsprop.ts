import type { Tensor } from '../tensor/tensor.js';
import { check, Optimizer, type ParamGroup, type ParamsInput, type ParamState } from './optimizer.js';

export interface RMSpropOptions {
  lr: number;
  alpha: number;
  eps: number;
  weight_decay: number;
  momentum: number;
  centered: boolean;
  maximize: boolean;
}

/** RMSprop (Hinton): steps scaled by a running RMS of the gradient; optional momentum and centring. */
export class RMSprop extends Optimizer<RMSpropOptions> {
  constructor(params: ParamsInput<RMSpropOptions>, opts: Partial<RMSpropOptions> = {}) {
    super(params, { lr: 1e-2, alpha: 0.99, eps: 1e-8, weight_decay: 0, momentum: 0, centered: false, maximize: false, ...opts });
  }

  protected validate(g: RMSpropOptions): void {
    check(g.lr >= 0, 'RMSprop', 'learning rate', g.lr);
    check(g.eps >= 0, 'RMSprop', 'epsilon value', g.eps);
    check(g.momentum >= 0, 'RMSprop', 'momentum value', g.momentum);
    check(g.weight_decay >= 0, 'RMSprop', 'weight_decay value', g.weight_decay);
    check(g.alpha >= 0, 'RMSprop', 'alpha value', g.alpha);
  }

  protected update(p: Tensor, grad: Tensor, state: ParamState, g: ParamGroup<RMSpropOptions>): void {
    this.countStep(state);
    if (g.maximize) grad = grad.neg();
    if (g.weight_decay !== 0) grad = grad.add(p, g.weight_decay);
    const sq = this.buffer(state, 'square_avg', p);
    sq.mul_(g.alpha).add_(grad.mul(grad), 1 - g.alpha);
    let avg: Tensor;
    if (g.centered) {
      const gAvg = this.buffer(state, 'grad_avg', p);
      gAvg.mul_(g.alpha).add_(grad, 1 - g.alpha);
      avg = sq.sub(gAvg.mul(gAvg)).sqrt().add(g.eps);
    } else avg = sq.sqrt().add(g.eps);
    if (g.momentum > 0) {
      const buf = this.buffer(state, 'momentum_buffer', p);
      buf.mul_(g.momentum).add_(grad.div(avg));
      p.add_(buf, -g.lr);
    } else p.add_(grad.div(avg), -g.lr);
  }
}
