// In-place changes of an activation buffer between the plain nchw layout JS sees and oneDNN's
// blocked nChw16c, for the JS side's layout tracking (src/backend/native/index.ts): a buffer a
// convolution left blocked is made plain before anything that reads it as nchw.
#include "layout.h"

#include <vector>

#include "ops.h"
#include "strided.h"

namespace stride {

// relayout(buffer, [N, C, S, toBlocked]): a Float32Array or Uint8Array of exactly N*C*S elements.
napi_value relayout(Call& c) {
  const Array a = c.array(0);
  size_t count;
  const double* meta = c.meta(1, &count);
  Meta m(meta, count);
  const int64_t N = m.next(), C = m.next(), S = m.next();
  const bool toBlocked = m.next() != 0;
  if (N < 0 || C < 0 || S < 0 || C % kBlock16 != 0 || N * C * S != a.length) {
    throw Error("relayout: expected " + std::to_string(N) + " x " + std::to_string(C) + " x " + std::to_string(S) +
                " elements with channels in sixteens, got a buffer of " + std::to_string(a.length));
  }
  thread_local std::vector<uint8_t> copy;
  const size_t bytes = static_cast<size_t>(a.length) * elementSize(a.type);
  if (copy.size() < bytes) copy.resize(bytes);
  std::memcpy(copy.data(), a.data, bytes);
  if (a.type == napi_float32_array) {
    relayoutCopy(reinterpret_cast<const float*>(copy.data()), a.as<float>(), N, C, S, toBlocked);
  } else if (a.type == napi_uint8_array) {
    relayoutCopy(copy.data(), a.as<uint8_t>(), N, C, S, toBlocked);
  } else {
    throw Error("relayout: expected a Float32Array or a Uint8Array");
  }
  return c.undefined();
}

}  // namespace stride
