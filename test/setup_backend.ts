/**
 * Loaded with --import before the test files: with STRIDE_BACKEND=native (or wasm) the whole
 * suite runs on that backend (tensors are created there by default). When it is unavailable it
 * says so and ends the run successfully, so `make test` passes on machines without oneDNN.
 */
import { set_default_backend, type Backend } from '../src/backend/backend.js';
import type { TypedArray } from '../src/tensor/dtype.js';
import type { WasmBuffer } from '../src/backend/wasm/index.js';

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
} else if (wanted === 'wasm') {
  const wasm = await import('../src/backend/wasm/index.js');
  const status = await wasm.initWasm();
  if (!status.available) {
    console.log(`NOTICE: wasm backend unavailable: ${status.reason}; skipping the wasm run`);
    process.exit(0);
  }
  set_default_backend('wasm');
  // Poisoned as for native: the buffers are blocks of the wasm memory, reused after free.
  const backend = wasm.wasmBackend as Backend<WasmBuffer>;
  const alloc = backend.alloc.bind(backend);
  backend.alloc = (dtype, size) => {
    const b = alloc(dtype, size);
    b.array().fill(dtype === 'float32' || dtype === 'float64' ? NaN : 0x5a);
    return b;
  };
} else if (wanted !== undefined && wanted !== 'reference') {
  throw new Error(`STRIDE_BACKEND must be 'native', 'wasm' or 'reference', got '${wanted}'`);
}
