// Convolutions vectorised over the batch. Activations are copied into a position-major,
// batch-minor layout, [rows][columns][channels][lanes], lanes being the batch rounded up to whole
// 16-float vectors (the extra lanes zero): every vector then holds one value of 16 images, so
// each multiply-add is useful whatever the channel counts or plane size, with no im2col and no
// channel padding. Tiles of 4 channels x 4 vectors accumulate in 16 registers.
#include "batch_conv.h"

#include <algorithm>
#include <vector>

#include "strided.h"
#include "v16.h"

namespace stride {

bool batchConvApplies(const ConvShape& g, int64_t channels) {
  if (!(g.G == 1 && g.C > 4 && g.N >= 32 && g.OH * g.OW <= 1024 && g.H * g.W <= 1024 && channels % 16 != 0)) return false;
  // The transposed copies (kept for the next call) stay under 16 MB: a large evaluation batch of
  // a wide layer goes to oneDNN rather than a copy of all its activations.
  const int64_t lanes = (g.N + 15) / 16 * 16;
  const int64_t Hp = (g.OH - 1) * g.sh + (g.KH - 1) * g.dh + 1, Wp = (g.OW - 1) * g.sw + (g.KW - 1) * g.dw + 1;
  return (std::max(Hp * Wp, g.H * g.W) * g.C + g.OH * g.OW * g.O) * lanes <= (int64_t{1} << 22);
}

namespace {

constexpr int kBlock = 4;  // channels and vectors per tile: 16 accumulators

/**
 * Floats from one position to the next for `channels` channels of `lanes` images. A multiple of
 * 1 KiB gets one cache line more: positions 4 KiB apart share their L1 sets, and the input
 * gradient's taps walk a row of them (LeNet-5's gy: 16 channels x 64 images).
 */
int64_t pitch(int64_t channels, int64_t lanes) {
  const int64_t p = channels * lanes;
  return p % 256 == 0 ? p + kLanes : p;
}

/** Lanes per position, the pitches of input and output positions, and the padded input's size: windows never leave it. */
struct Layout {
  int64_t lanes, vectors, xPitch, yPitch, Hp, Wp;

  explicit Layout(const ConvShape& g)
      : lanes((g.N + kLanes - 1) / kLanes * kLanes),
        vectors(lanes / kLanes),
        xPitch(pitch(g.C, lanes)),
        yPitch(pitch(g.O, lanes)),
        Hp((g.OH - 1) * g.sh + (g.KH - 1) * g.dh + 1),
        Wp((g.OW - 1) * g.sw + (g.KW - 1) * g.dw + 1) {}
};

/** A grow-only buffer per slot and thread, so a training step does not map fresh pages per call. */
float* buffer(int slot, int64_t floats) {
  thread_local std::vector<float> buffers[3];
  if (static_cast<int64_t>(buffers[slot].size()) < floats) buffers[slot].resize(floats);
  return buffers[slot].data();
}

bool parallel(int64_t elements) { return elements >= kCheapGrain && omp_get_max_threads() > 1; }

// The transposes walk images innermost: each image's row of a plane is one cache line or two,
// read (or written) for 16 consecutive positions while it stays in L1; walking positions
// innermost instead wrote one float per line and took longer than the convolution.

/**
 * t[(r * cols + q) * pitch + c * lanes + n] = a[n, c, r - pr, q - pq] for a [N, C, H, W], nchw or
 * (blocked, C in sixteens) nChw16c; positions outside a and lanes past N are zeroed first when
 * there are any.
 */
STRIDE_CLONES void toLanes(const float* a, bool blocked, int64_t N, int64_t C, int64_t H, int64_t W, float* t, int64_t lanes, int64_t pitch, int64_t rows, int64_t cols, int64_t pr, int64_t pq) {
  if (lanes != N || rows != H || cols != W || pr != 0 || pq != 0) std::fill_n(t, rows * cols * pitch, 0.0f);
  const int64_t h0 = std::max<int64_t>(0, -pr), h1 = std::min(H, rows - pr), w0 = std::max<int64_t>(0, -pq), w1 = std::min(W, cols - pq);
  const int64_t image = C * H * W;
  if (blocked) {
    // A position's 16 channels of 16 images at a time: 16 whole cache lines, transposed in
    // registers into 16 vectors of images (a float at a time, each line was read 16 times).
#pragma omp parallel for collapse(2) if (parallel(N * C * H * W))
    for (int64_t cb = 0; cb < C / kLanes; cb++) {
      for (int64_t h = h0; h < h1; h++) {
        for (int64_t w = w0; w < w1; w++) {
          const float* src = a + ((cb * H + h) * W + w) * kLanes;
          float* dst = t + ((h + pr) * cols + w + pq) * pitch + cb * kLanes * lanes;
          for (int64_t n0 = 0; n0 < N; n0 += kLanes) {
            v16 r[kLanes] = {};
            for (int64_t j = 0; j < std::min(kLanes, N - n0); j++) r[j] = load(src + (n0 + j) * image);
            transpose16(r);
            for (int64_t c = 0; c < kLanes; c++) store(dst + c * lanes + n0, r[c]);
          }
        }
      }
    }
    return;
  }
#pragma omp parallel for if (parallel(N * C * H * W))
  for (int64_t c = 0; c < C; c++) {
    for (int64_t h = h0; h < h1; h++) {
      for (int64_t w = w0; w < w1; w++) {
        const float* src = a + (c * H + h) * W + w;
        float* dst = t + ((h + pr) * cols + w + pq) * pitch + c * lanes;
        for (int64_t n = 0; n < N; n++) dst[n] = src[n * image];
      }
    }
  }
}

/**
 * a[n, c, h, w] = t[(h * W + w) * pitch + c * lanes + n]: toLanes' inverse without padding. 16
 * positions of 16 images at a time are transposed in registers and stored as 16 runs of
 * positions; the plane's last positions, fewer than 16, a float at a time.
 */
STRIDE_CLONES void fromLanes(const float* t, int64_t N, int64_t C, int64_t H, int64_t W, int64_t lanes, int64_t pitch, float* a) {
  const int64_t image = C * H * W, whole = H * W / kLanes * kLanes;
#pragma omp parallel for if (parallel(N * C * H * W))
  for (int64_t c = 0; c < C; c++) {
    for (int64_t p0 = 0; p0 < whole; p0 += kLanes) {
      for (int64_t n0 = 0; n0 < N; n0 += kLanes) {
        v16 r[kLanes];
        for (int64_t i = 0; i < kLanes; i++) r[i] = load(t + (p0 + i) * pitch + c * lanes + n0);
        transpose16(r);
        for (int64_t j = 0; j < std::min(kLanes, N - n0); j++) store(a + (n0 + j) * image + c * H * W + p0, r[j]);
      }
    }
    for (int64_t p = whole; p < H * W; p++) {
      const float* src = t + p * pitch + c * lanes;
      float* dst = a + c * H * W + p;
      for (int64_t n = 0; n < N; n++) dst[n * image] = src[n];
    }
  }
}

STRIDE_INLINE float sum(const v16& v) {
  float s = 0;
  for (int i = 0; i < kLanes; i++) s += v[i];
  return s;
}

/**
 * n split into the fewest blocks of at most kBlock, their sizes differing by one at most: 6
 * channels as 3 + 3, since a 4 x 2 tile loads 6 vectors per 8 products where 4 x 3 loads 7 per 12.
 */
struct Blocks {
  int64_t n, count;
  explicit Blocks(int64_t n, int64_t most = kBlock) : n(n), count((n + most - 1) / most) {}
  int64_t start(int64_t i) const { return i * n / count; }
  int64_t size(int64_t i) const { return start(i + 1) - start(i); }
};

/**
 * Up to kWide channels per tile for the input gradient: 24 accumulators, which AVX-512's 32
 * registers hold (AVX2's 16 would spill them: wideBlock() says which to use).
 */
constexpr int kWide = 6;
int64_t wideBlock() {
  static const int64_t most = __builtin_cpu_supports("avx512f") ? kWide : kBlock;
  return most;
}

/** Calls K::run<A, B>(args...) for runtime a in [1, MaxA], b in [1, kBlock]: the tile sizes as constants. */
template <int MaxA, class K, class... Args>
STRIDE_INLINE void tile(int64_t a, int64_t b, Args&&... args) {
  switch ((a - 1) * kBlock + (b - 1)) {
#define STRIDE_CASE(i) \
  case i:                                                                       \
    if constexpr (i / kBlock < MaxA) K::template run<i / kBlock + 1, i % kBlock + 1>(args...); \
    break;
    STRIDE_CASE(0) STRIDE_CASE(1) STRIDE_CASE(2) STRIDE_CASE(3) STRIDE_CASE(4) STRIDE_CASE(5) STRIDE_CASE(6) STRIDE_CASE(7)
    STRIDE_CASE(8) STRIDE_CASE(9) STRIDE_CASE(10) STRIDE_CASE(11) STRIDE_CASE(12) STRIDE_CASE(13) STRIDE_CASE(14) STRIDE_CASE(15)
    STRIDE_CASE(16) STRIDE_CASE(17) STRIDE_CASE(18) STRIDE_CASE(19) STRIDE_CASE(20) STRIDE_CASE(21) STRIDE_CASE(22) STRIDE_CASE(23)
#undef STRIDE_CASE
  }
}

/** OB output channels x NV vectors of images at one output position; wT is [KH][KW][C][O]. */
struct ForwardTile {
  template <int OB, int NV>
  STRIDE_INLINE static void run(const ConvShape& g, const Layout& l, const float* xT, const float* wT, const float* bias, float* yT, int64_t o0, int64_t oh, int64_t ow, int64_t v0) {
    v16 acc[OB][NV] = {};
    if (bias) {
      for (int o = 0; o < OB; o++) {
        for (int v = 0; v < NV; v++) acc[o][v] += bias[o0 + o];
      }
    }
    for (int64_t kh = 0; kh < g.KH; kh++) {
      for (int64_t kw = 0; kw < g.KW; kw++) {
        const float* xp = xT + ((oh * g.sh + kh * g.dh) * l.Wp + ow * g.sw + kw * g.dw) * l.xPitch + v0 * kLanes;
        const float* wp = wT + (kh * g.KW + kw) * g.C * g.O + o0;
        for (int64_t c = 0; c < g.C; c++, xp += l.lanes, wp += g.O) {
          v16 xv[NV];
          for (int v = 0; v < NV; v++) xv[v] = load(xp + v * kLanes);
          for (int o = 0; o < OB; o++) {
            const float wv = wp[o];
            for (int v = 0; v < NV; v++) acc[o][v] += xv[v] * wv;
          }
        }
      }
    }
    float* yp = yT + (oh * g.OW + ow) * l.yPitch + o0 * l.lanes + v0 * kLanes;
    for (int o = 0; o < OB; o++) {
      for (int v = 0; v < NV; v++) store(yp + o * l.lanes + v * kLanes, acc[o][v]);
    }
  }
};

STRIDE_CLONES void forwardRow(const ConvShape& g, const Layout& l, const float* xT, const float* wT, const float* bias, float* yT, int64_t oh, int64_t o0, int64_t ob) {
  const Blocks vb(l.vectors);
  for (int64_t ow = 0; ow < g.OW; ow++) {
    for (int64_t j = 0; j < vb.count; j++) tile<kBlock, ForwardTile>(ob, vb.size(j), g, l, xT, wT, bias, yT, o0, oh, ow, vb.start(j));
  }
}

/**
 * The taps that reach each input row (or column): pairs (k, output index) with i = out * s + k * d
 * - p, listed per i from first[i] to first[i + 1].
 */
struct Reach {
  std::vector<int64_t> first, k, out;

  Reach(int64_t size, int64_t K, int64_t outSize, int64_t s, int64_t d, int64_t p) : first(size + 1) {
    for (int64_t i = 0; i < size; i++) {
      first[i] = static_cast<int64_t>(k.size());
      for (int64_t kk = 0; kk < K; kk++) {
        const int64_t t = i + p - kk * d;
        if (t >= 0 && t % s == 0 && t / s < outSize) {
          k.push_back(kk);
          out.push_back(t / s);
        }
      }
    }
    first[size] = static_cast<int64_t>(k.size());
  }
};

/** CB input channels x NV vectors of images at input position (ih, iw); wT is [KH][KW][O][C]. */
struct InputGradTile {
  template <int CB, int NV>
  STRIDE_INLINE static void run(const ConvShape& g, const Layout& l, const Reach& rows, const Reach& cols, const float* gyT, const float* wT, float* gxT, int64_t c0, int64_t ih, int64_t iw, int64_t v0) {
    v16 acc[CB][NV] = {};
    for (int64_t i = rows.first[ih]; i < rows.first[ih + 1]; i++) {
      for (int64_t j = cols.first[iw]; j < cols.first[iw + 1]; j++) {
        const float* gp = gyT + (rows.out[i] * g.OW + cols.out[j]) * l.yPitch + v0 * kLanes;
        const float* wp = wT + (rows.k[i] * g.KW + cols.k[j]) * g.O * g.C + c0;
        for (int64_t o = 0; o < g.O; o++, gp += l.lanes, wp += g.C) {
          v16 gv[NV];
          for (int v = 0; v < NV; v++) gv[v] = load(gp + v * kLanes);
          for (int c = 0; c < CB; c++) {
            const float wv = wp[c];
            for (int v = 0; v < NV; v++) acc[c][v] += gv[v] * wv;
          }
        }
      }
    }
    float* xp = gxT + (ih * g.W + iw) * l.xPitch + c0 * l.lanes + v0 * kLanes;
    for (int c = 0; c < CB; c++) {
      for (int v = 0; v < NV; v++) store(xp + c * l.lanes + v * kLanes, acc[c][v]);
    }
  }
};

STRIDE_CLONES void inputGradRow(const ConvShape& g, const Layout& l, const Reach& rows, const Reach& cols, const float* gyT, const float* wT, float* gxT, int64_t ih, int64_t c0, int64_t cb) {
  const Blocks vb(l.vectors);
  for (int64_t iw = 0; iw < g.W; iw++) {
    for (int64_t j = 0; j < vb.count; j++) tile<kWide, InputGradTile>(cb, vb.size(j), g, l, rows, cols, gyT, wT, gxT, c0, ih, iw, vb.start(j));
  }
}

/**
 * w [O, C, KH, KW] as [KH][KW][C][O] (outputsInner, for the forward) or [KH][KW][O][C]: a tile's
 * channels side by side.
 */
const float* tapMajor(const ConvShape& g, const float* w, bool outputsInner) {
  float* wT = buffer(1, g.KH * g.KW * g.C * g.O);
  for (int64_t i = 0; i < g.O * g.C * g.KH * g.KW; i++) {
    const int64_t tap = i % (g.KH * g.KW), c = i / (g.KH * g.KW) % g.C, o = i / (g.KH * g.KW * g.C);
    wT[outputsInner ? (tap * g.C + c) * g.O + o : (tap * g.O + o) * g.C + c] = w[i];
  }
  return wT;
}

}  // namespace

// Buffers are taken before the parallel regions and the tiles write disjoint outputs: nothing
// inside a region can throw or race.

void batchConvForward(const ConvShape& g, const float* x, const float* w, const float* bias, float* y) {
  const Layout l(g);
  float* xT = buffer(0, l.Hp * l.Wp * l.xPitch);
  toLanes(x, false, g.N, g.C, g.H, g.W, xT, l.lanes, l.xPitch, l.Hp, l.Wp, g.ph, g.pw);
  const float* wT = tapMajor(g, w, true);
  float* yT = buffer(2, g.OH * g.OW * l.yPitch);
  const Blocks ob(g.O);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < g.OH * ob.count; i++) forwardRow(g, l, xT, wT, bias, yT, i / ob.count, ob.start(i % ob.count), ob.size(i % ob.count));
  fromLanes(yT, g.N, g.O, g.OH, g.OW, l.lanes, l.yPitch, y);
}

void batchConvInputGrad(const ConvShape& g, const float* gy, bool gyBlocked, const float* w, float* gx) {
  const Layout l(g);
  float* gyT = buffer(0, g.OH * g.OW * l.yPitch);
  toLanes(gy, gyBlocked, g.N, g.O, g.OH, g.OW, gyT, l.lanes, l.yPitch, g.OH, g.OW, 0, 0);
  const float* wT = tapMajor(g, w, false);
  const Reach rows(g.H, g.KH, g.OH, g.sh, g.dh, g.ph), cols(g.W, g.KW, g.OW, g.sw, g.dw, g.pw);
  float* gxT = buffer(2, g.H * g.W * l.xPitch);
  // All of LeNet-5's 6 channels in one tile: each vector of gy loaded feeds 6 products, not 3
  // (82 GFLOP/s instead of 65 on one Zen 4 core for its second convolution).
  const Blocks cb(g.C, wideBlock());
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < g.H * cb.count; i++) inputGradRow(g, l, rows, cols, gyT, wT, gxT, i / cb.count, cb.start(i % cb.count), cb.size(i % cb.count));
  fromLanes(gxT, g.N, g.C, g.H, g.W, l.lanes, l.xPitch, gx);
}

}  // namespace stride
