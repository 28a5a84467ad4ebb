/**
 * stride: tensors, reverse-mode autodiff and CNN building blocks for TypeScript.
 * This entry point registers the reference backend and attaches the tensor methods.
 */
import './backend/reference/index.js';
import './backend/meta/index.js';

export { Tensor, type NestedArray } from './tensor/tensor.js';
export type { DType, TypedArray } from './tensor/dtype.js';
export { promoteTypes as promote_types } from './tensor/dtype.js';
export type { Shape } from './tensor/shape.js';
export * from './tensor/errors.js';
export * from './tensor/creation.js';
export { Generator, default_generator, manual_seed, type GeneratorState } from './tensor/random.js';
export { tidy, keep, memory, set_memory_debug, type MemoryReport } from './tensor/memory.js';
export {
  registerBackend, getBackend, set_default_backend, get_default_backend, list_backends, with_default_backend,
  type Backend, type View,
} from './backend/backend.js';
export { referenceBackend } from './backend/reference/index.js';
export { metaBackend } from './backend/meta/index.js';

export { no_grad, enable_grad, is_grad_enabled, set_grad_enabled } from './autograd/grad_mode.js';
export { grad, value_and_grad } from './autograd/functional.js';
export { gradcheck, type GradcheckOptions, type GradcheckResult } from './autograd/gradcheck.js';
import { backward, grad as autogradGrad } from './autograd/engine.js';
/** PyTorch's torch.autograd: backward(tensor, gradient?, options) and grad(outputs, inputs, options). */
export const autograd = { backward, grad: autogradGrad };
export type { BackwardOptions, GradOptions } from './autograd/engine.js';

export * from './ops/index.js';
/** torch.var (`var` is reserved in JS: use it as `stride.var` or import `variance`). */
export { variance as var } from './ops/reduce.js';
