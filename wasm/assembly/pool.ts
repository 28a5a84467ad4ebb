// Pooling over planes of contiguous NCHW float32 data; items [begin, end) are planes (n, c).
// args: [N, C, H, W, OH, OW, adaptive, kh, kw, sh, sw, ph, pw, dh, dw, x, out, a, b] where
// max pooling has a = indices (int32), average pooling a = count padding, b = divisor or NaN.
// Window bounds follow the reference: clipped to the input, the padded size kept for the divisor.
import { argf, argi, argp, at4 } from './common';

let H = 0, W = 0, OH = 0, OW = 0;

/** Per output index along one dim, 4 i32s: start, end, step, padded size. */
function windows(args: usize, axis: i32, inSize: i32, outSize: i32, dst: usize): void {
  const adaptive = argi(args, 6) != 0;
  const k = argi(args, 7 + axis), s = argi(args, 9 + axis), pad = argi(args, 11 + axis), d = argi(args, 13 + axis);
  for (let o = 0; o < outSize; o++) {
    let start: i32, end: i32, step = 1, padded: i32;
    if (adaptive) {
      start = <i32>((<i64>o * inSize) / outSize);
      end = <i32>((<i64>(o + 1) * inSize + outSize - 1) / outSize);
      padded = end - start;
    } else {
      start = o * s - pad;
      const paddedEnd = min(start + (k - 1) * d + 1, inSize + pad);
      padded = paddedEnd - start;
      while (start < 0) start += d;
      end = min(paddedEnd, inSize);
      step = d;
    }
    const p = dst + (<usize>o << 4);
    store<i32>(p, start);
    store<i32>(p, end, 4);
    store<i32>(p, step, 8);
    store<i32>(p, padded, 12);
  }
}

/** Fills the window tables at the start of scratch; returns where the rows' table ends. */
function setup(args: usize, scratch: usize): usize {
  H = argi(args, 2);
  W = argi(args, 3);
  OH = argi(args, 4);
  OW = argi(args, 5);
  windows(args, 0, H, OH, scratch);
  windows(args, 1, W, OW, scratch + (<usize>OH << 4));
  return scratch + (<usize>(OH + OW) << 4);
}

/**
 * Bytes of scratch: the window tables, then one float64 plane (average pooling's gradient) or
 * max pooling's column taps and the column phases of one plane (at most H * (W + sw) floats).
 */
export function poolScratch(args: usize): i32 {
  const H = argi(args, 2), W = argi(args, 3);
  const phases = argi(args, 8) * 8 + 16 + H * (W + argi(args, 10)) * 4;
  return (argi(args, 4) + argi(args, 5)) * 16 + max(H * W * 8, phases) + 16;
}

/** Whether the pooling is 2x2 with stride 2, no padding or dilation, and every window inside the input. */
function isHalving(args: usize): bool {
  return argi(args, 6) == 0 && argi(args, 7) == 2 && argi(args, 8) == 2 && argi(args, 9) == 2 && argi(args, 10) == 2 &&
    argi(args, 11) == 0 && argi(args, 12) == 0 && argi(args, 13) == 1 && argi(args, 14) == 1 && 2 * OH <= H && 2 * OW <= W;
}

/** Outputs ow..ow+3 of output row oh (at o in out and idx) of a 2x2, stride-2 pooling over rows r0 and r1. */
@inline function halving4(r0: usize, r1: usize, oh: i32, ow: i32, out: usize, idx: usize, o: i32): void {
  const a0 = v128.load(at4(r0, 2 * ow)), a1 = v128.load(at4(r0, 2 * ow + 4));
  const b0 = v128.load(at4(r1, 2 * ow)), b1 = v128.load(at4(r1, 2 * ow + 4));
  const first = i32x4.add(i32x4.splat(2 * oh * W + 2 * ow), i32x4(0, 2, 4, 6));
  // The window's four values in the scalar loop's order; a later one wins when greater or NaN.
  let best = v128.shuffle<f32>(a0, a1, 0, 2, 4, 6);
  let bestIdx = first;
  for (let k = 1; k < 4; k++) {
    const row = k < 2 ? a0 : b0, row2 = k < 2 ? a1 : b1;
    const v = (k & 1) != 0 ? v128.shuffle<f32>(row, row2, 1, 3, 5, 7) : v128.shuffle<f32>(row, row2, 0, 2, 4, 6);
    const take = v128.or(f32x4.gt(v, best), f32x4.ne(v, v));
    best = v128.bitselect(v, best, take);
    bestIdx = v128.bitselect(i32x4.add(first, i32x4.splat((k >> 1) * W + (k & 1))), bestIdx, take);
  }
  v128.store(at4(out, o), best);
  v128.store(at4(idx, o), bestIdx);
}

/**
 * maxPool2d for 2x2 windows with stride 2 (the common case): four outputs per step with SIMD; a
 * row's last outputs as the four that end it (some computed twice), in rows of 4 or more.
 */
function maxPoolHalving(x: usize, out: usize, idx: usize, begin: i32, end: i32): void {
  for (let pl = begin; pl < end; pl++) {
    const xp = at4(x, pl * H * W);
    for (let oh = 0; oh < OH; oh++) {
      const r0 = at4(xp, 2 * oh * W);
      const r1 = at4(r0, W);
      const o = (pl * OH + oh) * OW;
      let ow = 0;
      for (; ow + 4 <= OW; ow += 4) halving4(r0, r1, oh, ow, out, idx, o + ow);
      if (ow < OW && OW >= 4) {
        halving4(r0, r1, oh, OW - 4, out, idx, o + OW - 4);
        ow = OW;
      }
      for (; ow < OW; ow++) {
        let best = -Infinity as f32;
        let bestIdx = 2 * oh * W + 2 * ow;
        for (let k = 0; k < 4; k++) {
          const i = (2 * oh + (k >> 1)) * W + 2 * ow + (k & 1);
          const v = load<f32>(at4(xp, i));
          const take = v > best || v != v;
          best = select<f32>(v, best, take);
          bestIdx = select<i32>(i, bestIdx, take);
        }
        store<f32>(at4(out, o + ow), best);
        store<i32>(at4(idx, o + ow), bestIdx);
      }
    }
  }
}

/** Outputs [owBegin, owEnd) of output row `o` (its first output), one at a time from the window tables. */
@inline function maxRowScalar(xp: usize, out: usize, idx: usize, o: i32, h: usize, ww: usize, owBegin: i32, owEnd: i32): void {
  const hs = load<i32>(h), he = load<i32>(h, 4), hd = load<i32>(h, 8);
  for (let ow = owBegin; ow < owEnd; ow++) {
    const w = ww + (<usize>ow << 4);
    const ws = load<i32>(w), we = load<i32>(w, 4), wd = load<i32>(w, 8);
    let best = -Infinity as f32;
    let bestIdx = hs * W + ws;
    for (let ih = hs; ih < he; ih += hd) {
      for (let iw = ws; iw < we; iw += wd) {
        // Branch-free: with random data a branch here mispredicts half the time.
        const v = load<f32>(at4(xp, ih * W + iw));
        const take = v > best || v != v;
        best = select<f32>(v, best, take);
        bestIdx = select<i32>(ih * W + iw, bestIdx, take);
      }
    }
    store<f32>(at4(out, o + ow), best);
    store<i32>(at4(idx, o + ow), bestIdx);
  }
}

/**
 * Splits each row of the plane xp into its s column phases: phase r of row ih, at
 * phases + (ih * s + r) * cols floats, holds columns r, r + s, r + 2s, ... So the tap of 4
 * neighbouring outputs reads 4 consecutive floats.
 */
function splitPhases(xp: usize, phases: usize, s: i32, cols: i32): void {
  for (let ih = 0; ih < H; ih++) {
    const row = at4(xp, ih * W);
    const dst = at4(phases, ih * s * cols);
    if (s == 2) {
      let j = 0;
      for (; 2 * j + 8 <= W; j += 4) {
        const a = v128.load(at4(row, 2 * j)), b = v128.load(at4(row, 2 * j + 4));
        v128.store(at4(dst, j), v128.shuffle<f32>(a, b, 0, 2, 4, 6));
        v128.store(at4(dst, cols + j), v128.shuffle<f32>(a, b, 1, 3, 5, 7));
      }
      for (; 2 * j < W; j++) {
        store<f32>(at4(dst, j), load<f32>(at4(row, 2 * j)));
        if (2 * j + 1 < W) store<f32>(at4(dst, cols + j), load<f32>(at4(row, 2 * j + 1)));
      }
      continue;
    }
    for (let r = 0; r < s; r++) {
      for (let j = 0, iw = r; iw < W; j++, iw += s) store<f32>(at4(dst, r * cols + j), load<f32>(at4(row, iw)));
    }
  }
}

/**
 * Max pooling with fixed windows: the outputs of each row whose windows lie inside the input's
 * columns, 8 or 4 at a time with SIMD from the column phases (x itself at stride 1), visiting the taps
 * in the scalar loop's order; the others (the row's edges, adaptive windows) with the scalar loop.
 */
export function maxPool2d(args: usize, scratch: usize, begin: i32, end: i32): void {
  const taps = setup(args, scratch);
  if (isHalving(args)) {
    maxPoolHalving(argp(args, 15), argp(args, 16), argp(args, 17), begin, end);
    return;
  }
  const wh = scratch, ww = scratch + (<usize>OH << 4);
  const x = argp(args, 15), out = argp(args, 16), idx = argp(args, 17);
  // Outputs [lo, hi) of a row have every column tap inside the input; none when fewer than 4.
  let lo = OW, hi = OW, s = 1, cols = W, kernelW = 0, pw = 0;
  if (argi(args, 6) == 0) {
    kernelW = argi(args, 8);
    s = argi(args, 10);
    pw = argi(args, 12);
    const dw = argi(args, 14);
    cols = (W + s - 1) / s;
    const last = W - 1 + pw - (kernelW - 1) * dw;
    lo = (pw + s - 1) / s;
    hi = last < 0 ? 0 : min(OW, last / s + 1);
    if (hi - lo < 4) lo = hi = OW;
    // Tap k of output ow reads column ow * s + shift = (ow + q) * s + r: phase r, entry ow + q.
    for (let k = 0; k < kernelW; k++) {
      const shift = k * dw - pw;
      const q = shift >= 0 ? shift / s : -((s - 1 - shift) / s);
      store<i32>(taps + (<usize>k << 3), (shift - q * s) * cols + q);
      store<i32>(taps + (<usize>k << 3), shift, 4);
    }
  }
  const phases = (taps + (<usize>kernelW << 3) + 15) & ~<usize>15;
  const lanes = i32x4.mul(i32x4(0, 1, 2, 3), i32x4.splat(s)), lanes4 = i32x4.splat(4 * s);
  for (let pl = begin; pl < end; pl++) {
    const xp = at4(x, pl * H * W);
    const src = s == 1 ? xp : phases;
    if (s > 1 && lo < hi) splitPhases(xp, phases, s, cols);
    for (let oh = 0; oh < OH; oh++) {
      const o = (pl * OH + oh) * OW;
      const h = wh + (<usize>oh << 4);
      maxRowScalar(xp, out, idx, o, h, ww, 0, lo);
      const hs = load<i32>(h), he = load<i32>(h, 4), hd = load<i32>(h, 8);
      const firstRow = i32x4.splat(hs * W - pw);
      let ow = lo;
      // 8 outputs at a time: two independent chains of compare and select hide their latency.
      for (; ow + 8 <= hi; ow += 8) {
        const colIdx = i32x4.add(i32x4.splat(ow * s), lanes), colIdx2 = i32x4.add(colIdx, lanes4);
        let best = f32x4.splat(-Infinity), best2 = best;
        let bestIdx = i32x4.add(colIdx, firstRow), bestIdx2 = i32x4.add(colIdx2, firstRow);
        for (let ih = hs; ih < he; ih += hd) {
          const row = at4(src, ih * s * cols + ow);
          const rowIdx = i32x4.add(colIdx, i32x4.splat(ih * W));
          for (let k = 0; k < kernelW; k++) {
            const t = taps + (<usize>k << 3);
            const at = at4(row, load<i32>(t));
            const v = v128.load(at), v2 = v128.load(at, 16);
            // A later tap wins when greater or NaN, as in the scalar loop.
            const take = v128.or(f32x4.gt(v, best), f32x4.ne(v, v)), take2 = v128.or(f32x4.gt(v2, best2), f32x4.ne(v2, v2));
            const i = i32x4.add(rowIdx, i32x4.splat(load<i32>(t, 4)));
            best = v128.bitselect(v, best, take);
            best2 = v128.bitselect(v2, best2, take2);
            bestIdx = v128.bitselect(i, bestIdx, take);
            bestIdx2 = v128.bitselect(i32x4.add(i, lanes4), bestIdx2, take2);
          }
        }
        v128.store(at4(out, o + ow), best);
        v128.store(at4(out, o + ow + 4), best2);
        v128.store(at4(idx, o + ow), bestIdx);
        v128.store(at4(idx, o + ow + 4), bestIdx2);
      }
      // Then 4; the last group may overlap the one before: its outputs are recomputed to the same values.
      for (; ow < hi; ow += 4) {
        ow = min(ow, hi - 4);
        const colIdx = i32x4.add(i32x4.splat(ow * s), lanes);
        let best = f32x4.splat(-Infinity);
        let bestIdx = i32x4.add(colIdx, firstRow);
        for (let ih = hs; ih < he; ih += hd) {
          const row = at4(src, ih * s * cols + ow);
          const rowIdx = i32x4.add(colIdx, i32x4.splat(ih * W));
          for (let k = 0; k < kernelW; k++) {
            const t = taps + (<usize>k << 3);
            const v = v128.load(at4(row, load<i32>(t)));
            const take = v128.or(f32x4.gt(v, best), f32x4.ne(v, v));
            best = v128.bitselect(v, best, take);
            bestIdx = v128.bitselect(i32x4.add(rowIdx, i32x4.splat(load<i32>(t, 4))), bestIdx, take);
          }
        }
        v128.store(at4(out, o + ow), best);
        v128.store(at4(idx, o + ow), bestIdx);
      }
      maxRowScalar(xp, out, idx, o, h, ww, hi, OW);
    }
  }
}

@inline function divisor(args: usize, h: usize, w: usize): f64 {
  const forced = argf(args, 18);
  if (forced == forced) return forced;
  if (argi(args, 17) != 0) return <f64>(load<i32>(h, 12) * load<i32>(w, 12));
  return <f64>((load<i32>(h, 4) - load<i32>(h)) * (load<i32>(w, 4) - load<i32>(w)));
}

/**
 * Average pooling (backward = false: out = the window means of x) and its gradient (backward:
 * x = gx, overwritten with each window's gy / divisor summed over the windows covering a pixel,
 * in float64 as the reference); one walk over the windows serves both.
 */
function avgPoolWalk(args: usize, scratch: usize, begin: i32, end: i32, backward: bool): void {
  const acc = setup(args, scratch);
  const wh = scratch, ww = scratch + (<usize>OH << 4);
  const x = argp(args, 15), out = argp(args, 16);
  for (let pl = begin; pl < end; pl++) {
    const xp = at4(x, pl * H * W);
    if (backward) memory.fill(acc, 0, <usize>(H * W) << 3);
    let o = pl * OH * OW;
    for (let oh = 0; oh < OH; oh++) {
      const h = wh + (<usize>oh << 4);
      const hs = load<i32>(h), he = load<i32>(h, 4);
      for (let ow = 0; ow < OW; ow++, o++) {
        const w = ww + (<usize>ow << 4);
        const ws = load<i32>(w), we = load<i32>(w, 4);
        if (backward) {
          const g = <f64>load<f32>(at4(out, o)) / divisor(args, h, w);
          for (let ih = hs; ih < he; ih++) {
            for (let iw = ws; iw < we; iw++) {
              const p = acc + (<usize>(ih * W + iw) << 3);
              store<f64>(p, load<f64>(p) + g);
            }
          }
        } else {
          let s: f64 = 0;
          for (let ih = hs; ih < he; ih++) for (let iw = ws; iw < we; iw++) s += <f64>load<f32>(at4(xp, ih * W + iw));
          store<f32>(at4(out, o), <f32>(s / divisor(args, h, w)));
        }
      }
    }
    if (backward) for (let i = 0; i < H * W; i++) store<f32>(at4(xp, i), <f32>load<f64>(acc + (<usize>i << 3)));
  }
}

/**
 * Max pooling's gradient, over planes: args [-, inPlane, outPlane, gy, indices, gx, bad]. Each
 * plane of gx is zeroed and gets gy at its indices; a plane with an index outside it is left
 * and args[6] set (the backend then has the reference report it).
 */
export function maxPool2dGrad(args: usize, scratch: usize, begin: i32, end: i32): void {
  const inPlane = argi(args, 1), outPlane = argi(args, 2);
  const gy = argp(args, 3), indices = argp(args, 4), gx = argp(args, 5);
  // Unsigned: a negative index is out of range too.
  const limit = i32x4.splat(inPlane);
  for (let pl = begin; pl < end; pl++) {
    const yp = at4(gy, pl * outPlane), ip = at4(indices, pl * outPlane), xp = at4(gx, pl * inPlane);
    let bad = i32x4.splat(0);
    let i = 0;
    for (; i + 4 <= outPlane; i += 4) bad = v128.or(bad, i32x4.ge_u(v128.load(at4(ip, i)), limit));
    for (; i < outPlane; i++) if (<u32>load<i32>(at4(ip, i)) >= <u32>inPlane) bad = i32x4.splat(-1);
    if (v128.any_true(bad)) {
      store<f64>(args + 48, 1);
      return;
    }
    memory.fill(xp, 0, <usize>inPlane << 2);
    for (let o = 0; o < outPlane; o++) {
      const p = at4(xp, load<i32>(at4(ip, o)));
      store<f32>(p, load<f32>(p) + load<f32>(at4(yp, o)));
    }
  }
}

export function avgPool2d(args: usize, scratch: usize, begin: i32, end: i32): void {
  avgPoolWalk(args, scratch, begin, end, false);
}

/** args as avgPool2d with x = gx (overwritten) and out = gy. */
export function avgPool2dGrad(args: usize, scratch: usize, begin: i32, end: i32): void {
  avgPoolWalk(args, scratch, begin, end, true);
}
