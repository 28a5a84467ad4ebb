/**
 * The native backend: the shared primitive suite (test/backend_primitives.ts: every primitive
 * against the reference backend on random inputs), then what only it has: its ISA and thread
 * report, one thread against several, oneDNN's geometry errors, and signals during oneDNN calls.
 * Skipped, with a notice, without the addon.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadAddon, type Addon } from '../src/backend/native/addon.js';
import { nativeBackend, nativeStatus, setThreads, setWinograd } from '../src/backend/native/index.js';
import { add, addcmul, autograd, batch_norm, conv2d, referenceBackend, max_pool2d, max_pool2d_with_indices, mul, narrow, no_grad, permute, randn, relu, sum, tensor, type Backend, type Tensor, type TypedArray } from '../src/index.js';
import type { Conv2dParams } from '../src/backend/backend.js';
import { assertMatch, elements, harness, literal, primitiveSuite } from './backend_primitives.js';

const status = nativeStatus();
if (!status.available) console.log(`NOTICE: native backend unavailable: ${status.reason}; skipping test/native.test.ts`);
const skip = status.available ? false : `native backend unavailable: ${status.reason}`;
const native = nativeBackend as Backend<TypedArray>;

describe('native backend', { skip }, () => {
  test('reports its ISA and thread count', () => {
    assert.equal(status.available, true);
    assert.match(status.isa!, /^(sse41|avx|avx2|avx2_vnni|avx512_\w+|baseline)$/);
    assert.ok(status.threads! >= 1);
  });

  primitiveSuite(native, {
    seed: 42,
    // Strided loops check every view's reach; conv and pool operands are contiguous blocks.
    pastBuffer: (primitive, lo, hi, size) =>
      new RegExp(literal(primitive === 'binary'
        ? `stride native binary: a view reaches elements [${lo}, ${hi}] of a buffer of ${size}`
        : `stride native ${primitive}: a convolution operand needs elements [${lo}, ${hi + 1}) of a buffer of ${size}`)),
  });

  const { view, like, compare, rand } = harness(native, 43);

  test('a bad geometry is a JS error naming the primitive and shapes, not a crash', () => {
    const x = view([1, 2, 5, 5]);
    const w = view([3, 2, 3, 3]);
    const y = view([1, 3, 3, 3]);
    assert.throws(() => native.conv2d(x, w, null, y, { stride: [1, 1], padding: [0, 0], dilation: [0, 1], groups: 1 }),
      /stride native conv2d: convolution forward of x \[1, 2, 5, 5\] and w \[3, 2, 3, 3\].*oneDNN invalid arguments/);
    // Groups that do not divide the channels are refused before oneDNN sees them.
    assert.throws(() => native.conv2d(x, w, null, y, { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 3 }), /inconsistent geometry/);
    // A bias gradient whose buffer is shorter than its 3 channels (past the view the JS side made).
    const p: Conv2dParams = { stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1 };
    const gb = { ...view([3]), buffer: new Float32Array(2) };
    assert.throws(() => native.conv2dWeightGrad(x, y, view([3, 2, 3, 3]), p, gb),
      /stride native conv2dWeightGrad: a convolution's bias gradient needs elements \[0, 3\) of a buffer of 2/);
  });

  test('one thread gives the same results; bad thread counts are refused', () => {
    const threads = status.threads!;
    const x = view([8, 16, 20, 20]);
    const w = view([16, 16, 3, 3]);
    const p: Conv2dParams = { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 };
    const many = view([8, 16, 20, 20]);
    native.conv2d(x, w, null, many, p);
    try {
      setThreads(1);
      assert.equal(nativeStatus().threads, 1);
      compare('conv on one thread', [view([8, 16, 20, 20])], (b, [o], v) => b.conv2d(v(x), v(w), null, o!, p));
      const one = like(many);
      native.conv2d(x, w, null, one, p);
      assertMatch(elements(one), elements(many), 'one thread vs many', 'scaled');
    } finally {
      setThreads(threads);
    }
    assert.throws(() => setThreads(0), /positive integer/);
    assert.throws(() => setThreads(1.5), /positive integer/);
  });

  test('convolution weights kept in oneDNN\'s layout follow every change to their buffer', () => {
    // 32 -> 32 channels: oneDNN wants blocked weights, so the addon keeps its copy between calls
    // and must remake it whenever the buffer's contents change, whatever changed them.
    const on = { backend: 'native' } as const;
    const x = randn([2, 32, 9, 9], on);
    const p = { padding: 1 };
    const close = (w: Tensor, what: string) =>
      assertMatch(Array.from(conv2d(x, w, null, p).dataSync()), Array.from(conv2d(x.to('reference'), w.to('reference'), null, p).dataSync()), what, 'scaled');
    no_grad(() => {
      const w = randn([32, 32, 3, 3], on);
      close(w, 'first call');
      close(w, 'kept copy');
      w.mul_(-2);
      close(w, 'after an in-place op');
      const data = w.dataSync().map((v, i) => (i % 7 === 0 ? 0 : v + 1));
      native.write(w.buffer as TypedArray, 'float32', 0, data);
      close(w, 'after write()');
      // A freed buffer is recycled for the next tensor of its size, with other contents.
      w.dispose();
      const w2 = tensor(Array.from({ length: 32 * 32 * 9 }, (_, i) => Math.sin(i)), on).reshape([32, 32, 3, 3]);
      close(w2, 'a recycled buffer');
      // Weights taken from another offset of the same buffer are other weights.
      const both = randn([2, 32, 32, 3, 3], on);
      close(both.select(0, 1), 'the second half of a buffer');
      close(both.select(0, 0), 'the first half');
    });
  });

  test('Winograd convolutions agree with the reference; setWinograd(false) turns them off', () => {
    // 64 -> 64 channels, 3x3, a 28x28 plane: 49 output tiles of 4x4, where Winograd pays.
    const x = view([1, 64, 28, 28]);
    const w = view([64, 64, 3, 3], { values: () => (rand() - 0.5) / 12 });
    const gy = view([1, 64, 28, 28]);
    const p: Conv2dParams = { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 };
    const both = (winograd: boolean) => {
      setWinograd(winograd);
      try {
        compare(`forward, Winograd ${winograd}`, [like(gy)], (b, [o], v) => b.conv2d(v(x), v(w), null, o!, p));
        compare(`input gradient, Winograd ${winograd}`, [like(x)], (b, [o], v) => b.conv2dInputGrad(v(gy), v(w), o!, p));
        const y = like(gy);
        native.conv2d(x, w, null, y, p);
        const gx = like(x);
        native.conv2dInputGrad(gy, w, gx, p);
        return [elements(y), elements(gx)];
      } finally {
        setWinograd(true);
      }
    };
    const [y, gx] = both(true);
    const [yDirect, gxDirect] = both(false);
    // Another algorithm rounds differently: equal results would mean the switch did nothing.
    assert.ok(y!.some((v, i) => v !== yDirect![i]), 'the forward results do not depend on setWinograd');
    assert.ok(gx!.some((v, i) => v !== gxDirect![i]), 'the input gradients do not depend on setWinograd');
  });

  test("stride's Winograd kernels agree with the reference: weight gradients, and 16-channel forwards and input gradients", () => {
    // 3x3, stride 1, channels in sixteens and >= 32 output tiles of 4x4: odd planes whose last
    // tiles hang over the edge, no padding, and padding 2 (an output larger than the input); 16,
    // 32 and 64 input channels take the three shapes of register blocking. The forward and input
    // gradient are stride's where a side has 16 channels (oneDNN's Winograd takes 32 and more).
    const cases = [[8, 32, 48, 7, 9, 1], [8, 64, 32, 10, 11, 0], [8, 32, 32, 6, 5, 2], [8, 16, 16, 8, 8, 1], [8, 16, 32, 7, 9, 1], [8, 16, 16, 10, 11, 0], [8, 32, 16, 6, 5, 2]] as const;
    for (const [N, C, O, H, W, pad] of cases) {
      const p: Conv2dParams = { stride: [1, 1], padding: [pad, pad], dilation: [1, 1], groups: 1 };
      const x = view([N, C, H, W]), gy = view([N, O, H + 2 * pad - 2, W + 2 * pad - 2]);
      const w = view([O, C, 3, 3], { values: () => (rand() - 0.5) / 6 }), bias = view([O]);
      const what = `x [${N}, ${C}, ${H}, ${W}], ${O} out, padding ${pad}`;
      const results = () => [
        compare(`weight gradient of ${what}`, [view([O, C, 3, 3])], (b, [o], v) => b.conv2dWeightGrad(v(x), v(gy), o!, p))[0]!,
        compare(`weight and bias gradients of ${what}`, [view([O, C, 3, 3]), view([O])], (b, [o, gb], v) => b.conv2dWeightGrad(v(x), v(gy), o!, p, gb!))[0]!,
        compare(`forward of ${what}`, [like(gy)], (b, [o], v) => b.conv2d(v(x), v(w), v(bias), o!, p))[0]!,
        compare(`input gradient of ${what}`, [like(x)], (b, [o], v) => b.conv2dInputGrad(v(gy), v(w), o!, p))[0]!,
      ].map(elements);
      const winograd = results();
      // Direct convolutions round otherwise: equal results would mean Winograd was not used.
      setWinograd(false);
      try {
        const direct = results();
        const ours = Math.min(C, O) < 32 ? ['weight gradient', 'forward', 'input gradient'] : ['weight gradient'];
        for (const [i, name] of ['weight gradient', '', 'forward', 'input gradient'].entries()) {
          if (ours.includes(name)) assert.ok(winograd[i]!.some((v, j) => v !== direct[i]![j]), `the ${name} of ${what} does not depend on setWinograd`);
        }
      } finally {
        setWinograd(true);
      }
    }
    // In training the convolutions' inputs and output gradients arrive in oneDNN's blocked layout.
    const on = { backend: 'native' } as const;
    for (const C of [16, 32]) {
      const x = randn([8, 16, 12, 12], on), r = randn([8, C, 12, 12], on);
      const ws = [randn([C, 16, 3, 3], on), randn([C, C, 3, 3], on), randn([C, C, 3, 3], on)].map((w) => w.mul(0.1));
      const grads = (b: 'native' | 'reference') => {
        const [xb, w1, w2, w3] = [x, ...ws].map((t) => t.detach().to(b).requires_grad_());
        const h = relu(conv2d(relu(conv2d(xb!, w1!, null, { padding: 1 })), w2!, null, { padding: 1 }));
        const y = conv2d(h, w3!, null, { padding: 1 });
        sum(mul(y, r.to(b))).backward();
        return [y, xb!.grad!, w1!.grad!, w2!.grad!, w3!.grad!].map((t) => Array.from(t.dataSync()));
      };
      const [mine, theirs] = [grads('native'), grads('reference')];
      ['the output', 'the gradient of x', 'the gradient of w1', 'the gradient of w2', 'the gradient of w3'].forEach((name, i) =>
        assertMatch(mine[i]!, theirs[i]!, `${name} of a ${C}-channel chain through blocked activations`, 'scaled'));
    }
  });

  test("a first layer's 16 output channels (few input channels: stride's direct kernel) are left blocked for the ops after it", () => {
    const on = { backend: 'native' } as const;
    const x = randn([4, 3, 9, 10], on), w = randn([16, 3, 3, 3], on), b = randn([16], on), r = randn([4, 16, 9, 10], on);
    no_grad(() => {
      const y = conv2d(x, w, b, { padding: 1 });
      const e = Array.from(conv2d(x.to('reference'), w.to('reference'), b.to('reference'), { padding: 1 }).dataSync());
      // nChw16c: [n][c / 16][h][w][c % 16], one block of 16 channels.
      const raw = y.buffer as Float32Array;
      assertMatch(e.map((_, i) => raw[(Math.floor(i / (16 * 90)) * 90 + (i % 90)) * 16 + (Math.floor(i / 90) % 16)]!), e, 'the blocked buffer', 'scaled');
      assertMatch(Array.from(y.dataSync()), e, 'read back', 'scaled');
    });
    const grads = (be: 'native' | 'reference') => {
      const [xb, wb, bb] = [x, w, b].map((t) => t.detach().to(be).requires_grad_());
      const h = relu(conv2d(xb!, wb!, bb!, { padding: 1 }));
      sum(mul(add(h, mul(h, h)), r.to(be))).backward();
      return [h, wb!.grad!, bb!.grad!].map((t) => Array.from(t.dataSync()));
    };
    const [mine, theirs] = [grads('native'), grads('reference')];
    ['the activation', 'the weight gradient', 'the bias gradient'].forEach((name, i) => assertMatch(mine[i]!, theirs[i]!, name, 'scaled'));
  });

  test('the batch-lane input gradient (6 input channels, batches of 32 and 37) reads a blocked gy as it is', () => {
    // 6 -> 16 and 6 -> 32 channels: oneDNN's forward leaves y blocked, ReLU's gradient stays
    // blocked, and the input gradient (stride's kernel vectorised over the batch) takes that gy
    // without a reorder, 16 channels of 16 images at a time (37: a partial group of images).
    const on = { backend: 'native' } as const;
    for (const [N, O] of [[32, 16], [37, 32]] as const) {
      const x = randn([N, 6, 8, 9], on), w = randn([O, 6, 3, 3], on), r = randn([N, O, 8, 9], on);
      const grads = (be: 'native' | 'reference') => {
        const [xb, wb] = [x, w].map((t) => t.detach().to(be).requires_grad_());
        sum(mul(relu(conv2d(xb!, wb!, null, { padding: 1 })), r.to(be))).backward();
        return [xb!.grad!, wb!.grad!].map((t) => Array.from(t.dataSync()));
      };
      const [mine, theirs] = [grads('native'), grads('reference')];
      assertMatch(mine[0]!, theirs[0]!, `batch ${N}, ${O} channels: the input gradient`, 'scaled');
      assertMatch(mine[1]!, theirs[1]!, `batch ${N}, ${O} channels: the weight gradient`, 'scaled');
    }
  });

  test('activations stay blocked from a convolution through elementwise ops and batch norm, and read back plain', () => {
    const on = { backend: 'native' } as const;
    const ref = (t: Tensor) => t.to('reference');
    const close = (a: Tensor, e: Tensor, what: string) => assertMatch(Array.from(a.dataSync()), Array.from(e.dataSync()), what, 'scaled');
    const p = { padding: 1 };
    const x = randn([2, 16, 6, 5], on);
    const w1 = randn([32, 16, 3, 3], on).mul(0.1);
    const w2 = randn([32, 32, 3, 3], on).mul(0.1);
    const mean = randn([32], on), variance = randn([32], on).abs().add(0.5), gamma = randn([32], on), beta = randn([32], on);
    no_grad(() => {
      const y = conv2d(x, w1, null, p);
      const yRef = conv2d(ref(x), ref(w1), null, p);
      // Before anything reads it, the buffer holds oneDNN's nChw16c: [n][c / 16][h][w][c % 16].
      const e = Array.from(yRef.dataSync());
      const blocked = (raw: Float32Array) => e.map((_, i) => {
        const [n, c, s] = [Math.floor(i / (32 * 30)), Math.floor(i / 30) % 32, i % 30];
        return raw[((n * 2 + (c >> 4)) * 30 + s) * 16 + (c & 15)]!;
      });
      assertMatch(blocked(y.buffer as Float32Array), e, 'the blocked buffer', 'scaled');
      // Batch norm (per-channel scale and shift), ReLU, a residual add and a second convolution
      // all run on blocked buffers; the result reads back in nchw order.
      const chain = (t: Tensor, conv: (t: Tensor) => Tensor, stats: Tensor[]) => {
        const h = relu(batch_norm(t, stats[0]!, stats[1]!, { weight: stats[2]!, bias: stats[3]! }));
        return add(conv(h), mul(h, 0.5));
      };
      const z = chain(y, (h) => conv2d(h, w2, null, p), [mean, variance, gamma, beta]);
      const zRef = chain(yRef, (h) => conv2d(h, ref(w2), null, p), [mean, variance, gamma, beta].map(ref));
      close(z, zRef, 'conv, batch norm, relu, conv and add');
      // What reads a part, another shape or another order of a blocked buffer gets nchw.
      const y2 = conv2d(x, w1, null, p);
      close(narrow(y2, 1, 8, 16), narrow(yRef, 1, 8, 16), 'a channel slice');
      close(sum(y2, [0, 1]), sum(yRef, [0, 1]), 'a reduction over the channels');
      // A reduction that keeps the channels (a bias gradient) reads the blocked buffer as it is,
      // which stays blocked: its raw bytes are not yet in nchw order afterwards.
      const y3 = conv2d(x, w1, null, p);
      for (const [f, what] of [[(t: Tensor) => sum(t, [0, 2, 3]), 'sum'], [(t: Tensor) => t.amax([0, 2, 3], true), 'max, keepdim'], [(t: Tensor) => sum(t, [2, 3]), 'sum per image']] as const) {
        close(f(y3), f(yRef), `a per-channel ${what}`);
      }
      assertMatch(blocked(y3.buffer as Float32Array), e, 'the buffer after the per-channel reductions', 'scaled');
      close(y3, yRef, 'the convolution read back after them');
      close(max_pool2d(conv2d(x, w1, null, p), 2), max_pool2d(yRef, 2), 'max pooling');
      close(permute(conv2d(x, w1, null, p), 0, 2, 3, 1).contiguous(), permute(yRef, 0, 2, 3, 1).contiguous(), 'a permuted copy');
      close(conv2d(x, w1, null, p).reshape([2, 32 * 30]), yRef.reshape([2, 32 * 30]), 'a reshape');
    });
    // Training: the gradients through conv, batch norm with batch statistics, ReLU and conv.
    const grads = (b: 'native' | 'reference') => {
      const [xb, w1b, w2b, gb, bb] = [x, w1, w2, gamma, beta].map((t) => t.detach().to(b).requires_grad_());
      const h = relu(batch_norm(conv2d(xb!, w1b!, null, p), null, null, { weight: gb!, bias: bb!, training: true }));
      sum(mul(conv2d(h, w2b!, null, p), h)).backward();
      return [xb!, w1b!, w2b!, gb!, bb!].map((t) => t.grad!);
    };
    const [native, reference] = [grads('native'), grads('reference')];
    ['x', 'w1', 'w2', 'gamma', 'beta'].forEach((name, i) => close(native[i]!, reference[i]!, `the gradient of ${name}`));
  });

  test('batch norm over blocked activations splits the batch over threads: statistics and gradients match the reference', () => {
    // 16 channels (one block: split by channel blocks, a single thread would do it all) and 48.
    const saved = nativeStatus().threads!;
    const close = (a: Tensor, e: Tensor, what: string) => assertMatch(Array.from(a.dataSync()), Array.from(e.dataSync()), what, 'scaled');
    try {
      for (const C of [16, 48]) {
        const x = randn([8, 16, 24, 24], { backend: 'native' }), w = randn([C, 16, 3, 3], { backend: 'native' }).mul(0.1);
        const gamma = randn([C], { backend: 'native' }), beta = randn([C], { backend: 'native' });
        const r = randn([8, C, 24, 24], { backend: 'native' });
        const run = (b: 'native' | 'reference') => {
          const [xb, wb, gb, bb] = [x, w, gamma, beta].map((t) => t.detach().to(b).requires_grad_());
          const y = batch_norm(conv2d(xb!, wb!, null, { padding: 1 }), null, null, { weight: gb!, bias: bb!, training: true });
          sum(mul(y, r.to(b))).backward();
          return [y, xb!.grad!, gb!.grad!, bb!.grad!];
        };
        const reference = run('reference');
        for (const threads of [1, 2]) {
          setThreads(threads);
          run('native').forEach((t, i) => close(t, reference[i]!, `${C} channels, ${threads} thread(s): ${['output', 'gx', 'gamma', 'beta'][i]}`));
        }
      }
    } finally {
      setThreads(saved);
    }
  });

  test('bias gradients taken with the weight gradient from a blocked gy match the reference, also when no window reaches the input', () => {
    const close = (a: Tensor, e: Tensor, what: string) => assertMatch(Array.from(a.dataSync()), Array.from(e.dataSync()), what, 'scaled');
    const on = { backend: 'native' } as const;
    // 16 output channels: the convolution's output, ReLU's and so gy are blocked (oneDNN's
    // diff_bias reads them so); then windows that all lie in the padding (oneDNN still runs).
    for (const [xs, ws, p] of [[[4, 8, 9, 9], [16, 8, 3, 3], { padding: 1 }], [[2, 3, 2, 2], [16, 3, 1, 1], { stride: 5, padding: 2 }]] as const) {
      const x = randn([...xs], on), w = randn([...ws], on), b = randn([16], on);
      const grads = (backend: 'native' | 'reference') => {
        const [xb, wb, bb] = [x, w, b].map((t) => t.detach().to(backend).requires_grad_());
        const y = relu(conv2d(xb!, wb!, bb!, p));
        sum(mul(y, y)).backward();
        return [wb!.grad!, bb!.grad!];
      };
      const [native, reference] = [grads('native'), grads('reference')];
      close(native[0]!, reference[0]!, `weight gradient, x ${xs.join('x')}`);
      close(native[1]!, reference[1]!, `bias gradient, x ${xs.join('x')}`);
    }
    // The primitive with a blocked gy (a 16-channel convolution's output) and every window in the
    // top padding (an output of 1x4): oneDNN is not called, the addon sums the blocked gy itself.
    const gy = conv2d(randn([2, 8, 1, 4], on), randn([16, 8, 1, 1], on));
    const x = randn([2, 3, 2, 4], on), p: Conv2dParams = { stride: [5, 1], padding: [1, 0], dilation: [1, 1], groups: 1 };
    const run = (b: Backend<unknown>, xv: Tensor, gyv: Tensor) => {
      const [gw, gb] = [randn([16, 3, 1, 1], { backend: xv.device }), randn([16], { backend: xv.device })];
      b.conv2dWeightGrad(xv, gyv, gw, p, gb);
      return [gw, gb];
    };
    // Native first: reading gy (to copy it) turns its buffer back to nchw.
    const mine = run(nativeBackend as Backend<unknown>, x, gy);
    const expected = run(referenceBackend, x.to('reference'), gy.to('reference'));
    mine.forEach((t, i) => close(t, expected[i]!, `every window in the padding, blocked gy: ${['weight', 'bias'][i]} gradient`));
  });

  test('reductions split the outermost dim over threads and fold the parts in thread order: sums, products, max and min (NaN kept) match the reference', () => {
    const saved = nativeStatus().threads!;
    const close = (a: Tensor, e: Tensor, what: string) => assertMatch(Array.from(a.dataSync()), Array.from(e.dataSync()), what, 'scaled');
    const on = { backend: 'native' } as const;
    // A bias gradient (the outermost dim reduced: every thread folds into all the accumulators),
    // a blocked one, rows reduced whole (the outermost dim kept: threads fill disjoint ones), and
    // a NaN that only the second thread's part holds.
    const gy = randn([64, 6, 28, 28], on), rows = randn([4, 70000], on).mul(1e-4).add(1), withNaN = randn([8, 3, 100, 100], on);
    (withNaN.buffer as Float32Array)[6 * 30000 + 12345] = NaN;
    const conv = (x: Tensor) => conv2d(x, tensor(Array.from({ length: 16 * 6 * 9 }, (_, i) => Math.sin(i)), { backend: x.device }).reshape([16, 6, 3, 3]));
    const cases: [string, (g: Tensor, r: Tensor, n: Tensor) => Tensor[]][] = [
      ['per-channel sums', (g) => [sum(g, [0, 2, 3]), sum(g, [0, 2, 3], true)]],
      ['a per-channel sum of a blocked activation', (g) => [sum(conv(narrow(g, 2, 0, 20)), [0, 2, 3])]],
      ['row sums and products', (_, r) => [sum(r, 1), r.prod(1), r.prod(0)]],
      ['max and min with a NaN in the second half', (_, __, n) => [n.amax([0, 2, 3]), n.amin([0, 2, 3]), n.amax(), n.amin([1, 2, 3])]],
    ];
    try {
      for (const [what, f] of cases) {
        const expected = no_grad(() => f(gy.to('reference'), rows.to('reference'), withNaN.to('reference')));
        for (const threads of [1, 2]) {
          setThreads(threads);
          no_grad(() => f(gy, rows, withNaN)).forEach((t, i) => close(t, expected[i]!, `${what}, ${threads} thread(s), result ${i}`));
        }
      }
    } finally {
      setThreads(saved);
    }
  });

  test('an elementwise op joins a blocked activation with per-channel operands as they are, blocks a whole plain operand varying by position, and runs plain with a part of one', () => {
    const on = { backend: 'native' } as const;
    const x = randn([2, 16, 5, 4], on), w = randn([32, 16, 3, 3], on).mul(0.1);
    no_grad(() => {
      // The raw buffer (copied before anything reads the tensor) in nchw order: the op ran plain
      // (a blocked one would hold nChw16c).
      const isPlain = (t: Tensor) => {
        const raw = Array.from((t.buffer as Float32Array).subarray(t.offset, t.offset + t.numel()));
        const values = Array.from(t.dataSync());
        return raw.every((v, i) => Object.is(v, values[i]));
      };
      const conv = (b: 'native' | 'reference' = 'native') => conv2d(x.to(b), w.to(b), null, { padding: 1 });
      const perChannel = randn([1, 32, 1, 1], on);
      assert.ok(!isPlain(add(conv(), perChannel)), 'a per-channel operand keeps the result blocked');
      // So do batch norm's x·scale + shift (addcmul, the mulAdd primitive) and batch norm itself.
      const scale = randn([1, 32, 1, 1], on);
      const affine = addcmul(perChannel, conv(), scale);
      assert.ok(!isPlain(affine), 'addcmul with per-channel operands keeps the result blocked');
      assertMatch(Array.from(affine.dataSync()), Array.from(addcmul(perChannel.to('reference'), conv('reference'), scale.to('reference')).dataSync()), 'addcmul', 'scaled');
      const gamma = randn([32], on), beta = randn([32], on);
      const normed = batch_norm(conv(), null, null, { training: true, weight: gamma, bias: beta });
      assert.ok(!isPlain(normed), 'batch norm keeps a blocked activation blocked');
      const normedRef = batch_norm(conv('reference'), null, null, { training: true, weight: gamma.to('reference'), bias: beta.to('reference') });
      assertMatch(Array.from(normed.dataSync()), Array.from(normedRef.dataSync()), 'batch norm', 'scaled');
      const full = randn([2, 32, 5, 4], on), fullRef = full.to('reference');
      const mixed = add(conv(), full);
      assert.ok(!isPlain(mixed) && !isPlain(full), 'a whole plain operand is blocked in place, and so is the result');
      assertMatch(Array.from(mixed.dataSync()), Array.from(add(conv('reference'), fullRef).dataSync()), 'the sum with it', 'scaled');
      assertMatch(Array.from(full.dataSync()), Array.from(fullRef.dataSync()), 'the operand read back', 'exact');
      const wide = randn([2, 33, 5, 4], on), part = narrow(wide, 1, 1, 32);
      const partial = add(conv(), part);
      assert.ok(isPlain(partial), 'a part of a buffer makes the op plain');
      assertMatch(Array.from(partial.dataSync()), Array.from(add(conv('reference'), part.to('reference')).dataSync()), 'the sum with a part', 'scaled');
    });
  });

  test('max pooling reads a blocked input as it is and leaves its output blocked; values, indices and gradients match the reference', () => {
    const on = { backend: 'native' } as const;
    const ref = (t: Tensor) => t.to('reference');
    const w = randn([32, 3, 3, 3], on), w2 = randn([16, 32, 1, 1], on);
    // A NaN in one input's corner reaches outputs of every channel through the conv: NaNs win
    // (and give the index), as in the reference.
    const values = Array.from(randn([2, 3, 11, 10]).dataSync());
    values[1 * 330 + 2 * 110] = NaN;
    const withNaN = tensor(values, on).reshape([2, 3, 11, 10]);
    const x = randn([2, 3, 11, 10], on);
    // Windows of 3 take the general loop; 2x2 at stride 2 (LeNet-5's) its own.
    const cases: [number, { stride?: number | [number, number]; padding?: number | [number, number]; dilation?: number; ceil_mode?: boolean }][] = [
      [3, { stride: 2, padding: 1 }], [3, { stride: 1, dilation: 2 }], [3, { stride: [2, 3], padding: [1, 0], ceil_mode: true }], [2, {}],
    ];
    for (const [k, opts] of cases) {
      const what = `${k} ${JSON.stringify(opts)}`;
      no_grad(() => {
        const pooled = max_pool2d_with_indices(conv2d(withNaN, w, null, { padding: 1 }), k, opts);
        const e = max_pool2d_with_indices(conv2d(ref(withNaN), ref(w), null, { padding: 1 }), k, opts);
        // Before anything reads it, the output buffer holds nChw16c: [n][c / 16][s][c % 16].
        const [, C, OH, OW] = e.output.shape as [number, number, number, number];
        const S = OH * OW, raw = pooled.output.buffer as Float32Array, expected = Array.from(e.output.dataSync());
        const blocked = expected.map((_, i) => {
          const [n, c, s] = [Math.floor(i / (C * S)), Math.floor(i / S) % C, i % S];
          return raw[((n * (C / 16) + (c >> 4)) * S + s) * 16 + (c & 15)]!;
        });
        assert.ok(blocked.some(Number.isNaN), `${what}: the NaN reached the outputs`);
        assertMatch(blocked, expected, `${what}: the blocked output`, 'scaled');
        assert.deepEqual(Array.from(pooled.indices.dataSync()), Array.from(e.indices.dataSync()), `${what}: indices`);
      });
      // It feeds a convolution blocked, and the gradient goes back through the indices.
      const grad = (b: 'native' | 'reference') => {
        const xb = x.detach().to(b).requires_grad_();
        sum(conv2d(max_pool2d(conv2d(xb, w.to(b), null, { padding: 1 }), k, opts), w2.to(b))).backward();
        return xb.grad!;
      };
      assertMatch(Array.from(grad('native').dataSync()), Array.from(grad('reference').dataSync()), `${what}: the input gradient`, 'scaled');
      // The pooling's own gradient is blocked, [n][c / 16][s][c % 16] before anything reads it,
      // whether its output's gradient comes blocked (a 1x1 convolution's input gradient) or
      // plain (through a reshape): the pooling read a blocked input.
      const heads = {
        'a convolution': (t: Tensor) => sum(conv2d(t, w2.to(t.device as 'native' | 'reference'), null)),
        'a reshape': (t: Tensor) => sum(mul(t.reshape([2, -1]), t.reshape([2, -1]).detach())),
      };
      for (const [name, head] of Object.entries(heads)) {
        const poolGrad = (b: 'native' | 'reference') => {
          const y = conv2d(x.to(b), w.to(b), null, { padding: 1 }).requires_grad_();
          return autograd.grad(head(max_pool2d(y, k, opts)), [y])[0]!;
        };
        const g = poolGrad('native'), e = Array.from(poolGrad('reference').dataSync());
        const [, C, H, W] = g.shape as [number, number, number, number];
        const S = H * W, raw = g.buffer as Float32Array;
        const blocked = e.map((_, i) => {
          const [n, c, s] = [Math.floor(i / (C * S)), Math.floor(i / S) % C, i % S];
          return raw[((n * (C / 16) + (c >> 4)) * S + s) * 16 + (c & 15)]!;
        });
        assertMatch(blocked, e, `${what}: the blocked gradient of the pooling, after ${name}`, 'scaled');
      }
    }
  });

  test('blocked-layout calls with a bad geometry are JS errors naming what came', () => {
    const addon = (loadAddon() as { addon: Addon }).addon;
    // relayout: the buffer must hold exactly N x C x S elements with C in sixteens.
    assert.throws(() => addon.relayout(new Float32Array(100), Float64Array.of(1, 16, 7, 1)),
      /relayout: expected 1 x 16 x 7 elements with channels in sixteens, got a buffer of 100/);
    assert.throws(() => addon.relayout(new Float32Array(12 * 5), Float64Array.of(1, 12, 5, 0)), /channels in sixteens/);
    assert.throws(() => addon.relayout(new Int32Array(16), Float64Array.of(1, 16, 1, 1)), /a Float32Array or a Uint8Array/);
    // A round trip restores the plain order.
    const b = Float32Array.from({ length: 2 * 32 * 3 }, (_, i) => i);
    addon.relayout(b, Float64Array.of(2, 32, 3, 1));
    assert.equal(b[1], 3, 'blocked: channel 1 of position 0 follows channel 0');
    addon.relayout(b, Float64Array.of(2, 32, 3, 0));
    assert.deepEqual(Array.from(b), Array.from({ length: 2 * 32 * 3 }, (_, i) => i));
    // A convolution asked to treat 8 channels as blocked refuses.
    const x = new Float32Array(8 * 25), w = new Float32Array(16 * 8 * 9), y = new Float32Array(16 * 9);
    const g = Float64Array.of(1, 8, 5, 5, 16, 8, 3, 3, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, -1);
    assert.throws(() => addon.conv2d(x, w, y, g), /operand 0 of a convolution forward .* cannot be blocked: it has no channels in sixteens/);
  });

  test("max pooling's gradient: a blocked geometry needs channels in sixteens, a blocked gy a blocked gx; past the buffer is a JS error", () => {
    const { addon } = loadAddon() as { addon: Addon };
    const gy = new Float32Array(16 * 4), indices = new Int32Array(16 * 4), gx = new Float32Array(16 * 16);
    // [planes, C, inPlane, outPlane, gy offset, indices offset, gx offset, gx blocked, gy blocked]
    const g = (C: number, gxBlocked: number, gyBlocked: number, gxOffset = 0) => Float64Array.of(16, C, 16, 4, 0, 0, gxOffset, gxBlocked, gyBlocked);
    assert.throws(() => addon.maxPool2dGrad(gy, indices, gx, g(8, 1, 0)), /a blocked max pooling gradient needs channels in sixteens, got 8/);
    assert.throws(() => addon.maxPool2dGrad(gy, indices, gx, g(16, 0, 1)), /a blocked gy needs a blocked gx/);
    assert.throws(() => addon.maxPool2dGrad(gy, indices, gx, g(16, 1, 0, 1)), /gx/);
    // Plain gy into a blocked gx: plane p's gradient lands in lane p.
    gy.forEach((_, i) => (gy[i] = i));
    indices.forEach((_, i) => (indices[i] = (i % 4) * 5));
    assert.equal(addon.maxPool2dGrad(gy, indices, gx, g(16, 1, 0)), true);
    assert.deepEqual([gx[0], gx[5 * 16 + 3], gx[15 * 16 + 2], gx[1]], [0, 3 * 4 + 1, 2 * 4 + 3, 4]);
  });

  test('a convolution bias past its buffer, missing, or given to a gradient is a JS error', () => {
    const { addon } = loadAddon() as { addon: Addon };
    const x = new Float32Array(8 * 25), w = new Float32Array(16 * 8 * 9), y = new Float32Array(16 * 9);
    // [geometry..., offsets 0 0 0, weights 0 0, plain 0 0 0, bias offset]
    const g = (biasOffset: number) => Float64Array.of(1, 8, 5, 5, 16, 8, 3, 3, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, biasOffset);
    assert.throws(() => addon.conv2d(x, w, y, g(4), new Float32Array(16)), /a convolution bias needs elements \[4, 20\) of a buffer of 16/);
    assert.throws(() => addon.conv2d(x, w, y, g(0)), /argument 4 must be a typed array/);
    const inputGrad = addon.conv2dInputGrad as (...args: unknown[]) => boolean;
    assert.throws(() => inputGrad(y, w, x, g(0), new Float32Array(16)), /a bias was given to a convolution backward data/);
    // In bounds: every output is the bias (the input is zero).
    const bias = Float32Array.from({ length: 20 }, (_, i) => i);
    addon.conv2d(x, w, y, g(4), bias);
    assert.deepEqual(Array.from(y.filter((_, i) => i % 9 === 0)), Array.from({ length: 16 }, (_, o) => o + 4));
  });

  test('signals during oneDNN calls (a sampling profiler) do not corrupt memory', () => {
    // oneDNN 2.6's threaded gemm corrupted the heap within a few thousand of these under node --cpu-prof.
    const dir = mkdtempSync(join(tmpdir(), 'stride-native-'));
    const script = `
      const { nativeBackend } = await import(${JSON.stringify(new URL('../src/backend/native/index.ts', import.meta.url).href)});
      const view = (shape, strides, size) => ({ buffer: new Float32Array(size).fill(1), dtype: 'float32', shape, strides, offset: 0 });
      for (let i = 0; i < 3000; i++) {
        const out = view([1, 64, 120], [7680, 120, 1], 7680);
        nativeBackend.matmul(view([1, 64, 400], [25600, 400, 1], 25600), view([1, 400, 120], [400, 1, 400], 48000), out);
        if (out.buffer[7679] !== 400) throw new Error('wrong product ' + out.buffer[7679]);
      }
      console.log('ok');`;
    try {
      const r = spawnSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--import', 'tsx', '--input-type=module', '-e', script], {
        encoding: 'utf8',
        env: { ...process.env, STRIDE_THREADS: '2' },
      });
      assert.equal(r.status, 0, `the child failed (${r.signal ?? r.status}): ${r.stderr}`);
      assert.equal(r.stdout.trim(), 'ok');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
