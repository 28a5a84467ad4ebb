import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { StrideError, Tensor, memory, no_grad, set_memory_debug, tensor, zeros } from '../src/index.js';
import {
  Conv2d, Linear, Module, Parameter, ReLU, Sequential, clip_grad_norm_, clip_grad_value_, elastic_net_penalty, l1_penalty,
  l2_penalty, max_norm_,
} from '../src/nn/index.js';
import { assertClose, fromFixture, throwsNaming, type FixtureTensor } from './helpers.js';

/** clip_grad_norm_ / clip_grad_value_ applied by PyTorch 1.13 to fixed gradients (tools/fixtures/nn_utils_reference.py). */
const fixture = JSON.parse(readFileSync(new URL('./fixtures/nn_utils.json', import.meta.url), 'utf8')) as {
  clip: {
    grads: FixtureTensor[];
    norm: { norm_type: number | 'inf'; max_norm: number; total_norm: number; clipped: FixtureTensor[] }[];
    value: { clip_value: number; clipped: FixtureTensor[] };
  };
};

/** Parameters holding the fixture's gradients. */
function withFixtureGrads(): Parameter[] {
  return fixture.clip.grads.map((g) => {
    const p = new Parameter(zeros(g.shape));
    p.grad = fromFixture(g);
    return p;
  });
}

test('clip_grad_norm_ matches PyTorch: total norm and clipped gradients for norms 2, 1, 3 and inf', () => {
  for (const c of fixture.clip.norm) {
    const normType = c.norm_type === 'inf' ? Infinity : c.norm_type;
    const params = withFixtureGrads();
    const total = clip_grad_norm_(params, c.max_norm, normType);
    const what = `norm ${c.norm_type}, max_norm ${c.max_norm}`;
    assert.ok(Math.abs(total - c.total_norm) <= 1e-6 * c.total_norm, `${what}: total norm ${total}, PyTorch ${c.total_norm}`);
    params.forEach((p, i) => assertClose(p.grad!, c.clipped[i]!, `${what}: gradient ${i}`));
  }
});

test('clip_grad_norm_ scales to max_norm, leaves small gradients alone and skips parameters without one', () => {
  const a = new Parameter(zeros([2]));
  const b = new Parameter(zeros([1]));
  const unused = new Parameter(zeros([3]));
  a.grad = tensor([3, 0]);
  b.grad = tensor([4]);
  assert.equal(clip_grad_norm_([a, unused, b], 1), 5);
  assertClose(a.grad, { shape: [2], data: [0.6, 0] }, 'a.grad scaled by 1/5');
  assertClose(b.grad, { shape: [1], data: [0.8] }, 'b.grad scaled by 1/5');
  assert.equal(unused.grad, null);
  // Now below the limit: unchanged (PyTorch clamps the coefficient at 1).
  const total = clip_grad_norm_([a, b], 2);
  assert.ok(Math.abs(total - 1) < 1e-6);
  assertClose(a.grad, { shape: [2], data: [0.6, 0] }, 'a.grad unchanged');
  // A single tensor, and a model's parameters.
  const lone = new Parameter(zeros([2]));
  lone.grad = tensor([-6, 8]);
  assert.equal(clip_grad_norm_(lone, 5, 1), 14);
  assertClose(lone.grad, { shape: [2], data: [-30 / 14, 40 / 14] }, 'L1-clipped', { rtol: 1e-6 });
  // The inf-norm is the largest magnitude, negative values included.
  lone.grad = tensor([-3, 1]);
  assert.equal(clip_grad_norm_(lone, 1, Infinity), 3);
  assertClose(lone.grad, { shape: [2], data: [-1, 1 / 3] }, 'inf-clipped', { rtol: 1e-6 });
  // PyTorch divides by norm + 1e-6, which shows on tiny gradients.
  lone.grad = tensor([1e-5, 0]);
  clip_grad_norm_(lone, 1e-6);
  assertClose(lone.grad, { shape: [2], data: [1e-6 * (1e-5 / 1.1e-5), 0] }, 'tiny gradient', { rtol: 1e-5 });
  const model = new Linear(2, 2);
  assert.equal(clip_grad_norm_(model.parameters(), 1), 0, 'no gradients: norm 0 (as PyTorch)');
});

test('clip_grad_norm_ with error_if_nonfinite rejects nan and inf norms; without it, returns them', () => {
  for (const bad of [NaN, Infinity]) {
    const p = new Parameter(zeros([2]));
    p.grad = tensor([1, bad]);
    throwsNaming(() => clip_grad_norm_([p], 1, 2, true), StrideError, 'clip_grad_norm_', 'non-finite', String(bad));
    assert.deepEqual(p.grad.tolist(), [1, bad], 'the gradients are left as they were');
    const total = clip_grad_norm_([p], 1, Infinity);
    assert.ok(Object.is(total, bad), `norm inf of a gradient holding ${bad}: ${total}`);
  }
});

test('clip_grad_value_ matches PyTorch and rejects a negative clip value', () => {
  const params = withFixtureGrads();
  clip_grad_value_(params, fixture.clip.value.clip_value);
  params.forEach((p, i) => assertClose(p.grad!, fixture.clip.value.clipped[i]!, `gradient ${i}`));
  const p = new Parameter(zeros([3]));
  p.grad = tensor([-2, 0.5, 3]);
  clip_grad_value_(p, 1);
  assert.deepEqual(p.grad.tolist(), [-1, 0.5, 1]);
  throwsNaming(() => clip_grad_value_(p, -1), StrideError, 'clip_grad_value_', 'non-negative', '-1');
});

// ------------------------------------------------------------------ penalties

/** Linear(2, 2) → ReLU → Linear(2, 1) with hand-picked weights. */
function smallModel(): Sequential {
  const m = new Sequential(new Linear(2, 2), new ReLU(), new Linear(2, 1));
  const [l1, , l2] = [...m] as [Linear, ReLU, Linear];
  no_grad(() => {
    l1.weight.copy_(tensor([[1, -2], [0.5, 0]]));
    l1.bias!.copy_(tensor([3, -1]));
    l2.weight.copy_(tensor([[-1.5, 2]]));
    l2.bias!.copy_(tensor([0.25]));
  });
  return m;
}

test('l2_penalty, l1_penalty and elastic_net_penalty: weights only by default, biases when asked', () => {
  const m = smallModel();
  // Weights 1, -2, 0.5, 0, -1.5, 2; biases 3, -1, 0.25.
  assert.equal(l2_penalty(m).item(), 1 + 4 + 0.25 + 0 + 2.25 + 4);
  assert.equal(l2_penalty(m, { include_bias: true }).item(), 11.5 + 9 + 1 + 0.0625);
  assert.equal(l1_penalty(m).item(), 1 + 2 + 0.5 + 0 + 1.5 + 2);
  assert.equal(l1_penalty(m, { include_bias: true }).item(), 7 + 3 + 1 + 0.25);
  assert.equal(elastic_net_penalty(m, 0.5).item(), 0.5 * 7 + 11.5);
  assert.equal(elastic_net_penalty(m, 2, { include_bias: true }).item(), 2 * 11.25 + 21.5625);
  // An explicit list of tensors is taken as it is.
  const [l1] = [...m] as [Linear];
  assert.equal(l2_penalty([l1.bias!]).item(), 10);
  throwsNaming(() => l2_penalty([]), StrideError, 'l2_penalty', 'no parameters');
  throwsNaming(() => l1_penalty(new ReLU()), StrideError, 'l1_penalty', 'no parameters');
});

test('only parameters named bias (or *.bias) are excluded', () => {
  class Named extends Module {
    bias = new Parameter(tensor([1]));
    mybias = new Parameter(tensor([2]));
    bias_scale = new Parameter(tensor([3]));
    inner = new Linear(1, 1, false);
    forward(): void {}
  }
  const m = new Named();
  no_grad(() => m.inner.weight.fill_(4));
  assert.equal(l1_penalty(m).item(), 2 + 3 + 4);
  assert.equal(l1_penalty(m, { include_bias: true }).item(), 1 + 2 + 3 + 4);
});

test('penalty gradients: 2w for L2, sign(w) for L1, β·sign(w) + 2w for elastic net; biases get none', () => {
  const cases: [string, (m: Module) => Tensor, (w: number) => number][] = [
    ['l2', (m) => l2_penalty(m), (w) => 2 * w],
    ['l1', (m) => l1_penalty(m), (w) => Math.sign(w)],
    ['elastic net', (m) => elastic_net_penalty(m, 0.5), (w) => 0.5 * Math.sign(w) + 2 * w],
  ];
  for (const [name, penalty, grad] of cases) {
    const m = smallModel();
    penalty(m).backward();
    for (const [k, p] of m.named_parameters()) {
      if (k.endsWith('bias')) {
        assert.equal(p.grad, null, `${name}: ${k} has no gradient`);
        continue;
      }
      const expected = Array.from(p.dataSync(), grad);
      assertClose(p.grad!, { shape: p.shape, data: expected }, `${name}: gradient of ${k}`);
    }
  }
  // With biases included, they get the same gradient.
  const m = smallModel();
  l2_penalty(m, { include_bias: true }).backward();
  assert.deepEqual((m[0] as Linear).bias!.grad!.tolist(), [6, -2]);
});

// ------------------------------------------------------------------ max-norm constraint

test('max_norm_ rescales the rows whose norm exceeds the limit and leaves the others exactly', () => {
  // An awkward limit: float32 rounding of max/max would not be exactly 1.
  const limit = 11 / 7;
  const lin = new Linear(2, 3);
  const rows = [[3, 4], [0.6, 0.8], [-1, 1]];
  no_grad(() => lin.weight.copy_(tensor(rows)));
  const bias = lin.bias!.tolist();
  max_norm_(lin, limit);
  const w = lin.weight.tolist() as number[][];
  assertClose(tensor(w[0]!), { shape: [2], data: [(3 / 5) * limit, (4 / 5) * limit] }, 'row of norm 5');
  assert.deepEqual(w[1], rows[1]!.map(Math.fround), 'row of norm 1: untouched');
  assert.deepEqual(w[2], rows[2], 'row of norm √2 < 11/7: untouched');
  assert.deepEqual(lin.bias!.tolist(), bias, 'biases are not constrained by default');
  max_norm_(lin, 0.5, { include_bias: true });
  for (const v of lin.bias!.dataSync()) assert.ok(Math.abs(v) <= 0.5 + 1e-7, `bias ${v} within 0.5`);
});

test('max_norm_ constrains each output channel of a conv weight over all its incoming weights', () => {
  const conv = new Conv2d(2, 2, 1, { bias: false });
  // Channel 0: norm √(4 + 4) = 2√2; channel 1: norm 1.
  no_grad(() => conv.weight.copy_(tensor([[[[2]], [[2]]], [[[0.6]], [[-0.8]]]])));
  max_norm_([conv.weight], 2);
  assertClose(conv.weight, { shape: [2, 2, 1, 1], data: [Math.SQRT2, Math.SQRT2, 0.6, -0.8] }, 'conv weight');
  assert.equal(conv.weight.grad_fn, null, 'applied without autograd');
  throwsNaming(() => max_norm_(conv, 0), StrideError, 'max_norm_', 'positive', '0');
});

test('clip_grad_norm_ and max_norm_, called every step, leave no tensors behind', () => {
  const w = tensor([[3, 4], [0.3, 0.4]], { requires_grad: true });
  w.mul(w).sum().backward();
  set_memory_debug(true);
  try {
    const before = memory().liveTensors;
    // Before the fix: 5 tensors per clip_grad_norm_ and 10 per max_norm_ on this one weight.
    const norm = clip_grad_norm_([w], 5);
    const inf = clip_grad_norm_([w], 1, Infinity);
    max_norm_([w], 1);
    assert.equal(memory().liveTensors, before);
    assert.ok(Math.abs(norm - Math.sqrt(101)) < 1e-5, `norm ${norm}`);
    assert.ok(Math.abs(inf - 8 * 5 / (Math.sqrt(101) + 1e-6)) < 1e-5, `inf norm ${inf}`);
    assertClose(w.grad!, { shape: [2, 2], data: [0.75, 1, 0.075, 0.1] }, 'clipped gradient', { rtol: 1e-5 });
    assertClose(w, { shape: [2, 2], data: [0.6, 0.8, 0.3, 0.4] }, 'max-normed weight', { rtol: 1e-6 });
  } finally {
    set_memory_debug(false);
  }
});
