import type { DataLoader } from '../data/dataloader.js';
import type { Module } from '../nn/module.js';
import { no_grad } from '../autograd/grad_mode.js';
import { stack } from '../ops/join.js';
import { cross_entropy } from '../ops/loss.js';
import { fromFlat } from '../tensor/creation.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';

export type LabeledBatch = [Tensor, Tensor];

/** (image, label) samples to a batch: images stacked, labels as int32. The samples' images are disposed: the batch replaces them. */
export function collateLabeled(samples: [Tensor, number][]): LabeledBatch {
  // In a scope, so that stack's per-sample views (which hold the images' memory) go too.
  const images = tidy(() => stack(samples.map((s) => s[0])));
  for (const [image] of samples) image.dispose();
  return [images, fromFlat(samples.map((s) => s[1]), [samples.length], { dtype: 'int32' })];
}

export interface Evaluation {
  loss: number;
  accuracy: number;
  /** confusion[true][predicted] counts. */
  confusion: number[][];
  per_class: number[];
  /** Predicted class of every sample, in loader order. */
  predictions: number[];
}

/** Mean cross-entropy, accuracy and confusion matrix of a model over a loader (eval mode, no grad). */
export async function evaluate<T>(model: Module, loader: DataLoader<T, LabeledBatch>, numClasses: number): Promise<Evaluation> {
  const wasTraining = model.training;
  model.eval();
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  const predictions: number[] = [];
  let lossSum = 0;
  let n = 0;
  try {
    for await (const [x, y] of loader.batches(0)) {
      const { loss, pred } = tidy(() =>
        no_grad(() => {
          const logits = (model.call as (x: Tensor) => Tensor)(x);
          return { loss: cross_entropy(logits, y, { reduction: 'sum' }).item(), pred: Array.from(logits.argmax(1).dataSync()) };
        }),
      );
      const labels = y.dataSync();
      // Batches come every step from outside any scope: free them here rather than wait for the GC.
      x.dispose();
      y.dispose();
      pred.forEach((p, i) => confusion[labels[i]!]![p]!++);
      predictions.push(...pred);
      lossSum += loss;
      n += labels.length;
    }
  } finally {
    model.train(wasTraining);
  }
  const correct = confusion.reduce((s, row, i) => s + row[i]!, 0);
  return {
    loss: lossSum / Math.max(n, 1),
    accuracy: correct / Math.max(n, 1),
    confusion,
    per_class: confusion.map((row, i) => row[i]! / Math.max(1, row.reduce((a, b) => a + b, 0))),
    predictions,
  };
}
