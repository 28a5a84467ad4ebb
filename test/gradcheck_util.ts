/** Float64 inputs and a gradcheck assertion shared by the op test files. */
import assert from 'node:assert/strict';
import { Generator, gradcheck, randn, type GradcheckOptions, type Tensor } from '../src/index.js';

/** A float64 standard-normal tensor from its own seeded generator (a leaf). */
export function randn64(shape: number[], seed: number, requiresGrad = false): Tensor {
  return randn(shape, { dtype: 'float64', generator: new Generator(seed), requires_grad: requiresGrad });
}

/** Asserts that autograd agrees with finite differences for every input that requires grad. */
export function checkGrad(fn: (...xs: Tensor[]) => Tensor | Tensor[], inputs: Tensor[], opts: GradcheckOptions = {}): void {
  const r = gradcheck(fn, inputs, { ...opts, raise: false });
  assert.ok(r.ok, `gradcheck failed: worst ${JSON.stringify(r.worst)}, max error ${r.maxError}`);
}
