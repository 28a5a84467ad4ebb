/**
 * Import of ONNX CNNs into a runnable stride Module: the graph's nodes run in order on stride's
 * ops (so autograd works through them), initializers become parameters. Covers Conv,
 * ConvTranspose, BatchNormalization, Relu, Clip, LeakyRelu, Sigmoid, Tanh, MaxPool, AveragePool,
 * GlobalAveragePool, Gemm, MatMul, Add, Sub, Mul, Div, Concat, Flatten, Reshape, Transpose, Pad,
 * Softmax, Dropout, Identity, Constant (convolutions and pools in 1-D and 2-D); any other node,
 * attribute or output that would change the result is refused in one error listing every such
 * node. Inference only: Dropout is the identity and BatchNormalization uses its running
 * statistics. Integers compute as int32 and doubles as float32. Nothing in the file is executed. Pure.
 */
import { Module, Parameter } from '../../nn/module.js';
import { clamp, relu, sigmoid, tanh } from '../../ops/elementwise.js';
import { leaky_relu, softmax } from '../../ops/activation.js';
import { conv2d, conv_transpose2d } from '../../ops/conv.js';
import { cat, pad } from '../../ops/join.js';
import { matmul } from '../../ops/linalg.js';
import { batch_norm } from '../../ops/normalization.js';
import { avg_pool2d, max_pool2d } from '../../ops/pool.js';
import { permute, reshape } from '../../ops/shape.js';
import { fromFlat, ones } from '../../tensor/creation.js';
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
  /** Empty for the default (ai.onnx) domain. */
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, Attribute>;
}

/** A graph input or output: its name and, for a tensor, its element type (0 when the file gives none). */
interface ValueInfo {
  name: string;
  /** A TensorProto data type; 0: not given; -1: not a tensor (a sequence, map or optional). */
  elemType: number;
}

/** The operators import_onnx runs. */
export const ONNX_OPERATORS: ReadonlySet<string> = new Set([
  'Conv', 'ConvTranspose', 'BatchNormalization', 'Relu', 'Clip', 'LeakyRelu', 'Sigmoid', 'Tanh', 'MaxPool', 'AveragePool',
  'GlobalAveragePool', 'Gemm', 'MatMul', 'Add', 'Sub', 'Mul', 'Div', 'Concat', 'Flatten', 'Reshape', 'Transpose', 'Pad',
  'Softmax', 'Dropout', 'Identity', 'Constant',
]);

/** TensorProto.DataType names, for errors. */
const DATA_TYPES: Record<number, string> = {
  1: 'float', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool', 10: 'float16',
  11: 'double', 12: 'uint32', 13: 'uint64', 14: 'complex64', 15: 'complex128', 16: 'bfloat16',
};
const typeName = (type: number) => `${DATA_TYPES[type] ?? 'unknown'} (${type})`;
/** What import_onnx computes in: float32 for float and double, int32 for int32 and int64. */
const READABLE_TYPES = new Set([1, 6, 7, 11]);

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const byField = (fields: Field[], n: number) => fields.filter((f) => f.field === n);
const firstText = (fields: Field[], n: number) => text(byField(fields, n)[0]?.bytes ?? new Uint8Array());

/** An int64 as stride's int32, refusing what does not fit rather than wrapping around. */
function int32(v: number, what: string): number {
  if (v !== (v | 0)) throw new OnnxError(`${what} holds ${v}, outside the int32 range stride computes integers in`);
  return v;
}

/** A double as float32, refusing a finite value float32 cannot hold rather than making it infinite. */
function float32(v: number, what: string): number {
  if (Number.isFinite(v) && !Number.isFinite(Math.fround(v))) throw new OnnxError(`${what} holds ${v}, beyond the float32 range stride computes in`);
  return v;
}

/** A packed repeated float (4 bytes each) or double (8) field, or one unpacked value (wire 5 or 1). */
function readPackedFloats(f: Field, size: 4 | 8, source: string): number[] {
  if (f.wire === 5) return [f.value as number];
  if (f.wire === 1) {
    const v = new DataView(new ArrayBuffer(8));
    v.setBigUint64(0, f.value as bigint, true);
    return [v.getFloat64(0, true)];
  }
  if (f.bytes.length % size) throw new OnnxError(`${source}: packed field ${f.field} at byte ${f.offset} holds ${f.bytes.length} bytes, not a multiple of ${size}`);
  const view = new DataView(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength);
  return Array.from({ length: f.bytes.length / size }, (_, i) => (size === 4 ? view.getFloat32(4 * i, true) : view.getFloat64(8 * i, true)));
}

/** A TensorProto; its declared size is checked against the bytes it holds before anything is allocated. */
function readTensor(f: Field, source: string): RawTensor {
  const fields = readFields(f.bytes, f.dataOffset, source);
  const dims = byField(fields, 1).flatMap((d) => readPackedInts(d, source));
  const type = Number(byField(fields, 2)[0]?.value ?? 0);
  const name = firstText(fields, 8);
  const count = dims.reduce((p, d) => p * d, 1);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new OnnxError(`${source}: tensor '${name}' at byte ${f.offset} has dims [${dims.join(', ')}]`);
  if (!READABLE_TYPES.has(type)) {
    throw new OnnxError(`${source}: tensor '${name}' at byte ${f.offset} has data type ${typeName(type)}; stride reads float (1), int32 (6), int64 (7) and double (11)`);
  }
  const what = `${source}: tensor '${name}' at byte ${f.offset}`;
  const float = type === 1 || type === 11;
  const raw = byField(fields, 9)[0]?.bytes;
  if (raw) {
    const bytesPer = type === 1 || type === 6 ? 4 : 8;
    if (raw.length !== count * bytesPer) throw new OnnxError(`${what} declares [${dims.join(', ')}] (${count * bytesPer} bytes) but holds ${raw.length}`);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const values = float ? new Float32Array(count) : new Int32Array(count);
    for (let i = 0; i < count; i++) {
      values[i] = type === 1 ? view.getFloat32(4 * i, true) : type === 6 ? view.getInt32(4 * i, true)
        : type === 11 ? float32(view.getFloat64(8 * i, true), what) : int32(Number(view.getBigInt64(8 * i, true)), what);
    }
    return { name, dims, values };
  }
  // Typed fields: float_data (4), int32_data (5), int64_data (7), double_data (10).
  const numbers = type === 1 ? byField(fields, 4).flatMap((d) => readPackedFloats(d, 4, source))
    : type === 11 ? byField(fields, 10).flatMap((d) => readPackedFloats(d, 8, source).map((v) => float32(v, what)))
    : byField(fields, type === 6 ? 5 : 7).flatMap((d) => readPackedInts(d, source));
  if (numbers.length !== count) throw new OnnxError(`${what} declares ${count} values but holds ${numbers.length}`);
  return { name, dims, values: float ? Float32Array.from(numbers) : Int32Array.from(numbers, (v) => int32(v, what)) };
}

function readAttribute(f: Field, source: string): Attribute {
  const fields = readFields(f.bytes, f.dataOffset, source);
  const a: Attribute = { name: firstText(fields, 1), floats: [], ints: [] };
  for (const x of fields) {
    if (x.field === 2) a.f = x.value as number;
    else if (x.field === 3) a.i = Number(BigInt.asIntN(64, x.value as bigint));
    else if (x.field === 4) a.s = text(x.bytes);
    else if (x.field === 5) a.t = readTensor(x, source);
    else if (x.field === 7) a.floats.push(...readPackedFloats(x, 4, source));
    else if (x.field === 8) a.ints.push(...readPackedInts(x, source));
  }
  return a;
}

function readValueInfo(f: Field, source: string): ValueInfo {
  const fields = readFields(f.bytes, f.dataOffset, source);
  const name = firstText(fields, 1);
  const type = byField(fields, 2)[0];
  if (!type) return { name, elemType: 0 };
  // TypeProto.tensor_type (1) holds elem_type (1); sequence, map and optional types are other fields.
  const tensorType = byField(readFields(type.bytes, type.dataOffset, source), 1)[0];
  if (!tensorType) return { name, elemType: -1 };
  return { name, elemType: Number(byField(readFields(tensorType.bytes, tensorType.dataOffset, source), 1)[0]?.value ?? 0) };
}

interface Graph {
  nodes: OnnxNode[];
  initializers: RawTensor[];
  /** The graph inputs that no initializer gives, in order: forward's arguments. */
  inputs: ValueInfo[];
  outputs: string[];
  /** The version of the default (ai.onnx) operator set. */
  opset: number;
}

const isDefaultDomain = (domain: string) => domain === '' || domain === 'ai.onnx';

function readNode(f: Field, source: string): OnnxNode {
  const n = readFields(f.bytes, f.dataOffset, source);
  return {
    name: firstText(n, 3),
    op: firstText(n, 4),
    domain: firstText(n, 7),
    inputs: byField(n, 1).map((x) => text(x.bytes)),
    outputs: byField(n, 2).map((x) => text(x.bytes)),
    attrs: new Map(byField(n, 5).map((x) => readAttribute(x, source)).map((a) => [a.name, a])),
  };
}

function readGraph(bytes: Uint8Array, source: string): Graph {
  const model = readFields(bytes, 0, source);
  const g = byField(model, 7)[0];
  if (!g) throw new OnnxError(`${source}: no graph (field 7 of ModelProto); is this an ONNX model?`);
  const opsets = byField(model, 8).map((o) => readFields(o.bytes, o.dataOffset, source));
  const opset = Math.max(0, ...opsets.filter((o) => isDefaultDomain(firstText(o, 1))).map((o) => Number(byField(o, 2)[0]?.value ?? 0)));
  const fields = readFields(g.bytes, g.dataOffset, source);
  const initializers = byField(fields, 5).map((f) => readTensor(f, source));
  const initNames = new Set(initializers.map((t) => t.name));
  return {
    nodes: byField(fields, 1).map((f) => readNode(f, source)),
    initializers,
    inputs: byField(fields, 11).map((f) => readValueInfo(f, source)).filter((v) => !initNames.has(v.name)),
    outputs: byField(fields, 12).map((f) => readValueInfo(f, source).name),
    opset,
  };
}

/** Runs a reader, reporting protobuf errors as OnnxErrors. */
function decoding<T>(read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof ProtobufError) throw new OnnxError(e.message);
    throw e;
  }
}

/** The op_type of each node of an ONNX model's graph, in order ('domain.op' outside the default domain). */
export function onnx_operators(bytes: Uint8Array, source = 'onnx model'): string[] {
  return decoding(() => {
    const g = byField(readFields(bytes, 0, source), 7)[0];
    if (!g) throw new OnnxError(`${source}: no graph (field 7 of ModelProto); is this an ONNX model?`);
    // Only the op type (4) and domain (7) of each NodeProto: attributes are not decoded.
    return byField(readFields(g.bytes, g.dataOffset, source), 1).map((f) => {
      const n = readFields(f.bytes, f.dataOffset, source);
      const domain = firstText(n, 7);
      return isDefaultDomain(domain) ? firstText(n, 4) : `${domain}.${firstText(n, 4)}`;
    });
  });
}

const tensorOf = (t: RawTensor) => fromFlat(t.values, t.dims, { dtype: t.values instanceof Int32Array ? 'int32' : 'float32' });

/**
 * A serialized TensorProto (as ONNX's test data stores inputs and outputs) as a stride tensor:
 * float32 for float and double data, int32 for int32 and int64.
 */
export function read_onnx_tensor(bytes: Uint8Array, source = 'onnx tensor'): Tensor {
  return tensorOf(decoding(() => readTensor({ field: 0, wire: 2, value: 0, bytes, offset: 0, dataOffset: 0 }, source)));
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
      const value = tensorOf(t);
      if (value.dtype === 'float32') {
        (this as unknown as Record<string, unknown>)[key] = new Parameter(value);
        this.constants.set(t.name, (this as unknown as Record<string, Tensor>)[key]!);
      } else {
        this.constants.set(t.name, value);
      }
    }
  }

  /** The graph's inputs (those no initializer gives), in the graph's order. */
  get input_names(): string[] {
    return this.graph.inputs.map((v) => v.name);
  }

  forward(...inputs: Tensor[]): Tensor {
    const names = this.input_names;
    if (inputs.length !== names.length) {
      throw new OnnxError(`the graph takes ${names.length} input${names.length === 1 ? '' : 's'} (${names.join(', ')}), got ${inputs.length}`);
    }
    const values = new Map<string, Tensor>(this.constants);
    names.forEach((n, i) => values.set(n, inputs[i]!));
    for (const node of this.graph.nodes) {
      const args = node.inputs.map((n) => {
        if (n === '') return null;
        const v = values.get(n);
        if (!v) throw new OnnxError(`${where(node)}: its input '${n}' is no graph input or initializer and is produced by no earlier node`);
        return v;
      });
      try {
        values.set(node.outputs[0]!, run(node, args, this.graph.opset));
      } catch (e) {
        // Errors from stride's ops name the op's arguments; say which node they come from.
        if (e instanceof StrideError && !(e instanceof OnnxError)) throw new OnnxError(`${where(node)}: ${e.message}`, { cause: e });
        throw e;
      }
    }
    const y = values.get(this.graph.outputs[0]!);
    if (!y) throw new OnnxError(`the graph's output '${this.graph.outputs[0]}' is produced by no node`);
    return y;
  }
}

const where = (node: OnnxNode) => `${node.op} '${node.name || node.outputs[0]}'`;
const ints = (node: OnnxNode, name: string, fallback: number[]): number[] => node.attrs.get(name)?.ints ?? fallback;
const int = (node: OnnxNode, name: string, fallback: number): number => node.attrs.get(name)?.i ?? fallback;
const float = (node: OnnxNode, name: string, fallback: number): number => node.attrs.get(name)?.f ?? fallback;
const values = (t: Tensor | null) => (t ? Array.from(t.dataSync()) : []);
const product = (dims: readonly number[]) => dims.reduce((p, d) => p * d, 1);
const AUTO_PADS = ['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID'];
const PAD_MODES: Record<string, 'constant' | 'reflect' | 'replicate'> = { constant: 'constant', reflect: 'reflect', edge: 'replicate' };

/** A Constant node's value (from any of its value attributes but sparse and string ones), or null. */
function constantValue(node: OnnxNode): RawTensor | null {
  const a = (name: string) => node.attrs.get(name);
  const name = node.outputs[0]!;
  const what = `${where(node)}: value`;
  if (a('value')?.t) return { ...a('value')!.t!, name };
  if (a('value_float')) return { name, dims: [], values: Float32Array.of(a('value_float')!.f ?? 0) };
  if (a('value_floats')) return { name, dims: [a('value_floats')!.floats.length], values: Float32Array.from(a('value_floats')!.floats) };
  if (a('value_int')) return { name, dims: [], values: Int32Array.of(int32(a('value_int')!.i ?? 0, what)) };
  if (a('value_ints')) return { name, dims: [a('value_ints')!.ints.length], values: Int32Array.from(a('value_ints')!.ints, (v) => int32(v, what)) };
  return null;
}

/**
 * Why a node of a supported type cannot be imported as it is (an attribute or an output stride
 * does not implement, which would otherwise give a different answer), or null.
 */
function refusal(node: OnnxNode, used: ReadonlySet<string>, opset: number): string | null {
  const extra = node.outputs.slice(1).filter((o) => o !== '' && used.has(o));
  if (extra.length) return `only its first output is computed, but ${extra.map((o) => `'${o}'`).join(', ')} is used`;
  const autoPad = node.attrs.get('auto_pad')?.s;
  if (autoPad !== undefined && !AUTO_PADS.includes(autoPad)) return `auto_pad ${autoPad}`;
  const kernel = node.attrs.get('kernel_shape')?.ints;
  if (kernel && kernel.length > 2) return `a ${kernel.length}-D kernel (stride imports 1-D and 2-D ${node.op})`;
  switch (node.op) {
    case 'BatchNormalization':
      if (int(node, 'training_mode', 0) === 1 || (opset < 7 && int(node, 'is_test', 0) === 0)) return 'training mode (batch statistics); export the model in eval mode';
      if (int(node, 'spatial', 1) === 0) return 'spatial 0 (statistics per activation, not per channel)';
      return null;
    case 'AveragePool':
      return ints(node, 'dilations', []).some((d) => d !== 1) ? 'dilations' : null;
    case 'Pad': {
      const mode = node.attrs.get('mode')?.s ?? 'constant';
      if (!(mode in PAD_MODES)) return `mode ${mode} (stride pads constant, reflect and edge)`;
      return node.inputs[3] ? 'the axes input' : null;
    }
    default:
      return null;
  }
}

/**
 * Reads an ONNX model (the bytes of a .onnx file) into an OnnxModule. Every node must be of a
 * supported type: otherwise one error lists each unsupported node with its type; likewise for
 * supported nodes with attributes or outputs stride does not implement. The module's forward
 * takes the graph's inputs (those no initializer gives) in order.
 */
export function import_onnx(bytes: Uint8Array, source = 'onnx model'): OnnxModule {
  const graph = decoding(() => readGraph(bytes, source));
  const unsupported = graph.nodes.filter((n) => !isDefaultDomain(n.domain) || !ONNX_OPERATORS.has(n.op) || (n.op === 'Constant' && !constantValue(n)));
  if (unsupported.length) {
    const named = (n: OnnxNode) => `${isDefaultDomain(n.domain) ? '' : `${n.domain}.`}${n.op} ('${n.name || n.outputs[0]}')`;
    throw new OnnxError(`${source}: unsupported operators: ${unsupported.map(named).join(', ')}; stride imports ${[...ONNX_OPERATORS].join(', ')}`);
  }
  const used = new Set([...graph.nodes.flatMap((n) => n.inputs), ...graph.outputs]);
  const refused = graph.nodes.map((n) => [n, refusal(n, used, graph.opset)] as const).filter(([, why]) => why !== null);
  if (refused.length) throw new OnnxError(`${source}: unsupported uses: ${refused.map(([n, why]) => `${where(n)}: ${why}`).join('; ')}`);
  if (graph.outputs.length !== 1) throw new OnnxError(`${source}: stride imports graphs with one output; this one has [${graph.outputs.join(', ')}]`);
  const badInputs = graph.inputs.filter((v) => v.elemType !== 0 && !READABLE_TYPES.has(v.elemType));
  if (badInputs.length) {
    const kind = (v: ValueInfo) => (v.elemType === -1 ? 'not a tensor' : typeName(v.elemType));
    throw new OnnxError(`${source}: unsupported input types: ${badInputs.map((v) => `'${v.name}' is ${kind(v)}`).join(', ')}; stride computes in float32 and int32`);
  }
  // Constant nodes become initializers.
  for (const n of graph.nodes.filter((x) => x.op === 'Constant')) graph.initializers.push(constantValue(n)!);
  graph.nodes = graph.nodes.filter((x) => x.op !== 'Constant');
  return new OnnxModule(graph);
}

// ---------------------------------------------------------------- running nodes

/** A windowed node (convolution or pool) in 2-D form: a 1-D node's sizes gain a leading unit dim. */
interface Window {
  /** The input in [N, C, H, W]. */
  x: Tensor;
  /** Brings a 2-D result back to the input's rank. */
  back: (y: Tensor) => Tensor;
  /** 1 or 2: the node's own spatial rank. */
  nd: number;
  strides: [number, number];
  dilations: [number, number];
  /** Top, left, bottom, right. */
  pads: [number, number, number, number];
}

function windowOf(node: OnnxNode, x: Tensor): Window {
  if (x.ndim !== 3 && x.ndim !== 4) {
    throw new OnnxError(`${where(node)}: an input of shape [${x.shape.join(', ')}] has ${x.ndim - 2} spatial dims; stride imports 1-D and 2-D ${node.op}`);
  }
  const nd = x.ndim - 2;
  const pair = (name: string): [number, number] => {
    const v = ints(node, name, [1, 1].slice(0, nd));
    if (v.length !== nd) throw new OnnxError(`${where(node)}: ${name} [${v.join(', ')}] does not give one value per spatial dim of [${x.shape.join(', ')}]`);
    return nd === 1 ? [1, v[0]!] : [v[0]!, v[1]!];
  };
  const p = ints(node, 'pads', [0, 0, 0, 0].slice(0, 2 * nd));
  if (p.length !== 2 * nd) throw new OnnxError(`${where(node)}: pads [${p.join(', ')}] do not give a start and an end per spatial dim of [${x.shape.join(', ')}]`);
  return {
    x: nd === 1 ? x.unsqueeze(2) : x,
    back: (y) => (nd === 1 ? y.squeeze(2) : y),
    nd,
    strides: pair('strides'),
    dilations: pair('dilations'),
    pads: nd === 1 ? [0, p[0]!, 0, p[1]!] : [p[0]!, p[1]!, p[2]!, p[3]!],
  };
}

/** A list of one value per spatial dim (kernel_shape, a weight's sizes, output_shape) in 2-D form. */
const as2d = (w: Window, v: readonly number[]): [number, number] => (w.nd === 1 ? [1, v[0]!] : [v[0]!, v[1]!]);

/** The pads of a convolution or pool: explicit, or (auto_pad SAME_*) as many as keep ceil(input / stride) outputs. */
function padsOf(node: OnnxNode, w: Window, kernel: [number, number]): [number, number, number, number] {
  const auto = node.attrs.get('auto_pad')?.s ?? 'NOTSET';
  if (auto === 'VALID') return [0, 0, 0, 0];
  if (auto === 'NOTSET') return w.pads;
  return splitPads(auto, [0, 1].map((d) => {
    const size = w.x.shape[2 + d]!;
    const s = w.strides[d]!;
    return Math.max(0, (Math.ceil(size / s) - 1) * s + (kernel[d]! - 1) * w.dilations[d]! + 1 - size);
  }));
}

/**
 * Total pads per dim (height, width) split into [top, left, bottom, right]: SAME_UPPER puts the
 * odd one at the end, otherwise at the start. Floor division, so that a negative total (an
 * output_shape beyond a transposed convolution's full output) extends the end.
 */
function splitPads(auto: string, totals: readonly number[]): [number, number, number, number] {
  const [h, w] = totals.map((total) => {
    const half = Math.floor(total / 2);
    return auto === 'SAME_UPPER' ? [half, total - half] : [total - half, half];
  }) as [[number, number], [number, number]];
  return [h[0], w[0], h[1], w[1]];
}

/** Pads that stride's ops take as one padding per dim: the same at both ends, at most half the kernel. */
const fitsPoolPadding = ([t, l, b, r]: readonly number[], kernel: readonly number[]) => t === b && l === r && 2 * t! <= kernel[0]! && 2 * l! <= kernel[1]!;

function convolution(node: OnnxNode, x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const w = windowOf(node, x);
  const kernel = as2d(w, weight.shape.slice(2));
  const [t, l, b, r] = padsOf(node, w, kernel);
  const opts = { stride: w.strides, dilation: w.dilations, groups: int(node, 'group', 1) };
  const weight2d = w.nd === 1 ? weight.unsqueeze(2) : weight;
  if (t === b && l === r) return w.back(conv2d(w.x, weight2d, bias, { ...opts, padding: [t, l] }));
  return w.back(conv2d(pad(w.x, [l, r, t, b]), weight2d, bias, opts));
}

/**
 * ONNX's pads cut the full transposed convolution (and output_padding extends it at the end,
 * where only the bias reaches); output_shape or auto_pad SAME_* set the pads instead.
 */
function transposedConvolution(node: OnnxNode, x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const w = windowOf(node, x);
  const weight2d = w.nd === 1 ? weight.unsqueeze(2) : weight;
  const full = conv_transpose2d(w.x, weight2d, null, { stride: w.strides, dilation: w.dilations, groups: int(node, 'group', 1) });
  const outPad = ints(node, 'output_padding', [0, 0].slice(0, w.nd));
  const extra: [number, number] = w.nd === 1 ? [0, outPad[0] ?? 0] : [outPad[0] ?? 0, outPad[1] ?? 0];
  const auto = node.attrs.get('auto_pad')?.s ?? 'NOTSET';
  const shape = ints(node, 'output_shape', []).slice(-w.nd);
  const target = shape.length ? as2d(w, shape) : auto.startsWith('SAME') ? [0, 1].map((d) => w.x.shape[2 + d]! * w.strides[d]!) : null;
  const [t, l, b, r] = target ? splitPads(auto, [0, 1].map((d) => full.shape[2 + d]! + extra[d]! - target[d]!)) : auto === 'VALID' ? [0, 0, 0, 0] : w.pads;
  const y = pad(full, [-l, extra[1] - r, -t, extra[0] - b]);
  return w.back(bias ? y.add(bias.reshape([1, -1, 1, 1])) : y);
}

function pool(node: OnnxNode, x: Tensor): Tensor {
  const w = windowOf(node, x);
  const kernel = as2d(w, ints(node, 'kernel_shape', []));
  const pads = padsOf(node, w, kernel);
  const [t, l, b, r] = pads;
  const opts = { stride: w.strides, ceil_mode: int(node, 'ceil_mode', 0) === 1 };
  if (node.op === 'MaxPool') {
    const dilated = { ...opts, dilation: w.dilations };
    if (fitsPoolPadding(pads, kernel)) return w.back(max_pool2d(w.x, kernel, { ...dilated, padding: [t, l] }));
    return w.back(max_pool2d(pad(w.x, [l, r, t, b], 'constant', -Infinity), kernel, dilated));
  }
  const countPads = int(node, 'count_include_pad', 0) === 1;
  if (fitsPoolPadding(pads, kernel)) return w.back(avg_pool2d(w.x, kernel, { ...opts, padding: [t, l], count_include_pad: countPads }));
  const averages = avg_pool2d(pad(w.x, [l, r, t, b]), kernel, opts);
  if (countPads) return w.back(averages);
  // Averages over the input alone: divide by the share of each window that is not padding.
  const share = avg_pool2d(pad(ones([1, 1, w.x.shape[2]!, w.x.shape[3]!]), [l, r, t, b]), kernel, opts);
  return w.back(averages.div(share));
}

/** Before opset 7, Add/Sub/Mul/Div broadcast B only when told (broadcast 1), aligned at `axis` when given. */
function legacyBroadcast(node: OnnxNode, x: Tensor, y: Tensor, opset: number): Tensor {
  if (opset >= 7 || int(node, 'broadcast', 0) !== 1 || !node.attrs.has('axis')) return y;
  const axis = int(node, 'axis', 0) < 0 ? int(node, 'axis', 0) + x.ndim : int(node, 'axis', 0);
  return y.reshape([...y.shape, ...Array<number>(Math.max(0, x.ndim - axis - y.ndim)).fill(1)]);
}

function run(node: OnnxNode, inputs: (Tensor | null)[], opset: number): Tensor {
  const [a, b, c] = inputs;
  const x = a!;
  switch (node.op) {
    case 'Conv': return convolution(node, x, b!, c ?? null);
    case 'ConvTranspose': return transposedConvolution(node, x, b!, c ?? null);
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
      return lo === null && hi === null ? x : clamp(x, lo, hi);
    }
    case 'MaxPool':
    case 'AveragePool': return pool(node, x);
    case 'GlobalAveragePool': return x.mean(x.shape.map((_, d) => d).slice(2), true);
    case 'Gemm': {
      const A = int(node, 'transA', 0) ? x.t() : x;
      const B = int(node, 'transB', 0) ? b!.t() : b!;
      let y = matmul(A, B).mul(float(node, 'alpha', 1));
      if (c) y = y.add(c.mul(float(node, 'beta', 1)));
      return y;
    }
    case 'MatMul': return matmul(x, b!);
    case 'Add': return x.add(legacyBroadcast(node, x, b!, opset));
    case 'Sub': return x.sub(legacyBroadcast(node, x, b!, opset));
    case 'Mul': return x.mul(legacyBroadcast(node, x, b!, opset));
    case 'Div': return x.div(legacyBroadcast(node, x, b!, opset));
    case 'Concat': return cat(inputs.filter((t): t is Tensor => t !== null), int(node, 'axis', 0));
    case 'Flatten': return reshape(x, [product(x.shape.slice(0, int(node, 'axis', 1))), -1]);
    case 'Reshape': {
      // Opset 5+: the shape is an input; before, an attribute. A 0 copies the input's size unless allowzero.
      const keepZero = int(node, 'allowzero', 0) === 1;
      const shape = (b ? values(b) : ints(node, 'shape', [])).map((d, i) => (d === 0 && !keepZero ? x.shape[i]! : d));
      return reshape(x, shape);
    }
    case 'Transpose': return permute(x, ints(node, 'perm', x.shape.map((_, i) => x.ndim - 1 - i)));
    case 'Pad': {
      // Opset 11+: pads and the constant are inputs; before, attributes.
      const p = b ? values(b) : ints(node, 'pads', []);
      const n = x.ndim;
      // ONNX: [x1_begin, ..., xn_begin, x1_end, ..., xn_end]; stride's pad: last dim first, (before, after) pairs.
      const pairs = Array.from({ length: n }, (_, i) => [p[n - 1 - i]!, p[2 * n - 1 - i]!]).flat();
      return pad(x, pairs, PAD_MODES[node.attrs.get('mode')?.s ?? 'constant'], c ? values(c)[0]! : float(node, 'value', 0));
    }
    case 'Softmax': {
      if (opset >= 13) return softmax(x, int(node, 'axis', -1));
      // Before opset 13: over all dims from axis (default 1) on, as one.
      const axis = int(node, 'axis', 1) < 0 ? int(node, 'axis', 1) + x.ndim : int(node, 'axis', 1);
      return softmax(reshape(x, [product(x.shape.slice(0, axis)), -1]), 1).reshape(x.shape);
    }
    case 'Dropout':
    case 'Identity': return x;
    default: throw new OnnxError(`${where(node)}: not supported`);
  }
}
