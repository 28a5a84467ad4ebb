// Strided views as the JS side describes them, bounds checks, and a row-wise N-d loop.
#pragma once

#include <omp.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "napi.h"

// Each hot loop is compiled for AVX-512, AVX2 and baseline x86-64; the loader picks one per CPU.
#if defined(__x86_64__) && defined(__linux__)
#define STRIDE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define STRIDE_CLONES
#endif

namespace stride {

constexpr int kMaxDims = 16;

// Below its grain (elements) a loop stays on the calling thread: waking the other threads costs
// more than they save, and much more when other processes keep the cores busy.
// 2^16 rather than 2^18 (measured on two threads, medians of four): ResNet-18 at batch 1 20.2 ->
// 19.2 ms, its 56x56x64 batch norm and ReLU passes now split; LeNet-5 training 3.6 -> 3.3 ms.
constexpr int64_t kCheapGrain = 1 << 16;   // memory-bound loops: copies, arithmetic, comparisons
constexpr int64_t kCostlyGrain = 1 << 14;  // transcendental functions (10-20 ns per element)
constexpr int64_t kSerial = INT64_MAX;     // loops whose rows may write one place

/** Reads the numbers of a geometry argument in order, checking each is an integer. */
class Meta {
 public:
  Meta(const double* data, size_t count) : data_(data), count_(count) {}

  int64_t next() {
    if (pos_ >= count_) throw Error("the geometry argument is too short");
    const double v = data_[pos_++];
    if (!(std::fabs(v) <= 9007199254740992.0) || v != std::floor(v)) throw Error("the geometry argument holds a non-integer");
    return static_cast<int64_t>(v);
  }

  /** A value that is NaN stands for "none" (optional parameters). */
  double raw() {
    if (pos_ >= count_) throw Error("the geometry argument is too short");
    return data_[pos_++];
  }

  int rank() {
    const int64_t nd = next();
    if (nd < 0 || nd > kMaxDims) throw Error("rank " + std::to_string(nd) + " is out of range");
    return static_cast<int>(nd);
  }

  void dims(int nd, int64_t* out, bool sizes) {
    for (int d = 0; d < nd; d++) {
      out[d] = next();
      if (sizes && out[d] < 0) throw Error("negative size");
    }
  }

 private:
  const double* data_;
  size_t count_;
  size_t pos_ = 0;
};

/** Throws unless every element of the view (shape, strides, offset) lies inside `a`. */
inline void checkBounds(const Array& a, int nd, const int64_t* shape, int64_t offset, const int64_t* strides, const char* what) {
  int64_t lo = offset, hi = offset;
  for (int d = 0; d < nd; d++) {
    if (shape[d] == 0) return;  // an empty view touches nothing
    const int64_t reach = (shape[d] - 1) * strides[d];
    (reach < 0 ? lo : hi) += reach;
  }
  if (lo < 0 || hi >= a.length) {
    throw Error(std::string(what) + " reaches elements [" + std::to_string(lo) + ", " + std::to_string(hi) +
                "] of a buffer of " + std::to_string(a.length));
  }
}

/** A contiguous block of `count` elements at `offset` must fit in `a`. */
inline void checkBlock(const Array& a, int64_t offset, int64_t count, const char* what) {
  if (offset < 0 || count < 0 || offset + count > a.length) {
    throw Error(std::string(what) + " needs elements [" + std::to_string(offset) + ", " + std::to_string(offset + count) +
                ") of a buffer of " + std::to_string(a.length));
  }
}

/** K views walking one common shape; offsets and strides count elements. */
template <int K>
struct Strided {
  int nd = 0;
  int64_t shape[kMaxDims] = {};
  int64_t offset[K] = {};
  int64_t strides[K][kMaxDims] = {};

  bool empty() const {
    for (int d = 0; d < nd; d++) if (shape[d] == 0) return true;
    return false;
  }

  /** Drops size-1 dims and merges dims laid out contiguously in every view, so loops run long rows. */
  void coalesce() {
    int n = 0;
    for (int d = 0; d < nd; d++) {
      if (shape[d] == 1) continue;
      bool merge = n > 0;
      for (int k = 0; k < K && merge; k++) merge = strides[k][n - 1] == strides[k][d] * shape[d];
      if (merge) {
        shape[n - 1] *= shape[d];
        for (int k = 0; k < K; k++) strides[k][n - 1] = strides[k][d];
      } else {
        shape[n] = shape[d];
        for (int k = 0; k < K; k++) strides[k][n] = strides[k][d];
        n++;
      }
    }
    nd = n;
  }
};

/**
 * Reads a common shape and then each view's offset and strides, as the JS side packs them:
 * [rank, shape..., offset0, strides0..., offset1, strides1...], bounds-checking view k in arrays[k].
 */
template <int K>
Strided<K> readStrided(Meta& m, const Array* const (&arrays)[K]) {
  Strided<K> s;
  s.nd = m.rank();
  m.dims(s.nd, s.shape, true);
  for (int k = 0; k < K; k++) {
    s.offset[k] = m.next();
    m.dims(s.nd, s.strides[k], false);
    checkBounds(*arrays[k], s.nd, s.shape, s.offset[k], s.strides[k], "a view");
  }
  s.coalesce();
  return s;
}

/** Calls row(offsets, n, steps) for rows [r0, r1) of a coalesced walk with nd >= 1. */
template <int K, class Row>
void visitRows(const Strided<K>& s, int64_t r0, int64_t r1, const Row& row) {
  const int inner = s.nd - 1;
  int64_t idx[kMaxDims] = {};
  int64_t off[K];
  int64_t steps[K];
  for (int k = 0; k < K; k++) {
    off[k] = s.offset[k];
    steps[k] = s.strides[k][inner];
  }
  for (int64_t d = inner - 1, rest = r0; d >= 0; d--) {
    idx[d] = rest % s.shape[d];
    rest /= s.shape[d];
    for (int k = 0; k < K; k++) off[k] += idx[d] * s.strides[k][d];
  }
  for (int64_t r = r0; r < r1; r++) {
    row(off, s.shape[inner], steps);
    for (int d = inner - 1; d >= 0; d--) {
      for (int k = 0; k < K; k++) off[k] += s.strides[k][d];
      if (++idx[d] < s.shape[d]) break;
      for (int k = 0; k < K; k++) off[k] -= s.strides[k][d] * s.shape[d];
      idx[d] = 0;
    }
  }
}

/** forRows without forTiles' grouping of short rows. */
template <int K, class Row>
void forLongRows(const Strided<K>& s, const Row& row, int64_t grain);

/**
 * As forRows, but tile(offsets, m, outerSteps, n, steps) gets m rows of n elements at a time,
 * row i starting at offsets + i * outerSteps. Short rows (a blocked activation's 16 channels, see
 * layout.cc) come as tiles of every row along the next dim, so a kernel loops over them itself:
 * visiting each short row on its own cost more than computing it. Long rows come one at a time.
 */
template <int K, class Tile>
void forTiles(const Strided<K>& s, const Tile& tile, int64_t grain) {
  if (s.empty()) return;
  constexpr int64_t kShortRow = 32;
  if (s.nd >= 2 && s.shape[s.nd - 1] <= kShortRow) {
    const int64_t inner = s.shape[s.nd - 1];
    int64_t innerSteps[K];
    for (int k = 0; k < K; k++) innerSteps[k] = s.strides[k][s.nd - 1];
    Strided<K> outer = s;
    outer.nd--;
    forLongRows(outer, [&](const int64_t* off, int64_t m, const int64_t* steps) { tile(off, m, steps, inner, innerSteps); },
                grain / inner + (grain % inner != 0));
  } else {
    const int64_t none[K] = {};
    forLongRows(s, [&](const int64_t* off, int64_t n, const int64_t* steps) { tile(off, 1, none, n, steps); }, grain);
  }
}

/**
 * Walks a coalesced view set row by row: row(offsets, n, steps) gets each view's offset at the
 * start of a row of n elements and its step along it. Walks of `grain` elements or more are
 * split across threads (by rows, or within the row when there are fewer rows than threads), so
 * `row` must be safe to call concurrently on disjoint parts, and must not throw.
 */
template <int K, class Row>
void forRows(const Strided<K>& s, const Row& row, int64_t grain) {
  forTiles(s, [&](const int64_t* off, int64_t m, const int64_t* outer, int64_t n, const int64_t* steps) {
    int64_t at[K];
    for (int k = 0; k < K; k++) at[k] = off[k];
    for (int64_t i = 0; i < m; i++) {
      row(at, n, steps);
      for (int k = 0; k < K; k++) at[k] += outer[k];
    }
  }, grain);
}

template <int K, class Row>
void forLongRows(const Strided<K>& s, const Row& row, int64_t grain) {
  if (s.empty()) return;
  if (s.nd == 0) {
    const int64_t steps[K] = {};
    row(s.offset, 1, steps);
    return;
  }
  const int64_t inner = s.shape[s.nd - 1];
  const int64_t rows = [&] {
    int64_t r = 1;
    for (int d = 0; d < s.nd - 1; d++) r *= s.shape[d];
    return r;
  }();
  const int threads = rows * inner >= grain ? omp_get_max_threads() : 1;
  if (threads <= 1) {
    visitRows(s, 0, rows, row);
  } else if (rows >= threads) {
#pragma omp parallel num_threads(threads)
    {
      const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
      visitRows(s, rows * t / T, rows * (t + 1) / T, row);
    }
  } else {
    for (int64_t r = 0; r < rows; r++) {
      visitRows(s, r, r + 1, [&](const int64_t* off, int64_t n, const int64_t* steps) {
#pragma omp parallel num_threads(threads)
        {
          const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
          const int64_t lo = n * t / T, hi = n * (t + 1) / T;
          int64_t part[K];
          for (int k = 0; k < K; k++) part[k] = off[k] + lo * steps[k];
          row(part, hi - lo, steps);
        }
      });
    }
  }
}

}  // namespace stride
