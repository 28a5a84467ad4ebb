import { registerBackend, type Backend } from '../backend.js';
import { allocArray, castScalar, type DType } from '../../tensor/dtype.js';
import { conv2d, conv2dInputGrad, conv2dWeightGrad } from './conv.js';
import { adamStep, binary, copy, fill, mulAdd, sgdStep, unary, where } from './elementwise.js';
import { gather, matmul, scatterAdd } from './linalg.js';
import { batchNormGrad, batchNormStats } from './norm.js';
import { avgPool2d, avgPool2dGrad, maxPool2d, maxPool2dGrad } from './pool.js';
import { argreduce, reduce } from './reduce.js';
import type { Buf } from './strided.js';

/**
 * The reference backend: every primitive in plain TypeScript on typed arrays, written to be
 * obviously right. It is the oracle the fast backends are tested against.
 */
export const referenceBackend: Backend<Buf> = {
  name: 'reference',
  externalMemory: false,
  alloc: (dtype: DType, size: number) => allocArray(dtype, size),
  free: () => {},
  read: (b, _dtype, offset, size) => b.slice(offset, offset + size),
  write: (b, dtype, offset, data) => {
    if (dtype === 'bool') for (let i = 0; i < data.length; i++) b[offset + i] = castScalar(data[i]!, 'bool');
    else b.set(data, offset);
  },
  copy,
  fill,
  unary,
  binary,
  where,
  mulAdd,
  sgdStep,
  adamStep,
  reduce,
  argreduce,
  matmul,
  gather,
  scatterAdd,
  conv2d,
  conv2dInputGrad,
  conv2dWeightGrad,
  maxPool2d,
  maxPool2dGrad,
  avgPool2d,
  avgPool2dGrad,
  batchNormStats,
  batchNormGrad,
};

registerBackend(referenceBackend as Backend);
