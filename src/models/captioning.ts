/**
 * Image captioning in the course's form: a CNN encodes the image into the initial hidden state
 * of an LSTM, which, fed the embedding of each word, scores the next one. Trained with teacher
 * forcing (the true previous word as input); captions come from greedy decoding or beam search.
 */
import { no_grad } from '../autograd/grad_mode.js';
import { ReLU, Tanh } from '../nn/activation.js';
import { BatchNorm1d } from '../nn/normalization.js';
import { Conv2d } from '../nn/conv.js';
import { Embedding } from '../nn/embedding.js';
import { Flatten, Linear } from '../nn/linear.js';
import { Module, Sequential } from '../nn/module.js';
import { MaxPool2d } from '../nn/pooling.js';
import { LSTM } from '../nn/rnn.js';
import { log_softmax } from '../ops/activation.js';
import { index_select } from '../ops/indexing.js';
import { cross_entropy } from '../ops/loss.js';
import { argmax } from '../ops/reduce.js';
import { cat } from '../ops/join.js';
import { expand, narrow, reshape, unsqueeze } from '../ops/shape.js';
import { fromFlat, zeros } from '../tensor/creation.js';
import { isIntegral } from '../tensor/dtype.js';
import { DTypeError, ShapeError, StrideError } from '../tensor/errors.js';
import { tidy } from '../tensor/memory.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * Words by index, with the course's special tokens first: <NULL> (padding, 0), <START> (1) and
 * <END> (2).
 */
export class WordVocab {
  static readonly NULL = 0;
  static readonly START = 1;
  static readonly END = 2;
  readonly words: readonly string[];
  readonly #index: Map<string, number>;

  constructor(words: Iterable<string>) {
    const specials = ['<NULL>', '<START>', '<END>'];
    const rest = [...words].filter((w) => !specials.includes(w));
    this.words = [...specials, ...rest];
    this.#index = new Map(this.words.map((w, i) => [w, i]));
    if (this.#index.size !== this.words.length) throw new StrideError('WordVocab: words must be distinct');
  }

  /** The distinct words of the captions (split on spaces), sorted. */
  static from_captions(captions: Iterable<string>): WordVocab {
    const words = new Set<string>();
    for (const c of captions) for (const w of c.split(' ').filter(Boolean)) words.add(w);
    return new WordVocab([...words].sort());
  }

  get size(): number {
    return this.words.length;
  }

  /** <START>, the caption's words, <END>, then <NULL> up to `length` tokens when given. */
  encode(caption: string, length?: number): number[] {
    const ids = [WordVocab.START, ...caption.split(' ').filter(Boolean).map((w) => {
      const id = this.#index.get(w);
      if (id === undefined) throw new StrideError(`WordVocab: '${w}' is not in the vocabulary`);
      return id;
    }), WordVocab.END];
    if (length !== undefined) {
      if (ids.length > length) throw new StrideError(`WordVocab: "${caption}" needs ${ids.length} tokens, more than ${length}`);
      while (ids.length < length) ids.push(WordVocab.NULL);
    }
    return ids;
  }

  /** The words up to the first <END>, without the special tokens. */
  decode(ids: Iterable<number>): string {
    const out: string[] = [];
    for (const id of ids) {
      if (id === WordVocab.END) break;
      if (id > WordVocab.END) out.push(this.words[id] ?? '<?>');
    }
    return out.join(' ');
  }
}

export interface CaptionerOptions {
  vocab_size: number;
  in_channels?: number;
  /** Side of the square input images (a multiple of 4). */
  image_size?: number;
  /** Channels of the encoder's two conv-ReLU-pool blocks. */
  channels?: readonly [number, number];
  embedding_dim?: number;
  hidden_size?: number;
}

export interface BeamOptions {
  beam_size?: number;
  max_len?: number;
}

interface Beam {
  ids: number[];
  logp: number;
  /** Row of this beam's state in the step's batch. */
  row: number;
}

/**
 * CNN encoder → LSTM decoder. The encoder (two 3×3 conv-ReLU-2×2 max-pool blocks, then a linear
 * layer, batch normalisation and tanh) maps an image to a feature vector f of hidden_size. As in
 * the course's model, f is the LSTM's initial hidden state h₀ (c₀ is zero); f is also appended
 * to every step's word embedding, so that the decoder sees the image at each word and the
 * encoder gets a gradient from each (normalising f keeps that signal from starting out too weak
 * to learn from). Parameter names: encoder.*, embedding.weight, lstm.weight_ih_l0 …, decoder.*.
 */
export class ImageCaptioner extends Module {
  readonly vocab_size: number;
  readonly hidden_size: number;
  encoder: Sequential;
  embedding: Embedding;
  lstm: LSTM;
  decoder: Linear;

  constructor(opts: CaptionerOptions) {
    super();
    const { vocab_size, in_channels = 3, image_size = 16, channels = [8, 16], embedding_dim = 16, hidden_size = 64 } = opts;
    if (!Number.isInteger(vocab_size) || vocab_size < 4) throw new StrideError(`ImageCaptioner: vocab_size must count the 3 special tokens and at least one word, got ${vocab_size}`);
    if (!Number.isInteger(image_size) || image_size < 4 || image_size % 4 !== 0) throw new StrideError(`ImageCaptioner: image_size must be a multiple of 4, got ${image_size}`);
    this.vocab_size = vocab_size;
    this.hidden_size = hidden_size;
    const side = image_size / 4;
    this.encoder = new Sequential(
      new Conv2d(in_channels, channels[0], 3, { padding: 1 }), new ReLU(), new MaxPool2d(2),
      new Conv2d(channels[0], channels[1], 3, { padding: 1 }), new ReLU(), new MaxPool2d(2),
      new Flatten(), new Linear(channels[1] * side * side, hidden_size), new BatchNorm1d(hidden_size), new Tanh(),
    );
    this.embedding = new Embedding(vocab_size, embedding_dim, { padding_idx: WordVocab.NULL });
    this.lstm = new LSTM(embedding_dim + hidden_size, hidden_size, { batch_first: true });
    this.decoder = new Linear(hidden_size, vocab_size);
  }

  /** The image features f [B, H] of images [B, C, H, W]. */
  features(images: Tensor): Tensor {
    if (images.ndim !== 4) throw new ShapeError(`ImageCaptioner: expected images [B, C, H, W], got shape ${formatShape(images.shape)}`);
    return this.encoder.call(images) as Tensor;
  }

  /** The LSTM's initial state [h₀, c₀], each [1, B, H]: the features and zeros. */
  init_state(features: Tensor): [Tensor, Tensor] {
    const h = unsqueeze(features, 0);
    return [h, zeros(h.shape, { dtype: h.dtype, backend: h.device })];
  }

  /** Decoder steps from a state: scores [B, T, V] for the input words [B, T] of images with features [B, H], and the next state. */
  private decode(words: Tensor, features: Tensor, state: readonly [Tensor, Tensor]): [Tensor, [Tensor, Tensor]] {
    const [B, T] = words.shape as [number, number];
    const input = cat([this.embedding.call(words), expand(unsqueeze(features, 1), [B, T, this.hidden_size])], 2);
    const [out, next] = this.lstm.call(input, state as [Tensor, Tensor]);
    return [this.decoder.call(out), next];
  }

  /** Teacher forcing: scores [B, T, V] of the word after each input word of captions [B, T]. */
  forward(images: Tensor, captions: Tensor): Tensor {
    if (!isIntegral(captions.dtype) || captions.ndim !== 2) throw new DTypeError(`ImageCaptioner: captions must be word indices [B, T] (int32), got ${captions.dtype} ${formatShape(captions.shape)}`);
    const f = this.features(images);
    return this.decode(captions, f, this.init_state(f))[0];
  }

  /**
   * The training loss for captions [B, T] as WordVocab.encode makes them (<START> … <END>
   * <NULL>…): cross-entropy of each next word given the previous ones, padding ignored.
   */
  loss(images: Tensor, captions: Tensor): Tensor {
    const T = captions.shape[1]!;
    const scores = this.forward(images, narrow(captions, 1, 0, T - 1));
    const target = reshape(narrow(captions, 1, 1, T - 1), [-1]);
    return cross_entropy(reshape(scores, [-1, this.vocab_size]), target, { ignore_index: WordVocab.NULL });
  }

  /**
   * Greedy decoding: the most likely word (or <END>) at each step, up to <END> or max_len words;
   * word ids per image (without the special tokens). <NULL> and <START> are never generated.
   */
  greedy(images: Tensor, max_len = 16): number[][] {
    return no_grad(() => tidy(() => {
      const B = images.shape[0]!;
      const f = this.features(images);
      let state = this.init_state(f);
      let words = fromFlat(new Array(B).fill(WordVocab.START), [B, 1], { dtype: 'int32' });
      const out: number[][] = Array.from({ length: B }, () => []);
      const done = new Array<boolean>(B).fill(false);
      for (let t = 0; t < max_len && done.includes(false); t++) {
        const [scores, next] = this.decode(words, f, state);
        state = next;
        const best = argmax(narrow(reshape(scores, [B, this.vocab_size]), 1, WordVocab.END, this.vocab_size - WordVocab.END), 1).add(WordVocab.END);
        const ids = best.dataSync();
        ids.forEach((id, b) => {
          if (done[b]) return;
          if (id === WordVocab.END) done[b] = true;
          else out[b]!.push(id);
        });
        words = reshape(best, [B, 1]);
      }
      return out;
    }));
  }

  /**
   * Beam search: keeps the beam_size most likely partial captions (by summed log-probability),
   * extends each by every word, and returns per image the most likely caption that ended with
   * <END> (or the best unfinished one after max_len words).
   */
  beam_search(images: Tensor, opts: BeamOptions = {}): number[][] {
    const { beam_size = 3, max_len = 16 } = opts;
    if (!Number.isInteger(beam_size) || beam_size < 1) throw new StrideError(`beam_search: beam_size must be a positive integer, got ${beam_size}`);
    const B = images.shape[0]!;
    return no_grad(() => tidy(() => {
      const f = this.features(images);
      const [h0, c0] = this.init_state(f);
      const results: number[][] = [];
      for (let b = 0; b < B; b++) {
        let state: [Tensor, Tensor] = [narrow(h0, 1, b, 1), narrow(c0, 1, b, 1)];
        let beams: Beam[] = [{ ids: [], logp: 0, row: 0 }];
        const finished: { ids: number[]; logp: number }[] = [];
        for (let t = 0; t < max_len && beams.length > 0; t++) {
          const last = beams.map((beam) => beam.ids.at(-1) ?? WordVocab.START);
          const rows = fromFlat(beams.map((beam) => beam.row), [beams.length], { dtype: 'int32' });
          const stepState: [Tensor, Tensor] = [index_select(state[0], 1, rows), index_select(state[1], 1, rows)];
          const feats = expand(narrow(f, 0, b, 1), [beams.length, this.hidden_size]);
          const [scores, next] = this.decode(fromFlat(last, [beams.length, 1], { dtype: 'int32' }), feats, stepState);
          state = next;
          const logp = log_softmax(reshape(scores, [beams.length, this.vocab_size]), 1).dataSync();
          const candidates: { beam: number; id: number; logp: number }[] = [];
          beams.forEach((beam, i) => {
            for (let id = 0; id < this.vocab_size; id++) {
              if (id === WordVocab.NULL || id === WordVocab.START) continue;
              candidates.push({ beam: i, id, logp: beam.logp + logp[i * this.vocab_size + id]! });
            }
          });
          candidates.sort((x, y) => y.logp - x.logp);
          const kept: Beam[] = [];
          for (const c of candidates.slice(0, beam_size)) {
            const ids = [...beams[c.beam]!.ids];
            if (c.id === WordVocab.END) finished.push({ ids, logp: c.logp });
            else kept.push({ ids: [...ids, c.id], logp: c.logp, row: c.beam });
          }
          // A finished caption beats every live beam that is already less likely.
          const bestDone = Math.max(-Infinity, ...finished.map((f) => f.logp));
          beams = kept.filter((k) => k.logp > bestDone);
        }
        const pool = finished.length ? finished : beams;
        pool.sort((x, y) => y.logp - x.logp);
        results.push(pool[0]?.ids ?? []);
      }
      return results;
    }));
  }
}
