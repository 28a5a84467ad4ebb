// Batch statistics normalisation on contiguous float32 [B, C, S] (the formulas are in
// src/backend/backend.ts): per channel, two passes over its B rows of S values, sums in float64.
#include <cmath>

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

}  // namespace

// batchNormStats(x, mean, variance, [B, C, S, x offset, mean offset, variance offset])
napi_value batchNormStats(Call& c) {
  const Array x = c.array(0, napi_float32_array, "x");
  const Array mean = c.array(1, napi_float32_array, "mean");
  const Array variance = c.array(2, napi_float32_array, "variance");
  size_t count;
  const double* meta = c.meta(3, &count);
  Meta m(meta, count);
  const Rows r(m);
  const int64_t xo = m.next(), mo = m.next(), vo = m.next();
  checkBlock(x, xo, r.size(), "x");
  checkBlock(mean, mo, r.C, "mean");
  checkBlock(variance, vo, r.C, "variance");
#pragma omp parallel for if (r.parallel())
  for (int64_t ch = 0; ch < r.C; ch++) {
    statsChannel(r, x.as<float>() + xo + ch * r.S, mean.as<float>() + mo + ch, variance.as<float>() + vo + ch);
  }
  return c.undefined();
}

// batchNormGrad(x, gy, mean, invstd, w, gx, gw, gb, [B, C, S, then the 8 offsets])
napi_value batchNormGrad(Call& c) {
  const char* names[8] = {"x", "gy", "mean", "invstd", "w", "gx", "gw", "gb"};
  Array a[8];
  for (int i = 0; i < 8; i++) a[i] = c.array(i, napi_float32_array, names[i]);
  size_t count;
  const double* meta = c.meta(8, &count);
  Meta m(meta, count);
  const Rows r(m);
  int64_t o[8];
  for (int i = 0; i < 8; i++) {
    o[i] = m.next();
    checkBlock(a[i], o[i], i < 2 || i == 5 ? r.size() : r.C, names[i]);
  }
  const auto at = [&](int i, int64_t ch) { return a[i].as<float>() + o[i] + ch; };
#pragma omp parallel for if (r.parallel())
  for (int64_t ch = 0; ch < r.C; ch++) {
    gradChannel(r, at(0, ch * r.S), at(1, ch * r.S), *at(2, ch), *at(3, ch), *at(4, ch), at(5, ch * r.S), at(6, ch), at(7, ch));
  }
  return c.undefined();
}

}  // namespace stride
