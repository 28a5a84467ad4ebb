/**
 * The weights of a TF.js model: the `weightsManifest` of model.json decoded against the binary
 * shards. Weights lie back to back in manifest order, groups one after the other, so their
 * offsets follow from the declared shapes and dtypes; every one is checked to lie inside the data
 * before anything is allocated. float32 and int32 are read as they are; quantized weights
 * (`quantization.dtype` uint8 or uint16) become min + q·scale, float16 ones are widened. Pure.
 */
import { ByteReader, checkSizes, decodeElements, product, type ElementKind } from '../../data/formats.js';
import { StrideError } from '../../tensor/errors.js';

export class TfjsError extends StrideError {
  override name = 'TfjsError';
}

export interface TfjsWeight {
  shape: number[];
  values: Float32Array | Int32Array;
}

/** How each stored encoding is read: NumPy-style element kind (see formats.ts). */
const STORED: Record<string, ElementKind> = { float32: 'f4', int32: 'i4', uint8: 'u1', uint16: 'u2', float16: 'f2' };
const QUANTIZED = ['uint8', 'uint16', 'float16'];

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The shards as one byte array, and where each one starts (to name the shard in errors). */
export interface WeightBytes {
  bytes: Uint8Array;
  /** [path, first byte] of each shard, when the caller gave the shards one by one. */
  shards: [string, number][];
}

/** Joins the shards in manifest order; names them after the manifest's paths when they match in number. */
export function joinShards(data: Uint8Array | ArrayBuffer | readonly Uint8Array[], paths: readonly string[]): WeightBytes {
  if (data instanceof ArrayBuffer) return { bytes: new Uint8Array(data), shards: [] };
  if (data instanceof Uint8Array) return { bytes: data, shards: [] };
  const bytes = new Uint8Array(data.reduce((n, s) => n + s.length, 0));
  const shards: [string, number][] = [];
  let at = 0;
  data.forEach((shard, i) => {
    shards.push([paths.length === data.length ? paths[i]! : `shard ${i}`, at]);
    bytes.set(shard, at);
    at += shard.length;
  });
  return { bytes, shards };
}

/** Where byte `offset` lies, for messages: the shard and the offset inside it. */
function locate(offset: number, data: WeightBytes): string {
  const shard = data.shards.filter(([, start]) => start <= offset).at(-1);
  return shard ? ` (byte ${offset - shard[1]} of ${shard[0]})` : '';
}

/** The manifest's shard paths in order (the order the shards are expected in). */
export function manifestPaths(manifest: unknown, source: string): string[] {
  if (!Array.isArray(manifest)) throw new TfjsError(`${source}: "weightsManifest" must be an array of {paths, weights} groups`);
  return manifest.flatMap((group, g) => {
    const paths = isRecord(group) ? group['paths'] : undefined;
    if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string')) {
      throw new TfjsError(`${source}: weightsManifest[${g}].paths must be an array of file names`);
    }
    return paths as string[];
  });
}

/**
 * Decodes every weight of the manifest from `data`, by name. The manifest must account for the
 * data exactly: a weight running past the end, or bytes left over, means the shards do not
 * belong to this model.json (or are truncated), and is an error naming the weight and offset.
 */
export function readWeights(manifest: unknown, data: WeightBytes, source: string): Map<string, TfjsWeight> {
  manifestPaths(manifest, source);
  const r = new ByteReader(data.bytes, source, 'TF.js weights');
  const out = new Map<string, TfjsWeight>();
  let offset = 0;
  (manifest as Record<string, unknown>[]).forEach((group, g) => {
    const specs = group['weights'];
    if (!Array.isArray(specs)) throw new TfjsError(`${source}: weightsManifest[${g}].weights must be an array`);
    specs.forEach((spec: unknown, w) => {
      const where = `weightsManifest[${g}].weights[${w}]`;
      if (!isRecord(spec) || typeof spec['name'] !== 'string' || !Array.isArray(spec['shape'])) {
        throw new TfjsError(`${source}: ${where} must be {name, shape, dtype}, got ${JSON.stringify(spec)?.slice(0, 200)}`);
      }
      const name = spec['name'];
      if (out.has(name)) throw new TfjsError(`${source}: weight '${name}' is listed twice in the manifest`);
      const shape = checkSizes(r, spec['shape'], `weight '${name}'`);
      const quantization = spec['quantization'] ?? null;
      const dtype = String(spec['dtype'] ?? 'float32');
      if (dtype !== 'float32' && dtype !== 'int32') throw new TfjsError(`${source}: weight '${name}' has dtype '${dtype}'; stride reads float32 and int32 weights`);
      const stored = quantization === null ? dtype : String((quantization as Record<string, unknown>)['dtype']);
      if (quantization !== null && !(isRecord(quantization) && QUANTIZED.includes(stored))) {
        throw new TfjsError(`${source}: weight '${name}' has quantization ${JSON.stringify(quantization)?.slice(0, 200)}; stride reads uint8, uint16 and float16 quantization`);
      }
      const kind = STORED[stored]!;
      const count = product(shape);
      const bytes = count * (kind === 'u1' ? 1 : kind === 'u2' || kind === 'f2' ? 2 : 4);
      if (offset + bytes > data.bytes.length) {
        throw r.error(
          `weight '${name}' (${stored} [${shape.join(', ')}], ${bytes} bytes) starts at byte ${offset}${locate(offset, data)} and runs past the end of the ` +
            `${data.bytes.length} bytes of weight data: the shards are truncated, missing, or not this model's`,
          offset,
        );
      }
      const raw = decodeElements(r, kind, offset, count, true, `weight '${name}'`);
      out.set(name, { shape, values: dequantize(raw, stored, dtype, quantization, `${source}: weight '${name}'`) });
      offset += bytes;
    });
  });
  if (offset !== data.bytes.length) {
    throw r.error(`the manifest's weights take ${offset} bytes but the weight data has ${data.bytes.length}: the shards do not belong to this model.json`, offset);
  }
  return out;
}

/** uint8/uint16 → min + q·scale (rounded for int32 weights, as TF.js does); everything else as decoded. */
function dequantize(raw: ArrayLike<number>, stored: string, dtype: string, quantization: unknown, what: string): Float32Array | Int32Array {
  if (stored === 'uint8' || stored === 'uint16') {
    const { min, scale } = quantization as Record<string, unknown>;
    if (typeof min !== 'number' || typeof scale !== 'number' || !Number.isFinite(min) || !Number.isFinite(scale)) {
      throw new TfjsError(`${what}: ${stored} quantization needs finite numbers "min" and "scale", got ${JSON.stringify({ min, scale })}`);
    }
    const values = dtype === 'int32' ? new Int32Array(raw.length) : new Float32Array(raw.length);
    const round = dtype === 'int32' ? Math.round : (v: number) => v;
    for (let i = 0; i < raw.length; i++) values[i] = round(min + raw[i]! * scale);
    return values;
  }
  if (dtype === 'int32' && !(raw instanceof Int32Array)) return Int32Array.from(raw, Math.round);
  return raw as Float32Array | Int32Array;
}
