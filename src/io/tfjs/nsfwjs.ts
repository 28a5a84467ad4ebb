/**
 * Node: the TF.js layers models inside the npm package nsfwjs (MobileNetV2 at 224x224, InceptionV3
 * at 299x299, pretrained, uint8-quantized), read without running its code. nsfwjs ships each
 * model.json and weight shard as a browserify bundle whose module sets `exports` to a JS object
 * literal (model.json) or a base64 string (a shard); the literal is turned into JSON by a scanner
 * that quotes keys and rewrites `!0`/`!1` and `.5`-style numbers. Nothing is evaluated.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { import_tfjs_layers, type TfjsImportOptions, type TfjsLayersModule } from './import.js';
import { manifestPaths, TfjsError } from './weights.js';

const BUNDLE_START = '{1:[function(';
const BUNDLE_END = '},{}]},{},[1])(1)});';

/** The source text of the value a one-module browserify bundle exports (`what` names it in errors). */
export function bundledValue(bundle: string, what: string): string {
  const start = bundle.indexOf('.exports=', bundle.indexOf(BUNDLE_START));
  if (bundle.indexOf(BUNDLE_START) < 0 || start < 0 || !bundle.endsWith(BUNDLE_END)) throw new TfjsError(`${what}: not a browserify bundle of one exported value`);
  return bundle.slice(start + '.exports='.length, -BUNDLE_END.length);
}

/** A minified JS literal (objects, arrays, strings, numbers, !0/!1, null) as JSON text; anything else is an error. */
export function jsLiteralToJson(js: string, what = 'literal'): string {
  const token = /"(?:[^"\\]|\\.)*"|![01]|-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|[A-Za-z_$][\w$]*|[{}[\],:]/iy;
  let out = '';
  while (token.lastIndex < js.length) {
    const at = token.lastIndex;
    const t = token.exec(js)?.[0];
    if (t === undefined) throw new TfjsError(`${what}: unexpected text at ${at}: ${js.slice(at, at + 40)}`);
    if (t[0] === '"' || '{}[],:'.includes(t) || t === 'null' || t === 'true' || t === 'false') out += t;
    else if (t[0] === '!') out += String(t === '!0');
    else if (/^[-.\d]/.test(t)) out += JSON.stringify(Number(t));
    // A bare word: an object key.
    else out += JSON.stringify(t);
  }
  return out;
}

export interface NsfwjsModel {
  /** model.json's object. */
  json: { modelTopology: object; weightsManifest: { paths: string[]; weights: object[] }[] };
  /** The weight shards in the manifest's order. */
  shards: Uint8Array[];
}

/** Reads nsfwjs's bundled model in `dir` (e.g. node_modules/nsfwjs/dist/models/mobilenet_v2): model.min.js and its shards. */
export async function read_nsfwjs_model(dir: string): Promise<NsfwjsModel> {
  const value = async (file: string) => {
    const path = join(dir, `${file}.min.js`);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      throw new TfjsError(`read_nsfwjs_model: cannot read '${path}' (${(e as Error).message})`, { cause: e });
    }
    return bundledValue(text, path);
  };
  const json = JSON.parse(jsLiteralToJson(await value('model'), join(dir, 'model.min.js'))) as NsfwjsModel['json'];
  const shards = await Promise.all(manifestPaths(json.weightsManifest, dir).map(async (p) => {
    const base64 = JSON.parse(jsLiteralToJson(await value(p), join(dir, `${p}.min.js`))) as unknown;
    if (typeof base64 !== 'string') throw new TfjsError(`${join(dir, `${p}.min.js`)}: the bundle does not export a base64 string`);
    return new Uint8Array(Buffer.from(base64, 'base64'));
  }));
  return { json, shards };
}

export interface NsfwjsLoadOptions extends Omit<TfjsImportOptions, 'source'> {
  /** Accept images of any height and width (the input layer's size is dropped; only convolutional parts then make sense). */
  any_size?: boolean;
}

/** An nsfwjs model as a stride module taking NCHW images in [0, 1] (nsfwjs divides pixels by 255). */
export async function load_nsfwjs_model(dir: string, opts: NsfwjsLoadOptions = {}): Promise<TfjsLayersModule> {
  const { any_size = false, ...importOptions } = opts;
  const { json, shards } = await read_nsfwjs_model(dir);
  if (any_size) {
    const layers = (json.modelTopology as { model_config?: { config?: { layers?: { class_name: string; config: { batch_input_shape?: (number | null)[] } }[] } } }).model_config?.config?.layers ?? [];
    for (const l of layers) {
      const shape = l.config.batch_input_shape;
      if (l.class_name === 'InputLayer' && shape?.length === 4) l.config.batch_input_shape = [shape[0]!, null, null, shape[3]!];
    }
  }
  return import_tfjs_layers(json, shards, { ...importOptions, source: dir });
}
