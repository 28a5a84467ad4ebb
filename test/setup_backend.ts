/**
 * Loaded with --import before the test files: with STRIDE_BACKEND=native the whole suite runs on
 * the native backend (tensors are created there by default). When the addon is unavailable it
 * says so and ends the run successfully, so `make test` passes on machines without oneDNN.
 */
import { set_default_backend } from '../src/backend/backend.js';

const wanted = process.env['STRIDE_BACKEND'];
if (wanted === 'native') {
  const { nativeStatus } = await import('../src/backend/native/index.js');
  const status = nativeStatus();
  if (!status.available) {
    console.log(`NOTICE: native backend unavailable: ${status.reason}; skipping the native run`);
    process.exit(0);
  }
  set_default_backend('native');
} else if (wanted !== undefined && wanted !== 'reference') {
  throw new Error(`STRIDE_BACKEND must be 'native' or 'reference', got '${wanted}'`);
}
