/**
 * stride with every backend that can run here. The fast backends are Node-only modules that
 * register themselves when they load (issue 6: native, issue 7: wasm) and are not imported by
 * the core, so the harness imports each one that exists in the source tree and asks it, through
 * its `<name>Status()` export, why it did not register.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { list_backends } from '../../src/index.js';

/** The stride backends the project builds; the reference one is always there. */
export const STRIDE_BACKENDS = ['reference', 'native', 'wasm'] as const;

const SRC = join(dirname(fileURLToPath(import.meta.url)), '../../src/backend');

export interface BackendAvailability {
  name: string;
  available: boolean;
  /** The backend's own status (threads, ISA, ...) or why it is missing. */
  status: Record<string, unknown>;
}

export async function loadStrideBackends(): Promise<BackendAvailability[]> {
  const out: BackendAvailability[] = [];
  for (const name of STRIDE_BACKENDS) {
    const file = join(SRC, name, 'index.ts');
    if (!existsSync(file)) {
      out.push({ name, available: false, status: { reason: `not built yet (no src/backend/${name}/)` } });
      continue;
    }
    const mod = (await import(file)) as Record<string, unknown>;
    const statusFn = mod[`${name}Status`];
    const status = typeof statusFn === 'function' ? (statusFn as () => Record<string, unknown>)() : {};
    const available = list_backends().includes(name);
    out.push({ name, available, status: available ? status : { reason: 'it did not register', ...status } });
  }
  return out;
}
