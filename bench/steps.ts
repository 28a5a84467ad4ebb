/**
 * Training-step time of W1 (LeNet-5, batch 64) and W2 (ResNet-20, batch 32) on stride's
 * backends, for developers comparing builds: CPU time of this process per step (at one thread,
 * another process's load barely changes it) and wall time, each the minimum over several rounds. Not part of `make bench`,
 * whose numbers are wall-clock throughput against the peers.
 *
 *   node --import tsx bench/steps.ts [--backend native,wasm] [--workload w1,w2] [--rounds 5]
 */
import * as st from '../src/index.js';
import { CifarResNet, LeNet5 } from '../src/models/index.js';
import type { Module } from '../src/nn/index.js';
import { SGD } from '../src/optim/index.js';
import { loadStrideBackends } from './lib/stride_backends.js';
import { glorotInit } from './lib/stride_init.js';
import { trainStep } from './lib/stride_step.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}

const backends = arg('backend', 'native,wasm').split(',');
const workloads = arg('workload', 'w1,w2').split(',');
const rounds = Number(arg('rounds', '5'));
const available = await loadStrideBackends();

interface Setup {
  model: Module;
  batch: number;
  x: st.Tensor;
  y: st.Tensor;
  steps: number;
}

function setup(w: string): Setup {
  st.manual_seed(0);
  if (w === 'w1') {
    const model = new LeNet5({ input_size: 28 });
    glorotInit(model);
    return { model, batch: 64, x: st.randn([64, 1, 28, 28]), y: st.randint(0, 10, [64]), steps: 60 };
  }
  const model = new CifarResNet({ depth: 20 });
  glorotInit(model);
  return { model, batch: 32, x: st.randn([32, 3, 32, 32]), y: st.randint(0, 10, [32]), steps: 4 };
}

for (const b of backends) {
  if (!available.find((a) => a.name === b)?.available) {
    console.log(`${b}: not available`);
    continue;
  }
  st.set_default_backend(b);
  for (const w of workloads) {
    const { model, x, y, steps } = setup(w);
    const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
    const step = () => trainStep(model, opt, x, y);
    for (let i = 0; i < 3; i++) step();
    let cpu = Infinity;
    let wall = Infinity;
    for (let r = 0; r < rounds; r++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < steps; i++) step();
      wall = Math.min(wall, (performance.now() - t0) / steps);
      const dt = process.cpuUsage(c0);
      cpu = Math.min(cpu, (dt.user + dt.system) / 1000 / steps);
    }
    const threads = process.env.STRIDE_THREADS ?? 'default';
    console.log(`${b} ${w}: ${cpu.toFixed(2)} ms CPU, ${wall.toFixed(2)} ms wall per step (min of ${rounds} x ${steps} steps, STRIDE_THREADS=${threads})`);
    x.dispose();
    y.dispose();
  }
}
