import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ShapeError, StrideError, Tensor, fromFlat, no_grad, ones, randn, referenceBackend, registerBackend, tensor, zeros, type Backend } from '../src/index.js';
import {
  AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, ConvTranspose2d, CrossEntropyLoss, Dropout, Dropout2d,
  Embedding, Flatten, GroupNorm, Hardtanh, Identity, InstanceNorm2d, LayerNorm, Linear, LocalResponseNorm, MSELoss, MaxPool2d,
  Maxout, Module, ModuleDict, ModuleList, NLLLoss, PReLU, Parameter, ReLU, ReflectionPad2d, Sequential, Sigmoid, Tanh, Upsample, ZeroPad2d,
  type PaddingMode, type StateDict,
} from '../src/nn/index.js';
import { assertClose, fromFixture, throwsNaming, type FixtureTensor } from './helpers.js';

/** Names, weights and outputs recorded from PyTorch 1.13 models of the same structure (tools/fixtures/nn_utils_reference.py). */
const fixture = JSON.parse(readFileSync(new URL('./fixtures/nn_utils.json', import.meta.url), 'utf8')) as {
  model: {
    named_parameters: string[]; named_buffers: string[]; named_modules: string[]; named_children: string[];
    state_dict_keys: string[]; state_dict: Record<string, FixtureTensor>; input: FixtureTensor; output: FixtureTensor;
  };
  tied: { named_parameters: string[]; named_modules: string[]; state_dict_keys: string[] };
  module_dict: { keys: string[]; state_dict_keys: string[] };
  repr: string;
};

/** Runs a module on one tensor (Module's own call() is typed by each subclass's forward). */
function run(m: Module, x: Tensor): Tensor {
  return (m as unknown as { call(x: Tensor): Tensor }).call(x);
}

const names = (it: Iterable<[string, unknown]>) => [...it].map(([n]) => n);
/** A tensor's values as the expected side of assertClose. */
const valuesOf = (t: Tensor) => ({ shape: t.shape, data: t.dataSync() });

// ------------------------------------------------------------------ the fixture model

/** Custom module with its own parameter, a ModuleList, a persistent and a non-persistent buffer. */
class Block extends Module {
  scale = new Parameter(ones([1]));
  layers = new ModuleList([new Linear(8, 8), new ReLU(), new Linear(8, 8)]);
  declare shift: Tensor;
  declare cache: Tensor;
  head = new Linear(8, 5);

  constructor() {
    super();
    this.register_buffer('shift', zeros([8]));
    this.register_buffer('cache', zeros([8]), false);
  }

  forward(x: Tensor): Tensor {
    let h = x.mul(this.scale).add(this.shift);
    for (const layer of this.layers) h = run(layer, h);
    return this.head.call(h);
  }
}

/** A small VGG-like network: the same structure as Net in nn_utils_reference.py. */
class Net extends Module {
  features = new Sequential(
    new Conv2d(3, 4, 3, { padding: 1 }), new BatchNorm2d(4), new ReLU(), new MaxPool2d(2),
    new Sequential(new Conv2d(4, 8, 3, { padding: 1, bias: false }), new BatchNorm2d(8), new ReLU()),
    new AdaptiveAvgPool2d(1), new Flatten(), new Dropout(0.5));
  block = new Block();

  forward(x: Tensor): Tensor {
    return this.block.call(run(this.features, x));
  }
}

const pytorchState = (): StateDict =>
  Object.fromEntries(Object.entries(fixture.model.state_dict).map(([k, v]) => [k, fromFixture(v)]));

test('a VGG-like model has PyTorch\'s parameter, buffer, module and state_dict names in PyTorch\'s order', () => {
  const net = new Net();
  assert.deepEqual(names(net.named_parameters()), fixture.model.named_parameters);
  assert.deepEqual(names(net.named_buffers()), fixture.model.named_buffers);
  assert.deepEqual(names(net.named_modules()), fixture.model.named_modules);
  assert.deepEqual(names(net.named_children()), fixture.model.named_children);
  const sd = net.state_dict();
  assert.deepEqual(Object.keys(sd), fixture.model.state_dict_keys);
  for (const [k, t] of Object.entries(sd)) {
    assert.deepEqual([...t.shape], fixture.model.state_dict[k]!.shape, `shape of ${k}`);
    assert.equal(t.dtype, fixture.model.state_dict[k]!.dtype, `dtype of ${k}`);
  }
  assert.equal(net.parameters().length, fixture.model.named_parameters.length);
  assert.equal(net.buffers().length, fixture.model.named_buffers.length);
});

test('loading PyTorch\'s state_dict reproduces PyTorch\'s eval output', () => {
  const net = new Net();
  const result = net.load_state_dict(pytorchState());
  assert.deepEqual(result, { missing_keys: [], unexpected_keys: [] });
  net.eval();
  assertClose(net.call(fromFixture(fixture.model.input)), fixture.model.output, 'Net output', { rtol: 1e-4, scaled_atol: 1e-5 });
  assert.equal(net.features[1]!.state_dict()['num_batches_tracked']!.item(), 2);
});

// ------------------------------------------------------------------ traversal

class Inner extends Module {
  lin = new Linear(2, 3);
  alpha = new Parameter(ones([3]));

  forward(x: Tensor): Tensor {
    return this.lin.call(x).mul(this.alpha);
  }
}

class Outer extends Module {
  first = new Parameter(zeros([1]));
  inner = new Inner();
  list = new ModuleList([new Linear(3, 3), new ReLU(), new Linear(3, 1)]);
  last = new Parameter(zeros([2]));

  forward(x: Tensor): Tensor {
    let h = this.inner.call(x);
    for (const m of this.list) h = run(m, h);
    return h.add(this.first);
  }
}

test('named_parameters: each module\'s own parameters before its children\'s, in assignment order', () => {
  const m = new Outer();
  assert.deepEqual(names(m.named_parameters()), [
    'first', 'last', 'inner.alpha', 'inner.lin.weight', 'inner.lin.bias', 'list.0.weight', 'list.0.bias', 'list.2.weight', 'list.2.bias',
  ]);
  assert.deepEqual(m.parameters(), [...m.named_parameters()].map(([, p]) => p));
  assert.deepEqual(names(m.named_parameters('model')).slice(0, 3), ['model.first', 'model.last', 'model.inner.alpha']);
  assert.deepEqual(names(m.named_parameters('', false)), ['first', 'last']);
  assert.deepEqual(m.parameters(false), [m.first, m.last]);
  assert.deepEqual(names(m.named_children()), ['inner', 'list']);
  assert.deepEqual([...m.children()], [m.inner, m.list]);
  assert.deepEqual(names(m.named_modules()), ['', 'inner', 'inner.lin', 'list', 'list.0', 'list.1', 'list.2']);
  assert.deepEqual([...m.modules()], [m, m.inner, m.inner.lin, m.list, m.list[0], m.list[1], m.list[2]]);
});

/** The same Linear under two names, and one weight shared by two Linears (Tied in nn_utils_reference.py). */
class Tied extends Module {
  a = new Linear(2, 2);
  b = this.a;
  c = new Linear(2, 2);

  constructor() {
    super();
    this.c.weight = this.a.weight;
  }

  forward(x: Tensor): Tensor {
    return this.c.call(this.b.call(x));
  }
}

test('shared modules and parameters: listed once by named_*, under every name by state_dict (PyTorch)', () => {
  const m = new Tied();
  assert.deepEqual(names(m.named_parameters()), fixture.tied.named_parameters);
  assert.deepEqual(names(m.named_modules()), fixture.tied.named_modules);
  assert.deepEqual(Object.keys(m.state_dict()), fixture.tied.state_dict_keys);
  assert.equal(m.parameters().length, 3);
  // Loading writes the shared tensors through either name.
  const sd = m.state_dict();
  const fresh = Object.fromEntries(Object.entries(sd).map(([k, t]) => [k, t.add(1)]));
  m.load_state_dict(fresh);
  assertClose(m.a.weight, valuesOf(fresh['c.weight']!), 'shared weight after load');
});

test('names registered with add_module keep their position, even integer-like ones (PyTorch\'s ModuleDict order)', () => {
  const d = new ModuleDict([['b', new ReLU()], ['1', new Linear(1, 1)], ['a', new Tanh()]]);
  d.add_module('0', new ReLU());
  assert.deepEqual(d.keys(), fixture.module_dict.keys);
  assert.deepEqual(Object.keys(d.state_dict()), fixture.module_dict.state_dict_keys);
  assert.ok(d.get('1') instanceof Linear);
  assert.equal(d.get('missing'), undefined);
  assert.deepEqual(new ModuleDict({ b: new ReLU(), 1: new Tanh() }).keys(), ['1', 'b'], 'an object literal has JS\'s key order');

  class Mixed extends Module {
    first = new ReLU();
    constructor() {
      super();
      this.add_module('7', new Tanh());
      this.add_module('last', new Sigmoid());
    }

    forward(): void {}
  }
  assert.deepEqual(names(new Mixed().named_children()), ['first', '7', 'last']);
});

test('names starting with an underscore are registered like any other (PyTorch allows them)', () => {
  class Private extends Module {
    _lin = new Linear(1, 1);
    constructor() {
      super();
      this.register_parameter('_p', new Parameter(zeros([1])));
    }

    forward(): void {}
  }
  assert.deepEqual(names(new Private().named_parameters()), ['_p', '_lin.weight', '_lin.bias']);
});

// ------------------------------------------------------------------ buffers and registration

test('buffers: persistent ones are in state_dict, persistent=false and null ones are not', () => {
  const b = new Block();
  assert.deepEqual(names(b.named_buffers()), ['shift', 'cache']);
  assert.deepEqual(b.buffers(), [b.shift, b.cache]);
  assert.deepEqual(Object.keys(b.state_dict()).filter((k) => !k.includes('.')), ['scale', 'shift']);
  b.register_buffer('cache', b.cache);
  assert.ok('cache' in b.state_dict(), 're-registering as persistent puts it in state_dict');
  b.register_buffer('empty', null);
  assert.deepEqual(names(b.named_buffers()), ['shift', 'cache']);
  assert.deepEqual(names(b.named_buffers('', false)), ['shift', 'cache']);
  assert.equal(new Outer().buffers().length, 0);
  // Buffers are not parameters: the optimizer never sees them.
  assert.ok(!b.parameters().includes(b.shift as Parameter));
});

test('register_parameter / register_buffer / add_module reject bad names and clashing attributes', () => {
  const m = new Linear(2, 2);
  const p = new Parameter(zeros([1]));
  throwsNaming(() => m.register_parameter('a.b', p), StrideError, 'register_parameter', 'a.b', "'.'");
  throwsNaming(() => m.register_parameter('', p), StrideError, 'register_parameter', 'non-empty');
  throwsNaming(() => m.register_buffer('x.y', zeros([1])), StrideError, 'register_buffer', 'x.y');
  throwsNaming(() => m.register_buffer('', zeros([1])), StrideError, 'register_buffer', 'non-empty');
  throwsNaming(() => m.add_module('sub.mod', new ReLU()), StrideError, 'add_module', 'sub.mod');
  throwsNaming(() => m.add_module('', new ReLU()), StrideError, 'add_module', 'non-empty');
  // Names taken by another kind of attribute, or by a method.
  throwsNaming(() => m.register_buffer('weight', zeros([2, 2])), StrideError, 'register_buffer', "'weight' already exists");
  throwsNaming(() => m.add_module('bias', new ReLU()), StrideError, 'add_module', "'bias' already exists");
  throwsNaming(() => m.add_module('training', new ReLU()), StrideError, 'add_module', "'training' already exists");
  throwsNaming(() => m.register_parameter('forward', p), StrideError, 'register_parameter', "'forward' already exists");
  throwsNaming(() => new BatchNorm1d(2).register_parameter('running_mean', p), StrideError, 'register_parameter', "'running_mean' already exists");
  const untracked = new BatchNorm1d(2, { track_running_stats: false });
  throwsNaming(() => untracked.add_module('running_mean', new ReLU()), StrideError, 'add_module', "'running_mean' is already a buffer");
  // Values of the wrong kind.
  throwsNaming(() => m.register_parameter('w2', zeros([1]) as Parameter), StrideError, 'register_parameter', 'a Tensor', 'Parameter or null');
  throwsNaming(() => m.add_module('sub', zeros([1]) as unknown as Module), StrideError, 'add_module', 'Module or null');
  throwsNaming(() => m.register_buffer('buf', 3 as unknown as Tensor), StrideError, 'register_buffer', 'number 3', 'Tensor or null');
  // Replacing a registered member with one of its kind is fine.
  m.register_parameter('weight', new Parameter(ones([2, 2])));
  assert.deepEqual(m.weight.tolist(), [[1, 1], [1, 1]]);
  m.register_parameter('bias', null);
  assert.deepEqual(names(m.named_parameters()), ['weight']);
  m.add_module('act', new ReLU());
  m.add_module('act', new Tanh());
  assert.deepEqual(names(m.named_children()), ['act']);
});

// ------------------------------------------------------------------ modes and gradients

test('train() and eval() set training on the module and every descendant, through their own train()', () => {
  /** A batch norm frozen in eval mode, the usual fine-tuning override. */
  class FrozenBN extends BatchNorm2d {
    override train(): this {
      return super.train(false);
    }
  }
  const net = new Net();
  net.block.add_module('frozen', new FrozenBN(2));
  assert.equal(net.eval(), net);
  for (const m of net.modules()) assert.equal(m.training, false, `${m.constructor.name} after eval()`);
  assert.equal(net.train(), net);
  for (const m of net.modules()) assert.equal(m.training, !(m instanceof FrozenBN), `${m.constructor.name} after train()`);
  net.train(false);
  assert.ok([...net.modules()].every((m) => !m.training));

  // The flag changes behaviour: dropout is the identity in eval mode.
  const drop = new Dropout(0.5);
  const x = ones([1000]);
  assert.ok(drop.call(x).dataSync().some((v) => v === 0), 'training: some elements dropped');
  drop.eval();
  assert.deepEqual(drop.call(x).dataSync(), x.dataSync());
});

function withGrads(): Linear {
  const lin = new Linear(3, 2);
  lin.call(ones([4, 3])).sum().backward();
  return lin;
}

test('zero_grad: set_to_none (default) clears the gradients, set_to_none=false zeroes them in place', () => {
  const lin = withGrads();
  assert.deepEqual(lin.bias!.grad!.tolist(), [4, 4]);
  const g = lin.weight.grad!;
  lin.zero_grad(false);
  assert.equal(lin.weight.grad, g, 'same gradient tensor');
  assert.deepEqual(lin.weight.grad!.tolist(), [[0, 0, 0], [0, 0, 0]]);
  assert.deepEqual(lin.bias!.grad!.tolist(), [0, 0]);
  lin.zero_grad();
  assert.equal(lin.weight.grad, null);
  assert.equal(lin.bias!.grad, null);
  lin.zero_grad(); // nothing to clear
  // Gradients accumulate again from zero.
  lin.call(ones([2, 3])).sum().backward();
  assert.deepEqual(lin.bias!.grad!.tolist(), [2, 2]);
});

test('requires_grad_ switches every parameter', () => {
  const m = new Outer();
  assert.equal(m.requires_grad_(false), m);
  assert.ok(m.parameters().every((p) => !p.requires_grad));
  assert.equal(m.call(ones([1, 2])).requires_grad, false);
  m.requires_grad_();
  assert.ok(m.parameters().every((p) => p.requires_grad));
});

test('apply visits children before their parent and returns the module', () => {
  const seq = new Sequential(new Linear(1, 1), new Sequential(new ReLU(), new Tanh()), new Identity());
  const visited: string[] = [];
  assert.equal(seq.apply((m) => visited.push(m.constructor.name)), seq);
  assert.deepEqual(visited, ['Linear', 'ReLU', 'Tanh', 'Sequential', 'Identity', 'Sequential']);
  // The usual use: re-initialising the weights of one layer type.
  seq.apply((m) => {
    if (m instanceof Linear) no_grad(() => m.weight.fill_(0.5));
  });
  assert.deepEqual((seq[0] as Linear).weight.tolist(), [[0.5]]);
});

// ------------------------------------------------------------------ hooks

test('forward pre-hooks replace the inputs, forward hooks the output; handles remove them', () => {
  const lin = new Linear(1, 1);
  no_grad(() => lin.weight.fill_(2));
  no_grad(() => lin.bias!.fill_(0));
  const x = tensor([[3]]);
  const seen: number[] = [];
  const pre = lin.register_forward_pre_hook((_m, [input]) => [(input as Tensor).mul(10)]);
  const fwd = lin.register_forward_hook((m, [input], out) => {
    assert.equal(m, lin);
    seen.push((input as Tensor).item(), (out as Tensor).item());
    return (out as Tensor).add(1);
  });
  const observe = lin.register_forward_hook((_m, _in, out) => void seen.push((out as Tensor).item()));
  assert.equal(lin.call(x).item(), 61, '(3·10)·2 + 1');
  assert.deepEqual(seen, [30, 60, 61], 'hooks run in registration order and see the replaced input and output');
  assert.equal(lin.forward(x).item(), 6, 'forward() bypasses the hooks');
  pre.remove();
  assert.equal(lin.call(x).item(), 7);
  fwd.remove();
  observe.remove();
  fwd.remove(); // removing twice is harmless
  assert.equal(lin.call(x).item(), 6);
  // A hook returning nothing keeps the inputs.
  lin.register_forward_pre_hook(() => undefined);
  assert.equal(lin.call(x).item(), 6);
});

test('hooks on a Sequential\'s children run when the Sequential runs', () => {
  const seq = new Sequential(new Linear(2, 2), new ReLU());
  const shapes: number[][] = [];
  seq[0]!.register_forward_hook((_m, _in, out) => void shapes.push([...(out as Tensor).shape]));
  seq[1]!.register_forward_pre_hook(() => [tensor([[-1, 2]])]);
  assert.deepEqual(run(seq, ones([5, 2])).tolist(), [[0, 2]]);
  assert.deepEqual(shapes, [[5, 2]]);
});

// ------------------------------------------------------------------ containers

test('Sequential: indexing, length, iteration, append, nested names and forward', () => {
  const inner = new Sequential(new Linear(3, 2), new Tanh());
  const seq = new Sequential(new Linear(4, 3), new ReLU(), inner);
  assert.equal(seq.length, 3);
  assert.ok(seq[0] instanceof Linear);
  assert.equal(seq[2], inner);
  assert.equal(seq[3], undefined);
  assert.deepEqual([...seq], [seq[0], seq[1], inner]);
  assert.deepEqual(names(seq.named_parameters()), ['0.weight', '0.bias', '2.0.weight', '2.0.bias']);
  const x = randn([5, 4]);
  const expected = (inner[1] as Tanh).call((inner[0] as Linear).call((seq[1] as ReLU).call((seq[0] as Linear).call(x))));
  assertClose(run(seq, x), valuesOf(expected), 'Sequential forward');

  const tail = new Linear(2, 1);
  assert.equal(seq.append(tail), seq);
  assert.equal(seq.length, 4);
  assert.equal(seq[3], tail);
  assert.deepEqual(run(seq, x).shape, [5, 1]);

  class Model extends Module {
    features = new Sequential(new Conv2d(1, 2, 3), new ReLU(), new Sequential(new Conv2d(2, 2, 1)));
    forward(x: Tensor): Tensor {
      return run(this.features, x);
    }
  }
  assert.deepEqual(Object.keys(new Model().state_dict()), [
    'features.0.weight', 'features.0.bias', 'features.2.0.weight', 'features.2.0.bias',
  ]);
  const empty = new Sequential();
  assert.equal(empty.length, 0);
  assert.equal(run(empty, x), x, 'an empty Sequential is the identity');
});

test('ModuleList registers its modules, iterates and appends; it has no forward', () => {
  const list = new ModuleList([new Linear(2, 2)]);
  list.append(new ReLU()).append(new Linear(2, 1));
  assert.equal(list.length, 3);
  assert.deepEqual([...list].map((m) => m.constructor.name), ['Linear', 'ReLU', 'Linear']);
  assert.deepEqual(names(list.named_parameters()), ['0.weight', '0.bias', '2.weight', '2.bias']);
  assert.equal(new ModuleList().length, 0);
  throwsNaming(() => list.forward(), StrideError, 'ModuleList', 'no forward');
  throwsNaming(() => new ModuleDict().forward(), StrideError, 'ModuleDict', 'no forward');
});

test('toString prints the module tree like PyTorch\'s repr', () => {
  class Head extends Module {
    act = new Tanh();
    branches = new ModuleDict({ left: new Identity(), right: new Sequential(new Sigmoid(), new ReLU()) });
    forward(): void {}
  }
  const model = new Sequential(new Flatten(), new ReLU(), new Head(), new ModuleList([new Identity()]), new Sequential());
  assert.equal(model.toString(), fixture.repr);
  assert.equal(String(new Linear(3, 2, false)), 'Linear(in_features=3, out_features=2, bias=false)');
});

// ------------------------------------------------------------------ backends

registerBackend({ ...referenceBackend, name: 'second' } as Backend);

test('to(backend) moves parameters (with gradients) and buffers, keeping tied weights tied', () => {
  class TiedNorm extends Tied {
    bn = new BatchNorm1d(2);
  }
  const net = new TiedNorm();
  const x = randn([3, 2]);
  net.eval();
  const before = run(net.bn, net.call(x));
  net.call(x).sum().backward();
  const grad = net.a.bias!.grad!.dataSync();
  const weights = net.state_dict();

  assert.equal(net.to('second'), net);
  for (const [k, t] of [...net.named_parameters(), ...net.named_buffers()]) assert.equal(t.device, 'second', k);
  assert.ok(net.parameters().every((p) => p instanceof Parameter && p.requires_grad));
  assert.equal(net.c.weight, net.a.weight, 'the shared weight is still shared');
  assert.equal(net.b, net.a);
  assert.equal(net.a.bias!.grad!.device, 'second');
  assert.deepEqual(net.a.bias!.grad!.dataSync(), grad);
  for (const [k, t] of Object.entries(net.state_dict())) assertClose(t, valuesOf(weights[k]!), k);
  assert.deepEqual(net.bn.num_batches_tracked!.dtype, 'int32');

  const xs = x.to('second');
  const after = run(net.bn, net.call(xs));
  assert.equal(after.device, 'second');
  // Equal up to rounding: the default backend (native in its test run) may sum in another order.
  assertClose(after, valuesOf(before), 'the output on the second backend');
  // Loading a state that lives on another backend copies across.
  net.load_state_dict(Object.fromEntries(Object.entries(weights).map(([k, t]) => [k, t.add(1)])));
  assert.equal(net.a.bias!.device, 'second');
  assertClose(net.a.bias!, valuesOf(weights['a.bias']!.add(1)), 'a.bias loaded from the reference backend');
  net.to(referenceBackend.name);
  assert.equal(net.a.weight.device, referenceBackend.name);
});

// ------------------------------------------------------------------ state_dict / load_state_dict

test('state_dict round trip: a second model gives identical outputs and owns its copy', () => {
  const a = new Net();
  const b = new Net();
  a.train();
  run(a.features, randn([4, 3, 6, 6])); // non-default running statistics
  a.eval();
  b.eval();
  const x = randn([2, 3, 6, 6]);
  assert.notDeepEqual(b.call(x).dataSync(), a.call(x).dataSync());
  assert.deepEqual(b.load_state_dict(a.state_dict()), { missing_keys: [], unexpected_keys: [] });
  assert.deepEqual(b.call(x).dataSync(), a.call(x).dataSync());
  // The state shares storage with its model; the loaded model has its own copy.
  const sd = a.state_dict();
  no_grad(() => sd['block.head.bias']!.fill_(7));
  assert.deepEqual(a.block.head.bias!.tolist(), [7, 7, 7, 7, 7]);
  assert.notDeepEqual(b.block.head.bias!.tolist(), [7, 7, 7, 7, 7]);
  // The non-persistent buffer is not saved or loaded.
  assert.ok(!('block.cache' in sd));
  // PyTorch's prefix: prepended as given.
  assert.ok('model.block.scale' in a.state_dict('model.'));
});

test('load_state_dict strict: every missing and unexpected key is named', () => {
  const m = new Outer();
  const sd = m.state_dict();
  delete sd['first'];
  delete sd['list.2.bias'];
  sd['extra'] = zeros([1]);
  sd['inner.lin.scale'] = zeros([1]);
  throwsNaming(() => m.load_state_dict(sd), StrideError, 'Outer', 'missing keys: first, list.2.bias', 'unexpected keys: extra, inner.lin.scale');
});

test('load_state_dict non-strict: loads what matches and returns the missing and unexpected keys', () => {
  const m = new Outer();
  const sd: StateDict = { 'inner.alpha': tensor([1, 2, 3]), 'list.2.bias': tensor([5]), 'bogus.weight': zeros([2]) };
  const r = m.load_state_dict(sd, false);
  assert.deepEqual(r.unexpected_keys, ['bogus.weight']);
  assert.deepEqual(r.missing_keys, ['first', 'last', 'inner.lin.weight', 'inner.lin.bias', 'list.0.weight', 'list.0.bias', 'list.2.weight']);
  assert.deepEqual(m.inner.alpha.tolist(), [1, 2, 3]);
  assert.deepEqual((m.list[2] as Linear).bias!.tolist(), [5]);
});

test('load_state_dict: a shape mismatch is an error even when not strict, listing every offending key', () => {
  const m = new Outer();
  const sd = m.state_dict();
  const weight = m.inner.lin.weight.tolist();
  sd['inner.lin.weight'] = zeros([2, 3]);
  sd['last'] = zeros([3]);
  for (const strict of [true, false]) {
    throwsNaming(() => m.load_state_dict(sd, strict), ShapeError, 'Outer', 'size mismatch',
      'inner.lin.weight: expected [3, 2], got [2, 3]', 'last: expected [2], got [3]');
  }
  assert.deepEqual(m.inner.lin.weight.tolist(), weight, 'nothing is loaded when a shape is wrong');
});

test('load_state_dict converts dtypes: a float64 state into a float32 model', () => {
  const m = new Linear(2, 1);
  const r = m.load_state_dict({ weight: fromFlat([0.1, 1 / 3], [1, 2], { dtype: 'float64' }), bias: tensor([-2.5], { dtype: 'float64' }) });
  assert.deepEqual(r, { missing_keys: [], unexpected_keys: [] });
  assert.equal(m.weight.dtype, 'float32');
  assert.deepEqual(m.weight.tolist(), [[Math.fround(0.1), Math.fround(1 / 3)]]);
  assert.deepEqual(m.bias!.tolist(), [-2.5]);
  assert.ok(m.weight.requires_grad && m.weight.grad_fn === null, 'still a leaf parameter');
});

test('num_batches_tracked is saved, loaded and keeps counting (momentum=null averages over it)', () => {
  const bn = new BatchNorm1d(2, { momentum: null });
  const batches = [tensor([[1, 2], [3, 6]]), tensor([[5, 0], [7, 4]]), tensor([[0, 1], [2, 1]])];
  for (const b of batches.slice(0, 2)) bn.call(b);
  const sd = bn.state_dict();
  assert.deepEqual(Object.keys(sd), ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);
  assert.equal(sd['num_batches_tracked']!.dtype, 'int32');
  assert.equal(sd['num_batches_tracked']!.item(), 2);

  const copy = new BatchNorm1d(2, { momentum: null });
  copy.load_state_dict(sd);
  assert.equal(copy.num_batches_tracked!.item(), 2);
  assert.deepEqual(copy.running_mean!.tolist(), [4, 3], 'mean of the batch means (2, 4) and (6, 2)');
  copy.call(batches[2]!);
  assert.equal(copy.num_batches_tracked!.item(), 3);
  // Cumulative average: the third batch mean (1, 1) weighs 1/3.
  assertClose(copy.running_mean!, { shape: [2], data: [3, 7 / 3] }, 'running_mean after the third batch');
  const strictMissing = { ...sd };
  delete strictMissing['num_batches_tracked'];
  throwsNaming(() => copy.load_state_dict(strictMissing), StrideError, 'missing keys: num_batches_tracked');
});

// ------------------------------------------------------------------ layer constructor misuse

type Misuse = [string, () => unknown, typeof StrideError, ...string[]];

test('layer constructors reject bad sizes, groups, padding and probabilities, naming the layer and the value', () => {
  const cases: Misuse[] = [
    ['negative size', () => new Linear(-1, 3), StrideError, 'Linear', '-1'],
    ['fractional size', () => new Linear(2.5, 3), StrideError, 'Linear', '2.5'],
    ['zero channels', () => new Conv2d(0, 4, 3), StrideError, 'Conv2d', 'in_channels', '0'],
    ['negative channels', () => new Conv2d(3, -4, 3), StrideError, 'Conv2d', 'out_channels', '-4'],
    ['zero kernel', () => new Conv2d(3, 4, 0), ShapeError, 'Conv2d', 'kernel_size', '0'],
    ['negative kernel entry', () => new Conv2d(3, 4, [3, -1]), ShapeError, 'Conv2d', 'kernel_size', '[3,-1]'],
    ['zero kernel 1-d', () => new Conv1d(3, 4, 0), ShapeError, 'Conv1d', 'kernel_size'],
    ['groups not dividing in_channels', () => new Conv2d(3, 6, 3, { groups: 2 }), StrideError, 'Conv2d', 'in_channels (3)', 'groups (2)'],
    ['groups not dividing out_channels', () => new Conv2d(4, 6, 3, { groups: 4 }), StrideError, 'Conv2d', 'out_channels (6)', 'groups (4)'],
    ['zero groups', () => new Conv2d(4, 4, 3, { groups: 0 }), StrideError, 'Conv2d', 'groups', '0'],
    ['transposed groups', () => new ConvTranspose2d(4, 6, 3, { groups: 4 }), StrideError, 'ConvTranspose2d', 'groups (4)'],
    ['unknown padding_mode', () => new Conv2d(4, 4, 3, { padding_mode: 'mirror' as PaddingMode }), StrideError, 'Conv2d', 'padding_mode', "'mirror'"],
    ["padding='same' with stride", () => new Conv2d(4, 4, 3, { padding: 'same', stride: 2 }), StrideError, 'Conv2d', "padding='same'", 'strided'],
    ["padding='same' with stride 1-d", () => new Conv1d(4, 4, 3, { padding: 'same', stride: 3 }), StrideError, 'Conv1d', "padding='same'"],
    ['zero stride', () => new Conv2d(4, 4, 3, { stride: 0 }), ShapeError, 'Conv2d', 'stride', '0'],
    ['zero dilation', () => new Conv2d(4, 4, 3, { dilation: 0 }), ShapeError, 'Conv2d', 'dilation', '0'],
    ['negative padding', () => new Conv2d(4, 4, 3, { padding: -1 }), ShapeError, 'Conv2d', 'padding', '-1'],
    ['negative output_padding', () => new ConvTranspose2d(4, 4, 3, { output_padding: -1 }), ShapeError, 'ConvTranspose2d', 'output_padding', '-1'],
    ['zero features', () => new BatchNorm2d(0), StrideError, 'BatchNorm2d', 'num_features', '0'],
    ['fractional features', () => new BatchNorm1d(2.5), StrideError, 'BatchNorm1d', '2.5'],
    ['negative features', () => new InstanceNorm2d(-1), StrideError, 'InstanceNorm2d', '-1'],
    ['groups not dividing channels', () => new GroupNorm(3, 8), StrideError, 'GroupNorm', 'num_channels (8)', 'num_groups (3)'],
    ['zero groups', () => new GroupNorm(0, 8), StrideError, 'GroupNorm', 'num_groups (0)'],
    ['negative p', () => new Dropout(-0.1), StrideError, 'Dropout', '-0.1'],
    ['p above 1', () => new Dropout(1.5), StrideError, 'Dropout', '1.5'],
    ['NaN p', () => new Dropout(NaN), StrideError, 'Dropout', 'NaN'],
    ['p above 1, 2-d', () => new Dropout2d(2), StrideError, 'Dropout2d', '2'],
    ['padding_idx too large', () => new Embedding(10, 3, { padding_idx: 10 }), StrideError, 'Embedding', 'padding_idx 10', '[-10, 10)'],
    ['padding_idx too small', () => new Embedding(10, 3, { padding_idx: -11 }), StrideError, 'Embedding', 'padding_idx -11'],
    ['fractional padding_idx', () => new Embedding(10, 3, { padding_idx: 1.5 }), StrideError, 'Embedding', '1.5'],
    ['negative vocabulary', () => new Embedding(-1, 3), StrideError, 'Embedding', '-1'],
    ['zero PReLU parameters', () => new PReLU(0), StrideError, 'PReLU', 'num_parameters', '0'],
    ['zero Maxout pieces', () => new Maxout(3, 2, 0), StrideError, 'Maxout', 'pieces', '0'],
    ['three paddings', () => new ZeroPad2d([1, 2, 3] as unknown as [number, number, number, number]), StrideError, 'ZeroPad2d', '[1,2,3]'],
  ];
  for (const [what, make, cls, ...parts] of cases) {
    try {
      throwsNaming(make, cls, ...parts);
    } catch (e) {
      assert.fail(`${what}: ${(e as Error).message}`);
    }
  }
  // A negative padding_idx counts from the end, and that row starts at zero.
  const emb = new Embedding(4, 2, { padding_idx: -1 });
  assert.equal(emb.padding_idx, 3);
  assert.deepEqual((emb.weight.tolist() as number[][])[3], [0, 0]);
});

test('layers whose arguments PyTorch checks when run: the first call names the op and the value', () => {
  const x = randn([1, 4, 8, 8]);
  const cases: Misuse[] = [
    ['zero pooling kernel', () => new MaxPool2d(0).call(x), ShapeError, 'max_pool2d', 'kernel_size', '0'],
    ['zero pooling stride', () => new MaxPool2d(2, { stride: 0 }).call(x), ShapeError, 'max_pool2d', 'stride', '0'],
    ['pooling padding above half the kernel', () => new MaxPool2d(2, { padding: 2 }).call(x), ShapeError, 'max_pool2d', 'padding [2, 2]', 'half'],
    ['zero average kernel', () => new AvgPool2d(0).call(x), ShapeError, 'avg_pool2d', 'kernel_size'],
    ['negative adaptive size', () => new AdaptiveAvgPool2d(-1).call(x), ShapeError, 'adaptive_avg_pool2d', 'output_size'],
    ['output_padding not below stride', () => new ConvTranspose2d(4, 4, 3, { output_padding: 2 }).call(x), ShapeError, 'conv_transpose2d', 'output_padding [2, 2]'],
    ['zero LRN size', () => new LocalResponseNorm(0).call(x), StrideError, 'local_response_norm', 'size', '0'],
    ['Upsample without size or scale', () => new Upsample({}).call(x), StrideError, 'interpolate', 'size and scale_factor'],
    ['Upsample with a negative scale', () => new Upsample({ scale_factor: -1 }).call(x), StrideError, 'interpolate', 'scale_factor', '-1'],
    ['reflection padding too large', () => new ReflectionPad2d(8).call(x), ShapeError, 'pad', 'reflect', '8'],
  ];
  for (const [what, run, cls, ...parts] of cases) {
    try {
      throwsNaming(run, cls, ...parts);
    } catch (e) {
      assert.fail(`${what}: ${(e as Error).message}`);
    }
  }
});

// Gaps the layers' own checks used to have.
test('Conv2d rejects a padding string other than same and valid', () => {
  throwsNaming(() => new Conv2d(4, 4, 3, { padding: 'full' as 'same' }), StrideError, 'Conv2d', "'full'");
});

test('GroupNorm and LayerNorm name themselves for negative or fractional sizes', () => {
  throwsNaming(() => new GroupNorm(2, -4), StrideError, 'GroupNorm', '-4');
  throwsNaming(() => new LayerNorm(-2), StrideError, 'LayerNorm', '-2');
  throwsNaming(() => new LayerNorm(2.5), StrideError, 'LayerNorm', '2.5');
});

test('CrossEntropyLoss and NLLLoss reject an unknown reduction when run', () => {
  const [input, target] = [randn([2, 3]), tensor([0, 1], { dtype: 'int32' })];
  throwsNaming(() => new MSELoss({ reduction: 'bogus' as 'mean' }).call(input, input), StrideError, 'mse_loss', "'bogus'");
  throwsNaming(() => new CrossEntropyLoss({ reduction: 'bogus' as 'mean' }).call(input, target), StrideError, 'cross_entropy', "'bogus'");
  throwsNaming(() => new NLLLoss({ reduction: 'bogus' as 'mean' }).call(input, target), StrideError, 'nll_loss', "'bogus'");
});

test('Hardtanh rejects min_val > max_val when constructed, as PyTorch does', () => {
  throwsNaming(() => new Hardtanh(1, -1), StrideError, 'Hardtanh', 'min_val');
});
