/**
 * ConvNetJS worker: W1 only (it has no batch normalisation and no matrix API). Single-threaded
 * plain JavaScript in float64, one sample at a time; its Trainer applies the averaged gradient
 * every batch_size samples, which is W1's minibatch SGD with momentum.
 */
import { createRequire } from 'node:module';
import { loadFashion, type Split } from '../lib/fashion.js';
import { serve, type Runner } from '../lib/serve.js';
import type { WorkloadId, WorkloadParams } from '../lib/workloads.js';

interface Vol { w: Float64Array; sx: number; sy: number; depth: number }
interface Layer { filters?: Vol[]; biases?: Vol; layer_type: string; in_sx: number; in_sy: number; in_depth: number; sx?: number; out_depth: number; num_inputs?: number }
interface Net { layers: Layer[]; makeLayers(defs: object[]): void; forward(v: Vol, training?: boolean): Vol }
interface ConvNetJS {
  Net: new () => Net;
  Vol: new (sx: number, sy: number, depth: number, c: number) => Vol;
  Trainer: new (net: Net, o: object) => { train(v: Vol, label: number): unknown };
}

const require = createRequire(import.meta.url);
const cn = require('convnetjs') as ConvNetJS;

/** W1's LeNet-5 with Glorot-uniform weights and zero biases, as in the other systems. */
function lenet5(): Net {
  const net = new cn.Net();
  net.makeLayers([
    { type: 'input', out_sx: 28, out_sy: 28, out_depth: 1 },
    { type: 'conv', sx: 5, filters: 6, stride: 1, pad: 2, activation: 'relu' },
    { type: 'pool', sx: 2, stride: 2 },
    { type: 'conv', sx: 5, filters: 16, stride: 1, pad: 0, activation: 'relu' },
    { type: 'pool', sx: 2, stride: 2 },
    { type: 'fc', num_neurons: 120, activation: 'relu' },
    { type: 'fc', num_neurons: 84, activation: 'relu' },
    { type: 'softmax', num_classes: 10 },
  ]);
  for (const l of net.layers) {
    if (!l.filters?.length) continue;
    const conv = l.layer_type === 'conv';
    const fanIn = conv ? l.in_depth * l.sx! * l.sx! : l.num_inputs!;
    const fanOut = conv ? l.out_depth * l.sx! * l.sx! : l.out_depth;
    const lim = Math.sqrt(6 / (fanIn + fanOut));
    for (const f of l.filters) for (let i = 0; i < f.w.length; i++) f.w[i] = (Math.random() * 2 - 1) * lim;
    l.biases!.w.fill(0);
  }
  return net;
}

function image(s: Split, k: number): Vol {
  const v = new cn.Vol(28, 28, 1, 0);
  for (let i = 0; i < 784; i++) v.w[i] = s.images[k * 784 + i]!;
  return v;
}

let train: Split | null = null;

async function prepare(id: WorkloadId, p: WorkloadParams): Promise<Runner | { unsupported: string }> {
  if (id !== 'w1_train' && id !== 'w1_eval') return { unsupported: 'ConvNetJS has no batch normalisation and no matrix API' };
  const s = (train ??= loadFashion('train'));
  const b = p.batch;
  const net = lenet5();
  if (id === 'w1_eval') {
    const vols = Array.from({ length: b }, (_, k) => image(s, k));
    return { items: b, step: () => { for (const v of vols) net.forward(v, false); } };
  }
  const trainer = new cn.Trainer(net, { method: 'sgd', learning_rate: p.lr, momentum: p.momentum, batch_size: b, l2_decay: 0 });
  let at = 0;
  return {
    items: b,
    step() {
      for (let i = 0; i < b; i++) trainer.train(image(s, (at + i) % s.n), s.labels[(at + i) % s.n]!);
      at = (at + b) % s.n;
    },
  };
}

const version = (require('convnetjs/package.json') as { version: string }).version;
await serve({ info: () => ({ system: 'convnetjs', version, threads: 1, precision: 'float64' }), prepare });
