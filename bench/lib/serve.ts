/**
 * The worker side of the harness protocol (Node workers; bench/py/protocol.py is the Python
 * twin). The orchestrator writes one JSON request per line on stdin; replies are stdout lines
 * starting with MARK, so that whatever a library prints on stdout cannot be mistaken for one.
 */
import { createInterface } from 'node:readline';
import type { WorkloadId, WorkloadParams } from './workloads.js';

export const MARK = '@@bench ';

/** One prepared workload: `step` processes `items` items (images, or GFLOP for SGEMM). */
export interface Runner {
  items: number;
  step(): void | Promise<void>;
  dispose?(): void;
  /** What the system did differently from the others, reported beside its numbers. */
  notes?: string[];
}

export type Unsupported = { unsupported: string };

export interface T1Params {
  target: number;
  batch: number;
  lr: number;
  momentum: number;
  /** StepLR: the learning rate times lr_gamma every lr_step_size epochs. */
  lr_step_size: number;
  lr_gamma: number;
  max_epochs: number;
  seed: number;
  /** Give up after this much training time. */
  max_seconds: number;
}

export interface T1Epoch {
  epoch: number;
  /** Training time so far (test evaluations excluded). */
  seconds: number;
  test_accuracy: number;
}

export interface WorkerImpl {
  /** Library versions, threads in use and anything else worth recording once. */
  info(): Record<string, unknown>;
  prepare(id: WorkloadId, p: WorkloadParams): Promise<Runner | Unsupported>;
  t1?(p: T1Params, progress: (e: T1Epoch) => void): Promise<T1Epoch[]>;
}

type Request =
  | { op: 'prepare'; id: WorkloadId; params: WorkloadParams }
  | { op: 'warmup'; id: WorkloadId; seconds: number }
  | { op: 'measure'; id: WorkloadId; seconds: number }
  | { op: 'release'; id: WorkloadId }
  | { op: 't1'; params: T1Params };

function reply(msg: Record<string, unknown>): void {
  process.stdout.write(MARK + JSON.stringify(msg) + '\n');
}

/** Runs steps until `seconds` have passed (at least one step); returns steps and elapsed seconds. */
async function runFor(r: Runner, seconds: number): Promise<{ iters: number; seconds: number; last_s: number }> {
  const t0 = performance.now();
  let iters = 0;
  let last = t0;
  let lastS = 0;
  do {
    await r.step();
    iters++;
    const now = performance.now();
    lastS = (now - last) / 1000;
    last = now;
  } while ((last - t0) / 1000 < seconds);
  return { iters, seconds: (last - t0) / 1000, last_s: lastS };
}

export async function serve(impl: WorkerImpl): Promise<void> {
  reply({ ready: true, info: impl.info() });
  const runners = new Map<string, Runner>();
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const req = JSON.parse(line) as Request;
    try {
      if (req.op === 'prepare') {
        const r = await impl.prepare(req.id, req.params);
        if ('unsupported' in r) {
          reply({ unsupported: r.unsupported });
          continue;
        }
        runners.set(req.id, r);
        reply({ ok: true, notes: r.notes ?? [] });
      } else if (req.op === 'warmup') {
        const w = await runFor(runners.get(req.id)!, req.seconds);
        reply({ ok: true, iter_s: w.last_s });
      } else if (req.op === 'measure') {
        const r = runners.get(req.id)!;
        const m = await runFor(r, req.seconds);
        reply({ ok: true, items: m.iters * r.items, seconds: m.seconds, iters: m.iters });
      } else if (req.op === 'release') {
        runners.get(req.id)?.dispose?.();
        runners.delete(req.id);
        (globalThis as { gc?: () => void }).gc?.();
        reply({ ok: true });
      } else {
        if (!impl.t1) {
          reply({ unsupported: 'this worker does not run T1' });
          continue;
        }
        const epochs = await impl.t1(req.params, (e) => reply({ progress: e }));
        reply({ ok: true, epochs });
      }
    } catch (e) {
      reply({ error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
    }
  }
}
