import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Node } from '../src/autograd/engine.js';
import { cross_entropy, randint, randn, referenceBackend, Tensor, tidy } from '../src/index.js';
import { Profiler } from '../src/cli/profile.js';
import { LeNet5 } from '../src/models/index.js';
import { SGD } from '../src/optim/index.js';

/** The row of a Markdown table whose first cells are `cells`, split into its cells. */
function row(report: string, ...cells: string[]): string[] {
  const line = report.split('\n').find((l) => l.startsWith(`| ${cells.join(' | ')} |`));
  assert.ok(line, `no row ${cells.join(' | ')} in\n${report}`);
  return line.split('|').slice(1, -1).map((c) => c.trim());
}

test('Profiler counts the primitives, backward ops and layers of training steps only, and restores what it wrapped on stop', () => {
  const originals = { conv2d: referenceBackend.conv2d, apply: Node.prototype.apply, backward: Tensor.prototype.backward };
  const model = new LeNet5({ input_size: 28 });
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const stepOriginal = opt.step;
  const x = randn([4, 1, 28, 28]);
  const y = randint(0, 10, [4]);
  const profiler = new Profiler(model, opt);
  const forward = () => (model.call as (x: Tensor) => Tensor)(x);
  for (let i = 0; i < 2; i++) {
    profiler.step(() => tidy(() => {
      opt.zero_grad();
      cross_entropy(forward(), y).backward();
      opt.step();
    }));
    // An evaluation between steps is not part of the profile.
    tidy(forward);
  }
  profiler.stop();
  const report = profiler.report();

  assert.match(report, /^Profile of 2 training steps/);
  // Two convolutions forward; both weights need a gradient, only the second layer's input does.
  assert.equal(row(report, 'conv2d', 'forward', x.device)[4], '2.0');
  assert.equal(row(report, 'conv2dWeightGrad', 'backward', x.device)[4], '2.0');
  assert.equal(row(report, 'conv2dInputGrad', 'backward', x.device)[4], '1.0');
  assert.notEqual(row(report, 'conv2d', 'forward', x.device)[5], '-', 'conv GFLOP/s');
  assert.equal(row(report, 'conv2d')[2], '2.0', 'conv2d backward nodes per step');
  row(report, 'features.0 (Conv2d)');
  row(report, 'optimizer step');
  assert.ok(report.split('\n').some((l) => /^\| binary:\w+ \| optimizer \|/.test(l)), 'optimizer primitives');

  assert.equal(referenceBackend.conv2d, originals.conv2d);
  assert.equal(Node.prototype.apply, originals.apply);
  assert.equal(Tensor.prototype.backward, originals.backward);
  assert.equal(opt.step, stepOriginal);
  assert.ok(!Object.hasOwn(opt, 'step'));
});
