// Direct kernels for convolutions with few input channels (a network's first layer).
#pragma once

#include "conv_shape.h"

namespace stride {

/**
 * Whether the direct kernels take it: stride 1, no dilation or groups, at most 4 input and 16
 * output channels, kernels up to 8x8, padding narrower than the kernel. oneDNN blocks channels
 * by 16, so on LeNet-5's 1 -> 6 layer it computed mostly padding channels and then reordered
 * its output: its forward took 0.54 ms for a batch of 64 on one thread, these kernels 0.22.
 */
inline bool smallConvApplies(const ConvShape& g) {
  return g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.G == 1 && g.C <= 4 && g.O <= 16 && g.KH <= 8 && g.KW <= 8 &&
         g.ph < g.KH && g.pw < g.KW && g.OH == g.H + 2 * g.ph - g.KH + 1 && g.OW == g.W + 2 * g.pw - g.KW + 1;
}

/** y = conv(x, w) + bias (per output channel, or null), all contiguous NCHW / OIHW. */
void smallConvForward(const ConvShape& g, const float* x, const float* w, const float* bias, float* y);

/** gw = the gradient of the loss with respect to w, given x and gy; gb (or null) = gy summed over N, H and W, the bias gradient. */
void smallConvWeightGrad(const ConvShape& g, const float* x, const float* gy, float* gw, float* gb);

}  // namespace stride
