import type { AvgPoolOptions, Pool2dParams, View } from '../backend.js';
import { IndexError } from '../../tensor/errors.js';
import { buf } from './strided.js';

/** One pooling window along one spatial dim: input positions start, start+step, ... < end. */
interface Window {
  start: number;
  end: number;
  step: number;
  /** Divisor contribution when padding counts (PyTorch clips windows at size + padding). */
  padded: number;
}

/** The windows of every output position along one dim, clipped to the input. */
function windows(p: Pool2dParams, axis: 0 | 1, inSize: number, outSize: number): Window[] {
  const out: Window[] = [];
  for (let o = 0; o < outSize; o++) {
    if (p.kind === 'adaptive') {
      const start = Math.floor((o * inSize) / outSize);
      const end = Math.ceil(((o + 1) * inSize) / outSize);
      out.push({ start, end, step: 1, padded: end - start });
      continue;
    }
    const k = p.kernel[axis];
    const s = p.stride[axis];
    const pad = p.padding[axis];
    const d = p.dilation[axis];
    let start = o * s - pad;
    const paddedEnd = Math.min(start + (k - 1) * d + 1, inSize + pad);
    const padded = paddedEnd - start;
    while (start < 0) start += d;
    const end = Math.min(paddedEnd, inSize);
    out.push({ start, end, step: d, padded });
  }
  return out;
}

/**
 * Visits every output position of a pooling over input [N, C, H, W] (`input`) to `output`
 * [N, C, OH, OW] with its two windows, the flat start of its input plane and its flat output index.
 */
function forEachWindow(
  input: readonly number[],
  output: readonly number[],
  p: Pool2dParams,
  visit: (plane: number, oi: number, h: Window, w: Window, W: number) => void,
): void {
  const [N, C, H, W] = input as [number, number, number, number];
  const [OH, OW] = [output[2]!, output[3]!];
  const wh = windows(p, 0, H, OH);
  const ww = windows(p, 1, W, OW);
  for (let pl = 0; pl < N * C; pl++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) visit(pl * H * W, (pl * OH + oh) * OW + ow, wh[oh]!, ww[ow]!, W);
    }
  }
}

/**
 * Max with NaN propagation: as PyTorch's, a NaN wins (the last one in the window gives the index),
 * and the index defaults to the window's first position.
 */
export function maxPool2d(x: View, out: View, indices: View, p: Pool2dParams): void {
  const xs = buf(x);
  const o = buf(out);
  const ix = buf(indices);
  forEachWindow(x.shape, out.shape, p, (plane, oi, h, w, W) => {
    const xBase = x.offset + plane;
    let best = -Infinity;
    let bestIdx = h.start * W + w.start;
    for (let ih = h.start; ih < h.end; ih += h.step) {
      for (let iw = w.start; iw < w.end; iw += w.step) {
        const v = xs[xBase + ih * W + iw]!;
        if (v > best || v !== v) {
          best = v;
          bestIdx = ih * W + iw;
        }
      }
    }
    o[out.offset + oi] = best;
    ix[indices.offset + oi] = bestIdx;
  });
}

export function maxPool2dGrad(gy: View, indices: View, gx: View): void {
  const [N, C, H, W] = gx.shape as [number, number, number, number];
  const plane = H * W;
  const outPlane = gy.shape[2]! * gy.shape[3]!;
  const ix = buf(indices);
  const count = N * C * outPlane;
  for (let i = 0; i < count; i++) {
    const at = ix[indices.offset + i]!;
    if (!(at >= 0 && at < plane)) throw new IndexError(`maxPool2dGrad: index ${at} is out of bounds for an input plane of ${H}x${W}`);
  }
  const ys = buf(gy);
  const xs = buf(gx);
  xs.fill(0, gx.offset, gx.offset + N * C * plane);
  for (let pl = 0; pl < N * C; pl++) {
    for (let o = 0; o < outPlane; o++) {
      const i = pl * outPlane + o;
      xs[gx.offset + pl * plane + ix[indices.offset + i]!]! += ys[gy.offset + i]!;
    }
  }
}

function divisor(h: Window, w: Window, opts: AvgPoolOptions): number {
  if (opts.divisorOverride !== null) return opts.divisorOverride;
  if (opts.countIncludePad) return h.padded * w.padded;
  return (h.end - h.start) * (w.end - w.start);
}

export function avgPool2d(x: View, out: View, p: Pool2dParams, opts: AvgPoolOptions): void {
  const xs = buf(x);
  const o = buf(out);
  forEachWindow(x.shape, out.shape, p, (plane, oi, h, w, W) => {
    const xBase = x.offset + plane;
    let s = 0;
    for (let ih = h.start; ih < h.end; ih++) for (let iw = w.start; iw < w.end; iw++) s += xs[xBase + ih * W + iw]!;
    o[out.offset + oi] = s / divisor(h, w, opts);
  });
}

export function avgPool2dGrad(gy: View, gx: View, p: Pool2dParams, opts: AvgPoolOptions): void {
  const ys = buf(gy);
  const acc = new Float64Array(gx.shape.reduce((a, b) => a * b, 1));
  forEachWindow(gx.shape, gy.shape, p, (plane, oi, h, w, W) => {
    const g = ys[gy.offset + oi]! / divisor(h, w, opts);
    for (let ih = h.start; ih < h.end; ih++) for (let iw = w.start; iw < w.end; iw++) acc[plane + ih * W + iw]! += g;
  });
  buf(gx).set(acc, gx.offset);
}
