import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as st from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { defineOpWithExtras } from '../src/ops/define.js';
import { assertValues } from './helpers.js';
import { checkGrad, randn64 } from './gradcheck_util.js';

const leaf = (v: st.NestedArray, dtype: st.DType = 'float32') => st.tensor(v, { dtype, requires_grad: true });

// ---------------------------------------------------------------- the basics

test('f = (x + y) z at x = -2, y = 5, z = -4: df/dx = -4, df/dy = -4, df/dz = 3', () => {
  const x = leaf(-2);
  const y = leaf(5);
  const z = leaf(-4);
  const q = x.add(y);
  const f = q.mul(z);
  assert.equal(f.item(), -12);
  f.backward();
  assert.equal(x.grad!.item(), -4);
  assert.equal(y.grad!.item(), -4);
  assert.equal(z.grad!.item(), 3);
  assert.equal(q.grad, null, 'an intermediate keeps no .grad');
});

test('gradients accumulate over backward calls until zeroed', () => {
  const x = leaf([1, 2, 3]);
  x.mul(x).sum().backward();
  x.mul(3).sum().backward();
  assertValues(x.grad!, [5, 7, 9], '2x + 3');
  st.no_grad(() => x.grad!.zero_());
  x.sum().backward();
  assertValues(x.grad!, [1, 1, 1], 'after zero_');
});

test('backward of a non-scalar needs a gradient of the output\'s shape', () => {
  const x = leaf([1, 2, 3]);
  const y = x.mul(x);
  assert.throws(() => y.backward(), (e: Error) => e instanceof st.AutogradError && /scalar/.test(e.message) && /\[3\]/.test(e.message));
  assert.throws(() => y.backward(st.ones(2)), (e: Error) => e instanceof st.ShapeError && /\[2\]/.test(e.message) && /\[3\]/.test(e.message));
  y.backward(st.tensor([1, 0.5, -1]));
  assertValues(x.grad!, [2, 2, -6], 'vector-Jacobian product');
  assert.throws(() => st.ones(2).sum().backward(), (e: Error) => e instanceof st.AutogradError && /does not require grad/.test(e.message));
});

test('a second backward through a freed graph throws; retain_graph keeps it', () => {
  const x = leaf([1, 2]);
  const y = x.exp().sum();
  y.backward();
  assert.throws(() => y.backward(), (e: Error) => e instanceof st.AutogradError && /second time/.test(e.message) && /retain_graph/.test(e.message));
  const z = x.exp().sum();
  x.grad = null;
  z.backward(undefined, { retain_graph: true });
  z.backward();
  assertValues(x.grad!, [2 * Math.E, 2 * Math.exp(2)].map(Math.fround), 'two backward passes with retain_graph');
});

test('backward releases saved tensors unless retain_graph', () => {
  const x = leaf([1, 2]);
  const y = x.exp(); // saves its output
  assert.equal(y.storage.refs, 2, 'the handle and the saved copy');
  y.sum().backward(undefined, { retain_graph: true });
  assert.equal(y.storage.refs, 2, 'retained');
  y.sum().backward();
  assert.equal(y.storage.refs, 1, 'released after the last backward');
});

// ---------------------------------------------------------------- grad mode

test('no_grad and enable_grad scopes nest and restore the mode, also on throw', () => {
  const x = leaf([1, 2]);
  const a = st.no_grad(() => x.mul(2));
  assert.equal(a.requires_grad, false);
  assert.equal(a.grad_fn, null);
  const b = st.no_grad(() => st.enable_grad(() => x.mul(2)));
  assert.equal(b.requires_grad, true);
  assert.equal(b.grad_fn!.name, 'mul');
  assert.throws(() => st.no_grad(() => { throw new Error('boom'); }), /boom/);
  assert.equal(st.is_grad_enabled(), true, 'restored after a throw');
  st.set_grad_enabled(false);
  assert.equal(x.add(1).requires_grad, false);
  st.set_grad_enabled(true);
  assert.equal(x.add(1).requires_grad, true);
});

test('no_grad with an async function keeps recording off until its promise settles', async () => {
  const x = leaf([1, 2]);
  const pending = st.no_grad(async () => {
    await new Promise((r) => setTimeout(r, 1));
    assert.equal(st.is_grad_enabled(), false, 'still off after an await');
    return x.mul(2);
  });
  const y = await pending;
  assert.equal(y.requires_grad, false);
  assert.equal(st.is_grad_enabled(), true, 'restored once settled');
  await assert.rejects(st.no_grad(async () => { throw new Error('late'); }), /late/);
  assert.equal(st.is_grad_enabled(), true, 'restored after a rejection');
  const z = await st.no_grad(() => st.enable_grad(async () => {
    await Promise.resolve();
    return x.mul(3);
  }));
  assert.equal(z.requires_grad, true, 'enable_grad inside an async no_grad records');
});

test('async grad-mode scopes that overlap and settle out of order restore the mode', async () => {
  const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // The first to open settles first: its saved "previous" mode must not be restored over the other's.
  await Promise.all([st.no_grad(async () => tick(2)), st.no_grad(async () => tick(6))]);
  assert.equal(st.is_grad_enabled(), true, 'after two overlapping no_grad scopes');
  const x = leaf([1]);
  assert.equal(x.mul(2).requires_grad, true, 'ops record again');
  await Promise.all([st.no_grad(async () => tick(6)), st.enable_grad(async () => tick(2))]);
  assert.equal(st.is_grad_enabled(), true, 'after overlapping no_grad and enable_grad');
  st.set_grad_enabled(false);
  await Promise.all([st.enable_grad(async () => tick(2)), st.enable_grad(async () => tick(6))]);
  assert.equal(st.is_grad_enabled(), false, 'the mode set outside the scopes is kept');
  st.set_grad_enabled(true);
});

// ---------------------------------------------------------------- graph structure

test('detach shares data, drops the graph, and makes a leaf', () => {
  const x = leaf([1, 2]);
  const y = x.mul(3);
  const d = y.detach();
  assert.equal(d.requires_grad, false);
  assert.equal(d.is_leaf, true);
  assert.equal(d.storage, y.storage);
  d.add_(1);
  assertValues(y, [4, 7], 'a write through the detached tensor is seen by y');
  const z = d.mul(x).sum();
  z.backward();
  assertValues(x.grad!, [4, 7], 'no gradient flows into y through d');
});

test('.grad lands on leaves only, and on non-leaves that retain_grad()', () => {
  const x = leaf([1, 2]);
  const h = x.mul(2);
  const k = x.mul(3).retain_grad();
  assert.equal(x.is_leaf, true);
  assert.equal(h.is_leaf, false);
  h.mul(k).sum().backward();
  assert.equal(h.grad, null);
  assertValues(k.grad!, [2, 4], 'dL/dk = h');
  assertValues(x.grad!, [12, 24], 'dL/dx = 2*3x + 3*2x');
  assert.throws(() => st.ones(2).retain_grad(), (e: Error) => e instanceof st.StrideError && /retain_grad/.test(e.message));
  assert.throws(() => { h.requires_grad = false; }, (e: Error) => e instanceof st.StrideError && /leaf/.test(e.message));
});

test('a first gradient only the engine holds becomes .grad without a copy; shared ones are copied, so no two .grad alias', () => {
  const reference = st.getBackend('reference');
  const copy = reference.copy;
  let copies = 0;
  reference.copy = (src, dst) => {
    copies++;
    copy(src, dst);
  };
  try {
    // linear's gradients are fresh contiguous tensors: taken over, no copy at all.
    const x = st.randn([4, 5], { requires_grad: true }), w = st.randn([3, 5], { requires_grad: true }), b = st.randn([3], { requires_grad: true });
    const r = st.tensor([[1, -1, 2], [0.5, 3, -2], [1, 1, 1], [-1, 0, 4]]);
    st.linear(x, w, b).mul(r).sum().backward();
    assert.equal(copies, 0, 'copies made by the backward');
    assertValues(b.grad!, [1.5, 3, 5], 'db = column sums of r');
    assertValues(w.grad!, st.matmul(r.t(), x.detach()).tolist(), 'dW = rᵀx', 5);
    // One gradient sent to two leaves (add's) is copied for each: changing one leaves the other.
    const [p, q] = [leaf([1, 2]), leaf([3, 4])];
    p.add(q).mul(st.tensor([2, 5])).sum().backward();
    st.no_grad(() => p.grad!.add_(100));
    assertValues(q.grad!, [2, 5], "q's gradient after p's changed");
    // The caller's gradient for a leaf is the caller's: copied.
    const g = st.tensor([7, 8]);
    const z = leaf([0, 0]);
    z.backward(g);
    st.no_grad(() => g.add_(1));
    assertValues(z.grad!, [7, 8], "z's gradient after the caller's tensor changed");
    // A retained gradient and a leaf's from the same node are not one buffer either.
    const y = leaf([1, 2]);
    const h = y.add(0).retain_grad();
    h.mul(st.tensor([3, 4])).sum().backward();
    st.no_grad(() => h.grad!.add_(10));
    assertValues(y.grad!, [3, 4], "y's gradient after the retained one changed");
    // add's gradient goes to the leaf x and to the node of v2 at once: x must not take it over,
    // or a later contribution to x (added in place) would change v2's pending gradient too.
    const [x2, y2] = [leaf([1, 2, 3]), leaf([0.5, -1, 2])];
    const v2 = y2.mul(2);
    const v3 = x2.add(v2);
    v2.mul(4).add(x2).sum().add(v3.mul(st.tensor([1, 2, 3])).sum()).backward();
    assertValues(x2.grad!, [2, 3, 4], 'dL/dx = 1 + [1, 2, 3]');
    assertValues(y2.grad!, [10, 12, 14], 'dL/dy = 8 + 2 [1, 2, 3]');
  } finally {
    reference.copy = copy;
  }
});

test('a value used twice receives both contributions: x*x and a diamond', () => {
  const x = leaf([3]);
  x.mul(x).backward(st.ones(1));
  assertValues(x.grad!, [6], 'd(x*x)/dx');
  const v = leaf([0.5], 'float64');
  const a = v.mul(2);
  a.exp().add(a.sin()).sum().backward();
  assertValues(v.grad!, [2 * (Math.exp(1) + Math.cos(1))], 'diamond: 2(exp(2v) + cos(2v))', 12);
  // A longer chain where a node feeds both a direct and an indirect path.
  const w = leaf([2], 'float64');
  const b = w.mul(w); // w^2
  const c = b.mul(b).add(b); // w^4 + w^2
  c.add(w).sum().backward(); // + w
  assertValues(w.grad!, [4 * 8 + 2 * 2 + 1], 'd(w^4 + w^2 + w)/dw');
});

test('requires_grad spreads to outputs; non-differentiable outputs do not record', () => {
  const x = leaf([1, 5, 3]);
  const c = st.zeros(3);
  assert.equal(x.add(c).requires_grad, true);
  assert.equal(c.add(c).requires_grad, false);
  const i = st.argmax(x);
  assert.equal(i.requires_grad, false);
  st.gather(x, 0, st.unsqueeze(i, 0)).sum().backward();
  assertValues(x.grad!, [0, 1, 0], 'gradient through a gather at the argmax');
});

// ---------------------------------------------------------------- in place

test('modifying a saved tensor in place after forward fails at backward', () => {
  const x = leaf([1, 2]);
  const w = st.tensor([3, 4]);
  const y = x.mul(w); // saves w
  w.add_(1);
  assert.throws(() => y.sum().backward(), (e: Error) =>
    e instanceof st.AutogradError && /^mul:/.test(e.message) && /\[2\]/.test(e.message) && /in-place/.test(e.message));
  const e = x.exp(); // saves its output
  st.no_grad(() => e.mul_(2));
  assert.throws(() => e.sum().backward(), (err: Error) => err instanceof st.AutogradError && /^exp:/.test(err.message));
  // Writing a tensor that was not saved is fine.
  const s = x.add(st.tensor([1, 1])); // add saves nothing
  const t = st.tensor([0, 0]);
  const u = s.add(t);
  t.fill_(5);
  u.sum().backward();
  assertValues(x.grad!, [1, 1], 'add saved nothing, so the write is harmless');
});

test('in-place ops on tensors that require grad raise unless under no_grad', () => {
  const x = leaf([1, 2]);
  for (const [name, f] of [
    ['add_', () => x.add_(1)], ['mul_', () => x.mul_(2)], ['fill_', () => x.fill_(0)],
    ['zero_', () => x.zero_()], ['copy_', () => x.copy_(st.ones(2))], ['clamp_', () => x.clamp_(0, 1)],
  ] as const) {
    assert.throws(f, (e: Error) => e instanceof st.AutogradError && e.message.startsWith(`${name}:`) && /leaf/.test(e.message), name);
  }
  assertValues(x, [1, 2], 'untouched');
  st.no_grad(() => x.sub_(1));
  assertValues(x, [0, 1], 'written under no_grad');
  const y = x.mul(2);
  assert.throws(() => y.add_(1), (e: Error) => e instanceof st.AutogradError && /requires grad/.test(e.message));
  // An operand that requires grad would lose its gradient in an in-place op, which records nothing.
  const buf = st.zeros(2);
  assert.throws(() => buf.add_(x), (e: Error) => e instanceof st.AutogradError && /^add_:/.test(e.message) && /operand requires grad/.test(e.message));
  assert.throws(() => buf.copy_(x), (e: Error) => e instanceof st.AutogradError && /^copy_:/.test(e.message));
  assert.throws(() => buf.sub_(x, 2), (e: Error) => e instanceof st.AutogradError && /^sub_:/.test(e.message));
  buf.add_(x.detach());
  st.no_grad(() => buf.add_(x));
  assertValues(buf, [0, 2], 'with detach() or under no_grad the write goes through');
});

// ---------------------------------------------------------------- autograd.grad and functional forms

test('autograd.grad returns gradients without touching .grad', () => {
  const x = leaf([1, 2]);
  const y = leaf([3, 4]);
  const out = x.mul(y).sum();
  const [gx, gy] = st.autograd.grad(out, [x, y]);
  assertValues(gx!, [3, 4], 'd/dx');
  assertValues(gy!, [1, 2], 'd/dy');
  assert.equal(x.grad, null);
  assert.equal(y.grad, null);
  const z = leaf([1]);
  assert.throws(() => st.autograd.grad(x.sum(), [z]), (e: Error) => e instanceof st.AutogradError && /not used/.test(e.message));
  assert.deepEqual(st.autograd.grad(x.sum(), [z], { allow_unused: true }), [null]);
  assert.throws(() => st.autograd.grad(x.sum(), [st.ones(1)]), (e: Error) => e instanceof st.AutogradError && /input 0/.test(e.message));
});

test('autograd.grad of several outputs with grad_outputs, and of an intermediate', () => {
  const x = leaf([1, 2]);
  const h = x.mul(x);
  const a = h.mul(2);
  const b = h.add(x);
  const [gx, gh] = st.autograd.grad([a, b], [x, h], { grad_outputs: [st.tensor([1, 1]), st.tensor([10, 100])] });
  // a = 2x^2, b = x^2 + x: d/dx = 4x + 10(2x + 1) | 100(2x + 1); d/dh = 2 + 10 | 2 + 100.
  assertValues(gx!, [4 + 30, 8 + 500], 'd/dx');
  assertValues(gh!, [12, 102], 'd/dh');
});

test('backward and autograd.grad handle graphs 20000 ops deep', () => {
  const x = leaf([1], 'float64');
  let y = x;
  for (let i = 0; i < 20000; i++) y = y.mul(1.0001);
  const want = 1.0001 ** 20000;
  const [g] = st.autograd.grad(y.sum(), x, { retain_graph: true });
  assert.ok(Math.abs(g!.item() - want) < 1e-9 * want, `autograd.grad: ${g!.item()} vs ${want}`);
  y.sum().backward();
  assert.ok(Math.abs(x.grad!.item() - want) < 1e-9 * want, `backward: ${x.grad!.item()} vs ${want}`);
});

test('create_graph makes the gradient differentiable (second derivatives)', () => {
  const x = leaf([2], 'float64');
  const y = x.pow(3).sum();
  const [g] = st.autograd.grad(y, x, { create_graph: true });
  assert.equal(g!.requires_grad, true);
  const [g2] = st.autograd.grad(g!.sum(), x);
  assertValues(g2!, [12], 'd2(x^3)/dx2 = 6x');
  const z = leaf([3], 'float64');
  z.mul(z).mul(z).sum().backward(undefined, { create_graph: true });
  assert.equal(z.grad!.requires_grad, true, '.grad of a create_graph backward has a graph');
});

test('grad and value_and_grad functional forms', () => {
  const f = (x: Tensor, y: Tensor) => x.mul(y).sum().add(x.pow(2).sum());
  const x = st.tensor([1, 2]);
  const y = st.tensor([3, 4]);
  assertValues(st.grad(f)(x, y) as Tensor, [5, 8], 'df/dx = y + 2x');
  const { value, grad } = st.value_and_grad(f, [0, 1])(x, y);
  assertValues(value, 16, 'value');
  assertValues((grad as Tensor[])[0]!, [5, 8], 'df/dx');
  assertValues((grad as Tensor[])[1]!, [1, 2], 'df/dy');
  assert.equal(value.requires_grad, false);
  assert.equal(x.grad, null);
  assert.equal(x.requires_grad, false, 'inputs are left as they were');
  assertValues(st.grad((a: Tensor, _b: Tensor) => a.sum(), 1)(x, st.tensor([Infinity, 1])) as Tensor, [0, 0], 'an unused argument gets zeros, even at inf');
  assert.throws(() => st.grad((a: Tensor) => a)(x), (e: Error) => e instanceof st.StrideError && /one-element/.test(e.message) && /\[2\]/.test(e.message));
  assert.throws(() => st.grad((a: number) => st.scalar_tensor(a))(1), (e: Error) => e instanceof st.StrideError && /argument 0/.test(e.message));
});

// ---------------------------------------------------------------- gradcheck itself

test('gradcheck reports the worst element of a deliberately wrong backward', () => {
  // d(x^2)/dx is 2x; this backward adds 1 at element [1, 2] only.
  const wrongAt = st.tensor([[0, 0, 0], [0, 0, 1]], { dtype: 'float64' });
  const badSquare = st.defineOp<[Tensor], object>({
    name: 'bad_square',
    shape: ([x]) => x.shape,
    forward: ([x]) => st.mul(x, x),
    save: 'inputs',
    backward: (gy, { inputs: [x] }) => [st.add(st.mul(gy, st.mul(x, 2)), wrongAt)],
  });
  const x = randn64([2, 3], 1, true);
  const r = st.gradcheck((t) => badSquare([t], {}), [x], { raise: false });
  assert.equal(r.ok, false);
  assert.deepEqual(r.worst!.index, [1, 2]);
  assert.equal(r.worst!.input, 0);
  assert.ok(Math.abs(r.worst!.analytic - r.worst!.numeric - 1) < 1e-6, `analytic ${r.worst!.analytic} vs numeric ${r.worst!.numeric}`);
  assert.throws(() => st.gradcheck((t) => badSquare([t], {}), [x]), (e: Error) =>
    e instanceof st.GradcheckError && /input 0/.test(e.message) && /\[1, 2\]/.test(e.message));
  assert.equal(st.gradcheck((t) => st.mul(t, t), [x]).ok, true, 'the right backward passes');
  assert.throws(() => st.gradcheck((t) => t.mul(2), [st.ones(2, { requires_grad: true })]), (e: Error) =>
    e instanceof st.DTypeError && /float64/.test(e.message));
});

test("an op's backward context gives what its save mode keeps, extras after them, and names what it did not save", () => {
  // forward returns x·y with x + y as an extra; backward checks what it is handed.
  const seen: Record<string, unknown> = {};
  const op = (save: 'inputs' | 'output' | 'both' | 'none', read: 'inputs' | 'out' | 'extras') => defineOpWithExtras<[Tensor, Tensor], { k: number }>({
    name: `probe_${save}`,
    shape: ([x]) => x.shape,
    forward: ([x, y]) => ({ out: st.mul(x, y), extras: [st.add(x, y)] }),
    save,
    backward: (gy, ctx) => {
      const v = ctx[read];
      seen[`${save}.${read}`] = Array.isArray(v) ? v.map((t) => (t as Tensor).tolist()) : (v as Tensor).tolist();
      assert.equal(ctx.attrs.k, 7);
      assert.deepEqual(ctx.shapes, [[2], [2]]);
      assert.deepEqual(ctx.needs, [true, false]);
      return [gy, null];
    },
  });
  const x = st.tensor([1, 2], { requires_grad: true }), y = st.tensor([3, 4]);
  const run = (save: 'inputs' | 'output' | 'both' | 'none', read: 'inputs' | 'out' | 'extras') => op(save, read)([x, y], { k: 7 }).out.sum().backward();
  run('inputs', 'inputs');
  run('output', 'out');
  run('both', 'out');
  run('both', 'extras');
  run('none', 'extras');
  assert.deepEqual(seen, {
    'inputs.inputs': [[1, 2], [3, 4]],
    'output.out': [3, 8],
    'both.out': [3, 8],
    'both.extras': [[4, 6]],
    'none.extras': [[4, 6]],
  });
  assert.throws(() => run('inputs', 'out'), (e: Error) => e instanceof st.AutogradError && /probe_inputs: backward reads its output, which the op does not save \(save: 'inputs'\)/.test(e.message));
  assert.throws(() => run('output', 'inputs'), (e: Error) => e instanceof st.AutogradError && /probe_output: backward reads its inputs, which the op does not save \(save: 'output'\)/.test(e.message));
});

// ---------------------------------------------------------------- double backward

/** x ↦ d(sum f(x))/dx, built with create_graph so that gradcheck can differentiate it again. */
function firstDerivative(f: (x: Tensor) => Tensor): (x: Tensor) => Tensor {
  return (x) => st.enable_grad(() => {
    const input = x.requires_grad ? x : x.detach().requires_grad_();
    return st.autograd.grad(f(input).sum(), input, { create_graph: true })[0]!;
  });
}

test('double backward: gradcheck of functions that call autograd.grad with create_graph', () => {
  const w = randn64([4, 2], 100);
  const fns: [string, (x: Tensor) => Tensor][] = [
    ['tanh', (x) => x.tanh()],
    ['sigmoid', (x) => x.sigmoid()],
    ['exp * sin', (x) => x.exp().mul(x.sin())],
    ['pow 3', (x) => x.pow(3)],
    ['div', (x) => st.div(1, x.mul(x).add(1))],
    ['log of positive', (x) => x.mul(x).add(0.5).log()],
    ['matmul', (x) => st.matmul(x, w).pow(2)],
    ['logsumexp', (x) => st.logsumexp(x, 1)],
    ['var', (x) => st.variance(x, 0)],
    ['prod', (x) => st.prod(x, 1)],
    ['softmax-like', (x) => st.exp(x).div(st.exp(x).sum(1, true)).pow(2)],
    ['slice and cat', (x) => st.cat([st.slice(x, 1, 1), x], 1).pow(3)],
    ['transpose and expand', (x) => x.t().unsqueeze(0).expand(2, 4, 3).pow(2).mul(x.t())],
  ];
  for (const [name, f] of fns) {
    assert.doesNotThrow(() => checkGrad(firstDerivative(f), [randn64([3, 4], 7, true)]), name);
  }
});
