/**
 * Activations left in oneDNN's blocked layout between ops. A convolution whose output channels
 * come in sixteens writes nChw16c ([N][C/16][H][W][16]) instead of reordering to nchw, and the
 * ops that follow read it as it is: the next convolution, and elementwise ops (batch norm's
 * scale and shift, ReLU, a residual add), which run over the blocked positions with each
 * operand's strides rearranged to match. Anything else, read() included, first turns the buffer
 * back to nchw in place, so no caller ever sees the blocked order. On ResNet-18 at batch 1 this
 * saves the two reorders per convolution (~2.5 ms of ~20 on two threads).
 *
 * A buffer is blocked only as a whole: its tag holds the [N, C, S] of the tensor, S the product
 * of its spatial dims, and a full, contiguous view [N, C, ...] with the same N, C and S sees it
 * blocked ([N, C, H, W] for convolutions, [N, C, H*W] for batch norm's rows). Other views get
 * the plain buffer. Batch norm's statistics and gradient read and write it too.
 */
import type { Backend, View } from '../backend.js';
import type { TypedArray } from '../../tensor/dtype.js';
import { numel } from '../../tensor/shape.js';

type NView = View<TypedArray>;

const BLOCK = 16;

const contiguous = (v: NView): boolean => {
  let stride = 1;
  for (let d = v.shape.length - 1; d >= 0; d--) {
    if (v.shape[d]! !== 1 && v.strides[d] !== stride) return false;
    stride *= v.shape[d]!;
  }
  return true;
};

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((n, i) => n === b[i]);

/** v over blocked positions: its own strides rearranged, or (blocked) the dense blocked ones. */
function rearranged(v: NView, isBlocked: boolean, shape: number[], dense: number[]): NView {
  const strides = isBlocked ? dense : [v.strides[0]!, BLOCK * v.strides[1]!, ...v.strides.slice(2), v.strides[1]!];
  return { buffer: v.buffer, dtype: v.dtype, shape, strides, offset: isBlocked ? 0 : v.offset };
}

// Functions here are declared at module level, not as closures in the hot methods: tsx (tests,
// benchmarks) wraps every named closure in a __name call, which cost microseconds per op.
const isView = (a: unknown): a is NView => typeof a === 'object' && a !== null && 'buffer' in a && 'strides' in a;

/** The primitives that handle blocked operands themselves; every other one gets plain buffers. */
const AWARE = new Set(['unary', 'binary', 'where', 'mulAdd', 'reduce', 'conv2d', 'conv2dInputGrad', 'conv2dWeightGrad', 'maxPool2d', 'maxPool2dGrad', 'batchNormStats', 'batchNormGrad']);

/** [N, C, S] of a view of rank >= 3. */
const rows = (shape: readonly number[]): [number, number, number] => [shape[0]!, shape[1]!, numel(shape.slice(2))];

/** The blocked positions [N, C/16, ...spatial dims, 16] of a tensor of `shape`, and their dense strides. */
function blockedGeometry(shape: readonly number[]): [number[], number[]] {
  const [N, C, S] = rows(shape);
  const spatial = shape.slice(2);
  const dense = [C * S, BLOCK * S];
  for (let d = 0, step = S * BLOCK; d < spatial.length; d++) dense.push((step /= spatial[d]!));
  dense.push(1);
  return [[N, C / BLOCK, ...spatial, BLOCK], dense];
}

export class Layouts {
  private readonly shapes = new WeakMap<TypedArray, readonly number[]>();
  private readonly geometry = new Float64Array(4);

  /** relayout: the addon's in-place change; changed: called for each buffer whose bytes it changed. */
  constructor(
    private readonly relayout: (buffer: TypedArray, geometry: Float64Array) => void,
    private readonly changed: (buffer: TypedArray) => void,
  ) {}

  /** Whether v shows the whole of a buffer as one contiguous tensor (so it may be blocked). */
  static whole(v: NView): boolean {
    return v.offset === 0 && numel(v.shape) === v.buffer.length && contiguous(v) && (v.buffer instanceof Float32Array || v.buffer instanceof Uint8Array);
  }

  /** Whether an output v may be written blocked: three or more dims, channels in sixteens, the whole buffer. */
  static canBlock(v: NView): boolean {
    return v.shape.length >= 3 && v.shape[1]! % BLOCK === 0 && numel(v.shape) > 0 && Layouts.whole(v);
  }

  /** Whether v's buffer is blocked and v shows all of it as the tensor it was blocked as. */
  isBlocked(v: NView): boolean {
    const s = this.shapes.get(v.buffer);
    return s !== undefined && v.shape.length >= 3 && sameShape(s, rows(v.shape)) && Layouts.whole(v);
  }

  /** Turns the views' blocked buffers back to nchw. */
  plain(...views: NView[]): void {
    for (const v of views) {
      const s = this.shapes.get(v.buffer);
      if (s === undefined) continue;
      this.geometry.set([s[0]!, s[1]!, s[2]!, 0]);
      this.relayout(v.buffer, this.geometry);
      this.shapes.delete(v.buffer);
      this.changed(v.buffer);
    }
  }

  /** Turns a whole plain buffer to nChw16c in place. */
  private block(v: NView): void {
    const [N, C, S] = rows(v.shape);
    this.geometry.set([N, C, S, 1]);
    this.relayout(v.buffer, this.geometry);
    this.shapes.set(v.buffer, [N, C, S]);
    this.changed(v.buffer);
  }

  /** Records how an op left its output: blocked as v's shape, or plain. */
  wrote(v: NView, blocked: boolean): void {
    if (blocked) this.shapes.set(v.buffer, rows(v.shape));
    else this.shapes.delete(v.buffer);
  }

  /** A freed buffer's contents are gone: a reuse starts plain. */
  forget(buffer: TypedArray): void {
    this.shapes.delete(buffer);
  }

  /**
   * The operands of an elementwise op (out first) as views over the blocked positions [N, C/16,
   * ...spatial dims, 16], when some input is blocked and the output can be: a blocked operand with its
   * blocked strides, a plain one with its own rearranged (broadcasting stays stride 0). Null
   * otherwise, having made every operand plain.
   */
  elementwise(out: NView, inputs: readonly NView[]): NView[] | null {
    let some = false, fits = true;
    const blocked: boolean[] = [];
    // Plain operands that vary along the positions (a gradient computed plain): read through
    // rearranged strides they would be gathered a float at a time, so a whole one is blocked in
    // place first (LeNet-5's training step 7% faster), and a part of a buffer makes the op plain.
    const toBlock: number[] = [];
    for (const [i, v] of inputs.entries()) {
      const b = this.isBlocked(v);
      blocked.push(b);
      some ||= b;
      if (b) continue;
      if (this.shapes.has(v.buffer)) fits = false;
      else if (v.shape[1]! > 1 && v.strides[1]! > 1) {
        if (Layouts.canBlock(v) && sameShape(rows(v.shape), rows(out.shape))) toBlock.push(i);
        else fits = false;
      }
    }
    fits &&= some && Layouts.canBlock(out) && (!this.shapes.has(out.buffer) || this.isBlocked(out));
    if (!fits) {
      this.plain(out, ...inputs);
      return null;
    }
    for (const i of toBlock) {
      const v = inputs[i]!;
      if (!this.isBlocked(v)) this.block(v); // the same buffer may come twice
      blocked[i] = true;
    }
    const [shape, dense] = blockedGeometry(out.shape);
    const views = [rearranged(out, true, shape, dense)];
    for (let i = 0; i < inputs.length; i++) views.push(rearranged(inputs[i]!, blocked[i]!, shape, dense));
    return views;
  }

  /**
   * x and out over x's blocked positions when x is blocked and the reduction keeps its channels
   * (a convolution's bias gradient, the sum of gy over N, H and W), out read with its own strides
   * rearranged; null otherwise, having made both plain.
   */
  channelwise(x: NView, out: NView): [NView, NView] | null {
    if (!(this.isBlocked(x) && !this.shapes.has(out.buffer) && out.shape.length === x.shape.length && out.shape[1] === x.shape[1])) {
      this.plain(x, out);
      return null;
    }
    const [shape, dense] = blockedGeometry(x.shape);
    const outShape = [out.shape[0]!, shape[1]!, ...out.shape.slice(2), BLOCK];
    return [rearranged(x, true, shape, dense), rearranged(out, false, outShape, [])];
  }

  /**
   * Flags for a convolution's three operands (packConv): an activation input that is blocked as
   * a whole stays so (others are made plain); the output may be written blocked if it can be.
   */
  convFlags(views: readonly [NView, NView, NView], activations: readonly [boolean, boolean, boolean]): [number, number, number] {
    return [this.convFlag(views, activations, 0), this.convFlag(views, activations, 1), this.convFlag(views, activations, 2)];
  }

  private convFlag(views: readonly [NView, NView, NView], activations: readonly [boolean, boolean, boolean], i: number): number {
    const v = views[i]!;
    if (activations[i] && (i === 2 ? Layouts.canBlock(v) : this.isBlocked(v))) return 1;
    this.plain(v);
    return 0;
  }

  /** Whether batch norm's [B, C, S] rows x (and gy, gx for the gradient) can be read and written blocked; else they are made plain. */
  rows(x: NView, gy?: NView, gx?: NView): boolean {
    const blocked = this.isBlocked(x) && (!gy || this.isBlocked(gy)) && (!gx || Layouts.canBlock(gx));
    if (!blocked) this.plain(x, ...(gy ? [gy] : []), ...(gx ? [gx] : []));
    return blocked;
  }

  /** The backend with plain buffers for every primitive but the aware ones, read() and write(). */
  wrap(b: Backend<TypedArray>): Backend<TypedArray> {
    const out: Record<string, unknown> = { ...b };
    for (const [name, f] of Object.entries(b)) {
      if (typeof f !== 'function' || AWARE.has(name) || name === 'alloc') continue;
      out[name] = (...args: unknown[]) => {
        if (name === 'read' || name === 'write') this.plain({ buffer: args[0] as TypedArray } as NView);
        else if (name === 'free') this.forget(args[0] as TypedArray);
        else for (const a of args) if (isView(a)) this.plain(a);
        return (f as (...a: unknown[]) => unknown)(...args);
      };
    }
    return out as unknown as Backend<TypedArray>;
  }
}
