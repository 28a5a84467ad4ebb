/**
 * Import of TF.js layers models (model.json with a Keras topology, plus binary weight shards)
 * into a runnable stride Module. Functional (`Model`/`Functional`) and `Sequential` topologies of
 * InputLayer, Conv2D, DepthwiseConv2D, SeparableConv2D, Dense, BatchNormalization, ReLU,
 * LeakyReLU, Softmax, Activation, ZeroPadding2D, MaxPooling2D, AveragePooling2D,
 * GlobalAveragePooling2D, GlobalMaxPooling2D, UpSampling2D (nearest), Add, Concatenate, Flatten,
 * Reshape and Dropout; anything else is refused in one error listing every unsupported layer.
 *
 * The imported model takes and returns stride's layout: a 4-d input is NCHW (an NHWC image as
 * Keras takes it goes in as x.permute(0, 3, 1, 2)), a 4-d output comes back NCHW. Kernels are
 * transposed to PyTorch's layouts on import and Flatten/Reshape/Dense follow Keras' NHWC order,
 * so the numbers are Keras'. Parameters are named after the Keras layers (`Conv1.weight`,
 * `bn_Conv1.running_mean`). The model is returned in eval mode, as Keras runs inference.
 * Nothing in the file is executed. Pure.
 */
import { no_grad } from '../../autograd/grad_mode.js';
import { Dropout } from '../../nn/dropout.js';
import { Module } from '../../nn/module.js';
import { ZeroPad2d } from '../../nn/padding.js';
import { Upsample } from '../../nn/upsample.js';
import { copy_ } from '../../ops/elementwise.js';
import { permute, reshape } from '../../ops/shape.js';
import { fromFlat } from '../../tensor/creation.js';
import { StrideError } from '../../tensor/errors.js';
import { tidy } from '../../tensor/memory.js';
import { formatShape } from '../../tensor/shape.js';
import type { Tensor } from '../../tensor/tensor.js';
import {
  ACTIVATION_NAMES, isActivation, KerasActivation, KerasBatchNorm, KerasConv2d, KerasDense, KerasFlatten, KerasGlobalPool2d, KerasMerge,
  KerasPool2d, KerasReLU, KerasReshape, KerasSeparableConv2d, type KerasPadding,
} from './layers.js';
import { joinShards, manifestPaths, readWeights, TfjsError, type TfjsWeight } from './weights.js';

export { TfjsError } from './weights.js';

export interface TfjsImportOptions {
  /** Named in error messages (load_tfjs_layers passes the path of model.json). */
  source?: string;
  /** Return this layer's output instead of the model's (features from inside the network); only what it needs is computed. */
  output?: string;
}

type Config = Record<string, unknown>;

interface LayerSpec {
  name: string;
  className: string;
  config: Config;
  /** For each call of the layer, the keys of its input tensors. */
  calls: string[][];
}

/** One call of a layer: its inputs and the key of its output (layer name # call index). */
interface Call {
  layer: string;
  key: string;
  inputs: string[];
}

const isRecord = (v: unknown): v is Config => typeof v === 'object' && v !== null && !Array.isArray(v);
const tensorKey = (layer: string, call: number) => `${layer}#${call}`;

/** Reads a layer's config, each error naming the layer. */
class LayerReader {
  readonly where: string;

  constructor(readonly spec: LayerSpec, source: string, private readonly weights: Map<string, TfjsWeight>, private readonly used: Set<string>) {
    this.where = `${source}: layer '${spec.name}' (${spec.className})`;
  }

  fail(message: string): never {
    throw new TfjsError(`${this.where}: ${message}`);
  }

  private value(key: string, fallback: unknown): unknown {
    const v = this.spec.config[key];
    return v === undefined || v === null ? fallback : v;
  }

  int(key: string, fallback?: number, min = 1): number {
    const v = this.value(key, fallback);
    if (!Number.isSafeInteger(v) || (v as number) < min) this.fail(`config "${key}" must be an integer${min > -Infinity ? ` ≥ ${min}` : ''}, got ${JSON.stringify(v)}`);
    return v as number;
  }

  number(key: string, fallback?: number): number {
    const v = this.value(key, fallback);
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(`config "${key}" must be a finite number, got ${JSON.stringify(v)}`);
    return v;
  }

  optionalNumber(key: string): number | null {
    return this.value(key, null) === null ? null : this.number(key);
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.value(key, fallback);
    if (typeof v !== 'boolean') this.fail(`config "${key}" must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  /** An int or a pair of ints (Keras' kernel_size, strides...). */
  pair(key: string, fallback?: number | [number, number]): [number, number] {
    const v = this.value(key, fallback);
    const p = typeof v === 'number' ? [v, v] : v;
    if (!Array.isArray(p) || p.length !== 2 || !p.every((x) => Number.isSafeInteger(x) && x >= 1)) {
      this.fail(`config "${key}" must be a positive integer or two, got ${JSON.stringify(v)}`);
    }
    return p as [number, number];
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const v = this.value(key, fallback);
    if (!allowed.includes(v as T)) this.fail(`config "${key}" is ${JSON.stringify(v)}; stride supports ${allowed.join(', ')}`);
    return v as T;
  }

  padding(): KerasPadding {
    return this.oneOf('padding', ['valid', 'same'] as const, 'valid');
  }

  activation(key = 'activation'): string {
    const v = this.value(key, 'linear');
    if (!isActivation(v)) this.fail(`activation ${JSON.stringify(v)} is not supported; stride supports ${ACTIVATION_NAMES.join(', ')}`);
    return v;
  }

  /** Refuses channels_first: the layout conversion assumes Keras' default. */
  channelsLast(): void {
    this.oneOf('data_format', ['channels_last'] as const, 'channels_last');
  }

  /** The weight `<layer>/<param>`, whose shape must match `expected` (null: any size). */
  weight(param: string, expected: readonly (number | null)[]): TfjsWeight {
    const name = `${this.spec.name}/${param}`;
    const w = this.weights.get(name);
    if (!w) this.fail(`weight '${name}' is not in the weights manifest`);
    if (w.shape.length !== expected.length || expected.some((e, i) => e !== null && e !== w.shape[i])) {
      this.fail(`weight '${name}' has shape ${formatShape(w.shape)}, the layer's config needs [${expected.map((e) => e ?? '*').join(', ')}]`);
    }
    this.used.add(name);
    return w;
  }
}

/** Copies a Keras weight into a stride parameter or buffer, rearranged to stride's layout. */
function load(target: Tensor, w: TfjsWeight, arrange: (t: Tensor) => Tensor = (t) => t): void {
  tidy(() => no_grad(() => copy_(target, arrange(fromFlat(w.values, w.shape, { dtype: w.values instanceof Int32Array ? 'int32' : 'float32' })))));
}

/** Keras kernel [kh, kw, in, out] → PyTorch's [out, in, kh, kw]. */
const hwioToOihw = (t: Tensor) => permute(t, [3, 2, 0, 1]);
/** Depthwise kernel [kh, kw, C, M] → [C·M, 1, kh, kw]: output channel c·M + m, as TF orders them. */
const depthwiseToOihw = (t: Tensor) => reshape(permute(t, [2, 3, 0, 1]), [-1, 1, t.shape[0]!, t.shape[1]!]);

function buildConv(r: LayerReader): Module {
  r.channelsLast();
  const filters = r.int('filters');
  const [kh, kw] = r.pair('kernel_size');
  const groups = r.int('groups', 1);
  const bias = r.bool('use_bias', true);
  const kernel = r.weight('kernel', [kh, kw, null, filters]);
  const conv = new KerasConv2d(kernel.shape[2]! * groups, filters, [kh, kw], {
    stride: r.pair('strides', 1), dilation: r.pair('dilation_rate', 1), groups, bias, padding: r.padding(), activation: r.activation(),
  });
  load(conv.weight, kernel, hwioToOihw);
  if (bias) load(conv.bias!, r.weight('bias', [filters]));
  return conv;
}

function buildDepthwise(r: LayerReader): Module {
  r.channelsLast();
  const multiplier = r.int('depth_multiplier', 1);
  const [kh, kw] = r.pair('kernel_size');
  const bias = r.bool('use_bias', true);
  const kernel = r.weight('depthwise_kernel', [kh, kw, null, multiplier]);
  const channels = kernel.shape[2]!;
  const conv = new KerasConv2d(channels, channels * multiplier, [kh, kw], {
    stride: r.pair('strides', 1), dilation: r.pair('dilation_rate', 1), groups: channels, bias, padding: r.padding(), activation: r.activation(),
  });
  load(conv.weight, kernel, depthwiseToOihw);
  if (bias) load(conv.bias!, r.weight('bias', [channels * multiplier]));
  return conv;
}

function buildSeparable(r: LayerReader): Module {
  r.channelsLast();
  const multiplier = r.int('depth_multiplier', 1);
  const filters = r.int('filters');
  const [kh, kw] = r.pair('kernel_size');
  const bias = r.bool('use_bias', true);
  const depthwise = r.weight('depthwise_kernel', [kh, kw, null, multiplier]);
  const channels = depthwise.shape[2]!;
  const pointwise = r.weight('pointwise_kernel', [1, 1, channels * multiplier, filters]);
  const conv = new KerasSeparableConv2d(channels, multiplier, filters, [kh, kw], r.activation(), {
    stride: r.pair('strides', 1), dilation: r.pair('dilation_rate', 1), bias, padding: r.padding(),
  });
  load(conv.depthwise.weight, depthwise, depthwiseToOihw);
  load(conv.pointwise.weight, pointwise, hwioToOihw);
  if (bias) load(conv.pointwise.bias!, r.weight('bias', [filters]));
  return conv;
}

function buildDense(r: LayerReader): Module {
  const units = r.int('units');
  const bias = r.bool('use_bias', true);
  const kernel = r.weight('kernel', [null, units]);
  const dense = new KerasDense(kernel.shape[0]!, units, bias, r.activation());
  load(dense.weight, kernel, (t) => permute(t, [1, 0]));
  if (bias) load(dense.bias!, r.weight('bias', [units]));
  return dense;
}

function buildBatchNorm(r: LayerReader): Module {
  const rawAxis = r.spec.config['axis'];
  const axis = Array.isArray(rawAxis) && rawAxis.length === 1 ? rawAxis[0] : (rawAxis ?? -1);
  if (!Number.isSafeInteger(axis)) r.fail(`config "axis" must be one integer, got ${JSON.stringify(rawAxis)}`);
  const scale = r.bool('scale', true);
  const center = r.bool('center', true);
  const mean = r.weight('moving_mean', [null]);
  const channels = mean.shape[0]!;
  const bn = new KerasBatchNorm(channels, axis as number, { eps: r.number('epsilon', 1e-3), momentum: 1 - r.number('momentum', 0.99) });
  load(bn.running_mean!, mean);
  load(bn.running_var!, r.weight('moving_variance', [channels]));
  // A Keras layer without gamma (beta) scales by 1 (shifts by 0): the affine parameter stays at that value, frozen.
  if (scale) load(bn.weight!, r.weight('gamma', [channels]));
  else bn.weight!.requires_grad = false;
  if (center) load(bn.bias!, r.weight('beta', [channels]));
  else bn.bias!.requires_grad = false;
  return bn;
}

/** ZeroPadding2D's padding (an int, [sym_h, sym_w] or [[top, bottom], [left, right]]) → ZeroPad2d's [left, right, top, bottom]. */
function buildZeroPadding(r: LayerReader): Module {
  r.channelsLast();
  const p = r.spec.config['padding'] ?? 1;
  const ok = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
  let hw: [[number, number], [number, number]] | null = null;
  if (ok(p)) hw = [[p, p], [p, p]];
  else if (Array.isArray(p) && p.length === 2 && p.every(ok)) hw = [[p[0], p[0]], [p[1], p[1]]];
  else if (Array.isArray(p) && p.length === 2 && p.every((d) => Array.isArray(d) && d.length === 2 && d.every(ok))) hw = p as [[number, number], [number, number]];
  if (!hw) r.fail(`config "padding" must be an int, two ints or [[top, bottom], [left, right]], got ${JSON.stringify(p)}`);
  return new ZeroPad2d([hw[1][0], hw[1][1], hw[0][0], hw[0][1]]);
}

function buildPool(kind: 'max' | 'avg') {
  return (r: LayerReader): Module => {
    r.channelsLast();
    const size = r.pair('pool_size', 2);
    return new KerasPool2d(kind, size, r.pair('strides', size), r.padding());
  };
}

function buildGlobalPool(kind: 'max' | 'avg') {
  return (r: LayerReader): Module => {
    r.channelsLast();
    return new KerasGlobalPool2d(kind, r.bool('keepdims', false));
  };
}

function buildReshape(r: LayerReader): Module {
  const shape = r.spec.config['target_shape'];
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d >= 1 || d === -1))) {
    r.fail(`config "target_shape" must be a list of positive integers (one may be -1), got ${JSON.stringify(shape)}`);
  }
  return new KerasReshape(shape as number[]);
}

function buildUpSampling(r: LayerReader): Module {
  r.channelsLast();
  r.oneOf('interpolation', ['nearest'] as const, 'nearest');
  return new Upsample({ scale_factor: r.pair('size', 2), mode: 'nearest' });
}

/** Builders by Keras class name; null: the layer has no module (the model's input). */
const BUILDERS: Record<string, (r: LayerReader) => Module | null> = {
  InputLayer: () => null,
  Conv2D: buildConv,
  DepthwiseConv2D: buildDepthwise,
  SeparableConv2D: buildSeparable,
  Dense: buildDense,
  BatchNormalization: buildBatchNorm,
  ReLU: (r) => new KerasReLU(r.optionalNumber('max_value'), r.number('negative_slope', 0), r.number('threshold', 0)),
  LeakyReLU: (r) => KerasActivation.leaky(r.number('alpha', 0.3)),
  Softmax: (r) => KerasActivation.softmax(r.int('axis', -1, -Infinity)),
  Activation: (r) => new KerasActivation(r.activation()),
  ZeroPadding2D: buildZeroPadding,
  MaxPooling2D: buildPool('max'),
  AveragePooling2D: buildPool('avg'),
  GlobalAveragePooling2D: buildGlobalPool('avg'),
  GlobalMaxPooling2D: buildGlobalPool('max'),
  UpSampling2D: buildUpSampling,
  Add: () => new KerasMerge('add'),
  Concatenate: (r) => new KerasMerge('concatenate', r.int('axis', -1, -Infinity)),
  Flatten: (r) => (r.channelsLast(), new KerasFlatten()),
  Reshape: buildReshape,
  Dropout: (r) => new Dropout(r.number('rate')),
};

const MERGES = new Set(['Add', 'Concatenate']);

// ---------------------------------------------------------------- topology

interface Topology {
  layers: LayerSpec[];
  input: { key: string; shape: (number | null)[] | null };
  output: string;
}

/** A functional model's [layer, node, tensor] reference → tensor key; only single-output layers exist here. */
function refKey(ref: unknown, where: string): string {
  if (!Array.isArray(ref) || typeof ref[0] !== 'string' || !Number.isSafeInteger(ref[1]) || !Number.isSafeInteger(ref[2])) {
    throw new TfjsError(`${where}: expected a [layer name, node index, tensor index] reference, got ${JSON.stringify(ref)?.slice(0, 200)}`);
  }
  if (ref[2] !== 0) throw new TfjsError(`${where}: refers to output ${ref[2]} of layer '${ref[0]}', but the layers stride imports have one output`);
  return tensorKey(ref[0], ref[1] as number);
}

/** input_layers / output_layers: one reference, or a list of them. */
function refList(v: unknown, where: string): unknown[] {
  if (!Array.isArray(v)) throw new TfjsError(`${where} must be a list of [layer name, node index, tensor index]`);
  return typeof v[0] === 'string' ? [v] : v;
}

function layerSpec(raw: unknown, i: number, source: string): LayerSpec {
  if (!isRecord(raw) || typeof raw['class_name'] !== 'string' || !isRecord(raw['config'])) {
    throw new TfjsError(`${source}: layers[${i}] must be {class_name, config, ...}, got ${JSON.stringify(raw)?.slice(0, 200)}`);
  }
  const name = raw['name'] ?? raw['config']['name'];
  if (typeof name !== 'string' || !name) throw new TfjsError(`${source}: layers[${i}] (${raw['class_name']}) has no name`);
  return { name, className: raw['class_name'], config: raw['config'], calls: [] };
}

function batchInputShape(config: Config, where: string): (number | null)[] | null {
  const shape = config['batch_input_shape'] ?? config['batch_shape'] ?? null;
  if (shape === null) return null;
  if (!Array.isArray(shape) || !shape.every((d) => d === null || (Number.isSafeInteger(d) && d >= 0))) {
    throw new TfjsError(`${where}: batch_input_shape must list sizes or nulls, got ${JSON.stringify(shape)}`);
  }
  return shape as (number | null)[];
}

function functionalTopology(config: Config, source: string): Topology {
  const rawLayers = config['layers'];
  if (!Array.isArray(rawLayers)) throw new TfjsError(`${source}: the model config has no "layers" list`);
  const layers = rawLayers.map((raw, i) => {
    const spec = layerSpec(raw, i, source);
    const nodes = (raw as Config)['inbound_nodes'] ?? [];
    const where = `${source}: layer '${spec.name}' (${spec.className})`;
    if (!Array.isArray(nodes)) throw new TfjsError(`${where}: inbound_nodes must be a list`);
    spec.calls = nodes.map((node: unknown) => {
      if (!Array.isArray(node)) throw new TfjsError(`${where}: an inbound node must be a list of [layer name, node index, tensor index, kwargs] (Keras 2's format), got ${JSON.stringify(node)?.slice(0, 200)}`);
      return node.map((ref) => refKey(ref, where));
    });
    return spec;
  });
  const inputs = refList(config['input_layers'], `${source}: input_layers`).map((r) => refKey(r, `${source}: input_layers`));
  const outputs = refList(config['output_layers'], `${source}: output_layers`).map((r) => refKey(r, `${source}: output_layers`));
  if (inputs.length !== 1) throw new TfjsError(`${source}: stride imports models with one input; this one has ${inputs.length} (${inputs.join(', ')})`);
  const inputLayer = layers.find((l) => tensorKey(l.name, 0) === inputs[0] && l.className === 'InputLayer');
  if (!inputLayer) throw new TfjsError(`${source}: the model's input '${inputs[0]}' is not an InputLayer`);
  return { layers, input: { key: inputs[0]!, shape: batchInputShape(inputLayer.config, `${source}: layer '${inputLayer.name}'`) }, output: outputs.length === 1 ? outputs[0]! : '' };
}

/** A Sequential model as a chain: each layer's one call takes the previous layer's output. */
function sequentialTopology(config: unknown, source: string): Topology {
  const rawLayers = Array.isArray(config) ? config : isRecord(config) ? config['layers'] : undefined;
  if (!Array.isArray(rawLayers) || rawLayers.length === 0) throw new TfjsError(`${source}: the Sequential model has no layers`);
  const layers = rawLayers.map((raw, i) => layerSpec(raw, i, source));
  const first = layers[0]!;
  // Without an InputLayer the input gets a key no layer's output can have (those contain '#').
  const input = { key: first.className === 'InputLayer' ? tensorKey(first.name, 0) : 'input', shape: batchInputShape(first.config, `${source}: layer '${first.name}'`) };
  let previous = input.key;
  for (const layer of layers) {
    if (layer.className === 'InputLayer') continue;
    layer.calls = [[previous]];
    previous = tensorKey(layer.name, 0);
  }
  return { layers, input, output: previous };
}

function readTopology(modelJson: Config, source: string): Topology {
  const topology = modelJson['modelTopology'];
  if (!isRecord(topology)) throw new TfjsError(`${source}: no "modelTopology" object; is this a TF.js model.json?`);
  const model = isRecord(topology['model_config']) ? topology['model_config'] : topology;
  const cls = model['class_name'];
  if (cls === 'Model' || cls === 'Functional') {
    if (!isRecord(model['config'])) throw new TfjsError(`${source}: the ${cls} has no config`);
    return functionalTopology(model['config'], source);
  }
  if (cls === 'Sequential') return sequentialTopology(model['config'], source);
  throw new TfjsError(`${source}: the model is a '${String(cls)}'; stride imports Model, Functional and Sequential topologies`);
}

/**
 * The calls that produce `output`, each after its inputs (depth first, without recursion so that
 * a deep hostile graph cannot exhaust the stack). References to missing layers and cycles are errors.
 */
function order(layers: LayerSpec[], inputKey: string, output: string, source: string): Call[] {
  const producers = new Map<string, Call>();
  for (const l of layers) l.calls.forEach((inputs, i) => producers.set(tensorKey(l.name, i), { layer: l.name, key: tensorKey(l.name, i), inputs }));
  const done = new Set<string>([inputKey]);
  const active = new Set<string>();
  const ordered: Call[] = [];
  const stack: [string, string][] = [[output, 'the output']];
  while (stack.length) {
    const [key, user] = stack[stack.length - 1]!;
    if (done.has(key)) {
      stack.pop();
      continue;
    }
    const call = producers.get(key);
    if (!call) throw new TfjsError(`${source}: ${user} refers to '${key}' (layer # call), which no layer produces`);
    const pending = call.inputs.filter((k) => !done.has(k));
    if (pending.length === 0) {
      ordered.push(call);
      done.add(key);
      active.delete(key);
      stack.pop();
      continue;
    }
    if (active.has(key)) throw new TfjsError(`${source}: the graph has a cycle through layer '${call.layer}'`);
    active.add(key);
    for (const k of pending) stack.push([k, `layer '${call.layer}'`]);
  }
  return ordered;
}

// ---------------------------------------------------------------- module

/** Property names for the layers: the Keras name where it is a valid, free name, else made so. */
function childNames(module: Module, layers: LayerSpec[]): Map<string, string> {
  const names = new Map<string, string>();
  const taken = new Set<string>();
  for (const l of layers) {
    const base = l.name.replace(/[^A-Za-z0-9_]/g, '_') || 'layer';
    let name = base;
    for (let i = 1; taken.has(name) || name in module; i++) name = `${base}_${i}`;
    taken.add(name);
    names.set(l.name, name);
  }
  return names;
}

/** A Module that runs an imported TF.js layers model; each Keras layer is a child named after it. */
export class TfjsLayersModule extends Module {
  /** The input shape the model expects in stride's layout (NCHW for images); null where any size goes. */
  readonly input_shape: (number | null)[] | null;
  private readonly calls: { call: Call; module: Module; className: string }[];
  private readonly inputKey: string;
  private readonly outputKey: string;

  constructor(topology: Topology, modules: Map<string, Module>, output: string, source: string) {
    super();
    const keras = topology.input.shape;
    this.input_shape = keras && keras.length === 4 ? [keras[0]!, keras[3]!, keras[1]!, keras[2]!] : keras;
    const classes = new Map(topology.layers.map((l) => [l.name, l.className]));
    this.calls = order(topology.layers, topology.input.key, output, source).map((call) => ({ call, module: modules.get(call.layer)!, className: classes.get(call.layer)! }));
    this.inputKey = topology.input.key;
    this.outputKey = output;
    // Named after the fields above are set, so that a layer called 'calls' cannot replace them.
    const names = childNames(this, topology.layers);
    for (const l of topology.layers) {
      const m = modules.get(l.name);
      if (m) this.add_module(names.get(l.name)!, m);
    }
    this.eval();
  }

  forward(x: Tensor): Tensor {
    const want = this.input_shape;
    if (want && (x.ndim !== want.length || want.some((d, i) => i > 0 && d !== null && d !== x.shape[i]))) {
      const layout = want.length === 4 ? " (stride's NCHW: permute an NHWC image with x.permute(0, 3, 1, 2))" : '';
      throw new StrideError(`TfjsLayersModule: expected an input of shape [${want.map((d) => d ?? '*').join(', ')}]${layout}, got ${formatShape(x.shape)}`);
    }
    const values = new Map<string, Tensor>([[this.inputKey, x]]);
    for (const { call, module, className } of this.calls) {
      const inputs = call.inputs.map((k) => values.get(k)!);
      try {
        values.set(call.key, (module.call as (...xs: Tensor[]) => Tensor)(...inputs));
      } catch (e) {
        if (e instanceof StrideError) e.message = `layer '${call.layer}' (${className}): ${e.message}`;
        throw e;
      }
    }
    return values.get(this.outputKey)!;
  }
}

function parseModelJson(modelJson: object | string, source: string): Config {
  let parsed: unknown = modelJson;
  if (typeof modelJson === 'string') {
    try {
      parsed = JSON.parse(modelJson);
    } catch (e) {
      throw new TfjsError(`${source}: model.json is not valid JSON (${(e as Error).message})`);
    }
  }
  if (!isRecord(parsed)) throw new TfjsError(`${source}: model.json must hold a JSON object`);
  if (parsed['format'] !== undefined && parsed['format'] !== 'layers-model') {
    throw new TfjsError(`${source}: format is ${JSON.stringify(parsed['format'])}; stride imports TF.js layers models ("layers-model", a Keras topology), not graph models`);
  }
  return parsed;
}

/**
 * Reads a TF.js layers model: `modelJson` (model.json's object or text) and its weight shards,
 * concatenated in the manifest's order or given one by one. Every layer must be of a supported
 * class (otherwise one error lists each unsupported layer), every layer's weights must be in the
 * manifest with the shapes its config implies, and the manifest must account for the weight
 * bytes exactly.
 */
export function import_tfjs_layers(modelJson: object | string, weightData: Uint8Array | ArrayBuffer | readonly Uint8Array[], opts: TfjsImportOptions = {}): TfjsLayersModule {
  const source = opts.source ?? 'TF.js model';
  const json = parseModelJson(modelJson, source);
  const topology = readTopology(json, source);
  const unsupported = topology.layers.filter((l) => !Object.hasOwn(BUILDERS, l.className));
  if (unsupported.length) {
    throw new TfjsError(`${source}: unsupported layers: ${unsupported.map((l) => `'${l.name}' (${l.className})`).join(', ')}; stride imports ${Object.keys(BUILDERS).join(', ')}`);
  }
  const names = new Set<string>();
  for (const l of topology.layers) {
    if (names.has(l.name)) throw new TfjsError(`${source}: two layers are named '${l.name}'`);
    names.add(l.name);
    const single = !MERGES.has(l.className);
    const bad = l.calls.find((inputs) => (single ? inputs.length !== 1 : inputs.length < 2));
    if (bad) throw new TfjsError(`${source}: layer '${l.name}' (${l.className}) is called on ${bad.length} inputs; it takes ${single ? 'one' : 'two or more'}`);
  }
  const manifest = json['weightsManifest'] ?? [];
  const weights = readWeights(manifest, joinShards(weightData, manifestPaths(manifest, source)), source);
  const used = new Set<string>();
  const modules = new Map<string, Module>();
  tidy(() => {
    for (const l of topology.layers) {
      const reader = new LayerReader(l, source, weights, used);
      let m: Module | null;
      try {
        m = BUILDERS[l.className]!(reader);
      } catch (e) {
        // Errors of stride's own layers (e.g. channels not divisible by groups) get the layer's name.
        if (e instanceof StrideError && !(e instanceof TfjsError)) throw new TfjsError(`${reader.where}: ${e.message}`, { cause: e });
        throw e;
      }
      if (m) modules.set(l.name, m);
    }
  });
  const unused = [...weights.keys()].filter((k) => !used.has(k));
  if (unused.length) throw new TfjsError(`${source}: the manifest has weights no layer uses: ${unused.join(', ')}`);
  let output = topology.output;
  if (opts.output !== undefined) {
    if (!names.has(opts.output)) throw new TfjsError(`${source}: opts.output names layer '${opts.output}', which the model does not have`);
    output = tensorKey(opts.output, 0);
  }
  if (!output) throw new TfjsError(`${source}: the model has several outputs; choose one with opts.output (a layer name)`);
  return new TfjsLayersModule(topology, modules, output, source);
}
