/** Shared test utilities: value comparisons and the PyTorch fixture runner. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Tensor, fromFlat, type DType, type StrideError } from '../src/index.js';

export interface FixtureTensor {
  shape: number[];
  dtype: DType;
  data: number[];
  requires_grad?: boolean;
}

export interface FixtureCase {
  name: string;
  op: string;
  args: Record<string, unknown>;
  inputs: FixtureTensor[];
  output: FixtureTensor;
  extras?: FixtureTensor[];
  grad_output?: FixtureTensor;
  grads?: (FixtureTensor | null)[];
}

/** Replays one fixture op: receives stride tensors for the inputs and the case's args. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type FixtureRunner = (inputs: Tensor[], args: any) => Tensor | { out: Tensor; extras: Tensor[] };

export function fromFixture(f: FixtureTensor): Tensor {
  const t = fromFlat(f.data, f.shape, { dtype: f.dtype });
  return f.requires_grad ? t.requires_grad_(true) : t;
}

export interface Tolerance {
  /** Per-element relative tolerance (default 1e-5). */
  rtol?: number;
  /** Absolute tolerance as a fraction of the expected tensor's largest magnitude (default 1e-5). */
  scaled_atol?: number;
}

/**
 * Asserts that `actual` has the expected shape and values: |a - e| <= rtol |e| + scaled_atol
 * max|e| for every element, i.e. 1e-5 relative to each value and to the tensor's scale (float32
 * sums in a different order differ by about that much). Integer and bool values must be equal.
 */
export function assertClose(actual: Tensor, expected: { shape: readonly number[]; data: ArrayLike<number> }, what: string, tol: Tolerance = {}): void {
  const { rtol = 1e-5, scaled_atol = 1e-5 } = tol;
  assert.deepEqual([...actual.shape], [...expected.shape], `${what}: shape`);
  const a = actual.dataSync();
  const e = expected.data;
  let scale = 0;
  for (let i = 0; i < e.length; i++) scale = Math.max(scale, Math.abs(e[i]!));
  const exact = !actual.is_floating_point();
  for (let i = 0; i < e.length; i++) {
    const av = a[i]!;
    const ev = e[i]!;
    if (Number.isNaN(ev) && Number.isNaN(av)) continue;
    const ok = exact ? av === ev : Math.abs(av - ev) <= rtol * Math.abs(ev) + scaled_atol * scale || av === ev;
    if (!ok) assert.fail(`${what}: element ${i} is ${av}, expected ${ev} (shape [${expected.shape.join(', ')}])`);
  }
}

/** Compares a tensor with a nested JS array exactly or to `digits` decimals. */
export function assertValues(actual: Tensor, expected: unknown, what: string, digits?: number): void {
  const round = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(round) : typeof v === 'number' && digits !== undefined ? Number(v.toFixed(digits)) : v;
  assert.deepEqual(round(actual.tolist()), round(expected), what);
}

export function loadFixtures(file: string): FixtureCase[] {
  const url = new URL(`./fixtures/${file}`, import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { cases: FixtureCase[] }).cases;
}

/**
 * Registers one test per case in a fixture file: forward output (and extras) and, when the
 * case has them, the input gradients for the recorded upstream gradient. Every op in the file
 * must have a runner and every runner must be used, so no case is silently skipped.
 */
export function runFixtureFile(file: string, runners: Record<string, FixtureRunner>, tol: Tolerance = {}): void {
  const cases = loadFixtures(file);
  test(`${file}: every op has a runner and every runner has cases`, () => {
    const ops = new Set(cases.map((c) => c.op));
    for (const op of ops) assert.ok(runners[op], `no runner for op '${op}' in ${file}`);
    for (const op of Object.keys(runners)) assert.ok(ops.has(op), `runner '${op}' has no case in ${file}`);
  });
  for (const c of cases) {
    test(`${file}: ${c.name}`, () => {
      const run = runners[c.op];
      assert.ok(run, `no runner for op '${c.op}'`);
      const inputs = c.inputs.map(fromFixture);
      const result = run(inputs, c.args);
      const { out, extras } = result instanceof Tensor ? { out: result, extras: [] as Tensor[] } : result;
      assertClose(out, c.output, `${c.name} output`, tol);
      c.extras?.forEach((e, i) => assertClose(extras[i]!, e, `${c.name} extra output ${i}`, tol));
      if (c.grad_output && c.grads) {
        out.backward(fromFixture(c.grad_output));
        c.grads.forEach((g, i) => {
          if (!g) return;
          const got = inputs[i]!.grad;
          assert.ok(got, `${c.name}: input ${i} got no gradient`);
          assertClose(got, g, `${c.name} grad of input ${i}`, tol);
        });
      }
    });
  }
}

/** Asserts that fn throws an error of class `cls` whose message mentions every one of `parts`. */
export function throwsNaming(fn: () => unknown, cls: typeof StrideError, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    for (const p of parts) assert.ok((e as Error).message.includes(p), `message "${(e as Error).message}" should mention "${p}"`);
    return true;
  });
}
