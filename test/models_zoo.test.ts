/**
 * The model zoo: parameter totals and per-layer output shapes from the papers and the course's
 * tables, state_dict keys and shapes equal to torchvision's (test/fixtures/models/
 * torchvision_keys.json, written by tools/models/export_torchvision.py), and each model's own
 * behaviour. Building a 100M-parameter model takes 10-20 s on the reference backend (random
 * initialisation), so each large model is built once, and where only shapes and keys matter the
 * models are built and run on the meta backend, which follows shapes without any data.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ShapeError, StrideError, cat, fromFlat, no_grad, randn, select, with_default_backend, type Tensor } from '../src/index.js';
import '../src/nn/index.js';
import {
  AlexNet, BasicBlock, CifarResNet, ConnectionTableConv2d, GoogLeNet, LENET_C3_TABLE, LeNet5, MobileNetV2, ResNet, UNet, VGG, ZFNet,
  create_model, describe_model, list_models, type GoogLeNetOutputs,
} from '../src/models/index.js';
import { Conv2d } from '../src/nn/conv.js';
import { Linear } from '../src/nn/linear.js';
import type { Module, Sequential } from '../src/nn/module.js';
import type { BatchNorm2d } from '../src/nn/normalization.js';
import { assertClose, throwsNaming } from './helpers.js';


interface KeyFixture {
  models: Record<string, { params: number; state_dict: [string, number[]][] }>;
}
const TORCHVISION = JSON.parse(readFileSync(new URL('./fixtures/models/torchvision_keys.json', import.meta.url), 'utf8')) as KeyFixture;

const count = (m: Module) => m.parameters().reduce((s, p) => s + p.numel(), 0);
const forward = (m: Module, x: Tensor) => (m.call as (x: Tensor) => Tensor)(x);
const keysAndShapes = (m: Module): [string, number[]][] => Object.entries(m.state_dict()).map(([k, t]) => [k, [...t.shape]]);
/** Output shapes of the summary rows of the given layer types, as the course's tables list them. */
const layerShapes = (m: Module, input: number[], types: string[]) =>
  m.summary(input).rows.filter((r) => types.includes(r.type)).map((r) => [r.type, [...r.output_shape]]);

/** Asserts that a stride model has torchvision's parameter total and state_dict keys, shapes and order. */
function assertTorchvisionKeys(name: string, m: Module): void {
  const ref = TORCHVISION.models[name];
  assert.ok(ref, `${name} is in the fixture`);
  assert.equal(count(m), ref.params, `${name}: parameter total`);
  assert.deepEqual(keysAndShapes(m), ref.state_dict, `${name}: state_dict keys and shapes`);
}

/** Builds a model once per file (the large ones take seconds). */
const cache = new Map<string, Module>();
function built(key: string, make: () => Module): Module {
  let m = cache.get(key);
  if (!m) cache.set(key, (m = make()));
  return m;
}
const vgg16 = () => built('vgg16', () => new VGG('vgg16')) as VGG;

// ---------------------------------------------------------------- registry

test('every zoo model is registered by name after the three small nets, with its parameter total in the description', () => {
  const zoo = [
    'alexnet', 'zfnet', 'vgg11', 'vgg11_bn', 'vgg13', 'vgg13_bn', 'vgg16', 'vgg16_bn', 'vgg19', 'vgg19_bn', 'googlenet',
    'resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152', 'resnet20', 'resnet32', 'resnet56', 'unet', 'mobilenet_v2',
  ];
  assert.deepEqual(list_models().slice(0, 3 + zoo.length), ['lenet5', 'mlp', 'convnet', ...zoo]);
  for (const [name, ref] of Object.entries(TORCHVISION.models)) {
    assert.ok(describe_model(name).includes(ref.params.toLocaleString('en-US')), `${name}: '${describe_model(name)}' states ${ref.params}`);
  }
});

test('unknown options and bad option values are refused, naming the model and what it takes', () => {
  throwsNaming(() => create_model('resnet18', { depth: 20 }), StrideError, "resnet18: unknown option 'depth'", 'num_classes, in_channels, input_size, zero_init_residual');
  throwsNaming(() => create_model('vgg16', { batchnorm: true, drop: 0.1 }), StrideError, "unknown options 'batchnorm', 'drop'", 'init_weights, dropout');
  throwsNaming(() => create_model('convnet', { variant: 'classic' }), StrideError, "convnet: unknown option 'variant'");
  throwsNaming(() => create_model('alexnet', { variant: 'caffe' }), StrideError, "alexnet: variant must be one of 'torchvision', 'original'", '"caffe"');
  throwsNaming(() => create_model('alexnet', { variant: 'original', input_size: 224 }), StrideError, 'takes 227x227 input', 'input_size 224');
  throwsNaming(() => create_model('zfnet', { input_size: 227 }), StrideError, 'zfnet: takes 224x224 input');
  throwsNaming(() => create_model('lenet5', { variant: 'lenet' }), StrideError, "variant must be 'modern' or 'classic'");
  throwsNaming(() => create_model('resnet18', { num_classes: 0 }), StrideError, 'resnet18: num_classes must be a positive integer, got 0');
  throwsNaming(() => new CifarResNet({ depth: 21 }), StrideError, 'depth must be 6n + 2', 'got 21');
  throwsNaming(() => create_model('googlenet', { transform_input: true, in_channels: 1 }), StrideError, 'transform_input needs 3 input channels');
  throwsNaming(() => create_model('mobilenet_v2', { width_mult: 0 }), StrideError, 'width_mult must be positive');
});

// ---------------------------------------------------------------- LeNet-5 with LeCun 1998's C3 table

/** Table I of the paper as printed: row = S2 map, column = C3 map, X = connected. */
const TABLE_I = [
  'X   XXX  XXXX XX',
  'XX   XXX  XXXX X',
  'XXX   XXX  X XXX',
  ' XXX  XXXX  X XX',
  '  XXX  XXXX XX X',
  '   XXX  XXXX XXX',
];

test('lenet5 c3_table: C3 has the 60 connections of Table I and the paper\'s 1,516 parameters', () => {
  for (let o = 0; o < 16; o++) {
    const fromTable = TABLE_I.flatMap((row, i) => (row[o] === 'X' ? [i] : []));
    assert.deepEqual(LENET_C3_TABLE[o], fromTable, `C3 map ${o}`);
  }
  const m = new LeNet5({ c3_table: true, variant: 'classic' });
  const c3 = m.features[3] as ConnectionTableConv2d;
  assert.deepEqual([...c3.weight.shape], [60, 5, 5]);
  assert.equal(count(c3), 1516);
  assert.equal(count(m), 61706 - 2416 + 1516);
  assert.deepEqual(keysAndShapes(m).slice(2, 4), [['features.3.weight', [60, 5, 5]], ['features.3.bias', [16]]]);
  assert.deepEqual([...forward(m, randn([2, 1, 32, 32])).shape], [2, 10]);
});

test('ConnectionTableConv2d: each output map sees only its table\'s inputs, as a dense conv with the other kernels zero', () => {
  const c3 = new ConnectionTableConv2d(6, LENET_C3_TABLE, 5);
  const x = randn([2, 6, 9, 9]);
  const y = forward(c3, x);
  // The dense equivalent, built kernel by kernel in table order.
  const dense = new Conv2d(6, 16, 5);
  const w = c3.weight.dataSync();
  const dw = new Float32Array(16 * 6 * 25);
  let c = 0;
  LENET_C3_TABLE.forEach((inputs, o) => inputs.forEach((i) => dw.set(w.subarray(25 * c, 25 * ++c), (o * 6 + i) * 25)));
  no_grad(() => {
    dense.weight.copy_(fromFlat(dw, [16, 6, 5, 5]));
    dense.bias!.copy_(c3.bias);
  });
  assertClose(y, { shape: [2, 16, 5, 5], data: forward(dense, x).dataSync() }, 'sparse vs dense');
  // Changing S2 map 5 moves exactly the C3 maps whose column of Table I has an X in row 5.
  const x2 = cat([x.narrow(1, 0, 5), randn([2, 1, 9, 9])], 1);
  const moved = Array.from({ length: 16 }, (_, o) => select(forward(c3, x2).sub(y), 1, o).abs().max().item() > 0);
  assert.deepEqual(moved, [...TABLE_I[5]!].map((ch) => ch === 'X'));
  // Each kernel's gradient is the dense conv's gradient at that connection.
  forward(c3, x).sum().backward();
  forward(dense, x).sum().backward();
  const dg = dense.weight.grad!.dataSync();
  const expected = LENET_C3_TABLE.flatMap((inputs, o) => inputs.flatMap((i) => Array.from(dg.subarray((o * 6 + i) * 25, (o * 6 + i + 1) * 25))));
  assertClose(c3.weight.grad!, { shape: [60, 5, 5], data: expected }, 'kernel gradients');
  throwsNaming(() => new ConnectionTableConv2d(6, [[0, 6]], 5), StrideError, 'output 0 must list distinct input maps in 0..5', '[0, 6]');
});


// ---------------------------------------------------------------- AlexNet, ZFNet

test("alexnet: torchvision's (61,100,840 parameters, its keys)", () => {
  const m = new AlexNet();
  assertTorchvisionKeys('alexnet', m);
  assert.equal(count(m), 61_100_840);
  assert.deepEqual(keysAndShapes(new AlexNet({ num_classes: 10, in_channels: 1 })).filter(([k]) => k === 'features.0.weight' || k === 'classifier.6.weight'),
    [['features.0.weight', [64, 1, 11, 11]], ['classifier.6.weight', [10, 4096]]]);
});

const alexnetOriginal = () => built('alexnet original', () => new AlexNet({ variant: 'original' })) as AlexNet;

test("alexnet variant original: the course's 227x227 table, 62,378,344 parameters, LRN after conv1 and conv2", () => {
  const m = alexnetOriginal();
  assert.equal(count(m), 62_378_344);
  const s = m.summary([3, 227, 227]);
  assert.equal(s.total_params, 62_378_344);
  assert.deepEqual(s.rows.filter((r) => ['Conv2d', 'MaxPool2d', 'Linear'].includes(r.type)).map((r) => [...r.output_shape]), [
    [96, 55, 55], [96, 27, 27], [256, 27, 27], [256, 13, 13], [384, 13, 13], [384, 13, 13], [256, 13, 13], [256, 6, 6], [4096], [4096], [1000],
  ]);
  assert.deepEqual(s.rows.filter((r) => r.params > 0).map((r) => r.params), [34_944, 614_656, 885_120, 1_327_488, 884_992, 37_752_832, 16_781_312, 4_097_000]);
  assert.deepEqual(s.rows.slice(0, 8).map((r) => r.type), ['Conv2d', 'ReLU', 'LocalResponseNorm', 'MaxPool2d', 'Conv2d', 'ReLU', 'LocalResponseNorm', 'MaxPool2d']);
});

test('alexnet LRN is the paper\'s: b = a / (2 + 1e-4 Σ a²)^0.75 over 5 maps', () => {
  const lrn = alexnetOriginal().features[2] as Module;
  // One map of 7s among zeros: its own sum is 49, so b = 7 / (2 + 1e-4 · 49)^0.75 (not α/n as Caffe and PyTorch scale it).
  const x = fromFlat([0, 0, 7, 0, 0], [1, 5, 1, 1]);
  assertClose(forward(lrn, x), { shape: [1, 5, 1, 1], data: [0, 0, 7 / (2 + 1e-4 * 49) ** 0.75, 0, 0] }, 'LRN');
});

test('zfnet: Zeiler & Fergus\'s 224 → 110 → 55 → 26 → 13 → 6 maps, 62,357,608 parameters', () => {
  const m = new ZFNet();
  const rows = m.summary([3, 224, 224]).rows;
  assert.deepEqual(rows.filter((r) => ['Conv2d', 'MaxPool2d', 'Linear'].includes(r.type)).map((r) => [r.type, [...r.output_shape]]), [
    ['Conv2d', [96, 110, 110]], ['MaxPool2d', [96, 55, 55]], ['Conv2d', [256, 26, 26]], ['MaxPool2d', [256, 13, 13]],
    ['Conv2d', [384, 13, 13]], ['Conv2d', [384, 13, 13]], ['Conv2d', [256, 13, 13]], ['MaxPool2d', [256, 6, 6]],
    ['Linear', [4096]], ['Linear', [4096]], ['Linear', [1000]],
  ]);
  // 7x7x3 first-layer filters (14,208 parameters), then AlexNet's widths.
  assert.deepEqual(rows.filter((r) => r.params > 0).map((r) => r.params), [14_208, 614_656, 885_120, 1_327_488, 884_992, 37_752_832, 16_781_312, 4_097_000]);
  assert.equal(count(m), 62_357_608);
});

// ---------------------------------------------------------------- VGG

test("vgg16: 138,357,544 parameters, torchvision's keys and init (conv N(0, 2/fan_out), linear N(0, 0.01), zero biases)", () => {
  const m = vgg16();
  assertTorchvisionKeys('vgg16', m);
  assert.equal(count(m), 138_357_544);
  const conv = m.features[5] as Conv2d; // 64 → 128: fan_out = 128 * 9
  const rms = (t: Tensor) => Math.sqrt(t.square().mean().item());
  assert.ok(Math.abs(rms(conv.weight) - Math.sqrt(2 / (128 * 9))) < 0.003, `conv std ${rms(conv.weight)}`);
  assert.ok(Math.abs(rms((m.classifier[0] as Linear).weight) - 0.01) < 2e-4);
  assert.equal(conv.bias!.abs().sum().item(), 0);
  assert.equal((m.classifier[6] as Linear).bias!.abs().sum().item(), 0);
});

test('vgg16 layers keep the course table\'s channels, halving the maps at each pooling (32x32 input)', () => {
  assert.deepEqual(layerShapes(vgg16(), [3, 32, 32], ['Conv2d', 'MaxPool2d', 'Linear']), [
    ...[[64, 32], [64, 32], [64, 16], [128, 16], [128, 16], [128, 8], [256, 8], [256, 8], [256, 8], [256, 4],
      [512, 4], [512, 4], [512, 4], [512, 2], [512, 2], [512, 2], [512, 2], [512, 1]].map(([c, s], i) => [[2, 5, 9, 13, 17].includes(i) ? 'MaxPool2d' : 'Conv2d', [c!, s!, s!]]),
    ['Linear', [4096]], ['Linear', [4096]], ['Linear', [1000]],
  ]);
});

test("vgg16 at 224x224: the course's per-layer output shapes (followed on the meta backend)", () => {
  const convs = (c: number, s: number, n: number) => Array.from({ length: n }, () => ['Conv2d', [c, s, s]]);
  const onMeta = with_default_backend('meta', () => new VGG('vgg16'));
  assert.equal(count(onMeta), 138_357_544);
  assert.deepEqual(layerShapes(onMeta, [3, 224, 224], ['Conv2d', 'MaxPool2d', 'Linear']), [
    ...convs(64, 224, 2), ['MaxPool2d', [64, 112, 112]],
    ...convs(128, 112, 2), ['MaxPool2d', [128, 56, 56]],
    ...convs(256, 56, 3), ['MaxPool2d', [256, 28, 28]],
    ...convs(512, 28, 3), ['MaxPool2d', [512, 14, 14]],
    ...convs(512, 14, 3), ['MaxPool2d', [512, 7, 7]],
    ['Linear', [4096]], ['Linear', [4096]], ['Linear', [1000]],
  ]);
});

test("vgg11_bn: torchvision's keys, with BatchNorm after every convolution", () => {
  const m = new VGG('vgg11', { batch_norm: true, init_weights: false });
  assertTorchvisionKeys('vgg11_bn', m);
  assert.deepEqual([...m.features].slice(0, 4).map((l) => l.constructor.name), ['Conv2d', 'BatchNorm2d', 'ReLU', 'MaxPool2d']);
});

test("the other VGGs: torchvision's parameter totals and keys", () => {
  for (const name of ['vgg11', 'vgg13', 'vgg13_bn', 'vgg16_bn', 'vgg19', 'vgg19_bn']) {
    assertTorchvisionKeys(name, with_default_backend('meta', () => create_model(name)));
  }
});

// ---------------------------------------------------------------- GoogLeNet

test("googlenet: torchvision's keys with the auxiliary heads, 6,624,904 parameters without", () => {
  const m = new GoogLeNet({ init_weights: false });
  assertTorchvisionKeys('googlenet', m);
  const plain = new GoogLeNet({ aux_logits: false, init_weights: false });
  assert.equal(count(plain), 6_624_904);
  assert.deepEqual(keysAndShapes(plain), TORCHVISION.models['googlenet']!.state_dict.filter(([k]) => !/^aux[12]\./.test(k)));
});

test('googlenet returns the auxiliary logits in training mode only; Inception concatenates its four branches', () => {
  const m = new GoogLeNet({ num_classes: 7, init_weights: false });
  const x = randn([2, 3, 64, 64]);
  const out = (m.call as (x: Tensor) => GoogLeNetOutputs)(x);
  assert.deepEqual(Object.keys(out), ['logits', 'aux_logits2', 'aux_logits1']);
  for (const t of Object.values(out)) assert.deepEqual([...t.shape], [2, 7]);
  m.eval();
  const logits = forward(m, x);
  assert.deepEqual([...logits.shape], [2, 7]);
  const rows = m.summary([3, 64, 64]).rows;
  assert.ok(!rows.some((r) => r.name.startsWith('aux')), 'no auxiliary head runs in eval mode');
  // inception3a: 64 + 128 + 32 + 32 maps of 8x8.
  const branches = rows.filter((r) => /^inception3a\.branch(1\.bn|[234]\.1\.bn)$/.test(r.name)).map((r) => r.output_shape[0]);
  assert.deepEqual(branches, [64, 128, 32, 32]);
});

test("googlenet transform_input maps ImageNet-normalised input to the Google weights' (x - 0.5) / 0.5", () => {
  const a = new GoogLeNet({ transform_input: true, aux_logits: false, num_classes: 5 }).eval();
  const b = new GoogLeNet({ aux_logits: false, num_classes: 5 }).eval();
  b.load_state_dict(a.state_dict());
  const x = randn([1, 3, 32, 32]);
  const mean = [0.485, 0.456, 0.406];
  const std = [0.229, 0.224, 0.225];
  // Undo ImageNet's normalisation, redo it with mean = std = 0.5.
  const manual = cat(mean.map((m, c) => select(x, 1, c).unsqueeze(1).mul(std[c]!).add(m).sub(0.5).div(0.5)), 1);
  assertClose(forward(a, x), { shape: [1, 5], data: forward(b, manual).dataSync() }, 'transformed logits', { rtol: 1e-4, scaled_atol: 1e-4 });
});

// ---------------------------------------------------------------- ResNet

test("resnet18: 11,689,512 parameters and torchvision's keys; resnet50: Bottleneck keys", () => {
  const m = new ResNet('resnet18');
  assertTorchvisionKeys('resnet18', m);
  assert.equal(count(m), 11_689_512);
  assertTorchvisionKeys('resnet50', new ResNet('resnet50'));
});

test("resnet34, resnet101, resnet152: torchvision's totals and keys", () => {
  for (const name of ['resnet34', 'resnet101', 'resnet152']) assertTorchvisionKeys(name, with_default_backend('meta', () => create_model(name)));
});

test('resnet18 stages halve the maps and double the channels; in_channels and num_classes change conv1 and fc', () => {
  const m = new ResNet('resnet18', { in_channels: 1, num_classes: 10 });
  const rows = m.summary([1, 64, 64]).rows;
  const out = (name: string) => [...rows.filter((r) => r.name === name).at(-1)!.output_shape];
  assert.deepEqual(['conv1', 'maxpool', 'layer1.1.bn2', 'layer2.1.bn2', 'layer3.1.bn2', 'layer4.1.bn2', 'fc'].map(out),
    [[64, 32, 32], [64, 16, 16], [64, 16, 16], [128, 8, 8], [256, 4, 4], [512, 2, 2], [10]]);
  assert.deepEqual([...m.conv1.weight.shape], [64, 1, 7, 7]);
});

test('zero_init_residual makes every basic block start as the identity (then ReLU)', () => {
  const m = new ResNet('resnet18', { zero_init_residual: true }).eval();
  const block = m.layer1[1] as BasicBlock;
  assert.equal((block.bn2 as BatchNorm2d).weight!.abs().sum().item(), 0);
  const x = randn([1, 64, 8, 8]);
  assertClose(forward(block, x), { shape: [1, 64, 8, 8], data: x.relu().dataSync() }, 'block output');
  // Without it the BatchNorm weights are ones (the CIFAR ResNet shares the blocks and the init).
  assert.equal(((new CifarResNet().layer1[1] as BasicBlock).bn2 as BatchNorm2d).weight!.sum().item(), 16);
  assert.equal(((new CifarResNet({ zero_init_residual: true }).layer1[1] as BasicBlock).bn2 as BatchNorm2d).weight!.abs().sum().item(), 0);
});

// ---------------------------------------------------------------- CIFAR ResNets

test('cifar resnet20/32/56: 6n+2 layers of 16/32/64 channels with 1x1 projection shortcuts where the shape changes', () => {
  /** Conv 3x3 + BN per layer; n blocks per stage; projections (conv 1x1 + BN) into stages 2 and 3; fc 64 → 10. */
  const expected = (n: number) => {
    const conv = (cin: number, cout: number, k: number) => cin * cout * k * k + 2 * cout;
    let total = conv(3, 16, 3) + 64 * 10 + 10;
    for (const [cin, c] of [[16, 16], [16, 32], [32, 64]] as const) {
      total += conv(cin, c, 3) + conv(c, c, 3) + (n - 1) * 2 * conv(c, c, 3);
      if (cin !== c) total += conv(cin, c, 1);
    }
    return total;
  };
  for (const [name, n, params] of [['resnet20', 3, 272_474], ['resnet32', 5, 466_906], ['resnet56', 9, 855_770]] as const) {
    const m = create_model(name) as CifarResNet;
    assert.equal(count(m), expected(n), name);
    assert.equal(count(m), params, name);
    assert.equal([...m.modules()].filter((l) => l instanceof Conv2d && l.kernel_size[0] === 3).length, 6 * n + 1, `${name}: 3x3 convolutions`);
  }
  const m = create_model('resnet20') as CifarResNet;
  const keys = keysAndShapes(m);
  assert.deepEqual(keys.filter(([k]) => k.includes('downsample.0')), [['layer2.0.downsample.0.weight', [32, 16, 1, 1]], ['layer3.0.downsample.0.weight', [64, 32, 1, 1]]]);
  const rows = m.summary([3, 32, 32]).rows;
  assert.deepEqual(['layer1.2.bn2', 'layer2.2.bn2', 'layer3.2.bn2', 'fc'].map((n) => [...rows.find((r) => r.name === n)!.output_shape]), [[16, 32, 32], [32, 16, 16], [64, 8, 8], [10]]);
});

// ---------------------------------------------------------------- U-Net

test('unet: the paper\'s 572x572 tile gives a 388x388 map; the last decoder stage sees the cropped first-stage maps next to the up-convolved ones', () => {
  const m = new UNet({ base_channels: 2 });
  const seen: Record<string, Tensor> = {};
  const handles = [
    m.encoder[0]!.register_forward_hook((_m, _in, out) => void (seen['skip'] = out as Tensor)),
    m.upconv[3]!.register_forward_hook((_m, _in, out) => void (seen['up'] = out as Tensor)),
    m.decoder[3]!.register_forward_pre_hook((_m, inputs) => void (seen['decoder'] = inputs[0] as Tensor)),
  ];
  const rows = m.summary([1, 572, 572]).rows;
  for (const h of handles) h.remove();
  assert.deepEqual([...rows.at(-1)!.output_shape], [2, 388, 388]);
  // Up-convolutions double the side: 28 → 56, 52 → 104, 100 → 200, 196 → 392 (Fig. 1 of the paper).
  assert.deepEqual(rows.filter((r) => r.type === 'ConvTranspose2d').map((r) => [...r.output_shape]), [[16, 56, 56], [8, 104, 104], [4, 200, 200], [2, 392, 392]]);
  // The 568x568 first-stage maps cropped to their middle 392x392 (from 88), then the up-convolution's 2 maps.
  const { skip, up, decoder } = seen as { skip: Tensor; up: Tensor; decoder: Tensor };
  assert.deepEqual([...skip.shape], [1, 2, 568, 568]);
  const cropped = skip.narrow(2, 88, 392).narrow(3, 88, 392);
  assertClose(decoder.narrow(1, 0, 2), { shape: [1, 2, 392, 392], data: cropped.contiguous().dataSync() }, 'skip half');
  assertClose(decoder.narrow(1, 2, 2), { shape: [1, 2, 392, 392], data: up.dataSync() }, 'up-convolved half');
});

test('unet with padding: output size = input size; 31,030,658 parameters at full width', () => {
  const m = new UNet({ padding: true, base_channels: 4, in_channels: 3, num_classes: 5 });
  assert.deepEqual([...forward(m, randn([2, 3, 32, 32])).shape], [2, 5, 32, 32]);
  throwsNaming(() => forward(m, randn([1, 3, 40, 40])), ShapeError, 'unet: stage 4 gets 5x5 maps');
  const conv = (cin: number, cout: number, k: number) => cin * cout * k * k + cout;
  const w = [64, 128, 256, 512, 1024];
  let expected = conv(64, 2, 1);
  w.forEach((c, i) => (expected += conv(i ? w[i - 1]! : 1, c, 3) + conv(c, c, 3)));
  w.slice(0, 4).forEach((c) => (expected += conv(2 * c, c, 2) + conv(2 * c, c, 3) + conv(c, c, 3)));
  assert.equal(expected, 31_030_658);
  assert.equal(count(create_model('unet')), expected);
});

// ---------------------------------------------------------------- MobileNetV2

test("mobilenet_v2: torchvision's keys and 3,504,872 parameters; width_mult rounds channels to multiples of 8", () => {
  const m = new MobileNetV2();
  assertTorchvisionKeys('mobilenet_v2', m);
  assert.equal(count(m), 3_504_872);
  const half = new MobileNetV2({ width_mult: 0.5, num_classes: 10 });
  assert.deepEqual([...((half.features[0] as Sequential)[0] as Conv2d).weight.shape], [16, 3, 3, 3]);
  assert.equal(half.last_channel, 1280);
  const rows = half.summary([3, 64, 64]).rows;
  assert.deepEqual([...rows.at(-1)!.output_shape], [10]);
  assert.deepEqual([...rows.find((r) => r.name === 'features.18.2')!.output_shape], [1280, 2, 2]);
});
