// Direct convolution kernels for few input channels. Each image is copied into a zero-padded
// buffer (rows wide enough for whole 16-column strips), so no tap needs a bounds test; 16
// output columns of up to 8 channels accumulate in vector registers.
#include "small_conv.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "strided.h"
#include "v16.h"

namespace stride {
namespace {

/**
 * Copies `rows` rows of `cols` floats (consecutive in src) to rows `step` apart in dst, 16 lanes at
 * a time, the lanes past a row's end zeroed: the caller's padding they land on stays zero. Whole
 * vectors are read past a row's end (into the next row) except where that would pass `srcEnd`,
 * instead of a memcpy per row, a library call for a few dozen floats (LeNet-5's rows are 28).
 */
STRIDE_INLINE void copyRows(const float* src, int64_t rows, int64_t cols, const float* srcEnd, float* dst, int64_t step) {
  const vi16 lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  for (int64_t r = 0; r < rows; r++, src += cols, dst += step) {
    for (int64_t s = 0; s < cols; s += kLanes) {
      v16 v = {};
      if (src + s + kLanes <= srcEnd) v = load(src + s);
      else std::memcpy(&v, src + s, std::min(kLanes, cols - s) * sizeof(float));
      store(dst + s, reinterpret_cast<v16>(reinterpret_cast<vi16>(v) & (lane < static_cast<int32_t>(cols - s))));
    }
  }
}

/** The padded copy of one image: C planes of Hp rows of Wp floats, the input at (ph, pw). */
struct Padded {
  int64_t Hp, Wp, OWr;

  explicit Padded(const ConvShape& g)
      : Hp(g.H + 2 * g.ph), Wp((g.OW + kLanes - 1) / kLanes * kLanes + g.KW - 1), OWr((g.OW + kLanes - 1) / kLanes * kLanes) {}

  int64_t size(const ConvShape& g) const { return g.C * Hp * Wp; }

  /** Copies image x in (xEnd: the end of x's buffer); the border, zeroed once, stays zero. */
  STRIDE_INLINE void fill(const ConvShape& g, const float* x, const float* xEnd, float* xp) const {
    const bool whole = g.pw + (g.W + kLanes - 1) / kLanes * kLanes <= Wp;
    for (int64_t c = 0; c < g.C; c++) {
      float* top = xp + (c * Hp + g.ph) * Wp + g.pw;
      const float* plane = x + c * g.H * g.W;
      if (whole) {
        copyRows(plane, g.H, g.W, xEnd, top, Wp);
        continue;
      }
      for (int64_t h = 0; h < g.H; h++) std::memcpy(top + h * Wp, plane + h * g.W, g.W * sizeof(float));
    }
  }
};

/** OB output channels of one image: w, bias (or null) and y point at the block's first channel. */
template <int OB>
STRIDE_INLINE void forwardBlock(const ConvShape& g, const Padded& p, const float* xp, const float* w, const float* bias, float* y) {
  const int64_t taps = g.C * g.KH * g.KW, plane = g.OH * g.OW;
  // The accumulators start from the bias: no second pass over y to add it.
  v16 start[OB] = {};
  if (bias) {
    for (int o = 0; o < OB; o++) start[o] += bias[o];
  }
  for (int64_t oh = 0; oh < g.OH; oh++) {
    for (int64_t ow = 0; ow < g.OW; ow += kLanes) {
      v16 acc[OB];
      for (int o = 0; o < OB; o++) acc[o] = start[o];
      for (int64_t c = 0; c < g.C; c++) {
        for (int64_t kh = 0; kh < g.KH; kh++) {
          const float* row = xp + (c * p.Hp + oh + kh) * p.Wp + ow;
          const float* wt = w + (c * g.KH + kh) * g.KW;
          for (int64_t kw = 0; kw < g.KW; kw++) {
            const v16 xv = load(row + kw);
            for (int o = 0; o < OB; o++) acc[o] += xv * wt[o * taps + kw];
          }
        }
      }
      // A strip past the row's end is stored whole into the rows after it, which are written
      // later; only near the plane's end is it cut, with a library call per channel (one per
      // row's last strip took a fifth of LeNet-5's first layer: 267 -> 205 us, one thread).
      float* out = y + oh * g.OW + ow;
      if (oh * g.OW + ow + kLanes <= plane) {
        for (int o = 0; o < OB; o++) std::memcpy(out + o * plane, &acc[o], sizeof(v16));
      } else {
        for (int o = 0; o < OB; o++) std::memcpy(out + o * plane, &acc[o], (g.OW - ow) * sizeof(float));
      }
    }
  }
}

/** One image: copied into its padded buffer xp (x: the image, xEnd: the end of x's buffer), then convolved. */
STRIDE_CLONES void forwardImage(const ConvShape& g, const Padded& p, const float* x, const float* xEnd, float* xp, const float* w, const float* bias, float* y) {
  p.fill(g, x, xEnd, xp);
  const int64_t taps = g.C * g.KH * g.KW, plane = g.OH * g.OW;
  for (int64_t o = 0; o < g.O; o += 8) {
    const float* wb = w + o * taps;
    const float* bb = bias ? bias + o : nullptr;
    float* yb = y + o * plane;
    switch (std::min<int64_t>(8, g.O - o)) {
#define STRIDE_CASE(n) \
  case n: forwardBlock<n>(g, p, xp, wb, bb, yb); break;
      STRIDE_CASE(1) STRIDE_CASE(2) STRIDE_CASE(3) STRIDE_CASE(4) STRIDE_CASE(5) STRIDE_CASE(6) STRIDE_CASE(7) STRIDE_CASE(8)
#undef STRIDE_CASE
    }
  }
}

/**
 * One strip's products for OB channels and KW taps. In a strip that runs past the output's last
 * column (masked), x's lanes there are zeroed as well as gy's: they may hold an inf of the
 * input, which times gy's padding 0 would make a NaN that the true sum does not have.
 */
template <int OB, int KW, bool kMasked>
STRIDE_INLINE void stripProducts(v16 (&acc)[OB][KW], const float* gr, int64_t gyStep, const float* xr, const vi16& keep) {
  v16 gv[OB];
  for (int b = 0; b < OB; b++) gv[b] = load(gr + b * gyStep);
  for (int kw = 0; kw < KW; kw++) {
    v16 xv = load(xr + kw);
    if (kMasked) xv = reinterpret_cast<v16>(reinterpret_cast<vi16>(xv) & keep);
    for (int b = 0; b < OB; b++) acc[b][kw] += gv[b] * xv;
  }
}

/**
 * Adds one image's contribution to the gradient of OB output channels from o: for each (c, kh),
 * OB x KW accumulators over every row and strip, so each load of x serves OB channels. They are
 * added lane by lane into gwv (16 floats per weight; the lanes are summed once, after the last
 * image: summing them per image was a chain of dependent adds that took longer than the
 * products). gyp is the image's gy with rows zero-padded to whole strips.
 */
template <int OB, int KW>
STRIDE_INLINE void weightGradBlock(const ConvShape& g, const Padded& p, const float* xp, const float* gyp, float* gwv, int64_t o) {
  const int64_t full = g.OW / kLanes * kLanes, gyStep = g.OH * p.OWr;
  // The lanes of the last strip inside the output, made once: per strip, the compiler kept it in memory.
  vi16 keep;
  for (int l = 0; l < kLanes; l++) keep[l] = l < g.OW - full ? -1 : 0;
  for (int64_t c = 0; c < g.C; c++) {
    for (int64_t kh = 0; kh < g.KH; kh++) {
      v16 acc[OB][KW] = {};
      for (int64_t oh = 0; oh < g.OH; oh++) {
        const float* gr = gyp + (o * g.OH + oh) * p.OWr;
        const float* xr = xp + (c * p.Hp + oh + kh) * p.Wp;
        for (int64_t s = 0; s < full; s += kLanes) stripProducts<OB, KW, false>(acc, gr + s, gyStep, xr + s, keep);
        if (full < g.OW) stripProducts<OB, KW, true>(acc, gr + full, gyStep, xr + full, keep);
      }
      for (int b = 0; b < OB; b++) {
        float* out = gwv + (((o + b) * g.C + c) * g.KH + kh) * KW * kLanes;
        for (int kw = 0; kw < KW; kw++) store(out + kw * kLanes, load(out + kw * kLanes) + acc[b][kw]);
      }
    }
  }
}

/** Three channels at a time (24 accumulators at most: they fit AVX-512's 32 registers), then the rest one by one. */
template <int KW>
STRIDE_INLINE void weightGradImage(const ConvShape& g, const Padded& p, const float* xp, const float* gyp, float* gwv) {
  int64_t o = 0;
  for (; o + 3 <= g.O; o += 3) weightGradBlock<3, KW>(g, p, xp, gyp, gwv, o);
  for (; o < g.O; o++) weightGradBlock<1, KW>(g, p, xp, gyp, gwv, o);
}

/**
 * One image's contribution: x and gy (ending at xEnd and gyEnd) copied into the padded buffers xp
 * and gyp (rows of gy zero-padded to whole strips), then the products added into gwv.
 */
STRIDE_CLONES void weightGradImageAnyWidth(const ConvShape& g, const Padded& p, const float* x, const float* xEnd, const float* gy, const float* gyEnd, float* xp,
                                           float* gyp, float* gwv, double* sums) {
  p.fill(g, x, xEnd, xp);
  copyRows(gy, g.O * g.OH, g.OW, gyEnd, gyp, p.OWr);
  // The bias gradient's part: each channel's rows of gy (zero-padded to whole strips) added up.
  for (int64_t o = 0; sums && o < g.O; o++) {
    v16 acc = {};
    const float* rows = gyp + o * g.OH * p.OWr;
    for (int64_t i = 0; i < g.OH * p.OWr; i += kLanes) acc += load(rows + i);
    for (int l = 0; l < kLanes; l++) sums[o] += acc[l];
  }
  switch (g.KW) {
#define STRIDE_CASE(n) \
  case n: weightGradImage<n>(g, p, xp, gyp, gwv); break;
    STRIDE_CASE(1) STRIDE_CASE(2) STRIDE_CASE(3) STRIDE_CASE(4) STRIDE_CASE(5) STRIDE_CASE(6) STRIDE_CASE(7) STRIDE_CASE(8)
#undef STRIDE_CASE
  }
}

}  // namespace

// Both run over images on the threads oneDNN's caller chose (one for small calls). Per-thread
// buffers are allocated before the parallel region: nothing may throw inside it.

void smallConvForward(const ConvShape& g, const float* x, const float* w, const float* bias, float* y) {
  const Padded p(g);
  const int threads = omp_get_max_threads();
  std::vector<float> buffers(threads * p.size(g), 0.0f);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t n = 0; n < g.N; n++) {
    float* xp = buffers.data() + omp_get_thread_num() * p.size(g);
    forwardImage(g, p, x + n * g.C * g.H * g.W, x + g.N * g.C * g.H * g.W, xp, w, bias, y + n * g.O * g.OH * g.OW);
  }
}

void smallConvWeightGrad(const ConvShape& g, const float* x, const float* gy, float* gw, float* gb) {
  const Padded p(g);
  const int threads = omp_get_max_threads();
  const int64_t xSize = p.size(g), gySize = g.O * g.OH * p.OWr, gwSize = g.O * g.C * g.KH * g.KW;
  // Per thread: the padded image, the padded gy, the lanes of gw.
  const int64_t perThread = xSize + gySize + gwSize * kLanes;
  std::vector<float> buffers(threads * perThread, 0.0f);
  // Per thread and output channel: the bias gradient's sum, taken from the padded copy of gy.
  std::vector<double> sums(gb ? threads * g.O : 0, 0.0);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t n = 0; n < g.N; n++) {
    const int t = omp_get_thread_num();
    float* xp = buffers.data() + t * perThread;
    float* gyp = xp + xSize;
    weightGradImageAnyWidth(g, p, x + n * g.C * g.H * g.W, x + g.N * g.C * g.H * g.W, gy + n * g.O * g.OH * g.OW, gy + g.N * g.O * g.OH * g.OW, xp, gyp,
                            gyp + gySize, gb ? sums.data() + t * g.O : nullptr);
  }
  for (int64_t i = 0; i < gwSize; i++) {
    float s = 0;
    for (int t = 0; t < threads; t++) {
      const float* lanes = buffers.data() + t * perThread + xSize + gySize + i * kLanes;
      for (int64_t l = 0; l < kLanes; l++) s += lanes[l];
    }
    gw[i] = s;
  }
  for (int64_t o = 0; gb && o < g.O; o++) {
    double s = 0;
    for (int t = 0; t < threads; t++) s += sums[t * g.O + o];
    gb[o] = static_cast<float>(s);
  }
}

}  // namespace stride
