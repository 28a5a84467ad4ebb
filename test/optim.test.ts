import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { adam_step_, memory, set_memory_debug, sgd_step_, tensor, tidy, Tensor, type AdamStepOptions, type SgdStepOptions } from '../src/index.js';
import { Adagrad, Adam, AdamW, LAMB, RMSprop, SGD, lr_scheduler, type Optimizer } from '../src/optim/index.js';
import { assertClose, fromFixture, type FixtureTensor } from './helpers.js';

interface OptimFixture {
  optimizers: {
    x: FixtureTensor; y: FixtureTensor; w: FixtureTensor; b: FixtureTensor;
    cases: { optimizer: string; options: Record<string, unknown>; trajectory: FixtureTensor[][] }[];
  };
  schedulers: { scheduler: string; options: Record<string, unknown>; lrs: number[]; momentum: number[]; metrics: number[] | null }[];
}

const fx = JSON.parse(readFileSync(new URL('./fixtures/optim.json', import.meta.url), 'utf8')) as OptimFixture;
const OPTIMIZERS: Record<string, new (params: never, opts: never) => Optimizer<{ lr: number }>> = {
  SGD: SGD as never, Adagrad: Adagrad as never, RMSprop: RMSprop as never, Adam: Adam as never, AdamW: AdamW as never, LAMB: LAMB as never,
};

for (const c of fx.optimizers.cases) {
  test(`${c.optimizer} ${JSON.stringify(c.options)}: 10 steps follow PyTorch's trajectory`, () => {
    const { x, y } = { x: fromFixture(fx.optimizers.x), y: fromFixture(fx.optimizers.y) };
    const w = fromFixture(fx.optimizers.w).requires_grad_();
    const b = fromFixture(fx.optimizers.b).requires_grad_();
    const opt = new OPTIMIZERS[c.optimizer]!([w, b] as never, c.options as never);
    c.trajectory.forEach(([we, be], step) => {
      opt.zero_grad();
      x.matmul(w.t()).add(b).tanh().sub(y).pow(2).mean().backward();
      opt.step();
      assertClose(w, we!, `step ${step + 1} weight`);
      assertClose(b, be!, `step ${step + 1} bias`);
    });
  });
}

test("Adam's bias correction: the first step moves each weight by lr·sign(g) (1-β₁ and 1-β₂ cancel)", () => {
  const p = tensor([1, -2, 3]).requires_grad_();
  const opt = new Adam([p], { lr: 0.1 });
  p.mul(tensor([0.5, -3, 1e-3])).sum().backward();
  opt.step();
  // m̂ = g, v̂ = g², so the step is lr·g/(|g|+eps): without the correction it would be ~0.1·(0.1/0.0316).
  const expected = [1 - 0.1, -2 + 0.1, 3 - 0.1 * (1e-3 / (1e-3 + 1e-8))];
  (p.tolist() as number[]).forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-6, `element ${i}: ${v} vs ${expected[i]}`));
});

function makeScheduler(name: string, o: Record<string, unknown>, opt: Optimizer<{ lr: number }>) {
  const S = lr_scheduler;
  switch (name) {
    case 'StepLR': return new S.StepLR(opt, o['step_size'] as number, o['gamma'] as number);
    case 'MultiStepLR': return new S.MultiStepLR(opt, o['milestones'] as number[], o['gamma'] as number);
    case 'ExponentialLR': return new S.ExponentialLR(opt, o['gamma'] as number);
    case 'CosineAnnealingLR': return new S.CosineAnnealingLR(opt, o['T_max'] as number, o['eta_min'] as number);
    case 'LinearLR': return new S.LinearLR(opt, o['start_factor'] as number, o['end_factor'] as number, o['total_iters'] as number);
    case 'SequentialLR':
      return o['kind'] === 'linear_then_cosine'
        ? new S.SequentialLR(opt, [new S.LinearLR(opt, 0.1, 1, 5), new S.CosineAnnealingLR(opt, 25)], [5])
        : new S.SequentialLR(opt, [new S.LinearLR(opt, 0.5, 0.5, 100), new S.ExponentialLR(opt, 0.8)], [10]);
    case 'OneCycleLR': {
      const { max_lr, optimizer: _o, ...rest } = o;
      return new S.OneCycleLR(opt, max_lr as number, rest);
    }
    case 'ReduceLROnPlateau': return new S.ReduceLROnPlateau(opt, o);
  }
  throw new Error(`no scheduler ${name}`);
}

for (const c of fx.schedulers) {
  test(`${c.scheduler} ${JSON.stringify(c.options)}: 30 epochs of learning rates (and momentum) match PyTorch`, () => {
    const p = tensor([0]).requires_grad_();
    const opt = c.options['optimizer'] === 'Adam' ? new Adam([p], { lr: 0.1 }) : new SGD([p], { lr: 0.1, momentum: 0.9 });
    const sched = makeScheduler(c.scheduler, c.options, opt as Optimizer<{ lr: number }>);
    c.lrs.forEach((lr, e) => {
      const g = opt.param_groups[0] as unknown as { lr: number; momentum?: number; betas?: number[] };
      assert.ok(Math.abs(g.lr - lr) <= 1e-12 + 1e-9 * Math.abs(lr), `epoch ${e}: lr ${g.lr}, PyTorch ${lr}`);
      const m = g.betas ? g.betas[0]! : g.momentum!;
      assert.ok(Math.abs(m - c.momentum[e]!) <= 1e-12, `epoch ${e}: momentum ${m}, PyTorch ${c.momentum[e]}`);
      if (sched instanceof lr_scheduler.ReduceLROnPlateau) sched.step(c.metrics![e]!);
      else sched.step();
    });
  });
}

test('optimizer state_dict round trip resumes identically', () => {
  const run = (resumeAt: number | null) => {
    const w = tensor([0.5, -1.5, 2]).requires_grad_();
    let opt = new Adam([w], { lr: 0.05, amsgrad: true });
    for (let s = 0; s < 6; s++) {
      if (s === resumeAt) {
        const saved = JSON.parse(JSON.stringify(opt.state_dict()));
        opt = new Adam([w], { lr: 0.05, amsgrad: true });
        opt.load_state_dict(saved);
      }
      opt.zero_grad();
      w.pow(3).sum().backward();
      opt.step();
    }
    return w.tolist();
  };
  assert.deepEqual(run(3), run(null));
});

test('optimizer misuse gets clear errors', () => {
  const w = tensor([1]).requires_grad_();
  assert.throws(() => new SGD([], { lr: 0.1 }), /empty parameter list/);
  assert.throws(() => new SGD([w], { lr: -1 }), /invalid learning rate: -1/);
  assert.throws(() => new SGD([w], { lr: 0.1, nesterov: true }), /Nesterov/);
  assert.throws(() => new Adam([w], { betas: [1, 0.9] }), /beta parameter at index 0: 1/);
  assert.throws(() => new SGD([{ params: [w] }, { params: [w] }], { lr: 0.1 }), /more than one parameter group/);
  assert.throws(() => new SGD([w.mul(2)], { lr: 0.1 }), /non-leaf/);
  assert.throws(() => new lr_scheduler.OneCycleLR(new SGD([w], { lr: 0.1, momentum: 0.9 }), 1, {}), /total_steps/);
});

test('per-group options: each group steps with its own learning rate', () => {
  const a = tensor([1]).requires_grad_();
  const b = tensor([1]).requires_grad_();
  const opt = new SGD([{ params: [a] }, { params: [b], lr: 1 }], { lr: 0.1 });
  a.add(b).sum().backward();
  opt.step();
  assert.deepEqual([a.item(), b.item()].map((v) => Number(v.toFixed(6))), [0.9, 0]);
});

test('optimizer steps free their temporaries: after 3 steps only the state buffers are new, the weights unchanged; load_state_dict and dispose free state', () => {
  // The weights after 3 steps on Σ w³ with the code before the fix, whose steps each left 3 (SGD) to 21 (LAMB) tensors behind.
  const cases: [string, object, number[]][] = [
    ['SGD', { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.01 }, [0.10745563, -9.8863621, -3.1633542, 0.12968747]],
    ['Adam', { lr: 0.1, amsgrad: true, weight_decay: 0.01 }, [0.21314533, -1.3002127, 1.701486, -0.010385014]],
    ['AdamW', { lr: 0.1 }, [0.21212593, -1.29693, 1.6958339, -0.010367177]],
    ['RMSprop', { lr: 0.01, momentum: 0.5, centered: true }, [0.21363989, -1.363529, 1.6705368, 0.016470950]],
    ['Adagrad', { lr: 0.1, weight_decay: 0.1 }, [0.30744454, -1.2434841, 1.7800157, 0.092286088]],
    ['LAMB', { lr: 0.1, weight_decay: 0.01 }, [0.16673613, -1.348375, 1.6433382, -0.045595676]],
  ];
  set_memory_debug(true);
  try {
    for (const [name, options, expected] of cases) {
      const before = memory().liveTensors;
      const w = tensor([[0.5, -1], [2, 0.25]], { requires_grad: true });
      const opt = new OPTIMIZERS[name]!([w] as never, options as never);
      for (let i = 0; i < 3; i++) {
        opt.zero_grad();
        tidy(() => w.mul(w).mul(w).sum().backward());
        opt.step();
      }
      opt.zero_grad();
      const buffers = [...opt.state.values()].flatMap((s) => Object.values(s)).filter((v) => v instanceof Tensor).length;
      assert.equal(memory().liveTensors - before, 1 + buffers, `${name}: the weight and its ${buffers} state buffers`);
      assertClose(w, { shape: [2, 2], data: expected }, name);
      // Loading a state frees the buffers it replaces; dispose() frees the rest.
      opt.load_state_dict(opt.state_dict());
      assert.equal(memory().liveTensors - before, 1 + buffers, `${name}: load_state_dict replaced the buffers`);
      opt.dispose();
      assert.equal(memory().liveTensors - before, 1, `${name}: dispose() left the weight only`);
      assert.equal(opt.state.size, 0);
      w.dispose();
    }
  } finally {
    set_memory_debug(false);
  }
});

test('sgd_step_ on hand-computed values: plain, momentum (first step and later), weight decay, Nesterov, maximize', () => {
  const run = (opts: SgdStepOptions, buf: number[] | null, first = false): [number[], number[] | null] => {
    const p = tensor([1, -2]), g = tensor([0.5, 1]);
    const b = buf && tensor(buf);
    sgd_step_(p, g, b, opts, first);
    return [Array.from(p.dataSync()), b && Array.from(b.dataSync())];
  };
  // p - lr·g
  assert.deepEqual(run({ lr: 0.25 }, null), [[0.875, -2.25], null]);
  // buf = μ·buf + g = [1.5, 2]; p - lr·buf
  assert.deepEqual(run({ lr: 0.25, momentum: 0.5 }, [2, 2]), [[0.625, -2.5], [1.5, 2]]);
  // The first step: buf = g.
  assert.deepEqual(run({ lr: 0.25, momentum: 0.5 }, [2, 2], true), [[0.875, -2.25], [0.5, 1]]);
  // d = g + λp = [1, 0]; buf = μ·buf + (1-τ)·d = [1 + 0.5, 1]
  assert.deepEqual(run({ lr: 0.25, momentum: 0.5, dampening: 0.5, weight_decay: 0.5 }, [2, 2]), [[0.625, -2.25], [1.5, 1]]);
  // Nesterov: buf = [1.5, 2], d = g + μ·buf = [1.25, 2]
  assert.deepEqual(run({ lr: 0.25, momentum: 0.5, nesterov: true }, [2, 2]), [[0.6875, -2.5], [1.5, 2]]);
  // maximize climbs: p + lr·g
  assert.deepEqual(run({ lr: 0.25, maximize: true }, null), [[1.125, -1.75], null]);
});

test('sgd_step_ refuses mismatched operands, shared memory, a buffer without momentum and integer tensors, saying which', () => {
  const p = tensor([1, 2]);
  assert.throws(() => sgd_step_(p, tensor([1, 2, 3]), null, { lr: 0.1 }), /sgd_step_: the gradient has shape \[3\], the parameter \[2\]/);
  assert.throws(() => sgd_step_(p, tensor([1, 2], { dtype: 'float64' }), null, { lr: 0.1 }), /sgd_step_: the gradient is float64, the parameter float32/);
  assert.throws(() => sgd_step_(p, tensor([1, 2]), tensor([[1, 2]]), { lr: 0.1, momentum: 0.9 }), /the momentum buffer has shape \[1, 2\], the parameter \[2\]/);
  assert.throws(() => sgd_step_(tensor([1, 2], { dtype: 'int32' }), tensor([1, 2], { dtype: 'int32' }), null, { lr: 0.1 }), /sgd_step_: the parameter: expected a floating point tensor, got int32/);
  assert.throws(() => sgd_step_(p, p, null, { lr: 0.1 }), /the parameter and the gradient share memory/);
  assert.throws(() => sgd_step_(p, tensor([1, 2]), tensor([0, 0]), { lr: 0.1 }), /a momentum buffer was given without a momentum/);
  assert.throws(() => sgd_step_(p, tensor([1, 2]), null, { lr: 0.1, momentum: 0.9 }), /momentum 0.9 needs a momentum buffer/);
  const w = tensor([1, 2], { requires_grad: true });
  assert.throws(() => sgd_step_(w, tensor([1, 2]), null, { lr: 0.1 }), /sgd_step_: a tensor that requires grad \(a leaf\) cannot be modified in place/);
  // Nothing was written by the refused calls.
  assert.deepEqual(Array.from(p.dataSync()), [1, 2]);
});

test('adam_step_ on hand-computed values: the first step moves by lr·sign(g); AdamW decays first; AMSGrad keeps the larger v', () => {
  const run = (opts: AdamStepOptions, step: number, m0: number, v0: number, vmax0: number | null): number[] => {
    const p = tensor([1]), g = tensor([0.5]), m = tensor([m0]), v = tensor([v0]), vmax = vmax0 === null ? null : tensor([vmax0]);
    adam_step_(p, g, m, v, vmax, step, opts);
    return [p, m, v, ...(vmax ? [vmax] : [])].map((t) => t.dataSync()[0]!);
  };
  const f = Math.fround;
  // Step 1 from zero moments (β 0.9, 0.75): m = 0.05, v = 0.0625, m̂ = 0.5, v̂ = 0.25: p -= lr·0.5/(0.5 + eps).
  const [p1, m1, v1] = run({ lr: 0.25, betas: [0.9, 0.75], eps: 0 }, 1, 0, 0, null);
  assert.equal(m1, f(f(0.5 * f(0.1)) + 0));
  assert.equal(v1, f(f(0.25) * f(0.25) + 0));
  assert.ok(Math.abs(p1! - 0.75) < 1e-6, `p after one step: ${p1}`);
  // AdamW: p·(1 - lr·λ) = 0.5 first (lr 0.25, λ 2), then the same move: 0.25.
  const [pw] = run({ lr: 0.25, betas: [0.9, 0.75], eps: 0, weight_decay: 2, decoupled_weight_decay: true }, 1, 0, 0, null);
  assert.ok(Math.abs(pw! - 0.25) < 1e-6, `AdamW's p: ${pw}`);
  // AMSGrad at step 2 (β 0.5, 0.5): v = 0.125 stays below vmax = 4, which divides instead.
  const [pa, , va, xa] = run({ lr: 0.25, betas: [0.5, 0.5], eps: 0 }, 2, 0, 0, 4);
  assert.equal(va, 0.125);
  assert.equal(xa, 4);
  // m = 0.25, m̂ = 0.25/0.75; v̂max = 4/0.75: p -= 0.25·(1/3)/√(16/3).
  assert.ok(Math.abs(pa! - (1 - 0.25 * (1 / 3) / Math.sqrt(16 / 3))) < 1e-6, `AMSGrad's p: ${pa}`);
});

test('adam_step_ refuses a bad step count, mismatched moments and shared memory, saying which', () => {
  const p = tensor([1, 2]), g = tensor([1, 1]), m = tensor([0, 0]), v = tensor([0, 0]);
  const opts = { lr: 0.1, betas: [0.9, 0.999] as const, eps: 1e-8 };
  assert.throws(() => adam_step_(p, g, m, v, null, 0, opts), /adam_step_: the step count must be an integer >= 1, got 0/);
  assert.throws(() => adam_step_(p, g, tensor([0, 0, 0]), v, null, 1, opts), /adam_step_: the exp_avg has shape \[3\], the parameter \[2\]/);
  assert.throws(() => adam_step_(p, g, m, tensor([0, 0], { dtype: 'float64' }), null, 1, opts), /adam_step_: the exp_avg_sq is float64, the parameter float32/);
  assert.throws(() => adam_step_(p, g, m, m, null, 1, opts), /the exp_avg and the exp_avg_sq share memory/);
  assert.throws(() => adam_step_(p, g, m, v, v, 1, opts), /the exp_avg_sq and the max_exp_avg_sq share memory/);
  assert.deepEqual(Array.from(p.dataSync()), [1, 2]);
  assert.deepEqual(Array.from(m.dataSync()), [0, 0]);
});
