import type { WasmMemory, WasmModule } from './api.js';
import { CONTROL, CONTROL_INTS } from './layout.js';
import type { Platform, WorkerHandle } from './platform.js';

/**
 * The worker pool: one instance of the kernels per worker over the one shared memory. A task is
 * a kernel name, the address of its arguments and a count of work items, cut into one share per
 * thread. Every thread, the caller included, claims shares until none is left, so a worker that
 * wakes late (a sleeping thread can take a millisecond to run again on a shared machine) finds the
 * work done instead of holding the caller up. Workers spin for about a millisecond before
 * sleeping in Atomics.wait, since waking a sleeping thread costs more than a small op.
 *
 * Control block (Int32 slots at CONTROL): the task's generation (bumped to start it), the kernel,
 * shares finished, an error flag, the argument address, the share count, the claim counter (the
 * generation's low bits above the next share's number, so a claim for a finished task fails),
 * then each share's [begin, end) and scratch address.
 */
const GEN = 0;
const KERNEL = 1;
const DONE = 2;
const ERROR = 3;
const ARGS_PTR = 4;
const SHARES = 5;
const NEXT = 6;
const RANGES = 16;
const MAX_THREADS = 64;
const SCRATCH = RANGES + 2 * MAX_THREADS;
/** NEXT holds (generation mod 2^23) << 8 | next share: shares number at most MAX_THREADS < 256. */
const SHARE_BITS = 8;
const tagOf = (generation: number) => (generation & 0x7fffff) << SHARE_BITS;

export type Kernel = (args: number, scratch: number, begin: number, end: number) => void;

/** The worker's code: plain JavaScript, run from a string (eval in Node, a Blob URL in browsers). */
const WORKER_SOURCE = `
const inNode = typeof self === 'undefined';
const port = inNode ? require('node:worker_threads').parentPort : self;
const listen = (f) => (inNode ? port.on('message', f) : (self.onmessage = (e) => f(e.data)));
listen(async ({ module, memory, id, names }) => {
  const { exports } = await WebAssembly.instantiate(module, { env: { memory } });
  const kernels = names.map((n) => exports[n]);
  const c = new Int32Array(memory.buffer, ${CONTROL}, ${CONTROL_INTS});
  port.postMessage('ready');
  let seen = Atomics.load(c, ${GEN});
  for (;;) {
    const t0 = performance.now();
    while (Atomics.load(c, ${GEN}) === seen) {
      if (performance.now() - t0 > 1) Atomics.wait(c, ${GEN}, seen);
    }
    seen = Atomics.load(c, ${GEN});
    const k = c[${KERNEL}];
    const args = c[${ARGS_PTR}] >>> 0, shares = c[${SHARES}], tag = (seen & 0x7fffff) << ${SHARE_BITS};
    for (;;) {
      const v = Atomics.load(c, ${NEXT});
      if ((v & ~${(1 << SHARE_BITS) - 1}) !== tag || (v & ${(1 << SHARE_BITS) - 1}) >= shares) break;
      if (Atomics.compareExchange(c, ${NEXT}, v, v + 1) !== v) continue;
      const i = v & ${(1 << SHARE_BITS) - 1};
      try {
        kernels[k](args, c[${SCRATCH} + i] >>> 0, c[${RANGES} + 2 * i], c[${RANGES} + 2 * i + 1]);
      } catch (e) {
        Atomics.store(c, ${ERROR}, 1);
      }
      if (Atomics.add(c, ${DONE}, 1) === shares - 1) Atomics.notify(c, ${DONE});
    }
  }
});
`;

export class ThreadPool {
  private readonly control: Int32Array;
  private readonly kernelIds = new Map<string, number>();
  private readonly scratch: number[] = [];
  private scratchBytes = 0;
  /** Threads tasks are split over (setThreads): at most the started workers + 1. */
  private active: number;

  private constructor(
    memory: WasmMemory,
    private readonly exports: Record<string, Kernel>,
    readonly names: readonly string[],
    private readonly workers: WorkerHandle[],
    private readonly canBlock: boolean,
    private readonly allocScratch: (bytes: number) => number,
    private readonly freeScratch: (ptr: number) => void,
  ) {
    this.control = new Int32Array(memory.buffer, CONTROL, CONTROL_INTS);
    names.forEach((n, i) => this.kernelIds.set(n, i));
    this.active = workers.length + 1;
  }

  /**
   * A pool of `threads` threads counting the caller (workers are started only with a shared
   * memory); falls back to fewer when workers fail to start.
   */
  static async create(opts: {
    memory: WasmMemory; module: WasmModule; exports: Record<string, Kernel>; names: readonly string[];
    threads: number; platform: Platform; allocScratch: (bytes: number) => number; freeScratch: (ptr: number) => void;
  }): Promise<ThreadPool> {
    const workers: WorkerHandle[] = [];
    const count = Math.min(opts.threads, MAX_THREADS);
    for (let id = 1; id < count; id++) {
      try {
        const w = await opts.platform.startWorker(WORKER_SOURCE, { module: opts.module, memory: opts.memory, id, names: opts.names });
        workers.push(w);
      } catch {
        break;
      }
    }
    return new ThreadPool(opts.memory, opts.exports, opts.names, workers, opts.platform.canBlock, opts.allocScratch, opts.freeScratch);
  }

  /** Threads in use. */
  get threads(): number {
    return this.active;
  }

  /** Uses n threads (at most those started). */
  setThreads(n: number): void {
    this.active = Math.min(n, this.workers.length + 1);
  }

  /** Each thread's scratch address, after making them at least `bytes` long. */
  scratchFor(bytes: number): readonly number[] {
    if (bytes > this.scratchBytes || this.scratch.length === 0) {
      for (const p of this.scratch) this.freeScratch(p);
      this.scratch.length = 0;
      this.scratchBytes = Math.max(bytes, this.scratchBytes * 1.25, 1 << 20);
      for (let t = 0; t <= this.workers.length; t++) {
        const p = this.allocScratch(this.scratchBytes);
        this.scratch.push(p);
        if (this.workers.length > 0) this.control[SCRATCH + t] = p | 0;
      }
    }
    return this.scratch;
  }

  /**
   * Runs kernel(args, scratch, begin, end) over items [0, total), on as many threads as give
   * each at least `grain` items; shares are multiples of `align` items but the last, and share i
   * gets thread scratch i, whichever thread runs it. Returns the number of shares (each non-empty).
   */
  run(name: string, args: number, total: number, grain: number, scratchBytes: number, align = 1): number {
    const scratch = this.scratchFor(scratchBytes);
    const kernel = this.exports[name]!;
    const n = Math.max(1, Math.min(this.threads, Math.floor(total / Math.max(grain, 1)), Math.ceil(total / align)));
    if (n === 1) {
      if (total > 0) kernel(args, scratch[0]!, 0, total);
      return 1;
    }
    const c = this.control;
    const share = Math.ceil(total / n / align) * align;
    const shares = Math.ceil(total / share);
    for (let i = 0; i < shares; i++) {
      c[RANGES + 2 * i] = i * share;
      c[RANGES + 2 * i + 1] = Math.min(total, (i + 1) * share);
    }
    const generation = c[GEN]! + 1;
    c[KERNEL] = this.kernelIds.get(name)!;
    c[ARGS_PTR] = args | 0;
    c[SHARES] = shares;
    Atomics.store(c, DONE, 0);
    Atomics.store(c, NEXT, tagOf(generation));
    Atomics.store(c, GEN, generation);
    Atomics.notify(c, GEN);
    let failure: unknown;
    for (;;) {
      const v = Atomics.load(c, NEXT);
      const i = v & ((1 << SHARE_BITS) - 1);
      if (i >= shares) break;
      if (Atomics.compareExchange(c, NEXT, v, v + 1) !== v) continue;
      try {
        kernel(args, scratch[i]!, c[RANGES + 2 * i]!, c[RANGES + 2 * i + 1]!);
      } catch (e) {
        failure ??= e;
      }
      Atomics.add(c, DONE, 1);
    }
    this.join(shares);
    if (failure) throw failure;
    if (Atomics.exchange(c, ERROR, 0) !== 0) throw new Error(`wasm backend: kernel ${name} failed on a worker thread`);
    return shares;
  }

  /** Waits for the shares the workers claimed to finish. */
  private join(shares: number): void {
    const c = this.control;
    const t0 = performance.now();
    for (;;) {
      const done = Atomics.load(c, DONE);
      if (done === shares) return;
      // A browser's main thread may not block: it spins until the workers are done.
      if (this.canBlock && performance.now() - t0 > 1) Atomics.wait(c, DONE, done, 10);
    }
  }
}
