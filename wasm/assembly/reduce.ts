// Reductions (accumulated in float64: products, max and min in the reference's order; a
// contiguous run into one sum is added in 8 lanes, so sums can differ from the reference's by
// float64 rounding), argmax/argmin, gather and scatter-add on float32 values with int32 indices.
import { addrOf, argi, argp, innerOf, rankOf, stepOf } from './common';

const SUM = 0, PROD = 1, MAX = 2, MIN = 3;

export function fillF64(p: usize, n: i32, value: f64): void {
  for (let i = 0; i < n; i++) store<f64>(p + (<usize>i << 3), value);
}

/**
 * Sum of the n contiguous floats at px in float64: 4 f64x2 accumulators, so the adds do not wait
 * on each other (one chain took ~4 cycles per element).
 */
function sumContiguous(px: usize, n: i32): f64 {
  let a0 = f64x2.splat(0), a1 = a0, a2 = a0, a3 = a0;
  let i = 0;
  for (; i + 8 <= n; i += 8, px += 32) {
    const u = v128.load(px), w = v128.load(px, 16);
    a0 = f64x2.add(a0, f64x2.promote_low_f32x4(u));
    a1 = f64x2.add(a1, f64x2.promote_low_f32x4(v128.shuffle<f32>(u, u, 2, 3, 2, 3)));
    a2 = f64x2.add(a2, f64x2.promote_low_f32x4(w));
    a3 = f64x2.add(a3, f64x2.promote_low_f32x4(v128.shuffle<f32>(w, w, 2, 3, 2, 3)));
  }
  const a = f64x2.add(f64x2.add(a0, a1), f64x2.add(a2, a3));
  let s = f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
  for (; i < n; i++, px += 4) s += <f64>load<f32>(px);
  return s;
}

/**
 * [op, k, -, geometry over x's shape of x (float32) and acc (float64, stride 0 along reduced
 * dims)]: folds every element of x into its accumulator. NaN wins max and min. With k > 0 (sums
 * split over threads), acc's addresses are offsets into this share's scratch, whose k
 * accumulators are zeroed first.
 */
export function reduce(g: usize, scratch: usize, begin: i32, end: i32): void {
  const op = argi(g, 0);
  const own = argi(g, 1);
  if (own > 0) fillF64(scratch, own, 0);
  const base: usize = own > 0 ? scratch : 0;
  const inner = innerOf(g);
  const sx = <usize>stepOf(g, 0) << 2;
  const sa = <usize>stepOf(g, 1) << 3;
  let e = begin;
  while (e < end) {
    const n = min(inner - e % inner, end - e);
    let px = addrOf(g, 0, e, 2);
    let pa = base + addrOf(g, 1, e, 3);
    if (sa == 0) {
      let acc = load<f64>(pa);
      if (op == SUM && sx == 4) acc += sumContiguous(px, n);
      else if (op == SUM) for (let i = 0; i < n; i++, px += sx) acc += <f64>load<f32>(px);
      else if (op == PROD) for (let i = 0; i < n; i++, px += sx) acc *= <f64>load<f32>(px);
      else if (op == MAX) {
        for (let i = 0; i < n; i++, px += sx) {
          const v = <f64>load<f32>(px);
          acc = select<f64>(v, acc, v > acc || v != v);
        }
      } else {
        for (let i = 0; i < n; i++, px += sx) {
          const v = <f64>load<f32>(px);
          acc = select<f64>(v, acc, v < acc || v != v);
        }
      }
      store<f64>(pa, acc);
    } else {
      for (let i = 0; i < n; i++, px += sx, pa += sa) {
        const v = <f64>load<f32>(px);
        const acc = load<f64>(pa);
        if (op == SUM) store<f64>(pa, acc + v);
        else if (op == PROD) store<f64>(pa, acc * v);
        else if (op == MAX ? v > acc || v != v : v < acc || v != v) store<f64>(pa, v);
      }
    }
    e += n;
  }
}

/**
 * [is argmin, length of dim, stride of dim, geometry over x's shape with dim of size 1 of x
 * (float32) and out (int32)]: the index of the first max/min (or first NaN) along dim.
 */
export function argreduce(g: usize, scratch: usize, begin: i32, end: i32): void {
  const isMin = argi(g, 0) != 0;
  const len = argi(g, 1);
  const step = <usize>argi(g, 2) << 2;
  for (let e = begin; e < end; e++) {
    const px = addrOf(g, 0, e, 2);
    let best = load<f32>(px);
    let bestIdx = 0;
    for (let k = 1; k < len && best == best; k++) {
      const v = load<f32>(px + <usize>k * step);
      const take = (isMin ? v < best : v > best) || v != v;
      best = select<f32>(v, best, take);
      bestIdx = select<i32>(k, bestIdx, take);
    }
    store<i32>(addrOf(g, 1, e, 2), bestIdx);
  }
}

/** Whether every index of view 1 lies in [0, size) over positions [0, count). */
function indicesValid(g: usize, count: i32): bool {
  const size = argi(g, 1);
  const inner = innerOf(g);
  const si = <usize>stepOf(g, 1) << 2;
  for (let e = 0; e < count; e += inner) {
    let pi = addrOf(g, 1, e, 2);
    for (let i = 0; i < inner; i++, pi += si) {
      const k = load<i32>(pi);
      if (k < 0 || k >= size) return false;
    }
  }
  return true;
}

/**
 * [-, size of dim, stride of dim, geometry over index's shape of x (stride 0 along dim), index,
 * out]: out = x at the indexed positions. Returns 0, or 1 without writing when an index is out of range.
 */
export function gather(g: usize, count: i32): i32 {
  if (!indicesValid(g, count)) return 1;
  const step = argi(g, 2);
  const inner = innerOf(g);
  const sx = <usize>stepOf(g, 0) << 2;
  const si = <usize>stepOf(g, 1) << 2;
  const so = <usize>stepOf(g, 2) << 2;
  for (let e = 0; e < count; e += inner) {
    let px = addrOf(g, 0, e, 2);
    let pi = addrOf(g, 1, e, 2);
    let po = addrOf(g, 2, e, 2);
    for (let i = 0; i < inner; i++, px += sx, pi += si, po += so) {
      store<f32>(po, load<f32>(px + (<usize>(load<i32>(pi) * step) << 2)));
    }
  }
  return 0;
}

/**
 * scatterAdd over a walk of rank 2 whose index rows are contiguous (max pooling's gradient: planes
 * of indices into planes of H * W): rows addressed without addrOf's divisions, indices checked 4 at a time.
 */
function scatterAddRows(g: usize): i32 {
  const size = argi(g, 1), step = argi(g, 2);
  const rows = argi(g, 4), inner = argi(g, 5);
  // Per view at 6 + 3v: address of element 0, stride of a row, stride along it.
  const out = argp(g, 6), index = argp(g, 9), src = argp(g, 12);
  const outRow = argi(g, 7), indexRow = argi(g, 10), srcRow = argi(g, 13);
  const so = <usize>argi(g, 8) << 2, ss = <usize>argi(g, 14) << 2;
  // Unsigned: a negative index is out of range too.
  const limit = i32x4.splat(size);
  let bad = i32x4.splat(0);
  for (let r = 0; r < rows; r++) {
    const pi = index + (<usize>(r * indexRow) << 2);
    let i = 0;
    for (; i + 4 <= inner; i += 4) bad = v128.or(bad, i32x4.ge_u(v128.load(pi + (<usize>i << 2)), limit));
    for (; i < inner; i++) if (<u32>load<i32>(pi + (<usize>i << 2)) >= <u32>size) return 1;
  }
  if (v128.any_true(bad)) return 1;
  for (let r = 0; r < rows; r++) {
    let po = out + (<usize>(r * outRow) << 2);
    let pi = index + (<usize>(r * indexRow) << 2);
    let ps = src + (<usize>(r * srcRow) << 2);
    for (let i = 0; i < inner; i++, po += so, pi += 4, ps += ss) {
      const p = po + (<usize>(load<i32>(pi) * step) << 2);
      store<f32>(p, load<f32>(p) + load<f32>(ps));
    }
  }
  return 0;
}

/** [-, size, stride, geometry over index's shape of out (stride 0 along dim), index, src]: out[index] += src. */
export function scatterAdd(g: usize, count: i32): i32 {
  if (rankOf(g) == 2 && stepOf(g, 1) == 1) return scatterAddRows(g);
  if (!indicesValid(g, count)) return 1;
  const step = argi(g, 2);
  const inner = innerOf(g);
  const so = <usize>stepOf(g, 0) << 2;
  const si = <usize>stepOf(g, 1) << 2;
  const ss = <usize>stepOf(g, 2) << 2;
  for (let e = 0; e < count; e += inner) {
    let po = addrOf(g, 0, e, 2);
    let pi = addrOf(g, 1, e, 2);
    let ps = addrOf(g, 2, e, 2);
    for (let i = 0; i < inner; i++, po += so, pi += si, ps += ss) {
      const p = po + (<usize>(load<i32>(pi) * step) << 2);
      store<f32>(p, load<f32>(p) + load<f32>(ps));
    }
  }
  return 0;
}
