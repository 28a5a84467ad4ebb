import type { View } from '../backend.js';
import type { TypedArray } from '../../tensor/dtype.js';

/** The reference backend keeps every buffer as a plain typed array. */
export type Buf = TypedArray;

export function buf(v: View): Buf {
  return v.buffer as Buf;
}

/**
 * Merges adjacent dims that are laid out contiguously in every view and drops size-1 dims, so
 * that loops over e.g. two contiguous tensors become one flat loop: the merged sizes go to
 * dims[0, r) and view k's steps to steps[k * rowLength + d]. Returns r, or -1 when it would pass
 * rowLength. The wasm backend packs its kernels' walks with it into reused scratch (every
 * elementwise primitive comes here; arrays per call were a sixth of a training step's garbage).
 */
export function coalesceInto<V>(
  shape: readonly number[], views: readonly V[], strideOf: (v: V, d: number) => number,
  dims: { [i: number]: number }, steps: { [i: number]: number }, rowLength: number,
): number {
  let r = 0;
  // Loops, not every/forEach with closures.
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d]!;
    if (size === 1) continue;
    let merge = r > 0;
    for (let k = 0; k < views.length && merge; k++) merge = steps[k * rowLength + r - 1] === strideOf(views[k]!, d) * size;
    if (merge) {
      dims[r - 1]! *= size;
      for (let k = 0; k < views.length; k++) steps[k * rowLength + r - 1] = strideOf(views[k]!, d);
      continue;
    }
    if (r === rowLength) return -1;
    dims[r] = size;
    for (let k = 0; k < views.length; k++) steps[k * rowLength + r] = strideOf(views[k]!, d);
    r++;
  }
  return r;
}

const strideAt = (strides: readonly number[], d: number): number => strides[d]!;

/** coalesceInto for the reference: the merged shape and each view's strides as arrays. */
export function coalesce(shape: readonly number[], strides: (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const rank = shape.length;
  const dims = new Array<number>(rank);
  const steps = new Array<number>(strides.length * rank);
  const r = coalesceInto(shape, strides, strideAt, dims, steps, rank);
  dims.length = r;
  return { shape: dims, strides: strides.map((_, k) => steps.slice(k * rank, k * rank + r)) };
}

/**
 * Walks the common shape of `views` row by row: `row(offsets, n, innerStrides)` receives the
 * buffer offset of each view at the start of a row of n elements and each view's step along it.
 */
export function forEachRow(
  shape: readonly number[],
  views: readonly View[],
  row: (offsets: number[], n: number, steps: number[]) => void,
): void {
  for (const s of shape) if (s === 0) return;
  const c = coalesce(shape, views.map((v) => v.strides));
  const nd = c.shape.length;
  const offsets = views.map((v) => v.offset);
  if (nd === 0) {
    row(offsets, 1, views.map(() => 0));
    return;
  }
  const inner = c.shape[nd - 1]!;
  const steps = c.strides.map((s) => s[nd - 1]!);
  let rows = 1;
  for (let d = 0; d < nd - 1; d++) rows *= c.shape[d]!;
  const idx = new Array<number>(nd).fill(0);
  for (let r = 0; r < rows; r++) {
    row(offsets, inner, steps);
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]!++;
      for (let k = 0; k < offsets.length; k++) offsets[k]! += c.strides[k]![d]!;
      if (idx[d]! < c.shape[d]!) break;
      for (let k = 0; k < offsets.length; k++) offsets[k]! -= c.strides[k]![d]! * c.shape[d]!;
      idx[d] = 0;
    }
  }
}

/** Offset of the element at flat row-major position `pos` of `shape`, in a view with `strides`. */
export function offsetOf(pos: number, shape: readonly number[], strides: readonly number[], base: number): number {
  let off = base;
  for (let d = shape.length - 1; d >= 0; d--) {
    const s = shape[d]!;
    off += (pos % s) * strides[d]!;
    pos = Math.floor(pos / s);
  }
  return off;
}

/** Writes a contiguous float64 scratch array into a (possibly strided) output view. */
export function storeInto(out: View, values: Float64Array): void {
  const o = buf(out);
  const bool = out.dtype === 'bool';
  let pos = 0;
  forEachRow(out.shape, [out], (offs, n, steps) => {
    let oi = offs[0]!;
    const so = steps[0]!;
    for (let i = 0; i < n; i++, oi += so) {
      const v = values[pos++]!;
      o[oi] = bool ? (v !== 0 ? 1 : 0) : v;
    }
  });
}
