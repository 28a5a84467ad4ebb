/**
 * The wasm backend inside a browser page, bundled by Vite (so loading the kernels through a
 * bundler is tested too). `?mode=check` runs forward and backward passes on the wasm and the
 * reference backends and reports their largest differences in window.strideResult (for
 * test/browser_wasm.test.ts); window.strideBench runs W1 for the benchmark harness.
 */
import * as st from '../../../src/index.js';
import { initWasm, setWasmThreads } from '../../../src/backend/wasm/index.js';
import { LeNet5 } from '../../../src/models/index.js';
import type { Module } from '../../../src/nn/index.js';
import { SGD } from '../../../src/optim/index.js';
import { glorotInit } from '../../../bench/lib/stride_init.js';

type Result = Record<string, unknown>;
declare global {
  interface Window {
    strideResult?: Result;
  }
}

const params = new URLSearchParams(location.search);
const forward = (m: Module, x: st.Tensor): st.Tensor => (m.call as (x: st.Tensor) => st.Tensor)(x);

function lenet(): Module {
  st.manual_seed(0);
  const m = new LeNet5({ input_size: 28 });
  glorotInit(m);
  return m;
}

/** Largest |a - b| over two tensors' values. */
function maxDiff(a: st.Tensor, b: st.Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  let d = 0;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i]! - y[i]!));
  return d;
}

/** The loss and every parameter's gradient of LeNet-5 on one batch, on `backend`. */
function lenetGradients(backend: string): { loss: number; grads: Map<string, st.Tensor> } {
  return st.with_default_backend(backend, () => {
    const m = lenet();
    st.manual_seed(1);
    const x = st.randn([8, 1, 28, 28]);
    const y = st.randint(0, 10, [8]);
    const loss = st.cross_entropy(forward(m, x), y);
    loss.backward();
    const grads = new Map([...m.named_parameters()].map(([name, p]) => [name, p.grad!.to('reference')] as [string, st.Tensor]));
    return { loss: loss.item(), grads };
  });
}

/** Each primitive family on both backends: conv (strided, dilated, grouped) and its gradients, matmul, pooling, softmax. */
function primitives(): Record<string, number> {
  const out: Record<string, number> = {};
  st.manual_seed(2);
  const x = st.randn([2, 4, 13, 11]);
  const w = st.randn([6, 2, 3, 3]);
  const a = st.randn([37, 53]);
  const b = st.randn([53, 29]);
  const run = (backend: string) => st.with_default_backend(backend, () => {
    const xs = x.to(backend).detach().requires_grad_();
    const ws = w.to(backend).detach().requires_grad_();
    const y = st.conv2d(xs, ws, null, { stride: 2, padding: 1, dilation: [1, 2], groups: 2 });
    const pooled = st.max_pool2d(y, 2);
    const avg = st.avg_pool2d(y, 2, { padding: 1 });
    pooled.sum().add(avg.mul(avg).sum()).backward();
    return {
      conv: y.to('reference'),
      conv_input_grad: xs.grad!.to('reference'),
      conv_weight_grad: ws.grad!.to('reference'),
      matmul: st.matmul(a.to(backend), b.to(backend)).to('reference'),
      softmax: st.softmax(a.to(backend), 1).to('reference'),
    };
  });
  const r = run('reference');
  const v = run('wasm');
  for (const k of Object.keys(r) as (keyof typeof r)[]) out[k] = maxDiff(r[k], v[k]);
  return out;
}

async function check(): Promise<Result> {
  const ref = lenetGradients('reference');
  const wasm = lenetGradients('wasm');
  const gradDiff: Record<string, number> = {};
  for (const [name, g] of ref.grads) gradDiff[name] = maxDiff(g, wasm.grads.get(name)!);
  // 40 steps on one batch: the loss must fall on wasm as it does on the reference.
  const losses = st.with_default_backend('wasm', () => {
    const m = lenet();
    const opt = new SGD(m.parameters(), { lr: 0.02, momentum: 0.9 });
    st.manual_seed(3);
    const x = st.randn([32, 1, 28, 28]);
    const y = st.randint(0, 10, [32]);
    return Array.from({ length: 40 }, () => st.tidy(() => {
      opt.zero_grad();
      const loss = st.cross_entropy(forward(m, x), y);
      loss.backward();
      opt.step();
      return loss.item();
    }));
  });
  return { lossReference: ref.loss, lossWasm: wasm.loss, gradDiff, primitives: primitives(), losses };
}

/**
 * W1 for the benchmark harness (bench/workers/chromium.ts): `prepare` builds a workload,
 * `steps(n)` runs n steps of it and returns the images processed. Random images: the time per
 * step does not depend on the pixels.
 */
function benchApi() {
  let step: (() => void) | null = null;
  let batch = 0;
  return {
    prepare(id: 'w1_train' | 'w1_eval', p: { batch: number; lr?: number; momentum?: number }): void {
      st.set_default_backend('wasm');
      const m = lenet();
      const x = st.rand([p.batch, 1, 28, 28]);
      const y = st.randint(0, 10, [p.batch]);
      batch = p.batch;
      if (id === 'w1_eval') {
        m.eval();
        step = () => void st.no_grad(() => st.tidy(() => forward(m, x).dataSync()));
        return;
      }
      const opt = new SGD(m.parameters(), { lr: p.lr!, momentum: p.momentum! });
      step = () => void st.tidy(() => {
        opt.zero_grad();
        const loss = st.cross_entropy(forward(m, x), y);
        loss.backward();
        opt.step();
        return loss.item();
      });
    },
    steps(n: number): number {
      for (let i = 0; i < n; i++) step!();
      return n * batch;
    },
    threads: (n: number) => setWasmThreads(n),
  };
}

declare global {
  interface Window {
    strideBench?: ReturnType<typeof benchApi>;
  }
}

async function main(): Promise<void> {
  const status = await initWasm();
  if (!status.available) throw new Error(`wasm backend unavailable: ${status.reason}`);
  window.strideBench = benchApi();
  const result = params.get('mode') === 'check' ? await check() : {};
  window.strideResult = { status: { ...status }, crossOriginIsolated: self.crossOriginIsolated, ...result };
  document.getElementById('log')!.textContent = JSON.stringify(window.strideResult, null, 2);
}

main().catch((e: unknown) => {
  window.strideResult = { error: String((e as Error).stack ?? e) };
  document.getElementById('log')!.textContent = String(e);
});
