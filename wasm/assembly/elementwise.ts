// Elementwise kernels on strided float32 views (outputs float32, or bool as 0/1 bytes). The
// arithmetic the reference does in float64 and rounds once is done the same way here: +, -, *, /,
// sqrt, min and max are exact in float32 SIMD; everything else is computed in float64.
import { addrOf, argf, argi, innerOf, stepOf } from './common';

// Op codes: the order of UnaryOp and BinaryOp in src/backend/wasm/ops.ts.
const NEG = 0, ABS = 1, SIGN = 2, EXP = 3, LOG = 4, LOG1P = 5, EXPM1 = 6, SQRT = 7, RSQRT = 8, RECIPROCAL = 9;
const SIN = 10, COS = 11, TANH = 12, SIGMOID = 13, RELU = 14, FLOOR = 15, CEIL = 16, ROUND = 17, TRUNC = 18, ERF = 19;
const LOGICAL_NOT = 20;
const ADD = 0, SUB = 1, MUL = 2, DIV = 3, POW = 4, MAXIMUM = 5, MINIMUM = 6, REMAINDER = 7, FLOOR_DIVIDE = 8, ATAN2 = 9;
const EQ = 10, NE = 11, LT = 12, LE = 13, GT = 14, GE = 15, LOGICAL_AND = 16, LOGICAL_OR = 17, LOGICAL_XOR = 18, RELU_GRAD = 19;

/** erf by the series erf(x) = 2/sqrt(pi) e^(-x^2) sum 2^n x^(2n+1)/(2n+1)!!, as the reference computes it. */
function erf(x: f64): f64 {
  if (isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax >= 6) return Math.sign(x);
  const x2 = ax * ax;
  let term = ax;
  let sum = ax;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / <f64>(2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return Math.sign(x) * Math.min(1, (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum);
}

function unaryScalar(op: i32, x: f64): f64 {
  switch (op) {
    case NEG: return -x;
    case ABS: return Math.abs(x);
    case SIGN: return x > 0 ? 1 : x < 0 ? -1 : 0;
    case EXP: return Math.exp(x);
    case LOG: return Math.log(x);
    case LOG1P: return Math.log1p(x);
    case EXPM1: return Math.expm1(x);
    case SQRT: return Math.sqrt(x);
    case RSQRT: return 1 / Math.sqrt(x);
    case RECIPROCAL: return 1 / x;
    case SIN: return Math.sin(x);
    case COS: return Math.cos(x);
    case TANH: return Math.tanh(x);
    case SIGMOID: return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
    case RELU: return x <= 0 ? 0 : x;
    case FLOOR: return Math.floor(x);
    case CEIL: return Math.ceil(x);
    case ROUND: return nearest<f64>(x);
    case TRUNC: return Math.trunc(x);
    case ERF: return erf(x);
    case LOGICAL_NOT: return x == 0 ? 1 : 0;
  }
  return NaN;
}

/** JavaScript's Math.pow, which the reference uses: unlike C's pow, 1 ** NaN and (+-1) ** +-Infinity are NaN. */
function jsPow(a: f64, b: f64): f64 {
  if (isNaN(b) || (Math.abs(a) == 1 && !isFinite(b))) return NaN;
  return Math.pow(a, b);
}

function binaryScalar(op: i32, a: f64, b: f64): f64 {
  switch (op) {
    case ADD: return a + b;
    case SUB: return a - b;
    case MUL: return a * b;
    case DIV: return a / b;
    case POW: return jsPow(a, b);
    case MAXIMUM: return Math.max(a, b);
    case MINIMUM: return Math.min(a, b);
    case REMAINDER: {
      const r = a % b;
      return r != 0 && (r < 0) != (b < 0) ? r + b : r;
    }
    case FLOOR_DIVIDE: return Math.floor(a / b);
    case ATAN2: return Math.atan2(a, b);
    case EQ: return a == b ? 1 : 0;
    case NE: return a != b ? 1 : 0;
    case LT: return a < b ? 1 : 0;
    case LE: return a <= b ? 1 : 0;
    case GT: return a > b ? 1 : 0;
    case GE: return a >= b ? 1 : 0;
    case LOGICAL_AND: return a != 0 && b != 0 ? 1 : 0;
    case LOGICAL_OR: return a != 0 || b != 0 ? 1 : 0;
    case LOGICAL_XOR: return (a != 0) != (b != 0) ? 1 : 0;
    case RELU_GRAD: return b <= 0 ? 0 : a;
  }
  return NaN;
}

/** The ops exact in float32 SIMD (-1 otherwise). */
@inline function simdUnary(op: i32, x: v128): v128 {
  switch (op) {
    case NEG: return f32x4.neg(x);
    case ABS: return f32x4.abs(x);
    case SQRT: return f32x4.sqrt(x);
    case RECIPROCAL: return f32x4.div(f32x4.splat(1), x);
    case RELU: return v128.andnot(x, f32x4.le(x, f32x4.splat(0)));
    case FLOOR: return f32x4.floor(x);
    case CEIL: return f32x4.ceil(x);
    case ROUND: return f32x4.nearest(x);
    case TRUNC: return f32x4.trunc(x);
  }
  return x;
}

@inline function hasSimdUnary(op: i32): bool {
  return op == NEG || op == ABS || op == SQRT || op == RECIPROCAL || op == RELU || op == FLOOR || op == CEIL || op == ROUND || op == TRUNC;
}

@inline function simdBinary(op: i32, a: v128, b: v128): v128 {
  switch (op) {
    case ADD: return f32x4.add(a, b);
    case SUB: return f32x4.sub(a, b);
    case MUL: return f32x4.mul(a, b);
    case DIV: return f32x4.div(a, b);
    case MAXIMUM: return f32x4.max(a, b);
    case MINIMUM: return f32x4.min(a, b);
    // a where b is not <= 0 (a NaN b passes a, as PyTorch).
    case RELU_GRAD: return v128.andnot(a, f32x4.le(b, f32x4.splat(0)));
  }
  return a;
}

/** The same ops on one element, through the same code (f32x4.max/min propagate NaN and order -0 below 0, as Math.max/min). */
@inline function scalarBinary(op: i32, a: f32, b: f32): f32 {
  return f32x4.extract_lane(simdBinary(op, f32x4.splat(a), f32x4.splat(b)), 0);
}

/** Comparisons as lane masks (all ones or zero), with JavaScript's NaN semantics: only ne holds for NaN. */
@inline function simdCompare(op: i32, a: v128, b: v128): v128 {
  switch (op) {
    case EQ: return f32x4.eq(a, b);
    case NE: return f32x4.ne(a, b);
    case LT: return f32x4.lt(a, b);
    case LE: return f32x4.le(a, b);
    case GT: return f32x4.gt(a, b);
  }
  return f32x4.ge(a, b);
}

@inline function isCompare(op: i32): bool {
  return op >= EQ && op <= GE;
}

/** A float32 operand's next 4 elements: a vector load, or one element repeated for a broadcast (step 0). */
@inline function load4(p: usize, step: i32): v128 {
  return step == 1 ? v128.load(p) : v128.load32_splat(p);
}

@inline function hasSimdBinary(op: i32): bool {
  return op == ADD || op == SUB || op == MUL || op == DIV || op == MAXIMUM || op == MINIMUM || op == RELU_GRAD;
}

// The dense SIMD runs. With the op's switch inside the loop, every vector paid a jump through a
// table (V8 does not unswitch loops, and Binaryen folds copies of one loop that differ only in a
// constant back into one): ReLU over 301,056 floats, one thread, 97 us. So the ops a training
// step runs over whole activations get loops of their own, written out; the others keep the
// switch. Each returns how many elements it did (a multiple of 4); the caller does the rest.

/** n floats of a unary op from px to po. */
function unaryRun(op: i32, px: usize, po: usize, n: i32): i32 {
  let i = 0;
  if (op == RELU) {
    // x where x <= 0 is false (a NaN passes, -0 becomes 0): fewer instructions than f32x4.max.
    const zero = f32x4.splat(0);
    for (; i + 8 <= n; i += 8, px += 32, po += 32) {
      const x0 = v128.load(px), x1 = v128.load(px, 16);
      v128.store(po, v128.andnot(x0, f32x4.le(x0, zero)));
      v128.store(po, v128.andnot(x1, f32x4.le(x1, zero)), 16);
    }
  }
  for (; i + 4 <= n; i += 4, px += 16, po += 16) v128.store(po, simdUnary(op, v128.load(px)));
  return i;
}

/** n floats of a binary op with float32 output; a step of 0 is a broadcast operand, read once. */
function binaryRun(op: i32, pa: usize, sa: i32, pb: usize, sb: i32, po: usize, n: i32): i32 {
  let i = 0;
  if (sa == 1 && sb == 1) {
    if (op == ADD) {
      for (; i + 8 <= n; i += 8, pa += 32, pb += 32, po += 32) {
        v128.store(po, f32x4.add(v128.load(pa), v128.load(pb)));
        v128.store(po, f32x4.add(v128.load(pa, 16), v128.load(pb, 16)), 16);
      }
    } else if (op == MUL) {
      for (; i + 8 <= n; i += 8, pa += 32, pb += 32, po += 32) {
        v128.store(po, f32x4.mul(v128.load(pa), v128.load(pb)));
        v128.store(po, f32x4.mul(v128.load(pa, 16), v128.load(pb, 16)), 16);
      }
    } else if (op == SUB) {
      for (; i + 8 <= n; i += 8, pa += 32, pb += 32, po += 32) {
        v128.store(po, f32x4.sub(v128.load(pa), v128.load(pb)));
        v128.store(po, f32x4.sub(v128.load(pa, 16), v128.load(pb, 16)), 16);
      }
    } else if (op == RELU_GRAD) {
      const zero = f32x4.splat(0);
      for (; i + 8 <= n; i += 8, pa += 32, pb += 32, po += 32) {
        v128.store(po, v128.andnot(v128.load(pa), f32x4.le(v128.load(pb), zero)));
        v128.store(po, v128.andnot(v128.load(pa, 16), f32x4.le(v128.load(pb, 16), zero)), 16);
      }
    }
    for (; i + 4 <= n; i += 4, pa += 16, pb += 16, po += 16) v128.store(po, simdBinary(op, v128.load(pa), v128.load(pb)));
  } else if (sa == 1) {
    const b = v128.load32_splat(pb);
    for (; i + 4 <= n; i += 4, pa += 16, po += 16) v128.store(po, simdBinary(op, v128.load(pa), b));
  } else if (sb == 1) {
    const a = v128.load32_splat(pa);
    for (; i + 4 <= n; i += 4, pb += 16, po += 16) v128.store(po, simdBinary(op, a, v128.load(pb)));
  } else {
    const v = simdBinary(op, v128.load32_splat(pa), v128.load32_splat(pb));
    for (; i + 4 <= n; i += 4, po += 16) v128.store(po, v);
  }
  return i;
}

/** [op, out is bool, -, geometry of x, out]. */
export function unary(g: usize, scratch: usize, begin: i32, end: i32): void {
  const op = argi(g, 0);
  const bool = argi(g, 1) != 0;
  const inner = innerOf(g);
  const sx = stepOf(g, 0);
  const so = stepOf(g, 1);
  let e = begin;
  while (e < end) {
    const n = min(inner - e % inner, end - e);
    let px = addrOf(g, 0, e, 2);
    let i = 0;
    if (bool) {
      let po = addrOf(g, 1, e, 0);
      for (; i < n; i++, px += <usize>sx << 2, po += <usize>so) store<u8>(po, unaryScalar(op, load<f32>(px)) != 0 ? 1 : 0);
    } else {
      let po = addrOf(g, 1, e, 2);
      if (sx == 1 && so == 1 && hasSimdUnary(op)) {
        i = unaryRun(op, px, po, n);
        px += <usize>i << 2;
        po += <usize>i << 2;
      }
      for (; i < n; i++, px += <usize>sx << 2, po += <usize>so << 2) store<f32>(po, <f32>unaryScalar(op, load<f32>(px)));
    }
    e += n;
  }
}

/** [op, out is bool, -, geometry of a, b, out]. */
export function binary(g: usize, scratch: usize, begin: i32, end: i32): void {
  const op = argi(g, 0);
  const bool = argi(g, 1) != 0;
  const inner = innerOf(g);
  const sa = stepOf(g, 0);
  const sb = stepOf(g, 1);
  const so = stepOf(g, 2);
  const dense = so == 1 && (sa == 1 || sa == 0) && (sb == 1 || sb == 0);
  const da: usize = sa == 1 ? 16 : 0;
  const db: usize = sb == 1 ? 16 : 0;
  let e = begin;
  while (e < end) {
    const n = min(inner - e % inner, end - e);
    let pa = addrOf(g, 0, e, 2);
    let pb = addrOf(g, 1, e, 2);
    let i = 0;
    if (bool) {
      let po = addrOf(g, 2, e, 0);
      if (dense && isCompare(op)) {
        // 16 comparisons, their masks narrowed to 16 bytes of 0 or 1.
        const one = i8x16.splat(1);
        for (; i + 16 <= n; i += 16, po += 16) {
          const m0 = simdCompare(op, load4(pa, sa), load4(pb, sb));
          const m1 = simdCompare(op, load4(pa + da, sa), load4(pb + db, sb));
          const m2 = simdCompare(op, load4(pa + 2 * da, sa), load4(pb + 2 * db, sb));
          const m3 = simdCompare(op, load4(pa + 3 * da, sa), load4(pb + 3 * db, sb));
          const bytes = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(m0, m1), i16x8.narrow_i32x4_s(m2, m3));
          v128.store(po, v128.and(bytes, one));
          pa += 4 * da;
          pb += 4 * db;
        }
      }
      for (; i < n; i++, pa += <usize>sa << 2, pb += <usize>sb << 2, po += <usize>so) {
        store<u8>(po, binaryScalar(op, load<f32>(pa), load<f32>(pb)) != 0 ? 1 : 0);
      }
    } else {
      let po = addrOf(g, 2, e, 2);
      if (hasSimdBinary(op)) {
        if (dense) {
          i = binaryRun(op, pa, sa, pb, sb, po, n);
          pa += <usize>(i * sa) << 2;
          pb += <usize>(i * sb) << 2;
          po += <usize>i << 2;
        }
        for (; i < n; i++, pa += <usize>sa << 2, pb += <usize>sb << 2, po += <usize>so << 2) {
          store<f32>(po, scalarBinary(op, load<f32>(pa), load<f32>(pb)));
        }
      } else {
        for (; i < n; i++, pa += <usize>sa << 2, pb += <usize>sb << 2, po += <usize>so << 2) {
          store<f32>(po, <f32>binaryScalar(op, load<f32>(pa), load<f32>(pb)));
        }
      }
    }
    e += n;
  }
}

/** [-, -, -, geometry of cond (bytes), a, b, out]: out = cond ? a : b. */
export function where(g: usize, scratch: usize, begin: i32, end: i32): void {
  const inner = innerOf(g);
  const sc = stepOf(g, 0);
  const sa = stepOf(g, 1);
  const sb = stepOf(g, 2);
  const so = stepOf(g, 3);
  const dense = sc == 1 && so == 1 && (sa == 1 || sa == 0) && (sb == 1 || sb == 0);
  const da: usize = sa == 1 ? 16 : 0;
  const db: usize = sb == 1 ? 16 : 0;
  let e = begin;
  while (e < end) {
    const n = min(inner - e % inner, end - e);
    let pc = addrOf(g, 0, e, 0);
    let pa = addrOf(g, 1, e, 2);
    let pb = addrOf(g, 2, e, 2);
    let po = addrOf(g, 3, e, 2);
    let i = 0;
    if (dense) {
      // 4 condition bytes widened to lane masks choose between the lanes of a and b.
      for (; i + 4 <= n; i += 4, pc += 4, pa += da, pb += db, po += 16) {
        const c = i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(pc)));
        v128.store(po, v128.bitselect(load4(pa, sa), load4(pb, sb), i32x4.ne(c, i32x4.splat(0))));
      }
    }
    for (; i < n; i++, pc += <usize>sc, pa += <usize>sa << 2, pb += <usize>sb << 2, po += <usize>so << 2) {
      store<f32>(po, load<u8>(pc) != 0 ? load<f32>(pa) : load<f32>(pb));
    }
    e += n;
  }
}

/** The high two lanes of v moved to the low two. */
@inline function high(v: v128): v128 {
  return i8x16.shuffle(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
}

/** Two lanes of a·b + c in float64 (a float32 product is exact there), as the reference. */
@inline function mulAdd2(a: v128, b: v128, c: v128): v128 {
  return f32x4.demote_f64x2_zero(f64x2.add(f64x2.mul(f64x2.promote_low_f32x4(a), f64x2.promote_low_f32x4(b)), f64x2.promote_low_f32x4(c)));
}

/** [-, -, -, geometry of a, b, c, out]: out = a·b + c, rounded once. */
export function mulAdd(g: usize, scratch: usize, begin: i32, end: i32): void {
  const inner = innerOf(g);
  const sa = stepOf(g, 0);
  const sb = stepOf(g, 1);
  const sc = stepOf(g, 2);
  const so = stepOf(g, 3);
  const dense = so == 1 && (sa == 1 || sa == 0) && (sb == 1 || sb == 0) && (sc == 1 || sc == 0);
  const da: usize = sa == 1 ? 16 : 0;
  const db: usize = sb == 1 ? 16 : 0;
  const dc: usize = sc == 1 ? 16 : 0;
  let e = begin;
  while (e < end) {
    const n = min(inner - e % inner, end - e);
    let pa = addrOf(g, 0, e, 2);
    let pb = addrOf(g, 1, e, 2);
    let pc = addrOf(g, 2, e, 2);
    let po = addrOf(g, 3, e, 2);
    let i = 0;
    if (dense) {
      for (; i + 4 <= n; i += 4, pa += da, pb += db, pc += dc, po += 16) {
        const a = load4(pa, sa), b = load4(pb, sb), c = load4(pc, sc);
        const lo = mulAdd2(a, b, c);
        const hi = mulAdd2(high(a), high(b), high(c));
        v128.store(po, i8x16.shuffle(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23));
      }
    }
    for (; i < n; i++, pa += <usize>sa << 2, pb += <usize>sb << 2, pc += <usize>sc << 2, po += <usize>so << 2) {
      store<f32>(po, <f32>(<f64>load<f32>(pa) * <f64>load<f32>(pb) + <f64>load<f32>(pc)));
    }
    e += n;
  }
}

/** Four lanes of a·b + c, each rounded once (mulAdd2 on both halves). */
@inline function mulAdd4(a: v128, b: v128, c: v128): v128 {
  return i8x16.shuffle(mulAdd2(a, b, c), mulAdd2(high(a), high(b), high(c)), 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
}

/** sgdStep's scalar form of one element (its rounding spelled out in src/backend/backend.ts). */
@inline function sgdOne(pp: usize, pg: usize, pb: usize, flags: i32, alpha: f32, decay: f32, mu: f32, keep: f32): void {
  const w = load<f32>(pp);
  let d: f32 = decay != 0 ? <f32>(<f64>w * <f64>decay + <f64>load<f32>(pg)) : load<f32>(pg);
  if (flags & 4) {
    const v: f32 = flags & 2 ? d : <f32>(<f64>d * <f64>keep + <f64>(load<f32>(pb) * mu));
    store<f32>(pb, v);
    d = flags & 1 ? <f32>(<f64>v * <f64>mu + <f64>d) : v;
  }
  store<f32>(pp, <f32>(<f64>d * <f64>alpha + <f64>w));
}

/**
 * [flags, -, -, geometry of p, grad, buf, then alpha, weightDecay, momentum, 1 - dampening]: SGD's
 * update in place (flags: 1 Nesterov, 2 the buffer's first step, 4 a buffer; without one buf is p).
 */
export function sgdStep(g: usize, scratch: usize, begin: i32, end: i32): void {
  const flags = argi(g, 0);
  const r = argi(g, 3);
  const at = 4 + r + 3 * (1 + r);
  const alpha = <f32>argf(g, at), decay = <f32>argf(g, at + 1), mu = <f32>argf(g, at + 2), keep = <f32>argf(g, at + 3);
  const a4 = f32x4.splat(alpha), decay4 = f32x4.splat(decay), mu4 = f32x4.splat(mu), keep4 = f32x4.splat(keep);
  const inner = innerOf(g);
  const dense = stepOf(g, 0) == 1 && stepOf(g, 1) == 1 && (!(flags & 4) || stepOf(g, 2) == 1);
  const sp = <usize>stepOf(g, 0) << 2, sg = <usize>stepOf(g, 1) << 2, sb = <usize>stepOf(g, 2) << 2;
  let e = begin;
  while (e < end) {
    const n = min(inner - e % inner, end - e);
    let pp = addrOf(g, 0, e, 2);
    let pg = addrOf(g, 1, e, 2);
    let pb = addrOf(g, 2, e, 2);
    let i = 0;
    if (dense) {
      for (; i + 4 <= n; i += 4, pp += 16, pg += 16, pb += 16) {
        const w = v128.load(pp);
        let d = decay != 0 ? mulAdd4(w, decay4, v128.load(pg)) : v128.load(pg);
        if (flags & 4) {
          const v = flags & 2 ? d : mulAdd4(d, keep4, f32x4.mul(v128.load(pb), mu4));
          v128.store(pb, v);
          d = flags & 1 ? mulAdd4(v, mu4, d) : v;
        }
        v128.store(pp, mulAdd4(d, a4, w));
      }
    }
    for (; i < n; i++, pp += sp, pg += sg, pb += sb) sgdOne(pp, pg, pb, flags, alpha, decay, mu, keep);
    e += n;
  }
}

/** adamStep's scalar form of one element (its rounding spelled out in src/backend/backend.ts). */
@inline function adamOne(pp: usize, pg: usize, pm: usize, pv: usize, px: usize, flags: i32, k: usize): void {
  const decay = load<f32>(k), wd = load<f32>(k, 4), b1 = load<f32>(k, 8), b2 = load<f32>(k, 12);
  const k1 = load<f32>(k, 16), k2 = load<f32>(k, 20), c2 = load<f32>(k, 24), eps = load<f32>(k, 28), alpha = load<f32>(k, 32);
  const w: f32 = load<f32>(pp) * decay;
  let g: f32 = flags & 1 ? -load<f32>(pg) : load<f32>(pg);
  if (wd != 0) g = <f32>(<f64>w * <f64>wd + <f64>g);
  const m = <f32>(<f64>g * <f64>k1 + <f64>(load<f32>(pm) * b1));
  const v = <f32>(<f64>(g * g) * <f64>k2 + <f64>(load<f32>(pv) * b2));
  store<f32>(pm, m);
  store<f32>(pv, v);
  let second = v;
  if (flags & 2) {
    second = max<f32>(load<f32>(px), v);
    store<f32>(px, second);
  }
  const denom: f32 = sqrt<f32>(second) / c2 + eps;
  store<f32>(pp, <f32>(<f64>(m / denom) * <f64>alpha + <f64>w));
}

/**
 * [flags, -, -, geometry of p, grad, m, v, vmax, then stepSize, beta1, beta2, eps,
 * correction2Sqrt, weightDecay, decay]: Adam's update in place (flags: 1 maximize, 2 amsgrad;
 * without it vmax is v, unused). The scalars go to the scratch block, rounded to float32 once.
 */
export function adamStep(g: usize, scratch: usize, begin: i32, end: i32): void {
  const flags = argi(g, 0);
  const r = argi(g, 3);
  const at = 4 + r + 5 * (1 + r);
  const stepSize = argf(g, at), beta1 = argf(g, at + 1), beta2 = argf(g, at + 2);
  // [decay, wd, b1, b2, 1-b1, 1-b2, c2, eps, -stepSize] as float32.
  const k = scratch;
  store<f32>(k, <f32>argf(g, at + 6));
  store<f32>(k, <f32>argf(g, at + 5), 4);
  store<f32>(k, <f32>beta1, 8);
  store<f32>(k, <f32>beta2, 12);
  store<f32>(k, <f32>(1 - beta1), 16);
  store<f32>(k, <f32>(1 - beta2), 20);
  store<f32>(k, <f32>argf(g, at + 4), 24);
  store<f32>(k, <f32>argf(g, at + 3), 28);
  store<f32>(k, <f32>-stepSize, 32);
  const decay4 = v128.load32_splat(k), wd4 = v128.load32_splat(k + 4), b1_4 = v128.load32_splat(k + 8), b2_4 = v128.load32_splat(k + 12);
  const k1_4 = v128.load32_splat(k + 16), k2_4 = v128.load32_splat(k + 20), c2_4 = v128.load32_splat(k + 24), eps4 = v128.load32_splat(k + 28), a4 = v128.load32_splat(k + 32);
  const hasDecay = load<f32>(k, 4) != 0;
  const inner = innerOf(g);
  let dense = true;
  for (let v = 0; v < 5; v++) if (stepOf(g, v) != 1 && (v < 4 || (flags & 2) != 0)) dense = false;
  const sp = <usize>stepOf(g, 0) << 2, sg = <usize>stepOf(g, 1) << 2, sm = <usize>stepOf(g, 2) << 2, sv = <usize>stepOf(g, 3) << 2, sx = <usize>stepOf(g, 4) << 2;
  let e = begin;
  while (e < end) {
    const n = min(inner - e % inner, end - e);
    let pp = addrOf(g, 0, e, 2);
    let pg = addrOf(g, 1, e, 2);
    let pm = addrOf(g, 2, e, 2);
    let pv = addrOf(g, 3, e, 2);
    let px = addrOf(g, 4, e, 2);
    let i = 0;
    if (dense) {
      for (; i + 4 <= n; i += 4, pp += 16, pg += 16, pm += 16, pv += 16, px += 16) {
        const w = f32x4.mul(v128.load(pp), decay4);
        let gv = flags & 1 ? f32x4.neg(v128.load(pg)) : v128.load(pg);
        if (hasDecay) gv = mulAdd4(w, wd4, gv);
        const m = mulAdd4(gv, k1_4, f32x4.mul(v128.load(pm), b1_4));
        const v = mulAdd4(f32x4.mul(gv, gv), k2_4, f32x4.mul(v128.load(pv), b2_4));
        v128.store(pm, m);
        v128.store(pv, v);
        let second = v;
        if (flags & 2) {
          second = f32x4.max(v128.load(px), v);
          v128.store(px, second);
        }
        const denom = f32x4.add(f32x4.div(f32x4.sqrt(second), c2_4), eps4);
        v128.store(pp, mulAdd4(f32x4.div(m, denom), a4, w));
      }
    }
    for (; i < n; i++, pp += sp, pg += sg, pm += sm, pv += sv, px += sx) adamOne(pp, pg, pm, pv, px, flags, k);
    e += n;
  }
}

/** [-, log2 of the element size, -, geometry of src, dst]: a bit-for-bit copy. */
export function copy(g: usize, scratch: usize, begin: i32, end: i32): void {
  const shift = argi(g, 1);
  const inner = innerOf(g);
  const ss = stepOf(g, 0);
  const sd = stepOf(g, 1);
  let e = begin;
  while (e < end) {
    const n = min(inner - e % inner, end - e);
    let ps = addrOf(g, 0, e, shift);
    let pd = addrOf(g, 1, e, shift);
    if (ss == 1 && sd == 1) {
      memory.copy(pd, ps, <usize>n << shift);
    } else if (shift == 2) {
      for (let i = 0; i < n; i++, ps += <usize>ss << 2, pd += <usize>sd << 2) store<u32>(pd, load<u32>(ps));
    } else if (shift == 3) {
      for (let i = 0; i < n; i++, ps += <usize>ss << 3, pd += <usize>sd << 3) store<u64>(pd, load<u64>(ps));
    } else {
      for (let i = 0; i < n; i++, ps += <usize>ss, pd += <usize>sd) store<u8>(pd, load<u8>(ps));
    }
    e += n;
  }
}

/** [-, value, -, geometry of dst]: float32 fill. */
export function fill(g: usize, scratch: usize, begin: i32, end: i32): void {
  const value = <f32>argf(g, 1);
  const v = f32x4.splat(value);
  const inner = innerOf(g);
  const sd = stepOf(g, 0);
  let e = begin;
  while (e < end) {
    const n = min(inner - e % inner, end - e);
    let pd = addrOf(g, 0, e, 2);
    let i = 0;
    if (sd == 1) for (; i + 4 <= n; i += 4, pd += 16) v128.store(pd, v);
    for (; i < n; i++, pd += <usize>sd << 2) store<f32>(pd, value);
    e += n;
  }
}

/** [-, address of a contiguous float64 source, -, geometry of dst]: rounds float64 values into float32 dst. */
export function storeF64(g: usize, scratch: usize, begin: i32, end: i32): void {
  const src = <usize>argf(g, 1);
  const inner = innerOf(g);
  const sd = stepOf(g, 0);
  let e = begin;
  while (e < end) {
    const n = min(inner - e % inner, end - e);
    let pd = addrOf(g, 0, e, 2);
    let ps = src + (<usize>e << 3);
    for (let i = 0; i < n; i++, ps += 8, pd += <usize>sd << 2) store<f32>(pd, <f32>load<f64>(ps));
    e += n;
  }
}
