/**
 * ONNX's own operator tests, from Debian's libonnx-testdata: every case whose nodes are all of
 * types import_onnx runs is imported, fed its inputs and compared with its expected output at
 * the tolerance of ONNX's backend test runner. The cases stride cannot run are listed below
 * with why, and each must be refused with an error that says so, not answered. Without the
 * package (apt-get install libonnx-testdata) the tests are skipped with a NOTICE.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { no_grad, randn, type Tensor } from '../src/index.js';
import { import_onnx, onnx_operators, ONNX_OPERATORS, read_onnx_tensor } from '../src/io/onnx/import.js';
import { Writer } from '../src/io/onnx/protobuf.js';

const DATA = '/usr/share/libonnx-testdata/data';
/** The suites with model.onnx files: ONNX's node tests, and PyTorch's modules and operators as exported. */
const SUITES = ['node', 'pytorch-converted', 'pytorch-operator', 'simple'];
/** ONNX's runner (onnx/backend/test/runner): numpy's assert_allclose with these. */
const RTOL = 1e-3;
const ATOL = 1e-7;
/** Tighter, as stride's other ONNX tests: the largest difference against the output's scale. */
const SCALE_TOL = 1e-6;

/** Cases stride refuses, by reason: the error each must give. */
const EXPECTED_FAILURES: [RegExp, string[]][] = [
  // 8-bit integer tensors: stride computes in float32 and int32 only.
  [/unsupported input types: 'x' is u?int8 \([23]\)/, [
    'node/test_add_uint8', 'node/test_sub_uint8', 'node/test_mul_uint8', 'node/test_div_uint8', 'node/test_maxpool_2d_uint8',
    'node/test_clip_default_int8_inbounds', 'node/test_clip_default_int8_min', 'node/test_clip_default_int8_max',
  ]],
  // Optional and sequence inputs (opset 16's Identity on them): stride's graphs take tensors.
  [/unsupported input types: '\w+' is not a tensor/, ['node/test_identity_opt', 'node/test_identity_sequence']],
  // Dropout's training_mode input is a bool, and training-mode dropout is random: stride imports for inference.
  [/unsupported input types: 't' is bool \(9\)/, ['node/test_training_dropout', 'node/test_training_dropout_default', 'node/test_training_dropout_zero_ratio']],
  // Second outputs: BatchNormalization's batch statistics, Dropout's mask, MaxPool's argmax
  // indices (storage_order): stride computes the first output only.
  [/unsupported uses: \w+ '\w+': only its first output is computed, but '\w+'(, '\w+')? is used/, [
    'node/test_batchnorm_example_training_mode', 'node/test_batchnorm_epsilon_training_mode',
    'node/test_dropout_default_mask', 'node/test_dropout_default_mask_ratio',
    'node/test_training_dropout_mask', 'node/test_training_dropout_default_mask', 'node/test_training_dropout_zero_ratio_mask',
    'node/test_maxpool_with_argmax_2d_precomputed_pads', 'node/test_maxpool_with_argmax_2d_precomputed_strides',
  ]],
  // 3-D convolutions and pools: stride has 1-D and 2-D ones (refused at import from kernel_shape).
  [/unsupported uses: (Conv|MaxPool|AveragePool) '\w+': a 3-D kernel \(stride imports 1-D and 2-D \1\)/, [
    'node/test_averagepool_3d_default', 'node/test_maxpool_3d_default',
    'pytorch-converted/test_AvgPool3d', 'pytorch-converted/test_AvgPool3d_stride', 'pytorch-converted/test_AvgPool3d_stride1_pad0_gpu_input',
    'pytorch-converted/test_MaxPool3d', 'pytorch-converted/test_MaxPool3d_stride', 'pytorch-converted/test_MaxPool3d_stride_padding',
    'pytorch-converted/test_Conv3d', 'pytorch-converted/test_Conv3d_dilated', 'pytorch-converted/test_Conv3d_dilated_strided',
    'pytorch-converted/test_Conv3d_groups', 'pytorch-converted/test_Conv3d_no_bias', 'pytorch-converted/test_Conv3d_stride',
    'pytorch-converted/test_Conv3d_stride_padding',
  ]],
  // The same without kernel_shape: refused when the 5-d input arrives.
  [/ConvTranspose 'Y': an input of shape \[1, 1, 3, 4, 5\] has 3 spatial dims; stride imports 1-D and 2-D ConvTranspose/, ['node/test_convtranspose_3d']],
  // PyTorch's operator tests on uninitialized double tensors: values up to 1e+224, beyond float32.
  [/input_0\.pb: tensor '' at byte 0 holds [\d.]+e\+\d+, beyond the float32 range stride computes in/, [
    'pytorch-operator/test_operator_add_broadcast', 'pytorch-operator/test_operator_add_size1_right_broadcast',
    'pytorch-operator/test_operator_add_size1_singleton_broadcast', 'pytorch-operator/test_operator_addconstant',
  ]],
];
const expectedError = new Map(EXPECTED_FAILURES.flatMap(([error, cases]) => cases.map((c) => [c, error] as const)));

const available = existsSync(DATA);
if (!available) console.log(`NOTICE: ${DATA} is missing (apt-get install libonnx-testdata); the ONNX conformance tests are skipped`);

/** Every case (suite/name) whose nodes are all of types import_onnx runs, found from the models' node types. */
function importableCases(): string[] {
  return SUITES.flatMap((suite) =>
    readdirSync(join(DATA, suite))
      .sort()
      .map((name) => `${suite}/${name}`)
      .filter((id) => {
        const model = join(DATA, id, 'model.onnx');
        return existsSync(model) && onnx_operators(readFileSync(model), id).every((op) => ONNX_OPERATORS.has(op));
      }),
  );
}

const pbFiles = (dir: string, prefix: string) =>
  readdirSync(dir)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.pb'))
    .sort((a, b) => Number(a.slice(prefix.length, -3)) - Number(b.slice(prefix.length, -3)))
    .map((f) => read_onnx_tensor(readFileSync(join(dir, f)), f));

/** Each data set of a case as the stride model's output and the expected one. */
function runCase(id: string): { got: Tensor; want: Tensor }[] {
  const model = import_onnx(readFileSync(join(DATA, id, 'model.onnx')), id);
  const sets = readdirSync(join(DATA, id)).filter((d) => d.startsWith('test_data_set_'));
  return sets.map((set) => {
    const dir = join(DATA, id, set);
    const inputs = pbFiles(dir, 'input_');
    const [want] = pbFiles(dir, 'output_');
    return { got: no_grad(() => model.call(...inputs)), want: want! };
  });
}

const cases = available ? importableCases() : [];
const tally = { matched: 0, refused: 0, largestScaled: 0, largestAt: '' };

test('every case listed as expected to fail is one of the importable cases found', { skip: !available && 'libonnx-testdata is not installed' }, () => {
  assert.deepEqual([...expectedError.keys()].filter((id) => !cases.includes(id)), []);
  assert.ok(cases.length > expectedError.size, `${cases.length} importable cases`);
});

for (const id of cases) {
  const error = expectedError.get(id);
  if (error) {
    test(`${id}: refused (${error.source.slice(0, 60)}...)`, () => {
      assert.throws(() => runCase(id), error);
      tally.refused++;
    });
    continue;
  }
  test(`${id}: matches ONNX's expected output`, () => {
    for (const { got, want } of runCase(id)) {
      assert.deepEqual(got.shape, want.shape, 'shape');
      assert.equal(got.dtype, want.dtype, 'dtype');
      const g = got.dataSync();
      const w = want.dataSync();
      let largest = 0;
      let scale = 0;
      for (let i = 0; i < w.length; i++) {
        const diff = Math.abs(g[i]! - w[i]!);
        assert.ok(diff <= ATOL + RTOL * Math.abs(w[i]!), `element ${i}: ${g[i]} for ${w[i]}`);
        largest = Math.max(largest, diff);
        scale = Math.max(scale, Math.abs(w[i]!));
      }
      const scaled = largest / Math.max(scale, 1e-3);
      assert.ok(scaled <= SCALE_TOL, `largest difference ${largest} for outputs up to ${scale}`);
      if (scaled > tally.largestScaled) Object.assign(tally, { largestScaled: scaled, largestAt: id });
    }
    tally.matched++;
  });
}

after(() => {
  if (!available) return;
  console.log(
    `onnx conformance: ${cases.length} cases with imported operators: ${tally.matched} match, ${tally.refused} refused as expected; ` +
      `largest difference ${tally.largestScaled.toExponential(2)} of the output's scale (${tally.largestAt})`,
  );
});

// ---------------------------------------------------------------- what the cases above do not reach

/** A model of one node (op in domain) from `inputs` to 'y', with an int64 initializer 'shape'. */
function oneNode(op: string, domain: string, inputs: string[], shape: number[]): Uint8Array {
  const node = new Writer().string(3, 'n').string(4, op).string(7, domain);
  for (const i of inputs) node.string(1, i);
  node.string(2, 'y');
  const graph = new Writer().message(1, node).message(5, new Writer().ints(1, [shape.length]).int(2, 7).string(8, 'shape').ints(7, shape));
  for (const i of inputs) graph.message(11, new Writer().string(1, i));
  graph.message(12, new Writer().string(1, 'y'));
  return new Writer().int(1, 8).message(7, graph).message(8, new Writer().string(1, '').int(2, 13)).finish();
}

test('an int64 outside int32, a node of another domain and a wrong number of inputs are errors', () => {
  assert.throws(() => import_onnx(oneNode('Reshape', '', ['x', 'shape'], [2 ** 40]), 'big.onnx'),
    /big\.onnx: tensor 'shape' at byte \d+ holds 1099511627776, outside the int32 range stride computes integers in/);
  assert.throws(() => import_onnx(oneNode('Conv', 'com.microsoft', ['x', 'shape'], [1])), /unsupported operators: com\.microsoft\.Conv \('n'\)/);
  const reshape = import_onnx(oneNode('Reshape', '', ['x', 'shape'], [-1]));
  assert.deepEqual(no_grad(() => reshape.call(randn([2, 3]))).shape, [6]);
  const add = import_onnx(oneNode('Add', '', ['x', 'z'], [1]));
  assert.throws(() => add.call(randn([2])), /the graph takes 2 inputs \(x, z\), got 1/);
});
