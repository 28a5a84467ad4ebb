/** The models the ONNX tests export: one of each kind of layer stride maps, with an input shape. */
import { CifarResNet, ConvNet, LeNet5, MobileNetV2 } from '../src/models/index.js';
import type { Module } from '../src/nn/module.js';

export const ONNX_MODELS: [string, () => Module, number[]][] = [
  ['lenet5', () => new LeNet5({ input_size: 28 }), [3, 1, 28, 28]],
  ['convnet', () => new ConvNet(), [3, 1, 28, 28]],
  ['resnet20', () => new CifarResNet({ depth: 20 }), [2, 3, 32, 32]],
  ['mobilenet_v2', () => new MobileNetV2({ num_classes: 10 }), [2, 3, 64, 64]],
];
