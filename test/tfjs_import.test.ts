/**
 * import_tfjs_layers: TF.js layers models run in stride with TF.js's outputs. Models built here
 * with TF.js (bench/'s copy, which make test installs) cover every supported layer, with float32
 * and with uint8/uint16/float16-quantized weights, layer by layer; the real models shipped in npm
 * packages (nsfwjs' MobileNetV2 and InceptionV3, quantized; ESRGAN-slim, float32) are compared
 * at their output and at an inner layer. Hand-made model.json files check the weight layouts,
 * Keras' ReLU options and grouped convolutions by value, and that hostile files give clear errors.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { manual_seed, no_grad, rand, randn, tensor, type Tensor } from '../src/index.js';
import { import_tfjs_layers, TfjsError, type TfjsLayersModule } from '../src/io/tfjs/import.js';
import { tfPadding } from '../src/io/tfjs/layers.js';
import { load_tfjs_layers } from '../src/io/tfjs/load.js';
import { bundledValue, jsLiteralToJson, read_nsfwjs_model } from '../src/io/tfjs/nsfwjs.js';
import { StrideError } from '../src/tensor/errors.js';
import type { Conv2d } from '../src/nn/conv.js';
import type { Linear } from '../src/nn/linear.js';
import type { Module } from '../src/nn/module.js';

// ---------------------------------------------------------------- TF.js, as far as the tests use it

interface TfTensor { shape: number[]; dataSync(): Float32Array; dispose(): void }
interface TfSymbolic { shape: (number | null)[] }
interface TfLayer { name: string; output: TfSymbolic; apply(x: TfSymbolic | TfSymbolic[]): TfSymbolic }
interface TfModel {
  inputs: TfSymbolic[];
  layers: TfLayer[];
  weights: { originalName: string }[];
  predict(x: TfTensor): TfTensor | TfTensor[];
  getLayer(name: string): TfLayer;
  getWeights(): TfTensor[];
  setWeights(weights: TfTensor[]): void;
  save(handler: unknown): Promise<unknown>;
}
interface Artifacts { modelTopology: object; weightSpecs: WeightSpec[]; weightData: ArrayBuffer | ArrayBuffer[] }
interface Tf {
  tensor(values: Float32Array, shape: number[]): TfTensor;
  input(config: { shape: (number | null)[]; name: string }): TfSymbolic;
  model(config: { inputs: TfSymbolic | TfSymbolic[]; outputs: TfSymbolic | TfSymbolic[] }): TfModel;
  sequential(config: { layers: TfLayer[] }): TfModel;
  layers: Record<string, (config: object) => TfLayer>;
  loadLayersModel(handler: unknown): Promise<TfModel>;
  io: { fromMemory(artifacts: object): unknown; withSaveHandler(save: (a: Artifacts) => Promise<object>): unknown };
}
interface WeightSpec { name: string; shape: number[]; dtype: string; quantization?: { dtype: string; min?: number; scale?: number } }
interface ModelJson { format?: string; modelTopology: object; weightsManifest: { paths: string[]; weights: WeightSpec[] }[] }

const BENCH = new URL('../bench/node_modules/', import.meta.url);
let tf: Tf | null = null;
try {
  tf = createRequire(import.meta.url)('../bench/node_modules/@tensorflow/tfjs') as Tf;
} catch (e) {
  console.log(`NOTICE: @tensorflow/tfjs is not installed in bench/node_modules (${(e as Error).message.split('\n')[0]}); the comparisons with TF.js are skipped (run \`cd bench && npm ci --ignore-scripts\`)`);
}
const skip = tf ? false : '@tensorflow/tfjs is not installed in bench/node_modules';

/** Skip reason for a test of a real model from an npm package in bench/node_modules, said once as a NOTICE. */
function skipUnlessInstalled(pkg: string): string | false {
  if (skip) return skip;
  if (existsSync(new URL(`${pkg}/package.json`, BENCH))) return false;
  console.log(`NOTICE: ${pkg} is not installed in bench/node_modules; its model is not compared with TF.js`);
  return `${pkg} is not installed in bench/node_modules`;
}

const call = (m: TfjsLayersModule, x: Tensor): Tensor => no_grad(() => m.call(x));
/** The child module made from Keras layer `name`. */
const layer = <T extends Module>(m: Module, name: string): T => new Map(m.named_children()).get(name) as T;
const toNHWC = (t: Tensor): Tensor => (t.ndim === 4 ? t.permute(0, 2, 3, 1) : t).contiguous();
const toNCHW = (t: Tensor): Tensor => t.permute(0, 3, 1, 2).contiguous();

/** TF.js's output for an NHWC stride tensor. */
function tfRun(model: TfModel, x: Tensor): TfTensor[] {
  const out = model.predict(tf!.tensor(x.contiguous().dataSync() as Float32Array, [...x.shape]));
  return Array.isArray(out) ? out : [out];
}

interface Agreement { err: number; scale: number }

/** Largest difference between stride's output (NCHW where 4-d) and TF.js's (NHWC), which must be within 1e-4 of the output's scale. */
function assertAgrees(got: Tensor, want: TfTensor, what: string): Agreement {
  assert.deepEqual(toNHWC(got).shape, want.shape, `${what}: shape`);
  const g = toNHWC(got).dataSync();
  const w = want.dataSync();
  let err = 0;
  let scale = 0;
  for (let i = 0; i < w.length; i++) {
    err = Math.max(err, Math.abs(g[i]! - w[i]!));
    scale = Math.max(scale, Math.abs(w[i]!));
  }
  assert.ok(err <= 1e-4 * Math.max(scale, 1e-6), `${what}: largest difference ${err} for outputs up to ${scale}`);
  return { err, scale };
}

const report = (t: TestContext, what: string, a: Agreement, ms?: number) =>
  t.diagnostic(`${what}: max abs diff ${a.err.toExponential(2)}, output scale ${a.scale.toPrecision(4)} (${(a.err / a.scale).toExponential(2)} relative)${ms === undefined ? '' : `, ${(ms / 1000).toFixed(1)} s`}`);

/** model.json and weight bytes of a TF.js model, as model.save writes them. */
async function saved(model: TfModel): Promise<{ json: ModelJson; bytes: Uint8Array }> {
  let artifacts: Artifacts | null = null;
  await model.save(tf!.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  const { modelTopology, weightSpecs, weightData } = artifacts!;
  const parts = (Array.isArray(weightData) ? weightData : [weightData]).map((b) => new Uint8Array(b));
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (bytes.set(p, at), at + p.length), 0);
  return { json: { format: 'layers-model', modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: weightSpecs }] }, bytes };
}

async function tfLoad(json: ModelJson, shards: readonly Uint8Array[]): Promise<TfModel> {
  const data = new Uint8Array(shards.reduce((n, s) => n + s.length, 0));
  shards.reduce((at, s) => (data.set(s, at), at + s.length), 0);
  return tf!.loadLayersModel(tf!.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((g) => g.weights), weightData: data.buffer }));
}

/** Random weights (the initial BatchNorm statistics would make it an identity): positive scales and variances. */
function randomizeWeights(model: TfModel): void {
  const weights = model.getWeights().map((w, i) => {
    const name = model.weights[i]!.originalName;
    const values = /moving_variance|gamma/.test(name) ? rand(w.shape).add(0.5) : randn(w.shape).mul(0.5);
    return tf!.tensor(values.dataSync() as Float32Array, w.shape);
  });
  model.setWeights(weights);
}

/** Every layer's output in stride (by forward hooks on the children, named as the layers) and TF.js agree. */
function assertEveryLayerAgrees(t: TestContext, imported: TfjsLayersModule, reference: TfModel, x: Tensor, what: string): void {
  const outputs = new Map<string, Tensor>();
  for (const [name, child] of imported.named_children()) child.register_forward_hook((_m, _in, out) => void outputs.set(name, out as Tensor));
  call(imported, toNCHW(x));
  const layers = reference.layers.filter((l) => outputs.has(l.name));
  assert.equal(layers.length, outputs.size, `${what}: every stride child is a TF.js layer`);
  const probe = tf!.model({ inputs: reference.inputs, outputs: layers.map((l) => l.output) });
  const wants = tfRun(probe, x);
  let worst: Agreement = { err: 0, scale: 1 };
  layers.forEach((l, i) => {
    const a = assertAgrees(outputs.get(l.name)!, wants[i]!, `${what}, layer '${l.name}'`);
    if (a.err / a.scale > worst.err / worst.scale) worst = a;
  });
  report(t, `${what}, worst of ${layers.length} layers`, worst);
}

// ---------------------------------------------------------------- models built with TF.js

/** A functional model with every supported layer, odd sizes so that 'same' pads asymmetrically. */
function allLayersModel(): TfModel {
  const L = tf!.layers;
  const input = tf!.input({ shape: [12, 10, 3], name: 'image' });
  const c1 = L['conv2d']!({ name: 'c1', filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(input);
  const bn1 = L['batchNormalization']!({ name: 'bn1' }).apply(c1);
  const r1 = L['reLU']!({ name: 'r1', maxValue: 6 }).apply(bn1);
  const dw = L['depthwiseConv2d']!({ name: 'dw', kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'relu6' }).apply(r1);
  const sep = L['separableConv2d']!({ name: 'sep', filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'elu' }).apply(dw);
  const sepUp = L['upSampling2d']!({ name: 'sep_up', size: [2, 1] }).apply(sep);
  const r1Crop = L['maxPooling2d']!({ name: 'r1_pool', poolSize: [1, 2], strides: [1, 2], padding: 'same' }).apply(r1);
  const sum = L['add']!({ name: 'sum' }).apply([sepUp, r1Crop]);
  const zp = L['zeroPadding2d']!({ name: 'zp', padding: [[1, 0], [2, 2]] }).apply(sum);
  const mp = L['maxPooling2d']!({ name: 'mp', poolSize: 2, strides: 2, padding: 'same' }).apply(zp);
  const dil = L['conv2d']!({ name: 'dil', filters: 6, kernelSize: 3, dilationRate: 2, padding: 'same', activation: 'swish' }).apply(mp);
  const ap = L['averagePooling2d']!({ name: 'ap', poolSize: 3, strides: 2, padding: 'same' }).apply(mp);
  const up = L['upSampling2d']!({ name: 'up', size: [2, 2] }).apply(ap);
  const d4 = L['dense']!({ name: 'd4', units: 4, activation: 'sigmoid' }).apply(mp);
  const cat = L['concatenate']!({ name: 'cat', axis: -1 }).apply([dil, up, d4]);
  const c2 = L['conv2d']!({ name: 'c2', filters: 10, kernelSize: 1, activation: 'tanh' }).apply(cat);
  const sm = L['softmax']!({ name: 'sm', axis: -1 }).apply(c2);
  const gap = L['globalAveragePooling2d']!({ name: 'gap' }).apply(sm);
  const gmp = L['globalMaxPooling2d']!({ name: 'gmp' }).apply(c2);
  const rs = L['reshape']!({ name: 'rs', targetShape: [8, 20] }).apply(c2);
  const d3 = L['dense']!({ name: 'd3', units: 3, activation: 'gelu' }).apply(rs);
  const bn3 = L['batchNormalization']!({ name: 'bn3', scale: false }).apply(d3);
  const fl3 = L['flatten']!({ name: 'fl3' }).apply(bn3);
  const fl4 = L['flatten']!({ name: 'fl4' }).apply(c2);
  const d1 = L['dense']!({ name: 'd1', units: 7, activation: 'selu' }).apply(fl4);
  const bn2 = L['batchNormalization']!({ name: 'bn2', center: false }).apply(d1);
  const lr = L['leakyReLU']!({ name: 'lr', alpha: 0.2 }).apply(bn2);
  const merged = L['concatenate']!({ name: 'merged' }).apply([gmp, gap, fl3, lr]);
  const drop = L['dropout']!({ name: 'drop', rate: 0.3 }).apply(merged);
  const out = L['dense']!({ name: 'out', units: 5 }).apply(drop);
  return tf!.model({ inputs: input, outputs: out });
}

/** A Sequential model (no InputLayer in its config) through every activation function. */
function activationsModel(): TfModel {
  const L = tf!.layers;
  const activations = ['elu', 'selu', 'swish', 'gelu', 'softsign', 'softplus', 'tanh', 'hardSigmoid', 'relu', 'relu6', 'sigmoid', 'linear', 'softmax'];
  return tf!.sequential({
    layers: [
      L['conv2d']!({ name: 's_conv', inputShape: [9, 9, 2], filters: 4, kernelSize: [3, 2], strides: [2, 1], useBias: false }),
      ...activations.map((a) => L['activation']!({ name: `a_${a}`, activation: a })),
      L['maxPooling2d']!({ name: 's_pool', poolSize: 2 }),
      L['flatten']!({ name: 's_flat' }),
      L['dense']!({ name: 's_out', units: 3 }),
    ],
  });
}

test("TF's 'same' padding puts the odd pixel after, as TF computes it", () => {
  assert.deepEqual(tfPadding('same', 224, 3, 2, 1), [0, 1]);
  assert.deepEqual(tfPadding('same', 225, 3, 2, 1), [1, 1]);
  assert.deepEqual(tfPadding('same', 7, 2, 2, 1), [0, 1]);
  assert.deepEqual(tfPadding('same', 10, 3, 1, 2), [2, 2]);
  assert.deepEqual(tfPadding('same', 5, 1, 3, 1), [0, 0]);
  assert.deepEqual(tfPadding('valid', 224, 3, 2, 1), [0, 0]);
});

test('every supported layer, functional: each layer output matches TF.js at batch 2 (1e-4 of its scale)', { skip }, async (t) => {
  manual_seed(11);
  const model = allLayersModel();
  randomizeWeights(model);
  const { json, bytes } = await saved(model);
  const imported = import_tfjs_layers(JSON.stringify(json), bytes);
  assert.deepEqual(imported.input_shape, [null, 3, 12, 10]);
  assert.deepEqual(layer<Conv2d>(imported, 'c1').weight.shape, [8, 3, 3, 3]);
  assertEveryLayerAgrees(t, imported, model, randn([2, 12, 10, 3]), 'all layers');
});

test('a Sequential model through every activation function matches TF.js', { skip }, async (t) => {
  manual_seed(12);
  const model = activationsModel();
  randomizeWeights(model);
  const { json, bytes } = await saved(model);
  const imported = import_tfjs_layers(json, bytes.buffer as ArrayBuffer);
  assertEveryLayerAgrees(t, imported, model, randn([2, 9, 9, 2]).mul(2), 'activations');
});

test('a layer called twice (shared weights) runs once per call, as in TF.js', { skip }, async (t) => {
  manual_seed(14);
  const L = tf!.layers;
  const input = tf!.input({ shape: [6], name: 'v' });
  const shared = L['dense']!({ name: 'shared', units: 6, activation: 'tanh' });
  const twice = shared.apply(shared.apply(input));
  const model = tf!.model({ inputs: input, outputs: L['add']!({ name: 'skip' }).apply([twice, input]) });
  randomizeWeights(model);
  const { json, bytes } = await saved(model);
  const imported = import_tfjs_layers(json, bytes);
  const x = randn([3, 6]);
  report(t, 'shared layer', assertAgrees(call(imported, x), tfRun(model, x)[0]!, 'shared layer'));
});

// ---------------------------------------------------------------- quantized weights

/** IEEE half bits of v, rounded to nearest (values below the normal range become 0: the tests only need some half values). */
function toHalf(v: number): number {
  const bits = new Uint32Array(new Float32Array([v]).buffer)[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = ((bits >>> 23) & 0xff) - 127 + 15;
  if (exp <= 0) return sign;
  return sign | ((exp << 10) + (((bits & 0x7fffff) + 0x1000) >> 13));
}

/** The manifest and bytes with each weight stored as uint8, uint16 or float16 in turn (TF.js' converter's encodings). */
function quantize(json: ModelJson, bytes: Uint8Array): { json: ModelJson; bytes: Uint8Array } {
  const floats = new Float32Array(bytes.slice().buffer);
  const out: number[] = [];
  let at = 0;
  const weights = json.weightsManifest[0]!.weights.map((spec, i): WeightSpec => {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const values = floats.subarray(at, at + n);
    at += n;
    const dtype = (['uint8', 'uint16', 'float16'] as const)[i % 3]!;
    if (dtype === 'float16') {
      for (const v of values) out.push(toHalf(v) & 0xff, toHalf(v) >> 8);
      return { ...spec, quantization: { dtype } };
    }
    const min = Math.min(...values);
    const levels = dtype === 'uint8' ? 255 : 65535;
    const scale = (Math.max(...values) - min) / levels || 1;
    for (const v of values) {
      const q = Math.round((v - min) / scale);
      out.push(...(dtype === 'uint8' ? [q] : [q & 0xff, q >> 8]));
    }
    return { ...spec, quantization: { dtype, min, scale } };
  });
  return { json: { ...json, weightsManifest: [{ paths: ['weights.bin'], weights }] }, bytes: Uint8Array.from(out) };
}

test('uint8, uint16 and float16 weights: stride dequantizes as TF.js does (every layer matches)', { skip }, async (t) => {
  manual_seed(13);
  const model = allLayersModel();
  randomizeWeights(model);
  const float = await saved(model);
  const { json, bytes } = quantize(float.json, float.bytes);
  assert.deepEqual(json.weightsManifest[0]!.weights.slice(0, 3).map((w) => w.quantization!.dtype), ['uint8', 'uint16', 'float16']);
  const imported = import_tfjs_layers(json, bytes);
  assertEveryLayerAgrees(t, imported, await tfLoad(json, [bytes]), randn([2, 12, 10, 3]), 'quantized');
});

// ---------------------------------------------------------------- hand-made model.json files

/** Input [4, 4, 1] → Conv2D 'conv' (2 filters, 2x2, valid) → Flatten → Dense 'fc' (3); weights 0.01·k in manifest order. */
function tinyModel(): { json: ModelJson; bytes: Uint8Array } {
  const layers = [
    { class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_input_shape: [null, 4, 4, 1] }, inbound_nodes: [] },
    { class_name: 'Conv2D', name: 'conv', config: { name: 'conv', filters: 2, kernel_size: [2, 2], strides: [1, 1], padding: 'valid', activation: 'linear', use_bias: true }, inbound_nodes: [[['in', 0, 0, {}]]] },
    { class_name: 'Flatten', name: 'flat', config: { name: 'flat' }, inbound_nodes: [[['conv', 0, 0, {}]]] },
    { class_name: 'Dense', name: 'fc', config: { name: 'fc', units: 3, activation: 'linear', use_bias: true }, inbound_nodes: [[['flat', 0, 0, {}]]] },
  ];
  const weights: WeightSpec[] = [
    { name: 'conv/kernel', shape: [2, 2, 1, 2], dtype: 'float32' },
    { name: 'conv/bias', shape: [2], dtype: 'float32' },
    { name: 'fc/kernel', shape: [18, 3], dtype: 'float32' },
    { name: 'fc/bias', shape: [3], dtype: 'float32' },
  ];
  const values = Float32Array.from({ length: 8 + 2 + 54 + 3 }, (_, k) => 0.01 * k);
  return {
    json: {
      format: 'layers-model',
      modelTopology: { model_config: { class_name: 'Model', config: { name: 'tiny', layers, input_layers: [['in', 0, 0]], output_layers: [['fc', 0, 0]] } } },
      weightsManifest: [{ paths: ['a.bin', 'b.bin'], weights }],
    },
    bytes: new Uint8Array(values.buffer),
  };
}

test('kernels arrive in PyTorch layouts: conv [kh, kw, in, out] → [out, in, kh, kw], dense [in, out] → [out, in]; Flatten uses NHWC order', () => {
  const { json, bytes } = tinyModel();
  const model = import_tfjs_layers(json, [bytes.subarray(0, 100), bytes.subarray(100)]);
  const [conv, fc] = [layer<Conv2d>(model, 'conv'), layer<Linear>(model, 'fc')];
  const k = (i: number) => Math.fround(0.01 * i);
  // Keras kernel[kh][kw][0][o] is element (kh * 2 + kw) * 2 + o.
  assert.deepEqual(Array.from(conv.weight.dataSync()), [0, 2, 4, 6, 1, 3, 5, 7].map(k));
  // Linear row o is Keras column o: fc/kernel starts at element 10, kernel[i][o] at 10 + 3i + o.
  assert.deepEqual(Array.from(fc.weight.dataSync()).slice(0, 3), [10, 13, 16].map(k));
  assert.deepEqual(Object.keys(model.state_dict()), ['conv.weight', 'conv.bias', 'fc.weight', 'fc.bias']);
  // A conv output of 0 in channel 0 and 1 in channel 1 everywhere: NHWC flattening puts the ones at the odd positions.
  no_grad(() => conv.weight.zero_());
  no_grad(() => conv.bias!.copy_(tensor([0, 1])));
  const y = call(model, randn([1, 1, 4, 4])).dataSync();
  const expected = [0, 1, 2].map((o) => Array.from({ length: 9 }, (_, p) => k(10 + 3 * (2 * p + 1) + o)).reduce((a, b) => a + b, 0) + k(64 + o));
  y.forEach((v, o) => assert.ok(Math.abs(v - expected[o]!) < 1e-5, `fc output ${o}: ${v}, expected ${expected[o]}`));
});

/** A Sequential model of one layer (its config gets batch_input_shape) and the given weights. */
function oneLayer(className: string, config: object, inputShape: (number | null)[], weights: [WeightSpec, number[]][] = []): { json: ModelJson; bytes: Uint8Array } {
  const layer = { class_name: className, config: { name: 'layer', batch_input_shape: inputShape, ...config } };
  const values = Float32Array.from(weights.flatMap(([, v]) => v));
  return {
    json: { modelTopology: { class_name: 'Sequential', config: { name: 'one', layers: [layer] } }, weightsManifest: [{ paths: ['w.bin'], weights: weights.map(([s]) => s) }] },
    bytes: new Uint8Array(values.buffer),
  };
}

test("Keras' ReLU options: max_value, negative_slope and threshold", () => {
  const x = tensor([[-1, 0.5, 1, 2, 6]]);
  const relu = (config: object) => Array.from(call(import_tfjs_layers(oneLayer('ReLU', config, [null, 5]).json, new Uint8Array()), x).dataSync());
  assert.deepEqual(relu({ max_value: 6 }), [0, 0.5, 1, 2, 6]);
  assert.deepEqual(relu({ max_value: 4 }), [0, 0.5, 1, 2, 4]);
  assert.deepEqual(relu({ negative_slope: 0.5 }), [-0.5, 0.5, 1, 2, 6]);
  // Below the threshold: negative_slope · (x - threshold); at or above, x (capped).
  assert.deepEqual(relu({ max_value: 4, negative_slope: 0.5, threshold: 1 }), [-1, -0.25, 0, 2, 4]);
  assert.deepEqual(relu({ threshold: 1 }), [0, 0, 0, 2, 6]);
});

test('weights by value: uint8 and uint16 become min + q·scale, float16 is widened, int32 is read as it is', () => {
  const dense = (kernel: WeightSpec, kernelBytes: number[], bias: WeightSpec, biasBytes: number[]) => {
    const { json } = oneLayer('Dense', { units: 2 }, [null, 2]);
    json.weightsManifest[0]!.weights = [kernel, bias];
    const model = import_tfjs_layers(json, Uint8Array.from([...kernelBytes, ...biasBytes]));
    const fc = layer<Linear>(model, 'layer');
    return [Array.from(fc.weight.dataSync()), Array.from(fc.bias!.dataSync())];
  };
  // Kernel [in, out] = [[q0, q1], [q2, q3]]; stride's weight is its transpose.
  const [w8, b16] = dense(
    { name: 'layer/kernel', shape: [2, 2], dtype: 'float32', quantization: { dtype: 'uint8', min: -1, scale: 0.5 } }, [0, 1, 2, 3],
    { name: 'layer/bias', shape: [2], dtype: 'float32', quantization: { dtype: 'float16' } }, [0x00, 0x3c, 0x00, 0xc0],
  );
  assert.deepEqual(w8, [-1, 0, -0.5, 0.5]);
  assert.deepEqual(b16, [1, -2]);
  const [w32, bU16] = dense(
    { name: 'layer/kernel', shape: [2, 2], dtype: 'int32' }, [1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff],
    { name: 'layer/bias', shape: [2], dtype: 'float32', quantization: { dtype: 'uint16', min: 0, scale: 0.25 } }, [4, 0, 0, 1],
  );
  assert.deepEqual(w32, [1, 3, 2, -1]);
  assert.deepEqual(bU16, [1, 64]);
});

test('Conv2D with groups: each output channel sees only its group of input channels', () => {
  // 1x1 kernel [1, 1, in/groups = 2, out = 2]: out0 = 1·x0 + 2·x1, out1 = 3·x2 + 4·x3.
  const kernel: WeightSpec = { name: 'layer/kernel', shape: [1, 1, 2, 2], dtype: 'float32' };
  const { json, bytes } = oneLayer('Conv2D', { filters: 2, kernel_size: 1, groups: 2, use_bias: false }, [null, 1, 1, 4], [[kernel, [1, 3, 2, 4]]]);
  const y = call(import_tfjs_layers(json, bytes), tensor([[[[1]], [[10]], [[100]], [[1000]]]]));
  assert.deepEqual(Array.from(y.dataSync()), [21, 4300]);
});

test('the imported model takes NCHW input and says so when given NHWC', () => {
  const model = import_tfjs_layers(tinyModel().json, tinyModel().bytes);
  assert.throws(() => call(model, randn([1, 4, 4, 2])), (e: Error) => e instanceof StrideError && /expected an input of shape \[\*, 1, 4, 4\].*permute/.test(e.message));
  assert.deepEqual(call(model, randn([3, 1, 4, 4])).shape, [3, 3]);
});

// ---------------------------------------------------------------- hostile files

/** assert.throws for a TfjsError (or another StrideError) whose message matches every pattern. */
function assertRefused(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof StrideError, `expected a StrideError, got ${e}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

test('a truncated shard: the weight that runs past the end, with its offset and shard', () => {
  const { json, bytes } = tinyModel();
  assertRefused(() => import_tfjs_layers(json, [bytes.subarray(0, 100), bytes.subarray(100, 200)]), /weight 'fc\/kernel'/, /starts at byte 40 \(byte 40 of a\.bin\)/, /runs past the end of the 200 bytes/);
  assertRefused(() => import_tfjs_layers(json, new Uint8Array(0)), /weight 'conv\/kernel'.*starts at byte 0/);
});

test('manifest and bytes that disagree: bytes left over, or a shape the layer cannot take', () => {
  const { json, bytes } = tinyModel();
  const padded = new Uint8Array(bytes.length + 8);
  padded.set(bytes);
  assertRefused(() => import_tfjs_layers(json, padded), /weights take 268 bytes but the weight data has 276/);
  const reshaped = structuredClone(json);
  reshaped.weightsManifest[0]!.weights[2]!.shape = [27, 2];
  assertRefused(() => import_tfjs_layers(reshaped, bytes), /layer 'fc' \(Dense\): weight 'fc\/kernel' has shape \[27, 2\], the layer's config needs \[\*, 3\]/);
  const renamed = structuredClone(json);
  renamed.weightsManifest[0]!.weights[3]!.name = 'head/bias';
  assertRefused(() => import_tfjs_layers(renamed, bytes), /layer 'fc' \(Dense\): weight 'fc\/bias' is not in the weights manifest/);
  const bad = structuredClone(json);
  bad.weightsManifest[0]!.weights[0]!.shape = [2, -2, 1, 2];
  assertRefused(() => import_tfjs_layers(bad, bytes), /weight 'conv\/kernel': sizes must be non-negative integers/);
  const huge = structuredClone(json);
  huge.weightsManifest[0]!.weights[0]!.shape = [100000, 100000, 1000, 2];
  assertRefused(() => import_tfjs_layers(huge, bytes), /runs past the end/);
  const strange = structuredClone(json);
  strange.weightsManifest[0]!.weights[1]!.quantization = { dtype: 'int4' };
  assertRefused(() => import_tfjs_layers(strange, bytes), /weight 'conv\/bias' has quantization \{"dtype":"int4"\}/);
});

test('unknown layer classes are all listed, with the layers that use them', () => {
  const { json, bytes } = tinyModel();
  const config = (json.modelTopology as { model_config: { config: { layers: { class_name: string }[] } } }).model_config.config;
  config.layers[1]!.class_name = 'Conv3D';
  config.layers[2]!.class_name = 'Lambda';
  assertRefused(() => import_tfjs_layers(json, bytes), /unsupported layers: 'conv' \(Conv3D\), 'flat' \(Lambda\); stride imports InputLayer, Conv2D/);
});

test('bad JSON, graph models, unsupported options, a cycle: each a clear error', () => {
  assertRefused(() => import_tfjs_layers('{"modelTopology": ', new Uint8Array()), /model\.json is not valid JSON/);
  assertRefused(() => import_tfjs_layers('[1, 2]', new Uint8Array()), /must hold a JSON object/);
  assertRefused(() => import_tfjs_layers({ format: 'graph-model', modelTopology: {} }, new Uint8Array()), /not graph models/);
  assertRefused(() => import_tfjs_layers({ weightsManifest: [] }, new Uint8Array()), /no "modelTopology"/);
  assertRefused(() => import_tfjs_layers(oneLayer('UpSampling2D', { interpolation: 'bilinear' }, [null, 2, 2, 1]).json, new Uint8Array()), /layer 'layer' \(UpSampling2D\): config "interpolation" is "bilinear"; stride supports nearest/);
  assertRefused(() => import_tfjs_layers(oneLayer('Flatten', { data_format: 'channels_first' }, [null, 2, 2, 1]).json, new Uint8Array()), /config "data_format"/);
  assertRefused(() => import_tfjs_layers(oneLayer('Activation', { activation: 'mish' }, [null, 2]).json, new Uint8Array()), /activation "mish" is not supported/);
  const { json, bytes } = tinyModel();
  const config = (json.modelTopology as { model_config: { config: { layers: { inbound_nodes: unknown[] }[] } } }).model_config.config;
  config.layers[1]!.inbound_nodes = [[['fc', 0, 0, {}]]];
  assertRefused(() => import_tfjs_layers(json, bytes), /cycle through layer/);
  config.layers[1]!.inbound_nodes = [[['nowhere', 0, 0, {}]]];
  assertRefused(() => import_tfjs_layers(json, bytes), /refers to 'nowhere#0'.*which no layer produces/);
});

test('load_tfjs_layers reads the shards beside model.json and refuses paths that leave its directory', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stride-tfjs-'));
  try {
    const { json, bytes } = tinyModel();
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    await writeFile(join(dir, 'a.bin'), bytes.subarray(0, 100));
    await writeFile(join(dir, 'b.bin'), bytes.subarray(100));
    const model = await load_tfjs_layers(join(dir, 'model.json'));
    assert.deepEqual(Array.from(layer<Linear>(model, 'fc').bias!.dataSync()), [64, 65, 66].map((i) => Math.fround(0.01 * i)));
    json.weightsManifest[0]!.paths = ['a.bin', '../b.bin'];
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    await assert.rejects(load_tfjs_layers(join(dir, 'model.json')), /weight shard path '\.\.\/b\.bin' leads out of the model's directory/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- real models from npm packages

/** nsfwjs's bundled model `name`, decoded by read_nsfwjs_model. */
async function nsfwModel(name: string): Promise<{ json: ModelJson; shards: Uint8Array[] }> {
  const { json, shards } = await read_nsfwjs_model(new URL(`nsfwjs/dist/models/${name}`, BENCH).pathname);
  return { json: json as ModelJson, shards };
}

test('nsfwjs bundles: the exported literal becomes JSON (keys quoted, !0/!1, .5 numbers) and nothing else is accepted', () => {
  const bundle = '!function(e){...}({1:[function(e,t,o){t.exports={a:!0,"b c":[.5,-1e-3,null],d:!1,e:"x\\"y"}},{}]},{},[1])(1)});';
  const value = bundledValue(bundle, 'model.min.js');
  assert.equal(value, '{a:!0,"b c":[.5,-1e-3,null],d:!1,e:"x\\"y"}');
  assert.deepEqual(JSON.parse(jsLiteralToJson(value)), { a: true, 'b c': [0.5, -0.001, null], d: false, e: 'x"y' });
  assert.throws(() => bundledValue('module.exports={}', 'x.min.js'), /x\.min\.js: not a browserify bundle of one exported value/);
  assert.throws(() => jsLiteralToJson('{a:f()}', 'm'), /m: unexpected text at 4: \(\)\}/);
});

/** A real model's output and one inner layer's (caught by a forward hook) against TF.js on a uniform [0, 1) image. */
async function compareRealModel(t: TestContext, name: string, size: number, inner: string): Promise<void> {
  const started = performance.now();
  const { json, shards } = await nsfwModel(name);
  const imported = import_tfjs_layers(json, shards);
  const reference = await tfLoad(json, shards);
  manual_seed(21);
  const x = rand([1, size, size, 3]);
  let innerOut: Tensor | null = null;
  layer(imported, inner).register_forward_hook((_m, _in, out) => void (innerOut = out as Tensor));
  const strideStart = performance.now();
  const y = call(imported, toNCHW(x));
  const strideMs = performance.now() - strideStart;
  const probe = tf!.model({ inputs: reference.inputs, outputs: [reference.getLayer(inner).output, reference.layers.at(-1)!.output] });
  const [wantInner, want] = tfRun(probe, x);
  report(t, `${name} output`, assertAgrees(y, want!, `${name} output`));
  report(t, `${name} layer '${inner}'`, assertAgrees(innerOut!, wantInner!, `${name} layer '${inner}'`));
  t.diagnostic(`${name}: stride forward ${(strideMs / 1000).toFixed(1)} s, whole test ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

const nsfwjs = skipUnlessInstalled('nsfwjs');

test("nsfwjs MobileNetV2 (224x224, uint8 weights): output and 'out_relu' match TF.js", { skip: nsfwjs }, async (t) => {
  await compareRealModel(t, 'mobilenet_v2', 224, 'out_relu');
});

test("nsfwjs InceptionV3 (299x299, uint8 weights): output and 'mixed10' match TF.js", { skip: nsfwjs }, async (t) => {
  await compareRealModel(t, 'inception_v3', 299, 'mixed10');
});

test('ESRGAN-slim x4 (float32, UpSampling2D), loaded from its directory: the upscaled image matches TF.js', { skip: skipUnlessInstalled('@upscalerjs/esrgan-slim') }, async (t) => {
  const path = new URL('@upscalerjs/esrgan-slim/models/x4/model.json', BENCH).pathname;
  const started = performance.now();
  const imported = await load_tfjs_layers(path);
  const json = JSON.parse(await readFile(path, 'utf8')) as ModelJson;
  const shard = new Uint8Array(await readFile(new URL('@upscalerjs/esrgan-slim/models/x4/group1-shard1of1.bin', BENCH)));
  manual_seed(22);
  const x = rand([1, 24, 20, 3]);
  const y = call(imported, toNCHW(x));
  assert.deepEqual(y.shape, [1, 3, 96, 80]);
  report(t, 'ESRGAN-slim x4 output', assertAgrees(y, tfRun(await tfLoad(json, [shard]), x)[0]!, 'ESRGAN-slim x4'), performance.now() - started);
});

test('TfjsError is a StrideError', () => {
  assert.ok(new TfjsError('x') instanceof StrideError);
});
