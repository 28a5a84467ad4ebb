// Thin helpers over Node-API's C interface: argument access and the error convention.
#pragma once

#include <node_api.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace stride {

/** A bad argument or a failed library call; the dispatcher turns it into a JS Error. */
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/** The elements of a typed array argument: a pointer into the JS heap, no copy. */
struct Array {
  void* data = nullptr;
  int64_t length = 0;
  napi_typedarray_type type = napi_float32_array;

  template <class T>
  T* as() const { return static_cast<T*>(data); }
};

/** Size in bytes of one element of a typed array type. */
int elementSize(napi_typedarray_type type);

/** One call's arguments. Getters throw Error on a wrong argument type. */
class Call {
 public:
  /** The most arguments a handler takes (batchNormGrad's nine). */
  static constexpr size_t kMaxArgs = 9;

  Call(napi_env env, napi_callback_info info);

  napi_env env;
  size_t argc = kMaxArgs;
  napi_value argv[kMaxArgs];

  Array array(size_t i) const;
  /** A typed array that must be of type `want`; `what` names it in the error. */
  Array array(size_t i, napi_typedarray_type want, const char* what) const;
  /** The numbers of a Float64Array argument (shapes, strides, offsets, parameters). */
  const double* meta(size_t i, size_t* count) const;
  int32_t int32(size_t i) const;
  double number(size_t i) const;

  napi_value undefined() const;
  napi_value boolean(bool v) const;
};

using Handler = napi_value (*)(Call&);

/** An exported function: its JS name and what it runs. */
struct Export {
  const char* name;
  Handler handler;
};

/** A JS function running `e.handler`, with C++ exceptions turned into JS Errors naming `e.name`. */
napi_value makeFunction(napi_env env, const Export& e);

/** Throws Error unless `status` is napi_ok. */
void check(napi_env env, napi_status status, const char* what);

}  // namespace stride
