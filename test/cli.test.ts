/**
 * The stride CLI, run in-process through main(argv) (and as a child process for exit codes):
 * help and bad input, summary and models, a short training run and its report, eval and
 * predict on the model it trained, and where datasets are found.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'fflate';
import sharp from 'sharp';
import type { Command } from 'commander';
import { program } from '../src/cli/main.js';
import { loadTrained } from '../src/cli/commands.js';
import { ImageClassificationDataset } from '../src/data/classification.js';
import { BUNDLED_SUBSET, loadDataset } from '../src/io/datasets.js';
import { loadSafetensors } from '../src/io/files.js';
import { parseSafetensors, serializeSafetensors } from '../src/io/safetensors.js';
import { create_model, list_models } from '../src/models/registry.js';
import { no_grad, softmax, type Tensor } from '../src/index.js';
import { nativeStatus } from '../src/backend/native/index.js';
import { wasmStatus } from '../src/backend/wasm/index.js';
import { autoBackend } from '../src/cli/options.js';
import { bundledSubset, idxBytes, readJson, ROOT, spawnStride, stride, SUBSET, tempDir, withEnv, writeFashionFixture, type CliResult } from './cli_util.js';

/** What `--backend auto` (the default) resolves to here. */
const AUTO_BACKEND = autoBackend();

const tmp = tempDir('cli');
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Asserts a failure: exit code 1 and one line on stderr mentioning every part. */
function assertFails(r: CliResult, ...parts: string[]): void {
  assert.equal(r.code, 1, `expected exit code 1; stdout: ${r.stdout}`);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line, got:\n${r.stderr}`);
  for (const p of parts) assert.ok(r.stderr.includes(p), `stderr "${r.stderr.trim()}" should mention "${p}"`);
}

// ---------------------------------------------------------------- help

/** Every command with what its help must mention. */
const HELP: Record<string, string[]> = {
  '': ['train', 'eval', 'predict', 'summary', 'models', 'info', 'data', '--debug'],
  train: ['--model', '--dataset', '--data', '--epochs', '--batch-size', '--lr', '--optimizer', '--momentum', '--weight-decay', '--schedule', '--augment', '--val-split', '--limit', '--seed', '--backend', '--threads', '--out', '--resume', 'lenet5', 'sgd|adam'],
  eval: ['<checkpoint>', '--dataset', '--data'],
  predict: ['<checkpoint>', '<images...>', '--top-k'],
  summary: ['<model>', '--input', '--num-classes'],
  models: ['list the models'],
  info: ['backends'],
  data: ['get', 'where'],
  'data get': ['<name>', '--dir'],
  'data where': ['<name>', '--data'],
  lm: ['train', 'sample'],
  'lm train': ['--text', '--out', '--steps', '--hidden', '--embedding', '--layers', '--cell', '--seq-len', '--batch-size', '--lr', '--val-split', '--seed', '--backend', '--threads'],
  'lm sample': ['<run>', '--length', '--temperature', '--prime', '--seed'],
  visualize: ['filters', 'features', 'saliency', 'gradcam', 'adversarial', 'invert', 'dream', 'style', 'similarity', 'init'],
  'visualize filters': ['<run>', '--out', '--scale'],
  'visualize features': ['<run>', '<image>', '--layer'],
  'visualize saliency': ['<run>', '<image>', '--class'],
  'visualize gradcam': ['<run>', '<image>', '--layer', '--class'],
  'visualize adversarial': ['<run>', '<image>', '--eps', '--class'],
  'visualize invert': ['<image>', '--layer', '--tv', '--beta', '--backbone', '--size', '--steps', '--lr', '--out', '--backend'],
  'visualize dream': ['<image>', '--layer', '--octaves', '--octave-scale', '--size', '--steps', '--out', '--backend'],
  'visualize style': ['--content', '--style', '--content-layer', '--style-layers', '--beta', '--tv', '--init', '--size', '--steps', '--out', '--backend'],
  'visualize similarity': ['<images...>', '--layer', '--size', '--backbone', '--out', '--backend'],
  'visualize init': ['--activation', '--depth', '--width', '--batch', '--seed', '--out', '--backend'],
  studio: ['--port', '--no-open'],
  export: ['<checkpoint>', '--format', '--out', '--opset', '--batch'],
};

test('every command has a help test (this list follows the program)', () => {
  const paths: string[] = [];
  const walk = (cmd: Command, prefix: string[]) => {
    paths.push(prefix.join(' '));
    for (const c of cmd.commands) walk(c, [...prefix, c.name()]);
  };
  walk(program(), []);
  assert.deepEqual(paths.sort(), Object.keys(HELP).sort());
});

for (const [path, mentions] of Object.entries(HELP)) {
  test(`stride ${path ? `${path} ` : ''}--help exits 0 and describes its options`, async () => {
    const r = await stride([...path.split(' ').filter(Boolean), '--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.startsWith(`Usage: stride${path ? ` ${path}` : ''} `), r.stdout);
    for (const m of mentions) assert.ok(r.stdout.includes(m), `help of '${path}' should mention ${m}`);
    assert.ok(r.stdout.includes('-h, --help'));
  });
}

test('stride help <command> prints the same help', async () => {
  const viaHelp = await stride(['help', 'summary']);
  assert.equal(viaHelp.code, 0);
  assert.equal(viaHelp.stdout, (await stride(['summary', '--help'])).stdout);
});

// ---------------------------------------------------------------- bad input

test('an unknown command or option is refused on one line listing the valid ones', async () => {
  assertFails(await stride(['bogus']), "unknown command 'bogus'", 'valid: train, eval, predict, summary, models, info, data, lm, visualize');
  assertFails(await stride(['trian']), "unknown command 'trian' (Did you mean train?)", 'valid: train,');
  assertFails(await stride(['data', 'fetch']), "unknown command 'fetch'", 'valid: get, where');
  assertFails(await stride(['train', '--bogus']), "unknown option '--bogus'", 'valid: --model, --dataset, --data, --epochs', '--resume, --profile, --help');
  assertFails(await stride(['summary', 'lenet5', '--inptu', '1,32,32']), "unknown option '--inptu'", '(Did you mean --input?)', 'valid: --input, --num-classes, --help');
});

test('unknown models, datasets, optimizers, schedules and augmentations list the valid values', async () => {
  assertFails(await stride(['train', '--model', 'nosuchnet']), `unknown model 'nosuchnet'; valid: ${list_models().join(', ')}`);
  assertFails(await stride(['train', '--dataset', 'imagenet']), "unknown dataset 'imagenet'; valid: fashion-mnist, mnist, cifar10, cifar100");
  assertFails(await stride(['train', '--optimizer', 'adamax']), "unknown optimizer 'adamax'; valid: sgd, adam, adamw, rmsprop, adagrad, lamb");
  assertFails(await stride(['train', '--schedule', 'linear']), "unknown schedule 'linear'; valid: none, step, cosine, onecycle, plateau");
  assertFails(await stride(['train', '--augment', 'flip,rotate']), "unknown augmentation 'rotate'; valid: flip, crop, affine, erase, jitter");
  assertFails(await stride(['train', '--backend', 'webgpu']), "unknown backend 'webgpu'; valid: auto, native, wasm, reference");
  assertFails(await stride(['eval', 'somewhere', '--dataset', 'svhn']), "unknown dataset 'svhn'; valid: fashion-mnist");
  assertFails(await stride(['data', 'where', 'svhn']), "unknown dataset 'svhn'; valid: fashion-mnist");
  assertFails(await stride(['summary', 'nosuchnet']), `stride: unknown model 'nosuchnet'; available: ${list_models().join(', ')}`);
});

test('numbers out of range and missing arguments are refused, saying what was expected', async () => {
  assertFails(await stride(['train', '--epochs', '0']), "epochs must be an integer >= 1, got '0'");
  assertFails(await stride(['train', '--batch-size', '2.5']), "batch size must be an integer >= 1, got '2.5'");
  assertFails(await stride(['train', '--lr', 'fast']), "learning rate must be a number >= 0, got 'fast'");
  assertFails(await stride(['train', '--seed', '-1']), "seed must be an integer >= 0, got '-1'");
  assertFails(await stride(['predict', 'run', 'a.png', '--top-k', '0']), "top-k must be an integer >= 1, got '0'");
  assertFails(await stride(['predict', 'run']), "missing required argument 'images'");
  assertFails(await stride(['summary']), "missing required argument 'model'");
});

test('train refuses a validation split that leaves no training images, before writing anything', async () => {
  const data = await writeFashionFixture(join(tmp, 'split'), { train: 20, test: 10 });
  const out = join(tmp, 'split-run');
  assertFails(await stride(['train', '--data', data, '--val-split', '1', '--out', out]), 'val_split must be a fraction in [0, 1), got 1');
  assertFails(await stride(['train', '--data', data, '--limit', '1', '--val-split', '0.5', '--out', out]), 'no training images left: 1 images of which 1 are held out for validation');
  assert.ok(!existsSync(out));
});

test('as a process: exit code 0 for help, 1 for an unknown command, with the message on stderr', async () => {
  const [help, bad] = await Promise.all([spawnStride(['--help']).done, spawnStride(['bogus']).done]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: stride /);
  assert.equal(bad.code, 1);
  assert.equal(bad.stdout, '');
  const commands = program().commands.map((c) => c.name());
  assert.deepEqual(commands.slice(0, 9), ['train', 'eval', 'predict', 'summary', 'models', 'info', 'data', 'lm', 'visualize']);
  assert.equal(bad.stderr, `error: unknown command 'bogus'; valid: ${commands.join(', ')}\n`);
});

test('as a process: a reader that closes the pipe early (stride models | head -1) ends it quietly with code 0', async () => {
  const child = spawnStride(['models']);
  // Closed before the command writes anything: every write meets EPIPE.
  child.proc.stdout!.destroy();
  const { code, stderr } = await child.done;
  assert.equal(stderr, '');
  assert.equal(code, 0);
});

// ---------------------------------------------------------------- summary, models

test('summary lenet5 --input 1,32,32 prints the layer table with 61,706 parameters', async () => {
  const r = await stride(['summary', 'lenet5', '--input', '1,32,32']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], 'LeNet5 on input [1, 1, 32, 32]');
  assert.match(r.stdout, /^features\.0\s+Conv2d\s+\[6, 28, 28\]\s+156$/m);
  assert.match(r.stdout, /^features\.2\s+MaxPool2d\s+\[6, 14, 14\]\s+0$/m);
  assert.match(r.stdout, /^features\.3\s+Conv2d\s+\[16, 10, 10\]\s+2,416$/m);
  assert.match(r.stdout, /^features\.5\s+MaxPool2d\s+\[16, 5, 5\]\s+0$/m);
  assert.match(r.stdout, /^classifier\.1\s+Linear\s+\[120\]\s+48,120$/m);
  assert.match(r.stdout, /^classifier\.3\s+Linear\s+\[84\]\s+10,164$/m);
  assert.match(r.stdout, /^classifier\.5\s+Linear\s+\[10\]\s+850$/m);
  assert.ok(lines.includes('Total params: 61,706'));
  assert.ok(lines.includes('Mult-adds (per input): 416,520'));
});

test('summary: default input 1,28,28, other models and class counts', async () => {
  const lenet = await stride(['summary', 'lenet5']);
  assert.match(lenet.stdout, /^LeNet5 on input \[1, 1, 28, 28\]$/m);
  assert.match(lenet.stdout, /^Total params: 61,706$/m);
  const mlp = await stride(['summary', 'mlp', '--num-classes', '2']);
  assert.match(mlp.stdout, /^Total params: 629,602$/m);
  const convnet = await stride(['summary', 'convnet', '--input', '3,32,32']);
  assert.match(convnet.stdout, /^fc\s+Linear\s+\[10\]\s+20,490$/m);
});

test('summary refuses malformed, non-square and unsupported input shapes', async () => {
  assertFails(await stride(['summary', 'lenet5', '--input', '1,32']), "--input must be C,H,W with positive integers, got '1,32'");
  assertFails(await stride(['summary', 'lenet5', '--input', '1,x,32']), "got '1,x,32'");
  assertFails(await stride(['summary', 'mlp', '--input', '1,28,32']), '--input must be a square image (H = W), got 28x32');
  assertFails(await stride(['summary', 'lenet5', '--input', '1,30,30']), 'input_size must be 28 or 32, got 30');
});

test('models lists every model with its description', async () => {
  const r = await stride(['models']);
  assert.equal(r.code, 0);
  const names = r.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0]);
  assert.deepEqual(names, list_models());
  for (const m of ['lenet5', 'mlp', 'convnet']) assert.ok(names.includes(m), m);
  assert.match(r.stdout, /^lenet5\s+LeNet-5 .*61,706 parameters/m);
});

test('info names the backends, the default and what the native and wasm ones run on', async () => {
  const r = await stride(['info']);
  assert.equal(r.code, 0);
  const native = nativeStatus();
  const wasm = wasmStatus();
  const listed = /^backends: (.*) \(default for training: (\w+)\)$/m.exec(r.stdout);
  assert.ok(listed, r.stdout);
  const expected = ['reference', ...(wasm.available ? ['wasm'] : []), ...(native.available ? ['native'] : [])];
  assert.deepEqual(listed[1]!.split(', ').sort(), expected.sort());
  // auto: native when built, else wasm, else reference.
  assert.equal(listed[2], native.available ? 'native' : wasm.available ? 'wasm' : 'reference');
  if (native.available) assert.ok(r.stdout.includes(`native: oneDNN ${native.onednn}, ISA ${native.isa}, ${native.threads} thread(s)`), r.stdout);
  else assert.ok(r.stdout.includes(`native: unavailable (${native.reason})`), r.stdout);
  if (wasm.available) assert.ok(r.stdout.includes(`wasm: build ${wasm.build}, ${wasm.threads} thread(s)`), r.stdout);
});

test('train --backend native without the addon, or with a bad thread count, is refused', async () => {
  if (!nativeStatus().available) assertFails(await stride(['train', '--backend', 'native']), 'the native backend is unavailable');
  assertFails(await stride(['train', '--threads', '0']), '--threads');
});

// ---------------------------------------------------------------- training and its report

const run = join(tmp, 'run');
let trained: CliResult;
before(async () => {
  trained = await stride(['train', '--data', SUBSET, '--limit', '400', '--epochs', '2', '--batch-size', '16', '--optimizer', 'adam', '--lr', '0.003', '--seed', '0', '--out', run]);
});

interface Metrics {
  settings: Record<string, unknown>;
  history: { epoch: number; train_loss: number; train_accuracy: number; val_loss: number; val_accuracy: number; lr: number }[];
  test: { loss: number; accuracy: number; per_class: Record<string, number>; confusion: number[][] };
}

test('train writes the model, checkpoint, metrics, report and plots', () => {
  assert.equal(trained.code, 0, trained.stderr);
  const files = ['model.safetensors', 'model.json', 'checkpoint.json', 'metrics.json', 'report.md',
    ...['loss', 'accuracy', 'confusion', 'mistakes'].flatMap((p) => [`${p}.png`, `${p}.svg`])];
  for (const f of files) assert.ok(existsSync(join(run, f)), `${f} written`);
  const wrote = trained.stdout.split('\n').find((l) => l.startsWith('wrote '))!;
  assert.deepEqual(wrote.slice(6).split(', ').sort(), files.map((f) => `${run}/${f}`).sort());
  assert.match(trained.stdout, new RegExp(`^fashion-mnist: 6000 training and 1000 test images from ${SUBSET} \\(the bundled subset`, 'm'));
  assert.match(trained.stdout, /^epoch 1\/2: train loss \d\.\d{4} acc [\d.]+% \| val loss/m);
});

test('train: metrics.json has one entry per epoch, accuracy well above chance, and agrees with report.md', () => {
  const m = readJson<Metrics>(join(run, 'metrics.json'));
  assert.deepEqual(m.history.map((h) => h.epoch), [1, 2]);
  for (const h of m.history) {
    for (const v of [h.train_loss, h.train_accuracy, h.val_loss, h.val_accuracy]) assert.ok(Number.isFinite(v));
    assert.equal(h.lr, 0.003);
  }
  assert.ok(m.history[1]!.train_loss < m.history[0]!.train_loss, 'the loss went down');
  assert.ok(m.test.accuracy > 0.4, `test accuracy ${m.test.accuracy} is above chance (0.1)`);
  assert.equal(m.test.confusion.flat().reduce((a, b) => a + b, 0), 1000);
  const diagonal = m.test.confusion.reduce((s, row, i) => s + row[i]!, 0);
  assert.equal(m.test.accuracy, diagonal / 1000);
  assert.deepEqual(m.settings, {
    model: 'lenet5', dataset: 'fashion-mnist', epochs: 2, batch_size: 16, optimizer: 'adam', lr: 0.003, momentum: 0.9, weight_decay: 0,
    schedule: 'none', val_split: 0.1, limit: 400, augment: [], seed: 0, backend: AUTO_BACKEND,
  });
  const md = readFileSync(join(run, 'report.md'), 'utf8');
  assert.ok(md.includes(`Test accuracy **${(100 * m.test.accuracy).toFixed(2)}%**`));
  assert.equal(md.split('\n').filter((l) => /^\| [12] \| /.test(l)).length, 2, 'one table row per epoch');
  for (const png of ['loss.png', 'accuracy.png', 'confusion.png', 'mistakes.png']) assert.ok(md.includes(`(${png})`));
});

test('train: model.json, checkpoint.json and model.safetensors describe a loadable LeNet-5', async () => {
  const info = readJson(join(run, 'model.json'));
  assert.equal(info['model'], 'lenet5');
  assert.deepEqual(info['input_shape'], [1, 28, 28]);
  assert.equal((info['classes'] as string[]).length, 10);
  const ck = readJson(join(run, 'checkpoint.json'));
  assert.equal(ck['epoch'], 2);
  assert.equal(ck['batch'], 0);
  const { tensors } = await loadSafetensors(join(run, 'model.safetensors'));
  assert.deepEqual(Object.keys(tensors).sort(), Object.keys(create_model('lenet5').state_dict()).sort());
  assert.deepEqual([...tensors['features.0.weight']!.shape], [6, 1, 5, 5]);
});

/** Width, height and the largest per-channel standard deviation of a PNG. */
async function pngStats(path: string): Promise<{ width: number; height: number; stdev: number }> {
  const img = sharp(readFileSync(path));
  const meta = await img.metadata();
  assert.equal(meta.format, 'png', path);
  const stats = await img.stats();
  return { width: meta.width!, height: meta.height!, stdev: Math.max(...stats.channels.slice(0, 3).map((c) => c.stdev)) };
}

test('train: every plot is a PNG of sensible size that is not blank, rasterised from its SVG at 2x', async () => {
  for (const name of ['loss', 'accuracy', 'confusion', 'mistakes']) {
    const svg = readFileSync(join(run, `${name}.svg`), 'utf8');
    assert.match(svg, /^<svg /);
    const size = /<svg [^>]*?width="([\d.]+)"[^>]*?height="([\d.]+)"/.exec(svg);
    assert.ok(size, `${name}.svg has a width and height`);
    const { width, height, stdev } = await pngStats(join(run, `${name}.png`));
    assert.ok(width >= 300 && width <= 4000 && height >= 200 && height <= 4000, `${name}.png is ${width}x${height}`);
    assert.ok(Math.abs(width - 2 * Number(size[1])) <= 2 && Math.abs(height - 2 * Number(size[2])) <= 2, `${name}.png is ${width}x${height}, its SVG ${size[1]}x${size[2]}`);
    assert.ok(stdev > 10, `${name}.png is not blank (pixel stdev ${stdev.toFixed(1)})`);
  }
  assert.match(readFileSync(join(run, 'loss.svg'), 'utf8'), />Loss</);
  assert.match(readFileSync(join(run, 'mistakes.svg'), 'utf8'), /Misclassified test images/);
});

// ---------------------------------------------------------------- eval

/** The numbers eval prints: accuracy (in %), per-class accuracies (in %), confusion matrix. */
function parseEval(stdout: string): { images: number; accuracy: number; perClass: number[]; confusion: number[][] } {
  const head = /test set \((\d+) images\): accuracy ([\d.]+)%, loss [\d.]+$/m.exec(stdout);
  assert.ok(head, stdout);
  const lines = stdout.split('\n');
  const at = lines.indexOf('confusion matrix (rows: true class, columns: predicted):');
  assert.ok(at > 10, stdout);
  return {
    images: Number(head[1]),
    accuracy: Number(head[2]),
    perClass: lines.slice(at - 10, at).map((l) => Number(/([\d.]+)%$/.exec(l)![1])),
    confusion: lines.slice(at + 1, at + 11).map((l) => l.trim().split(/\s+/).map(Number)),
  };
}

test('eval reproduces the test metrics of the training run', async () => {
  const m = readJson<Metrics>(join(run, 'metrics.json'));
  const r = await stride(['eval', run, '--data', SUBSET]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^lenet5 on fashion-mnist test set \(1000 images\)/m);
  const e = parseEval(r.stdout);
  assert.equal(e.accuracy.toFixed(2), (100 * m.test.accuracy).toFixed(2));
  assert.deepEqual(e.perClass.map((v) => v.toFixed(1)), Object.values(m.test.per_class).map((v) => (100 * v).toFixed(1)));
  assert.deepEqual(e.confusion, m.test.confusion);
});

test('eval takes the model.safetensors of a run as well', async () => {
  const data = await writeFashionFixture(join(tmp, 'eval-small'), { train: 10, test: 25 });
  const r = await stride(['eval', join(run, 'model.safetensors'), '--data', data]);
  assert.equal(r.code, 0, r.stderr);
  const e = parseEval(r.stdout);
  assert.equal(e.images, 25);
  assert.equal(e.confusion.flat().reduce((a, b) => a + b, 0), 25);
  assert.equal(e.accuracy.toFixed(2), ((100 * e.confusion.reduce((s, row, i) => s + row[i]!, 0)) / 25).toFixed(2));
});

test('eval refuses a missing checkpoint and a dataset of another input shape', async () => {
  assertFails(await stride(['eval', join(tmp, 'nothing-here')]), 'no such checkpoint', 'nothing-here');
  const cifar = writeCifar10(join(tmp, 'cifar'), 4);
  assertFails(await stride(['eval', run, '--dataset', 'cifar10', '--data', cifar]), 'the model takes images [1, 28, 28] (C, H, W) but cifar10 has [3, 32, 32]');
  mkdirSync(join(tmp, 'no-model-json'));
  // The weights alone: without model.json and without the description train puts in the metadata.
  const { tensors } = parseSafetensors(readFileSync(join(run, 'model.safetensors')));
  writeFileSync(join(tmp, 'no-model-json', 'model.safetensors'), serializeSafetensors(tensors));
  assertFails(await stride(['eval', join(tmp, 'no-model-json')]), 'model.json: cannot read the model description', 'carries none in its metadata');
});

// ---------------------------------------------------------------- predict

/** The first test images of the bundled subset as uint8 [28 * 28] each, with their normalised input. */
async function testImages(n: number): Promise<{ pixels: Uint8Array; input: Tensor }[]> {
  const d = await bundledSubset();
  const set = new ImageClassificationDataset(d.test, { mean: d.mean, std: d.std });
  const all = d.test.images.dataSync() as Uint8Array;
  return Array.from({ length: n }, (_, i) => ({ pixels: all.slice(i * 784, (i + 1) * 784), input: set.get(i)[0] }));
}

/** One line of predict: the file, then "class p%" sorted by probability. */
function parsePrediction(line: string): { file: string; top: [string, number][] } {
  const [file, rest] = [line.slice(0, line.lastIndexOf(': ')), line.slice(line.lastIndexOf(': ') + 2)];
  return { file, top: rest.split(', ').map((p) => [p.slice(0, p.lastIndexOf(' ')), Number(p.slice(p.lastIndexOf(' ') + 1, -1))]) };
}

test('predict on PNG and JPEG files: top-k sorted, probabilities in (0, 1] summing to at most 1; the PNG exactly as the model sees the test image', async () => {
  const images = await testImages(3);
  const dir = join(tmp, 'images');
  mkdirSync(dir);
  const gray = (i: number) => sharp(Buffer.from(images[i]!.pixels), { raw: { width: 28, height: 28, channels: 1 } });
  const files = [join(dir, 'a.png'), join(dir, 'b.jpg'), join(dir, 'c-rgb-56.png')];
  await gray(0).png().toFile(files[0]!);
  await gray(1).jpeg({ quality: 95 }).toFile(files[1]!);
  // Colour and twice the size: converted to grey and resized to 28x28.
  await gray(2).toColourspace('srgb').resize(56, 56).png().toFile(files[2]!);

  const r = await stride(['predict', run, ...files, '--top-k', '4']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 3);
  const { info, model } = await loadTrained(run);
  lines.forEach((line, i) => {
    const { file, top } = parsePrediction(line);
    assert.equal(file, files[i]);
    assert.equal(top.length, 4);
    for (const [cls, p] of top) {
      assert.ok(info.classes.includes(cls), `${cls} is a class`);
      assert.ok(p > 0 && p <= 100, `${p}%`);
    }
    assert.deepEqual(top.map(([, p]) => p), [...top.map(([, p]) => p)].sort((a, b) => b - a), 'sorted');
    assert.ok(top.reduce((s, [, p]) => s + p, 0) <= 100.1, 'at most 100% (up to rounding to 3 digits)');
  });
  // The PNG is lossless: predict must see exactly the dataset's test image.
  const probs = no_grad(() => softmax((model.call as (x: Tensor) => Tensor)(images[0]!.input.unsqueeze(0)), 1)).dataSync();
  const expected = Array.from(probs).map((p, c) => [info.classes[c]!, Number((100 * p).toPrecision(3))] as [string, number]).sort((a, b) => b[1] - a[1]).slice(0, 4);
  assert.deepEqual(parsePrediction(lines[0]!).top, expected);
});

test('predict --top-k 10 lists every class once; the percentages sum to 100 up to rounding', async () => {
  const r = await stride(['predict', join(run, 'model.safetensors'), join(tmp, 'images', 'a.png'), '--top-k', '10']);
  assert.equal(r.code, 0, r.stderr);
  const { top } = parsePrediction(r.stdout.trim());
  assert.equal(new Set(top.map(([c]) => c)).size, 10);
  assert.ok(Math.abs(top.reduce((s, [, p]) => s + p, 0) - 100) <= 0.2);
});

test('predict refuses files that are not images, truncated images and missing files', async () => {
  const text = join(tmp, 'notes.txt');
  writeFileSync(text, 'not an image\n');
  assertFails(await stride(['predict', run, text]), `${text}: not a readable image`);
  const png = readFileSync(join(tmp, 'images', 'a.png'));
  const cut = join(tmp, 'cut.png');
  writeFileSync(cut, png.subarray(0, png.length >> 1));
  assertFails(await stride(['predict', run, cut]), `${cut}: not a readable image`);
  assertFails(await stride(['predict', run, join(tmp, 'missing.png')]), 'missing.png', 'ENOENT');
});

// ---------------------------------------------------------------- where datasets come from

const FASHION_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];
const hasFashion = (dir: string) => FASHION_FILES.every((f) => existsSync(join(dir, f)) || existsSync(join(dir, `${f}.gz`)));

test('--data is used over $STRIDE_DATA, which is used over the other places (also in a sub-directory)', async () => {
  const a = await writeFashionFixture(join(tmp, 'lookup-a'), { train: 20, test: 30 });
  const envRoot = join(tmp, 'lookup-env');
  const b = await writeFashionFixture(join(envRoot, 'fashion-mnist'), { train: 20, test: 40 });
  const explicit = await stride(['eval', run, '--data', a], { STRIDE_DATA: envRoot });
  assert.equal(explicit.code, 0, explicit.stderr);
  assert.match(explicit.stdout, new RegExp(`^fashion-mnist: 20 training and 30 test images from ${a}$`, 'm'));
  assert.equal(parseEval(explicit.stdout).images, 30);
  const fromEnv = await stride(['eval', run], { STRIDE_DATA: envRoot });
  assert.equal(fromEnv.code, 0, fromEnv.stderr);
  assert.match(fromEnv.stdout, new RegExp(`from ${b}$`, 'm'));
  assert.equal(parseEval(fromEnv.stdout).images, 40);
});

test('without --data or $STRIDE_DATA: the system directory, the user cache, then the bundled subset', async () => {
  const env = join(tmp, 'empty-env');
  const cache = join(tmp, 'empty-cache');
  mkdirSync(env);
  const where = await stride(['data', 'where', 'fashion-mnist'], { STRIDE_DATA: env, XDG_CACHE_HOME: cache });
  assert.equal(where.code, 0);
  assert.deepEqual(where.stdout.trim().split('\n'), [
    env, join(env, 'fashion-mnist'), join(env, 'FashionMNIST/raw'),
    '/usr/share/datasets/fashion-mnist', join(cache, 'stride', 'fashion-mnist'), BUNDLED_SUBSET,
  ]);
  const only = await stride(['data', 'where', 'mnist', '--data', env], { STRIDE_DATA: join(tmp, 'elsewhere') });
  assert.deepEqual(only.stdout.trim().split('\n'), [env, join(env, 'mnist'), join(env, 'MNIST/raw')]);

  // Which one is found depends on the machine: the system copy if installed, else the subset.
  const d = await withEnv({ STRIDE_DATA: env, XDG_CACHE_HOME: cache }, () => loadDataset('fashion-mnist'));
  const system = '/usr/share/datasets/fashion-mnist';
  assert.equal(d.source, hasFashion(system) ? system : BUNDLED_SUBSET);
  if (d.source === BUNDLED_SUBSET) assert.equal(d.train.labels.shape[0], 6000);
});

test('a dataset that is nowhere is refused on one line listing the places searched', async () => {
  const dir = join(tmp, 'no-such-dir');
  assertFails(await stride(['eval', run, '--data', dir]),
    `dataset fashion-mnist not found: none of ${dir}, ${join(dir, 'fashion-mnist')}, ${join(dir, 'FashionMNIST/raw')} has all of train-images-idx3-ubyte`,
    'get it with: stride data get fashion-mnist');
});

test('a dataset that is nowhere without --data lists $STRIDE_DATA, the system directory and the user cache', async (t) => {
  if (hasFashion('/usr/share/datasets/mnist')) return t.skip('MNIST is installed on this machine');
  const env = join(tmp, 'empty-env-2');
  const cache = join(tmp, 'empty-cache-2');
  mkdirSync(env);
  assertFails(await stride(['train', '--dataset', 'mnist'], { STRIDE_DATA: env, XDG_CACHE_HOME: cache }),
    `none of ${env}, ${join(env, 'mnist')}, ${join(env, 'MNIST/raw')}, /usr/share/datasets/mnist, ${join(cache, 'stride', 'mnist')} has all of`);
});

// ---------------------------------------------------------------- damaged dataset files

/** A Fashion-MNIST fixture with one file replaced by `damage(bytes)` (written as `name`). */
async function damaged(name: string, file: string, damage: (bytes: Uint8Array) => Uint8Array, as = file): Promise<string> {
  const dir = await writeFashionFixture(join(tmp, name), { train: 20, test: 30 });
  const bytes = new Uint8Array(readFileSync(join(dir, file)));
  rmSync(join(dir, file));
  writeFileSync(join(dir, as), damage(bytes));
  return dir;
}

test('a truncated IDX file is refused through the CLI, naming the file, the offset and the sizes', async () => {
  const dir = await damaged('truncated', 'train-images-idx3-ubyte', (b) => b.subarray(0, b.length - 100));
  assertFails(await stride(['eval', run, '--data', dir]),
    `stride: ${join(dir, 'train-images-idx3-ubyte')} at byte 15596: IDX: expected 15696 bytes (16-byte header + 20 × 28 × 28 unsigned bytes of 1 byte), got 15596 (truncated)`);
});

test('a corrupted gzip file, a bad magic number, an out-of-range label and mismatched counts are refused', async () => {
  const gz = await damaged('bad-gzip', 't10k-labels-idx1-ubyte', (b) => {
    const z = gzipSync(b);
    z[z.length - 12]! ^= 0xff;
    return z;
  }, 't10k-labels-idx1-ubyte.gz');
  assertFails(await stride(['eval', run, '--data', gz]), join(gz, 't10k-labels-idx1-ubyte.gz'), 'gzip');

  const magic = await damaged('bad-magic', 'train-labels-idx1-ubyte', (b) => Uint8Array.from(b, (v, i) => (i === 0 ? 0x50 : v)));
  assertFails(await stride(['eval', run, '--data', magic]), join(magic, 'train-labels-idx1-ubyte'), 'not an IDX file');

  const label = await damaged('bad-label', 'train-labels-idx1-ubyte', (b) => Uint8Array.from(b, (v, i) => (i === 8 + 3 ? 12 : v)));
  assertFails(await stride(['eval', run, '--data', label]), `${join(label, 'train-labels-idx1-ubyte')} at byte 11`, 'label 3 is 12, expected 0..9');

  const counts = await damaged('bad-count', 't10k-labels-idx1-ubyte', (b) => idxBytes(b.subarray(8, 8 + 29), [29]));
  assertFails(await stride(['eval', run, '--data', counts]), join(counts, 't10k-images-idx3-ubyte'), 'matching the 29 labels');
});

/** A CIFAR-10 fixture: five training batches and a test batch of `n` records each, with class names. */
function writeCifar10(dir: string, n: number, testBytes?: (b: Uint8Array) => Uint8Array): string {
  mkdirSync(dir, { recursive: true });
  const batch = (seed: number) => Uint8Array.from({ length: n * 3073 }, (_, i) => (i % 3073 === 0 ? (i / 3073 + seed) % 10 : (i * 7 + seed) & 0xff));
  for (let i = 1; i <= 5; i++) writeFileSync(join(dir, `data_batch_${i}.bin`), batch(i));
  writeFileSync(join(dir, 'test_batch.bin'), (testBytes ?? ((b) => b))(batch(0)));
  writeFileSync(join(dir, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n');
  return dir;
}

test('a truncated CIFAR-10 batch is refused through the CLI', async () => {
  const dir = writeCifar10(join(tmp, 'cifar-cut'), 3, (b) => b.subarray(0, b.length - 1000));
  assertFails(await stride(['eval', run, '--dataset', 'cifar10', '--data', dir]),
    `${join(dir, 'test_batch.bin')} at byte 6146: CIFAR-10: expected a whole number of 3073-byte records`);
});

test('the bundled subset is where the tests expect it', () => {
  assert.equal(SUBSET, BUNDLED_SUBSET.replace(/\/$/, ''));
  assert.ok(hasFashion(SUBSET));
  assert.ok(existsSync(join(ROOT, 'src/cli/bin.ts')));
});
