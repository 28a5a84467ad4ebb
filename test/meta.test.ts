import assert from 'node:assert/strict';
import { test } from 'node:test';
import { conv2d, default_generator, get_default_backend, max_pool2d, randn, with_default_backend, zeros } from '../src/index.js';
import { create_model } from '../src/models/index.js';
import { Linear } from '../src/nn/index.js';

test('meta tensors follow shapes through ops and autograd, and read as zeros', () => {
  const { y, w } = with_default_backend('meta', () => {
    const x = zeros([2, 3, 16, 16]);
    const w = zeros([8, 3, 3, 3]).requires_grad_();
    return { y: max_pool2d(conv2d(x, w, null, { padding: 1, stride: 2 }).relu(), 2), w };
  });
  assert.equal(y.device, 'meta');
  assert.deepEqual([...y.shape], [2, 8, 4, 4]);
  assert.deepEqual(Array.from(y.dataSync()), new Array(2 * 8 * 4 * 4).fill(0));
  y.sum().backward();
  assert.deepEqual([...w.grad!.shape], [8, 3, 3, 3]);
  assert.equal(w.grad!.device, 'meta');
  // Shape errors are still raised: the shape rules run on every backend.
  assert.throws(() => with_default_backend('meta', () => conv2d(zeros([1, 4, 8, 8]), zeros([8, 3, 3, 3]))), /conv2d/);
});

test('building on meta draws no random numbers and summary follows the shapes', () => {
  const defaultBackend = get_default_backend();
  const before = default_generator.get_state();
  const m = with_default_backend('meta', () => create_model('vgg16'));
  assert.deepEqual(default_generator.get_state(), before, 'no weight was initialised');
  const s = m.summary([3, 224, 224]);
  assert.equal(s.total_params, 138_357_544);
  assert.equal(s.mult_adds, 15_470_264_320);
  assert.deepEqual([...s.rows.at(-1)!.output_shape], [1000]);
  const real = new Linear(4, 2);
  assert.equal(real.weight.device, defaultBackend, 'the default backend is restored afterwards');
  assert.notDeepEqual(Array.from(randn([3]).dataSync()), [0, 0, 0]);
});
