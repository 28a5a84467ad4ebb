import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { TypedArray } from '../../tensor/dtype.js';

/** [op name, output dtype]; an op's index in its table is its number in calls. */
export type OpTable = readonly (readonly [string, string])[];

/**
 * The N-API addon built from native/ (see native/README.md). Buffers are passed as the typed
 * arrays themselves (no copy); `geometry` carries shapes, strides, offsets and parameters as
 * the packers in index.ts lay them out. Functions throw an Error naming the primitive on bad
 * input or a oneDNN failure.
 */
export interface Addon {
  readonly unaryOps: OpTable;
  readonly binaryOps: OpTable;
  readonly reduceOps: OpTable;
  status(): { isa: string; kernels: string; runtime: string; threads: number; onednn: string };
  setThreads(n: number): void;
  setWinograd(on: number): void;
  unary(op: number, x: TypedArray, out: TypedArray, geometry: Float64Array): void;
  binary(op: number, a: TypedArray, b: TypedArray, out: TypedArray, geometry: Float64Array): void;
  where(cond: TypedArray, a: TypedArray, b: TypedArray, out: TypedArray, geometry: Float64Array): void;
  mulAdd(a: TypedArray, b: TypedArray, c: TypedArray, out: TypedArray, geometry: Float64Array): void;
  /** flags: 1 Nesterov, 2 the buffer's first step, 4 a buffer (without one, buf is p, unused). */
  sgdStep(p: TypedArray, grad: TypedArray, buf: TypedArray, geometry: Float64Array, alpha: number, weightDecay: number, momentum: number, dampening: number, flags: number): void;
  /** params: [stepSize, beta1, beta2, eps, correction2Sqrt, weightDecay, decay, flags (1 maximize, 2 amsgrad: else vmax is v, unused)]. */
  adamStep(p: TypedArray, grad: TypedArray, m: TypedArray, v: TypedArray, vmax: TypedArray, geometry: Float64Array, params: Float64Array): void;
  copy(src: TypedArray, dst: TypedArray, geometry: Float64Array): void;
  fill(dst: TypedArray, value: number, geometry: Float64Array): void;
  reduce(op: number, x: TypedArray, out: TypedArray, geometry: Float64Array): void;
  /** False, having written nothing, when an index is out of range. */
  gather(x: TypedArray, index: TypedArray, out: TypedArray, geometry: Float64Array): boolean;
  scatterAdd(out: TypedArray, index: TypedArray, src: TypedArray, geometry: Float64Array): boolean;
  maxPool2d(x: TypedArray, out: TypedArray, indices: TypedArray, geometry: Float64Array): void;
  /** False when an index is outside the plane. */
  maxPool2dGrad(gy: TypedArray, indices: TypedArray, gx: TypedArray, geometry: Float64Array): boolean;
  avgPool2d(x: TypedArray, out: TypedArray, geometry: Float64Array): void;
  avgPool2dGrad(gy: TypedArray, gx: TypedArray, geometry: Float64Array): void;
  /** Convolutions return whether they left the output blocked (nChw16c), as the geometry allowed. */
  conv2d(x: TypedArray, w: TypedArray, out: TypedArray, geometry: Float64Array, bias?: TypedArray): boolean;
  conv2dInputGrad(gy: TypedArray, w: TypedArray, gx: TypedArray, geometry: Float64Array): boolean;
  /** With gb, also the bias gradient into it (geometry's bias offset). */
  conv2dWeightGrad(x: TypedArray, gy: TypedArray, gw: TypedArray, geometry: Float64Array, gb?: TypedArray): boolean;
  /** In place, [N, C, S] plain <-> [N, C/16, S, 16] blocked (toBlocked 1); geometry [N, C, S, toBlocked]. */
  relayout(buffer: TypedArray, geometry: Float64Array): void;
  matmul(a: TypedArray, c: TypedArray, out: TypedArray, geometry: Float64Array): void;
  batchNormStats(x: TypedArray, mean: TypedArray, variance: TypedArray, geometry: Float64Array): void;
  batchNormGrad(...arrays: [TypedArray, TypedArray, TypedArray, TypedArray, TypedArray, TypedArray, TypedArray, TypedArray, Float64Array]): void;
}

/**
 * Where native/build.sh puts the addon, from src/backend/native/ in a clone or dist/backend/native/
 * in the installed package; STRIDE_NATIVE_ADDON names another build (a debug or sanitizer one).
 */
const ADDON_PATH = '../../../native/build/Release/stride_native.node';

/** What builds the addon: `make native` in a clone (it has the Makefile), npm where stride is installed. */
function howToBuild(): string {
  if (existsSync(new URL('../../../Makefile', import.meta.url))) return 'run `make native`';
  return 'npm builds it at install given a C++ compiler, make, python3 and oneDNN (Debian: g++ make python3 libdnnl-dev); with those installed, run `npm rebuild stride --foreground-scripts`';
}

/** The addon, or why it could not be loaded. */
export function loadAddon(): { addon: Addon } | { reason: string } {
  try {
    return { addon: createRequire(import.meta.url)(process.env['STRIDE_NATIVE_ADDON'] || ADDON_PATH) as Addon };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'MODULE_NOT_FOUND') return { reason: `the addon is not built (native/build/Release/stride_native.node is missing; ${howToBuild()})` };
    return { reason: `the addon failed to load: ${err.message}` };
  }
}
