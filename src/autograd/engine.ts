import { AutogradError, ShapeError } from '../tensor/errors.js';
import { inCurrentScope, keep, tidy } from '../tensor/memory.js';
import { formatShape, sameShape } from '../tensor/shape.js';
import { Tensor, type GradFn } from '../tensor/tensor.js';
import { enable_grad, no_grad } from './grad_mode.js';

/**
 * A tensor an op kept for its backward: holds a reference to the data and notes its version.
 * If the caller disposed the handle (e.g. a tidy scope around the forward pass), backward gets a
 * new handle on the retained data, linked to the same grad_fn.
 */
class SavedTensor {
  private readonly version: number;
  private revived: Tensor | null = null;

  constructor(readonly tensor: Tensor, private readonly op: string) {
    tensor.storage.retain();
    this.version = tensor.storage.version;
  }

  unpack(): Tensor {
    const t = this.tensor;
    if (t.storage.version !== this.version) {
      throw new AutogradError(
        `${this.op}: a tensor of shape ${formatShape(t.shape)} needed for its gradient was modified by an in-place operation after it was used (version ${this.version} then ${t.storage.version}); clone it before modifying`,
      );
    }
    if (!t.disposed) return t;
    if (!this.revived) {
      t.storage.retain();
      this.revived = keep(new Tensor(t.storage, t.shape, t.strides, t.offset));
      if (t.grad_fn) this.revived.setGradFn(t.grad_fn);
    }
    return this.revived;
  }

  release(): void {
    this.revived?.dispose();
    this.tensor.storage.release();
  }
}

export type BackwardFn = (gy: Tensor, saved: readonly Tensor[]) => readonly (Tensor | null)[];

/**
 * One recorded op application. `edges[i]` is where the gradient of input i goes: the node that
 * produced it, the leaf tensor to accumulate into, or null when input i needs no gradient.
 */
export class Node implements GradFn {
  private saved: SavedTensor[];
  private released = false;
  /** Set by retain_grad() on the node's output. */
  retained: Tensor | null = null;

  constructor(
    readonly name: string,
    readonly edges: readonly (Node | Tensor | null)[],
    private readonly inputShapes: readonly (readonly number[])[],
    saved: readonly Tensor[],
    private readonly backwardFn: BackwardFn,
  ) {
    this.saved = saved.map((t) => new SavedTensor(t, name));
  }

  retainGrad(t: Tensor): void {
    this.retained = t;
  }

  apply(gy: Tensor): readonly (Tensor | null)[] {
    if (this.released) {
      throw new AutogradError(
        `${this.name}: trying to backward through the graph a second time (its saved tensors were freed); pass retain_graph: true to the first backward`,
      );
    }
    const grads = this.backwardFn(gy, this.saved.map((s) => s.unpack()));
    grads.forEach((g, i) => {
      if (g && !sameShape(g.shape, this.inputShapes[i]!)) {
        throw new ShapeError(`${this.name} backward: gradient ${i} has shape ${formatShape(g.shape)}, expected ${formatShape(this.inputShapes[i]!)}`);
      }
    });
    return grads;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    for (const s of this.saved) s.release();
    this.saved = [];
  }
}

/** Addition of gradients; installed by ops/ (which depends on this module, not the reverse). */
let addGrads: ((a: Tensor, b: Tensor) => Tensor) | null = null;
let onesLike: ((t: Tensor) => Tensor) | null = null;

export function installEngineOps(ops: { add: (a: Tensor, b: Tensor) => Tensor; ones_like: (t: Tensor) => Tensor }): void {
  addGrads = ops.add;
  onesLike = ops.ones_like;
}

function accumulate(existing: Tensor | undefined | null, g: Tensor): Tensor {
  return existing ? addGrads!(existing, g) : g;
}

export interface BackwardOptions {
  /** Keep saved tensors so that backward can run through the graph again. */
  retain_graph?: boolean;
  /** Record the backward pass itself, for higher-order gradients. */
  create_graph?: boolean;
}

interface RunOptions extends BackwardOptions {
  /** Capture mode (autograd.grad): gradients of these tensors are returned and no .grad is touched. */
  capture?: readonly Tensor[];
}

/** Nodes reachable from `roots`, with how many reachable nodes feed a gradient into each. */
function collect(roots: readonly Node[]): Map<Node, number> {
  const deps = new Map<Node, number>();
  const stack = [...roots];
  for (const r of roots) deps.set(r, 0);
  while (stack.length > 0) {
    const node = stack.pop()!;
    for (const e of node.edges) {
      if (!(e instanceof Node)) continue;
      if (!deps.has(e)) {
        deps.set(e, 0);
        stack.push(e);
      }
      deps.set(e, deps.get(e)! + 1);
    }
  }
  return deps;
}

/**
 * Nodes from which some captured tensor can be reached (only these need to run in capture mode).
 * Found by walking from the targets back up to the nodes that consume them, with an explicit
 * stack: a recursive walk overflows the call stack on graphs tens of thousands of ops deep.
 */
function nodesLeadingTo(deps: Map<Node, number>, capture: readonly Tensor[]): Set<Node> {
  const targets = new Set<Node | Tensor>(capture.map((t) => (t.grad_fn as Node | null) ?? t));
  const consumers = new Map<Node, Node[]>();
  const out = new Set<Node>();
  const stack: Node[] = [];
  const mark = (n: Node): void => {
    if (out.has(n)) return;
    out.add(n);
    stack.push(n);
  };
  for (const n of deps.keys()) {
    if (targets.has(n)) mark(n);
    for (const e of n.edges) {
      if (e instanceof Node) {
        const list = consumers.get(e);
        if (list) list.push(n);
        else consumers.set(e, [n]);
      } else if (e !== null && targets.has(e)) mark(n);
    }
  }
  while (stack.length > 0) for (const c of consumers.get(stack.pop()!) ?? []) mark(c);
  return out;
}

/**
 * Reverse-mode sweep: each node runs once, after every node that feeds it has run, so a value
 * used twice receives the sum of both contributions before its own backward runs.
 */
function run(roots: readonly Tensor[], gradOutputs: readonly Tensor[], opts: RunOptions): Map<Tensor, Tensor> {
  const captured = new Map<Tensor, Tensor>();
  const captureSet = opts.capture ? new Set(opts.capture) : null;
  const captureNodes = new Map<Node, Tensor>();
  for (const t of opts.capture ?? []) if (t.grad_fn) captureNodes.set(t.grad_fn as Node, t);

  const toLeaf = (leaf: Tensor, g: Tensor, unshared = false): void => {
    if (captureSet) {
      if (captureSet.has(leaf)) captured.set(leaf, accumulate(captured.get(leaf), g));
      return;
    }
    accumulateInto(leaf, g, opts.create_graph ?? false, unshared);
  };

  const pending = new Map<Node, Tensor>();
  const rootNodes: Node[] = [];
  roots.forEach((r, i) => {
    const g = gradOutputs[i]!;
    if (r.grad_fn) {
      const n = r.grad_fn as Node;
      pending.set(n, accumulate(pending.get(n), g));
      rootNodes.push(n);
    } else if (r.requires_grad) toLeaf(r, g);
  });

  const deps = collect(rootNodes);
  const useful = opts.capture ? nodesLeadingTo(deps, opts.capture) : null;
  const ready = [...new Set(rootNodes)].filter((n) => deps.get(n) === 0);
  while (ready.length > 0) {
    const node = ready.pop()!;
    const gy = pending.get(node);
    pending.delete(node);
    if (gy && (!useful || useful.has(node))) {
      const target = captureNodes.get(node);
      if (target) captured.set(target, gy);
      if (!captureSet && node.retained) accumulateInto(node.retained, gy, opts.create_graph ?? false);
      // Temporaries of the backward formula are freed as soon as it returns.
      const grads = tidy(() => node.apply(gy));
      node.edges.forEach((e, i) => {
        const g = grads[i];
        if (!e || !g) return;
        if (e instanceof Node) pending.set(e, accumulate(pending.get(e), g));
        // A gradient the formula made for this input alone may become the leaf's .grad as it is.
        else toLeaf(e, g, g !== gy && grads.indexOf(g) === i && grads.lastIndexOf(g) === i);
      });
    }
    if (!opts.retain_graph) node.release();
    for (const e of node.edges) {
      if (!(e instanceof Node)) continue;
      const left = deps.get(e)! - 1;
      deps.set(e, left);
      if (left === 0) ready.push(e);
    }
  }
  return captured;
}

/**
 * Whether g can become a .grad without a copy, as PyTorch's AccumulateGrad steals a gradient
 * nothing else references: made during this backward (so no caller holds it), its buffer held by
 * this one handle and laid out as a fresh contiguous tensor of t's kind, and `unshared` (the engine
 * passes it nowhere else).
 */
function stealable(t: Tensor, g: Tensor, unshared: boolean): boolean {
  return unshared && !g.requires_grad && g.storage.refs === 1 && g.offset === 0 && g.numel() === g.storage.size &&
    g.is_contiguous() && g.dtype === t.dtype && g.backend === t.backend && inCurrentScope(g);
}

/**
 * Adds g into t.grad. Without create_graph the sum is written in place into a private contiguous
 * buffer (as PyTorch's AccumulateGrad), so a reference to .grad sees later accumulation and g
 * itself is never aliased (a first gradient only the engine holds is taken over instead of
 * copied); with create_graph it is a recorded add, so the gradient is differentiable.
 */
function accumulateInto(t: Tensor, g: Tensor, createGraph: boolean, unshared = false): void {
  const old = t.grad;
  if (old && !sameShape(old.shape, t.shape)) {
    throw new ShapeError(`backward: .grad has shape ${formatShape(old.shape)} but the tensor has shape ${formatShape(t.shape)}`);
  }
  if (createGraph) {
    t.grad = keep(accumulate(old, g));
  } else if (old && !old.requires_grad) {
    old.backend.binary('add', old, g, old);
    old.storage.version++;
  } else if (!old && stealable(t, g, unshared)) {
    t.grad = keep(g);
  } else {
    const copy = Tensor.empty(t.shape, t.dtype, t.backend);
    copy.backend.copy(old ? addGrads!(old, g) : g, copy);
    t.grad = keep(copy);
  }
}

function rootGradient(root: Tensor, gradient: Tensor | undefined, where: string): Tensor {
  if (gradient) {
    if (!sameShape(gradient.shape, root.shape)) {
      throw new ShapeError(`${where}: gradient has shape ${formatShape(gradient.shape)} but the output has shape ${formatShape(root.shape)}`);
    }
    return gradient;
  }
  if (root.numel() !== 1) {
    throw new AutogradError(`${where}: grad can be implicitly created only for scalar outputs; the output has shape ${formatShape(root.shape)}, pass a gradient of that shape`);
  }
  return onesLike!(root);
}

/** tensor.backward(gradient?, options): accumulates d(tensor)/d(leaf) into every leaf's .grad. */
export function backward(root: Tensor, gradient?: Tensor, opts: BackwardOptions = {}): void {
  if (!root.requires_grad) {
    throw new AutogradError('backward: the tensor does not require grad and has no grad_fn (was it computed under no_grad, or from inputs without requires_grad?)');
  }
  const go = () =>
    tidy(() => void run([root], [rootGradient(root, gradient, 'backward')], { ...opts, retain_graph: opts.retain_graph ?? opts.create_graph ?? false }));
  if (opts.create_graph) enable_grad(go);
  else no_grad(go);
}

export interface GradOptions extends BackwardOptions {
  /** Gradients of the outputs (default ones, for scalar outputs). */
  grad_outputs?: readonly (Tensor | undefined)[];
  /** Return null for inputs the outputs do not depend on instead of throwing. */
  allow_unused?: boolean;
}

/** torch.autograd.grad: the gradients of `outputs` w.r.t. `inputs`, leaving every .grad untouched. */
export function grad(outputs: Tensor | readonly Tensor[], inputs: Tensor | readonly Tensor[], opts: GradOptions = {}): (Tensor | null)[] {
  const outs = outputs instanceof Tensor ? [outputs] : outputs;
  const ins = inputs instanceof Tensor ? [inputs] : inputs;
  outs.forEach((o, i) => {
    if (!o.requires_grad) throw new AutogradError(`grad: output ${i} does not require grad`);
  });
  ins.forEach((t, i) => {
    if (!t.requires_grad) throw new AutogradError(`grad: input ${i} does not require grad`);
  });
  // The gradients are returned from this tidy rather than kept: they leave it for the caller's
  // scope, like any op's result, so a tidy around grad() frees them too.
  const go = () =>
    tidy(() => {
      const captured = run(outs, outs.map((o, i) => rootGradient(o, opts.grad_outputs?.[i], 'grad')), { capture: ins, create_graph: opts.create_graph ?? false, retain_graph: opts.retain_graph ?? opts.create_graph ?? false });
      return ins.map((t, i) => {
        const g = captured.get(t);
        if (g) return g;
        if (!opts.allow_unused) {
          throw new AutogradError(`grad: input ${i} (shape ${formatShape(t.shape)}) was not used to compute the outputs; pass allow_unused: true to get null`);
        }
        return null;
      });
    });
  return opts.create_graph ? enable_grad(go) : no_grad(go);
}

declare module '../tensor/tensor.js' {
  interface Tensor {
    /** Accumulates the gradient of this tensor into every leaf's .grad (scalar, or pass gradient). */
    backward(gradient?: Tensor, opts?: BackwardOptions): void;
  }
}

Object.defineProperty(Tensor.prototype, 'backward', {
  value(this: Tensor, gradient?: Tensor, opts?: BackwardOptions) {
    backward(this, gradient, opts);
  },
  writable: true,
  configurable: true,
});
