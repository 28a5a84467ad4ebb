import type { Conv2dParams, View } from '../backend.js';
import { buf } from './strided.js';

/**
 * Direct convolution on contiguous NCHW / OIHW data. For each weight tap the inner loop runs
 * along an output row over the range of ow whose input column falls inside the image, so the
 * padding needs no per-element test. Sums are kept in float64 and rounded once on store.
 */
interface Geometry {
  N: number; C: number; H: number; W: number;
  O: number; Cg: number; KH: number; KW: number;
  OH: number; OW: number; Og: number;
}

function geometry(x: readonly number[], w: readonly number[], y: readonly number[], groups: number): Geometry {
  const [N, C, H, W] = x as [number, number, number, number];
  const [O, Cg, KH, KW] = w as [number, number, number, number];
  const [, , OH, OW] = y as [number, number, number, number];
  return { N, C, H, W, O, Cg, KH, KW, OH, OW, Og: O / groups };
}

/** The [start, end) range of output positions whose input index o*s - p + k*d lies in [0, size). */
function validRange(outSize: number, size: number, s: number, p: number, kOffset: number): [number, number] {
  const start = Math.max(0, Math.ceil((p - kOffset) / s));
  const end = Math.min(outSize, Math.floor((size - 1 + p - kOffset) / s) + 1);
  return [start, Math.max(start, end)];
}

/** The rows and columns one weight tap touches: output ranges and the matching input offsets. */
interface Tap {
  /** Flat index of the input plane (n, ic) and of the output plane (n, oc). */
  xPlane: number;
  yPlane: number;
  /** Flat index of the weight element (oc, icg, kh, kw). */
  wi: number;
  ohStart: number;
  ohEnd: number;
  owStart: number;
  owEnd: number;
  /** Input row of output row oh is oh*sh + ihOffset; input column of ow is ow*sw + iwOffset. */
  ihOffset: number;
  iwOffset: number;
}

/**
 * Visits every (n, oc, ic, kh, kw) weight tap with the output rows/columns for which it falls
 * inside the image. One loop nest serves forward and both gradients, which differ only in what
 * they do with each tap.
 */
function forEachTap(g: Geometry, p: Conv2dParams, visit: (t: Tap) => void): void {
  const [sh, sw] = p.stride;
  const [ph, pw] = p.padding;
  const [dh, dw] = p.dilation;
  const t: Tap = { xPlane: 0, yPlane: 0, wi: 0, ohStart: 0, ohEnd: 0, owStart: 0, owEnd: 0, ihOffset: 0, iwOffset: 0 };
  for (let n = 0; n < g.N; n++) {
    for (let oc = 0; oc < g.O; oc++) {
      const group = Math.floor(oc / g.Og);
      t.yPlane = (n * g.O + oc) * g.OH * g.OW;
      for (let icg = 0; icg < g.Cg; icg++) {
        t.xPlane = (n * g.C + group * g.Cg + icg) * g.H * g.W;
        for (let kh = 0; kh < g.KH; kh++) {
          [t.ohStart, t.ohEnd] = validRange(g.OH, g.H, sh, ph, kh * dh);
          t.ihOffset = kh * dh - ph;
          for (let kw = 0; kw < g.KW; kw++) {
            [t.owStart, t.owEnd] = validRange(g.OW, g.W, sw, pw, kw * dw);
            if (t.ohStart >= t.ohEnd || t.owStart >= t.owEnd) continue;
            t.iwOffset = kw * dw - pw;
            t.wi = ((oc * g.Cg + icg) * g.KH + kh) * g.KW + kw;
            visit(t);
          }
        }
      }
    }
  }
}

export function conv2d(x: View, w: View, bias: View | null, out: View, p: Conv2dParams): void {
  const g = geometry(x.shape, w.shape, out.shape, p.groups);
  const xs = buf(x);
  const ws = buf(w);
  const acc = new Float64Array(g.N * g.O * g.OH * g.OW);
  if (bias) {
    const bs = buf(bias);
    const plane = g.OH * g.OW;
    for (let i = 0; i < g.N * g.O; i++) acc.fill(bs[bias.offset + (i % g.O)]!, i * plane, (i + 1) * plane);
  }
  const [sh, sw] = p.stride;
  forEachTap(g, p, (t) => {
    const wv = ws[w.offset + t.wi]!;
    for (let oh = t.ohStart; oh < t.ohEnd; oh++) {
      const xRow = x.offset + t.xPlane + (oh * sh + t.ihOffset) * g.W + t.iwOffset;
      const yRow = t.yPlane + oh * g.OW;
      for (let ow = t.owStart; ow < t.owEnd; ow++) acc[yRow + ow]! += wv * xs[xRow + ow * sw]!;
    }
  });
  buf(out).set(acc, out.offset);
}

export function conv2dInputGrad(gy: View, w: View, gx: View, p: Conv2dParams): void {
  const g = geometry(gx.shape, w.shape, gy.shape, p.groups);
  const ys = buf(gy);
  const ws = buf(w);
  const acc = new Float64Array(g.N * g.C * g.H * g.W);
  const [sh, sw] = p.stride;
  forEachTap(g, p, (t) => {
    const wv = ws[w.offset + t.wi]!;
    for (let oh = t.ohStart; oh < t.ohEnd; oh++) {
      const xRow = t.xPlane + (oh * sh + t.ihOffset) * g.W + t.iwOffset;
      const yRow = gy.offset + t.yPlane + oh * g.OW;
      for (let ow = t.owStart; ow < t.owEnd; ow++) acc[xRow + ow * sw]! += wv * ys[yRow + ow]!;
    }
  });
  buf(gx).set(acc, gx.offset);
}

export function conv2dWeightGrad(x: View, gy: View, gw: View, p: Conv2dParams, gb: View | null = null): void {
  const g = geometry(x.shape, gw.shape, gy.shape, p.groups);
  const xs = buf(x);
  const ys = buf(gy);
  if (gb) {
    const plane = g.OH * g.OW;
    for (let o = 0; o < g.O; o++) {
      let s = 0;
      for (let n = 0; n < g.N; n++) {
        const row = gy.offset + (n * g.O + o) * plane;
        for (let i = 0; i < plane; i++) s += ys[row + i]!;
      }
      buf(gb)[gb.offset + o * gb.strides[0]!] = s;
    }
  }
  const acc = new Float64Array(g.O * g.Cg * g.KH * g.KW);
  const [sh, sw] = p.stride;
  forEachTap(g, p, (t) => {
    let s = 0;
    for (let oh = t.ohStart; oh < t.ohEnd; oh++) {
      const xRow = x.offset + t.xPlane + (oh * sh + t.ihOffset) * g.W + t.iwOffset;
      const yRow = gy.offset + t.yPlane + oh * g.OW;
      for (let ow = t.owStart; ow < t.owEnd; ow++) s += ys[yRow + ow]! * xs[xRow + ow * sw]!;
    }
    acc[t.wi]! += s;
  });
  buf(gw).set(acc, gw.offset);
}
