/** Every op, as functions (the same ops are also tensor methods). */
export * from './elementwise.js';
export * from './reduce.js';
export * from './shape.js';
export * from './indexing.js';
export * from './join.js';
export * from './linalg.js';
export { defineOp, type OpDef, type DifferentiableOp, type NonDifferentiableOp, type Grads, type BackwardContext } from './define.js';
export * from './conv.js';
export * from './pool.js';
export * from './activation.js';
export * from './normalization.js';
export * from './dropout.js';
export * from './loss.js';
export * from './interpolate.js';
