// Shared helpers. Every parallel kernel has the signature (args, scratch, begin, end): `args`
// points at its parameters as f64s (so pointers, sizes and float values share one block),
// `scratch` at this thread's private workspace, and [begin, end) is its share of the work.

/** Stores the transpose of the 4x4 block whose rows are v0..v3: its rows, `dstStep` bytes apart, at dst. */
@inline export function storeTransposed(v0: v128, v1: v128, v2: v128, v3: v128, dst: usize, dstStep: usize): void {
  const t0 = v128.shuffle<f32>(v0, v1, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(v2, v3, 0, 4, 1, 5);
  const t2 = v128.shuffle<f32>(v0, v1, 2, 6, 3, 7);
  const t3 = v128.shuffle<f32>(v2, v3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
  v128.store(dst + dstStep, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
  v128.store(dst + 2 * dstStep, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
  v128.store(dst + 3 * dstStep, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
}

/** Parameter i of the block at `args`, as an integer. */
@inline export function argi(args: usize, i: i32): i32 {
  return <i32>load<f64>(args + (<usize>i << 3));
}

/** Parameter i as a pointer (byte address). */
@inline export function argp(args: usize, i: i32): usize {
  return <usize>load<f64>(args + (<usize>i << 3));
}

@inline export function argf(args: usize, i: i32): f64 {
  return load<f64>(args + (<usize>i << 3));
}

/** Output channel o's bias from a convolution's args: [21] its byte address (0: none), [22] its stride in elements. */
@inline export function convBias(args: usize, o: i32): f32 {
  const b = argp(args, 21);
  return b == 0 ? 0 : load<f32>(at4(b, o * argi(args, 22)));
}

/** a*b + c: fused or not as the engine likes in the relaxed build, exact multiply-then-add otherwise. */
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

/** Byte address of float element i of the array at p. */
@inline export function at4(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}

// Strided walks. Elementwise kernels get a geometry block:
//   [op, p1, p2, rank, shape[rank], then per view: byte address of element 0, strides[rank]]
// with dims already coalesced by the caller; [begin, end) is a range of flat (row-major) positions.

@inline export function rankOf(g: usize): i32 {
  return argi(g, 3);
}

/** Length of the innermost dim (1 for rank 0). */
@inline export function innerOf(g: usize): i32 {
  const r = argi(g, 3);
  return r == 0 ? 1 : argi(g, 3 + r);
}

/** Stride (elements) of view v along the innermost dim. */
@inline export function stepOf(g: usize, v: i32): i32 {
  const r = argi(g, 3);
  return r == 0 ? 0 : argi(g, 4 + r + v * (1 + r) + r);
}

/** Byte address of view v's element at flat position e, for elements of 1 << shift bytes. */
export function addrOf(g: usize, v: i32, e: i32, shift: i32): usize {
  const r = argi(g, 3);
  const base = 4 + r + v * (1 + r);
  let p = argp(g, base);
  for (let d = r - 1; d >= 0; d--) {
    const s = argi(g, 4 + d);
    p += <usize>((e % s) * argi(g, base + 1 + d)) << shift;
    e /= s;
  }
  return p;
}
