// 2-d max and average pooling on contiguous float32 [N, C, H, W], as the reference defines them.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "layout.h"
#include "ops.h"
#include "strided.h"
#include "v16.h"

namespace stride {
namespace {

/** One pooling window along one spatial dim: input positions start, start+step, ... < end. */
struct Window {
  int64_t start, end, step;
  /** Divisor contribution when padding counts (PyTorch clips windows at size + padding). */
  int64_t padded;
};

struct Axis {
  int64_t in, out, kernel, stride, padding, dilation;
};

/** The windows of every output position along one dim, clipped to the input. */
std::vector<Window> windows(bool adaptive, const Axis& a) {
  std::vector<Window> w(a.out);
  for (int64_t o = 0; o < a.out; o++) {
    if (adaptive) {
      const int64_t start = o * a.in / a.out, end = ((o + 1) * a.in + a.out - 1) / a.out;
      w[o] = {start, end, 1, end - start};
      continue;
    }
    int64_t start = o * a.stride - a.padding;
    const int64_t paddedEnd = std::min(start + (a.kernel - 1) * a.dilation + 1, a.in + a.padding);
    const int64_t padded = paddedEnd - start;
    if (start < 0) start += (-start + a.dilation - 1) / a.dilation * a.dilation;
    w[o] = {start, std::min(paddedEnd, a.in), a.dilation, padded};
  }
  return w;
}

/** A pooling call's geometry: [N, C, H, W, OH, OW, adaptive, kh, kw, sh, sw, ph, pw, dh, dw, in offset, out offset]. */
struct Pool {
  int64_t planes, C, H, W, OH, OW, inOffset, outOffset;
  bool adaptive;
  Axis ah, aw;
  std::vector<Window> wh, ww;

  explicit Pool(Meta& m) {
    int64_t g[15];
    m.dims(15, g, true);
    planes = g[0] * g[1];
    C = g[1];
    H = g[2], W = g[3], OH = g[4], OW = g[5];
    adaptive = g[6] != 0;
    if (!adaptive && (g[7] < 1 || g[8] < 1 || g[9] < 1 || g[10] < 1 || g[13] < 1 || g[14] < 1)) {
      throw Error("kernel, stride and dilation must be positive");
    }
    ah = {H, OH, g[7], g[9], g[11], g[13]};
    aw = {W, OW, g[8], g[10], g[12], g[14]};
    wh = windows(adaptive, ah);
    ww = windows(adaptive, aw);
    inOffset = m.next();
    outOffset = m.next();
  }

  int64_t inPlane() const { return H * W; }
  int64_t outPlane() const { return OH * OW; }
  bool parallel() const { return planes * inPlane() >= kCheapGrain; }
  /** 2x2 windows, stride 2, no padding or dilation, every window inside the input. */
  bool isPlain2x2() const {
    const auto plain = [](const Axis& a) { return a.kernel == 2 && a.stride == 2 && a.padding == 0 && a.dilation == 1 && 2 * a.out <= a.in; };
    return !adaptive && plain(ah) && plain(aw);
  }
};

struct AvgOptions {
  bool countIncludePad;
  double divisorOverride;  // NaN when not set

  explicit AvgOptions(Meta& m) : countIncludePad(m.next() != 0), divisorOverride(m.raw()) {}

  double divisor(const Window& h, const Window& w) const {
    if (!std::isnan(divisorOverride)) return divisorOverride;
    if (countIncludePad) return static_cast<double>(h.padded * w.padded);
    return static_cast<double>((h.end - h.start) * (w.end - w.start));
  }
};

// Max with NaN propagation, as the reference: a NaN wins (the last one gives the index), ties
// keep the first position, and the index defaults to the window's first position. Positions are
// visited in the reference's order (window rows, then columns), so results match bit for bit.
inline bool takes(float v, float best) { return (v > best) | (v != v); }

/**
 * best, at = v, i when v takes the place of best; with integer masks, not a select the compiler
 * may turn into a branch: which tap wins is a coin toss on real activations, and GCC's branches
 * made LeNet-5's first pooling 5x slower in training than on repeated data.
 */
inline void keepMax(float v, int32_t i, float& best, int32_t& at) {
  const uint32_t take = 0u - static_cast<uint32_t>(takes(v, best));
  uint32_t vb, bb;
  std::memcpy(&vb, &v, sizeof vb);
  std::memcpy(&bb, &best, sizeof bb);
  const uint32_t r = (vb & take) | (bb & ~take);
  std::memcpy(&best, &r, sizeof best);
  at = static_cast<int32_t>((static_cast<uint32_t>(i) & take) | (static_cast<uint32_t>(at) & ~take));
}

/** Adaptive windows vary in size: one output at a time. */
STRIDE_CLONES void maxPlaneAdaptive(const Pool& p, const float* x, float* y, int32_t* idx) {
  for (int64_t oh = 0; oh < p.OH; oh++) {
    const Window& h = p.wh[oh];
    for (int64_t ow = 0; ow < p.OW; ow++) {
      const Window& w = p.ww[ow];
      float best = -std::numeric_limits<float>::infinity();
      int32_t at = static_cast<int32_t>(h.start * p.W + w.start);
      for (int64_t ih = h.start; ih < h.end; ih++) {
        for (int64_t iw = w.start; iw < w.end; iw++) {
          const float v = x[ih * p.W + iw];
          if (takes(v, best)) best = v, at = static_cast<int32_t>(ih * p.W + iw);
        }
      }
      y[oh * p.OW + ow] = best;
      idx[oh * p.OW + ow] = at;
    }
  }
}

/**
 * Fixed windows: each tap (kh, kw) updates a whole output row, over the columns whose input
 * position falls inside the image, so the inner loop needs no bounds tests. (Vectorising it
 * measured slower: LeNet's rows are 5 and 14 wide, and a strided load is a gather.)
 */
/**
 * Splits each row of x into its `stride` column phases: phases[(ih * stride + r) * cols + j] =
 * x[ih, j * stride + r]. Every tap of a strided window then reads consecutive floats, which the
 * compiler vectorises: ResNet's 3x3 stride-2 pooling of 64 planes of 112x112 took 4.0 ms with
 * strided reads. Stride 2 gets its own loop, which the compiler vectorises too.
 */
STRIDE_CLONES void splitPhases(const Pool& p, const float* x, float* phases) {
  const int64_t s = p.aw.stride, cols = (p.W + s - 1) / s;
  for (int64_t ih = 0; ih < p.H; ih++) {
    const float* row = x + ih * p.W;
    if (s == 2) {
      float* even = phases + 2 * ih * cols;
      float* odd = even + cols;
      for (int64_t j = 0; j < p.W / 2; j++) {
        even[j] = row[2 * j];
        odd[j] = row[2 * j + 1];
      }
      if (p.W % 2 != 0) even[p.W / 2] = row[p.W - 1];
      continue;
    }
    for (int64_t r = 0; r < s; r++) {
      float* dst = phases + (ih * s + r) * cols;
      for (int64_t j = 0; j * s + r < p.W; j++) dst[j] = row[j * s + r];
    }
  }
}

/** Where tap kw of every output column reads in the phases: see maxPlaneWindow. */
struct ColumnTap {
  int64_t offset, lo, hi;
  int32_t base;
};

/** `phases` is splitPhases' layout of x, or x itself at stride 1 (where the two are the same). */
STRIDE_CLONES void maxPlaneWindow(const Pool& p, const ColumnTap* taps, const float* phases, float* y, int32_t* idx) {
  const int64_t s = p.aw.stride, cols = (p.W + s - 1) / s;
  for (int64_t oh = 0; oh < p.OH; oh++) {
    float* best = y + oh * p.OW;
    int32_t* at = idx + oh * p.OW;
    for (int64_t ow = 0; ow < p.OW; ow++) {
      best[ow] = -std::numeric_limits<float>::infinity();
      at[ow] = static_cast<int32_t>(p.wh[oh].start * p.W + p.ww[ow].start);
    }
    for (int64_t kh = 0; kh < p.ah.kernel; kh++) {
      const int64_t ih = oh * p.ah.stride - p.ah.padding + kh * p.ah.dilation;
      if (ih < 0 || ih >= p.H) continue;
      for (int64_t kw = 0; kw < p.aw.kernel; kw++) {
        // A copy: read through the pointer, the bounds might alias best and at, and the loop
        // would not be vectorised.
        const ColumnTap t = taps[kw];
        const float* row = phases + ih * s * cols + t.offset;
        const int32_t base = static_cast<int32_t>(ih * p.W) + t.base;
        // Branch-free (keepMax): on real activations which tap wins is a coin toss, and the
        // mispredictions made this loop 20x slower (2 ms for LeNet-5's first pooling).
        for (int64_t ow = t.lo; ow < t.hi; ow++) keepMax(row[ow], base + static_cast<int32_t>(ow * s), best[ow], at[ow]);
      }
    }
  }
}

/**
 * Output column ow's tap kw reads column ow * s + shift = (ow + q) * s + r: phase r, entry ow + q,
 * for the ow whose entry exists. Worked out once per call: the divisions cost more than the taps.
 */
std::vector<ColumnTap> columnTaps(const Pool& p) {
  const Axis& a = p.aw;
  const int64_t s = a.stride, cols = (p.W + s - 1) / s;
  std::vector<ColumnTap> taps(a.kernel);
  for (int64_t kw = 0; kw < a.kernel; kw++) {
    const int64_t shift = kw * a.dilation - a.padding;
    const int64_t q = shift >= 0 ? shift / s : -((-shift + s - 1) / s), r = shift - q * s;
    const int64_t entries = (p.W - r + s - 1) / s;
    taps[kw] = {r * cols + q, std::max<int64_t>(0, -q), std::min(p.OW, entries - q), static_cast<int32_t>(q * s + r)};
  }
  return taps;
}

/** Even and odd lanes of the 32 floats lo, hi: a row's left and right taps of 16 windows. */
STRIDE_INLINE v16 evens(const v16& lo, const v16& hi) {
  return __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}
STRIDE_INLINE v16 odds(const v16& lo, const v16& hi) {
  return __builtin_shufflevector(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}

/**
 * The common 2x2 window with stride 2 and no padding. The plane's rows are first split into the
 * four taps' arrays (taps[k * stride + o] for output o = oh * OW + ow, stride = OH * OW + 16), so
 * the max then runs over the whole plane as one loop the compiler vectorises, whatever the row width: LeNet-5's poolings
 * were one output at a time (rows of 14 and 5 outputs), 0.21 and 0.15 ms per batch. The split
 * takes 16 windows of a row pair at a time with vector shuffles (scalar copies took most of the
 * call: 64x6x28x28 on one thread 143 -> 59 us); a row's last vector may spill into the next row's entries, which are written after it,
 * or into the padding. `first` holds each output's first tap, the index its window defaults to;
 * `end` is the end of x's buffer, which vector loads must not pass.
 */
STRIDE_CLONES void maxPlane2x2(const Pool& p, const int32_t* first, const float* x, const float* end, float* y, int32_t* idx, float* taps) {
  const int64_t n = p.OH * p.OW, stride = n + kLanes;
  for (int64_t oh = 0; oh < p.OH; oh++) {
    const float* r0 = x + 2 * oh * p.W;
    const float* r1 = r0 + p.W;
    float* t = taps + oh * p.OW;
    for (int64_t ow = 0; ow < p.OW; ow += kLanes) {
      if (r1 + 2 * ow + 2 * kLanes <= end) {
        const v16 a = load(r0 + 2 * ow), b = load(r0 + 2 * ow + kLanes), c = load(r1 + 2 * ow), d = load(r1 + 2 * ow + kLanes);
        store(t + ow, evens(a, b));
        store(t + stride + ow, odds(a, b));
        store(t + 2 * stride + ow, evens(c, d));
        store(t + 3 * stride + ow, odds(c, d));
        continue;
      }
      for (int64_t j = ow; j < std::min(p.OW, ow + kLanes); j++) {
        t[j] = r0[2 * j];
        t[stride + j] = r0[2 * j + 1];
        t[2 * stride + j] = r1[2 * j];
        t[3 * stride + j] = r1[2 * j + 1];
      }
    }
  }
  const int32_t below = static_cast<int32_t>(p.W);
  for (int64_t o = 0; o < n; o++) {
    float best = taps[o];
    int32_t at = first[o];
    // Later taps in the general loop's order: a NaN first tap stays unless a later NaN replaces it.
    keepMax(taps[stride + o], first[o] + 1, best, at);
    keepMax(taps[2 * stride + o], first[o] + below, best, at);
    keepMax(taps[3 * stride + o], first[o] + below + 1, best, at);
    y[o] = best;
    idx[o] = at;
  }
}

/**
 * A block of 16 channels in oneDNN's nChw16c layout (x [H][W][16] to y [OH][OW][16]), fixed
 * windows: as maxPlaneWindow, each tap updates a whole output row, here of 16 lanes per position
 * (the loop over lanes vectorises; written per position, the compiler made scalar code of it).
 * Taps come in the reference's order for every output. The indices are written plain (lane l's
 * plane at idx + l * OH * OW): only a gradient reads them. `best` and `at` hold one output row.
 * ResNet's stem pooling reads its convolution's blocked output as it is instead of reordering it.
 */
STRIDE_CLONES void maxBlock16(const Pool& p, const float* x, float* y, int32_t* idx, float* best, int32_t* at) {
  const Axis& a = p.aw;
  for (int64_t oh = 0; oh < p.OH; oh++) {
    for (int64_t ow = 0; ow < p.OW; ow++) {
      const int32_t first = static_cast<int32_t>(p.wh[oh].start * p.W + p.ww[ow].start);
      for (int64_t l = 0; l < kLanes; l++) best[ow * kLanes + l] = -std::numeric_limits<float>::infinity(), at[ow * kLanes + l] = first;
    }
    for (int64_t kh = 0; kh < p.ah.kernel; kh++) {
      const int64_t ih = oh * p.ah.stride - p.ah.padding + kh * p.ah.dilation;
      if (ih < 0 || ih >= p.H) continue;
      for (int64_t kw = 0; kw < a.kernel; kw++) {
        // Output columns whose tap kw reads inside the row: 0 <= ow * stride + shift < W.
        const int64_t shift = kw * a.dilation - a.padding;
        const int64_t lo = shift >= 0 ? 0 : (-shift + a.stride - 1) / a.stride;
        const int64_t hi = std::min(p.OW, p.W - shift <= 0 ? 0 : (p.W - shift - 1) / a.stride + 1);
        for (int64_t ow = lo; ow < hi; ow++) {
          const int64_t iw = ow * a.stride + shift;
          const float* v = x + (ih * p.W + iw) * kLanes;
          const int32_t i = static_cast<int32_t>(ih * p.W + iw);
          float* b = best + ow * kLanes;
          int32_t* t = at + ow * kLanes;
          for (int64_t l = 0; l < kLanes; l++) keepMax(v[l], i, b[l], t[l]);
        }
      }
    }
    std::memcpy(y + oh * p.OW * kLanes, best, p.OW * kLanes * sizeof(float));
    for (int64_t l = 0; l < kLanes; l++) {
      for (int64_t ow = 0; ow < p.OW; ow++) idx[l * p.outPlane() + oh * p.OW + ow] = at[ow * kLanes + l];
    }
  }
}

STRIDE_CLONES void avgPlane(const Pool& p, const AvgOptions& opts, const float* x, float* y) {
  for (int64_t oh = 0; oh < p.OH; oh++) {
    const Window& h = p.wh[oh];
    for (int64_t ow = 0; ow < p.OW; ow++) {
      const Window& w = p.ww[ow];
      double s = 0;
      for (int64_t ih = h.start; ih < h.end; ih++) {
        for (int64_t iw = w.start; iw < w.end; iw++) s += x[ih * p.W + iw];
      }
      y[oh * p.OW + ow] = static_cast<float>(s / opts.divisor(h, w));
    }
  }
}

STRIDE_CLONES void avgGradPlane(const Pool& p, const AvgOptions& opts, const float* gy, float* gx, double* acc) {
  std::fill(acc, acc + p.inPlane(), 0.0);
  for (int64_t oh = 0; oh < p.OH; oh++) {
    const Window& h = p.wh[oh];
    for (int64_t ow = 0; ow < p.OW; ow++) {
      const Window& w = p.ww[ow];
      const double g = gy[oh * p.OW + ow] / opts.divisor(h, w);
      for (int64_t ih = h.start; ih < h.end; ih++) {
        for (int64_t iw = w.start; iw < w.end; iw++) acc[ih * p.W + iw] += g;
      }
    }
  }
  for (int64_t i = 0; i < p.inPlane(); i++) gx[i] = static_cast<float>(acc[i]);
}

/**
 * maxBlock16 for the common 2x2 window at stride 2 without padding (LeNet-5's second pooling):
 * a position's four taps are four whole 16-lane rows, compared in the reference's order in loops
 * over the lanes the compiler vectorises. 64 images of 16x10x10, one thread: 49 -> 26 us alone;
 * in a LeNet-5 step on two threads 133-164 -> 78-103 us (interleaved steps).
 */
STRIDE_CLONES void maxBlock16Halving(const Pool& p, const float* x, float* y, int32_t* idx) {
  const int64_t W = p.W, OW = p.OW, plane = p.outPlane();
  const int32_t below = static_cast<int32_t>(W);
  for (int64_t oh = 0; oh < p.OH; oh++) {
    for (int64_t ow = 0; ow < OW; ow++) {
      const int32_t i = static_cast<int32_t>(2 * oh * W + 2 * ow);
      const float* v = x + i * kLanes;
      const int64_t o = oh * OW + ow;
      float best[kLanes];
      int32_t at[kLanes];
      for (int64_t l = 0; l < kLanes; l++) {
        best[l] = v[l];
        at[l] = i;
        keepMax(v[kLanes + l], i + 1, best[l], at[l]);
        keepMax(v[below * kLanes + l], i + below, best[l], at[l]);
        keepMax(v[(below + 1) * kLanes + l], i + below + 1, best[l], at[l]);
      }
      std::memcpy(y + o * kLanes, best, sizeof best);
      for (int64_t l = 0; l < kLanes; l++) idx[l * plane + o] = at[l];
    }
  }
}

}  // namespace

// maxPool2d(x, out, indices, geometry + [indices offset, blocked]): blocked, x and out are
// nChw16c (the indices stay nchw).
napi_value maxPool2d(Call& c) {
  const Array x = c.array(0, napi_float32_array, "x");
  const Array out = c.array(1, napi_float32_array, "out");
  const Array indices = c.array(2, napi_int32_array, "indices");
  size_t count;
  const double* meta = c.meta(3, &count);
  Meta m(meta, count);
  const Pool p(m);
  const int64_t idxOffset = m.next();
  const bool blocked = m.next() != 0;
  checkBlock(x, p.inOffset, p.planes * p.inPlane(), "x");
  checkBlock(out, p.outOffset, p.planes * p.outPlane(), "out");
  checkBlock(indices, idxOffset, p.planes * p.outPlane(), "indices");
  if (blocked) {
    if (p.C % kBlock16 != 0 || p.adaptive) throw Error("a blocked max pooling needs fixed windows and channels in sixteens, got " + std::to_string(p.C));
    const int64_t blocks = p.planes / kBlock16, in = kBlock16 * p.inPlane(), o = kBlock16 * p.outPlane();
    // Per thread, one output row's maxima and indices, allocated here: nothing may throw inside the parallel region.
    const int threads = p.parallel() ? omp_get_max_threads() : 1;
    std::vector<float> rows(threads * p.OW * kBlock16);
    std::vector<int32_t> rowIndices(threads * p.OW * kBlock16);
    const bool halving = p.isPlain2x2();
#pragma omp parallel for num_threads(threads)
    for (int64_t b = 0; b < blocks; b++) {
      const int64_t t = omp_get_thread_num() * p.OW * kBlock16;
      if (halving) {
        maxBlock16Halving(p, x.as<float>() + p.inOffset + b * in, out.as<float>() + p.outOffset + b * o, indices.as<int32_t>() + idxOffset + b * o);
        continue;
      }
      maxBlock16(p, x.as<float>() + p.inOffset + b * in, out.as<float>() + p.outOffset + b * o, indices.as<int32_t>() + idxOffset + b * o,
                 rows.data() + t, rowIndices.data() + t);
    }
    return c.undefined();
  }
  const bool halving = p.isPlain2x2(), split = !p.adaptive && !halving && p.aw.stride > 1;
  // Per thread, a plane's taps or column phases, allocated here: nothing may throw inside the
  // parallel region.
  const int threads = p.parallel() ? omp_get_max_threads() : 1;
  const int64_t perThread = halving ? 4 * (p.outPlane() + kLanes) : split ? p.H * p.aw.stride * ((p.W + p.aw.stride - 1) / p.aw.stride) : 0;
  std::vector<float> scratch(threads * perThread);
  const std::vector<ColumnTap> taps = p.adaptive ? std::vector<ColumnTap>() : columnTaps(p);
  std::vector<int32_t> first(halving ? p.outPlane() : 0);
  for (int64_t o = 0; o < static_cast<int64_t>(first.size()); o++) first[o] = static_cast<int32_t>(2 * (o / p.OW) * p.W + 2 * (o % p.OW));
#pragma omp parallel for num_threads(threads)
  for (int64_t pl = 0; pl < p.planes; pl++) {
    const float* xp = x.as<float>() + p.inOffset + pl * p.inPlane();
    float* yp = out.as<float>() + p.outOffset + pl * p.outPlane();
    int32_t* ip = indices.as<int32_t>() + idxOffset + pl * p.outPlane();
    float* mine = scratch.data() + omp_get_thread_num() * perThread;
    if (p.adaptive) {
      maxPlaneAdaptive(p, xp, yp, ip);
    } else if (halving) {
      maxPlane2x2(p, first.data(), xp, x.as<float>() + x.length, yp, ip, mine);
    } else if (split) {
      splitPhases(p, xp, mine);
      maxPlaneWindow(p, taps.data(), mine, yp, ip);
    } else {
      maxPlaneWindow(p, taps.data(), xp, yp, ip);
    }
  }
  return c.undefined();
}

// maxPool2dGrad(gy, indices, gx, [planes, C, inPlane, outPlane, gy offset, indices offset, gx offset,
// gx blocked, gy blocked]) → false on an index outside the plane (the reference then throws).
// Blocked, gx (and gy, which may only be so when gx is) are nChw16c; the indices, as maxPool2d
// writes them, stay nchw.
napi_value maxPool2dGrad(Call& c) {
  const Array gy = c.array(0, napi_float32_array, "gy");
  const Array indices = c.array(1, napi_int32_array, "indices");
  const Array gx = c.array(2, napi_float32_array, "gx");
  size_t count;
  const double* meta = c.meta(3, &count);
  Meta m(meta, count);
  int64_t g[4];
  m.dims(4, g, true);
  const int64_t planes = g[0], C = g[1], inPlane = g[2], outPlane = g[3];
  const int64_t gyOffset = m.next(), idxOffset = m.next(), gxOffset = m.next();
  const bool blocked = m.next() != 0, gyBlocked = m.next() != 0;
  checkBlock(gy, gyOffset, planes * outPlane, "gy");
  checkBlock(indices, idxOffset, planes * outPlane, "indices");
  checkBlock(gx, gxOffset, planes * inPlane, "gx");
  if ((blocked || gyBlocked) && C % kBlock16 != 0) throw Error("a blocked max pooling gradient needs channels in sixteens, got " + std::to_string(C));
  if (gyBlocked && !blocked) throw Error("a blocked gy needs a blocked gx");
  // A group is one plane, or sixteen blocked ones (the lanes). gy's lane l at output o is at
  // o * gyPosition + l * gyLane within its group.
  const int64_t lanes = blocked ? kBlock16 : 1, groups = planes / lanes;
  const int64_t gyLane = gyBlocked ? 1 : outPlane, gyPosition = gyBlocked ? kBlock16 : 1;
  bool bad = false;
#pragma omp parallel for reduction(|| : bad) if (planes * inPlane >= kCheapGrain)
  for (int64_t b = 0; b < groups; b++) {
    float* x = gx.as<float>() + gxOffset + b * lanes * inPlane;
    const float* y = gy.as<float>() + gyOffset + b * lanes * outPlane;
    const int32_t* at = indices.as<int32_t>() + idxOffset + b * lanes * outPlane;
    std::fill(x, x + lanes * inPlane, 0.0f);
    for (int64_t l = 0; l < lanes; l++) {
      for (int64_t o = 0; o < outPlane; o++) {
        const int32_t i = at[l * outPlane + o];
        if (i < 0 || i >= inPlane) {
          bad = true;
          continue;
        }
        x[i * lanes + l] += y[o * gyPosition + l * gyLane];
      }
    }
  }
  return c.boolean(!bad);
}

// avgPool2d(x, out, geometry + [countIncludePad, divisorOverride or NaN])
napi_value avgPool2d(Call& c) {
  const Array x = c.array(0, napi_float32_array, "x");
  const Array out = c.array(1, napi_float32_array, "out");
  size_t count;
  const double* meta = c.meta(2, &count);
  Meta m(meta, count);
  const Pool p(m);
  const AvgOptions opts(m);
  checkBlock(x, p.inOffset, p.planes * p.inPlane(), "x");
  checkBlock(out, p.outOffset, p.planes * p.outPlane(), "out");
#pragma omp parallel for if (p.parallel())
  for (int64_t pl = 0; pl < p.planes; pl++) {
    avgPlane(p, opts, x.as<float>() + p.inOffset + pl * p.inPlane(), out.as<float>() + p.outOffset + pl * p.outPlane());
  }
  return c.undefined();
}

// avgPool2dGrad(gy, gx, geometry + [countIncludePad, divisorOverride or NaN]); the geometry's
// input is gx and its output gy.
napi_value avgPool2dGrad(Call& c) {
  const Array gy = c.array(0, napi_float32_array, "gy");
  const Array gx = c.array(1, napi_float32_array, "gx");
  size_t count;
  const double* meta = c.meta(2, &count);
  Meta m(meta, count);
  const Pool p(m);
  const AvgOptions opts(m);
  checkBlock(gx, p.inOffset, p.planes * p.inPlane(), "gx");
  checkBlock(gy, p.outOffset, p.planes * p.outPlane(), "gy");
  // One float64 plane per thread, allocated here: nothing may throw inside the parallel region.
  const int threads = p.parallel() ? omp_get_max_threads() : 1;
  std::vector<double> acc(threads * p.inPlane());
#pragma omp parallel for num_threads(threads)
  for (int64_t pl = 0; pl < p.planes; pl++) {
    avgGradPlane(p, opts, gy.as<float>() + p.outOffset + pl * p.outPlane(), gx.as<float>() + p.inOffset + pl * p.inPlane(),
                 acc.data() + omp_get_thread_num() * p.inPlane());
  }
  return c.undefined();
}

}  // namespace stride
