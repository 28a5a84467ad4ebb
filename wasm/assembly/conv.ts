// Convolutions as im2col + SGEMM on contiguous NCHW / OIHW float32 data. Output positions are
// processed in chunks (args[19] of them) so the column buffer stays small whatever the image
// size; a 1x1, stride-1, unpadded convolution multiplies the input directly. Batches of 4 or
// more take batch_conv.ts's kernels where they apply (batchConvApplies), smaller ones with few
// input channels small_conv.ts's.
//
// args: [N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, groups, x, w, y, chunk, threads,
// bias, bias stride] (x, w, y: byte addresses of the three tensors in the primitive's own order;
// bias: the forward's, or 0).
import { argi, argp, at4, convBias } from './common';
import { GEMM_SCRATCH, sgemmRange } from './gemm';
import { batchConv, batchConvApplies, batchConvGroups, batchConvScratch } from './batch_conv';
import { smallConv, smallConvApplies } from './small_conv';

// The geometry, per instance (so per thread), read by readArgs().
let N = 0, C = 0, H = 0, W = 0, O = 0, KH = 0, KW = 0, OH = 0, OW = 0;
let SH = 0, SW = 0, PH = 0, PW = 0, DH = 0, DW = 0, G = 0, CHUNK = 0, SPLIT = 1;
let Cg = 0, Og = 0, CKK = 0, HW = 0, OHW = 0, CHUNKS = 0;
let pointwise = false, batched = false;

/** pass: 0 forward, 1 input gradient, 2 weight gradient (the batch kernels' choice depends on it). */
function readArgs(args: usize, pass: i32): void {
  N = argi(args, 0); C = argi(args, 1); H = argi(args, 2); W = argi(args, 3); O = argi(args, 4);
  KH = argi(args, 5); KW = argi(args, 6); OH = argi(args, 7); OW = argi(args, 8);
  SH = argi(args, 9); SW = argi(args, 10); PH = argi(args, 11); PW = argi(args, 12);
  DH = argi(args, 13); DW = argi(args, 14); G = argi(args, 15); CHUNK = argi(args, 19);
  Cg = C / G; Og = O / G; CKK = Cg * KH * KW; HW = H * W; OHW = OH * OW;
  CHUNKS = (OHW + CHUNK - 1) / CHUNK;
  pointwise = KH == 1 && KW == 1 && SH == 1 && SW == 1 && PH == 0 && PW == 0;
  batched = batchConvApplies(args, pass);
  // The im2col forward's (image, chunk) pairs, when fewer than the threads (args[20]), are split
  // into parts of the output channels: a single image's deep layers are one chunk, and ran on
  // one thread. Each part builds its chunk's columns again, a small cost next to the product.
  const pairs = N * CHUNKS, threads = argi(args, 20);
  SPLIT = pass == 0 && !batched && pairs < threads && !smallConvApplies(args) ? max(1, min((threads + pairs - 1) / pairs, Og / 4)) : 1;
}

/** First output index o in [0, n) whose input o*s + off is >= 0, and the end of those < size. */
@inline function firstIn(off: i32, s: i32): i32 {
  return off >= 0 ? 0 : (-off + s - 1) / s;
}
@inline function endIn(off: i32, s: i32, size: i32, n: i32): i32 {
  return size - off <= 0 ? 0 : min(n, (size - off - 1) / s + 1);
}

// Rows of a convolution are short (tens of floats): vector loops beat memory.copy/fill's call.

@inline function copyFloats(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)));
}

@inline function zeroFloats(dst: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), i32x4.splat(0));
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), 0);
}

/** dst[i] += src[i]. */
@inline function addFloats(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const d = dst + (<usize>i << 2);
    v128.store(d, f32x4.add(v128.load(d), v128.load(src + (<usize>i << 2))));
  }
  for (; i < n; i++) {
    const d = dst + (<usize>i << 2);
    store<f32>(d, load<f32>(d) + load<f32>(src + (<usize>i << 2)));
  }
}

/**
 * Walks the column matrix of output positions [p0, p1): with toCol (im2col) col[row, p - p0] =
 * x[c, ih, iw], zero in the padding; else (its adjoint, col2im) x[c, ih, iw] += col[row, p - p0].
 */
function im2colWalk(x: usize, p0: i32, p1: i32, col: usize, toCol: bool): void {
  const len = p1 - p0;
  for (let c = 0; c < Cg; c++) {
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++) {
        const row = col + (<usize>(((c * KH + kh) * KW + kw) * len) << 2);
        const hOff = kh * DH - PH;
        const wOff = kw * DW - PW;
        const lo = firstIn(wOff, SW);
        const hi = max(lo, endIn(wOff, SW, W, OW));
        let p = p0;
        while (p < p1) {
          const oh = p / OW;
          const ow0 = p - oh * OW;
          const ow1 = min(OW, ow0 + p1 - p);
          const seg = row + (<usize>(p - p0) << 2);
          const ih = oh * SH + hOff;
          p += ow1 - ow0;
          if (ih < 0 || ih >= H) {
            if (toCol) zeroFloats(seg, ow1 - ow0);
            continue;
          }
          const xs = at4(x, (c * H + ih) * W + wOff);
          // Positions [a, b) read inside the row; the rest of [ow0, ow1) is padding.
          const a = min(max(ow0, lo), ow1);
          const b = max(min(ow1, hi), a);
          const inside = seg + (<usize>(a - ow0) << 2);
          if (!toCol) {
            if (SW == 1) {
              addFloats(at4(xs, a), inside, b - a);
            } else {
              for (let ow = a; ow < b; ow++) {
                const d = at4(xs, ow * SW);
                store<f32>(d, load<f32>(d) + load<f32>(seg + (<usize>(ow - ow0) << 2)));
              }
            }
            continue;
          }
          zeroFloats(seg, a - ow0);
          if (SW == 1) {
            copyFloats(inside, at4(xs, a), b - a);
          } else {
            for (let ow = a; ow < b; ow++) store<f32>(seg + (<usize>(ow - ow0) << 2), load<f32>(at4(xs, ow * SW)));
          }
          zeroFloats(seg + (<usize>(b - ow0) << 2), ow1 - b);
        }
      }
    }
  }
}

/**
 * Bytes where a thread's partial weight gradient starts: after the batch kernels' buffers, or
 * after SGEMM's packing and one column chunk.
 */
@inline function partialOffset(): usize {
  if (batched) return batchConvScratch();
  return <usize>GEMM_SCRATCH + (pointwise ? 0 : <usize>(CKK * CHUNK) << 2);
}

/** Bytes of scratch per thread: the buffers of the path taken, then a partial weight gradient. */
export function convScratch(args: usize, pass: i32): i32 {
  readArgs(args, pass);
  return <i32>partialOffset() + G * CKK * Og * 4;
}

/**
 * The items of pass `pass`'s kernel: image groups for the batch kernels; else the forward's and
 * the weight gradient's (image, chunk) pairs (times the forward's parts), the input gradient's images.
 */
export function convItems(args: usize, pass: i32): i32 {
  readArgs(args, pass);
  if (batched) return batchConvGroups();
  return pass == 1 ? N : N * CHUNKS * SPLIT;
}

/** The row stride (floats) of the last columns() result. */
let LD = 0;

/**
 * The column matrix [CKK, p1 - p0] of image n, group g, output positions [p0, p1): the input
 * itself for a pointwise convolution, else im2col into col. Sets LD.
 */
function columns(x: usize, n: i32, g: i32, p0: i32, p1: i32, col: usize): usize {
  const xp = at4(x, (n * C + g * Cg) * HW);
  if (pointwise) {
    LD = HW;
    return at4(xp, p0);
  }
  im2colWalk(xp, p0, p1, col, true);
  LD = p1 - p0;
  return col;
}

/** The first output channel of the forward's part `part` of SPLIT: whole 4-row tiles of SGEMM. */
@inline function splitRow(part: i32): i32 {
  return part == SPLIT ? Og : ((part * Og) / SPLIT) & ~3;
}

/**
 * Items [begin, end) are (image, chunk) pairs, each image's column matrix multiplied by `other`:
 * forward, y[n, :, chunk] = bias + w @ im2col(x[n])[:, chunk] with other = w and out = y, in SPLIT
 * parts of the output channels (see readArgs); for the weight gradient, this thread's partial
 * gw^T [CKK, Og] per group += im2col(x[n]) @ gy[n]^T with other = gy and out = the partial.
 */
function columnProducts(args: usize, x: usize, other: usize, out: usize, scratch: usize, begin: i32, end: i32, weightGrad: bool): void {
  const col = scratch + GEMM_SCRATCH;
  const split = weightGrad ? 1 : SPLIT;
  for (let item = begin; item < end; item++) {
    const part = item % split, pair = item / split;
    const n = pair / CHUNKS;
    const p0 = (pair % CHUNKS) * CHUNK;
    const p1 = min(OHW, p0 + CHUNK);
    for (let g = 0; g < G; g++) {
      const cols = columns(x, n, g, p0, p1, col);
      if (weightGrad) {
        sgemmRange(p1 - p0, cols, LD, 1, at4(other, (n * O + g * Og) * OHW + p0), 1, OHW, at4(out, g * CKK * Og), Og, 1, true, scratch, 0, CKK, 0, Og);
      } else {
        // The product is added to the bias, if any, written first.
        const y = at4(out, (n * O + g * Og) * OHW + p0), bias = argp(args, 21) != 0;
        for (let o = splitRow(part); bias && o < splitRow(part + 1); o++) {
          const b = convBias(args, g * Og + o);
          for (let p = 0; p < p1 - p0; p++) store<f32>(at4(y, o * OHW + p), b);
        }
        sgemmRange(CKK, at4(other, g * Og * CKK), CKK, 1, cols, LD, 1, y, OHW, 1, bias, scratch, splitRow(part), splitRow(part + 1), 0, p1 - p0);
      }
    }
  }
}

/**
 * Items [begin, end) are (image, chunk, part of the output channels) triples: y[n, part, chunk] =
 * bias[part] + w[part] @ im2col(x[n])[:, chunk]; or image groups of the batch kernels (convItems).
 */
export function conv2d(args: usize, scratch: usize, begin: i32, end: i32): void {
  readArgs(args, 0);
  if (batched) return batchConv(args, scratch, begin, end, 0, 0);
  if (smallConvApplies(args)) return smallConv(args, scratch, begin, end, false, 0);
  columnProducts(args, argp(args, 16), argp(args, 17), argp(args, 18), scratch, begin, end, false);
}

/**
 * Items [begin, end) are images: gx[n] = col2im(w^T @ gy[n]) (im2colWalk's adjoint); or image
 * groups of the batch kernels (convItems). args: x = gy, y = gx.
 */
export function conv2dInputGrad(args: usize, scratch: usize, begin: i32, end: i32): void {
  readArgs(args, 1);
  if (batched) return batchConv(args, scratch, begin, end, 1, 0);
  const gy = argp(args, 16), w = argp(args, 17), gx = argp(args, 18);
  const col = scratch + GEMM_SCRATCH;
  for (let n = begin; n < end; n++) {
    if (!pointwise) memory.fill(at4(gx, n * C * HW), 0, <usize>(C * HW) << 2);
    for (let p0 = 0; p0 < OHW; p0 += CHUNK) {
      const p1 = min(OHW, p0 + CHUNK);
      for (let g = 0; g < G; g++) {
        const a = at4(w, g * Og * CKK);
        const b = at4(gy, (n * O + g * Og) * OHW + p0);
        const xp = at4(gx, (n * C + g * Cg) * HW);
        if (pointwise) {
          sgemmRange(Og, a, 1, CKK, b, OHW, 1, at4(xp, p0), HW, 1, false, scratch, 0, CKK, 0, p1 - p0);
        } else {
          sgemmRange(Og, a, 1, CKK, b, OHW, 1, col, p1 - p0, 1, false, scratch, 0, CKK, 0, p1 - p0);
          im2colWalk(xp, p0, p1, col, false);
        }
      }
    }
  }
}

/**
 * Items [begin, end) are (image, chunk) pairs (or image groups of the batch kernels: convItems),
 * summed into this thread's partial gradient in its scratch, per group [CKK, Og] (transposed, so
 * SGEMM's long side is CKK): gw^T += im2col(x[n]) @ gy[n]^T. args: x = x, w = gy;
 * convWeightGradReduce then sums the partials into gw.
 */
export function conv2dWeightGrad(args: usize, scratch: usize, begin: i32, end: i32): void {
  readArgs(args, 2);
  const part = scratch + partialOffset();
  memory.fill(part, 0, <usize>(G * CKK * Og) << 2);
  if (batched) batchConv(args, scratch, begin, end, 2, part);
  else if (smallConvApplies(args)) smallConv(args, scratch, begin, end, true, part);
  else columnProducts(args, argp(args, 16), argp(args, 17), part, scratch, begin, end, true);
}

/**
 * gw[g*Og + o, k] = the sum over the threads' partials [g][k][o]. args as conv2dWeightGrad with
 * y = gw; `parts` holds `count` scratch addresses (each thread's scratch) as f64.
 */
export function convWeightGradReduce(args: usize, parts: usize, count: i32): void {
  readArgs(args, 2);
  const gw = argp(args, 18);
  const off = partialOffset();
  for (let g = 0; g < G; g++) {
    for (let k = 0; k < CKK; k++) {
      for (let o = 0; o < Og; o++) {
        const i = (g * CKK + k) * Og + o;
        let s: f32 = 0;
        for (let t = 0; t < count; t++) s += load<f32>(at4(<usize>load<f64>(parts + (<usize>t << 3)) + off, i));
        store<f32>(at4(gw, (g * Og + o) * CKK + k), s);
      }
    }
  }
}
