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

/**
 * Visits every (n, oc, ic, kh, kw, oh) with the valid ow range; `tap` gets the flat indices of
 * the start of the x row, y row and w element, and the ow range. One loop nest serves forward
 * and both gradients, which differ only in what they do with each tap.
 */
function forEachTap(
  g: Geometry,
  p: Conv2dParams,
  tap: (xRow: number, yRow: number, wi: number, owStart: number, owEnd: number, iwOffset: number) => void,
): void {
  const [sh, sw] = p.stride;
  const [ph, pw] = p.padding;
  const [dh, dw] = p.dilation;
  for (let n = 0; n < g.N; n++) {
    for (let oc = 0; oc < g.O; oc++) {
      const group = Math.floor(oc / g.Og);
      for (let icg = 0; icg < g.Cg; icg++) {
        const ic = group * g.Cg + icg;
        const xPlane = (n * g.C + ic) * g.H * g.W;
        const yPlane = (n * g.O + oc) * g.OH * g.OW;
        for (let kh = 0; kh < g.KH; kh++) {
          const [ohStart, ohEnd] = validRange(g.OH, g.H, sh, ph, kh * dh);
          for (let kw = 0; kw < g.KW; kw++) {
            const wi = ((oc * g.Cg + icg) * g.KH + kh) * g.KW + kw;
            const [owStart, owEnd] = validRange(g.OW, g.W, sw, pw, kw * dw);
            if (owStart >= owEnd) continue;
            for (let oh = ohStart; oh < ohEnd; oh++) {
              const ih = oh * sh - ph + kh * dh;
              tap(xPlane + ih * g.W, yPlane + oh * g.OW, wi, owStart, owEnd, kw * dw - pw);
            }
          }
        }
      }
    }
  }
}

export function conv2d(x: View, w: View, out: View, p: Conv2dParams): void {
  const g = geometry(x.shape, w.shape, out.shape, p.groups);
  const xs = buf(x);
  const ws = buf(w);
  const acc = new Float64Array(g.N * g.O * g.OH * g.OW);
  const sw = p.stride[1];
  forEachTap(g, p, (xRow, yRow, wi, owStart, owEnd, iwOffset) => {
    const wv = ws[w.offset + wi]!;
    const xBase = x.offset + xRow + iwOffset;
    for (let ow = owStart; ow < owEnd; ow++) acc[yRow + ow]! += wv * xs[xBase + ow * sw]!;
  });
  buf(out).set(acc, out.offset);
}

export function conv2dInputGrad(gy: View, w: View, gx: View, p: Conv2dParams): void {
  const g = geometry(gx.shape, w.shape, gy.shape, p.groups);
  const ys = buf(gy);
  const ws = buf(w);
  const acc = new Float64Array(g.N * g.C * g.H * g.W);
  const sw = p.stride[1];
  forEachTap(g, p, (xRow, yRow, wi, owStart, owEnd, iwOffset) => {
    const wv = ws[w.offset + wi]!;
    const yBase = gy.offset + yRow;
    const xBase = xRow + iwOffset;
    for (let ow = owStart; ow < owEnd; ow++) acc[xBase + ow * sw]! += wv * ys[yBase + ow]!;
  });
  buf(gx).set(acc, gx.offset);
}

export function conv2dWeightGrad(x: View, gy: View, gw: View, p: Conv2dParams): void {
  const g = geometry(x.shape, gw.shape, gy.shape, p.groups);
  const xs = buf(x);
  const ys = buf(gy);
  const acc = new Float64Array(g.O * g.Cg * g.KH * g.KW);
  const sw = p.stride[1];
  forEachTap(g, p, (xRow, yRow, wi, owStart, owEnd, iwOffset) => {
    const xBase = x.offset + xRow + iwOffset;
    const yBase = gy.offset + yRow;
    let s = 0;
    for (let ow = owStart; ow < owEnd; ow++) s += ys[yBase + ow]! * xs[xBase + ow * sw]!;
    acc[wi]! += s;
  });
  buf(gw).set(acc, gw.offset);
}
