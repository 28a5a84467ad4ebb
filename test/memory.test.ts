import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  autograd, DisposedError, interpolate, keep, memory, ones, referenceBackend, registerBackend, set_memory_debug, stack, tensor, tidy,
  type Backend,
} from '../src/index.js';

/** The reference backend with counted allocations, posing as one whose memory is outside the JS heap. */
const counts = { alloc: 0, free: 0 };
const freedSizes: number[] = [];
registerBackend({
  ...referenceBackend,
  name: 'counting',
  externalMemory: true,
  alloc(dtype, size) {
    counts.alloc++;
    return referenceBackend.alloc(dtype, size);
  },
  free(b) {
    counts.free++;
    freedSizes.push((b as Float32Array).length);
    referenceBackend.free(b as Float32Array);
  },
} as Backend);

const live = () => counts.alloc - counts.free;
const on = { backend: 'counting' } as const;

test('tidy frees every intermediate and keeps what it returns', () => {
  const before = live();
  const x = tensor([1, 2, 3], on);
  const y = tidy(() => x.mul(2).add(1).exp().sum());
  assert.equal(live() - before, 2, 'x and the returned sum stay');
  assert.ok(Math.abs(y.item() - (Math.exp(3) + Math.exp(5) + Math.exp(7))) < 1e-2);
  x.dispose();
  y.dispose();
  assert.equal(live(), before);
});

test('tidy keeps tensors in returned arrays and objects, and keep() lets one escape', () => {
  const before = live();
  let kept!: ReturnType<typeof ones>;
  const r = tidy(() => {
    const a = ones([2], on);
    kept = keep(a.add(1));
    return { list: [a.mul(3)], nested: { b: a.neg() } };
  });
  assert.deepEqual(r.list[0]!.tolist(), [3, 3]);
  assert.deepEqual(r.nested.b.tolist(), [-1, -1]);
  assert.deepEqual(kept.tolist(), [2, 2]);
  for (const t of [r.list[0]!, r.nested.b, kept]) t.dispose();
  assert.equal(live(), before);
});

test('nested tidy: the inner result lands in the outer scope and is freed there', () => {
  const before = live();
  tidy(() => {
    const inner = tidy(() => ones([3], on).mul(2));
    assert.equal(inner.sum().item(), 6);
  });
  assert.equal(live(), before);
});

test('async tidy frees when its promise settles, and on rejection', async () => {
  const before = live();
  const v = await tidy(async () => {
    const a = ones([4], on);
    await new Promise((r) => setTimeout(r, 1));
    return a.add(1).sum();
  });
  assert.equal(v.item(), 8);
  v.dispose();
  await assert.rejects(
    tidy(async () => {
      ones([4], on);
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(live(), before);
});

test('a view keeps the data alive after its base is disposed', () => {
  const before = live();
  const base = tensor([[1, 2], [3, 4]], on);
  const col = tidy(() => base.t().select(0, 1));
  base.dispose();
  assert.throws(() => base.sum(), DisposedError);
  assert.deepEqual(col.tolist(), [2, 4]);
  col.dispose();
  assert.equal(live(), before);
});

test('the autograd graph keeps saved tensors alive through tidy; backward frees them', () => {
  const before = live();
  const w = tensor([0.5, -1, 2], { ...on, requires_grad: true });
  const loss = tidy(() => w.mul(w).exp().sum());
  loss.backward();
  assert.equal(w.grad!.numel(), 3);
  // d/dw exp(w²) = 2w exp(w²)
  const g = w.grad!.tolist() as number[];
  [0.5, -1, 2].forEach((v, i) => assert.ok(Math.abs(g[i]! - 2 * v * Math.exp(v * v)) < 1e-3 * Math.abs(g[i]!)));
  loss.dispose();
  w.grad!.dispose();
  w.dispose();
  assert.equal(live(), before, 'backward released the saved tensors, dispose released the rest');
});

test('autograd.grad inside tidy: the gradients are freed with the scope unless returned', () => {
  const before = live();
  const w = tensor([0.5, -1, 2], { ...on, requires_grad: true });
  const loss = tidy(() => w.mul(w).sum());
  const held = live();
  // Steps in a loop (a gradient penalty, a benchmark) must not pile up gradients.
  for (let i = 0; i < 5; i++) tidy(() => void autograd.grad(loss, w, { retain_graph: true }));
  assert.equal(live(), held);
  const g = tidy(() => autograd.grad(loss, w)[0]!);
  assert.deepEqual(g.tolist(), [1, -2, 4]);
  for (const t of [g, loss, w]) t.dispose();
  assert.equal(live(), before, 'the returned gradient stays until disposed; the graph is released');
});

test('`using` disposes at the end of the block', () => {
  const before = live();
  {
    using t = ones([5], on);
    assert.equal(t.sum().item(), 5);
  }
  // The sum above was not disposed: only the `using` tensor is freed.
  assert.equal(live() - before, 1);
});

test('dispose is idempotent and use after dispose names the shape', () => {
  const t = ones([2, 3], on);
  t.dispose();
  t.dispose();
  assert.throws(() => t.add(1), (e: Error) => e instanceof DisposedError && /\[2, 3\]/.test(e.message));
});

test('a handle collected by the GC without dispose() is freed by the finalizer and reported in debug mode', async (t) => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    t.skip('run node with --expose-gc to test finalizers');
    return;
  }
  set_memory_debug(true);
  try {
    (() => {
      ones([1237], on);
    })();
    assert.equal(memory().liveTensors, 1);
    for (let i = 0; i < 50 && !freedSizes.includes(1237); i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(freedSizes.includes(1237), 'the finalizer freed the buffer');
    assert.equal(memory().leaked.length, 1, 'the leak was reported');
    assert.match(memory().leaked[0]!, /memory\.test\.ts/, 'with the place it was created');
  } finally {
    set_memory_debug(false);
  }
});

test('the finalizer frees a handle that left every tidy scope undisposed: returned from the outermost, kept, or made outside any', async (t) => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    t.skip('run node with --expose-gc to test finalizers');
    return;
  }
  // A handle inside a scope is watched only once it leaves the last one (tidy or keep): each of
  // these escapes a different way and is then dropped.
  const sizes = [1301, 1302, 1303, 1304];
  (() => {
    tidy(() => ones([1301], on));
    tidy(() => tidy(() => [ones([1302], on)]));
    tidy(() => {
      keep(ones([1303], on));
    });
    ones([1304], on);
  })();
  for (let i = 0; i < 50 && !sizes.every((n) => freedSizes.includes(n)); i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  for (const n of sizes) assert.equal(freedSizes.filter((m) => m === n).length, 1, `the buffer of ${n} freed once`);
  // One disposed by its scope is freed then, and never again by a finalizer.
  tidy(() => {
    ones([1305], on);
  });
  assert.equal(freedSizes.filter((m) => m === 1305).length, 1);
  gc();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(freedSizes.filter((m) => m === 1305).length, 1);
});

test('to(backend) copies across backends and gradients flow back', () => {
  const x = tensor([1, 2, 3], { requires_grad: true, backend: 'reference' });
  const y = x.to('counting').mul(3).sum();
  assert.equal(y.device, 'counting');
  y.backward();
  assert.equal(x.grad!.device, 'reference');
  assert.deepEqual(x.grad!.tolist(), [3, 3, 3]);
});

test('stack and interpolate leave only their result: no view or index tensor waits for a GC', () => {
  for (const what of ['stack', 'nearest', 'bilinear'] as const) {
    const before = live();
    // Inputs disposed after the call: a view of them left undisposed would keep their buffers.
    const inputs = what === 'stack' ? [ones([2, 3], on), ones([2, 3], on)] : [ones([1, 2, 4, 4], on)];
    const y = what === 'stack' ? stack(inputs, 1) : interpolate(inputs[0]!, what === 'nearest' ? { scale_factor: 2 } : { size: [6, 5], mode: 'bilinear' });
    for (const t of inputs) t.dispose();
    assert.equal(live() - before, 1, `${what}: buffers left besides the result`);
    y.dispose();
  }
});
