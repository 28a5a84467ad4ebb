// Batch statistics normalisation on contiguous float32 [B, C, S] (the formulas are in
// src/backend/backend.ts): per channel, two passes over its B rows of S values, sums in float64.
// Parallel over channels: [begin, end) are channels.
//
// args: [B, C, S, then the byte addresses of the buffers in the primitive's argument order].
import { argi, argp, at4 } from './common';

/** The high two floats of v as float64s. */
@inline function promoteHigh(v: v128): v128 {
  return f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1));
}

@inline function lanes2(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

/** Σ row[s] over n floats, in float64. */
function rowSum(row: usize, n: i32): f64 {
  let a = f64x2.splat(0), b = f64x2.splat(0);
  let s = 0;
  for (; s + 4 <= n; s += 4) {
    const v = v128.load(at4(row, s));
    a = f64x2.add(a, f64x2.promote_low_f32x4(v));
    b = f64x2.add(b, promoteHigh(v));
  }
  let sum = lanes2(f64x2.add(a, b));
  for (; s < n; s++) sum += <f64>load<f32>(at4(row, s));
  return sum;
}

/** Σ (row[s] - mu)² over n floats, in float64. */
function rowSquares(row: usize, n: i32, mu: f64): f64 {
  const m = f64x2.splat(mu);
  let a = f64x2.splat(0), b = f64x2.splat(0);
  let s = 0;
  for (; s + 4 <= n; s += 4) {
    const v = v128.load(at4(row, s));
    const lo = f64x2.sub(f64x2.promote_low_f32x4(v), m), hi = f64x2.sub(promoteHigh(v), m);
    a = f64x2.add(a, f64x2.mul(lo, lo));
    b = f64x2.add(b, f64x2.mul(hi, hi));
  }
  let sum = lanes2(f64x2.add(a, b));
  for (; s < n; s++) {
    const d = <f64>load<f32>(at4(row, s)) - mu;
    sum += d * d;
  }
  return sum;
}

/** Σ g[s]·(x[s] - mu) over n floats, in float64. */
function rowProducts(x: usize, g: usize, n: i32, mu: f64): f64 {
  const m = f64x2.splat(mu);
  let a = f64x2.splat(0), b = f64x2.splat(0);
  let s = 0;
  for (; s + 4 <= n; s += 4) {
    const xv = v128.load(at4(x, s)), gv = v128.load(at4(g, s));
    a = f64x2.add(a, f64x2.mul(f64x2.promote_low_f32x4(gv), f64x2.sub(f64x2.promote_low_f32x4(xv), m)));
    b = f64x2.add(b, f64x2.mul(promoteHigh(gv), f64x2.sub(promoteHigh(xv), m)));
  }
  let sum = lanes2(f64x2.add(a, b));
  for (; s < n; s++) sum += <f64>load<f32>(at4(g, s)) * (<f64>load<f32>(at4(x, s)) - mu);
  return sum;
}

/** args [B, C, S, x, mean, variance]: per channel the mean and the biased variance. */
export function batchNormStats(args: usize, scratch: usize, begin: i32, end: i32): void {
  const B = argi(args, 0), C = argi(args, 1), S = argi(args, 2);
  const x = argp(args, 3), mean = argp(args, 4), variance = argp(args, 5);
  const n = <f64>B * <f64>S;
  for (let c = begin; c < end; c++) {
    let sum: f64 = 0;
    for (let b = 0; b < B; b++) sum += rowSum(at4(x, (b * C + c) * S), S);
    const mu = sum / n;
    let squares: f64 = 0;
    for (let b = 0; b < B; b++) squares += rowSquares(at4(x, (b * C + c) * S), S, mu);
    store<f32>(at4(mean, c), <f32>mu);
    store<f32>(at4(variance, c), <f32>(squares / n));
  }
}

/** args [B, C, S, x, gy, mean, invstd, w, gx, gw, gb]: per channel gw, gb and the channel's gx. */
export function batchNormGrad(args: usize, scratch: usize, begin: i32, end: i32): void {
  const B = argi(args, 0), C = argi(args, 1), S = argi(args, 2);
  const x = argp(args, 3), gy = argp(args, 4), mean = argp(args, 5), invstd = argp(args, 6), w = argp(args, 7);
  const gx = argp(args, 8), gw = argp(args, 9), gb = argp(args, 10);
  const n = <f64>B * <f64>S;
  for (let c = begin; c < end; c++) {
    const mu = load<f32>(at4(mean, c)), r = load<f32>(at4(invstd, c));
    let sumGy: f64 = 0, sumGyCentered: f64 = 0;
    for (let b = 0; b < B; b++) {
      const o = (b * C + c) * S;
      sumGy += rowSum(at4(gy, o), S);
      sumGyCentered += rowProducts(at4(x, o), at4(gy, o), S, mu);
    }
    const sumGyXhat = sumGyCentered * r;
    // gx = k·(gy - (Σgy + x̂·Σgy·x̂) / n) = k·gy - k·Σgy/n - k·invstd·Σgy·x̂/n·(x - mean).
    const k = load<f32>(at4(w, c)) * r;
    const shift = <f32>(k * sumGy / n), slope = <f32>(k * r * sumGyXhat / n);
    const kv = f32x4.splat(k), sv = f32x4.splat(shift), lv = f32x4.splat(slope), mv = f32x4.splat(mu);
    for (let b = 0; b < B; b++) {
      const o = (b * C + c) * S;
      const xr = at4(x, o), gr = at4(gy, o), out = at4(gx, o);
      let s = 0;
      for (; s + 4 <= S; s += 4) {
        const q = <usize>s << 2;
        const v = f32x4.sub(f32x4.mul(kv, v128.load(gr + q)), sv);
        v128.store(out + q, f32x4.sub(v, f32x4.mul(lv, f32x4.sub(v128.load(xr + q), mv))));
      }
      for (; s < S; s++) store<f32>(at4(out, s), k * load<f32>(at4(gr, s)) - shift - slope * (load<f32>(at4(xr, s)) - mu));
    }
    store<f32>(at4(gw, c), <f32>sumGyXhat);
    store<f32>(at4(gb, c), <f32>sumGy);
  }
}
