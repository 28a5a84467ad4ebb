import type { View } from '../backend.js';
import { IndexError } from '../../tensor/errors.js';
import { buf, forEachRow } from './strided.js';

/** out[b] = a[b] @ c[b]; i-k-j loop order with a float64 accumulator row. */
export function matmul(a: View, c: View, out: View): void {
  const [B, M, K] = a.shape as [number, number, number];
  const N = c.shape[2]!;
  const as = buf(a);
  const cs = buf(c);
  const o = buf(out);
  const [sab, sam, sak] = a.strides as [number, number, number];
  const [scb, sck, scn] = c.strides as [number, number, number];
  const [sob, som, son] = out.strides as [number, number, number];
  const acc = new Float64Array(N);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < M; i++) {
      acc.fill(0);
      const aRow = a.offset + b * sab + i * sam;
      for (let k = 0; k < K; k++) {
        // No skipping of zero aik: 0 * inf must give NaN, as in PyTorch.
        const aik = as[aRow + k * sak]!;
        let ci = c.offset + b * scb + k * sck;
        for (let j = 0; j < N; j++, ci += scn) acc[j]! += aik * cs[ci]!;
      }
      let oi = out.offset + b * sob + i * som;
      for (let j = 0; j < N; j++, oi += son) o[oi] = acc[j]!;
    }
  }
}

function checkIndex(i: number, size: number, dim: number, op: string): void {
  if (!(i >= 0 && i < size)) {
    throw new IndexError(`${op}: index ${i} is out of bounds for dimension ${dim} with size ${size}`);
  }
}

/** out[p] = x[p with coordinate dim replaced by index[p]]. */
export function gather(x: View, dim: number, index: View, out: View): void {
  const xs = buf(x);
  const is = buf(index);
  const o = buf(out);
  const size = x.shape[dim]!;
  const step = x.strides[dim]!;
  const base: View = { ...x, shape: index.shape, strides: x.strides.map((s, d) => (d === dim ? 0 : s)) };
  forEachRow(index.shape, [base, index, out], (offs, n, steps) => {
    let xi = offs[0]!;
    let ii = offs[1]!;
    let oi = offs[2]!;
    for (let k = 0; k < n; k++, xi += steps[0]!, ii += steps[1]!, oi += steps[2]!) {
      const i = is[ii]!;
      checkIndex(i, size, dim, 'gather');
      o[oi] = xs[xi + i * step]!;
    }
  });
}

/** out[p with coordinate dim replaced by index[p]] += src[p], over the positions of index. */
export function scatterAdd(out: View, dim: number, index: View, src: View): void {
  const o = buf(out);
  const is = buf(index);
  const ss = buf(src);
  const size = out.shape[dim]!;
  const step = out.strides[dim]!;
  const base: View = { ...out, shape: index.shape, strides: out.strides.map((s, d) => (d === dim ? 0 : s)) };
  const srcView: View = { ...src, shape: index.shape };
  forEachRow(index.shape, [base, index, srcView], (offs, n, steps) => {
    let oi = offs[0]!;
    let ii = offs[1]!;
    let si = offs[2]!;
    for (let k = 0; k < n; k++, oi += steps[0]!, ii += steps[1]!, si += steps[2]!) {
      const i = is[ii]!;
      checkIndex(i, size, dim, 'scatter_add');
      o[oi + i * step]! += ss[si]!;
    }
  });
}
