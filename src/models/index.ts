/** stride/models: models by name, with PyTorch's parameter names. */
import '../backend/reference/index.js';

export { LeNet5, ConnectionTableConv2d, LENET_C3_TABLE, type LeNet5Options } from './lenet.js';
export { MLP, type MLPOptions } from './mlp.js';
export { ConvNet, type ConvNetOptions } from './convnet.js';
export { AlexNet, type AlexNetOptions } from './alexnet.js';
export { ZFNet, type ZFNetOptions } from './zfnet.js';
export { VGG, type VGGDepth, type VGGOptions } from './vgg.js';
export { GoogLeNet, Inception, InceptionAux, BasicConv2d, type GoogLeNetOptions, type GoogLeNetOutputs } from './googlenet.js';
export { ResNet, CifarResNet, BasicBlock, Bottleneck, type ResNetDepth, type ResNetOptions, type CifarResNetOptions } from './resnet.js';
export { UNet, type UNetOptions } from './unet.js';
export { MobileNetV2, InvertedResidual, Conv2dNormActivation, type MobileNetV2Options } from './mobilenet.js';
export { CharLM, CharVocab, train_char_lm, bits_per_character, sample_text, type CharLMOptions, type CellType, type LMState, type LMTrainOptions, type SampleOptions } from './lm.js';
export { ImageCaptioner, WordVocab, type CaptionerOptions, type BeamOptions } from './captioning.js';
export { create_model, list_models, describe_model, register_model, type ModelOptions, type ModelEntry } from './registry.js';
