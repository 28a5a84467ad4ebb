/**
 * NumPy .npy files (format versions 1.0, 2.0 and 3.0) and .npz archives (zip files of .npy).
 * The .npy header is a Python dict literal; it is read by a small strict parser that knows
 * strings, ints, booleans, None, tuples, lists and dicts, and nothing is ever evaluated.
 */
import { fromFlat } from '../tensor/creation.js';
import type { TypedArray } from '../tensor/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  ByteReader, checkCrc, checkDeclaredSize, checkSizes, decodeElements, ELEMENT_KINDS, hasExactly, inflateChecked, MAX_INFLATED_BYTES, product,
  setOwn, UNNAMED_SOURCE, type ElementKind,
} from './formats.js';

// ---------------------------------------------------------------- header literal

type PyValue = string | number | boolean | null | PyValue[] | Map<string, PyValue>;

/** Nesting deeper than any real header is refused rather than recursed into. */
const MAX_DEPTH = 8;

/** Parses `text` (a Python literal followed only by whitespace); errors give the header offset. */
function parsePyLiteral(text: string, fail: (message: string, at: number) => Error): PyValue {
  let pos = 0;
  const skipSpace = (): void => {
    while (pos < text.length && ' \t\r\n'.includes(text[pos]!)) pos++;
  };
  const expect = (ch: string): void => {
    skipSpace();
    if (text[pos] !== ch) throw fail(`expected '${ch}', got ${describe(pos)}`, pos);
    pos++;
  };
  const describe = (at: number): string => (at < text.length ? `'${text[at]}'` : 'the end of the header');

  // Items up to `close`, with Python's optional trailing comma; says whether there was one.
  const sequence = (close: string, item: () => void): boolean => {
    let trailingComma = false;
    for (;;) {
      skipSpace();
      if (text[pos] === close) break;
      item();
      skipSpace();
      trailingComma = text[pos] === ',';
      if (trailingComma) pos++;
      else if (text[pos] !== close) throw fail(`expected ',' or '${close}', got ${describe(pos)}`, pos);
    }
    pos++;
    return trailingComma;
  };

  const value = (depth: number): PyValue => {
    if (depth > MAX_DEPTH) throw fail(`nesting deeper than ${MAX_DEPTH} levels`, pos);
    skipSpace();
    const start = pos;
    const ch = text[pos];
    if (ch === "'" || ch === '"') {
      const end = text.indexOf(ch, pos + 1);
      if (end < 0) throw fail('unterminated string', start);
      const s = text.slice(pos + 1, end);
      if (s.includes('\\') || s.includes('\n')) throw fail('escape sequences and line breaks are not allowed in header strings', start);
      pos = end + 1;
      return s;
    }
    if (ch === '{') {
      pos++;
      const dict = new Map<string, PyValue>();
      sequence('}', () => {
        skipSpace();
        const keyAt = pos;
        const key = value(depth + 1);
        if (typeof key !== 'string') throw fail('dict keys must be strings', keyAt);
        if (dict.has(key)) throw fail(`duplicate key '${key}'`, keyAt);
        expect(':');
        dict.set(key, value(depth + 1));
      });
      return dict;
    }
    if (ch === '(' || ch === '[') {
      pos++;
      const items: PyValue[] = [];
      const close = ch === '(' ? ')' : ']';
      const trailingComma = sequence(close, () => items.push(value(depth + 1)));
      // (x) is a parenthesised value, not a tuple; only (x,) is.
      return ch === '(' && items.length === 1 && !trailingComma ? items[0]! : items;
    }
    const word = /^(?:True|False|None|-?\d+L?)/.exec(text.slice(pos, pos + 32))?.[0];
    if (word === undefined) throw fail(`got ${describe(pos)} where a value was expected (only strings, integers, True, False, None, tuples, lists and dicts are allowed)`, start);
    pos += word.length;
    if (word === 'True' || word === 'False') return word === 'True';
    if (word === 'None') return null;
    // Python 2 wrote long integers with an L suffix.
    const n = Number(word.replace('L', ''));
    if (!Number.isSafeInteger(n)) throw fail(`integer ${word} is too large`, start);
    return n;
  };

  const result = value(0);
  skipSpace();
  if (pos !== text.length) throw fail(`got ${describe(pos)} after the header dict, expected only spaces`, pos);
  return result;
}

// ---------------------------------------------------------------- .npy

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** NumPy type letter + size to the element kinds stride reads. */
const NPY_KINDS: Record<string, ElementKind> = {
  b1: 'b1', u1: 'u1', i1: 'i1', i2: 'i2', u2: 'u2', i4: 'i4', u4: 'u4', i8: 'i8', u8: 'u8', f2: 'f2', f4: 'f4', f8: 'f8',
};

function elementKind(r: ByteReader, descr: string, at: number): { kind: ElementKind; littleEndian: boolean } {
  if (/^[|<>=]?O\d*$/.test(descr)) {
    throw r.error(`object arrays ('${descr}') hold pickled Python objects and are refused`, at);
  }
  const m = /^([|<>])([a-zA-Z])(\d+)$/.exec(descr);
  const kind = m ? NPY_KINDS[m[2]! + m[3]!] : undefined;
  if (!m || !kind) {
    throw r.error(`unsupported dtype '${descr}' (supported: b1, u1, i1, i2, u2, i4, u4, i8, u8, f2, f4, f8 with byte order < or >, or | for 1-byte types)`, at);
  }
  if (m[1] === '|' && ELEMENT_KINDS[kind].size > 1) throw r.error(`dtype '${descr}' has no byte order ('|') but ${ELEMENT_KINDS[kind].size}-byte elements`, at);
  return { kind, littleEndian: m[1] !== '>' };
}

/** The elements of a column-major (Fortran-order) array of `shape`, rearranged to row-major. */
function fortranToRowMajor(src: TypedArray, shape: readonly number[]): TypedArray {
  const dst = new (src.constructor as new (n: number) => TypedArray)(src.length);
  const fStrides: number[] = [];
  let s = 1;
  for (const size of shape) {
    fStrides.push(s);
    s *= size;
  }
  // Walk the row-major order with an odometer, tracking the column-major position f.
  const idx = shape.map(() => 0);
  let f = 0;
  for (let i = 0; i < src.length; i++) {
    dst[i] = src[f]!;
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d]!++;
      f += fStrides[d]!;
      if (idx[d]! < shape[d]!) break;
      f -= fStrides[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return dst;
}

/**
 * A .npy file as a tensor: float32 for <f4 and <f2, float64 for <f8, int32 for the integer
 * types (values must fit), uint8 for |u1, bool for |b1; big-endian ('>') data is byte-swapped
 * and Fortran-order data rearranged to row-major. The file must end exactly after the data.
 */
export function parseNpy(bytes: Uint8Array, source: string = UNNAMED_SOURCE): Tensor {
  const r = new ByteReader(bytes, source, 'npy');
  r.need(0, 10, 'the magic string and version');
  if (!NPY_MAGIC.every((b, i) => bytes[i] === b)) throw r.error('expected the magic string \\x93NUMPY (not a .npy file)', 0);
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (major < 1 || major > 3 || minor !== 0) throw r.error(`unsupported format version ${major}.${minor} (expected 1.0, 2.0 or 3.0)`, 6);
  const headerLength = major === 1 ? r.u16le(8, 'the header length') : r.u32le(8, 'the header length');
  const headerStart = major === 1 ? 10 : 12;
  r.need(headerStart, headerLength, `the ${headerLength}-byte header`);
  const headerBytes = bytes.subarray(headerStart, headerStart + headerLength);
  let text: string;
  try {
    // Versions 1 and 2 store the header in latin-1, version 3 in UTF-8.
    text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1', { fatal: true }).decode(headerBytes);
  } catch (e) {
    throw r.error('the header is not valid UTF-8', headerStart, e);
  }
  // A latin-1 character is one byte; a UTF-8 one may be more, so offsets are re-encoded.
  const byteOffset = (at: number): number => headerStart + (major === 3 ? new TextEncoder().encode(text.slice(0, at)).length : at);
  const header = parsePyLiteral(text, (message, at) => r.error(`header: ${message}`, byteOffset(at)));
  if (!(header instanceof Map)) throw r.error('the header is not a dict', headerStart);
  const keys = [...header.keys()].sort();
  if (!hasExactly(keys, ['descr', 'fortran_order', 'shape'])) {
    throw r.error(`the header must have exactly the keys 'descr', 'fortran_order' and 'shape', got ${keys.map((k) => `'${k}'`).join(', ') || 'none'}`, headerStart);
  }
  const descr = header.get('descr');
  const fortran = header.get('fortran_order');
  const shapeValue = header.get('shape');
  if (typeof descr !== 'string') throw r.error('header: descr must be a string (structured dtypes are not supported)', headerStart);
  if (typeof fortran !== 'boolean') throw r.error(`header: fortran_order must be True or False, got ${String(fortran)}`, headerStart);
  if (!Array.isArray(shapeValue)) throw r.error('header: shape must be a tuple of integers', headerStart);
  const shape = checkSizes(r, shapeValue, 'header: shape', headerStart);
  const { kind, littleEndian } = elementKind(r, descr, headerStart);
  const dataStart = headerStart + headerLength;
  const count = product(shape);
  const expected = dataStart + count * ELEMENT_KINDS[kind].size;
  if (r.length !== expected) {
    throw r.error(
      `expected ${expected} bytes (${dataStart}-byte header + ${count} elements of '${descr}' for shape (${shape.join(', ')})), got ${r.length}` +
        (r.length < expected ? ' (truncated)' : ' (trailing bytes)'),
      Math.min(r.length, expected),
    );
  }
  const flat = decodeElements(r, kind, dataStart, count, littleEndian, 'data');
  const data = fortran && shape.length > 1 ? fortranToRowMajor(flat, shape) : flat;
  return fromFlat(data, shape, { dtype: ELEMENT_KINDS[kind].dtype });
}

// ---------------------------------------------------------------- .npz (zip)

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const ZIP64_MARK = 0xffffffff;

interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's central directory record (for errors). */
  record: number;
  localHeader: number;
}

/** Finds the end-of-central-directory record and reads the central directory entries. */
function readCentralDirectory(r: ByteReader): { entries: ZipEntry[]; cdOffset: number } {
  // The EOCD is 22 bytes plus a comment of up to 65535 bytes, at the very end.
  let eocd = -1;
  for (let at = r.length - 22; at >= Math.max(0, r.length - 22 - 0xffff); at--) {
    if (r.view.getUint32(at, true) === EOCD_SIGNATURE) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) throw r.error('no end-of-central-directory record (not a zip file, or truncated)', r.length);
  const count = r.u16le(eocd + 10, 'the entry count');
  const cdSize = r.u32le(eocd + 12, 'the central directory size');
  const cdOffset = r.u32le(eocd + 16, 'the central directory offset');
  if (count === 0xffff || cdOffset === ZIP64_MARK || cdSize === ZIP64_MARK) {
    throw r.error('zip64 archives (over 65535 entries or 4 GiB) are not supported', eocd);
  }
  if (cdOffset + cdSize > eocd) {
    throw r.error(`the central directory (bytes ${cdOffset}..${cdOffset + cdSize}) runs past its end record at ${eocd}`, eocd + 12);
  }
  const entries: ZipEntry[] = [];
  let at = cdOffset;
  for (let i = 0; i < count; i++) {
    if (r.u32le(at, `central directory entry ${i}`) !== CENTRAL_SIGNATURE) throw r.error(`central directory entry ${i}: bad signature`, at);
    r.need(at, 46, `central directory entry ${i}`);
    const flags = r.view.getUint16(at + 8, true);
    const nameLength = r.view.getUint16(at + 28, true);
    const next = at + 46 + nameLength + r.view.getUint16(at + 30, true) + r.view.getUint16(at + 32, true);
    if (next > cdOffset + cdSize) throw r.error(`central directory entry ${i} runs past the directory`, at);
    const nameBytes = r.bytes.subarray(at + 46, at + 46 + nameLength);
    // Names are UTF-8 when flag bit 11 is set, else CP437, which agrees with ASCII.
    if (!(flags & 0x800) && nameBytes.some((b) => b > 0x7f)) throw r.error(`entry ${i}: non-ASCII name without the UTF-8 flag`, at + 46);
    let name: string;
    try {
      name = new TextDecoder('utf-8', { fatal: true }).decode(nameBytes);
    } catch (e) {
      throw r.error(`entry ${i}: the name is not valid UTF-8`, at + 46, e);
    }
    if (flags & 1) throw r.error(`entry '${name}' is encrypted`, at + 8);
    const entry: ZipEntry = {
      name,
      method: r.view.getUint16(at + 10, true),
      crc: r.view.getUint32(at + 16, true),
      compressedSize: r.view.getUint32(at + 20, true),
      size: r.view.getUint32(at + 24, true),
      record: at,
      localHeader: r.view.getUint32(at + 42, true),
    };
    if ([entry.compressedSize, entry.size, entry.localHeader].includes(ZIP64_MARK)) {
      throw r.error(`entry '${name}' uses zip64 sizes (over 4 GiB), which are not supported`, at + 20);
    }
    entries.push(entry);
    at = next;
  }
  return { entries, cdOffset };
}

/** Where an entry's data starts, after checking its local header against the central one. */
function entryData(r: ByteReader, e: ZipEntry, end: number): number {
  if (r.u32le(e.localHeader, `the local header of '${e.name}'`) !== LOCAL_SIGNATURE) {
    throw r.error(`entry '${e.name}': no local header at offset ${e.localHeader}`, e.localHeader);
  }
  r.need(e.localHeader, 30, `the local header of '${e.name}'`);
  const nameLength = r.view.getUint16(e.localHeader + 26, true);
  const start = e.localHeader + 30 + nameLength + r.view.getUint16(e.localHeader + 28, true);
  const localName = r.bytes.subarray(e.localHeader + 30, e.localHeader + 30 + nameLength);
  if (new TextDecoder().decode(localName) !== e.name) throw r.error(`entry '${e.name}': the local header names another file`, e.localHeader + 30);
  if (start + e.compressedSize > end) {
    throw r.error(`entry '${e.name}': its ${e.compressedSize} bytes of data (from ${start}) run past the central directory at ${end}`, start);
  }
  return start;
}

/**
 * A .npz archive (as written by numpy.savez or savez_compressed) as tensors keyed by array
 * name. Only .npy entries, stored or deflated, are accepted; declared sizes are checked against
 * `maxBytes` (in total) and against the compressed sizes before anything is inflated, and each
 * entry's CRC-32 is verified.
 */
export function parseNpz(bytes: Uint8Array, source: string = UNNAMED_SOURCE, maxBytes = MAX_INFLATED_BYTES): Record<string, Tensor> {
  const r = new ByteReader(bytes, source, 'npz');
  const { entries, cdOffset } = readCentralDirectory(r);
  let total = 0;
  const seen = new Set<string>();
  for (const e of entries) {
    if (!e.name.endsWith('.npy')) throw r.error(`entry '${e.name}' is not a .npy file`, e.record + 46);
    if (seen.has(e.name)) throw r.error(`entry '${e.name}' appears twice`, e.record + 46);
    seen.add(e.name);
    if (e.method !== 0 && e.method !== 8) throw r.error(`entry '${e.name}': compression method ${e.method} is not stored (0) or deflate (8)`, e.record + 10);
    if (e.method === 0 && e.size !== e.compressedSize) {
      throw r.error(`entry '${e.name}' is stored but declares ${e.size} bytes uncompressed and ${e.compressedSize} compressed`, e.record + 20);
    }
    total += e.size;
    checkDeclaredSize(r, e.method === 0 ? e.size : e.compressedSize, e.size, maxBytes, `entry '${e.name}'`, e.record + 24);
    if (total > maxBytes) throw r.error(`the entries declare ${total} uncompressed bytes in total, more than the limit of ${maxBytes}`, e.record + 24);
  }
  const out: Record<string, Tensor> = {};
  try {
    for (const e of entries) {
      const start = entryData(r, e, cdOffset);
      const end = start + e.compressedSize;
      let data: Uint8Array;
      if (e.method === 0) {
        data = bytes.subarray(start, end);
        checkCrc(r, data, e.crc, `entry '${e.name}'`, start);
      } else {
        data = inflateChecked(r, start, end, e.size, e.crc, `entry '${e.name}'`);
      }
      setOwn(out, e.name.slice(0, -4), parseNpy(data, `${r.source}:${e.name}`));
    }
  } catch (e) {
    for (const t of Object.values(out)) t.dispose();
    throw e;
  }
  return out;
}
