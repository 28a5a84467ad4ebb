/**
 * Recurrent language modelling: the course's "hello" example (an RNN over the vocabulary
 * [h, e, l, o] learns to predict "ello" from "hell"), the character-level model on the bundled
 * public-domain text (bits per character on held-out text, sampling), and the `stride lm` command.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Generator, StrideError, argmax, cross_entropy, fromFlat, manual_seed, no_grad, one_hot, tensor } from '../src/index.js';
import { main } from '../src/cli/main.js';
import { CharLM, CharVocab, bits_per_character, sample_text, train_char_lm, type LMState } from '../src/models/lm.js';
import { Linear, RNN, RNNCell } from '../src/nn/index.js';
import { Adam } from '../src/optim/index.js';
import { throwsNaming } from './helpers.js';

const TEXT = readFileSync(new URL('../data/text/devils_dictionary.txt', import.meta.url), 'utf8');

test('hello: an RNN over [h, e, l, o] learns to predict "ello" from "hell"', () => {
  manual_seed(0);
  const vocab = new CharVocab(['h', 'e', 'l', 'o']);
  const x = one_hot(tensor(Array.from(vocab.encode('hell')), { dtype: 'int32' }), 4).to('float32').unsqueeze(1); // [T=4, B=1, 4]
  const target = tensor(Array.from(vocab.encode('ello')), { dtype: 'int32' });
  // The course's drawing: one-hot input, 3 hidden units, 4 output scores per step.
  const rnn = new RNN(4, 3);
  const head = new Linear(3, 4);
  const optimizer = new Adam([...rnn.parameters(), ...head.parameters()], { lr: 0.05 });
  const predict = () => no_grad(() => vocab.decode(argmax(head.call(rnn.call(x)[0]).squeeze(1), 1).dataSync()));
  // "l" is followed by "l" once and by "o" once: only the hidden state can tell them apart.
  assert.notEqual(predict(), 'ello');
  let loss = Infinity;
  for (let step = 0; step < 400 && predict() !== 'ello'; step++) {
    optimizer.zero_grad();
    const l = cross_entropy(head.call(rnn.call(x)[0]).squeeze(1), target);
    l.backward();
    optimizer.step();
    loss = l.item();
  }
  assert.equal(predict(), 'ello');
  assert.ok(loss < 1, `loss ${loss}`);
});

test('hello, one step at a time: RNNCell unrolled by hand gives the same predictions', () => {
  manual_seed(1);
  const vocab = new CharVocab(['h', 'e', 'l', 'o']);
  const cell = new RNNCell(4, 3);
  const rnn = new RNN(4, 3);
  rnn.load_state_dict({ weight_ih_l0: cell.weight_ih, weight_hh_l0: cell.weight_hh, bias_ih_l0: cell.bias_ih!, bias_hh_l0: cell.bias_hh! });
  const x = one_hot(tensor(Array.from(vocab.encode('hell')), { dtype: 'int32' }), 4).to('float32');
  let h = null;
  const steps = [];
  for (let t = 0; t < 4; t++) steps.push((h = cell.call(x.select(0, t), h)));
  const [out, hn] = rnn.call(x);
  assert.deepEqual(out.tolist(), steps.map((s) => s.tolist()));
  assert.deepEqual(hn.select(0, 0).tolist(), h!.tolist());
});

test('CharVocab encodes and decodes, and names characters it does not know', () => {
  const v = CharVocab.from_text('hello world');
  assert.deepEqual(v.chars, [' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w']);
  assert.deepEqual(Array.from(v.encode('hold')), [3, 5, 4, 1]);
  assert.equal(v.decode(v.encode('low door')), 'low door');
  throwsNaming(() => v.encode('help'), StrideError, '"p"', 'position 3');
  throwsNaming(() => new CharVocab(['a', 'a']), StrideError, 'distinct');
});

test('bits per character of a model that predicts uniformly is log2 of the vocabulary', () => {
  const vocab = CharVocab.from_text(TEXT);
  const model = new CharLM({ vocab_size: vocab.size, hidden_size: 8, embedding_dim: 4 });
  no_grad(() => {
    model.decoder.weight.zero_();
    model.decoder.bias!.zero_();
  });
  const bpc = bits_per_character(model, vocab.encode(TEXT.slice(0, 2000)), { streams: 4, chunk: 50 });
  assert.ok(Math.abs(bpc - Math.log2(vocab.size)) < 1e-6, `${bpc} vs ${Math.log2(vocab.size)}`);
});

test('char-level LSTM on the bundled text: held-out bits per character fall below the unigram entropy', () => {
  const vocab = CharVocab.from_text(TEXT);
  const ids = vocab.encode(TEXT);
  const cut = Math.floor(ids.length * 0.9);
  const heldOut = ids.subarray(cut, cut + 3000);
  // The entropy of the training text's character frequencies: what a model without context gets.
  const counts = new Float64Array(vocab.size);
  for (let i = 0; i < cut; i++) counts[ids[i]!]!++;
  let unigram = 0;
  for (const c of heldOut) unigram -= Math.log2(counts[c]! / cut);
  unigram /= heldOut.length;
  manual_seed(2);
  const model = new CharLM({ vocab_size: vocab.size, hidden_size: 32, embedding_dim: 16 });
  const before = bits_per_character(model, heldOut, { streams: 8, chunk: 100 });
  const history = train_char_lm(model, ids.subarray(0, cut), { steps: 100, seq_len: 24, batch_size: 16, lr: 2e-2, generator: new Generator(3) });
  const after = bits_per_character(model, heldOut, { streams: 8, chunk: 100 });
  console.log(`# bpc: untrained ${before.toFixed(3)}, unigram ${unigram.toFixed(3)}, after 100 steps ${after.toFixed(3)} (training loss ${(history.at(-1)! / Math.LN2).toFixed(3)} bits)`);
  assert.ok(before > Math.log2(vocab.size) - 0.2, `untrained ${before}`);
  assert.ok(after < unigram - 0.5, `held-out ${after} bits per character, unigram ${unigram}`);
});

test('sampling: reproducible from a seed, and at a low temperature the most likely character each step', () => {
  manual_seed(4);
  const vocab = CharVocab.from_text('abcd');
  const model = new CharLM({ vocab_size: 4, hidden_size: 8, embedding_dim: 4 });
  const a = sample_text(model, vocab, { length: 30, prime: 'ab', generator: new Generator(9) });
  const b = sample_text(model, vocab, { length: 30, prime: 'ab', generator: new Generator(9) });
  assert.equal(a, b);
  assert.equal(a.length, 30);
  // Greedy decoding by hand: feed the prime, then always the argmax.
  let state: LMState | null = null;
  let input = vocab.encode('ab');
  let greedy = '';
  no_grad(() => {
    for (let i = 0; i < 20; i++) {
      const [logits, s] = model.call(fromFlat(input, [1, input.length], { dtype: 'int32' }), state);
      state = s;
      const next = argmax(logits.select(1, input.length - 1).select(0, 0)).item();
      greedy += vocab.chars[next];
      input = Int32Array.of(next);
    }
  });
  assert.equal(sample_text(model, vocab, { length: 20, prime: 'ab', temperature: 1e-4, generator: new Generator(1) }), greedy);
  throwsNaming(() => sample_text(model, vocab, { temperature: 0 }), StrideError, 'temperature must be positive');
});

test('stride lm train and stride lm sample', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stride-lm-'));
  try {
    const text = join(dir, 'text.txt');
    writeFileSync(text, 'the cat sat on the mat. '.repeat(40));
    const lines: string[] = [];
    const log = console.log;
    console.log = (...a: unknown[]) => lines.push(a.join(' '));
    let code: number;
    try {
      code = await main(['lm', 'train', '--text', text, '--out', join(dir, 'run'), '--steps', '40', '--hidden', '16', '--embedding', '8', '--seq-len', '12', '--batch-size', '8', '--lr', '0.02', '--seed', '1']);
      assert.equal(code, 0, lines.join('\n'));
      code = await main(['lm', 'sample', join(dir, 'run'), '--length', '40', '--temperature', '0.5', '--prime', 'the ', '--seed', '3']);
    } finally {
      console.log = log;
    }
    assert.equal(code, 0, lines.join('\n'));
    const report = lines.find((l) => l.includes('held-out'));
    assert.ok(report && /[0-9.]+ bits per character/.test(report), lines.join('\n'));
    const sample = lines.at(-1)!;
    assert.ok(sample.startsWith('the '), sample);
    assert.equal(sample.length, 44);
    assert.ok([...sample].every((c) => 'the catsonm.'.includes(c)), sample);
    const code2 = await main(['lm', 'sample', join(dir, 'nothing-here')]);
    assert.equal(code2, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
