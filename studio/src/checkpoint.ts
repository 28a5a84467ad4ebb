/**
 * Models as single safetensors files, as `stride train` writes model.safetensors: the state_dict
 * under PyTorch's names, and the run's model.json (ModelInfo) as JSON in the metadata, so that
 * `stride eval` opens a file saved here and the studio opens one trained by the CLI. Custom layer
 * lists (layers.ts) are described by their layers, which only the studio builds.
 */
import type { ModelInfo } from '../../src/cli/commands.js';
import { parseSafetensors, serializeSafetensors } from '../../src/io/safetensors.js';
import { create_model } from '../../src/models/registry.js';
import type { Module } from '../../src/nn/module.js';
import { StrideError } from '../../src/tensor/errors.js';
import { buildLayers, CUSTOM_MODEL, type LayerSpec } from './layers.js';
import { checkModelInfo } from './model_info.js';

/**
 * src/cli/commands.ts's MODEL_INFO_KEY: that module reads files with Node, so pages do not load
 * it; test/studio_checkpoint.test.ts checks that the two agree.
 */
export const MODEL_INFO_KEY = 'stride.model';

/** A new model as `info` describes it: a zoo model, or a custom layer list for info's input shape and classes. */
export function createModel(info: ModelInfo): Module {
  if (info.model !== CUSTOM_MODEL) return create_model(info.model, info.options);
  return buildLayers(info.options['layers'] as LayerSpec[], info.input_shape, info.classes.length);
}

/** The model's weights and description as safetensors bytes (integer buffers as I64, as PyTorch stores them). */
export function checkpointBytes(model: Module, info: ModelInfo): Uint8Array {
  const state = model.state_dict();
  try {
    return serializeSafetensors(state, { format: 'pt', [MODEL_INFO_KEY]: JSON.stringify(info) }, { int64: true });
  } finally {
    for (const t of Object.values(state)) t.dispose();
  }
}

/**
 * The model in a safetensors file, in eval mode. Its description comes from the file's metadata,
 * or from `info` (the model.json of a run whose weights carry none).
 */
export function readCheckpoint(bytes: Uint8Array, source: string, info?: ModelInfo): { model: Module; info: ModelInfo } {
  const { tensors, metadata } = parseSafetensors(bytes, source);
  try {
    const json = metadata[MODEL_INFO_KEY];
    if (!info && json === undefined) {
      throw new StrideError(`${source} does not say which model it holds (no '${MODEL_INFO_KEY}' in its metadata); open it together with its run's model.json`);
    }
    const described = checkModelInfo(info ?? JSON.parse(json!), source);
    const model = createModel(described);
    model.load_state_dict(tensors);
    model.eval();
    return { model, info: described };
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}
