#include "napi.h"

#include <exception>

namespace stride {

void check(napi_env env, napi_status status, const char* what) {
  if (status == napi_ok) return;
  const napi_extended_error_info* info = nullptr;
  napi_get_last_error_info(env, &info);
  std::string msg = std::string(what) + ": Node-API error";
  if (info && info->error_message) msg += std::string(" (") + info->error_message + ")";
  throw Error(msg);
}

int elementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array: return 1;
    case napi_int16_array:
    case napi_uint16_array: return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array: return 4;
    default: return 8;
  }
}

Call::Call(napi_env e, napi_callback_info info) : env(e) {
  check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr), "reading arguments");
}

Array Call::array(size_t i) const {
  Array a;
  size_t length = 0;
  // Fails on anything but a typed array; `data` already includes the view's byte offset.
  if (i >= argc || napi_get_typedarray_info(env, argv[i], &a.type, &length, &a.data, nullptr, nullptr) != napi_ok) {
    throw Error("argument " + std::to_string(i) + " must be a typed array");
  }
  a.length = static_cast<int64_t>(length);
  return a;
}

Array Call::array(size_t i, napi_typedarray_type want, const char* what) const {
  Array a = array(i);
  if (a.type != want) throw Error(std::string(what) + " has the wrong element type");
  return a;
}

const double* Call::meta(size_t i, size_t* count) const {
  Array a = array(i, napi_float64_array, "the geometry argument");
  *count = static_cast<size_t>(a.length);
  return a.as<const double>();
}

int32_t Call::int32(size_t i) const {
  int32_t v = 0;
  if (i >= argc || napi_get_value_int32(env, argv[i], &v) != napi_ok) {
    throw Error("argument " + std::to_string(i) + " must be a number");
  }
  return v;
}

double Call::number(size_t i) const {
  double v = 0;
  if (i >= argc || napi_get_value_double(env, argv[i], &v) != napi_ok) {
    throw Error("argument " + std::to_string(i) + " must be a number");
  }
  return v;
}

napi_value Call::undefined() const {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

napi_value Call::boolean(bool b) const {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

namespace {

napi_value trampoline(napi_env env, napi_callback_info info) {
  void* data = nullptr;
  napi_get_cb_info(env, info, nullptr, nullptr, nullptr, &data);
  const Export* fn = static_cast<const Export*>(data);
  // No exception may cross into Node: a throw here would abort the process.
  try {
    Call call(env, info);
    return fn->handler(call);
  } catch (const std::exception& e) {
    napi_throw_error(env, "ERR_STRIDE_NATIVE", (std::string("stride native ") + fn->name + ": " + e.what()).c_str());
  } catch (...) {
    napi_throw_error(env, "ERR_STRIDE_NATIVE", (std::string("stride native ") + fn->name + ": unknown C++ exception").c_str());
  }
  return nullptr;
}

}  // namespace

napi_value makeFunction(napi_env env, const Export& e) {
  napi_value fn;
  // `e` is static, so the callback may keep a pointer to it.
  check(env, napi_create_function(env, e.name, NAPI_AUTO_LENGTH, trampoline, const_cast<Export*>(&e), &fn), e.name);
  return fn;
}

}  // namespace stride
