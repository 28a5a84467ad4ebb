// The handlers the addon exports, one per backend primitive (see addon.cc for the JS names).
#pragma once

#include "napi.h"

namespace stride {

/** An op the JS side selects by its index in a table: its name and output dtype. */
struct OpInfo {
  const char* name;
  const char* out;
};

// elementwise.cc: (op index, arrays..., geometry) as packed by src/backend/native/index.ts.
extern const OpInfo kUnaryOps[];
extern const int kUnaryOpCount;
extern const OpInfo kBinaryOps[];
extern const int kBinaryOpCount;
napi_value unary(Call& c);
napi_value binary(Call& c);
napi_value where(Call& c);
napi_value mulAdd(Call& c);
napi_value sgdStep(Call& c);
napi_value adamStep(Call& c);
napi_value copy(Call& c);
napi_value fill(Call& c);

// reduce.cc
extern const OpInfo kReduceOps[];
extern const int kReduceOpCount;
napi_value reduce(Call& c);
napi_value gather(Call& c);
napi_value scatterAdd(Call& c);

// pool.cc
napi_value maxPool2d(Call& c);
napi_value maxPool2dGrad(Call& c);
napi_value avgPool2d(Call& c);
napi_value avgPool2dGrad(Call& c);

// norm.cc
napi_value batchNormStats(Call& c);
napi_value batchNormGrad(Call& c);

// layout.cc
napi_value relayout(Call& c);

// onednn.cc
napi_value conv2d(Call& c);
napi_value conv2dInputGrad(Call& c);
napi_value conv2dWeightGrad(Call& c);
napi_value matmul(Call& c);
// setWinograd(on): whether this thread's convolutions may use Winograd where it pays.
napi_value setWinograd(Call& c);
/** The CPU ISA oneDNN dispatches to and its threading runtime. */
const char* onednnIsa();
const char* onednnRuntime();

}  // namespace stride
