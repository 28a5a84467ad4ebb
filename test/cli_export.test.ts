/**
 * `stride export`: a run trained by the CLI, exported to ONNX, runs in onnxruntime-node (bench/'s
 * copy, which make test installs) with the model's logits and `stride predict`'s classes; the
 * batch size stays symbolic unless fixed; the opset and the run's description are in the file;
 * bad arguments are refused on one line.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { loadTrained, MODEL_INFO_KEY, type ModelInfo } from '../src/cli/commands.js';
import { fromFlat, no_grad, type Tensor } from '../src/index.js';
import type { Module } from '../src/nn/module.js';
import { readFields } from '../src/io/onnx/protobuf.js';
import { bundledSubset, stride, SUBSET, tempDir, type CliResult } from './cli_util.js';
import { ortSkip, runOrt } from './ort_util.js';

const skip = ortSkip('test/cli_export.test.ts');

const tmp = tempDir('export');
const run = join(tmp, 'run');
after(() => rmSync(tmp, { recursive: true, force: true }));
before(async () => {
  const r = await stride(['train', '--model', 'convnet', '--data', SUBSET, '--limit', '256', '--epochs', '1', '--batch-size', '32', '--seed', '1', '--out', run]);
  assert.equal(r.code, 0, r.stderr);
});

/** The first n test images of the bundled subset: their pixels, and normalised as the run's model takes them. */
async function testImages(n: number, info: ModelInfo): Promise<{ pixels: Uint8Array; x: Tensor }> {
  const { test: split } = await bundledSubset();
  const pixels = (split.images.dataSync() as Uint8Array).slice(0, n * 784);
  const x = fromFlat(Float32Array.from(pixels, (p) => (p / 255 - info.mean[0]!) / info.std[0]!), [n, 1, 28, 28]);
  return { pixels, x };
}


/** The opset and the metadata of an ONNX file (ModelProto fields 8 and 14). */
function header(file: string): { opset: number; metadata: Record<string, string> } {
  const fields = readFields(readFileSync(file));
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  const [opset] = fields.filter((f) => f.field === 8).map((f) => Number(readFields(f.bytes).find((g) => g.field === 2)!.value));
  const metadata = Object.fromEntries(fields.filter((f) => f.field === 14).map((f) => readFields(f.bytes).map((g) => text(g.bytes))));
  return { opset: opset!, metadata };
}

const logits = (model: Module, x: Tensor) => no_grad(() => (model.call as (x: Tensor) => Tensor)(x));
const argmax = (row: ArrayLike<number>) => Array.from(row).reduce((best, v, i, a) => (v > a[best]! ? i : best), 0);

test('export writes run/model.onnx: onnxruntime gives the model\'s logits at any batch size and the classes stride predict prints', { skip }, async () => {
  const r = await stride(['export', run, '--format', 'onnx']);
  assert.equal(r.code, 0, r.stderr);
  const file = join(run, 'model.onnx');
  const { model, info } = await loadTrained(run);
  assert.equal(r.stdout, `wrote ${file} (${Math.round(readFileSync(file).length / 1024)} KB, ONNX opset 13): convnet; input 'input' [N, 1, 28, 28], ` +
    `normalised per channel with mean [0.286] and std [0.353]; output 'output' [N, 10], the logits of ${info.classes.join(', ')}\n`);
  assert.deepEqual(header(file), { opset: 13, metadata: { [MODEL_INFO_KEY]: JSON.stringify(info) } });

  const { pixels, x } = await testImages(5, info);
  for (const n of [5, 1]) {
    const batch = x.narrow(0, 0, n).contiguous();
    const got = await runOrt(readFileSync(file), batch);
    const want = logits(model, batch).dataSync();
    assert.deepEqual(got.dims, [n, 10]);
    const scale = Math.max(...Array.from(want, Math.abs));
    const err = Math.max(...Array.from(want, (v, i) => Math.abs(v - got.data[i]!)));
    assert.ok(err <= 1e-5 * scale, `batch ${n}: largest difference ${err} for logits up to ${scale}`);
  }

  // The same images as PNG files (lossless) through stride predict: its top class is onnxruntime's.
  const dir = join(tmp, 'images');
  mkdirSync(dir, { recursive: true });
  const files = await Promise.all([0, 1, 2, 3, 4].map(async (i) => {
    const path = join(dir, `${i}.png`);
    await sharp(Buffer.from(pixels.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path);
    return path;
  }));
  const predicted = await stride(['predict', run, ...files, '--top-k', '1']);
  assert.equal(predicted.code, 0, predicted.stderr);
  const fromOrt = (await runOrt(readFileSync(file), x)).data;
  const classes = files.map((_, i) => info.classes[argmax(fromOrt.subarray(10 * i, 10 * i + 10))]);
  assert.deepEqual(predicted.stdout.trim().split('\n').map((l) => l.slice(l.lastIndexOf(': ') + 2, l.lastIndexOf(' '))), classes);
});

test('export model.safetensors --out --opset 17 --batch 4: a fixed batch of 4, opset 17, written atomically into a new directory', { skip }, async () => {
  const file = join(tmp, 'new', 'dir', 'convnet.onnx');
  const r = await stride(['export', join(run, 'model.safetensors'), '--format', 'onnx', '--out', file, '--opset', '17', '--batch', '4']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ONNX opset 17\): convnet; input 'input' \[4, 1, 28, 28\].*output 'output' \[4, 10\]/);
  assert.deepEqual(readdirSync(join(tmp, 'new', 'dir')), ['convnet.onnx']);
  assert.equal(header(file).opset, 17);
  const { model, info } = await loadTrained(run);
  const { x } = await testImages(5, info);
  const four = x.narrow(0, 0, 4).contiguous();
  const got = await runOrt(readFileSync(file), four);
  assert.deepEqual(Array.from({ length: 4 }, (_, i) => argmax(got.data.subarray(10 * i, 10 * i + 10))), Array.from(logits(model, four).argmax(1).dataSync()));
  await assert.rejects(runOrt(readFileSync(file), x), /index: 0 Got: 5 Expected: 4/);
  // Without --out, next to the safetensors file.
  assert.equal((await stride(['export', join(run, 'model.safetensors'), '--format', 'onnx'])).code, 0);
  assert.ok(readdirSync(run).includes('model.onnx'));
});

test('export refuses bad arguments on one line', async () => {
  const refused = (r: CliResult, message: string) => {
    assert.equal(r.code, 1, r.stdout);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.ok(r.stderr.includes(message), `"${r.stderr.trim()}" should mention "${message}"`);
  };
  refused(await stride(['export', run]), "required option '--format <format>' not specified");
  refused(await stride(['export', run, '--format', 'tflite']), "unknown format 'tflite'; valid: onnx");
  refused(await stride(['export', run, '--format', 'onnx', '--opset', '12']), "opset must be an integer from 13 to 17, got '12'");
  refused(await stride(['export', run, '--format', 'onnx', '--opset', '18']), "opset must be an integer from 13 to 17, got '18'");
  refused(await stride(['export', run, '--format', 'onnx', '--batch', '0']), "batch must be an integer >= 1, got '0'");
  refused(await stride(['export', join(tmp, 'missing'), '--format', 'onnx']), `no such checkpoint: ${join(tmp, 'missing')}`);
  refused(await stride(['export', '--format', 'onnx']), "missing required argument 'checkpoint'");
});
