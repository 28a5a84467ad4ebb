import { no_grad } from '../autograd/grad_mode.js';
import { add, mul, rsqrt, sub } from '../ops/elementwise.js';
import { reshape } from '../ops/shape.js';
import { StrideError } from '../tensor/errors.js';
import { tidy } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import { Conv1d, Conv2d } from './conv.js';
import { Identity } from './linear.js';
import { Module, Parameter } from './module.js';
import { BatchNorm1d, BatchNorm2d } from './normalization.js';

/**
 * Folding evaluation-mode batch norm into the convolution before it, for inference: the
 * normalisation y = (x - mean) / sqrt(var + eps) · γ + β is affine per channel, so it can be
 * carried by the convolution's weight and bias, and the pass over the activations disappears
 * (what an ONNX export in eval mode does, and onnxruntime runs). PyTorch's
 * torch.nn.utils.fusion and torch.ao.quantization.fuse_modules.
 */

/**
 * PyTorch's fuse_conv_bn_weights: the weight and bias of a convolution equal to conv followed by
 * an evaluation-mode batch norm, as new tensors: w · γ/√(var + eps) per output channel and
 * (b - mean) · γ/√(var + eps) + β. bn_w and bn_b null mean γ = 1 and β = 0; conv_b null means 0.
 */
export function fuse_conv_bn_weights(
  conv_w: Tensor, conv_b: Tensor | null, bn_rm: Tensor, bn_rv: Tensor, bn_eps: number, bn_w: Tensor | null, bn_b: Tensor | null,
): [Tensor, Tensor] {
  // tidy: only the two results outlive the call (backends outside the JS heap free the rest now).
  return tidy(() => no_grad(() => {
    const scale = bn_w ? mul(rsqrt(add(bn_rv, bn_eps)), bn_w) : rsqrt(add(bn_rv, bn_eps));
    const w = mul(conv_w, reshape(scale, [-1, ...conv_w.shape.slice(1).map(() => 1)]));
    const b = mul(conv_b ? sub(conv_b, bn_rm) : bn_rm.neg(), scale);
    return [w, bn_b ? add(b, bn_b) : b] as [Tensor, Tensor];
  }));
}

type Conv = Conv1d | Conv2d;
type BatchNorm = BatchNorm1d | BatchNorm2d;

/**
 * Folds `bn` into `conv` in place (its weight changes and it gets a bias if it had none): conv
 * then computes what bn(conv(x)) did in evaluation mode. Both must be in evaluation mode, bn must
 * have running statistics, and its features must be conv's output channels. `where` names the
 * pair in errors.
 */
export function fuse_conv_bn_(conv: Conv, bn: BatchNorm, where = 'fuse_conv_bn_'): void {
  if (conv.training || bn.training) throw new StrideError(`${where}: fusion is only for evaluation mode; call eval() first`);
  const is2d = conv instanceof Conv2d;
  if (is2d !== bn instanceof BatchNorm2d) {
    throw new StrideError(`${where}: a ${conv.constructor.name} pairs with a BatchNorm${is2d ? 2 : 1}d, got a ${bn.constructor.name}`);
  }
  if (!bn.running_mean || !bn.running_var) {
    throw new StrideError(`${where}: the batch norm has no running statistics (track_running_stats=false), so evaluation uses each batch's and cannot be folded`);
  }
  if (bn.num_features !== conv.out_channels) {
    throw new StrideError(`${where}: the batch norm has ${bn.num_features} features but the convolution has ${conv.out_channels} output channels`);
  }
  const [w, b] = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias);
  no_grad(() => conv.weight.copy_(w));
  w.dispose();
  if (conv.bias) {
    no_grad(() => conv.bias!.copy_(b));
    b.dispose();
  } else {
    conv.register_parameter('bias', new Parameter(b)); // shares b's storage
    b.dispose();
  }
}

/** The module at a dotted path (PyTorch's get_submodule). */
function submodule(model: Module, path: string): { parent: Module; name: string; module: Module } {
  const names = path.split('.');
  let parent = model;
  for (const [i, name] of names.entries()) {
    const child = [...parent.named_children()].find(([k]) => k === name)?.[1];
    if (!child) throw new StrideError(`fuse_modules: ${model.constructor.name} has no module '${names.slice(0, i + 1).join('.')}'`);
    if (i === names.length - 1) return { parent, name, module: child };
    parent = child;
  }
  throw new StrideError('fuse_modules: an empty module path');
}

/**
 * torch.ao.quantization.fuse_modules for evaluation: each group names a convolution and the
 * batch norm that follows it (dotted paths, e.g. ['layer1.0.conv1', 'layer1.0.bn1']); the batch
 * norm is folded into the convolution and replaced by an Identity. In place (PyTorch's
 * inplace=True); returns the model. Only [Conv1d/2d, BatchNorm1d/2d] pairs are fused.
 */
export function fuse_modules<M extends Module>(model: M, groups: readonly (readonly string[])[]): M {
  for (const group of groups) {
    if (group.length !== 2) throw new StrideError(`fuse_modules: expected groups of a convolution and a batch norm, got [${group.join(', ')}]`);
    const [conv, bn] = group.map((path) => submodule(model, path)) as [ReturnType<typeof submodule>, ReturnType<typeof submodule>];
    const where = `fuse_modules [${group.join(', ')}]`;
    if (!(conv.module instanceof Conv1d || conv.module instanceof Conv2d)) throw new StrideError(`${where}: '${group[0]}' is a ${conv.module.constructor.name}, not a Conv1d or Conv2d`);
    if (!(bn.module instanceof BatchNorm1d || bn.module instanceof BatchNorm2d)) throw new StrideError(`${where}: '${group[1]}' is a ${bn.module.constructor.name}, not a BatchNorm1d or BatchNorm2d`);
    fuse_conv_bn_(conv.module, bn.module, where);
    bn.parent.add_module(bn.name, new Identity().eval());
  }
  return model;
}
