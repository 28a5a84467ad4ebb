/**
 * Image transforms with torchvision's names and semantics (torchvision 0.14: the functions of
 * transforms.functional on tensors, and the transform classes). Images are tensors [C, H, W], or
 * batches [N, C, H, W]: float in [0, 1] (what ToTensor gives) or uint8 in [0, 255], as
 * torchvision's tensor transforms. Every transform has `forward(img)`; Compose chains them.
 * Random transforms draw from a seeded stride Generator (default_generator unless one is given),
 * and expose torchvision's static get_params so their deterministic part can be used alone.
 */
import { fromFlat, randn, randperm, zeros_like } from '../tensor/creation.js';
import { castScalar, isFloatingPoint, type DType } from '../tensor/dtype.js';
import { DTypeError, ShapeError, StrideError } from '../tensor/errors.js';
import { default_generator, type Generator } from '../tensor/random.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import {
  add, amax, amin, clamp, clone, contiguous, copy_, div, eq, expand, floor, index_select, interpolate, logical_and, mean, mul, narrow, ne,
  pad as padTensor, permute, remainder, reshape, round, rsub, select, squeeze, stack, sub, to, unsqueeze, where,
} from '../ops/index.js';

// ---------------------------------------------------------------- types

/** Decoded pixels, row-major HWC (what image decoders produce). */
export interface ImageData {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

/** An image transform: torchvision's transform classes, run with forward(img). */
export interface Transform<I = Tensor, O = Tensor> {
  forward(x: I): O;
}

export type InterpolationMode = 'nearest' | 'bilinear';
export type PaddingMode = 'constant' | 'edge' | 'reflect' | 'symmetric';
/** An int for both sides, [n] likewise, or [height, width]. */
export type Size2d = number | readonly [number] | readonly [number, number];

// ---------------------------------------------------------------- helpers

/** Python's round(): halves go to the even neighbour (torchvision rounds crop offsets and sizes so). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Checks an image tensor and returns its channels, height and width. */
function imageDims(img: Tensor, what: string): [number, number, number] {
  if (!(img instanceof Tensor)) throw new StrideError(`${what}: expected an image tensor, got ${typeof img}`);
  if (img.ndim !== 3 && img.ndim !== 4) {
    throw new ShapeError(`${what}: expected an image [C, H, W] or a batch [N, C, H, W], got shape ${formatShape(img.shape)}`);
  }
  if (!isFloatingPoint(img.dtype) && img.dtype !== 'uint8') {
    throw new DTypeError(`${what}: expected a float (values in [0, 1]) or uint8 image, got ${img.dtype}`);
  }
  const n = img.ndim;
  return [img.shape[n - 3]!, img.shape[n - 2]!, img.shape[n - 1]!];
}

function requireChannels(img: Tensor, allowed: readonly number[], what: string): number {
  const [c] = imageDims(img, what);
  if (!allowed.includes(c)) {
    throw new ShapeError(`${what}: expected an image with ${allowed.join(' or ')} channels, got ${c} (shape ${formatShape(img.shape)})`);
  }
  return c;
}

function requireInt(v: number, what: string, name: string, min = -Infinity): void {
  if (!Number.isInteger(v) || v < min) throw new StrideError(`${what}: ${name} must be an integer${min > -Infinity ? ` >= ${min}` : ''}, got ${v}`);
}

/** [h, w] from an int or a one- or two-element list (torchvision's _setup_size). */
function size2d(size: Size2d, what: string): [number, number] {
  const list = typeof size === 'number' ? [size, size] : size.length === 1 ? [size[0], size[0]] : [...size];
  if (list.length !== 2 || !list.every((s) => Number.isInteger(s) && s > 0)) {
    throw new StrideError(`${what}: size must be a positive int or a list of one or two positive ints [h, w], got ${JSON.stringify(size)}`);
  }
  return list as [number, number];
}

function checkInterpolation(mode: string, what: string): void {
  if (mode !== 'nearest' && mode !== 'bilinear') throw new StrideError(`${what}: interpolation must be 'nearest' or 'bilinear', got '${mode}'`);
}

function checkPaddingMode(mode: string, what: string): void {
  if (!['constant', 'edge', 'reflect', 'symmetric'].includes(mode)) {
    throw new StrideError(`${what}: padding_mode must be constant, edge, reflect or symmetric, got '${mode}'`);
  }
}

/** A [min, max] pair with min <= max, both inside [lo, hi]. */
function checkRange(r: readonly number[], what: string, name: string, lo = -Infinity, hi = Infinity): [number, number] {
  if (r.length !== 2 || !(lo <= r[0]! && r[0]! <= r[1]! && r[1]! <= hi)) {
    throw new StrideError(`${what}: ${name} must be a pair [min, max] with ${lo} <= min <= max <= ${hi}, got ${JSON.stringify(r)}`);
  }
  return [r[0]!, r[1]!];
}

/** The image as float32 (uint8 pixels keep their 0..255 values). */
function asFloat(img: Tensor): Tensor {
  return img.is_floating_point() ? img : to(img, 'float32');
}

/** Runs fn on the image in float; a uint8 result is rounded back (torchvision's _cast_squeeze_in/out). */
function viaFloat(img: Tensor, fn: (x: Tensor) => Tensor): Tensor {
  return img.is_floating_point() ? fn(img) : to(round(fn(to(img, 'float32'))), img.dtype);
}

function indexTensor(values: ArrayLike<number>, like: Tensor): Tensor {
  return fromFlat(values, [values.length], { dtype: 'int32', backend: like.device });
}

/** A per-channel constant [k, 1, 1] in the image's dtype, broadcasting over [..., C, H, W]. */
function channelConstant(values: readonly number[], like: Tensor, dtype: DType = like.dtype): Tensor {
  return fromFlat(values, [values.length, 1, 1], { dtype, backend: like.device });
}

function uniform(g: Generator, lo: number, hi: number): number {
  return lo + (hi - lo) * g.uniform(1, 53)[0]!;
}

function randint(g: Generator, lo: number, hi: number): number {
  return g.integers(1, lo, hi)[0]!;
}

// ---------------------------------------------------------------- conversion

function checkImageData(pic: ImageData, what: string): void {
  const { data, width, height, channels } = pic;
  if (!(data instanceof Uint8Array)) throw new DTypeError(`${what}: ImageData.data must be a Uint8Array`);
  if (![1, 3, 4].includes(channels)) throw new ShapeError(`${what}: ImageData.channels must be 1, 3 or 4, got ${channels}`);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0 || data.length !== width * height * channels) {
    throw new ShapeError(`${what}: ImageData of ${width}x${height}x${channels} needs ${width * height * channels} bytes, got ${data.length}`);
  }
}

/** HWC pixels (ImageData, or a uint8 tensor [H, W, C] / [H, W]) as a uint8 tensor [C, H, W]. */
function hwcToChw(pic: ImageData | Tensor, what: string): Tensor {
  if (pic instanceof Tensor) {
    if (pic.dtype !== 'uint8') throw new DTypeError(`${what}: expected uint8 pixels [H, W, C], got a ${pic.dtype} tensor (images already in [0, 1] need no conversion)`);
    if (pic.ndim !== 2 && pic.ndim !== 3) throw new ShapeError(`${what}: expected pixels [H, W, C] or [H, W], got shape ${formatShape(pic.shape)}`);
    return contiguous(permute(pic.ndim === 2 ? unsqueeze(pic, -1) : pic, 2, 0, 1));
  }
  checkImageData(pic, what);
  return contiguous(permute(fromFlat(pic.data, [pic.height, pic.width, pic.channels], { dtype: 'uint8' }), 2, 0, 1));
}

/** uint8 HWC pixels to a float32 image [C, H, W] in [0, 1] (torchvision's to_tensor). */
export function to_tensor(pic: ImageData | Tensor): Tensor {
  return div(to(hwcToChw(pic, 'to_tensor'), 'float32'), 255);
}

/** uint8 HWC pixels to a uint8 image [C, H, W], values kept (torchvision's pil_to_tensor). */
export function pil_to_tensor(pic: ImageData | Tensor): Tensor {
  return hwcToChw(pic, 'pil_to_tensor');
}

/** Converts between uint8 [0, 255] and float [0, 1] images (torchvision's convert_image_dtype). */
export function convert_image_dtype(img: Tensor, dtype: 'float32' | 'float64' | 'uint8' = 'float32'): Tensor {
  imageDims(img, 'convert_image_dtype');
  if (!['float32', 'float64', 'uint8'].includes(dtype)) throw new DTypeError(`convert_image_dtype: dtype must be float32, float64 or uint8, got ${dtype}`);
  if (img.dtype === dtype) return img;
  // 256 - eps spreads [0, 1] evenly over the 256 levels; only 1.0 itself maps to 255.
  if (dtype === 'uint8') return to(mul(img, 256 - 1e-3), 'uint8');
  return img.is_floating_point() ? to(img, dtype) : div(to(img, dtype), 255);
}

// ---------------------------------------------------------------- normalize, geometry

/** (img - mean) / std per channel; mean and std have one value or one per channel. */
export function normalize(img: Tensor, mean: readonly number[], std: readonly number[]): Tensor {
  const [c] = imageDims(img, 'normalize');
  if (!img.is_floating_point()) throw new DTypeError(`normalize: expected a float image, got ${img.dtype}; convert it with ToTensor or ConvertImageDtype first`);
  for (const [name, v] of [['mean', mean], ['std', std]] as const) {
    if (v.length !== 1 && v.length !== c) {
      throw new ShapeError(`normalize: ${name} has ${v.length} values but the image has ${c} channels (shape ${formatShape(img.shape)})`);
    }
  }
  if (std.some((s) => castScalar(s, img.dtype) === 0)) throw new StrideError(`normalize: std evaluated to zero in ${img.dtype} (std ${JSON.stringify(std)}), leading to division by zero`);
  return div(sub(img, channelConstant(mean, img)), channelConstant(std, img));
}

/** The output [h, w] of resize (torchvision's _compute_resized_output_size). */
function resizedSize(h: number, w: number, size: number | readonly number[], maxSize: number | null): [number, number] {
  const list = typeof size === 'number' ? [size] : [...size];
  if ((list.length !== 1 && list.length !== 2) || !list.every((s) => Number.isInteger(s) && s > 0)) {
    throw new StrideError(`resize: size must be a positive int or a list of one or two positive ints [h, w], got ${JSON.stringify(size)}`);
  }
  if (list.length === 2) {
    if (maxSize !== null) throw new StrideError('resize: max_size is only allowed when size is a single int (the smaller edge)');
    return [list[0]!, list[1]!];
  }
  const [short, long] = w <= h ? [w, h] : [h, w];
  let newShort = list[0]!;
  let newLong = Math.trunc((newShort * long) / short);
  if (maxSize !== null) {
    if (maxSize <= newShort) throw new StrideError(`resize: max_size ${maxSize} must be larger than the requested smaller edge ${newShort}`);
    if (newLong > maxSize) [newShort, newLong] = [Math.trunc((maxSize * newShort) / newLong), maxSize];
  }
  return w <= h ? [newLong, newShort] : [newShort, newLong];
}

/**
 * Taps of PyTorch's antialiased linear resampling along one dim (a triangle filter widened by the
 * downscale factor, normalised to sum 1), computed in float32 as ATen's _compute_weights_aa.
 */
function antialiasTaps(inSize: number, outSize: number): { idx: number[]; w: number[] }[] {
  const f = Math.fround;
  const scale = f(inSize / outSize);
  const support = scale >= 1 ? scale : 1;
  const invscale = scale >= 1 ? f(1 / scale) : 1;
  return Array.from({ length: outSize }, (_, i) => {
    const center = f(scale * (i + 0.5));
    const xmin = Math.max(Math.trunc(f(center - support) + 0.5), 0);
    const xsize = Math.min(Math.trunc(f(center + support) + 0.5), inSize) - xmin;
    const idx: number[] = [];
    const w: number[] = [];
    let total = 0;
    for (let j = 0; j < xsize; j++) {
      const x = Math.abs(f((f(j + xmin - center) + 0.5) * invscale));
      const v = x < 1 ? f(1 - x) : 0;
      idx.push(xmin + j);
      w.push(v);
      total = f(total + v);
    }
    return { idx, w: total === 0 ? w : w.map((v) => f(v / total)) };
  });
}

/** out[o] = Σ_k w[o][k] · x[idx[o][k]] along dim, summed in tap order. */
function applyTaps(x: Tensor, dim: number, taps: { idx: number[]; w: number[] }[]): Tensor {
  const k = Math.max(...taps.map((t) => t.idx.length));
  const wShape = [taps.length, ...x.shape.slice(dim + 1).map(() => 1)];
  let out: Tensor | null = null;
  for (let j = 0; j < k; j++) {
    const v = index_select(x, dim, indexTensor(taps.map((t) => t.idx[j] ?? t.idx[0]!), x));
    const term = mul(v, fromFlat(taps.map((t) => t.w[j] ?? 0), wShape, { dtype: x.dtype, backend: x.device }));
    out = out ? add(out, term) : term;
  }
  return out!;
}

function checkResizeOptions({ interpolation = 'bilinear', antialias = false }: ResizeOptions, what: string): void {
  checkInterpolation(interpolation, what);
  if (antialias && interpolation !== 'bilinear') throw new StrideError(`${what}: antialias is supported for bilinear interpolation only, got '${interpolation}'`);
}

export interface ResizeOptions {
  interpolation?: InterpolationMode;
  /** With an int size: the longer edge is limited to this. */
  max_size?: number | null;
  /** Antialiased (area-aware) bilinear downsampling, as PIL (default false, as torchvision 0.14 on tensors). */
  antialias?: boolean | null;
}

/**
 * Resizes to [h, w], or, for an int size, scales the smaller edge to it keeping the aspect ratio
 * (torchvision's resize). Bilinear sampling uses align_corners=false.
 */
export function resize(img: Tensor, size: number | readonly number[], opts: ResizeOptions = {}): Tensor {
  const { interpolation = 'bilinear', max_size = null, antialias = false } = opts;
  const [, h, w] = imageDims(img, 'resize');
  checkResizeOptions(opts, 'resize');
  const [oh, ow] = resizedSize(h, w, size, max_size);
  if (oh === h && ow === w) return img;
  return viaFloat(img, (x) => {
    const x4 = x.ndim === 3 ? unsqueeze(x, 0) : x;
    const y = antialias
      ? applyTaps(applyTaps(x4, 3, antialiasTaps(w, ow)), 2, antialiasTaps(h, oh))
      : interpolate(x4, { size: [oh, ow], mode: interpolation });
    return x.ndim === 3 ? squeeze(y, 0) : y;
  });
}

/**
 * The box of height x width at (top, left); the parts outside the image are zeros (torchvision's
 * crop). Inside the image the result is a view.
 */
export function crop(img: Tensor, top: number, left: number, height: number, width: number): Tensor {
  const [, h, w] = imageDims(img, 'crop');
  requireInt(top, 'crop', 'top');
  requireInt(left, 'crop', 'left');
  requireInt(height, 'crop', 'height', 0);
  requireInt(width, 'crop', 'width', 0);
  // The part of the box inside the image, then zeros around it.
  const inside = (start: number, len: number, size: number): [number, number, number, number] => {
    const a = Math.min(Math.max(start, 0), size);
    const n = Math.max(Math.min(start + len, size) - a, 0);
    const before = Math.min(Math.max(-start, 0), len);
    return [a, n, before, len - n - before];
  };
  const [y0, nh, padTop, padBottom] = inside(top, height, h);
  const [x0, nw, padLeft, padRight] = inside(left, width, w);
  const out = narrow(narrow(img, -2, y0, nh), -1, x0, nw);
  return padTop || padBottom || padLeft || padRight ? padTensor(out, [padLeft, padRight, padTop, padBottom]) : out;
}

/** The central box of output_size, zero-padded first when the image is smaller (torchvision's center_crop). */
export function center_crop(img: Tensor, output_size: Size2d): Tensor {
  const [ch, cw] = size2d(output_size, 'center_crop');
  let [, h, w] = imageDims(img, 'center_crop');
  let x = img;
  if (cw > w || ch > h) {
    const grow = (c: number, s: number): [number, number] => (c > s ? [Math.floor((c - s) / 2), Math.floor((c - s + 1) / 2)] : [0, 0]);
    const [l, r] = grow(cw, w);
    const [t, b] = grow(ch, h);
    x = padTensor(img, [l, r, t, b]);
    [h, w] = [h + t + b, w + l + r];
    if (cw === w && ch === h) return x;
  }
  return crop(x, roundHalfEven((h - ch) / 2), roundHalfEven((w - cw) / 2), ch, cw);
}

/** crop then resize (torchvision's resized_crop). */
export function resized_crop(img: Tensor, top: number, left: number, height: number, width: number, size: number | readonly number[], opts: Omit<ResizeOptions, 'max_size'> = {}): Tensor {
  return resize(crop(img, top, left, height, width), size, opts);
}

/** [left, top, right, bottom] from torchvision's padding forms: n, [n], [lr, tb], [l, t, r, b]. */
function paddingLtrb(padding: number | readonly number[], what: string): [number, number, number, number] {
  const p = typeof padding === 'number' ? [padding] : [...padding];
  if (![1, 2, 4].includes(p.length) || !p.every(Number.isInteger)) {
    throw new StrideError(`${what}: padding must be an int or a list of 1, 2 or 4 ints, got ${JSON.stringify(padding)}`);
  }
  if (p.length === 1) return [p[0]!, p[0]!, p[0]!, p[0]!];
  if (p.length === 2) return [p[0]!, p[1]!, p[0]!, p[1]!];
  return p as [number, number, number, number];
}

/** Source indices of symmetric padding (the edge pixel repeated, then mirrored inward). */
function symmetricIndex(size: number, before: number, after: number): number[] {
  const out: number[] = [];
  for (let i = -before; i < size + after; i++) out.push(i < 0 ? -i - 1 : i >= size ? 2 * size - 1 - i : i);
  return out;
}

export interface PadOptions {
  /** The value of constant padding (default 0). */
  fill?: number;
  padding_mode?: PaddingMode;
}

/**
 * Pads the borders (torchvision's pad): padding is n, [n], [left/right, top/bottom] or
 * [left, top, right, bottom]. Negative amounts crop. Modes: constant (fill), edge (repeat the
 * border pixel), reflect (mirror without repeating it), symmetric (mirror repeating it).
 */
export function pad(img: Tensor, padding: number | readonly number[], opts: PadOptions = {}): Tensor {
  const { fill = 0, padding_mode = 'constant' } = opts;
  const [, h, w] = imageDims(img, 'pad');
  checkPaddingMode(padding_mode, 'pad');
  const [l, t, r, b] = paddingLtrb(padding, 'pad');
  // Negative amounts crop first; what remains is padded.
  const [keepH, keepW] = [h - Math.max(-t, 0) - Math.max(-b, 0), w - Math.max(-l, 0) - Math.max(-r, 0)];
  if (keepH < 0 || keepW < 0) throw new ShapeError(`pad: negative padding [${l}, ${t}, ${r}, ${b}] crops more than the image ${h}x${w}`);
  const cropped = crop(img, Math.max(-t, 0), Math.max(-l, 0), keepH, keepW);
  const [pl, pt, pr, pb] = [l, t, r, b].map((v) => Math.max(v, 0)) as [number, number, number, number];
  if (padding_mode === 'constant') return padTensor(cropped, [pl, pr, pt, pb], 'constant', fill);
  if (padding_mode === 'edge') return padTensor(cropped, [pl, pr, pt, pb], 'replicate');
  const [ch, cw] = [cropped.shape[cropped.ndim - 2]!, cropped.shape[cropped.ndim - 1]!];
  // reflect cannot reach past the last-but-one pixel, symmetric past the last one.
  const reach = padding_mode === 'reflect' ? 1 : 0;
  if (Math.max(pl, pr) > cw - reach || Math.max(pt, pb) > ch - reach) {
    throw new ShapeError(`pad: ${padding_mode} padding [${pl}, ${pt}, ${pr}, ${pb}] must be at most ${reach ? 'one less than ' : ''}the image size ${ch}x${cw} on each side`);
  }
  if (padding_mode === 'reflect') return padTensor(cropped, [pl, pr, pt, pb], 'reflect');
  const rows = index_select(cropped, -2, indexTensor(symmetricIndex(ch, pt, pb), cropped));
  return index_select(rows, -1, indexTensor(symmetricIndex(cw, pl, pr), cropped));
}

function flip(img: Tensor, dim: number): Tensor {
  const n = img.shape[img.ndim + dim]!;
  return index_select(img, dim, indexTensor(Array.from({ length: n }, (_, i) => n - 1 - i), img));
}

/** Mirrors left to right (torchvision's hflip). */
export function hflip(img: Tensor): Tensor {
  imageDims(img, 'hflip');
  return flip(img, -1);
}

/** Mirrors top to bottom (torchvision's vflip). */
export function vflip(img: Tensor): Tensor {
  imageDims(img, 'vflip');
  return flip(img, -2);
}

// ---------------------------------------------------------------- affine

/**
 * torchvision's _get_inverse_affine_matrix: the 2x3 matrix taking output pixel coordinates
 * (relative to the image centre) to input ones, for M = T·C·R·S·Sh·C⁻¹ (rotation `angle` degrees
 * clockwise, shear angles in degrees).
 */
function inverseAffineMatrix(center: readonly number[], angle: number, translate: readonly number[], scale: number, shear: readonly number[]): number[] {
  const rad = Math.PI / 180;
  const rot = angle * rad;
  const sx = shear[0]! * rad;
  const sy = shear[1]! * rad;
  const [cx, cy] = center as [number, number];
  const [tx, ty] = translate as [number, number];
  const a = Math.cos(rot - sy) / Math.cos(sy);
  const b = (-Math.cos(rot - sy) * Math.tan(sx)) / Math.cos(sy) - Math.sin(rot);
  const c = Math.sin(rot - sy) / Math.cos(sy);
  const d = (-Math.sin(rot - sy) * Math.tan(sx)) / Math.cos(sy) + Math.cos(rot);
  // R·S·Sh has determinant 1 before scaling, so its inverse is the adjugate over scale.
  const m = [d, -b, 0, -c, a, 0].map((v) => v / scale);
  m[2]! += m[0]! * (-cx - tx) + m[1]! * (-cy - ty);
  m[5]! += m[3]! * (-cx - tx) + m[4]! * (-cy - ty);
  m[2]! += cx;
  m[5]! += cy;
  return m;
}

/**
 * Samples a float image at the inverse-affine positions of its own pixel grid, as torchvision's
 * _gen_affine_grid followed by grid_sample (zeros outside, align_corners=false). The grid is
 * computed in the image's float type step by step like ATen's, so nearest picks the same pixels
 * even at half-pixel ties. With `fill`, pixels whose samples fall outside blend to it.
 */
function affineSample(img: Tensor, matrix: readonly number[], mode: InterpolationMode, fill: readonly number[] | null): Tensor {
  const r = (v: number) => castScalar(v, img.dtype);
  const h = img.shape[img.ndim - 2]!;
  const w = img.shape[img.ndim - 1]!;
  const theta = matrix.map(r);
  const [sx, sy] = [r(0.5 * w), r(0.5 * h)];
  const kx = [0, 1, 2].map((i) => r(theta[i]! / sx));
  const ky = [3, 4, 5].map((i) => r(theta[i]! / sy));
  const n = h * w;
  const corners = mode === 'nearest' ? 1 : 4;
  const idx = Array.from({ length: corners }, () => new Int32Array(n));
  const wts = Array.from({ length: corners }, () => new Float64Array(n));
  const inside = new Float64Array(n);
  for (let oy = 0; oy < h; oy++) {
    const yb = -h * 0.5 + 0.5 + oy;
    for (let ox = 0; ox < w; ox++) {
      const xb = -w * 0.5 + 0.5 + ox;
      const gx = r(r(r(xb * kx[0]!) + r(yb * kx[1]!)) + kx[2]!);
      const gy = r(r(r(xb * ky[0]!) + r(yb * ky[1]!)) + ky[2]!);
      const ix = r(r(r(gx + 1) * r(w / 2)) - 0.5);
      const iy = r(r(r(gy + 1) * r(h / 2)) - 0.5);
      const o = oy * w + ox;
      const taps: [number, number, number][] = [];
      if (mode === 'nearest') {
        taps.push([roundHalfEven(ix), roundHalfEven(iy), 1]);
      } else {
        const [x0, y0] = [Math.floor(ix), Math.floor(iy)];
        const [east, south] = [r(ix - x0), r(iy - y0)];
        const [west, north] = [r(1 - east), r(1 - south)];
        taps.push([x0, y0, r(north * west)], [x0 + 1, y0, r(north * east)], [x0, y0 + 1, r(south * west)], [x0 + 1, y0 + 1, r(south * east)]);
      }
      let mask = 0;
      taps.forEach(([x, y, weight], k) => {
        const ok = x >= 0 && x < w && y >= 0 && y < h;
        idx[k]![o] = ok ? y * w + x : 0;
        wts[k]![o] = ok ? weight : 0;
        mask = r(mask + wts[k]![o]!);
      });
      inside[o] = mask;
    }
  }
  // Pixels are gathered from the flattened plane [..., C, H*W]; the fill broadcasts as [C, 1].
  const flat = reshape(img, [...img.shape.slice(0, -2), n]);
  const fillT = fill && fromFlat(fill, [fill.length, 1], { dtype: img.dtype, backend: img.device });
  const weights = (a: Float64Array) => fromFlat(a, [n], { dtype: img.dtype, backend: img.device });
  let out: Tensor;
  if (mode === 'nearest') {
    out = where(ne(weights(inside), 0), index_select(flat, -1, indexTensor(idx[0]!, img)), fillT ?? 0);
  } else {
    out = idx.map((ix, k) => mul(index_select(flat, -1, indexTensor(ix, img)), weights(wts[k]!))).reduce((acc, t) => add(acc, t));
    if (fillT) {
      const m = weights(inside);
      out = add(mul(out, m), mul(rsub(m, 1), fillT));
    }
  }
  return reshape(out, img.shape);
}

export interface AffineOptions {
  interpolation?: InterpolationMode;
  /** The value of pixels from outside the image: one number, or one per channel (default: none, i.e. 0 without blending). */
  fill?: number | readonly number[] | null;
  /** The fixed point [x, y] in pixels from the top-left corner (default: the image centre). */
  center?: readonly [number, number] | null;
}

/**
 * Rotation by `angle` degrees (clockwise), translation [dx, dy] in pixels, scaling and shear
 * (degrees, one value for x or [x, y]) about the image centre, keeping the size
 * (torchvision's affine on tensors).
 */
export function affine(img: Tensor, angle: number, translate: readonly [number, number], scale: number, shear: number | readonly number[], opts: AffineOptions = {}): Tensor {
  const { interpolation = 'nearest', fill = null, center = null } = opts;
  const [c, h, w] = imageDims(img, 'affine');
  checkInterpolation(interpolation, 'affine');
  if (!Number.isFinite(angle)) throw new StrideError(`affine: angle must be a finite number, got ${angle}`);
  if (translate.length !== 2 || !translate.every(Number.isFinite)) throw new StrideError(`affine: translate must be [dx, dy], got ${JSON.stringify(translate)}`);
  if (!(scale > 0)) throw new StrideError(`affine: scale must be positive, got ${scale}`);
  const shears = typeof shear === 'number' ? [shear, 0] : shear.length === 1 ? [shear[0]!, shear[0]!] : [...shear];
  if (shears.length !== 2 || !shears.every(Number.isFinite)) throw new StrideError(`affine: shear must be a number or [sx, sy], got ${JSON.stringify(shear)}`);
  const fills = fill === null ? null : typeof fill === 'number' ? [fill] : [...fill];
  if (fills && fills.length !== 1 && fills.length !== c) {
    throw new ShapeError(`affine: fill has ${fills.length} values but the image has ${c} channels; give one value or one per channel`);
  }
  // torchvision's tensor path measures the centre from the image centre (the grid's origin).
  const centerF = center ? [center[0] - w * 0.5, center[1] - h * 0.5] : [0, 0];
  const matrix = inverseAffineMatrix(centerF, angle, translate, scale, shears);
  return viaFloat(img, (x) => affineSample(x, matrix, interpolation, fills));
}

/** Pixels [i, i+h) x [j, j+w) set to v (broadcast over them: [C, 1, 1] or [C, h, w]) (torchvision's erase). */
export function erase(img: Tensor, i: number, j: number, h: number, w: number, v: Tensor, inplace = false): Tensor {
  const [, ih, iw] = imageDims(img, 'erase');
  if (!(v instanceof Tensor)) throw new StrideError('erase: v must be a tensor (e.g. [C, 1, 1] values)');
  [i, j, h, w].forEach((x, k) => requireInt(x, 'erase', ['i', 'j', 'h', 'w'][k]!, 0));
  if (i + h > ih || j + w > iw) throw new ShapeError(`erase: the box at (${i}, ${j}) of ${h}x${w} does not fit in the image ${ih}x${iw}`);
  const out = inplace ? img : clone(img);
  copy_(narrow(narrow(out, -2, i, h), -1, j, w), v);
  return out;
}

// ---------------------------------------------------------------- colour

/** ITU-R 601-2 luma of an RGB image (as torchvision, rounded to the image's dtype); 1 channel stays. */
export function rgb_to_grayscale(img: Tensor, num_output_channels: 1 | 3 = 1): Tensor {
  const c = requireChannels(img, [1, 3], 'rgb_to_grayscale');
  if (num_output_channels !== 1 && num_output_channels !== 3) throw new StrideError(`rgb_to_grayscale: num_output_channels must be 1 or 3, got ${num_output_channels}`);
  let luma = img;
  if (c === 3) {
    const [r, g, b] = [0, 1, 2].map((k) => asFloat(select(img, -3, k))) as [Tensor, Tensor, Tensor];
    luma = unsqueeze(to(add(add(mul(r, 0.2989), mul(g, 0.587)), mul(b, 0.114)), img.dtype), -3);
  }
  if (num_output_channels === 1) return c === 3 ? luma : clone(img);
  const shape = [...img.shape];
  shape[shape.length - 3] = 3;
  return contiguous(expand(luma, shape));
}

/** ratio·img1 + (1 - ratio)·img2, clamped to the image range and cast to img1's dtype (torchvision's _blend). */
function blend(img1: Tensor, img2: Tensor, ratio: number): Tensor {
  const bound = img1.is_floating_point() ? 1 : 255;
  return to(clamp(add(mul(asFloat(img1), ratio), mul(asFloat(img2), 1 - ratio)), 0, bound), img1.dtype);
}

function checkFactor(factor: number, what: string): void {
  if (!(factor >= 0) || !Number.isFinite(factor)) throw new StrideError(`${what}: the factor must be a non-negative number, got ${factor}`);
}

/** Scales pixel values by `factor` (0 gives black, 1 the image). */
export function adjust_brightness(img: Tensor, brightness_factor: number): Tensor {
  checkFactor(brightness_factor, 'adjust_brightness');
  requireChannels(img, [1, 3], 'adjust_brightness');
  return blend(img, zeros_like(img), brightness_factor);
}

/** Blends with the mean grey level of each image (0 gives uniform grey, 1 the image). */
export function adjust_contrast(img: Tensor, contrast_factor: number): Tensor {
  checkFactor(contrast_factor, 'adjust_contrast');
  const c = requireChannels(img, [1, 3], 'adjust_contrast');
  const dtype = img.is_floating_point() ? img.dtype : 'float32';
  const m = mean(to(c === 3 ? rgb_to_grayscale(img) : img, dtype), [-3, -2, -1], true);
  return blend(img, m, contrast_factor);
}

/** Blends with the grayscale image (0 gives grey, 1 the image); 1-channel images are returned as they are. */
export function adjust_saturation(img: Tensor, saturation_factor: number): Tensor {
  checkFactor(saturation_factor, 'adjust_saturation');
  if (requireChannels(img, [1, 3], 'adjust_saturation') === 1) return img;
  return blend(img, rgb_to_grayscale(img), saturation_factor);
}

/** RGB in [0, 1] to H, S, V planes, h in [0, 1) (torchvision's _rgb2hsv, after Pillow). */
function rgbToHsv(img: Tensor): [Tensor, Tensor, Tensor] {
  const [r, g, b] = [0, 1, 2].map((k) => select(img, -3, k)) as [Tensor, Tensor, Tensor];
  const maxc = amax(img, -3);
  const minc = amin(img, -3);
  // Grey pixels (max = min) would divide by zero; their s and h come out 0 with divisor 1.
  const grey = eq(maxc, minc);
  const cr = sub(maxc, minc);
  const s = div(cr, where(grey, 1, maxc));
  const crDivisor = where(grey, 1, cr);
  const [rc, gc, bc] = [r, g, b].map((x) => div(sub(maxc, x), crDivisor)) as [Tensor, Tensor, Tensor];
  const isR = eq(maxc, r);
  const isG = logical_and(eq(maxc, g), ne(maxc, r));
  const isB = logical_and(ne(maxc, g), ne(maxc, r));
  const hr = mul(isR, sub(bc, gc));
  const hg = mul(isG, sub(add(rc, 2), bc));
  const hb = mul(isB, sub(add(gc, 4), rc));
  const h = remainder(add(div(add(add(hr, hg), hb), 6), 1), 1);
  return [h, s, maxc];
}

/** H, S, V planes back to RGB (torchvision's _hsv2rgb): each output channel picks v, p, q or t by hue sector. */
function hsvToRgb(h: Tensor, s: Tensor, v: Tensor): Tensor {
  const h6 = mul(h, 6);
  const i = floor(h6);
  const f = sub(h6, i);
  const p = clamp(mul(v, rsub(s, 1)), 0, 1);
  const q = clamp(mul(v, rsub(mul(s, f), 1)), 0, 1);
  const t = clamp(mul(v, rsub(mul(s, rsub(f, 1)), 1)), 0, 1);
  const sector = remainder(i, 6);
  const pick = (choices: Tensor[]) => choices.slice(0, 5).reduceRight<Tensor>((acc, c, k) => where(eq(sector, k), c, acc), choices[5]!);
  return stack([pick([v, q, p, p, t, v]), pick([t, v, v, q, p, p]), pick([p, p, t, v, v, q])], -3);
}

/** Rotates the hue by hue_factor turns, in [-0.5, 0.5] (via HSV); 1-channel images are returned as they are. */
export function adjust_hue(img: Tensor, hue_factor: number): Tensor {
  if (!(hue_factor >= -0.5 && hue_factor <= 0.5)) throw new StrideError(`adjust_hue: hue_factor must be in [-0.5, 0.5], got ${hue_factor}`);
  if (requireChannels(img, [1, 3], 'adjust_hue') === 1) return img;
  const x = img.is_floating_point() ? img : div(to(img, 'float32'), 255);
  const [h, s, v] = rgbToHsv(x);
  const rgb = hsvToRgb(remainder(add(h, hue_factor), 1), s, v);
  // torchvision truncates (no rounding) on the way back to uint8.
  return img.is_floating_point() ? rgb : to(mul(rgb, 255), img.dtype);
}

// ---------------------------------------------------------------- transform classes

/** Runs transforms in order (torchvision's Compose). */
export class Compose<I = Tensor, O = Tensor> implements Transform<I, O> {
  constructor(readonly transforms: readonly Transform<never, unknown>[]) {}

  forward(x: I): O {
    let y: unknown = x;
    for (const t of this.transforms) y = (t as Transform<unknown, unknown>).forward(y);
    return y as O;
  }
}

/** A function as a transform (torchvision's Lambda). */
export class Lambda<I = Tensor, O = Tensor> implements Transform<I, O> {
  constructor(readonly lambd: (x: I) => O) {
    if (typeof lambd !== 'function') throw new StrideError(`Lambda: expected a function, got ${typeof lambd}`);
  }

  forward(x: I): O {
    return this.lambd(x);
  }
}

/** uint8 HWC pixels (ImageData or a uint8 tensor [H, W, C]) to a float32 image [C, H, W] in [0, 1]. */
export class ToTensor implements Transform<ImageData | Tensor> {
  forward(pic: ImageData | Tensor): Tensor {
    return to_tensor(pic);
  }
}

/** uint8 HWC pixels to a uint8 image [C, H, W] (torchvision's PILToTensor). */
export class PILToTensor implements Transform<ImageData | Tensor> {
  forward(pic: ImageData | Tensor): Tensor {
    return pil_to_tensor(pic);
  }
}

/** Converts between uint8 [0, 255] and float [0, 1] images. */
export class ConvertImageDtype implements Transform {
  constructor(readonly dtype: 'float32' | 'float64' | 'uint8' = 'float32') {}

  forward(img: Tensor): Tensor {
    return convert_image_dtype(img, this.dtype);
  }
}

/** (img - mean) / std per channel. */
export class Normalize implements Transform {
  constructor(readonly mean: readonly number[], readonly std: readonly number[]) {}

  forward(img: Tensor): Tensor {
    return normalize(img, this.mean, this.std);
  }
}

/** Resizes to [h, w], or the smaller edge to an int size. */
export class Resize implements Transform {
  constructor(readonly size: number | readonly number[], readonly opts: ResizeOptions = {}) {
    resizedSize(1, 1, size, opts.max_size ?? null);
    checkResizeOptions(opts, 'Resize');
  }

  forward(img: Tensor): Tensor {
    return resize(img, this.size, this.opts);
  }
}

/** The central box of `size`, zero-padded first when the image is smaller. */
export class CenterCrop implements Transform {
  readonly size: [number, number];

  constructor(size: Size2d) {
    this.size = size2d(size, 'CenterCrop');
  }

  forward(img: Tensor): Tensor {
    return center_crop(img, this.size);
  }
}

/** Pads the borders (constant, edge, reflect or symmetric). */
export class Pad implements Transform {
  constructor(readonly padding: number | readonly number[], readonly opts: PadOptions = {}) {
    paddingLtrb(padding, 'Pad');
    checkPaddingMode(opts.padding_mode ?? 'constant', 'Pad');
  }

  forward(img: Tensor): Tensor {
    return pad(img, this.padding, this.opts);
  }
}

/** ITU-R 601-2 luma, with 1 or 3 (equal) output channels. */
export class Grayscale implements Transform {
  constructor(readonly num_output_channels: 1 | 3 = 1) {
    if (num_output_channels !== 1 && num_output_channels !== 3) throw new StrideError(`Grayscale: num_output_channels must be 1 or 3, got ${num_output_channels}`);
  }

  forward(img: Tensor): Tensor {
    return rgb_to_grayscale(img, this.num_output_channels);
  }
}

export interface RandomOptions {
  /** The generator to draw from (default: default_generator). */
  generator?: Generator;
}

export interface RandomCropOptions extends RandomOptions {
  /** Padding applied before cropping, as Pad's. */
  padding?: number | readonly number[] | null;
  /** Pads the image (both sides) when it is smaller than the crop. */
  pad_if_needed?: boolean;
  fill?: number;
  padding_mode?: PaddingMode;
}

/** A crop at a uniformly random position (torchvision's RandomCrop). */
export class RandomCrop implements Transform {
  readonly size: [number, number];
  readonly generator: Generator;

  constructor(size: Size2d, readonly opts: RandomCropOptions = {}) {
    this.size = size2d(size, 'RandomCrop');
    if (opts.padding != null) paddingLtrb(opts.padding, 'RandomCrop');
    checkPaddingMode(opts.padding_mode ?? 'constant', 'RandomCrop');
    this.generator = opts.generator ?? default_generator;
  }

  /** [top, left, height, width] of a random crop of output_size [h, w]. */
  static get_params(img: Tensor, output_size: readonly [number, number], generator: Generator = default_generator): [number, number, number, number] {
    const [, h, w] = imageDims(img, 'RandomCrop');
    const [th, tw] = output_size;
    if (h < th || w < tw) throw new ShapeError(`RandomCrop: the crop ${th}x${tw} is larger than the image ${h}x${w}; use pad_if_needed or padding`);
    if (h === th && w === tw) return [0, 0, h, w];
    return [randint(generator, 0, h - th + 1), randint(generator, 0, w - tw + 1), th, tw];
  }

  forward(img: Tensor): Tensor {
    const { padding = null, pad_if_needed = false, fill = 0, padding_mode = 'constant' } = this.opts;
    const padOpts = { fill, padding_mode };
    let x = padding === null ? img : pad(img, padding, padOpts);
    const [, h, w] = imageDims(x, 'RandomCrop');
    if (pad_if_needed && w < this.size[1]) x = pad(x, [this.size[1] - w, 0], padOpts);
    if (pad_if_needed && h < this.size[0]) x = pad(x, [0, this.size[0] - h], padOpts);
    const [i, j, th, tw] = RandomCrop.get_params(x, this.size, this.generator);
    return crop(x, i, j, th, tw);
  }
}

function checkProbability(p: number, what: string): void {
  if (!(p >= 0 && p <= 1)) throw new StrideError(`${what}: p must be a probability in [0, 1], got ${p}`);
}

/** Mirrors left to right with probability p. */
export class RandomHorizontalFlip implements Transform {
  readonly generator: Generator;

  constructor(readonly p = 0.5, opts: RandomOptions = {}) {
    checkProbability(p, 'RandomHorizontalFlip');
    this.generator = opts.generator ?? default_generator;
  }

  forward(img: Tensor): Tensor {
    return this.generator.uniform(1)[0]! < this.p ? hflip(img) : img;
  }
}

/** Mirrors top to bottom with probability p. */
export class RandomVerticalFlip implements Transform {
  readonly generator: Generator;

  constructor(readonly p = 0.5, opts: RandomOptions = {}) {
    checkProbability(p, 'RandomVerticalFlip');
    this.generator = opts.generator ?? default_generator;
  }

  forward(img: Tensor): Tensor {
    return this.generator.uniform(1)[0]! < this.p ? vflip(img) : img;
  }
}

export interface RandomResizedCropOptions extends RandomOptions {
  /** Range of the crop's area as a fraction of the image's (default [0.08, 1]). */
  scale?: readonly [number, number];
  /** Range of the crop's aspect ratio w/h, sampled log-uniformly (default [3/4, 4/3]). */
  ratio?: readonly [number, number];
  interpolation?: InterpolationMode;
  antialias?: boolean | null;
}

/** A crop of random area and aspect ratio, resized to `size` (torchvision's RandomResizedCrop). */
export class RandomResizedCrop implements Transform {
  readonly size: [number, number];
  readonly scale: [number, number];
  readonly ratio: [number, number];
  readonly generator: Generator;

  constructor(size: Size2d, readonly opts: RandomResizedCropOptions = {}) {
    this.size = size2d(size, 'RandomResizedCrop');
    this.scale = checkRange(opts.scale ?? [0.08, 1], 'RandomResizedCrop', 'scale', 0);
    this.ratio = checkRange(opts.ratio ?? [3 / 4, 4 / 3], 'RandomResizedCrop', 'ratio', Number.MIN_VALUE);
    checkResizeOptions(opts, 'RandomResizedCrop');
    this.generator = opts.generator ?? default_generator;
  }

  /**
   * [top, left, height, width]: up to 10 tries of a random area and log-uniform aspect ratio that
   * fit, else the largest central crop with the ratio clipped to the range.
   */
  static get_params(img: Tensor, scale: readonly [number, number], ratio: readonly [number, number], generator: Generator = default_generator): [number, number, number, number] {
    const [, height, width] = imageDims(img, 'RandomResizedCrop');
    const area = height * width;
    const [logLo, logHi] = [Math.log(ratio[0]), Math.log(ratio[1])];
    for (let attempt = 0; attempt < 10; attempt++) {
      const targetArea = area * uniform(generator, scale[0], scale[1]);
      const aspect = Math.exp(uniform(generator, logLo, logHi));
      const w = roundHalfEven(Math.sqrt(targetArea * aspect));
      const h = roundHalfEven(Math.sqrt(targetArea / aspect));
      if (w > 0 && w <= width && h > 0 && h <= height) {
        return [randint(generator, 0, height - h + 1), randint(generator, 0, width - w + 1), h, w];
      }
    }
    const inRatio = width / height;
    let [w, h] = [width, height];
    if (inRatio < ratio[0]) h = roundHalfEven(w / ratio[0]);
    else if (inRatio > ratio[1]) w = roundHalfEven(h * ratio[1]);
    return [Math.floor((height - h) / 2), Math.floor((width - w) / 2), h, w];
  }

  forward(img: Tensor): Tensor {
    const [i, j, h, w] = RandomResizedCrop.get_params(img, this.scale, this.ratio, this.generator);
    return resized_crop(img, i, j, h, w, this.size, { interpolation: this.opts.interpolation, antialias: this.opts.antialias });
  }
}

export interface RandomAffineOptions extends RandomOptions {
  /** Maximum fractions [a, b] of the width and height for random shifts in (-a·W, a·W), (-b·H, b·H). */
  translate?: readonly [number, number] | null;
  /** Range [min, max] of the random scale. */
  scale?: readonly [number, number] | null;
  /** Shear in degrees: s for x in (-s, s), [min, max] for x, or [xmin, xmax, ymin, ymax]. */
  shear?: number | readonly number[] | null;
  interpolation?: InterpolationMode;
  /** The value of pixels from outside the image: one number or one per channel (default 0). */
  fill?: number | readonly number[];
  center?: readonly [number, number] | null;
}

/** An angle range from d (meaning [-d, d]) or a list of `sizes` values (torchvision's _setup_angle). */
function angleRange(x: number | readonly number[], name: string, sizes: readonly number[]): number[] {
  if (typeof x === 'number') {
    if (!(x >= 0)) throw new StrideError(`RandomAffine: ${name} as a single number must be non-negative, got ${x}`);
    return [-x, x];
  }
  if (!sizes.includes(x.length) || !x.every(Number.isFinite)) {
    throw new StrideError(`RandomAffine: ${name} must be a number or a list of ${sizes.join(' or ')} numbers, got ${JSON.stringify(x)}`);
  }
  return [...x];
}

/** A random rotation, translation, scale and shear about the centre (torchvision's RandomAffine). */
export class RandomAffine implements Transform {
  readonly degrees: [number, number];
  readonly translate: [number, number] | null;
  readonly scale: [number, number] | null;
  readonly shear: number[] | null;
  readonly generator: Generator;

  constructor(degrees: number | readonly [number, number], readonly opts: RandomAffineOptions = {}) {
    this.degrees = angleRange(degrees, 'degrees', [2]) as [number, number];
    const { translate = null, scale = null, shear = null } = opts;
    if (translate !== null && (translate.length !== 2 || !translate.every((t) => t >= 0 && t <= 1))) {
      throw new StrideError(`RandomAffine: translate must be two fractions in [0, 1], got ${JSON.stringify(translate)}`);
    }
    if (scale !== null && (scale.length !== 2 || !scale.every((s) => s > 0))) {
      throw new StrideError(`RandomAffine: scale must be two positive numbers, got ${JSON.stringify(scale)}`);
    }
    this.translate = translate && [translate[0], translate[1]];
    this.scale = scale && [scale[0], scale[1]];
    this.shear = shear === null ? null : angleRange(shear, 'shear', [2, 4]);
    checkInterpolation(opts.interpolation ?? 'nearest', 'RandomAffine');
    this.generator = opts.generator ?? default_generator;
  }

  /** [angle, [dx, dy], scale, [shear_x, shear_y]] for an image of img_size [width, height]. */
  static get_params(
    degrees: readonly [number, number],
    translate: readonly [number, number] | null,
    scale_ranges: readonly [number, number] | null,
    shears: readonly number[] | null,
    img_size: readonly [number, number],
    generator: Generator = default_generator,
  ): [number, [number, number], number, [number, number]] {
    const angle = uniform(generator, degrees[0], degrees[1]);
    let translations: [number, number] = [0, 0];
    if (translate) {
      const [maxDx, maxDy] = [translate[0] * img_size[0], translate[1] * img_size[1]];
      translations = [roundHalfEven(uniform(generator, -maxDx, maxDx)), roundHalfEven(uniform(generator, -maxDy, maxDy))];
    }
    const scale = scale_ranges ? uniform(generator, scale_ranges[0], scale_ranges[1]) : 1;
    const shear: [number, number] = [0, 0];
    if (shears) {
      shear[0] = uniform(generator, shears[0]!, shears[1]!);
      if (shears.length === 4) shear[1] = uniform(generator, shears[2]!, shears[3]!);
    }
    return [angle, translations, scale, shear];
  }

  forward(img: Tensor): Tensor {
    const [c, h, w] = imageDims(img, 'RandomAffine');
    const { fill = 0, interpolation = 'nearest', center = null } = this.opts;
    const [angle, translate, scale, shear] = RandomAffine.get_params(this.degrees, this.translate, this.scale, this.shear, [w, h], this.generator);
    return affine(img, angle, translate, scale, shear, { interpolation, center, fill: typeof fill === 'number' ? new Array<number>(c).fill(fill) : fill });
  }
}

export interface RandomErasingOptions extends RandomOptions {
  /** Probability of erasing (default 0.5). */
  p?: number;
  /** Range of the erased area as a fraction of the image's (default [0.02, 0.33]). */
  scale?: readonly [number, number];
  /** Range of the erased box's aspect ratio h/w, sampled log-uniformly (default [0.3, 3.3]). */
  ratio?: readonly [number, number];
  /** The erasing value: a number, one per channel, or 'random' (standard normal per pixel). */
  value?: number | readonly number[] | 'random';
  inplace?: boolean;
}

/** Erases a random box (Zhong et al. 2017, torchvision's RandomErasing); tensors only. */
export class RandomErasing implements Transform {
  readonly p: number;
  readonly scale: [number, number];
  readonly ratio: [number, number];
  readonly value: number | readonly number[] | 'random';
  readonly inplace: boolean;
  readonly generator: Generator;

  constructor(opts: RandomErasingOptions = {}) {
    this.p = opts.p ?? 0.5;
    checkProbability(this.p, 'RandomErasing');
    this.scale = checkRange(opts.scale ?? [0.02, 0.33], 'RandomErasing', 'scale', 0, 1);
    this.ratio = checkRange(opts.ratio ?? [0.3, 3.3], 'RandomErasing', 'ratio', Number.MIN_VALUE);
    this.value = opts.value ?? 0;
    if (typeof this.value === 'string' && this.value !== 'random') throw new StrideError(`RandomErasing: a string value must be 'random', got '${this.value}'`);
    this.inplace = opts.inplace ?? false;
    this.generator = opts.generator ?? default_generator;
  }

  /**
   * [top, left, height, width, value]: up to 10 tries of a random area and log-uniform aspect
   * ratio strictly inside the image; value null means standard normal noise. When no try fits, the
   * whole image with itself as the value (erasing then changes nothing).
   */
  static get_params(img: Tensor, scale: readonly [number, number], ratio: readonly [number, number], value: readonly number[] | null, generator: Generator = default_generator): [number, number, number, number, Tensor] {
    const [c, ih, iw] = imageDims(img, 'RandomErasing');
    const area = ih * iw;
    const [logLo, logHi] = [Math.log(ratio[0]), Math.log(ratio[1])];
    for (let attempt = 0; attempt < 10; attempt++) {
      const eraseArea = area * uniform(generator, scale[0], scale[1]);
      const aspect = Math.exp(uniform(generator, logLo, logHi));
      const h = roundHalfEven(Math.sqrt(eraseArea * aspect));
      const w = roundHalfEven(Math.sqrt(eraseArea / aspect));
      if (!(h < ih && w < iw)) continue;
      const v = value === null ? randn([c, h, w], { generator, backend: img.device }) : channelConstant(value, img, 'float32');
      return [randint(generator, 0, ih - h + 1), randint(generator, 0, iw - w + 1), h, w, v];
    }
    return [0, 0, ih, iw, img];
  }

  forward(img: Tensor): Tensor {
    const [c] = imageDims(img, 'RandomErasing');
    if (!(this.generator.uniform(1)[0]! < this.p)) return img;
    const value = this.value === 'random' ? null : typeof this.value === 'number' ? [this.value] : [...this.value];
    if (value && value.length !== 1 && value.length !== c) {
      throw new ShapeError(`RandomErasing: value has ${value.length} entries but the image has ${c} channels; give one value or one per channel`);
    }
    const [i, j, h, w, v] = RandomErasing.get_params(img, this.scale, this.ratio, value, this.generator);
    return erase(img, i, j, h, w, v, this.inplace);
  }
}

export interface ColorJitterOptions extends RandomOptions {
  /** Factor range [max(0, 1 - b), 1 + b] for a number b, or [min, max]. */
  brightness?: number | readonly [number, number];
  contrast?: number | readonly [number, number];
  saturation?: number | readonly [number, number];
  /** Hue shift range [-h, h] (h <= 0.5), or [min, max] inside [-0.5, 0.5]. */
  hue?: number | readonly [number, number];
}

/** torchvision's ColorJitter._check_input: the factor range, or null for "leave unchanged". */
function jitterRange(value: number | readonly [number, number], name: string, center: number, bound: [number, number], clipFirstOnZero: boolean): [number, number] | null {
  let range: [number, number];
  if (typeof value === 'number') {
    if (!(value >= 0)) throw new StrideError(`ColorJitter: ${name} as a single number must be non-negative, got ${value}`);
    range = [center - value, center + value];
    if (clipFirstOnZero) range[0] = Math.max(range[0], 0);
    checkRange(range, 'ColorJitter', name, bound[0], bound[1]);
  } else {
    range = checkRange(value, 'ColorJitter', name, bound[0], bound[1]);
  }
  return range[0] === center && range[1] === center ? null : range;
}

/** Random brightness, contrast, saturation and hue changes in a random order (torchvision's ColorJitter). */
export class ColorJitter implements Transform {
  readonly brightness: [number, number] | null;
  readonly contrast: [number, number] | null;
  readonly saturation: [number, number] | null;
  readonly hue: [number, number] | null;
  readonly generator: Generator;

  constructor(opts: ColorJitterOptions = {}) {
    this.brightness = jitterRange(opts.brightness ?? 0, 'brightness', 1, [0, Infinity], true);
    this.contrast = jitterRange(opts.contrast ?? 0, 'contrast', 1, [0, Infinity], true);
    this.saturation = jitterRange(opts.saturation ?? 0, 'saturation', 1, [0, Infinity], true);
    this.hue = jitterRange(opts.hue ?? 0, 'hue', 0, [-0.5, 0.5], false);
    this.generator = opts.generator ?? default_generator;
  }

  /** [order, brightness, contrast, saturation, hue]: a permutation of 0..3 (the order the four adjustments run in) and the factors (null: skipped). */
  static get_params(
    brightness: readonly [number, number] | null,
    contrast: readonly [number, number] | null,
    saturation: readonly [number, number] | null,
    hue: readonly [number, number] | null,
    generator: Generator = default_generator,
  ): [number[], number | null, number | null, number | null, number | null] {
    const order = Array.from(randperm(4, { generator }).dataSync());
    const draw = (r: readonly [number, number] | null) => (r === null ? null : uniform(generator, r[0], r[1]));
    return [order, draw(brightness), draw(contrast), draw(saturation), draw(hue)];
  }

  forward(img: Tensor): Tensor {
    const [order, ...factors] = ColorJitter.get_params(this.brightness, this.contrast, this.saturation, this.hue, this.generator);
    const adjust = [adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue];
    let x = img;
    for (const k of order) {
      const f = factors[k]!;
      if (f !== null) x = adjust[k]!(x, f);
    }
    return x;
  }
}
