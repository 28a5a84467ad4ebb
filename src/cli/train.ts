import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageClassificationDataset, type ClassificationData, type ImageSet } from '../data/classification.js';
import { DataLoader } from '../data/dataloader.js';
import { Subset } from '../data/dataset.js';
import { saveSafetensors, writeFileAtomic } from '../io/files.js';
import { create_model } from '../models/registry.js';
import type { Module } from '../nn/module.js';
import { cross_entropy } from '../ops/loss.js';
import { Adagrad, Adam, AdamW, LAMB, RMSprop, SGD, lr_scheduler } from '../optim/index.js';
import type { Optimizer } from '../optim/optimizer.js';
import { StrideError } from '../tensor/errors.js';
import { get_default_backend } from '../backend/backend.js';
import { tidy } from '../tensor/memory.js';
import { default_generator, Generator } from '../tensor/random.js';
import { stack } from '../ops/join.js';
import type { Tensor } from '../tensor/tensor.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { MODEL_INFO_KEY, type ModelInfo } from './commands.js';
import { collateLabeled, evaluate } from './evaluate.js';
import type { Augmentation } from './augment.js';
import { Profiler } from './profile.js';
import { EpochProgress } from './progress.js';
import { writeReport, type EpochMetrics } from './report.js';

export const OPTIMIZERS = ['sgd', 'adam', 'adamw', 'rmsprop', 'adagrad', 'lamb'] as const;
export const SCHEDULES = ['none', 'step', 'cosine', 'onecycle', 'plateau'] as const;

export interface TrainOptions {
  model: string;
  data: ClassificationData;
  epochs: number;
  batch_size: number;
  lr: number;
  optimizer: (typeof OPTIMIZERS)[number];
  momentum: number;
  weight_decay: number;
  schedule: (typeof SCHEDULES)[number];
  /** Fraction of the training set held out for validation. */
  val_split: number;
  /** Use only the first N training images (for quick runs). */
  limit: number | null;
  augment: Augmentation | null;
  augment_names: string[];
  seed: number;
  out: string;
  resume: boolean;
  /** Print per-epoch lines (and the progress bar on a terminal). */
  log: (line: string) => void;
  /** Time every training step by layer, backward op and primitive; print the table and write profile.md. */
  profile?: boolean;
}

function makeOptimizer(o: TrainOptions, params: Tensor[]): Optimizer<{ lr: number }> {
  const wd = o.weight_decay;
  switch (o.optimizer) {
    case 'sgd': return new SGD(params, { lr: o.lr, momentum: o.momentum, weight_decay: wd });
    case 'adam': return new Adam(params, { lr: o.lr, weight_decay: wd });
    case 'adamw': return new AdamW(params, { lr: o.lr, weight_decay: wd });
    case 'rmsprop': return new RMSprop(params, { lr: o.lr, momentum: o.momentum, weight_decay: wd });
    case 'adagrad': return new Adagrad(params, { lr: o.lr, weight_decay: wd });
    case 'lamb': return new LAMB(params, { lr: o.lr, weight_decay: wd });
  }
}

type Scheduler = { step(metric?: number): void; state_dict(): Record<string, unknown>; load_state_dict(s: Record<string, unknown>): void };

/** Per-epoch schedules step after each epoch; onecycle steps after each batch. */
function makeScheduler(o: TrainOptions, opt: Optimizer<{ lr: number }>, batchesPerEpoch: number): Scheduler | null {
  switch (o.schedule) {
    case 'none': return null;
    case 'step': return new lr_scheduler.StepLR(opt, Math.max(1, Math.round(o.epochs / 3)), 0.1);
    case 'cosine': return new lr_scheduler.CosineAnnealingLR(opt, o.epochs);
    case 'onecycle': return new lr_scheduler.OneCycleLR(opt, o.lr, { total_steps: o.epochs * batchesPerEpoch });
    case 'plateau': {
      const s = new lr_scheduler.ReduceLROnPlateau(opt, { patience: 2 });
      return { step: (m) => s.step(m!), state_dict: () => s.state_dict(), load_state_dict: (d) => s.load_state_dict(d) };
    }
  }
}

/** Independent generators per purpose, derived from the run's seed (a Philox stream each). */
function stream(seed: number, id: number): Generator {
  return new Generator(seed).set_state({ seed, offset: id * 2 ** 40 });
}

/** SHA-256 of a split's images and labels, to recognise the data of a run. */
function fingerprint(set: ImageSet): string {
  const hash = createHash('sha256');
  for (const t of [set.images, set.labels]) {
    const a = t.dataSync();
    hash.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  return hash.digest('hex');
}

/** Summed loss, correct predictions and count of one batch. */
function batchStats(loss: Tensor, logits: Tensor, y: Tensor): { loss: number; correct: number; seen: number } {
  const labels = y.dataSync();
  const pred = logits.argmax(1).dataSync();
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (pred[i] === labels[i]) correct++;
  return { loss: loss.item() * labels.length, correct, seen: labels.length };
}

export interface TrainResult {
  model: Module;
  history: EpochMetrics[];
  test: { loss: number; accuracy: number };
  files: string[];
}

/**
 * Trains a model by name on a classification dataset: SGD-style loop with a per-epoch validation
 * pass, a checkpoint after every epoch (and on interrupt), and at the end the test evaluation,
 * model.safetensors + model.json and the report. With resume, continues from out/checkpoint.json
 * and ends with exactly the weights an uninterrupted run would have.
 */
export async function train(o: TrainOptions, signal: { interrupted: boolean } = { interrupted: false }): Promise<TrainResult> {
  const d = o.data;
  const [, c, h, w] = d.train.images.shape as [number, number, number, number];
  const settings = {
    model: o.model, dataset: d.name, epochs: o.epochs, batch_size: o.batch_size, optimizer: o.optimizer, lr: o.lr,
    momentum: o.momentum, weight_decay: o.weight_decay, schedule: o.schedule, val_split: o.val_split, limit: o.limit,
    augment: o.augment_names, seed: o.seed, backend: get_default_backend(),
  };
  default_generator.manual_seed(o.seed);
  const modelOptions = { num_classes: d.classes.length, in_channels: c, input_size: h };
  const model = create_model(o.model, modelOptions);

  // Split the (limited) training set into train/validation with a seeded permutation.
  const augment = o.augment;
  const trainAll = new ImageClassificationDataset(d.train, { mean: d.mean, std: d.std, transform: augment ? (img, i) => augment.apply(img, i) : null });
  const evalAll = new ImageClassificationDataset(d.train, { mean: d.mean, std: d.std });
  const n = Math.min(o.limit ?? Infinity, trainAll.length);
  if (!(o.val_split >= 0 && o.val_split < 1)) throw new StrideError(`val_split must be a fraction in [0, 1), got ${o.val_split}`);
  const nVal = Math.round(n * o.val_split);
  if (nVal >= n) throw new StrideError(`no training images left: ${n} images of which ${nVal} are held out for validation (val_split ${o.val_split})`);
  const perm = Array.from(stream(o.seed, 1).uniform(n, 53)).map((u, i) => [u, i] as const).sort((a, b) => a[0] - b[0]).map(([, i]) => i);
  const trainSet = new Subset(trainAll, perm.slice(nVal));
  const valSet = new Subset(evalAll, perm.slice(0, nVal));
  const testSet = new ImageClassificationDataset(d.test, { mean: d.mean, std: d.std });
  const loader = new DataLoader(trainSet, { batch_size: o.batch_size, shuffle: true, seed: o.seed, collate_fn: collateLabeled });
  const evalLoader = (set: typeof valSet | typeof testSet) => new DataLoader(set, { batch_size: 256, collate_fn: collateLabeled });

  await mkdir(o.out, { recursive: true });
  const optimizer = makeOptimizer(o, model.parameters());
  const scheduler = makeScheduler(o, optimizer, loader.length);
  let history: EpochMetrics[] = [];
  let startEpoch = 0;
  let startBatch = 0;
  let partial = { loss: 0, correct: 0, seen: 0, seconds: 0 };
  const trainSha256 = fingerprint(d.train);
  if (o.resume) {
    const ck = await loadCheckpoint(o.out);
    // Continuing with other settings or data would give a run that matches neither.
    const [saved, asked] = [ck.state.settings, settings as Record<string, unknown>];
    // The backend may change (a machine without the native addon can continue a native run): the
    // numbers then differ in the last bits, not in meaning.
    const differ = Object.keys(asked).filter((k) => k !== 'backend' && JSON.stringify(saved[k]) !== JSON.stringify(asked[k]));
    if (saved['backend'] !== asked['backend']) o.log(`note: the run was trained on the ${String(saved['backend'])} backend and continues on ${String(asked['backend'])}; the result will not be bit-identical to an uninterrupted run`);
    if (differ.length > 0) {
      const list = differ.map((k) => `${k} ${JSON.stringify(saved[k])} (not ${JSON.stringify(asked[k])})`).join(', ');
      throw new StrideError(`cannot resume: ${o.out} holds a run with ${list}; resume it with its own options`);
    }
    if (ck.state.dataset.train_sha256 !== trainSha256) {
      throw new StrideError(`cannot resume: the ${d.name} training images in ${d.source} are not those the run in ${o.out} was trained on`);
    }
    model.load_state_dict(ck.model);
    optimizer.load_state_dict(ck.optimizer as never);
    if (scheduler && ck.state.scheduler) scheduler.load_state_dict(ck.state.scheduler);
    default_generator.set_state(ck.state.rng);
    history = ck.state.history;
    startEpoch = ck.state.epoch;
    startBatch = ck.state.batch;
    partial = ck.state.partial;
    o.log(`resuming ${o.out} at epoch ${startEpoch + 1}, batch ${startBatch}`);
  }

  const checkpoint = (epoch: number, batch: number) =>
    saveCheckpoint(o.out, model, optimizer as Optimizer<object>, {
      format: 'stride-checkpoint', version: 1, optimizerName: o.optimizer,
      model: { name: o.model, options: modelOptions },
      dataset: { name: d.name, classes: d.classes, mean: d.mean, std: d.std, input_shape: [c, h, w], train_sha256: trainSha256 },
      epoch, batch, scheduler: scheduler?.state_dict() ?? null, rng: default_generator.get_state(), partial, history, settings,
    });

  const profiler = o.profile ? new Profiler(model, optimizer) : null;
  for (let epoch = startEpoch; epoch < o.epochs; epoch++) {
    model.train();
    o.augment?.set_epoch(epoch);
    const bar = new EpochProgress(`epoch ${epoch + 1}/${o.epochs}`, loader.length, startBatch);
    const t0 = performance.now() - partial.seconds * 1000;
    let batch = startBatch;
    for await (const [x, y] of loader.batches(epoch, startBatch)) {
      const step = () => tidy(() => {
        optimizer.zero_grad();
        const logits = (model.call as (x: Tensor) => Tensor)(x);
        const loss = cross_entropy(logits, y);
        loss.backward();
        optimizer.step();
        return batchStats(loss, logits, y);
      });
      const stats = profiler ? profiler.step(step) : step();
      // The batch was made outside the step's scope: free it now rather than wait for the GC.
      x.dispose();
      y.dispose();
      if (o.schedule === 'onecycle') scheduler!.step();
      partial.loss += stats.loss;
      partial.correct += stats.correct;
      partial.seen += stats.seen;
      batch++;
      const seconds = (performance.now() - t0) / 1000;
      bar.update(batch, partial.loss / partial.seen, partial.correct / partial.seen, partial.seen / seconds);
      // The batches are computed synchronously: let the event loop deliver a pending SIGINT.
      await new Promise((resolve) => setImmediate(resolve));
      if (signal.interrupted) {
        bar.stop();
        partial.seconds = seconds;
        await checkpoint(epoch, batch);
        o.log(`interrupted: checkpoint saved at epoch ${epoch + 1}, batch ${batch}; continue with --resume`);
        throw new InterruptedError();
      }
    }
    bar.stop();
    const seconds = (performance.now() - t0) / 1000;
    const val = nVal > 0 ? await evaluate(model, evalLoader(valSet), d.classes.length) : null;
    const lr = (optimizer.param_groups[0] as { lr: number }).lr;
    const m: EpochMetrics = {
      epoch: epoch + 1,
      train_loss: partial.loss / partial.seen,
      train_accuracy: partial.correct / partial.seen,
      val_loss: val?.loss ?? NaN,
      val_accuracy: val?.accuracy ?? NaN,
      lr, seconds, images_per_second: partial.seen / seconds,
    };
    history.push(m);
    o.log(`epoch ${m.epoch}/${o.epochs}: train loss ${m.train_loss.toFixed(4)} acc ${(100 * m.train_accuracy).toFixed(2)}% | val loss ${m.val_loss.toFixed(4)} acc ${(100 * m.val_accuracy).toFixed(2)}% | ${Math.round(m.images_per_second)} img/s, ${seconds.toFixed(1)} s`);
    if (scheduler && o.schedule !== 'onecycle') scheduler.step(o.schedule === 'plateau' ? m.val_loss : undefined);
    partial = { loss: 0, correct: 0, seen: 0, seconds: 0 };
    startBatch = 0;
    await checkpoint(epoch + 1, 0);
  }

  const profileFiles: string[] = [];
  if (profiler) {
    profiler.stop();
    const table = profiler.report();
    o.log(`\n${table}`);
    await writeFileAtomic(join(o.out, 'profile.md'), new TextEncoder().encode(table));
    profileFiles.push('profile.md');
  }

  const test = await evaluate(model, evalLoader(testSet), d.classes.length);
  o.log(`test accuracy: ${(100 * test.accuracy).toFixed(2)}% (loss ${test.loss.toFixed(4)}, ${testSet.length} images)`);
  const modelJson: ModelInfo = { model: o.model, options: modelOptions, dataset: d.name, classes: d.classes, mean: d.mean, std: d.std, input_shape: [c, h, w] };
  await saveSafetensors(join(o.out, 'model.safetensors'), model.state_dict(), { format: 'pt', [MODEL_INFO_KEY]: JSON.stringify(modelJson) });
  await writeFileAtomic(join(o.out, 'model.json'), new TextEncoder().encode(JSON.stringify(modelJson, null, 2) + '\n'));

  // Up to 24 misclassified test images for the report, un-normalised back to [0, 1].
  const testLabels = d.test.labels.dataSync();
  const wrong = test.predictions.map((p, i) => [p, i] as const).filter(([p, i]) => p !== testLabels[i]).slice(0, 24);
  const images = wrong.length ? stack(wrong.map(([, i]) => d.test.images.select(0, i).float().div(255))) : d.test.images.slice(0, 0, 0).float();
  const files = await writeReport(o.out, {
    title: `stride: ${o.model} on ${d.name}`,
    model: o.model, dataset: d.name, history, classes: d.classes, settings,
    test: { loss: test.loss, accuracy: test.accuracy, confusion: test.confusion, per_class: Object.fromEntries(d.classes.map((k, i) => [k, test.per_class[i]!])) },
    mistakes: { images, captions: wrong.map(([p, i]) => `predicted ${d.classes[p]}\ntrue ${d.classes[testLabels[i]!]}`) },
  });
  return { model, history, test: { loss: test.loss, accuracy: test.accuracy }, files: ['model.safetensors', 'model.json', 'checkpoint.json', ...profileFiles, ...files] };
}

export class InterruptedError extends StrideError {
  override name = 'InterruptedError';
}
