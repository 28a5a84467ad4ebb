import { no_grad } from '../autograd/grad_mode.js';
import { StrideError } from '../tensor/errors.js';
import { keep, tidy } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';

/** Per-parameter optimizer state: tensors (moment estimates) and numbers (step counts). */
export type ParamState = Record<string, Tensor | number>;

/** A parameter group: its tensors plus the options that apply to them. */
export type ParamGroup<O> = O & { params: Tensor[] };

/** What the constructor accepts: a list of tensors, or groups with per-group options. */
export type ParamsInput<O> = Iterable<Tensor> | (Partial<O> & { params: Iterable<Tensor> })[];

export interface OptimizerStateDict<O> {
  /** State by parameter index (position over all groups, as PyTorch). */
  state: Record<number, Record<string, number | { shape: number[]; data: number[] }>>;
  param_groups: (O & { params: number[] })[];
}

/**
 * Base of the optimizers (torch.optim.Optimizer): parameter groups with per-group options,
 * state per parameter, zero_grad, and state_dict/load_state_dict for resuming.
 */
export abstract class Optimizer<O extends object> {
  readonly param_groups: ParamGroup<O>[] = [];
  readonly state = new Map<Tensor, ParamState>();

  constructor(params: ParamsInput<O>, readonly defaults: O) {
    const list = [...(params as Iterable<unknown>)];
    if (list.length === 0) throw new StrideError(`${this.constructor.name}: got an empty parameter list`);
    type GroupInput = Partial<O> & { params: Iterable<Tensor> };
    const groups = list[0] instanceof Tensor ? [{ params: list as Tensor[] } as unknown as GroupInput] : (list as GroupInput[]);
    for (const g of groups) this.add_param_group(g);
  }

  /** Checks one group's options (learning rate >= 0, betas in [0, 1), ...). */
  protected abstract validate(group: O): void;

  /** Updates one parameter from its gradient; runs under no_grad. */
  protected abstract update(p: Tensor, grad: Tensor, state: ParamState, group: ParamGroup<O>): void;

  add_param_group(group: Partial<O> & { params: Iterable<Tensor> }): void {
    const params = [...group.params];
    const full = { ...this.defaults, ...group, params } as ParamGroup<O>;
    this.validate(full);
    for (const p of params) {
      if (!(p instanceof Tensor)) throw new StrideError(`${this.constructor.name}: parameters must be tensors, got ${typeof p}`);
      if (!p.is_leaf) throw new StrideError(`${this.constructor.name}: can't optimize a non-leaf tensor`);
      if (this.param_groups.some((g) => g.params.includes(p))) {
        throw new StrideError(`${this.constructor.name}: a parameter appears in more than one parameter group`);
      }
    }
    this.param_groups.push(full);
  }

  zero_grad(set_to_none = true): void {
    for (const g of this.param_groups) {
      for (const p of g.params) {
        if (!p.grad) continue;
        if (set_to_none) {
          p.grad.dispose();
          p.grad = null;
        } else no_grad(() => p.grad!.zero_());
      }
    }
  }

  /** One update of every parameter that has a gradient. The closure, if given, recomputes the loss first. */
  step(closure?: () => Tensor): Tensor | undefined {
    const loss = closure?.();
    // The updates' temporaries are freed here; state buffers are kept and parameters change in place.
    tidy(() => no_grad(() => {
      for (const g of this.param_groups) {
        for (const p of g.params) {
          if (!p.grad) continue;
          let s = this.state.get(p);
          if (!s) this.state.set(p, (s = {}));
          this.update(p, p.grad, s, g);
        }
      }
    }));
    return loss;
  }

  /** Creates (once) and returns a zero state tensor shaped like p. */
  protected buffer(state: ParamState, name: string, p: Tensor, init = 0): Tensor {
    let b = state[name];
    if (!(b instanceof Tensor)) state[name] = b = keep(p.detach().mul(0).add(init));
    return b;
  }

  /** Increments and returns the parameter's step count. */
  protected countStep(state: ParamState): number {
    return (state['step'] = ((state['step'] as number | undefined) ?? 0) + 1);
  }

  /** Adam-style moment estimates: m ← β₁m + (1-β₁)g, v ← β₂v + (1-β₂)g², and the step count. */
  protected updateMoments(state: ParamState, p: Tensor, grad: Tensor, [beta1, beta2]: readonly [number, number]): { step: number; m: Tensor; v: Tensor } {
    const step = this.countStep(state);
    const m = this.buffer(state, 'exp_avg', p);
    const v = this.buffer(state, 'exp_avg_sq', p);
    m.mul_(beta1).add_(grad, 1 - beta1);
    v.mul_(beta2).add_(grad.mul(grad), 1 - beta2);
    return { step, m, v };
  }

  /**
   * Frees the state's tensors (momentum buffers, moment estimates) and forgets them, as TF.js's
   * optimizer.dispose(): their memory comes back now, not when a GC finds them. A later step
   * starts from fresh state.
   */
  dispose(): void {
    for (const s of this.state.values()) for (const v of Object.values(s)) if (v instanceof Tensor) v.dispose();
    this.state.clear();
  }

  state_dict(): OptimizerStateDict<O> {
    const index = new Map<Tensor, number>();
    const param_groups = this.param_groups.map((g) => {
      const { params, ...opts } = g;
      return { ...(opts as O), params: params.map((p) => index.set(p, index.size).get(p)!) };
    });
    const state: OptimizerStateDict<O>['state'] = {};
    for (const [p, s] of this.state) {
      state[index.get(p)!] = Object.fromEntries(
        Object.entries(s).map(([k, v]) => [k, v instanceof Tensor ? { shape: [...v.shape], data: Array.from(v.dataSync()) } : v]),
      );
    }
    return { state, param_groups };
  }

  load_state_dict(sd: OptimizerStateDict<O>): void {
    if (sd.param_groups.length !== this.param_groups.length) {
      throw new StrideError(`load_state_dict: the saved state has ${sd.param_groups.length} parameter groups, this optimizer has ${this.param_groups.length}`);
    }
    const params: Tensor[] = [];
    sd.param_groups.forEach((saved, i) => {
      const g = this.param_groups[i]!;
      if (saved.params.length !== g.params.length) {
        throw new StrideError(`load_state_dict: group ${i} has ${saved.params.length} parameters in the saved state, ${g.params.length} here`);
      }
      const { params: _ids, ...opts } = saved;
      Object.assign(g, opts);
      params.push(...g.params);
    });
    this.dispose();
    for (const [i, s] of Object.entries(sd.state)) {
      const p = params[Number(i)];
      if (!p) throw new StrideError(`load_state_dict: state for parameter ${i}, but there are only ${params.length}`);
      const restored: ParamState = {};
      for (const [k, v] of Object.entries(s)) {
        if (typeof v === 'number') restored[k] = v;
        else {
          const t = Tensor.empty(v.shape, p.dtype, p.backend);
          t.backend.write(t.buffer, t.dtype, 0, v.data);
          restored[k] = keep(t);
        }
      }
      this.state.set(p, restored);
    }
  }
}

/** Throws a StrideError naming the optimizer when `ok` is false. */
export function check(ok: boolean, optimizer: string, what: string, value: unknown): void {
  if (!ok) throw new StrideError(`${optimizer}: invalid ${what}: ${String(value)}`);
}
