/**
 * onnxruntime-node worker (inference only): --threads N (intra-op threads; one inter-op thread),
 * --models DIR (the files bench/py/export_onnx.py wrote).
 */
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createRequire } from 'node:module';
import { loadFashion } from '../lib/fashion.js';
import { serve, type Runner } from '../lib/serve.js';
import type { WorkloadId, WorkloadParams } from '../lib/workloads.js';

const arg = (name: string) => process.argv[process.argv.indexOf(name) + 1]!;
const threads = Number(arg('--threads'));
const models = arg('--models');

const options: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
};

function randomInput(shape: number[]): ort.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.random() * 2 - 1;
  return new ort.Tensor('float32', data, shape);
}

async function prepare(id: WorkloadId, p: WorkloadParams): Promise<Runner | { unsupported: string }> {
  const b = p.batch;
  if (id === 'w1_train' || id === 'w2_train') return { unsupported: 'onnxruntime-node runs inference only' };
  if (id === 'w4_256' || id === 'w4_1024') {
    const s = await ort.InferenceSession.create(join(models, 'matmul.onnx'), options);
    const n = p.n!;
    const feeds = { a: randomInput([n, n]), b: randomInput([n, n]) };
    return { items: (2 * n ** 3) / 1e9, step: async () => void (await s.run(feeds)), dispose: () => void s.release() };
  }
  const lenet = id === 'w1_eval';
  const s = await ort.InferenceSession.create(join(models, lenet ? 'lenet5.onnx' : 'resnet18.onnx'), options);
  const x = lenet
    ? new ort.Tensor('float32', loadFashion('train').images.slice(0, b * 784), [b, 1, 28, 28])
    : randomInput([b, 3, 224, 224]);
  return {
    items: b,
    step: async () => {
      const r = await s.run({ x });
      void r.out!.data;
    },
    dispose: () => void s.release(),
  };
}

const version = (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
await serve({ info: () => ({ system: 'onnxruntime-node', version, intra_op_threads: threads }), prepare });
