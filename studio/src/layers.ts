/**
 * Custom models as plain layer lists: what the page's editor edits, the worker trains and a saved
 * file's metadata carries (ModelInfo { model: 'custom', options: { layers } }). Shapes and
 * parameter counts come from the library itself: each layer is built as a stride module and run
 * by `summary` on the 'meta' backend, so the editor applies the same shape rules as training does.
 */
import { with_default_backend } from '../../src/backend/backend.js';
import '../../src/backend/meta/index.js';
import { LeakyReLU, ReLU, Sigmoid, Tanh } from '../../src/nn/activation.js';
import { Conv2d } from '../../src/nn/conv.js';
import { Dropout } from '../../src/nn/dropout.js';
import { Flatten, Linear } from '../../src/nn/linear.js';
import { Sequential, type Module } from '../../src/nn/module.js';
import { BatchNorm2d } from '../../src/nn/normalization.js';
import { AvgPool2d, MaxPool2d } from '../../src/nn/pooling.js';
import { summary } from '../../src/nn/summary.js';
import { StrideError } from '../../src/tensor/errors.js';
import { formatShape } from '../../src/tensor/shape.js';

/** ModelInfo.model of a layer-list model. */
export const CUSTOM_MODEL = 'custom';

/**
 * One layer. Input sizes (in_channels, in_features) are not stored: they follow from the previous
 * layer's output. A Linear's out_features 'classes' is the dataset's class count.
 */
export type LayerSpec =
  | { type: 'Conv2d'; out_channels: number; kernel_size: number; stride: number; padding: number }
  | { type: 'MaxPool2d' | 'AvgPool2d'; kernel_size: number; stride: number }
  | { type: 'ReLU' | 'LeakyReLU' | 'Tanh' | 'Sigmoid' | 'BatchNorm2d' | 'Flatten' }
  | { type: 'Dropout'; p: number }
  | { type: 'Linear'; out_features: number | 'classes' };
export type LayerType = LayerSpec['type'];

/** A new layer of each type, as the editor adds it. */
export const NEW_LAYERS: { [T in LayerType]: LayerSpec & { type: T } } = {
  Conv2d: { type: 'Conv2d', out_channels: 8, kernel_size: 3, stride: 1, padding: 1 },
  MaxPool2d: { type: 'MaxPool2d', kernel_size: 2, stride: 2 },
  AvgPool2d: { type: 'AvgPool2d', kernel_size: 2, stride: 2 },
  ReLU: { type: 'ReLU' },
  LeakyReLU: { type: 'LeakyReLU' },
  Tanh: { type: 'Tanh' },
  Sigmoid: { type: 'Sigmoid' },
  BatchNorm2d: { type: 'BatchNorm2d' },
  Dropout: { type: 'Dropout', p: 0.5 },
  Flatten: { type: 'Flatten' },
  Linear: { type: 'Linear', out_features: 'classes' },
};

/** The zoo's LeNet-5 for 28x28 inputs (src/models/lenet.ts: the first convolution pads by 2), where the editor starts. */
export const LENET5_LAYERS: readonly LayerSpec[] = [
  { type: 'Conv2d', out_channels: 6, kernel_size: 5, stride: 1, padding: 2 }, { type: 'ReLU' }, { type: 'MaxPool2d', kernel_size: 2, stride: 2 },
  { type: 'Conv2d', out_channels: 16, kernel_size: 5, stride: 1, padding: 0 }, { type: 'ReLU' }, { type: 'MaxPool2d', kernel_size: 2, stride: 2 },
  { type: 'Flatten' }, { type: 'Linear', out_features: 120 }, { type: 'ReLU' }, { type: 'Linear', out_features: 84 }, { type: 'ReLU' },
  { type: 'Linear', out_features: 'classes' },
];

/** A layer's result; all null for the layers after the first problem (their input is unknown). */
export interface LayerRow {
  /** Without the batch dim. */
  output_shape: number[] | null;
  params: number | null;
  error: string | null;
}

export interface LayerCheck {
  rows: LayerRow[];
  total_params: number;
  /** The first problem, naming its layer; null when the list trains. */
  error: string | null;
}

/** The stride module for `layer` taking inputs of `input_shape` (without the batch dim), on the default backend. */
function makeLayer(layer: LayerSpec, input_shape: readonly number[], classes: number): Module {
  switch (layer.type) {
    case 'Conv2d': return new Conv2d(input_shape[0]!, layer.out_channels, layer.kernel_size, { stride: layer.stride, padding: layer.padding });
    case 'MaxPool2d': return new MaxPool2d(layer.kernel_size, { stride: layer.stride });
    case 'AvgPool2d': return new AvgPool2d(layer.kernel_size, { stride: layer.stride });
    case 'ReLU': return new ReLU();
    case 'LeakyReLU': return new LeakyReLU();
    case 'Tanh': return new Tanh();
    case 'Sigmoid': return new Sigmoid();
    case 'BatchNorm2d': return new BatchNorm2d(input_shape[0]!);
    case 'Dropout': return new Dropout(layer.p);
    case 'Flatten': return new Flatten();
    case 'Linear': return new Linear(input_shape[input_shape.length - 1]!, layer.out_features === 'classes' ? classes : layer.out_features);
    default: throw new StrideError(`unknown layer type ${JSON.stringify((layer as { type: unknown }).type)}; known: ${Object.keys(NEW_LAYERS).join(', ')}`);
  }
}

/**
 * Each layer's output shape and parameters for inputs of `input_shape` [C, H, W], up to the first
 * layer the library refuses (with its message); the last output must be one score per class.
 */
export function checkLayers(layers: readonly LayerSpec[], input_shape: readonly number[], classes: number): LayerCheck {
  return with_default_backend('meta', () => {
    const rows: LayerRow[] = [];
    let shape = input_shape;
    let error: string | null = null;
    for (const [i, layer] of layers.entries()) {
      if (error !== null) {
        rows.push({ output_shape: null, params: null, error: null });
        continue;
      }
      try {
        const s = summary(makeLayer(layer, shape, classes), shape);
        shape = s.rows[0]!.output_shape;
        // The library accepts a Linear of 0 outputs; nothing can follow it.
        if (shape.includes(0)) throw new StrideError(`its output ${formatShape(shape)} is empty`);
        rows.push({ output_shape: [...shape], params: s.total_params, error: null });
      } catch (e) {
        rows.push({ output_shape: null, params: null, error: (e as Error).message });
        error = `layer ${i + 1} (${layer.type}): ${(e as Error).message}`;
      }
    }
    if (error === null && shape.join() !== String(classes)) {
      const message = `the model's output is ${formatShape(shape)}; training needs one score per class, ${formatShape([classes])}`;
      const last = rows[rows.length - 1];
      if (last) last.error = message;
      error = last ? `layer ${rows.length} (${layers[rows.length - 1]!.type}): ${message}` : message;
    }
    return { rows, total_params: rows.reduce((s, r) => s + (r.params ?? 0), 0), error };
  });
}

/** The layers as a Sequential on the default backend, initialised as each layer's constructor does; throws the first problem. */
export function buildLayers(layers: readonly LayerSpec[], input_shape: readonly number[], classes: number): Sequential {
  const check = checkLayers(layers, input_shape, classes);
  if (check.error !== null) throw new StrideError(check.error);
  return new Sequential(...layers.map((layer, i) => makeLayer(layer, i === 0 ? input_shape : check.rows[i - 1]!.output_shape!, classes)));
}
