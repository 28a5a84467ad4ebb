/**
 * Loaded with --import before the test files: with STRIDE_BACKEND=native the whole suite runs on
 * the native backend (tensors are created there by default). When the addon is unavailable it
 * says so and ends the run successfully, so `make test` passes on machines without oneDNN.
 */
import { set_default_backend, type Backend } from '../src/backend/backend.js';
import type { TypedArray } from '../src/tensor/dtype.js';

const wanted = process.env['STRIDE_BACKEND'];
if (wanted === 'native') {
  const { nativeStatus } = await import('../src/backend/native/index.js');
  const status = nativeStatus();
  if (!status.available) {
    console.log(`NOTICE: native backend unavailable: ${status.reason}; skipping the native run`);
    process.exit(0);
  }
  set_default_backend('native');
  // Backend.alloc promises no contents: poison them, so that code reading memory it did not
  // write fails here rather than working by luck on zeroed arrays.
  const { nativeBackend } = await import('../src/backend/native/index.js');
  const backend = nativeBackend as Backend<TypedArray>;
  const alloc = backend.alloc.bind(backend);
  backend.alloc = (dtype, size) => alloc(dtype, size).fill(dtype === 'float32' || dtype === 'float64' ? NaN : 0x5a);
} else if (wanted !== undefined && wanted !== 'reference') {
  throw new Error(`STRIDE_BACKEND must be 'native' or 'reference', got '${wanted}'`);
}
