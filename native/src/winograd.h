// 3x3 stride-1 convolutions by Winograd's minimal filtering F(4x4, 3x3): forward, input gradient
// and weight gradient, over activations in nchw or oneDNN's blocked nChw16c.
#pragma once

#include "conv_shape.h"

namespace stride {

/**
 * Whether these kernels take the convolution: 3x3, stride 1, no dilation or groups, "same"-style
 * padding (OH = H + 2·ph - 2, ph <= 2), channels in sixteens and at least 32 4x4 tiles of the
 * output over the batch.
 */
bool winogradApplies(const ConvShape& g);

/** y [N, O, OH, OW] = conv(x, w) + bias (per output channel, or null); w [O, C, 3, 3] plain. */
void winogradForward(const ConvShape& g, const float* x, bool xBlocked, const float* w, const float* bias, float* y, bool yBlocked);

/** gx [N, C, H, W] = the gradient with respect to x, given gy and w [O, C, 3, 3] plain. */
void winogradInputGrad(const ConvShape& g, const float* gy, bool gyBlocked, const float* w, float* gx, bool gxBlocked);

/**
 * gw [O, C, 3, 3] (oihw) = the gradient with respect to the weights, given x and gy. oneDNN 2.6
 * has no Winograd weight gradient, and its direct one ran ResNet-20's 16x16x32 and 8x8x64 layers
 * at batch 32 at about half the speed of its Winograd forward (0.62 against 0.35 ms on two
 * threads, plus a reorder of both blocked inputs to nhwc); this one pays with 16 channels too
 * (32x32x16 at batch 32: 0.78 -> 0.57 ms on two threads).
 */
void winogradWeightGrad(const ConvShape& g, const float* x, bool xBlocked, const float* gy, bool gyBlocked, float* gw);

}  // namespace stride
