/**
 * Node-only file access: reading (with transparent gunzip), crash-safe writing, and safetensors
 * checkpoints on disk. The format code itself is pure and lives in safetensors.ts / src/data.
 */
import { randomUUID } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { gunzip } from '../data/formats.js';
import { StrideError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { parseSafetensors, serializeSafetensors, type SafetensorsContents, type SerializeOptions } from './safetensors.js';

function describeError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code}: ${err.message}` : String(err?.message ?? e);
}

/** The bytes of a file; a name ending in .gz is gunzipped (checked: size, CRC). */
export async function readBytes(path: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new StrideError(`readBytes: cannot read '${path}' (${describeError(e)})`, { cause: e });
  }
  return path.endsWith('.gz') ? gunzip(bytes, path) : bytes;
}

/**
 * Chunks to write: a byte array, or a function that hands chunks to `write` (for data produced
 * piecewise). If it throws, nothing is replaced.
 */
export type FileContents = Uint8Array | ((write: (chunk: Uint8Array) => Promise<void>) => Promise<void>);

/**
 * Writes `data` so that `path` holds either its old contents or all of the new ones, even if
 * the process or machine dies midway: the data goes to a temporary file in the same directory,
 * which is flushed to disk and then renamed over the target; the directory is flushed too so
 * that the rename itself is durable.
 */
export async function writeFileAtomic(path: string, data: FileContents): Promise<void> {
  const dir = dirname(resolve(path));
  const tmp = join(dir, `.${basename(path)}.${randomUUID()}.tmp`);
  try {
    const fh = await open(tmp, 'wx');
    try {
      const write = async (chunk: Uint8Array): Promise<void> => {
        await fh.writeFile(chunk);
      };
      if (data instanceof Uint8Array) await write(data);
      else await data(write);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new StrideError(`writeFileAtomic: writing '${path}' failed, the previous file (if any) is unchanged (${describeError(e)})`, { cause: e });
  }
  // Windows cannot open a directory to flush it; its renames are not made durable this way.
  if (process.platform !== 'win32') {
    try {
      const dh = await open(dir, 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch (e) {
      throw new StrideError(`writeFileAtomic: '${path}' was replaced, but flushing its directory failed (${describeError(e)})`, { cause: e });
    }
  }
}

/** Saves tensors (e.g. a state_dict) as a safetensors file, atomically. */
export async function saveSafetensors(path: string, tensors: Record<string, Tensor>, metadata: Record<string, string> = {}, options: SerializeOptions = {}): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, metadata, options));
}

/** Loads a safetensors file (gunzipped first if the name ends in .gz); errors name the file. */
export async function loadSafetensors(path: string): Promise<SafetensorsContents> {
  return parseSafetensors(await readBytes(path), path);
}
