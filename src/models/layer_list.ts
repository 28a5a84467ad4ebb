/**
 * Models as plain layer lists (the model 'custom': create_model('custom', { layers, in_channels,
 * input_size, num_classes })): what the studio's editor edits and a saved file's metadata
 * carries, so that the CLI opens those files too. Shapes and parameter counts come from the
 * library itself: each layer is built as a stride module and run by `summary` on the 'meta'
 * backend, so checking a list applies the same shape rules as training does.
 */
import { with_default_backend } from '../backend/backend.js';
// The reference backend first: the first one registered is the default, and meta has no data.
import '../backend/reference/index.js';
import '../backend/meta/index.js';
import { LeakyReLU, ReLU, Sigmoid, Tanh } from '../nn/activation.js';
import { Conv2d } from '../nn/conv.js';
import { Dropout } from '../nn/dropout.js';
import { Flatten, Linear } from '../nn/linear.js';
import { Sequential, type Module } from '../nn/module.js';
import { BatchNorm2d } from '../nn/normalization.js';
import { AvgPool2d, MaxPool2d } from '../nn/pooling.js';
import { summary } from '../nn/summary.js';
import { StrideError } from '../tensor/errors.js';
import { formatShape } from '../tensor/shape.js';

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

/** The layer types, in the order an editor offers them. */
export const LAYER_TYPES: readonly LayerType[] = ['Conv2d', 'MaxPool2d', 'AvgPool2d', 'ReLU', 'LeakyReLU', 'Tanh', 'Sigmoid', 'BatchNorm2d', 'Dropout', 'Flatten', 'Linear'];

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
    default: throw new StrideError(`unknown layer type ${JSON.stringify((layer as { type: unknown }).type)}; known: ${LAYER_TYPES.join(', ')}`);
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
