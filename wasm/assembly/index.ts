// The kernels stride's wasm backend calls (see src/backend/wasm/). The memory is imported and
// owned by the JS side, which allocates every buffer (and each thread's scratch); nothing here
// allocates. Parallel kernels take (args, scratch, begin, end): see common.ts.
export { sgemm, GEMM_SCRATCH } from './gemm';
export { unary, binary, where, mulAdd, sgdStep, adamStep, copy, fill, storeF64 } from './elementwise';
export { fillF64, reduce, argreduce, gather, scatterAdd } from './reduce';
export { conv2d, conv2dInputGrad, conv2dWeightGrad, convWeightGradReduce, convScratch, convItems } from './conv';
export { maxPool2d, maxPool2dGrad, avgPool2d, avgPool2dGrad, poolScratch } from './pool';
export { batchNormStats, batchNormGrad } from './norm';
