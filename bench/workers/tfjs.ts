/**
 * TF.js worker: --backend wasm|cpu, --threads N. The models are written with tf ops and
 * explicit paddings so that every layer computes what PyTorch's does (TF's 'same' pads stride-2
 * convolutions asymmetrically), in TF.js's own NHWC layout.
 *
 * The wasm backend has no Conv2DBackpropFilter kernel, so it cannot train a convolution as
 * shipped; registerConvFilterGrad below adds one built from its Conv2D kernel, and the results
 * say so. In Node it ignores setThreadsCount: the worker reports the count it actually uses.
 */
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import type { Conv2DBackpropFilterAttrs, KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import { loadFashion, type Split } from '../lib/fashion.js';
import { serve, type Runner } from '../lib/serve.js';
import type { WorkloadId, WorkloadParams } from '../lib/workloads.js';

const arg = (name: string) => process.argv[process.argv.indexOf(name) + 1]!;
const backendName = arg('--backend');
const threads = Number(arg('--threads'));

/**
 * dW[kh, kw, ci, co] = Σ_{n, oh, ow} x[n, oh*s + kh - pad, ow*s + kw - pad, ci] · dy[n, oh, ow, co]:
 * a convolution of x (channels as the batch: [ci, H, W, n]) with dy as the filter
 * ([oh, ow, n, co]), stride 1 and dilation s, whose first kh x kw outputs are the gradient.
 */
function registerConvFilterGrad(): void {
  const kernel = (name: string): KernelFunc => tf.getKernel(name, 'wasm')!.kernelFunc;
  const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const a = attrs as unknown as Conv2DBackpropFilterAttrs;
    if (a.dataFormat === 'NCHW') throw new Error('Conv2DBackpropFilter (bench): NHWC only');
    const [kh, kw, ci, co] = a.filterShape;
    const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], a.filterShape, a.strides, 1, a.pad, a.dimRoundingMode);
    const run = (name: string, ins: Record<string, TensorInfo>, at: Record<string, unknown>) => kernel(name)({ inputs: ins, backend, attrs: at as never }) as TensorInfo;
    const xT = run('Transpose', { x }, { perm: [3, 1, 2, 0] });
    const dyT = run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
    const p = info.padInfo;
    const conv = run('Conv2D', { x: xT, filter: dyT }, {
      strides: [1, 1], pad: [[0, 0], [p.top, p.bottom], [p.left, p.right], [0, 0]], dataFormat: 'NHWC',
      dilations: [info.strideHeight, info.strideWidth],
    });
    const cut = run('Slice', { x: conv }, { begin: [0, 0, 0, 0], size: [ci, kh, kw, co] });
    const out = run('Transpose', { x: cut }, { perm: [1, 2, 0, 3] });
    for (const t of [xT, dyT, conv, cut]) (backend as tf.KernelBackend).disposeData(t.dataId);
    return out;
  };
  tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc });
}

const notes: string[] = [];
if (backendName === 'wasm') {
  setThreadsCount(threads);
  registerConvFilterGrad();
  notes.push('Conv2DBackpropFilter registered by the harness (a conv2d of x and dy), which the wasm backend lacks');
}
await tf.setBackend(backendName);
await tf.ready();

function glorot(shape: number[], fanIn: number, fanOut: number): tf.Variable {
  const lim = Math.sqrt(6 / (fanIn + fanOut));
  return tf.variable(tf.randomUniform(shape, -lim, lim, 'float32', 0));
}
const convW = (k: number, cin: number, cout: number) => glorot([k, k, cin, cout], cin * k * k, cout * k * k);
const denseW = (i: number, o: number) => glorot([i, o], i, o);
const zeros = (n: number) => tf.variable(tf.zeros([n]));

type Net = { forward(x: tf.Tensor4D, training: boolean): tf.Tensor2D; vars: tf.Variable[] };

function lenet5(): Net {
  const w = [convW(5, 1, 6), convW(5, 6, 16), denseW(400, 120), denseW(120, 84), denseW(84, 10)];
  const b = [zeros(6), zeros(16), zeros(120), zeros(84), zeros(10)];
  return {
    vars: [...w, ...b],
    forward(x) {
      const convRelu = (v: tf.Tensor4D, i: number, pad: number | 'valid') => tf.relu(tf.add(tf.conv2d(v, w[i] as tf.Tensor4D, 1, pad), b[i]!)) as tf.Tensor4D;
      let y = tf.maxPool(convRelu(x, 0, 2), 2, 2, 'valid');
      y = tf.maxPool(convRelu(y, 1, 'valid'), 2, 2, 'valid');
      let f = tf.reshape(y, [x.shape[0], 400]) as tf.Tensor2D;
      f = tf.relu(tf.add(tf.matMul(f, w[2]!), b[2]!));
      f = tf.relu(tf.add(tf.matMul(f, w[3]!), b[3]!));
      return tf.add(tf.matMul(f, w[4]!), b[4]!);
    },
  };
}

/** BatchNorm with PyTorch's semantics: batch statistics and running averages in training, running statistics in eval. */
function batchNorm(c: number, vars: tf.Variable[]) {
  const gamma = tf.variable(tf.ones([c])) as tf.Variable<tf.Rank.R1>;
  const beta = tf.variable(tf.zeros([c])) as tf.Variable<tf.Rank.R1>;
  const mean = tf.variable(tf.zeros([c]), false) as tf.Variable<tf.Rank.R1>;
  const variance = tf.variable(tf.ones([c]), false) as tf.Variable<tf.Rank.R1>;
  vars.push(gamma, beta);
  return (x: tf.Tensor4D, training: boolean): tf.Tensor4D => {
    if (!training) return tf.batchNorm4d(x, mean, variance, beta, gamma, 1e-5);
    const m = tf.moments(x, [0, 1, 2]);
    const n = x.size / c;
    mean.assign(tf.add(tf.mul(mean, 0.9), tf.mul(m.mean, 0.1)));
    variance.assign(tf.add(tf.mul(variance, 0.9), tf.mul(m.variance, 0.1 * n / (n - 1))));
    return tf.batchNorm4d(x, m.mean as tf.Tensor1D, m.variance as tf.Tensor1D, beta, gamma, 1e-5);
  };
}

function convBn(k: number, cin: number, cout: number, stride: number, vars: tf.Variable[]) {
  const w = convW(k, cin, cout);
  vars.push(w);
  const bn = batchNorm(cout, vars);
  const pad = (k - 1) / 2;
  return (x: tf.Tensor4D, training: boolean) => bn(tf.conv2d(x, w as tf.Tensor4D, stride, pad), training);
}

function block(cin: number, cout: number, stride: number, vars: tf.Variable[]) {
  const c1 = convBn(3, cin, cout, stride, vars);
  const c2 = convBn(3, cout, cout, 1, vars);
  const down = stride !== 1 || cin !== cout ? convBn(1, cin, cout, stride, vars) : null;
  return (x: tf.Tensor4D, t: boolean) => tf.relu(tf.add(c2(tf.relu(c1(x, t)), t), down ? down(x, t) : x)) as tf.Tensor4D;
}

/** ResNet of BasicBlocks as stride/models (CIFAR ResNet-20, torchvision ResNet-18). */
function resnet(kind: 'resnet20' | 'resnet18'): Net {
  const vars: tf.Variable[] = [];
  const r18 = kind === 'resnet18';
  const stem = convBn(r18 ? 7 : 3, 3, r18 ? 64 : 16, r18 ? 2 : 1, vars);
  const widths = r18 ? [64, 128, 256, 512] : [16, 32, 64];
  const blocks: ((x: tf.Tensor4D, t: boolean) => tf.Tensor4D)[] = [];
  let c = widths[0]!;
  widths.forEach((w, i) => {
    for (let j = 0; j < (r18 ? 2 : 3); j++) {
      blocks.push(block(j === 0 ? c : w, w, j === 0 && i > 0 ? 2 : 1, vars));
    }
    c = w;
  });
  const fcW = denseW(c, r18 ? 1000 : 10);
  const fcB = zeros(r18 ? 1000 : 10);
  vars.push(fcW, fcB);
  return {
    vars,
    forward(x, t) {
      let y = tf.relu(stem(x, t));
      if (r18) y = tf.maxPool(y, 3, 2, 1);
      for (const b of blocks) y = b(y, t);
      return tf.add(tf.matMul(tf.mean(y, [1, 2]) as tf.Tensor2D, fcW), fcB);
    },
  };
}

function trainRunner(net: Net, p: WorkloadParams, batch: () => [tf.Tensor4D, tf.Tensor2D]): Runner {
  const opt = tf.train.momentum(p.lr!, p.momentum!);
  return {
    items: p.batch,
    notes,
    step() {
      const [x, y] = batch();
      const loss = opt.minimize(() => tf.losses.softmaxCrossEntropy(y, net.forward(x, true)) as tf.Scalar, true, net.vars)!;
      loss.dataSync();
      tf.dispose([loss, x, y]);
    },
  };
}

function evalRunner(net: Net, x: tf.Tensor4D): Runner {
  return { items: x.shape[0], notes, step: () => tf.tidy(() => void net.forward(x, false).dataSync()), dispose: () => x.dispose() };
}

let train: Split | null = null;

async function prepare(id: WorkloadId, p: WorkloadParams): Promise<Runner | { unsupported: string }> {
  const b = p.batch;
  if (id === 'w1_train' || id === 'w1_eval') {
    const s = (train ??= loadFashion('train'));
    const images = (at: number) => tf.tensor4d(s.images.subarray(at * 784, (at + b) * 784), [b, 28, 28, 1]);
    if (id === 'w1_eval') return evalRunner(lenet5(), images(0));
    let at = 0;
    return trainRunner(lenet5(), p, () => {
      const x = images(at);
      const y = tf.oneHot(tf.tensor1d(s.labels.subarray(at, at + b), 'int32'), 10) as tf.Tensor2D;
      at = (at + b) % (s.n - (s.n % b));
      return [x, y];
    });
  }
  if (id === 'w2_train') {
    const x = tf.randomNormal([b, 32, 32, 3], 0, 1, 'float32', 0) as tf.Tensor4D;
    const y = tf.oneHot(tf.randomUniform([b], 0, 10, 'int32', 0) as tf.Tensor1D, 10) as tf.Tensor2D;
    return trainRunner(resnet('resnet20'), p, () => [tf.clone(x), tf.clone(y)]);
  }
  if (id === 'w3_b1' || id === 'w3_b8') return evalRunner(resnet('resnet18'), tf.randomNormal([b, 224, 224, 3], 0, 1, 'float32', 0) as tf.Tensor4D);
  const n = p.n!;
  const a = tf.randomNormal([n, n]);
  const c = tf.randomNormal([n, n]);
  return { items: (2 * n ** 3) / 1e9, step: () => tf.matMul(a, c).dispose(), dispose: () => tf.dispose([a, c]) };
}

await serve({
  info: () => ({
    system: `tfjs-${backendName}`, tfjs: tf.version.tfjs, backend: tf.getBackend(),
    threads_requested: threads, threads_used: backendName === 'wasm' ? getThreadsCount() : 1,
  }),
  prepare,
});
