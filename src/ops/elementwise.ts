import { getBackend, type BinaryOp, type UnaryOp, type View } from '../backend/backend.js';
import { installEngineOps } from '../autograd/engine.js';
import { is_grad_enabled, no_grad } from '../autograd/grad_mode.js';
import { ones_like as onesLike, scalar_tensor, zeros_like as zerosLike } from '../tensor/creation.js';
import { isFloatingPoint, promoteWithScalar, resultType, type DType } from '../tensor/dtype.js';
import { AutogradError, DTypeError, ShapeError, StrideError } from '../tensor/errors.js';
import { broadcastShapes, formatShape, sameShape, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { broadcastView, defineOp, emptyLike, installCast, installMethods, requireFloat, type Grads } from './define.js';
import { sumTo } from './reduce.js';

export type Operand = Tensor | number;

// ---------------------------------------------------------------- unary

type UnaryBackward = (gy: Tensor, x: () => Tensor, out: () => Tensor) => Tensor;

interface UnarySpec {
  prim: UnaryOp;
  /** 'float' ops promote integer inputs to float32 (exp of an int tensor is a float, as in PyTorch). */
  kind: 'float' | 'same';
  save: 'inputs' | 'output' | 'none';
  backward: UnaryBackward | 'not differentiable';
}

function unaryOp(name: string, spec: UnarySpec): (x: Tensor) => Tensor {
  const dtype = (x: Tensor): DType => (spec.kind === 'float' && !isFloatingPoint(x.dtype) ? 'float32' : x.dtype);
  const common = {
    name,
    shape: ([x]: [Tensor]) => x.shape,
    dtype: ([x]: [Tensor]) => dtype(x),
    forward: ([x]: [Tensor], _a: object, shape: Shape, dt: DType) => {
      const out = emptyLike(x, shape, dt);
      x.backend.unary(spec.prim, x, out);
      return out;
    },
  };
  const backward = spec.backward;
  const op =
    backward === 'not differentiable'
      ? defineOp<[Tensor], object>({ ...common, backward })
      : defineOp<[Tensor], object>({
          ...common,
          save: spec.save,
          backward: (gy, ctx) => [backward(gy, () => ctx.inputs[0], () => ctx.out)],
        });
  return (x) => op([x], {});
}

const zeroGrad: UnaryBackward = (gy) => zerosLike(gy);

export const neg = unaryOp('neg', { prim: 'neg', kind: 'same', save: 'none', backward: (gy) => neg(gy) });
export const abs = unaryOp('abs', { prim: 'abs', kind: 'same', save: 'inputs', backward: (gy, x) => mul(gy, sign(x())) });
export const sign = unaryOp('sign', { prim: 'sign', kind: 'same', save: 'none', backward: zeroGrad });
export const exp = unaryOp('exp', { prim: 'exp', kind: 'float', save: 'output', backward: (gy, _x, out) => mul(gy, out()) });
export const log = unaryOp('log', { prim: 'log', kind: 'float', save: 'inputs', backward: (gy, x) => div(gy, x()) });
export const log1p = unaryOp('log1p', { prim: 'log1p', kind: 'float', save: 'inputs', backward: (gy, x) => div(gy, add(x(), 1)) });
export const expm1 = unaryOp('expm1', { prim: 'expm1', kind: 'float', save: 'output', backward: (gy, _x, out) => mul(gy, add(out(), 1)) });
export const sqrt = unaryOp('sqrt', { prim: 'sqrt', kind: 'float', save: 'output', backward: (gy, _x, out) => div(gy, mul(out(), 2)) });
export const rsqrt = unaryOp('rsqrt', {
  prim: 'rsqrt', kind: 'float', save: 'output',
  backward: (gy, _x, out) => mul(gy, mul(pow(out(), 3), -0.5)),
});
export const reciprocal = unaryOp('reciprocal', {
  prim: 'reciprocal', kind: 'float', save: 'output',
  backward: (gy, _x, out) => neg(mul(gy, mul(out(), out()))),
});
export const sin = unaryOp('sin', { prim: 'sin', kind: 'float', save: 'inputs', backward: (gy, x) => mul(gy, cos(x())) });
export const cos = unaryOp('cos', { prim: 'cos', kind: 'float', save: 'inputs', backward: (gy, x) => neg(mul(gy, sin(x()))) });
export const tanh = unaryOp('tanh', {
  prim: 'tanh', kind: 'float', save: 'output',
  backward: (gy, _x, out) => mul(gy, rsub(mul(out(), out()), 1)),
});
export const sigmoid = unaryOp('sigmoid', {
  prim: 'sigmoid', kind: 'float', save: 'output',
  backward: (gy, _x, out) => mul(gy, mul(out(), rsub(out(), 1))),
});
export const relu = unaryOp('relu', {
  prim: 'relu', kind: 'same', save: 'output',
  backward: (gy, _x, out) => reluGrad(gy, out()),
});
export const erf = unaryOp('erf', {
  prim: 'erf', kind: 'float', save: 'inputs',
  backward: (gy, x) => mul(gy, mul(exp(neg(mul(x(), x()))), 2 / Math.sqrt(Math.PI))),
});
export const floor = unaryOp('floor', { prim: 'floor', kind: 'same', save: 'none', backward: zeroGrad });
export const ceil = unaryOp('ceil', { prim: 'ceil', kind: 'same', save: 'none', backward: zeroGrad });
export const round = unaryOp('round', { prim: 'round', kind: 'same', save: 'none', backward: zeroGrad });
export const trunc = unaryOp('trunc', { prim: 'trunc', kind: 'same', save: 'none', backward: zeroGrad });
const logicalNot = unaryOp('logical_not', { prim: 'logical_not', kind: 'same', save: 'none', backward: 'not differentiable' });

export function logical_not(x: Tensor): Tensor {
  return to(logicalNot(x), 'bool');
}

export function isnan(x: Tensor): Tensor {
  return ne(x, x);
}

export function isinf(x: Tensor): Tensor {
  return eq(abs(x), Infinity);
}

export function isfinite(x: Tensor): Tensor {
  return logical_not(logical_or(isnan(x), isinf(x)));
}

export function square(x: Tensor): Tensor {
  return mul(x, x);
}

// ---------------------------------------------------------------- binary

/** @internal Turns a JS number operand into a 0-d tensor of the promoted dtype on the other operand's backend. */
export function operands(a: Operand, b: Operand, op: string): [Tensor, Tensor] {
  if (a instanceof Tensor && b instanceof Tensor) return [a, b];
  if (a instanceof Tensor && typeof b === 'number') return [a, scalar_tensor(b, { dtype: promoteWithScalar(a.dtype, b), backend: a.device })];
  if (b instanceof Tensor && typeof a === 'number') return [scalar_tensor(a, { dtype: promoteWithScalar(b.dtype, a), backend: b.device }), b];
  throw new DTypeError(`${op}: expected a tensor and a tensor or number, got ${typeof a} and ${typeof b}`);
}

type BinaryBackward = (gy: Tensor, ctx: { a: () => Tensor; b: () => Tensor; out: () => Tensor }, needs: readonly boolean[]) => [Tensor | null, Tensor | null];

interface BinarySpec {
  prim: BinaryOp;
  /** 'arith' keeps the promoted dtype, 'true_div' lifts integers to float32, 'compare' gives bool. */
  kind: 'arith' | 'true_div' | 'compare';
  save: 'inputs' | 'output' | 'both' | 'none';
  backward: BinaryBackward | 'not differentiable';
}

function binaryOp(name: string, spec: BinarySpec): (a: Operand, b: Operand) => Tensor {
  const dtypeOf = ([a, b]: [Tensor, Tensor]): DType => {
    if (spec.kind === 'compare') return 'bool';
    const t = resultType(a, b);
    return spec.kind === 'true_div' && !isFloatingPoint(t) ? 'float32' : t;
  };
  const common = {
    name,
    shape: ([a, b]: [Tensor, Tensor]) => broadcastShapes(a.shape, b.shape, name),
    dtype: dtypeOf,
    forward: ([a, b]: [Tensor, Tensor], _attrs: object, shape: Shape, dtype: DType) => {
      const out = emptyLike(a, shape, dtype);
      a.backend.binary(spec.prim, broadcastView(a, shape), broadcastView(b, shape), out);
      return out;
    },
  };
  const backward = spec.backward;
  const op =
    backward === 'not differentiable'
      ? defineOp<[Tensor, Tensor], object>({ ...common, backward })
      : defineOp<[Tensor, Tensor], object>({
          ...common,
          save: spec.save,
          backward: (gy, ctx): Grads<[Tensor, Tensor]> => {
            const [ga, gb] = backward(gy, { a: () => ctx.inputs[0], b: () => ctx.inputs[1], out: () => ctx.out }, ctx.needs);
            return [ga && sumTo(ga, ctx.shapes[0]), gb && sumTo(gb, ctx.shapes[1])];
          },
        });
  return (a, b) => op(operands(a, b, name), {});
}

const addOp = binaryOp('add', { prim: 'add', kind: 'arith', save: 'none', backward: (gy) => [gy, gy] });
const subOp = binaryOp('sub', { prim: 'sub', kind: 'arith', save: 'none', backward: (gy, _c, needs) => [gy, needs[1] ? neg(gy) : null] });

/** alpha * b for add/sub's alpha; a number operand stays a number (so it keeps scalar promotion). */
function scaled(b: Operand, alpha: number): Operand {
  if (alpha === 1) return b;
  return typeof b === 'number' ? b * alpha : mul(b, alpha);
}

/** a + alpha * b, broadcasting (torch.add). */
export function add(a: Operand, b: Operand, alpha = 1): Tensor {
  return addOp(a, scaled(b, alpha));
}

/** a - alpha * b (torch.sub). */
export function sub(a: Operand, b: Operand, alpha = 1): Tensor {
  return subOp(a, scaled(b, alpha));
}

/** b - a (PyTorch's rsub: `1 - x` is rsub(x, 1)). */
export function rsub(a: Operand, b: Operand): Tensor {
  return subOp(b, a);
}

export const mul = binaryOp('mul', {
  prim: 'mul', kind: 'arith', save: 'inputs',
  backward: (gy, c, needs) => [needs[0] ? mul(gy, c.b()) : null, needs[1] ? mul(gy, c.a()) : null],
});

export const div = binaryOp('div', {
  prim: 'div', kind: 'true_div', save: 'inputs',
  backward: (gy, c, needs) => [
    needs[0] ? div(gy, c.b()) : null,
    needs[1] ? neg(div(mul(gy, c.a()), mul(c.b(), c.b()))) : null,
  ],
});

export const pow = binaryOp('pow', {
  prim: 'pow', kind: 'arith', save: 'both',
  backward: (gy, c, needs) => {
    const a = c.a();
    const b = c.b();
    // d/da a^b = b a^(b-1); d/db a^b = a^b log a, taken as 0 where a = 0 and b >= 0 (as PyTorch).
    const ga = needs[0] ? where(eq(b, 0), 0, mul(gy, mul(b, pow(a, sub(b, 1))))) : null;
    const gb = needs[1] ? where(logical_and(eq(a, 0), ge(b, 0)), 0, mul(gy, mul(c.out(), log(a)))) : null;
    return [ga, gb];
  },
});

/** PyTorch's maximum/minimum backward: the gradient goes to the larger (smaller) input, split in half on ties. */
function minmaxBackward(pick: (a: Tensor, b: Tensor) => Tensor): BinaryBackward {
  return (gy, c, needs) => {
    const a = c.a();
    const b = c.b();
    const tie = eq(a, b);
    const half = where(tie, mul(gy, 0.5), gy);
    return [needs[0] ? where(pick(b, a), 0, half) : null, needs[1] ? where(pick(a, b), 0, half) : null];
  };
}

export const maximum = binaryOp('maximum', { prim: 'maximum', kind: 'arith', save: 'inputs', backward: minmaxBackward((x, y) => gt(x, y)) });
export const minimum = binaryOp('minimum', { prim: 'minimum', kind: 'arith', save: 'inputs', backward: minmaxBackward((x, y) => lt(x, y)) });

export const atan2 = binaryOp('atan2', {
  prim: 'atan2', kind: 'true_div', save: 'inputs',
  backward: (gy, c, needs) => {
    const a = c.a();
    const b = c.b();
    const r = add(mul(a, a), mul(b, b));
    return [needs[0] ? div(mul(gy, b), r) : null, needs[1] ? div(neg(mul(gy, a)), r) : null];
  },
});

export const remainder = binaryOp('remainder', {
  prim: 'remainder', kind: 'arith', save: 'inputs',
  backward: (gy, c, needs) => [gy, needs[1] ? neg(mul(gy, floor_divide(c.a(), c.b()))) : null],
});

export const floor_divide = binaryOp('floor_divide', { prim: 'floor_divide', kind: 'arith', save: 'none', backward: 'not differentiable' });
export const eq = binaryOp('eq', { prim: 'eq', kind: 'compare', save: 'none', backward: 'not differentiable' });
export const ne = binaryOp('ne', { prim: 'ne', kind: 'compare', save: 'none', backward: 'not differentiable' });
export const lt = binaryOp('lt', { prim: 'lt', kind: 'compare', save: 'none', backward: 'not differentiable' });
export const le = binaryOp('le', { prim: 'le', kind: 'compare', save: 'none', backward: 'not differentiable' });
/**
 * gy where the ReLU's output is positive, else 0, in one pass (PyTorch's threshold_backward). Its
 * own gradient passes through the same mask; the output's is zero (piecewise constant).
 */
const reluGrad: (gy: Tensor, out: Tensor) => Tensor = binaryOp('relu_backward', {
  prim: 'relu_grad', kind: 'arith', save: 'inputs',
  backward: (ggy, c) => [reluGrad(ggy, c.b()), null],
});

export const gt = binaryOp('gt', { prim: 'gt', kind: 'compare', save: 'none', backward: 'not differentiable' });
export const ge = binaryOp('ge', { prim: 'ge', kind: 'compare', save: 'none', backward: 'not differentiable' });
export const logical_and = binaryOp('logical_and', { prim: 'logical_and', kind: 'compare', save: 'none', backward: 'not differentiable' });
export const logical_or = binaryOp('logical_or', { prim: 'logical_or', kind: 'compare', save: 'none', backward: 'not differentiable' });
export const logical_xor = binaryOp('logical_xor', { prim: 'logical_xor', kind: 'compare', save: 'none', backward: 'not differentiable' });

// ---------------------------------------------------------------- where, clamp, casts

const whereOp = defineOp<[Tensor, Tensor, Tensor], object>({
  name: 'where',
  shape: ([c, a, b]) => {
    if (c.dtype !== 'bool') throw new DTypeError(`where: condition must be a bool tensor, got ${c.dtype}`);
    return broadcastShapes(broadcastShapes(c.shape, a.shape, 'where'), b.shape, 'where');
  },
  dtype: ([, a, b]) => resultType(a, b),
  forward: ([c, a, b], _attrs, shape, dtype) => {
    const out = emptyLike(a, shape, dtype);
    a.backend.where(broadcastView(c, shape), broadcastView(a, shape), broadcastView(b, shape), out);
    return out;
  },
  save: 'inputs',
  backward: (gy, ctx) => {
    const c = ctx.inputs[0];
    return [
      null,
      ctx.needs[1] ? sumTo(where(c, gy, 0), ctx.shapes[1]) : null,
      ctx.needs[2] ? sumTo(where(c, 0, gy), ctx.shapes[2]) : null,
    ];
  },
});

/** Elementwise cond ? a : b with broadcasting (torch.where). */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  if (!(a instanceof Tensor) && !(b instanceof Tensor)) a = scalar_tensor(a, { backend: cond.device });
  const [ta, tb] = operands(a, b, 'where');
  return whereOp([cond, ta, tb], {});
}

/** input + t1·t2, one pass (the backend's mulAdd); the float inputs broadcast together. */
const addcmulOp = defineOp<[Tensor, Tensor, Tensor], object>({
  name: 'addcmul',
  shape: ([x, a, b]) => {
    for (const t of [x, a, b]) requireFloat(t, 'addcmul');
    return broadcastShapes(broadcastShapes(x.shape, a.shape, 'addcmul'), b.shape, 'addcmul');
  },
  dtype: ([x, a, b]) => resultType({ dtype: resultType(x, a), ndim: Math.max(x.ndim, a.ndim) }, b),
  forward: ([x, a, b], _attrs, shape, dtype) => {
    const out = emptyLike(x, shape, dtype);
    x.backend.mulAdd(broadcastView(a, shape), broadcastView(b, shape), broadcastView(x, shape), out);
    return out;
  },
  save: 'inputs',
  backward: (gy, ctx) => [
    ctx.needs[0] ? sumTo(gy, ctx.shapes[0]) : null,
    ctx.needs[1] ? sumTo(mul(gy, ctx.inputs[2]), ctx.shapes[1]) : null,
    ctx.needs[2] ? sumTo(mul(gy, ctx.inputs[1]), ctx.shapes[2]) : null,
  ],
});

/** input + value·t1·t2 with broadcasting, in one pass when value is 1 (torch.addcmul). */
export function addcmul(input: Tensor, t1: Tensor, t2: Operand, value = 1): Tensor {
  const [a, b] = operands(t1, t2, 'addcmul');
  return addcmulOp([input, a, value === 1 ? b : mul(b, value)], {});
}

interface ClampAttrs { min: number | null; max: number | null }

const clampOp = defineOp<[Tensor], ClampAttrs>({
  name: 'clamp',
  shape: ([x], { min, max }) => {
    if (min === null && max === null) throw new ShapeError('clamp: at least one of min and max must be given');
    return x.shape;
  },
  // Bounds promote like scalar operands: clamp(int tensor, 0.5) is float32, as in PyTorch.
  dtype: ([x], { min, max }) => [min, max].reduce<DType>((d, b) => (b === null ? d : promoteWithScalar(d, b)), x.dtype),
  forward: ([x], { min, max }, shape, dtype) => {
    const out = emptyLike(x, shape, dtype);
    x.backend.copy(x, out);
    for (const [bound, prim] of [[min, 'maximum'], [max, 'minimum']] as const) {
      if (bound === null) continue;
      const s = scalar_tensor(bound, { dtype, backend: x.device });
      x.backend.binary(prim, out, broadcastView(s, shape), out);
    }
    return out;
  },
  save: 'inputs',
  // PyTorch passes the gradient where min <= x <= max, bounds included.
  backward: (gy, { inputs: [x], attrs: { min, max } }) => {
    let mask: Tensor | null = null;
    if (min !== null) mask = ge(x, min);
    if (max !== null) mask = mask ? logical_and(mask, le(x, max)) : le(x, max);
    return [where(mask!, gy, 0)];
  },
});

/** Limits values to [min, max] (either may be null/undefined). */
export function clamp(x: Tensor, min?: number | null, max?: number | null): Tensor {
  return clampOp([x], { min: min ?? null, max: max ?? null });
}

const castOp = defineOp<[Tensor], { dtype: DType }>({
  name: 'to',
  shape: ([x]) => x.shape,
  dtype: (_inputs, { dtype }) => dtype,
  forward: ([x], _a, shape, dtype) => {
    const out = emptyLike(x, shape, dtype);
    x.backend.copy(x, out);
    return out;
  },
  save: 'none',
  // applyOp converts each gradient back to its input's dtype.
  backward: (gy) => [gy],
});

/**
 * A copy converted to `dtype`, or the tensor itself when it already has it (torch's .to(dtype)).
 * A cast to an integer or bool type is not differentiable, so it records nothing (as in PyTorch).
 */
export function to(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  return isFloatingPoint(dtype) ? castOp([x], { dtype }) : no_grad(() => castOp([x], { dtype }));
}

const toBackendOp = defineOp<[Tensor], { backend: string; source: string }>({
  name: 'to_backend',
  shape: ([x]) => x.shape,
  forward: ([x], { backend }, shape, dtype) => {
    const out = Tensor.empty(shape, dtype, getBackend(backend));
    out.backend.write(out.buffer, dtype, 0, x.dataSync());
    return out;
  },
  save: 'none',
  backward: (gy, { attrs }) => [toBackend(gy, attrs.source)],
});

/** @internal A copy on another backend (PyTorch's .to(device)); gradients flow back across. */
export function toBackend(x: Tensor, backend: string): Tensor {
  return x.device === getBackend(backend).name ? x : toBackendOp([x], { backend, source: x.device });
}

installCast(to);
installEngineOps({ add: (a, b) => add(a, b), ones_like: (t) => onesLike(t) });

// ---------------------------------------------------------------- in place

/** Refuses in-place writes that would corrupt autograd, and bumps the storage version. */
function inPlace(t: Tensor, name: string, write: () => void): Tensor {
  t.assertAlive();
  if (is_grad_enabled() && t.requires_grad) {
    throw new AutogradError(
      `${name}: a tensor that requires grad${t.is_leaf ? ' (a leaf)' : ''} cannot be modified in place while autograd records; wrap the update in no_grad() or use the out-of-place form`,
    );
  }
  if (t.strides.some((s, d) => s === 0 && t.shape[d]! > 1)) {
    throw new ShapeError(`${name}: cannot write in place into an expanded tensor (shape ${formatShape(t.shape)}, strides [${t.strides.join(', ')}]); clone it first`);
  }
  write();
  t.storage.version++;
  return t;
}

/** Whether view v reads memory that t, written in place, also covers in another layout. */
function overlapsElsewhere(t: Tensor, v: View): boolean {
  if (v.buffer !== t.buffer || t.numel() === 0) return false;
  if (v.offset === t.offset && v.strides.every((s, d) => s === t.strides[d] || t.shape[d] === 1)) return false;
  // Strides are never negative here, so each view spans [offset, offset + Σ (size - 1) stride].
  const end = (x: View) => x.shape.reduce((e, n, d) => e + (n - 1) * x.strides[d]!, x.offset);
  return t.offset <= end(v) && v.offset <= end(t);
}

/**
 * Runs `use` on o broadcast to t's shape, for an op writing t in place. When o shares memory with
 * t in another layout (x.add_(x.t()), y[1:].copy_(y[:-1])), writes to t would change elements of
 * o still to be read, so o is copied first. An operand that requires grad is refused: in-place ops
 * record no graph, so its gradient would be lost without a word.
 */
function withOperand(t: Tensor, o: Tensor, name: string, use: (v: View) => void): void {
  if (is_grad_enabled() && o.requires_grad) {
    throw new AutogradError(`${name}: the operand requires grad, but in-place ops record no graph; use the out-of-place form, or detach() the operand`);
  }
  const v = broadcastView(o, t.shape);
  if (!overlapsElsewhere(t, v)) return use(v);
  const copy = Tensor.empty(t.shape, o.dtype, o.backend);
  try {
    copy.backend.copy(v, copy);
    use(copy);
  } finally {
    copy.dispose();
  }
}

function binaryInPlace(name: string, prim: BinaryOp) {
  return (t: Tensor, other: Operand, alpha = 1): Tensor =>
    inPlace(t, name, () => {
      // t ± α·other in one pass (an optimizer's p.add_(v, -lr)), without the scaled copy, rounded
      // once as PyTorch's fused multiply-add does.
      const fused = alpha !== 1 && other instanceof Tensor && isFloatingPoint(t.dtype) && isFloatingPoint(other.dtype);
      const [, o] = fused ? [t, other] : operands(t, scaled(other, alpha), name);
      if (!isFloatingPoint(t.dtype) && isFloatingPoint(o.dtype)) {
        throw new DTypeError(`${name}: result type ${o.dtype} can't be cast to the desired output type ${t.dtype}`);
      }
      const shape = broadcastShapes(t.shape, o.shape, name);
      if (!sameShape(shape, t.shape)) {
        throw new ShapeError(`${name}: output with shape ${formatShape(t.shape)} doesn't match the broadcast shape ${formatShape(shape)}`);
      }
      if (!fused) return withOperand(t, o, name, (v) => t.backend.binary(prim, t, v, t));
      const factor = scalar_tensor(prim === 'sub' ? -alpha : alpha, { dtype: t.dtype, backend: t.device });
      try {
        withOperand(t, o, name, (v) => t.backend.mulAdd(v, broadcastView(factor, t.shape), t, t));
      } finally {
        factor.dispose();
      }
    });
}

/** t + value·t1·t2 in place, one pass (Tensor.addcmul_). */
export function addcmul_(t: Tensor, t1: Tensor, t2: Operand, value = 1): Tensor {
  return inPlace(t, 'addcmul_', () => {
    requireFloat(t, 'addcmul_');
    const made: Tensor[] = [];
    try {
      const [a, b0] = operands(t1, t2, 'addcmul_');
      if (b0 !== t2) made.push(b0);
      const b = value === 1 ? b0 : mul(b0, value);
      if (b !== b0) made.push(b);
      const shape = broadcastShapes(broadcastShapes(t.shape, a.shape, 'addcmul_'), b.shape, 'addcmul_');
      if (!sameShape(shape, t.shape)) {
        throw new ShapeError(`addcmul_: output with shape ${formatShape(t.shape)} doesn't match the broadcast shape ${formatShape(shape)}`);
      }
      withOperand(t, a, 'addcmul_', (va) => withOperand(t, b, 'addcmul_', (vb) => t.backend.mulAdd(va, vb, t, t)));
    } finally {
      for (const m of made) m.dispose();
    }
  });
}

/** The options of sgd_step_ (torch.optim.SGD's): the learning rate and the rest. */
export interface SgdStepOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weight_decay?: number;
  nesterov?: boolean;
  maximize?: boolean;
}

/**
 * One SGD step on p in place, given its gradient and, with momentum, its momentum buffer (also
 * updated in place; `first` makes it take the step's direction as it is): PyTorch's update,
 * v = μv + (1-τ)(g + λp), p -= lr·v (or lr·(g + λp + μv) with Nesterov's), in one pass over the
 * three tensors instead of three to five elementwise ops (with those, a LeNet-5 training step spent
 * a twelfth of its time in the optimizer). Each quantity is rounded to the dtype as its own op
 * would round it.
 */
export function sgd_step_(p: Tensor, grad: Tensor, momentum_buffer: Tensor | null, opts: SgdStepOptions, first = false): Tensor {
  const { lr, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false, maximize = false } = opts;
  checkUpdate('sgd_step_', momentum_buffer ? [p, grad, momentum_buffer] : [p, grad], ['parameter', 'gradient', 'momentum buffer']);
  if (momentum === 0 && momentum_buffer) throw new StrideError('sgd_step_: a momentum buffer was given without a momentum');
  if (momentum !== 0 && !momentum_buffer) throw new StrideError(`sgd_step_: momentum ${momentum} needs a momentum buffer`);
  const step = { alpha: maximize ? lr : -lr, weightDecay: weight_decay, momentum, dampening, nesterov, first };
  return inPlace(p, 'sgd_step_', () => {
    if (momentum_buffer) inPlace(momentum_buffer, 'sgd_step_', () => p.backend.sgdStep(p, grad, momentum_buffer, step));
    else p.backend.sgdStep(p, grad, null, step);
  });
}

/** The options of adam_step_ (torch.optim.Adam's; decoupled_weight_decay makes it AdamW's). */
export interface AdamStepOptions {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weight_decay?: number;
  maximize?: boolean;
  decoupled_weight_decay?: boolean;
}

/**
 * Step t (from 1) of Adam on p in place, with its moment estimates exp_avg and exp_avg_sq and,
 * for AMSGrad, the running maximum of the latter (all updated in place): PyTorch's update, with
 * L2 weight decay added to the gradient, or (decoupled) p scaled by 1 - lr·λ first, as AdamW. One
 * pass over the tensors instead of about ten elementwise ops (a LeNet-5 step spent 0.55 ms in
 * them, against 76 us for SGD). Rounded as sgd_step_.
 */
export function adam_step_(
  p: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, max_exp_avg_sq: Tensor | null, step: number, opts: AdamStepOptions,
): Tensor {
  const { lr, betas: [beta1, beta2], eps, weight_decay = 0, maximize = false, decoupled_weight_decay = false } = opts;
  if (!Number.isInteger(step) || step < 1) throw new StrideError(`adam_step_: the step count must be an integer >= 1, got ${step}`);
  const tensors = [p, grad, exp_avg, exp_avg_sq, ...(max_exp_avg_sq ? [max_exp_avg_sq] : [])];
  checkUpdate('adam_step_', tensors, ['parameter', 'gradient', 'exp_avg', 'exp_avg_sq', 'max_exp_avg_sq']);
  const s = {
    stepSize: lr / (1 - beta1 ** step), beta1, beta2, eps, correction2Sqrt: Math.sqrt(1 - beta2 ** step),
    weightDecay: decoupled_weight_decay ? 0 : weight_decay, decay: decoupled_weight_decay ? 1 - lr * weight_decay : 1, maximize,
  };
  const run = () => p.backend.adamStep(p, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, s);
  const states = tensors.slice(2);
  // Each state tensor written is checked and versioned as any in-place write.
  const write = states.reduceRight<() => void>((inner, t) => () => void inPlace(t, 'adam_step_', inner), run);
  return inPlace(p, 'adam_step_', write);
}

/** An optimizer update's operands: live float tensors of the parameter's dtype, backend and shape, no two sharing memory. */
function checkUpdate(name: string, tensors: readonly Tensor[], names: readonly string[]): void {
  const p = tensors[0]!;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i]!;
    t.assertAlive();
    requireFloat(t, `${name}: the ${names[i]}`);
    if (t.dtype !== p.dtype) throw new DTypeError(`${name}: the ${names[i]} is ${t.dtype}, the parameter ${p.dtype}`);
    if (t.device !== p.device) throw new StrideError(`${name}: expected all tensors on one backend, got ${tensors.map((x) => x.device).join(' and ')}`);
    if (!sameShape(t.shape, p.shape)) throw new ShapeError(`${name}: the ${names[i]} has shape ${formatShape(t.shape)}, the parameter ${formatShape(p.shape)}`);
    for (let j = 0; j < i; j++) {
      if (tensors[j]!.buffer === t.buffer) throw new StrideError(`${name}: the ${names[j]} and the ${names[i]} share memory`);
    }
  }
  if (is_grad_enabled() && tensors[1]!.requires_grad) {
    throw new AutogradError(`${name}: the gradient requires grad, but in-place ops record no graph; detach() it or run under no_grad()`);
  }
}

export const add_ = binaryInPlace('add_', 'add');
export const sub_ = binaryInPlace('sub_', 'sub');
export const mul_ = binaryInPlace('mul_', 'mul');
export const div_ = binaryInPlace('div_', 'div');

export function fill_(t: Tensor, value: number): Tensor {
  return inPlace(t, 'fill_', () => t.backend.fill(t, value));
}

export function zero_(t: Tensor): Tensor {
  return inPlace(t, 'zero_', () => t.backend.fill(t, 0));
}

/** Copies src (broadcast to t's shape, converted to t's dtype) into t. */
export function copy_(t: Tensor, src: Tensor): Tensor {
  return inPlace(t, 'copy_', () => {
    if (src.backend !== t.backend) src = src.to(t.device);
    const shape = broadcastShapes(t.shape, src.shape, 'copy_');
    if (!sameShape(shape, t.shape)) {
      throw new ShapeError(`copy_: source of shape ${formatShape(src.shape)} cannot be broadcast to ${formatShape(t.shape)}`);
    }
    withOperand(t, src, 'copy_', (v) => t.backend.copy(v, t));
  });
}

export function clamp_(t: Tensor, min?: number | null, max?: number | null): Tensor {
  requireFloat(t, 'clamp_');
  return inPlace(t, 'clamp_', () => {
    const c = clampOp([t], { min: min ?? null, max: max ?? null });
    t.backend.copy(c, t);
  });
}

// ---------------------------------------------------------------- methods

declare module '../tensor/tensor.js' {
  interface Tensor {
    neg(): Tensor; abs(): Tensor; sign(): Tensor; exp(): Tensor; log(): Tensor; log1p(): Tensor;
    expm1(): Tensor; sqrt(): Tensor; rsqrt(): Tensor; reciprocal(): Tensor; sin(): Tensor; cos(): Tensor;
    tanh(): Tensor; sigmoid(): Tensor; relu(): Tensor; erf(): Tensor; floor(): Tensor; ceil(): Tensor;
    round(): Tensor; trunc(): Tensor; logical_not(): Tensor; square(): Tensor;
    isnan(): Tensor; isinf(): Tensor; isfinite(): Tensor;
    add(other: Operand, alpha?: number): Tensor; sub(other: Operand, alpha?: number): Tensor;
    mul(other: Operand): Tensor; div(other: Operand): Tensor; pow(exponent: Operand): Tensor;
    maximum(other: Operand): Tensor; minimum(other: Operand): Tensor; atan2(other: Operand): Tensor;
    remainder(other: Operand): Tensor; floor_divide(other: Operand): Tensor;
    eq(other: Operand): Tensor; ne(other: Operand): Tensor; lt(other: Operand): Tensor; le(other: Operand): Tensor;
    gt(other: Operand): Tensor; ge(other: Operand): Tensor;
    logical_and(other: Operand): Tensor; logical_or(other: Operand): Tensor; logical_xor(other: Operand): Tensor;
    where(cond: Tensor, other: Operand): Tensor;
    clamp(min?: number | null, max?: number | null): Tensor;
    /** Converts to a dtype, or copies to another backend when given a backend name. */
    to(target: DType | string): Tensor;
    float(): Tensor; double(): Tensor; int(): Tensor; bool(): Tensor;
    addcmul(t1: Tensor, t2: Operand, value?: number): Tensor; addcmul_(t1: Tensor, t2: Operand, value?: number): Tensor;
    add_(other: Operand, alpha?: number): Tensor; sub_(other: Operand, alpha?: number): Tensor;
    mul_(other: Operand): Tensor; div_(other: Operand): Tensor; fill_(value: number): Tensor; zero_(): Tensor;
    copy_(src: Tensor): Tensor; clamp_(min?: number | null, max?: number | null): Tensor;
  }
}

const DTYPE_NAMES = new Set<string>(['float32', 'float64', 'int32', 'uint8', 'bool']);

installMethods({
  neg(this: Tensor) { return neg(this); }, abs(this: Tensor) { return abs(this); }, sign(this: Tensor) { return sign(this); },
  exp(this: Tensor) { return exp(this); }, log(this: Tensor) { return log(this); }, log1p(this: Tensor) { return log1p(this); },
  expm1(this: Tensor) { return expm1(this); }, sqrt(this: Tensor) { return sqrt(this); }, rsqrt(this: Tensor) { return rsqrt(this); },
  reciprocal(this: Tensor) { return reciprocal(this); }, sin(this: Tensor) { return sin(this); }, cos(this: Tensor) { return cos(this); },
  tanh(this: Tensor) { return tanh(this); }, sigmoid(this: Tensor) { return sigmoid(this); }, relu(this: Tensor) { return relu(this); },
  erf(this: Tensor) { return erf(this); }, floor(this: Tensor) { return floor(this); }, ceil(this: Tensor) { return ceil(this); },
  round(this: Tensor) { return round(this); }, trunc(this: Tensor) { return trunc(this); },
  logical_not(this: Tensor) { return logical_not(this); }, square(this: Tensor) { return square(this); },
  isnan(this: Tensor) { return isnan(this); }, isinf(this: Tensor) { return isinf(this); }, isfinite(this: Tensor) { return isfinite(this); },
  add(this: Tensor, o: Operand, alpha?: number) { return add(this, o, alpha); },
  sub(this: Tensor, o: Operand, alpha?: number) { return sub(this, o, alpha); },
  mul(this: Tensor, o: Operand) { return mul(this, o); }, div(this: Tensor, o: Operand) { return div(this, o); },
  pow(this: Tensor, o: Operand) { return pow(this, o); }, maximum(this: Tensor, o: Operand) { return maximum(this, o); },
  minimum(this: Tensor, o: Operand) { return minimum(this, o); }, atan2(this: Tensor, o: Operand) { return atan2(this, o); },
  remainder(this: Tensor, o: Operand) { return remainder(this, o); }, floor_divide(this: Tensor, o: Operand) { return floor_divide(this, o); },
  eq(this: Tensor, o: Operand) { return eq(this, o); }, ne(this: Tensor, o: Operand) { return ne(this, o); },
  lt(this: Tensor, o: Operand) { return lt(this, o); }, le(this: Tensor, o: Operand) { return le(this, o); },
  gt(this: Tensor, o: Operand) { return gt(this, o); }, ge(this: Tensor, o: Operand) { return ge(this, o); },
  logical_and(this: Tensor, o: Operand) { return logical_and(this, o); }, logical_or(this: Tensor, o: Operand) { return logical_or(this, o); },
  logical_xor(this: Tensor, o: Operand) { return logical_xor(this, o); },
  where(this: Tensor, cond: Tensor, other: Operand) { return where(cond, this, other); },
  clamp(this: Tensor, min?: number | null, max?: number | null) { return clamp(this, min, max); },
  to(this: Tensor, target: string) { return DTYPE_NAMES.has(target) ? to(this, target as DType) : toBackend(this, target); },
  float(this: Tensor) { return to(this, 'float32'); }, double(this: Tensor) { return to(this, 'float64'); },
  int(this: Tensor) { return to(this, 'int32'); }, bool(this: Tensor) { return to(this, 'bool'); },
  addcmul(this: Tensor, t1: Tensor, t2: Operand, value?: number) { return addcmul(this, t1, t2, value); },
  addcmul_(this: Tensor, t1: Tensor, t2: Operand, value?: number) { return addcmul_(this, t1, t2, value); },
  add_(this: Tensor, o: Operand, alpha?: number) { return add_(this, o, alpha); },
  sub_(this: Tensor, o: Operand, alpha?: number) { return sub_(this, o, alpha); },
  mul_(this: Tensor, o: Operand) { return mul_(this, o); }, div_(this: Tensor, o: Operand) { return div_(this, o); },
  fill_(this: Tensor, v: number) { return fill_(this, v); }, zero_(this: Tensor) { return zero_(this); },
  copy_(this: Tensor, src: Tensor) { return copy_(this, src); },
  clamp_(this: Tensor, min?: number | null, max?: number | null) { return clamp_(this, min, max); },
});
