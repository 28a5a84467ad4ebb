/**
 * Models as single safetensors files, as `stride train` writes model.safetensors: the state_dict
 * under PyTorch's names, and the run's model.json (ModelInfo) as JSON in the metadata, so that
 * `stride eval` opens a file saved here and the studio opens one trained by the CLI, custom layer
 * lists (src/models/layer_list.ts) included.
 */
import type { ModelInfo } from '../../src/cli/commands.js';
import { parseSafetensors, serializeSafetensors } from '../../src/io/safetensors.js';
import { create_model } from '../../src/models/registry.js';
import type { Module } from '../../src/nn/module.js';
import { StrideError } from '../../src/tensor/errors.js';
import { checkModelInfo } from './model_info.js';

/**
 * src/cli/commands.ts's MODEL_INFO_KEY: that module reads files with Node, so pages do not load
 * it; test/studio_checkpoint.test.ts checks that the two agree.
 */
export const MODEL_INFO_KEY = 'stride.model';

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
    const model = create_model(described.model, described.options);
    model.load_state_dict(tensors);
    model.eval();
    return { model, info: described };
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}
