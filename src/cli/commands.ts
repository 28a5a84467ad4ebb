import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ImageClassificationDataset } from '../data/classification.js';
import { DataLoader } from '../data/dataloader.js';
import { loadDataset } from '../io/datasets.js';
import { loadSafetensors, readBytes } from '../io/files.js';
import { load_weights } from '../io/weights.js';
import { create_model } from '../models/registry.js';
import type { Module } from '../nn/module.js';
import { no_grad } from '../autograd/grad_mode.js';
import { softmax } from '../ops/activation.js';
import { readImage } from '../io/image_folder.js';
import { fromFlat } from '../tensor/creation.js';
import { StrideError } from '../tensor/errors.js';
import { with_default_backend } from '../backend/backend.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { collateLabeled, evaluate } from './evaluate.js';

/** The safetensors metadata key under which model.safetensors carries its ModelInfo as JSON (so one file is a whole model). */
export const MODEL_INFO_KEY = 'stride.model';

/** What train writes next to model.safetensors, and into its metadata. */
export interface ModelInfo {
  model: string;
  options: Record<string, unknown>;
  dataset: string;
  classes: string[];
  mean: number[];
  std: number[];
  input_shape: [number, number, number];
}

/** The ModelInfo in a safetensors file's metadata, or undefined (no such file, not safetensors, or none there). */
async function embeddedInfo(path: string): Promise<ModelInfo | undefined> {
  const contents = await loadSafetensors(path).catch(() => null);
  for (const t of Object.values(contents?.tensors ?? {})) t.dispose();
  const json = contents?.metadata[MODEL_INFO_KEY];
  return json === undefined ? undefined : (JSON.parse(json) as ModelInfo);
}

/** Loads a trained model from a run directory or a model.safetensors beside its model.json, or carrying it in its metadata. */
export async function loadTrained(path: string): Promise<{ model: Module; info: ModelInfo }> {
  let dir = path;
  let weights = join(path, 'model.safetensors');
  try {
    if (!(await stat(path)).isDirectory()) [dir, weights] = [dirname(path), path];
  } catch {
    throw new StrideError(`no such checkpoint: ${path} (give a run directory or its model.safetensors)`);
  }
  const infoPath = join(dir, 'model.json');
  let info: ModelInfo;
  try {
    info = JSON.parse(new TextDecoder().decode(await readBytes(infoPath))) as ModelInfo;
  } catch (e) {
    const embedded = await embeddedInfo(weights);
    if (!embedded) throw new StrideError(`${infoPath}: cannot read the model description (${(e as Error).message}), and ${weights} carries none in its metadata`);
    info = embedded;
  }
  const model = create_model(info.model, info.options);
  await load_weights(model, weights);
  model.eval();
  return { model, info };
}

export async function evalCommand(checkpoint: string, o: { dataset?: string; data?: string }): Promise<void> {
  const { model, info } = await loadTrained(checkpoint);
  const data = await loadDataset(o.dataset ?? info.dataset, { dir: o.data, log: (l) => console.log(l) });
  if (data.classes.length !== info.classes.length) {
    throw new StrideError(`the model predicts ${info.classes.length} classes but ${data.name} has ${data.classes.length}`);
  }
  const shape = data.test.images.shape.slice(1);
  if (shape.join() !== info.input_shape.join()) {
    throw new StrideError(`the model takes images ${formatShape(info.input_shape)} (C, H, W) but ${data.name} has ${formatShape(shape)}`);
  }
  const set = new ImageClassificationDataset(data.test, { mean: info.mean, std: info.std });
  const loader = new DataLoader(set, { batch_size: 256, collate_fn: collateLabeled });
  const r = await evaluate(model, loader, data.classes.length);
  console.log(`${info.model} on ${data.name} test set (${set.length} images): accuracy ${(100 * r.accuracy).toFixed(2)}%, loss ${r.loss.toFixed(4)}`);
  const width = Math.max(...data.classes.map((c) => c.length));
  data.classes.forEach((c, i) => console.log(`  ${c.padEnd(width)}  ${(100 * r.per_class[i]!).toFixed(1).padStart(5)}%`));
  console.log('confusion matrix (rows: true class, columns: predicted):');
  for (const row of r.confusion) console.log('  ' + row.map((v) => String(v).padStart(5)).join(''));
}

export async function predictCommand(checkpoint: string, images: string[], o: { topK: number }): Promise<void> {
  const { model, info } = await loadTrained(checkpoint);
  const [c] = info.input_shape;
  const mean = fromFlat(info.mean, [c, 1, 1]);
  const std = fromFlat(info.std, [c, 1, 1]);
  for (const path of images) {
    const [channels, h, w] = info.input_shape;
    const x = (await readImage(path, { channels: channels as 1 | 3, size: [h, w] })).sub(mean).div(std).unsqueeze(0);
    const probs = no_grad(() => softmax((model.call as (x: Tensor) => Tensor)(x), 1)).dataSync();
    const top = Array.from(probs).map((p, i) => [p, i] as const).sort((a, b) => b[0] - a[0]).slice(0, o.topK);
    // Three significant digits: a fixed number of decimals would show small probabilities as 0%.
    console.log(`${path}: ${top.map(([p, i]) => `${info.classes[i]} ${(100 * p).toPrecision(3)}%`).join(', ')}`);
  }
}

export function summaryCommand(name: string, o: { input: string; numClasses: number }): void {
  const shape = o.input.split(',').map(Number);
  if (shape.length !== 3 || !shape.every((s) => Number.isInteger(s) && s > 0)) {
    throw new StrideError(`--input must be C,H,W with positive integers, got '${o.input}'`);
  }
  // The models size their classifier from one side length.
  if (shape[1] !== shape[2]) throw new StrideError(`--input must be a square image (H = W), got ${shape[1]}x${shape[2]}`);
  // On the meta backend no weight is drawn and no arithmetic runs: only the shapes are followed.
  const model = with_default_backend('meta', () => create_model(name, { num_classes: o.numClasses, in_channels: shape[0], input_size: shape[1] }));
  console.log(model.summary(shape).text);
}
