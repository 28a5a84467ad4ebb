/**
 * The studio's training worker: loads the wasm backend (threads over shared memory when the page
 * is cross-origin isolated; a worker may block, the page may not), holds the data and the model,
 * trains in steps that yield to incoming messages, and posts progress, evaluations, pictures of
 * the model's insides and predictions for drawn images to the page.
 */
import * as st from '../../src/index.js';
import { initWasm, setWasmThreads } from '../../src/backend/wasm/index.js';
import type { ModelInfo } from '../../src/cli/commands.js';
import { collateLabeled, evaluate } from '../../src/cli/evaluate.js';
import type { ClassificationData, ImageSet } from '../../src/data/classification.js';
import { DataLoader } from '../../src/data/dataloader.js';
import { parseIdx, parseIdxLabels } from '../../src/data/idx.js';
import { ConnectionTableConv2d } from '../../src/models/lenet.js';
import { BatchNorm2d, Conv2d, Linear, type Module } from '../../src/nn/index.js';
import { Adam, lr_scheduler, SGD, type Optimizer } from '../../src/optim/index.js';
import { colorize, features, feature_map_grid, filter_grid, grad_cam, make_grid, overlay, saliency, toImageData } from '../../src/vis/index.js';
import { checkpointBytes, readCheckpoint } from './checkpoint.js';
import { create_model } from '../../src/models/registry.js';
import { CUSTOM_MODEL } from '../../src/models/layer_list.js';
import type { Activation, DatasetSummary, Evaluation, FolderImage, FromWorker, Picture, RunState, ToWorker, TrainConfig } from './protocol.js';

const post = (m: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);
const forward = (m: Module, x: st.Tensor): st.Tensor => (m.call as (x: st.Tensor) => st.Tensor)(x);
const picture = (image: st.Tensor): Picture => toImageData(image);

/** The data as the model sees it: normalised float images, made once. */
interface Prepared {
  data: ClassificationData;
  trainX: st.Tensor;
  trainY: st.Tensor;
  testX: st.Tensor;
  testY: st.Tensor;
}

interface Run {
  model: Module;
  info: ModelInfo;
  /** Leaf modules with 4-D outputs (not normalisation), in forward order: the activations shown. */
  layers: string[];
  /** Their class names (Conv2d, ReLU, ...). */
  types: Map<string, string>;
  /** The last convolution, for Grad-CAM (none in an MLP). */
  camLayer: string | null;
  step: number;
}

let prepared: Prepared | null = null;
let run: Run | null = null;
let state: RunState = 'idle';
let stopRequested = false;
let resumeWaiter: (() => void) | null = null;
let inspected = 0;

function setState(s: RunState): void {
  state = s;
  post({ type: 'state', state: s });
}

/** Lets queued messages (pause, a drawing to predict) in between training steps, without a timer's clamping. */
function yieldToMessages(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

function normalised(images: st.Tensor, mean: number[], std: number[]): st.Tensor {
  const c = mean.length;
  return st.keep(st.tidy(() => images.float().div(255).sub(st.fromFlat(mean, [c, 1, 1])).div(st.fromFlat(std, [c, 1, 1]))));
}

function prepare(data: ClassificationData): void {
  if (prepared) for (const t of [prepared.trainX, prepared.trainY, prepared.testX, prepared.testY]) t.dispose();
  prepared = {
    data,
    trainX: normalised(data.train.images, data.mean, data.std),
    trainY: data.train.labels,
    testX: normalised(data.test.images, data.mean, data.std),
    testY: data.test.labels,
  };
  const [, c, h, w] = data.test.images.shape as [number, number, number, number];
  const summary: DatasetSummary = {
    name: data.name, classes: data.classes, train: data.train.labels.shape[0]!, test: data.test.labels.shape[0]!, input_shape: [c, h, w],
    test_images: Uint8Array.from(data.test.images.dataSync()), test_labels: Int32Array.from(data.test.labels.dataSync()),
  };
  post({ type: 'dataset', dataset: summary }, [summary.test_images.buffer, summary.test_labels.buffer]);
}

async function fetchBytes(url: URL): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`fetching ${url.href}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** The bundled Fashion-MNIST subset, from the files the build serves beside the page. */
async function loadBundled(base: string): Promise<ClassificationData> {
  const dir = new URL('fashion-mnist/', base);
  const meta = JSON.parse(new TextDecoder().decode(await fetchBytes(new URL('dataset.json', dir)))) as { name: string; classes: string[]; mean: number[]; std: number[] };
  const split = async (prefix: 'train' | 't10k'): Promise<ImageSet> => {
    const [images, labels] = await Promise.all([`${prefix}-images-idx3-ubyte.gz`, `${prefix}-labels-idx1-ubyte.gz`].map((f) => fetchBytes(new URL(f, dir))));
    return { images: parseIdx(images!, `${prefix}-images`).unsqueeze(1), labels: parseIdxLabels(labels!, meta.classes.length, `${prefix}-labels`) };
  };
  return { name: meta.name, classes: meta.classes, mean: meta.mean, std: meta.std, train: await split('train'), test: await split('t10k'), source: dir.href };
}

/**
 * A dropped picture folder as a dataset: classes are the sub-folder names in sorted order, every
 * fifth picture of a class goes to the test split, mean and std come from the training pictures.
 */
function folderDataset(name: string, images: FolderImage[], size: number, channels: 1 | 3): ClassificationData {
  const classes = [...new Set(images.map((i) => i.label))].sort();
  if (classes.length < 2) throw new Error(`${name}: need pictures in at least two sub-folders (one per class), found ${classes.length}`);
  const seen = new Map<string, number>();
  const train: FolderImage[] = [];
  const test: FolderImage[] = [];
  for (const img of images) {
    const k = seen.get(img.label) ?? 0;
    seen.set(img.label, k + 1);
    (k % 5 === 4 ? test : train).push(img);
  }
  if (test.length === 0) throw new Error(`${name}: too few pictures to hold out a test split (at least 5 in a class)`);
  const pixels = size * size;
  const set = (list: FolderImage[]): ImageSet => {
    const bytes = new Uint8Array(list.length * channels * pixels);
    list.forEach((img, i) => bytes.set(img.pixels, i * channels * pixels));
    return {
      images: st.fromFlat(bytes, [list.length, channels, size, size], { dtype: 'uint8' }),
      labels: st.fromFlat(list.map((i) => classes.indexOf(i.label)), [list.length], { dtype: 'int32' }),
    };
  };
  const trainSet = set(train);
  const scaled = trainSet.images.float().div(255);
  const mean = Array.from(scaled.mean([0, 2, 3]).dataSync());
  const std = Array.from(scaled.std([0, 2, 3]).dataSync()).map((s) => Math.max(s, 1e-3));
  return { name, classes, mean, std, train: trainSet, test: set(test), source: name };
}

/** Runs fn with the model in eval mode (BatchNorm's running statistics), then puts it back. */
function inEval<T>(model: Module, fn: () => T): T {
  const was = model.training;
  model.eval();
  try {
    return fn();
  } finally {
    model.train(was);
  }
}

function describe(model: Module, info: ModelInfo, source: string): Run {
  const summary = model.summary(info.input_shape);
  const modules = new Map(model.named_modules());
  const shown = summary.rows.filter((r) => r.output_shape.length === 3 && !(modules.get(r.name) instanceof BatchNorm2d));
  const layers = shown.map((r) => r.name);
  const convs = summary.rows.filter((r) => modules.get(r.name) instanceof Conv2d || modules.get(r.name) instanceof ConnectionTableConv2d);
  post({ type: 'model', info, parameters: summary.total_params, summary: summary.text, source });
  return { model, info, layers, types: new Map(shown.map((r) => [r.name, r.type])), camLayer: convs.length ? convs[convs.length - 1]!.name : null, step: 0 };
}

function requireData(): Prepared {
  if (!prepared) throw new Error('no dataset is loaded yet');
  return prepared;
}

async function evaluateRun(r: Run, epoch: number, valIndex: st.Tensor | null): Promise<Evaluation> {
  const p = requireData();
  const classes = p.data.classes.length;
  // The CLI's evaluation code, on the normalised images: what `stride eval` computes.
  const loaderOf = (x: st.Tensor, y: st.Tensor) => {
    const labels = y.dataSync();
    return new DataLoader({ length: labels.length, get: (i: number): [st.Tensor, number] => [x.select(0, i), labels[i]!] }, { batch_size: 256, collate_fn: collateLabeled });
  };
  const test = await st.tidy(() => evaluate(r.model, loaderOf(p.testX, p.testY), classes));
  const val = valIndex
    ? await st.tidy(() => evaluate(r.model, loaderOf(p.trainX.index_select(0, valIndex), p.trainY.index_select(0, valIndex)), classes))
    : null;
  return {
    step: r.step, epoch,
    val: val && { loss: val.loss, accuracy: val.accuracy },
    test: { loss: test.loss, accuracy: test.accuracy, confusion: test.confusion, predictions: test.predictions },
  };
}

/** The chosen test image's activations, the model's first-layer weights as pictures, and its probabilities. */
function inspect(r: Run, index: number): void {
  const p = requireData();
  if (!(index >= 0 && index < p.testY.shape[0]!)) return;
  const message = st.tidy(() => inEval(r.model, () => {
    const x = p.testX.select(0, index).unsqueeze(0);
    const maps = features(r.model, x, r.layers);
    const activations: Activation[] = r.layers.map((name) => ({ name, type: r.types.get(name)!, shape: maps[name]!.shape.slice(1), picture: picture(feature_map_grid(maps[name]!, { padding: 1 })) }));
    const probabilities = Array.from(st.no_grad(() => st.softmax(forward(r.model, x), 1)).dataSync());
    return { activations, probabilities, filters: firstLayerPicture(r) };
  }));
  post({ type: 'inspection', index, label: p.testY.dataSync()[index]!, ...message });
}

/** The first convolution's filters; for a net without one, the first layer's weights as images (up to 64 units). */
function firstLayerPicture(r: Run): Picture | null {
  const modules = [...r.model.modules()];
  const conv = modules.find((m): m is Conv2d => m instanceof Conv2d);
  if (conv) return picture(filter_grid(conv.weight, { padding: 1 }));
  const [c, h, w] = r.info.input_shape;
  const linear = modules.find((m): m is Linear => m instanceof Linear && m.in_features === c * h * w);
  if (!linear) return null;
  const units = Math.min(64, linear.out_features);
  return picture(make_grid(linear.weight.detach().slice(0, 0, units).reshape([units, c, h, w]), { padding: 1 }));
}

/** Class probabilities, saliency and Grad-CAM for an image in [0, 1] [C, H, W]. */
function predict(r: Run, id: number, pixels: Float32Array): void {
  const [c, h, w] = r.info.input_shape;
  if (pixels.length !== c * h * w) throw new Error(`the drawing has ${pixels.length} values, the model takes ${c}x${h}x${w}`);
  const message = st.tidy(() => inEval(r.model, () => {
    const x = st.fromFlat(pixels, [1, c, h, w]);
    const mean = st.fromFlat(r.info.mean, [1, c, 1, 1]);
    const std = st.fromFlat(r.info.std, [1, c, 1, 1]);
    const onPixels = (v: st.Tensor) => forward(r.model, v.sub(mean).div(std));
    const probabilities = Array.from(st.no_grad(() => st.softmax(onPixels(x), 1)).dataSync());
    const target = probabilities.indexOf(Math.max(...probabilities));
    const sal = picture(colorize(saliency(onPixels, x, target).select(0, 0)));
    let cam: Picture | null = null;
    if (r.camLayer !== null) {
      const layer = new Map(r.model.named_modules()).get(r.camLayer)!;
      cam = picture(overlay(x.select(0, 0), grad_cam(r.model, layer, x.sub(mean).div(std), target).upsampled.select(0, 0), 0.5));
    }
    return { probabilities, saliency: sal, gradcam: cam };
  }));
  post({ type: 'prediction', id, ...message, gradcam_layer: r.camLayer });
}

function makeOptimizer(c: TrainConfig, model: Module): Optimizer<{ lr: number }> {
  return c.optimizer === 'sgd' ? new SGD(model.parameters(), { lr: c.lr, momentum: c.momentum }) : new Adam(model.parameters(), { lr: c.lr });
}

/** The schedule, stepped after every batch over the run's `total` steps. */
function makeSchedule(c: TrainConfig, opt: Optimizer<{ lr: number }>, total: number): { step(): void } | null {
  switch (c.schedule) {
    case 'none': return null;
    case 'step': return new lr_scheduler.StepLR(opt, Math.max(1, Math.ceil(total / 3)), 0.1);
    case 'cosine': return new lr_scheduler.CosineAnnealingLR(opt, total);
    case 'onecycle': return new lr_scheduler.OneCycleLR(opt, c.lr, { total_steps: total });
  }
}

async function train(c: TrainConfig): Promise<void> {
  const p = requireData();
  const [, ch, h, w] = p.data.train.images.shape as [number, number, number, number];
  if (st.get_default_backend() === 'wasm') setWasmThreads(c.threads);
  st.manual_seed(c.seed);
  const options = { num_classes: p.data.classes.length, in_channels: ch, input_size: h, ...(c.model === CUSTOM_MODEL ? { layers: c.layers } : {}) };
  const info: ModelInfo = { model: c.model, options, dataset: p.data.name, classes: p.data.classes, mean: p.data.mean, std: p.data.std, input_shape: [ch, h, w] };
  const model = create_model(info.model, info.options);
  run?.model.parameters().forEach((t) => t.dispose());
  const r = describe(model, info, `new ${c.model}`);
  run = r;
  inspect(r, inspected);

  // A tenth of the training images, chosen by the seed, is held out for validation.
  const n = p.trainY.shape[0]!;
  const order = Array.from(st.randperm(n, { generator: new st.Generator(c.seed) }).dataSync());
  const nVal = Math.round(n / 10);
  const valIndex = st.keep(st.fromFlat(order.slice(0, nVal), [nVal], { dtype: 'int32' }));
  const trainIndex = order.slice(nVal);
  const perEpoch = Math.ceil(trainIndex.length / c.batch_size);
  const opt = makeOptimizer(c, r.model);
  const schedule = makeSchedule(c, opt, perEpoch * c.epochs);
  const shuffler = new st.Generator(c.seed + 1);

  let evaluatedAt = -1;
  const evaluated = async () => {
    post({ type: 'evaluation', evaluation: await evaluateRun(r, r.step / perEpoch, valIndex) });
    evaluatedAt = r.step;
  };
  stopRequested = false;
  setState('training');
  let window = { images: 0, ms: 0 };
  let lastInspection = performance.now();
  let lastYield = performance.now();
  try {
    for (let epoch = 0; epoch < c.epochs && !stopRequested; epoch++) {
      const perm = st.randperm(trainIndex.length, { generator: shuffler }).dataSync();
      for (let b = 0; b < perEpoch && !stopRequested; b++) {
        const t0 = performance.now();
        const lr = opt.param_groups[0]!.lr;
        const stats = st.tidy(() => {
          const rows = Array.from(perm.subarray(b * c.batch_size, (b + 1) * c.batch_size), (i) => trainIndex[i]!);
          const idx = st.fromFlat(rows, [rows.length], { dtype: 'int32' });
          const x = p.trainX.index_select(0, idx);
          const y = p.trainY.index_select(0, idx);
          opt.zero_grad();
          const logits = forward(r.model, x);
          const loss = st.cross_entropy(logits, y);
          loss.backward();
          opt.step();
          const pred = logits.argmax(1).dataSync();
          const labels = y.dataSync();
          let correct = 0;
          for (let i = 0; i < labels.length; i++) if (pred[i] === labels[i]) correct++;
          return { loss: loss.item(), accuracy: correct / labels.length, images: labels.length };
        });
        schedule?.step();
        r.step++;
        const ms = performance.now() - t0;
        // images/s over about the last second of training steps.
        window = window.ms > 1000 ? { images: stats.images, ms } : { images: window.images + stats.images, ms: window.ms + ms };
        post({ type: 'progress', step: r.step, epoch: r.step / perEpoch, steps_per_epoch: perEpoch, loss: stats.loss, accuracy: stats.accuracy, images_per_second: (1000 * window.images) / window.ms, lr });
        const epochEnd = b === perEpoch - 1;
        if (r.step % c.eval_every === 0 || epochEnd) await evaluated();
        if (performance.now() - lastInspection > 400 || epochEnd) {
          inspect(r, inspected);
          lastInspection = performance.now();
        }
        if (performance.now() - lastYield > 30) {
          await yieldToMessages();
          while (state === 'paused' && !stopRequested) await new Promise<void>((resolve) => (resumeWaiter = resolve));
          lastYield = performance.now();
        }
      }
    }
    // A stopped run ends between evaluations: the panels must show the model as it is kept.
    if (evaluatedAt !== r.step) await evaluated();
  } finally {
    valIndex.dispose();
    setState('done');
  }
}

function load(bytes: Uint8Array, source: string, given?: ModelInfo): void {
  const p = requireData();
  const { model, info } = readCheckpoint(bytes, source, given);
  const [, c, h, w] = p.data.test.images.shape as [number, number, number, number];
  if (info.classes.length !== p.data.classes.length || info.input_shape.join() !== [c, h, w].join()) {
    model.parameters().forEach((t) => t.dispose());
    throw new Error(`${source} classifies ${info.input_shape.join('x')} images into ${info.classes.length} classes; the loaded dataset ${p.data.name} has ${c}x${h}x${w} images in ${p.data.classes.length} classes`);
  }
  run?.model.parameters().forEach((t) => t.dispose());
  run = describe(model, info, source);
}

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case 'load-bundled':
      prepare(await loadBundled(m.base));
      return;
    case 'load-folder':
      prepare(folderDataset(m.name, m.images, m.size, m.channels));
      return;
    case 'train':
      if (state === 'training' || state === 'paused') throw new Error('a run is in progress: stop it first');
      return train(m.config);
    case 'pause':
      if (state === 'training') setState('paused');
      return;
    case 'resume':
    case 'stop':
      if (m.type === 'stop') stopRequested = true;
      if (state === 'paused') setState('training');
      resumeWaiter?.();
      resumeWaiter = null;
      return;
    case 'inspect':
      inspected = m.index;
      if (run) inspect(run, m.index);
      return;
    case 'predict':
      if (run) predict(run, m.id, m.pixels);
      return;
    case 'save': {
      if (!run) throw new Error('there is no model to save: train or open one first');
      const bytes = checkpointBytes(run.model, run.info);
      post({ type: 'saved', bytes, info: run.info }, [bytes.buffer]);
      return;
    }
    case 'load': {
      if (state === 'training' || state === 'paused') throw new Error('stop the run before opening a model');
      load(m.bytes, m.source, m.info);
      inspect(run!, inspected);
      post({ type: 'evaluation', evaluation: await evaluateRun(run!, 0, null) });
      setState('done');
      return;
    }
  }
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  handle(e.data).catch((err: unknown) => post({ type: 'error', message: err instanceof Error ? err.message : String(err) }));
};

const status = await initWasm();
if (status.available) st.set_default_backend('wasm');
post({ type: 'ready', status: { ...status } });
