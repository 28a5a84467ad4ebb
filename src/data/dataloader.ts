import { stack } from '../ops/join.js';
import { fromFlat, randperm } from '../tensor/creation.js';
import { StrideError } from '../tensor/errors.js';
import { Generator } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import type { Dataset } from './dataset.js';

/** Stacks samples into a batch: tensors along a new dim 0, numbers into a tensor, arrays and objects field by field. */
export function default_collate(samples: readonly unknown[]): unknown {
  const first = samples[0];
  if (first instanceof Tensor) return stack(samples as Tensor[]);
  if (typeof first === 'number') {
    return fromFlat(samples as number[], [samples.length], { dtype: (samples as number[]).every(Number.isInteger) ? 'int32' : 'float32' });
  }
  if (Array.isArray(first)) return first.map((_, i) => default_collate(samples.map((s) => (s as unknown[])[i])));
  if (first !== null && typeof first === 'object') {
    return Object.fromEntries(Object.keys(first).map((k) => [k, default_collate(samples.map((s) => (s as Record<string, unknown>)[k]))]));
  }
  throw new StrideError(`default_collate: cannot batch samples of type ${typeof first}`);
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
    this.collate = opts.collate_fn ?? (default_collate as (s: T[]) => B);
    this.prefetch = Math.max(0, opts.prefetch ?? 1);
  }

  /** Number of batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.drop_last ? Math.floor(n / this.batch_size) : Math.ceil(n / this.batch_size);
  }

  /** The sample order of an epoch. */
  order(epoch: number): number[] {
    const n = this.dataset.length;
    if (!this.shuffle) return [...Array(n).keys()];
    const g = new Generator(this.seed).set_state({ seed: this.seed, offset: epoch * 2 ** 32 });
    return Array.from(randperm(n, { generator: g }).dataSync());
  }

  /** The batches of one epoch from batch `start` on (to resume mid-epoch). */
  async *batches(epoch: number, start = 0): AsyncGenerator<B> {
    const order = this.order(epoch);
    const load = async (b: number): Promise<B> => {
      const idx = order.slice(b * this.batch_size, (b + 1) * this.batch_size);
      return this.collate(await Promise.all(idx.map((i) => this.dataset.get(i))));
    };
    const queue: Promise<B>[] = [];
    let next = start;
    const fill = () => {
      while (next < this.length && queue.length <= this.prefetch) queue.push(load(next++));
    };
    fill();
    while (queue.length > 0) {
      const batch = await queue.shift()!;
      fill();
      yield batch;
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<B> {
    yield* this.batches(this.epoch);
    this.epoch++;
  }
}
