import type { View } from '../backend.js';
import type { TypedArray } from '../../tensor/dtype.js';

/** The reference backend keeps every buffer as a plain typed array. */
export type Buf = TypedArray;

export function buf(v: View): Buf {
  return v.buffer as Buf;
}

/**
 * Merges adjacent dims that are laid out contiguously in every view and drops size-1 dims, so
 * that loops over e.g. two contiguous tensors become one flat loop. (The wasm backend packs its
 * kernels' walks with it too.)
 */
export function coalesce(shape: readonly number[], strides: (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = [];
  for (let k = 0; k < strides.length; k++) outStrides.push([]);
  // Loops, not every/forEach with closures: every elementwise primitive of the fast backends comes here.
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d]!;
    if (size === 1) continue;
    const last = outShape.length - 1;
    let merge = last >= 0;
    for (let k = 0; k < strides.length && merge; k++) merge = outStrides[k]![last] === strides[k]![d]! * size;
    if (merge) {
      outShape[last]! *= size;
      for (let k = 0; k < strides.length; k++) outStrides[k]![last] = strides[k]![d]!;
    } else {
      outShape.push(size);
      for (let k = 0; k < strides.length; k++) outStrides[k]!.push(strides[k]![d]!);
    }
  }
  return { shape: outShape, strides: outStrides };
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
