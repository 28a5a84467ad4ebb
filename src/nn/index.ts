/**
 * stride/nn: layers and models with torch.nn's semantics (Module, parameters, state_dict),
 * `init` (torch.nn.init), `functional` (torch.nn.functional: the ops), and the regularisation and
 * gradient-clipping utilities.
 */
import '../backend/reference/index.js';

export { Module, Parameter, Sequential, ModuleList, ModuleDict, type StateDict, type LoadResult, type ForwardHook, type ForwardPreHook, type RemovableHandle } from './module.js';
export { Linear, Maxout, Identity, Flatten, Unflatten } from './linear.js';
export { Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, type ConvLayerOptions, type ConvTransposeLayerOptions, type PaddingMode } from './conv.js';
export { MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool2d } from './pooling.js';
export { BatchNorm1d, BatchNorm2d, InstanceNorm2d, LayerNorm, GroupNorm, LocalResponseNorm, type BatchNormLayerOptions } from './normalization.js';
export * from './activation.js';
export { Dropout, Dropout2d } from './dropout.js';
export { ZeroPad2d, ConstantPad2d, ReflectionPad2d, ReplicationPad2d } from './padding.js';
export { Embedding } from './embedding.js';
export { Upsample, type UpsampleOptions } from './upsample.js';
export * from './loss.js';
export { l1_penalty, l2_penalty, elastic_net_penalty, max_norm_, clip_grad_norm_, clip_grad_value_, type PenaltyOptions } from './utils.js';
export { fuse_conv_bn_weights, fuse_conv_bn_, fuse_modules } from './fusion.js';
export * as init from './init.js';
export * as functional from '../ops/index.js';
export { summary, type ModelSummary, type SummaryRow } from './summary.js';
export { RNNBase, RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell, PackedSequence, pack_padded_sequence, pad_packed_sequence, pad_sequence, pack_sequence, type RNNMode, type RNNBaseOptions, type RNNOptions, type RNNCellOptions } from './rnn.js';
