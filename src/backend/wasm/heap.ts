import type { WasmMemory } from './api.js';
import { PAGE } from './layout.js';

/** Blocks are multiples of 64 bytes, aligned to 64 (a cache line; SIMD loads never straddle one needlessly). */
const ALIGN = 64;
/** At most this much freed memory is kept whole for reuse by size. */
const SPARE_BYTES = 64 << 20;

/**
 * The allocator for buffers in the wasm memory, run on the JS side: free blocks are coalesced with
 * their neighbours and kept in bins by power-of-two size; a block freed at the top lowers the top.
 * Wasm memory cannot shrink, so reusing freed space is what keeps it bounded: a training step
 * frees what the next step allocates, in the same sizes.
 */
export class Heap {
  private top: number;
  /** Size of every allocated block, by address. */
  private readonly used = new Map<number, number>();
  private readonly freeAt = new Map<number, number>();
  /** Start of the free block ending at an address. */
  private readonly freeEnding = new Map<number, number>();
  private readonly bins: Set<number>[] = Array.from({ length: 33 }, () => new Set());
  /**
   * Freed blocks kept whole by size, handed out again first: a training step frees the sizes the
   * next one allocates, and reusing them skips the bins and coalescing (a fifth of a small op's
   * time). Given back to the coalescing heap before the memory would grow, so they never make it grow.
   */
  private readonly spare = new Map<number, number[]>();
  private spareBytes = 0;

  constructor(private readonly memory: WasmMemory, base: number) {
    this.top = base;
  }

  /** Bytes in use by live blocks. */
  get allocated(): number {
    let s = 0;
    for (const n of this.used.values()) s += n;
    return s;
  }

  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    let ptr = this.spare.get(size)?.pop();
    if (ptr !== undefined) this.spareBytes -= size;
    else {
      ptr = this.takeFree(size);
      // Before the memory grows, the spare blocks go back to the bins: they may make the room.
      if (ptr === undefined && this.top + size > this.memory.buffer.byteLength && this.releaseSpares()) ptr = this.takeFree(size);
      ptr ??= this.bump(size);
    }
    this.used.set(ptr, size);
    return ptr;
  }

  free(ptr: number): void {
    const size = this.used.get(ptr);
    if (size === undefined) throw new Error(`wasm heap: free of ${ptr}, which is not an allocated block`);
    this.used.delete(ptr);
    if (this.spareBytes + size <= SPARE_BYTES) {
      const list = this.spare.get(size);
      if (list) list.push(ptr);
      else this.spare.set(size, [ptr]);
      this.spareBytes += size;
      return;
    }
    this.release(ptr, size);
  }

  /** Gives every spare block back to the coalescing heap; whether there were any. */
  private releaseSpares(): boolean {
    if (this.spareBytes === 0) return false;
    for (const [size, list] of this.spare) for (const ptr of list) this.release(ptr, size);
    this.spare.clear();
    this.spareBytes = 0;
    return true;
  }

  /** Returns a block to the free bins, merged with free neighbours (or lowers the top). */
  private release(ptr: number, size: number): void {
    let start = ptr;
    let end = ptr + size;
    const before = this.freeEnding.get(start);
    if (before !== undefined) {
      this.unlink(before);
      start = before;
    }
    const afterSize = this.freeAt.get(end);
    if (afterSize !== undefined) {
      this.unlink(end);
      end += afterSize;
    }
    if (end === this.top) this.top = start;
    else this.link(start, end - start);
  }

  private takeFree(size: number): number | undefined {
    for (let c = binOf(size); c < this.bins.length; c++) {
      for (const start of this.bins[c]!) {
        const have = this.freeAt.get(start)!;
        if (have < size) continue;
        this.unlink(start);
        if (have > size) this.link(start + size, have - size);
        return start;
      }
    }
    return undefined;
  }

  private bump(size: number): number {
    const ptr = this.top;
    const need = ptr + size;
    const have = this.memory.buffer.byteLength;
    if (need > have) {
      // Grow by at least an eighth, so a growing workload does not grow page by page.
      const pages = Math.max(Math.ceil((need - have) / PAGE), Math.ceil(have / PAGE / 8));
      try {
        this.memory.grow(pages);
      } catch {
        try {
          this.memory.grow(Math.ceil((need - have) / PAGE));
        } catch {
          throw new RangeError(`wasm backend: out of memory allocating ${size} bytes (${have} in the memory, ${this.allocated} in use)`);
        }
      }
    }
    this.top = need;
    return ptr;
  }

  private link(start: number, size: number): void {
    this.freeAt.set(start, size);
    this.freeEnding.set(start + size, start);
    this.bins[binOf(size)]!.add(start);
  }

  private unlink(start: number): void {
    const size = this.freeAt.get(start)!;
    this.freeAt.delete(start);
    this.freeEnding.delete(start + size);
    this.bins[binOf(size)]!.delete(start);
  }
}

function binOf(size: number): number {
  return 31 - Math.clz32(size);
}
