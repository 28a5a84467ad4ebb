/**
 * load_weights / save_weights: a state_dict through one safetensors file or shards with an index,
 * PyTorch's file (I64 integer buffers) loaded by name, the strict and lenient reports, and the
 * files refused: pickles, zips, shards that disagree with their index, paths out of its folder.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { manual_seed, randn, no_grad, type Tensor } from '../src/index.js';
import { load_state_dict_file, load_weights, save_weights } from '../src/io/weights.js';
import { ConvNet, CifarResNet, LeNet5 } from '../src/models/index.js';
import type { Module } from '../src/nn/module.js';
import { tempDir } from './cli_util.js';

const dir = tempDir('weights');
after(() => rmSync(dir, { recursive: true, force: true }));
const FIXTURE = new URL('./fixtures/models/fashion_convnet.safetensors', import.meta.url).pathname;

/** The dtype and shape each tensor has in a safetensors file's header. */
function header(path: string): Record<string, { dtype: string; shape: number[] }> {
  const b = readFileSync(path);
  const n = Number(b.readBigUInt64LE(0));
  return JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[] }>;
}

function sameState(a: Module, b: Module): void {
  const sa = a.state_dict();
  const sb = b.state_dict();
  assert.deepEqual(Object.keys(sa), Object.keys(sb));
  for (const k of Object.keys(sa)) assert.deepEqual(Array.from(sa[k]!.dataSync()), Array.from(sb[k]!.dataSync()), k);
}

const forward = (m: Module, x: Tensor) => no_grad(() => (m.eval().call as (x: Tensor) => Tensor)(x).dataSync());

test('one file: save_weights writes PyTorch dtypes (I64 num_batches_tracked); load_weights restores every value', async () => {
  manual_seed(1);
  const a = new ConvNet();
  manual_seed(2);
  const b = new ConvNet();
  const path = join(dir, 'convnet.safetensors');
  assert.deepEqual(await save_weights(a, path), [path]);
  const h = header(path);
  assert.equal(h['layer1.1.num_batches_tracked']!.dtype, 'I64');
  assert.equal(h['layer1.0.weight']!.dtype, 'F32');
  assert.deepEqual(h['layer1.0.weight']!.shape, [16, 1, 5, 5]);
  assert.deepEqual(await load_weights(b, path), { missing_keys: [], unexpected_keys: [] });
  sameState(a, b);
});

test('the file PyTorch wrote for the Fashion-MNIST CNN loads by name', async () => {
  const m = new ConvNet();
  assert.deepEqual(await load_weights(m, FIXTURE), { missing_keys: [], unexpected_keys: [] });
  const fc = m.state_dict()['fc.weight']!;
  assert.deepEqual(fc.shape, [10, 1568]);
  assert.equal(header(FIXTURE)['layer2.1.num_batches_tracked']!.dtype, 'I64');
});

test('shards: names, an index covering every key, and the same model back', async () => {
  manual_seed(3);
  const a = new CifarResNet({ depth: 20 });
  const path = join(dir, 'sharded', 'model.safetensors');
  rmSync(join(dir, 'sharded'), { recursive: true, force: true });
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(dir, 'sharded'));
  // 272,474 float32 parameters (≈ 1.09 MB) in shards of at most 400 kB, filled in state_dict
  // order: the last stage's 147 kB convolutions leave room for two per shard, hence four.
  const files = await save_weights(a, path, { max_shard_bytes: 400_000 });
  assert.deepEqual(files.map((f) => f.slice(join(dir, 'sharded').length + 1)), [
    'model-00001-of-00004.safetensors', 'model-00002-of-00004.safetensors', 'model-00003-of-00004.safetensors',
    'model-00004-of-00004.safetensors', 'model.safetensors.index.json',
  ]);
  const index = JSON.parse(readFileSync(`${path}.index.json`, 'utf8')) as { weight_map: Record<string, string> };
  assert.deepEqual(Object.keys(index.weight_map), Object.keys(a.state_dict()));
  for (const f of files.slice(0, 4)) {
    const bytes = readFileSync(f).length;
    assert.ok(bytes <= 400_000 + 4096, `${f}: ${bytes} bytes`);
  }
  manual_seed(4);
  const b = new CifarResNet({ depth: 20 });
  await load_weights(b, `${path}.index.json`);
  sameState(a, b);
  const x = randn([2, 3, 32, 32]);
  assert.deepEqual(forward(a, x), forward(b, x));
});

test('strict loading names the file and every bad key; lenient loading reports them', async () => {
  const path = join(dir, 'lenet.safetensors');
  await save_weights(new LeNet5(), path);
  await assert.rejects(load_weights(new ConvNet(), path), (e: Error) => {
    assert.match(e.message, new RegExp(`^${path}: load_state_dict for ConvNet: `));
    assert.match(e.message, /missing keys: layer1\.0\.weight, /);
    assert.match(e.message, /unexpected keys: .*features\.0\.weight/);
    return true;
  });
  const partial = join(dir, 'partial.safetensors');
  const state = new LeNet5().state_dict();
  delete state['classifier.5.bias'];
  state['extra'] = randn([2]);
  await save_weights(state, partial);
  assert.deepEqual(await load_weights(new LeNet5(), partial, { strict: false }), { missing_keys: ['classifier.5.bias'], unexpected_keys: ['extra'] });
  const wrong = join(dir, 'wrong-shape.safetensors');
  await save_weights({ ...new LeNet5().state_dict(), 'classifier.5.bias': randn([11]) }, wrong);
  await assert.rejects(load_weights(new LeNet5(), wrong, { strict: false }), /size mismatch for classifier\.5\.bias: expected \[10\], got \[11\]/);
});

test('pickles and zips are refused without being read as anything else', async () => {
  const pt = join(dir, 'model.pt');
  writeFileSync(pt, Buffer.from([0x80, 0x02, 0x7d, 0x71, 0x00, 0x2e]));
  await assert.rejects(load_state_dict_file(pt), /model\.pt: a PyTorch pickle by its name; stride does not read PyTorch pickles, since loading one runs code/);
  const zipped = join(dir, 'renamed.safetensors');
  writeFileSync(zipped, Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 0, 0]));
  await assert.rejects(load_state_dict_file(zipped), /renamed\.safetensors: this is a zip archive \(torch\.save's format\); .*Convert it to safetensors/);
  const pickled = join(dir, 'pickled.safetensors');
  writeFileSync(pickled, Buffer.from([0x80, 0x04, 0x95, 0, 0, 0, 0, 0, 0, 0]));
  await assert.rejects(load_state_dict_file(pickled), /this is a Python pickle/);
});

test('an index whose shards disagree with it, or that points outside its folder, is refused', async () => {
  const sub = join(dir, 'bad-index');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(sub, { recursive: true });
  copyFileSync(FIXTURE, join(sub, 'a.safetensors'));
  const write = (map: Record<string, string>) => {
    const p = join(sub, 'm.safetensors.index.json');
    writeFileSync(p, JSON.stringify({ metadata: {}, weight_map: map }));
    return p;
  };
  const all = Object.keys(header(FIXTURE)).filter((k) => k !== '__metadata__');
  const missingOne = write(Object.fromEntries([...all.slice(1), 'ghost'].map((k) => [k, 'a.safetensors'])));
  await assert.rejects(load_state_dict_file(missingOne), new RegExp(`a\\.safetensors does not match .*m\\.safetensors\\.index\\.json: missing ghost; not assigned to it: ${all[0]!.replace(/\./g, '\\.')}`));
  await assert.rejects(load_state_dict_file(write({ 'fc.bias': '../a.safetensors' })), /weight_map\["fc\.bias"\] should name a \.safetensors file beside the index, got "\.\.\/a\.safetensors"/);
  await assert.rejects(load_state_dict_file(write({ 'fc.bias': 'b.safetensors' })), /b\.safetensors/);
  writeFileSync(join(sub, 'broken.safetensors.index.json'), '{"weight_map": [1]}');
  await assert.rejects(load_state_dict_file(join(sub, 'broken.safetensors.index.json')), /needs a "weight_map" object/);
  assert.ok(readdirSync(sub).length >= 3);
});
