/**
 * Every stride/nn layer against torch.nn (PyTorch 1.13 fixtures from tools/fixtures/nn_reference.py):
 * the layer is built from the same constructor arguments, loads PyTorch's state_dict (so its key
 * names, order, shapes and dtypes must be PyTorch's), and must give PyTorch's outputs, input and
 * parameter gradients and buffers over its train/eval steps. Cases from stride run the round trip
 * the other way: a seeded fresh stride model's state_dict, loaded into torch, gave the recorded
 * outputs. Last, the default initialisation against PyTorch's distributions.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DTypeError, ShapeError, StrideError, manual_seed, randn, type Tensor } from '../src/index.js';
import {
  BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, ConvTranspose2d, Dropout, Embedding, GroupNorm, InstanceNorm2d, Linear, PReLU, ZeroPad2d,
  type Module, type PaddingMode,
} from '../src/nn/index.js';
import { buildLayer, decode, encodeState, type LayerSpec, type StateEntry } from '../tools/fixtures/nn_spec.js';
import { assertClose, fromFixture, throwsNaming, type FixtureTensor } from './helpers.js';

interface Step {
  mode: 'train' | 'eval';
  inputs: FixtureTensor[];
  output: FixtureTensor;
  grad_output?: FixtureTensor;
  input_grads?: (FixtureTensor | null)[];
  param_grads?: Record<string, FixtureTensor>;
  buffers: Record<string, FixtureTensor>;
}

interface LayerCase {
  name: string;
  spec: LayerSpec;
  state: StateEntry[];
  steps: Step[];
  from_stride?: boolean;
  seed?: number;
}

interface Fixture {
  cases: LayerCase[];
  init: {
    uniform: { name: string; spec: LayerSpec; fan_in: number }[];
    fixed: { name: string; spec: LayerSpec; state: StateEntry[] }[];
  };
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/nn.json', import.meta.url), 'utf8')) as Fixture;

const maxAbs = (data: ArrayLike<number>) => Array.from(data).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

function runStep(layer: Module, step: Step, what: string): void {
  layer.train(step.mode === 'train');
  layer.zero_grad();
  const inputs = step.inputs.map(fromFixture);
  const out = (layer.call as (...a: Tensor[]) => Tensor)(...inputs);
  assertClose(out, step.output, `${what} output`);
  if (step.grad_output) {
    out.backward(fromFixture(step.grad_output));
    const expected = [...step.input_grads!, ...Object.values(step.param_grads!)];
    const scale = Math.max(...expected.map((g) => (g ? maxAbs(g.data) : 0)));
    const compare = (got: Tensor, g: FixtureTensor, name: string) => {
      // A gradient that is zero up to rounding (a conv bias before train-mode BatchNorm, which
      // removes the mean) is float noise in both: it must be as small, not equal.
      if (maxAbs(g.data) <= 1e-5 * scale) assert.ok(maxAbs(got.dataSync()) <= 1e-5 * scale, `${what}: ${name} should vanish`);
      else assertClose(got, g, `${what} ${name}`);
    };
    step.input_grads!.forEach((g, i) => {
      if (!g) return;
      assert.ok(inputs[i]!.grad, `${what}: input ${i} got no gradient`);
      compare(inputs[i]!.grad!, g, `gradient of input ${i}`);
    });
    const params = new Map(layer.named_parameters());
    for (const k of Object.keys(step.param_grads!)) assert.ok(params.has(k), `${what}: PyTorch has a gradient for '${k}', stride no such parameter`);
    for (const [k, p] of params) {
      const g = step.param_grads![k];
      if (!g) {
        assert.equal(p.grad, null, `${what}: '${k}' has a gradient, PyTorch's has none`);
        continue;
      }
      assert.ok(p.grad, `${what}: parameter '${k}' got no gradient`);
      compare(p.grad, g, `gradient of '${k}'`);
    }
  }
  const buffers = Object.fromEntries(layer.named_buffers());
  assert.deepEqual(Object.keys(buffers), Object.keys(step.buffers), `${what}: buffer names`);
  for (const [k, b] of Object.entries(step.buffers)) assertClose(buffers[k]!, b, `${what} buffer '${k}'`);
}

const stateKeys = (m: Module) => Object.keys(m.state_dict());

/** The module's state_dict is exactly `state` (fixture floats are decimals: compare them as float32). */
function assertState(m: Module, state: StateEntry[], what: string): void {
  const asFloat32 = (s: StateEntry[]) => s.map((e) => ({ ...e, data: e.dtype === 'float32' ? e.data.map(Math.fround) : e.data }));
  assert.deepEqual(asFloat32(encodeState(m)), asFloat32(state), what);
}

test('nn.json covers every layer class it is meant to', () => {
  const layers = new Set<string>();
  const walk = (s: LayerSpec): void => {
    layers.add(s.layer);
    for (const a of s.args) if (typeof a === 'object' && a !== null && 'layer' in a) walk(a as LayerSpec);
  };
  for (const c of fixture.cases) walk(c.spec);
  const expected = [
    'Linear', 'Conv1d', 'Conv2d', 'ConvTranspose1d', 'ConvTranspose2d', 'MaxPool1d', 'MaxPool2d', 'AvgPool1d', 'AvgPool2d',
    'AdaptiveAvgPool1d', 'AdaptiveAvgPool2d', 'AdaptiveMaxPool2d', 'BatchNorm1d', 'BatchNorm2d', 'InstanceNorm2d', 'LayerNorm',
    'GroupNorm', 'LocalResponseNorm', 'ReLU', 'ReLU6', 'LeakyReLU', 'RReLU', 'PReLU', 'ELU', 'CELU', 'SELU', 'GELU', 'SiLU', 'Sigmoid',
    'Tanh', 'Softmax', 'LogSoftmax', 'Softmin', 'Softplus', 'Hardtanh', 'Hardsigmoid', 'Hardswish', 'Softsign', 'LogSigmoid',
    'Dropout', 'Dropout2d', 'Flatten', 'Unflatten', 'Identity', 'ZeroPad2d', 'ConstantPad2d', 'ReflectionPad2d', 'ReplicationPad2d',
    'Embedding', 'Upsample', 'CrossEntropyLoss', 'NLLLoss', 'BCELoss', 'BCEWithLogitsLoss', 'MSELoss', 'L1Loss', 'SmoothL1Loss',
    'HuberLoss', 'HingeEmbeddingLoss', 'MultiMarginLoss', 'Sequential',
  ];
  assert.deepEqual(expected.filter((l) => !layers.has(l)), [], 'layers without a case');
});

for (const c of fixture.cases) {
  test(`nn.json: ${c.name}`, () => {
    if (c.from_stride) manual_seed(c.seed!);
    const layer = buildLayer(c.spec);
    const own = layer.state_dict();
    assert.deepEqual(Object.keys(own), c.state.map((e) => e.key), 'state_dict keys (PyTorch names and order)');
    c.state.forEach((e) => assert.equal(own[e.key]!.dtype, e.dtype, `dtype of '${e.key}'`));
    if (c.from_stride) {
      // The seed reproduces the state that PyTorch loaded.
      assertState(layer, c.state, 'the seeded fresh state_dict is the one loaded into PyTorch');
    } else {
      const result = layer.load_state_dict(Object.fromEntries(c.state.map((e) => [e.key, decode(e)])));
      assert.deepEqual(result, { missing_keys: [], unexpected_keys: [] });
      assertState(layer, c.state, 'state after load_state_dict');
    }
    c.steps.forEach((step, i) => runStep(layer, step, `${c.name}, step ${i + 1} (${step.mode})`));
  });
}

test('Sequential state_dict keys are PyTorch nested names', () => {
  const c = fixture.cases.find((k) => k.name === 'Sequential conv-bn-relu-pool-flatten-linear')!;
  assert.deepEqual(stateKeys(buildLayer(c.spec)), [
    '0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked', '5.weight', '5.bias',
  ]);
  const nested = fixture.cases.find((k) => k.name === 'from stride: nested Sequential')!;
  assert.deepEqual(stateKeys(buildLayer(nested.spec)), [
    '0.0.weight', '0.1.weight', '0.1.bias', '0.1.running_mean', '0.1.running_var', '0.1.num_batches_tracked', '1.weight', '4.weight', '4.bias',
  ]);
});

test('Embedding padding_idx: the padding row is looked up but gets a zero gradient', () => {
  const c = fixture.cases.find((k) => k.name === 'Embedding padding_idx')!;
  const padRow = c.state[0]!.data.slice(2 * 3, 3 * 3);
  assert.ok(padRow.some((v) => v !== 0), 'the fixture sets the padding row non-zero');
  const grad = c.steps[0]!.param_grads!.weight!.data;
  assert.deepEqual(grad.slice(2 * 3, 3 * 3), [0, 0, 0], 'PyTorch gives the padding row no gradient');
  assert.ok(grad.some((v) => v !== 0));
});

test('load_state_dict rejects a PyTorch state_dict of another shape or with other keys, naming them', () => {
  const c = fixture.cases.find((k) => k.name === 'Linear')!;
  const state = Object.fromEntries(c.state.map((e) => [e.key, decode(e)]));
  throwsNaming(() => new Linear(5, 3).load_state_dict(state), ShapeError, 'Linear', 'weight', '[3, 5]', '[3, 4]');
  throwsNaming(() => new Linear(4, 3, false).load_state_dict(state), ShapeError, 'Linear', 'unexpected', 'bias');
});

test('layers reject bad arguments and inputs, naming the layer, what came and what was expected', () => {
  throwsNaming(() => new BatchNorm2d(3).call(randn([3, 2, 2])), ShapeError, 'BatchNorm2d', '4-d', '[3, 2, 2]');
  throwsNaming(() => new BatchNorm1d(3).call(randn([2, 3, 2, 2])), ShapeError, 'BatchNorm1d', '2-d or 3-d', '[2, 3, 2, 2]');
  throwsNaming(() => new InstanceNorm2d(3).call(randn([2, 3])), ShapeError, 'InstanceNorm2d', '3-d or 4-d', '[2, 3]');
  // PyTorch's instance norm fails on momentum None (it keeps no cumulative average).
  throwsNaming(() => new InstanceNorm2d(3, { momentum: null, track_running_stats: true }), StrideError, 'InstanceNorm2d', 'momentum', 'null');
  throwsNaming(() => new Conv2d(4, 2, 3, { padding: 'same', stride: 2 }), StrideError, 'Conv2d', 'same', 'strided');
  throwsNaming(() => new Conv1d(4, 3, 3, { groups: 2 }), StrideError, 'Conv1d', 'out_channels (3)', 'groups (2)');
  throwsNaming(() => new ConvTranspose2d(3, 4, 3, { groups: 2 }), StrideError, 'ConvTranspose2d', 'in_channels (3)', 'groups (2)');
  throwsNaming(() => new Conv2d(1, 1, 3, { padding_mode: 'mirror' as PaddingMode }), StrideError, 'Conv2d', 'padding_mode', 'mirror');
  throwsNaming(() => new Embedding(4, 2).call(randn([3])), DTypeError, 'Embedding', 'integer', 'float32');
  throwsNaming(() => new Embedding(4, 2, { padding_idx: 4 }), StrideError, 'Embedding', 'padding_idx 4', '[-4, 4)');
  throwsNaming(() => new Dropout(1.5), StrideError, 'Dropout', 'between 0 and 1', '1.5');
  throwsNaming(() => new PReLU(0), StrideError, 'PReLU', 'num_parameters', '0');
  throwsNaming(() => new GroupNorm(3, 4), StrideError, 'GroupNorm', 'num_channels (4)', 'num_groups (3)');
  throwsNaming(() => new ZeroPad2d([1, 2, 3] as unknown as number), StrideError, 'ZeroPad2d', 'left, right, top, bottom', '[1,2,3]');
});

// ---------------------------------------------------------------- default initialisation

/** |mean| and the mean square of `values` against a zero-mean distribution of variance v, within 5 standard errors. */
function assertMoments(values: ArrayLike<number>, variance: number, fourthMoment: number, what: string): void {
  const n = values.length;
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    s += values[i]!;
    s2 += values[i]! * values[i]!;
  }
  const mean = s / n;
  const meanSquare = s2 / n;
  assert.ok(Math.abs(mean) <= 5 * Math.sqrt(variance / n), `${what}: mean ${mean} of ${n} values, expected 0`);
  const seSquare = Math.sqrt((fourthMoment - variance * variance) / n);
  assert.ok(Math.abs(meanSquare - variance) <= 5 * seSquare, `${what}: mean square ${meanSquare} of ${n} values, expected ${variance}`);
}

/** Values from U(-b, b): inside the bound, reaching it (P(max |w| < b(1 - 20/n)) ≈ e⁻²⁰), and its moments b²/3 and b⁴/5. */
function assertUniform(t: Tensor, b: number, what: string): void {
  const v = t.dataSync();
  const n = v.length;
  let max = 0;
  for (let i = 0; i < n; i++) max = Math.max(max, Math.abs(v[i]!));
  assert.ok(max <= Math.fround(b), `${what}: max |w| ${max} exceeds the bound ${b}`);
  assert.ok(max >= b * (1 - 20 / n), `${what}: max |w| ${max} of ${n} values stays well inside the bound ${b}`);
  assertMoments(v, (b * b) / 3, b ** 4 / 5, what);
}

for (const c of fixture.init.uniform) {
  test(`default init of ${c.name}: weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in ${c.fan_in} as PyTorch's`, () => {
    manual_seed(11);
    const layer = buildLayer(c.spec) as Module & { weight: Tensor; bias: Tensor };
    const bound = 1 / Math.sqrt(c.fan_in);
    assertUniform(layer.weight, bound, `${c.name} weight`);
    assertUniform(layer.bias, bound, `${c.name} bias`);
  });
}

test('default init fan_in: PyTorch counts weight.size(1) x kernel, so in/groups for conv and out/groups for transposed conv', () => {
  const fanIn = Object.fromEntries(fixture.init.uniform.map((c) => [c.name, c.fan_in]));
  assert.deepEqual(fanIn, {
    Linear: 500,
    'Conv1d groups 2': (32 / 2) * 5,
    'Conv2d groups 4': (64 / 4) * 3 * 3,
    'ConvTranspose2d groups 4': (128 / 4) * 3 * 3,
    ConvTranspose1d: 96 * 4,
  });
});

test('default init of Embedding: N(0, 1), the padding row zero', () => {
  manual_seed(12);
  const e = new Embedding(1000, 64, { padding_idx: 3 });
  const w = e.weight.dataSync();
  assertMoments(w.filter((_, i) => Math.floor(i / 64) !== 3), 1, 3, 'Embedding weight');
  assert.deepEqual(Array.from(w.slice(3 * 64, 4 * 64)), new Array<number>(64).fill(0));
});

for (const c of fixture.init.fixed) {
  test(`default init of ${c.name} is PyTorch's fresh state`, () => {
    assertState(buildLayer(c.spec), c.state, `${c.name} fresh state`);
  });
}
