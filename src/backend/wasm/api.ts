/**
 * The part of the WebAssembly JS API the backend uses, typed here because the project's
 * TypeScript libs (ES2023 + @types/node, no DOM) do not declare it.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}

/** A compiled module (opaque; posted to workers as is). */
export interface WasmModule {
  readonly __wasmModule?: never;
}

export interface WasmGlobal {
  readonly value: number;
}

interface WasmApi {
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  compile(bytes: ArrayBuffer | Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: { env: { memory: WasmMemory } }): Promise<{ exports: Record<string, unknown> }>;
  validate(bytes: Uint8Array): boolean;
}

export const WebAssemblyApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
