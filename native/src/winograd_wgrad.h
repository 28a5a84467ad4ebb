// The weight gradient of a 3x3 convolution by Winograd's minimal filtering, F(3x3, 4x4).
#pragma once

#include "conv_shape.h"

namespace stride {

/**
 * Whether it takes the weight gradient: 3x3, stride 1, no dilation or groups, "same"-style
 * padding (OH = H + 2·ph - 2), channels in sixteens and at least 32 4x4 tiles of the output over
 * the batch. oneDNN 2.6 has no Winograd weight gradient, and its direct one ran ResNet-20's
 * 16x16x32 and 8x8x64 layers at batch 32 at about half the speed of its Winograd forward (0.62
 * against 0.35 ms on two threads, plus a reorder of both blocked inputs to nhwc). Unlike the
 * forward, it pays with 16 channels too (32x32x16 at batch 32: 0.78 -> 0.57 ms on two threads).
 */
bool winogradWeightGradApplies(const ConvShape& g);

/**
 * gw [O, C, 3, 3] (oihw) = the gradient of the loss with respect to the weights, given x
 * [N, C, H, W] and gy [N, O, OH, OW], each plain nchw or blocked nChw16c.
 */
void winogradWeightGrad(const ConvShape& g, const float* x, bool xBlocked, const float* gy, bool gyBlocked, float* gw);

}  // namespace stride
