import { StrideError } from '../tensor/errors.js';
import type { Optimizer } from './optimizer.js';

type AnyOptimizer = Optimizer<{ lr: number }>;
type Group = { lr: number; initial_lr?: number } & Record<string, unknown>;

function groups(opt: AnyOptimizer): Group[] {
  return opt.param_groups as unknown as Group[];
}

/**
 * Base of the epoch-wise schedules (torch.optim.lr_scheduler._LRScheduler, PyTorch 1.13): the
 * constructor takes the first step (epoch 0), each step() moves one epoch and writes the new
 * learning rates into the optimizer's groups. Subclasses give PyTorch's recursive formula
 * (getLr) and, where PyTorch has one, the closed form used when stepping to a given epoch.
 */
export abstract class LRScheduler {
  last_epoch: number;
  base_lrs: number[];
  protected step_count = 0;
  private last_lr: number[] = [];

  constructor(readonly optimizer: AnyOptimizer, last_epoch = -1) {
    for (const g of groups(optimizer)) {
      if (last_epoch === -1) g.initial_lr ??= g.lr;
      else if (g.initial_lr === undefined) {
        throw new StrideError(`${this.constructor.name}: param 'initial_lr' is not specified in param_groups when resuming an optimizer`);
      }
    }
    this.base_lrs = groups(optimizer).map((g) => g.initial_lr!);
    this.last_epoch = last_epoch;
  }

  /** PyTorch calls the first step from the constructor; subclasses call this at the end of theirs. */
  protected initialStep(): void {
    this.step_count = 0;
    this.step();
  }

  protected abstract getLr(): number[];

  /** The learning rates at `last_epoch` computed directly (PyTorch's _get_closed_form_lr). */
  protected closedFormLr(): number[] | null {
    return null;
  }

  /** Advances one epoch, or jumps to `epoch` (using the closed form when there is one). */
  step(epoch?: number): void {
    this.step_count++;
    let values: number[];
    if (epoch === undefined) {
      this.last_epoch++;
      values = this.getLr();
    } else {
      this.last_epoch = epoch;
      values = this.closedFormLr() ?? this.getLr();
    }
    groups(this.optimizer).forEach((g, i) => (g.lr = values[i]!));
    this.last_lr = values;
  }

  get_last_lr(): number[] {
    return [...this.last_lr];
  }

  protected currentLrs(): number[] {
    return groups(this.optimizer).map((g) => g.lr);
  }

  state_dict(): Record<string, unknown> {
    const { optimizer: _o, ...rest } = this as unknown as Record<string, unknown>;
    return JSON.parse(JSON.stringify(rest)) as Record<string, unknown>;
  }

  load_state_dict(state: Record<string, unknown>): void {
    Object.assign(this, state);
  }
}

/** Python's modulo (the result takes the divisor's sign). */
const pymod = (a: number, m: number) => ((a % m) + m) % m;

/** lr × gamma every step_size epochs. */
export class StepLR extends LRScheduler {
  constructor(optimizer: AnyOptimizer, readonly step_size: number, readonly gamma = 0.1, last_epoch = -1) {
    super(optimizer, last_epoch);
    if (!Number.isInteger(step_size) || step_size <= 0) throw new StrideError(`StepLR: step_size must be a positive integer, got ${step_size}`);
    this.initialStep();
  }

  protected getLr(): number[] {
    const lrs = this.currentLrs();
    if (this.last_epoch === 0 || this.last_epoch % this.step_size !== 0) return lrs;
    return lrs.map((lr) => lr * this.gamma);
  }

  protected override closedFormLr(): number[] {
    return this.base_lrs.map((b) => b * this.gamma ** Math.floor(this.last_epoch / this.step_size));
  }
}

/** lr × gamma at each milestone epoch (a milestone listed twice multiplies twice). */
export class MultiStepLR extends LRScheduler {
  readonly milestones: number[];

  constructor(optimizer: AnyOptimizer, milestones: readonly number[], readonly gamma = 0.1, last_epoch = -1) {
    super(optimizer, last_epoch);
    this.milestones = [...milestones].sort((a, b) => a - b);
    this.initialStep();
  }

  protected getLr(): number[] {
    const hits = this.milestones.filter((m) => m === this.last_epoch).length;
    return this.currentLrs().map((lr) => (hits ? lr * this.gamma ** hits : lr));
  }

  protected override closedFormLr(): number[] {
    const passed = this.milestones.filter((m) => m <= this.last_epoch).length;
    return this.base_lrs.map((b) => b * this.gamma ** passed);
  }
}

/** lr × gamma every epoch. */
export class ExponentialLR extends LRScheduler {
  constructor(optimizer: AnyOptimizer, readonly gamma: number, last_epoch = -1) {
    super(optimizer, last_epoch);
    this.initialStep();
  }

  protected getLr(): number[] {
    const lrs = this.currentLrs();
    return this.last_epoch === 0 ? lrs : lrs.map((lr) => lr * this.gamma);
  }

  protected override closedFormLr(): number[] {
    return this.base_lrs.map((b) => b * this.gamma ** this.last_epoch);
  }
}

/** Cosine from the base lr down to eta_min over T_max epochs (SGDR without restarts), PyTorch's recursive form. */
export class CosineAnnealingLR extends LRScheduler {
  constructor(optimizer: AnyOptimizer, readonly T_max: number, readonly eta_min = 0, last_epoch = -1) {
    super(optimizer, last_epoch);
    if (!(T_max > 0)) throw new StrideError(`CosineAnnealingLR: T_max must be positive, got ${T_max}`);
    this.initialStep();
  }

  protected getLr(): number[] {
    const { last_epoch: e, T_max: T, eta_min: min } = this;
    const lrs = this.currentLrs();
    if (e === 0) return lrs;
    if (this.step_count === 1 && e > 0) return this.base_lrs.map((b) => min + ((b - min) * (1 + Math.cos((e * Math.PI) / T))) / 2);
    if (pymod(e - 1 - T, 2 * T) === 0) return lrs.map((lr, i) => lr + ((this.base_lrs[i]! - min) * (1 - Math.cos(Math.PI / T))) / 2);
    return lrs.map((lr) => ((1 + Math.cos((Math.PI * e) / T)) / (1 + Math.cos((Math.PI * (e - 1)) / T))) * (lr - min) + min);
  }

  protected override closedFormLr(): number[] {
    return this.base_lrs.map((b) => this.eta_min + ((b - this.eta_min) * (1 + Math.cos((Math.PI * this.last_epoch) / this.T_max))) / 2);
  }
}

/** Linear change of the lr factor from start_factor to end_factor over total_iters epochs (warm-up). */
export class LinearLR extends LRScheduler {
  constructor(optimizer: AnyOptimizer, readonly start_factor = 1 / 3, readonly end_factor = 1, readonly total_iters = 5, last_epoch = -1) {
    super(optimizer, last_epoch);
    if (!(start_factor > 0 && start_factor <= 1)) throw new StrideError(`LinearLR: start_factor must be in (0, 1], got ${start_factor}`);
    if (!(end_factor >= 0 && end_factor <= 1)) throw new StrideError(`LinearLR: end_factor must be in [0, 1], got ${end_factor}`);
    this.initialStep();
  }

  protected getLr(): number[] {
    const { start_factor: s, end_factor: f, total_iters: n, last_epoch: e } = this;
    const lrs = this.currentLrs();
    if (e === 0) return lrs.map((lr) => lr * s);
    if (e > n) return lrs;
    return lrs.map((lr) => lr * (1 + (f - s) / (n * s + (e - 1) * (f - s))));
  }

  protected override closedFormLr(): number[] {
    const { start_factor: s, end_factor: f, total_iters: n } = this;
    return this.base_lrs.map((b) => b * (s + ((f - s) * Math.min(n, this.last_epoch)) / n));
  }
}

/** Runs one schedule after another, switching at the milestone epochs (PyTorch 1.13's SequentialLR). */
export class SequentialLR {
  last_epoch: number;
  private last_lr: number[];

  constructor(readonly optimizer: AnyOptimizer, readonly schedulers: LRScheduler[], readonly milestones: readonly number[], last_epoch = -1) {
    if (schedulers.length < 1) throw new StrideError('SequentialLR: expects at least one scheduler');
    if (milestones.length !== schedulers.length - 1) {
      throw new StrideError(`SequentialLR: expects ${schedulers.length - 1} milestones for ${schedulers.length} schedulers, got ${milestones.length}`);
    }
    schedulers.forEach((s, i) => {
      if (s.optimizer !== optimizer) throw new StrideError(`SequentialLR: scheduler ${i} belongs to another optimizer`);
    });
    this.last_epoch = last_epoch + 1;
    for (const g of groups(optimizer)) g.lr = g.initial_lr!;
    // Undo the first step every scheduler took in its constructor, then take only the first one's.
    for (const s of schedulers) s.last_epoch -= 1;
    (schedulers[0] as unknown as { initialStep(): void }).initialStep();
    this.last_lr = schedulers[0]!.get_last_lr();
  }

  step(): void {
    this.last_epoch++;
    const idx = this.milestones.filter((m) => m <= this.last_epoch).length;
    const s = this.schedulers[idx]!;
    if (idx > 0 && this.milestones[idx - 1] === this.last_epoch) s.step(0);
    else s.step();
    this.last_lr = s.get_last_lr();
  }

  get_last_lr(): number[] {
    return [...this.last_lr];
  }

  state_dict(): Record<string, unknown> {
    return { last_epoch: this.last_epoch, last_lr: this.last_lr, schedulers: this.schedulers.map((s) => s.state_dict()) };
  }

  load_state_dict(state: Record<string, unknown>): void {
    this.last_epoch = state['last_epoch'] as number;
    this.last_lr = state['last_lr'] as number[];
    (state['schedulers'] as Record<string, unknown>[]).forEach((s, i) => this.schedulers[i]!.load_state_dict(s));
  }
}

export interface OneCycleOptions {
  total_steps?: number;
  epochs?: number;
  steps_per_epoch?: number;
  pct_start?: number;
  anneal_strategy?: 'cos' | 'linear';
  cycle_momentum?: boolean;
  base_momentum?: number;
  max_momentum?: number;
  div_factor?: number;
  final_div_factor?: number;
  three_phase?: boolean;
}

interface Phase {
  end_step: number;
  start_lr: string;
  end_lr: string;
  start_momentum: string;
  end_momentum: string;
}

/**
 * The 1cycle policy (Smith & Topin): lr rises from max_lr/div_factor to max_lr over pct_start of
 * the steps, then anneals to initial_lr/final_div_factor, with momentum moving the other way.
 * Stepped once per batch.
 */
export class OneCycleLR extends LRScheduler {
  readonly total_steps: number;
  private readonly phases: Phase[];
  private readonly anneal: (start: number, end: number, pct: number) => number;
  private readonly cycle_momentum: boolean;
  private readonly use_beta1: boolean;

  constructor(optimizer: AnyOptimizer, max_lr: number | number[], opts: OneCycleOptions = {}, last_epoch = -1) {
    const o = { pct_start: 0.3, anneal_strategy: 'cos', cycle_momentum: true, base_momentum: 0.85, max_momentum: 0.95, div_factor: 25, final_div_factor: 1e4, three_phase: false, ...opts } as Required<OneCycleOptions>;
    let total: number;
    if (opts.total_steps !== undefined) total = opts.total_steps;
    else if (opts.epochs !== undefined && opts.steps_per_epoch !== undefined) total = opts.epochs * opts.steps_per_epoch;
    else throw new StrideError('OneCycleLR: you must define either total_steps or both epochs and steps_per_epoch');
    if (!(Number.isInteger(total) && total > 0)) throw new StrideError(`OneCycleLR: expected a positive integer number of steps, got ${total}`);
    if (!(o.pct_start >= 0 && o.pct_start <= 1)) throw new StrideError(`OneCycleLR: pct_start must be in [0, 1], got ${o.pct_start}`);
    if (o.anneal_strategy !== 'cos' && o.anneal_strategy !== 'linear') {
      throw new StrideError(`OneCycleLR: anneal_strategy must be 'cos' or 'linear', got '${String(o.anneal_strategy)}'`);
    }
    const gs = groups(optimizer);
    const maxLrs = Array.isArray(max_lr) ? max_lr : gs.map(() => max_lr);
    if (maxLrs.length !== gs.length) throw new StrideError(`OneCycleLR: expected ${gs.length} values for max_lr, got ${maxLrs.length}`);
    const useBeta1 = 'betas' in gs[0]!;
    if (o.cycle_momentum && !useBeta1 && !('momentum' in gs[0]!)) {
      throw new StrideError('OneCycleLR: optimizer must support momentum or betas with cycle_momentum enabled');
    }
    if (last_epoch === -1) {
      gs.forEach((g, i) => {
        g.initial_lr = maxLrs[i]! / o.div_factor;
        g['max_lr'] = maxLrs[i]!;
        g['min_lr'] = g.initial_lr / o.final_div_factor;
      });
    }
    if (o.cycle_momentum && last_epoch === -1) {
      for (const g of gs) {
        g['max_momentum'] = o.max_momentum;
        g['base_momentum'] = o.base_momentum;
        if (useBeta1) g['betas'] = [o.max_momentum, (g['betas'] as number[])[1]!];
        else g['momentum'] = o.max_momentum;
      }
    }
    super(optimizer, last_epoch);
    this.total_steps = total;
    this.cycle_momentum = o.cycle_momentum;
    this.use_beta1 = useBeta1;
    this.anneal =
      o.anneal_strategy === 'cos'
        ? (start, end, pct) => end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1)
        : (start, end, pct) => (end - start) * pct + start;
    const p = o.pct_start * total;
    this.phases = o.three_phase
      ? [
          { end_step: p - 1, start_lr: 'initial_lr', end_lr: 'max_lr', start_momentum: 'max_momentum', end_momentum: 'base_momentum' },
          { end_step: 2 * p - 2, start_lr: 'max_lr', end_lr: 'initial_lr', start_momentum: 'base_momentum', end_momentum: 'max_momentum' },
          { end_step: total - 1, start_lr: 'initial_lr', end_lr: 'min_lr', start_momentum: 'max_momentum', end_momentum: 'max_momentum' },
        ]
      : [
          { end_step: p - 1, start_lr: 'initial_lr', end_lr: 'max_lr', start_momentum: 'max_momentum', end_momentum: 'base_momentum' },
          { end_step: total - 1, start_lr: 'max_lr', end_lr: 'min_lr', start_momentum: 'base_momentum', end_momentum: 'max_momentum' },
        ];
    this.initialStep();
  }

  protected getLr(): number[] {
    const step = this.last_epoch;
    if (step > this.total_steps) {
      throw new StrideError(`OneCycleLR: tried to step ${step} times; the specified number of total steps is ${this.total_steps}`);
    }
    return groups(this.optimizer).map((g) => {
      let start = 0;
      for (let i = 0; i < this.phases.length; i++) {
        const ph = this.phases[i]!;
        if (step <= ph.end_step || i === this.phases.length - 1) {
          const pct = (step - start) / (ph.end_step - start);
          const lr = this.anneal(g[ph.start_lr] as number, g[ph.end_lr] as number, pct);
          if (this.cycle_momentum) {
            const m = this.anneal(g[ph.start_momentum] as number, g[ph.end_momentum] as number, pct);
            if (this.use_beta1) g['betas'] = [m, (g['betas'] as number[])[1]!];
            else g['momentum'] = m;
          }
          return lr;
        }
        start = ph.end_step;
      }
      return g.lr;
    });
  }
}

export interface PlateauOptions {
  mode?: 'min' | 'max';
  factor?: number;
  patience?: number;
  threshold?: number;
  threshold_mode?: 'rel' | 'abs';
  cooldown?: number;
  min_lr?: number | number[];
  eps?: number;
}

/** Divides the lr by 1/factor when a metric has stopped improving for `patience` epochs. */
export class ReduceLROnPlateau {
  readonly mode: 'min' | 'max';
  readonly factor: number;
  readonly patience: number;
  readonly threshold: number;
  readonly threshold_mode: 'rel' | 'abs';
  readonly cooldown: number;
  readonly min_lrs: number[];
  readonly eps: number;
  best: number;
  num_bad_epochs = 0;
  cooldown_counter = 0;
  last_epoch = 0;
  private last_lr: number[];

  constructor(readonly optimizer: AnyOptimizer, opts: PlateauOptions = {}) {
    const o = { mode: 'min', factor: 0.1, patience: 10, threshold: 1e-4, threshold_mode: 'rel', cooldown: 0, min_lr: 0, eps: 1e-8, ...opts } as Required<PlateauOptions>;
    if (!(o.factor < 1)) throw new StrideError(`ReduceLROnPlateau: factor should be < 1.0, got ${o.factor}`);
    if (o.mode !== 'min' && o.mode !== 'max') throw new StrideError(`ReduceLROnPlateau: mode '${String(o.mode)}' is unknown; expected 'min' or 'max'`);
    if (o.threshold_mode !== 'rel' && o.threshold_mode !== 'abs') {
      throw new StrideError(`ReduceLROnPlateau: threshold mode '${String(o.threshold_mode)}' is unknown; expected 'rel' or 'abs'`);
    }
    const gs = groups(optimizer);
    this.min_lrs = Array.isArray(o.min_lr) ? [...o.min_lr] : gs.map(() => o.min_lr as number);
    if (this.min_lrs.length !== gs.length) throw new StrideError(`ReduceLROnPlateau: expected ${gs.length} min_lrs, got ${this.min_lrs.length}`);
    this.mode = o.mode;
    this.factor = o.factor;
    this.patience = o.patience;
    this.threshold = o.threshold;
    this.threshold_mode = o.threshold_mode;
    this.cooldown = o.cooldown;
    this.eps = o.eps;
    this.best = o.mode === 'min' ? Infinity : -Infinity;
    this.last_lr = gs.map((g) => g.lr);
  }

  private isBetter(a: number): boolean {
    const { best, threshold: t } = this;
    if (this.mode === 'min') return this.threshold_mode === 'rel' ? a < best * (1 - t) : a < best - t;
    return this.threshold_mode === 'rel' ? a > best * (t + 1) : a > best + t;
  }

  /** Records this epoch's metric (e.g. validation loss) and reduces the lr when it has plateaued. */
  step(metric: number): void {
    this.last_epoch++;
    if (this.isBetter(metric)) {
      this.best = metric;
      this.num_bad_epochs = 0;
    } else this.num_bad_epochs++;
    if (this.cooldown_counter > 0) {
      this.cooldown_counter--;
      this.num_bad_epochs = 0;
    }
    if (this.num_bad_epochs > this.patience) {
      groups(this.optimizer).forEach((g, i) => {
        const next = Math.max(g.lr * this.factor, this.min_lrs[i]!);
        if (g.lr - next > this.eps) g.lr = next;
      });
      this.cooldown_counter = this.cooldown;
      this.num_bad_epochs = 0;
    }
    this.last_lr = groups(this.optimizer).map((g) => g.lr);
  }

  get_last_lr(): number[] {
    return [...this.last_lr];
  }

  state_dict(): Record<string, unknown> {
    return { best: this.best, num_bad_epochs: this.num_bad_epochs, cooldown_counter: this.cooldown_counter, last_epoch: this.last_epoch, last_lr: this.last_lr };
  }

  load_state_dict(state: Record<string, unknown>): void {
    Object.assign(this, state);
  }
}
