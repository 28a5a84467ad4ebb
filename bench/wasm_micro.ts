/**
 * The wasm backend's headline numbers: SGEMM GFLOP/s (the matmul primitive called directly,
 * n = 256, 512, 1024) on one thread and on two, and LeNet-5 training (batch 64, SGD with
 * momentum, random 28x28 images) in images/s on wasm and on the reference backend.
 *
 *   node --import tsx bench/wasm_micro.ts [--seconds S]
 *
 * Node runs the relaxed-SIMD build; STRIDE_WASM_BUILD=simd runs the plain one.
 * GFLOP/s counts 2 per multiply-add. Timings are medians of repeated runs, so a busy machine
 * shows as spread rather than as a lower mean.
 */
import * as st from '../src/index.js';
import type { View } from '../src/backend/backend.js';
import { setWasmThreads, wasmStatus } from '../src/backend/wasm/index.js';
import { LeNet5 } from '../src/models/index.js';
import type { Module } from '../src/nn/index.js';
import { SGD } from '../src/optim/index.js';
import { trainStep } from './lib/stride_step.js';

const argv = process.argv.slice(2);
const seconds = Number(argv.includes('--seconds') ? argv[argv.indexOf('--seconds') + 1] : '1');

const status = wasmStatus();
if (!status.available) {
  console.log(`wasm backend unavailable: ${status.reason}`);
  process.exit(1);
}
const maxThreads = status.threads!;
console.log(`wasm backend: ${status.build}, ${maxThreads} thread(s) started, ${status.platform}`);

const view = (t: st.Tensor): View => ({ buffer: t.buffer, dtype: t.dtype, shape: t.shape, strides: t.strides, offset: t.offset });

/** Median seconds per call of fn over about `seconds` (at least 3 runs, after one warm-up). */
function time(fn: () => void): number {
  fn();
  const runs: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (runs.length < 3 || performance.now() < end) {
    const t0 = performance.now();
    fn();
    runs.push((performance.now() - t0) / 1000);
  }
  runs.sort((a, b) => a - b);
  return runs[Math.floor(runs.length / 2)]!;
}

const wasm = st.getBackend('wasm');
console.log('\nSGEMM (matmul primitive, square, row-major)');
console.log('     n  threads   GFLOP/s');
for (const n of [256, 512, 1024]) {
  const [a, b, c] = st.with_default_backend('wasm', () => [st.randn([1, n, n]), st.randn([1, n, n]), st.empty([1, n, n])]);
  for (const threads of [1, 2].filter((t) => t <= Math.max(maxThreads, 1))) {
    setWasmThreads(threads);
    const s = time(() => wasm.matmul(view(a!), view(b!), view(c!)));
    console.log(`${String(n).padStart(6)}  ${String(threads).padStart(7)}  ${((2 * n ** 3) / s / 1e9).toFixed(1).padStart(8)}`);
  }
  for (const t of [a, b, c]) t!.dispose();
}
setWasmThreads(maxThreads);

/** LeNet-5 training steps per second × batch, on `backend`. */
function lenetTrain(backend: string, batch: number): number {
  return st.with_default_backend(backend, () => {
    st.manual_seed(0);
    const model: Module = new LeNet5({ input_size: 28 });
    const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
    const x = st.rand([batch, 1, 28, 28]);
    const y = st.randint(0, 10, [batch]);
    const step = () => trainStep(model, opt, x, y);
    const s = time(step);
    x.dispose();
    y.dispose();
    return batch / s;
  });
}

console.log('\nLeNet-5 training, batch 64 (images/s)');
const ref = lenetTrain('reference', 64);
console.log(`  reference          ${ref.toFixed(0).padStart(7)}`);
for (const threads of [1, 2].filter((t) => t <= maxThreads)) {
  setWasmThreads(threads);
  const w = lenetTrain('wasm', 64);
  console.log(`  wasm, ${threads} thread(s)  ${w.toFixed(0).padStart(7)}   (${(w / ref).toFixed(1)}x the reference)`);
}
