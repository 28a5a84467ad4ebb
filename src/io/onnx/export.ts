/**
 * Export to ONNX (opset 13). The model runs once on an example input while every op applied is
 * traced; ops whose inputs all come from parameters and constants are folded into initializers
 * (so a BatchNorm in eval mode becomes one Mul and one Add with precomputed scale and shift), the
 * others become graph nodes. The batch dimension stays symbolic. Call model.eval() first: what
 * is exported is what ran. Pure: bytes out, no file access.
 */
import { no_grad } from '../../autograd/grad_mode.js';
import type { Pool2dParams } from '../../backend/backend.js';
import type { Module } from '../../nn/module.js';
import { traceOps } from '../../ops/define.js';
import { StrideError } from '../../tensor/errors.js';
import type { Tensor } from '../../tensor/tensor.js';
import { Writer } from './protobuf.js';

/** ONNX TensorProto.DataType codes. */
const FLOAT = 1;
const INT32 = 6;
const INT64 = 7;

interface Traced {
  op: string;
  inputs: readonly Tensor[];
  attrs: Record<string, unknown>;
  out: Tensor;
}

interface OnnxNode {
  op_type: string;
  inputs: string[];
  attributes: Writer[];
}

function attrInts(name: string, values: readonly number[]): Writer {
  return new Writer().string(1, name).ints(8, values).int(20, 7);
}
function attrInt(name: string, value: number): Writer {
  return new Writer().string(1, name).int(3, value).int(20, 2);
}

function tensorProto(name: string, dims: readonly number[], dataType: number, raw: Uint8Array): Writer {
  const t = new Writer().ints(1, dims).int(2, dataType).string(8, name);
  return t.bytes(9, raw);
}

function valueInfo(name: string, dims: readonly (number | string)[]): Writer {
  const shape = new Writer();
  for (const d of dims) shape.message(1, typeof d === 'number' ? new Writer().int(1, d) : new Writer().string(2, d));
  const tensorType = new Writer().int(1, FLOAT).message(2, shape);
  return new Writer().string(1, name).message(2, new Writer().message(1, tensorType));
}

const int64Raw = (values: readonly number[]): Uint8Array => {
  const b = new Uint8Array(8 * values.length);
  const v = new DataView(b.buffer);
  values.forEach((x, i) => v.setBigInt64(8 * i, BigInt(x), true));
  return b;
};

export interface ExportOptions {
  input_name?: string;
  output_name?: string;
  /** Name of the symbolic batch dimension (default 'N'); null keeps the example's batch size. */
  batch_dim?: string | null;
  /**
   * The opset the file declares, 13 (default) to 17: the operators written are opset 13's and
   * none of them changes meaning through 17 (later opsets need IR version 9).
   */
  opset?: number;
  /** Strings stored in the model's metadata_props. */
  metadata?: Record<string, string>;
}

export const ONNX_OPSETS = { min: 13, max: 17 } as const;

/** The ONNX model (bytes of a ModelProto) of `model` as it runs on `example`. */
export function export_onnx(model: Module, example: Tensor, opts: ExportOptions = {}): Uint8Array {
  const { input_name = 'input', output_name = 'output', batch_dim = 'N', opset = ONNX_OPSETS.min, metadata = {} } = opts;
  if (!Number.isInteger(opset) || opset < ONNX_OPSETS.min || opset > ONNX_OPSETS.max) {
    throw new StrideError(`export_onnx: opset must be an integer from ${ONNX_OPSETS.min} to ${ONNX_OPSETS.max}, got ${opset}`);
  }
  const trace: Traced[] = [];
  const output = no_grad(() =>
    traceOps((op, inputs, attrs, out) => void trace.push({ op, inputs, attrs: (attrs ?? {}) as Record<string, unknown>, out }), () =>
      (model.call as (x: Tensor) => Tensor)(example)),
  );

  const names = new Map<Tensor, string>([[example, input_name]]);
  const initializers: Writer[] = [];
  const nodes: OnnxNode[] = [];
  const unsupported = new Map<string, number>();
  const dynamic = (t: Tensor) => names.has(t) && !initializerNames.has(names.get(t)!);
  const initializerNames = new Set<string>();

  /** The name of a constant operand, written as an initializer on first use (in `dtype` when given). */
  const constant = (t: Tensor, dtype: 'float32' | 'int64' | null = null): string => {
    const known = names.get(t);
    if (known) return known;
    const name = `const_${initializerNames.size}`;
    const values = Array.from(t.contiguous().dataSync());
    const asFloat = dtype === 'float32' || (dtype === null && (t.dtype === 'float32' || t.dtype === 'float64'));
    const raw = asFloat ? new Uint8Array(Float32Array.from(values).buffer) : dtype === 'int64' ? int64Raw(values) : new Uint8Array(Int32Array.from(values).buffer);
    initializers.push(tensorProto(name, t.shape, asFloat ? FLOAT : dtype === 'int64' ? INT64 : INT32, raw));
    initializerNames.add(name);
    names.set(t, name);
    return name;
  };
  const scalarConstant = (value: number): string => {
    const name = `const_${initializerNames.size}`;
    initializers.push(tensorProto(name, [], FLOAT, new Uint8Array(Float32Array.of(value).buffer)));
    initializerNames.add(name);
    return name;
  };
  const shapeConstant = (values: readonly number[]): string => {
    const name = `const_${initializerNames.size}`;
    initializers.push(tensorProto(name, [values.length], INT64, int64Raw(values)));
    initializerNames.add(name);
    return name;
  };
  // Where the batch dim is in each dynamic tensor, followed through the ops, so that Reshape and
  // Expand targets say -1 there instead of the example's batch size.
  const batchAxis = new Map<Tensor, number>(batch_dim === null ? [] : [[example, 0]]);
  const follow = (to: Tensor, axis: number | undefined) => {
    if (axis !== undefined && axis >= 0 && to.shape[axis] === example.shape[0]) batchAxis.set(to, axis);
  };
  /** The axis of `to` that continues `from`'s batch axis across a reshape: the same count of elements before it. */
  const reshapedAxis = (from: Tensor, to: readonly number[]): number | undefined => {
    const b = batchAxis.get(from);
    if (b === undefined) return undefined;
    const before = from.shape.slice(0, b).reduce((p, d) => p * d, 1);
    let prefix = 1;
    for (let i = 0; i < to.length; i++) {
      if (prefix === before && to[i] === from.shape[b]) return i;
      prefix *= to[i]!;
    }
    return undefined;
  };
  const withBatch = (shape: readonly number[], axis: number | undefined): number[] => shape.map((d, i) => (i === axis ? -1 : d));

  const operand = (t: Tensor, like: Tensor) => (dynamic(t) ? names.get(t)! : constant(t, like.dtype === 'float32' ? 'float32' : null));
  const emit = (op_type: string, inputs: string[], out: Tensor, attributes: Writer[] = []) => {
    nodes.push({ op_type, inputs, attributes });
    names.set(out, `t${nodes.length}`);
  };
  /** The batch axis of an elementwise or pooling result: where its dynamic input had it, counted from the end. */
  const sameAxis = (inputs: readonly Tensor[], out: Tensor) => {
    for (const t of inputs) {
      const b = batchAxis.get(t);
      if (b !== undefined) return follow(out, out.ndim - (t.ndim - b));
    }
  };

  const UNARY: Record<string, string> = { relu: 'Relu', sigmoid: 'Sigmoid', tanh: 'Tanh', neg: 'Neg', exp: 'Exp', log: 'Log', sqrt: 'Sqrt', abs: 'Abs', clone: 'Identity' };
  const BINARY: Record<string, string> = { add: 'Add', sub: 'Sub', mul: 'Mul', div: 'Div', maximum: 'Max', minimum: 'Min' };

  for (const { op, inputs, attrs, out } of trace) {
    if (!inputs.some(dynamic)) continue; // folded: its value is read when a node uses it
    const x = inputs[0]!;
    const nx = names.get(x) ?? constant(x);
    if (UNARY[op]) emit(UNARY[op]!, [nx], out);
    else if (BINARY[op]) emit(BINARY[op]!, [operand(inputs[0]!, out), operand(inputs[1]!, out)], out);
    else if (op === 'conv2d') {
      const p = attrs as unknown as { stride: number[]; padding: number[]; dilation: number[]; groups: number };
      const [, w, bias] = inputs as [Tensor, Tensor, Tensor?];
      emit('Conv', [nx, operand(w, out), ...(bias ? [operand(bias, out)] : [])], out, [
        attrInts('kernel_shape', w.shape.slice(2)), attrInts('strides', p.stride), attrInts('dilations', p.dilation),
        attrInts('pads', [...p.padding, ...p.padding]), attrInt('group', p.groups),
      ]);
    } else if (op === 'bmm' || op === 'mm') emit('MatMul', [operand(inputs[0]!, out), operand(inputs[1]!, out)], out);
    else if (op === 'linear') {
      const [, w, bias] = inputs as [Tensor, Tensor, Tensor?];
      if (x.ndim === 2) emit('Gemm', [nx, operand(w, out), ...(bias ? [operand(bias, out)] : [])], out, [attrInt('transB', 1)]);
      else {
        // Gemm takes matrices only: x Wᵀ as MatMul with Wᵀ stored, then the bias added.
        const product = [nx, operand(w.t(), out)];
        if (bias) {
          nodes.push({ op_type: 'MatMul', inputs: product, attributes: [] });
          emit('Add', [`t${nodes.length}`, operand(bias, out)], out);
        } else emit('MatMul', product, out);
      }
    }
    else if (op === 'addcmul') {
      // input + t1·t2 (batch norm's x·scale + shift): Mul, then Add.
      const [input, a, b] = inputs as [Tensor, Tensor, Tensor];
      nodes.push({ op_type: 'Mul', inputs: [operand(a, out), operand(b, out)], attributes: [] });
      emit('Add', [`t${nodes.length}`, operand(input, out)], out);
    }
    else if (op === 'max_pool2d' || op === 'avg_pool2d') {
      const { p, out: size, opts: avg } = attrs as unknown as { p: Pool2dParams; out: [number, number]; opts?: { countIncludePad: boolean; divisorOverride: number | null } };
      if (p.kind === 'adaptive' && !(op === 'avg_pool2d' && size[0] === 1 && size[1] === 1)) {
        unsupported.set(`adaptive ${op} to ${size.join('x')}`, 1);
        continue;
      }
      if (avg?.divisorOverride != null) {
        unsupported.set('avg_pool2d with divisor_override', 1);
        continue;
      }
      if (p.kind === 'adaptive') {
        emit('GlobalAveragePool', [nx], out);
        sameAxis(inputs, out);
        continue;
      }
      // ceil_mode when the output is larger than floor's.
      const floorSize = [0, 1].map((d) => Math.floor((x.shape[2 + d]! + 2 * p.padding[d]! - p.dilation[d]! * (p.kernel[d]! - 1) - 1) / p.stride[d]!) + 1);
      const ceil = size[0] !== floorSize[0] || size[1] !== floorSize[1] ? 1 : 0;
      const common = [attrInts('kernel_shape', p.kernel), attrInts('strides', p.stride), attrInts('pads', [...p.padding, ...p.padding]), attrInt('ceil_mode', ceil)];
      if (op === 'max_pool2d') emit('MaxPool', [nx], out, [...common, attrInts('dilations', p.dilation)]);
      else emit('AveragePool', [nx], out, [...common, attrInt('count_include_pad', avg!.countIncludePad ? 1 : 0)]);
    } else if (op === 'view' || op === 'squeeze_unsqueeze') {
      const axis = reshapedAxis(x, out.shape);
      emit('Reshape', [nx, shapeConstant(withBatch(out.shape, axis))], out);
      follow(out, axis);
      continue;
    } else if (op === 'permute') {
      const perm = attrs['dims'] as number[];
      emit('Transpose', [nx], out, [attrInts('perm', perm)]);
      const b = batchAxis.get(x);
      if (b !== undefined) follow(out, perm.indexOf(b));
      continue;
    } else if (op === 'expand') {
      // Expand's -1 does not exist: the batch dim is 1 there, which broadcasting keeps.
      if (x.shape.join() === out.shape.join()) emit('Identity', [nx], out);
      else emit('Expand', [nx, shapeConstant(out.shape.map((d, i) => (i === out.ndim - (x.ndim - (batchAxis.get(x) ?? -x.ndim - 1)) ? 1 : d)))], out);
    } else if (op === 'cat') emit('Concat', inputs.map((t) => operand(t, out)), out, [attrInt('axis', attrs['dim'] as number)]);
    else if (op === 'softmax' || op === 'log_softmax') {
      if ((attrs['temperature'] ?? 1) !== 1) unsupported.set(`${op} with a temperature`, 1);
      else emit(op === 'softmax' ? 'Softmax' : 'LogSoftmax', [nx], out, [attrInt('axis', attrs['dim'] as number)]);
    } else if (op === 'hardtanh') {
      emit('Clip', [nx, scalarConstant(attrs['min_val'] as number), scalarConstant(attrs['max_val'] as number)], out);
    } else if (op === 'constant_pad') {
      const { before, after, value } = attrs as unknown as { before: number[]; after: number[]; value: number };
      emit('Pad', [nx, shapeConstant([...before, ...after]), scalarConstant(value)], out, [new Writer().string(1, 'mode').string(4, 'constant').int(20, 3)]);
    } else {
      unsupported.set(op, (unsupported.get(op) ?? 0) + 1);
      continue;
    }
    sameAxis(inputs, out);
  }
  if (unsupported.size) {
    throw new StrideError(`export_onnx: no ONNX mapping for ${[...unsupported].map(([op, n]) => `${op} (${n}x)`).join(', ')}`);
  }
  const last = names.get(output);
  if (!last || !dynamic(output)) throw new StrideError('export_onnx: the output does not depend on the input');

  const graph = new Writer();
  nodes.forEach((n, i) => {
    const node = new Writer();
    for (const input of n.inputs) node.string(1, input);
    node.string(2, i === nodes.length - 1 && `t${i + 1}` === last ? output_name : `t${i + 1}`).string(3, `${n.op_type}_${i}`).string(4, n.op_type);
    for (const a of n.attributes) node.message(5, a);
    graph.message(1, node);
  });
  if (last !== `t${nodes.length}`) throw new StrideError('export_onnx: the output is not the last op traced');
  graph.string(2, model.constructor.name);
  for (const init of initializers) graph.message(5, init);
  const batch = (shape: readonly number[]) => (batch_dim === null ? [...shape] : [batch_dim, ...shape.slice(1)]);
  graph.message(11, valueInfo(input_name, batch(example.shape)));
  graph.message(12, valueInfo(output_name, batch(output.shape)));
  const file = new Writer()
    .int(1, 8) // IR version 8 (ONNX 1.10+), which opsets 13 to 17 need
    .string(2, 'stride')
    .string(3, '0.1.0')
    .message(7, graph)
    .message(8, new Writer().string(1, '').int(2, opset));
  for (const [key, value] of Object.entries(metadata)) file.message(14, new Writer().string(1, key).string(2, value));
  return file.finish();
}
