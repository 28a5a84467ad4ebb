import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StrideError, manual_seed, memory, no_grad, rand, randn, set_memory_debug, tensor, type Tensor } from '../src/index.js';
import { BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, Identity, Module, ReLU, Sequential, fuse_conv_bn_weights, fuse_modules } from '../src/nn/index.js';
import { CifarResNet, ResNet } from '../src/models/resnet.js';
import { assertClose, assertValues, throwsNaming } from './helpers.js';

/** A batch norm in evaluation mode with running statistics and affine parameters away from their defaults. */
function trainedBatchNorm<B extends BatchNorm1d | BatchNorm2d>(bn: B): B {
  no_grad(() => {
    const c = bn.num_features;
    bn.running_mean!.copy_(randn([c]));
    bn.running_var!.copy_(rand([c]).add(0.5));
    bn.weight!.copy_(randn([c]));
    bn.bias!.copy_(randn([c]));
  });
  bn.eval();
  return bn;
}

const output = (m: Module, x: Tensor): Tensor => no_grad(() => (m as unknown as { call(x: Tensor): Tensor }).call(x));

test('fuse_conv_bn_weights on a hand-computed case: w·γ/√(var+eps), (b - mean)·γ/√(var+eps) + β', () => {
  // eps 1: 1/√(3 + 1) = 0.5 and 1/√(0 + 1) = 1.
  const [w, b] = fuse_conv_bn_weights(tensor([[[[2]]], [[[3]]]]), tensor([1, -1]), tensor([0.5, 1]), tensor([3, 0]), 1, tensor([2, 1]), tensor([0, 4]));
  assertValues(w, [[[[2]]], [[[3]]]], 'weight');
  assertValues(b, [0.5, 2], 'bias');
  // No conv bias, no affine parameters: b = -mean/√(var+eps).
  const [w0, b0] = fuse_conv_bn_weights(tensor([[[1, 1]]]), null, tensor([2]), tensor([3]), 1, null, null);
  assertValues(w0, [[[0.5, 0.5]]], 'weight without affine');
  assertValues(b0, [-1], 'bias without conv bias or affine');
});

test('a fused convolution computes what the convolution and the batch norm did (Conv2d, Conv1d, with and without bias)', () => {
  manual_seed(1);
  const cases: [Conv1d | Conv2d, BatchNorm1d | BatchNorm2d, Tensor][] = [
    [new Conv2d(3, 16, 3, { padding: 1, bias: false }), new BatchNorm2d(16), randn([2, 3, 9, 8])],
    [new Conv2d(4, 6, 3, { stride: 2, groups: 2 }), new BatchNorm2d(6), randn([2, 4, 9, 9])],
    [new Conv1d(3, 5, 3, { padding: 1 }), new BatchNorm1d(5), randn([2, 3, 11])],
  ];
  for (const [conv, bn, x] of cases) {
    const model = new Sequential(conv, trainedBatchNorm(bn), new ReLU()).eval();
    const expected = output(model, x);
    fuse_modules(model, [['0', '1']]);
    assert.ok(model[1] instanceof Identity && conv.bias, `${conv.constructor.name}: the batch norm is an Identity, the conv has a bias`);
    assertClose(output(model, x), { shape: expected.shape, data: expected.dataSync() }, `fused ${conv.constructor.name}`);
  }
});

test('ResNet.fuse_model folds every batch norm: same outputs, no BatchNorm left, conv biases in the state dict', () => {
  manual_seed(2);
  const models: [ResNet | CifarResNet, Tensor][] = [[new ResNet('resnet18', { num_classes: 10 }), randn([1, 3, 32, 32])], [new CifarResNet({ depth: 8 }), randn([2, 3, 16, 16])]];
  for (const [model, x] of models) {
    for (const m of model.modules()) if (m instanceof BatchNorm2d) trainedBatchNorm(m);
    model.eval();
    const expected = output(model, x);
    const before = Object.keys(model.state_dict());
    model.fuse_model();
    const keys = Object.keys(model.state_dict());
    assert.equal([...model.modules()].filter((m) => m instanceof BatchNorm2d).length, 0, 'no BatchNorm2d left');
    assert.deepEqual(keys.filter((k) => /bn|downsample\.1/.test(k)), [], 'no batch norm keys');
    assert.equal(keys.filter((k) => k.endsWith('.bias')).length, before.filter((k) => /conv\d\.weight$|downsample\.0\.weight$/.test(k)).length + 1, 'a bias per convolution, and fc.bias');
    const y = output(model, x);
    // The logits' scale: a few units; the fused weights round differently.
    assertClose(y, { shape: expected.shape, data: expected.dataSync() }, `fused ${model.constructor.name}`, { scaled_atol: 1e-4 });
  }
});

test('folding leaves no tensor behind but the new bias', () => {
  const pair = new Sequential(new Conv2d(2, 4, 3, { bias: false }), trainedBatchNorm(new BatchNorm2d(4))).eval();
  set_memory_debug(true);
  try {
    const before = memory().liveTensors;
    fuse_modules(pair, [['0', '1']]);
    // The bias Parameter and the Identity's nothing: the scale, the fused weight and the
    // intermediate sums are freed, not left to the garbage collector.
    assert.equal(memory().liveTensors - before, 1);
  } finally {
    set_memory_debug(false);
  }
});

test('fusion refuses training mode, missing running statistics, mismatched layers and unknown paths', () => {
  const pair = (conv: Module, bn: Module) => new Sequential(conv, bn);
  const conv = () => new Conv2d(2, 4, 3);
  throwsNaming(() => fuse_modules(pair(conv(), new BatchNorm2d(4)), [['0', '1']]), StrideError, 'fuse_modules [0, 1]', 'only for evaluation mode');
  throwsNaming(() => fuse_modules(pair(conv(), new BatchNorm2d(4, { track_running_stats: false })).eval(), [['0', '1']]), StrideError, 'no running statistics');
  throwsNaming(() => fuse_modules(pair(conv(), new BatchNorm2d(5)).eval(), [['0', '1']]), StrideError, '5 features', '4 output channels');
  throwsNaming(() => fuse_modules(pair(conv(), new BatchNorm1d(4)).eval(), [['0', '1']]), StrideError, 'Conv2d pairs with a BatchNorm2d', 'BatchNorm1d');
  throwsNaming(() => fuse_modules(pair(new ReLU(), new BatchNorm2d(4)).eval(), [['0', '1']]), StrideError, "'0' is a ReLU");
  throwsNaming(() => fuse_modules(pair(conv(), new ReLU()).eval(), [['0', '1']]), StrideError, "'1' is a ReLU");
  throwsNaming(() => fuse_modules(pair(conv(), new BatchNorm2d(4)).eval(), [['0', '2']]), StrideError, "no module '2'");
  throwsNaming(() => fuse_modules(pair(conv(), new BatchNorm2d(4)).eval(), [['0', '1', '2']]), StrideError, 'groups of a convolution and a batch norm');
  // Fusing twice: the batch norm is already an Identity.
  const m = new ResNet('resnet18').eval().fuse_model();
  throwsNaming(() => m.fuse_model(), StrideError, "'bn1' is a Identity");
});
