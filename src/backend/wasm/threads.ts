import type { WasmMemory, WasmModule } from './api.js';
import { CONTROL, CONTROL_INTS } from './layout.js';
import type { Platform, WorkerHandle } from './platform.js';

/**
 * The worker pool: one instance of the kernels per worker over the one shared memory. A task is
 * a kernel name, the address of its arguments and a count of work items; the calling thread
 * takes the first share and each worker one of the rest. Workers spin for about a millisecond
 * before sleeping in Atomics.wait, since waking a sleeping thread costs more than a small op.
 *
 * Control block (Int32 slots at CONTROL): the task's generation (bumped to start it), the kernel,
 * workers still running, an error flag, the argument address, then each thread's [begin, end)
 * and scratch address.
 */
const GEN = 0;
const KERNEL = 1;
const PENDING = 2;
const ERROR = 3;
const ARGS_PTR = 4;
const RANGES = 16;
const MAX_THREADS = 64;
const SCRATCH = RANGES + 2 * MAX_THREADS;

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
    if (k < 0) return;
    const begin = c[${RANGES} + 2 * id], end = c[${RANGES} + 2 * id + 1];
    try {
      if (begin < end) kernels[k](c[${ARGS_PTR}] >>> 0, c[${SCRATCH} + id] >>> 0, begin, end);
    } catch (e) {
      Atomics.store(c, ${ERROR}, 1);
    }
    if (Atomics.sub(c, ${PENDING}, 1) === 1) Atomics.notify(c, ${PENDING});
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
   * each at least `grain` items; shares are multiples of `align` items but the last. Returns the
   * number of threads used (threads 0..n-1 each had a non-empty share).
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
    for (let t = 0; t <= this.workers.length; t++) {
      c[RANGES + 2 * t] = Math.min(total, t * share);
      c[RANGES + 2 * t + 1] = t < n ? Math.min(total, (t + 1) * share) : 0;
    }
    c[KERNEL] = this.kernelIds.get(name)!;
    c[ARGS_PTR] = args | 0;
    Atomics.store(c, PENDING, this.workers.length);
    Atomics.add(c, GEN, 1);
    Atomics.notify(c, GEN);
    let failure: unknown;
    try {
      kernel(args, scratch[0]!, c[RANGES]!, c[RANGES + 1]!);
    } catch (e) {
      failure = e;
    }
    this.join();
    if (failure) throw failure;
    if (Atomics.exchange(c, ERROR, 0) !== 0) throw new Error(`wasm backend: kernel ${name} failed on a worker thread`);
    return Math.min(n, Math.ceil(total / share));
  }

  private join(): void {
    const c = this.control;
    const t0 = performance.now();
    for (;;) {
      const left = Atomics.load(c, PENDING);
      if (left === 0) return;
      // A browser's main thread may not block: it spins until the workers are done.
      if (this.canBlock && performance.now() - t0 > 1) Atomics.wait(c, PENDING, left, 10);
    }
  }
}
