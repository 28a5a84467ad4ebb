import type { Tensor } from './tensor.js';

/**
 * Deterministic freeing for tensors whose memory lives outside the JS heap.
 *
 * `tidy(fn)` disposes every tensor created while fn runs, except those it returns (found in
 * arrays and plain objects) or passes to `keep`. An async fn keeps its scope open until its
 * promise settles; tensors created meanwhile by unrelated async code land in that scope too, so
 * do not interleave independent tidy scopes that allocate concurrently.
 */
const scopes: Set<Tensor>[] = [];

let debug = false;
let nextId = 1;
/** Creation sites of live handles by debug id (ids, not tensors, so the GC can still collect them). */
const live = new Map<number, string>();
const leaks: string[] = [];

/** Called by every new tensor handle; returns its debug id (0 when debugging is off). */
export function trackTensor(t: Tensor): number {
  scopes[scopes.length - 1]?.add(t);
  if (!debug) return 0;
  const id = nextId++;
  live.set(id, new Error().stack?.split('\n').slice(3, 8).join('\n') ?? '');
  return id;
}

export function untrackTensor(t: Tensor, debugId: number): void {
  for (const s of scopes) s.delete(t);
  live.delete(debugId);
}

/** Whether a tidy scope is open (a new handle then belongs to it). */
export function scopeOpen(): boolean {
  return scopes.length > 0;
}

/** Whether t was made inside the innermost open tidy scope (or returned into it), not before it. */
export function inCurrentScope(t: Tensor): boolean {
  return scopes[scopes.length - 1]?.has(t) ?? false;
}

/** Takes a tensor out of every open tidy scope so it outlives them. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of scopes) s.delete(t);
  t.unscoped();
  return t;
}

function collectResult(value: unknown, out: Set<unknown>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 8) return;
  if (isTensorLike(value)) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collectResult(v, out, depth + 1);
  else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectResult(v, out, depth + 1);
  }
}

function isTensorLike(v: object): v is Tensor {
  return typeof (v as { dispose?: unknown }).dispose === 'function' && 'strides' in v && 'storage' in v;
}

function closeScope(scope: Set<Tensor>, result: unknown): void {
  const i = scopes.lastIndexOf(scope);
  if (i >= 0) scopes.splice(i, 1);
  const kept = new Set<unknown>();
  collectResult(result, kept);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (!kept.has(t)) t.dispose();
    else if (parent) parent.add(t);
    else t.unscoped();
  }
}

export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    closeScope(scope, undefined);
    throw e;
  }
  if (result instanceof Promise) {
    return result.then(
      (v) => { closeScope(scope, v); return v; },
      (e) => { closeScope(scope, undefined); throw e; },
    ) as T;
  }
  closeScope(scope, result);
  return result;
}

/**
 * Leak debugging: when on, every live tensor handle remembers where it was created, and
 * handles collected by the GC without dispose() are reported by `memory()`.
 */
export function set_memory_debug(on: boolean): void {
  debug = on;
  if (!on) {
    live.clear();
    leaks.length = 0;
  }
}

export function memory_debug_enabled(): boolean {
  return debug;
}

/** Called by the finalizer for a handle the GC collected without dispose(). */
export function recordLeak(debugId: number): void {
  const site = live.get(debugId);
  if (site === undefined) return;
  live.delete(debugId);
  leaks.push(site);
}

export interface MemoryReport {
  /** Undisposed tensor handles (tracked only in debug mode). */
  liveTensors: number;
  /** Creation sites of the live handles (debug mode). */
  liveSites: string[];
  /** Creation sites of handles the GC collected without dispose() (debug mode). */
  leaked: string[];
}

export function memory(): MemoryReport {
  return { liveTensors: live.size, liveSites: [...live.values()], leaked: [...leaks] };
}
