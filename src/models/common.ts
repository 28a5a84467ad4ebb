import { ReLU } from '../nn/activation.js';
import { Dropout } from '../nn/dropout.js';
import { Linear } from '../nn/linear.js';
import { type Module, Sequential } from '../nn/module.js';
import { LocalResponseNorm } from '../nn/normalization.js';
import type { Tensor } from '../tensor/tensor.js';
import { StrideError } from '../tensor/errors.js';

/** Checks that a model option is a positive integer, naming the model and option otherwise. */
export function positiveInt(model: string, name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw new StrideError(`${model}: ${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return value;
}

/** Checks that a model option is one of `choices`. */
export function oneOf<T extends string>(model: string, name: string, value: T, choices: readonly T[]): T {
  if (!choices.includes(value)) throw new StrideError(`${model}: ${name} must be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${JSON.stringify(value)}`);
  return value;
}

/**
 * Krizhevsky et al.'s response normalisation, b = a / (k + α Σ a²)^β over n = 5 neighbouring
 * maps with k = 2, α = 1e-4, β = 0.75 (ZFNet's "contrast normalisation" too). PyTorch's
 * LocalResponseNorm divides α by n, so it is given α·n.
 */
export function krizhevskyLRN(): LocalResponseNorm {
  const n = 5;
  return new LocalResponseNorm(n, 1e-4 * n, 0.75, 2);
}

/** The fully connected head of AlexNet and ZFNet: 6x6x256 → 4096 → 4096 → classes, dropout before the first two. */
export function alexnetClassifier(num_classes: number, dropout: number): Sequential {
  return new Sequential(
    new Dropout(dropout), new Linear(256 * 6 * 6, 4096), new ReLU(),
    new Dropout(dropout), new Linear(4096, 4096), new ReLU(),
    new Linear(4096, num_classes),
  );
}

/** Calls a child held as a plain Module (from a ModuleList or Sequential) on one tensor. */
export function run(m: Module, x: Tensor): Tensor {
  return (m.call as (x: Tensor) => Tensor)(x);
}
