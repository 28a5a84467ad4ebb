// Batch statistics normalisation on contiguous float32 [B, C, S] (the formulas are in
// src/backend/backend.ts): per channel, two passes over its B rows of S values, sums in float64.
// Activations a convolution left blocked ([B][C/16][S][16], layout.h) go sixteen channels at a time.
#include <cmath>
#include <vector>

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

// Blocked x keeps 16 channels in each 64-byte line, so threads splitting the channels would each
// stream the whole tensor (and ResNet's 16-channel layers have one block): they split the batch
// instead, each summing its images into its own partials, added up in thread order.

// Each sums into local arrays, which the compiler keeps in registers (through the pointers it
// could not: two double* may alias), and adds them to the caller's partials at the end.

/** Adds the batch rows [b0, b1) of one block (16 channels) of blocked x to sum. */
STRIDE_CLONES void blockSums(const Rows& r, const float* x, int64_t b0, int64_t b1, double* sum) {
  double acc[kBlock16] = {};
  for (int64_t b = b0; b < b1; b++) {
    const float* p = x + b * r.C * r.S;
    for (int64_t s = 0; s < r.S; s++)
      for (int64_t l = 0; l < kBlock16; l++) acc[l] += p[s * kBlock16 + l];
  }
  for (int64_t l = 0; l < kBlock16; l++) sum[l] += acc[l];
}

/** Adds the squared deviations from mu of the batch rows [b0, b1) of one block to squares. */
STRIDE_CLONES void blockSquares(const Rows& r, const float* x, int64_t b0, int64_t b1, const double* mu, double* squares) {
  double m[kBlock16], acc[kBlock16] = {};
  for (int64_t l = 0; l < kBlock16; l++) m[l] = mu[l];
  for (int64_t b = b0; b < b1; b++) {
    const float* p = x + b * r.C * r.S;
    for (int64_t s = 0; s < r.S; s++)
      for (int64_t l = 0; l < kBlock16; l++) acc[l] += (p[s * kBlock16 + l] - m[l]) * (p[s * kBlock16 + l] - m[l]);
  }
  for (int64_t l = 0; l < kBlock16; l++) squares[l] += acc[l];
}

/** gradChannel's sums Σgy and Σgy·(x - mean) over the batch rows [b0, b1) of one block. */
STRIDE_CLONES void blockGradSums(const Rows& r, const float* x, const float* gy, int64_t b0, int64_t b1, const float* mean, double* sumGy,
                                 double* sumGyCentered) {
  double gs[kBlock16] = {}, gc[kBlock16] = {};
  float m[kBlock16];
  for (int64_t l = 0; l < kBlock16; l++) m[l] = mean[l];
  for (int64_t b = b0; b < b1; b++) {
    const float* xr = x + b * r.C * r.S;
    const float* gr = gy + b * r.C * r.S;
    for (int64_t s = 0; s < r.S; s++) {
      for (int64_t l = 0; l < kBlock16; l++) {
        const int64_t i = s * kBlock16 + l;
        gs[l] += gr[i];
        gc[l] += static_cast<double>(gr[i]) * (xr[i] - m[l]);
      }
    }
  }
  for (int64_t l = 0; l < kBlock16; l++) sumGy[l] += gs[l], sumGyCentered[l] += gc[l];
}

/** gradChannel's gx = k·gy - shift - slope·(x - mean) over the batch rows [b0, b1) of one block. */
STRIDE_CLONES void blockGradApply(const Rows& r, const float* x, const float* gy, int64_t b0, int64_t b1, const float* mean, const float* k,
                                  const float* shift, const float* slope, float* gx) {
  float m[kBlock16], kk[kBlock16], sh[kBlock16], sl[kBlock16];
  for (int64_t l = 0; l < kBlock16; l++) m[l] = mean[l], kk[l] = k[l], sh[l] = shift[l], sl[l] = slope[l];
  for (int64_t b = b0; b < b1; b++) {
    const float* xr = x + b * r.C * r.S;
    const float* gr = gy + b * r.C * r.S;
    float* out = gx + b * r.C * r.S;
    for (int64_t s = 0; s < r.S; s++) {
      for (int64_t l = 0; l < kBlock16; l++) {
        const int64_t i = s * kBlock16 + l;
        out[i] = kk[l] * gr[i] - sh[l] - sl[l] * (xr[i] - m[l]);
      }
    }
  }
}

/**
 * Runs f(thread, b0, b1) on `threads` threads, each with its share [b0, b1) of the batch. The
 * callers allocate the partials before: nothing may throw inside the parallel region.
 */
template <class F>
void overBatch(const Rows& r, int threads, const F& f) {
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
    f(t, r.B * t / T, r.B * (t + 1) / T);
  }
}

/** The sum over threads of partials [threads][C], channel c. */
inline double total(const std::vector<double>& partials, int threads, int64_t C, int64_t c) {
  double s = 0;
  for (int t = 0; t < threads; t++) s += partials[t * C + c];
  return s;
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
    const int threads = r.parallel() ? omp_get_max_threads() : 1;
    const int64_t C = r.C;
    std::vector<double> sums(threads * C, 0.0), squares(threads * C, 0.0), mu(C);
    overBatch(r, threads, [&](int64_t t, int64_t b0, int64_t b1) {
      for (int64_t c = 0; c < C; c += kBlock16) blockSums(r, op.p[0] + c * r.S, b0, b1, &sums[t * C + c]);
    });
    const double n = static_cast<double>(r.B * r.S);
    for (int64_t c = 0; c < C; c++) mu[c] = total(sums, threads, C, c) / n;
    overBatch(r, threads, [&](int64_t t, int64_t b0, int64_t b1) {
      for (int64_t c = 0; c < C; c += kBlock16) blockSquares(r, op.p[0] + c * r.S, b0, b1, &mu[c], &squares[t * C + c]);
    });
    for (int64_t c = 0; c < C; c++) {
      op.p[1][c] = static_cast<float>(mu[c]);
      op.p[2][c] = static_cast<float>(total(squares, threads, C, c) / n);
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
    const int threads = r.parallel() ? omp_get_max_threads() : 1;
    const int64_t C = r.C;
    std::vector<double> sumGy(threads * C, 0.0), sumGyCentered(threads * C, 0.0);
    std::vector<float> k(C), shift(C), slope(C);
    overBatch(r, threads, [&](int64_t t, int64_t b0, int64_t b1) {
      for (int64_t ch = 0; ch < C; ch += kBlock16) blockGradSums(r, p[0] + ch * r.S, p[1] + ch * r.S, b0, b1, p[2] + ch, &sumGy[t * C + ch], &sumGyCentered[t * C + ch]);
    });
    const double n = static_cast<double>(r.B * r.S);
    for (int64_t ch = 0; ch < C; ch++) {
      // As gradChannel.
      const double gySum = total(sumGy, threads, C, ch), sumGyXhat = total(sumGyCentered, threads, C, ch) * p[3][ch];
      k[ch] = p[4][ch] * p[3][ch];
      shift[ch] = static_cast<float>(k[ch] * gySum / n);
      slope[ch] = static_cast<float>(k[ch] * p[3][ch] * sumGyXhat / n);
      p[6][ch] = static_cast<float>(sumGyXhat);
      p[7][ch] = static_cast<float>(gySum);
    }
    overBatch(r, threads, [&](int64_t, int64_t b0, int64_t b1) {
      for (int64_t ch = 0; ch < C; ch += kBlock16) {
        blockGradApply(r, p[0] + ch * r.S, p[1] + ch * r.S, b0, b1, p[2] + ch, &k[ch], &shift[ch], &slope[ch], p[5] + ch * r.S);
      }
    });
    return c.undefined();
  }
#pragma omp parallel for if (r.parallel())
  for (int64_t ch = 0; ch < r.C; ch++) {
    gradChannel(r, p[0] + ch * r.S, p[1] + ch * r.S, p[2][ch], p[3][ch], p[4][ch], p[5] + ch * r.S, p[6] + ch, p[7] + ch);
  }
  return c.undefined();
}

}  // namespace stride
