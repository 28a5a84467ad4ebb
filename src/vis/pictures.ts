/**
 * Pictures of what a network computes: activations of named modules (torchvision's
 * create_feature_extractor), image grids (torchvision's make_grid), first-layer filters, and
 * heat maps over images. Tensors in, tensors [C, H, W] in [0, 1] out: Node writes them with
 * io's writeImage, browsers draw them with toImageData. Pure.
 */
import { no_grad } from '../autograd/grad_mode.js';
import type { Module } from '../nn/module.js';
import { fromFlat } from '../tensor/creation.js';
import { ShapeError, StrideError } from '../tensor/errors.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { scoresOf } from './attribution.js';

/**
 * Runs `model` on x and returns the outputs of the named modules (names as in
 * named_modules(): 'layer1.0', 'features.3'), recorded for autograd unless inside no_grad.
 * Unknown names are an error listing the valid ones.
 */
export function capture(model: Module, x: Tensor, names: readonly string[]): Record<string, Tensor> {
  const modules = new Map(model.named_modules());
  const unknown = names.filter((n) => !modules.has(n) || n === '');
  if (unknown.length) throw new StrideError(`features: no module named ${unknown.join(', ')}; the modules are ${[...modules.keys()].filter(Boolean).join(', ')}`);
  const out: Record<string, Tensor> = {};
  // The forward stops once every named output is in: later layers would be wasted work, and
  // they may not take the size (a classifier head on a resized image).
  const done = new Error('all features captured');
  const hooks = names.map((n) => modules.get(n)!.register_forward_hook((_m, _i, o) => {
    out[n] = o as Tensor;
    if (names.every((k) => k in out)) throw done;
  }));
  try {
    scoresOf(model, x);
  } catch (e) {
    if (e !== done) throw e;
  } finally {
    for (const h of hooks) h.remove();
  }
  return out;
}

/** The outputs of the named modules for x, without recording (torchvision's create_feature_extractor). */
export function features(model: Module, x: Tensor, names: readonly string[]): Record<string, Tensor> {
  return no_grad(() => capture(model, x, names));
}

export type Normalize = 'none' | 'per-image' | 'per-channel' | 'global';

export interface GridOptions {
  /** Images per row (default: ⌈√N⌉). */
  nrow?: number;
  /** Pixels between images (default 2). */
  padding?: number;
  pad_value?: number;
  /** How values are scaled into [0, 1] (default 'per-image', torchvision's scale_each). */
  normalize?: Normalize;
}

/**
 * Tiles images [N, C, H, W] (C = 1 or 3) into one [C, rows·(H+p)+p, nrow·(W+p)+p] picture,
 * each scaled into [0, 1] as `normalize` says (a constant image becomes 0).
 */
export function make_grid(images: Tensor, opts: GridOptions = {}): Tensor {
  if (images.ndim !== 4 || (images.shape[1] !== 1 && images.shape[1] !== 3)) {
    throw new ShapeError(`make_grid: expected images [N, 1 or 3, H, W], got ${formatShape(images.shape)}`);
  }
  const [n, c, h, w] = images.shape as [number, number, number, number];
  const { padding = 2, pad_value = 0, normalize = 'per-image' } = opts;
  const nrow = opts.nrow ?? Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / nrow);
  const H = rows * (h + padding) + padding;
  const W = nrow * (w + padding) + padding;
  const src = images.float().contiguous().dataSync();
  const out = new Float32Array(c * H * W).fill(pad_value);
  const scale = (from: number, count: number, lo: number, hi: number, to: (i: number, v: number) => void) => {
    for (let i = 0; i < count; i++) to(i, hi > lo ? (src[from + i]! - lo) / (hi - lo) : 0);
  };
  const range = (idx: number[]): [number, number] => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const i of idx) for (let j = i; j < i + h * w; j++) (lo = Math.min(lo, src[j]!)), (hi = Math.max(hi, src[j]!));
    return normalize === 'none' ? [0, 1] : [lo, hi];
  };
  const planes = (k: number, ch: number) => (k * c + ch) * h * w;
  const all = Array.from({ length: n * c }, (_, i) => i * h * w);
  const global = normalize === 'global' ? range(all) : null;
  for (let k = 0; k < n; k++) {
    const [r, q] = [Math.floor(k / nrow), k % nrow];
    const imageRange = normalize === 'per-image' ? range(Array.from({ length: c }, (_, ch) => planes(k, ch))) : null;
    for (let ch = 0; ch < c; ch++) {
      const [lo, hi] = global ?? imageRange ?? range([planes(k, ch)]);
      const top = padding + r * (h + padding);
      const left = padding + q * (w + padding);
      scale(planes(k, ch), h * w, lo, hi, (i, v) => {
        out[(ch * H + top + Math.floor(i / w)) * W + left + (i % w)] = normalize === 'none' ? Math.min(1, Math.max(0, v)) : v;
      });
    }
  }
  return fromFlat(out, [c, H, W]);
}

/** The first convolution's filters as a grid: RGB when they have 3 input channels, else one gray tile per input channel. */
export function filter_grid(weight: Tensor, opts: GridOptions = {}): Tensor {
  if (weight.ndim !== 4) throw new ShapeError(`filter_grid: expected a conv weight [O, C, kh, kw], got ${formatShape(weight.shape)}`);
  const [o, c, kh, kw] = weight.shape as [number, number, number, number];
  const tiles = c === 3 ? weight.detach() : weight.detach().reshape([o * c, 1, kh, kw]);
  // Several gray channels: one row per filter.
  return make_grid(tiles, { nrow: c === 1 || c === 3 ? undefined : c, ...opts });
}

/** Feature maps [N, K, h, w] (or [K, h, w]) of one image as a grid of K gray tiles, each scaled on its own. */
export function feature_map_grid(maps: Tensor, opts: GridOptions = {}): Tensor {
  const m = maps.ndim === 4 ? maps.select(0, 0) : maps;
  if (m.ndim !== 3) throw new ShapeError(`feature_map_grid: expected maps [K, h, w] or [N, K, h, w], got ${formatShape(maps.shape)}`);
  const [k, h, w] = m.shape as [number, number, number];
  return make_grid(m.reshape([k, 1, h, w]), { normalize: 'per-image', ...opts });
}

/** A perceptually ordered colormap (dark blue → green → yellow, close to viridis), from [0, 1]. */
const STOPS: [number, number, number][] = [[0.267, 0.005, 0.329], [0.229, 0.322, 0.545], [0.128, 0.567, 0.551], [0.369, 0.789, 0.383], [0.993, 0.906, 0.144]];

/**
 * Colours a map [H, W] into RGB [3, H, W], scaled from `range` (default: the map's own min and
 * max; values outside take the end colours) to [0, 1].
 */
export function colorize(map: Tensor, range?: readonly [number, number]): Tensor {
  if (map.ndim !== 2) throw new ShapeError(`colorize: expected a map [H, W], got ${formatShape(map.shape)}`);
  const [h, w] = map.shape as [number, number];
  const v = map.float().contiguous().dataSync();
  let [lo, hi] = range ?? [Infinity, -Infinity];
  if (!range) for (const x of v) (lo = Math.min(lo, x)), (hi = Math.max(hi, x));
  const out = new Float32Array(3 * h * w);
  for (let i = 0; i < h * w; i++) {
    const t = hi > lo ? Math.min(Math.max((v[i]! - lo) / (hi - lo), 0), 1) * (STOPS.length - 1) : 0;
    const j = Math.min(Math.floor(t), STOPS.length - 2);
    const f = t - j;
    for (let ch = 0; ch < 3; ch++) out[ch * h * w + i] = STOPS[j]![ch]! * (1 - f) + STOPS[j + 1]![ch]! * f;
  }
  return fromFlat(out, [3, h, w]);
}

/** The coloured map laid over an image [C, H, W] in [0, 1]: (1 - alpha) · image + alpha · colour. */
export function overlay(image: Tensor, map: Tensor, alpha = 0.5): Tensor {
  if (image.ndim !== 3 || image.shape[1] !== map.shape[0] || image.shape[2] !== map.shape[1]) {
    throw new ShapeError(`overlay: image ${formatShape(image.shape)} and map ${formatShape(map.shape)} should be [C, H, W] and [H, W]`);
  }
  const rgb = image.shape[0] === 3 ? image : image.expand([3, image.shape[1]!, image.shape[2]!]);
  return no_grad(() => rgb.mul(1 - alpha).add(colorize(map).mul(alpha)));
}

/** RGBA bytes of an image [1 or 3, H, W] in [0, 1], for a canvas's putImageData (browsers). */
export function toImageData(image: Tensor): { data: Uint8ClampedArray; width: number; height: number } {
  if (image.ndim !== 3 || (image.shape[0] !== 1 && image.shape[0] !== 3)) throw new ShapeError(`toImageData: expected [1 or 3, H, W], got ${formatShape(image.shape)}`);
  const [c, h, w] = image.shape as [number, number, number];
  const v = image.float().contiguous().dataSync();
  const data = new Uint8ClampedArray(4 * h * w);
  for (let i = 0; i < h * w; i++) {
    for (let ch = 0; ch < 3; ch++) data[4 * i + ch] = Math.round(255 * v[(c === 3 ? ch : 0) * h * w + i]!);
    data[4 * i + 3] = 255;
  }
  return { data, width: w, height: h };
}
