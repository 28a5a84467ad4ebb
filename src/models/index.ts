/** stride/models: models by name, with PyTorch's parameter names. */
import '../backend/reference/index.js';

export { LeNet5, type LeNet5Options } from './lenet.js';
export { MLP, type MLPOptions } from './mlp.js';
export { ConvNet, type ConvNetOptions } from './convnet.js';
export { create_model, list_models, describe_model, register_model, type ModelOptions, type ModelEntry } from './registry.js';
