// Direct convolution kernels vectorised over the batch: a v128 holds one position of 4 images,
// so every multiply-add is useful whatever the channel counts and kernel size, with no im2col
// and no packing. Each group of 4 images is copied into the thread's scratch transposed (x to
// [H][W][C][4 images], with a window's rows side by side as channels when they are short, or
// to [C][H][W][4 images], spatially zero-padded so that no tap needs a bounds test; gy to [OH * OW][O][4 images]; the input gradient is computed as
// [C][H][W][4 images] and transposed back to NCHW, the forward's y transposed in registers as
// it is stored). Images of a last, partial group read a block of zeros.
//
// Output channels are padded to multiples of the kernels' block (OB: 2 or 4; for the input
// gradient 4, and input channels to blocks of 3 or 4) with zero weights and gradients, so that
// the kernels find a block's values at fixed offsets from one pointer: with a pointer per
// channel V8 ran out of registers and recomputed them in the inner loops.
//
// args as conv.ts's: [N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, groups, x, w, y, chunk, threads, bias, bias stride].
import { argi, argp, at4, convBias, madd, storeTransposed } from './common';

const LANES = 4;

let N = 0, C = 0, H = 0, W = 0, O = 0, KH = 0, KW = 0, OH = 0, OW = 0;
let SH = 0, SW = 0, PH = 0, PW = 0, DH = 0, DW = 0;
let HP = 0, WP = 0, KK = 0, TAPS = 0, OHW = 0, OP = 0;
// The forward's and weight gradient's blocks: OB output channels x NP (8 / OB) positions or
// taps; TAPSP, the taps rounded up to whole steps of NP.
let OB = 0, NP = 0, TAPSP = 0, PASS = 0;
// The forward's xT [XH][WP][XC]: its rows XH, channels XC, and the rows of a window XKH and
// between output rows XSH; with a window row of few taps, the KH rows of each window are
// stacked as channels (XC = KH * C, XKH = 1, a row per output row), so that a window's taps are
// one run in xT.
let XH = 0, XC = 0, XKH = 0, XSH = 0, STACKED = false;
// The input gradient's blocks of input channels (CB, 3 or 4: fewer channels padded) and CP, the padded count.
let CB = 0, CP = 0;

/** Byte address of v128 element i of the array at p. */
@inline function at16(p: usize, i: i32): usize {
  return p + (<usize>i << 4);
}

// Scratch: the group's input side (xT, or the input gradient), gy (not for the forward), the
// weight gradient's per-lane sums [TAPSP][OP], the weights laid out for the pass (then the
// forward's bias, padded to OP), the byte offsets of the taps in xT, and a block of zeros for
// missing images.

@inline function inputBytes(): usize {
  return <usize>max(max(HP * C, XH * XC) * WP, CP * H * W) << 4;
}
@inline function outputBytes(): usize {
  return PASS == 0 ? 0 : <usize>(OP * OHW) << 4;
}
@inline function sumsBytes(): usize {
  return <usize>(TAPSP * OP) << 4;
}
@inline function weightBytes(): usize {
  return max(<usize>(OP * (TAPS + 1)) << 2, <usize>(CP / CB * KK * OP) << 4);
}
@inline function tableBytes(): usize {
  return <usize>TAPSP << 2;
}
@inline function zerosBytes(): usize {
  return <usize>max(C * H * W, O * OHW) << 2;
}

/** Bytes of scratch the batch kernels use (then conv.ts's partial weight gradient). */
export function batchConvScratch(): usize {
  return inputBytes() + outputBytes() + sumsBytes() + weightBytes() + ((tableBytes() + 15) & ~15) + zerosBytes();
}

/**
 * Reads the geometry and says whether the batch kernels take pass `pass` (0 forward, 1 input
 * gradient, 2 weight gradient). By measurement on one thread against im2col + SGEMM and
 * small_conv.ts: no groups; a batch of at least one group; not 1x1 (SGEMM on the input, or on
 * a cheap gather, won); for the input gradient more than 4 input channels (with fewer, most
 * of a block of 3 is padding); scratch up to 2 MB (beyond, the weight gradient, which streams
 * the group for each tap, fell behind).
 */
export function batchConvApplies(args: usize, pass: i32): bool {
  N = argi(args, 0); C = argi(args, 1); H = argi(args, 2); W = argi(args, 3); O = argi(args, 4);
  KH = argi(args, 5); KW = argi(args, 6); OH = argi(args, 7); OW = argi(args, 8);
  SH = argi(args, 9); SW = argi(args, 10); PH = argi(args, 11); PW = argi(args, 12);
  DH = argi(args, 13); DW = argi(args, 14);
  KK = KH * KW; TAPS = C * KK; OHW = OH * OW; PASS = pass;
  OB = pass == 1 ? 4 : blockOf(pass == 0 ? OW : TAPS);
  NP = 8 / OB; OP = (O + OB - 1) / OB * OB; TAPSP = (TAPS + NP - 1) / NP * NP;
  CB = (C + 2) / 3 * 3 < ((C + 3) & ~3) ? 3 : 4;
  CP = (C + CB - 1) / CB * CB;
  // The rows and columns the kernels read: the forward's last step of NP columns may pass OW.
  HP = (OH - 1) * SH + (KH - 1) * DH + 1;
  WP = ((pass == 0 ? (OW + NP - 1) / NP * NP : OW) - 1) * SW + (KW - 1) * DW + 1;
  // Stacked only where the scratch still fits (else, unstacked, it may).
  stackRows(pass == 0 && KH > 1 && KW * C < STACK_RUN);
  if (STACKED && batchConvScratch() > SCRATCH_LIMIT) stackRows(false);
  return argi(args, 15) == 1 && N >= LANES && KK > 1 && (pass != 1 || C > 4) && batchConvScratch() <= SCRATCH_LIMIT;
}

const SCRATCH_LIMIT: usize = 2 << 20;

/** Sets the forward's xT geometry, with the window rows stacked or not. */
function stackRows(stacked: bool): void {
  STACKED = stacked;
  XH = stacked ? OH : HP; XC = stacked ? KH * C : C; XKH = stacked ? 1 : KH; XSH = stacked ? 1 : SH;
}

/** Window rows of fewer taps are stacked: LeNet-5's forwards, 5 and 30 taps, 15% and 3.5% faster. */
const STACK_RUN = 32;

/**
 * The forward's and the weight gradient's channel block: 4 output channels x 2 of n (positions
 * of a row, or taps), or 2 x 4 when that pads less (LeNet-5's 6 channels).
 */
function blockOf(n: i32): i32 {
  return ((O + 1) & ~1) * ((n + 3) & ~3) < ((O + 3) & ~3) * ((n + 1) & ~1) ? 2 : 4;
}

/** Image groups: the items of the batch kernels. */
export function batchConvGroups(): i32 {
  return (N + LANES - 1) / LANES;
}

/**
 * dst[r * dstRow + j * dstCol] = the v128 of element r * srcStride + j of images a, b, c, d
 * (byte addresses) for rows r < rows, j < len: 4x4 blocks transposed in registers.
 */
function toLanes(a: usize, b: usize, c: usize, d: usize, rows: i32, len: i32, srcStride: i32, dst: usize, dstRow: i32, dstCol: i32): void {
  const step = <usize>dstCol << 4;
  for (let r = 0; r < rows; r++) {
    const s = <usize>(r * srcStride) << 2;
    let p = at16(dst, r * dstRow);
    let j = 0;
    for (; j + 4 <= len; j += 4) {
      const q = s + (<usize>j << 2);
      storeTransposed(v128.load(a + q), v128.load(b + q), v128.load(c + q), v128.load(d + q), p, step);
      p += 4 * step;
    }
    for (; j < len; j++, p += step) {
      const q = s + (<usize>j << 2);
      v128.store(p, f32x4(load<f32>(a + q), load<f32>(b + q), load<f32>(c + q), load<f32>(d + q)));
    }
  }
}

/**
 * toLanes' inverse for `count` images: element r * len + j of image n (at img + n * imgStride
 * floats) = lane n of src's v128 r * srcRow + j * srcCol, for r < rows, j < len.
 */
function fromLanes(src: usize, rows: i32, len: i32, srcRow: i32, srcCol: i32, img: usize, imgStride: i32, count: i32): void {
  const step = <usize>srcCol << 4;
  for (let r = 0; r < rows; r++) {
    const a = at4(img, r * len), b = at4(a, imgStride), c = at4(b, imgStride), d = at4(c, imgStride);
    let p = at16(src, r * srcRow);
    let j = 0;
    for (; j + 4 <= len; j += 4) {
      const v0 = v128.load(p), v1 = v128.load(p + step), v2 = v128.load(p + 2 * step), v3 = v128.load(p + 3 * step);
      const t0 = v128.shuffle<f32>(v0, v1, 0, 4, 1, 5);
      const t1 = v128.shuffle<f32>(v2, v3, 0, 4, 1, 5);
      const t2 = v128.shuffle<f32>(v0, v1, 2, 6, 3, 7);
      const t3 = v128.shuffle<f32>(v2, v3, 2, 6, 3, 7);
      const q = <usize>j << 2;
      v128.store(a + q, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
      if (count > 1) v128.store(b + q, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
      if (count > 2) v128.store(c + q, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
      if (count > 3) v128.store(d + q, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
      p += 4 * step;
    }
    for (; j < len; j++, p += step) {
      const v = v128.load(p);
      const q = <usize>j << 2;
      store<f32>(a + q, f32x4.extract_lane(v, 0));
      if (count > 1) store<f32>(b + q, f32x4.extract_lane(v, 1));
      if (count > 2) store<f32>(c + q, f32x4.extract_lane(v, 2));
      if (count > 3) store<f32>(d + q, f32x4.extract_lane(v, 3));
    }
  }
}

/** Image n's block of `size` floats at p, or the zeros past the batch. */
@inline function image(p: usize, n: i32, size: i32, zeros: usize): usize {
  return n < N ? at4(p, n * size) : zeros;
}

/**
 * Copies images n..n+3 of x into the padded xT (whose border stays zero): [XH][WP][XC] for the
 * forward, whose inner loop runs over the channels of a window row; [C][HP][WP] for the weight
 * gradient, whose inner loop runs over positions (with channels inner it read a cache line per
 * position and was 25% slower).
 */
function padGroup(x: usize, n: i32, xT: usize, zeros: usize, forward: bool): void {
  const size = C * H * W;
  const a = image(x, n, size, zeros), b = image(x, n + 1, size, zeros), c = image(x, n + 2, size, zeros), d = image(x, n + 3, size, zeros);
  // Columns past the last window are never read.
  const cols = min(W, WP - PW);
  if (cols <= 0) return;
  for (let ch = 0; ch < C; ch++) {
    if (!forward) {
      // Rows past the last window are never read.
      const s = <usize>(ch * H * W) << 2, rows = min(H, HP - PH);
      if (rows > 0) toLanes(a + s, b + s, c + s, d + s, rows, cols, W, at16(xT, (ch * HP + PH) * WP + PW), WP, 1);
      continue;
    }
    // Row h of xT holds the padded image's row h * step + k * DH at channel k * C + ch, for
    // each stacked window row k (else just row h): an image row for the rows [h0, h1).
    const step = STACKED ? SH : 1;
    for (let k = 0; k < XC / C; k++) {
      const off = k * DH - PH;
      const h0 = off >= 0 ? 0 : (-off + step - 1) / step;
      const h1 = min(XH, H - off <= 0 ? 0 : (H - off - 1) / step + 1);
      if (h1 <= h0) continue;
      const s = <usize>((ch * H + h0 * step + off) * W) << 2;
      toLanes(a + s, b + s, c + s, d + s, h1 - h0, cols, step * W, at16(xT, (h0 * WP + PW) * XC + k * C + ch), WP * XC, XC);
    }
  }
}

/** Copies gy of images n..n+3 into gyT [OHW][OP] (whose padding channels stay zero). */
function gradGroup(gy: usize, n: i32, gyT: usize, zeros: usize): void {
  const size = O * OHW;
  const a = image(gy, n, size, zeros), b = image(gy, n + 1, size, zeros), c = image(gy, n + 2, size, zeros), d = image(gy, n + 3, size, zeros);
  toLanes(a, b, c, d, O, OHW, OHW, gyT, 1, OP);
}

// The forward's and the weight gradient's 8 accumulators s0..s7 take the products of 4 "u"
// operands (x at NP positions or taps: u2 and u3 are u0 and u1 again when NP is 2) and 4 "v"
// operands (OB output channels' weights or gradients: v2 and v3 are v0 and v1 again when OB is
// 2) in the pairs (0,0) (1,1) (2,2) (3,3) (1,0) (0,1) (3,2) (2,3), which are all the products
// either way: s_k is position or tap (k & 3 ^ k >> 2) % NP, channel (k & 3) % OB. One body then
// serves both blockings. V8 issues an iteration's loads before its arithmetic, so the
// accumulators and the loaded values must fit in the 15 vector registers it has (8 + 6 + a
// product).

/** Position (or tap) and channel of accumulator k for blocks of ob channels. */
@inline function posOf(k: i32, ob: i32): i32 {
  return ((k & 3) ^ (k >> 2)) % (8 / ob);
}
@inline function chanOf(k: i32, ob: i32): i32 {
  return (k & 3) % ob;
}

/** Lanes [0, count) of v (images' values at one element) to each image's element at dst, `img` bytes apart. */
@inline function putColumn(dst: usize, img: usize, count: i32, v: v128): void {
  store<f32>(dst, f32x4.extract_lane(v, 0));
  if (count > 1) store<f32>(dst + img, f32x4.extract_lane(v, 1));
  if (count > 2) store<f32>(dst + 2 * img, f32x4.extract_lane(v, 2));
  if (count > 3) store<f32>(dst + 3 * img, f32x4.extract_lane(v, 3));
}

/**
 * Stores output channel o of a step's np columns (a, b, then c and d when np is 4; each the
 * group's values at one column) to y at dst, the group's first image's element (0, oh, ow):
 * transposed in registers to each image's run of columns when the step and the group are
 * whole, else lane by lane for `room` columns and `count` images; nothing for padding channels.
 */
@inline function putChannel(dst: usize, o: i32, room: i32, count: i32, np: i32, a: v128, b: v128, c: v128, d: v128): void {
  if (o >= O) return;
  const img = <usize>(O * OHW) << 2;
  const p = at4(dst, o * OHW);
  if (count == LANES && room >= np) {
    if (np > 2) {
      storeTransposed(a, b, c, d, p, img);
    } else {
      const lo = v128.shuffle<f32>(a, b, 0, 4, 1, 5), hi = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
      v128.store64_lane(p, lo, 0);
      v128.store64_lane(p + img, lo, 1);
      v128.store64_lane(p + 2 * img, hi, 0);
      v128.store64_lane(p + 3 * img, hi, 1);
    }
    return;
  }
  putColumn(p, img, count, a);
  if (room > 1) putColumn(p + 4, img, count, b);
  if (np > 2 && room > 2) putColumn(p + 8, img, count, c);
  if (np > 2 && room > 3) putColumn(p + 12, img, count, d);
}

/**
 * y of the `count` images at y (NCHW) = conv(xT, wF) + bias, with xT [XH][WP][XC] and wF
 * [OP / ob][XKH][KW][XC][ob]: ob (OB; a constant in forward2 and 4) output channels x 8 / ob
 * columns. The inner loop runs over a window row's (kw, channel), consecutive in xT with unit
 * dilation (else over the channels), one tap per iteration: one loop over all the taps through
 * a table of their offsets was 7-17% slower at 32 and 64 channels, so short rows are stacked
 * instead (XC). Columns past the row's end are computed but not stored; the accumulators go to
 * y directly, not through a buffer to transpose (LeNet-5's first layer 10% faster).
 */
@inline function forwardBlocks(xT: usize, wF: usize, bias: usize, y: usize, count: i32, ob: i32): void {
  const np = 8 / ob;
  const sw = <usize>(SW * XC) << 4, run = <usize>((DW == 1 ? KW : 1) * XC) << 4, wStep = <usize>ob << 2;
  for (let o = 0; o < OP; o += ob) {
    const wo = wF + (<usize>(o * TAPS) << 2), bo = at4(bias, o);
    const b0 = v128.load32_splat(bo), b1 = v128.load32_splat(bo, 4);
    const b2 = ob > 2 ? v128.load32_splat(bo, 8) : b0, b3 = ob > 2 ? v128.load32_splat(bo, 12) : b1;
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow += np) {
        let s0 = b0, s1 = b1, s2 = b2, s3 = b3, s4 = b0, s5 = b1, s6 = b2, s7 = b3;
        let p = wo;
        for (let kh = 0; kh < XKH; kh++) {
          const row = at16(xT, ((oh * XSH + kh * DH) * WP + ow * SW) * XC);
          for (let kw = 0; kw < KW; kw += DW == 1 ? KW : 1) {
            let r = at16(row, kw * DW * XC);
            const end = r + run;
            for (; r < end; r += 16, p += wStep) {
              const u0 = v128.load(r), u1 = v128.load(r + sw);
              const u2 = np > 2 ? v128.load(r + 2 * sw) : u0, u3 = np > 2 ? v128.load(r + 3 * sw) : u1;
              const v0 = v128.load32_splat(p), v1 = v128.load32_splat(p, 4);
              const v2 = ob > 2 ? v128.load32_splat(p, 8) : v0, v3 = ob > 2 ? v128.load32_splat(p, 12) : v1;
              s0 = madd(u0, v0, s0); s1 = madd(u1, v1, s1); s2 = madd(u2, v2, s2); s3 = madd(u3, v3, s3);
              s4 = madd(u1, v0, s4); s5 = madd(u0, v1, s5); s6 = madd(u3, v2, s6); s7 = madd(u2, v3, s7);
            }
          }
        }
        // Channel j's columns in order (posOf, chanOf): 0 is s0 s4 s2 s6, 1 is s5 s1 s7 s3, and
        // when np is 2, 2 is s2 s6 and 3 is s7 s3.
        const dst = at4(y, oh * OW + ow), room = OW - ow;
        putChannel(dst, o, room, count, np, s0, s4, s2, s6);
        putChannel(dst, o + 1, room, count, np, s5, s1, s7, s3);
        if (ob > 2) {
          putChannel(dst, o + 2, room, count, np, s2, s6, s2, s6);
          putChannel(dst, o + 3, room, count, np, s7, s3, s7, s3);
        }
      }
    }
  }
}

/**
 * gxT [CP][H][W] of one group from gyT [OHW][OP] and wI [CP / CB][KK][OP][4] (kw reversed):
 * for each input position, the sum over the taps whose output position exists (found per
 * position, so nothing is multiplied by a position that is not there). `cb` (CB; a constant in
 * inputGrad3 and 4) input channels x 2 positions SW apart (the same taps reach both but near
 * the edges) in 2 * cb accumulators: blocks of 3 when that pads fewer channels (LeNet-5's 6).
 */
@inline function inputGradBlocks(gyT: usize, wI: usize, gxT: usize, cb: i32): void {
  const plane = <usize>(H * W) << 4, taps = <usize>OP << 4;
  // With unit stride and dilation the taps of a row reaching a position are a run of kw whose
  // gradients (kw falling) and weights (stored kw reversed) are consecutive: one loop per run,
  // for the runs reaching the first position only, both, the second only. Else one per tap.
  const unit = SW == 1 && DW == 1, runs = unit ? 3 : KW;
  for (let c = 0; c < CP; c += cb) {
    const wc = wI + (<usize>(c / cb * KK) * taps);
    for (let ih = 0; ih < H; ih++) {
      for (let iw0 = 0; iw0 < W; iw0 += 2 * SW) {
        for (let iw = iw0; iw < min(W, iw0 + SW); iw++) {
          // Whether there is a second position; the taps reaching each.
          const two = iw + SW < W;
          let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
          let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
          const tw = iw + PW;
          const lo1 = max(0, tw - OW + 1), hi1 = min(KW, tw + 1);
          const lo2 = two ? max(0, tw - OW + 2) : hi1, hi2 = two ? min(KW, tw + 2) : hi1;
          // th: the output row times the stride, falling with kh.
          for (let kh = 0, th = ih + PH; kh < KH && th >= 0; kh++, th -= DH) {
            if (th % SH != 0 || th >= OH * SH) continue;
            const row = at16(gyT, (th / SH) * OW * OP);
            for (let run = 0; run < runs; run++) {
              // Taps [k0, k1); ow: the first position's output column at kw = k1 - 1.
              let k0 = run, k1 = run + 1, ow = 0, first = run < 2, second = run > 0;
              if (unit) {
                k0 = run == 0 ? lo1 : run == 1 ? lo2 : max(lo2, hi1);
                k1 = run == 0 ? min(hi1, lo2) : run == 1 ? hi1 : hi2;
                ow = tw - k1 + 1;
              } else {
                const t = tw - run * DW;
                if (t % SW != 0) continue;
                ow = t / SW;
                first = ow >= 0 && ow < OW;
                second = two && ow >= -1 && ow + 1 < OW;
              }
              if (k1 <= k0) continue;
              let p = wc + (<usize>(kh * KW + KW - k1) * taps);
              const count = <usize>(k1 - k0) * taps;
              if (first && second) {
                let g = at16(row, ow * OP);
                const end = g + count;
                for (; g < end; g += 16, p += 16) {
                  const u = v128.load(g), v = v128.load(g + taps);
                  let k = v128.load32_splat(p);
                  a0 = madd(k, u, a0); b0 = madd(k, v, b0);
                  k = v128.load32_splat(p, 4);
                  a1 = madd(k, u, a1); b1 = madd(k, v, b1);
                  k = v128.load32_splat(p, 8);
                  a2 = madd(k, u, a2); b2 = madd(k, v, b2);
                  if (cb > 3) {
                    k = v128.load32_splat(p, 12);
                    a3 = madd(k, u, a3); b3 = madd(k, v, b3);
                  }
                }
              } else if (first) {
                let g = at16(row, ow * OP);
                const end = g + count;
                for (; g < end; g += 16, p += 16) {
                  const u = v128.load(g);
                  a0 = madd(v128.load32_splat(p), u, a0);
                  a1 = madd(v128.load32_splat(p, 4), u, a1);
                  a2 = madd(v128.load32_splat(p, 8), u, a2);
                  if (cb > 3) a3 = madd(v128.load32_splat(p, 12), u, a3);
                }
              } else if (second) {
                let g = at16(row, (ow + 1) * OP);
                const end = g + count;
                for (; g < end; g += 16, p += 16) {
                  const v = v128.load(g);
                  b0 = madd(v128.load32_splat(p), v, b0);
                  b1 = madd(v128.load32_splat(p, 4), v, b1);
                  b2 = madd(v128.load32_splat(p, 8), v, b2);
                  if (cb > 3) b3 = madd(v128.load32_splat(p, 12), v, b3);
                }
              }
            }
          }
          const dst = at16(gxT, (c * H + ih) * W + iw);
          v128.store(dst, a0);
          v128.store(dst + plane, a1);
          v128.store(dst + 2 * plane, a2);
          if (cb > 3) v128.store(dst + 3 * plane, a3);
          if (!two) continue;
          const next = dst + (<usize>SW << 4);
          v128.store(next, b0);
          v128.store(next + plane, b1);
          v128.store(next + 2 * plane, b2);
          if (cb > 3) v128.store(next + 3 * plane, b3);
        }
      }
    }
  }
}

// The kernels for each channel block: separate functions, so each is compiled with its block a
// constant (inlined side by side, the optimiser merged the two back into one with a variable
// block).
function forward2(xT: usize, wF: usize, bias: usize, y: usize, count: i32): void {
  forwardBlocks(xT, wF, bias, y, count, 2);
}
function forward4(xT: usize, wF: usize, bias: usize, y: usize, count: i32): void {
  forwardBlocks(xT, wF, bias, y, count, 4);
}
function inputGrad3(gyT: usize, wI: usize, gxT: usize): void {
  inputGradBlocks(gyT, wI, gxT, 3);
}
function inputGrad4(gyT: usize, wI: usize, gxT: usize): void {
  inputGradBlocks(gyT, wI, gxT, 4);
}
function weightGrad2(xT: usize, gyT: usize, tab: usize, sums: usize): void {
  weightGradBlocks(xT, gyT, tab, sums, 2);
}
function weightGrad4(xT: usize, gyT: usize, tab: usize, sums: usize): void {
  weightGradBlocks(xT, gyT, tab, sums, 4);
}

/** sums [TAPSP][OP]: adds accumulator k (of the taps from t, channel block o) to its row. */
@inline function putSum(sums: usize, t: i32, o: i32, k: i32, ob: i32, s: v128): void {
  const d = at16(sums, (t + posOf(k, ob)) * OP + o + chanOf(k, ob));
  v128.store(d, f32x4.add(v128.load(d), s));
}

/**
 * sums [TAPSP][OP] += the products of xT [C][HP][WP] and gyT [OHW][OP] of one group, per lane:
 * ob (OB; a constant in weightGrad2 and 4) output channels x 8 / ob taps (the last step's taps
 * past TAPS are copies of the last, table entries TAPS.., into rows of sums that are not read).
 * The padding of xT is zero and so are the lanes of missing images in both, so an inf in x
 * meets only the gradients the true sum gives it.
 */
@inline function weightGradBlocks(xT: usize, gyT: usize, tab: usize, sums: usize, ob: i32): void {
  const np = 8 / ob;
  const sw = <usize>SW << 4, rowStep = <usize>(SH * WP) << 4, pos = <usize>OP << 4;
  for (let o = 0; o < OP; o += ob) {
    for (let t = 0; t < TAPS; t += np) {
      // The taps' offsets from the first's.
      const first = load<u32>(tab + (<usize>t << 2));
      const d1 = load<u32>(tab + (<usize>t << 2), 4) - first;
      const d2 = np > 2 ? load<u32>(tab + (<usize>t << 2), 8) - first : 0;
      const d3 = np > 2 ? load<u32>(tab + (<usize>t << 2), 12) - first : 0;
      let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
      let s4 = f32x4.splat(0), s5 = f32x4.splat(0), s6 = f32x4.splat(0), s7 = f32x4.splat(0);
      let g = at16(gyT, o);
      let row = xT + first;
      for (let oh = 0; oh < OH; oh++, row += rowStep) {
        let r = row;
        const end = g + <usize>OW * pos;
        for (; g < end; g += pos, r += sw) {
          const u0 = v128.load(r), u1 = v128.load(r + d1);
          const u2 = np > 2 ? v128.load(r + d2) : u0, u3 = np > 2 ? v128.load(r + d3) : u1;
          const v0 = v128.load(g), v1 = v128.load(g, 16);
          const v2 = ob > 2 ? v128.load(g, 32) : v0, v3 = ob > 2 ? v128.load(g, 48) : v1;
          s0 = madd(u0, v0, s0); s1 = madd(u1, v1, s1); s2 = madd(u2, v2, s2); s3 = madd(u3, v3, s3);
          s4 = madd(u1, v0, s4); s5 = madd(u0, v1, s5); s6 = madd(u3, v2, s6); s7 = madd(u2, v3, s7);
        }
      }
      putSum(sums, t, o, 0, ob, s0); putSum(sums, t, o, 1, ob, s1);
      putSum(sums, t, o, 2, ob, s2); putSum(sums, t, o, 3, ob, s3);
      putSum(sums, t, o, 4, ob, s4); putSum(sums, t, o, 5, ob, s5);
      putSum(sums, t, o, 6, ob, s6); putSum(sums, t, o, 7, ob, s7);
    }
  }
}

/** tab[t] = the byte offset in xT of tap t = (c, kh, kw) from its window's corner; tab[TAPS..TAPSP) = tab[TAPS - 1]. */
function tapTable(tab: usize): void {
  let t = 0;
  for (let c = 0; c < C; c++) {
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++, t++) store<u32>(tab + (<usize>t << 2), <u32>((c * HP + kh * DH) * WP + kw * DW) << 4);
    }
  }
  for (; t < TAPSP; t++) store<u32>(tab + (<usize>t << 2), load<u32>(tab + (<usize>(TAPS - 1) << 2)));
}

/**
 * Items [begin, end) are groups of 4 images. pass 0, forward (args x, w, y, bias): y = conv(x, w)
 * + bias. Pass 1, input gradient (args gy, w, gx). Pass 2, weight gradient (args x, gy): `part`,
 * this thread's partial gradient [TAPS, O] (conv.ts's layout), zeroed by the caller, += the
 * products of the groups' x and gy. Call after batchConvApplies.
 */
export function batchConv(args: usize, scratch: usize, begin: i32, end: i32, pass: i32, part: usize): void {
  const x = argp(args, 16), w = argp(args, 17), y = argp(args, 18);
  const lanesIn = scratch, lanesOut = lanesIn + inputBytes(), sums = lanesOut + outputBytes();
  const weights = sums + sumsBytes(), tab = weights + weightBytes();
  const zeros = tab + ((tableBytes() + 15) & ~15);
  if (end * LANES > N) memory.fill(zeros, 0, zerosBytes());
  if (pass != 1) memory.fill(lanesIn, 0, <usize>((pass == 0 ? XH * XC : HP * C) * WP) << 4);
  if (pass != 0) memory.fill(lanesOut, 0, outputBytes());
  const bias = at4(weights, OP * TAPS);
  if (pass == 0) {
    // wF [OP / OB][XKH][KW][XC][OB]: OB output channels' weights of a tap side by side, in xT's
    // order; then the bias.
    memory.fill(weights, 0, weightBytes());
    for (let o = 0; o < O; o++) {
      for (let c = 0; c < C; c++) {
        for (let kh = 0; kh < KH; kh++) {
          // The tap's row of windows in xT and channel there.
          const row = STACKED ? 0 : kh, ch = STACKED ? kh * C + c : c;
          for (let kw = 0; kw < KW; kw++) {
            const t = (row * KW + kw) * XC + ch;
            store<f32>(at4(weights, (o - o % OB) * TAPS + t * OB + o % OB), load<f32>(at4(w, ((o * C + c) * KH + kh) * KW + kw)));
          }
        }
      }
      store<f32>(at4(bias, o), convBias(args, o));
    }
  } else if (pass == 1) {
    // wI [CP / CB][KH][KW, reversed][OP][4]: CB input channels' weights of a tap and output
    // channel side by side.
    memory.fill(weights, 0, weightBytes());
    for (let o = 0; o < O; o++) {
      for (let c = 0; c < C; c++) {
        for (let k = 0; k < KK; k++) {
          const r = k + KW - 1 - 2 * (k % KW);
          store<f32>(at4(weights, ((c / CB * KK + r) * OP + o) * 4 + c % CB), load<f32>(at4(w, (o * C + c) * KK + k)));
        }
      }
    }
  } else {
    tapTable(tab);
    memory.fill(sums, 0, sumsBytes());
  }
  for (let group = begin; group < end; group++) {
    const n = group * LANES;
    const count = min(LANES, N - n);
    if (pass == 0) {
      padGroup(x, n, lanesIn, zeros, true);
      if (OB == 2) forward2(lanesIn, weights, bias, at4(y, n * O * OHW), count);
      else forward4(lanesIn, weights, bias, at4(y, n * O * OHW), count);
    } else if (pass == 1) {
      gradGroup(x, n, lanesOut, zeros);
      if (CB == 3) inputGrad3(lanesOut, weights, lanesIn);
      else inputGrad4(lanesOut, weights, lanesIn);
      fromLanes(lanesIn, C, H * W, H * W, 1, at4(y, n * C * H * W), C * H * W, count);
    } else {
      padGroup(x, n, lanesIn, zeros, false);
      gradGroup(w, n, lanesOut, zeros);
      if (OB == 2) weightGrad2(lanesIn, lanesOut, tab, sums);
      else weightGrad4(lanesIn, lanesOut, tab, sums);
    }
  }
  if (pass != 2) return;
  for (let t = 0; t < TAPS; t++) {
    for (let o = 0; o < O; o++) {
      const v = v128.load(at16(sums, t * OP + o));
      const d = at4(part, t * O + o);
      store<f32>(d, load<f32>(d) + f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
    }
  }
}
