import { getBackend, type Backend } from '../backend/backend.js';
import { castScalar, dtypeOfArray, isFloatingPoint, type DType, type TypedArray } from './dtype.js';
import { DTypeError, ShapeError, StrideError } from './errors.js';
import { default_generator, type Generator } from './random.js';
import { checkShape, formatShape, numel, type Shape } from './shape.js';
import { Tensor, type NestedArray } from './tensor.js';

export interface CreationOptions {
  dtype?: DType;
  /** Backend name (default: the global default backend). */
  backend?: string;
  requires_grad?: boolean;
}

export interface RandomOptions extends CreationOptions {
  generator?: Generator;
}

/** Sizes as PyTorch takes them: zeros(2, 3), zeros([2, 3]), optionally followed by options. */
export type SizeArgs<O> = [Shape, O?] | number[] | [...number[], O];

/** @internal */
export function parseSizeArgs<O extends object>(args: SizeArgs<O>, what: string): [number[], O] {
  let opts = {} as O;
  let list = args as unknown[];
  const last = list[list.length - 1];
  if (last !== undefined && typeof last === 'object' && !Array.isArray(last)) {
    opts = last as O;
    list = list.slice(0, -1);
  }
  const shape = (list.length === 1 && Array.isArray(list[0]) ? list[0] : list) as number[];
  checkShape(shape, what);
  return [[...shape], opts];
}

function backendOf(opts: CreationOptions): Backend {
  return getBackend(opts.backend);
}

function finish(t: Tensor, opts: CreationOptions): Tensor {
  if (opts.requires_grad) t.requires_grad = true;
  return t;
}

/** A tensor filled from a flat list of values (converted to dtype). */
export function fromFlat(values: ArrayLike<number>, shape: Shape, opts: CreationOptions = {}): Tensor {
  const dtype = opts.dtype ?? 'float32';
  if (values.length !== numel(shape)) {
    throw new ShapeError(`tensor: ${values.length} values do not fill shape ${formatShape(shape)}`);
  }
  const t = Tensor.empty(shape, dtype, backendOf(opts));
  t.backend.write(t.buffer, dtype, 0, values);
  return finish(t, opts);
}

function nestedShape(data: NestedArray, path: string): number[] {
  if (!Array.isArray(data)) return [];
  if (data.length === 0) return [0];
  const inner = nestedShape(data[0]!, `${path}[0]`);
  data.forEach((d, i) => {
    const s = nestedShape(d, `${path}[${i}]`);
    if (s.length !== inner.length || s.some((v, k) => v !== inner[k])) {
      throw new ShapeError(`tensor: ragged nested array: ${path}[${i}] has shape ${formatShape(s)}, ${path}[0] has ${formatShape(inner)}`);
    }
  });
  return [data.length, ...inner];
}

function flatten(data: NestedArray, out: number[]): void {
  if (Array.isArray(data)) for (const d of data) flatten(d, out);
  else if (typeof data === 'boolean') out.push(data ? 1 : 0);
  else if (typeof data === 'number') out.push(data);
  else throw new DTypeError(`tensor: expected numbers or booleans, got ${typeof data}`);
}

function firstLeaf(data: NestedArray): number | boolean | undefined {
  return Array.isArray(data) ? (data.length ? firstLeaf(data[0]!) : undefined) : data;
}

/**
 * A tensor from nested arrays, a typed array, or a number (torch.tensor). Numbers default to
 * float32 (JS cannot tell 1 from 1.0, so pass dtype: 'int32' for integers), booleans to bool,
 * typed arrays to their own element type.
 */
export function tensor(data: NestedArray | TypedArray, opts: CreationOptions & { shape?: Shape } = {}): Tensor {
  if (ArrayBuffer.isView(data)) {
    const shape = opts.shape ?? [data.length];
    return fromFlat(data, shape, { ...opts, dtype: opts.dtype ?? dtypeOfArray(data) });
  }
  const shape = nestedShape(data, 'data');
  const values: number[] = [];
  flatten(data, values);
  const dtype = opts.dtype ?? (typeof firstLeaf(data) === 'boolean' ? 'bool' : 'float32');
  return fromFlat(values, opts.shape ?? shape, { ...opts, dtype });
}

/** A 0-d tensor holding `value` (PyTorch's scalar_tensor). */
export function scalar_tensor(value: number, opts: CreationOptions = {}): Tensor {
  return fromFlat([value], [], opts);
}

export function full(shape: Shape, value: number, opts: CreationOptions = {}): Tensor {
  checkShape(shape, 'full');
  const dtype = opts.dtype ?? (typeof value === 'boolean' ? 'bool' : 'float32');
  const t = Tensor.empty(shape, dtype, backendOf(opts));
  t.backend.fill(t, castScalar(Number(value), dtype));
  return finish(t, opts);
}

export function empty(...args: SizeArgs<CreationOptions>): Tensor {
  const [shape, opts] = parseSizeArgs(args, 'empty');
  return finish(Tensor.empty(shape, opts.dtype ?? 'float32', backendOf(opts)), opts);
}

export function zeros(...args: SizeArgs<CreationOptions>): Tensor {
  const [shape, opts] = parseSizeArgs(args, 'zeros');
  return full(shape, 0, opts);
}

export function ones(...args: SizeArgs<CreationOptions>): Tensor {
  const [shape, opts] = parseSizeArgs(args, 'ones');
  return full(shape, 1, opts);
}

function likeOptions(t: Tensor, opts: CreationOptions): CreationOptions {
  return { dtype: t.dtype, backend: t.device, ...opts };
}

export function zeros_like(t: Tensor, opts: CreationOptions = {}): Tensor {
  return full(t.shape, 0, likeOptions(t, opts));
}

export function ones_like(t: Tensor, opts: CreationOptions = {}): Tensor {
  return full(t.shape, 1, likeOptions(t, opts));
}

export function full_like(t: Tensor, value: number, opts: CreationOptions = {}): Tensor {
  return full(t.shape, value, likeOptions(t, opts));
}

export function empty_like(t: Tensor, opts: CreationOptions = {}): Tensor {
  const o = likeOptions(t, opts);
  return finish(Tensor.empty(t.shape, o.dtype!, backendOf(o)), o);
}

/**
 * arange(end), arange(start, end, step?): values start, start+step, ... below end. As in
 * PyTorch, integer arguments give int32 and any fractional one gives float32.
 */
export function arange(end: number, opts?: CreationOptions): Tensor;
export function arange(start: number, end: number, opts?: CreationOptions): Tensor;
export function arange(start: number, end: number | undefined, step: number, opts?: CreationOptions): Tensor;
export function arange(start: number, ...rest: (number | CreationOptions | undefined)[]): Tensor {
  const opts = (typeof rest[rest.length - 1] === 'object' ? rest.pop() : {}) as CreationOptions;
  let [end, step = 1] = rest as (number | undefined)[];
  if (end === undefined) [start, end] = [0, start];
  if (step === 0 || !Number.isFinite(step)) throw new StrideError(`arange: step must be finite and non-zero, got ${step}`);
  if (!Number.isFinite(start) || !Number.isFinite(end)) throw new StrideError(`arange: start and end must be finite, got ${start} and ${end}`);
  if ((end - start) / step < 0) {
    throw new StrideError(`arange: upper bound and larger bound inconsistent with step sign (start ${start}, end ${end}, step ${step})`);
  }
  const n = Math.ceil((end - start) / step);
  const dtype = opts.dtype ?? ([start, end, step].every(Number.isInteger) ? 'int32' : 'float32');
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = start + i * step;
  return fromFlat(values, [n], { ...opts, dtype });
}

/** `steps` evenly spaced values from start to end inclusive. */
export function linspace(start: number, end: number, steps: number, opts: CreationOptions = {}): Tensor {
  if (!Number.isInteger(steps) || steps < 0) throw new StrideError(`linspace: steps must be a non-negative integer, got ${steps}`);
  const values = new Float64Array(steps);
  const step = steps > 1 ? (end - start) / (steps - 1) : 0;
  // PyTorch fills the second half backwards from end, so both ends are exact; one step is start.
  const half = steps === 1 ? 1 : Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) values[i] = i < half ? start + step * i : end - step * (steps - 1 - i);
  return fromFlat(values, [steps], opts);
}

export function eye(n: number, m = n, opts: CreationOptions = {}): Tensor {
  checkShape([n, m], 'eye');
  const values = new Float64Array(n * m);
  for (let i = 0; i < Math.min(n, m); i++) values[i * m + i] = 1;
  return fromFlat(values, [n, m], opts);
}

function randomFloat(shape: Shape, opts: RandomOptions, draw: (g: Generator, n: number) => Float64Array, what: string): Tensor {
  const dtype = opts.dtype ?? 'float32';
  if (!isFloatingPoint(dtype)) throw new DTypeError(`${what}: dtype must be floating point, got ${dtype}`);
  return fromFlat(draw(opts.generator ?? default_generator, numel(shape)), shape, { ...opts, dtype });
}

/** Uniform on [0, 1) from the seeded generator. */
export function rand(...args: SizeArgs<RandomOptions>): Tensor {
  const [shape, opts] = parseSizeArgs(args, 'rand');
  return randomFloat(shape, opts, (g, n) => g.uniform(n, opts.dtype === 'float64' ? 53 : 24), 'rand');
}

/** Standard normal from the seeded generator. */
export function randn(...args: SizeArgs<RandomOptions>): Tensor {
  const [shape, opts] = parseSizeArgs(args, 'randn');
  return randomFloat(shape, opts, (g, n) => g.normal(n), 'randn');
}

export function rand_like(t: Tensor, opts: RandomOptions = {}): Tensor {
  return rand(t.shape, likeOptions(t, opts));
}

export function randn_like(t: Tensor, opts: RandomOptions = {}): Tensor {
  return randn(t.shape, likeOptions(t, opts));
}

/** Integers uniform in [low, high) (int32 unless dtype says otherwise). */
export function randint(low: number, high: number, shape: Shape, opts: RandomOptions = {}): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
    throw new StrideError(`randint: expected integers low < high, got low=${low}, high=${high}`);
  }
  checkShape(shape, 'randint');
  const g = opts.generator ?? default_generator;
  return fromFlat(g.integers(numel(shape), low, high), shape, { ...opts, dtype: opts.dtype ?? 'int32' });
}

/** A random permutation of 0..n-1 (Fisher-Yates with the seeded generator). */
export function randperm(n: number, opts: RandomOptions = {}): Tensor {
  checkShape([n], 'randperm');
  const g = opts.generator ?? default_generator;
  const perm = new Float64Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const r = g.uniform(n, 53);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r[i]! * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  return fromFlat(perm, [n], { ...opts, dtype: opts.dtype ?? 'int32' });
}
