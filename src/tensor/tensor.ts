import type { Backend, View } from '../backend/backend.js';
import { castScalar, isFloatingPoint, type DType, type TypedArray } from './dtype.js';
import { DisposedError, DTypeError, StrideError } from './errors.js';
import { recordLeak, scopeOpen, trackTensor, untrackTensor } from './memory.js';
import { contiguousStrides, formatShape, isContiguous, normalizeDim, numel, type Shape } from './shape.js';
import { Storage } from './storage.js';

/** The node that produced a non-leaf tensor (defined by autograd). */
export interface GradFn {
  readonly name: string;
  /** Makes backward() store the gradient of `t`, this node's output, in t.grad. */
  retainGrad(t: Tensor): void;
}

export type NestedArray = number | boolean | NestedArray[];

/** Releases the buffer of a handle the GC collected without dispose(). */
const finalizer = new FinalizationRegistry<{ storage: Storage; debugId: number }>(({ storage, debugId }) => {
  recordLeak(debugId);
  storage.release();
});

/**
 * An n-dimensional array on a backend: a strided view (shape, strides, offset) of a shared
 * Storage, plus what autograd needs (requires_grad, grad, grad_fn). Views share storage with
 * the tensor they come from, as in PyTorch. Operations are attached by `ops/`.
 */
export class Tensor implements View {
  readonly shape: Shape;
  readonly strides: readonly number[];
  readonly offset: number;
  readonly storage: Storage;
  /** The gradient accumulated by backward() (leaves and tensors that called retain_grad()). */
  grad: Tensor | null = null;
  /** The op that produced this tensor, or null for a leaf. */
  grad_fn: GradFn | null = null;
  /** Whether grads flow into this non-leaf's .grad (see retain_grad()). */
  retains_grad = false;
  private _requiresGrad = false;
  private _disposed = false;
  private readonly debugId: number;
  /** Whether the finalizer watches this handle (see watch()). */
  private watched = false;

  /** Makes a handle on `storage`, taking over one reference to it (the caller's). */
  constructor(storage: Storage, shape: Shape, strides?: readonly number[], offset = 0) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    this.offset = offset;
    const scoped = scopeOpen();
    this.debugId = trackTensor(this);
    if (!scoped || this.debugId) this.watch();
  }

  /**
   * Has the finalizer release the data if the GC collects this handle undisposed. A handle in a
   * tidy scope is held by the scope and disposed when it closes, so the finalizer could not fire:
   * it starts watching only when the handle leaves its last scope undisposed (unscoped()), since
   * registering costs about a microsecond a handle with many live (a LeNet-5 step makes ~600).
   */
  private watch(): void {
    if (this.watched || !(this.storage.backend.externalMemory || this.debugId)) return;
    this.watched = true;
    finalizer.register(this, { storage: this.storage, debugId: this.debugId }, this);
  }

  /** @internal Called by tidy/keep when this handle leaves its last scope. */
  unscoped(): void {
    if (!this._disposed) this.watch();
  }

  /** A fresh contiguous tensor with uninitialised contents on `backend`. */
  static empty(shape: Shape, dtype: DType, backend: Backend): Tensor {
    return new Tensor(Storage.alloc(backend, dtype, numel(shape)), shape);
  }

  /** A new handle viewing this tensor's storage with other geometry (no autograd link). */
  viewAs(shape: Shape, strides: readonly number[], offset: number): Tensor {
    this.assertAlive();
    this.storage.retain();
    return new Tensor(this.storage, shape, strides, offset);
  }

  get dtype(): DType {
    return this.storage.dtype;
  }

  get buffer(): unknown {
    this.assertAlive();
    return this.storage.buffer;
  }

  get backend(): Backend {
    return this.storage.backend;
  }

  /** Name of the backend holding the data (PyTorch's device). */
  get device(): string {
    return this.storage.backend.name;
  }

  get ndim(): number {
    return this.shape.length;
  }

  dim(): number {
    return this.shape.length;
  }

  numel(): number {
    return numel(this.shape);
  }

  size(): Shape;
  size(dim: number): number;
  size(dim?: number): Shape | number {
    if (dim === undefined) return this.shape;
    return this.shape[normalizeDim(dim, this.ndim, 'size')]!;
  }

  stride(): readonly number[];
  stride(dim: number): number;
  stride(dim?: number): readonly number[] | number {
    if (dim === undefined) return this.strides;
    return this.strides[normalizeDim(dim, this.ndim, 'stride')]!;
  }

  is_contiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }

  is_floating_point(): boolean {
    return isFloatingPoint(this.dtype);
  }

  get is_leaf(): boolean {
    return this.grad_fn === null;
  }

  get requires_grad(): boolean {
    return this._requiresGrad;
  }

  set requires_grad(value: boolean) {
    if (value && !isFloatingPoint(this.dtype)) {
      throw new DTypeError(`only floating point tensors can require gradients, got ${this.dtype}`);
    }
    if (!value && this.grad_fn !== null) {
      throw new StrideError('requires_grad can only be turned off on leaf tensors; use detach()');
    }
    this._requiresGrad = value;
  }

  /** Sets requires_grad in place and returns this tensor (PyTorch's requires_grad_). */
  requires_grad_(value = true): this {
    this.requires_grad = value;
    return this;
  }

  /** Marks the output of an op; called by autograd only. */
  setGradFn(node: GradFn): void {
    this.grad_fn = node;
    this._requiresGrad = true;
  }

  /** Asks backward() to fill .grad of this non-leaf tensor too. */
  retain_grad(): this {
    if (!this._requiresGrad) throw new StrideError("retain_grad: tensor does not require grad");
    if (this.grad_fn !== null) {
      this.retains_grad = true;
      this.grad_fn.retainGrad(this);
    }
    return this;
  }

  /** A tensor sharing this one's data, cut from the graph (PyTorch's detach()). */
  detach(): Tensor {
    return this.viewAs(this.shape, this.strides, this.offset);
  }

  get disposed(): boolean {
    return this._disposed;
  }

  assertAlive(): void {
    if (this._disposed || this.storage.freed) {
      throw new DisposedError(`tensor of shape ${formatShape(this.shape)} was used after dispose()`);
    }
  }

  /** Releases this handle's reference to the data (freed when no view or graph uses it). */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    if (this.watched) finalizer.unregister(this);
    untrackTensor(this, this.debugId);
    this.storage.release();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** The elements in row-major order, as a new typed array (TF.js's dataSync). */
  dataSync(): TypedArray {
    this.assertAlive();
    const n = this.numel();
    if (this.is_contiguous()) return this.backend.read(this.buffer, this.dtype, this.offset, n);
    const tmp = Tensor.empty(this.shape, this.dtype, this.backend);
    try {
      this.backend.copy(this, tmp);
      return this.backend.read(tmp.buffer, this.dtype, 0, n);
    } finally {
      tmp.dispose();
    }
  }

  /** Async form of dataSync, for backends that compute asynchronously. */
  async data(): Promise<TypedArray> {
    return this.dataSync();
  }

  /** Nested JS arrays (numbers; booleans for bool tensors), as PyTorch's tolist(). */
  tolist(): NestedArray {
    const flat = this.dataSync();
    const isBool = this.dtype === 'bool';
    let pos = 0;
    const build = (d: number): NestedArray => {
      if (d === this.ndim) {
        const v = flat[pos++]!;
        return isBool ? v !== 0 : v;
      }
      const out: NestedArray[] = [];
      for (let i = 0; i < this.shape[d]!; i++) out.push(build(d + 1));
      return out;
    };
    return build(0);
  }

  /** The value of a one-element tensor. */
  item(): number {
    this.assertAlive();
    if (this.numel() !== 1) {
      throw new StrideError(`item(): a tensor with ${this.numel()} elements cannot be converted to a number (shape ${formatShape(this.shape)})`);
    }
    return this.backend.read(this.buffer, this.dtype, this.offset, 1)[0]!;
  }

  toString(): string {
    if (this._disposed) return `tensor(<disposed>, shape=${formatShape(this.shape)})`;
    const flat = this.dataSync();
    const float = isFloatingPoint(this.dtype);
    const fmt = (v: number): string => {
      if (this.dtype === 'bool') return v ? 'True' : 'False';
      if (!float) return String(v);
      if (Number.isInteger(v) && Math.abs(v) < 1e16) return `${v}.`;
      return Number(castScalar(v, this.dtype).toPrecision(4)).toString();
    };
    let pos = 0;
    const build = (d: number, indent: string): string => {
      if (d === this.ndim) return fmt(flat[pos++]!);
      const items: string[] = [];
      const n = this.shape[d]!;
      for (let i = 0; i < n; i++) items.push(build(d + 1, indent + ' '));
      const sep = d === this.ndim - 1 ? ', ' : ',\n' + indent + ' ';
      return `[${items.join(sep)}]`;
    };
    const extras: string[] = [];
    // As PyTorch, the dtype is shown unless the values imply it (float32, int32 for int64, bool).
    if (this.dtype === 'float64' || this.dtype === 'uint8') extras.push(`dtype=${this.dtype}`);
    if (this.grad_fn) extras.push(`grad_fn=<${this.grad_fn.name}>`);
    else if (this.requires_grad) extras.push('requires_grad=True');
    return `tensor(${build(0, '       ')}${extras.map((e) => ', ' + e).join('')})`;
  }
}
