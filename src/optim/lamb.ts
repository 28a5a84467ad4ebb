import { StrideError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { check, Optimizer, type ParamGroup, type ParamsInput, type ParamState } from './optimizer.js';

export interface LAMBOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weight_decay: number;
}

/**
 * LAMB (You et al., "Large batch optimization for deep learning", 2019): the Adam direction
 * r = m̂/(sqrt(v̂)+eps) + λp, scaled per parameter tensor by the trust ratio ‖p‖/‖r‖ (1 when
 * either norm is 0). PyTorch has no LAMB; tests compare with the paper's algorithm in NumPy.
 */
export class LAMB extends Optimizer<LAMBOptions> {
  constructor(params: ParamsInput<LAMBOptions>, opts: Partial<LAMBOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-6, weight_decay: 0, ...opts });
  }

  protected validate(g: LAMBOptions): void {
    check(g.lr >= 0, 'LAMB', 'learning rate', g.lr);
    check(g.eps >= 0, 'LAMB', 'epsilon value', g.eps);
    check(g.betas[0] >= 0 && g.betas[0] < 1 && g.betas[1] >= 0 && g.betas[1] < 1, 'LAMB', 'betas', g.betas);
    check(g.weight_decay >= 0, 'LAMB', 'weight_decay value', g.weight_decay);
  }

  protected update(p: Tensor, grad: Tensor, state: ParamState, g: ParamGroup<LAMBOptions>): void {
    if (!p.is_floating_point()) throw new StrideError('LAMB: parameters must be floating point');
    const { step, m, v } = this.updateMoments(state, p, grad, g.betas);
    const mHat = m.div(1 - g.betas[0] ** step);
    const vHat = v.div(1 - g.betas[1] ** step);
    let r = mHat.div(vHat.sqrt().add(g.eps));
    if (g.weight_decay !== 0) r = r.add(p, g.weight_decay);
    const pNorm = Math.sqrt(p.mul(p).sum().item());
    const rNorm = Math.sqrt(r.mul(r).sum().item());
    const trust = pNorm > 0 && rNorm > 0 ? pNorm / rNorm : 1;
    p.add_(r, -g.lr * trust);
  }
}
