// The weight gradient gw[o, c, u, v] = Σ gy[n, o, i, j] · x[n, c, i + u - ph, j + v - pw] is, per
// 4x4 tile of gy, a correlation of the 6x6 patch of x under it with that tile, giving 3x3: the
// transpose of Winograd's F(4x4, 3x3) (Lavin and Gray, 2015) computes it as
//   gw = Gᵀ [ Σ_tiles (A gy Aᵀ) ⊙ (Bᵀ x B) ] G,
// with F(4x4, 3x3)'s matrices: B for the input, A (6x4, the output transform's transpose) for the
// tile of gy, G for the result. The sum over tiles and images is, per point of the 6x6 transform
// domain, a matrix product [O x tiles] · [tiles x C]: 36 products with 4x fewer multiply-adds than
// the direct gradient. Vectors run over 16 channels, the blocked layout's inner dimension.
#include "winograd_wgrad.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "napi.h"
#include "strided.h"
#include "v16.h"

namespace stride {

bool winogradWeightGradApplies(const ConvShape& g) {
  const int64_t tiles = g.N * ((g.OH + 3) / 4) * ((g.OW + 3) / 4);
  return g.G == 1 && g.KH == 3 && g.KW == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.ph <= 2 && g.pw <= 2 &&
         g.OH == g.H + 2 * g.ph - 2 && g.OW == g.W + 2 * g.pw - 2 && g.C % kLanes == 0 && g.O % kLanes == 0 &&
         tiles >= 32;
}

namespace {

constexpr int kPoints = 36;  // the 6x6 transform domain

/** 16 channels of an activation at one position, nchw or nChw16c; zero outside the plane. */
struct Activation {
  const float* data;
  int64_t C, H, W;
  bool blocked;

  STRIDE_INLINE v16 at(int64_t n, int64_t c0, int64_t h, int64_t w) const {
    if (h < 0 || h >= H || w < 0 || w >= W) return v16{};
    if (blocked) return load(data + (((n * (C / kLanes) + c0 / kLanes) * H + h) * W + w) * kLanes);
    v16 v;
    const float* p = data + ((n * C + c0) * H + h) * W + w;
    for (int l = 0; l < kLanes; l++) v[l] = p[l * H * W];
    return v;
  }

  /** The rows x cols patch at (h, w) into d (row-major, `cols` per row), zero outside the plane. */
  template <int ROWS, int COLS>
  STRIDE_INLINE void patch(int64_t n, int64_t c0, int64_t h, int64_t w, v16* d) const {
    if (blocked && h >= 0 && h + ROWS <= H && w >= 0 && w + COLS <= W) {
      // Inside the plane (most tiles): the rows of a blocked patch are runs of COLS vectors.
      const float* p = data + (((n * (C / kLanes) + c0 / kLanes) * H + h) * W + w) * kLanes;
      for (int a = 0; a < ROWS; a++) {
        for (int b = 0; b < COLS; b++) d[a * COLS + b] = load(p + (a * W + b) * kLanes);
      }
      return;
    }
    for (int a = 0; a < ROWS; a++) {
      for (int b = 0; b < COLS; b++) d[a * COLS + b] = at(n, c0, h + a, w + b);
    }
  }
};

// Bᵀ d for a column of 6: F(4x4, 3x3)'s input transform.
STRIDE_INLINE void inputTransform(const v16* d, v16* o) {
  o[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
  o[1] = d[3] + d[4] - 4.0f * (d[1] + d[2]);
  o[2] = 4.0f * (d[1] - d[2]) - d[3] + d[4];
  o[3] = 2.0f * (d[3] - d[1]) - d[2] + d[4];
  o[4] = 2.0f * (d[1] - d[3]) - d[2] + d[4];
  o[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

// A g for a column of 4, A = the transpose of F(4x4, 3x3)'s output transform Aᵀ.
STRIDE_INLINE void gradTransform(const v16* g, v16* o) {
  const v16 even = g[0] + g[2], odd = g[1] + g[3];
  const v16 even4 = g[0] + 4.0f * g[2], odd8 = 2.0f * g[1] + 8.0f * g[3];
  o[0] = g[0];
  o[1] = even + odd;
  o[2] = even - odd;
  o[3] = even4 + odd8;
  o[4] = even4 - odd8;
  o[5] = g[3];
}

// Gᵀ m for a column of 6: F(4x4, 3x3)'s filter transform, transposed.
STRIDE_INLINE void resultTransform(const v16* m, v16* o) {
  constexpr float sixth = 1.0f / 6, twelfth = 1.0f / 12, twentyfourth = 1.0f / 24;
  o[0] = 0.25f * m[0] - sixth * (m[1] + m[2]) + twentyfourth * (m[3] + m[4]);
  o[1] = sixth * (m[2] - m[1]) + twelfth * (m[3] - m[4]);
  o[2] = sixth * (m[3] + m[4] - m[1] - m[2]) + m[5];
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

/** V[p][k][c] = (Bᵀ d B)[p] for tile k's 6x6 patch d of x, every channel; k counts from the chunk's first tile. */
STRIDE_CLONES void transformInput(const ConvShape& g, const Tiles& t, const Activation& x, int64_t tile, int64_t k, int64_t pitch, float* V) {
  int64_t n, i, j;
  t.locate(tile, &n, &i, &j);
  for (int64_t c0 = 0; c0 < g.C; c0 += kLanes) {
    v16 d[36], rows[6][6], col[6], out[6];
    x.patch<6, 6>(n, c0, i - g.ph, j - g.pw, d);
    for (int b = 0; b < 6; b++) {
      for (int a = 0; a < 6; a++) col[a] = d[a * 6 + b];
      inputTransform(col, out);
      for (int a = 0; a < 6; a++) rows[a][b] = out[a];
    }
    for (int a = 0; a < 6; a++) {
      inputTransform(rows[a], out);
      for (int b = 0; b < 6; b++) store(V + (a * 6 + b) * pitch + k * g.C + c0, out[b]);
    }
  }
}

/** U[p][k][o] = (A gy Aᵀ)[p] for tile k of gy, every channel. */
STRIDE_CLONES void transformGrad(const ConvShape& g, const Tiles& t, const Activation& gy, int64_t tile, int64_t k, int64_t pitch, float* U) {
  int64_t n, i, j;
  t.locate(tile, &n, &i, &j);
  for (int64_t o0 = 0; o0 < g.O; o0 += kLanes) {
    v16 d[16], rows[6][4], col[4], out[6];
    gy.patch<4, 4>(n, o0, i, j, d);
    for (int b = 0; b < 4; b++) {
      for (int a = 0; a < 4; a++) col[a] = d[a * 4 + b];
      gradTransform(col, out);
      for (int a = 0; a < 6; a++) rows[a][b] = out[a];
    }
    for (int a = 0; a < 6; a++) {
      gradTransform(rows[a], out);
      for (int b = 0; b < 6; b++) store(U + (a * 6 + b) * pitch + k * g.O + o0, out[b]);
    }
  }
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
    v16 rows[3][6], col[6], out[3];
    for (int b = 0; b < 6; b++) {
      for (int a = 0; a < 6; a++) {
        const double* m = M + (o * kPoints + a * 6 + b) * g.C + c0;
        for (int l = 0; l < kLanes; l++) {
          double sum = m[l];
          for (int th = 1; th < threads; th++) sum += m[th * size + l];
          col[a][l] = static_cast<float>(sum);
        }
      }
      resultTransform(col, out);
      for (int u = 0; u < 3; u++) rows[u][b] = out[u];
    }
    for (int u = 0; u < 3; u++) {
      resultTransform(rows[u], out);
      for (int v = 0; v < 3; v++) {
        for (int l = 0; l < kLanes; l++) gw[((o * g.C + c0 + l) * 3 + u) * 3 + v] = out[v][l];
      }
    }
  }
}

/** A grow-only buffer per thread, so a training step does not map fresh pages per call. */
template <class T>
T* scratch(int64_t size) {
  thread_local std::vector<T> buffer;
  if (static_cast<int64_t>(buffer.size()) < size) buffer.resize(size);
  return buffer.data();
}

}  // namespace

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
        transformGrad(g, t, gys, n0 * t.perImage + k, k, ch.uPitch, U);
      }
      accumulateChunk(g, ch, tiles, U, V, n0 == first, m);
    }
#pragma omp barrier
#pragma omp for schedule(static)
    for (int64_t o = 0; o < g.O; o++) transformResult(g, M, team, o, gw);
  }
}

}  // namespace stride
