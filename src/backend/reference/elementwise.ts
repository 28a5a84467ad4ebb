import type { AdamStep, BinaryOp, SgdStep, UnaryOp, View } from '../backend.js';
import { isIntegral } from '../../tensor/dtype.js';
import { DTypeError, StrideError } from '../../tensor/errors.js';
import { buf, forEachRow } from './strided.js';

/** erf by its everywhere-convergent series erf(x) = 2/√π e^{-x²} Σ 2ⁿx^{2n+1}/(2n+1)!!, whose terms are all positive (no cancellation). */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax >= 6) return Math.sign(x);
  const x2 = ax * ax;
  let term = ax;
  let sum = ax;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  // Rounding can put the product a few ulps above 1 near |x| = 6, where erf is 1 to float64 precision.
  return Math.sign(x) * Math.min(1, (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum);
}

/** Round half to even, as torch.round. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const UNARY: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  abs: Math.abs,
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0), // PyTorch: (0 < x) - (x < 0), so 0 for -0 and NaN
  exp: Math.exp,
  log: Math.log,
  log1p: Math.log1p,
  expm1: Math.expm1,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  reciprocal: (x) => 1 / x,
  sin: Math.sin,
  cos: Math.cos,
  tanh: Math.tanh,
  sigmoid: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
  relu: (x) => (x <= 0 ? 0 : x),
  floor: Math.floor,
  ceil: Math.ceil,
  round: roundHalfEven,
  trunc: Math.trunc,
  erf,
  logical_not: (x) => (x === 0 ? 1 : 0),
};

/** Python-style modulo: the result has the sign of the divisor. */
function remainder(a: number, b: number): number {
  const r = a % b;
  return r !== 0 && r < 0 !== b < 0 ? r + b : r;
}

const BINARY: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: Math.pow,
  maximum: Math.max,
  minimum: Math.min,
  remainder,
  floor_divide: (a, b) => Math.floor(a / b),
  atan2: Math.atan2,
  eq: (a, b) => (a === b ? 1 : 0),
  ne: (a, b) => (a !== b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
  logical_and: (a, b) => (a !== 0 && b !== 0 ? 1 : 0),
  logical_or: (a, b) => (a !== 0 || b !== 0 ? 1 : 0),
  logical_xor: (a, b) => ((a !== 0) !== (b !== 0) ? 1 : 0),
  relu_grad: (a, b) => (b <= 0 ? 0 : a),
};

/** Typed arrays convert on store, except that bool must become 0/1, not truncate. */
const toBool = (v: number): number => (v !== 0 ? 1 : 0);

export function copy(src: View, dst: View): void {
  const s = buf(src);
  const d = buf(dst);
  const bool = dst.dtype === 'bool' && src.dtype !== 'bool';
  forEachRow(dst.shape, [src, dst], (offs, n, steps) => {
    let si = offs[0]!;
    let di = offs[1]!;
    const ss = steps[0]!;
    const ds = steps[1]!;
    if (bool) for (let i = 0; i < n; i++, si += ss, di += ds) d[di] = toBool(s[si]!);
    else if (ss === 1 && ds === 1 && s.constructor === d.constructor) d.set(s.subarray(si, si + n), di);
    else for (let i = 0; i < n; i++, si += ss, di += ds) d[di] = s[si]!;
  });
}

export function fill(dst: View, value: number): void {
  const d = buf(dst);
  const v = dst.dtype === 'bool' ? toBool(value) : value;
  forEachRow(dst.shape, [dst], (offs, n, steps) => {
    let di = offs[0]!;
    const ds = steps[0]!;
    if (ds === 1) d.fill(v, di, di + n);
    else for (let i = 0; i < n; i++, di += ds) d[di] = v;
  });
}

export function unary(op: UnaryOp, x: View, out: View): void {
  const f = UNARY[op];
  const xs = buf(x);
  const o = buf(out);
  const bool = out.dtype === 'bool';
  forEachRow(out.shape, [x, out], (offs, n, steps) => {
    let xi = offs[0]!;
    let oi = offs[1]!;
    const sx = steps[0]!;
    const so = steps[1]!;
    if (bool) for (let i = 0; i < n; i++, xi += sx, oi += so) o[oi] = toBool(f(xs[xi]!));
    else for (let i = 0; i < n; i++, xi += sx, oi += so) o[oi] = f(xs[xi]!);
  });
}

/** Integer results PyTorch refuses rather than wrap or truncate: the divisor or exponent is checked. */
function integerGuard(op: BinaryOp): ((b: number) => void) | null {
  if (op === 'floor_divide' || op === 'remainder') {
    return (b) => {
      if (b === 0) throw new StrideError(`${op}: integer division by zero`);
    };
  }
  if (op === 'pow') {
    return (b) => {
      if (b < 0) throw new DTypeError(`pow: integers to negative integer powers are not allowed (exponent ${b}); use a floating point base`);
    };
  }
  return null;
}

export function binary(op: BinaryOp, a: View, b: View, out: View): void {
  const guard = isIntegral(out.dtype) ? integerGuard(op) : null;
  if (guard) {
    const bv = buf(b);
    // Checked before anything is written, so a refused in-place op leaves its output untouched.
    forEachRow(out.shape, [b], (offs, n, steps) => {
      for (let i = 0, bi = offs[0]!; i < n; i++, bi += steps[0]!) guard(bv[bi]!);
    });
  }
  const f = BINARY[op];
  const as = buf(a);
  const bs = buf(b);
  const o = buf(out);
  const bool = out.dtype === 'bool';
  forEachRow(out.shape, [a, b, out], (offs, n, steps) => {
    let ai = offs[0]!;
    let bi = offs[1]!;
    let oi = offs[2]!;
    const sa = steps[0]!;
    const sb = steps[1]!;
    const so = steps[2]!;
    if (bool) for (let i = 0; i < n; i++, ai += sa, bi += sb, oi += so) o[oi] = toBool(f(as[ai]!, bs[bi]!));
    else for (let i = 0; i < n; i++, ai += sa, bi += sb, oi += so) o[oi] = f(as[ai]!, bs[bi]!);
  });
}

export function where(cond: View, a: View, b: View, out: View): void {
  const c = buf(cond);
  const as = buf(a);
  const bs = buf(b);
  const o = buf(out);
  forEachRow(out.shape, [cond, a, b, out], (offs, n, steps) => {
    let ci = offs[0]!;
    let ai = offs[1]!;
    let bi = offs[2]!;
    let oi = offs[3]!;
    const [sc, sa, sb, so] = steps as [number, number, number, number];
    for (let i = 0; i < n; i++, ci += sc, ai += sa, bi += sb, oi += so) o[oi] = c[ci] !== 0 ? as[ai]! : bs[bi]!;
  });
}

export function mulAdd(a: View, b: View, c: View, out: View): void {
  const as = buf(a);
  const bs = buf(b);
  const cs = buf(c);
  const o = buf(out);
  forEachRow(out.shape, [a, b, c, out], (offs, n, steps) => {
    let ai = offs[0]!;
    let bi = offs[1]!;
    let ci = offs[2]!;
    let oi = offs[3]!;
    const [sa, sb, sc, so] = steps as [number, number, number, number];
    for (let i = 0; i < n; i++, ai += sa, bi += sb, ci += sc, oi += so) o[oi] = as[ai]! * bs[bi]! + cs[ci]!;
  });
}

const same = (x: number): number => x;

/** SGD's update as SgdStep spells it, element by element; r rounds each quantity to the dtype. */
export function sgdStep(p: View, grad: View, momentumBuffer: View | null, s: SgdStep): void {
  const r = p.dtype === 'float32' ? Math.fround : same;
  const [alpha, decay, mu, keep] = [r(s.alpha), r(s.weightDecay), r(s.momentum), r(1 - s.dampening)];
  const ps = buf(p);
  const gs = buf(grad);
  const bs = momentumBuffer ? buf(momentumBuffer) : null;
  forEachRow(p.shape, momentumBuffer ? [p, grad, momentumBuffer] : [p, grad], (offs, n, steps) => {
    let pi = offs[0]!;
    let gi = offs[1]!;
    let bi = offs[2] ?? 0;
    const [sp, sg, sb = 0] = steps as [number, number, number?];
    for (let i = 0; i < n; i++, pi += sp, gi += sg, bi += sb) {
      const w = ps[pi]!;
      let d = decay !== 0 ? r(w * decay + gs[gi]!) : gs[gi]!;
      if (bs) {
        const b = s.first ? d : r(d * keep + r(bs[bi]! * mu));
        bs[bi] = b;
        d = s.nesterov ? r(b * mu + d) : b;
      }
      ps[pi] = r(d * alpha + w);
    }
  });
}

/** Adam's update as AdamStep spells it, element by element; r rounds each quantity to the dtype. */
export function adamStep(p: View, grad: View, m: View, v: View, vmax: View | null, s: AdamStep): void {
  const r = p.dtype === 'float32' ? Math.fround : same;
  const [decay, wd, b1, b2, k1, k2] = [r(s.decay), r(s.weightDecay), r(s.beta1), r(s.beta2), r(1 - s.beta1), r(1 - s.beta2)];
  const [c2, eps, alpha] = [r(s.correction2Sqrt), r(s.eps), r(-s.stepSize)];
  const [ps, gs, ms, vs] = [buf(p), buf(grad), buf(m), buf(v)];
  const xs = vmax ? buf(vmax) : null;
  forEachRow(p.shape, vmax ? [p, grad, m, v, vmax] : [p, grad, m, v], (offs, n, steps) => {
    let [pi, gi, mi, vi, xi = 0] = offs as [number, number, number, number, number?];
    const [sp, sg, sm, sv, sx = 0] = steps as [number, number, number, number, number?];
    for (let i = 0; i < n; i++, pi += sp, gi += sg, mi += sm, vi += sv, xi += sx) {
      const w = decay !== 1 ? r(ps[pi]! * decay) : ps[pi]!;
      let g = s.maximize ? -gs[gi]! : gs[gi]!;
      if (wd !== 0) g = r(w * wd + g);
      const mNew = r(g * k1 + r(ms[mi]! * b1));
      const vNew = r(r(g * g) * k2 + r(vs[vi]! * b2));
      ms[mi] = mNew;
      vs[vi] = vNew;
      let second = vNew;
      if (xs) {
        const old = xs[xi]!;
        // Math.max: NaN if either is, and +0 above -0 (torch.maximum).
        second = Math.max(old, vNew);
        xs[xi] = second;
      }
      const denom = r(r(r(Math.sqrt(second)) / c2) + eps);
      ps[pi] = r(r(mNew / denom) * alpha + w);
    }
  });
}
