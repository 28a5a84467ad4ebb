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

/** How a wrong value is named in an error: its class, or its type and value. */
function describe(v: unknown): string {
  return v instanceof Object ? `a ${v.constructor.name}` : `${typeof v} ${String(v)}`;
}

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
  readonly #buffers = new Set<string>();
  readonly #nonPersistent = new Set<string>();
  /** Own property names in the order first seen (see ownEntries). */
  readonly #order = new Set<string>();
  readonly #preHooks = new Map<number, ForwardPreHook>();
  readonly #hooks = new Map<number, ForwardHook>();

  abstract forward(...inputs: never[]): unknown;

  /** Runs forward-pre hooks, forward and forward hooks (PyTorch's `module(...)`). */
  call(...inputs: Parameters<this['forward']>): ReturnType<this['forward']> {
    let args: unknown[] = inputs;
    // Sizes first: most modules have no hooks, and a Map iterator per call is garbage.
    if (this.#preHooks.size > 0) for (const hook of this.#preHooks.values()) args = hook(this, args) ?? args;
    let out = (this.forward as (...a: unknown[]) => unknown)(...args);
    if (this.#hooks.size > 0) {
      for (const hook of this.#hooks.values()) {
        const replaced = hook(this, args, out);
        if (replaced !== undefined) out = replaced;
      }
    }
    return out as ReturnType<this['forward']>;
  }

  register_forward_pre_hook(hook: ForwardPreHook): RemovableHandle {
    const id = nextHookId++;
    this.#preHooks.set(id, hook);
    return { remove: () => this.#preHooks.delete(id) };
  }

  register_forward_hook(hook: ForwardHook): RemovableHandle {
    const id = nextHookId++;
    this.#hooks.set(id, hook);
    return { remove: () => this.#hooks.delete(id) };
  }

  /** Adds a tensor that is state but not a parameter (BatchNorm's running_mean); persistent ones go into state_dict. */
  register_buffer(name: string, tensor: Tensor | null, persistent = true): void {
    // An existing plain tensor may become a buffer (layers assign first, then register).
    this.register('register_buffer', name, tensor, Tensor, (v) => this.#buffers.has(name) || (v instanceof Tensor && !(v instanceof Parameter)));
    if (tensor) keep(tensor);
    this.#buffers.add(name);
    if (persistent) this.#nonPersistent.delete(name);
    else this.#nonPersistent.add(name);
  }

  register_parameter(name: string, param: Parameter | null): void {
    this.register('register_parameter', name, param, Parameter, (v) => v instanceof Parameter);
  }

  add_module(name: string, module: Module | null): void {
    this.register('add_module', name, module, Module, (v) => v instanceof Module);
  }

  /**
   * Validates a name and value as PyTorch does (no '.', not empty, not taken by another kind of
   * attribute or a method), then assigns it, recording the name's position: JS lists integer-like
   * names ("0", "1") before all others, whatever the order of assignment.
   */
  private register(what: string, name: string, value: unknown, kind: abstract new (...a: never[]) => unknown, sameKind: (existing: unknown) => boolean): void {
    if (typeof name !== 'string' || !name || name.includes('.')) {
      throw new StrideError(`${what}: name must be a non-empty string without '.', got ${JSON.stringify(name)}`);
    }
    const self = this as unknown as Record<string, unknown>;
    if (name in this && self[name] != null && !sameKind(self[name])) {
      throw new StrideError(`${what}: attribute '${name}' already exists on ${this.constructor.name}`);
    }
    if (this.#buffers.has(name) && kind !== Tensor) throw new StrideError(`${what}: '${name}' is already a buffer of ${this.constructor.name}`);
    if (value !== null && !(value instanceof kind)) {
      throw new StrideError(`${what}: cannot assign ${describe(value)} to '${name}' (${kind.name} or null required)`);
    }
    this.ownEntries(); // record the names assigned so far, so that this one comes after them
    this.#order.add(name);
    self[name] = value;
  }

  // ------------------------------------------------------------ traversal

  /** Own properties in assignment order (names registered through add_module & co. where they were registered). */
  private ownEntries(): [string, unknown][] {
    const keys = Object.keys(this);
    for (let i = 0; i < keys.length; i++) this.#order.add(keys[i]!);
    const self = this as unknown as Record<string, unknown>;
    // A loop, not spread, filter and map: a Sequential's forward comes here every call.
    const entries: [string, unknown][] = [];
    for (const k of this.#order) if (Object.hasOwn(this, k)) entries.push([k, self[k]]);
    return entries;
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
    for (const k of this.#buffers) {
      const v = (this as unknown as Record<string, unknown>)[k];
      if (v instanceof Tensor && !(persistentOnly && this.#nonPersistent.has(k))) yield [k, v];
    }
  }

  /** Each tensor that `own` lists for this module or (with recurse) a descendant, once, under its first dotted name. */
  private *namedMembers(own: (m: Module) => Iterable<[string, Tensor]>, prefix: string, recurse: boolean): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    const modules: Iterable<[string, Module]> = recurse ? this.named_modules(prefix) : [[prefix, this]];
    for (const [name, m] of modules) {
      for (const [k, t] of own(m)) {
        if (seen.has(t)) continue;
        seen.add(t);
        yield [name ? `${name}.${k}` : k, t];
      }
    }
  }

  /** Every parameter once (shared ones are listed under their first name), PyTorch's order. */
  named_parameters(prefix = '', recurse = true): Generator<[string, Parameter]> {
    return this.namedMembers((m) => m.ownParameters(), prefix, recurse) as Generator<[string, Parameter]>;
  }

  parameters(recurse = true): Parameter[] {
    return [...this.named_parameters('', recurse)].map(([, p]) => p);
  }

  /** Every buffer once, persistent or not. */
  named_buffers(prefix = '', recurse = true): Generator<[string, Tensor]> {
    return this.namedMembers((m) => m.ownBuffers(), prefix, recurse);
  }

  buffers(recurse = true): Tensor[] {
    return [...this.named_buffers('', recurse)].map(([, b]) => b);
  }

  // ------------------------------------------------------------ modes and grads

  /** Sets training mode here and, through their own train(), in every descendant (dropout and batch norm behave differently). */
  train(mode = true): this {
    this.training = mode;
    for (const c of this.children()) c.train(mode);
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
   * parameters, then its buffers, then its children's; a module held under two names is listed
   * under both, as in PyTorch. Keys start with `prefix` as given (PyTorch's: 'model.' makes
   * 'model.fc.weight'); `out` (PyTorch's destination) receives them. The tensors share storage
   * with the model.
   */
  state_dict(prefix = '', out: StateDict = {}): StateDict {
    for (const [k, v] of this.ownParameters()) out[prefix + k] = v.detach();
    for (const [k, v] of this.ownBuffers(true)) out[prefix + k] = v.detach();
    for (const [k, m] of this.named_children()) m.state_dict(`${prefix}${k}.`, out);
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

  /**
   * Moves parameters (with their gradients) and buffers to a backend. They become new tensors:
   * create optimizers after moving. Tensors shared between modules stay shared.
   */
  to(backend: string): this {
    const moved = new Map<Tensor, Tensor>();
    const move = (t: Tensor): Tensor => {
      let m = moved.get(t);
      if (!m) {
        m = no_grad(() => keep(t.to(backend)));
        if (t instanceof Parameter) {
          const p: Parameter = new Parameter(m, t.requires_grad);
          m.dispose();
          if (t.grad) p.grad = move(t.grad);
          m = p;
        }
        moved.set(t, m);
      }
      return m;
    };
    for (const m of this.modules()) {
      const self = m as unknown as Record<string, unknown>;
      for (const [k, t] of [...m.ownParameters(), ...m.ownBuffers()]) if (t.device !== backend) self[k] = move(t);
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
  /**
   * From an object or from [name, module] pairs. An object literal lists integer-like names
   * ("0", "1") first whatever their place (JS's rule); pairs keep their order, as in PyTorch.
   */
  constructor(modules: Record<string, Module> | Iterable<readonly [string, Module]> = {}) {
    super();
    const entries = Symbol.iterator in modules ? modules : Object.entries(modules);
    for (const [k, m] of entries) this.add_module(k, m);
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
