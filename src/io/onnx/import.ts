/**
 * Import of ONNX CNNs into a runnable stride Module: the graph's nodes run in order on stride's
 * ops (so autograd works through them), initializers become parameters. Covers Conv,
 * ConvTranspose, BatchNormalization, Relu, Clip, LeakyRelu, Sigmoid, Tanh, MaxPool, AveragePool,
 * GlobalAveragePool, Gemm, MatMul, Add, Sub, Mul, Div, Concat, Flatten, Reshape, Transpose, Pad,
 * Softmax, Dropout, Identity, Constant; anything else is refused in one error listing every
 * unsupported node. Nothing in the file is executed. Pure.
 */
import { Module, Parameter } from '../../nn/module.js';
import { clamp, relu, sigmoid, tanh } from '../../ops/elementwise.js';
import { leaky_relu, softmax } from '../../ops/activation.js';
import { conv2d, conv_transpose2d } from '../../ops/conv.js';
import { cat, pad } from '../../ops/join.js';
import { matmul } from '../../ops/linalg.js';
import { batch_norm } from '../../ops/normalization.js';
import { adaptive_avg_pool2d, avg_pool2d, max_pool2d } from '../../ops/pool.js';
import { permute, reshape } from '../../ops/shape.js';
import { fromFlat } from '../../tensor/creation.js';
import { StrideError } from '../../tensor/errors.js';
import type { Tensor } from '../../tensor/tensor.js';
import { ProtobufError, readFields, readPackedInts, type Field } from './protobuf.js';

export class OnnxError extends StrideError {}

interface Attribute {
  name: string;
  f?: number;
  i?: number;
  s?: string;
  t?: RawTensor;
  floats: number[];
  ints: number[];
}

interface RawTensor {
  name: string;
  dims: number[];
  values: Float32Array | Int32Array;
}

interface OnnxNode {
  name: string;
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, Attribute>;
}

const SUPPORTED = new Set([
  'Conv', 'ConvTranspose', 'BatchNormalization', 'Relu', 'Clip', 'LeakyRelu', 'Sigmoid', 'Tanh', 'MaxPool', 'AveragePool',
  'GlobalAveragePool', 'Gemm', 'MatMul', 'Add', 'Sub', 'Mul', 'Div', 'Concat', 'Flatten', 'Reshape', 'Transpose', 'Pad',
  'Softmax', 'Dropout', 'Identity', 'Constant',
]);

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const byField = (fields: Field[], n: number) => fields.filter((f) => f.field === n);

/** The largest tensor a file may declare, in elements, checked against its actual bytes before any allocation. */
function readTensor(f: Field, source: string): RawTensor {
  const fields = readFields(f.bytes, f.dataOffset, source);
  const dims = byField(fields, 1).flatMap((d) => readPackedInts(d, source));
  const type = Number(byField(fields, 2)[0]?.value ?? 0);
  const name = text(byField(fields, 8)[0]?.bytes ?? new Uint8Array());
  const count = dims.reduce((p, d) => p * d, 1);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new OnnxError(`${source}: tensor '${name}' at byte ${f.offset} has dims [${dims.join(', ')}]`);
  const raw = byField(fields, 9)[0]?.bytes;
  const bytesPer = type === 1 || type === 6 ? 4 : type === 7 || type === 11 ? 8 : 0;
  if (!bytesPer) throw new OnnxError(`${source}: tensor '${name}' at byte ${f.offset} has data type ${type}; stride reads float (1), int32 (6), int64 (7) and double (11)`);
  if (raw) {
    if (raw.length !== count * bytesPer) {
      throw new OnnxError(`${source}: tensor '${name}' at byte ${f.offset} declares [${dims.join(', ')}] (${count * bytesPer} bytes) but holds ${raw.length}`);
    }
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const values = type === 1 || type === 11 ? new Float32Array(count) : new Int32Array(count);
    for (let i = 0; i < count; i++) {
      values[i] = type === 1 ? view.getFloat32(4 * i, true) : type === 6 ? view.getInt32(4 * i, true)
        : type === 11 ? view.getFloat64(8 * i, true) : Number(view.getBigInt64(8 * i, true));
    }
    return { name, dims, values };
  }
  // Typed fields: float_data (4, fixed32), int32_data (5), int64_data (7), double_data (10).
  if (type === 1) {
    const floats = byField(fields, 4).flatMap((d) => (d.wire === 5 ? [d.value as number] : Array.from(new Float32Array(d.bytes.slice().buffer))));
    if (floats.length !== count) throw new OnnxError(`${source}: tensor '${name}' declares ${count} values but holds ${floats.length}`);
    return { name, dims, values: Float32Array.from(floats) };
  }
  const ints = byField(fields, type === 6 ? 5 : 7).flatMap((d) => readPackedInts(d, source));
  if (ints.length !== count) throw new OnnxError(`${source}: tensor '${name}' declares ${count} values but holds ${ints.length}`);
  return { name, dims, values: Int32Array.from(ints) };
}

function readAttribute(f: Field, source: string): Attribute {
  const fields = readFields(f.bytes, f.dataOffset, source);
  const a: Attribute = { name: text(byField(fields, 1)[0]?.bytes ?? new Uint8Array()), floats: [], ints: [] };
  for (const x of fields) {
    if (x.field === 2) a.f = x.value as number;
    else if (x.field === 3) a.i = Number(BigInt.asIntN(64, x.value as bigint));
    else if (x.field === 4) a.s = text(x.bytes);
    else if (x.field === 5) a.t = readTensor(x, source);
    else if (x.field === 7) a.floats.push(...(x.wire === 5 ? [x.value as number] : Array.from(new Float32Array(x.bytes.slice().buffer))));
    else if (x.field === 8) a.ints.push(...readPackedInts(x, source));
  }
  return a;
}

interface Graph {
  nodes: OnnxNode[];
  initializers: RawTensor[];
  input: string;
  output: string;
  opset: number;
}

function readGraph(bytes: Uint8Array, source: string): Graph {
  const model = readFields(bytes, 0, source);
  const g = byField(model, 7)[0];
  if (!g) throw new OnnxError(`${source}: no graph (field 7 of ModelProto); is this an ONNX model?`);
  const opset = Math.max(0, ...byField(model, 8).map((o) => Number(byField(readFields(o.bytes, o.dataOffset, source), 2)[0]?.value ?? 0)));
  const fields = readFields(g.bytes, g.dataOffset, source);
  const initializers = byField(fields, 5).map((f) => readTensor(f, source));
  const nodes = byField(fields, 1).map((f): OnnxNode => {
    const n = readFields(f.bytes, f.dataOffset, source);
    return {
      name: text(byField(n, 3)[0]?.bytes ?? new Uint8Array()),
      op: text(byField(n, 4)[0]?.bytes ?? new Uint8Array()),
      inputs: byField(n, 1).map((x) => text(x.bytes)),
      outputs: byField(n, 2).map((x) => text(x.bytes)),
      attrs: new Map(byField(n, 5).map((x) => readAttribute(x, source)).map((a) => [a.name, a])),
    };
  });
  const names = (n: number) => byField(fields, n).map((v) => text(byField(readFields(v.bytes, v.dataOffset, source), 1)[0]?.bytes ?? new Uint8Array()));
  const initNames = new Set(initializers.map((t) => t.name));
  const inputs = names(11).filter((n) => !initNames.has(n));
  const outputs = names(12);
  if (inputs.length !== 1 || outputs.length !== 1) {
    throw new OnnxError(`${source}: stride imports graphs with one input and one output; this one has inputs [${inputs.join(', ')}] and outputs [${outputs.join(', ')}]`);
  }
  return { nodes, initializers, input: inputs[0]!, output: outputs[0]!, opset };
}

/** A Module that runs an imported ONNX graph; its initializers are its parameters (names made safe for state_dict keys). */
export class OnnxModule extends Module {
  private readonly graph: Graph;
  private readonly constants = new Map<string, Tensor>();

  constructor(graph: Graph) {
    super();
    this.graph = graph;
    for (const [i, t] of graph.initializers.entries()) {
      const key = `init_${i}_${t.name.replace(/[^A-Za-z0-9_]/g, '_')}`;
      const value = fromFlat(Array.from(t.values), t.dims, { dtype: t.values instanceof Int32Array ? 'int32' : 'float32' });
      if (value.dtype === 'float32') {
        (this as unknown as Record<string, unknown>)[key] = new Parameter(value);
        this.constants.set(t.name, (this as unknown as Record<string, Tensor>)[key]!);
      } else {
        this.constants.set(t.name, value);
      }
    }
  }

  forward(x: Tensor): Tensor {
    const values = new Map<string, Tensor>(this.constants);
    values.set(this.graph.input, x);
    for (const node of this.graph.nodes) {
      const inputs = node.inputs.map((n) => (n === '' ? null : values.get(n) ?? null));
      const out = run(node, inputs);
      values.set(node.outputs[0]!, out);
    }
    const y = values.get(this.graph.output);
    if (!y) throw new OnnxError(`the graph's output '${this.graph.output}' is produced by no node`);
    return y;
  }
}

const ints = (node: OnnxNode, name: string, fallback: number[]): number[] => node.attrs.get(name)?.ints ?? fallback;
const int = (node: OnnxNode, name: string, fallback: number): number => node.attrs.get(name)?.i ?? fallback;
const float = (node: OnnxNode, name: string, fallback: number): number => node.attrs.get(name)?.f ?? fallback;
const values = (t: Tensor | null) => (t ? Array.from(t.dataSync()) : []);

/** Symmetric pads [t, l, b, r] → padding [t, l]; others are padded explicitly first. */
function spatial(node: OnnxNode, x: Tensor): [Tensor, [number, number]] {
  if (node.attrs.get('auto_pad')?.s && node.attrs.get('auto_pad')!.s !== 'NOTSET') throw new OnnxError(`${node.op} '${node.name}': auto_pad ${node.attrs.get('auto_pad')!.s} is not supported`);
  const [t, l, b, r] = ints(node, 'pads', [0, 0, 0, 0]) as [number, number, number, number];
  if (t === b && l === r) return [x, [t, l]];
  return [pad(x, [l, r, t, b]), [0, 0]];
}

function run(node: OnnxNode, inputs: (Tensor | null)[]): Tensor {
  const [a, b, c] = inputs;
  const x = a!;
  const where = `${node.op} '${node.name}'`;
  switch (node.op) {
    case 'Conv':
    case 'ConvTranspose': {
      const [xp, padding] = spatial(node, x);
      const opts = { stride: ints(node, 'strides', [1, 1]) as [number, number], padding, dilation: ints(node, 'dilations', [1, 1]) as [number, number], groups: int(node, 'group', 1) };
      if (node.op === 'Conv') return conv2d(xp, b!, c ?? null, opts);
      return conv_transpose2d(xp, b!, c ?? null, { ...opts, output_padding: ints(node, 'output_padding', [0, 0]) as [number, number] });
    }
    case 'BatchNormalization':
      return batch_norm(x, inputs[3]!, inputs[4]!, { weight: b, bias: c, eps: float(node, 'epsilon', 1e-5), training: false });
    case 'Relu': return relu(x);
    case 'Sigmoid': return sigmoid(x);
    case 'Tanh': return tanh(x);
    case 'LeakyRelu': return leaky_relu(x, float(node, 'alpha', 0.01));
    case 'Clip': {
      // Opset 11+: min and max are inputs; before, attributes.
      const lo = b ? values(b)[0]! : node.attrs.get('min')?.f ?? null;
      const hi = c ? values(c)[0]! : node.attrs.get('max')?.f ?? null;
      return clamp(x, lo, hi);
    }
    case 'MaxPool':
    case 'AveragePool': {
      const [xp, padding] = spatial(node, x);
      const opts = { stride: ints(node, 'strides', [1, 1]) as [number, number], padding, ceil_mode: int(node, 'ceil_mode', 0) === 1 };
      const kernel = ints(node, 'kernel_shape', []) as [number, number];
      if (node.op === 'MaxPool') return max_pool2d(xp, kernel, { ...opts, dilation: ints(node, 'dilations', [1, 1]) as [number, number] });
      return avg_pool2d(xp, kernel, { ...opts, count_include_pad: int(node, 'count_include_pad', 0) === 1 });
    }
    case 'GlobalAveragePool': return adaptive_avg_pool2d(x, 1);
    case 'Gemm': {
      const A = int(node, 'transA', 0) ? x.t() : x;
      const B = int(node, 'transB', 0) ? b!.t() : b!;
      let y = matmul(A, B).mul(float(node, 'alpha', 1));
      if (c) y = y.add(c.mul(float(node, 'beta', 1)));
      return y;
    }
    case 'MatMul': return matmul(x, b!);
    case 'Add': return x.add(b!);
    case 'Sub': return x.sub(b!);
    case 'Mul': return x.mul(b!);
    case 'Div': return x.div(b!);
    case 'Concat': return cat(inputs.filter((t): t is Tensor => t !== null), int(node, 'axis', 0));
    case 'Flatten': return reshape(x, [x.shape.slice(0, int(node, 'axis', 1)).reduce((p, d) => p * d, 1), -1]);
    case 'Reshape': {
      const shape = values(b).map((d, i) => (d === 0 ? x.shape[i]! : d));
      return reshape(x, shape);
    }
    case 'Transpose': return permute(x, ints(node, 'perm', x.shape.map((_, i) => x.ndim - 1 - i)));
    case 'Pad': {
      const mode = node.attrs.get('mode')?.s ?? 'constant';
      if (mode !== 'constant') throw new OnnxError(`${where}: pad mode ${mode} is not supported`);
      const p = b ? values(b) : ints(node, 'pads', []);
      const n = x.ndim;
      // ONNX: [x1_begin, ..., xn_begin, x1_end, ..., xn_end]; stride's pad: last dim first, (before, after) pairs.
      const pairs = Array.from({ length: n }, (_, i) => [p[n - 1 - i]!, p[2 * n - 1 - i]!]).flat();
      return pad(x, pairs, 'constant', c ? values(c)[0]! : node.attrs.get('value')?.f ?? 0);
    }
    case 'Softmax': return softmax(x, int(node, 'axis', -1));
    case 'Dropout':
    case 'Identity': return x;
    default: throw new OnnxError(`${where}: not supported`);
  }
}

/**
 * Reads an ONNX model (the bytes of a .onnx file) into an OnnxModule. Every node must be of a
 * supported type: otherwise one error lists each unsupported node with its type.
 */
export function import_onnx(bytes: Uint8Array, source = 'onnx model'): OnnxModule {
  let graph: Graph;
  try {
    graph = readGraph(bytes, source);
  } catch (e) {
    if (e instanceof ProtobufError) throw new OnnxError(e.message);
    throw e;
  }
  const unsupported = graph.nodes.filter((n) => !SUPPORTED.has(n.op) || (n.op === 'Constant' && !n.attrs.get('value')?.t));
  if (unsupported.length) {
    throw new OnnxError(`${source}: unsupported operators: ${unsupported.map((n) => `${n.op} ('${n.name || n.outputs[0]}')`).join(', ')}; stride imports ${[...SUPPORTED].join(', ')}`);
  }
  // Constant nodes become initializers.
  for (const n of graph.nodes.filter((x) => x.op === 'Constant')) graph.initializers.push({ ...n.attrs.get('value')!.t!, name: n.outputs[0]! });
  graph.nodes = graph.nodes.filter((x) => x.op !== 'Constant');
  return new OnnxModule(graph);
}
