// The geometry of a convolution, as stride's own direct kernels take it.
#pragma once

#include <cstdint>

namespace stride {

/** A convolution of x [N, C, H, W] with w [O, C / G, KH, KW] to [N, O, OH, OW]. */
struct ConvShape {
  int64_t N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G;
};

}  // namespace stride
