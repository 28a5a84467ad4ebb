// The module: exports each primitive, the op names in the numbering the handlers use, and status.
#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <string>

#include "ops.h"

namespace stride {
namespace {

void setProperty(napi_env env, napi_value object, const char* name, napi_value value) {
  check(env, napi_set_named_property(env, object, name, value), name);
}

napi_value string(napi_env env, const std::string& s) {
  napi_value v;
  check(env, napi_create_string_utf8(env, s.c_str(), s.size(), &v), "creating a string");
  return v;
}

/** [[name, output dtype], ...]: an op's index in this array is its number in calls. */
napi_value opTable(napi_env env, const OpInfo* ops, int count) {
  napi_value table;
  check(env, napi_create_array_with_length(env, count, &table), "creating an array");
  for (int i = 0; i < count; i++) {
    napi_value pair;
    check(env, napi_create_array_with_length(env, 2, &pair), "creating an array");
    check(env, napi_set_element(env, pair, 0, string(env, ops[i].name)), "filling an array");
    check(env, napi_set_element(env, pair, 1, string(env, ops[i].out)), "filling an array");
    check(env, napi_set_element(env, table, i, pair), "filling an array");
  }
  return table;
}

/** The instruction set the elementwise and pooling loops run with (what target_clones picks). */
const char* kernelIsa() {
  if (__builtin_cpu_supports("avx512f")) return "avx512f";
  if (__builtin_cpu_supports("avx2")) return "avx2";
  return "x86-64";
}

// status() → {isa, kernels, runtime, threads, onednn}
napi_value status(Call& c) {
  napi_value s, threads;
  check(c.env, napi_create_object(c.env, &s), "creating an object");
  check(c.env, napi_create_int32(c.env, omp_get_max_threads(), &threads), "creating a number");
  const dnnl_version_t* v = dnnl_version();
  setProperty(c.env, s, "isa", string(c.env, onednnIsa()));
  setProperty(c.env, s, "kernels", string(c.env, kernelIsa()));
  setProperty(c.env, s, "runtime", string(c.env, onednnRuntime()));
  setProperty(c.env, s, "threads", threads);
  setProperty(c.env, s, "onednn", string(c.env, std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch)));
  return s;
}

// setThreads(n): the OpenMP team size for oneDNN (when built on OpenMP) and for the loops here.
napi_value setThreads(Call& c) {
  const int n = c.int32(0);
  if (n < 1) throw Error("the thread count must be at least 1, got " + std::to_string(n));
  omp_set_num_threads(n);
  return c.undefined();
}

const Export kExports[] = {
    {"status", status},
    {"setThreads", setThreads},
    {"setWinograd", setWinograd},
    {"relayout", relayout},
    {"unary", unary},
    {"binary", binary},
    {"where", where},
    {"mulAdd", mulAdd},
    {"sgdStep", sgdStep},
    {"adamStep", adamStep},
    {"copy", copy},
    {"fill", fill},
    {"reduce", reduce},
    {"gather", gather},
    {"scatterAdd", scatterAdd},
    {"maxPool2d", maxPool2d},
    {"maxPool2dGrad", maxPool2dGrad},
    {"avgPool2d", avgPool2d},
    {"avgPool2dGrad", avgPool2dGrad},
    {"conv2d", conv2d},
    {"conv2dInputGrad", conv2dInputGrad},
    {"conv2dWeightGrad", conv2dWeightGrad},
    {"matmul", matmul},
    {"batchNormStats", batchNormStats},
    {"batchNormGrad", batchNormGrad},
};

}  // namespace
}  // namespace stride

NAPI_MODULE_INIT() {
  using namespace stride;
  try {
    for (const Export& e : kExports) setProperty(env, exports, e.name, makeFunction(env, e));
    setProperty(env, exports, "unaryOps", opTable(env, kUnaryOps, kUnaryOpCount));
    setProperty(env, exports, "binaryOps", opTable(env, kBinaryOps, kBinaryOpCount));
    setProperty(env, exports, "reduceOps", opTable(env, kReduceOps, kReduceOpCount));
  } catch (const std::exception& e) {
    napi_throw_error(env, "ERR_STRIDE_NATIVE", e.what());
    return nullptr;
  }
  return exports;
}
