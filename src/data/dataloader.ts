import { stack } from '../ops/join.js';
import { fromFlat, randperm } from '../tensor/creation.js';
import { IndexError, StrideError } from '../tensor/errors.js';
import { Generator } from '../tensor/random.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import type { Dataset } from './dataset.js';

const kindOf = (v: unknown): string => (v instanceof Tensor ? 'tensor' : Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);

/**
 * Batches one field of the samples; `where` names it (batch, batch[1], batch.label) so that an
 * error points at the field and the first sample that differs from sample 0.
 */
function collate(samples: readonly unknown[], where: string): unknown {
  const agree = (what: string, describe: (s: unknown) => string) => {
    const expected = describe(samples[0]);
    const i = samples.findIndex((s) => describe(s) !== expected);
    if (i >= 0) throw new StrideError(`default_collate: ${where} of sample 0 has ${what} ${expected} but of sample ${i} ${describe(samples[i])}`);
  };
  agree('type', kindOf);
  const first = samples[0];
  switch (kindOf(first)) {
    case 'tensor':
      agree('shape', (s) => formatShape((s as Tensor).shape));
      return stack(samples as Tensor[]);
    case 'number':
      return fromFlat(samples as number[], [samples.length], { dtype: (samples as number[]).every(Number.isInteger) ? 'int32' : 'float32' });
    case 'array':
      agree('length', (s) => String((s as unknown[]).length));
      return (first as unknown[]).map((_, i) => collate(samples.map((s) => (s as unknown[])[i]), `${where}[${i}]`));
    case 'object':
      agree('keys', (s) => `{${Object.keys(s as object).sort().join(', ')}}`);
      return Object.fromEntries(Object.keys(first as object).map((k) => [k, collate(samples.map((s) => (s as Record<string, unknown>)[k]), `${where}.${k}`)]));
    default:
      throw new StrideError(`default_collate: cannot batch ${where} of type ${kindOf(first)} (expected tensors, numbers, or arrays and objects of them)`);
  }
}

/** Stacks samples into a batch: tensors along a new dim 0, numbers into a tensor, arrays and objects field by field. */
export function default_collate(samples: readonly unknown[]): unknown {
  if (samples.length === 0) throw new StrideError('default_collate: expected at least one sample, got none');
  return collate(samples, 'batch');
}

export interface DataLoaderOptions<T, B> {
  batch_size?: number;
  /** Reshuffle at every epoch from the seeded generator (see `seed`). */
  shuffle?: boolean;
  /** Drop the last batch if it is smaller than batch_size. */
  drop_last?: boolean;
  collate_fn?: (samples: T[]) => B;
  /**
   * Seed of the shuffling. Epoch e draws its order from Philox stream e of this seed, so the order
   * of any epoch can be reproduced on its own (what resuming a run needs).
   */
  seed?: number;
  /** Batches prepared ahead of the one being consumed (default 1). */
  prefetch?: number;
}

/**
 * Batches of a dataset (torch.utils.data.DataLoader), iterated with `for await`. While the
 * consumer trains on one batch, the next one's items are already being fetched (asynchronous
 * work such as image decoding runs meanwhile).
 */
export class DataLoader<T, B = unknown> implements AsyncIterable<B> {
  readonly batch_size: number;
  readonly shuffle: boolean;
  readonly drop_last: boolean;
  readonly seed: number;
  private readonly collate: (samples: T[]) => B;
  private readonly prefetch: number;
  /** The epoch the next iteration serves (incremented by each full iteration; settable to resume). */
  epoch = 0;

  constructor(readonly dataset: Dataset<T>, opts: DataLoaderOptions<T, B> = {}) {
    this.batch_size = opts.batch_size ?? 1;
    if (!Number.isInteger(this.batch_size) || this.batch_size <= 0) throw new StrideError(`DataLoader: batch_size must be a positive integer, got ${this.batch_size}`);
    this.shuffle = opts.shuffle ?? false;
    this.drop_last = opts.drop_last ?? false;
    this.seed = opts.seed ?? 0;
    if (!Number.isSafeInteger(this.seed) || this.seed < 0) throw new StrideError(`DataLoader: seed must be a non-negative integer, got ${this.seed}`);
    this.collate = opts.collate_fn ?? (default_collate as (s: T[]) => B);
    this.prefetch = opts.prefetch ?? 1;
    if (!Number.isInteger(this.prefetch) || this.prefetch < 0) throw new StrideError(`DataLoader: prefetch must be a non-negative integer, got ${this.prefetch}`);
  }

  /** Number of batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.drop_last ? Math.floor(n / this.batch_size) : Math.ceil(n / this.batch_size);
  }

  /** The sample order of an epoch. */
  order(epoch: number): number[] {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new StrideError(`DataLoader: epoch must be a non-negative integer, got ${epoch}`);
    const n = this.dataset.length;
    if (!this.shuffle) return [...Array(n).keys()];
    const g = new Generator(this.seed).set_state({ seed: this.seed, offset: epoch * 2 ** 32 });
    return Array.from(randperm(n, { generator: g }).dataSync());
  }

  /** The batches of one epoch from batch `start` on (to resume mid-epoch). */
  async *batches(epoch: number, start = 0): AsyncGenerator<B> {
    if (!Number.isInteger(start) || start < 0 || start > this.length) {
      throw new IndexError(`DataLoader.batches: start must be a batch index in 0..${this.length}, got ${start}`);
    }
    const order = this.order(epoch);
    const load = async (b: number): Promise<B> => {
      const idx = order.slice(b * this.batch_size, (b + 1) * this.batch_size);
      return this.collate(await Promise.all(idx.map((i) => this.dataset.get(i))));
    };
    // The awaited batch and up to `prefetch` more are in flight. If the consumer stops early, the
    // ones it never awaits must not surface as unhandled rejections, hence the empty catch.
    const inFlight: Promise<B>[] = [];
    let next = start;
    while (next < this.length || inFlight.length > 0) {
      while (next < this.length && inFlight.length <= this.prefetch) {
        const batch = load(next++);
        batch.catch(() => {});
        inFlight.push(batch);
      }
      yield await inFlight.shift()!;
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<B> {
    yield* this.batches(this.epoch);
    this.epoch++;
  }
}
