/**
 * Per-primitive micro-benchmarks of one stride backend, to find where the time of a training
 * step goes: the backend's conv, matmul and pooling primitives called directly (no op
 * overhead), and the ops composed from several primitives (batch norm, pooling backward)
 * through the op layer and autograd. Shapes are layers of W1-W3.
 *
 *   STRIDE_THREADS=N node --import tsx bench/micro.ts --backend NAME [--seconds S] [--json]
 *
 * GFLOP/s counts 2 per multiply-add; GB/s counts each input and output read or written once
 * (the least traffic the primitive needs), so it is comparable with the memory bandwidth.
 */
import * as st from '../src/index.js';
import type { Conv2dParams, Pool2dParams, View } from '../src/backend/backend.js';
import { watchLoad } from './lib/proc.js';
import { loadStrideBackends } from './lib/stride_backends.js';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1]! : dflt);
const backendName = opt('--backend', 'reference');
const seconds = Number(opt('--seconds', '1'));
const JSON_OUT = argv.includes('--json');
await loadStrideBackends();
st.set_default_backend(backendName);
const be = st.getBackend(backendName);

const view = (t: st.Tensor): View => ({ buffer: t.buffer, dtype: t.dtype, shape: t.shape, strides: t.strides, offset: t.offset });
const bytes = (...ts: st.Tensor[]) => ts.reduce((s, t) => s + t.numel() * 4, 0);

interface Case {
  name: string;
  shape: string;
  flops: number;
  bytes: number;
  run(): void;
}

function conv(name: string, x: number[], w: number[], pad: number, stride = 1): Case[] {
  const p: Conv2dParams = { stride: [stride, stride], padding: [pad, pad], dilation: [1, 1], groups: 1 };
  const [n, , h, wd] = x as [number, number, number, number];
  const [o, c, k] = w as [number, number, number, number];
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  const ow = Math.floor((wd + 2 * pad - k) / stride) + 1;
  const X = st.randn(x);
  const W = st.randn(w);
  const Y = st.randn([n, o, oh, ow]);
  const flops = 2 * n * o * c * k * k * oh * ow;
  const shape = `x ${x.join('x')} w ${w.join('x')}${stride > 1 ? ` s${stride}` : ''}`;
  const b = bytes(X, W, Y);
  return [
    { name: `conv2d fwd ${name}`, shape, flops, bytes: b, run: () => be.conv2d(view(X), view(W), null, view(Y), p) },
    { name: `conv2d bwd-data ${name}`, shape, flops, bytes: b, run: () => be.conv2dInputGrad(view(Y), view(W), view(X), p) },
    { name: `conv2d bwd-weight ${name}`, shape, flops, bytes: b, run: () => be.conv2dWeightGrad(view(X), view(Y), view(W), p) },
  ];
}

function matmul(m: number, k: number, n: number): Case {
  const A = st.randn([1, m, k]);
  const B = st.randn([1, k, n]);
  const C = st.empty([1, m, n]);
  return { name: `matmul ${m}x${k}x${n}`, shape: `[${m},${k}]@[${k},${n}]`, flops: 2 * m * k * n, bytes: bytes(A, B, C), run: () => be.matmul(view(A), view(B), view(C)) };
}

function maxPool(x: number[], k = 2, stride = 2, pad = 0): Case[] {
  const p: Pool2dParams = { kind: 'window', kernel: [k, k], stride: [stride, stride], padding: [pad, pad], dilation: [1, 1] };
  const [n, c, h, w] = x as [number, number, number, number];
  const X = st.randn(x);
  const size = (i: number) => Math.floor((i + 2 * pad - k) / stride) + 1;
  const Y = st.empty([n, c, size(h), size(w)]);
  const I = st.empty([n, c, size(h), size(w)], { dtype: 'int32' });
  const shape = `x ${x.join('x')} k${k} s${stride}${pad > 0 ? ` p${pad}` : ''}`;
  // The backward is the op's (a scatter of the gradient through the saved indices), via autograd.
  const Xg = X.clone().requires_grad_();
  const out = st.max_pool2d(Xg, k, { stride, padding: pad });
  const gy = st.randn(out.shape);
  return [
    { name: 'max_pool2d fwd', shape, flops: X.numel(), bytes: bytes(X, Y, I), run: () => be.maxPool2d(view(X), view(Y), view(I), p) },
    { name: 'max_pool2d bwd (op)', shape, flops: 0, bytes: bytes(X, Y, I), run: () => st.tidy(() => void st.autograd.grad(out, Xg, { grad_outputs: [gy], retain_graph: true })) },
  ];
}

function batchNorm(x: number[]): Case[] {
  const [, c] = x as [number, number];
  const X = st.randn(x).requires_grad_();
  const g = st.ones([c]).requires_grad_();
  const b = st.zeros([c]).requires_grad_();
  const rm = st.zeros([c]);
  const rv = st.ones([c]);
  const fwd = () => st.batch_norm(X, rm, rv, { weight: g, bias: b, training: true });
  const y = fwd();
  const gy = st.randn(x);
  const shape = `x ${x.join('x')} (training)`;
  // ~8 flops per element forward (mean, variance, normalise, scale, shift), ~12 backward.
  return [
    { name: 'batch_norm fwd (op)', shape, flops: 8 * X.numel(), bytes: 2 * bytes(X), run: () => st.no_grad(() => st.tidy(fwd)).dispose() },
    { name: 'batch_norm bwd (op)', shape, flops: 12 * X.numel(), bytes: 3 * bytes(X), run: () => st.tidy(() => void st.autograd.grad(y, [X, g, b], { grad_outputs: [gy], retain_graph: true })) },
  ];
}

function elementwise(x: number[]): Case[] {
  const A = st.randn(x);
  const B = st.randn(x);
  const C = st.empty(x);
  const R = st.empty([1, x[1]!, 1, 1]);
  const shape = x.join('x');
  return [
    { name: 'add', shape, flops: A.numel(), bytes: bytes(A, B, C), run: () => be.binary('add', view(A), view(B), view(C)) },
    { name: 'relu', shape, flops: A.numel(), bytes: bytes(A, C), run: () => be.unary('relu', view(A), view(C)) },
    { name: 'sum over N,H,W', shape, flops: A.numel(), bytes: bytes(A, R), run: () => be.reduce('sum', view(A), view(R)) },
  ];
}

const cases: Case[] = [
  ...conv('LeNet conv1', [64, 1, 28, 28], [6, 1, 5, 5], 2),
  ...conv('LeNet conv2', [64, 6, 14, 14], [16, 6, 5, 5], 0),
  ...conv('ResNet-20 16ch', [32, 16, 32, 32], [16, 16, 3, 3], 1),
  ...conv('ResNet-20 64ch', [32, 64, 8, 8], [64, 64, 3, 3], 1),
  ...conv('ResNet-18 layer1', [1, 64, 56, 56], [64, 64, 3, 3], 1),
  matmul(64, 400, 120),
  matmul(256, 256, 256),
  matmul(1024, 1024, 1024),
  ...maxPool([64, 6, 28, 28]),
  ...maxPool([1, 64, 112, 112], 3, 2, 1),
  ...batchNorm([32, 16, 32, 32]),
  ...elementwise([32, 16, 32, 32]),
];

/** Median seconds per call over 3 windows of `seconds` (each at least one call), after one warm-up call. */
function time(c: Case): { median: number; min: number; max: number } {
  // The warm-up call must dispose what it creates: the timing loop never yields to the event
  // loop, so the finalizer never frees a dropped tensor, and thousands of calls run out of memory.
  st.set_memory_debug(true);
  c.run();
  const leaked = st.memory().liveTensors;
  st.set_memory_debug(false);
  if (leaked > 0) throw new Error(`micro: ${c.name} leaves ${leaked} tensors undisposed per call`);
  const per: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    let calls = 0;
    let t = t0;
    do {
      c.run();
      calls++;
      t = performance.now();
    } while ((t - t0) / 1000 < seconds);
    per.push((t - t0) / 1000 / calls);
  }
  per.sort((a, b) => a - b);
  return { median: per[1]!, min: per[0]!, max: per[2]! };
}

const rows: string[] = [];
for (const c of cases) {
  const w = watchLoad(process.pid);
  const t = time(c);
  const load = w.stop();
  const r = {
    backend: backendName, name: c.name, shape: c.shape, seconds_per_call: t.median, min_s: t.min, max_s: t.max,
    gflops: c.flops / t.median / 1e9, gbs: c.bytes / t.median / 1e9, other_cores: load.other_cores, used_cores: load.measured_cores,
  };
  if (JSON_OUT) console.log(JSON.stringify(r));
  else rows.push(`| ${c.name} | ${c.shape} | ${(t.median * 1e3).toPrecision(3)} | ${c.flops ? r.gflops.toFixed(2) : '-'} | ${r.gbs.toFixed(2)} | ${load.other_cores} |`);
}
if (!JSON_OUT) {
  console.log(`stride ${backendName} (STRIDE_THREADS=${process.env.STRIDE_THREADS ?? 'unset'})\n`);
  console.log('| primitive | shape | ms/call | GFLOP/s | GB/s | other load (cores) |\n|---|---|---|---|---|---|');
  console.log(rows.join('\n'));
}
