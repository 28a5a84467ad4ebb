import { Node } from '../autograd/engine.js';
import { list_backends, getBackend, type Backend, type View } from '../backend/backend.js';
import type { Module, RemovableHandle } from '../nn/module.js';
import { Tensor } from '../tensor/tensor.js';

/**
 * `stride train --profile`: where the time of a training step goes. Without a hook in the op
 * dispatcher it listens at the three places every step passes through:
 * - each backend's primitives (wrapped while profiling): time and calls per primitive, and
 *   GFLOP/s for the conv and matmul primitives from their views' shapes;
 * - Tensor.backward and autograd's Node.apply: the backward pass, and within it each op's
 *   backward by op name (the rest is gradient accumulation into the leaves);
 * - forward hooks on every module and a wrapper on the optimizer's step: the forward time of
 *   each leaf layer, and the optimizer's time.
 * Primitives are attributed to the phase they run in (forward, backward, optimizer).
 */

type Phase = 'forward' | 'backward' | 'optimizer';

interface Stat {
  ms: number;
  calls: number;
  flops: number;
}

/** The primitives a step spends its time in; alloc/read/write are bookkeeping, not compute. */
const PRIMITIVES = [
  'copy', 'fill', 'unary', 'binary', 'where', 'mulAdd', 'sgdStep', 'adamStep', 'reduce', 'argreduce', 'matmul', 'gather', 'scatterAdd',
  'conv2d', 'conv2dInputGrad', 'conv2dWeightGrad', 'maxPool2d', 'maxPool2dGrad', 'avgPool2d', 'avgPool2dGrad', 'batchNormStats', 'batchNormGrad',
] as const satisfies readonly (keyof Backend)[];
// Every primitive of the Backend interface is listed: one added there and not here does not compile.
const listsEvery: Exclude<keyof Backend, (typeof PRIMITIVES)[number] | 'name' | 'externalMemory' | 'alloc' | 'free' | 'read' | 'write'> extends never ? true : never = true;
void listsEvery;

const numel = (v: View) => v.shape.reduce((a, b) => a * b, 1);

/** Floating-point operations of a primitive call, where they are the point (2 per multiply-add). */
function flopsOf(name: string, args: unknown[]): number {
  if (name === 'matmul') {
    const [a, , out] = args as View[];
    return 2 * numel(out!) * a!.shape[2]!;
  }
  if (name === 'conv2d' || name === 'conv2dInputGrad' || name === 'conv2dWeightGrad') {
    // conv2d(x, w, y), conv2dInputGrad(gy, w, gx), conv2dWeightGrad(x, gy, gw): the same MACs as the forward.
    const [a, b, c] = args as View[];
    const w = name === 'conv2dWeightGrad' ? c! : b!;
    const y = name === 'conv2d' ? c! : name === 'conv2dInputGrad' ? a! : b!;
    return 2 * numel(y) * w.shape[1]! * w.shape[2]! * w.shape[3]!;
  }
  return 0;
}

/** True inside Profiler.step: evaluation passes and checkpoints between steps are not counted. */
let recording = false;

function add(map: Map<string, Stat>, key: string, ms: number, flops = 0): void {
  if (!recording) return;
  const s = map.get(key);
  if (s) {
    s.ms += ms;
    s.calls++;
    s.flops += flops;
  } else map.set(key, { ms, calls: 1, flops });
}

export class Profiler {
  private readonly primitives = new Map<string, Stat>();
  private readonly layers = new Map<string, Stat>();
  private readonly backwardOps = new Map<string, Stat>();
  private readonly phases = new Map<string, Stat>();
  private readonly undo: (() => void)[] = [];
  private phase: Phase = 'forward';
  private steps = 0;
  private stepMs = 0;

  /** Starts listening to the model, its optimizer and every registered backend. */
  constructor(model: Module, optimizer: { step(): unknown }) {
    for (const name of list_backends()) this.wrapBackend(getBackend(name));

    const self = this;
    const backward = Tensor.prototype.backward;
    Tensor.prototype.backward = function (this: Tensor, ...args) {
      self.phase = 'backward';
      const t0 = performance.now();
      try {
        backward.apply(this, args);
      } finally {
        add(self.phases, 'backward', performance.now() - t0);
        self.phase = 'forward';
      }
    };
    this.undo.push(() => void (Tensor.prototype.backward = backward));

    const apply = Node.prototype.apply;
    Node.prototype.apply = function (this: Node, gy) {
      const t0 = performance.now();
      try {
        return apply.call(this, gy);
      } finally {
        add(self.backwardOps, this.name, performance.now() - t0);
      }
    };
    this.undo.push(() => void (Node.prototype.apply = apply));

    const step = optimizer.step;
    const own = Object.hasOwn(optimizer, 'step');
    optimizer.step = function (this: unknown, ...args: unknown[]) {
      self.phase = 'optimizer';
      const t0 = performance.now();
      try {
        return (step as (...a: unknown[]) => unknown).apply(this, args);
      } finally {
        add(self.phases, 'optimizer', performance.now() - t0);
        self.phase = 'forward';
      }
    };
    this.undo.push(() => {
      if (own) optimizer.step = step;
      else delete (optimizer as { step?: unknown }).step;
    });

    // Leaf layers only: a container's time is the sum of its children's.
    const starts: number[] = [];
    const handles: RemovableHandle[] = [];
    for (const [name, m] of model.named_modules()) {
      if (m.children().next().done !== true) continue;
      const label = `${name || '(model)'} (${m.constructor.name})`;
      handles.push(m.register_forward_pre_hook(() => void starts.push(performance.now())));
      handles.push(m.register_forward_hook(() => void add(this.layers, label, performance.now() - starts.pop()!)));
    }
    this.undo.push(() => handles.forEach((h) => h.remove()));
  }

  private wrapBackend(backend: Backend): void {
    const b = backend as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const name of PRIMITIVES) {
      const original = b[name]!;
      b[name] = (...args: unknown[]) => {
        const t0 = performance.now();
        try {
          return original.apply(backend, args);
        } finally {
          // unary/binary/reduce name their operation first: time `binary:add` apart from `binary:mul`.
          const key = typeof args[0] === 'string' ? `${name}:${args[0]}` : name;
          add(this.primitives, `${this.phase}\t${backend.name}\t${key}`, performance.now() - t0, flopsOf(name, typeof args[0] === 'string' ? args.slice(1) : args));
        }
      };
      this.undo.push(() => void (b[name] = original));
    }
  }

  /** Runs one training step (forward, backward, optimizer) and counts it; only steps are profiled. */
  step<T>(fn: () => T): T {
    const t0 = performance.now();
    recording = true;
    try {
      return fn();
    } finally {
      recording = false;
      this.stepMs += performance.now() - t0;
      this.steps++;
    }
  }

  /** Removes every wrapper and hook. */
  stop(): void {
    for (const u of this.undo.splice(0).reverse()) u();
  }

  /** The profile as Markdown tables: times are per step, averaged over the profiled steps. */
  report(): string {
    const n = Math.max(1, this.steps);
    const per = (ms: number) => (ms / n).toFixed(3);
    const pct = (ms: number) => `${((100 * ms) / Math.max(this.stepMs, 1e-9)).toFixed(1)}%`;
    const sorted = (m: Map<string, Stat>) => [...m.entries()].sort((a, b) => b[1].ms - a[1].ms);
    const sum = (m: Map<string, Stat>) => [...m.values()].reduce((s, x) => s + x.ms, 0);
    const backward = this.phases.get('backward')?.ms ?? 0;
    const accumulate = backward - sum(this.backwardOps);
    const optimizer = this.phases.get('optimizer')?.ms ?? 0;
    const forward = this.stepMs - backward - optimizer;
    const out: string[] = [
      `Profile of ${this.steps} training steps: ${per(this.stepMs)} ms per step.`,
      '',
      '| phase | ms/step | share |', '|---|---|---|',
      `| forward (with the loss) | ${per(forward)} | ${pct(forward)} |`,
      `| backward | ${per(backward)} | ${pct(backward)} |`,
      `| optimizer step | ${per(optimizer)} | ${pct(optimizer)} |`,
      '',
      '| forward: layer | ms/step | share |', '|---|---|---|',
      ...sorted(this.layers).map(([k, s]) => `| ${k} | ${per(s.ms)} | ${pct(s.ms)} |`),
      '',
      '| backward: op | ms/step | calls/step | share |', '|---|---|---|---|',
      ...sorted(this.backwardOps).map(([k, s]) => `| ${k} | ${per(s.ms)} | ${(s.calls / n).toFixed(1)} | ${pct(s.ms)} |`),
      `| (accumulating into .grad, graph walk) | ${per(accumulate)} | - | ${pct(accumulate)} |`,
      '',
      '| primitive | phase | backend | ms/step | calls/step | GFLOP/s | share |', '|---|---|---|---|---|---|---|',
      ...sorted(this.primitives).map(([k, s]) => {
        const [phase, backend, prim] = k.split('\t');
        const gflops = s.flops ? (s.flops / s.ms / 1e6).toFixed(2) : '-';
        return `| ${prim} | ${phase} | ${backend} | ${per(s.ms)} | ${(s.calls / n).toFixed(1)} | ${gflops} | ${pct(s.ms)} |`;
      }),
    ];
    const inPrimitives = sum(this.primitives);
    out.push('', `Primitives account for ${pct(inPrimitives)} of the step; the rest is op dispatch, autograd bookkeeping, allocation and data handling in JS.`);
    return out.join('\n') + '\n';
  }
}
