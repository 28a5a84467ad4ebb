/**
 * Model weights on disk (Node): a state_dict in one safetensors file, or sharded over several
 * with an index JSON as Hugging Face writes them (`model.safetensors.index.json`:
 * {"metadata": {...}, "weight_map": {key: shard file name}}). PyTorch's pickled `.pt`/`.pth`
 * files are refused: unpickling executes code.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { LoadResult, Module, StateDict } from '../nn/module.js';
import { StrideError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { readBytes, writeFileAtomic } from './files.js';
import { parseSafetensors, serializeSafetensors, type SerializeOptions } from './safetensors.js';

const INDEX_SUFFIX = '.index.json';

/** What a file starting with `bytes` is, when it is one of PyTorch's own formats. */
function pytorchFormat(bytes: Uint8Array): string | null {
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return 'a zip archive (torch.save\'s format)';
  if (bytes[0] === 0x80 && bytes[1] !== undefined && bytes[1] >= 2 && bytes[1] <= 5) return 'a Python pickle (torch.save\'s legacy format)';
  return null;
}

function refusePickle(path: string, what: string): never {
  throw new StrideError(
    `${path}: ${what}; stride does not read PyTorch pickles, since loading one runs code from the file. ` +
      'Convert it to safetensors where PyTorch is installed, e.g. with tools/models/safetensors_io.py ' +
      '(save_safetensors(model.state_dict(), "model.safetensors")) or safetensors.torch.save_file',
  );
}

async function readShard(path: string): Promise<Record<string, Tensor>> {
  const bytes = await readBytes(path);
  const format = pytorchFormat(bytes);
  if (format) refusePickle(path, `this is ${format}`);
  return parseSafetensors(bytes, path).tensors;
}

interface ShardIndex {
  weight_map: Record<string, string>;
}

async function readIndex(path: string): Promise<ShardIndex> {
  let index: unknown;
  try {
    index = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new StrideError(`${path}: not a readable shard index (${(e as Error).message})`);
  }
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new StrideError(`${path}: a shard index needs a "weight_map" object of tensor name → shard file`);
  }
  for (const [key, file] of Object.entries(map)) {
    // Shards live beside the index: a path elsewhere is refused rather than followed.
    if (typeof file !== 'string' || file !== basename(file) || !file.endsWith('.safetensors')) {
      throw new StrideError(`${path}: weight_map["${key}"] should name a .safetensors file beside the index, got ${JSON.stringify(file)}`);
    }
  }
  return { weight_map: map as Record<string, string> };
}

/**
 * Reads a state_dict from a `.safetensors` file or a shard index (`*.safetensors.index.json`),
 * whose shards must hold exactly the tensors the index assigns them.
 */
export async function load_state_dict_file(path: string): Promise<StateDict> {
  if (/\.(pt|pth|ckpt|bin|pkl)$/i.test(path)) refusePickle(path, 'a PyTorch pickle by its name');
  if (!path.endsWith(INDEX_SUFFIX)) return readShard(path);
  const { weight_map } = await readIndex(path);
  const state: StateDict = {};
  const shards = [...new Set(Object.values(weight_map))];
  for (const shard of shards) {
    const file = join(dirname(path), shard);
    const tensors = await readShard(file);
    const assigned = Object.keys(weight_map).filter((k) => weight_map[k] === shard);
    const absent = assigned.filter((k) => !(k in tensors));
    const extra = Object.keys(tensors).filter((k) => weight_map[k] !== shard);
    if (absent.length || extra.length) {
      throw new StrideError(`${file} does not match ${path}: ${[
        absent.length ? `missing ${absent.join(', ')}` : '',
        extra.length ? `not assigned to it: ${extra.join(', ')}` : '',
      ].filter(Boolean).join('; ')}`);
    }
    Object.assign(state, tensors);
  }
  return state;
}

/**
 * Loads weights from a file into `model` (PyTorch's model.load_state_dict(load_file(path))).
 * Strict by default: missing, unexpected and mis-shaped keys are an error naming them and the
 * file; with strict false, missing and unexpected keys are reported in the result instead.
 */
export async function load_weights(model: Module, path: string, opts: { strict?: boolean } = {}): Promise<LoadResult> {
  const state = await load_state_dict_file(path);
  try {
    return model.load_state_dict(state, opts.strict ?? true);
  } catch (e) {
    throw new StrideError(`${path}: ${(e as Error).message}`, { cause: e });
  } finally {
    for (const t of Object.values(state)) t.dispose();
  }
}

export interface SaveWeightsOptions extends SerializeOptions {
  /** Split into shards of at most about this many bytes each, with an index (default: one file). */
  max_shard_bytes?: number;
  metadata?: Record<string, string>;
}

/**
 * Saves `model.state_dict()` (or a state dict) as safetensors with PyTorch's names and I64
 * integer buffers. With max_shard_bytes, `path` must end in .safetensors: the shards are
 * written beside it as NAME-00001-of-0000N.safetensors and the index as PATH.index.json, which
 * is written last, so a crash leaves no index naming missing shards. Returns the files written.
 */
export async function save_weights(source: Module | StateDict, path: string, opts: SaveWeightsOptions = {}): Promise<string[]> {
  const fromModule = typeof (source as Module).state_dict === 'function';
  const state = fromModule ? (source as Module).state_dict() : (source as StateDict);
  try {
    return await writeShards(state, path, opts);
  } finally {
    // state_dict() made new handles onto the module's storage; a given dict stays the caller's.
    if (fromModule) for (const t of Object.values(state)) t.dispose();
  }
}

async function writeShards(state: StateDict, path: string, opts: SaveWeightsOptions): Promise<string[]> {
  const { max_shard_bytes, metadata = {}, int64 = true } = opts;
  if (max_shard_bytes === undefined) {
    await writeFileAtomic(path, serializeSafetensors(state, metadata, { int64 }));
    return [path];
  }
  if (!(max_shard_bytes > 0)) throw new StrideError(`save_weights: max_shard_bytes must be positive, got ${max_shard_bytes}`);
  if (!path.endsWith('.safetensors')) throw new StrideError(`save_weights: a sharded save needs a path ending in .safetensors, got ${path}`);
  // Greedy in state_dict order: a shard closes when the next tensor would take it past the limit.
  const shards: string[][] = [[]];
  let bytes = 0;
  for (const [k, t] of Object.entries(state)) {
    const size = t.numel() * (t.dtype === 'float64' || (t.dtype === 'int32' && int64) ? 8 : t.dtype === 'uint8' || t.dtype === 'bool' ? 1 : 4);
    if (bytes > 0 && bytes + size > max_shard_bytes) {
      shards.push([]);
      bytes = 0;
    }
    shards[shards.length - 1]!.push(k);
    bytes += size;
  }
  const stem = basename(path, '.safetensors');
  const pad = (n: number) => String(n).padStart(5, '0');
  const names = shards.map((_, i) => `${stem}-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`);
  const weight_map: Record<string, string> = {};
  const written: string[] = [];
  for (const [i, keys] of shards.entries()) {
    const file = join(dirname(path), names[i]!);
    await writeFileAtomic(file, serializeSafetensors(Object.fromEntries(keys.map((k) => [k, state[k]!])), metadata, { int64 }));
    for (const k of keys) weight_map[k] = names[i]!;
    written.push(file);
  }
  const index = `${path}${INDEX_SUFFIX}`;
  await writeFileAtomic(index, new TextEncoder().encode(JSON.stringify({ metadata, weight_map }, null, 2) + '\n'));
  return [...written, index];
}
