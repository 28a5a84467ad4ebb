import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Generator, IndexError, StrideError, Tensor, arange, fromFlat, memory, set_memory_debug, tensor, zeros } from '../src/index.js';
import { collateLabeled, evaluate } from '../src/cli/evaluate.js';
import { ImageClassificationDataset } from '../src/data/classification.js';
import { parseIdx, parseIdxLabels } from '../src/data/idx.js';
import { BUNDLED_SUBSET } from '../src/io/datasets.js';
import { readBytes } from '../src/io/files.js';
import { load_weights } from '../src/io/weights.js';
import { ConvNet } from '../src/models/index.js';
import { DataLoader, default_collate } from '../src/data/dataloader.js';
import { MappedDataset, Subset, TensorDataset, random_split, type Dataset } from '../src/data/dataset.js';
import { throwsNaming } from './helpers.js';

/** Items 0..n-1, recording every index fetched (in call order). */
class Numbers implements Dataset<number> {
  readonly fetched: number[] = [];
  constructor(readonly length: number) {}
  get(i: number): number {
    this.fetched.push(i);
    return i;
  }
}

async function collect<B>(it: AsyncIterable<B>): Promise<B[]> {
  const out: B[] = [];
  for await (const b of it) out.push(b);
  return out;
}

const values = (t: unknown) => Array.from((t as Tensor).dataSync());
/** The sample indices of each batch of an epoch of a loader over Numbers. */
const epochOf = async (l: DataLoader<number, Tensor>, epoch: number, start = 0) => (await collect(l.batches(epoch, start))).map(values);

// ---------------------------------------------------------------- datasets

test('TensorDataset: item i is the i-th slice of every tensor; length is the shared first dim', () => {
  const x = arange(12).reshape([4, 3]);
  const y = tensor([10, 11, 12, 13], { dtype: 'int32' });
  const ds = new TensorDataset(x, y);
  assert.equal(ds.length, 4);
  const [xi, yi] = ds.get(2);
  assert.deepEqual(xi!.tolist(), [6, 7, 8]);
  assert.equal(yi!.item(), 12);
  assert.deepEqual([...yi!.shape], []);
});

test('TensorDataset: refuses no tensors, different first dims, 0-d tensors and bad indices', () => {
  throwsNaming(() => new TensorDataset(), StrideError, 'at least one tensor');
  throwsNaming(() => new TensorDataset(zeros([4, 2]), zeros([5])), StrideError, 'same first dim', 'tensor 0 has 4', 'tensor 1 has shape [5]');
  throwsNaming(() => new TensorDataset(zeros([])), StrideError, 'tensor 0 has shape []');
  const ds = new TensorDataset(zeros([3]));
  throwsNaming(() => ds.get(3), IndexError, 'index 3', 'length 3');
  throwsNaming(() => ds.get(-1), IndexError, 'index -1');
  throwsNaming(() => ds.get(0.5), IndexError, 'index 0.5');
});

test('Subset: the items at the given indices, in that order; indices are checked up front', () => {
  const base = new Numbers(10);
  const s = new Subset(base, [7, 2, 2, 9]);
  assert.equal(s.length, 4);
  assert.deepEqual([0, 1, 2, 3].map((i) => s.get(i)), [7, 2, 2, 9]);
  throwsNaming(() => s.get(4), IndexError, 'Subset', 'index 4', 'length 4');
  throwsNaming(() => new Subset(base, [0, 10]), IndexError, 'Subset', 'index 10', 'length 10');
});

test('MappedDataset applies fn to each item with its index (and awaits async items)', async () => {
  const asyncBase: Dataset<number> = { length: 3, get: async (i) => i * 10 };
  const m = new MappedDataset(asyncBase, (v, i) => `${v}@${i}`);
  assert.equal(m.length, 3);
  assert.deepEqual(await Promise.all([0, 1, 2].map((i) => m.get(i))), ['0@0', '10@1', '20@2']);
});

test('random_split with counts: disjoint subsets covering the dataset, reproducible with a seeded generator', () => {
  const ds = new Numbers(10);
  const parts = random_split(ds, [3, 7], new Generator(5));
  assert.deepEqual(parts.map((p) => p.length), [3, 7]);
  const all = parts.flatMap((p) => [...p.indices]);
  assert.deepEqual([...all].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.notDeepEqual(all, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'the split is shuffled');
  const again = random_split(ds, [3, 7], new Generator(5)).flatMap((p) => [...p.indices]);
  assert.deepEqual(again, all);
  const other = random_split(ds, [3, 7], new Generator(6)).flatMap((p) => [...p.indices]);
  assert.notDeepEqual(other, all);
});

test('random_split with fractions: floor of each share, the remainder round-robin from the first (as PyTorch)', () => {
  assert.deepEqual(random_split(new Numbers(10), [0.5, 0.5], new Generator(0)).map((p) => p.length), [5, 5]);
  // 11 * [0.3, 0.3, 0.4] floors to [3, 3, 4]; the one left over goes to the first subset.
  assert.deepEqual(random_split(new Numbers(11), [0.3, 0.3, 0.4], new Generator(0)).map((p) => p.length), [4, 3, 4]);
  // 6 * 0.25 floors to 1 each: the two left over go to the first two.
  assert.deepEqual(random_split(new Numbers(6), [0.25, 0.25, 0.25, 0.25], new Generator(0)).map((p) => p.length), [2, 2, 1, 1]);
  // A one-item dataset split in halves is still a split by fractions (PyTorch gives [1, 0]).
  assert.deepEqual(random_split(new Numbers(1), [0.5, 0.5], new Generator(0)).map((p) => p.length), [1, 0]);
  const parts = random_split(new Numbers(7), [0.7, 0.2, 0.1], new Generator(1));
  assert.deepEqual([...parts.flatMap((p) => [...p.indices])].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6]);
});

test('random_split refuses counts that do not sum to the length, fractions that do not sum to 1, negatives', () => {
  const ds = new Numbers(10);
  throwsNaming(() => random_split(ds, [3, 6]), StrideError, 'random_split', '[3, 6]', 'dataset length 10');
  throwsNaming(() => random_split(ds, [0.5, 0.4]), StrideError, '[0.5, 0.4]', 'fractions summing to 1');
  throwsNaming(() => random_split(ds, [-2, 12]), StrideError, '[-2, 12]');
  throwsNaming(() => random_split(ds, [2.5, 7.5]), StrideError, '[2.5, 7.5]');
  throwsNaming(() => random_split(ds, []), StrideError, 'lengths []');
});

// ---------------------------------------------------------------- default_collate

test('default_collate stacks tensors along a new dim 0', () => {
  const b = default_collate([tensor([1, 2]), tensor([3, 4]), tensor([5, 6])]) as Tensor;
  assert.deepEqual([...b.shape], [3, 2]);
  assert.deepEqual(b.tolist(), [[1, 2], [3, 4], [5, 6]]);
});

test('default_collate turns numbers into int32 (all integers) or float32 tensors', () => {
  const ints = default_collate([3, 1, 4]) as Tensor;
  assert.equal(ints.dtype, 'int32');
  assert.deepEqual(ints.tolist(), [3, 1, 4]);
  const floats = default_collate([1, 2.5]) as Tensor;
  assert.equal(floats.dtype, 'float32');
  assert.deepEqual(floats.tolist(), [1, 2.5]);
});

test('default_collate batches arrays position by position and objects key by key, recursively', () => {
  const pairs = default_collate([[tensor([1, 2]), 0], [tensor([3, 4]), 1]]) as [Tensor, Tensor];
  assert.ok(Array.isArray(pairs));
  assert.equal(pairs.length, 2);
  assert.deepEqual(pairs[0].tolist(), [[1, 2], [3, 4]]);
  assert.deepEqual(pairs[1].tolist(), [0, 1]);
  const dicts = default_collate([{ x: tensor([1]), y: 7, meta: { w: 0.5 } }, { x: tensor([2]), y: 8, meta: { w: 1.5 } }]) as Record<string, unknown>;
  assert.deepEqual(Object.keys(dicts), ['x', 'y', 'meta']);
  assert.deepEqual((dicts.x as Tensor).tolist(), [[1], [2]]);
  assert.deepEqual((dicts.y as Tensor).tolist(), [7, 8]);
  assert.deepEqual(((dicts.meta as Record<string, Tensor>).w).tolist(), [0.5, 1.5]);
});

test('default_collate names the field and the sample that does not match sample 0', () => {
  throwsNaming(() => default_collate([]), StrideError, 'at least one sample');
  throwsNaming(() => default_collate([tensor([1, 2]), tensor([1, 2, 3])]), StrideError, 'batch of sample 0 has shape [2] but of sample 1 [3]');
  throwsNaming(() => default_collate([[tensor([1]), 0], [tensor([2]), 'cat']]), StrideError, 'batch[1] of sample 0 has type number but of sample 1 string');
  throwsNaming(() => default_collate([[1, 2], [1]]), StrideError, 'batch of sample 0 has length 2 but of sample 1 1');
  throwsNaming(() => default_collate([{ a: 1 }, { a: 2 }, { b: 3 }]), StrideError, 'keys {a} but of sample 2 {b}');
  throwsNaming(() => default_collate([{ a: [1, 'x'] }, { a: [2, 'y'] }]), StrideError, 'cannot batch batch.a[1] of type string');
  throwsNaming(() => default_collate([null, null]), StrideError, 'type null');
});

// ---------------------------------------------------------------- DataLoader

test('DataLoader: batch_size, the short last batch, drop_last and length', async () => {
  const l = new DataLoader(new Numbers(10), { batch_size: 4 }) as DataLoader<number, Tensor>;
  assert.equal(l.length, 3);
  assert.deepEqual(await epochOf(l, 0), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
  const d = new DataLoader(new Numbers(10), { batch_size: 4, drop_last: true }) as DataLoader<number, Tensor>;
  assert.equal(d.length, 2);
  assert.deepEqual(await epochOf(d, 0), [[0, 1, 2, 3], [4, 5, 6, 7]]);
  assert.equal(new DataLoader(new Numbers(3), { batch_size: 4, drop_last: true }).length, 0);
  assert.equal(new DataLoader(new Numbers(8), { batch_size: 4, drop_last: true }).length, 2);
  assert.equal(new DataLoader(new Numbers(0), { batch_size: 4 }).length, 0);
  assert.deepEqual(await collect(new DataLoader(new Numbers(0))), []);
  // The default batch size is 1 and the default collate_fn default_collate.
  const one = await collect(new DataLoader(new TensorDataset(arange(3).reshape([3, 1]), tensor([5, 6, 7]))));
  assert.equal(one.length, 3);
  assert.deepEqual((one[2] as Tensor[]).map((t) => t.tolist()), [[[2]], [7]]);
});

test('DataLoader: a custom collate_fn gets the samples of each batch', async () => {
  const l = new DataLoader(new Numbers(5), { batch_size: 2, collate_fn: (s: number[]) => s.join('+') });
  assert.deepEqual(await collect(l.batches(0)), ['0+1', '2+3', '4']);
});

test('DataLoader shuffle: each epoch is a permutation; same seed and epoch give the same order, other epochs and seeds differ', async () => {
  const make = (seed: number) => new DataLoader(new Numbers(50), { batch_size: 8, shuffle: true, seed }) as DataLoader<number, Tensor>;
  const l = make(3);
  const e0 = (await epochOf(l, 0)).flat();
  const e1 = (await epochOf(l, 1)).flat();
  const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
  assert.deepEqual(sorted(e0), [...Array(50).keys()]);
  assert.deepEqual(sorted(e1), [...Array(50).keys()]);
  assert.notDeepEqual(e0, [...Array(50).keys()], 'shuffled');
  assert.notDeepEqual(e0, e1, 'epochs differ');
  assert.deepEqual((await epochOf(make(3), 1)).flat(), e1, 'a new loader with the same seed repeats epoch 1');
  assert.deepEqual(l.order(0), e0);
  assert.notDeepEqual(make(4).order(0), e0, 'another seed gives another order');
  // Without shuffle the order is the identity in every epoch.
  assert.deepEqual(new DataLoader(new Numbers(5)).order(7), [0, 1, 2, 3, 4]);
});

test('DataLoader iterated with for await serves epoch 0, 1, ... in turn (settable to resume)', async () => {
  const l = new DataLoader(new Numbers(20), { batch_size: 20, shuffle: true, seed: 9 }) as DataLoader<number, Tensor>;
  const first = (await collect(l)).map(values);
  const second = (await collect(l)).map(values);
  assert.deepEqual(first, await epochOf(l, 0));
  assert.deepEqual(second, await epochOf(l, 1));
  assert.equal(l.epoch, 2);
  l.epoch = 1;
  assert.deepEqual((await collect(l)).map(values), second);
});

test('DataLoader.batches(epoch, start) resumes mid-epoch with exactly the remaining batches', async () => {
  const l = new DataLoader(new Numbers(23), { batch_size: 5, shuffle: true, seed: 1 }) as DataLoader<number, Tensor>;
  const full = await epochOf(l, 2);
  assert.equal(full.length, 5);
  for (const start of [0, 1, 3, 4, 5]) assert.deepEqual(await epochOf(l, 2, start), full.slice(start), `start ${start}`);
  await assert.rejects(collect(l.batches(0, 6)), (e: unknown) => e instanceof IndexError && /start must be a batch index in 0\.\.5, got 6/.test((e as Error).message));
  await assert.rejects(collect(l.batches(0, -1)), /got -1/);
  await assert.rejects(collect(l.batches(-1)), /epoch must be a non-negative integer, got -1/);
  await assert.rejects(collect(l.batches(1.5)), /got 1\.5/);
});

test('DataLoader prefetch: batches arrive in order even when later items load first', async () => {
  // Item i resolves after (n - i) turns of the event loop, so later batches finish loading first.
  const n = 12;
  const ds: Dataset<number> = {
    length: n,
    get: (i) => new Promise((resolve) => {
      let turns = n - i;
      const tick = () => (turns-- > 0 ? setImmediate(tick) : resolve(i));
      tick();
    }),
  };
  for (const prefetch of [0, 1, 3]) {
    const l = new DataLoader(ds, { batch_size: 3, prefetch }) as DataLoader<number, Tensor>;
    assert.deepEqual(await epochOf(l, 0), [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]], `prefetch ${prefetch}`);
  }
});

test('DataLoader prefetch: while a batch is consumed, exactly `prefetch` more are being loaded', async () => {
  for (const prefetch of [0, 1, 2]) {
    const ds = new Numbers(20);
    const l = new DataLoader(ds, { batch_size: 4, prefetch });
    const fetchedAt: number[] = [];
    for await (const _ of l.batches(0)) fetchedAt.push(ds.fetched.length);
    const expected = [1, 2, 3, 4, 5].map((b) => Math.min(20, 4 * (b + prefetch)));
    assert.deepEqual(fetchedAt, expected, `prefetch ${prefetch}`);
    assert.deepEqual(ds.fetched, [...Array(20).keys()], 'every item fetched once, in order');
  }
});

test('DataLoader: a failing item rejects the iteration; a failing prefetched batch that is never awaited is not an unhandled rejection', async () => {
  const failing: Dataset<number> = { length: 8, get: async (i) => { if (i === 5) throw new StrideError(`item ${i} is broken`); return i; } };
  await assert.rejects(collect(new DataLoader(failing, { batch_size: 2 })), /item 5 is broken/);

  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    // Batch 2 (items 4, 5) is prefetched while batch 0 is consumed; the consumer stops there.
    for await (const _ of new DataLoader(failing, { batch_size: 2, prefetch: 2 }).batches(0)) break;
    await new Promise((r) => setTimeout(r, 20));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  assert.deepEqual(unhandled, []);
});

test('DataLoader refuses a batch_size, seed or prefetch that is not a suitable integer', () => {
  const ds = new Numbers(4);
  throwsNaming(() => new DataLoader(ds, { batch_size: 0 }), StrideError, 'batch_size must be a positive integer, got 0');
  throwsNaming(() => new DataLoader(ds, { batch_size: -2 }), StrideError, 'got -2');
  throwsNaming(() => new DataLoader(ds, { batch_size: 1.5 }), StrideError, 'got 1.5');
  throwsNaming(() => new DataLoader(ds, { seed: -1 }), StrideError, 'seed must be a non-negative integer, got -1');
  throwsNaming(() => new DataLoader(ds, { prefetch: -1 }), StrideError, 'prefetch must be a non-negative integer, got -1');
});

test('image items and evaluation batches are freed as they are used: evaluate() over a loader leaves no tensors', async () => {
  const images = parseIdx(await readBytes(`${BUNDLED_SUBSET}/t10k-images-idx3-ubyte.gz`), 't10k-images').narrow(0, 0, 10).unsqueeze(1);
  const labels = parseIdxLabels(await readBytes(`${BUNDLED_SUBSET}/t10k-labels-idx1-ubyte.gz`), 10).narrow(0, 0, 10);
  const model = new ConvNet();
  await load_weights(model, new URL('./fixtures/models/stride_convnet/model.safetensors', import.meta.url).pathname);
  const set = new ImageClassificationDataset({ images, labels: fromFlat(Array.from(labels.dataSync()), [10], { dtype: 'int32' }) }, { mean: [0.286], std: [0.353] });
  set_memory_debug(true);
  try {
    let before = memory().liveTensors;
    const [image, label] = set.get(3);
    // Before the fix an item left 6 intermediates (select, float, ÷255, −mean) besides the image.
    assert.equal(memory().liveTensors - before, 1);
    assert.equal(label, 1);
    assert.ok(Math.abs(Array.from(image.dataSync()).reduce((a, b) => a + b, 0) + 242.18322) < 1e-3);
    image.dispose();
    before = memory().liveTensors;
    // Before the fix: 86 tensors left over 3 batches (items, stack's views, the batches).
    const e = await evaluate(model, new DataLoader(set, { batch_size: 4, collate_fn: collateLabeled }), 10);
    assert.equal(memory().liveTensors, before);
    assert.deepEqual(e.predictions, [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    assert.equal(e.accuracy, 1);
    assert.ok(Math.abs(e.loss - 0.0109134) < 1e-5, `loss ${e.loss}`);
  } finally {
    set_memory_debug(false);
  }
});
