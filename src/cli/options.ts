/**
 * Option parsing shared by the commands: numbers and choices that refuse bad values on one line
 * naming the option, and the --backend/--threads pair of the training commands.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { set_default_backend } from '../backend/backend.js';
import { nativeStatus, setThreads } from '../backend/native/index.js';
import { setWasmThreads, wasmStatus } from '../backend/wasm/index.js';
import { StrideError } from '../tensor/errors.js';

export function number(name: string, check: (n: number) => boolean, rule: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!check(n)) throw new InvalidArgumentError(`${name} must be ${rule}, got '${v}'`);
    return n;
  };
}

export const int = (name: string, min = 1) => number(name, (n) => Number.isInteger(n) && n >= min, `an integer >= ${min}`);
export const num = (name: string, min = 0) => number(name, (n) => Number.isFinite(n) && n >= min, `a number >= ${min}`);
export const positive = (name: string) => number(name, (n) => Number.isFinite(n) && n > 0, 'a positive number');
export const fraction = (name: string) => number(name, (n) => n > 0 && n < 1, 'between 0 and 1');

export function choice<T extends string>(name: string, values: readonly T[]) {
  return (v: string): T => {
    if (!values.includes(v as T)) throw new InvalidArgumentError(`unknown ${name} '${v}'; valid: ${values.join(', ')}`);
    return v as T;
  };
}

/** A comma-separated list of choices (empty items ignored). */
export function choices<T extends string>(name: string, values: readonly T[]) {
  const one = choice(name, values);
  return (v: string): T[] => v.split(',').map((s) => s.trim()).filter(Boolean).map(one);
}

export const BACKENDS = ['native', 'wasm', 'reference'] as const;
export type BackendName = (typeof BACKENDS)[number];
export type BackendChoice = 'auto' | BackendName;

/** Adds --backend and --threads to a command that computes. */
export function addBackendOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--backend <name>', 'compute backend: auto (the first available of native, wasm, reference), native, wasm, reference').default('auto').argParser(choice('backend', ['auto', ...BACKENDS])))
    .option('--threads <n>', 'threads for the native and wasm backends (default: $STRIDE_THREADS or the core count; wasm uses at most the workers it started with; the reference backend uses one)', int('threads'));
}

/** Why a backend cannot run here, or undefined when it can (the reference backend always can). */
export function unavailableReason(name: BackendName): string | undefined {
  const status = name === 'native' ? nativeStatus() : name === 'wasm' ? wasmStatus() : { available: true };
  return status.available ? undefined : (status.reason ?? 'unavailable');
}

/** What 'auto' takes: native when its addon is built, else wasm when the engine has SIMD, else reference. */
export function autoBackend(): BackendName {
  return BACKENDS.find((b) => unavailableReason(b) === undefined)!;
}

/**
 * Makes the chosen backend the default. Asking for one that cannot run here is an error that
 * says why.
 */
export function useBackend(name: BackendChoice, threads?: number): void {
  const chosen = name === 'auto' ? autoBackend() : name;
  const reason = unavailableReason(chosen);
  if (reason !== undefined) throw new StrideError(`the ${chosen} backend is unavailable: ${reason}`);
  set_default_backend(chosen);
  if (threads !== undefined && chosen === 'native') setThreads(threads);
  if (threads !== undefined && chosen === 'wasm') setWasmThreads(threads);
}
