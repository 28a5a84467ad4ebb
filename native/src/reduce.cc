// Reductions over float32 (accumulated in float64 like the reference), gather and scatter_add.
#include <algorithm>
#include <limits>
#include <vector>

#include "ops.h"
#include "strided.h"

namespace stride {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Each op: its start value, one step (also folds a row's result in), and a contiguous row
// folded into one value. max and min let a NaN win, as PyTorch: once stored, v > NaN is false.
struct Sum {
  static constexpr double kInit = 0;
  static double step(double acc, double v) { return acc + v; }
  static double row(int64_t n, const float* x) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) s += x[i];
    return s;
  }
};

struct Prod {
  static constexpr double kInit = 1;
  static double step(double acc, double v) { return acc * v; }
  static double row(int64_t n, const float* x) {
    double p = 1;
#pragma omp simd reduction(* : p)
    for (int64_t i = 0; i < n; i++) p *= x[i];
    return p;
  }
};

struct Max {
  static constexpr double kInit = -kInf;
  static double step(double acc, double v) { return v > acc || v != v ? v : acc; }
  static double row(int64_t n, const float* x) {
    float m = -std::numeric_limits<float>::infinity();
    int nan = 0;
#pragma omp simd reduction(max : m) reduction(| : nan)
    for (int64_t i = 0; i < n; i++) {
      m = x[i] > m ? x[i] : m;
      nan |= x[i] != x[i];
    }
    return nan ? kNaN : m;
  }
};

struct Min {
  static constexpr double kInit = kInf;
  static double step(double acc, double v) { return v < acc || v != v ? v : acc; }
  static double row(int64_t n, const float* x) {
    float m = std::numeric_limits<float>::infinity();
    int nan = 0;
#pragma omp simd reduction(min : m) reduction(| : nan)
    for (int64_t i = 0; i < n; i++) {
      m = x[i] < m ? x[i] : m;
      nan |= x[i] != x[i];
    }
    return nan ? kNaN : m;
  }
};

template <class Op>
STRIDE_CLONES void reduceRow(int64_t n, const float* x, int64_t sx, double* acc, int64_t sa) {
  if (sa == 0 && sx == 1) {
    *acc = Op::step(*acc, Op::row(n, x));
  } else if (sa == 1 && sx == 1) {
    for (int64_t i = 0; i < n; i++) acc[i] = Op::step(acc[i], x[i]);
  } else {
    for (int64_t i = 0; i < n; i++) acc[i * sa] = Op::step(acc[i * sa], x[i * sx]);
  }
}

// reduce(op, x, out, [rank, xshape, xoffset, xstrides, outshape, outoffset, outstrides])
template <class Op>
void runReduce(Call& c) {
  const Array x = c.array(1, napi_float32_array, "x");
  const Array out = c.array(2, napi_float32_array, "out");
  size_t count;
  const double* meta = c.meta(3, &count);
  Meta m(meta, count);
  Strided<2> s;  // x and the float64 accumulator
  s.nd = m.rank();
  m.dims(s.nd, s.shape, true);
  s.offset[0] = m.next();
  m.dims(s.nd, s.strides[0], false);
  checkBounds(x, s.nd, s.shape, s.offset[0], s.strides[0], "x");
  Strided<1> o;
  o.nd = s.nd;
  m.dims(o.nd, o.shape, true);
  o.offset[0] = m.next();
  m.dims(o.nd, o.strides[0], false);
  checkBounds(out, o.nd, o.shape, o.offset[0], o.strides[0], "out");
  // Each x element lands on the out element with its reduced coordinates zeroed.
  int64_t size = 1;
  for (int d = o.nd - 1; d >= 0; d--) {
    if (o.shape[d] != 1 && o.shape[d] != s.shape[d]) throw Error("out must have x's shape with reduced dims of size 1");
    s.strides[1][d] = o.shape[d] == 1 ? 0 : size;
    size *= o.shape[d];
  }
  std::vector<double> acc(size, Op::kInit);
  s.coalesce();
  int64_t elements = 1;
  for (int d = 0; d < s.nd; d++) elements *= s.shape[d];
  // Rows of different x positions may fold into one accumulator, so threads split the outermost
  // dim, each folding its part into accumulators of its own (a convolution's bias gradient, gy
  // summed over the batch and the plane, ran on one thread), added up in thread order.
  const int threads = elements >= kCheapGrain && s.nd >= 2 ? static_cast<int>(std::min<int64_t>(omp_get_max_threads(), s.shape[0])) : 1;
  std::vector<double> partials(static_cast<size_t>(threads - 1) * size, Op::kInit);

#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int t = omp_get_thread_num();
    Strided<2> part = s;
    const int64_t begin = s.shape[0] * t / threads;
    part.shape[0] = s.shape[0] * (t + 1) / threads - begin;
    for (int k = 0; k < 2; k++) part.offset[k] += begin * s.strides[k][0];
    double* into = t == 0 ? acc.data() : partials.data() + (t - 1) * size;
    forRows(part, [&](const int64_t* off, int64_t n, const int64_t* st) {
      reduceRow<Op>(n, x.as<float>() + off[0], st[0], into + off[1], st[1]);
    }, kSerial);
  }
  for (int t = 1; t < threads; t++) {
    const double* from = partials.data() + (t - 1) * size;
    for (int64_t i = 0; i < size; i++) acc[i] = Op::step(acc[i], from[i]);
  }
  o.coalesce();
  int64_t pos = 0;
  forRows(o, [&](const int64_t* off, int64_t n, const int64_t* st) {
    float* d = out.as<float>() + off[0];
    for (int64_t i = 0; i < n; i++) d[i * st[0]] = static_cast<float>(acc[pos++]);
  }, kSerial);
}

void (*const kReduceRun[])(Call&) = {runReduce<Sum>, runReduce<Prod>, runReduce<Max>, runReduce<Min>};

/** A view of its own shape read from the geometry argument and checked against its buffer. */
struct View {
  int64_t shape[kMaxDims];
  int64_t offset;
  int64_t strides[kMaxDims];

  View(Meta& m, int nd, const Array& a, const char* what) {
    m.dims(nd, shape, true);
    offset = m.next();
    m.dims(nd, strides, false);
    checkBounds(a, nd, shape, offset, strides, what);
  }
};

/** Throws unless `inner` fits inside `outer` along every dim (except `skip`, if >= 0). */
void checkWithin(int nd, const int64_t* inner, const int64_t* outer, int skip, const char* what) {
  for (int d = 0; d < nd; d++) {
    if (d != skip && inner[d] > outer[d]) throw Error(std::string("index is larger than ") + what + " along dim " + std::to_string(d));
  }
}

/** True when every index is in [0, size): checked before anything is written. */
bool indicesValid(const Array& index, int nd, const View& iv, int64_t size) {
  Strided<1> s;
  s.nd = nd;
  for (int d = 0; d < nd; d++) {
    s.shape[d] = iv.shape[d];
    s.strides[0][d] = iv.strides[d];
  }
  s.offset[0] = iv.offset;
  s.coalesce();
  bool ok = true;
  forRows(s, [&](const int64_t* off, int64_t n, const int64_t* st) {
    const int32_t* is = index.as<int32_t>() + off[0];
    for (int64_t i = 0; i < n; i++) ok &= is[i * st[0]] >= 0 && is[i * st[0]] < size;
  }, kSerial);
  return ok;
}

/** The walk over the index's shape of `base` (dim's stride zeroed), index, and a third view. */
Strided<3> indexWalk(int nd, int dim, const View& base, const View& index, const View& third) {
  Strided<3> s;
  s.nd = nd;
  const View* views[3] = {&base, &index, &third};
  for (int k = 0; k < 3; k++) {
    s.offset[k] = views[k]->offset;
    for (int d = 0; d < nd; d++) s.strides[k][d] = k == 0 && d == dim ? 0 : views[k]->strides[d];
  }
  for (int d = 0; d < nd; d++) s.shape[d] = index.shape[d];
  s.coalesce();
  return s;
}

int readDim(Meta& m, int nd) {
  const int64_t dim = m.next();
  if (dim < 0 || dim >= nd) throw Error("dim " + std::to_string(dim) + " is out of range");
  return static_cast<int>(dim);
}

}  // namespace

const OpInfo kReduceOps[] = {{"sum", "float32"}, {"prod", "float32"}, {"max", "float32"}, {"min", "float32"}};
const int kReduceOpCount = sizeof(kReduceOps) / sizeof(kReduceOps[0]);

napi_value reduce(Call& c) {
  const int op = c.int32(0);
  if (op < 0 || op >= kReduceOpCount) throw Error("unknown reduce op " + std::to_string(op));
  kReduceRun[op](c);
  return c.undefined();
}

// gather(x, index, out, [rank, dim, x view, index view, out view]) → false on a bad index, writing nothing.
napi_value gather(Call& c) {
  const Array x = c.array(0, napi_float32_array, "x");
  const Array index = c.array(1, napi_int32_array, "index");
  const Array out = c.array(2, napi_float32_array, "out");
  size_t count;
  const double* meta = c.meta(3, &count);
  Meta m(meta, count);
  const int nd = m.rank();
  const int dim = readDim(m, nd);
  const View xv(m, nd, x, "x"), iv(m, nd, index, "index"), ov(m, nd, out, "out");
  checkWithin(nd, iv.shape, xv.shape, dim, "x");
  checkWithin(nd, iv.shape, ov.shape, -1, "out");
  if (!indicesValid(index, nd, iv, xv.shape[dim])) return c.boolean(false);
  const int64_t step = xv.strides[dim];
  forRows(indexWalk(nd, dim, xv, iv, ov), [&](const int64_t* off, int64_t n, const int64_t* st) {
    const float* xs = x.as<float>() + off[0];
    const int32_t* is = index.as<int32_t>() + off[1];
    float* os = out.as<float>() + off[2];
    for (int64_t i = 0; i < n; i++) os[i * st[2]] = xs[i * st[0] + is[i * st[1]] * step];
  }, kCheapGrain);
  return c.boolean(true);
}

// scatterAdd(out, index, src, [rank, dim, out view, index view, src view]) → false on a bad index, writing nothing.
napi_value scatterAdd(Call& c) {
  const Array out = c.array(0, napi_float32_array, "out");
  const Array index = c.array(1, napi_int32_array, "index");
  const Array src = c.array(2, napi_float32_array, "src");
  size_t count;
  const double* meta = c.meta(3, &count);
  Meta m(meta, count);
  const int nd = m.rank();
  const int dim = readDim(m, nd);
  const View ov(m, nd, out, "out"), iv(m, nd, index, "index"), sv(m, nd, src, "src");
  checkWithin(nd, iv.shape, ov.shape, dim, "out");
  checkWithin(nd, iv.shape, sv.shape, -1, "src");
  if (!indicesValid(index, nd, iv, ov.shape[dim])) return c.boolean(false);
  const int64_t step = ov.strides[dim];
  // Several indices may name one output element.
  forRows(indexWalk(nd, dim, ov, iv, sv), [&](const int64_t* off, int64_t n, const int64_t* st) {
    float* os = out.as<float>() + off[0];
    const int32_t* is = index.as<int32_t>() + off[1];
    const float* ss = src.as<float>() + off[2];
    for (int64_t i = 0; i < n; i++) os[i * st[0] + is[i * st[1]] * step] += ss[i * st[2]];
  }, kSerial);
  return c.boolean(true);
}

}  // namespace stride
