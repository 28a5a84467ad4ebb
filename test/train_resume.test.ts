/**
 * The acceptance test of `stride train --resume`: a run killed (SIGKILL) or interrupted (SIGINT)
 * mid-epoch and resumed ends with a model.safetensors byte-identical to an uninterrupted run with
 * the same seed; resuming with other options, other data or a damaged checkpoint is refused.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Augmentation } from '../src/cli/augment.js';
import type { CheckpointState } from '../src/cli/checkpoint.js';
import { InterruptedError, train } from '../src/cli/train.js';
import { loadDataset } from '../src/io/datasets.js';
import type { EpochMetrics } from '../src/cli/report.js';
import { readJson, spawnStride, stride, tempDir, writeFashionFixture, type Child } from './cli_util.js';
import { wasmStatus } from '../src/backend/wasm/index.js';

const tmp = tempDir('resume');
after(() => rmSync(tmp, { recursive: true, force: true }));
const data = join(tmp, 'data');

const EPOCHS = 3;
/** 60 images less 10% for validation: 54, i.e. 9 batches of 6 per epoch. */
const BATCH_SIZE = 6;
const BATCHES = 9;
/**
 * On the reference backend: the signals below are timed from how long epoch 1 took, and the
 * native backend runs these 9 small batches in a few milliseconds, over before a signal lands.
 */
const args = (out: string, extra: readonly string[]) =>
  ['train', '--data', data, '--epochs', String(EPOCHS), '--batch-size', String(BATCH_SIZE), '--seed', '7', '--backend', 'reference', '--out', out, ...extra];
const AUGMENTED = ['--augment', 'flip,crop', '--optimizer', 'adam', '--lr', '0.003', '--schedule', 'onecycle'];
const checkpointOf = (dir: string) => readJson<CheckpointState>(join(dir, 'checkpoint.json'));

/** Runs `stride ...argv` to the end in a child process. */
async function complete(argv: readonly string[]): Promise<string> {
  const r = await spawnStride([...argv]).done;
  assert.equal(r.code, 0, `${argv.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

/** Polls checkpoint.json (written atomically) until it reports a completed epoch. */
async function firstEpochDone(out: string, child: Child): Promise<CheckpointState> {
  let exited = false;
  void child.done.then(() => (exited = true));
  for (;;) {
    if (existsSync(join(out, 'checkpoint.json'))) {
      const ck = checkpointOf(out);
      if (ck.epoch >= 1) return ck;
    }
    assert.ok(!exited, `the run ended before its first checkpoint:\n${child.stdout()}`);
    await sleep(20);
  }
}

/**
 * Starts a run, lets it finish epoch 1 and get about halfway through epoch 2 (half the time epoch
 * 1 took), then sends `signal`.
 */
async function interrupt(out: string, extra: readonly string[], signal: NodeJS.Signals) {
  const child = spawnStride(args(out, extra));
  const ck = await firstEpochDone(out, child);
  await sleep(ck.history[0]!.seconds * 500);
  child.proc.kill(signal);
  return child.done;
}

/** metrics.json without the timings, which legitimately differ between runs. */
function results(dir: string): unknown {
  const m = readJson<{ history: EpochMetrics[]; test: unknown; settings: unknown }>(join(dir, 'metrics.json'));
  return { history: m.history.map(({ seconds: _s, images_per_second: _i, ...rest }) => rest), test: m.test, settings: m.settings };
}

function assertSameRun(resumed: string, reference: string): void {
  const a = readFileSync(join(resumed, 'model.safetensors'));
  const b = readFileSync(join(reference, 'model.safetensors'));
  assert.ok(a.equals(b), 'model.safetensors differs from the uninterrupted run');
  assert.deepEqual(results(resumed), results(reference));
  assert.equal((results(reference) as { history: unknown[] }).history.length, EPOCHS);
}

/**
 * The uninterrupted runs, started at once so that they run beside the tests: with the default
 * optimizer (SGD with momentum), and with augmentation, Adam and a one-cycle schedule.
 */
let references: { plain: Promise<string>; augmented: Promise<string> };
before(async () => {
  await writeFashionFixture(data, { train: 60, test: 20 });
  const start = (name: string, extra: readonly string[]) => complete(args(join(tmp, name), extra)).then(() => join(tmp, name));
  references = { plain: start('reference', []), augmented: start('augmented-reference', AUGMENTED) };
  // Awaited by the tests; a failure is reported there.
  references.plain.catch(() => {});
  references.augmented.catch(() => {});
});
const reference = () => references.plain;

// The three scenarios run side by side (they are mostly waiting for their child processes).
describe('interrupted and resumed runs', { concurrency: true }, () => {
  test('killed with SIGKILL during epoch 2 and resumed: byte-identical to the uninterrupted run', async () => {
    const out = join(tmp, 'sigkill');
    const [ref, killed] = await Promise.all([reference(), interrupt(out, [], 'SIGKILL')]);
    assert.equal(killed.signal, 'SIGKILL');
    assert.ok(!existsSync(join(out, 'model.safetensors')), 'the run did not finish');
    const ck = checkpointOf(out);
    assert.ok(ck.epoch >= 1 && ck.epoch < EPOCHS, `checkpoint at epoch ${ck.epoch}`);
    assert.equal(ck.batch, 0, 'only epoch ends are saved without an interrupt');
    // Only --data, --out and --resume: the other options are those of the run.
    const stdout = await complete(['train', '--data', data, '--out', out, '--resume']);
    assert.match(stdout, new RegExp(`resuming ${out} at epoch ${ck.epoch + 1}, batch 0`));
    assertSameRun(out, ref);
  });

  test('interrupted with SIGINT mid-epoch: checkpoint after the current batch, exit code 130, resume byte-identical', async () => {
    const out = join(tmp, 'sigint');
    const [ref, stopped] = await Promise.all([reference(), interrupt(out, [], 'SIGINT')]);
    assert.equal(stopped.code, 130, stopped.stderr);
    assert.match(stopped.stderr, /interrupt: saving a checkpoint after this batch/);
    const ck = checkpointOf(out);
    assert.ok(ck.epoch >= 1 && ck.epoch < EPOCHS, `checkpoint at epoch ${ck.epoch}`);
    assert.ok(ck.batch > 0 && ck.batch <= BATCHES, `checkpoint at batch ${ck.batch}: mid-epoch`);
    assert.equal(ck.partial.seen, BATCH_SIZE * ck.batch, 'the running sums cover the batches done');
    assert.match(stopped.stdout, new RegExp(`interrupted: checkpoint saved at epoch ${ck.epoch + 1}, batch ${ck.batch}; continue with --resume`));
    assert.ok(!existsSync(join(out, 'model.safetensors')));
    const stdout = await complete(args(out, ['--resume']));
    assert.match(stdout, new RegExp(`resuming ${out} at epoch ${ck.epoch + 1}, batch ${ck.batch}`));
    assertSameRun(out, ref);
  });

  test('with --augment flip,crop, Adam and a one-cycle schedule: SIGINT mid-epoch and resume are byte-identical', async () => {
    const out = join(tmp, 'augment');
    const [ref, stopped] = await Promise.all([references.augmented, interrupt(out, AUGMENTED, 'SIGINT')]);
    assert.equal(stopped.code, 130, stopped.stderr);
    const ck = checkpointOf(out);
    assert.ok(ck.batch > 0, `checkpoint at batch ${ck.batch}: mid-epoch`);
    assert.deepEqual(ck.settings['augment'], ['flip', 'crop']);
    await complete(args(out, [...AUGMENTED, '--resume']));
    assertSameRun(out, ref);
    // Augmentation, optimizer and schedule did change the training: not the plain run's weights.
    assert.ok(!readFileSync(join(ref, 'model.safetensors')).equals(readFileSync(join(await reference(), 'model.safetensors'))));
  });
});

test('a SIGINT takes effect after the batch under way, not at the end of the epoch', async () => {
  // The augmentation sees every training sample as it is loaded: the signal goes out while the
  // fourth batch is prepared, so the checkpoint must follow one of the next batches of epoch 1.
  let samples = 0;
  const sendSigint: Augmentation = {
    apply: (image) => {
      if (++samples === 3 * BATCH_SIZE + 1) process.kill(process.pid, 'SIGINT');
      return image;
    },
    set_epoch: () => {},
  };
  const signal = { interrupted: false };
  const onSigint = () => void (signal.interrupted = true);
  process.on('SIGINT', onSigint);
  const out = join(tmp, 'sigint-timing');
  try {
    const d = await loadDataset('fashion-mnist', { dir: data });
    await assert.rejects(train({
      model: 'lenet5', data: d, epochs: 2, batch_size: BATCH_SIZE, lr: 0.01, optimizer: 'sgd', momentum: 0.9, weight_decay: 0, schedule: 'none',
      val_split: 0.1, limit: null, augment: sendSigint, augment_names: [], seed: 7, out, resume: false, log: () => {},
    }, signal), InterruptedError);
  } finally {
    process.off('SIGINT', onSigint);
  }
  const ck = checkpointOf(out);
  assert.equal(ck.epoch, 0, 'still in epoch 1');
  assert.ok(ck.batch >= 3 && ck.batch <= 6, `checkpoint after batch ${ck.batch}`);
});

/** A copy of the finished reference run to damage or resume with other options. */
async function copyOfRun(name: string): Promise<string> {
  const dir = join(tmp, name);
  cpSync(await reference(), dir, { recursive: true });
  return dir;
}

test('resume with another model, dataset or option is refused, naming what differs', async () => {
  const out = await copyOfRun('mismatch');
  const model = await stride([...args(out, ['--resume']), '--model', 'mlp']);
  assert.equal(model.code, 1);
  assert.match(model.stderr, /^stride: cannot resume: .*mismatch holds a run with model "lenet5" \(not "mlp"\); resume it with its own options\n$/);

  const mnist = await writeFashionFixture(join(tmp, 'as-mnist'), { train: 60, test: 20 });
  const dataset = await stride(['train', '--dataset', 'mnist', ...args(out, ['--resume']).slice(1).map((a) => (a === data ? mnist : a))]);
  assert.equal(dataset.code, 1);
  assert.match(dataset.stderr, /cannot resume: .* dataset "fashion-mnist" \(not "mnist"\)/);

  const options = await stride([...args(out, ['--resume']), '--batch-size', '32', '--lr', '0.1']);
  assert.equal(options.code, 1);
  assert.match(options.stderr, /batch_size 6 \(not 32\), .*lr 0\.01 \(not 0\.1\)/);
  assert.equal(options.stderr.trim().split('\n').length, 1, 'one line');
});

test('a native run resumes on the next backend auto picks where the addon is missing, with a note', async () => {
  const out = await copyOfRun('other-backend');
  const ck = checkpointOf(out);
  writeFileSync(join(out, 'checkpoint.json'), JSON.stringify({ ...ck, settings: { ...ck.settings, backend: 'native' } }));
  const withoutBackend = args(out, ['--resume']).filter((a, i, all) => a !== '--backend' && all[i - 1] !== '--backend');
  const r = await spawnStride(withoutBackend, { STRIDE_NATIVE_ADDON: join(tmp, 'no-such-addon.node') }).done;
  assert.equal(r.code, 0, r.stderr);
  // Without the addon, auto takes wasm (Node 20 has WebAssembly SIMD), else the reference backend.
  const next = wasmStatus().available ? 'wasm' : 'reference';
  assert.match(r.stdout, new RegExp(`note: the run was trained on the native backend and continues on ${next}; the result will not be bit-identical`));
  assert.equal(readJson<{ settings: { backend: string } }>(join(out, 'metrics.json')).settings.backend, next);
});

test('resume on other training images under the same dataset name is refused', async () => {
  const out = await copyOfRun('otherdata');
  const other = await writeFashionFixture(join(tmp, 'other-data'), { train: 60, test: 20, offset: 60 });
  const r = await stride(args(out, ['--resume']).map((a) => (a === data ? other : a)));
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`cannot resume: the fashion-mnist training images in ${other} are not those the run in ${out} was trained on`));
});

test('a checkpoint whose files do not match their SHA-256 is refused; so is a damaged or missing checkpoint.json', async () => {
  const out = await copyOfRun('corrupt');
  const ck = checkpointOf(out);
  for (const file of [ck.files.model, ck.files.optimizer]) {
    const path = join(out, file);
    const good = readFileSync(path);
    const bad = Buffer.from(good);
    bad[bad.length - 3]! ^= 0x01;
    writeFileSync(path, bad);
    const r = await stride(args(out, ['--resume']));
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${file}: SHA-256 does not match checkpoint.json`));
    writeFileSync(path, good);
  }
  const json = readFileSync(join(out, 'checkpoint.json'), 'utf8');
  writeFileSync(join(out, 'checkpoint.json'), json.slice(0, json.length / 2));
  const truncated = await stride(args(out, ['--resume']));
  assert.equal(truncated.code, 1);
  assert.match(truncated.stderr, /cannot resume: .*checkpoint\.json is missing or not valid JSON/);

  const empty = await stride(args(join(tmp, 'no-run-here'), ['--resume']));
  assert.equal(empty.code, 1);
  assert.match(empty.stderr, /no-run-here\/checkpoint\.json is missing/);
});
