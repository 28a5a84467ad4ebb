/**
 * A protobuf encoder, enough for ONNX's messages: varints, length-delimited fields (strings,
 * bytes, nested messages), fixed 32-bit floats and packed repeated int64s. Pure.
 */

/** One field of a message being built; nested messages are Writers. */
export class Writer {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.size += bytes.length;
  }

  private varint(value: bigint | number): void {
    // int64 fields hold negative numbers as their 64-bit two's complement (10 bytes).
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) byte |= 0x80;
      out.push(byte);
    } while (v !== 0n);
    this.push(Uint8Array.from(out));
  }

  private key(field: number, wire: 0 | 2 | 5): void {
    this.varint((field << 3) | wire);
  }

  /** An int32/int64/enum/bool field. */
  int(field: number, value: number | bigint): this {
    this.key(field, 0);
    this.varint(value);
    return this;
  }

  /** A float field (fixed 32 bits, little-endian). */
  float(field: number, value: number): this {
    this.key(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.key(field, 2);
    this.varint(value.length);
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, value: Writer): this {
    return this.bytes(field, value.finish());
  }

  /** A packed repeated int64 field. */
  ints(field: number, values: readonly number[]): this {
    const inner = new Writer();
    for (const v of values) inner.varint(v);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** A field as read: its number, and a varint, a fixed 32/64-bit value or a byte range. */
export interface Field {
  field: number;
  wire: 0 | 1 | 2 | 5;
  /** Varints (wire 0) as bigint; fixed32 (wire 5) as its float32 value; fixed64 (wire 1) as bigint. */
  value: bigint | number;
  /** Wire 2: the bytes (a view into the message, not a copy). */
  bytes: Uint8Array;
  /** Where the field starts in the whole file, for errors. */
  offset: number;
  /** Wire 2: where its bytes start in the whole file (to read them as a nested message). */
  dataOffset: number;
}

/** A protobuf decoding error, with the byte offset in the file. */
export class ProtobufError extends Error {}

/**
 * Reads the fields of one message in `bytes` (which start at file offset `base`). Bounded: every
 * length is checked against what remains before anything is sliced, varints are at most 10 bytes.
 */
export function readFields(bytes: Uint8Array, base = 0, source = 'protobuf'): Field[] {
  const fields: Field[] = [];
  let at = 0;
  const varint = (): bigint => {
    let v = 0n;
    for (let i = 0; i < 10; i++) {
      if (at >= bytes.length) throw new ProtobufError(`${source}: a varint runs past the end at byte ${base + at}`);
      const b = bytes[at++]!;
      v |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (!(b & 0x80)) return BigInt.asUintN(64, v);
    }
    throw new ProtobufError(`${source}: a varint longer than 10 bytes at byte ${base + at - 10}`);
  };
  while (at < bytes.length) {
    const offset = base + at;
    const key = varint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field === 0) throw new ProtobufError(`${source}: field number 0 at byte ${offset}`);
    if (wire === 0) fields.push({ field, wire, value: varint(), bytes: new Uint8Array(), offset, dataOffset: offset });
    else if (wire === 2) {
      const n = varint();
      if (n > BigInt(bytes.length - at)) throw new ProtobufError(`${source}: field ${field} at byte ${offset} declares ${n} bytes but ${bytes.length - at} remain`);
      fields.push({ field, wire, value: 0, bytes: bytes.subarray(at, at + Number(n)), offset, dataOffset: base + at });
      at += Number(n);
    } else if (wire === 5 || wire === 1) {
      const size = wire === 5 ? 4 : 8;
      if (at + size > bytes.length) throw new ProtobufError(`${source}: field ${field} at byte ${offset} runs past the end`);
      const view = new DataView(bytes.buffer, bytes.byteOffset + at, size);
      fields.push({ field, wire, value: wire === 5 ? view.getFloat32(0, true) : view.getBigUint64(0, true), bytes: new Uint8Array(), offset, dataOffset: offset });
      at += size;
    } else {
      throw new ProtobufError(`${source}: unsupported wire type ${wire} for field ${field} at byte ${offset}`);
    }
  }
  return fields;
}

/** Packed (or single) varints of a repeated field: int64s as numbers (two's complement undone). */
export function readPackedInts(f: Field, source: string): number[] {
  if (f.wire === 0) return [Number(BigInt.asIntN(64, f.value as bigint))];
  const out: number[] = [];
  let v = 0n;
  let shift = 0n;
  for (let i = 0; i < f.bytes.length; i++) {
    const b = f.bytes[i]!;
    v |= BigInt(b & 0x7f) << shift;
    shift += 7n;
    if (shift > 70n) throw new ProtobufError(`${source}: a packed varint longer than 10 bytes at byte ${f.offset}`);
    if (!(b & 0x80)) {
      out.push(Number(BigInt.asIntN(64, v)));
      v = 0n;
      shift = 0n;
    }
  }
  if (shift !== 0n) throw new ProtobufError(`${source}: a packed varint runs past the end of field ${f.field} at byte ${f.offset}`);
  return out;
}
