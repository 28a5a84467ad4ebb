import type { View } from '../backend/backend.js';
import { Node } from '../autograd/engine.js';
import { is_grad_enabled, set_grad_enabled } from '../autograd/grad_mode.js';
import { isFloatingPoint, type DType } from '../tensor/dtype.js';
import { AutogradError, DTypeError, StrideError } from '../tensor/errors.js';
import { formatShape, sameShape, type Shape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

/** One gradient slot per input, same arity as the input tuple: a missing one does not compile. */
export type Grads<I extends readonly Tensor[]> = { -readonly [K in keyof I]: Tensor | null };

/** What a backward formula sees. Only what the op listed in `save` is available. */
export interface BackwardContext<I extends readonly Tensor[], A> {
  readonly inputs: I;
  readonly out: Tensor;
  /** Extra tensors the forward returned (e.g. max-pool indices). */
  readonly extras: readonly Tensor[];
  readonly attrs: A;
  readonly shapes: { readonly [K in keyof I]: Shape };
  /** Which inputs need a gradient (the others may be returned as null). */
  readonly needs: readonly boolean[];
}

export interface ForwardResult {
  out: Tensor;
  /** Further outputs that take no gradient (indices); saved for backward and returned to the caller. */
  extras?: Tensor[];
}

interface OpCommon<I extends readonly Tensor[], A> {
  readonly name: string;
  /** The shape rule: validates inputs and attributes (throwing ShapeError/DTypeError that name the op) and gives the output shape. */
  shape(inputs: I, attrs: A): Shape;
  /** The output dtype (default: the first input's). */
  dtype?(inputs: I, attrs: A): DType;
  /** Computes the output from backend primitives or other ops; runs with recording off. */
  forward(inputs: I, attrs: A, shape: Shape, dtype: DType): Tensor | ForwardResult;
}

export interface DifferentiableOp<I extends readonly Tensor[], A> extends OpCommon<I, A> {
  /** What backward reads: the inputs, the output, both, or only shapes. */
  readonly save: 'inputs' | 'output' | 'both' | 'none';
  /** The gradient of each input given the output's gradient, written with ops (so it is itself differentiable). */
  backward(gy: Tensor, ctx: BackwardContext<I, A>): Grads<I>;
}

export interface NonDifferentiableOp<I extends readonly Tensor[], A> extends OpCommon<I, A> {
  readonly backward: 'not differentiable';
}

export type OpDef<I extends readonly Tensor[], A> = DifferentiableOp<I, A> | NonDifferentiableOp<I, A>;

/** Converts a gradient to the dtype of its input (mixed-dtype ops); installed by the cast op. */
let castTo: ((t: Tensor, dtype: DType) => Tensor) | null = null;
export function installCast(fn: (t: Tensor, dtype: DType) => Tensor): void {
  castTo = fn;
}

function checkInputs(name: string, inputs: readonly Tensor[]): void {
  const backend = inputs[0]?.backend;
  for (const t of inputs) {
    if (!(t instanceof Tensor)) throw new StrideError(`${name}: expected tensors, got ${typeof t}`);
    t.assertAlive();
    if (t.backend !== backend) {
      throw new StrideError(`${name}: expected all tensors on one backend, got ${inputs.map((x) => x.device).join(' and ')}`);
    }
  }
}

/**
 * What an op's backward reads. A class, not an object literal with getters: a literal's getters
 * are new closures for every context, which kept each backward's tensors and closures reachable
 * until the next scavenge and had V8 promote ~30 KB of them a training step (LeNet-5: 1.5 MB
 * per scavenge, 3-6 ms pauses).
 */
class Context<I extends readonly Tensor[], A> implements BackwardContext<I, A> {
  readonly extras: readonly Tensor[];

  constructor(
    private readonly def: DifferentiableOp<I, A>,
    private readonly saved: readonly Tensor[],
    private readonly nInputs: number,
    readonly attrs: A,
    readonly shapes: BackwardContext<I, A>['shapes'],
    readonly needs: readonly boolean[],
  ) {
    this.extras = saved.slice((this.savesInputs() ? nInputs : 0) + (this.savesOutput() ? 1 : 0));
  }

  private savesInputs(): boolean {
    return this.def.save === 'inputs' || this.def.save === 'both';
  }

  private savesOutput(): boolean {
    return this.def.save === 'output' || this.def.save === 'both';
  }

  private missing(what: string): never {
    throw new AutogradError(`${this.def.name}: backward reads ${what}, which the op does not save (save: '${this.def.save}')`);
  }

  get inputs(): I {
    return this.savesInputs() ? (this.saved.slice(0, this.nInputs) as unknown as I) : this.missing('its inputs');
  }

  get out(): Tensor {
    return this.savesOutput() ? this.saved[this.savesInputs() ? this.nInputs : 0]! : this.missing('its output');
  }
}

/** Sees every op applied while set (an exporter tracing a forward pass): its name, inputs, attributes and output. */
export type OpTracer = (name: string, inputs: readonly Tensor[], attrs: unknown, out: Tensor) => void;
let tracer: OpTracer | null = null;

/** Runs fn with `t` seeing every op applied, and returns fn's result. */
export function traceOps<T>(t: OpTracer, fn: () => T): T {
  const previous = tracer;
  tracer = t;
  try {
    return fn();
  } finally {
    tracer = previous;
  }
}

/**
 * Runs an op: shape rule, forward with recording off, and (when grad mode is on and an input
 * requires grad) a graph node whose backward is the op's formula.
 */
export function applyOp<I extends readonly Tensor[], A>(def: OpDef<I, A>, inputs: I, attrs: A): ForwardResult {
  checkInputs(def.name, inputs);
  const shape = def.shape(inputs, attrs);
  const dtype = def.dtype ? def.dtype(inputs, attrs) : inputs[0]!.dtype;
  const record = def.backward !== 'not differentiable' && is_grad_enabled() && inputs.some((t) => t.requires_grad);
  const wasEnabled = is_grad_enabled();
  set_grad_enabled(false);
  // Ops a forward composes run untraced: the tracer sees this op as applied.
  const trace = tracer;
  tracer = null;
  let result: Tensor | ForwardResult;
  try {
    result = def.forward(inputs, attrs, shape, dtype);
  } finally {
    set_grad_enabled(wasEnabled);
    tracer = trace;
  }
  const { out, extras = [] } = result instanceof Tensor ? { out: result } : result;
  trace?.(def.name, inputs, attrs, out);
  if (!sameShape(out.shape, shape)) {
    throw new StrideError(`${def.name}: forward produced shape ${formatShape(out.shape)} but its shape rule gives ${formatShape(shape)}`);
  }
  if (record) {
    if (!isFloatingPoint(out.dtype)) {
      throw new DTypeError(`${def.name}: cannot differentiate an op whose output is ${out.dtype}`);
    }
    const diff = def as DifferentiableOp<I, A>;
    const needs = inputs.map((t) => t.requires_grad);
    const shapes = inputs.map((t) => t.shape);
    const dtypes = inputs.map((t) => t.dtype);
    const saved = [
      ...(def.save === 'inputs' || def.save === 'both' ? inputs : []),
      ...(def.save === 'output' || def.save === 'both' ? [out] : []),
      ...extras,
    ];
    const node = new Node(
      def.name,
      inputs.map((t) => (t.requires_grad ? ((t.grad_fn as Node | null) ?? t) : null)),
      shapes,
      saved,
      (gy, s) => {
        const grads = diff.backward(gy, new Context(diff, s, inputs.length, attrs, shapes as BackwardContext<I, A>['shapes'], needs));
        return grads.map((g, i) => (g && needs[i] && g.dtype !== dtypes[i] ? castTo!(g, dtypes[i]!) : needs[i] ? g : null));
      },
    );
    out.setGradFn(node);
  }
  return { out, extras };
}

/** An op's apply function (annotate self-referencing ops with it). */
export type Op<I extends readonly Tensor[], A> = (inputs: I, attrs: A) => Tensor;

/** Defines an op and returns the function that applies it. */
export function defineOp<I extends readonly Tensor[], A>(def: OpDef<I, A>): Op<I, A> {
  return (inputs, attrs) => applyOp(def, inputs, attrs).out;
}

/** Like defineOp, for ops that also return extra non-differentiable outputs (indices). */
export function defineOpWithExtras<I extends readonly Tensor[], A>(def: OpDef<I, A>): (inputs: I, attrs: A) => ForwardResult {
  return (inputs, attrs) => applyOp(def, inputs, attrs);
}

// ---- helpers for forward implementations ----

/** A view of `t` broadcast to `shape` (stride 0 along expanded dims), for primitives. */
export function broadcastView(t: Tensor, shape: Shape): View {
  const lead = shape.length - t.ndim;
  const strides = shape.map((s, i) => {
    const d = i - lead;
    if (d < 0) return 0;
    return t.shape[d] === 1 && s !== 1 ? 0 : t.strides[d]!;
  });
  return { buffer: t.buffer, dtype: t.dtype, shape, strides, offset: t.offset };
}

/** A view of `t` with other geometry (no new handle), for primitives. */
export function viewOf(t: Tensor, shape: Shape, strides: readonly number[], offset = t.offset): View {
  return { buffer: t.buffer, dtype: t.dtype, shape, strides, offset };
}

export function emptyLike(t: Tensor, shape: Shape = t.shape, dtype: DType = t.dtype): Tensor {
  return Tensor.empty(shape, dtype, t.backend);
}

/** Throws unless `t` holds floats; `what` names the op and argument. */
export function requireFloat(t: Tensor, what: string): void {
  if (!isFloatingPoint(t.dtype)) {
    throw new DTypeError(`${what}: expected a floating point tensor, got ${t.dtype}`);
  }
}

/** Installs tensor methods (the declarations go in each op module's `declare module` block). */
export function installMethods(methods: Record<string, (this: Tensor, ...args: never[]) => unknown>): void {
  for (const [name, fn] of Object.entries(methods)) {
    Object.defineProperty(Tensor.prototype, name, { value: fn, writable: true, configurable: true });
  }
}
