/**
 * CIFAR-10 / CIFAR-100 binary batches: fixed-size records of label byte(s) then 3072 pixel
 * bytes (1024 red, 1024 green, 1024 blue, each 32 × 32 row-major, i.e. already [3, 32, 32]).
 */
import { fromFlat } from '../tensor/creation.js';
import { StrideError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { ByteReader, maybeGunzip, UNNAMED_SOURCE } from './formats.js';

const PIXELS = 3 * 32 * 32;

/**
 * CIFAR-100 records hold a coarse (20 superclasses) and a fine (100 classes) label: `label`
 * picks one (default fine). `source` names the file in errors.
 */
export type CifarOptions =
  | { variant: 'cifar10'; source?: string }
  | { variant: 'cifar100'; label?: 'fine' | 'coarse'; source?: string };

export interface CifarBatch {
  /** uint8 [N, 3, 32, 32]. */
  images: Tensor;
  /** int32 [N]. */
  labels: Tensor;
}

/** Label bytes of each variant, in record order, with their class counts. */
const LABELS = {
  cifar10: [{ name: 'label', classes: 10 }],
  cifar100: [{ name: 'coarse label', classes: 20 }, { name: 'fine label', classes: 100 }],
} as const;

/**
 * Parses one CIFAR binary batch (raw or gzipped). The length must be a whole number of records
 * and every label byte (both of them for CIFAR-100) must be in range.
 */
export function parseCifar(bytes: Uint8Array, options: CifarOptions): CifarBatch {
  if (!Object.hasOwn(LABELS, options.variant)) throw new StrideError(`parseCifar: variant must be 'cifar10' or 'cifar100', got '${String(options.variant)}'`);
  const labelBytes = LABELS[options.variant];
  const pick = (options as { label?: unknown }).label ?? 'fine';
  if (options.variant === 'cifar10' ? pick !== 'fine' : pick !== 'fine' && pick !== 'coarse') {
    throw new StrideError(`parseCifar: label must be ${options.variant === 'cifar10' ? "omitted (CIFAR-10 has one label)" : "'fine' or 'coarse'"}, got '${String(pick)}'`);
  }
  const raw = maybeGunzip(bytes, options.source ?? UNNAMED_SOURCE);
  const format = options.variant === 'cifar10' ? 'CIFAR-10' : 'CIFAR-100';
  const r = new ByteReader(raw.bytes, raw.source, format);
  const record = labelBytes.length + PIXELS;
  if (r.length === 0 || r.length % record !== 0) {
    throw r.error(`expected a whole number of ${record}-byte records (${labelBytes.length} label byte(s) + ${PIXELS} pixels), got ${r.length} bytes`, r.length - (r.length % record));
  }
  const n = r.length / record;
  const labelIndex = pick === 'coarse' ? 0 : labelBytes.length - 1;
  const labels = new Int32Array(n);
  const pixels = new Uint8Array(n * PIXELS);
  for (let i = 0; i < n; i++) {
    const at = i * record;
    labelBytes.forEach(({ name, classes }, k) => {
      const v = r.bytes[at + k]!;
      if (v >= classes) throw r.error(`record ${i}: ${name} is ${v}, expected 0..${classes - 1}`, at + k);
    });
    labels[i] = r.bytes[at + labelIndex]!;
    pixels.set(r.bytes.subarray(at + labelBytes.length, at + record), i * PIXELS);
  }
  return {
    images: fromFlat(pixels, [n, 3, 32, 32], { dtype: 'uint8' }),
    labels: fromFlat(labels, [n], { dtype: 'int32' }),
  };
}
