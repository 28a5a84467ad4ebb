/** Shared by the CLI tests: running `stride` in-process or as a child, and tiny dataset fixtures. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli/main.js';
import { BUNDLED_SUBSET, loadDataset } from '../src/io/datasets.js';
import type { ClassificationData } from '../src/data/classification.js';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const SUBSET = join(ROOT, 'data/fashion-mnist-subset');

export const tempDir = (what: string) => mkdtempSync(join(tmpdir(), `stride-${what}-`));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs fn with the environment variables `env` set (undefined: removed), then restores them. */
export async function withEnv<T>(env: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const set = (vars: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  set(env);
  try {
    return await fn();
  } finally {
    set(saved);
  }
}

/**
 * Runs main(args) in this process, capturing what it prints. Only string writes are captured:
 * the test runner's own reports to stdout are binary and pass through. `env` is set for the call.
 */
export async function stride(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const capture = (stream: NodeJS.WriteStream, into: string[]) => {
    const write = stream.write;
    stream.write = ((chunk: unknown, ...rest: unknown[]) =>
      typeof chunk === 'string' ? (into.push(chunk), true) : (write as (...a: unknown[]) => boolean).call(stream, chunk, ...rest)) as typeof stream.write;
    return () => void (stream.write = write);
  };
  const restoreOut = capture(process.stdout, out);
  const restoreErr = capture(process.stderr, err);
  try {
    const code = await withEnv(env, () => main(args));
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    restoreOut();
    restoreErr();
  }
}

export interface Child {
  proc: ChildProcess;
  /** Everything printed so far. */
  stdout(): string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** Starts `node --import tsx src/cli/bin.ts ...args` (for exit codes and signals). */
export function spawnStride(args: string[], env: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/bin.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { proc, stdout: () => stdout, done };
}

let subset: Promise<ClassificationData> | null = null;
/** The bundled Fashion-MNIST subset, loaded once. */
export function bundledSubset(): Promise<ClassificationData> {
  subset ??= loadDataset('fashion-mnist', { dir: BUNDLED_SUBSET });
  return subset;
}

/** An uncompressed IDX file of unsigned bytes. */
export function idxBytes(data: Uint8Array, shape: readonly number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * shape.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = shape.length;
  shape.forEach((s, i) => view.setUint32(4 + 4 * i, s));
  out.set(data, 4 + 4 * shape.length);
  return out;
}

/**
 * Writes a Fashion-MNIST-shaped dataset (the four IDX files) into `dir`: the bundled subset's
 * training images from `offset` on and its first test images.
 */
export async function writeFashionFixture(dir: string, sizes: { train: number; test: number; offset?: number }): Promise<string> {
  const d = await bundledSubset();
  mkdirSync(dir, { recursive: true });
  const offset = sizes.offset ?? 0;
  const split = (images: Uint8Array, labels: Int32Array, start: number, n: number, prefix: string) => {
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), idxBytes(images.subarray(start * 784, (start + n) * 784), [n, 28, 28]));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), idxBytes(Uint8Array.from(labels.subarray(start, start + n)), [n]));
  };
  split(d.train.images.dataSync() as Uint8Array, d.train.labels.dataSync() as Int32Array, offset, sizes.train, 'train');
  split(d.test.images.dataSync() as Uint8Array, d.test.labels.dataSync() as Int32Array, 0, sizes.test, 't10k');
  return dir;
}

export const readJson = <T = Record<string, unknown>>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;
