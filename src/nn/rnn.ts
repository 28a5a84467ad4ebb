import { add, mul, relu, sigmoid, sub, tanh } from '../ops/elementwise.js';
import { dropout } from '../ops/dropout.js';
import { index_select } from '../ops/indexing.js';
import { cat, stack } from '../ops/join.js';
import { matmul } from '../ops/linalg.js';
import { chunk, contiguous, narrow, select, split, squeeze, t, transpose, unbind, unsqueeze } from '../ops/shape.js';
import { fromFlat, full, zeros } from '../tensor/creation.js';
import { DTypeError, ShapeError, StrideError } from '../tensor/errors.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { uniform_ } from './init.js';
import { parameter } from './linear.js';
import { Module, type Parameter } from './module.js';

/**
 * Recurrent layers with torch.nn's arguments, weight names and numerics: RNN (tanh or ReLU), LSTM
 * and GRU over whole sequences (layers, directions, dropout between layers, initial states,
 * PackedSequence for variable lengths), and the single-step cells. They are compositions of
 * differentiable ops, so backpropagation through time is autograd's ordinary backward.
 */

// ---------------------------------------------------------------- packed sequences

/**
 * A batch of variable-length sequences packed time step by time step (torch.nn.utils.rnn's
 * PackedSequence): `data` holds step 0 of every sequence, then step 1 of the sequences that are
 * that long, and so on; `batch_sizes[t]` is how many sequences have a step t. The sequences are
 * stored longest first; `sorted_indices` maps that order to the caller's batch order and
 * `unsorted_indices` back (both null when the caller's batch was already sorted).
 */
export class PackedSequence {
  constructor(
    readonly data: Tensor,
    readonly batch_sizes: Tensor,
    readonly sorted_indices: Tensor | null = null,
    readonly unsorted_indices: Tensor | null = null,
  ) {}

  /** The batch sizes as numbers. */
  sizes(): number[] {
    return Array.from(this.batch_sizes.dataSync());
  }
}

function lengthList(lengths: readonly number[] | Tensor, what: string): number[] {
  const list = lengths instanceof Tensor ? Array.from(lengths.dataSync()) : [...lengths];
  for (const n of list) if (!Number.isInteger(n) || n <= 0) throw new StrideError(`${what}: lengths must be positive integers, got [${list.join(', ')}]`);
  return list;
}

function indexTensor(values: readonly number[], device: string): Tensor {
  return fromFlat(values, [values.length], { dtype: 'int32', backend: device });
}

/**
 * Packs a padded batch [T, B, *] (or [B, T, *] with batch_first) whose sequence b has
 * lengths[b] valid steps. With enforce_sorted (PyTorch's default) the lengths must be
 * non-increasing; otherwise the batch is sorted longest first (a stable sort) and the
 * permutation is kept in the result.
 */
export function pack_padded_sequence(input: Tensor, lengths: readonly number[] | Tensor, batch_first = false, enforce_sorted = true): PackedSequence {
  const lens = lengthList(lengths, 'pack_padded_sequence');
  const x = batch_first ? transpose(input, 0, 1) : input;
  if (x.ndim < 2 || x.shape[1] !== lens.length) {
    throw new ShapeError(`pack_padded_sequence: expected ${lens.length} sequences along the batch dim of input of shape ${formatShape(input.shape)} (batch_first=${batch_first})`);
  }
  const T = x.shape[0]!;
  if (Math.max(...lens) > T) throw new ShapeError(`pack_padded_sequence: a length of ${Math.max(...lens)} exceeds the ${T} time steps of input of shape ${formatShape(input.shape)}`);
  let order: number[] | null = null;
  let sorted = lens;
  if (enforce_sorted) {
    if (lens.some((n, i) => i > 0 && n > lens[i - 1]!)) {
      throw new StrideError(`pack_padded_sequence: lengths [${lens.join(', ')}] are not sorted in decreasing order; pass enforce_sorted=false to sort them`);
    }
  } else {
    order = [...lens.keys()].sort((a, b) => lens[b]! - lens[a]!);
    sorted = order.map((i) => lens[i]!);
  }
  const xs = order ? index_select(x, 1, indexTensor(order, x.device)) : x;
  const sizes: number[] = [];
  for (let t = 0; t < sorted[0]!; t++) sizes.push(sorted.filter((n) => n > t).length);
  const data = cat(sizes.map((bs, t) => narrow(select(xs, 0, t), 0, 0, bs)), 0);
  const batch_sizes = fromFlat(sizes, [sizes.length], { dtype: 'int32' });
  if (!order) return new PackedSequence(data, batch_sizes);
  const inverse = new Array<number>(order.length);
  order.forEach((o, i) => (inverse[o] = i));
  return new PackedSequence(data, batch_sizes, indexTensor(order, x.device), indexTensor(inverse, x.device));
}

/**
 * Unpacks to a padded batch [T, B, *] (or [B, T, *]), T the longest length (or total_length),
 * padding with padding_value; returns it with the lengths (int32) in the caller's batch order.
 */
export function pad_packed_sequence(sequence: PackedSequence, batch_first = false, padding_value = 0, total_length: number | null = null): [Tensor, Tensor] {
  const sizes = sequence.sizes();
  const B = sizes[0] ?? 0;
  const T = total_length ?? sizes.length;
  if (T < sizes.length) {
    throw new StrideError(`pad_packed_sequence: total_length ${T} is less than the longest sequence (${sizes.length} steps)`);
  }
  const data = sequence.data;
  const rowShape = data.shape.slice(1);
  const steps = split(data, sizes, 0).map((piece, t) =>
    sizes[t]! < B ? cat([piece, full([B - sizes[t]!, ...rowShape], padding_value, { dtype: data.dtype, backend: data.device })], 0) : piece,
  );
  for (let t = sizes.length; t < T; t++) steps.push(full([B, ...rowShape], padding_value, { dtype: data.dtype, backend: data.device }));
  let padded = stack(steps, 0);
  const lengths = Array.from({ length: B }, (_, b) => sizes.filter((bs) => bs > b).length);
  let lens = lengths;
  if (sequence.unsorted_indices) {
    padded = index_select(padded, 1, sequence.unsorted_indices);
    lens = Array.from(sequence.unsorted_indices.dataSync(), (i) => lengths[i]!);
  }
  return [batch_first ? transpose(padded, 0, 1) : padded, fromFlat(lens, [B], { dtype: 'int32' })];
}

/** Stacks sequences [L_i, *] into [max L, B, *] (or [B, max L, *]), padding with padding_value. */
export function pad_sequence(sequences: readonly Tensor[], batch_first = false, padding_value = 0): Tensor {
  if (sequences.length === 0) throw new StrideError('pad_sequence: expected a non-empty list of sequences');
  const T = Math.max(...sequences.map((s) => s.shape[0] ?? 0));
  const padded = sequences.map((s) => {
    if (s.ndim === 0) throw new ShapeError('pad_sequence: sequences must have at least one dim (time)');
    const missing = T - s.shape[0]!;
    return missing > 0 ? cat([s, full([missing, ...s.shape.slice(1)], padding_value, { dtype: s.dtype, backend: s.device })], 0) : s;
  });
  return stack(padded, batch_first ? 0 : 1);
}

/** Packs a list of sequences [L_i, *] (pad_sequence, then pack_padded_sequence). */
export function pack_sequence(sequences: readonly Tensor[], enforce_sorted = true): PackedSequence {
  return pack_padded_sequence(pad_sequence(sequences), sequences.map((s) => s.shape[0]!), false, enforce_sorted);
}

// ---------------------------------------------------------------- one time step

export type RNNMode = 'RNN_TANH' | 'RNN_RELU' | 'LSTM' | 'GRU';

/** Gates per mode: the rows of weight_ih are the gates' blocks of hidden_size (LSTM i, f, g, o; GRU r, z, n). */
const GATES: Record<RNNMode, number> = { RNN_TANH: 1, RNN_RELU: 1, LSTM: 4, GRU: 3 };

/**
 * A layer's weights for the steps: W_ih and W_hh transposed into contiguous [in, G·H] and
 * [H, G·H] once per call (differentiably), so that every step's products read their right operand
 * row by row, the reference matmul's fast layout.
 */
interface StepWeights {
  wt_ih: Tensor;
  wt_hh: Tensor;
  b_ih: Tensor | null;
  b_hh: Tensor | null;
}

function stepWeights(w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | null, b_hh: Tensor | null): StepWeights {
  return { wt_ih: contiguous(t(w_ih)), wt_hh: contiguous(t(w_hh)), b_ih, b_hh };
}

/** x Wᵀ + b from the transposed weight. */
function affine(x: Tensor, wt: Tensor, b: Tensor | null): Tensor {
  const y = matmul(x, wt);
  return b ? add(y, b) : y;
}

/**
 * One step of a recurrence: the new state from input x [B, in] and state [h] (or [h, c] for LSTM),
 * with PyTorch's equations:
 *   RNN:  h' = act(W_ih x + b_ih + W_hh h + b_hh)
 *   LSTM: i, f, g, o = σ, σ, tanh, σ of (W_ih x + b_ih + W_hh h + b_hh); c' = f c + i g; h' = o tanh(c')
 *   GRU:  r, z = σ(W_i{r,z} x + b_i{r,z} + W_h{r,z} h + b_h{r,z}); n = tanh(W_in x + b_in + r (W_hn h + b_hn));
 *         h' = (1 - z) n + z h
 */
function step(mode: RNNMode, w: StepWeights, x: Tensor, state: readonly Tensor[]): Tensor[] {
  const h = state[0]!;
  const xg = affine(x, w.wt_ih, w.b_ih);
  const hg = affine(h, w.wt_hh, w.b_hh);
  switch (mode) {
    case 'RNN_TANH':
      return [tanh(add(xg, hg))];
    case 'RNN_RELU':
      return [relu(add(xg, hg))];
    case 'LSTM': {
      const [i, f, g, o] = chunk(add(xg, hg), 4, 1) as [Tensor, Tensor, Tensor, Tensor];
      const c = add(mul(sigmoid(f), state[1]!), mul(sigmoid(i), tanh(g)));
      return [mul(sigmoid(o), tanh(c)), c];
    }
    case 'GRU': {
      const [xr, xz, xn] = chunk(xg, 3, 1) as [Tensor, Tensor, Tensor];
      const [hr, hz, hn] = chunk(hg, 3, 1) as [Tensor, Tensor, Tensor];
      const r = sigmoid(add(xr, hr));
      const z = sigmoid(add(xz, hz));
      const n = tanh(add(xn, mul(r, hn)));
      // (1 - z) n + z h, written as n + z (h - n).
      return [add(n, mul(z, sub(h, n)))];
    }
  }
}

/**
 * Runs one direction of one layer over per-step inputs xs[t] ([batch_sizes[t], in]), from the
 * initial state `init` ([B, H] each). Sequences are sorted longest first, so at each step the
 * active ones are the first batch_sizes[t] rows: going forward, rows whose sequence has ended
 * keep their last state; going backward, a sequence starts from its initial state at its own
 * last step. Returns the per-step outputs and the final state of every sequence.
 */
function runDirection(mode: RNNMode, w: StepWeights, xs: readonly Tensor[], init: readonly Tensor[], sizes: readonly number[], reverse: boolean): { outs: Tensor[]; final: Tensor[] } {
  const outs = new Array<Tensor>(xs.length);
  const rows = (s: readonly Tensor[], start: number, n: number) => s.map((x) => narrow(x, 0, start, n));
  if (!reverse) {
    let state: Tensor[] = [...init];
    let active = init[0]!.shape[0]!;
    const ended: Tensor[][] = [];
    for (let t = 0; t < xs.length; t++) {
      const bs = sizes[t]!;
      if (bs < active) {
        ended.unshift(rows(state, bs, active - bs));
        state = rows(state, 0, bs);
        active = bs;
      }
      state = step(mode, w, xs[t]!, state);
      outs[t] = state[0]!;
    }
    const final = ended.length ? state.map((s, k) => cat([s, ...ended.map((e) => e[k]!)], 0)) : state;
    return { outs, final };
  }
  let active = sizes[xs.length - 1] ?? 0;
  let state = rows(init, 0, active);
  for (let t = xs.length - 1; t >= 0; t--) {
    const bs = sizes[t]!;
    if (bs > active) {
      const fresh = rows(init, active, bs - active);
      state = state.map((s, k) => cat([s, fresh[k]!], 0));
      active = bs;
    }
    state = step(mode, w, xs[t]!, state);
    outs[t] = state[0]!;
  }
  return { outs, final: state };
}

// ---------------------------------------------------------------- whole-sequence layers

export interface RNNBaseOptions {
  num_layers?: number;
  /** Add b_ih and b_hh (default true). */
  bias?: boolean;
  /** Input and output are [B, T, *] instead of [T, B, *] (the states stay [layers·directions, B, H]). */
  batch_first?: boolean;
  /** Dropout on the outputs of every layer but the last, while training. */
  dropout?: number;
  bidirectional?: boolean;
}

export interface RNNOptions extends RNNBaseOptions {
  nonlinearity?: 'tanh' | 'relu';
}

/**
 * The shared machinery of RNN, LSTM and GRU (torch.nn.RNNBase). Parameters are registered, in
 * PyTorch's order, as weight_ih_l{k}{_reverse}, weight_hh_l{k}{_reverse}, bias_ih_l{k}{_reverse},
 * bias_hh_l{k}{_reverse}; all start from U(-1/√hidden_size, 1/√hidden_size).
 */
export abstract class RNNBase extends Module {
  readonly num_layers: number;
  readonly bias: boolean;
  readonly batch_first: boolean;
  readonly dropout: number;
  readonly bidirectional: boolean;

  constructor(readonly mode: RNNMode, readonly input_size: number, readonly hidden_size: number, opts: RNNBaseOptions = {}) {
    super();
    const { num_layers = 1, bias = true, batch_first = false, dropout = 0, bidirectional = false } = opts;
    const name = this.constructor.name;
    if (!Number.isInteger(input_size) || input_size < 0) throw new StrideError(`${name}: input_size must be a non-negative integer, got ${input_size}`);
    if (!Number.isInteger(hidden_size) || hidden_size <= 0) throw new StrideError(`${name}: hidden_size must be a positive integer, got ${hidden_size}`);
    if (!Number.isInteger(num_layers) || num_layers <= 0) throw new StrideError(`${name}: num_layers must be a positive integer, got ${num_layers}`);
    if (typeof dropout !== 'number' || !(dropout >= 0 && dropout <= 1)) {
      throw new StrideError(`${name}: dropout should be a number in range [0, 1] representing the probability of an element being zeroed, got ${dropout}`);
    }
    this.num_layers = num_layers;
    this.bias = bias;
    this.batch_first = batch_first;
    this.dropout = dropout;
    this.bidirectional = bidirectional;
    const G = GATES[mode];
    const D = this.num_directions;
    for (let layer = 0; layer < num_layers; layer++) {
      const inSize = layer === 0 ? input_size : hidden_size * D;
      for (let dir = 0; dir < D; dir++) {
        const sfx = `_l${layer}${dir === 1 ? '_reverse' : ''}`;
        this.register_parameter(`weight_ih${sfx}`, parameter([G * hidden_size, inSize], name));
        this.register_parameter(`weight_hh${sfx}`, parameter([G * hidden_size, hidden_size], name));
        if (bias) {
          this.register_parameter(`bias_ih${sfx}`, parameter([G * hidden_size], name));
          this.register_parameter(`bias_hh${sfx}`, parameter([G * hidden_size], name));
        }
      }
    }
    this.reset_parameters();
  }

  get num_directions(): number {
    return this.bidirectional ? 2 : 1;
  }

  reset_parameters(): void {
    const bound = 1 / Math.sqrt(this.hidden_size);
    for (const p of this.parameters()) uniform_(p, -bound, bound);
  }

  /** The parameter names of each layer and direction, as PyTorch's _flat_weights_names grouped. */
  private weightNames(layer: number, dir: number): string[] {
    const sfx = `_l${layer}${dir === 1 ? '_reverse' : ''}`;
    return ['weight_ih', 'weight_hh', ...(this.bias ? ['bias_ih', 'bias_hh'] : [])].map((n) => n + sfx);
  }

  /** Parameters per layer and direction (PyTorch's all_weights): [w_ih, w_hh, b_ih, b_hh] or without the biases. */
  get all_weights(): Parameter[][] {
    const self = this as unknown as Record<string, Parameter>;
    const out: Parameter[][] = [];
    for (let l = 0; l < this.num_layers; l++) for (let d = 0; d < this.num_directions; d++) out.push(this.weightNames(l, d).map((n) => self[n]!));
    return out;
  }

  private stepWeights(layer: number, dir: number): StepWeights {
    // Read by name each time: Module.to() replaces the parameters.
    const [w_ih, w_hh, b_ih = null, b_hh = null] = this.all_weights[layer * this.num_directions + dir]!;
    return stepWeights(w_ih!, w_hh!, b_ih, b_hh);
  }

  /** Checks an initial state [L·D, B, H] (or [L·D, H] unbatched). */
  private checkState(h: Tensor, batch: number | null, what: string): void {
    const expected = batch === null ? [this.num_layers * this.num_directions, this.hidden_size] : [this.num_layers * this.num_directions, batch, this.hidden_size];
    if (!sameShape(h.shape, expected)) throw new ShapeError(`${this.constructor.name}: expected ${what} size ${formatShape(expected)}, got ${formatShape(h.shape)}`);
  }

  /**
   * Runs every layer and direction. `xs` are per-step inputs [batch_sizes[t], in]; `init` the
   * initial states, each [L·D, B, H]. Returns per-step outputs [batch_sizes[t], D·H] and the final
   * states, each [L·D, B, H].
   */
  protected run(xs: Tensor[], sizes: readonly number[], init: readonly Tensor[]): { outs: Tensor[]; final: Tensor[] } {
    const D = this.num_directions;
    const finals: Tensor[][] = init.map(() => []);
    let layerInput = xs;
    for (let layer = 0; layer < this.num_layers; layer++) {
      if (layer > 0 && this.dropout > 0 && this.training) layerInput = layerInput.map((x) => dropout(x, this.dropout, true));
      const perDir: Tensor[][] = [];
      for (let dir = 0; dir < D; dir++) {
        const start = init.map((s) => select(s, 0, layer * D + dir));
        const { outs, final } = runDirection(this.mode, this.stepWeights(layer, dir), layerInput, start, sizes, dir === 1);
        perDir.push(outs);
        final.forEach((f, k) => finals[k]!.push(f));
      }
      layerInput = D === 1 ? perDir[0]! : perDir[0]!.map((o, t) => cat([o, perDir[1]![t]!], 1));
    }
    return { outs: layerInput, final: finals.map((f) => stack(f, 0)) };
  }

  /**
   * The whole forward pass for states of `n` tensors (1, or 2 for LSTM): validates the input
   * ([T, B, in], [B, T, in] with batch_first, [T, in] unbatched, or a PackedSequence) and the
   * initial states (zeros when absent), and returns the output in the input's form with the
   * final states.
   */
  protected forwardStates(input: Tensor | PackedSequence, hx: readonly Tensor[] | null, n: number): [Tensor | PackedSequence, Tensor[]] {
    const name = this.constructor.name;
    const packed = input instanceof PackedSequence;
    const x = packed ? input.data : input;
    if (!x.is_floating_point()) throw new DTypeError(`${name}: expected a floating point input, got ${x.dtype}`);
    const dims = packed ? 2 : x.ndim;
    if (!packed && dims !== 2 && dims !== 3) throw new ShapeError(`${name}: expected a 2-d (unbatched) or 3-d input, got shape ${formatShape(x.shape)}`);
    if (x.shape[x.ndim - 1] !== this.input_size) {
      throw new ShapeError(`${name}: input.size(-1) must be equal to input_size. Expected ${this.input_size}, got ${x.shape[x.ndim - 1]}`);
    }
    const batched = packed || dims === 3;
    let xs: Tensor[];
    let sizes: number[];
    let B: number;
    if (packed) {
      sizes = input.sizes();
      B = sizes[0] ?? 0;
      xs = split(x, sizes, 0);
    } else {
      const seq = dims === 2 ? unsqueeze(x, 1) : this.batch_first ? transpose(x, 0, 1) : x;
      B = seq.shape[1]!;
      xs = unbind(seq, 0);
      sizes = xs.map(() => B);
    }
    const L = this.num_layers * this.num_directions;
    let init: Tensor[];
    if (hx) {
      if (hx.length !== n) throw new StrideError(`${name}: expected ${n} initial state tensors, got ${hx.length}`);
      hx.forEach((h, k) => this.checkState(h, batched ? B : null, n === 2 ? (k === 0 ? 'hidden[0]' : 'hidden[1]') : 'hidden'));
      init = hx.map((h) => (batched ? h : unsqueeze(h, 1)));
      // A packed batch is stored longest first: its states are permuted to match.
      if (packed && input.sorted_indices) init = init.map((h) => index_select(h, 1, input.sorted_indices!));
    } else {
      init = Array.from({ length: n }, () => zeros([L, B, this.hidden_size], { dtype: x.dtype, backend: x.device }));
    }
    const { outs, final } = this.run(xs, sizes, init);
    let finalOut = final;
    if (packed && input.unsorted_indices) finalOut = final.map((h) => index_select(h, 1, input.unsorted_indices!));
    if (packed) return [new PackedSequence(cat(outs, 0), input.batch_sizes, input.sorted_indices, input.unsorted_indices), finalOut];
    let out = stack(outs, 0);
    if (dims === 2) return [squeeze(out, 1), finalOut.map((h) => squeeze(h, 1))];
    if (this.batch_first) out = transpose(out, 0, 1);
    return [out, finalOut];
  }

  override extra_repr(): string {
    let s = `${this.input_size}, ${this.hidden_size}`;
    if (this.num_layers !== 1) s += `, num_layers=${this.num_layers}`;
    if (!this.bias) s += ', bias=false';
    if (this.batch_first) s += ', batch_first=true';
    if (this.dropout !== 0) s += `, dropout=${this.dropout}`;
    if (this.bidirectional) s += ', bidirectional=true';
    return s;
  }
}

/** The Elman RNN h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (or ReLU), torch.nn.RNN. */
export class RNN extends RNNBase {
  readonly nonlinearity: 'tanh' | 'relu';

  constructor(input_size: number, hidden_size: number, opts: RNNOptions = {}) {
    const { nonlinearity = 'tanh', ...rest } = opts;
    if (nonlinearity !== 'tanh' && nonlinearity !== 'relu') throw new StrideError(`RNN: unknown nonlinearity '${String(nonlinearity)}'; expected 'tanh' or 'relu'`);
    super(nonlinearity === 'tanh' ? 'RNN_TANH' : 'RNN_RELU', input_size, hidden_size, rest);
    this.nonlinearity = nonlinearity;
  }

  /**
   * Returns [output, h_n]: output [T, B, D·H] (or the input's layout, or packed like the input),
   * h_n [L·D, B, H]. (call() is typed for tensors, the last overload.)
   */
  forward(input: PackedSequence, hx?: Tensor | null): [PackedSequence, Tensor];
  forward(input: Tensor, hx?: Tensor | null): [Tensor, Tensor];
  forward(input: Tensor | PackedSequence, hx: Tensor | null = null): [Tensor | PackedSequence, Tensor] {
    const [out, [h]] = this.forwardStates(input, hx ? [hx] : null, 1);
    return [out, h!];
  }

  override extra_repr(): string {
    return super.extra_repr() + (this.nonlinearity === 'relu' ? ", nonlinearity='relu'" : '');
  }
}

/** Long short-term memory (torch.nn.LSTM): gates i, f, g, o in that order in the weights. */
export class LSTM extends RNNBase {
  constructor(input_size: number, hidden_size: number, opts: RNNBaseOptions = {}) {
    super('LSTM', input_size, hidden_size, opts);
  }

  /** Returns [output, [h_n, c_n]]; hx is [h_0, c_0] (zeros when absent). */
  forward(input: PackedSequence, hx?: readonly [Tensor, Tensor] | null): [PackedSequence, [Tensor, Tensor]];
  forward(input: Tensor, hx?: readonly [Tensor, Tensor] | null): [Tensor, [Tensor, Tensor]];
  forward(input: Tensor | PackedSequence, hx: readonly [Tensor, Tensor] | null = null): [Tensor | PackedSequence, [Tensor, Tensor]] {
    const [out, [h, c]] = this.forwardStates(input, hx, 2);
    return [out, [h!, c!]];
  }
}

/** Gated recurrent unit (torch.nn.GRU): gates r, z, n in that order in the weights. */
export class GRU extends RNNBase {
  constructor(input_size: number, hidden_size: number, opts: RNNBaseOptions = {}) {
    super('GRU', input_size, hidden_size, opts);
  }

  /** Returns [output, h_n]. */
  forward(input: PackedSequence, hx?: Tensor | null): [PackedSequence, Tensor];
  forward(input: Tensor, hx?: Tensor | null): [Tensor, Tensor];
  forward(input: Tensor | PackedSequence, hx: Tensor | null = null): [Tensor | PackedSequence, Tensor] {
    const [out, [h]] = this.forwardStates(input, hx ? [hx] : null, 1);
    return [out, h!];
  }
}

// ---------------------------------------------------------------- cells

export interface RNNCellOptions {
  bias?: boolean;
}

/** The shared part of the cells (torch.nn.RNNCellBase): weight_ih, weight_hh, bias_ih, bias_hh. */
abstract class RNNCellBase extends Module {
  weight_ih: Parameter;
  weight_hh: Parameter;
  bias_ih: Parameter | null;
  bias_hh: Parameter | null;

  constructor(readonly mode: RNNMode, readonly input_size: number, readonly hidden_size: number, readonly bias: boolean) {
    super();
    const name = this.constructor.name;
    if (!Number.isInteger(hidden_size) || hidden_size <= 0) throw new StrideError(`${name}: hidden_size must be a positive integer, got ${hidden_size}`);
    const G = GATES[mode];
    this.weight_ih = parameter([G * hidden_size, input_size], name);
    this.weight_hh = parameter([G * hidden_size, hidden_size], name);
    this.bias_ih = bias ? parameter([G * hidden_size], name) : null;
    this.bias_hh = bias ? parameter([G * hidden_size], name) : null;
    this.reset_parameters();
  }

  reset_parameters(): void {
    const bound = 1 / Math.sqrt(this.hidden_size);
    for (const p of this.parameters()) uniform_(p, -bound, bound);
  }

  /**
   * One step on input [B, in] (or [in] unbatched) from states shaped like it (zeros when absent);
   * returns the new states in the input's layout.
   */
  protected cellStep(input: Tensor, hx: readonly Tensor[] | null, n: number): Tensor[] {
    const name = this.constructor.name;
    if (input.ndim !== 1 && input.ndim !== 2) throw new ShapeError(`${name}: expected input to be 1-d or 2-d, got shape ${formatShape(input.shape)}`);
    if (input.shape[input.ndim - 1] !== this.input_size) {
      throw new ShapeError(`${name}: input has inconsistent input_size: got ${input.shape[input.ndim - 1]} expected ${this.input_size}`);
    }
    const batched = input.ndim === 2;
    const x = batched ? input : unsqueeze(input, 0);
    const B = x.shape[0]!;
    const states = hx
      ? hx.map((h, k) => {
        const expected = batched ? [B, this.hidden_size] : [this.hidden_size];
        if (!sameShape(h.shape, expected)) throw new ShapeError(`${name}: expected hidden${n === 2 ? `[${k}]` : ''} of shape ${formatShape(expected)}, got ${formatShape(h.shape)}`);
        return batched ? h : unsqueeze(h, 0);
      })
      : Array.from({ length: n }, () => zeros([B, this.hidden_size], { dtype: x.dtype, backend: x.device }));
    const out = step(this.mode, stepWeights(this.weight_ih, this.weight_hh, this.bias_ih, this.bias_hh), x, states);
    return batched ? out : out.map((h) => squeeze(h, 0));
  }

  override extra_repr(): string {
    return `${this.input_size}, ${this.hidden_size}${this.bias ? '' : ', bias=false'}`;
  }
}

/** One step of the Elman RNN (torch.nn.RNNCell). */
export class RNNCell extends RNNCellBase {
  readonly nonlinearity: 'tanh' | 'relu';

  constructor(input_size: number, hidden_size: number, opts: RNNCellOptions & { nonlinearity?: 'tanh' | 'relu' } = {}) {
    const { bias = true, nonlinearity = 'tanh' } = opts;
    if (nonlinearity !== 'tanh' && nonlinearity !== 'relu') throw new StrideError(`RNNCell: unknown nonlinearity '${String(nonlinearity)}'; expected 'tanh' or 'relu'`);
    super(nonlinearity === 'tanh' ? 'RNN_TANH' : 'RNN_RELU', input_size, hidden_size, bias);
    this.nonlinearity = nonlinearity;
  }

  forward(input: Tensor, hx: Tensor | null = null): Tensor {
    return this.cellStep(input, hx ? [hx] : null, 1)[0]!;
  }
}

/** One LSTM step (torch.nn.LSTMCell): returns [h', c']. */
export class LSTMCell extends RNNCellBase {
  constructor(input_size: number, hidden_size: number, opts: RNNCellOptions = {}) {
    super('LSTM', input_size, hidden_size, opts.bias ?? true);
  }

  forward(input: Tensor, hx: readonly [Tensor, Tensor] | null = null): [Tensor, Tensor] {
    const [h, c] = this.cellStep(input, hx, 2);
    return [h!, c!];
  }
}

/** One GRU step (torch.nn.GRUCell). */
export class GRUCell extends RNNCellBase {
  constructor(input_size: number, hidden_size: number, opts: RNNCellOptions = {}) {
    super('GRU', input_size, hidden_size, opts.bias ?? true);
  }

  forward(input: Tensor, hx: Tensor | null = null): Tensor {
    return this.cellStep(input, hx ? [hx] : null, 1)[0]!;
  }
}
