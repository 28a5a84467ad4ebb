/**
 * The wasm backend: the shared primitive suite (test/backend_primitives.ts: every primitive
 * against the reference backend on random inputs), then what only it has: its build and threads,
 * that the committed .wasm files match their sources, the allocator, and the choice of build. The
 * Makefile runs this file on both builds (relaxed SIMD by default; STRIDE_WASM_BUILD=simd).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { Heap } from '../src/backend/wasm/heap.js';
import { initWasm, wasmBackend, wasmMemory, type WasmBuffer } from '../src/backend/wasm/index.js';
import { tidy, type Backend } from '../src/index.js';
import * as st from '../src/index.js';
import { harness, literal, primitiveSuite } from './backend_primitives.js';

const status = await initWasm();
if (!status.available) console.log(`NOTICE: wasm backend unavailable: ${status.reason}; skipping test/wasm.test.ts`);
const skip = status.available ? false : `wasm backend unavailable: ${status.reason}`;
const wasm = wasmBackend as Backend<WasmBuffer>;

describe('wasm backend', { skip }, () => {
  test('reports its build and threads: relaxed SIMD unless STRIDE_WASM_BUILD=simd asks for the plain build', () => {
    // Node 20 and 21 have relaxed SIMD behind a flag the backend turns on; later versions have it on.
    const build = process.env['STRIDE_WASM_BUILD'] === 'simd' ? 'simd' : 'relaxed';
    assert.match(status.build!, new RegExp(`^${build}( \\(shared memory\\))?$`));
    assert.ok(status.threads! >= 1);
    assert.equal(wasm.externalMemory, true);
  });

  test('the committed .wasm files are the build of the current sources', () => {
    const r = spawnSync(process.execPath, [new URL('../wasm/build.mjs', import.meta.url).pathname, '--check'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  primitiveSuite(wasm, {
    seed: 7,
    // Computed in float32 SIMD exactly like the reference, or like it in float64.
    exactOps: ['rsqrt', 'sigmoid', 'erf', 'remainder', 'floor_divide'],
    // Average pooling and scatter_add accumulate in the reference's order (reductions' sums do not).
    exactSums: true,
    pastBuffer: (_primitive, lo, hi, size) => new RegExp(literal(`stride wasm: a view reaches elements [${lo}, ${hi}] of a buffer of ${size}`)),
  });

  describe('memory', () => {
    test('freed blocks are reused: a loop that frees what it allocates does not grow the memory', () => {
      const start = wasmMemory();
      for (let i = 0; i < 200; i++) {
        const bufs = [wasm.alloc('float32', 1000 + (i % 7) * 100), wasm.alloc('float64', 5000), wasm.alloc('uint8', 3)];
        for (const b of bufs.reverse()) wasm.free(b);
      }
      const end = wasmMemory();
      assert.equal(end.allocated, start.allocated);
      assert.ok(end.memoryBytes - start.memoryBytes <= 1 << 20, `the memory grew from ${start.memoryBytes} to ${end.memoryBytes}`);
    });

    test('freed blocks are reused by size first, and go back to the coalescing heap before the memory grows', () => {
      // A heap over a fake memory of 16 pages (1 MiB) that counts its growth.
      let bytes = 16 * 65536, grown = 0;
      const memory = { get buffer() { return { byteLength: bytes } as ArrayBuffer; }, grow(pages: number) { grown += pages; bytes += pages * 65536; return 0; } };
      const heap = new Heap(memory, 0);
      const small = Array.from({ length: 4 }, () => heap.alloc(200_000));
      heap.free(small[1]!);
      assert.equal(heap.alloc(199_990), small[1], 'the same size comes back from the spare blocks');
      for (const p of small) heap.free(p);
      assert.equal(heap.allocated, 0);
      // 800,000 bytes fit only where the four spare blocks were: they are merged rather than the memory grown.
      assert.equal(heap.alloc(800_000), small[0]);
      assert.equal(grown, 0);
      assert.throws(() => heap.free(12345), /wasm heap: free of 12345, which is not an allocated block/);
    });

    test('tensors on wasm are freed by dispose and tidy; use after dispose throws', () => {
      const before = wasmMemory().allocated;
      const kept = tidy(() => {
        const a = st.randn([64, 64]).to('wasm');
        const b = a.matmul(a).relu();
        return b.sum();
      });
      assert.equal(kept.device, 'wasm');
      kept.dispose();
      assert.equal(wasmMemory().allocated, before);
      const t = st.ones([3]).to('wasm');
      t.dispose();
      assert.throws(() => t.sum(), /disposed|freed/i);
    });

    test('a view of another backend\'s buffer is refused with a clear error, not read as an address', () => {
      const x = { buffer: new Float32Array(16) as unknown as WasmBuffer, dtype: 'float32' as const, shape: [16], strides: [1], offset: 0 };
      const out = { ...x, buffer: wasm.alloc('float32', 16) };
      assert.throws(() => wasm.unary('relu', x, out), /stride wasm: a view of a Float32Array is not in wasm memory/);
      wasm.free(out.buffer);
    });

    test('a block freed twice or never allocated is refused by the heap, not corrupted', () => {
      const b = wasm.alloc('float32', 10);
      wasm.free(b);
      wasm.free(b);
      assert.throws(() => b.array(), /freed buffer/);
    });

    test('the shared suite frees what it uploads', () => {
      const { view, compare } = harness(wasm, 8);
      const [a, b] = [view([30, 40]), view([30, 40], { strides: [0, 1] })];
      const before = wasmMemory().allocated;
      const [out] = compare('add', [view([30, 40])], (be, [o], v) => be.binary('add', v(a), v(b), o!), 'exact');
      assert.equal(out!.buffer.length, 30 * 40 + 3);
      assert.equal(wasmMemory().allocated, before);
    });
  });

  test('STRIDE_WASM_BUILD other than simd or relaxed leaves the backend unavailable, saying which value came', () => {
    const script = `
      const { initWasm } = await import(${JSON.stringify(new URL('../src/backend/wasm/index.ts', import.meta.url).href)});
      console.log(JSON.stringify(await initWasm()));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8', env: { ...process.env, STRIDE_WASM_BUILD: 'avx2' },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { available: false, reason: "STRIDE_WASM_BUILD must be 'simd' or 'relaxed', got 'avx2'" });
  });
});
