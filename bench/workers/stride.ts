/**
 * stride worker: runs the workloads on one stride backend (--backend NAME); the thread count
 * comes from STRIDE_THREADS, set by the orchestrator. The models are stride's own (stride/models:
 * LeNet-5, the CIFAR ResNet-20 with projection shortcuts, torchvision's ResNet-18), which the
 * PyTorch and TF.js workers mirror layer for layer.
 */
import * as st from '../../src/index.js';
import { CifarResNet, LeNet5, ResNet } from '../../src/models/index.js';
import type { Module } from '../../src/nn/index.js';
import { lr_scheduler, SGD } from '../../src/optim/index.js';
import { loadFashion, permutation, type Split } from '../lib/fashion.js';
import { serve, type Runner, type T1Epoch, type T1Params } from '../lib/serve.js';
import { loadStrideBackends } from '../lib/stride_backends.js';
import { glorotInit } from '../lib/stride_init.js';
import { trainStep } from '../lib/stride_step.js';
import type { WorkloadId, WorkloadParams } from '../lib/workloads.js';

const backend = process.argv[process.argv.indexOf('--backend') + 1]!;
const status = (await loadStrideBackends()).find((b) => b.name === backend)?.status;
st.set_default_backend(backend);

let train: Split | null = null;
const fashionTrain = () => (train ??= loadFashion('train'));

function lenet(): Module {
  st.manual_seed(0);
  const m = new LeNet5({ input_size: 28 });
  glorotInit(m);
  return m;
}

/** A batch of images [b, 1, 28, 28] and labels gathered from `order` starting at `from`. */
function fashionBatch(s: Split, order: ArrayLike<number> | null, from: number, b: number): [st.Tensor, st.Tensor] {
  const px = new Float32Array(b * 784);
  const lb = new Int32Array(b);
  for (let i = 0; i < b; i++) {
    const k = order ? order[from + i]! : (from + i) % s.n;
    px.set(s.images.subarray(k * 784, k * 784 + 784), i * 784);
    lb[i] = s.labels[k]!;
  }
  return [st.fromFlat(px, [b, 1, 28, 28]), st.fromFlat(lb, [b], { dtype: 'int32' })];
}

function evalStep(model: Module, x: st.Tensor): void {
  st.no_grad(() => st.tidy(() => (model.call as (x: st.Tensor) => st.Tensor)(x).dataSync()));
}

function prepare(id: WorkloadId, p: WorkloadParams): Runner {
  const b = p.batch;
  switch (id) {
    case 'w1_train': {
      const m = lenet();
      const opt = new SGD(m.parameters(), { lr: p.lr!, momentum: p.momentum! });
      const s = fashionTrain();
      let at = 0;
      return {
        items: b,
        step() {
          const [x, y] = fashionBatch(s, null, at, b);
          at = (at + b) % s.n;
          trainStep(m, opt, x, y);
          x.dispose();
          y.dispose();
        },
      };
    }
    case 'w1_eval': {
      const m = lenet().eval();
      const [x, y] = fashionBatch(fashionTrain(), null, 0, b);
      y.dispose();
      return { items: b, step: () => evalStep(m, x), dispose: () => x.dispose() };
    }
    case 'w2_train': {
      st.manual_seed(0);
      const m = new CifarResNet({ depth: 20 });
      glorotInit(m);
      const opt = new SGD(m.parameters(), { lr: p.lr!, momentum: p.momentum! });
      const x = st.randn([b, 3, 32, 32]);
      const y = st.randint(0, 10, [b]);
      return { items: b, step: () => void trainStep(m, opt, x, y), dispose: () => { x.dispose(); y.dispose(); } };
    }
    case 'w3_b1':
    case 'w3_b8': {
      st.manual_seed(0);
      const m = new ResNet('resnet18');
      glorotInit(m);
      m.eval().fuse_model(); // see the workload's note
      const x = st.randn([b, 3, 224, 224]);
      return { items: b, step: () => evalStep(m, x), dispose: () => x.dispose() };
    }
    case 'w4_256':
    case 'w4_1024': {
      const n = p.n!;
      const a = st.randn([n, n]);
      const c = st.randn([n, n]);
      // In tidy, as the other steps: it also frees matmul's intermediate views, which dispose()
      // of the result alone does not reach.
      return { items: (2 * n ** 3) / 1e9, step: () => void st.tidy(() => st.matmul(a, c).dispose()), dispose: () => { a.dispose(); c.dispose(); } };
    }
  }
}

async function t1(p: T1Params, progress: (e: T1Epoch) => void): Promise<T1Epoch[]> {
  const tr = fashionTrain();
  const te = loadFashion('t10k');
  const m = lenet();
  const opt = new SGD(m.parameters(), { lr: p.lr, momentum: p.momentum });
  const schedule = new lr_scheduler.StepLR(opt, p.lr_step_size, p.lr_gamma);
  const history: T1Epoch[] = [];
  let seconds = 0;
  for (let epoch = 1; epoch <= p.max_epochs && seconds < p.max_seconds; epoch++) {
    m.train();
    const order = permutation(tr.n, p.seed + epoch);
    const t0 = performance.now();
    for (let at = 0; at < tr.n; at += p.batch) {
      const [x, y] = fashionBatch(tr, order, at, Math.min(p.batch, tr.n - at));
      trainStep(m, opt, x, y);
      x.dispose();
      y.dispose();
    }
    seconds += (performance.now() - t0) / 1000;
    schedule.step();
    m.eval();
    let correct = 0;
    for (let at = 0; at < te.n; at += 1000) {
      const [x, y] = fashionBatch(te, null, at, 1000);
      const pred = st.no_grad(() => st.tidy(() => (m.call as (x: st.Tensor) => st.Tensor)(x).argmax(1).dataSync()));
      const labels = y.dataSync();
      for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) correct++;
      x.dispose();
      y.dispose();
    }
    const e = { epoch, seconds, test_accuracy: correct / te.n };
    history.push(e);
    progress(e);
    if (e.test_accuracy >= p.target) break;
  }
  return history;
}

await serve({
  info: () => ({ system: 'stride', backend, status, stride_threads: process.env.STRIDE_THREADS ?? null }),
  prepare: async (id, p) => prepare(id, p),
  t1,
});
