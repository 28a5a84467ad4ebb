/**
 * Shared pieces of the binary format readers (IDX, CIFAR, NPY/NPZ, safetensors): bounds-checked
 * reads whose errors name the source and byte offset, checked gunzip/inflate, and the decoding
 * of typed elements into stride's dtypes. Pure: bytes in, typed arrays out (runs in browsers).
 */
import { inflateSync } from 'fflate';
import { allocArray, type DType, type TypedArray } from '../tensor/dtype.js';
import { FormatError } from '../tensor/errors.js';

/** Default bound on what one gunzip or one .npz may inflate to (1 GiB). */
export const MAX_INFLATED_BYTES = 2 ** 30;

/** Name used in errors when the caller did not say where the bytes came from. */
export const UNNAMED_SOURCE = '(in-memory bytes)';

/** Reads from a byte buffer; every read is bounds-checked and errors carry source and offset. */
export class ByteReader {
  readonly view: DataView;

  /** `format` prefixes every message (e.g. 'IDX', 'safetensors'). */
  constructor(readonly bytes: Uint8Array, readonly source: string, readonly format: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.bytes.length;
  }

  error(message: string, offset?: number, cause?: unknown): FormatError {
    return new FormatError(`${this.format}: ${message}`, this.source, offset, cause === undefined ? undefined : { cause });
  }

  /** Throws unless bytes [offset, offset + length) exist; `what` names what was to be read there. */
  need(offset: number, length: number, what: string): void {
    if (offset + length > this.length) {
      throw this.error(`file ends before ${what}: needs bytes ${offset}..${offset + length}, the data has ${this.length} bytes`, this.length);
    }
  }

  u16le(offset: number, what: string): number {
    this.need(offset, 2, what);
    return this.view.getUint16(offset, true);
  }

  u32le(offset: number, what: string): number {
    this.need(offset, 4, what);
    return this.view.getUint32(offset, true);
  }

  u32be(offset: number, what: string): number {
    this.need(offset, 4, what);
    return this.view.getUint32(offset, false);
  }

  /** A little-endian u64 as a number; values past 2^53 are refused (no file is that large). */
  u64le(offset: number, what: string): number {
    this.need(offset, 8, what);
    const value = this.view.getUint32(offset, true) + this.view.getUint32(offset + 4, true) * 2 ** 32;
    if (!Number.isSafeInteger(value)) throw this.error(`${what} is ${this.view.getBigUint64(offset, true)}, beyond any file size`, offset);
    return value;
  }
}

/** Sets obj[key] as an own property, even for keys such as '__proto__' that assignment treats specially. */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Whether `keys` (distinct, as an object's are) are exactly `expected`, in any order. */
export function hasExactly(keys: readonly string[], expected: readonly string[]): boolean {
  return keys.length === expected.length && expected.every((k) => keys.includes(k));
}

/** Product of sizes that the caller has checked to be non-negative safe integers. */
export function product(sizes: readonly number[]): number {
  return sizes.reduce((a, b) => a * b, 1);
}

// ---------------------------------------------------------------- checksums and inflation

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 as used by gzip and zip (ISO 3309). */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * DEFLATE cannot expand data more than 1032-fold (a 258-byte match per two bits); a declared
 * size beyond that, or beyond `maxBytes`, is refused before anything is allocated.
 */
export function checkDeclaredSize(r: ByteReader, compressed: number, declared: number, maxBytes: number, what: string, offset: number): void {
  if (declared > maxBytes) {
    throw r.error(`${what} declares ${declared} uncompressed bytes, more than the limit of ${maxBytes}`, offset);
  }
  if (declared > compressed * 1032 + 1024) {
    throw r.error(`${what} declares ${declared} uncompressed bytes, impossible for ${compressed} bytes of DEFLATE data (corrupted or hostile)`, offset);
  }
}

/**
 * Inflates raw DEFLATE bytes [start, end) of `r` into exactly `size` bytes (already checked by
 * checkDeclaredSize) and verifies the CRC-32: fflate writes into the fixed buffer, so a stream
 * longer than declared is cut and then caught by the CRC, a shorter one by the length.
 */
export function inflateChecked(r: ByteReader, start: number, end: number, size: number, crc: number, what: string): Uint8Array {
  let out: Uint8Array;
  try {
    out = inflateSync(r.bytes.subarray(start, end), { out: new Uint8Array(size) });
  } catch (e) {
    throw r.error(`${what}: corrupted DEFLATE data (${(e as Error).message})`, start, e);
  }
  if (out.length !== size) throw r.error(`${what}: inflates to ${out.length} bytes, the header declares ${size}`, start);
  checkCrc(r, out, crc, what, start);
  return out;
}

export function checkCrc(r: ByteReader, data: Uint8Array, expected: number, what: string, offset: number): void {
  const actual = crc32(data);
  if (actual !== expected) {
    throw r.error(`${what}: CRC-32 is ${hex(actual)}, the header declares ${hex(expected)} (corrupted data)`, offset);
  }
}

function hex(v: number): string {
  return `0x${v.toString(16).padStart(8, '0')}`;
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

const GZIP_FLAGS = { hcrc: 2, extra: 4, name: 8, comment: 16 } as const;

/**
 * Decompresses a gzip member (RFC 1952), checking the header, the declared size (before
 * allocating) and the CRC-32 of the result.
 */
export function gunzip(bytes: Uint8Array, source: string = UNNAMED_SOURCE, maxBytes = MAX_INFLATED_BYTES): Uint8Array {
  const r = new ByteReader(bytes, source, 'gzip');
  r.need(0, 18, 'the gzip header and trailer (18 bytes at least)');
  if (!isGzip(bytes)) throw r.error(`expected the gzip magic 1f 8b, got ${bytes[0]!.toString(16)} ${bytes[1]!.toString(16)}`, 0);
  if (bytes[2] !== 8) throw r.error(`compression method ${bytes[2]} is not DEFLATE (8)`, 2);
  const flags = bytes[3]!;
  if (flags & 0xe0) throw r.error(`reserved flag bits are set (flags 0x${flags.toString(16)})`, 3);
  let pos = 10;
  if (flags & GZIP_FLAGS.extra) pos += 2 + r.u16le(pos, 'the length of the extra field');
  const skipString = (what: string): void => {
    const zero = bytes.indexOf(0, pos);
    if (zero < 0) throw r.error(`the ${what} is not zero-terminated`, pos);
    pos = zero + 1;
  };
  if (flags & GZIP_FLAGS.name) skipString('file name');
  if (flags & GZIP_FLAGS.comment) skipString('comment');
  if (flags & GZIP_FLAGS.hcrc) pos += 2;
  const trailer = bytes.length - 8;
  if (pos > trailer) throw r.error(`the header (${pos} bytes) leaves no room for the data and the 8-byte trailer in ${bytes.length} bytes`, pos);
  const crc = r.view.getUint32(trailer, true);
  const size = r.view.getUint32(trailer + 4, true);
  checkDeclaredSize(r, trailer - pos, size, maxBytes, 'the gzip trailer', trailer + 4);
  return inflateChecked(r, pos, trailer, size, crc, 'gzip data');
}

/** The bytes themselves, or their decompression when they start with the gzip magic. */
export function maybeGunzip(bytes: Uint8Array, source: string): { bytes: Uint8Array; source: string } {
  return isGzip(bytes) ? { bytes: gunzip(bytes, source), source: `${source} (gunzipped)` } : { bytes, source };
}

// ---------------------------------------------------------------- element decoding

/** Element encodings found in files, by NumPy's kind+size letters (bf16 for bfloat16). */
export type ElementKind = 'b1' | 'u1' | 'i1' | 'i2' | 'u2' | 'i4' | 'u4' | 'i8' | 'u8' | 'f2' | 'bf16' | 'f4' | 'f8';

/** Bytes per element, and the stride dtype each encoding is read into. */
export const ELEMENT_KINDS: Record<ElementKind, { size: number; dtype: DType }> = {
  b1: { size: 1, dtype: 'bool' },
  u1: { size: 1, dtype: 'uint8' },
  i1: { size: 1, dtype: 'int32' },
  i2: { size: 2, dtype: 'int32' },
  u2: { size: 2, dtype: 'int32' },
  i4: { size: 4, dtype: 'int32' },
  u4: { size: 4, dtype: 'int32' },
  i8: { size: 8, dtype: 'int32' },
  u8: { size: 8, dtype: 'int32' },
  f2: { size: 2, dtype: 'float32' },
  bf16: { size: 2, dtype: 'float32' },
  f4: { size: 4, dtype: 'float32' },
  f8: { size: 8, dtype: 'float64' },
};

/** IEEE half-precision bits to a number (exact in float32). */
function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1024 + frac) * 2 ** (exp - 25);
}

/**
 * Decodes `count` elements of `kind` at byte `offset` (the caller has checked that they are in
 * bounds) into a new typed array of the kind's dtype. Integers wider than int32 must fit it and
 * bools must be 0 or 1; `what` names the tensor in errors.
 */
export function decodeElements(r: ByteReader, kind: ElementKind, offset: number, count: number, littleEndian: boolean, what: string): TypedArray {
  const { size, dtype } = ELEMENT_KINDS[kind];
  r.need(offset, count * size, `the data of ${what}`);
  const out = allocArray(dtype, count);
  const dv = r.view;
  const outOfRange = (i: number, value: bigint | number): FormatError =>
    r.error(`${what}: element ${i} is ${value}, which does not fit in int32 (stride's integer type)`, offset + i * size);
  switch (kind) {
    case 'u1':
      out.set(r.bytes.subarray(offset, offset + count));
      break;
    case 'b1':
      for (let i = 0; i < count; i++) {
        const v = r.bytes[offset + i]!;
        if (v > 1) throw r.error(`${what}: element ${i} of a bool array is ${v}, expected 0 or 1`, offset + i);
        out[i] = v;
      }
      break;
    case 'i1':
      for (let i = 0; i < count; i++) out[i] = dv.getInt8(offset + i);
      break;
    case 'i2':
      for (let i = 0; i < count; i++) out[i] = dv.getInt16(offset + 2 * i, littleEndian);
      break;
    case 'u2':
      for (let i = 0; i < count; i++) out[i] = dv.getUint16(offset + 2 * i, littleEndian);
      break;
    case 'i4':
      for (let i = 0; i < count; i++) out[i] = dv.getInt32(offset + 4 * i, littleEndian);
      break;
    case 'u4':
      for (let i = 0; i < count; i++) {
        const v = dv.getUint32(offset + 4 * i, littleEndian);
        if (v > 0x7fffffff) throw outOfRange(i, v);
        out[i] = v;
      }
      break;
    case 'i8':
    case 'u8':
      for (let i = 0; i < count; i++) {
        const at = offset + 8 * i;
        const lo = dv.getUint32(littleEndian ? at : at + 4, littleEndian);
        const hi = dv.getUint32(littleEndian ? at + 4 : at, littleEndian);
        // In range iff the high word is the sign extension of the low word (only 0 for u8).
        const fits = hi === 0 ? lo <= 0x7fffffff : kind === 'i8' && hi === 0xffffffff && lo > 0x7fffffff;
        if (!fits) throw outOfRange(i, kind === 'i8' ? dv.getBigInt64(at, littleEndian) : dv.getBigUint64(at, littleEndian));
        out[i] = lo | 0;
      }
      break;
    case 'f2':
      for (let i = 0; i < count; i++) out[i] = halfToNumber(dv.getUint16(offset + 2 * i, littleEndian));
      break;
    case 'bf16': {
      // bfloat16 is the top half of a float32: write the bits through an integer view.
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = dv.getUint16(offset + 2 * i, littleEndian) << 16;
      break;
    }
    case 'f4':
      for (let i = 0; i < count; i++) out[i] = dv.getFloat32(offset + 4 * i, littleEndian);
      break;
    case 'f8':
      for (let i = 0; i < count; i++) out[i] = dv.getFloat64(offset + 8 * i, littleEndian);
      break;
  }
  return out;
}

/** Checks that declared sizes are non-negative safe integers; `at` is where they were read. */
export function checkSizes(r: ByteReader, shape: readonly unknown[], what: string, at?: number): number[] {
  for (const s of shape) {
    if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) {
      const shown = shape.slice(0, 8).map(String).join(', ') + (shape.length > 8 ? ', ...' : '');
      throw r.error(`${what}: sizes must be non-negative integers, got [${shown}]`, at);
    }
  }
  return shape as number[];
}
