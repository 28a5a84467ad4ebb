import type { ArgReduceOp, ReduceOp, View } from '../backend.js';
import { contiguousStrides } from '../../tensor/shape.js';
import { buf, forEachRow, storeInto } from './strided.js';

const INIT: Record<ReduceOp, number> = { sum: 0, prod: 1, max: -Infinity, min: Infinity };

/** Accumulates in float64, then rounds once into out. NaN wins max and min, as in PyTorch. */
export function reduce(op: ReduceOp, x: View, out: View): void {
  const size = out.shape.reduce((a, b) => a * b, 1);
  const acc = new Float64Array(size).fill(INIT[op]);
  // Each x element lands on the out element with its reduced coordinates zeroed.
  const target = contiguousStrides(out.shape).map((s, d) => (out.shape[d] === 1 ? 0 : s));
  const accView: View = { buffer: acc, dtype: 'float64', shape: x.shape, strides: target, offset: 0 };
  const xs = buf(x);
  forEachRow(x.shape, [x, accView], (offs, n, steps) => {
    let xi = offs[0]!;
    let ai = offs[1]!;
    const sx = steps[0]!;
    const sa = steps[1]!;
    switch (op) {
      case 'sum': for (let i = 0; i < n; i++, xi += sx, ai += sa) acc[ai]! += xs[xi]!; break;
      case 'prod': for (let i = 0; i < n; i++, xi += sx, ai += sa) acc[ai]! *= xs[xi]!; break;
      case 'max':
        for (let i = 0; i < n; i++, xi += sx, ai += sa) {
          const v = xs[xi]!;
          if (v > acc[ai]! || v !== v) acc[ai] = v;
        }
        break;
      case 'min':
        for (let i = 0; i < n; i++, xi += sx, ai += sa) {
          const v = xs[xi]!;
          if (v < acc[ai]! || v !== v) acc[ai] = v;
        }
        break;
    }
  });
  // A NaN once stored must stay: v > NaN is false, so the loops above keep it.
  storeInto(out, acc);
}

export function argreduce(op: ArgReduceOp, x: View, dim: number, out: View): void {
  const xs = buf(x);
  const o = buf(out);
  const len = x.shape[dim]!;
  const step = x.strides[dim]!;
  const outer: View = { ...x, shape: x.shape.map((s, d) => (d === dim ? 1 : s)) };
  const better = op === 'argmax' ? (v: number, b: number) => v > b : (v: number, b: number) => v < b;
  forEachRow(outer.shape, [outer, out], (offs, n, steps) => {
    let xi = offs[0]!;
    let oi = offs[1]!;
    for (let r = 0; r < n; r++, xi += steps[0]!, oi += steps[1]!) {
      let best = xs[xi]!;
      let bestIdx = 0;
      for (let k = 1; k < len && best === best; k++) {
        const v = xs[xi + k * step]!;
        if (better(v, best) || v !== v) {
          best = v;
          bestIdx = k;
        }
      }
      o[oi] = bestIdx;
    }
  });
}
