// Direct kernels for convolutions with few input channels (a network's first layer: LeNet-5's
// 1 -> 6), where im2col + SGEMM spend much of their time building and packing a column matrix
// of 25 rows for 6 output channels. Each image is copied into a zero-padded buffer (in the
// thread's scratch, where SGEMM's packing would go), so no tap needs a bounds test, and 4
// output channels x 4 columns accumulate in registers. On LeNet-5's first layer, one thread,
// batch 64: forward 1.41 -> 1.12 ms, weight gradient 1.64 -> 1.30 ms; batch_conv.ts's kernels,
// which take batches of 4 or more before these are asked, did better still (0.80 and 0.57), so
// these serve smaller batches (a single image's inference). The limits are the native backend's
// (native/src/small_conv.h).
//
// args as conv.ts's: [N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, groups, x, w, y, chunk, threads, bias, bias stride].
import { argi, argp, at4, convBias, madd } from './common';
import { GEMM_SCRATCH } from './gemm';

let C = 0, H = 0, W = 0, O = 0, KH = 0, KW = 0, OH = 0, OW = 0, PH = 0, PW = 0;
let HP = 0, WP = 0, TAPS = 0, OHW = 0, CHUNK = 0, CHUNKS = 0;

/** Bytes of the padded image; 64 more after it hold a partial step's values. */
@inline function paddedBytes(): usize {
  return <usize>(C * HP * WP) << 2;
}

/** Reads the geometry and says whether the direct kernels take it. */
export function smallConvApplies(args: usize): bool {
  C = argi(args, 1); H = argi(args, 2); W = argi(args, 3); O = argi(args, 4);
  KH = argi(args, 5); KW = argi(args, 6); OH = argi(args, 7); OW = argi(args, 8);
  PH = argi(args, 11); PW = argi(args, 12); CHUNK = argi(args, 19);
  OHW = OH * OW; TAPS = C * KH * KW; CHUNKS = (OHW + CHUNK - 1) / CHUNK;
  HP = H + 2 * PH;
  // A step of 4 columns starting at the last output column reads up to 3 + KW - 1 columns past it.
  WP = OW + KW + 3;
  const unit = argi(args, 9) == 1 && argi(args, 10) == 1 && argi(args, 13) == 1 && argi(args, 14) == 1 && argi(args, 15) == 1;
  return unit && C <= 4 && O <= 16 && KH <= 8 && KW <= 8 && PH < KH && PW < KW && OH == H + 2 * PH - KH + 1 &&
    OW == W + 2 * PW - KW + 1 && paddedBytes() + 64 <= <usize>GEMM_SCRATCH;
}

/** Copies image x into the padded buffer; its border, zeroed once per call, is never written. */
function padImage(x: usize, xp: usize): void {
  for (let c = 0; c < C; c++) {
    for (let h = 0; h < H; h++) memory.copy(at4(xp, (c * HP + PH + h) * WP + PW), at4(x, (c * H + h) * W), <usize>W << 2);
  }
}

/** Channel o's block of `size` floats at p; past the last channel, the last one's. */
@inline function channel(p: usize, o: i32, size: i32): usize {
  return at4(p, min(o, O - 1) * size);
}

/**
 * Output positions [p0, p1) of image y for channels o..o+3 (fewer at the end: the last channel's
 * weights are used again and not stored), 4 columns at a time within each row, from the bias.
 * Four accumulators only: with more, V8 kept them on the stack.
 */
function forwardRange(args: usize, xp: usize, w: usize, y: usize, o: i32, p0: i32, p1: i32, tmp: usize): void {
  const count = min(4, O - o);
  const b0 = f32x4.splat(convBias(args, o)), b1 = f32x4.splat(convBias(args, min(o + 1, O - 1)));
  const b2 = f32x4.splat(convBias(args, min(o + 2, O - 1))), b3 = f32x4.splat(convBias(args, min(o + 3, O - 1)));
  const w0 = channel(w, o, TAPS), w1 = channel(w, o + 1, TAPS), w2 = channel(w, o + 2, TAPS), w3 = channel(w, o + 3, TAPS);
  const step = <usize>OHW << 2;
  // Rows oh meeting [p0, p1), over their columns [a, b) in it.
  for (let oh = p0 / OW; oh * OW < p1; oh++) {
    const a = max(0, p0 - oh * OW), b = min(OW, p1 - oh * OW);
    for (let ow = a; ow < b; ow += 4) {
      let s0 = b0, s1 = b1, s2 = b2, s3 = b3;
      let k: usize = 0;
      for (let c = 0; c < C; c++) {
        for (let kh = 0; kh < KH; kh++) {
          const row = at4(xp, (c * HP + oh + kh) * WP + ow);
          const end = row + (<usize>KW << 2);
          for (let r = row; r < end; r += 4, k += 4) {
            const x = v128.load(r);
            s0 = madd(x, v128.load32_splat(w0 + k), s0);
            s1 = madd(x, v128.load32_splat(w1 + k), s1);
            s2 = madd(x, v128.load32_splat(w2 + k), s2);
            s3 = madd(x, v128.load32_splat(w3 + k), s3);
          }
        }
      }
      const n = min(4, b - ow);
      const dst = at4(y, o * OHW + oh * OW + ow);
      storeStep(dst, s0, n, tmp);
      if (count > 1) storeStep(dst + step, s1, n, tmp);
      if (count > 2) storeStep(dst + 2 * step, s2, n, tmp);
      if (count > 3) storeStep(dst + 3 * step, s3, n, tmp);
    }
  }
}

/** Stores the first n (1..4) lanes of v. */
@inline function storeStep(dst: usize, v: v128, n: i32, tmp: usize): void {
  if (n == 4) {
    v128.store(dst, v);
    return;
  }
  v128.store(tmp, v);
  memory.copy(dst, tmp, <usize>n << 2);
}

/** The four lanes of v added up. */
@inline function lanes(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/**
 * Adds to part [TAPS, O] (conv.ts's transposed partial gradient) the products of output
 * positions [p0, p1) of one image for channels o..o+3 (fewer at the end: the last channel again,
 * not stored) and tap t = (c, kh, kw). Four accumulators only: with more, V8 kept them on the
 * stack. Lanes past a row's last output column are zeroed in x as well as gy: x may hold an inf
 * there, and 0 * inf is a NaN the true sum does not have.
 */
function weightGradRange(xp: usize, gy: usize, part: usize, o: i32, c: i32, kh: i32, kw: i32, p0: i32, p1: i32, tmp: usize): void {
  const count = min(4, O - o);
  const g0 = channel(gy, o, OHW), g1 = channel(gy, o + 1, OHW), g2 = channel(gy, o + 2, OHW), g3 = channel(gy, o + 3, OHW);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  // Rows oh meeting [p0, p1), over their columns [a, b) in it.
  for (let oh = p0 / OW; oh * OW < p1; oh++) {
    const a = max(0, p0 - oh * OW), b = min(OW, p1 - oh * OW);
    const row = at4(xp, (c * HP + oh + kh) * WP + kw);
    const base = <usize>(oh * OW) << 2;
    let ow = a;
    for (; ow + 4 <= b; ow += 4) {
      const x = v128.load(at4(row, ow));
      const q = base + (<usize>ow << 2);
      a0 = madd(v128.load(g0 + q), x, a0);
      a1 = madd(v128.load(g1 + q), x, a1);
      a2 = madd(v128.load(g2 + q), x, a2);
      a3 = madd(v128.load(g3 + q), x, a3);
    }
    if (ow < b) {
      // gy's row ends inside this step (and its buffer may end with it): its values go
      // through tmp, zero-filled.
      const n = <usize>(b - ow) << 2;
      const x = v128.and(v128.load(at4(row, ow)), i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(b - ow)));
      const q = base + (<usize>ow << 2);
      a0 = madd(tail(g0 + q, n, tmp), x, a0);
      a1 = madd(tail(g1 + q, n, tmp), x, a1);
      a2 = madd(tail(g2 + q, n, tmp), x, a2);
      a3 = madd(tail(g3 + q, n, tmp), x, a3);
    }
  }
  const t = (c * KH + kh) * KW + kw;
  addPartial(part, t, o, lanes(a0));
  if (count > 1) addPartial(part, t, o + 1, lanes(a1));
  if (count > 2) addPartial(part, t, o + 2, lanes(a2));
  if (count > 3) addPartial(part, t, o + 3, lanes(a3));
}

/** The n bytes (< 16) at src, then zeros. */
@inline function tail(src: usize, n: usize, tmp: usize): v128 {
  v128.store(tmp, i32x4.splat(0));
  memory.copy(tmp, src, n);
  return v128.load(tmp);
}

@inline function addPartial(part: usize, t: i32, o: i32, v: f32): void {
  const d = at4(part, t * O + o);
  store<f32>(d, load<f32>(d) + v);
}

/**
 * Items [begin, end) are conv.ts's (image, chunk) pairs. Forward (args x, w, y, bias): y[n, :, chunk] =
 * conv(x[n], w) + bias. Weight gradient (args x, gy): `part`, this thread's partial [TAPS, O] gradient,
 * which the caller zeroed (conv.ts's layout, so its reduction serves both paths), += the
 * products of x[n] and gy[n] over the chunk. Call after smallConvApplies.
 */
export function smallConv(args: usize, scratch: usize, begin: i32, end: i32, weightGrad: bool, part: usize): void {
  const x = argp(args, 16), other = argp(args, 17), y = argp(args, 18);
  memory.fill(scratch, 0, paddedBytes());
  const tmp = scratch + paddedBytes();
  let padded = -1;
  for (let item = begin; item < end; item++) {
    const n = item / CHUNKS;
    const p0 = (item % CHUNKS) * CHUNK;
    const p1 = min(OHW, p0 + CHUNK);
    if (n != padded) padImage(at4(x, n * C * H * W), scratch);
    padded = n;
    for (let o = 0; o < O; o += 4) {
      if (!weightGrad) {
        forwardRange(args, scratch, other, at4(y, n * O * OHW), o, p0, p1, tmp);
        continue;
      }
      for (let c = 0; c < C; c++) {
        for (let kh = 0; kh < KH; kh++) {
          for (let kw = 0; kw < KW; kw++) weightGradRange(scratch, at4(other, n * O * OHW), part, o, c, kh, kw, p0, p1, tmp);
        }
      }
    }
  }
}
