import type { Module } from '../nn/module.js';
import { StrideError } from '../tensor/errors.js';
import { AlexNet } from './alexnet.js';
import { ConvNet } from './convnet.js';
import { GoogLeNet } from './googlenet.js';
import { buildLayers, CUSTOM_MODEL, type LayerSpec } from './layer_list.js';
import { LeNet5 } from './lenet.js';
import { MLP } from './mlp.js';
import { MobileNetV2 } from './mobilenet.js';
import { CifarResNet, ResNet, type ResNetDepth } from './resnet.js';
import { UNet } from './unet.js';
import { VGG, type VGGDepth } from './vgg.js';
import { ZFNet } from './zfnet.js';

/**
 * What every model accepts; each model documents its own extras. Models whose layers do not
 * depend on the input size (those with adaptive pooling, fully convolutional ones) ignore
 * input_size, so that callers can always pass it.
 */
export interface ModelOptions {
  num_classes?: number;
  in_channels?: number;
  input_size?: number;
  [option: string]: unknown;
}

const COMMON_OPTIONS = ['num_classes', 'in_channels', 'input_size'];

export interface ModelEntry {
  description: string;
  /** The options it takes besides num_classes, in_channels and input_size; when given, create_model refuses any other. */
  options?: readonly string[];
  create(opts: ModelOptions): Module;
}

const entries: [string, ModelEntry][] = [
  ['lenet5', { description: "LeNet-5 (ReLU, max pooling; 61,706 parameters). Options: variant 'modern'|'classic', input_size 28|32, c3_table (LeCun 1998's partial C3 connections: 60,806)", options: ['variant', 'c3_table'], create: (o) => new LeNet5(o as never) }],
  ['mlp', { description: 'Fully connected ReLU net, the course\'s 784-800-10. Options: hidden (widths), in_features', options: ['hidden', 'in_features'], create: (o) => new MLP({ in_features: (o.in_channels ?? 1) * (o.input_size ?? 28) ** 2, ...o } as never) }],
  ['convnet', { description: 'Two conv-BN-ReLU-pool blocks (16, 32 channels) and a linear classifier (the course\'s PyTorch MNIST example)', options: [], create: (o) => new ConvNet(o as never) }],
  ['alexnet', { description: "AlexNet: torchvision's (61,100,840 parameters), or variant 'original' (Krizhevsky 2012 on 227x227 with LRN, one tower: 62,378,344). Options: variant, dropout", options: ['variant', 'dropout'], create: (o) => new AlexNet(o as never) }],
  ['zfnet', { description: 'ZFNet (Zeiler & Fergus 2013) on 224x224: 7x7/2 first layer, LRN (62,357,608 parameters). Options: dropout', options: ['dropout'], create: (o) => new ZFNet(o as never) }],
];

const VGG_PARAMS: Record<VGGDepth, [string, string]> = {
  vgg11: ['132,863,336', '132,868,840'],
  vgg13: ['133,047,848', '133,053,736'],
  vgg16: ['138,357,544', '138,365,992'],
  vgg19: ['143,667,240', '143,678,248'],
};
for (const [depth, [plain, bn]] of Object.entries(VGG_PARAMS) as [VGGDepth, [string, string]][]) {
  const options = ['init_weights', 'dropout'];
  entries.push(
    [depth, { description: `${depth.toUpperCase()} as torchvision's (${plain} parameters). Options: init_weights, dropout`, options, create: (o) => new VGG(depth, o as never) }],
    [`${depth}_bn`, { description: `${depth.toUpperCase()} with BatchNorm as torchvision's (${bn} parameters). Options: init_weights, dropout`, options, create: (o) => new VGG(depth, { ...o, batch_norm: true } as never) }],
  );
}

entries.push(['googlenet', {
  description: "GoogLeNet (Inception v1) as torchvision's: 13,004,888 parameters with the auxiliary heads, 6,624,904 without. Options: aux_logits, transform_input, init_weights, dropout, dropout_aux",
  options: ['aux_logits', 'transform_input', 'init_weights', 'dropout', 'dropout_aux'],
  create: (o) => new GoogLeNet(o as never),
}]);

const RESNET_PARAMS: Record<ResNetDepth, string> = {
  resnet18: '11,689,512', resnet34: '21,797,672', resnet50: '25,557,032', resnet101: '44,549,160', resnet152: '60,192,808',
};
for (const [depth, params] of Object.entries(RESNET_PARAMS) as [ResNetDepth, string][]) {
  entries.push([depth, { description: `${depth.replace('resnet', 'ResNet-')} as torchvision's (${params} parameters). Options: zero_init_residual`, options: ['zero_init_residual'], create: (o) => new ResNet(depth, o as never) }]);
}

const CIFAR_RESNET_PARAMS: Record<number, string> = { 20: '272,474', 32: '466,906', 56: '855,770' };
for (const [depth, params] of Object.entries(CIFAR_RESNET_PARAMS)) {
  entries.push([`resnet${depth}`, {
    description: `CIFAR ResNet-${depth} (He et al. 2015: 16/32/64 channels, BatchNorm, 1x1 projection shortcuts where the shape changes; ${params} parameters for 10 classes). Options: zero_init_residual`,
    options: ['zero_init_residual'],
    create: (o) => new CifarResNet({ ...o, depth: Number(depth) } as never),
  }]);
}

entries.push(
  ['unet', { description: 'U-Net (Ronneberger et al. 2015): up-convolutions and skip connections by concatenation (31,030,658 parameters for 1 channel, 2 classes). Options: padding (output size = input size), base_channels', options: ['padding', 'base_channels'], create: (o) => new UNet(o as never) }],
  ['mobilenet_v2', { description: "MobileNetV2 as torchvision's (3,504,872 parameters). Options: width_mult, round_nearest, dropout", options: ['width_mult', 'round_nearest', 'dropout'], create: (o) => new MobileNetV2(o as never) }],
);

entries.push([CUSTOM_MODEL, {
  description: 'A Sequential built from a list of layers (the studio\'s layer editor): options layers (Conv2d, pooling, activations, BatchNorm2d, Dropout, Flatten, Linear), in_channels, input_size, num_classes',
  options: ['layers'],
  create: (o) => {
    if (!Array.isArray(o['layers'])) throw new StrideError(`${CUSTOM_MODEL}: options.layers must be a list of layers`);
    const size = o.input_size ?? 28;
    return buildLayers(o['layers'] as LayerSpec[], [o.in_channels ?? 1, size, size], o.num_classes ?? 10);
  },
}]);

const registry = new Map<string, ModelEntry>(entries);

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
  const entry = get(name);
  if (entry.options) {
    const known = [...COMMON_OPTIONS, ...entry.options];
    const unknown = Object.keys(opts).filter((k) => !known.includes(k));
    if (unknown.length) throw new StrideError(`${name}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}; it takes ${known.join(', ')}`);
  }
  return entry.create(opts);
}
