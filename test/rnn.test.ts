/**
 * Recurrent layers against torch.nn (PyTorch 1.13 fixtures from tools/fixtures/rnn_reference.py):
 * RNN, LSTM, GRU (layers, directions, batch_first, dropout in eval, initial states, unbatched and
 * packed input) and the cells load PyTorch's state_dict by its names and give its outputs, final
 * states and the gradients of inputs, initial states and every parameter. Then what fixtures do
 * not show: initialisation bounds, dropout between layers in training, and input checks.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ShapeError, StrideError, manual_seed, randn, sum, tensor, type Tensor } from '../src/index.js';
import { GRU, LSTM, PackedSequence, RNN, RNNCell, pack_padded_sequence, pack_sequence, pad_packed_sequence, pad_sequence, type Module } from '../src/nn/index.js';
import { buildLayer, decode, type LayerSpec, type StateEntry } from '../tools/fixtures/nn_spec.js';
import { assertClose, fromFixture, throwsNaming, type FixtureTensor } from './helpers.js';

interface RnnCase {
  name: string;
  spec: LayerSpec;
  mode: 'train' | 'eval';
  state: StateEntry[];
  inputs: { x: FixtureTensor; hx: FixtureTensor[]; lengths?: number[]; enforce_sorted?: boolean };
  packed?: { batch_sizes: number[]; sorted_indices: number[] | null; unsorted_indices: number[] | null; padded: FixtureTensor; lengths: number[] };
  outputs: { output: FixtureTensor; h: FixtureTensor[] };
  grad_outputs: { output: FixtureTensor; h: FixtureTensor[] };
  grads: { x: FixtureTensor; hx: FixtureTensor[]; params: Record<string, FixtureTensor> };
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/rnn.json', import.meta.url), 'utf8')) as { cases: RnnCase[] };

const asFixture = (e: FixtureTensor) => ({ ...e, requires_grad: true });

type Run = (x: Tensor | PackedSequence, hx: Tensor | readonly Tensor[] | null) => unknown;

test('rnn.json covers every recurrent layer and input form', () => {
  const layers = new Set(fixture.cases.map((c) => c.spec.layer));
  assert.deepEqual([...layers].sort(), ['GRU', 'GRUCell', 'LSTM', 'LSTMCell', 'RNN', 'RNNCell']);
  for (const layer of ['RNN', 'LSTM', 'GRU']) {
    const cs = fixture.cases.filter((c) => c.spec.layer === layer);
    assert.ok(cs.some((c) => c.inputs.lengths), `${layer}: a packed case`);
    assert.ok(cs.some((c) => c.spec.kwargs['bidirectional']), `${layer}: a bidirectional case`);
    assert.ok(cs.some((c) => c.spec.kwargs['batch_first']), `${layer}: a batch_first case`);
    assert.ok(cs.some((c) => c.inputs.hx.length > 0), `${layer}: a case with initial states`);
    assert.ok(cs.some((c) => c.inputs.x.shape.length === 2), `${layer}: an unbatched case`);
  }
  assert.ok(fixture.cases.some((c) => c.mode === 'eval' && (c.spec.kwargs['dropout'] as number) > 0), 'dropout between layers in eval');
  assert.ok(fixture.cases.some((c) => (c.spec.kwargs['num_layers'] as number) >= 2 && c.spec.kwargs['bidirectional'] && c.inputs.lengths), 'a packed deep bidirectional case');
});

for (const c of fixture.cases) {
  test(`rnn.json: ${c.name}`, () => {
    const layer = buildLayer(c.spec);
    assert.deepEqual(Object.keys(layer.state_dict()), c.state.map((e) => e.key), 'state_dict keys (PyTorch names and order)');
    layer.load_state_dict(Object.fromEntries(c.state.map((e) => [e.key, decode(e)])));
    layer.train(c.mode === 'train');
    const x = fromFixture(asFixture(c.inputs.x));
    const hx = c.inputs.hx.map((h) => fromFixture(asFixture(h)));
    const arg = hx.length === 0 ? null : hx.length === 1 ? hx[0]! : hx;
    const isCell = c.spec.layer.endsWith('Cell');
    const batchFirst = Boolean(c.spec.kwargs['batch_first']);
    const input = c.inputs.lengths ? pack_padded_sequence(x, c.inputs.lengths, batchFirst, c.inputs.enforce_sorted) : x;
    const result = (layer.call as Run)(input, arg);
    let out: Tensor;
    let h: Tensor[];
    if (isCell) {
      const r = result as Tensor | Tensor[];
      [out, ...h] = Array.isArray(r) ? r : [r];
    } else {
      const [o, s] = result as [Tensor | PackedSequence, Tensor | Tensor[]];
      if (c.packed) {
        assert.ok(o instanceof PackedSequence, 'packed input gives packed output');
        assert.deepEqual(o.sizes(), c.packed.batch_sizes, 'batch_sizes');
        assert.deepEqual(o.sorted_indices ? Array.from(o.sorted_indices.dataSync()) : null, c.packed.sorted_indices, 'sorted_indices');
        assert.deepEqual(o.unsorted_indices ? Array.from(o.unsorted_indices.dataSync()) : null, c.packed.unsorted_indices, 'unsorted_indices');
        const [padded, lengths] = pad_packed_sequence(o, batchFirst);
        assertClose(padded, c.packed.padded, 'pad_packed_sequence of the output');
        assert.deepEqual(Array.from(lengths.dataSync()), c.packed.lengths, 'lengths');
        out = o.data;
      } else out = o as Tensor;
      h = Array.isArray(s) ? s : [s];
    }
    assertClose(out, c.outputs.output, 'output');
    assert.equal(h.length, c.outputs.h.length, 'number of final states');
    h.forEach((t, k) => assertClose(t, c.outputs.h[k]!, `final state ${k}`));
    let loss = sum(out.mul(fromFixture(c.grad_outputs.output)));
    h.forEach((t, k) => (loss = loss.add(sum(t.mul(fromFixture(c.grad_outputs.h[k]!))))));
    loss.backward();
    assertClose(x.grad!, c.grads.x, 'gradient of the input');
    hx.forEach((t, k) => assertClose(t.grad!, c.grads.hx[k]!, `gradient of initial state ${k}`));
    const params = new Map(layer.named_parameters());
    assert.deepEqual([...params.keys()], Object.keys(c.grads.params), 'parameters');
    for (const [k, p] of params) assertClose(p.grad!, c.grads.params[k]!, `gradient of '${k}'`);
  });
}

test('parameters start from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))', () => {
  manual_seed(0);
  for (const m of [new RNN(20, 16), new LSTM(20, 16, { num_layers: 2, bidirectional: true }), new GRU(20, 16), new RNNCell(20, 16)] as Module[]) {
    const values = m.parameters().flatMap((p) => Array.from(p.dataSync()));
    const max = Math.max(...values.map(Math.abs));
    assert.ok(max <= 0.25 && max > 0.249, `${m.constructor.name}: largest |w| ${max} should approach 1/4`);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    assert.ok(Math.abs(mean) < 0.01, `${m.constructor.name}: mean ${mean}`);
  }
});

test('dropout between layers acts in training only, and not after the last layer', () => {
  manual_seed(1);
  const lstm = new LSTM(3, 4, { num_layers: 2, dropout: 1 });
  const x1 = randn(5, 2, 3);
  const x2 = randn(5, 2, 3);
  const [o1, [h1]] = lstm.call(x1);
  const [o2, [h2]] = lstm.call(x2);
  // With p = 1 the second layer sees zeros: its output no longer depends on x.
  assertClose(o1, { shape: o2.shape, data: o2.dataSync() }, 'training output with p = 1');
  assert.notDeepEqual(Array.from(h1.select(0, 0).dataSync()), Array.from(h2.select(0, 0).dataSync()), 'the first layer still sees x');
  assert.ok(o1.dataSync().some((v) => v !== 0), 'the last layer output is not dropped');
  lstm.eval();
  const [e1] = lstm.call(x1);
  const [e2] = lstm.call(x2);
  assert.notDeepEqual(Array.from(e1.dataSync()), Array.from(e2.dataSync()), 'eval: no dropout');
});

test('pack_sequence and pad_sequence round-trip variable-length sequences', () => {
  const seqs = [tensor([[1], [2], [3]]), tensor([[4]]), tensor([[5], [6]])];
  const padded = pad_sequence(seqs, true, -1);
  assert.deepEqual(padded.tolist(), [[[1], [2], [3]], [[4], [-1], [-1]], [[5], [6], [-1]]]);
  const packed = pack_sequence(seqs, false);
  assert.deepEqual(packed.data.tolist(), [[1], [5], [4], [2], [6], [3]]);
  assert.deepEqual(packed.sizes(), [3, 2, 1]);
  const [back, lengths] = pad_packed_sequence(packed, false, 0, 4);
  assert.deepEqual(back.shape, [4, 3, 1]);
  assert.deepEqual(Array.from(lengths.dataSync()), [3, 1, 2]);
  assert.deepEqual(back.select(1, 2).tolist(), [[5], [6], [0], [0]]);
  throwsNaming(() => pack_sequence(seqs), StrideError, 'not sorted', 'enforce_sorted');
});

test('recurrent layers check their inputs and states with PyTorch-like messages', () => {
  const gru = new GRU(3, 4, { num_layers: 2 });
  throwsNaming(() => gru.call(randn(5, 2, 4)), ShapeError, 'input.size(-1) must be equal to input_size', 'Expected 3, got 4');
  throwsNaming(() => gru.call(randn(5, 2, 3), randn(1, 2, 4)), ShapeError, 'expected hidden size [2, 2, 4]', 'got [1, 2, 4]');
  throwsNaming(() => gru.call(randn(2, 5, 2, 3)), ShapeError, '2-d (unbatched) or 3-d');
  const lstm = new LSTM(3, 4);
  throwsNaming(() => lstm.call(randn(5, 2, 3), [randn(1, 2, 4), randn(1, 3, 4)]), ShapeError, 'hidden[1]', '[1, 2, 4]');
  throwsNaming(() => new RNN(3, 4, { nonlinearity: 'sigmoid' as 'tanh' }), StrideError, "unknown nonlinearity 'sigmoid'");
  throwsNaming(() => new LSTM(3, 4, { dropout: 1.5 }), StrideError, 'dropout');
  throwsNaming(() => new RNNCell(3, 4).call(randn(2, 5)), ShapeError, 'got 5 expected 3');
});
