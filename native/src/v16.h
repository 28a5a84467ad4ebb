// Sixteen floats as one value, with GCC's vector extension: lowered per target clone to one zmm
// on AVX-512, two ymm on AVX2, four xmm on the baseline. Only for code always inlined into a
// clone, so no vector crosses a call whose ISA differs (what -Wpsabi warns about).
#pragma once

#include <cstdint>
#include <cstring>
#include <utility>

#pragma GCC diagnostic ignored "-Wpsabi"

#define STRIDE_INLINE inline __attribute__((always_inline))

namespace stride {

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));
constexpr int64_t kLanes = 16;

STRIDE_INLINE v16 load(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

STRIDE_INLINE void store(float* p, const v16& v) { std::memcpy(p, &v, sizeof v); }

/**
 * One level of a 16x16 transpose: rows i and i + B (i & B == 0) trade their off-diagonal BxB
 * blocks. Hi picks the second row's result.
 */
template <int B, bool Hi, int... K>
STRIDE_INLINE v16 tradeBlocks(const v16& a, const v16& b, std::integer_sequence<int, K...>) {
  return __builtin_shufflevector(a, b, (Hi ? ((K & B) != 0 ? 16 + K : K + B) : ((K & B) != 0 ? 16 + K - B : K))...);
}

template <int B>
STRIDE_INLINE void tradeLevel(v16 (&r)[16]) {
  for (int i = 0; i < 16; i++) {
    if ((i & B) != 0) continue;
    const v16 lo = tradeBlocks<B, false>(r[i], r[i + B], std::make_integer_sequence<int, 16>());
    const v16 hi = tradeBlocks<B, true>(r[i], r[i + B], std::make_integer_sequence<int, 16>());
    r[i] = lo;
    r[i + B] = hi;
  }
}

/** r[i][j] becomes r[j][i]: blocks of 8, 4, 2 and 1 traded across the diagonal, one shuffle per row and level. */
STRIDE_INLINE void transpose16(v16 (&r)[16]) {
  tradeLevel<8>(r);
  tradeLevel<4>(r);
  tradeLevel<2>(r);
  tradeLevel<1>(r);
}

}  // namespace stride
