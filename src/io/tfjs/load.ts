/** Node: a TF.js layers model from its model.json and the weight shards beside it. */
import { readFile } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { readBytes } from '../files.js';
import { import_tfjs_layers, type TfjsImportOptions, type TfjsLayersModule } from './import.js';
import { manifestPaths, TfjsError } from './weights.js';

/**
 * Reads `pathToModelJson` and the shards its manifest names, which must lie in its directory or
 * below (a path leading elsewhere is refused rather than followed).
 */
export async function load_tfjs_layers(pathToModelJson: string, opts: Omit<TfjsImportOptions, 'source'> = {}): Promise<TfjsLayersModule> {
  let text: string;
  try {
    text = await readFile(pathToModelJson, 'utf8');
  } catch (e) {
    throw new TfjsError(`load_tfjs_layers: cannot read '${pathToModelJson}' (${(e as Error).message})`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TfjsError(`${pathToModelJson}: model.json is not valid JSON (${(e as Error).message})`);
  }
  const dir = resolve(dirname(pathToModelJson));
  const manifest = (json as { weightsManifest?: unknown } | null)?.weightsManifest ?? [];
  const shards = await Promise.all(
    manifestPaths(manifest, pathToModelJson).map((p) => {
      const file = resolve(dir, p);
      if (!file.startsWith(dir + sep)) throw new TfjsError(`${pathToModelJson}: weight shard path '${p}' leads out of the model's directory`);
      return readBytes(file);
    }),
  );
  return import_tfjs_layers(json as object, shards, { ...opts, source: pathToModelJson });
}
