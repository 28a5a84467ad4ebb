/**
 * Training checkpoints. Each one is model-E-B.safetensors (the state_dict under PyTorch's names),
 * optimizer-E-B.safetensors (the optimizer's state tensors), and checkpoint.json, which names
 * those files with their SHA-256 and holds everything else needed to continue bit-identically:
 * the architecture, optimizer and scheduler state, epoch and batch, RNG state and the metrics so
 * far. Every file is written atomically and checkpoint.json last, so a crash at any moment leaves
 * a checkpoint.json that describes complete files; older files are removed only after that.
 */
import { createHash } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { loadSafetensors, readBytes, writeFileAtomic } from '../io/files.js';
import { serializeSafetensors } from '../io/safetensors.js';
import type { Module } from '../nn/module.js';
import type { Optimizer, OptimizerStateDict } from '../optim/optimizer.js';
import { StrideError } from '../tensor/errors.js';
import type { GeneratorState } from '../tensor/random.js';
import { fromFlat } from '../tensor/creation.js';
import type { Tensor } from '../tensor/tensor.js';
import type { EpochMetrics } from './report.js';

export interface CheckpointState {
  format: 'stride-checkpoint';
  version: 1;
  model: { name: string; options: Record<string, unknown> };
  /** train_sha256 identifies the training images and labels (see train.ts). */
  dataset: { name: string; classes: string[]; mean: number[]; std: number[]; input_shape: number[]; train_sha256: string };
  /** Completed epochs, and the next batch of the current epoch (0 at an epoch boundary). */
  epoch: number;
  batch: number;
  optimizer: { name: string; param_groups: OptimizerStateDict<object>['param_groups']; scalars: Record<string, Record<string, number>> };
  scheduler: Record<string, unknown> | null;
  rng: GeneratorState;
  /** Running sums of the current (unfinished) epoch, for a mid-epoch resume. */
  partial: { loss: number; correct: number; seen: number; seconds: number };
  history: EpochMetrics[];
  settings: Record<string, unknown>;
  files: { model: string; model_sha256: string; optimizer: string; optimizer_sha256: string };
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Splits the optimizer's state into tensors (to safetensors) and numbers (to JSON). */
function splitOptimizerState(sd: OptimizerStateDict<object>): { tensors: Record<string, Tensor>; scalars: Record<string, Record<string, number>> } {
  const tensors: Record<string, Tensor> = {};
  const scalars: Record<string, Record<string, number>> = {};
  for (const [idx, state] of Object.entries(sd.state)) {
    for (const [k, v] of Object.entries(state)) {
      if (typeof v === 'number') (scalars[idx] ??= {})[k] = v;
      else tensors[`${idx}.${k}`] = fromFlat(v.data, v.shape);
    }
  }
  return { tensors, scalars };
}

/** Writes a checkpoint into `dir` and removes the files of older ones. */
export async function saveCheckpoint(dir: string, model: Module, optimizer: Optimizer<object>, state: Omit<CheckpointState, 'files' | 'optimizer'> & { optimizerName: string }): Promise<void> {
  const tag = `${String(state.epoch).padStart(3, '0')}-${String(state.batch).padStart(5, '0')}`;
  const modelFile = `model-${tag}.safetensors`;
  const optFile = `optimizer-${tag}.safetensors`;
  const sd = optimizer.state_dict();
  const { tensors, scalars } = splitOptimizerState(sd);
  const modelBytes = serializeSafetensors(model.state_dict(), { format: 'pt' });
  const optBytes = serializeSafetensors(tensors);
  await writeFileAtomic(join(dir, modelFile), modelBytes);
  await writeFileAtomic(join(dir, optFile), optBytes);
  const { optimizerName, ...rest } = state;
  const json: CheckpointState = {
    ...rest,
    optimizer: { name: optimizerName, param_groups: sd.param_groups, scalars },
    files: { model: modelFile, model_sha256: sha256(modelBytes), optimizer: optFile, optimizer_sha256: sha256(optBytes) },
  };
  await writeFileAtomic(join(dir, 'checkpoint.json'), new TextEncoder().encode(JSON.stringify(json, null, 1) + '\n'));
  for (const f of await readdir(dir)) {
    if (/^(model|optimizer)-\d{3}-\d{5}\.safetensors$/.test(f) && f !== modelFile && f !== optFile) await rm(join(dir, f), { force: true });
  }
}

export interface LoadedCheckpoint {
  state: CheckpointState;
  model: Record<string, Tensor>;
  optimizer: OptimizerStateDict<object>;
}

/** The settings of the run checkpointed in `dir`, or null if there is no readable checkpoint.json. */
export async function checkpointSettings(dir: string): Promise<Record<string, unknown> | null> {
  try {
    return (JSON.parse(new TextDecoder().decode(await readBytes(join(dir, 'checkpoint.json')))) as CheckpointState).settings ?? null;
  } catch {
    return null;
  }
}

/** Reads dir/checkpoint.json and the files it names, checking their hashes. */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const path = join(dir, 'checkpoint.json');
  let state: CheckpointState;
  try {
    state = JSON.parse(new TextDecoder().decode(await readBytes(path))) as CheckpointState;
  } catch (e) {
    throw new StrideError(`cannot resume: ${path} is missing or not valid JSON (${(e as Error).message})`);
  }
  if (state.format !== 'stride-checkpoint' || state.version !== 1) throw new StrideError(`${path}: not a stride checkpoint (format ${String(state.format)}, version ${String(state.version)})`);
  for (const [file, hash] of [[state.files.model, state.files.model_sha256], [state.files.optimizer, state.files.optimizer_sha256]] as const) {
    const bytes = await readBytes(join(dir, file));
    if (sha256(bytes) !== hash) throw new StrideError(`${join(dir, file)}: SHA-256 does not match checkpoint.json (the file was changed or is incomplete)`);
  }
  const model = (await loadSafetensors(join(dir, state.files.model))).tensors;
  const optTensors = (await loadSafetensors(join(dir, state.files.optimizer))).tensors;
  const perParam: OptimizerStateDict<object>['state'] = {};
  for (const [idx, s] of Object.entries(state.optimizer.scalars)) perParam[Number(idx)] = { ...s };
  for (const [key, t] of Object.entries(optTensors)) {
    const [idx, name] = key.split('.') as [string, string];
    (perParam[Number(idx)] ??= {})[name] = { shape: [...t.shape], data: Array.from(t.dataSync()) };
  }
  return { state, model, optimizer: { state: perParam, param_groups: state.optimizer.param_groups } };
}
