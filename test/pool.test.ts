import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DTypeError, ShapeError, adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool2d, adaptive_max_pool2d_with_indices, autograd,
  avg_pool1d, avg_pool2d, enable_grad, max_pool1d, max_pool2d, max_pool2d_with_indices, tensor, type Tensor,
} from '../src/index.js';
import { checkGrad, randn64 } from './gradcheck_util.js';
import { assertValues, runFixtureFile, throwsNaming } from './helpers.js';
import { withLayouts } from './layouts.js';

// ---------------------------------------------------------------- PyTorch fixtures

const withIndices = ({ output, indices }: { output: Tensor; indices: Tensor }) => ({ out: output, extras: [indices] });

runFixtureFile(
  'pool.json',
  withLayouts({
    max_pool2d: ([x], a) => withIndices(max_pool2d_with_indices(x!, a.kernel_size, a)),
    max_pool1d: ([x], a) => max_pool1d(x!, a.kernel_size, a),
    avg_pool2d: ([x], a) => avg_pool2d(x!, a.kernel_size, a),
    avg_pool1d: ([x], a) => avg_pool1d(x!, a.kernel_size, a),
    adaptive_avg_pool2d: ([x], a) => adaptive_avg_pool2d(x!, a.output_size),
    adaptive_max_pool2d: ([x], a) => withIndices(adaptive_max_pool2d_with_indices(x!, a.output_size)),
    adaptive_avg_pool1d: ([x], a) => adaptive_avg_pool1d(x!, a.output_size),
  }),
);

// ---------------------------------------------------------------- worked examples

const image = tensor([[[[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]]]]);

test('3x3 pooling with stride 1 of the 5x5 image: average and max', () => {
  assertValues(avg_pool2d(image, 3, { stride: 1 }), [[[[1.7, 1.7, 1.7], [1.0, 1.2, 1.8], [1.1, 0.8, 1.3]]]], 'average', 1);
  assertValues(max_pool2d(image, 3, { stride: 1 }), [[[[3, 3, 3], [3, 3, 3], [3, 2, 3]]]], 'max');
});

test('max pool indices are flat positions within each plane, and the gradient goes there', () => {
  const x = tensor([[[[1, 5, 2, 0], [4, 3, 8, 1], [0, 9, 6, 7]]]]).requires_grad_();
  const { output, indices } = max_pool2d_with_indices(x, 2, { ceil_mode: true });
  assertValues(output, [[[[5, 8], [9, 7]]]], 'output');
  assertValues(indices, [[[[1, 6], [9, 11]]]], 'indices');
  assert.equal(indices.dtype, 'int32');
  output.backward(tensor([[[[1, 2], [3, 4]]]]));
  assertValues(x.grad!, [[[[0, 1, 0, 0], [0, 0, 2, 0], [0, 3, 0, 4]]]], 'gradient');
});

test('a NaN wins the max, and the last NaN in a window gives the index, as PyTorch', () => {
  const x = tensor([[[1, NaN, 3, NaN, 2, 5, 0]]]);
  const { output, indices } = max_pool2d_with_indices(x.unsqueeze(2), [1, 4], { stride: 2, ceil_mode: true });
  assertValues(output, [[[[NaN, NaN, 5]]]], 'output');
  assertValues(indices, [[[[3, 3, 5]]]], 'indices');
  assertValues(adaptive_max_pool2d_with_indices(x, [1, 1]).indices, [[[3]]], 'adaptive indices');
});

test('avg pool divisors: padding counted or not, and divisor_override', () => {
  const x = tensor([[[[1, 2], [3, 4]]]]);
  // One 2x2 window per corner of the 1-padded 2x2 input (stride 2): each holds one element.
  assertValues(avg_pool2d(x, 2, { padding: 1 }), [[[[0.25, 0.5], [0.75, 1]]]], 'count_include_pad');
  assertValues(avg_pool2d(x, 2, { padding: 1, count_include_pad: false }), [[[[1, 2], [3, 4]]]], 'without padding');
  assertValues(avg_pool2d(x, 2, { divisor_override: 2 }), [[[[5]]]], 'divisor_override');
});

test('adaptive pooling windows [floor(oI/O), ceil((o+1)I/O)) on 5 → 3', () => {
  const x = tensor([[[1, 2, 3, 4, 5]]]);
  // Windows [0, 2), [1, 4), [3, 5).
  assertValues(adaptive_avg_pool1d(x, 3), [[[1.5, 3, 4.5]]], 'adaptive_avg_pool1d');
  assertValues(adaptive_max_pool2d(x.unsqueeze(0), [null, 3]), [[[[2, 4, 5]]]], 'adaptive_max_pool2d');
});

// ---------------------------------------------------------------- gradients

test('gradcheck max pooling with padding, dilation, ceil_mode, and adaptive', () => {
  checkGrad((x) => max_pool2d(x!, 3, { stride: 2, padding: 1, ceil_mode: true }), [randn64([2, 2, 6, 7], 1, true)]);
  checkGrad((x) => max_pool2d(x!, [2, 3], { stride: 1, padding: [1, 1], dilation: [2, 1] }), [randn64([1, 2, 5, 5], 2, true)]);
  checkGrad((x) => max_pool1d(x!, 3, { stride: 2, ceil_mode: true }), [randn64([2, 8], 3, true)]);
  checkGrad((x) => adaptive_max_pool2d(x!, [3, 4]), [randn64([1, 2, 7, 5], 4, true)]);
});

test('gradcheck average pooling with padding, ceil_mode, count_include_pad, divisor_override, and adaptive', () => {
  checkGrad((x) => avg_pool2d(x!, 3, { stride: 2, padding: 1, ceil_mode: true }), [randn64([2, 2, 6, 7], 5, true)]);
  checkGrad((x) => avg_pool2d(x!, [3, 2], { stride: [2, 1], padding: 1, ceil_mode: true, count_include_pad: false }), [randn64([1, 2, 6, 5], 6, true)]);
  checkGrad((x) => avg_pool2d(x!, 2, { stride: 1, divisor_override: 3 }), [randn64([3, 4, 4], 7, true)]);
  checkGrad((x) => avg_pool1d(x!, 4, { stride: 3, padding: 2, count_include_pad: false }), [randn64([1, 2, 9], 8, true)]);
  checkGrad((x) => adaptive_avg_pool2d(x!, [4, null]), [randn64([1, 2, 7, 3], 9, true)]);
  checkGrad((x) => adaptive_avg_pool1d(x!, 4), [randn64([2, 2, 6], 10, true)]);
});

test('double backward: gradcheck of the gradients of max and average pooling', () => {
  const gradOf = (f: (x: Tensor) => Tensor) => (x: Tensor, gy: Tensor) =>
    enable_grad(() => {
      const xr = x.requires_grad ? x : x.requires_grad_();
      return autograd.grad(f(xr), xr, { grad_outputs: [gy], create_graph: true })[0]!;
    });
  checkGrad(gradOf((x) => max_pool2d(x, 2, { stride: 1, padding: 1 })), [randn64([1, 2, 4, 4], 1, true), randn64([1, 2, 5, 5], 2, true)]);
  checkGrad(gradOf((x) => avg_pool2d(x, 3, { stride: 2, padding: 1, ceil_mode: true, count_include_pad: false })), [randn64([1, 2, 6, 6], 3, true), randn64([1, 2, 4, 4], 4, true)]);
});

// ---------------------------------------------------------------- bad input

test('padding over half the kernel is refused, naming the op', () => {
  const x = randn64([1, 1, 4, 4], 0);
  throwsNaming(() => max_pool2d(x, 3, { padding: 2 }), ShapeError, 'max_pool2d', 'padding [2, 2]', 'kernel_size [3, 3]');
  throwsNaming(() => avg_pool2d(x, [3, 2], { padding: [1, 2] }), ShapeError, 'avg_pool2d', 'padding [1, 2]', 'kernel_size [3, 2]');
  throwsNaming(() => max_pool1d(randn64([1, 4], 0), 2, { padding: 2 }), ShapeError, 'max_pool1d', 'padding [2]', 'kernel_size [2]');
});

test('an output smaller than 1 is refused, naming the op and shapes', () => {
  throwsNaming(() => max_pool2d(randn64([1, 1, 2, 2], 0), 3), ShapeError, 'max_pool2d', 'output size [0, 0]', '[1, 1, 2, 2]', 'kernel_size [3, 3]');
  throwsNaming(() => avg_pool1d(randn64([1, 2, 3], 0), 4, { stride: 2 }), ShapeError, 'avg_pool1d', 'output size [0]', '[1, 2, 3]', 'kernel_size [4]');
  throwsNaming(() => max_pool2d(randn64([2, 1, 3], 0), [1, 2], { dilation: [1, 3] }), ShapeError, 'max_pool2d', 'output size [1, 0]', 'dilation [1, 3]');
});

test('a dilated window that covers only padding is refused (PyTorch returns -inf and an index outside the plane)', () => {
  throwsNaming(() => max_pool2d(randn64([1, 1, 2, 2], 0), 2, { stride: 1, padding: 1, dilation: 3 }), ShapeError, 'max_pool2d', 'covers no input element', '[1, 1, 2, 2]', 'dilation [3, 3]');
});

test('bad ranks, dtypes, sizes and options are refused', () => {
  throwsNaming(() => max_pool2d(randn64([4, 4], 0), 2), ShapeError, 'max_pool2d', '3-d (unbatched) or 4-d (batched)', '[4, 4]');
  throwsNaming(() => avg_pool1d(randn64([1, 1, 4, 4], 0), 2), ShapeError, 'avg_pool1d', '2-d (unbatched) or 3-d (batched)', '[1, 1, 4, 4]');
  throwsNaming(() => max_pool2d(tensor([[[1, 2], [3, 4]]], { dtype: 'int32' }), 2), DTypeError, 'max_pool2d', 'int32');
  throwsNaming(() => adaptive_avg_pool2d(randn64([1, 1, 0, 4], 0), 2), ShapeError, 'adaptive_avg_pool2d', 'non-zero', '[1, 1, 0, 4]');
  throwsNaming(() => adaptive_max_pool2d(randn64([1, 1, 4, 4], 0), [2, -1]), ShapeError, 'adaptive_max_pool2d', 'output_size', '[2,-1]');
  throwsNaming(() => max_pool2d(randn64([1, 1, 4, 4], 0), 2, { stride: 0 }), ShapeError, 'max_pool2d', 'stride', '0');
  throwsNaming(() => max_pool2d(randn64([1, 1, 4, 4], 0), 0), ShapeError, 'max_pool2d', 'kernel_size', '0');
  throwsNaming(() => avg_pool2d(randn64([1, 1, 4, 4], 0), 2, { divisor_override: 0 }), ShapeError, 'avg_pool2d', 'divisor_override', '0');
});
