/**
 * IDX files (MNIST, Fashion-MNIST): magic 00 00 <type> <ndims>, then ndims big-endian u32
 * sizes, then the elements big-endian in row-major order. Raw or gzipped bytes are accepted.
 */
import { fromFlat } from '../tensor/creation.js';
import type { TypedArray } from '../tensor/dtype.js';
import { StrideError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { ByteReader, decodeElements, ELEMENT_KINDS, maybeGunzip, product, UNNAMED_SOURCE, type ElementKind } from './formats.js';

/** IDX type bytes and how their elements are stored. */
interface IdxType {
  kind: ElementKind;
  name: string;
}

const IDX_TYPES: Record<number, IdxType> = {
  0x08: { kind: 'u1', name: 'unsigned byte' },
  0x09: { kind: 'i1', name: 'signed byte' },
  0x0b: { kind: 'i2', name: 'short' },
  0x0c: { kind: 'i4', name: 'int' },
  0x0d: { kind: 'f4', name: 'float' },
  0x0e: { kind: 'f8', name: 'double' },
};

interface IdxContents {
  r: ByteReader;
  type: IdxType;
  shape: number[];
  /** Decoded elements, row-major. */
  data: TypedArray;
  /** Byte offset of the first element. */
  header: number;
}

function readIdx(bytes: Uint8Array, source: string): IdxContents {
  const raw = maybeGunzip(bytes, source);
  const r = new ByteReader(raw.bytes, raw.source, 'IDX');
  r.need(0, 4, 'the 4-byte magic number');
  if (r.bytes[0] !== 0 || r.bytes[1] !== 0) {
    throw r.error(`expected the magic number to start with 00 00, got ${hexBytes(r.bytes.subarray(0, 4))} (not an IDX file)`, 0);
  }
  const typeByte = r.bytes[2]!;
  const type = IDX_TYPES[typeByte];
  if (!type) {
    throw r.error(`unknown element type 0x${typeByte.toString(16).padStart(2, '0')} (expected 08, 09, 0b, 0c, 0d or 0e)`, 2);
  }
  const ndim = r.bytes[3]!;
  if (ndim === 0) throw r.error('the number of dimensions is 0, expected at least 1', 3);
  const shape: number[] = [];
  for (let d = 0; d < ndim; d++) shape.push(r.u32be(4 + 4 * d, `size ${d} of ${ndim}`));
  const header = 4 + 4 * ndim;
  const { size } = ELEMENT_KINDS[type.kind];
  const expected = header + product(shape) * size;
  if (r.length !== expected) {
    throw r.error(
      `expected ${expected} bytes (${header}-byte header + ${shape.join(' × ')} ${type.name}s of ${size} byte${size > 1 ? 's' : ''}), got ${r.length}` +
        (r.length < expected ? ' (truncated)' : ' (trailing bytes)'),
      Math.min(r.length, expected),
    );
  }
  return { r, type, shape, header, data: decodeElements(r, type.kind, header, product(shape), false, 'data') };
}

/**
 * An IDX file as a tensor: uint8 for unsigned bytes, int32 for signed integers, float32 and
 * float64 for floats. The length must be exactly the header plus product(sizes) × item size.
 */
export function parseIdx(bytes: Uint8Array, source: string = UNNAMED_SOURCE): Tensor {
  const { type, shape, data } = readIdx(bytes, source);
  return fromFlat(data, shape, { dtype: ELEMENT_KINDS[type.kind].dtype });
}

/**
 * An IDX label file as an int32 tensor [N]: one dimension of integers, every label in
 * [0, numClasses) (the first bad one is reported with its index and offset).
 */
export function parseIdxLabels(bytes: Uint8Array, numClasses: number, source: string = UNNAMED_SOURCE): Tensor {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new StrideError(`parseIdxLabels: numClasses must be a positive integer, got ${numClasses}`);
  }
  const { r, type, shape, data, header } = readIdx(bytes, source);
  if (shape.length !== 1 || ELEMENT_KINDS[type.kind].dtype.startsWith('float')) {
    throw r.error(`expected a label file (1 dimension of integers), got sizes [${shape.join(', ')}] of ${type.name}s`, 2);
  }
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v < 0 || v >= numClasses) {
      throw r.error(`label ${i} is ${v}, expected 0..${numClasses - 1} (${numClasses} classes)`, header + i * ELEMENT_KINDS[type.kind].size);
    }
  }
  return fromFlat(data, shape, { dtype: 'int32' });
}

function hexBytes(b: Uint8Array): string {
  return [...b].map((v) => v.toString(16).padStart(2, '0')).join(' ');
}
