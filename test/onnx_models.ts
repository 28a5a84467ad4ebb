/** The models the ONNX tests export: one of each kind of layer stride maps, with an input shape. */
import { CifarResNet, ConvNet, LeNet5, MobileNetV2 } from '../src/models/index.js';
import { Flatten, Linear, ReLU, Sequential } from '../src/nn/index.js';
import type { Module } from '../src/nn/module.js';

export const ONNX_MODELS: [string, () => Module, number[]][] = [
  ['lenet5', () => new LeNet5({ input_size: 28 }), [3, 1, 28, 28]],
  ['convnet', () => new ConvNet(), [3, 1, 28, 28]],
  ['resnet20', () => new CifarResNet({ depth: 20 }), [2, 3, 32, 32]],
  ['mobilenet_v2', () => new MobileNetV2({ num_classes: 10 }), [2, 3, 64, 64]],
  // Linear layers over a 3-d input (MatMul and Add, where a 2-d one is a Gemm), with and without a bias.
  ['linear_3d', () => new Sequential(new Linear(5, 4), new ReLU(), new Linear(4, 3, false), new Flatten()), [2, 6, 5]],
];
