import type { Module } from '../nn/module.js';
import { StrideError } from '../tensor/errors.js';
import { ConvNet } from './convnet.js';
import { LeNet5 } from './lenet.js';
import { MLP } from './mlp.js';

/** What every model accepts where it makes sense; each model documents its own extras. */
export interface ModelOptions {
  num_classes?: number;
  in_channels?: number;
  input_size?: number;
  [option: string]: unknown;
}

export interface ModelEntry {
  description: string;
  create(opts: ModelOptions): Module;
}

const registry = new Map<string, ModelEntry>([
  ['lenet5', { description: "LeNet-5 (ReLU, max pooling; 61,706 parameters). Options: variant 'modern'|'classic', input_size 28|32", create: (o) => new LeNet5(o as never) }],
  ['mlp', { description: 'Fully connected ReLU net, the course\'s 784-800-10. Options: hidden (widths), in_features', create: (o) => new MLP({ in_features: (o.in_channels ?? 1) * (o.input_size ?? 28) ** 2, ...o } as never) }],
  ['convnet', { description: 'Two conv-BN-ReLU-pool blocks (16, 32 channels) and a linear classifier (the course\'s PyTorch MNIST example)', create: (o) => new ConvNet(o as never) }],
]);

export function register_model(name: string, entry: ModelEntry): void {
  registry.set(name, entry);
}

export function list_models(): string[] {
  return [...registry.keys()];
}

export function describe_model(name: string): string {
  return get(name).description;
}

function get(name: string): ModelEntry {
  const entry = registry.get(name);
  if (!entry) throw new StrideError(`unknown model '${name}'; available: ${list_models().join(', ')}`);
  return entry;
}

/** A fresh model by name, e.g. create_model('lenet5', { num_classes: 10 }). */
export function create_model(name: string, opts: ModelOptions = {}): Module {
  return get(name).create(opts);
}
