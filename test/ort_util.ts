/**
 * onnxruntime-node for the tests that run stride's ONNX files in another runtime: bench/'s pinned
 * copy, which make test installs. Without it those tests are skipped with a NOTICE.
 */
import { createRequire } from 'node:module';
import type { Tensor } from '../src/index.js';

export interface OrtTensor { data: Float32Array; dims: readonly number[] }
interface Ort {
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: { create(bytes: Uint8Array): Promise<{ run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> }> };
}

let ort: Ort | null = null;
let missing = '';
try {
  ort = createRequire(import.meta.url)('../bench/node_modules/onnxruntime-node') as Ort;
} catch (e) {
  missing = (e as Error).message.split('\n')[0]!;
}

/** node:test's skip for a file that needs onnxruntime: false when it loads, else the reason (said once per file). */
export function ortSkip(file: string): string | false {
  if (ort) return false;
  console.log(`NOTICE: onnxruntime-node is not installed in bench/node_modules (${missing}); the onnxruntime checks in ${file} are skipped`);
  return 'onnxruntime-node is not installed';
}

/** The 'output' of the ONNX model `bytes` for the 'input' x, computed by onnxruntime. */
export async function runOrt(bytes: Uint8Array, x: Tensor): Promise<OrtTensor> {
  const session = await ort!.InferenceSession.create(bytes);
  return (await session.run({ input: new ort!.Tensor('float32', x.contiguous().dataSync() as Float32Array, x.shape) }))['output']!;
}
