// Winograd's minimal filtering F(4x4, 3x3) (Lavin and Gray, 2015) for 3x3 stride-1 convolutions,
// with vectors over 16 channels (the blocked layout's inner dimension). Per 4x4 tile of the
// output, the 6x6 patch d of the input under it and the 3x3 kernel g give
//   y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A,
// and summed over input channels that is, per point of the 6x6 transform domain, a matrix product
// [tiles x C] · [C x O]: 36 products with 4x fewer multiply-adds than the direct convolution.
// The input gradient is the same correlation of gy with the kernels turned 180° and transposed.
// The weight gradient gw[o, c, u, v] = Σ gy[n, o, i, j] · x[n, c, i + u - ph, j + v - pw] is, per
// 4x4 tile of gy, a correlation of the 6x6 patch of x under it with that tile, giving 3x3: the
// transpose of F(4x4, 3x3) computes it as
//   gw = Gᵀ [ Σ_tiles (A gy Aᵀ) ⊙ (Bᵀ x B) ] G,
// per point a product [O x tiles] · [tiles x C].
#include "winograd.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "strided.h"
#include "v16.h"

namespace stride {

bool winogradApplies(const ConvShape& g) {
  const int64_t tiles = g.N * ((g.OH + 3) / 4) * ((g.OW + 3) / 4);
  return g.G == 1 && g.KH == 3 && g.KW == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.ph <= 2 && g.pw <= 2 &&
         g.OH == g.H + 2 * g.ph - 2 && g.OW == g.W + 2 * g.pw - 2 && g.C % kLanes == 0 && g.O % kLanes == 0 &&
         tiles >= 32;
}

namespace {

constexpr int kPoints = 36;  // the 6x6 transform domain

/** An activation, nchw or nChw16c, read 16 channels at a time. */
struct Activation {
  const float* data;
  int64_t C, H, W;
  bool blocked;

  /** The ROWS x COLS patch at (h, w) into d (row-major), zero outside the plane. */
  template <int ROWS, int COLS>
  STRIDE_INLINE void patch(int64_t n, int64_t c0, int64_t h, int64_t w, v16* d) const {
    // The part inside the plane: all of it but at the edges (a whole 8x8 plane of 4x4 tiles is edge).
    const int64_t a0 = std::max<int64_t>(0, -h), a1 = std::min<int64_t>(ROWS, H - h);
    const int64_t b0 = std::max<int64_t>(0, -w), b1 = std::min<int64_t>(COLS, W - w);
    if (a0 > 0 || a1 < ROWS || b0 > 0 || b1 < COLS) {
      for (int i = 0; i < ROWS * COLS; i++) d[i] = v16{};
    }
    if (blocked) {
      // A blocked patch's rows are runs of vectors.
      const float* p = data + (((n * (C / kLanes) + c0 / kLanes) * H + h) * W + w) * kLanes;
      for (int64_t a = a0; a < a1; a++) {
        for (int64_t b = b0; b < b1; b++) d[a * COLS + b] = load(p + (a * W + b) * kLanes);
      }
      return;
    }
    const float* p = data + ((n * C + c0) * H + h) * W + w;
    for (int64_t a = a0; a < a1; a++) {
      for (int64_t b = b0; b < b1; b++) {
        for (int l = 0; l < kLanes; l++) d[a * COLS + b][l] = p[l * H * W + a * W + b];
      }
    }
  }
};

// F(4x4, 3x3)'s transforms of one column (vectors over 16 channels); each is applied to a
// patch's columns and then to its rows (Transform2d).

/** Bᵀ d: the input's 6x6 patch. */
struct InputTransform {
  static constexpr int kIn = 6, kOut = 6;
  STRIDE_INLINE static void column(const v16* d, v16* o) {
    o[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
    o[1] = d[3] + d[4] - 4.0f * (d[1] + d[2]);
    o[2] = 4.0f * (d[1] - d[2]) - d[3] + d[4];
    o[3] = 2.0f * (d[3] - d[1]) - d[2] + d[4];
    o[4] = 2.0f * (d[1] - d[3]) - d[2] + d[4];
    o[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
  }
};

/** G g: a 3x3 kernel. */
struct KernelTransform {
  static constexpr int kIn = 3, kOut = 6;
  STRIDE_INLINE static void column(const v16* g, v16* o) {
    constexpr float sixth = 1.0f / 6, twelfth = 1.0f / 12, twentyfourth = 1.0f / 24;
    o[0] = 0.25f * g[0];
    o[1] = -sixth * (g[0] + g[1] + g[2]);
    o[2] = -sixth * (g[0] - g[1] + g[2]);
    o[3] = twentyfourth * g[0] + twelfth * g[1] + sixth * g[2];
    o[4] = twentyfourth * g[0] - twelfth * g[1] + sixth * g[2];
    o[5] = g[2];
  }
};

/** Aᵀ m: the products back to a 4x4 tile of the output. */
struct OutputTransform {
  static constexpr int kIn = 6, kOut = 4;
  STRIDE_INLINE static void column(const v16* m, v16* o) {
    const v16 sum12 = m[1] + m[2], diff12 = m[1] - m[2], sum34 = m[3] + m[4], diff34 = m[3] - m[4];
    o[0] = m[0] + sum12 + sum34;
    o[1] = diff12 + 2.0f * diff34;
    o[2] = sum12 + 4.0f * sum34;
    o[3] = diff12 + 8.0f * diff34 + m[5];
  }
};

/** A g (A = Aᵀ's transpose): a 4x4 tile of gy, for the weight gradient. */
struct GradTransform {
  static constexpr int kIn = 4, kOut = 6;
  STRIDE_INLINE static void column(const v16* g, v16* o) {
    const v16 even = g[0] + g[2], odd = g[1] + g[3];
    const v16 even4 = g[0] + 4.0f * g[2], odd8 = 2.0f * g[1] + 8.0f * g[3];
    o[0] = g[0];
    o[1] = even + odd;
    o[2] = even - odd;
    o[3] = even4 + odd8;
    o[4] = even4 - odd8;
    o[5] = g[3];
  }
};

/** Gᵀ m (G's transpose): the summed products back to a 3x3 weight gradient. */
struct ResultTransform {
  static constexpr int kIn = 6, kOut = 3;
  STRIDE_INLINE static void column(const v16* m, v16* o) {
    constexpr float sixth = 1.0f / 6, twelfth = 1.0f / 12, twentyfourth = 1.0f / 24;
    o[0] = 0.25f * m[0] - sixth * (m[1] + m[2]) + twentyfourth * (m[3] + m[4]);
    o[1] = sixth * (m[2] - m[1]) + twelfth * (m[3] - m[4]);
    o[2] = sixth * (m[3] + m[4] - m[1] - m[2]) + m[5];
  }
};

/**
 * T d Tᵀ for the kIn x kIn patch d (row-major), handing each of its kOut rows to row(a, values)
 * as it is made (stored straight from registers rather than through another array).
 */
template <class T, class Row>
STRIDE_INLINE void transform2d(const v16* d, const Row& row) {
  v16 rows[T::kOut][T::kIn], col[T::kIn], out[T::kOut];
  for (int b = 0; b < T::kIn; b++) {
    for (int a = 0; a < T::kIn; a++) col[a] = d[a * T::kIn + b];
    T::column(col, out);
    for (int a = 0; a < T::kOut; a++) rows[a][b] = out[a];
  }
  for (int a = 0; a < T::kOut; a++) {
    T::column(rows[a], out);
    row(a, out);
  }
}

/** Where tile k of the batch starts: its image and the top-left of its 4x4 block of gy. */
struct Tiles {
  int64_t rows, cols, perImage;
  explicit Tiles(const ConvShape& g) : rows((g.OH + 3) / 4), cols((g.OW + 3) / 4), perImage(rows * cols) {}
  void locate(int64_t k, int64_t* n, int64_t* i, int64_t* j) const {
    *n = k / perImage;
    *i = (k / cols % rows) * 4;
    *j = k % cols * 4;
  }
};

/**
 * A thread's transformed tiles, a chunk of whole images at a time: V [36][tiles][C] and U
 * [36][tiles][O], at most 0.5 MB, so they are still cached when the products read them, a point
 * at a time. Materialising every tile of the batch (2.25x the activations, for both) made the
 * transforms wait on memory within a training step and lose to oneDNN's direct gradient. Larger
 * chunks evict what the step's next ops read: ResNet-20 training steps at two threads, four
 * settings interleaved step by step (80 steps each, two runs): direct 52.0 / 56.5 ms, chunks of
 * 0.5 MB 48.8 / 53.3, 1 MB 48.4 / 53.2, 2 MB 49.9 / 57.0. A point's matrix is `pitch` floats from
 * the next: one vector more than its size, so the 36 stores of a patch do not all fall in one
 * cache set.
 */
struct Chunk {
  int64_t images, tiles, vPitch, uPitch;

  Chunk(const ConvShape& g, const Tiles& t, int threads) {
    constexpr int64_t kBudget = 512 << 10;  // bytes for U and V
    const int64_t fit = kBudget / (kPoints * (g.C + g.O) * int64_t{sizeof(float)}) / t.perImage;
    images = std::max<int64_t>(1, std::min(fit, (g.N + threads - 1) / threads));
    tiles = images * t.perImage;
    vPitch = tiles * g.C + kLanes;
    uPitch = tiles * g.O + kLanes;
  }

  int64_t floats() const { return kPoints * (vPitch + uPitch); }
};

/**
 * Tile k's patch of an activation (`channels` of them) at (h, w) transformed by T, as T's 36
 * points: out[p][k][c] (a point's matrix `pitch` floats from the next); k counts from the chunk's
 * first tile. The input's 6x6 patch under a 4x4 tile of the output (Bᵀ d B), or a 4x4 tile of gy
 * (A gy Aᵀ).
 */
template <class T>
STRIDE_INLINE void transformTile(const Activation& a, int64_t n, int64_t h, int64_t w, int64_t k, int64_t pitch, float* out) {
  for (int64_t c0 = 0; c0 < a.C; c0 += kLanes) {
    v16 d[T::kIn * T::kIn];
    a.patch<T::kIn, T::kIn>(n, c0, h, w, d);
    transform2d<T>(d, [&](int r, const v16* values) {
      for (int b = 0; b < 6; b++) store(out + (r * 6 + b) * pitch + k * a.C + c0, values[b]);
    });
  }
}

/** V[p][k][c] = (Bᵀ d B)[p] for tile k's 6x6 patch d of x (padding cs.ph, cs.pw). */
STRIDE_CLONES void transformInput(const ConvShape& cs, const Tiles& t, const Activation& x, int64_t tile, int64_t k, int64_t pitch, float* V) {
  int64_t n, i, j;
  t.locate(tile, &n, &i, &j);
  transformTile<InputTransform>(x, n, i - cs.ph, j - cs.pw, k, pitch, V);
}

/** U[p][k][o] = (A gy Aᵀ)[p] for tile k of gy. */
STRIDE_CLONES void transformGrad(const Tiles& t, const Activation& gy, int64_t tile, int64_t k, int64_t pitch, float* U) {
  int64_t n, i, j;
  t.locate(tile, &n, &i, &j);
  transformTile<GradTransform>(gy, n, i, j, k, pitch, U);
}

/**
 * M [O][C] += Uᵀ V over `tiles` rows of U [tiles][O] and V [tiles][C]: R rows of M by VS vectors
 * of channels accumulate in registers (R·VS = 16) across the chunk's tiles, then into M in
 * float64. Summed in float32 across all the batch's tiles instead, the error grew with the batch
 * (1.2e-5 of the largest gradient at batch 32 on a 32x32x16 layer, 4e-6 for one image).
 */
template <int R, int VS>
STRIDE_INLINE void accumulateProducts(const ConvShape& g, int64_t tiles, const float* U, const float* V, bool first, double* M) {
  for (int64_t o = 0; o < g.O; o += R) {
    for (int64_t c = 0; c < g.C; c += VS * kLanes) {
      v16 acc[R][VS] = {};
      for (int64_t k = 0; k < tiles; k++) {
        v16 v[VS];
        for (int s = 0; s < VS; s++) v[s] = load(V + k * g.C + c + s * kLanes);
        const float* u = U + k * g.O + o;
        for (int r = 0; r < R; r++) {
          for (int s = 0; s < VS; s++) acc[r][s] += u[r] * v[s];
        }
      }
      for (int r = 0; r < R; r++) {
        for (int s = 0; s < VS; s++) {
          double* m = M + (o + r) * kPoints * g.C + c + s * kLanes;
          for (int l = 0; l < kLanes; l++) m[l] = (first ? 0.0 : m[l]) + acc[r][s][l];
        }
      }
    }
  }
}

/** The 36 products of a chunk into this thread's sums M [O][36][C] (the first chunk sets them). */
STRIDE_CLONES void accumulateChunk(const ConvShape& g, const Chunk& ch, int64_t tiles, const float* U, const float* V, bool first, double* M) {
  for (int p = 0; p < kPoints; p++) {
    const float* u = U + p * ch.uPitch;
    const float* v = V + p * ch.vPitch;
    double* m = M + p * g.C;
    if (g.C % 64 == 0) accumulateProducts<4, 4>(g, tiles, u, v, first, m);
    else if (g.C % 32 == 0) accumulateProducts<8, 2>(g, tiles, u, v, first, m);
    else accumulateProducts<16, 1>(g, tiles, u, v, first, m);
  }
}

/** gw[o, c0..c0+15] = Gᵀ M G, from the threads' sums M [threads][O][36][C] added up. */
STRIDE_CLONES void transformResult(const ConvShape& g, const double* M, int threads, int64_t o, float* gw) {
  const int64_t size = kPoints * g.O * g.C;
  for (int64_t c0 = 0; c0 < g.C; c0 += kLanes) {
    v16 sums[kPoints];
    for (int p = 0; p < kPoints; p++) {
      const double* m = M + (o * kPoints + p) * g.C + c0;
      for (int l = 0; l < kLanes; l++) {
        double sum = m[l];
        for (int th = 1; th < threads; th++) sum += m[th * size + l];
        sums[p][l] = static_cast<float>(sum);
      }
    }
    transform2d<ResultTransform>(sums, [&](int u, const v16* values) {
      for (int v = 0; v < 3; v++) {
        for (int l = 0; l < kLanes; l++) gw[(o * g.C + c0 + l) * 9 + u * 3 + v] = values[v][l];
      }
    });
  }
}

/**
 * Uw[p][ci][co] = (G k Gᵀ)[p] for the correlation's kernels k [co][ci]: the forward's w [O][C],
 * or for the input gradient w turned 180° with in and out swapped (w [ci][co], flipped).
 */
STRIDE_CLONES void transformKernels(const ConvShape& cs, const float* w, bool flipped, float* Uw) {
  for (int64_t ci = 0; ci < cs.C; ci++) {
    for (int64_t co0 = 0; co0 < cs.O; co0 += kLanes) {
      v16 k[9];
      for (int uv = 0; uv < 9; uv++) {
        for (int l = 0; l < kLanes; l++) {
          const int64_t co = co0 + l;
          k[uv][l] = flipped ? w[(ci * cs.O + co) * 9 + 8 - uv] : w[(co * cs.C + ci) * 9 + uv];
        }
      }
      transform2d<KernelTransform>(k, [&](int a, const v16* values) {
        for (int b = 0; b < 6; b++) store(Uw + ((a * 6 + b) * cs.C + ci) * cs.O + co0, values[b]);
      });
    }
  }
}

/** Y [tiles][Co] = V [tiles][Ci] · Uw [Ci][Co] at one point: R tiles by VS vectors of outputs in registers. */
template <int R, int VS>
STRIDE_INLINE void multiplyTiles(const ConvShape& cs, int64_t t0, const float* V, const float* Uw, float* Y) {
  for (int64_t co = 0; co < cs.O; co += VS * kLanes) {
    v16 acc[R][VS] = {};
    for (int64_t ci = 0; ci < cs.C; ci++) {
      v16 w[VS];
      for (int s = 0; s < VS; s++) w[s] = load(Uw + ci * cs.O + co + s * kLanes);
      for (int r = 0; r < R; r++) {
        const float v = V[(t0 + r) * cs.C + ci];
        for (int s = 0; s < VS; s++) acc[r][s] += v * w[s];
      }
    }
    for (int r = 0; r < R; r++) {
      for (int s = 0; s < VS; s++) store(Y + (t0 + r) * cs.O + co + s * kLanes, acc[r][s]);
    }
  }
}

template <int R, int VS>
STRIDE_INLINE void multiplyPoint(const ConvShape& cs, int64_t tiles, const float* V, const float* Uw, float* Y) {
  int64_t t = 0;
  for (; t + R <= tiles; t += R) multiplyTiles<R, VS>(cs, t, V, Uw, Y);
  for (; t < tiles; t++) multiplyTiles<1, VS>(cs, t, V, Uw, Y);
}

/** The 36 products of a chunk: Y[p] = V[p] · Uw[p]. */
STRIDE_CLONES void multiplyChunk(const ConvShape& cs, const Chunk& ch, int64_t tiles, const float* V, const float* Uw, float* Y) {
  for (int p = 0; p < kPoints; p++) {
    const float* v = V + p * ch.vPitch;
    const float* uw = Uw + p * cs.C * cs.O;
    float* y = Y + p * ch.uPitch;
    if (cs.O % 64 == 0) multiplyPoint<6, 4>(cs, tiles, v, uw, y);
    else if (cs.O % 32 == 0) multiplyPoint<12, 2>(cs, tiles, v, uw, y);
    else multiplyPoint<16, 1>(cs, tiles, v, uw, y);
  }
}

/** Tile k's 4x4 block of the output from Y[p][k][co] (+ bias), into nchw or nChw16c; the parts past the plane are dropped. */
STRIDE_CLONES void transformOutput(const ConvShape& cs, const Tiles& t, const Chunk& ch, const float* Y, int64_t tile, int64_t k, const float* bias,
                                   float* y, bool blocked) {
  int64_t n, i, j;
  t.locate(tile, &n, &i, &j);
  const int64_t rows = std::min<int64_t>(4, cs.OH - i), cols = std::min<int64_t>(4, cs.OW - j);
  for (int64_t co0 = 0; co0 < cs.O; co0 += kLanes) {
    v16 m[kPoints];
    for (int p = 0; p < kPoints; p++) m[p] = load(Y + p * ch.uPitch + k * cs.O + co0);
    const v16 shift = bias ? load(bias + co0) : v16{};
    transform2d<OutputTransform>(m, [&](int a, const v16* values) {
      if (a >= rows) return;
      for (int b = 0; b < cols; b++) {
        const v16 value = values[b] + shift;
        if (blocked) {
          store(y + (((n * (cs.O / kLanes) + co0 / kLanes) * cs.OH + i + a) * cs.OW + j + b) * kLanes, value);
        } else {
          float* p = y + ((n * cs.O + co0) * cs.OH + i + a) * cs.OW + j + b;
          for (int l = 0; l < kLanes; l++) p[l * cs.OH * cs.OW] = value[l];
        }
      }
    });
  }
}

/** A grow-only buffer per thread, so a training step does not map fresh pages per call. */
template <class T>
T* scratch(int64_t size, int slot = 0) {
  thread_local std::vector<T> buffers[2];
  if (static_cast<int64_t>(buffers[slot].size()) < size) buffers[slot].resize(size);
  return buffers[slot].data();
}

/** The correlation cs (C in, O out, padding ph/pw) of x with kernels Uw (transformed), + bias, into y. */
void correlate(const ConvShape& cs, const Activation& xs, const float* Uw, const float* bias, float* y, bool yBlocked) {
  const Tiles t(cs);
  const int threads = static_cast<int>(std::min<int64_t>(omp_get_max_threads(), cs.N));
  const Chunk ch(cs, t, threads);
  // Allocated before the parallel region: nothing may throw inside it.
  float* chunks = scratch<float>(threads * ch.floats());
#pragma omp parallel num_threads(threads)
  {
    const int th = omp_get_thread_num(), size = omp_get_num_threads();
    float* V = chunks + th * ch.floats();
    float* Y = V + kPoints * ch.vPitch;
    const int64_t first = cs.N * th / size, last = cs.N * (th + 1) / size;
    for (int64_t n0 = first; n0 < last; n0 += ch.images) {
      const int64_t tiles = std::min(ch.images, last - n0) * t.perImage;
      for (int64_t k = 0; k < tiles; k++) transformInput(cs, t, xs, n0 * t.perImage + k, k, ch.vPitch, V);
      multiplyChunk(cs, ch, tiles, V, Uw, Y);
      for (int64_t k = 0; k < tiles; k++) transformOutput(cs, t, ch, Y, n0 * t.perImage + k, k, bias, y, yBlocked);
    }
  }
}

}  // namespace

void winogradForward(const ConvShape& g, const float* x, bool xBlocked, const float* w, const float* bias, float* y, bool yBlocked) {
  float* Uw = scratch<float>(kPoints * g.C * g.O, 1);
  transformKernels(g, w, false, Uw);
  correlate(g, Activation{x, g.C, g.H, g.W, xBlocked}, Uw, bias, y, yBlocked);
}

void winogradInputGrad(const ConvShape& g, const float* gy, bool gyBlocked, const float* w, float* gx, bool gxBlocked) {
  // gx = gy correlated with w turned 180° and transposed, padded so that gx gets x's size.
  ConvShape cs = g;
  cs.C = g.O, cs.H = g.OH, cs.W = g.OW, cs.O = g.C, cs.OH = g.H, cs.OW = g.W, cs.ph = 2 - g.ph, cs.pw = 2 - g.pw;
  float* Uw = scratch<float>(kPoints * g.C * g.O, 1);
  transformKernels(cs, w, true, Uw);
  correlate(cs, Activation{gy, cs.C, cs.H, cs.W, gyBlocked}, Uw, nullptr, gx, gxBlocked);
}

void winogradWeightGrad(const ConvShape& g, const float* x, bool xBlocked, const float* gy, bool gyBlocked, float* gw) {
  const Tiles t(g);
  const int threads = static_cast<int>(std::min<int64_t>(omp_get_max_threads(), g.N));
  const Chunk ch(g, t, threads);
  const Activation xs{x, g.C, g.H, g.W, xBlocked}, gys{gy, g.O, g.OH, g.OW, gyBlocked};
  const int64_t sums = kPoints * g.O * g.C;
  // Allocated before the parallel region: nothing may throw inside it.
  float* chunks = scratch<float>(threads * ch.floats());
  double* M = scratch<double>(threads * sums);
  int team = threads;  // the threads OpenMP gave (it may give fewer than asked)
#pragma omp parallel num_threads(threads)
  {
    const int th = omp_get_thread_num(), size = omp_get_num_threads();
    if (th == 0) team = size;
    float* V = chunks + th * ch.floats();
    float* U = V + kPoints * ch.vPitch;
    double* m = M + th * sums;
    // Each thread sums the products of its own images, a chunk at a time.
    const int64_t first = g.N * th / size, last = g.N * (th + 1) / size;
    for (int64_t n0 = first; n0 < last; n0 += ch.images) {
      const int64_t tiles = std::min(ch.images, last - n0) * t.perImage;
      for (int64_t k = 0; k < tiles; k++) {
        transformInput(g, t, xs, n0 * t.perImage + k, k, ch.vPitch, V);
        transformGrad(t, gys, n0 * t.perImage + k, k, ch.uPitch, U);
      }
      accumulateChunk(g, ch, tiles, U, V, n0 == first, m);
    }
#pragma omp barrier
#pragma omp for schedule(static)
    for (int64_t o = 0; o < g.O; o++) transformResult(g, M, team, o, gw);
  }
}

}  // namespace stride
