// Elementwise primitives on float32 (bool for comparisons), any strides and broadcasting.
//
// Results match the reference backend, which computes in float64 and rounds once on store:
// + - * / and sqrt are exact in float32 already; transcendental functions run in double here too.
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "ops.h"
#include "strided.h"

namespace stride {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

inline float sigmoid(float x) {
  const double v = x;
  return static_cast<float>(v >= 0 ? 1 / (1 + std::exp(-v)) : std::exp(v) / (1 + std::exp(v)));
}

// Math.max/min: NaN if either is NaN, and +0 is above -0.
inline float jsMax(float a, float b) {
  if (a != a || b != b) return kNaN;
  if (a == b) return std::signbit(a) ? b : a;
  return a > b ? a : b;
}
inline float jsMin(float a, float b) {
  if (a != a || b != b) return kNaN;
  if (a == b) return std::signbit(a) ? a : b;
  return a < b ? a : b;
}

// Math.pow differs from C's pow in two cases: a NaN exponent and (+-1) ** +-inf both give NaN.
inline float jsPow(float a, float b) {
  if (b != b || (std::fabs(a) == 1 && std::isinf(b))) return kNaN;
  return static_cast<float>(std::pow(static_cast<double>(a), static_cast<double>(b)));
}

// Python's modulo: the result takes the divisor's sign.
inline float remainder(float a, float b) {
  const double r = std::fmod(static_cast<double>(a), static_cast<double>(b));
  return static_cast<float>(r != 0 && (r < 0) != (b < 0) ? r + b : r);
}

inline float viaDouble(double (*f)(double), float x) { return static_cast<float>(f(x)); }

// name, output type, parallel grain, expression of the float x (a and b for binary ops). The
// order is the op numbering the JS side uses.
#define STRIDE_UNARY(X)                                                       \
  X(neg, float, kCheapGrain, -x)                                              \
  X(abs, float, kCheapGrain, std::fabs(x))                                    \
  X(sign, float, kCheapGrain, x > 0 ? 1.0f : x < 0 ? -1.0f : 0.0f)            \
  X(exp, float, kCostlyGrain, viaDouble(std::exp, x))                         \
  X(log, float, kCostlyGrain, viaDouble(std::log, x))                         \
  X(log1p, float, kCostlyGrain, viaDouble(std::log1p, x))                     \
  X(expm1, float, kCostlyGrain, viaDouble(std::expm1, x))                     \
  X(sqrt, float, kCheapGrain, std::sqrt(x))                                   \
  X(rsqrt, float, kCostlyGrain, static_cast<float>(1 / std::sqrt(double(x)))) \
  X(reciprocal, float, kCheapGrain, 1.0f / x)                                 \
  X(sin, float, kCostlyGrain, viaDouble(std::sin, x))                         \
  X(cos, float, kCostlyGrain, viaDouble(std::cos, x))                         \
  X(tanh, float, kCostlyGrain, viaDouble(std::tanh, x))                       \
  X(sigmoid, float, kCostlyGrain, sigmoid(x))                                 \
  X(relu, float, kCheapGrain, x <= 0 ? 0.0f : x)                              \
  X(floor, float, kCheapGrain, std::floor(x))                                 \
  X(ceil, float, kCheapGrain, std::ceil(x))                                   \
  X(round, float, kCheapGrain, std::nearbyint(x)) /* half to even */          \
  X(trunc, float, kCheapGrain, std::trunc(x))                                 \
  X(erf, float, kCostlyGrain, viaDouble(std::erf, x))                         \
  X(logical_not, uint8_t, kCheapGrain, x == 0)

#define STRIDE_BINARY(X)                                                                                        \
  X(add, float, kCheapGrain, a + b)                                                                             \
  X(sub, float, kCheapGrain, a - b)                                                                             \
  X(mul, float, kCheapGrain, a * b)                                                                             \
  X(div, float, kCheapGrain, a / b)                                                                             \
  X(pow, float, kCostlyGrain, jsPow(a, b))                                                                      \
  X(maximum, float, kCheapGrain, jsMax(a, b))                                                                   \
  X(minimum, float, kCheapGrain, jsMin(a, b))                                                                   \
  X(remainder, float, kCostlyGrain, remainder(a, b))                                                            \
  X(floor_divide, float, kCostlyGrain, static_cast<float>(std::floor(static_cast<double>(a) / b)))              \
  X(atan2, float, kCostlyGrain, static_cast<float>(std::atan2(static_cast<double>(a), static_cast<double>(b)))) \
  X(eq, uint8_t, kCheapGrain, a == b)                                                                           \
  X(ne, uint8_t, kCheapGrain, a != b)                                                                           \
  X(lt, uint8_t, kCheapGrain, a < b)                                                                            \
  X(le, uint8_t, kCheapGrain, a <= b)                                                                           \
  X(gt, uint8_t, kCheapGrain, a > b)                                                                            \
  X(ge, uint8_t, kCheapGrain, a >= b)                                                                           \
  X(logical_and, uint8_t, kCheapGrain, a != 0 && b != 0)                                                        \
  X(logical_or, uint8_t, kCheapGrain, a != 0 || b != 0)                                                         \
  X(logical_xor, uint8_t, kCheapGrain, (a != 0) != (b != 0))                                                   \
  X(relu_grad, float, kCheapGrain, b <= 0 ? 0.0f : a)

#define DEFINE_UNARY(NAME, OUT, GRAIN, EXPR)       \
  struct Unary_##NAME {                            \
    using Out = OUT;                               \
    static constexpr int64_t kGrain = GRAIN;       \
    Out operator()(float x) const { return EXPR; } \
  };
#define DEFINE_BINARY(NAME, OUT, GRAIN, EXPR)               \
  struct Binary_##NAME {                                    \
    using Out = OUT;                                        \
    static constexpr int64_t kGrain = GRAIN;                \
    Out operator()(float a, float b) const { return EXPR; } \
  };
STRIDE_UNARY(DEFINE_UNARY)
STRIDE_BINARY(DEFINE_BINARY)

// Kernels take tiles (forTiles): m rows of n, row r of operand x starting r * tx further on.
template <class Op>
STRIDE_CLONES void unaryTile(int64_t m, int64_t n, const float* x, int64_t tx, int64_t sx, typename Op::Out* o, int64_t to, int64_t so) {
  const Op op;
  if (n == 16 && sx == 1 && so == 1) {
    // Through local copies, which alias nothing, so the 16 operations become vector ones.
    float in[16];
    typename Op::Out res[16];
    for (int64_t r = 0; r < m; r++, x += tx, o += to) {
      std::memcpy(in, x, sizeof in);
      for (int i = 0; i < 16; i++) res[i] = op(in[i]);
      std::memcpy(o, res, sizeof res);
    }
    return;
  }
  for (int64_t r = 0; r < m; r++, x += tx, o += to) {
    if (sx == 1 && so == 1) {
      for (int64_t i = 0; i < n; i++) o[i] = op(x[i]);
    } else {
      for (int64_t i = 0; i < n; i++) o[i * so] = op(x[i * sx]);
    }
  }
}

template <class Op>
STRIDE_CLONES void binaryTile(int64_t m, int64_t n, const float* a, int64_t ta, int64_t sa, const float* b, int64_t tb, int64_t sb,
                              typename Op::Out* o, int64_t to, int64_t so) {
  const Op op;
  if (n == 16 && sa == 1 && sb == 1 && so == 1 && (ta == 0 || tb == 0)) {
    // A blocked activation and a per-channel operand (batch norm's scale or shift): the 16
    // channels' values stay in registers while the positions go by.
    float held[16];
    const float* h = ta == 0 ? a : b;
    for (int i = 0; i < 16; i++) held[i] = h[i];
    const float* v = ta == 0 ? b : a;
    const int64_t tv = ta == 0 ? tb : ta;
    // Through local copies, which alias nothing, so the 16 operations become vector ones.
    float in[16];
    typename Op::Out res[16];
    for (int64_t r = 0; r < m; r++, v += tv, o += to) {
      std::memcpy(in, v, sizeof in);
      if (ta == 0) {
        for (int i = 0; i < 16; i++) res[i] = op(held[i], in[i]);
      } else {
        for (int i = 0; i < 16; i++) res[i] = op(in[i], held[i]);
      }
      std::memcpy(o, res, sizeof res);
    }
    return;
  }
  for (int64_t r = 0; r < m; r++, a += ta, b += tb, o += to) {
    if (sa == 1 && sb == 1 && so == 1) {
      for (int64_t i = 0; i < n; i++) o[i] = op(a[i], b[i]);
    } else if (sa == 1 && sb == 0 && so == 1) {
      const float bv = *b;
      for (int64_t i = 0; i < n; i++) o[i] = op(a[i], bv);
    } else if (sa == 0 && sb == 1 && so == 1) {
      const float av = *a;
      for (int64_t i = 0; i < n; i++) o[i] = op(av, b[i]);
    } else {
      for (int64_t i = 0; i < n; i++) o[i * so] = op(a[i * sa], b[i * sb]);
    }
  }
}

// a·b + c in float64, rounded once: a float32 product is exact there, as in the reference.
inline float mulAddOne(float a, double b, double c) { return static_cast<float>(a * b + c); }

STRIDE_CLONES void mulAddTile(int64_t m, int64_t n, const float* a, int64_t ta, int64_t sa, const float* b, int64_t tb, int64_t sb,
                              const float* c, int64_t tc, int64_t sc, float* o, int64_t to, int64_t so) {
  if (n == 16 && sa == 1 && sb == 1 && sc == 1 && so == 1 && tb == 0 && tc == 0) {
    // A blocked activation times a per-channel scale plus a per-channel shift (batch norm): the
    // 16 channels' values stay in registers while the positions go by.
    double scale[16], shift[16];
    for (int i = 0; i < 16; i++) scale[i] = b[i], shift[i] = c[i];
    float in[16], res[16];
    for (int64_t r = 0; r < m; r++, a += ta, o += to) {
      std::memcpy(in, a, sizeof in);
      for (int i = 0; i < 16; i++) res[i] = mulAddOne(in[i], scale[i], shift[i]);
      std::memcpy(o, res, sizeof res);
    }
    return;
  }
  for (int64_t r = 0; r < m; r++, a += ta, b += tb, c += tc, o += to) {
    if (sa == 1 && sb == 1 && sc == 1 && so == 1) {
      for (int64_t i = 0; i < n; i++) o[i] = mulAddOne(a[i], b[i], c[i]);
    } else if (sa == 1 && sb == 0 && sc == 1 && so == 1) {  // p + α·v
      const double bv = *b;
      for (int64_t i = 0; i < n; i++) o[i] = mulAddOne(a[i], bv, c[i]);
    } else if (sa == 1 && sb == 0 && sc == 0 && so == 1) {  // a plain channel row times its scale plus its shift
      const double bv = *b, cv = *c;
      for (int64_t i = 0; i < n; i++) o[i] = mulAddOne(a[i], bv, cv);
    } else {
      for (int64_t i = 0; i < n; i++) o[i * so] = mulAddOne(a[i * sa], b[i * sb], c[i * sc]);
    }
  }
}

template <class T>
constexpr napi_typedarray_type arrayType() {
  return std::is_same<T, float>::value ? napi_float32_array : napi_uint8_array;
}

// unary(op, x, out, geometry)
template <class Op>
void runUnary(Call& c) {
  const Array x = c.array(1, napi_float32_array, "x");
  const Array out = c.array(2, arrayType<typename Op::Out>(), "out");
  size_t count;
  const double* meta = c.meta(3, &count);
  Meta m(meta, count);
  const auto s = readStrided<2>(m, {&x, &out});
  const float* xs = x.as<float>();
  auto* os = out.as<typename Op::Out>();
  forTiles(s, [&](const int64_t* off, int64_t m, const int64_t* t, int64_t n, const int64_t* st) {
    unaryTile<Op>(m, n, xs + off[0], t[0], st[0], os + off[1], t[1], st[1]);
  }, Op::kGrain);
}

// binary(op, a, b, out, geometry)
template <class Op>
void runBinary(Call& c) {
  const Array a = c.array(1, napi_float32_array, "a");
  const Array b = c.array(2, napi_float32_array, "b");
  const Array out = c.array(3, arrayType<typename Op::Out>(), "out");
  size_t count;
  const double* meta = c.meta(4, &count);
  Meta m(meta, count);
  const auto s = readStrided<3>(m, {&a, &b, &out});
  const float* as = a.as<float>();
  const float* bs = b.as<float>();
  auto* os = out.as<typename Op::Out>();
  forTiles(s, [&](const int64_t* off, int64_t m, const int64_t* t, int64_t n, const int64_t* st) {
    binaryTile<Op>(m, n, as + off[0], t[0], st[0], bs + off[1], t[1], st[1], os + off[2], t[2], st[2]);
  }, Op::kGrain);
}

#define UNARY_ENTRY(NAME, OUT, GRAIN, EXPR) runUnary<Unary_##NAME>,
#define BINARY_ENTRY(NAME, OUT, GRAIN, EXPR) runBinary<Binary_##NAME>,
#define NAME_ENTRY(NAME, OUT, GRAIN, EXPR) {#NAME, std::is_same<OUT, float>::value ? "float32" : "bool"},
void (*const kUnaryRun[])(Call&) = {STRIDE_UNARY(UNARY_ENTRY)};
void (*const kBinaryRun[])(Call&) = {STRIDE_BINARY(BINARY_ENTRY)};

STRIDE_CLONES void whereRow(int64_t n, const uint8_t* c, int64_t sc, const float* a, int64_t sa, const float* b, int64_t sb, float* o, int64_t so) {
  if (sc == 1 && sa == 1 && sb == 1 && so == 1) {
    for (int64_t i = 0; i < n; i++) o[i] = c[i] ? a[i] : b[i];
  } else if (sc == 1 && sa == 1 && sb == 0 && so == 1) {  // where(mask, x, 0): ReLU's gradient
    const float bv = *b;
    for (int64_t i = 0; i < n; i++) o[i] = c[i] ? a[i] : bv;
  } else if (sc == 1 && sa == 0 && sb == 1 && so == 1) {
    const float av = *a;
    for (int64_t i = 0; i < n; i++) o[i] = c[i] ? av : b[i];
  } else {
    for (int64_t i = 0; i < n; i++) o[i * so] = c[i * sc] ? a[i * sa] : b[i * sb];
  }
}

template <class T>
STRIDE_CLONES void copyRow(int64_t n, const T* s, int64_t ss, T* d, int64_t ds) {
  if (ss == 1 && ds == 1) {
    std::memmove(d, s, n * sizeof(T));
  } else if (ss == 0 && ds == 1) {
    const T v = *s;
    for (int64_t i = 0; i < n; i++) d[i] = v;
  } else {
    for (int64_t i = 0; i < n; i++) d[i * ds] = s[i * ss];
  }
}

template <class T>
void runCopy(const Array& src, const Array& dst, Meta& m) {
  const auto s = readStrided<2>(m, {&src, &dst});
  const T* ss = src.as<T>();
  T* ds = dst.as<T>();
  forRows(s, [&](const int64_t* off, int64_t n, const int64_t* st) { copyRow<T>(n, ss + off[0], st[0], ds + off[1], st[1]); }, kCheapGrain);
}

template <class T>
void runFill(const Array& dst, T value, Meta& m) {
  const auto s = readStrided<1>(m, {&dst});
  T* ds = dst.as<T>();
  forRows(s, [&](const int64_t* off, int64_t n, const int64_t* st) {
    T* d = ds + off[0];
    if (st[0] == 1) {
      for (int64_t i = 0; i < n; i++) d[i] = value;
    } else {
      for (int64_t i = 0; i < n; i++) d[i * st[0]] = value;
    }
  }, kCheapGrain);
}

int opIndex(Call& c, int count, const char* kind) {
  const int op = c.int32(0);
  if (op < 0 || op >= count) throw Error(std::string("unknown ") + kind + " op " + std::to_string(op));
  return op;
}

}  // namespace

const OpInfo kUnaryOps[] = {STRIDE_UNARY(NAME_ENTRY)};
const int kUnaryOpCount = sizeof(kUnaryOps) / sizeof(kUnaryOps[0]);
const OpInfo kBinaryOps[] = {STRIDE_BINARY(NAME_ENTRY)};
const int kBinaryOpCount = sizeof(kBinaryOps) / sizeof(kBinaryOps[0]);

napi_value unary(Call& c) {
  kUnaryRun[opIndex(c, kUnaryOpCount, "unary")](c);
  return c.undefined();
}

napi_value binary(Call& c) {
  kBinaryRun[opIndex(c, kBinaryOpCount, "binary")](c);
  return c.undefined();
}

// where(cond, a, b, out, geometry)
napi_value where(Call& c) {
  const Array cond = c.array(0, napi_uint8_array, "cond");
  const Array a = c.array(1, napi_float32_array, "a");
  const Array b = c.array(2, napi_float32_array, "b");
  const Array out = c.array(3, napi_float32_array, "out");
  size_t count;
  const double* meta = c.meta(4, &count);
  Meta m(meta, count);
  const auto s = readStrided<4>(m, {&cond, &a, &b, &out});
  forRows(s, [&](const int64_t* off, int64_t n, const int64_t* st) {
    whereRow(n, cond.as<uint8_t>() + off[0], st[0], a.as<float>() + off[1], st[1], b.as<float>() + off[2], st[2],
             out.as<float>() + off[3], st[3]);
  }, kCheapGrain);
  return c.undefined();
}

// mulAdd(a, b, c, out, geometry): out = a·b + c.
napi_value mulAdd(Call& c) {
  const Array a = c.array(0, napi_float32_array, "a");
  const Array b = c.array(1, napi_float32_array, "b");
  const Array d = c.array(2, napi_float32_array, "c");
  const Array out = c.array(3, napi_float32_array, "out");
  size_t count;
  const double* meta = c.meta(4, &count);
  Meta m(meta, count);
  const auto s = readStrided<4>(m, {&a, &b, &d, &out});
  forTiles(s, [&](const int64_t* off, int64_t rows, const int64_t* t, int64_t n, const int64_t* st) {
    mulAddTile(rows, n, a.as<float>() + off[0], t[0], st[0], b.as<float>() + off[1], t[1], st[1], d.as<float>() + off[2], t[2], st[2],
               out.as<float>() + off[3], t[3], st[3]);
  }, kCheapGrain);
  return c.undefined();
}

namespace {

// SGD's update, as Backend.sgdStep spells it: every quantity rounded to float as its own op
// would round it (a·b + c computed in double, as mulAdd), so it matches the ops it replaces.
struct SgdScalars {
  double alpha, decay, keep;
  float mu;
};

template <bool kDecay, bool kMomentum, bool kFirst, bool kNesterov>
inline void sgdOne(float* p, const float* g, float* b, const SgdScalars& s) {
  const float w = *p;
  double d = kDecay ? static_cast<float>(w * s.decay + *g) : *g;
  if (kMomentum) {
    const float v = kFirst ? static_cast<float>(d) : static_cast<float>(d * s.keep + *b * s.mu);
    *b = v;
    d = kNesterov ? static_cast<float>(static_cast<double>(v) * s.mu + d) : v;
  }
  *p = static_cast<float>(d * s.alpha + w);
}

template <bool kDecay, bool kMomentum, bool kFirst, bool kNesterov>
STRIDE_CLONES void sgdRow(int64_t n, float* p, int64_t sp, const float* g, int64_t sg, float* b, int64_t sb, const SgdScalars& s) {
  if (sp == 1 && sg == 1 && (!kMomentum || sb == 1)) {
    for (int64_t i = 0; i < n; i++) sgdOne<kDecay, kMomentum, kFirst, kNesterov>(p + i, g + i, b + i, s);
  } else {
    for (int64_t i = 0; i < n; i++) sgdOne<kDecay, kMomentum, kFirst, kNesterov>(p + i * sp, g + i * sg, b + i * sb, s);
  }
}

using SgdRow = void (*)(int64_t, float*, int64_t, const float*, int64_t, float*, int64_t, const SgdScalars&);

#define STRIDE_SGD_ROW(i) &sgdRow<(i & 8) != 0, (i & 4) != 0, (i & 2) != 0, (i & 1) != 0>
constexpr SgdRow kSgdRows[16] = {
    STRIDE_SGD_ROW(0), STRIDE_SGD_ROW(1), STRIDE_SGD_ROW(2), STRIDE_SGD_ROW(3), STRIDE_SGD_ROW(4), STRIDE_SGD_ROW(5),
    STRIDE_SGD_ROW(6), STRIDE_SGD_ROW(7), STRIDE_SGD_ROW(8), STRIDE_SGD_ROW(9), STRIDE_SGD_ROW(10), STRIDE_SGD_ROW(11),
    STRIDE_SGD_ROW(12), STRIDE_SGD_ROW(13), STRIDE_SGD_ROW(14), STRIDE_SGD_ROW(15)};
#undef STRIDE_SGD_ROW

}  // namespace

// sgdStep(p, grad, buf, geometry, alpha, weightDecay, momentum, dampening, flags): flags bit 0
// Nesterov, bit 1 the buffer's first step, bit 2 a buffer (without one, buf is p, unused).
napi_value sgdStep(Call& c) {
  const Array p = c.array(0, napi_float32_array, "p");
  const Array g = c.array(1, napi_float32_array, "grad");
  const Array b = c.array(2, napi_float32_array, "momentum buffer");
  size_t count;
  const double* meta = c.meta(3, &count);
  Meta m(meta, count);
  const auto s = readStrided<3>(m, {&p, &g, &b});
  const float mu = static_cast<float>(c.number(6));
  const int flags = c.int32(8);
  const SgdScalars k{static_cast<float>(c.number(4)), static_cast<float>(c.number(5)), static_cast<float>(1 - c.number(7)), mu};
  const SgdRow row = kSgdRows[(k.decay != 0) << 3 | (flags & 7)];
  // Split from 2^14 elements, not kCheapGrain's 2^16: in a training step the parameters and
  // buffers come cold, or from the other core's cache after a two-thread product read them, and
  // one thread alone waited on them (LeNet-5's 120x400 update in a step: 111 -> 40 us).
  forRows(s, [&](const int64_t* off, int64_t n, const int64_t* st) {
    row(n, p.as<float>() + off[0], st[0], g.as<float>() + off[1], st[1], b.as<float>() + off[2], st[2], k);
  }, kCostlyGrain);
  return c.undefined();
}

namespace {

// Adam's update, as Backend.adamStep spells it (rounded as sgdStep): float products, quotients
// and square roots are correctly rounded as they are; the multiply-adds run in double.
struct AdamScalars {
  float decay, wd, sign, b1, b2, c2, eps;
  double k1, k2, alpha;
};

template <bool kAmsgrad, bool kDecay>
inline void adamOne(float* p, const float* g, float* m, float* v, float* x, const AdamScalars& s) {
  const float w = *p * s.decay;
  float gi = *g * s.sign;
  if (kDecay) gi = static_cast<float>(static_cast<double>(w) * s.wd + gi);
  const float mn = static_cast<float>(gi * s.k1 + *m * s.b1);
  const float vn = static_cast<float>(static_cast<float>(gi * gi) * s.k2 + *v * s.b2);
  *m = mn;
  *v = vn;
  float second = vn;
  if (kAmsgrad) *x = second = jsMax(*x, vn);
  const float denom = std::sqrt(second) / s.c2 + s.eps;
  *p = static_cast<float>((mn / denom) * s.alpha + w);
}

template <bool kAmsgrad, bool kDecay>
STRIDE_CLONES void adamRow(int64_t n, float* p, int64_t sp, const float* g, int64_t sg, float* m, int64_t sm, float* v, int64_t sv, float* x, int64_t sx,
                           const AdamScalars& s) {
  // Contiguous rows apart, so the compiler vectorises them.
  if (sp == 1 && sg == 1 && sm == 1 && sv == 1 && (!kAmsgrad || sx == 1)) {
    for (int64_t i = 0; i < n; i++) adamOne<kAmsgrad, kDecay>(p + i, g + i, m + i, v + i, x + i, s);
  } else {
    for (int64_t i = 0; i < n; i++) adamOne<kAmsgrad, kDecay>(p + i * sp, g + i * sg, m + i * sm, v + i * sv, x + i * sx, s);
  }
}

using AdamRow = void (*)(int64_t, float*, int64_t, const float*, int64_t, float*, int64_t, float*, int64_t, float*, int64_t, const AdamScalars&);
constexpr AdamRow kAdamRows[4] = {&adamRow<false, false>, &adamRow<false, true>, &adamRow<true, false>, &adamRow<true, true>};

}  // namespace

// adamStep(p, grad, m, v, vmax, geometry, [stepSize, beta1, beta2, eps, correction2Sqrt,
// weightDecay, decay, flags]): flags bit 0 maximize, bit 1 amsgrad (without it vmax is v, unused).
napi_value adamStep(Call& c) {
  const Array p = c.array(0, napi_float32_array, "p");
  const Array g = c.array(1, napi_float32_array, "grad");
  const Array m = c.array(2, napi_float32_array, "m");
  const Array v = c.array(3, napi_float32_array, "v");
  const Array x = c.array(4, napi_float32_array, "vmax");
  size_t count, n;
  const double* meta = c.meta(5, &count);
  Meta geometry(meta, count);
  const auto s = readStrided<5>(geometry, {&p, &g, &m, &v, &x});
  const double* a = c.meta(6, &n);
  if (n < 8) throw Error("adamStep takes 8 parameters, got " + std::to_string(n));
  const int flags = static_cast<int>(a[7]);
  const AdamScalars k{static_cast<float>(a[6]), static_cast<float>(a[5]), (flags & 1) ? -1.0f : 1.0f, static_cast<float>(a[1]), static_cast<float>(a[2]),
                      static_cast<float>(a[4]), static_cast<float>(a[3]), static_cast<float>(1 - a[1]), static_cast<float>(1 - a[2]), static_cast<float>(-a[0])};
  const AdamRow row = kAdamRows[((flags & 2) ? 2 : 0) | (k.wd != 0 ? 1 : 0)];
  // Split as sgdStep's, for the same reason.
  forRows(s, [&](const int64_t* off, int64_t len, const int64_t* st) {
    row(len, p.as<float>() + off[0], st[0], g.as<float>() + off[1], st[1], m.as<float>() + off[2], st[2], v.as<float>() + off[3], st[3],
        x.as<float>() + off[4], st[4], k);
  }, kCostlyGrain);
  return c.undefined();
}

// copy(src, dst, geometry): both of one element type, copied bit for bit.
napi_value copy(Call& c) {
  const Array src = c.array(0);
  const Array dst = c.array(1);
  if (src.type != dst.type) throw Error("source and destination differ in element type");
  size_t count;
  const double* meta = c.meta(2, &count);
  Meta m(meta, count);
  switch (elementSize(src.type)) {
    case 1: runCopy<uint8_t>(src, dst, m); break;
    case 2: runCopy<uint16_t>(src, dst, m); break;
    case 4: runCopy<uint32_t>(src, dst, m); break;
    default: runCopy<uint64_t>(src, dst, m); break;
  }
  return c.undefined();
}

// fill(dst, value, geometry) for float32 and float64 buffers.
napi_value fill(Call& c) {
  const Array dst = c.array(0);
  const double value = c.number(1);
  size_t count;
  const double* meta = c.meta(2, &count);
  Meta m(meta, count);
  if (dst.type == napi_float32_array) {
    runFill<float>(dst, static_cast<float>(value), m);
  } else if (dst.type == napi_float64_array) {
    runFill<double>(dst, value, m);
  } else {
    throw Error("fill takes float32 or float64 buffers");
  }
  return c.undefined();
}

}  // namespace stride
