import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DTypeError, ShapeError, autograd, conv1d, enable_grad, conv2d, conv_output_size, conv_transpose1d, conv_transpose2d, max_pool2d, tensor,
  type Conv2dOptions, type ConvTranspose2dOptions, type Tensor,
} from '../src/index.js';
import { checkGrad, randn64 } from './gradcheck_util.js';
import { assertClose, assertValues, runFixtureFile, throwsNaming } from './helpers.js';
import { withLayouts } from './layouts.js';

// ---------------------------------------------------------------- PyTorch fixtures

runFixtureFile(
  'conv.json',
  withLayouts({
    conv2d: ([x, w, b], a) => conv2d(x!, w!, b, a),
    conv1d: ([x, w, b], a) => conv1d(x!, w!, b, a),
    conv_transpose2d: ([x, w, b], a) => conv_transpose2d(x!, w!, b, a),
    conv_transpose1d: ([x, w, b], a) => conv_transpose1d(x!, w!, b, a),
  }),
);

// ---------------------------------------------------------------- worked examples

const image = [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]];

test('the 5x5 image convolved with the 3x3 kernel', () => {
  const x = tensor([[image]]);
  const k = tensor([[[[0, 1, 2], [2, 2, 0], [0, 1, 2]]]]);
  assertValues(conv2d(x, k), [[[[12, 12, 17], [10, 17, 19], [9, 6, 14]]]], 'conv2d');
});

test('the 1-d signal [1, 1, 1, 0, 0] with the filter [1, 0, 1]', () => {
  assertValues(conv1d(tensor([[[1, 1, 1, 0, 0]]]), tensor([[[1, 0, 1]]])), [[[2, 1, 1]]], 'conv1d');
});

test('Cartesian axes: vertical and horizontal line filters, then 2x2 max pooling', () => {
  const x = tensor([[[[0, 1, 0, 1], [0, 1, 0, 1], [1, 1, 1, 1], [0, -2, 0, -2]]]]);
  const row = [-0.5, 1, -0.5];
  const vertical = tensor([[[row, row, row]]]);
  const horizontal = vertical.transpose(2, 3);
  // By hand, horizontal: each output is -0.5 (top row sum) + 1 (middle row sum) - 0.5 (bottom row sum)
  // of its 3x3 window: (0,0): -0.5*1 + 1 - 0.5*3 = -1; (0,1): -0.5*2 + 2 - 0.5*3 = -0.5;
  // (1,0): -0.5*1 + 3 - 0.5*(-2) = 3.5; (1,1): -0.5*2 + 3 - 0.5*(-4) = 4.
  const v = conv2d(x, vertical);
  const h = conv2d(x, horizontal);
  assertValues(v, [[[[2, -2], [-1, 1]]]], 'vertical filter');
  assertValues(h, [[[[-1, -0.5], [3.5, 4]]]], 'horizontal filter');
  assertValues(max_pool2d(v, 2), [[[[2]]]], 'max pool of the vertical response');
  assertValues(max_pool2d(h, 2), [[[[4]]]], 'max pool of the horizontal response');
});

test('output sizes for N = 7, F = 3: stride 1 gives 5, stride 2 gives 3, stride 3 does not fit', () => {
  assert.equal(conv_output_size(7, 3, { stride: 1, exact: true }), 5);
  assert.equal(conv_output_size(7, 3, { stride: 2, exact: true }), 3);
  throwsNaming(() => conv_output_size(7, 3, { stride: 3, exact: true }), ShapeError, 'conv_output_size', 'stride 3', 'input of 7', 'kernel of 3');
  // Without exact, the last column is dropped as in PyTorch: floor(4 / 3) + 1.
  assert.equal(conv_output_size(7, 3, { stride: 3 }), 2);
});

test('conv_output_size with padding, dilation and ceil_mode', () => {
  assert.equal(conv_output_size(7, 3, { padding: 1 }), 7);
  assert.equal(conv_output_size(7, 3, { dilation: 2 }), 3);
  assert.equal(conv_output_size(6, 3, { stride: 2 }), 2);
  assert.equal(conv_output_size(6, 3, { stride: 2, ceil_mode: true }), 3);
  // ceil_mode drops a last window that would start in the right padding: 4 + 2 - 1 - 1 = 4, ceil(4/3) + 1 = 3 → 2.
  assert.equal(conv_output_size(4, 2, { stride: 3, padding: 1, ceil_mode: true }), 2);
  throwsNaming(() => conv_output_size(2, 3, { exact: true }), ShapeError, 'conv_output_size', 'does not fit', 'input of 2');
  throwsNaming(() => conv_output_size(7, 3, { stride: 0 }), ShapeError, 'conv_output_size', 'stride', '0');
  throwsNaming(() => conv_output_size(7, 1.5), ShapeError, 'conv_output_size', 'kernel', '1.5');
});

test('conv2d with stride, padding and bias on a hand-sized example', () => {
  // 1x1x3x3 input, 2x2 kernel of ones, padding 1, stride 2: each output sums the window's in-image part.
  const x = tensor([[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]]);
  const y = conv2d(x, tensor([[[[1, 1], [1, 1]]]]), tensor([10]), { stride: 2, padding: 1 });
  assertValues(y, [[[[11, 15], [21, 38]]]], 'conv2d');
});

test('conv_transpose2d spreads each input over the kernel (stride 2)', () => {
  const x = tensor([[[[1, 2]]]]);
  const w = tensor([[[[1, 10], [100, 1000]]]]);
  assertValues(conv_transpose2d(x, w, null, { stride: 2 }), [[[[1, 10, 2, 20], [100, 1000, 200, 2000]]]], 'stride 2');
  // output_padding adds a row and column that no input reaches.
  assert.deepEqual([...conv_transpose2d(x, w, null, { stride: 2, output_padding: 1 }).shape], [1, 1, 3, 5]);
});

// ---------------------------------------------------------------- gradients

test('gradcheck conv2d: plain, strided, padded, dilated, grouped, same', () => {
  const cases: [number[], number[], Conv2dOptions][] = [
    [[2, 2, 5, 5], [3, 2, 3, 3], {}],
    [[1, 2, 6, 7], [2, 2, 2, 3], { stride: [2, 3], padding: [1, 2] }],
    [[1, 2, 7, 6], [2, 2, 3, 2], { dilation: [2, 3], padding: 1 }],
    [[1, 4, 5, 4], [6, 2, 3, 2], { groups: 2, stride: 2 }],
    [[2, 3, 4, 4], [3, 1, 3, 3], { groups: 3, padding: 'same' }],
    [[1, 2, 5, 4], [2, 2, 4, 2], { padding: 'same', dilation: [1, 3] }],
  ];
  cases.forEach(([xs, ws, opts], i) => {
    const x = randn64(xs, 10 * i, true);
    const w = randn64(ws, 10 * i + 1, true);
    const b = randn64([ws[0]!], 10 * i + 2, true);
    checkGrad((x, w, b) => conv2d(x!, w!, b!, opts), [x, w, b]);
  });
});

test('gradcheck conv1d (unbatched too)', () => {
  checkGrad((x, w, b) => conv1d(x!, w!, b!, { stride: 2, padding: 1, dilation: 2 }), [randn64([2, 2, 9], 1, true), randn64([3, 2, 3], 2, true), randn64([3], 3, true)]);
  checkGrad((x, w) => conv1d(x!, w!, null, { padding: 'same', groups: 2 }), [randn64([4, 6], 4, true), randn64([2, 2, 4], 5, true)]);
});

test('gradcheck conv_transpose2d and conv_transpose1d', () => {
  const cases: [number[], number[], ConvTranspose2dOptions][] = [
    [[1, 2, 3, 3], [2, 3, 3, 3], { stride: 2, padding: 1, output_padding: 1 }],
    [[1, 4, 3, 2], [4, 1, 2, 3], { groups: 2, stride: [1, 2], dilation: [2, 1] }],
    // output_padding below the dilation but not the stride: the output has a row no input reaches.
    [[1, 1, 3, 3], [1, 2, 2, 2], { dilation: 2, output_padding: 1 }],
  ];
  cases.forEach(([xs, ws, opts], i) => {
    checkGrad((x, w, b) => conv_transpose2d(x!, w!, b!, opts), [randn64(xs, 20 + i, true), randn64(ws, 30 + i, true), randn64([ws[1]! * (opts.groups ?? 1)], 40 + i, true)]);
  });
  checkGrad((x, w) => conv_transpose1d(x!, w!, null, { stride: 3, padding: 1, output_padding: 2 }), [randn64([2, 2, 4], 7, true), randn64([2, 1, 3], 8, true)]);
});

/**
 * The gradients of f(x, w) for the upstream gradient gy, kept differentiable (gradcheck's finite
 * differences call this under no_grad with plain inputs, so it turns recording back on).
 */
function gradsOf(f: (x: Tensor, w: Tensor) => Tensor) {
  return (x: Tensor, w: Tensor, gy: Tensor): Tensor[] =>
    enable_grad(() => {
      const [xr, wr] = [x, w].map((t) => (t.requires_grad ? t : t.requires_grad_())) as [Tensor, Tensor];
      return autograd.grad(f(xr, wr), [xr, wr], { grad_outputs: [gy], create_graph: true }) as Tensor[];
    });
}

test('double backward: gradcheck of the gradients of conv2d and conv_transpose2d', () => {
  const conv = (x: Tensor, w: Tensor) => conv2d(x, w, null, { stride: 2, padding: 1, dilation: [1, 2], groups: 2 });
  checkGrad((x, w, gy) => gradsOf(conv)(x!, w!, gy!), [randn64([1, 4, 6, 7], 1, true), randn64([2, 2, 3, 2], 2, true), randn64([1, 2, 3, 4], 3, true)]);
  const convT = (x: Tensor, w: Tensor) => conv_transpose2d(x, w, null, { dilation: 2, output_padding: 1 });
  checkGrad((x, w, gy) => gradsOf(convT)(x!, w!, gy!), [randn64([1, 1, 3, 3], 4, true), randn64([1, 2, 2, 2], 5, true), randn64([1, 2, 6, 6], 6, true)]);
});

test('non-contiguous float64 inputs give the same result as contiguous ones', () => {
  const x = randn64([1, 2, 6, 5], 1);
  const w = randn64([3, 2, 3, 3], 2);
  const xt = x.transpose(2, 3).contiguous().transpose(2, 3);
  assert.ok(!xt.is_contiguous());
  const expected = conv2d(x, w, null, { padding: 1 });
  assertClose(conv2d(xt, w, null, { padding: 1 }), { shape: expected.shape, data: expected.dataSync() }, 'conv2d', { rtol: 1e-12, scaled_atol: 0 });
});

// ---------------------------------------------------------------- bad input

test('a kernel larger than the padded input is refused, naming the op and shapes', () => {
  const x = randn64([1, 1, 2, 2], 0);
  throwsNaming(() => conv2d(x, randn64([1, 1, 3, 3], 1)), ShapeError, 'conv2d', '[1, 1, 2, 2]', '[1, 1, 3, 3]', 'padded input [2, 2]');
  throwsNaming(() => conv2d(x, randn64([1, 1, 2, 2], 1), null, { dilation: 2 }), ShapeError, 'conv2d', 'dilation [2, 2]', 'spans [3, 3]');
  throwsNaming(() => conv1d(randn64([1, 1, 2], 0), randn64([1, 1, 5], 1), null, { padding: 1 }), ShapeError, 'conv1d', '[1, 1, 2]', '[1, 1, 5]', 'padded input [4]');
});

test('channels that do not match the weight or groups are refused', () => {
  throwsNaming(() => conv2d(randn64([1, 5, 4, 4], 0), randn64([4, 2, 3, 3], 1), null, { groups: 2 }), ShapeError, 'conv2d', '5 channels', '[1, 5, 4, 4]', 'groups 2');
  throwsNaming(() => conv2d(randn64([1, 3, 4, 4], 0), randn64([2, 2, 3, 3], 1)), ShapeError, 'conv2d', '[2, 2, 3, 3]', 'expects 2 input channels', '[1, 3, 4, 4]', 'has 3');
  throwsNaming(() => conv2d(randn64([1, 4, 4, 4], 0), randn64([3, 2, 3, 3], 1), null, { groups: 2 }), ShapeError, 'conv2d', 'out_channels 3', '[3, 2, 3, 3]', 'groups 2');
  throwsNaming(() => conv2d(randn64([1, 4, 4, 4], 0), randn64([4, 4, 3, 3], 1), null, { groups: 0 }), ShapeError, 'conv2d', 'groups', '0');
  throwsNaming(() => conv_transpose2d(randn64([1, 3, 4, 4], 0), randn64([2, 2, 3, 3], 1)), ShapeError, 'conv_transpose2d', 'expects 2 input channels', '[1, 3, 4, 4]');
});

test('wrong ranks, dtypes and bias shapes are refused', () => {
  throwsNaming(() => conv2d(randn64([1, 1, 1, 4, 4], 0), randn64([1, 1, 3, 3], 1)), ShapeError, 'conv2d', '3-d (unbatched) or 4-d (batched)', '[1, 1, 1, 4, 4]');
  throwsNaming(() => conv1d(randn64([1, 1, 4, 4], 0), randn64([1, 1, 3], 1)), ShapeError, 'conv1d', '2-d (unbatched) or 3-d (batched)', '[1, 1, 4, 4]');
  throwsNaming(() => conv2d(randn64([1, 1, 4, 4], 0), randn64([1, 1, 3], 1)), ShapeError, 'conv2d', '4-d weight', '[1, 1, 3]');
  throwsNaming(() => conv2d(tensor([[[[1, 2], [3, 4]]]], { dtype: 'int32' }), tensor([[[[1]]]], { dtype: 'int32' })), DTypeError, 'conv2d', 'int32');
  throwsNaming(() => conv2d(randn64([1, 1, 4, 4], 0), tensor([[[[1]]]])), DTypeError, 'conv2d', 'weight', 'float32', 'float64');
  throwsNaming(() => conv2d(randn64([1, 1, 4, 4], 0), randn64([2, 1, 3, 3], 1), randn64([3], 2)), ShapeError, 'conv2d', 'bias of shape [2]', '[3]');
  throwsNaming(() => conv_transpose2d(randn64([1, 2, 4, 4], 0), randn64([2, 3, 3, 3], 1), randn64([2], 2)), ShapeError, 'conv_transpose2d', 'bias of shape [3]', '[2]');
});

test('bad stride, padding and dilation values are refused', () => {
  const x = randn64([1, 1, 5, 5], 0);
  const w = randn64([1, 1, 3, 3], 1);
  throwsNaming(() => conv2d(x, w, null, { stride: 0 }), ShapeError, 'conv2d', 'stride', '0');
  throwsNaming(() => conv2d(x, w, null, { padding: -1 }), ShapeError, 'conv2d', 'padding', '-1');
  throwsNaming(() => conv2d(x, w, null, { dilation: [1, 2, 3] as unknown as [number, number] }), ShapeError, 'conv2d', 'dilation', '[1,2,3]');
  throwsNaming(() => conv2d(x, w, null, { padding: 'full' as 'same' }), ShapeError, 'conv2d', 'padding', 'full');
  throwsNaming(() => conv2d(x, w, null, { padding: 'same', stride: 2 }), ShapeError, 'conv2d', "padding='same'", 'stride [2, 2]');
});

test('conv_transpose: output_padding must be below stride or dilation, and the output must be non-empty', () => {
  const x = randn64([1, 1, 3, 3], 0);
  const w = randn64([1, 1, 3, 3], 1);
  throwsNaming(() => conv_transpose2d(x, w, null, { stride: 2, output_padding: 2 }), ShapeError, 'conv_transpose2d', 'output_padding [2, 2]', 'stride [2, 2]', 'dilation [1, 1]');
  throwsNaming(() => conv_transpose2d(randn64([1, 1, 1, 1], 0), randn64([1, 1, 1, 1], 1), null, { padding: 1 }), ShapeError, 'conv_transpose2d', 'output size [-1, -1]', '[1, 1, 1, 1]');
  throwsNaming(() => conv_transpose1d(randn64([1, 1, 3], 0), randn64([1, 1, 2], 1), null, { stride: 2, padding: 3 }), ShapeError, 'conv_transpose1d', 'output size [0]', '[1, 1, 3]');
});
