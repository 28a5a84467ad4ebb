import { no_grad } from '../autograd/grad_mode.js';
import { index_select } from '../ops/indexing.js';
import { linear } from '../ops/linalg.js';
import { cross_entropy, multiclass_svm_loss } from '../ops/loss.js';
import { amax, amin, argmax, sum } from '../ops/reduce.js';
import { reshape } from '../ops/shape.js';
import { SGD } from '../optim/sgd.js';
import { fromFlat, randn, zeros } from '../tensor/creation.js';
import { ShapeError, StrideError } from '../tensor/errors.js';
import { keep, tidy } from '../tensor/memory.js';
import { default_generator, type Generator } from '../tensor/random.js';
import { numel } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { asLabels, asMatrix, labelTensor, positiveInt } from './common.js';

export type LinearLoss = 'svm' | 'softmax';

export interface LinearClassifierOptions {
  /** 'svm' (the multiclass hinge loss) or 'softmax' (cross-entropy); default 'softmax'. */
  loss?: LinearLoss;
  /** λ of the L2 penalty λ Σ W² (the bias is not penalised); default 1e-4. */
  reg?: number;
  /** SGD step size (default 1e-3). */
  learning_rate?: number;
  /** SGD momentum (default 0: the course's plain update W -= lr dW). */
  momentum?: number;
  /** Samples per step (default 200). */
  batch_size?: number;
  /** SGD steps (default 1500). */
  num_iters?: number;
  /** Multiply the learning rate by this after every pass over the data (default 1). */
  lr_decay?: number;
  /** The SVM margin Δ (default 1). */
  delta?: number;
  /** Draws the initial W and the batches (default: the default generator). */
  generator?: Generator;
}

export interface FitOptions {
  /** Called every `log_every` steps with the step and the batch loss. */
  log?: (iteration: number, loss: number) => void;
  log_every?: number;
}

/**
 * The course's linear classifier f(x) = Wx + b with the multiclass SVM loss
 * L_i = Σ_{j≠y_i} max(0, s_j − s_{y_i} + Δ) or the softmax loss L_i = −log softmax(s)_{y_i},
 * averaged over the batch, plus λ Σ W²; trained by mini-batch SGD from W ~ 0.001·N(0, 1), b = 0,
 * on batches drawn with replacement. weight is [C, D] (PyTorch's Linear layout), bias [C].
 */
export class LinearClassifier {
  readonly loss_type: LinearLoss;
  readonly reg: number;
  readonly learning_rate: number;
  readonly momentum: number;
  readonly batch_size: number;
  readonly num_iters: number;
  readonly lr_decay: number;
  readonly delta: number;
  readonly generator: Generator;
  /** [C, D]; null until fit (or assigned). */
  weight: Tensor | null = null;
  /** [C]; null until fit (or assigned). */
  bias: Tensor | null = null;

  constructor(opts: LinearClassifierOptions = {}) {
    const { loss = 'softmax', reg = 1e-4, learning_rate = 1e-3, momentum = 0, batch_size = 200, num_iters = 1500, lr_decay = 1, delta = 1 } = opts;
    if (loss !== 'svm' && loss !== 'softmax') throw new StrideError(`LinearClassifier: loss must be 'svm' or 'softmax', got '${String(loss)}'`);
    if (!(reg >= 0)) throw new StrideError(`LinearClassifier: reg must be non-negative, got ${reg}`);
    if (!(learning_rate > 0)) throw new StrideError(`LinearClassifier: learning_rate must be positive, got ${learning_rate}`);
    if (!(lr_decay > 0 && lr_decay <= 1)) throw new StrideError(`LinearClassifier: lr_decay must be in (0, 1], got ${lr_decay}`);
    this.loss_type = loss;
    this.reg = reg;
    this.learning_rate = learning_rate;
    this.momentum = momentum;
    this.batch_size = positiveInt(batch_size, 'LinearClassifier: batch_size');
    this.num_iters = positiveInt(num_iters, 'LinearClassifier: num_iters');
    this.lr_decay = lr_decay;
    this.delta = delta;
    this.generator = opts.generator ?? default_generator;
  }

  private params(): { W: Tensor; b: Tensor } {
    if (!this.weight || !this.bias) throw new StrideError('LinearClassifier: call fit(X, y) first (or assign weight and bias)');
    return { W: this.weight, b: this.bias };
  }

  /** Class scores s = x Wᵀ + b, [N, C]. */
  scores(X: Tensor): Tensor {
    const { W, b } = this.params();
    const m = asMatrix(X, 'LinearClassifier', W.dtype);
    if (m.shape[1] !== W.shape[1]) throw new ShapeError(`LinearClassifier: samples have ${m.shape[1]} features, the weights ${W.shape[1]}`);
    return linear(m, W, b);
  }

  /** The full objective on (X, y): mean data loss + λ Σ W², differentiable in weight and bias. */
  loss(X: Tensor, y: Tensor | readonly number[]): Tensor {
    const s = this.scores(X);
    const target = labelTensor(asLabels(y, s.shape[0]!, 'LinearClassifier.loss'));
    const data = this.loss_type === 'svm' ? multiclass_svm_loss(s, target, this.delta) : cross_entropy(s, target);
    const W = this.weight!;
    return this.reg ? data.add(sum(W.mul(W)).mul(this.reg)) : data;
  }

  /** Trains by mini-batch SGD from a fresh W (classes: largest label + 1); returns the loss of every step. */
  fit(X: Tensor, y: Tensor | readonly number[], opts: FitOptions = {}): number[] {
    const m = asMatrix(X, 'LinearClassifier.fit');
    const [N, D] = m.shape as [number, number];
    const labels = asLabels(y, N, 'LinearClassifier.fit');
    const C = labels.reduce((a, b) => Math.max(a, b + 1), 0);
    this.weight = keep(randn([C, D], { dtype: m.dtype, generator: this.generator }).mul(0.001).requires_grad_(true));
    this.bias = keep(zeros([C], { dtype: m.dtype }).requires_grad_(true));
    const optimizer = new SGD([this.weight, this.bias], { lr: this.learning_rate, momentum: this.momentum });
    const perEpoch = Math.max(1, Math.round(N / this.batch_size));
    const history: number[] = [];
    const { log, log_every = 100 } = opts;
    for (let it = 0; it < this.num_iters; it++) {
      const value = tidy(() => {
        const picks = this.generator.integers(this.batch_size, 0, N);
        const idx = fromFlat(picks, [picks.length], { dtype: 'int32' });
        const batchLabels = Array.from(picks, (i) => labels[i]!);
        optimizer.zero_grad();
        const loss = this.loss(index_select(m, 0, idx), batchLabels);
        loss.backward();
        optimizer.step();
        return loss.item();
      });
      history.push(value);
      if (log && (it % log_every === 0 || it === this.num_iters - 1)) log(it, value);
      if ((it + 1) % perEpoch === 0) for (const g of optimizer.param_groups) g.lr *= this.lr_decay;
    }
    optimizer.zero_grad();
    return history;
  }

  /** Predicted classes [N] (int32): the highest score. */
  predict(X: Tensor): Tensor {
    return tidy(() => no_grad(() => argmax(this.scores(X), 1)));
  }

  /** Accuracy on (X, y). */
  score(X: Tensor, y: Tensor | readonly number[]): number {
    const pred = this.predict(X).dataSync();
    const truth = asLabels(y, pred.length, 'LinearClassifier.score');
    let hits = 0;
    for (let i = 0; i < pred.length; i++) if (pred[i] === truth[i]) hits++;
    return hits / pred.length;
  }

  /**
   * The learned weights as one image per class, [C, ...shape] (e.g. [10, 1, 28, 28]), scaled
   * together to [0, 1] as the course shows them (the smallest weight black, the largest white).
   */
  templates(shape: readonly number[]): Tensor {
    const { W } = this.params();
    if (numel(shape) !== W.shape[1]) throw new ShapeError(`LinearClassifier.templates: shape [${shape.join(', ')}] does not hold the ${W.shape[1]} weights of a class`);
    return tidy(() => no_grad(() => {
      const lo = amin(W).item();
      const hi = amax(W).item();
      return reshape(W.sub(lo).div(hi > lo ? hi - lo : 1), [W.shape[0]!, ...shape]);
    }));
  }
}
