// SGEMM: C = A B (or C += A B) for float32 matrices with any element strides. BLIS-style: B is
// packed into 8-column panels (KC x NC, L2-resident), A into 4-row panels (MC x KC), and a 4x8
// register tile (eight f32x4 accumulators) runs over them; edges are padded with zeros when packed.
import { argi, argp, at4, madd, storeTransposed } from './common';

const MR: i32 = 4;
const NR: i32 = 8;
const KC: i32 = 256;
const MC: i32 = 128;
const NC: i32 = 512;

/** Bytes of scratch sgemmRange needs: packed A, packed B and one 4x8 tile for edges. */
export const GEMM_SCRATCH: i32 = (MC * KC + KC * NC + MR * NR) * 4;

/**
 * Packs `lines` lines of a matrix (rows of A, or columns of B) into panels of `width` lines,
 * k-major within a panel: panel element (k, l) holds line l's element k. A line's element k is at
 * src + (l * lineStride + k * kStride) floats. Missing lines of the last panel are zeros.
 */
function packPanels(src: usize, lineStride: i32, kStride: i32, lines: i32, kc: i32, width: i32, dst: usize): void {
  const panelBytes = <usize>(kc * width) << 2;
  for (let l0 = 0; l0 < lines; l0 += width, dst += panelBytes) {
    const count = min(width, lines - l0);
    const s = at4(src, l0 * lineStride);
    if (count == width && lineStride == 1) {
      // The lines' elements k are adjacent (a transposed operand): whole vectors per k.
      for (let k = 0; k < kc; k++) {
        for (let g = 0; g < width; g += 4) v128.store(dst + (<usize>(k * width + g) << 2), v128.load(at4(s, k * kStride + g)));
      }
    } else if (count == width && kStride == 1) {
      // Contiguous lines: 4x4 blocks (4 lines, 4 values of k) transposed in registers.
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        for (let g = 0; g < width; g += 4) {
          const p = at4(s, g * lineStride + k);
          const step = <usize>lineStride << 2;
          storeTransposed(v128.load(p), v128.load(p + step), v128.load(p + 2 * step), v128.load(p + 3 * step), dst + (<usize>(k * width + g) << 2), <usize>width << 2);
        }
      }
      for (; k < kc; k++) for (let l = 0; l < width; l++) store<f32>(dst + (<usize>(k * width + l) << 2), load<f32>(at4(s, l * lineStride + k)));
    } else {
      memory.fill(dst, 0, panelBytes);
      for (let l = 0; l < count; l++) {
        const line = at4(s, l * lineStride);
        for (let k = 0; k < kc; k++) store<f32>(dst + (<usize>(k * width + l) << 2), load<f32>(at4(line, k * kStride)));
      }
    }
  }
}

/** Stores (or adds, when acc) one 8-float row of a tile at p. */
@inline function storeRow(p: usize, lo: v128, hi: v128, acc: bool): void {
  v128.store(p, acc ? f32x4.add(v128.load(p), lo) : lo);
  v128.store(p, acc ? f32x4.add(v128.load(p, 16), hi) : hi, 16);
}

/** The 4x8 tile of C at c from kc steps of packed A and B; adds to C when acc. */
// @ts-ignore: decorator
@inline function tile(kc: i32, ap: usize, bp: usize, c: usize, rsc: i32, csc: i32, mr: i32, nr: i32, acc: bool, tmp: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00);
    c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10);
    c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20);
    c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30);
    c31 = madd(a, b1, c31);
    ap += 16;
    bp += 32;
  }
  if (mr == MR && nr == NR && csc == 1) {
    const step = <usize>rsc << 2;
    storeRow(c, c00, c01, acc);
    storeRow(c + step, c10, c11, acc);
    storeRow(c + 2 * step, c20, c21, acc);
    storeRow(c + 3 * step, c30, c31, acc);
    return;
  }
  v128.store(tmp, c00);
  v128.store(tmp, c01, 16);
  v128.store(tmp, c10, 32);
  v128.store(tmp, c11, 48);
  v128.store(tmp, c20, 64);
  v128.store(tmp, c21, 80);
  v128.store(tmp, c30, 96);
  v128.store(tmp, c31, 112);
  for (let r = 0; r < mr; r++) {
    for (let j = 0; j < nr; j++) {
      const p = at4(c, r * rsc + j * csc);
      const v = load<f32>(tmp + (<usize>(r * NR + j) << 2));
      store<f32>(p, acc ? load<f32>(p) + v : v);
    }
  }
}

/**
 * Rows [m0, m1) and columns [n0, n1) of C[M, N] = A[M, K] B[K, N] (+ C when accumulate). Strides
 * are in elements; a, b and c are byte addresses of element (0, 0).
 */
export function sgemmRange(
  K: i32, a: usize, rsa: i32, csa: i32, b: usize, rsb: i32, csb: i32, c: usize, rsc: i32, csc: i32,
  accumulate: bool, scratch: usize, m0: i32, m1: i32, n0: i32, n1: i32,
): void {
  if (m0 >= m1 || n0 >= n1) return;
  if (K == 0) {
    if (!accumulate) for (let i = m0; i < m1; i++) for (let j = n0; j < n1; j++) store<f32>(at4(c, i * rsc + j * csc), 0);
    return;
  }
  const ap = scratch;
  const bp = scratch + (<usize>(MC * KC) << 2);
  const tmp = bp + (<usize>(KC * NC) << 2);
  for (let jc = n0; jc < n1; jc += NC) {
    const nc = min(NC, n1 - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min(KC, K - pc);
      packPanels(at4(b, pc * rsb + jc * csb), csb, rsb, nc, kc, NR, bp);
      const acc = accumulate || pc > 0;
      for (let ic = m0; ic < m1; ic += MC) {
        const mc = min(MC, m1 - ic);
        packPanels(at4(a, ic * rsa + pc * csa), rsa, csa, mc, kc, MR, ap);
        for (let jr = 0; jr < nc; jr += NR) {
          const bpanel = bp + (<usize>(jr * kc) << 2);
          const cc = at4(c, ic * rsc + (jc + jr) * csc);
          const nr = min(NR, nc - jr);
          for (let ir = 0; ir < mc; ir += MR) {
            tile(kc, ap + (<usize>(ir * kc) << 2), bpanel, at4(cc, ir * rsc), rsc, csc, min(MR, mc - ir), nr, acc, tmp);
          }
        }
      }
    }
  }
}

/**
 * Parallel entry: args [M, N, K, a, rsa, csa, b, rsb, csb, c, rsc, csc, accumulate, splitN];
 * [begin, end) are rows of C, or columns when splitN.
 */
export function sgemm(args: usize, scratch: usize, begin: i32, end: i32): void {
  const M = argi(args, 0);
  const N = argi(args, 1);
  const splitN = argi(args, 13) != 0;
  sgemmRange(
    argi(args, 2), argp(args, 3), argi(args, 4), argi(args, 5), argp(args, 6), argi(args, 7), argi(args, 8),
    argp(args, 9), argi(args, 10), argi(args, 11), argi(args, 12) != 0, scratch,
    splitN ? 0 : begin, splitN ? M : end, splitN ? begin : 0, splitN ? end : N,
  );
}
