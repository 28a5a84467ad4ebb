import { no_grad } from '../autograd/grad_mode.js';
import { copy_ } from '../ops/elementwise.js';
import { StrideError, ShapeError } from '../tensor/errors.js';
import { keep } from '../tensor/memory.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

/** A tensor that is a module's learnable weight (torch.nn.Parameter): requires grad by default. */
export class Parameter extends Tensor {
  constructor(data: Tensor, requires_grad = true) {
    data.assertAlive();
    data.storage.retain();
    super(data.storage, data.shape, data.strides, data.offset);
    // Parameters live as long as their module, not as long as the tidy scope that made them.
    keep(this);
    this.requires_grad = requires_grad;
  }
}

export type ForwardPreHook = (module: Module, inputs: unknown[]) => unknown[] | void;
export type ForwardHook = (module: Module, inputs: unknown[], output: unknown) => unknown;

export interface RemovableHandle {
  remove(): void;
}

export type StateDict = Record<string, Tensor>;

export interface LoadResult {
  missing_keys: string[];
  unexpected_keys: string[];
}

let nextHookId = 0;

/**
 * Base class of layers and models, with torch.nn.Module's semantics. Parameters (Parameter
 * properties), child modules (Module properties) and buffers (registered with register_buffer)
 * are found from the object's own properties in the order they were assigned, so
 * `this.conv1 = new Conv2d(...)` names the child `conv1` and its weight `conv1.weight`, as in
 * PyTorch. Run a module with `call(...)` (PyTorch's `module(x)`): it runs the hooks around
 * `forward`.
 */
export abstract class Module {
  training = true;
  private readonly _buffers = new Set<string>();
  private readonly _nonPersistent = new Set<string>();
  private readonly _preHooks = new Map<number, ForwardPreHook>();
  private readonly _hooks = new Map<number, ForwardHook>();

  abstract forward(...inputs: never[]): unknown;

  /** Runs forward-pre hooks, forward and forward hooks (PyTorch's `module(...)`). */
  call(...inputs: Parameters<this['forward']>): ReturnType<this['forward']> {
    let args: unknown[] = inputs;
    for (const hook of this._preHooks.values()) args = hook(this, args) ?? args;
    let out = (this.forward as (...a: unknown[]) => unknown)(...args);
    for (const hook of this._hooks.values()) {
      const replaced = hook(this, args, out);
      if (replaced !== undefined) out = replaced;
    }
    return out as ReturnType<this['forward']>;
  }

  register_forward_pre_hook(hook: ForwardPreHook): RemovableHandle {
    const id = nextHookId++;
    this._preHooks.set(id, hook);
    return { remove: () => this._preHooks.delete(id) };
  }

  register_forward_hook(hook: ForwardHook): RemovableHandle {
    const id = nextHookId++;
    this._hooks.set(id, hook);
    return { remove: () => this._hooks.delete(id) };
  }

  /** Adds a tensor that is state but not a parameter (BatchNorm's running_mean); persistent ones go into state_dict. */
  register_buffer(name: string, tensor: Tensor | null, persistent = true): void {
    this.checkName(name, 'register_buffer');
    if (tensor) keep(tensor);
    (this as unknown as Record<string, unknown>)[name] = tensor;
    this._buffers.add(name);
    if (!persistent) this._nonPersistent.add(name);
  }

  register_parameter(name: string, param: Parameter | null): void {
    this.checkName(name, 'register_parameter');
    (this as unknown as Record<string, unknown>)[name] = param;
  }

  add_module(name: string, module: Module | null): void {
    this.checkName(name, 'add_module');
    (this as unknown as Record<string, unknown>)[name] = module;
  }

  private checkName(name: string, what: string): void {
    if (!name || name.includes('.')) throw new StrideError(`${what}: name must be non-empty and contain no '.', got '${name}'`);
  }

  // ------------------------------------------------------------ traversal

  private ownEntries(): [string, unknown][] {
    return Object.entries(this).filter(([k]) => !k.startsWith('_') && k !== 'training');
  }

  *named_children(): Generator<[string, Module]> {
    for (const [k, v] of this.ownEntries()) if (v instanceof Module) yield [k, v];
  }

  *children(): Generator<Module> {
    for (const [, m] of this.named_children()) yield m;
  }

  /** This module and every descendant once, with dotted names ('' for this one). */
  *named_modules(prefix = '', memo = new Set<Module>()): Generator<[string, Module]> {
    if (memo.has(this)) return;
    memo.add(this);
    yield [prefix, this];
    for (const [k, m] of this.named_children()) yield* m.named_modules(prefix ? `${prefix}.${k}` : k, memo);
  }

  *modules(): Generator<Module> {
    for (const [, m] of this.named_modules()) yield m;
  }

  /** This module's own parameters (not its children's), in assignment order. */
  private *ownParameters(): Generator<[string, Parameter]> {
    for (const [k, v] of this.ownEntries()) if (v instanceof Parameter) yield [k, v];
  }

  private *ownBuffers(persistentOnly = false): Generator<[string, Tensor]> {
    for (const k of this._buffers) {
      const v = (this as unknown as Record<string, unknown>)[k];
      if (v instanceof Tensor && !(persistentOnly && this._nonPersistent.has(k))) yield [k, v];
    }
  }

  /** Every parameter once (shared ones are listed under their first name), PyTorch's order. */
  *named_parameters(prefix = '', recurse = true): Generator<[string, Parameter]> {
    const seen = new Set<Parameter>();
    const modules: Iterable<[string, Module]> = recurse ? this.named_modules(prefix) : [[prefix, this]];
    for (const [name, m] of modules) {
      for (const [k, p] of m.ownParameters()) {
        if (seen.has(p)) continue;
        seen.add(p);
        yield [name ? `${name}.${k}` : k, p];
      }
    }
  }

  parameters(recurse = true): Parameter[] {
    return [...this.named_parameters('', recurse)].map(([, p]) => p);
  }

  *named_buffers(prefix = '', recurse = true): Generator<[string, Tensor]> {
    const modules: Iterable<[string, Module]> = recurse ? this.named_modules(prefix) : [[prefix, this]];
    for (const [name, m] of modules) for (const [k, b] of m.ownBuffers()) yield [name ? `${name}.${k}` : k, b];
  }

  buffers(recurse = true): Tensor[] {
    return [...this.named_buffers('', recurse)].map(([, b]) => b);
  }

  // ------------------------------------------------------------ modes and grads

  /** Sets training mode here and in every descendant (dropout and batch norm behave differently). */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Clears the gradients (to null, as PyTorch 2's default; set_to_none false zeroes them). */
  zero_grad(set_to_none = true): void {
    for (const p of this.parameters()) {
      if (!p.grad) continue;
      if (set_to_none) {
        p.grad.dispose();
        p.grad = null;
      } else no_grad(() => p.grad!.zero_());
    }
  }

  requires_grad_(requires_grad = true): this {
    for (const p of this.parameters()) p.requires_grad = requires_grad;
    return this;
  }

  /** Calls fn on every descendant and then this module (children first, as PyTorch). */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  // ------------------------------------------------------------ state

  /**
   * Parameters and persistent buffers by their dotted PyTorch names: each module's own
   * parameters, then its buffers, then its children's. The tensors share storage with the model.
   */
  state_dict(prefix = ''): StateDict {
    const out: StateDict = {};
    for (const [name, m] of this.named_modules(prefix)) {
      const p = name ? `${name}.` : '';
      for (const [k, v] of m.ownParameters()) out[p + k] = v.detach();
      for (const [k, v] of m.ownBuffers(true)) out[p + k] = v.detach();
    }
    return out;
  }

  /**
   * Copies values from `state` into the parameters and buffers (converting dtype). With strict,
   * any missing or unexpected key is an error; a shape mismatch always is. Every offending key is
   * listed, with expected and actual shapes.
   */
  load_state_dict(state: StateDict, strict = true): LoadResult {
    const own = this.state_dict();
    const missing = Object.keys(own).filter((k) => !(k in state));
    const unexpected = Object.keys(state).filter((k) => !(k in own));
    const misShaped = Object.keys(own)
      .filter((k) => k in state && !sameShape(own[k]!.shape, state[k]!.shape))
      .map((k) => `${k}: expected ${formatShape(own[k]!.shape)}, got ${formatShape(state[k]!.shape)}`);
    const problems: string[] = [];
    if (misShaped.length) problems.push(`size mismatch for ${misShaped.join('; ')}`);
    if (strict && missing.length) problems.push(`missing keys: ${missing.join(', ')}`);
    if (strict && unexpected.length) problems.push(`unexpected keys: ${unexpected.join(', ')}`);
    if (problems.length) throw new ShapeError(`load_state_dict for ${this.constructor.name}: ${problems.join('. ')}`);
    no_grad(() => {
      for (const [k, t] of Object.entries(own)) if (k in state) copy_(t, state[k]!);
    });
    for (const t of Object.values(own)) t.dispose();
    return { missing_keys: missing, unexpected_keys: unexpected };
  }

  /** Moves parameters and buffers to a backend (new tensors: create optimizers after moving). */
  to(backend: string): this {
    for (const m of this.modules()) {
      const self = m as unknown as Record<string, unknown>;
      for (const [k, p] of [...m.ownParameters()]) {
        if (p.device !== backend) self[k] = new Parameter(no_grad(() => p.to(backend)), p.requires_grad);
      }
      for (const [k, b] of [...m.ownBuffers()]) if (b.device !== backend) self[k] = keep(b.to(backend));
    }
    return this;
  }

  /** One line of constructor arguments for the printed form (override in layers). */
  extra_repr(): string {
    return '';
  }

  toString(): string {
    const kids = [...this.named_children()];
    const head = `${this.constructor.name}(${this.extra_repr()}`;
    if (kids.length === 0) return head + ')';
    const lines = kids.map(([k, m]) => `  (${k}): ${m.toString().replace(/\n/g, '\n  ')}`);
    return `${head}\n${lines.join('\n')}\n)`;
  }
}

/** Modules held under the names "0", "1", ... (the base of Sequential and ModuleList). */
abstract class IndexedModules extends Module {
  [index: number]: Module;

  constructor(modules: readonly Module[]) {
    super();
    modules.forEach((m, i) => this.add_module(String(i), m));
  }

  get length(): number {
    return [...this.named_children()].length;
  }

  *[Symbol.iterator](): Iterator<Module> {
    yield* this.children();
  }

  append(module: Module): this {
    this.add_module(String(this.length), module);
    return this;
  }
}

/** Runs its children in order, each on the previous one's output. */
export class Sequential extends IndexedModules {
  constructor(...modules: Module[]) {
    super(modules);
  }

  forward(x: unknown): unknown {
    for (const m of this.children()) x = (m.call as (...a: unknown[]) => unknown)(x);
    return x;
  }
}

/** A list of modules, registered so their parameters are found (torch.nn.ModuleList). */
export class ModuleList extends IndexedModules {
  constructor(modules: readonly Module[] = []) {
    super(modules);
  }

  forward(): never {
    throw new StrideError('ModuleList has no forward: call its modules');
  }
}

/** Modules by name (torch.nn.ModuleDict). */
export class ModuleDict extends Module {
  constructor(modules: Record<string, Module> = {}) {
    super();
    for (const [k, m] of Object.entries(modules)) this.add_module(k, m);
  }

  get(key: string): Module | undefined {
    return Object.fromEntries(this.named_children())[key];
  }

  keys(): string[] {
    return [...this.named_children()].map(([k]) => k);
  }

  forward(): never {
    throw new StrideError('ModuleDict has no forward: call its modules');
  }
}
