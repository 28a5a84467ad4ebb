import { registerBackend, type Backend } from '../backend.js';
import { allocArray } from '../../tensor/dtype.js';

/** A meta buffer knows its size and holds nothing. */
interface MetaBuffer {
  readonly size: number;
}

const nothing = (): void => {};

/**
 * The `meta` backend (PyTorch's meta device): tensors have shapes and dtypes but no data, and
 * every primitive does nothing. Running a model on it follows the shapes through every op at
 * almost no cost, which is what summary() and shape checks need for large models. Reading a
 * meta tensor gives zeros.
 */
export const metaBackend: Backend<MetaBuffer> = {
  name: 'meta',
  externalMemory: false,
  alloc: (_dtype, size) => ({ size }),
  free: nothing,
  read: (_b, dtype, _offset, size) => allocArray(dtype, size),
  write: nothing,
  copy: nothing,
  fill: nothing,
  unary: nothing,
  binary: nothing,
  where: nothing,
  mulAdd: nothing,
  sgdStep: nothing,
  adamStep: nothing,
  reduce: nothing,
  argreduce: nothing,
  matmul: nothing,
  gather: nothing,
  scatterAdd: nothing,
  conv2d: nothing,
  conv2dInputGrad: nothing,
  conv2dWeightGrad: nothing,
  maxPool2d: nothing,
  maxPool2dGrad: nothing,
  avgPool2d: nothing,
  avgPool2dGrad: nothing,
  batchNormStats: nothing,
  batchNormGrad: nothing,
};

registerBackend(metaBackend as Backend);
