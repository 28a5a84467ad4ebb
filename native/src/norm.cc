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

/**
 * A handler's n float32 arrays (argument order, named for errors) and its geometry [B, C, S,
 * then each array's element offset]; each array is checked to hold a [B, C, S] block when
 * `rows` says so, else a [C] one.
 */
struct Operands {
  Meta m;
  Rows r;
  float* p[8];

  Operands(Call& c, int n, const char* const* names, const bool* rows) : m(geometry(c, n)), r(m) {
    for (int i = 0; i < n; i++) {
      const Array a = c.array(i, napi_float32_array, names[i]);
      const int64_t offset = m.next();
      checkBlock(a, offset, rows[i] ? r.size() : r.C, names[i]);
      p[i] = a.as<float>() + offset;
    }
  }

  static Meta geometry(Call& c, int i) {
    size_t count;
    const double* data = c.meta(i, &count);
    return Meta(data, count);
  }
};

}  // namespace

// batchNormStats(x, mean, variance, [B, C, S, then the 3 offsets])
napi_value batchNormStats(Call& c) {
  const char* names[] = {"x", "mean", "variance"};
  const bool rows[] = {true, false, false};
  const Operands op(c, 3, names, rows);
  const Rows& r = op.r;
#pragma omp parallel for if (r.parallel())
  for (int64_t ch = 0; ch < r.C; ch++) statsChannel(r, op.p[0] + ch * r.S, op.p[1] + ch, op.p[2] + ch);
  return c.undefined();
}

// batchNormGrad(x, gy, mean, invstd, w, gx, gw, gb, [B, C, S, then the 8 offsets])
napi_value batchNormGrad(Call& c) {
  const char* names[] = {"x", "gy", "mean", "invstd", "w", "gx", "gw", "gb"};
  const bool rows[] = {true, true, false, false, false, true, false, false};
  const Operands op(c, 8, names, rows);
  const Rows& r = op.r;
  float* const* p = op.p;
#pragma omp parallel for if (r.parallel())
  for (int64_t ch = 0; ch < r.C; ch++) {
    gradChannel(r, p[0] + ch * r.S, p[1] + ch * r.S, p[2][ch], p[3][ch], p[4][ch], p[5] + ch * r.S, p[6] + ch, p[7] + ch);
  }
  return c.undefined();
}

}  // namespace stride
