import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DTypeError, Generator, ShapeError, StrideError, Tensor, autograd, batch_norm, enable_grad, gradcheck, group_norm, instance_norm,
  layer_norm, local_response_norm, ones, randn, rand, stack, tensor, zeros,
} from '../src/index.js';
import { assertClose, assertValues, runFixtureFile, throwsNaming } from './helpers.js';
import { withLayouts } from './layouts.js';

// ---------------------------------------------------------------- PyTorch fixtures

interface Parts { running?: boolean; affine?: boolean }

/** Fixture inputs are x, then running_mean and running_var when args.running, then weight and bias when args.affine. */
function parts(inputs: Tensor[], a: Parts) {
  const [x, ...rest] = inputs;
  const [rm = null, rv = null] = a.running ? rest.splice(0, 2) : [];
  const [weight = null, bias = null] = a.affine ? rest : [];
  return { x: x!, rm, rv, weight, bias };
}

/** The output, and the updated running statistics as extra outputs when there are some. */
function withRunning(out: Tensor, rm: Tensor | null, rv: Tensor | null) {
  return rm && rv ? { out, extras: [rm, rv] } : out;
}

runFixtureFile(
  'normalization.json',
  withLayouts({
    batch_norm: (inputs, a: Parts & { training: boolean; momentum?: number; eps?: number }) => {
      const { x, rm, rv, weight, bias } = parts(inputs, a);
      return withRunning(batch_norm(x, rm, rv, { weight, bias, training: a.training, momentum: a.momentum, eps: a.eps }), rm, rv);
    },
    // Three training steps as nn.BatchNorm2d takes them, from its initial running stats (0 and 1);
    // momentum null is its cumulative average: the factor is 1 / (batches seen so far).
    batch_norm_steps: ([x, weight, bias], a: { momentum: number | null }) => {
      const rm = zeros([3]);
      const rv = ones([3]);
      const outs = x!.unbind(0).map((xi, i) => batch_norm(xi, rm, rv, { weight, bias, training: true, momentum: a.momentum ?? 1 / (i + 1) }));
      return { out: stack(outs), extras: [rm, rv] };
    },
    layer_norm: (inputs, a: Parts & { normalized_shape: number[]; eps?: number }) => {
      const { x, weight, bias } = parts(inputs, a);
      return layer_norm(x, a.normalized_shape, { weight, bias, eps: a.eps });
    },
    group_norm: (inputs, a: Parts & { num_groups: number; eps?: number }) => {
      const { x, weight, bias } = parts(inputs, a);
      return group_norm(x, a.num_groups, { weight, bias, eps: a.eps });
    },
    instance_norm: (inputs, a: Parts & { use_input_stats: boolean; momentum: number }) => {
      const { x, rm, rv, weight, bias } = parts(inputs, a);
      const out = instance_norm(x, { running_mean: rm, running_var: rv, weight, bias, use_input_stats: a.use_input_stats, momentum: a.momentum });
      return withRunning(out, rm, rv);
    },
    local_response_norm: ([x], a: { size: number; alpha?: number; beta?: number; k?: number }) =>
      local_response_norm(x!, a.size, { alpha: a.alpha, beta: a.beta, k: a.k }),
  }),
);

// ---------------------------------------------------------------- worked examples

test('batch_norm training by hand: batch statistics, and running stats with the unbiased variance', () => {
  // One channel holding 1 and 3: mean 2, biased variance 1, unbiased variance 2.
  const x = tensor([[1], [3]], { dtype: 'float64', requires_grad: true }); // with autograd on, as in training
  const rm = zeros([1], { dtype: 'float64' });
  const rv = ones([1], { dtype: 'float64' });
  const y = batch_norm(x, rm, rv, { training: true, eps: 0 });
  assertValues(y, [[-1], [1]], 'normalised');
  assertValues(rm, [0.2], 'running_mean = 0.9 · 0 + 0.1 · 2', 12);
  assertValues(rv, [1.1], 'running_var = 0.9 · 1 + 0.1 · 2', 12);
  // Evaluation uses the running statistics and leaves them alone.
  const e = batch_norm(x, rm, rv, { weight: tensor([2], { dtype: 'float64' }), bias: tensor([-1], { dtype: 'float64' }) });
  assertValues(e, [[2 * (1 - 0.2) / Math.sqrt(1.1 + 1e-5) - 1], [2 * (3 - 0.2) / Math.sqrt(1.1 + 1e-5) - 1]], 'eval', 12);
  assertValues(rm, [0.2], 'eval keeps running_mean', 12);
});

test('batch_norm momentum 1 / num_batches_tracked gives the cumulative average of the batch statistics', () => {
  const g = new Generator(3);
  const batches = [0, 1, 2, 3].map(() => randn([5, 2], { dtype: 'float64', generator: g }).mul(2).add(1));
  const rm = zeros([2], { dtype: 'float64' });
  const rv = ones([2], { dtype: 'float64' });
  batches.forEach((b, i) => batch_norm(b, rm, rv, { training: true, momentum: 1 / (i + 1) }));
  const means = stack(batches.map((b) => b.mean(0))).mean(0);
  const vars = stack(batches.map((b) => b.var(0))).mean(0);
  assertClose(rm, { shape: [2], data: means.dataSync() }, 'running_mean', { rtol: 1e-12 });
  assertClose(rv, { shape: [2], data: vars.dataSync() }, 'running_var', { rtol: 1e-12 });
});

test('instance_norm updates the running stats with the batch average of per-instance statistics', () => {
  const x = tensor([[[1, 3], [0, 4]], [[5, 7], [2, 2]]], { dtype: 'float64' }); // (N=2, C=2, L=2)
  const rm = zeros([2], { dtype: 'float64' });
  const rv = zeros([2], { dtype: 'float64' });
  const y = instance_norm(x, { running_mean: rm, running_var: rv, momentum: 0.5, eps: 0 });
  assertValues(y, [[[-1, 1], [-1, 1]], [[-1, 1], [NaN, NaN]]], 'a constant plane normalises to 0/0');
  // Per-instance means (2, 2 | 6, 2), unbiased variances (2, 8 | 2, 0).
  assertValues(rm, [2, 1], 'running_mean = 0.5 · mean(2, 6), 0.5 · mean(2, 2)', 12);
  assertValues(rv, [1, 2], 'running_var = 0.5 · mean(2, 2), 0.5 · mean(8, 0)', 12);
});

test('layer_norm and group_norm by hand', () => {
  const x = tensor([[1, 2, 3, 4]], { dtype: 'float64' });
  const s = Math.sqrt(1.25);
  assertValues(layer_norm(x, 4, { eps: 0 }), [[-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s]], 'layer_norm', 12);
  // Two groups of two channels: (1, 2) and (3, 4), each normalised to (-1, 1); then per-channel affine.
  const g = group_norm(x, 2, { eps: 0, weight: tensor([1, 2, 3, 4], { dtype: 'float64' }), bias: tensor([0, 0, 0, 10], { dtype: 'float64' }) });
  assertValues(g, [[-1, 2, -3, 14]], 'group_norm', 12);
});

test('local_response_norm by hand: window of `size` channels, alpha divided by size', () => {
  // One sample, 3 channels, 1 position: squares 1, 4, 9. size 2 covers channels c-1 and c.
  const x = tensor([[[1], [2], [3]]], { dtype: 'float64' });
  const y = local_response_norm(x, 2, { alpha: 1, beta: 1, k: 1 });
  assertValues(y, [[[1 / (1 + 1 / 2)], [2 / (1 + 5 / 2)], [3 / (1 + 13 / 2)]]], 'size 2', 12);
  // size 3 covers c-1, c, c+1.
  const z = local_response_norm(x, 3, { alpha: 3, beta: 0.5, k: 0 });
  assertValues(z, [[[1 / Math.sqrt(5)], [2 / Math.sqrt(14)], [3 / Math.sqrt(13)]]], 'size 3', 12);
});

// ---------------------------------------------------------------- gradcheck in float64

const gen = new Generator(11);
const rnd = (shape: number[], scale = 1) => randn(shape, { dtype: 'float64', generator: gen }).mul(scale).requires_grad_();
const positive = (shape: number[]) => rand(shape, { dtype: 'float64', generator: gen }).add(0.5);

test('gradcheck batch_norm, training (2-d, 3-d, 4-d) and eval', () => {
  for (const shape of [[4, 3], [2, 3, 3], [2, 3, 2, 2]]) {
    const rm = zeros([3], { dtype: 'float64' });
    const rv = ones([3], { dtype: 'float64' });
    const train = (x: Tensor, w: Tensor, b: Tensor) => batch_norm(x, rm, rv, { weight: w, bias: b, training: true });
    assert.ok(gradcheck(train, [rnd(shape, 2), rnd([3]), rnd([3])]).ok);
    assert.ok(gradcheck((x: Tensor) => batch_norm(x, null, null, { training: true, eps: 1e-3 }), [rnd(shape)]).ok);
    const m = rnd([3]).detach();
    const v = positive([3]);
    assert.ok(gradcheck((x: Tensor, w: Tensor, b: Tensor) => batch_norm(x, m, v, { weight: w, bias: b }), [rnd(shape), rnd([3]), rnd([3])]).ok);
  }
});

test('double backward: gradcheck of the gradients of batch_norm (training) and group_norm', () => {
  // Their first backward runs on a primitive; recording (create_graph) it is written with ops.
  const gradsOf = (f: (x: Tensor, w: Tensor) => Tensor) => (x: Tensor, w: Tensor, gy: Tensor) =>
    enable_grad(() => {
      // gradcheck's numerical pass calls this with inputs that do not require grad.
      const [xr, wr] = [x, w].map((t) => (t.requires_grad ? t : t.requires_grad_())) as [Tensor, Tensor];
      const [gx, gw] = autograd.grad(f(xr, wr), [xr, wr], { grad_outputs: [gy], create_graph: true });
      return gx!.sum().add(gw!.mul(gw!).sum());
    });
  const bn = (x: Tensor, w: Tensor) => batch_norm(x, null, null, { weight: w, training: true, eps: 1e-3 });
  assert.ok(gradcheck(gradsOf(bn), [rnd([3, 2, 2, 2], 2), rnd([2]), rnd([3, 2, 2, 2])]).ok);
  // The recorded first gradients equal the primitive's.
  const [x, w, gy] = [rnd([3, 2, 2, 2], 2), rnd([2]), rnd([3, 2, 2, 2])];
  const recorded = enable_grad(() => autograd.grad(bn(x, w), [x, w], { grad_outputs: [gy], create_graph: true }));
  const plain = autograd.grad(bn(x, w), [x, w], { grad_outputs: [gy] });
  recorded.forEach((g, i) => assertClose(g!, { shape: plain[i]!.shape, data: plain[i]!.dataSync() }, `recorded gradient ${i}`, { rtol: 1e-10, scaled_atol: 1e-10 }));
  const gn = (x: Tensor, w: Tensor) => group_norm(x, 2, { weight: w, eps: 1e-3 });
  assert.ok(gradcheck(gradsOf(gn), [rnd([2, 4, 3], 2), rnd([4]), rnd([2, 4, 3])]).ok);
});

test('gradcheck layer_norm over 1, 2 and 3 trailing dims', () => {
  for (const ns of [[4], [3, 4], [2, 3, 4]]) {
    assert.ok(gradcheck((x: Tensor, w: Tensor, b: Tensor) => layer_norm(x, ns, { weight: w, bias: b }), [rnd([2, 3, 4], 2), rnd(ns), rnd(ns)]).ok);
  }
});

test('gradcheck group_norm and instance_norm', () => {
  for (const groups of [1, 2, 4]) {
    assert.ok(gradcheck((x: Tensor, w: Tensor, b: Tensor) => group_norm(x, groups, { weight: w, bias: b }), [rnd([2, 4, 3]), rnd([4]), rnd([4])]).ok);
  }
  const rm = zeros([3], { dtype: 'float64' });
  const rv = ones([3], { dtype: 'float64' });
  assert.ok(gradcheck((x: Tensor, w: Tensor, b: Tensor) => instance_norm(x, { running_mean: rm, running_var: rv, weight: w, bias: b }), [rnd([2, 3, 2, 2]), rnd([3]), rnd([3])]).ok);
  const m = rnd([3]).detach();
  const v = positive([3]);
  assert.ok(gradcheck((x: Tensor) => instance_norm(x, { running_mean: m, running_var: v, use_input_stats: false }), [rnd([2, 3, 4])]).ok);
});

test('gradcheck local_response_norm for odd and even sizes', () => {
  for (const size of [1, 2, 3, 4, 6]) {
    assert.ok(gradcheck((x: Tensor) => local_response_norm(x, size, { alpha: 0.7, beta: 0.75, k: 1.2 }), [rnd([2, 4, 3], 2)]).ok);
  }
});

// ---------------------------------------------------------------- bad input

test('batch_norm rejects bad input', () => {
  const x = randn([2, 3, 4]);
  throwsNaming(() => batch_norm(randn([3]), null, null, { training: true }), ShapeError, 'batch_norm', '[3]', 'at least 2 dims');
  throwsNaming(() => batch_norm(x, zeros([4]), ones([4])), ShapeError, 'batch_norm', 'running_mean', '[3]', '[4]', '[2, 3, 4]');
  throwsNaming(() => batch_norm(x, zeros([3]), ones([3, 1])), ShapeError, 'batch_norm', 'running_var', '[3, 1]');
  throwsNaming(() => batch_norm(x, null, null, { training: true, weight: ones([2]) }), ShapeError, 'batch_norm', 'weight', '[2]');
  throwsNaming(() => batch_norm(x, null, null, { training: true, bias: ones([1, 3]) }), ShapeError, 'batch_norm', 'bias', '[1, 3]');
  throwsNaming(() => batch_norm(randn([1, 3]), null, null, { training: true }), ShapeError, 'batch_norm', 'more than 1 value per channel', '[1, 3]');
  throwsNaming(() => batch_norm(randn([1, 3, 1, 1]), zeros([3]), ones([3]), { training: true }), ShapeError, 'more than 1 value per channel', '[1, 3, 1, 1]');
  throwsNaming(() => batch_norm(x, null, null), StrideError, 'batch_norm', 'evaluation mode');
  throwsNaming(() => batch_norm(x, zeros([3]), null, { training: true }), StrideError, 'batch_norm', 'together');
  throwsNaming(() => batch_norm(x, null, null, { training: true, momentum: null as unknown as number }), StrideError, 'batch_norm', 'num_batches_tracked');
  throwsNaming(() => batch_norm(x, null, null, { training: true, momentum: 1.5 }), StrideError, 'batch_norm', 'momentum', '1.5');
  throwsNaming(() => batch_norm(x.int(), null, null, { training: true }), DTypeError, 'batch_norm', 'int32');
  throwsNaming(() => batch_norm(x, zeros([3], { dtype: 'int32' }), ones([3])), DTypeError, 'batch_norm (running_mean)', 'int32');
});

test('a batch of one is fine for batch_norm when each channel still has several values', () => {
  const y = batch_norm(tensor([[[1, 3]]]), null, null, { training: true, eps: 0 });
  assertValues(y, [[[-1, 1]]], 'N = 1, L = 2');
});

test('layer_norm rejects a normalized_shape that does not match the trailing dims', () => {
  const x = randn([2, 3]);
  throwsNaming(() => layer_norm(x, [4]), ShapeError, 'layer_norm', '[4]', '[*, 4]', '[2, 3]');
  throwsNaming(() => layer_norm(x, [2, 2, 3]), ShapeError, 'layer_norm', '[2, 2, 3]', '[2, 3]');
  throwsNaming(() => layer_norm(x, []), ShapeError, 'layer_norm', 'at least one dim');
  throwsNaming(() => layer_norm(x, [3], { weight: ones([2]) }), ShapeError, 'layer_norm', 'weight', '[3]', '[2]');
  throwsNaming(() => layer_norm(x, 3, { bias: ones([1, 3]) }), ShapeError, 'layer_norm', 'bias', '[1, 3]');
  throwsNaming(() => layer_norm(x.int(), 3), DTypeError, 'layer_norm', 'int32');
});

test('group_norm rejects groups that do not divide the channels', () => {
  const x = randn([2, 6, 4]);
  throwsNaming(() => group_norm(x, 4), ShapeError, 'group_norm', 'divisible', '[2, 6, 4]', 'num_groups=4');
  throwsNaming(() => group_norm(x, 0), ShapeError, 'group_norm', 'num_groups=0');
  throwsNaming(() => group_norm(x, 1.5), ShapeError, 'group_norm', 'num_groups=1.5');
  throwsNaming(() => group_norm(randn([6]), 2), ShapeError, 'group_norm', '[6]');
  throwsNaming(() => group_norm(x, 3, { weight: ones([3]) }), ShapeError, 'group_norm', 'weight', '[6]', '[3]');
});

test('instance_norm rejects bad input', () => {
  throwsNaming(() => instance_norm(randn([2, 3])), ShapeError, 'instance_norm', '[2, 3]', 'at least 3 dims');
  throwsNaming(() => instance_norm(randn([2, 3, 1])), ShapeError, 'instance_norm', 'more than 1 spatial element', '[2, 3, 1]');
  throwsNaming(() => instance_norm(randn([2, 3, 4]), { use_input_stats: false }), StrideError, 'instance_norm', 'use_input_stats');
  throwsNaming(() => instance_norm(randn([2, 3, 4]), { running_mean: zeros([2]), running_var: ones([2]) }), ShapeError, 'instance_norm', 'running_mean', '[3]', '[2]');
  throwsNaming(() => instance_norm(randn([2, 3, 4]), { running_var: ones([3]) }), StrideError, 'instance_norm', 'together');
});

test('local_response_norm rejects bad input', () => {
  throwsNaming(() => local_response_norm(randn([2, 3]), 2), ShapeError, 'local_response_norm', '[2, 3]', 'at least 3 dims');
  throwsNaming(() => local_response_norm(randn([2, 3, 4]), 0), StrideError, 'local_response_norm', 'size', '0');
  throwsNaming(() => local_response_norm(randn([2, 3, 4]), 2.5), StrideError, 'local_response_norm', '2.5');
  throwsNaming(() => local_response_norm(randn([2, 3, 4]).int(), 2), DTypeError, 'local_response_norm', 'int32');
});
