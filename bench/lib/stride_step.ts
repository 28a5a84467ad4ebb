/** The benchmark's training step on stride, the same wherever it is timed. */
import * as st from '../../src/index.js';
import type { Module } from '../../src/nn/index.js';
import type { Optimizer } from '../../src/optim/index.js';

/** One step of cross-entropy training; reads the loss back, as every system's step does. */
export function trainStep(model: Module, opt: Optimizer<object>, x: st.Tensor, y: st.Tensor): number {
  return st.tidy(() => {
    opt.zero_grad();
    const loss = st.cross_entropy((model.call as (x: st.Tensor) => st.Tensor)(x), y);
    loss.backward();
    opt.step();
    return loss.item();
  });
}
