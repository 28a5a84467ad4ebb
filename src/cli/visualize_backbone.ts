/**
 * `stride visualize invert|dream|style|similarity|init`: images made by optimising the input of a
 * pretrained network, the cosine similarity of photos' features, and the initialisation
 * experiment. The network is nsfwjs's MobileNetV2 (ImageNet features fine-tuned by nsfwjs),
 * imported from TF.js and used for its features only: its classes are not shown.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { no_grad } from '../autograd/grad_mode.js';
import { readImage, writeImage } from '../io/image_folder.js';
import { load_nsfwjs_model } from '../io/tfjs/nsfwjs.js';
import type { Module } from '../nn/module.js';
import { interpolate } from '../ops/interpolate.js';
import { cat } from '../ops/join.js';
import { adaptive_avg_pool2d } from '../ops/pool.js';
import { randn_like } from '../tensor/creation.js';
import { StrideError } from '../tensor/errors.js';
import { manual_seed } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { deep_dream, invert, match_colors, style_transfer, type Optimized } from '../vis/optimize.js';
import { feature_similarity, similarity_picture } from '../vis/similarity.js';
import { init_experiment, init_experiment_spec } from '../vis/statistics.js';
import { addBackendOptions, choice, fraction, int, num, positive, useBackend, type BackendChoice } from './options.js';
import { render, writePlot } from './report.js';

/**
 * nsfwjs's MobileNetV2 in a node_modules folder above the working directory or above stride
 * itself, whose bench/ installs nsfwjs.
 */
function findBackbone(): string {
  const roots = [process.cwd(), fileURLToPath(new URL('../..', import.meta.url))];
  for (const root of roots) {
    for (let dir = root; ; dir = dirname(dir)) {
      for (const modules of [join(dir, 'node_modules'), join(dir, 'bench', 'node_modules')]) {
        const model = join(modules, 'nsfwjs', 'dist', 'models', 'mobilenet_v2');
        if (existsSync(join(model, 'model.min.js'))) return model;
      }
      if (dirname(dir) === dir) break;
    }
  }
  throw new StrideError('nsfwjs is not installed (npm install nsfwjs@4.3.0: its MobileNetV2 gives the features); or give --backbone <dir>');
}

/** The backbone on images of any size, NCHW in [0, 1]. */
async function backbone(dir: string | undefined): Promise<Module> {
  return load_nsfwjs_model(dir ?? findBackbone(), { any_size: true });
}

/** Shrinks by area averaging (no aliasing), enlarges bilinearly. */
function resize(x: Tensor, size: readonly [number, number]): Tensor {
  const [h, w] = [x.shape[2]!, x.shape[3]!];
  if (h === size[0] && w === size[1]) return x;
  return no_grad(() => (size[0] <= h && size[1] <= w ? adaptive_avg_pool2d(x, [size[0], size[1]]) : interpolate(x, { size: [size[0], size[1]], mode: 'bilinear' })));
}

/** A photo as [1, 3, H, W] in [0, 1], its longer side `side` pixels (aspect kept), or exactly `size`. */
async function photo(path: string, size: number | readonly [number, number]): Promise<Tensor> {
  const x = (await readImage(path, { channels: 3 })).unsqueeze(0);
  if (typeof size !== 'number') return resize(x, size);
  const [h, w] = [x.shape[2]!, x.shape[3]!];
  const scale = size / Math.max(h, w);
  return resize(x, [Math.max(1, Math.round(h * scale)), Math.max(1, Math.round(w * scale))]);
}

async function writePng(path: string, image: Tensor): Promise<void> {
  await mkdir(dirname(path) || '.', { recursive: true });
  await writeImage(path, no_grad(() => image.clamp(0, 1)));
  console.log(`wrote ${path} (${image.shape[2]}x${image.shape[1]})`);
}

const stem = (path: string) => basename(path, extname(path));

/** Reports the objective's first and last values and the time taken (what the tests read). */
function report(what: string, r: Optimized, started: number): void {
  const [first, last] = [r.losses[0]!, r.losses.at(-1)!];
  console.log(`${what}: objective ${first.toExponential(4)} → ${last.toExponential(4)} in ${r.losses.length} steps (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}

interface BackboneOptions {
  backbone?: string;
  size: number;
  steps: number;
  lr: number;
  seed: number;
  out?: string;
  backend: BackendChoice;
  threads?: number;
}

/** Chooses the backend, loads the backbone and the photo, and seeds the generator (after loading, whose layers draw initial weights). */
async function start(o: BackboneOptions, file: string): Promise<{ model: Module; x: Tensor }> {
  useBackend(o.backend, o.threads);
  const loaded = { model: await backbone(o.backbone), x: await photo(file, o.size) };
  manual_seed(o.seed);
  return loaded;
}

export function addBackboneCommands(vis: Command): void {
  const common = (c: Command, size: number, steps: number, lr: number) => addBackendOptions(c
    .option('--backbone <dir>', 'an nsfwjs model folder (default: nsfwjs/dist/models/mobilenet_v2 in node_modules)')
    .option('--size <n>', 'the longer side of the image, in pixels', int('size', 16), size)
    .option('--steps <n>', 'optimisation steps', int('steps'), steps)
    .option('--lr <x>', 'step size (pixels in [0, 1])', positive('lr'), lr)
    .option('--seed <n>', 'random seed', int('seed', 0), 0)
    .option('--out <file.png>', 'the picture to write'));

  common(vis.command('invert').description('feature inversion: an image, from noise, whose features at a layer match a photo\'s (Mahendran & Vedaldi)').argument('<image>', 'a PNG or JPEG photo'), 192, 200, 0.05)
    .option('--layer <name>', 'the backbone layer whose features are matched', 'block_6_expand_relu')
    .option('--tv <x>', 'weight λ of the total-variation regulariser', positive('tv'), 2e-3)
    .option('--beta <x>', 'exponent β of the total variation', positive('beta'), 2)
    .action(async (file: string, o: BackboneOptions & { layer: string; tv: number; beta: number }) => {
      const { model, x: target } = await start(o, file);
      const x0 = no_grad(() => randn_like(target).mul(0.1).add(0.5));
      const started = performance.now();
      const r = invert(model, o.layer, target, x0, { steps: o.steps, lr: o.lr, tv_weight: o.tv, beta: o.beta });
      report(`inversion of ${o.layer}`, r, started);
      await writePng(o.out ?? join('runs/visualize', `${stem(file)}-invert-${o.layer}.png`), r.image.select(0, 0));
    });

  common(vis.command('dream').description('DeepDream: amplify what a layer sees in a photo, over octaves').argument('<image>', 'a PNG or JPEG photo'), 320, 10, 0.02)
    .option('--layer <name>', 'the backbone layer whose activations are amplified', 'block_13_expand_relu')
    .option('--octaves <n>', 'image scales, smallest first', int('octaves'), 4)
    .option('--octave-scale <x>', 'size ratio between octaves', positive('octave-scale'), 1.4)
    .action(async (file: string, o: BackboneOptions & { layer: string; octaves: number; octaveScale: number }) => {
      const { model, x } = await start(o, file);
      const started = performance.now();
      const r = deep_dream(model, o.layer, x, { steps: o.steps, lr: o.lr, octaves: o.octaves, octave_scale: o.octaveScale });
      // Each octave starts lower (a smaller image activates less): report the last octave's rise.
      report(`DeepDream of ${o.layer}, last octave`, { ...r, losses: r.losses.slice(-o.steps) }, started);
      await writePng(o.out ?? join('runs/visualize', `${stem(file)}-dream-${o.layer}.png`), r.image.select(0, 0));
    });

  common(vis.command('style').description('neural style transfer (Gatys et al.): the content of one photo in the style of another'), 224, 100, 0.02)
    .requiredOption('--content <image>', 'the photo whose content is kept')
    .requiredOption('--style <image>', 'the picture whose style is taken')
    .option('--content-layer <name>', 'layer whose features carry the content', 'block_13_expand_relu')
    .option('--style-layers <names>', 'comma-separated layers whose Gram matrices carry the style', 'Conv1_relu,block_1_expand_relu,block_3_expand_relu,block_6_expand_relu,block_13_expand_relu')
    .option('--beta <x>', 'β in β·content + (1 − β)·style (both relative errors)', fraction('beta'), 0.1)
    .option('--tv <x>', 'weight of the total-variation regulariser', num('tv'), 3e-4)
    .option('--init <from>', "start from the content photo ('content') or from it in the style's colours ('colors': this network's Gram matrices barely see colour)", choice('init', ['content', 'colors']), 'colors')
    .action(async (o: BackboneOptions & { content: string; style: string; contentLayer: string; styleLayers: string; beta: number; tv: number; init: 'content' | 'colors' }) => {
      const { model, x: content } = await start(o, o.content);
      // The style picture fills the content's frame, so that both have features of the same scale.
      const style = await photo(o.style, [content.shape[2]!, content.shape[3]!]);
      const started = performance.now();
      const r = style_transfer(model, content, style, {
        content_layer: o.contentLayer, style_layers: o.styleLayers.split(',').map((s) => s.trim()).filter(Boolean), steps: o.steps, lr: o.lr, beta: o.beta, tv_weight: o.tv,
        init: o.init === 'colors' ? match_colors(content, style) : 'content',
      });
      report('style transfer', r, started);
      console.log(`style loss ${r.style_losses[0]!.toExponential(4)} → ${r.style_losses.at(-1)!.toExponential(4)}, content loss ${r.content_losses[0]!.toExponential(4)} → ${r.content_losses.at(-1)!.toExponential(4)}`);
      await writePng(o.out ?? join('runs/visualize', `${stem(o.content)}-in-${stem(o.style)}.png`), r.image.select(0, 0));
    });

  addBackendOptions(vis.command('similarity').description('cosine similarity of photos\' features (the backbone\'s pooled penultimate layer): a matrix and a picture').argument('<images...>', 'two or more PNG or JPEG photos'))
    .option('--backbone <dir>', 'an nsfwjs model folder (default: nsfwjs/dist/models/mobilenet_v2 in node_modules)')
    .option('--layer <name>', 'the backbone layer compared', 'average_pooling2d_1')
    .option('--size <n>', 'images are resized to n x n (the backbone\'s 224 by default)', int('size', 16), 224)
    .option('--out <file.png>', 'the picture to write', 'runs/visualize/similarity.png')
    .action(async (files: string[], o: { backbone?: string; layer: string; size: number; out: string; backend: BackendChoice; threads?: number }) => {
      if (files.length < 2) throw new StrideError('similarity: give two or more images');
      useBackend(o.backend, o.threads);
      const model = await backbone(o.backbone);
      const images = cat(await Promise.all(files.map((f) => photo(f, [o.size, o.size]))), 0);
      const { similarity } = feature_similarity(model, images, o.layer);
      const m = similarity.dataSync();
      const names = files.map(stem);
      const width = Math.max(...names.map((n) => n.length));
      console.log(`cosine similarity of ${o.layer}:`);
      console.log(`${' '.repeat(width)}  ${names.map((n) => n.padStart(Math.max(6, n.length))).join(' ')}`);
      names.forEach((n, i) => console.log(`${n.padEnd(width)}  ${names.map((c, j) => m[i * names.length + j]!.toFixed(3).padStart(Math.max(6, c.length))).join(' ')}`));
      await writePng(o.out, similarity_picture(similarity, { images, cell: 64 }));
    });

  addBackendOptions(vis.command('init').description('the initialisation experiment: a deep MLP\'s activations and gradients per layer with weights too small, too big, Xavier and He'))
    .option('--activation <name>', 'tanh or relu', choice('activation', ['tanh', 'relu']), 'tanh')
    .option('--depth <n>', 'hidden layers', int('depth'), 10)
    .option('--width <n>', 'units per layer', int('width'), 500)
    .option('--batch <n>', 'N(0, 1) input samples', int('batch'), 500)
    .option('--seed <n>', 'random seed', int('seed', 0), 0)
    .option('--out <file.png>', 'the figure to write (an SVG is written beside it)')
    .action(async (o: { activation: 'tanh' | 'relu'; depth: number; width: number; batch: number; seed: number; out?: string; backend: BackendChoice; threads?: number }) => {
      useBackend(o.backend, o.threads);
      manual_seed(o.seed);
      const runs = init_experiment({ activation: o.activation, depth: o.depth, width: o.width, batch: o.batch });
      console.log(`${o.activation} MLP, ${o.depth} layers of ${o.width}: activation std per layer (mean |gradient| of the output's sum)`);
      for (const r of runs) console.log(`${r.init.padEnd(6)} (w std ${r.weight_std.toPrecision(3)}): ${r.layers.map((l) => `${l.activation.std.toExponential(1)} (${l.gradient!.abs_mean.toExponential(1)})`).join(' ')}`);
      const out = o.out ?? `runs/visualize/init-${o.activation}.png`;
      await mkdir(dirname(out) || '.', { recursive: true });
      await writePlot(dirname(out), basename(out, '.png'), await render(init_experiment_spec(runs, `${o.activation} MLP, ${o.depth} layers of ${o.width} units`)));
      console.log(`wrote ${out}`);
    });
}
