import { Tensor } from '../tensor/tensor.js';
import { StrideError, IndexError } from '../tensor/errors.js';
import { default_generator, type Generator } from '../tensor/random.js';
import { randperm } from '../tensor/creation.js';
import { select } from '../ops/shape.js';

/**
 * A map-style dataset (torch.utils.data.Dataset): a length and an item getter. Items may be
 * produced asynchronously (decoding an image file), so `get` may return a promise.
 */
export interface Dataset<T> {
  readonly length: number;
  get(index: number): T | Promise<T>;
}

function checkIndex(index: number, length: number, what: string): void {
  if (!Number.isInteger(index) || index < 0 || index >= length) {
    throw new IndexError(`${what}: index ${index} is out of range for a dataset of length ${length}`);
  }
}

/** Samples are the i-th slices of tensors that share their first dim (torch's TensorDataset). */
export class TensorDataset implements Dataset<Tensor[]> {
  readonly tensors: Tensor[];

  constructor(...tensors: Tensor[]) {
    if (tensors.length === 0) throw new StrideError('TensorDataset: expected at least one tensor');
    const n = tensors[0]!.shape[0];
    tensors.forEach((t, i) => {
      if (t.ndim === 0 || t.shape[0] !== n) {
        throw new StrideError(`TensorDataset: every tensor needs the same first dim; tensor 0 has ${n}, tensor ${i} has shape [${t.shape.join(', ')}]`);
      }
    });
    this.tensors = tensors;
  }

  get length(): number {
    return this.tensors[0]!.shape[0]!;
  }

  get(index: number): Tensor[] {
    checkIndex(index, this.length, 'TensorDataset');
    return this.tensors.map((t) => select(t, 0, index));
  }
}

/** The items of `dataset` at `indices`, in that order (torch's Subset). */
export class Subset<T> implements Dataset<T> {
  constructor(readonly dataset: Dataset<T>, readonly indices: readonly number[]) {
    for (const i of indices) checkIndex(i, dataset.length, 'Subset');
  }

  get length(): number {
    return this.indices.length;
  }

  get(index: number): T | Promise<T> {
    checkIndex(index, this.length, 'Subset');
    return this.dataset.get(this.indices[index]!);
  }
}

/** Applies `fn` to every item of a dataset (e.g. a transform on the image of (image, label) pairs). */
export class MappedDataset<T, U> implements Dataset<U> {
  constructor(readonly dataset: Dataset<T>, readonly fn: (item: T, index: number) => U) {}

  get length(): number {
    return this.dataset.length;
  }

  async get(index: number): Promise<U> {
    return this.fn(await this.dataset.get(index), index);
  }
}

/**
 * Splits a dataset into non-overlapping random subsets (torch.utils.data.random_split). Lengths
 * are counts that sum to the dataset's length, or fractions that sum to 1 (remainders go
 * round-robin to the first subsets, as PyTorch).
 */
export function random_split<T>(dataset: Dataset<T>, lengths: readonly number[], generator: Generator = default_generator): Subset<T>[] {
  const n = dataset.length;
  let counts = [...lengths];
  const fractional = counts.every((l) => l >= 0 && l <= 1) && Math.abs(counts.reduce((a, b) => a + b, 0) - 1) < 1e-9;
  if (fractional) {
    counts = counts.map((f) => Math.floor(n * f));
    let rest = n - counts.reduce((a, b) => a + b, 0);
    for (let i = 0; rest > 0; i = (i + 1) % counts.length, rest--) counts[i]!++;
  }
  if (!counts.every((c) => Number.isInteger(c) && c >= 0) || counts.reduce((a, b) => a + b, 0) !== n) {
    throw new StrideError(`random_split: lengths [${lengths.join(', ')}] must be counts summing to the dataset length ${n}, or fractions summing to 1`);
  }
  const perm = Array.from(randperm(n, { generator }).dataSync());
  let start = 0;
  return counts.map((c) => {
    const s = new Subset(dataset, perm.slice(start, start + c));
    start += c;
    return s;
  });
}
