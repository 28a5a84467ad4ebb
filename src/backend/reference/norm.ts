import type { View } from '../backend.js';
import { buf } from './strided.js';

// x, gy and gx are contiguous [B, C, S]: element (b, c, s) is at offset + (b·C + c)·S + s.

const dims = (x: View): [number, number, number] => x.shape as [number, number, number];

/** Element c of a [C] view, read and written. */
const at = (v: View, c: number): number => buf(v)[v.offset + c * v.strides[0]!]!;
const put = (v: View, c: number, value: number): void => void (buf(v)[v.offset + c * v.strides[0]!] = value);

/** Two passes per channel in float64: the mean, then the mean squared deviation from it. */
export function batchNormStats(x: View, mean: View, variance: View): void {
  const [B, C, S] = dims(x);
  const xs = buf(x);
  const n = B * S;
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let b = 0; b < B; b++) for (let s = 0, i = x.offset + (b * C + c) * S; s < S; s++, i++) sum += xs[i]!;
    const mu = sum / n;
    let squares = 0;
    for (let b = 0; b < B; b++) {
      for (let s = 0, i = x.offset + (b * C + c) * S; s < S; s++, i++) squares += (xs[i]! - mu) ** 2;
    }
    put(mean, c, mu);
    put(variance, c, squares / n);
  }
}

/** Per channel, Σ gy and Σ gy·x̂ in float64, then gx from them (the formula in backend.ts). */
export function batchNormGrad(x: View, gy: View, mean: View, invstd: View, w: View, gx: View, gw: View, gb: View): void {
  const [B, C, S] = dims(x);
  const xs = buf(x), gys = buf(gy), gxs = buf(gx);
  const n = B * S;
  for (let c = 0; c < C; c++) {
    const mu = at(mean, c), r = at(invstd, c);
    let sumGy = 0, sumGyXhat = 0;
    for (let b = 0; b < B; b++) {
      for (let s = 0, base = (b * C + c) * S; s < S; s++) {
        const g = gys[gy.offset + base + s]!;
        sumGy += g;
        sumGyXhat += g * (xs[x.offset + base + s]! - mu) * r;
      }
    }
    const k = at(w, c) * r;
    for (let b = 0; b < B; b++) {
      for (let s = 0, base = (b * C + c) * S; s < S; s++) {
        const xhat = (xs[x.offset + base + s]! - mu) * r;
        gxs[gx.offset + base + s] = k * (gys[gy.offset + base + s]! - (sumGy + xhat * sumGyXhat) / n);
      }
    }
    put(gw, c, sumGyXhat);
    put(gb, c, sumGy);
  }
}
