// oneDNN's blocked activation layout nChw16c: [N][C/16][H*W][16], for channel counts that are a
// multiple of 16. A convolution's output stays in it for the ops that follow (see layout.cc).
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "strided.h"

namespace stride {

constexpr int64_t kBlock16 = 16;

/** Copies [N][C][S] (plain) to [N][C/16][S][16] (blocked), or back; C is a multiple of 16. */
template <class T>
void relayoutCopy(const T* src, T* dst, int64_t N, int64_t C, int64_t S, bool toBlocked) {
  const int64_t blocks = N * (C / kBlock16);
#pragma omp parallel for if (blocks * S * kBlock16 >= kCheapGrain)
  for (int64_t nb = 0; nb < blocks; nb++) {
    const T* from = src + nb * S * kBlock16;
    T* to = dst + nb * S * kBlock16;
    // In tiles of 16 positions x 16 channels through a local copy: whole rows S apart (a
    // multiple of 4 KiB for a 32x32 plane) alias in L1 when each position visits all 16.
    T tile[kBlock16][kBlock16];
    int64_t s0 = 0;
    for (; s0 + kBlock16 <= S; s0 += kBlock16) {
      if (toBlocked) {
        for (int64_t c = 0; c < kBlock16; c++)
          for (int64_t s = 0; s < kBlock16; s++) tile[s][c] = from[c * S + s0 + s];
        std::memcpy(to + s0 * kBlock16, tile, sizeof tile);
      } else {
        for (int64_t s = 0; s < kBlock16; s++)
          for (int64_t c = 0; c < kBlock16; c++) tile[c][s] = from[(s0 + s) * kBlock16 + c];
        for (int64_t c = 0; c < kBlock16; c++) std::memcpy(to + c * S + s0, tile[c], sizeof tile[c]);
      }
    }
    for (; s0 < S; s0++) {
      for (int64_t c = 0; c < kBlock16; c++) {
        if (toBlocked) to[s0 * kBlock16 + c] = from[c * S + s0];
        else to[c * S + s0] = from[s0 * kBlock16 + c];
      }
    }
  }
}

}  // namespace stride
