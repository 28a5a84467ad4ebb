/**
 * What differs between Node and browsers, chosen at run time so the backend stays loadable in
 * both: reading the .wasm files (Node's fs, or fetch relative to this module), starting workers
 * (worker_threads or Web Workers from a Blob URL), and whether the main thread may block.
 * Node modules are imported through a variable so that bundlers leave them alone.
 */
/** A started worker, kept by the pool for as long as the backend lives. */
export type WorkerHandle = object;

export interface Platform {
  readonly name: 'node' | 'browser';
  /** Logical cores. */
  readonly cores: number;
  /** Whether SharedArrayBuffer can back a memory shared with workers (cross-origin isolation in browsers). */
  readonly sharedMemory: boolean;
  /** Whether this thread may wait in Atomics.wait (not a browser's main thread). */
  readonly canBlock: boolean;
  readBytes(url: URL): Promise<ArrayBuffer | Uint8Array>;
  /** Starts a worker running `source` and posts it `init`; resolves when it answers 'ready'. */
  startWorker(source: string, init: unknown): Promise<WorkerHandle>;
  /** The STRIDE_THREADS setting in Node. */
  envThreads(): string | undefined;
  /** The STRIDE_WASM_BUILD setting in Node ('simd' asks for the plain-SIMD build). */
  envBuild(): string | undefined;
  /**
   * Lets the engine take relaxed SIMD where it has it behind a flag: Node 20 and 21 (V8 11.3 to
   * 11.8; on by default from Node 22). The flag only admits the relaxed opcodes; nothing else
   * changes. Browsers have no such switch.
   */
  allowRelaxedSimd(): Promise<void>;
}

const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';

async function nodePlatform(): Promise<Platform> {
  const fsName = 'node:fs/promises';
  const urlName = 'node:url';
  const osName = 'node:os';
  const wtName = 'node:worker_threads';
  const fs = (await import(/* @vite-ignore */ fsName)) as typeof import('node:fs/promises');
  const url = (await import(/* @vite-ignore */ urlName)) as typeof import('node:url');
  const os = (await import(/* @vite-ignore */ osName)) as typeof import('node:os');
  const wt = (await import(/* @vite-ignore */ wtName)) as typeof import('node:worker_threads');
  return {
    name: 'node',
    cores: os.availableParallelism?.() ?? os.cpus().length,
    sharedMemory: typeof SharedArrayBuffer !== 'undefined',
    canBlock: true,
    readBytes: (u) => fs.readFile(url.fileURLToPath(u)),
    startWorker: (source, init) =>
      new Promise((resolve, reject) => {
        const w = new wt.Worker(source, { eval: true });
        w.once('error', reject);
        w.once('message', (m) => {
          if (m !== 'ready') return reject(new Error(`unexpected worker message ${String(m)}`));
          // Idle workers must not keep the process alive.
          w.unref();
          resolve(w);
        });
        w.postMessage(init);
      }),
    envThreads: () => process.env['STRIDE_THREADS'],
    envBuild: () => process.env['STRIDE_WASM_BUILD'],
    allowRelaxedSimd: async () => {
      const v8Name = 'node:v8';
      const v8 = (await import(/* @vite-ignore */ v8Name)) as typeof import('node:v8');
      v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    },
  };
}

interface BrowserGlobals {
  navigator?: { hardwareConcurrency?: number };
  crossOriginIsolated?: boolean;
  Worker?: new (url: string) => { postMessage(m: unknown): void; onmessage: ((e: { data: unknown }) => void) | null; onerror: ((e: unknown) => void) | null };
  document?: unknown;
  fetch(url: URL): Promise<{ ok: boolean; status: number; arrayBuffer(): Promise<ArrayBuffer> }>;
  URL: { createObjectURL(b: unknown): string };
  Blob: new (parts: string[], opts: { type: string }) => unknown;
}

function browserPlatform(): Platform {
  const g = globalThis as unknown as BrowserGlobals;
  return {
    name: 'browser',
    cores: g.navigator?.hardwareConcurrency ?? 1,
    sharedMemory: typeof SharedArrayBuffer !== 'undefined' && g.crossOriginIsolated === true && g.Worker !== undefined,
    canBlock: g.document === undefined,
    readBytes: async (u) => {
      const res = await g.fetch(u);
      if (!res.ok) throw new Error(`fetching ${u.href}: HTTP ${res.status}`);
      return res.arrayBuffer();
    },
    startWorker: (source, init) =>
      new Promise((resolve, reject) => {
        const w = new g.Worker!(g.URL.createObjectURL(new g.Blob([source], { type: 'text/javascript' })));
        w.onerror = reject;
        w.onmessage = (e) => {
          if (e.data !== 'ready') return reject(new Error(`unexpected worker message ${String(e.data)}`));
          w.onmessage = null;
          resolve(w);
        };
        w.postMessage(init);
      }),
    envThreads: () => undefined,
    envBuild: () => undefined,
    allowRelaxedSimd: async () => {},
  };
}

export function currentPlatform(): Promise<Platform> {
  return isNode ? nodePlatform() : Promise.resolve(browserPlatform());
}
