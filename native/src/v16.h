// Sixteen floats as one value, with GCC's vector extension: lowered per target clone to one zmm
// on AVX-512, two ymm on AVX2, four xmm on the baseline. Only for code always inlined into a
// clone, so no vector crosses a call whose ISA differs (what -Wpsabi warns about).
#pragma once

#include <cstdint>
#include <cstring>

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

}  // namespace stride
