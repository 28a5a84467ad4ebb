/**
 * Measures the native backend against the reference (no assertions): conv2d forward and both
 * gradients for LeNet-5's convolutions and a ResNet 3x3 layer, matmul, and a LeNet-5 training
 * step. Each figure is the best of several timed runs (the machine may be shared).
 *
 *   node --import tsx native/bench/measure.ts [--threads N] [--only conv|matmul|lenet]
 *     [--native-only] [--steps N (LeNet steps per timed run, default 50)]
 */
import { nativeBackend, nativeStatus, setThreads } from '../../src/backend/native/index.js';
import { cross_entropy, randint, randn, referenceBackend, set_default_backend, tidy, type Backend, type View } from '../../src/index.js';
import type { Conv2dParams } from '../../src/backend/backend.js';
import { create_model } from '../../src/models/index.js';
import { SGD } from '../../src/optim/index.js';
import type { Tensor } from '../../src/tensor/tensor.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const status = nativeStatus();
if (!nativeBackend) throw new Error(`native backend unavailable: ${status.reason}`);
if (flag('--threads')) setThreads(Number(flag('--threads')));
console.log(`native: oneDNN ${nativeStatus().onednn}, ${nativeStatus().isa}, ${nativeStatus().threads} threads`);
const only = flag('--only');

/** Best seconds per call over `reps` timed batches of calls lasting at least `minSeconds` each. */
function best(fn: () => void, reps = 5, minSeconds = 0.2): number {
  fn();
  let bestT = Infinity;
  for (let r = 0; r < reps; r++) {
    let n = 0;
    const t0 = performance.now();
    let t = 0;
    do {
      fn();
      n++;
      t = (performance.now() - t0) / 1000;
    } while (t < minSeconds);
    bestT = Math.min(bestT, t / n);
  }
  return bestT;
}

const view = (shape: number[]): View => {
  const buffer = new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => Math.random() - 0.5);
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  return { buffer, dtype: 'float32', shape, strides, offset: 0 };
};

function convs(): void {
  const layers: { name: string; x: number[]; w: number[]; pad: number; refReps: number }[] = [
    { name: 'LeNet-5 C1 (64x1x28x28, 6@5x5, pad 2)', x: [64, 1, 28, 28], w: [6, 1, 5, 5], pad: 2, refReps: 3 },
    { name: 'LeNet-5 C3 (64x6x14x14, 16@5x5)', x: [64, 6, 14, 14], w: [16, 6, 5, 5], pad: 0, refReps: 3 },
    { name: 'ResNet 3x3 (8x64x56x56, 64@3x3, pad 1)', x: [8, 64, 56, 56], w: [64, 64, 3, 3], pad: 1, refReps: 1 },
  ];
  console.log(`\n${'conv2d GFLOP/s'.padEnd(52)} forward  input grad  weight grad`);
  for (const l of layers) {
    const p: Conv2dParams = { stride: [1, 1], padding: [l.pad, l.pad], dilation: [1, 1], groups: 1 };
    const [N, C, H] = l.x as [number, number, number, number];
    const [O, , K] = l.w as [number, number, number, number];
    const OH = H + 2 * l.pad - K + 1;
    const flop = 2 * N * O * OH * OH * C * K * K;
    const x = view(l.x), w = view(l.w), y = view([N, O, OH, OH]), gx = view(l.x), gw = view(l.w);
    const backends = [['native', nativeBackend!, 5, 0.2], ['reference', referenceBackend as Backend, l.refReps, 0]] as const;
    for (const [name, b, reps, min] of args.includes('--native-only') ? backends.slice(0, 1) : backends) {
      const g = [
        best(() => b.conv2d(x, w, y, p), reps, min),
        best(() => b.conv2dInputGrad(y, w, gx, p), reps, min),
        best(() => b.conv2dWeightGrad(x, y, gw, p), reps, min),
      ].map((s) => (flop / s / 1e9).toFixed(1).padStart(9));
      console.log(`  ${`${l.name}, ${name}`.padEnd(50)} ${g.join('   ')}`);
    }
  }
}

function matmuls(): void {
  console.log('\nmatmul GFLOP/s (n x n times n x n)');
  for (const n of [256, 1024]) {
    const a = view([1, n, n]), c = view([1, n, n]), o = view([1, n, n]);
    const flop = 2 * n ** 3;
    const nat = flop / best(() => nativeBackend!.matmul(a, c, o)) / 1e9;
    const ref = flop / best(() => referenceBackend.matmul(a as never, c as never, o as never), n > 256 ? 1 : 3, 0) / 1e9;
    console.log(`  n=${n}: native ${nat.toFixed(1)}, reference ${ref.toFixed(2)}`);
  }
}

/** Images per second of LeNet-5 training steps (batch 64, SGD) on `backend`, by wall clock and by CPU time. */
function lenet(backend: string, steps: number): { wall: number; cpu: number } {
  set_default_backend(backend);
  const model = create_model('lenet5', { input_size: 28 });
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const x = randn([64, 1, 28, 28]);
  const y = randint(0, 10, [64], { dtype: 'int32' });
  const step = () =>
    tidy(() => {
      opt.zero_grad();
      const loss = cross_entropy((model.call as (x: Tensor) => Tensor)(x), y);
      loss.backward();
      opt.step();
    });
  step();
  let bestT = Infinity;
  let bestCpu = Infinity;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (let i = 0; i < steps; i++) step();
    const c = process.cpuUsage(c0);
    bestT = Math.min(bestT, (performance.now() - t0) / 1000 / steps);
    bestCpu = Math.min(bestCpu, (c.user + c.system) / 1e6 / steps);
  }
  // On one thread, CPU time is what a step costs when the core is not shared: steadier than the
  // wall clock on a busy machine.
  return { wall: 64 / bestT, cpu: 64 / bestCpu };
}

if (!only || only === 'conv') convs();
if (!only || only === 'matmul') matmuls();
if (!only || only === 'lenet') {
  console.log('\nLeNet-5 training step, batch 64 (images/s)');
  const nat = lenet('native', Number(flag('--steps') ?? 50));
  const ref = args.includes('--native-only') ? null : lenet('reference', 3);
  console.log(`  native ${nat.wall.toFixed(0)} (by CPU time ${nat.cpu.toFixed(0)})` +
    (ref ? `, reference ${ref.wall.toFixed(0)} (${(nat.wall / ref.wall).toFixed(1)}x)` : ''));
}
