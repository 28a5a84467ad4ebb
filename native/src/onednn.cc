// Convolutions and matrix products through oneDNN, with primitives cached by geometry.
#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <list>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "batch_conv.h"
#include "layout.h"
#include "ops.h"
#include "small_conv.h"
#include "winograd.h"
#include "strided.h"

#if DNNL_VERSION_MAJOR != 2
#error "stride's native backend is written against the oneDNN 2.x API"
#endif

namespace stride {
namespace {

using dnnl::memory;
using Dims = memory::dims;
using Tag = memory::format_tag;
constexpr auto kF32 = memory::data_type::f32;

struct FreeAligned {
  void operator()(void* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<void, FreeAligned>;

AlignedBuffer alignedBuffer(size_t bytes) {
  AlignedBuffer b(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
  if (!b) throw Error("out of memory for a " + std::to_string(bytes) + "-byte buffer");
  return b;
}

/** Grow-only buffers for operands in the primitive's own layout, one per operand slot, shared by all calls. */
class Scratch {
 public:
  void* get(int slot, size_t bytes) {
    if (bytes > size_[slot]) {
      buffers_[slot].reset();
      size_[slot] = 0;
      buffers_[slot] = alignedBuffer(bytes);
      size_[slot] = bytes;
    }
    return buffers_[slot].get();
  }

 private:
  static constexpr int kSlots = 3;
  AlignedBuffer buffers_[kSlots];
  size_t size_[kSlots] = {};
};

/**
 * Least-recently-used map from a geometry key to what was built for it, bounded in entries and
 * in the bytes its values declare (the newest entry always stays).
 */
class Lru {
 public:
  using Key = std::vector<int64_t>;

  Lru(size_t maxItems, size_t maxBytes) : maxItems_(maxItems), maxBytes_(maxBytes) {}

  template <class T, class Make>
  T& get(const Key& key, const Make& make, size_t bytes = 0) {
    auto found = index_.find(key);
    if (found != index_.end()) {
      items_.splice(items_.begin(), items_, found->second);
      return *static_cast<T*>(found->second->value.get());
    }
    std::shared_ptr<void> value = make();
    items_.push_front({key, value, bytes});
    index_[key] = items_.begin();
    bytes_ += bytes;
    while (items_.size() > 1 && (items_.size() > maxItems_ || bytes_ > maxBytes_)) {
      bytes_ -= items_.back().bytes;
      index_.erase(items_.back().key);
      items_.pop_back();
    }
    return *static_cast<T*>(value.get());
  }

 private:
  struct Item {
    Key key;
    std::shared_ptr<void> value;
    size_t bytes;
  };
  struct Hash {
    size_t operator()(const Key& k) const {
      size_t h = 1469598103934665603ull;
      for (int64_t v : k) h = (h ^ static_cast<size_t>(v)) * 1099511628211ull;
      return h;
    }
  };
  size_t maxItems_, maxBytes_, bytes_ = 0;
  std::list<Item> items_;  // most recent first
  std::unordered_map<Key, std::list<Item>::iterator, Hash> index_;
};

/** The engine, stream and caches; one per JS thread, since worker threads may load the addon too. */
struct Context {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  // Enough primitives for every layer of a network forward and backward.
  Lru cache{256, SIZE_MAX};
  Scratch scratch;
  // KeptWeights: a network's convolution weights twice over (ResNet-50's are 94 MB), but not
  // every network a long-lived process ever ran.
  Lru weights{256, size_t{256} << 20};
  // Winograd convolutions where they pay (oneDNN's forward and input gradient where
  // ConvGeometry::winogradPays, stride's own (winograd.h) for the weight gradient and for 16
  // channels); setWinograd(false) turns them off.
  bool winograd = true;
};

Context& context() {
  thread_local Context c;
  return c;
}

/** One operand: memory in the caller's plain layout and, if the primitive wants another, its own and the reorder between them. */
struct Operand {
  bool output;
  int slot;
  memory user, inner;
  dnnl::reorder convert;

  Operand(const dnnl::engine& engine, int slot_, bool output_, const memory::desc& plain, const memory::desc& wanted)
      : output(output_), slot(slot_), user(plain, engine, DNNL_MEMORY_NONE), inner(user) {
    if (wanted != plain) {
      inner = memory(wanted, engine, DNNL_MEMORY_NONE);
      convert = output ? dnnl::reorder(inner, user) : dnnl::reorder(user, inner);
    }
  }

  bool reordered() const { return inner != user; }
};

/**
 * Weights in a convolution's own layout, kept from one call to the next while their contents do
 * not change. The JS side stamps a buffer with a number never used before whenever a primitive
 * or a write changes it, and passes the weights' buffer id and stamp: a copy made from the same
 * stamp is the same contents. Inference at batch 1 spent a tenth of its time reordering
 * ResNet-18's weights (4.3 of 42 ms); in training the stamp changes every step and the copy is
 * remade, as without the cache.
 */
struct KeptWeights {
  int64_t stamp = 0;  // 0: holds nothing usable
  AlignedBuffer data;
  explicit KeptWeights(size_t bytes) : data(alignedBuffer(bytes)) {}
};

/** An input operand's own-layout copy held outside the scratch, and whether it is already current. */
struct KeptOperand {
  size_t index;
  void* inner;
  bool current;
};

/** A primitive and its operands (inputs first), ready to run on the caller's buffers. */
struct Prepared {
  dnnl::primitive primitive;
  std::vector<Operand> operands;
  std::unordered_map<int, memory> args;

  void add(int arg, Operand op) {
    args.emplace(arg, op.inner);
    operands.push_back(std::move(op));
  }

  void run(Context& c, void* const* data, const KeptOperand* kept = nullptr) {
    for (size_t i = 0; i < operands.size(); i++) {
      Operand& op = operands[i];
      op.user.set_data_handle(data[i]);
      if (!op.reordered()) continue;
      const bool isKept = kept != nullptr && kept->index == i;
      op.inner.set_data_handle(isKept ? kept->inner : c.scratch.get(op.slot, op.inner.get_desc().get_size()));
      if (!op.output && !(isKept && kept->current)) op.convert.execute(c.stream, op.user, op.inner);
    }
    primitive.execute(c.stream, args);
    for (Operand& op : operands) {
      if (op.output && op.reordered()) op.convert.execute(c.stream, op.inner, op.user);
    }
    c.stream.wait();
  }
};

/**
 * Holds asynchronous signals back from the calling thread while oneDNN runs, and delivers them
 * after. oneDNN 2.6's multithreaded gemm corrupts the heap when the thread that started it takes
 * a signal (V8's sampling profiler, node --cpu-prof, sends one every millisecond).
 */
class SignalsDeferred {
 public:
  SignalsDeferred() {
    sigset_t block;
    sigfillset(&block);
    for (int s : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT}) sigdelset(&block, s);
    pthread_sigmask(SIG_BLOCK, &block, &saved_);
  }
  ~SignalsDeferred() { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  SignalsDeferred(const SignalsDeferred&) = delete;
  SignalsDeferred& operator=(const SignalsDeferred&) = delete;

 private:
  sigset_t saved_;
};

/**
 * The OpenMP team oneDNN creates and runs a primitive with: one thread below about 2 Mflop (tens
 * of microseconds, less than waking the others costs, much less when the cores are shared),
 * else all. Restored on scope exit; a primitive is cached per team size, since oneDNN fixes the
 * thread count of many kernels when it creates them.
 */
class Team {
 public:
  explicit Team(double flops) : saved_(omp_get_max_threads()) {
    if (flops < 2e6) omp_set_num_threads(1);
  }
  ~Team() { omp_set_num_threads(saved_); }
  Team(const Team&) = delete;
  Team& operator=(const Team&) = delete;

  int64_t size() const { return omp_get_max_threads(); }

 private:
  int saved_;
};

const char* statusName(dnnl_status_t s) {
  switch (s) {
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "unimplemented";
    case dnnl_runtime_error: return "runtime error";
    default: return "error";
  }
}

std::string list(std::initializer_list<int64_t> v) {
  std::string s = "[";
  for (int64_t x : v) s += (s.size() > 1 ? ", " : "") + std::to_string(x);
  return s + "]";
}

// ---------------------------------------------------------------- convolution

enum ConvKind : int64_t { kForward = 1, kBackwardData, kBackwardWeights };

/**
 * A convolution call's geometry, packed by the JS side as [N, C, H, W, O, Cg, KH, KW, OH, OW,
 * sh, sw, ph, pw, dh, dw, groups], the element offsets of its three buffers, the weights'
 * buffer id and stamp (see KeptWeights; 0 and 0 when not kept), for each buffer whether it
 * holds (an input) or may take (the output) the blocked nChw16c layout instead of nchw, and the
 * offset of a bias [O] in its own buffer (-1: none): the forward's bias, or the weight gradient's
 * second output, the bias gradient (gy summed over N, H and W).
 */
struct ConvGeometry {
  int64_t N, C, H, W, O, Cg, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G;
  int64_t offsets[3];
  int64_t weightsId, weightsStamp;
  bool blocked[3];
  int64_t biasOffset;
  /**
   * The input rows and columns some output reads. Trailing ones no window reaches (PyTorch's
   * floor in the output size, or a transposed convolution's output_padding) are left out of
   * what oneDNN sees, so its right padding is never negative, which it refuses with dilation.
   */
  int64_t Hc, Wc;

  explicit ConvGeometry(Meta& m) {
    int64_t* fields[] = {&N, &C, &H, &W, &O, &Cg, &KH, &KW, &OH, &OW, &sh, &sw, &ph, &pw, &dh, &dw, &G};
    for (int64_t* f : fields) *f = m.next();
    for (int64_t& o : offsets) o = m.next();
    weightsId = m.next();
    weightsStamp = m.next();
    for (bool& b : blocked) b = m.next() != 0;
    biasOffset = m.next();
    if (N < 1 || C < 1 || H < 1 || W < 1 || O < 1 || KH < 1 || KW < 1 || OH < 1 || OW < 1 || G < 1 || Cg * G != C || O % G != 0) {
      throw Error("inconsistent geometry for a " + describe(kForward));
    }
    Hc = std::min(H, (OH - 1) * sh + (KH - 1) * dh + 1 - ph);
    Wc = std::min(W, (OW - 1) * sw + (KW - 1) * dw + 1 - pw);
  }

  /** False when every window lies in the padding: all three results are then zero. */
  bool reachesInput() const { return Hc > 0 && Wc > 0; }

  int64_t srcSize() const { return N * C * H * W; }
  int64_t weightsSize() const { return O * Cg * KH * KW; }
  int64_t dstSize() const { return N * O * OH * OW; }

  /** The covered part of the input: in oneDNN's chosen layout, or as a window of the caller's nchw buffer. */
  memory::desc src(Tag t) const { return {{N, C, Hc, Wc}, kF32, t}; }
  memory::desc userSrc(bool isBlocked) const {
    if (isBlocked) return memory::desc({N, C, H, W}, kF32, Tag::nChw16c).submemory_desc({N, C, Hc, Wc}, {0, 0, 0, 0});
    return {{N, C, Hc, Wc}, kF32, Dims{C * H * W, H * W, W, 1}};
  }
  memory::desc dst(Tag t) const { return {{N, O, OH, OW}, kF32, t}; }
  memory::desc userDst(bool isBlocked) const { return dst(isBlocked ? Tag::nChw16c : Tag::nchw); }
  bool hasBias() const { return biasOffset >= 0; }
  memory::desc bias() const { return {{O}, kF32, Tag::x}; }
  memory::desc weights(Tag t) const {
    // The caller's [O, C/G, kh, kw] is already goihw: groups are the outer split of O.
    if (G == 1) return {{O, Cg, KH, KW}, kF32, t == Tag::any ? t : Tag::oihw};
    return {{G, O / G, Cg, KH, KW}, kF32, t == Tag::any ? t : Tag::goihw};
  }
  Dims strides() const { return {sh, sw}; }
  // oneDNN counts dilation from 0; the right padding follows from the output size.
  Dims dilates() const { return {dh - 1, dw - 1}; }
  Dims padL() const { return {ph, pw}; }
  Dims padR() const { return {(OH - 1) * sh + (KH - 1) * dh + 1 - Hc - ph, (OW - 1) * sw + (KW - 1) * dw + 1 - Wc - pw}; }

  /** Zeroes the input-gradient rows and columns outside the covered part, which no output reaches. */
  void zeroUncovered(float* gx) const {
    if (Hc == H && Wc == W) return;
    // A blocked plane holds 16 channels' values per position.
    const int64_t lanes = blocked[2] ? kBlock16 : 1;
    for (int64_t plane = 0; plane < N * C / lanes; plane++) {
      float* p = gx + plane * H * W * lanes;
      for (int64_t h = 0; h < Hc; h++) std::fill(p + (h * W + Wc) * lanes, p + (h + 1) * W * lanes, 0.0f);
      std::fill(p + Hc * W * lanes, p + H * W * lanes, 0.0f);
    }
  }

  double flops() const { return 2.0 * N * O * OH * OW * Cg * KH * KW; }

  /** Operand i's channels and plane size when it is an activation (x, y or their gradients), else {0, 0}. */
  std::pair<int64_t, int64_t> activation(ConvKind kind, int i) const {
    const bool isSrc = (kind == kBackwardData) ? i == 2 : i == 0;
    const bool isDst = (kind == kForward && i == 2) || (kind == kBackwardData && i == 0) || (kind == kBackwardWeights && i == 1);
    return isSrc ? std::make_pair(C, H * W) : isDst ? std::make_pair(O, OH * OW) : std::make_pair(int64_t{0}, int64_t{0});
  }

  /**
   * Whether oneDNN's Winograd F(4x4, 3x3) is used: about half the multiplications of a direct 3x3
   * convolution, for a little more rounding. Measured against direct on AVX-512 (forward and input
   * gradient, one and two threads): 1.7-2.2x faster with >= 32 channels in and out and >= 32 output
   * tiles of 4x4 over the batch (ResNet-18's 56x56x64 and 28x28x128 at batch 1, ResNet-20's 16x16x32
   * and 8x8x64 at batch 32); slower with 16 channels or fewer tiles (14x14 and 7x7 at batch 1, up
   * to 3.4x). oneDNN 2.6 has no Winograd weight gradient on this ISA: stride's own
   * (winograd.h) takes it, and the 16-channel forward and input gradient.
   */
  bool winogradPays(ConvKind kind) const {
    const int64_t tiles = N * ((OH + 3) / 4) * ((OW + 3) / 4);
    return kind != kBackwardWeights && G == 1 && KH == 3 && KW == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1 &&
           C >= 32 && O >= 32 && tiles >= 32;
  }

  ConvShape shape() const { return {N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G}; }

  Lru::Key key(ConvKind kind, int64_t threads, bool winograd) const {
    return {kind, threads, winograd, blocked[0], blocked[1], blocked[2], hasBias(), N, C, H, W, O, Cg, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G};
  }

  /** Fills an nchw output with the bias (a convolution whose windows never reach the input). */
  void fillBias(const float* b, float* y) const {
    const int64_t plane = OH * OW;
    for (int64_t i = 0; i < N * O; i++) std::fill_n(y + i * plane, plane, b[i % O]);
  }

  std::string describe(ConvKind kind) const {
    const char* what = kind == kForward ? "forward" : kind == kBackwardData ? "backward data" : "backward weights";
    return std::string("convolution ") + what + " of x " + list({N, C, H, W}) + " and w " + list({O, Cg, KH, KW}) +
           " to " + list({N, O, OH, OW}) + ", stride " + list({sh, sw}) + ", padding " + list({ph, pw}) + ", dilation " +
           list({dh, dw}) + ", groups " + std::to_string(G);
  }
};

/**
 * The activation layout to ask oneDNN for; the caller's nchw is reordered to and from it. Chosen
 * by measurement (AVX-512, one thread; LeNet-5's two convolutions and a 64-channel 3x3 one):
 * oneDNN's own choice (blocked nChw16c) is fastest forward and for the input gradient, by 1.2-3x
 * over nchw, except for the input gradient of a 1-3 channel input, where it is 4x slower than
 * nchw; nhwc is fastest for the weight gradient (1.3-2.4x over oneDNN's choice).
 */
Tag activationTag(ConvKind kind, const ConvGeometry& g) {
  if (kind == kBackwardWeights) return Tag::nhwc;
  return kind == kBackwardData && g.C < 4 ? Tag::nchw : Tag::any;
}

dnnl::convolution_forward::primitive_desc forwardPd(const Context& c, const ConvGeometry& g, Tag act, dnnl::algorithm algorithm, bool withBias) {
  using Desc = dnnl::convolution_forward::desc;
  const auto kind = dnnl::prop_kind::forward_training;
  const Desc d = withBias ? Desc(kind, algorithm, g.src(act), g.weights(Tag::any), g.bias(), g.dst(act), g.strides(), g.dilates(), g.padL(), g.padR())
                          : Desc(kind, algorithm, g.src(act), g.weights(Tag::any), g.dst(act), g.strides(), g.dilates(), g.padL(), g.padR());
  return {d, c.engine};
}

std::shared_ptr<Prepared> prepareConv(const Context& c, const ConvGeometry& g, ConvKind kind, dnnl::algorithm algorithm) {
  const Tag act = activationTag(kind, g);
  // The input gradient is described from a forward without bias; the weight gradient from one
  // with a bias when it also gives the bias gradient.
  const bool bias = kind != kBackwardData && g.hasBias();
  const auto fwd = forwardPd(c, g, act, algorithm, bias);
  auto p = std::make_shared<Prepared>();
  const auto& e = c.engine;
  if (kind == kForward) {
    p->primitive = dnnl::convolution_forward(fwd);
    p->add(DNNL_ARG_SRC, Operand(e, 0, false, g.userSrc(g.blocked[0]), fwd.src_desc()));
    p->add(DNNL_ARG_WEIGHTS, Operand(e, 1, false, g.weights(Tag::oihw), fwd.weights_desc()));
    p->add(DNNL_ARG_DST, Operand(e, 2, true, g.userDst(g.blocked[2]), fwd.dst_desc()));
    if (bias) p->add(DNNL_ARG_BIAS, Operand(e, 3, false, g.bias(), fwd.bias_desc()));
  } else if (kind == kBackwardData) {
    const dnnl::convolution_backward_data::desc d(algorithm, g.src(act), g.weights(Tag::any),
                                                  g.dst(act), g.strides(), g.dilates(), g.padL(), g.padR());
    const dnnl::convolution_backward_data::primitive_desc pd(d, e, fwd);
    p->primitive = dnnl::convolution_backward_data(pd);
    p->add(DNNL_ARG_DIFF_DST, Operand(e, 0, false, g.userDst(g.blocked[0]), pd.diff_dst_desc()));
    p->add(DNNL_ARG_WEIGHTS, Operand(e, 1, false, g.weights(Tag::oihw), pd.weights_desc()));
    p->add(DNNL_ARG_DIFF_SRC, Operand(e, 2, true, g.userSrc(g.blocked[2]), pd.diff_src_desc()));
  } else {
    using Desc = dnnl::convolution_backward_weights::desc;
    const auto direct = dnnl::algorithm::convolution_direct;
    const Desc d = bias ? Desc(direct, g.src(act), g.weights(Tag::any), g.bias(), g.dst(act), g.strides(), g.dilates(), g.padL(), g.padR())
                        : Desc(direct, g.src(act), g.weights(Tag::any), g.dst(act), g.strides(), g.dilates(), g.padL(), g.padR());
    const dnnl::convolution_backward_weights::primitive_desc pd(d, e, fwd);
    p->primitive = dnnl::convolution_backward_weights(pd);
    p->add(DNNL_ARG_SRC, Operand(e, 0, false, g.userSrc(g.blocked[0]), pd.src_desc()));
    p->add(DNNL_ARG_DIFF_DST, Operand(e, 1, false, g.userDst(g.blocked[1]), pd.diff_dst_desc()));
    p->add(DNNL_ARG_DIFF_WEIGHTS, Operand(e, 2, true, g.weights(Tag::oihw), pd.diff_weights_desc()));
    if (bias) p->add(DNNL_ARG_DIFF_BIAS, Operand(e, 3, true, g.bias(), pd.diff_bias_desc()));
  }
  return p;
}

/** gb[o] = gy summed over images and positions (in float64), gy [N, O, plane] nchw or blocked nChw16c. */
void channelSums(const float* gy, int64_t N, int64_t O, int64_t plane, bool blocked, float* gb) {
  std::vector<double> sums(O, 0.0);
  for (int64_t n = 0; n < N; n++) {
    for (int64_t o = 0; o < O; o++) {
      const float* p = blocked ? gy + ((n * (O / kBlock16) + o / kBlock16) * plane) * kBlock16 + o % kBlock16 : gy + (n * O + o) * plane;
      const int64_t step = blocked ? kBlock16 : 1;
      for (int64_t i = 0; i < plane; i++) sums[o] += p[i * step];
    }
  }
  for (int64_t o = 0; o < O; o++) gb[o] = static_cast<float>(sums[o]);
}

// (a, b, out, geometry[, bias]): forward x, w → y (+ bias); backward data gy, w → gx; backward
// weights x, gy → gw (and the bias gradient into `bias` when given).
napi_value runConv(Call& c, ConvKind kind) {
  Array arrays[3];
  for (int i = 0; i < 3; i++) arrays[i] = c.array(i, napi_float32_array, "a convolution operand");
  size_t count;
  const double* meta = c.meta(3, &count);
  Meta m(meta, count);
  const ConvGeometry g(m);
  if (g.hasBias() && kind == kBackwardData) throw Error("a bias was given to a " + g.describe(kind));
  // The forward's bias, or the weight gradient's bias gradient (an output).
  float* bias = nullptr;
  if (g.hasBias()) {
    const Array b = c.array(4, napi_float32_array, kind == kForward ? "a convolution bias" : "a convolution's bias gradient");
    checkBlock(b, g.biasOffset, g.O, kind == kForward ? "a convolution bias" : "a convolution's bias gradient");
    bias = b.as<float>() + g.biasOffset;
  }
  const int64_t sizes[3][3] = {{g.srcSize(), g.weightsSize(), g.dstSize()},
                               {g.dstSize(), g.weightsSize(), g.srcSize()},
                               {g.srcSize(), g.dstSize(), g.weightsSize()}};
  void* data[4] = {nullptr, nullptr, nullptr, bias};
  for (int i = 0; i < 3; i++) {
    checkBlock(arrays[i], g.offsets[i], sizes[kind - 1][i], "a convolution operand");
    data[i] = arrays[i].as<float>() + g.offsets[i];
  }
  for (int i = 0; i < 3; i++) {
    const int64_t channels = g.activation(kind, i).first;
    if (g.blocked[i] && (channels == 0 || channels % kBlock16 != 0)) {
      throw Error("operand " + std::to_string(i) + " of a " + g.describe(kind) + " cannot be blocked: it has no channels in sixteens");
    }
  }
  // Whether the output was left blocked, as the JS side asked (it is plain after stride's own kernels).
  const auto wroteBlocked = [&](bool b) { return c.boolean(b); };
  if (!g.reachesInput()) {
    if (bias && kind == kForward) {
      g.fillBias(bias, static_cast<float*>(data[2]));
    } else {
      std::fill_n(static_cast<float*>(data[2]), sizes[kind - 1][2], 0.0f);
      if (bias) channelSums(static_cast<const float*>(data[1]), g.N, g.O, g.OH * g.OW, g.blocked[1], bias);
    }
    return wroteBlocked(false);
  }
  try {
    const SignalsDeferred deferred;
    const Team team(g.flops());
    // stride's own kernels where oneDNN pads channels: a first layer's few input channels (its
    // input gradient is rarely wanted) and batches of small planes with channels not in sixteens.
    const ConvShape shape = g.shape();
    const bool small = kind != kBackwardData && smallConvApplies(shape);
    const bool batch = (kind == kForward && batchConvApplies(shape, shape.O)) || (kind == kBackwardData && batchConvApplies(shape, shape.C));
    if (small || batch) {
      // These kernels read nchw: blocked inputs are copied back first, but for the input
      // gradient's gy, which its own transpose reads blocked as it is (LeNet-5's 16 channels).
      const bool gyBlocked = batch && kind == kBackwardData && g.blocked[0];
      const float* in[2];
      for (int i = 0; i < 2; i++) {
        in[i] = static_cast<const float*>(data[i]);
        if (!g.blocked[i] || (i == 0 && gyBlocked)) continue;
        thread_local std::vector<float> plain[2];
        const auto [channels, plane] = g.activation(kind, i);
        plain[i].resize(g.N * channels * plane);
        relayoutCopy(in[i], plain[i].data(), g.N, channels, plane, false);
        in[i] = plain[i].data();
      }
      float* out = static_cast<float*>(data[2]);
      // A first layer's 16 output channels are asked for blocked: written plain, then blocked in
      // one cached pass, so the batch norm, ReLU and residual add after it run blocked and nothing
      // reorders them later (ResNet-20's stem: a 2 MB buffer blocked in place before the first
      // residual add, and made plain again for its batch norm's gradient, 1-4 ms a step).
      const bool block = small && kind == kForward && g.blocked[2];
      thread_local std::vector<float> staged;
      if (block) staged.resize(g.dstSize());
      float* to = block ? staged.data() : out;
      if (small && kind == kForward) smallConvForward(shape, in[0], in[1], bias, to);
      else if (small) smallConvWeightGrad(shape, in[0], in[1], out, bias);
      else if (kind == kForward) batchConvForward(shape, in[0], in[1], bias, out);
      else batchConvInputGrad(shape, in[0], gyBlocked, in[1], out);
      if (block) relayoutCopy(to, out, g.N, g.O, g.OH * g.OW, true);
      return wroteBlocked(block);
    }
    Context& ctx = context();
    // stride's own Winograd kernels (reading and writing blocked activations as they are) for the
    // weight gradient, which oneDNN 2.6 lacks, and where oneDNN's forward and input gradient do not
    // pay: 16 channels (ResNet-20's 32x32x16 layers at batch 32, two threads: forward 0.94 -> 0.83
    // ms, input gradient 0.64 -> 0.42; ResNet-20 steps 49.4 -> 46.6 and 50.5 -> 47.6 ms). With 32
    // or 64 channels oneDNN's are 5-15% faster.
    if (ctx.winograd && winogradApplies(shape) && (kind == kBackwardWeights || !g.winogradPays(kind))) {
      const auto* a = static_cast<const float*>(data[0]);
      const auto* b = static_cast<const float*>(data[1]);
      auto* out = static_cast<float*>(data[2]);
      if (kind == kForward) {
        winogradForward(shape, a, g.blocked[0], b, bias, out, g.blocked[2]);
      } else if (kind == kBackwardData) {
        winogradInputGrad(shape, a, g.blocked[0], b, out, g.blocked[2]);
      } else {
        winogradWeightGrad(shape, a, g.blocked[0], b, g.blocked[1], out);
        if (bias) channelSums(b, g.N, g.O, g.OH * g.OW, g.blocked[1], bias);
        return wroteBlocked(false);
      }
      return wroteBlocked(g.blocked[2]);
    }
    const bool winograd = ctx.winograd && g.winogradPays(kind);
    const Lru::Key key = g.key(kind, team.size(), winograd);
    Prepared& p = ctx.cache.get<Prepared>(key, [&] {
      if (winograd) {
        try {
          return prepareConv(ctx, g, kind, dnnl::algorithm::convolution_winograd);
        } catch (const dnnl::error&) {
          // Not implemented for this ISA (oneDNN's Winograd kernels need AVX-512): direct it is.
        }
      }
      return prepareConv(ctx, g, kind, dnnl::algorithm::convolution_direct);
    });
    // The weights are operand 1 of the forward and of the input gradient.
    if (kind == kBackwardWeights || g.weightsStamp == 0 || !p.operands[1].reordered()) {
      p.run(ctx, data);
    } else {
      Lru::Key id = key;
      id.insert(id.end(), {g.weightsId, g.offsets[1]});
      const size_t bytes = p.operands[1].inner.get_desc().get_size();
      KeptWeights& w = ctx.weights.get<KeptWeights>(id, [&] { return std::make_shared<KeptWeights>(bytes); }, bytes);
      const KeptOperand kept{1, w.data.get(), w.stamp == g.weightsStamp};
      w.stamp = 0;  // until the copy is complete
      p.run(ctx, data, &kept);
      w.stamp = g.weightsStamp;
    }
    if (kind == kBackwardData) g.zeroUncovered(static_cast<float*>(data[2]));
  } catch (const dnnl::error& e) {
    throw Error(g.describe(kind) + ": oneDNN " + statusName(e.status) + ": " + e.what());
  }
  return wroteBlocked(g.blocked[2]);
}

// ---------------------------------------------------------------- matmul

/** A [B, M, K]-style operand: sizes, element offset and strides. */
struct Matrix {
  int64_t dims[3];
  int64_t offset;
  int64_t strides[3];

  /** Dims of size 1 get the stride a contiguous layout would have, which oneDNN's fast paths recognise. */
  Dims normalStrides() const {
    Dims s(strides, strides + 3);
    if (dims[2] == 1) s[2] = 1;
    if (dims[1] == 1) s[1] = dims[2] * s[2];
    if (dims[0] == 1) s[0] = dims[1] * s[1];
    return s;
  }

  bool rowMajor() const { return normalStrides() == Dims{dims[1] * dims[2], dims[2], 1}; }

  /** Floats a contiguous copy of it would move (0 when row-major: none is made). */
  int64_t copyCost() const { return rowMajor() ? 0 : dims[0] * dims[1] * dims[2]; }

  Matrix transposed() const { return {{dims[0], dims[2], dims[1]}, offset, {strides[0], strides[2], strides[1]}}; }

  /**
   * How dnnl_sgemm (row-major) reads one matrix of it: 'N' with rows `ld` floats apart, 'T' (the
   * transpose of a row-major matrix) with columns `ld` apart, or neither (false).
   */
  bool gemmForm(char* op, int64_t* ld) const {
    const Dims s = normalStrides();
    if (s[2] == 1 && s[1] >= std::max<int64_t>(1, dims[2])) return *op = 'N', *ld = s[1], true;
    if (s[1] == 1 && s[2] >= std::max<int64_t>(1, dims[1])) return *op = 'T', *ld = s[2], true;
    return false;
  }

  memory::desc desc() const { return {{dims[0], dims[1], dims[2]}, kF32, normalStrides()}; }

  memory::desc contiguous() const { return {{dims[0], dims[1], dims[2]}, kF32, Tag::abc}; }
};

void copyMatrix(const float* src, const int64_t* ss, float* dst, const int64_t* ds, const int64_t* dims) {
  for (int64_t b = 0; b < dims[0]; b++) {
    for (int64_t i = 0; i < dims[1]; i++) {
      const float* s = src + b * ss[0] + i * ss[1];
      float* d = dst + b * ds[0] + i * ds[1];
      for (int64_t j = 0; j < dims[2]; j++) d[j * ds[2]] = s[j * ss[2]];
    }
  }
}

/**
 * A matmul primitive and which operands go through contiguous copies. oneDNN 2.6's fast kernel
 * (brgemm) wants row-major operands; a transposed one (Linear's weight, the gradients' x^T)
 * sends it to its gemm, which ran LeNet-5's 64x120x84 product at 1.5 GFLOP/s against 80 for
 * brgemm on a copy, and odder strides to its reference kernel. Copies cost O(MK + KN), the
 * product O(MKN).
 */
struct PreparedMatmul {
  dnnl::matmul primitive;
  memory operands[3];
  bool packed[3];
};

std::shared_ptr<PreparedMatmul> prepareMatmul(const Context& ctx, const Matrix* const* ms) {
  bool packed[3];
  for (int i = 0; i < 3; i++) packed[i] = !ms[i]->rowMajor();
  auto describe = [&]() {
    auto desc = [&](int i) { return packed[i] ? ms[i]->contiguous() : ms[i]->desc(); };
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(desc(0), desc(1), desc(2)), ctx.engine);
  };
  auto pd = describe();
  if (std::strstr(pd.impl_info_str(), "ref") != nullptr) {
    std::fill(packed, packed + 3, true);
    pd = describe();
  }
  const auto& e = ctx.engine;
  auto p = std::make_shared<PreparedMatmul>();
  p->primitive = dnnl::matmul(pd);
  p->operands[0] = memory(pd.src_desc(), e, DNNL_MEMORY_NONE);
  p->operands[1] = memory(pd.weights_desc(), e, DNNL_MEMORY_NONE);
  p->operands[2] = memory(pd.dst_desc(), e, DNNL_MEMORY_NONE);
  std::copy(packed, packed + 3, p->packed);
  return p;
}

/** The product on oneDNN's matmul primitive (batches, or operands sgemm cannot read), through row-major copies where it needs them. */
void matmulPrimitive(Matrix& a, Matrix& c, Matrix& out, float** ptr, int64_t B, int64_t M, int64_t K, int64_t N) {
  Matrix* ms[3] = {&a, &c, &out};
  // out^T = c^T a^T when it needs fewer copies: a Linear layer's x w^T at batch 1 becomes w x^T,
  // with every operand row-major (copying ResNet-18's 1000x512 w took 1.3 ms, the product 0.05).
  if (c.transposed().copyCost() + a.transposed().copyCost() + out.transposed().copyCost() < a.copyCost() + c.copyCost() + out.copyCost()) {
    const Matrix at = a.transposed();
    a = c.transposed();
    c = at;
    out = out.transposed();
    std::swap(ptr[0], ptr[1]);
  }
  try {
    const SignalsDeferred deferred;
    const Team team(2.0 * out.dims[0] * M * N * K);
    Context& ctx = context();
    const Lru::Key key = {4, team.size(), B, a.dims[1], a.dims[2], c.dims[2], a.dims[0], c.dims[0], out.dims[0], a.strides[0], a.strides[1], a.strides[2],
                          c.strides[0], c.strides[1], c.strides[2], out.strides[0], out.strides[1], out.strides[2]};
    PreparedMatmul& p = ctx.cache.get<PreparedMatmul>(key, [&] { return prepareMatmul(ctx, ms); });
    int64_t contiguous[3][3];
    for (int i = 0; i < 3; i++) {
      const int64_t* d = ms[i]->dims;
      contiguous[i][0] = d[1] * d[2], contiguous[i][1] = d[2], contiguous[i][2] = 1;
      float* data = ptr[i];
      if (p.packed[i]) {
        data = static_cast<float*>(ctx.scratch.get(i, d[0] * contiguous[i][0] * sizeof(float)));
        if (i < 2) copyMatrix(ptr[i], ms[i]->strides, data, contiguous[i], d);
      }
      p.operands[i].set_data_handle(data);
    }
    p.primitive.execute(ctx.stream, {{DNNL_ARG_SRC, p.operands[0]}, {DNNL_ARG_WEIGHTS, p.operands[1]}, {DNNL_ARG_DST, p.operands[2]}});
    ctx.stream.wait();
    if (p.packed[2]) copyMatrix(static_cast<float*>(p.operands[2].get_data_handle()), contiguous[2], ptr[2], out.strides, out.dims);
  } catch (const dnnl::error& e) {
    throw Error("matmul of " + list({B, M, K}) + " and " + list({B, K, N}) + ": oneDNN " + statusName(e.status) + ": " + e.what());
  }
}

/**
 * One product whose operands are matrices or their transposes, on oneDNN's sgemm, which reads
 * them as they are; false when it cannot. The matmul primitive wanted row-major copies of
 * Linear's w^T and of the gradients' transposes: LeNet-5's 64x400x120 products took 41-127 us on
 * two threads against 34-51 for sgemm, and its small ones 2-6x longer.
 */
bool sgemm(Matrix a, Matrix c, Matrix out, float* const* ptr) {
  if (a.dims[0] != 1 || c.dims[0] != 1 || out.dims[0] != 1) return false;
  char opOut, opA, opC;
  int64_t ldOut, ldA, ldC;
  const float *pa = ptr[0], *pc = ptr[1];
  if (out.gemmForm(&opOut, &ldOut) && opOut == 'T') {
    // out^T = c^T a^T, with out^T row-major.
    const Matrix at = a.transposed();
    a = c.transposed();
    c = at;
    out = out.transposed();
    std::swap(pa, pc);
  }
  if (!(out.gemmForm(&opOut, &ldOut) && a.gemmForm(&opA, &ldA) && c.gemmForm(&opC, &ldC))) return false;
  const SignalsDeferred deferred;
  const Team team(2.0 * a.dims[1] * a.dims[2] * c.dims[2]);
  const dnnl_status_t s = dnnl_sgemm(opA, opC, a.dims[1], c.dims[2], a.dims[2], 1.0f, pa, ldA, pc, ldC, 0.0f, ptr[2], ldOut);
  if (s != dnnl_success) throw Error("matmul of " + list({a.dims[1], a.dims[2]}) + " and " + list({c.dims[1], c.dims[2]}) + ": oneDNN's sgemm: " + statusName(s));
  return true;
}

}  // namespace

napi_value conv2d(Call& c) { return runConv(c, kForward); }
napi_value conv2dInputGrad(Call& c) { return runConv(c, kBackwardData); }
napi_value conv2dWeightGrad(Call& c) { return runConv(c, kBackwardWeights); }

napi_value setWinograd(Call& c) {
  context().winograd = c.int32(0) != 0;
  return c.undefined();
}

// matmul(a, c, out, [B, M, K, N, a offset, a strides, c offset, c strides, out offset, out strides])
napi_value matmul(Call& call) {
  const Array arrays[3] = {call.array(0, napi_float32_array, "a"), call.array(1, napi_float32_array, "c"),
                           call.array(2, napi_float32_array, "out")};
  size_t count;
  const double* meta = call.meta(3, &count);
  Meta m(meta, count);
  int64_t sizes[4];
  m.dims(4, sizes, true);
  const int64_t B = sizes[0], M = sizes[1], K = sizes[2], N = sizes[3];
  Matrix a{{B, M, K}, 0, {}}, c{{B, K, N}, 0, {}}, out{{B, M, N}, 0, {}};
  Matrix* ms[3] = {&a, &c, &out};
  for (int i = 0; i < 3; i++) {
    ms[i]->offset = m.next();
    m.dims(3, ms[i]->strides, false);
    checkBounds(arrays[i], 3, ms[i]->dims, ms[i]->offset, ms[i]->strides, i == 0 ? "a" : i == 1 ? "c" : "out");
  }
  float* ptr[3];
  for (int i = 0; i < 3; i++) ptr[i] = arrays[i].as<float>() + ms[i]->offset;
  if (B == 0 || M == 0 || N == 0) return call.undefined();
  if (K == 0) {
    for (int64_t b = 0; b < B; b++)
      for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) ptr[2][b * out.strides[0] + i * out.strides[1] + j * out.strides[2]] = 0;
    return call.undefined();
  }
  // A batch stride of 0 is a broadcast operand: oneDNN broadcasts batch dims of size 1. When
  // both are broadcast, one product is computed and copied to the other batches.
  if (a.strides[0] == 0) a.dims[0] = 1;
  if (c.strides[0] == 0) c.dims[0] = 1;
  const bool replicate = a.dims[0] == 1 && c.dims[0] == 1 && B > 1;
  if (replicate) out.dims[0] = 1;
  if (!sgemm(a, c, out, ptr)) matmulPrimitive(a, c, out, ptr, B, M, K, N);
  for (int64_t b = 1; replicate && b < B; b++) {
    copyMatrix(ptr[2], out.strides, ptr[2] + b * out.strides[0], out.strides, out.dims);
  }
  return call.undefined();
}

const char* onednnIsa() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "baseline";
  }
}

const char* onednnRuntime() {
  switch (dnnl_version()->cpu_runtime) {
    case DNNL_RUNTIME_OMP: return "OpenMP";
    case DNNL_RUNTIME_TBB: return "TBB";
    case DNNL_RUNTIME_THREADPOOL: return "threadpool";
    default: return "sequential";
  }
}

}  // namespace stride
