/**
 * Option parsing shared by the commands: numbers and choices that refuse bad values on one line
 * naming the option, and the --backend/--threads pair of the training commands.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { set_default_backend } from '../backend/backend.js';
import { nativeStatus, setThreads } from '../backend/native/index.js';
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

export type BackendChoice = 'auto' | 'native' | 'reference';

/** Adds --backend and --threads to a command that computes. */
export function addBackendOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--backend <name>', 'compute backend: auto (native when built, else reference), native, reference').default('auto').argParser(choice('backend', ['auto', 'native', 'reference'])))
    .option('--threads <n>', 'threads for the native backend (default: $STRIDE_THREADS or the core count; the reference backend uses one)', int('threads'));
}

/**
 * Makes the chosen backend the default: 'auto' takes native when its addon is built. Asking for
 * native when it is not built is an error that says why.
 */
export function useBackend(name: BackendChoice, threads?: number): void {
  const native = nativeStatus();
  if (name === 'native' && !native.available) throw new StrideError(`the native backend is unavailable: ${native.reason}`);
  const chosen = name === 'auto' ? (native.available ? 'native' : 'reference') : name;
  set_default_backend(chosen);
  if (chosen === 'native' && threads !== undefined) setThreads(threads);
}
