import { linear } from '../ops/linalg.js';
import { amax } from '../ops/reduce.js';
import { flatten, unflatten } from '../ops/shape.js';
import { empty } from '../tensor/creation.js';
import { StrideError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { kaiming_uniform_, uniform_ } from './init.js';
import { Module, Parameter } from './module.js';

/** A parameter of `shape` with uninitialised values (the layer's reset_parameters fills it). */
export function parameter(shape: readonly number[], what: string): Parameter {
  for (const s of shape) {
    if (!Number.isInteger(s) || s < 0) throw new StrideError(`${what}: sizes must be non-negative integers, got [${shape.join(', ')}]`);
  }
  return new Parameter(empty([...shape]));
}

/**
 * PyTorch's default for Linear and Conv layers: kaiming_uniform_(a=√5) on the weight, i.e.
 * U(-1/√fan_in, 1/√fan_in), and the bias from the same range.
 */
export function resetLinearLike(weight: Tensor, bias: Tensor | null, fanIn: number): void {
  kaiming_uniform_(weight, { a: Math.sqrt(5) });
  if (bias) {
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform_(bias, -bound, bound);
  }
}

/** y = x Wᵀ + b. */
export class Linear extends Module {
  weight: Parameter;
  bias: Parameter | null;

  constructor(readonly in_features: number, readonly out_features: number, bias = true) {
    super();
    this.weight = parameter([out_features, in_features], 'Linear');
    this.bias = bias ? parameter([out_features], 'Linear') : null;
    this.reset_parameters();
  }

  reset_parameters(): void {
    resetLinearLike(this.weight, this.bias, this.in_features);
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }

  override extra_repr(): string {
    return `in_features=${this.in_features}, out_features=${this.out_features}, bias=${this.bias !== null}`;
  }
}

/**
 * Maxout (Goodfellow et al.), the course's max(w₁ᵀx + b₁, w₂ᵀx + b₂): `pieces` linear maps per
 * output unit, of which the largest is kept. Weight layout: [out_features * pieces, in_features],
 * unit u's pieces in rows u*pieces .. u*pieces + pieces - 1.
 */
export class Maxout extends Module {
  linear: Linear;

  constructor(readonly in_features: number, readonly out_features: number, readonly pieces = 2) {
    super();
    if (!Number.isInteger(pieces) || pieces < 1) throw new StrideError(`Maxout: pieces must be a positive integer, got ${pieces}`);
    this.linear = new Linear(in_features, out_features * pieces);
  }

  forward(x: Tensor): Tensor {
    const y = this.linear.call(x);
    return amax(unflatten(y, -1, [this.out_features, this.pieces]), -1);
  }

  override extra_repr(): string {
    return `in_features=${this.in_features}, out_features=${this.out_features}, pieces=${this.pieces}`;
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** Flattens dims start_dim..end_dim (default: all but the batch dim). */
export class Flatten extends Module {
  constructor(readonly start_dim = 1, readonly end_dim = -1) {
    super();
  }

  forward(x: Tensor): Tensor {
    return flatten(x, this.start_dim, this.end_dim);
  }

  override extra_repr(): string {
    return `start_dim=${this.start_dim}, end_dim=${this.end_dim}`;
  }
}

export class Unflatten extends Module {
  constructor(readonly dim: number, readonly unflattened_size: readonly number[]) {
    super();
  }

  forward(x: Tensor): Tensor {
    return unflatten(x, this.dim, this.unflattened_size);
  }

  override extra_repr(): string {
    return `dim=${this.dim}, unflattened_size=[${this.unflattened_size.join(', ')}]`;
  }
}
