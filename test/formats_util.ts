/** Shared by the file-format tests: fixtures written by tools/fixtures/formats_reference.py. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { FormatError, type DType, type Tensor } from '../src/index.js';

export const FIXTURES = new URL('./fixtures/formats/', import.meta.url).pathname;

export function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(FIXTURES + name));
}

export interface ExpectedTensor {
  dtype: DType;
  shape: number[];
  /** Row-major; non-finite floats are written "inf", "-inf", "nan". */
  values: (number | string)[];
}

export const manifest = JSON.parse(readFileSync(FIXTURES + 'manifest.json', 'utf8')) as {
  safetensors: Record<string, { metadata: Record<string, string>; tensors: Record<string, ExpectedTensor> }>;
  npy: Record<string, ExpectedTensor>;
  npz: Record<string, ExpectedTensor>;
  idx: Record<string, ExpectedTensor>;
  cifar: Record<string, { labels: number[][]; channel_sums: number[][]; samples: [number[], number][] }>;
};

export function decodeValue(v: number | string): number {
  if (typeof v === 'number') return v;
  return { inf: Infinity, '-inf': -Infinity, nan: NaN }[v] ?? assert.fail(`bad manifest value ${v}`);
}

/** Exact comparison: dtype, shape and every value (NaN equals NaN, -0 differs from 0). */
export function assertTensor(t: Tensor, e: ExpectedTensor, what: string): void {
  assert.equal(t.dtype, e.dtype, `${what}: dtype`);
  assert.deepEqual([...t.shape], e.shape, `${what}: shape`);
  assert.deepEqual(Array.from(t.dataSync()), e.values.map(decodeValue), `${what}: values`);
}

/** Asserts that fn throws a FormatError from `source` whose message mentions every part (and the offset, if given). */
export function throwsFormat(fn: () => unknown, source: string, parts: string[], offset?: number): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected a FormatError, got ${String(e)}`);
    assert.equal(e.source, source, `source of "${e.message}"`);
    assert.ok(e.message.startsWith(source), `message "${e.message}" should start with the source`);
    for (const p of parts) assert.ok(e.message.includes(p), `message "${e.message}" should mention "${p}"`);
    if (offset !== undefined) assert.equal(e.offset, offset, `offset of "${e.message}"`);
    return true;
  });
}

/**
 * Every truncation of `bytes`, and every single-byte corruption of its first `corruptUpTo` bytes,
 * must either parse or throw a FormatError: never another exception. Returns how many of each.
 */
export function onlyFormatErrors(bytes: Uint8Array, parse: (b: Uint8Array) => unknown, corruptUpTo = bytes.length): { failed: number; parsed: number } {
  let failed = 0;
  let parsed = 0;
  const attempt = (b: Uint8Array, what: string): void => {
    try {
      dispose(parse(b));
      parsed++;
    } catch (e) {
      if (!(e instanceof FormatError)) assert.fail(`${what}: expected a FormatError, got ${(e as Error).stack ?? String(e)}`);
      failed++;
    }
  };
  for (let n = 0; n < bytes.length; n++) attempt(bytes.subarray(0, n), `truncated to ${n} bytes`);
  for (let i = 0; i < Math.min(corruptUpTo, bytes.length); i++) {
    const b = bytes.slice();
    b[i] ^= 0xff;
    attempt(b, `byte ${i} flipped`);
  }
  return { failed, parsed };
}

function dispose(v: unknown): void {
  if (v && typeof v === 'object') {
    if ('dispose' in v && typeof v.dispose === 'function') v.dispose();
    else for (const x of Object.values(v)) dispose(x);
  }
}

/** Whether Debian's python3 with numpy can run the reference script (else tests say they skip). */
export const PYTHON = '/usr/bin/python3';
export const pythonWithNumpy = spawnSync(PYTHON, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
