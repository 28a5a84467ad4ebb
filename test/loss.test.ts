import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DTypeError, IndexError, ShapeError, StrideError, binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
  gradcheck, huber_loss, hinge_embedding_loss, l1_loss, mse_loss, multi_margin_loss, multiclass_svm_loss, nll_loss,
  randn, smooth_l1_loss, tensor, type Reduction, type Tensor,
} from '../src/index.js';
import { runFixtureFile } from './helpers.js';

type Args = { reduction?: Reduction; weighted?: boolean; pos_weighted?: boolean; label_smoothing?: number; ignore_index?: number; beta?: number; delta?: number; margin?: number; p?: 1 | 2 };
const w = (inputs: Tensor[], a: Args, i = 2) => (a.weighted ? inputs[i]! : null);

runFixtureFile('loss.json', {
  cross_entropy: ([x, y, ...rest], a: Args) => cross_entropy(x!, y!, { reduction: a.reduction, label_smoothing: a.label_smoothing, weight: a.weighted ? rest[0]! : null }),
  nll_loss: (inputs, a: Args) => nll_loss(inputs[0]!, inputs[1]!, { reduction: a.reduction, ignore_index: a.ignore_index, weight: w(inputs, a) }),
  binary_cross_entropy: (inputs, a: Args) => binary_cross_entropy(inputs[0]!, inputs[1]!, { reduction: a.reduction, weight: w(inputs, a) }),
  binary_cross_entropy_with_logits: (inputs, a: Args) =>
    binary_cross_entropy_with_logits(inputs[0]!, inputs[1]!, { reduction: a.reduction, weight: w(inputs, a), pos_weight: a.pos_weighted ? inputs[3]! : null }),
  mse_loss: ([a, b], o: Args) => mse_loss(a!, b!, o.reduction),
  l1_loss: ([a, b], o: Args) => l1_loss(a!, b!, o.reduction),
  smooth_l1_loss: ([a, b], o: Args) => smooth_l1_loss(a!, b!, o.reduction, o.beta),
  huber_loss: ([a, b], o: Args) => huber_loss(a!, b!, o.reduction, o.delta),
  hinge_embedding_loss: ([x, y], o: Args) => hinge_embedding_loss(x!, y!, o.margin),
  multi_margin_loss: (inputs, o: Args) => multi_margin_loss(inputs[0]!, inputs[1]!, { p: o.p, margin: o.margin, reduction: o.reduction, weight: w(inputs, o) }),
});

test("the course's SVM example: losses 2.9, 0, 12.9 and mean 5.27", () => {
  // Columns of the course's score table are images (cat, car, frog); rows here are images.
  const scores = tensor([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]]);
  const labels = tensor([0, 1, 2], { dtype: 'int32' });
  const each = multiclass_svm_loss(scores, labels, 1, 'none').tolist() as number[];
  assert.deepEqual(each.map((v) => Number(v.toFixed(4))), [2.9, 0, 12.9]);
  assert.equal(Number(multiclass_svm_loss(scores, labels).item().toFixed(2)), 5.27);
  // PyTorch's multi_margin_loss divides each sample's sum by the class count.
  assert.equal(Number(multi_margin_loss(scores, labels).item().toFixed(4)), Number((5.2667 / 3).toFixed(4)));
});

test('softmax cross-entropy of uniform scores is log C, and huge logits stay finite', () => {
  const C = 10;
  const uniform = cross_entropy(tensor([Array(C).fill(0)]), tensor([3], { dtype: 'int32' }));
  assert.ok(Math.abs(uniform.item() - Math.log(C)) < 1e-6);
  const huge = cross_entropy(tensor([[1e4, -1e4, 0]]), tensor([1], { dtype: 'int32' }));
  assert.ok(Math.abs(huge.item() - 2e4) < 1, `got ${huge.item()}`);
});

test('every loss passes gradcheck in float64', () => {
  const opts = { dtype: 'float64' as const, requires_grad: true };
  const x = randn([4, 3], opts);
  const y = tensor([2, 0, 1, 2], { dtype: 'int32' });
  const t = randn([4, 3], { dtype: 'float64' });
  const probs = t.softmax(1);
  const wts = tensor([0.5, 1.5, 2], { dtype: 'float64' });
  const cases: [string, (x: Tensor) => Tensor][] = [
    ['cross_entropy', (x) => cross_entropy(x, y, { weight: wts, label_smoothing: 0.1 })],
    ['cross_entropy probabilities', (x) => cross_entropy(x, probs, { label_smoothing: 0.2 })],
    ['bce', (x) => binary_cross_entropy(x.sigmoid(), probs)],
    ['bce_with_logits', (x) => binary_cross_entropy_with_logits(x, probs, { pos_weight: wts })],
    ['mse', (x) => mse_loss(x, t)],
    ['l1', (x) => l1_loss(x, t)],
    ['smooth_l1', (x) => smooth_l1_loss(x, t, 'mean', 0.5)],
    ['huber', (x) => huber_loss(x, t, 'sum', 0.5)],
    ['multi_margin', (x) => multi_margin_loss(x, y, { p: 2, weight: wts })],
    ['svm', (x) => multiclass_svm_loss(x, y)],
  ];
  for (const [name, f] of cases) assert.ok(gradcheck(f, [x]).ok, name);
});

test('bad input to losses gets clear errors', () => {
  const x = randn([3, 4]);
  assert.throws(() => cross_entropy(x, tensor([0, 4, 1], { dtype: 'int32' })), (e: Error) => e instanceof IndexError && /4 is out of bounds for 4 classes/.test(e.message));
  assert.throws(() => cross_entropy(x, tensor([0, 1], { dtype: 'int32' })), (e: Error) => e instanceof ShapeError && /\[3\]/.test(e.message));
  assert.throws(() => cross_entropy(x, randn([3, 5])), ShapeError);
  assert.throws(() => cross_entropy(x, tensor([0, 1, 2], { dtype: 'int32' }), { weight: randn([3]) }), /weight must have shape \[4\]/);
  assert.throws(() => nll_loss(x, tensor([0, 1, 2], { dtype: 'bool' })), DTypeError);
  assert.throws(() => mse_loss(x, randn([4, 3])), /target shape \[4, 3\] must match input shape \[3, 4\]/);
  assert.throws(() => mse_loss(x, x, 'avg' as Reduction), StrideError);
  assert.throws(() => binary_cross_entropy(x, x.sigmoid()), /between 0 and 1/);
  assert.throws(() => multi_margin_loss(x, tensor([0, 1, 2], { dtype: 'int32' }), { p: 3 as 1 }), /p = 1 and p = 2/);
});
