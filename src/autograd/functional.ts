import { zeros_like } from '../tensor/creation.js';
import { StrideError } from '../tensor/errors.js';
import { Tensor } from '../tensor/tensor.js';
import { grad as autogradGrad } from './engine.js';
import { enable_grad } from './grad_mode.js';

type Argnums = number | readonly number[];

function prepare(args: unknown[], argnums: Argnums, what: string): { args: unknown[]; wrt: Tensor[]; single: boolean } {
  const nums = typeof argnums === 'number' ? [argnums] : [...argnums];
  const copy = [...args];
  const wrt = nums.map((i) => {
    const a = args[i];
    if (!(a instanceof Tensor)) throw new StrideError(`${what}: argument ${i} must be a tensor to differentiate with respect to it`);
    const leaf = a.detach().requires_grad_(true);
    copy[i] = leaf;
    return leaf;
  });
  return { args: copy, wrt, single: typeof argnums === 'number' };
}

function checkScalar(value: unknown, what: string): Tensor {
  if (!(value instanceof Tensor) || value.numel() !== 1) {
    throw new StrideError(`${what}: the function must return a one-element tensor, got ${value instanceof Tensor ? `shape [${value.shape.join(', ')}]` : typeof value}`);
  }
  return value;
}

/**
 * value_and_grad(fn, argnums = 0)(...args): fn's scalar value and its gradient w.r.t. the chosen
 * tensor arguments (a tensor, or an array for a list of argnums). Inputs' .grad is untouched.
 */
export function value_and_grad<A extends unknown[]>(fn: (...args: A) => Tensor, argnums: Argnums = 0) {
  return (...args: A): { value: Tensor; grad: Tensor | Tensor[] } => {
    const p = prepare(args, argnums, 'value_and_grad');
    const value = checkScalar(enable_grad(() => fn(...(p.args as A))), 'value_and_grad');
    // An output that does not depend on the inputs at all has no graph: every gradient is zero.
    const found = value.requires_grad ? autogradGrad(value, p.wrt, { allow_unused: true }) : p.wrt.map(() => null);
    const grads = found.map((g, i) => g ?? zeros_like(p.wrt[i]!));
    return { value: value.detach(), grad: p.single ? grads[0]! : grads };
  };
}

/** grad(fn, argnums = 0)(...args): the gradient of fn's scalar value (JAX / torch.func style). */
export function grad<A extends unknown[]>(fn: (...args: A) => Tensor, argnums: Argnums = 0) {
  const vg = value_and_grad(fn, argnums);
  return (...args: A): Tensor | Tensor[] => vg(...args).grad;
}
