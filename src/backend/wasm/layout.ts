/**
 * Where things live in the wasm memory (byte addresses). The kernels' constant tables are placed
 * from 32 KiB by the build (wasm/build.mjs, --memoryBase) and end below 48 KiB.
 */
/** The thread pool's control block: Int32 slots (see threads.ts). */
export const CONTROL = 1024;
export const CONTROL_INTS = 1024;
/** The argument block kernels read their parameters from, as float64s. */
export const ARGS = 8192;
export const ARGS_F64 = 2048;
/** Where the allocator's heap starts. */
export const HEAP_BASE = 65536;
export const PAGE = 65536;
/** Views of higher rank (after merging dims) than the kernels' argument block is sized for run on the reference. */
export const MAX_RANK = 24;
