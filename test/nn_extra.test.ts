/** Value tests for the stride-only layers (no PyTorch counterpart) and scheduler state round trips. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Generator, gradcheck, no_grad, tensor, rrelu, type Tensor } from '../src/index.js';
import { Maxout, RReLU } from '../src/nn/index.js';
import { SGD, lr_scheduler } from '../src/optim/index.js';

test("Maxout computes the course's max(w1·x + b1, w2·x + b2) per unit", () => {
  const m = new Maxout(2, 1, 2);
  no_grad(() => {
    m.linear.weight.copy_(tensor([[1, 2], [-1, 3]]));
    m.linear.bias!.copy_(tensor([0.5, -4]));
  });
  // x = (1, 1): pieces 3.5 and -2 → 3.5; x = (-2, 3): pieces 4.5 and 7 → 7.
  assert.deepEqual(m.call(tensor([[1, 1], [-2, 3]])).tolist(), [[3.5], [7]]);
  const x = tensor([[0.3, -0.7], [1.1, 0.2], [-0.4, 0.9]], { dtype: 'float64', requires_grad: true });
  const m64 = new Maxout(2, 3, 3);
  no_grad(() => {
    m64.linear.weight.copy_(tensor(Array.from({ length: 18 }, (_, i) => Math.sin(i + 1)), { shape: [9, 2] }));
  });
  const w = m64.linear.weight.detach().double().requires_grad_();
  const b = m64.linear.bias!.detach().double().requires_grad_();
  const f = (x: Tensor, w: Tensor, b: Tensor) => x.matmul(w.t()).add(b).unflatten(-1, [3, 3]).amax(-1);
  assert.ok(gradcheck(f, [x, w, b]).ok);
});

test('RReLU: random slopes in [lower, upper] for negatives while training, their mean in eval, gradient = slope', () => {
  const x = tensor([-2, -1, 0.5, -3, 4, -0.25], { requires_grad: true });
  const y = rrelu(x, 0.1, 0.3, true, { generator: new Generator(7) });
  const yv = y.tolist() as number[];
  (x.tolist() as number[]).forEach((v, i) => {
    if (v >= 0) assert.equal(yv[i], v);
    else {
      const slope = yv[i]! / v;
      assert.ok(slope >= 0.1 && slope <= 0.3, `slope ${slope} at ${i}`);
    }
  });
  y.sum().backward();
  const g = x.grad!.tolist() as number[];
  (x.tolist() as number[]).forEach((v, i) => assert.ok(Math.abs(g[i]! - (v >= 0 ? 1 : yv[i]! / v)) < 1e-6));
  const again = rrelu(x.detach(), 0.1, 0.3, true, { generator: new Generator(7) });
  assert.deepEqual(again.tolist(), yv, 'the same generator state gives the same slopes');
  const m = new RReLU(0.1, 0.3).eval();
  assert.deepEqual((m.call(tensor([-1, 2])).tolist() as number[]).map((v) => Number(v.toFixed(6))), [-0.2, 2]);
});

test('every scheduler resumes from its state_dict with the same learning rates', () => {
  const make = (kind: string) => {
    const opt = new SGD([tensor([1]).requires_grad_()], { lr: 0.1, momentum: 0.9 });
    const S = lr_scheduler;
    const s =
      kind === 'step' ? new S.StepLR(opt, 3, 0.5)
      : kind === 'multistep' ? new S.MultiStepLR(opt, [2, 5], 0.3)
      : kind === 'exp' ? new S.ExponentialLR(opt, 0.9)
      : kind === 'cosine' ? new S.CosineAnnealingLR(opt, 6, 0.01)
      : kind === 'linear' ? new S.LinearLR(opt, 0.2, 1, 4)
      : kind === 'onecycle' ? new S.OneCycleLR(opt, 1, { total_steps: 12 })
      : kind === 'sequential' ? new S.SequentialLR(opt, [new S.LinearLR(opt, 0.5, 1, 3), new S.ExponentialLR(opt, 0.8)], [3])
      : new S.ReduceLROnPlateau(opt, { patience: 1 });
    return { opt, s };
  };
  for (const kind of ['step', 'multistep', 'exp', 'cosine', 'linear', 'onecycle', 'sequential', 'plateau']) {
    const metric = (e: number) => [1, 0.9, 0.95, 0.97, 0.99, 0.99, 1, 1, 1, 1, 1, 1][e]!;
    const stepOnce = (s: { step(m?: number): void }, e: number) => s.step(metric(e));
    const full = make(kind);
    const lrs: number[] = [];
    for (let e = 0; e < 10; e++) {
      stepOnce(full.s as never, e);
      lrs.push(full.opt.param_groups[0]!.lr);
    }
    const first = make(kind);
    for (let e = 0; e < 4; e++) stepOnce(first.s as never, e);
    const saved = JSON.parse(JSON.stringify({ sched: first.s.state_dict(), opt: first.opt.state_dict() }));
    const second = make(kind);
    second.opt.load_state_dict(saved.opt);
    second.s.load_state_dict(saved.sched);
    for (let e = 4; e < 10; e++) {
      stepOnce(second.s as never, e);
      assert.ok(Math.abs(second.opt.param_groups[0]!.lr - lrs[e]!) < 1e-12, `${kind}: epoch ${e} lr ${second.opt.param_groups[0]!.lr} vs ${lrs[e]}`);
    }
  }
});
