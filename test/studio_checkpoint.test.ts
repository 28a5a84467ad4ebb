/**
 * One-file models shared by the CLI and the studio (issue 11): `stride train` writes the run's
 * model.json into model.safetensors's metadata too, `stride eval` and loadTrained accept such a
 * file alone, and the studio's checkpoint code (studio/src/checkpoint.ts, pure, run here in Node)
 * writes files the CLI loads and reads the CLI's, with identical outputs either way.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { loadTrained, MODEL_INFO_KEY, type ModelInfo } from '../src/cli/commands.js';
import { no_grad } from '../src/autograd/grad_mode.js';
import { parseSafetensors, serializeSafetensors } from '../src/io/safetensors.js';
import { checkLayers, CUSTOM_MODEL, type LayerSpec } from '../src/models/layer_list.js';
import { create_model } from '../src/models/registry.js';
import type { Module } from '../src/nn/module.js';
import { manual_seed, randn } from '../src/index.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { checkpointBytes, MODEL_INFO_KEY as STUDIO_MODEL_INFO_KEY, readCheckpoint } from '../studio/src/checkpoint.js';
import { checkModelInfo } from '../studio/src/model_info.js';
import { readJson, stride, SUBSET, tempDir } from './cli_util.js';

const tmp = tempDir('studio-checkpoint');
const run = join(tmp, 'run');
let trainLog = '';

before(async () => {
  const r = await stride(['train', '--data', SUBSET, '--limit', '300', '--epochs', '1', '--batch-size', '32', '--optimizer', 'adam', '--lr', '0.003', '--out', run]);
  assert.equal(r.code, 0, r.stderr);
  trainLog = r.stdout;
});

const logits = (m: Module, x: Tensor) => no_grad(() => (m.call as (x: Tensor) => Tensor)(x)).dataSync();

function probe(): Tensor {
  manual_seed(7);
  return randn([4, 1, 28, 28]);
}

/** The accuracy `stride eval` prints, in percent with two decimals. */
const evalAccuracy = (stdout: string) => /accuracy ([\d.]+)%/.exec(stdout)?.[1];

test('the studio and the CLI name the metadata key alike', () => {
  assert.equal(STUDIO_MODEL_INFO_KEY, MODEL_INFO_KEY);
  assert.equal(MODEL_INFO_KEY, 'stride.model');
});

test('stride train writes model.json into model.safetensors\'s metadata as well', () => {
  const { metadata, tensors } = parseSafetensors(readFileSync(join(run, 'model.safetensors')));
  assert.equal(metadata['format'], 'pt');
  assert.deepEqual(JSON.parse(metadata[MODEL_INFO_KEY]!), readJson(join(run, 'model.json')));
  assert.equal(Object.keys(tensors).length, 10);
});

test('a model.safetensors without its model.json loads from its metadata, and stride eval gives the run\'s accuracy', async () => {
  const alone = join(tmp, 'alone');
  mkdirSync(alone);
  copyFileSync(join(run, 'model.safetensors'), join(alone, 'lenet.safetensors'));
  const withJson = await loadTrained(run);
  const fromFile = await loadTrained(join(alone, 'lenet.safetensors'));
  assert.deepEqual(fromFile.info, withJson.info);
  assert.deepEqual(logits(fromFile.model, probe()), logits(withJson.model, probe()));

  const trainAccuracy = /test accuracy: ([\d.]+)%/.exec(trainLog)?.[1];
  const r = await stride(['eval', join(alone, 'lenet.safetensors'), '--data', SUBSET]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(trainAccuracy);
  assert.equal(evalAccuracy(r.stdout), trainAccuracy);
});

test('a safetensors file with neither model.json nor metadata is refused, saying both are missing', async () => {
  const bare = join(tmp, 'bare');
  mkdirSync(bare);
  const model = create_model('lenet5', { input_size: 28 });
  writeFileSync(join(bare, 'model.safetensors'), serializeSafetensors(model.state_dict()));
  const r = await stride(['eval', join(bare, 'model.safetensors'), '--data', SUBSET]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /model\.json: cannot read the model description .* and .*model\.safetensors carries none in its metadata/);
});

test('a file saved by the studio\'s code evaluates in stride eval with the accuracy of the model it holds', async () => {
  const { model, info } = await loadTrained(run);
  const dir = join(tmp, 'from-studio');
  mkdirSync(dir);
  const file = join(dir, 'studio.safetensors');
  writeFileSync(file, checkpointBytes(model, info));
  const { metadata, tensors } = parseSafetensors(readFileSync(file));
  // PyTorch's integer buffers are I64; LeNet-5 has none, so every tensor stays float32.
  assert.ok(Object.values(tensors).every((t) => t.dtype === 'float32'));
  assert.deepEqual(JSON.parse(metadata[MODEL_INFO_KEY]!), info);
  const reloaded = await loadTrained(file);
  assert.deepEqual(logits(reloaded.model, probe()), logits(model, probe()));
  // One after the other: stride() captures the process's output while it runs.
  const ours = await stride(['eval', file, '--data', SUBSET]);
  const theirs = await stride(['eval', run, '--data', SUBSET]);
  assert.equal(ours.code, 0, ours.stderr);
  assert.equal(evalAccuracy(ours.stdout), evalAccuracy(theirs.stdout));
});

test('the studio reads a CLI model from its metadata, or from the model.json given with it', async () => {
  const cli = await loadTrained(run);
  const bytes = new Uint8Array(readFileSync(join(run, 'model.safetensors')));
  const studio = readCheckpoint(bytes, 'model.safetensors');
  assert.deepEqual(studio.info, cli.info);
  assert.equal(studio.model.training, false);
  assert.deepEqual(logits(studio.model, probe()), logits(cli.model, probe()));

  const bare = serializeSafetensors(cli.model.state_dict());
  assert.throws(() => readCheckpoint(bare, 'bare.safetensors'), /bare\.safetensors does not say which model it holds \(no 'stride\.model' in its metadata\)/);
  const given = readCheckpoint(bare, 'bare.safetensors', readJson<ModelInfo>(join(run, 'model.json')));
  assert.deepEqual(logits(given.model, probe()), logits(cli.model, probe()));
});

test('the studio keeps BatchNorm\'s step counter as I64 and reads it back', () => {
  const model = create_model('convnet', { input_size: 28 });
  const info: ModelInfo = { model: 'convnet', options: { num_classes: 10, in_channels: 1, input_size: 28 }, dataset: 'fashion-mnist', classes: [...'0123456789'], mean: [0.5], std: [0.5], input_shape: [1, 28, 28] };
  const bytes = checkpointBytes(model, info);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + new DataView(bytes.buffer).getUint32(0, true)))) as Record<string, { dtype: string }>;
  assert.equal(header['layer1.1.num_batches_tracked']!.dtype, 'I64');
  const back = readCheckpoint(bytes, 'convnet.safetensors');
  assert.deepEqual(logits(back.model, probe()), no_grad(() => logits(model.eval(), probe())));
});

test('model descriptions lacking fields are refused, naming them', () => {
  assert.throws(() => checkModelInfo({ model: 'lenet5', options: {} }, 'x.json'), /x\.json: the model description lacks classes \(a list of names\), mean and std \(lists of numbers\), input_shape \(\[C, H, W\]\)$/);
  assert.throws(() => checkModelInfo(null, 'y.json'), /y\.json: the model description lacks model \(a model name\), options/);
});

test('a custom layer list saved by the studio evaluates in stride eval, and its layers are checked as the library builds them', async () => {
  const layers: LayerSpec[] = [
    { type: 'Conv2d', out_channels: 4, kernel_size: 3, stride: 1, padding: 1 }, { type: 'ReLU' }, { type: 'MaxPool2d', kernel_size: 2, stride: 2 },
    { type: 'Flatten' }, { type: 'Linear', out_features: 'classes' },
  ];
  const options = { layers, in_channels: 1, input_size: 28, num_classes: 10 };
  manual_seed(3);
  const model = create_model(CUSTOM_MODEL, options);
  // 4·(1·3·3) + 4 = 40 for the convolution, 4·14·14·10 + 10 = 7,850 for the classifier.
  assert.equal(model.parameters().reduce((n, p) => n + p.numel(), 0), 40 + 7850);
  const check = checkLayers(layers, [1, 28, 28], 10);
  assert.deepEqual(check.rows.map((r) => r.output_shape), [[4, 28, 28], [4, 28, 28], [4, 14, 14], [784], [10]]);
  assert.equal(check.total_params, 7890);
  assert.equal(check.error, null);
  assert.match(checkLayers([{ type: 'Conv2d', out_channels: 4, kernel_size: 30, stride: 1, padding: 0 }], [1, 28, 28], 10).error!, /^layer 1 \(Conv2d\): /);

  const cli = await loadTrained(run);
  const info: ModelInfo = { ...cli.info, model: CUSTOM_MODEL, options };
  const file = join(tmp, 'custom.safetensors');
  writeFileSync(file, checkpointBytes(model.eval(), info));
  const reloaded = await loadTrained(file);
  assert.deepEqual(logits(reloaded.model, probe()), logits(model, probe()));
  const r = await stride(['eval', file, '--data', SUBSET]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /accuracy [\d.]+%/);
});
