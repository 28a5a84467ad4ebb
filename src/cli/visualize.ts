/**
 * `stride visualize ...`: pictures of a trained model (a run directory of stride train) written
 * as PNG files: its first-layer filters, a layer's feature maps, saliency and Grad-CAM over an
 * image, and an adversarial version of an image; and (visualize_backbone.ts) inversion, DeepDream,
 * style transfer and feature similarity on a pretrained backbone, and the initialisation experiment.
 */
import { mkdir } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { Command } from 'commander';
import { readImage, writeImage } from '../io/image_folder.js';
import { Conv2d } from '../nn/conv.js';
import type { Module } from '../nn/module.js';
import { no_grad } from '../autograd/grad_mode.js';
import { softmax } from '../ops/activation.js';
import { interpolate } from '../ops/interpolate.js';
import { cat } from '../ops/join.js';
import { fromFlat } from '../tensor/creation.js';
import { StrideError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { fgsm } from '../vis/adversarial.js';
import { grad_cam, saliency } from '../vis/attribution.js';
import { feature_map_grid, features, filter_grid, make_grid, overlay } from '../vis/pictures.js';
import { loadTrained, type ModelInfo } from './commands.js';
import { addBackboneCommands } from './visualize_backbone.js';
import { int, positive } from './options.js';

interface Loaded {
  model: Module;
  info: ModelInfo;
  /** Pixels in [0, 1] normalised as in training: what the model takes. */
  normalise: (x: Tensor) => Tensor;
  /** The model on pixels in [0, 1]. */
  onPixels: (x: Tensor) => Tensor;
}

async function load(run: string): Promise<Loaded> {
  const { model, info } = await loadTrained(run);
  const c = info.input_shape[0];
  const mean = fromFlat(info.mean, [1, c, 1, 1]);
  const std = fromFlat(info.std, [1, c, 1, 1]);
  const normalise = (x: Tensor) => x.sub(mean).div(std);
  return { model, info, normalise, onPixels: (x) => (model.call as (x: Tensor) => Tensor)(normalise(x)) };
}

/** The image as the model takes it, [1, C, H, W] in [0, 1]. */
async function image(path: string, info: ModelInfo): Promise<Tensor> {
  const [c, h, w] = info.input_shape;
  return (await readImage(path, { channels: c as 1 | 3, size: [h, w] })).unsqueeze(0);
}

function classOf(info: ModelInfo, name: string | undefined, fallback: number): number {
  if (name === undefined) return fallback;
  const i = /^\d+$/.test(name) ? Number(name) : info.classes.indexOf(name);
  if (!(i >= 0 && i < info.classes.length)) throw new StrideError(`unknown class '${name}'; valid: ${info.classes.join(', ')} (or 0-${info.classes.length - 1})`);
  return i;
}

function predicted(l: Loaded, x: Tensor): { index: number; text: string } {
  const p = no_grad(() => softmax(l.onPixels(x), 1)).dataSync();
  let index = 0;
  for (let i = 1; i < p.length; i++) if (p[i]! > p[index]!) index = i;
  return { index, text: `${l.info.classes[index]} ${(100 * p[index]!).toPrecision(3)}%` };
}

/** Writes `picture` as OUT/NAME.png, enlarged `scale` times (nearest) so that small inputs stay visible, and says so. */
async function write(out: string, name: string, picture: Tensor, scale: number): Promise<void> {
  await mkdir(out, { recursive: true });
  const [h, w] = [picture.shape[1]!, picture.shape[2]!];
  const big = scale > 1 ? interpolate(picture.unsqueeze(0), { size: [h * scale, w * scale], mode: 'nearest' }).squeeze(0) : picture;
  const path = join(out, `${name}.png`);
  await writeImage(path, big);
  console.log(`wrote ${path}`);
}

const stem = (path: string) => basename(path, extname(path));

export function addVisualizeCommands(cli: Command): void {
  const vis = cli.command('visualize').description('pictures of a trained model (filters, feature maps, saliency, Grad-CAM, adversarial images) and of a pretrained backbone (inversion, DeepDream, style transfer, similarity); the initialisation experiment');
  const common = (c: Command) => c.option('--out <dir>', 'output directory', 'runs/visualize').option('--scale <n>', 'enlarge pictures n times', int('scale'), 4);

  common(vis.command('filters').description('the first convolution\'s filters as a grid').argument('<run>', 'a stride train run directory'))
    .action(async (run: string, o: { out: string; scale: number }) => {
      const { model } = await load(run);
      const conv = [...model.modules()].find((m): m is Conv2d => m instanceof Conv2d);
      if (!conv) throw new StrideError(`${run}: the model has no Conv2d layer`);
      await write(o.out, 'filters', filter_grid(conv.weight), o.scale);
    });

  common(vis.command('features').description('the feature maps of one layer for an image').argument('<run>', 'a stride train run directory').argument('<image>', 'a PNG or JPEG file'))
    .requiredOption('--layer <name>', 'module name, as in the model\'s state_dict keys (e.g. layer1, features.3)')
    .action(async (run: string, file: string, o: { out: string; scale: number; layer: string }) => {
      const l = await load(run);
      const x = await image(file, l.info);
      const m = features(l.model, l.normalise(x), [o.layer])[o.layer]!;
      if (m.ndim !== 4) throw new StrideError(`layer ${o.layer} gives ${m.ndim}-d outputs; feature maps need [N, K, h, w]`);
      await write(o.out, `${stem(file)}-${o.layer}`, feature_map_grid(m), o.scale);
    });

  const attribution = (name: string, description: string) =>
    common(vis.command(name).description(description).argument('<run>', 'a stride train run directory').argument('<image>', 'a PNG or JPEG file'))
      .option('--class <name>', 'class to explain (name or index; default: the predicted one)');

  attribution('saliency', '|d score / d pixel| over the image, for the predicted or a given class')
    .action(async (run: string, file: string, o: { out: string; scale: number; class?: string }) => {
      const l = await load(run);
      const x = await image(file, l.info);
      const p = predicted(l, x);
      const target = classOf(l.info, o.class, p.index);
      console.log(`${file}: predicted ${p.text}; saliency for ${l.info.classes[target]}`);
      await write(o.out, `${stem(file)}-saliency`, overlay(x.select(0, 0), saliency(l.onPixels, x, target).select(0, 0), 0.6), o.scale);
    });

  attribution('gradcam', 'Grad-CAM of a layer over the image, for the predicted or a given class')
    .requiredOption('--layer <name>', 'module name whose output is [N, K, h, w] (e.g. layer2)')
    .action(async (run: string, file: string, o: { out: string; scale: number; class?: string; layer: string }) => {
      const l = await load(run);
      const layer = new Map(l.model.named_modules()).get(o.layer);
      if (!layer || o.layer === '') throw new StrideError(`no module named '${o.layer}'; the modules are ${[...l.model.named_modules()].map(([n]) => n).filter(Boolean).join(', ')}`);
      const x = await image(file, l.info);
      const p = predicted(l, x);
      const target = classOf(l.info, o.class, p.index);
      const { upsampled } = grad_cam(l.model, layer, l.normalise(x), target);
      // A confident prediction can leave every channel-weighted sum negative: the map is then 0.
      const empty = upsampled.max().item() === 0 ? ' (the map is zero everywhere: try an earlier layer)' : '';
      console.log(`${file}: predicted ${p.text}; Grad-CAM of ${o.layer} for ${l.info.classes[target]}${empty}`);
      await write(o.out, `${stem(file)}-gradcam-${o.layer}`, overlay(x.select(0, 0), upsampled.select(0, 0), 0.6), o.scale);
    });

  common(vis.command('adversarial').description('FGSM: the image changed by ε · sign(gradient) to flip the prediction').argument('<run>', 'a stride train run directory').argument('<image>', 'a PNG or JPEG file'))
    .option('--eps <x>', 'the change per pixel (pixels in [0, 1])', positive('eps'), 0.1)
    .option('--class <name>', 'the true class (name or index; default: the predicted one)')
    .action(async (run: string, file: string, o: { out: string; scale: number; eps: number; class?: string }) => {
      const l = await load(run);
      const x = await image(file, l.info);
      const before = predicted(l, x);
      const adv = fgsm(l.onPixels, x, [classOf(l.info, o.class, before.index)], o.eps);
      const after = predicted(l, adv);
      console.log(`${file}: ${before.text} → ${after.text} with ε = ${o.eps}`);
      const diff = adv.sub(x).div(2 * o.eps).add(0.5);
      // The image, its adversarial version and the change (mid-gray = none), side by side.
      await write(o.out, `${stem(file)}-adversarial`, make_grid(cat([x, adv, diff], 0), { normalize: 'none', nrow: 3 }), o.scale);
    });

  addBackboneCommands(vis);
}
