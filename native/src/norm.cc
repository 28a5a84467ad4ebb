// Batch statistics normalisation on contiguous float32 [B, C, S] (the formulas are in
// src/backend/backend.ts): per channel, two passes over its B rows of S values, sums in float64.
// Activations a convolution left blocked ([B][C/16][S][16], layout.h) go sixteen channels at a time.
#include <cmath>

#include "layout.h"
#include "ops.h"
#include "strided.h"

namespace stride {
namespace {

/** [B, C, S, then the element offsets of the buffers in argument order]. */
struct Rows {
  int64_t B, C, S;

  explicit Rows(Meta& m) : B(m.next()), C(m.next()), S(m.next()) {
    if (B < 0 || C < 0 || S < 0) throw Error("negative size");
  }

  int64_t size() const { return B * C * S; }
  /** Channels run in parallel when the tensor is big enough to pay for waking the threads. */
  bool parallel() const { return size() >= kCheapGrain && C > 1; }
};

STRIDE_CLONES void statsChannel(const Rows& r, const float* x, float* mean, float* variance) {
  double sum = 0;
  for (int64_t b = 0; b < r.B; b++) {
    const float* row = x + b * r.C * r.S;
#pragma omp simd reduction(+ : sum)
    for (int64_t s = 0; s < r.S; s++) sum += row[s];
  }
  const double n = static_cast<double>(r.B * r.S), mu = sum / n;
  double squares = 0;
  for (int64_t b = 0; b < r.B; b++) {
    const float* row = x + b * r.C * r.S;
#pragma omp simd reduction(+ : squares)
    for (int64_t s = 0; s < r.S; s++) squares += (row[s] - mu) * (row[s] - mu);
  }
  *mean = static_cast<float>(mu);
  *variance = static_cast<float>(squares / n);
}

STRIDE_CLONES void gradChannel(const Rows& r, const float* x, const float* gy, float mean, float invstd, float w, float* gx, float* gw, float* gb) {
  double sumGy = 0, sumGyCentered = 0;
  for (int64_t b = 0; b < r.B; b++) {
    const float* xr = x + b * r.C * r.S;
    const float* gr = gy + b * r.C * r.S;
#pragma omp simd reduction(+ : sumGy, sumGyCentered)
    for (int64_t s = 0; s < r.S; s++) {
      sumGy += gr[s];
      sumGyCentered += static_cast<double>(gr[s]) * (xr[s] - mean);
    }
  }
  const double n = static_cast<double>(r.B * r.S), sumGyXhat = sumGyCentered * invstd;
  // gx = k·(gy - (Σgy + x̂·Σgy·x̂) / n) = k·gy - k·Σgy/n - k·invstd·Σgy·x̂/n·(x - mean).
  const float k = w * invstd;
  const float shift = static_cast<float>(k * sumGy / n);
  const float slope = static_cast<float>(k * invstd * sumGyXhat / n);
  for (int64_t b = 0; b < r.B; b++) {
    const float* xr = x + b * r.C * r.S;
    const float* gr = gy + b * r.C * r.S;
    float* out = gx + b * r.C * r.S;
#pragma omp simd
    for (int64_t s = 0; s < r.S; s++) out[s] = k * gr[s] - shift - slope * (xr[s] - mean);
  }
  *gw = static_cast<float>(sumGyXhat);
  *gb = static_cast<float>(sumGy);
}

/** statsChannel for the 16 channels of one block of a blocked x. */
STRIDE_CLONES void statsBlock(const Rows& r, const float* x, float* mean, float* variance) {
  double sum[kBlock16] = {}, squares[kBlock16] = {}, mu[kBlock16];
  for (int64_t b = 0; b < r.B; b++) {
    const float* p = x + b * r.C * r.S;
    for (int64_t s = 0; s < r.S; s++)
      for (int64_t l = 0; l < kBlock16; l++) sum[l] += p[s * kBlock16 + l];
  }
  const double n = static_cast<double>(r.B * r.S);
  for (int64_t l = 0; l < kBlock16; l++) mu[l] = sum[l] / n;
  for (int64_t b = 0; b < r.B; b++) {
    const float* p = x + b * r.C * r.S;
    for (int64_t s = 0; s < r.S; s++)
      for (int64_t l = 0; l < kBlock16; l++) squares[l] += (p[s * kBlock16 + l] - mu[l]) * (p[s * kBlock16 + l] - mu[l]);
  }
  for (int64_t l = 0; l < kBlock16; l++) {
    mean[l] = static_cast<float>(mu[l]);
    variance[l] = static_cast<float>(squares[l] / n);
  }
}

/** gradChannel for the 16 channels of one block of blocked x, gy and gx. */
STRIDE_CLONES void gradBlock(const Rows& r, const float* x, const float* gy, const float* mean, const float* invstd, const float* w, float* gx,
                             float* gw, float* gb) {
  double sumGy[kBlock16] = {}, sumGyCentered[kBlock16] = {};
  for (int64_t b = 0; b < r.B; b++) {
    const float* xr = x + b * r.C * r.S;
    const float* gr = gy + b * r.C * r.S;
    for (int64_t s = 0; s < r.S; s++) {
      for (int64_t l = 0; l < kBlock16; l++) {
        const int64_t i = s * kBlock16 + l;
        sumGy[l] += gr[i];
        sumGyCentered[l] += static_cast<double>(gr[i]) * (xr[i] - mean[l]);
      }
    }
  }
  const double n = static_cast<double>(r.B * r.S);
  float k[kBlock16], shift[kBlock16], slope[kBlock16];
  for (int64_t l = 0; l < kBlock16; l++) {
    const double sumGyXhat = sumGyCentered[l] * invstd[l];
    k[l] = w[l] * invstd[l];
    shift[l] = static_cast<float>(k[l] * sumGy[l] / n);
    slope[l] = static_cast<float>(k[l] * invstd[l] * sumGyXhat / n);
    gw[l] = static_cast<float>(sumGyXhat);
    gb[l] = static_cast<float>(sumGy[l]);
  }
  for (int64_t b = 0; b < r.B; b++) {
    const float* xr = x + b * r.C * r.S;
    const float* gr = gy + b * r.C * r.S;
    float* out = gx + b * r.C * r.S;
    for (int64_t s = 0; s < r.S; s++) {
      for (int64_t l = 0; l < kBlock16; l++) {
        const int64_t i = s * kBlock16 + l;
        out[i] = k[l] * gr[i] - shift[l] - slope[l] * (xr[i] - mean[l]);
      }
    }
  }
}

/**
 * A handler's n float32 arrays (argument order, named for errors) and its geometry [B, C, S,
 * then each array's element offset]; each array is checked to hold a [B, C, S] block when
 * `rows` says so, else a [C] one.
 */
struct Operands {
  Meta m;
  Rows r;
  float* p[8];
  bool blocked;  // the [B, C, S] arrays are blocked, C a multiple of 16

  Operands(Call& c, int n, const char* const* names, const bool* rows) : m(geometry(c, n)), r(m) {
    for (int i = 0; i < n; i++) {
      const Array a = c.array(i, napi_float32_array, names[i]);
      const int64_t offset = m.next();
      checkBlock(a, offset, rows[i] ? r.size() : r.C, names[i]);
      p[i] = a.as<float>() + offset;
    }
    blocked = m.next() != 0;
    if (blocked && r.C % kBlock16 != 0) throw Error("blocked rows need channels in sixteens, got " + std::to_string(r.C));
  }

  static Meta geometry(Call& c, int i) {
    size_t count;
    const double* data = c.meta(i, &count);
    return Meta(data, count);
  }
};

}  // namespace

// batchNormStats(x, mean, variance, [B, C, S, then the 3 offsets, whether x is blocked])
napi_value batchNormStats(Call& c) {
  const char* names[] = {"x", "mean", "variance"};
  const bool rows[] = {true, false, false};
  const Operands op(c, 3, names, rows);
  const Rows& r = op.r;
  if (op.blocked) {
#pragma omp parallel for if (r.parallel())
    for (int64_t block = 0; block < r.C / kBlock16; block++) {
      statsBlock(r, op.p[0] + block * r.S * kBlock16, op.p[1] + block * kBlock16, op.p[2] + block * kBlock16);
    }
    return c.undefined();
  }
#pragma omp parallel for if (r.parallel())
  for (int64_t ch = 0; ch < r.C; ch++) statsChannel(r, op.p[0] + ch * r.S, op.p[1] + ch, op.p[2] + ch);
  return c.undefined();
}

// batchNormGrad(x, gy, mean, invstd, w, gx, gw, gb, [B, C, S, then the 8 offsets, whether x, gy and gx are blocked])
napi_value batchNormGrad(Call& c) {
  const char* names[] = {"x", "gy", "mean", "invstd", "w", "gx", "gw", "gb"};
  const bool rows[] = {true, true, false, false, false, true, false, false};
  const Operands op(c, 8, names, rows);
  const Rows& r = op.r;
  float* const* p = op.p;
  if (op.blocked) {
#pragma omp parallel for if (r.parallel())
    for (int64_t block = 0; block < r.C / kBlock16; block++) {
      const int64_t rows0 = block * r.S * kBlock16, ch = block * kBlock16;
      gradBlock(r, p[0] + rows0, p[1] + rows0, p[2] + ch, p[3] + ch, p[4] + ch, p[5] + rows0, p[6] + ch, p[7] + ch);
    }
    return c.undefined();
  }
#pragma omp parallel for if (r.parallel())
  for (int64_t ch = 0; ch < r.C; ch++) {
    gradChannel(r, p[0] + ch * r.S, p[1] + ch * r.S, p[2][ch], p[3][ch], p[4][ch], p[5] + ch * r.S, p[6] + ch, p[7] + ch);
  }
  return c.undefined();
}

}  // namespace stride
