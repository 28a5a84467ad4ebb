import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ShapeError, StrideError, randn, type Tensor } from '../src/index.js';
import '../src/nn/index.js';
import { ConvNet, LeNet5, MLP, create_model, describe_model, list_models, register_model } from '../src/models/index.js';
import { Linear } from '../src/nn/linear.js';
import type { Module } from '../src/nn/module.js';
import { summary } from '../src/nn/summary.js';
import { throwsNaming } from './helpers.js';

const count = (m: Module) => m.parameters().reduce((s, p) => s + p.numel(), 0);
const forward = (m: Module, x: Tensor) => (m.call as (x: Tensor) => Tensor)(x);
const shapes = (m: Module) => Object.fromEntries(Object.entries(m.state_dict()).map(([k, t]) => [k, [...t.shape]]));

test('list_models names the built-in models; describe_model says what they are', () => {
  for (const m of ['lenet5', 'mlp', 'convnet']) assert.ok(list_models().includes(m), m);
  assert.match(describe_model('lenet5'), /LeNet-5.*61,706/);
  assert.match(describe_model('mlp'), /784-800-10/);
});

test('lenet5 has 61,706 parameters for 32x32 and 28x28 input, modern and classic', () => {
  for (const input_size of [32, 28] as const) {
    for (const variant of ['modern', 'classic'] as const) {
      const m = create_model('lenet5', { input_size, variant });
      assert.equal(count(m), 61706, `${input_size} ${variant}`);
      assert.deepEqual([...forward(m, randn([2, 1, input_size, input_size])).shape], [2, 10], `${input_size} ${variant} output`);
    }
  }
  // Classes and channels change only the first and last layers: 84 * 5 + 5 fewer, 6 * 25 * 2 more.
  assert.equal(count(new LeNet5({ num_classes: 5 })), 61706 - 5 * 85);
  assert.equal(count(new LeNet5({ in_channels: 3 })), 61706 + 300);
});

test('lenet5: the modern variant uses ReLU and max pooling, the classic one tanh and average pooling', () => {
  const types = (m: Module) => [...m.named_modules()].filter(([, c]) => [...c.children()].length === 0).map(([, c]) => c.constructor.name);
  assert.deepEqual(types(new LeNet5()), ['Conv2d', 'ReLU', 'MaxPool2d', 'Conv2d', 'ReLU', 'MaxPool2d', 'Flatten', 'Linear', 'ReLU', 'Linear', 'ReLU', 'Linear']);
  assert.deepEqual(types(new LeNet5({ variant: 'classic' })), ['Conv2d', 'Tanh', 'AvgPool2d', 'Conv2d', 'Tanh', 'AvgPool2d', 'Flatten', 'Linear', 'Tanh', 'Linear', 'Tanh', 'Linear']);
});

test('lenet5 refuses input sizes other than 28 and 32, and an input of the other size', () => {
  throwsNaming(() => create_model('lenet5', { input_size: 30 }), StrideError, 'input_size must be 28 or 32, got 30');
  // The 32x32 model has no padding: a 28x28 image ends as 16x4x4, which Linear(400, 120) refuses.
  assert.throws(() => forward(new LeNet5({ input_size: 32 }), randn([1, 1, 28, 28])), ShapeError);
});

test('lenet5 state_dict has PyTorch names and shapes', () => {
  assert.deepEqual(shapes(new LeNet5()), {
    'features.0.weight': [6, 1, 5, 5],
    'features.0.bias': [6],
    'features.3.weight': [16, 6, 5, 5],
    'features.3.bias': [16],
    'classifier.1.weight': [120, 400],
    'classifier.1.bias': [120],
    'classifier.3.weight': [84, 120],
    'classifier.3.bias': [84],
    'classifier.5.weight': [10, 84],
    'classifier.5.bias': [10],
  });
});

test('mlp: the 784-800-10 net has 636,010 parameters; hidden widths and input size are options', () => {
  const m = create_model('mlp');
  assert.equal(count(m), 784 * 800 + 800 + 800 * 10 + 10);
  assert.equal(count(m), 636010);
  assert.deepEqual(shapes(m), { 'layers.1.weight': [800, 784], 'layers.1.bias': [800], 'layers.3.weight': [10, 800], 'layers.3.bias': [10] });
  assert.deepEqual([...forward(m, randn([3, 1, 28, 28])).shape], [3, 10]);
  assert.equal(count(new MLP({ hidden: [] })), 7850);
  assert.equal(count(new MLP({ hidden: [100, 50], num_classes: 3 })), 784 * 100 + 100 + 100 * 50 + 50 + 50 * 3 + 3);
  // By name, the input features follow channels and size: 3 x 32 x 32 = 3072.
  const rgb = create_model('mlp', { in_channels: 3, input_size: 32 });
  assert.deepEqual([...rgb.state_dict()['layers.1.weight']!.shape], [800, 3072]);
  assert.deepEqual([...forward(rgb, randn([1, 3, 32, 32])).shape], [1, 10]);
});

test('convnet: output shape, 29,034 parameters for 28x28, PyTorch state_dict names incl. BatchNorm buffers', () => {
  const m = create_model('convnet');
  assert.deepEqual([...forward(m, randn([4, 1, 28, 28])).shape], [4, 10]);
  // conv 1*16*25+16, BN 2*16, conv 16*32*25+32, BN 2*32, fc 7*7*32*10+10.
  assert.equal(count(m), 416 + 32 + 12832 + 64 + 15690);
  assert.equal(count(m), 29034);
  const sd = shapes(m);
  assert.deepEqual(sd['layer1.0.weight'], [16, 1, 5, 5]);
  assert.deepEqual(sd['layer1.1.running_mean'], [16]);
  assert.deepEqual(sd['layer1.1.running_var'], [16]);
  assert.deepEqual(sd['layer1.1.num_batches_tracked'], []);
  assert.deepEqual(sd['layer2.0.weight'], [32, 16, 5, 5]);
  assert.deepEqual(sd['fc.weight'], [10, 1568]);
  assert.deepEqual(sd['fc.bias'], [10]);
  assert.equal(Object.keys(sd).length, 2 + 5 + 2 + 5 + 2);
  // 32x32 colour input: the classifier sees 32 maps of 8x8.
  const c = new ConvNet({ in_channels: 3, input_size: 32, num_classes: 100 });
  assert.deepEqual([...forward(c, randn([2, 3, 32, 32])).shape], [2, 100]);
  assert.deepEqual([...c.state_dict()['fc.weight']!.shape], [100, 2048]);
});

test('unknown model names are refused with the list of valid ones', () => {
  throwsNaming(() => create_model('nosuchnet'), StrideError, "unknown model 'nosuchnet'", `available: ${list_models().join(', ')}`);
  throwsNaming(() => describe_model('LeNet5'), StrideError, "unknown model 'LeNet5'", 'lenet5');
});

// ---------------------------------------------------------------- summary

test('summary of LeNet-5: the paper\'s output shapes, parameters and mult-adds per layer', () => {
  for (const [input_size, shape] of [[32, [1, 32, 32]], [28, [1, 28, 28]]] as const) {
    const s = new LeNet5({ input_size }).summary(shape);
    assert.deepEqual(s.rows.map((r) => [r.name, r.type, [...r.output_shape], r.params, r.mult_adds]), [
      ['features.0', 'Conv2d', [6, 28, 28], 156, 28 * 28 * 6 * 25],
      ['features.1', 'ReLU', [6, 28, 28], 0, 0],
      ['features.2', 'MaxPool2d', [6, 14, 14], 0, 0],
      ['features.3', 'Conv2d', [16, 10, 10], 2416, 10 * 10 * 16 * 150],
      ['features.4', 'ReLU', [16, 10, 10], 0, 0],
      ['features.5', 'MaxPool2d', [16, 5, 5], 0, 0],
      ['classifier.0', 'Flatten', [400], 0, 0],
      ['classifier.1', 'Linear', [120], 48120, 48000],
      ['classifier.2', 'ReLU', [120], 0, 0],
      ['classifier.3', 'Linear', [84], 10164, 10080],
      ['classifier.4', 'ReLU', [84], 0, 0],
      ['classifier.5', 'Linear', [10], 850, 840],
    ], `input ${input_size}`);
    assert.equal(s.total_params, 61706);
    assert.equal(s.trainable_params, 61706);
    assert.equal(s.non_trainable_params, 0);
    assert.equal(s.mult_adds, 416520);
    assert.deepEqual(s.input_shape, shape);
  }
});

test('summary text: header, one line per layer, totals with thousands separators', () => {
  const text = new LeNet5().summary([1, 32, 32]).text;
  const lines = text.split('\n');
  assert.equal(lines[0], 'LeNet5 on input [1, 1, 32, 32]');
  assert.match(text, /^features\.0\s+Conv2d\s+\[6, 28, 28\]\s+156$/m);
  assert.match(text, /^features\.5\s+MaxPool2d\s+\[16, 5, 5\]\s+0$/m);
  assert.match(text, /^classifier\.1\s+Linear\s+\[120\]\s+48,120$/m);
  assert.ok(lines.includes('Total params: 61,706'));
  assert.ok(lines.includes('Trainable params: 61,706'));
  assert.ok(lines.includes('Non-trainable params: 0'));
  assert.ok(lines.includes('Mult-adds (per input): 416,520'));
  assert.equal(lines.filter((l) => /^(features|classifier)\.\d/.test(l)).length, 12);
});

test('summary counts frozen parameters as non-trainable; convnet mult-adds', () => {
  const m = new LeNet5();
  m.features.requires_grad_(false);
  const s = summary(m, [1, 32, 32]);
  assert.equal(s.total_params, 61706);
  assert.equal(s.non_trainable_params, 156 + 2416);
  assert.equal(s.trainable_params, 61706 - 2572);
  const c = create_model('convnet').summary([1, 28, 28]);
  assert.equal(c.total_params, 29034);
  assert.equal(c.mult_adds, 28 * 28 * 16 * 25 + 14 * 14 * 32 * 16 * 25 + 1568 * 10);
  assert.deepEqual(c.rows.filter((r) => r.type === 'BatchNorm2d').map((r) => [r.name, [...r.output_shape], r.params]), [
    ['layer1.1', [16, 28, 28], 32],
    ['layer2.1', [32, 14, 14], 64],
  ]);
  assert.deepEqual([...c.rows[c.rows.length - 1]!.output_shape], [10]);
});

test('summary restores the training mode and removes its hooks, also when the forward pass fails', () => {
  const m = new LeNet5();
  assert.equal(m.training, true);
  summary(m, [1, 32, 32]);
  assert.equal(m.training, true, 'back in training mode');
  m.eval();
  summary(m, [1, 32, 32]);
  assert.equal(m.training, false, 'still in eval mode');
  m.train();
  assert.throws(() => summary(m, [3, 32, 32]), ShapeError);
  assert.equal(m.training, true);
  const calls: string[] = [];
  const linear = m.classifier[1];
  assert.ok(linear instanceof Linear);
  linear.register_forward_hook(() => void calls.push('hook'));
  assert.equal(summary(m, [1, 32, 32]).rows.length, 12, 'no rows left over from the failed call');
  assert.deepEqual(calls, ['hook']);
});

test('summary refuses input shapes that are not positive integers', () => {
  const m = new LeNet5();
  throwsNaming(() => summary(m, [1, 0, 32]), StrideError, 'positive integers', '[1, 0, 32]');
  throwsNaming(() => summary(m, [1, 32.5, 32]), StrideError, '[1, 32.5, 32]');
});

test('register_model adds a model by name to create_model and list_models', () => {
  register_model('tiny-test-model', { description: 'one linear layer', create: (o) => new Linear(4, o.num_classes ?? 2) });
  assert.ok(list_models().includes('tiny-test-model'));
  assert.equal(describe_model('tiny-test-model'), 'one linear layer');
  assert.equal(count(create_model('tiny-test-model', { num_classes: 3 })), 15);
  throwsNaming(() => create_model('nope'), StrideError, 'tiny-test-model');
});
