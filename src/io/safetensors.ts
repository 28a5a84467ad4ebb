/**
 * The safetensors format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}}), then
 * the data buffer, which the tensors' ranges must cover exactly. Pure: bytes in, tensors out.
 */
import {
  ByteReader, checkSizes, decodeElements, ELEMENT_KINDS, hasExactly, product, setOwn, UNNAMED_SOURCE, type ElementKind,
} from '../data/formats.js';
import { fromFlat } from '../tensor/creation.js';
import type { DType } from '../tensor/dtype.js';
import { StrideError } from '../tensor/errors.js';
import { Tensor } from '../tensor/tensor.js';

/** The format caps the header at 100 MB (as the reference implementation does). */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';

/** File dtypes stride reads, and how (F16/BF16 widen to float32, integers narrow to int32 with a range check). */
const READ_KINDS: Record<string, ElementKind> = {
  F64: 'f8', F32: 'f4', F16: 'f2', BF16: 'bf16', I64: 'i8', I32: 'i4', I16: 'i2', I8: 'i1', U64: 'u8', U32: 'u4', U16: 'u2', U8: 'u1', BOOL: 'b1',
};

export interface SafetensorsContents {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

interface Entry {
  name: string;
  kind: ElementKind;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Walks valid JSON `text` for what JSON.parse hides: the first key that appears twice in one
 * object, and where each top-level key is (character index), for error offsets.
 */
function scanKeys(text: string): { duplicate?: { key: string; at: number }; topLevel: Map<string, number> } {
  // One frame per open object (its keys so far) or array (null); a string right after '{' or ',' in an object is a key.
  const stack: { keys: Set<string> | null; expectKey: boolean }[] = [];
  const topLevel = new Map<string, number>();
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return { duplicate: { key, at: i }, topLevel };
        top.keys.add(key);
        top.expectKey = false;
        if (stack.length === 1) topLevel.set(key, i);
      }
      i = j;
    } else if (c === '{') stack.push({ keys: new Set(), expectKey: true });
    else if (c === '[') stack.push({ keys: null, expectKey: false });
    else if (c === '}' || c === ']') stack.pop();
    else if (c === ',' && stack[stack.length - 1]?.keys) stack[stack.length - 1]!.expectKey = true;
  }
  return { topLevel };
}

/** A JSON value for an error message, cut short (header values can be megabytes long). */
function preview(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads and checks the header: every entry's fields, then exact coverage of the data buffer. */
function readHeader(r: ByteReader): { entries: Entry[]; metadata: Record<string, string>; dataStart: number } {
  const n = r.u64le(0, 'the header length');
  if (n > MAX_HEADER_BYTES) throw r.error(`the header length ${n} exceeds the format's limit of ${MAX_HEADER_BYTES} bytes`, 0);
  if (8 + n > r.length) throw r.error(`the header length ${n} runs past the end of the file (${r.length} bytes, so at most ${Math.max(0, r.length - 8)})`, 0);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(r.bytes.subarray(8, 8 + n));
  } catch (e) {
    throw r.error('the header is not valid UTF-8', 8, e);
  }
  if (!text.startsWith('{')) throw r.error(`the header must be a JSON object starting with '{', got ${JSON.stringify(text.slice(0, 20))}`, 8);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw r.error(`the header is not valid JSON (${(e as Error).message})`, 8, e);
  }
  if (!isPlainObject(header)) throw r.error('the header must be a JSON object', 8);
  const { duplicate, topLevel } = scanKeys(text);
  const byteOffset = (at: number): number => 8 + new TextEncoder().encode(text.slice(0, at)).length;
  if (duplicate) throw r.error(`the header has the key '${duplicate.key}' twice`, byteOffset(duplicate.at));
  // Problems in an entry are reported at its key in the header.
  const at = (key: string): number => byteOffset(topLevel.get(key)!);

  const metadata: Record<string, string> = {};
  const meta = header[METADATA_KEY];
  if (meta !== undefined) {
    if (!isPlainObject(meta)) throw r.error(`${METADATA_KEY} must be an object of strings, got ${preview(meta)}`, at(METADATA_KEY));
    for (const [k, v] of Object.entries(meta)) {
      if (typeof v !== 'string') throw r.error(`${METADATA_KEY}: the value of '${k}' must be a string, got ${preview(v)}`, at(METADATA_KEY));
      setOwn(metadata, k, v);
    }
  }

  const dataStart = 8 + n;
  const dataLength = r.length - dataStart;
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) continue;
    const what = `tensor '${name}'`;
    if (!isPlainObject(info)) throw r.error(`${what}: expected {dtype, shape, data_offsets}, got ${preview(info)}`, at(name));
    const fields = Object.keys(info);
    if (!hasExactly(fields, ['dtype', 'shape', 'data_offsets'])) {
      throw r.error(`${what}: expected exactly the fields dtype, shape and data_offsets, got ${fields.join(', ') || 'none'}`, at(name));
    }
    const { dtype, shape, data_offsets: offsets } = info;
    const kind = typeof dtype === 'string' && Object.hasOwn(READ_KINDS, dtype) ? READ_KINDS[dtype] : undefined;
    if (!kind) throw r.error(`${what}: unsupported dtype ${preview(dtype)} (supported: ${Object.keys(READ_KINDS).join(', ')})`, at(name));
    if (!Array.isArray(shape)) throw r.error(`${what}: shape must be a list of sizes, got ${preview(shape)}`, at(name));
    checkSizes(r, shape, `${what}: shape`, at(name));
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw r.error(`${what}: data_offsets must be two non-negative integers [begin, end], got ${preview(offsets)}`, at(name));
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw r.error(`${what}: data_offsets [${begin}, ${end}] end before they begin`, at(name));
    if (end > dataLength) {
      throw r.error(`${what}: data_offsets [${begin}, ${end}] run past the end of the data buffer (${dataLength} bytes from byte ${dataStart})`, dataStart + Math.min(begin, dataLength));
    }
    const size = ELEMENT_KINDS[kind].size;
    const nbytes = product(shape as number[]) * size;
    if (nbytes !== end - begin) {
      throw r.error(`${what}: shape [${shape.join(', ')}] of ${dtype} needs ${nbytes} bytes, data_offsets [${begin}, ${end}] hold ${end - begin}`, dataStart + begin);
    }
    entries.push({ name, kind, shape: shape as number[], begin, end });
  }

  // The ranges, in file order, must tile the data buffer: no overlap, no hole, nothing after.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let last: Entry | undefined;
  for (const e of sorted) {
    if (e.begin < covered) {
      throw r.error(`tensor '${e.name}' (data bytes ${e.begin}..${e.end}) overlaps tensor '${last!.name}' (data bytes ${last!.begin}..${last!.end})`, dataStart + e.begin);
    }
    if (e.begin > covered) throw r.error(`data bytes ${covered}..${e.begin} belong to no tensor (a hole before tensor '${e.name}')`, dataStart + covered);
    covered = e.end;
    last = e;
  }
  if (covered !== dataLength) throw r.error(`data bytes ${covered}..${dataLength} belong to no tensor (the file is longer than its tensors)`, dataStart + covered);
  return { entries, metadata, dataStart };
}

/**
 * Parses a safetensors file. Everything in the header is checked before any tensor is made;
 * dtypes map to F64 → float64, F32/F16/BF16 → float32, I64/I32/I16/I8/U64/U32/U16 → int32 (a
 * value that does not fit is an error), U8 → uint8, BOOL → bool. `source` names the file in errors.
 */
export function parseSafetensors(bytes: Uint8Array, source: string = UNNAMED_SOURCE): SafetensorsContents {
  const r = new ByteReader(bytes, source, 'safetensors');
  const { entries, metadata, dataStart } = readHeader(r);
  const tensors: Record<string, Tensor> = {};
  try {
    for (const e of entries) {
      const data = decodeElements(r, e.kind, dataStart + e.begin, product(e.shape), true, `tensor '${e.name}'`);
      setOwn(tensors, e.name, fromFlat(data, e.shape, { dtype: ELEMENT_KINDS[e.kind].dtype }));
    }
  } catch (err) {
    for (const t of Object.values(tensors)) t.dispose();
    throw err;
  }
  return { tensors, metadata };
}

// ---------------------------------------------------------------- writing

export interface SerializeOptions {
  /**
   * Writes int32 tensors as I64, as PyTorch stores integer buffers (num_batches_tracked):
   * true for every int32 tensor, or the names of the ones to widen.
   */
  int64?: boolean | readonly string[];
}

type WriteCode = 'BOOL' | 'U8' | 'I32' | 'F32' | 'F64' | 'I64';

const WRITE_CODES: Record<DType, WriteCode> = { bool: 'BOOL', uint8: 'U8', int32: 'I32', float32: 'F32', float64: 'F64' };
const WRITE_SIZES: Record<WriteCode, number> = { BOOL: 1, U8: 1, I32: 4, F32: 4, F64: 8, I64: 8 };

/** Position of each dtype in the reference implementation's Dtype enum: tensors are laid out by descending position, then by name. */
const REFERENCE_ORDER: Record<WriteCode, number> = { BOOL: 0, U8: 1, I32: 9, F32: 11, F64: 12, I64: 13 };

/** Byte-wise order of the UTF-8 encodings (Rust's string order), which is code point order. */
function compareCodePoints(a: string, b: string): number {
  const ca = [...a];
  const cb = [...b];
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const d = ca[i]!.codePointAt(0)! - cb[i]!.codePointAt(0)!;
    if (d) return d;
  }
  return ca.length - cb.length;
}

/** A JSON object from keys and JSON-encoded values, in the given order (a JS object would move integer-like keys first). */
function jsonObject(entries: [string, string][]): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
}

/**
 * Serializes tensors as the reference implementation does: data ordered by descending dtype
 * alignment then name, compact JSON header with __metadata__ first (keys sorted; omitted when
 * empty), padded with spaces to a multiple of 8 bytes. Writes F32, F64, I32 (or I64, see
 * options.int64), U8 and BOOL.
 */
export function serializeSafetensors(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}, options: SerializeOptions = {}): Uint8Array {
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new StrideError(`serializeSafetensors: metadata values must be strings; '${k}' is ${typeof v}`);
  }
  const names = Object.keys(tensors);
  if (names.includes(METADATA_KEY)) throw new StrideError(`serializeSafetensors: '${METADATA_KEY}' is reserved and cannot name a tensor`);
  for (const name of names) {
    const t = tensors[name];
    if (!(t instanceof Tensor)) throw new StrideError(`serializeSafetensors: '${name}' is not a Tensor (got ${t === null ? 'null' : typeof t})`);
    t.assertAlive();
  }
  const { int64 = false } = options;
  const widen = new Set(int64 === true ? names.filter((n) => tensors[n]!.dtype === 'int32') : int64 === false ? [] : int64);
  for (const n of widen) {
    const t = tensors[n];
    if (!t || t.dtype !== 'int32') throw new StrideError(`serializeSafetensors: options.int64 names '${n}', which is ${t ? `a ${t.dtype} tensor` : 'not among the tensors'}; only int32 tensors can be written as I64`);
  }
  const items = names.map((name) => {
    const t = tensors[name]!;
    const code: WriteCode = widen.has(name) ? 'I64' : WRITE_CODES[t.dtype];
    return { name, t, code, nbytes: t.numel() * WRITE_SIZES[code] };
  });
  items.sort((a, b) => REFERENCE_ORDER[b.code] - REFERENCE_ORDER[a.code] || compareCodePoints(a.name, b.name));

  const headerEntries: [string, string][] = [];
  const metaKeys = Object.keys(metadata).sort(compareCodePoints);
  if (metaKeys.length) headerEntries.push([METADATA_KEY, jsonObject(metaKeys.map((k) => [k, JSON.stringify(metadata[k])]))]);
  let offset = 0;
  for (const it of items) {
    headerEntries.push([it.name, JSON.stringify({ dtype: it.code, shape: it.t.shape, data_offsets: [offset, offset + it.nbytes] })]);
    offset += it.nbytes;
  }
  const json = new TextEncoder().encode(jsonObject(headerEntries));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, headerLength, true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const { t, code, nbytes } of items) {
    const values = t.dataSync();
    const n = values.length;
    switch (code) {
      case 'BOOL':
      case 'U8':
        out.set(values, at);
        break;
      case 'I32':
        for (let i = 0; i < n; i++) dv.setInt32(at + 4 * i, values[i]!, true);
        break;
      case 'I64':
        for (let i = 0; i < n; i++) {
          dv.setInt32(at + 8 * i, values[i]!, true);
          dv.setInt32(at + 8 * i + 4, values[i]! < 0 ? -1 : 0, true);
        }
        break;
      case 'F32':
        for (let i = 0; i < n; i++) dv.setFloat32(at + 4 * i, values[i]!, true);
        break;
      case 'F64':
        for (let i = 0; i < n; i++) dv.setFloat64(at + 8 * i, values[i]!, true);
        break;
    }
    at += nbytes;
  }
  return out;
}
