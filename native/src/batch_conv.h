// Direct convolution kernels vectorised over the batch, for layers whose channel counts are not
// multiples of 16 (LeNet-5's 6 -> 16), which oneDNN pads to 16.
#pragma once

#include "conv_shape.h"

namespace stride {

/**
 * Whether the batch-lane kernels beat oneDNN at producing `channels` channels (O for the forward,
 * C for the input gradient): no groups, more than 4 input channels (with fewer, the taps are too
 * short: LeNet-5's 1 -> 6 forward took 0.52 ms, small_conv.cc's 0.22), a batch of 32 or more
 * (whole 16-lane vectors of images), planes up to 32x32, transposed copies under 16 MB, and a
 * channel count oneDNN pads to a multiple of 16. On one thread, batch
 * 64, 5x5 kernels: LeNet-5's 6 -> 16 on 14x14, input gradient 0.76 -> 0.47 ms (its forward, to 16
 * channels, stays with oneDNN: 0.29 against 0.36); 10 -> 20 on 12x12, forward 0.59 -> 0.51 and
 * input gradient 0.95 -> 0.59; 20 -> 50, forward 3.85 -> 2.37 and input gradient 3.80 -> 2.14. A
 * batch-lane weight gradient was slower than oneDNN's on all three (LeNet-5's 0.57 against 0.31).
 */
bool batchConvApplies(const ConvShape& g, int64_t channels);

/** y = conv(x, w) + bias (per output channel, or null), all contiguous NCHW / OIHW. */
void batchConvForward(const ConvShape& g, const float* x, const float* w, const float* bias, float* y);

/**
 * gx = the gradient with respect to x, given gy (nchw, or nChw16c when gyBlocked) and w (every
 * input row and column, reached or not).
 */
void batchConvInputGrad(const ConvShape& g, const float* gy, bool gyBlocked, const float* w, float* gx);

}  // namespace stride
