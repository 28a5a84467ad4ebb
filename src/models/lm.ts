/**
 * A character-level language model (the course's min-char-rnn and char-rnn): characters are
 * embedded, run through a recurrent network, and a linear layer scores the next character.
 * Trained on windows of a text with truncated backpropagation through time; evaluated in bits per
 * character on held-out text; sampled one character at a time with a temperature.
 */
import { no_grad } from '../autograd/grad_mode.js';
import { Embedding } from '../nn/embedding.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { GRU, LSTM, RNN } from '../nn/rnn.js';
import { clip_grad_norm_ } from '../nn/utils.js';
import { softmax } from '../ops/activation.js';
import { cross_entropy } from '../ops/loss.js';
import { reshape } from '../ops/shape.js';
import { Adam } from '../optim/adam.js';
import { fromFlat } from '../tensor/creation.js';
import { isIntegral } from '../tensor/dtype.js';
import { DTypeError, ShapeError, StrideError } from '../tensor/errors.js';
import { tidy } from '../tensor/memory.js';
import { default_generator, type Generator } from '../tensor/random.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/** The characters a model knows, each with its index. */
export class CharVocab {
  readonly chars: readonly string[];
  readonly #index: Map<string, number>;

  constructor(chars: Iterable<string>) {
    this.chars = [...chars];
    this.#index = new Map(this.chars.map((c, i) => [c, i]));
    if (this.#index.size !== this.chars.length) throw new StrideError('CharVocab: characters must be distinct');
    if (this.chars.some((c) => [...c].length !== 1)) throw new StrideError('CharVocab: every entry must be one character');
  }

  /** The distinct characters of a text, in code point order. */
  static from_text(text: string): CharVocab {
    return new CharVocab([...new Set(text)].sort());
  }

  get size(): number {
    return this.chars.length;
  }

  /** Indices of the characters of text; a character outside the vocabulary is an error naming it. */
  encode(text: string): Int32Array {
    const chars = [...text];
    const out = new Int32Array(chars.length);
    chars.forEach((c, i) => {
      const id = this.#index.get(c);
      if (id === undefined) throw new StrideError(`CharVocab: character ${JSON.stringify(c)} (position ${i}) is not in the vocabulary`);
      out[i] = id;
    });
    return out;
  }

  decode(ids: Iterable<number>): string {
    return Array.from(ids, (i) => this.chars[i] ?? '').join('');
  }
}

export type CellType = 'lstm' | 'gru' | 'rnn';

export interface CharLMOptions {
  vocab_size: number;
  embedding_dim?: number;
  hidden_size?: number;
  num_layers?: number;
  cell?: CellType;
  /** Dropout between recurrent layers while training. */
  dropout?: number;
}

/** The recurrent state carried between calls: h, or [h, c] for an LSTM. */
export type LMState = Tensor | [Tensor, Tensor];

/** Embedding → RNN/LSTM/GRU (batch_first) → Linear: next-character scores for each position. */
export class CharLM extends Module {
  readonly vocab_size: number;
  readonly cell: CellType;
  embedding: Embedding;
  rnn: RNN | LSTM | GRU;
  decoder: Linear;

  constructor(opts: CharLMOptions) {
    super();
    const { vocab_size, embedding_dim = 32, hidden_size = 128, num_layers = 1, cell = 'lstm', dropout = 0 } = opts;
    if (!Number.isInteger(vocab_size) || vocab_size < 2) throw new StrideError(`CharLM: vocab_size must be an integer >= 2, got ${vocab_size}`);
    if (cell !== 'lstm' && cell !== 'gru' && cell !== 'rnn') throw new StrideError(`CharLM: cell must be 'lstm', 'gru' or 'rnn', got '${String(cell)}'`);
    this.vocab_size = vocab_size;
    this.cell = cell;
    this.embedding = new Embedding(vocab_size, embedding_dim);
    const Cell = { lstm: LSTM, gru: GRU, rnn: RNN }[cell];
    this.rnn = new Cell(embedding_dim, hidden_size, { num_layers, batch_first: true, dropout });
    this.decoder = new Linear(hidden_size, vocab_size);
  }

  /** Scores [B, T, V] for character indices [B, T] (int), and the state after the last step. */
  forward(ids: Tensor, state: LMState | null = null): [Tensor, LMState] {
    if (!isIntegral(ids.dtype)) throw new DTypeError(`CharLM: expected character indices (int32), got ${ids.dtype}`);
    if (ids.ndim !== 2) throw new ShapeError(`CharLM: expected indices [batch, time], got shape ${formatShape(ids.shape)}`);
    const x = this.embedding.call(ids);
    const [out, next] = this.rnn instanceof LSTM ? this.rnn.call(x, state as [Tensor, Tensor] | null) : this.rnn.call(x, state as Tensor | null);
    return [this.decoder.call(out), next];
  }
}

function detachState(s: LMState): LMState {
  return Array.isArray(s) ? [s[0].detach(), s[1].detach()] : s.detach();
}

function windowBatch(ids: Int32Array, starts: readonly number[], len: number): { input: Tensor; target: Tensor } {
  const B = starts.length;
  const inp = new Int32Array(B * len);
  const tgt = new Int32Array(B * len);
  starts.forEach((s, b) => {
    inp.set(ids.subarray(s, s + len), b * len);
    tgt.set(ids.subarray(s + 1, s + len + 1), b * len);
  });
  return { input: fromFlat(inp, [B, len], { dtype: 'int32' }), target: fromFlat(tgt, [B * len], { dtype: 'int32' }) };
}

export interface LMTrainOptions {
  /** Characters per training window (the BPTT length); default 64. */
  seq_len?: number;
  batch_size?: number;
  steps?: number;
  /** Adam's learning rate (default 3e-3). */
  lr?: number;
  /** Gradient norm clipping against exploding gradients (default 5; 0 turns it off). */
  clip?: number;
  generator?: Generator;
  /** Called every log_every steps with the step and the mean training loss since the last call (nats per character). */
  log?: (step: number, loss: number) => void;
  log_every?: number;
}

/**
 * Trains on random windows of `ids` (the encoded text) by Adam with gradient clipping; returns the
 * loss (nats per character) of every step.
 */
export function train_char_lm(model: CharLM, ids: Int32Array, opts: LMTrainOptions = {}): number[] {
  const { seq_len = 64, batch_size = 32, steps = 1000, lr = 3e-3, clip = 5, generator = default_generator, log, log_every = 100 } = opts;
  if (ids.length < seq_len + 2) throw new StrideError(`train_char_lm: the text (${ids.length} characters) is shorter than one window of ${seq_len + 1}`);
  model.train();
  const optimizer = new Adam(model.parameters(), { lr });
  const history: number[] = [];
  let since = 0;
  for (let step = 0; step < steps; step++) {
    const starts = Array.from(generator.integers(batch_size, 0, ids.length - seq_len - 1));
    const loss = tidy(() => {
      const { input, target } = windowBatch(ids, starts, seq_len);
      optimizer.zero_grad();
      const [logits] = model.call(input);
      const l = cross_entropy(reshape(logits, [-1, model.vocab_size]), target);
      l.backward();
      if (clip > 0) clip_grad_norm_(model.parameters(), clip);
      optimizer.step();
      return l.item();
    });
    history.push(loss);
    since += loss;
    if (log && ((step + 1) % log_every === 0 || step === steps - 1)) {
      log(step + 1, since / ((step % log_every) + 1));
      since = 0;
    }
  }
  return history;
}

/**
 * Bits per character of `ids` under the model: the text is cut into `streams` contiguous parts
 * read in parallel, chunk by chunk, carrying the state, so every character after the first of its
 * part is predicted from all the text before it; the mean cross-entropy (nats) divided by ln 2.
 */
export function bits_per_character(model: CharLM, ids: Int32Array, opts: { streams?: number; chunk?: number } = {}): number {
  const { streams = 16, chunk = 128 } = opts;
  const per = Math.floor((ids.length - 1) / streams);
  if (per < 1) throw new StrideError(`bits_per_character: the text (${ids.length} characters) is too short for ${streams} streams`);
  const wasTraining = model.training;
  model.eval();
  let total = 0;
  let count = 0;
  let state: LMState | null = null;
  no_grad(() => {
    for (let at = 0; at < per; at += chunk) {
      const len = Math.min(chunk, per - at);
      const starts = Array.from({ length: streams }, (_, s) => s * per + at);
      const { value, next } = tidy(() => {
        const { input, target } = windowBatch(ids, starts, len);
        const [logits, next] = model.call(input, state);
        const value = cross_entropy(reshape(logits, [-1, model.vocab_size]), target, { reduction: 'sum' }).item();
        return { value, next: detachState(next) };
      });
      if (state) for (const t of Array.isArray(state) ? state : [state]) t.dispose();
      state = next;
      total += value;
      count += streams * len;
    }
  });
  model.train(wasTraining);
  return total / count / Math.LN2;
}

export interface SampleOptions {
  /** Characters to generate. */
  length?: number;
  /** Divides the scores before the softmax: below 1 more conservative, above 1 more varied (default 1). */
  temperature?: number;
  /** Text to start from (its characters set the state; default: one random character). */
  prime?: string;
  generator?: Generator;
}

/** Generates text one character at a time, each drawn from softmax(scores / temperature). */
export function sample_text(model: CharLM, vocab: CharVocab, opts: SampleOptions = {}): string {
  const { length = 200, temperature = 1, prime = '', generator = default_generator } = opts;
  if (!(temperature > 0)) throw new StrideError(`sample_text: temperature must be positive, got ${temperature}`);
  if (vocab.size !== model.vocab_size) throw new StrideError(`sample_text: the vocabulary has ${vocab.size} characters, the model ${model.vocab_size}`);
  const wasTraining = model.training;
  model.eval();
  const primeIds = prime ? vocab.encode(prime) : Int32Array.of(Math.floor(generator.uniform(1)[0]! * vocab.size));
  const out: number[] = [];
  let state: LMState | null = null;
  let input = primeIds;
  no_grad(() => {
    for (let i = 0; i < length; i++) {
      const { next, probs } = tidy(() => {
        const [logits, s] = model.call(fromFlat(input, [1, input.length], { dtype: 'int32' }), state);
        const last = logits.select(1, input.length - 1).select(0, 0);
        return { next: detachState(s), probs: softmax(last.div(temperature), 0).dataSync() };
      });
      if (state) for (const t of Array.isArray(state) ? state : [state]) t.dispose();
      state = next;
      const u = generator.uniform(1, 53)[0]!;
      let c = 0;
      for (let acc = probs[0]!; acc <= u && c < probs.length - 1; acc += probs[++c]!);
      out.push(c);
      input = Int32Array.of(c);
    }
  });
  model.train(wasTraining);
  return vocab.decode(out);
}
