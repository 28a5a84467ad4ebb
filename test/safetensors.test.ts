import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'fflate';
import { FormatError, StrideError, arange, fromFlat, tensor, transpose, type Tensor } from '../src/index.js';
import {
  loadSafetensors, MAX_HEADER_BYTES, parseSafetensors, readBytes, saveSafetensors, serializeSafetensors, writeFileAtomic,
} from '../src/io/index.js';
import { assertTensor, decodeValue, fixture, FIXTURES, manifest, onlyFormatErrors, PYTHON, pythonWithNumpy, throwsFormat } from './formats_util.js';

const tmp = mkdtempSync(join(tmpdir(), 'stride-safetensors-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};
const ascii = (s: string): number[] => [...new TextEncoder().encode(s)];
const headerOf = (bytes: Uint8Array): string => {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return new TextDecoder().decode(bytes.subarray(8, 8 + n));
};

// ---------------------------------------------------------------- reading files written by the independent writer

test('reads every dtype written by the reference script (unaligned header, keys not in data order)', () => {
  const expected = manifest.safetensors['all_dtypes.safetensors']!;
  const { tensors, metadata } = parseSafetensors(fixture('all_dtypes.safetensors'), 'all_dtypes.safetensors');
  assert.deepEqual(Object.keys(tensors).sort(), Object.keys(expected.tensors).sort());
  for (const [name, e] of Object.entries(expected.tensors)) assertTensor(tensors[name]!, e, name);
  assert.deepEqual(metadata, expected.metadata);
  // Spot checks independent of the manifest: F16 subnormal and BF16 widening, I64 extremes.
  assert.equal(tensors.half!.dataSync()[2], 2 ** -24);
  assert.equal(tensors.brain!.dataSync()[2], 3.140625);
  assert.deepEqual(Array.from(tensors.count!.dataSync()), [-(2 ** 31), 2 ** 31 - 1, 0, -5]);
});

/** The tensors of reference_layout.safetensors, as defined in formats_reference.py. */
function referenceTensors(): Record<string, Tensor> {
  return {
    'conv.weight': fromFlat(Array.from({ length: 18 }, (_, i) => (i - 9) * 0.25), [2, 1, 3, 3]),
    'conv.bias': tensor([0.5, -0.5]),
    'bn.running_var': tensor([1, 0.25], { dtype: 'float64' }),
    'bn.num_batches_tracked': fromFlat([7], [], { dtype: 'int32' }),
    labels: tensor([1, -2, 3], { dtype: 'int32' }),
    pixels: tensor([0, 1, 254, 255], { dtype: 'uint8' }),
    mask: tensor([true, false]),
    '10': tensor([1]),
    'ümlaut': tensor([2]),
  };
}

test('writes byte for byte what the reference layout gives (dtype-alignment then name order, space padding)', () => {
  const written = serializeSafetensors(referenceTensors(), { format: 'pt', '2': 'two' }, { int64: ['bn.num_batches_tracked'] });
  assert.deepEqual(written, fixture('reference_layout.safetensors'));
});

test('known answers: empty file, metadata only, one tensor', () => {
  assert.deepEqual([...serializeSafetensors({})], [8, 0, 0, 0, 0, 0, 0, 0, ...ascii('{}      ')]);
  const meta = serializeSafetensors({}, { framework: 'pt' });
  assert.equal(headerOf(meta), '{"__metadata__":{"framework":"pt"}}     ');
  assert.equal(meta.length, 8 + 40);
  const one = serializeSafetensors({ 'attn.0': fromFlat([0, 1, 2, 3, 4, 5], [1, 2, 3]) });
  assert.equal(headerOf(one), '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}');
  assert.deepEqual([...one.subarray(8 + 64)], [...new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5]).buffer)]);
});

// ---------------------------------------------------------------- round trips

test('round trip stride → bytes → stride for every writable dtype, views, 0-d and empty tensors', () => {
  const source: Record<string, Tensor> = {
    f32: fromFlat([1.5, -0, Infinity, NaN, 3e-39, -2], [2, 3]),
    f64: tensor([Math.PI, -1e300, 5e-324], { dtype: 'float64' }),
    i32: tensor([-(2 ** 31), 2 ** 31 - 1, 0], { dtype: 'int32' }),
    u8: tensor([0, 128, 255], { dtype: 'uint8' }),
    b: tensor([true, false, true]),
    transposed: transpose(arange(6, { dtype: 'float32' }).reshape(2, 3), 0, 1),
    scalar: fromFlat([4], [], { dtype: 'float64' }),
    empty: fromFlat([], [0, 4]),
  };
  const bytes = serializeSafetensors(source, { epoch: '3', note: 'ünïcode ✓' });
  const { tensors, metadata } = parseSafetensors(bytes, 'round trip');
  assert.deepEqual(metadata, { epoch: '3', note: 'ünïcode ✓' });
  for (const [name, t] of Object.entries(source)) {
    assertTensor(tensors[name]!, { dtype: t.dtype, shape: [...t.shape], values: Array.from(t.dataSync()) }, name);
  }
  assert.deepEqual(Array.from(tensors.transposed!.dataSync()), [0, 3, 1, 4, 2, 5], 'a view is written in its logical order');
});

test('int64 option: int32 tensors are written as I64 and read back as int32', () => {
  const t = { steps: tensor([-(2 ** 31), -1, 2 ** 31 - 1], { dtype: 'int32' }), other: tensor([5], { dtype: 'int32' }) };
  const all = serializeSafetensors(t, {}, { int64: true });
  assert.match(headerOf(all), /"steps":\{"dtype":"I64"/);
  assert.match(headerOf(all), /"other":\{"dtype":"I64"/);
  const some = serializeSafetensors(t, {}, { int64: ['steps'] });
  assert.match(headerOf(some), /"other":\{"dtype":"I32"/);
  const back = parseSafetensors(some).tensors;
  assert.deepEqual(Array.from(back.steps!.dataSync()), [-(2 ** 31), -1, 2 ** 31 - 1]);
  assert.equal(back.steps!.dtype, 'int32');
});

test('files written by stride are read back by the reference script\'s own reader', (t) => {
  if (!pythonWithNumpy) {
    t.skip(`${PYTHON} with numpy is not available: the cross-check against the Python reader is skipped`);
    console.log(`# SKIPPED: ${PYTHON} with numpy is not available, stride-written files were not checked by the Python reader`);
    return;
  }
  const tensors = { ...referenceTensors(), big: transpose(arange(12, { dtype: 'float64' }).reshape(3, 4), 0, 1) };
  const path = join(tmp, 'for_python.safetensors');
  writeFileSync(path, serializeSafetensors(tensors, { a: '1' }, { int64: ['bn.num_batches_tracked'] }));
  const run = spawnSync(PYTHON, [new URL('../tools/fixtures/formats_reference.py', import.meta.url).pathname, 'read-safetensors', path], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const read = JSON.parse(run.stdout) as {
    header_padded: boolean; reference_layout: boolean; metadata: Record<string, string>;
    tensors: Record<string, { dtype: string; shape: number[]; values: (number | string)[] }>;
  };
  assert.ok(read.header_padded, 'header padded to 8 bytes');
  assert.ok(read.reference_layout, 'data in the reference order');
  assert.deepEqual(read.metadata, { a: '1' });
  assert.deepEqual(Object.keys(read.tensors).sort(), Object.keys(tensors).sort());
  for (const [name, tt] of Object.entries(tensors)) {
    const r = read.tensors[name]!;
    assert.deepEqual(r.shape, [...tt.shape], name);
    assert.deepEqual(r.values.map(decodeValue), Array.from(tt.dataSync()), name);
  }
  assert.equal(read.tensors['bn.num_batches_tracked']!.dtype, 'I64');
  assert.equal(read.tensors.mask!.dtype, 'BOOL');
});

// ---------------------------------------------------------------- hostile files

/** Offsets are computed from the file: `data` is where the data buffer starts, `header(s)` where s first occurs in the header. */
const data = (b: Uint8Array): number => 8 + b[0]! + 256 * b[1]!;
const header = (s: string, nth = 1) => (b: Uint8Array): number => {
  let at = -1;
  for (let i = 0; i < nth; i++) at = headerOf(b).indexOf(s, at + 1);
  return 8 + at;
};

const HOSTILE: [file: string, parts: string[], offset?: number | ((b: Uint8Array) => number)][] = [
  ['header_length_cut', ['file ends before the header length', 'has 3 bytes'], 3],
  ['header_past_end', ['header length 1000 runs past the end of the file'], 0],
  ['header_too_large', ['200000000', `limit of ${MAX_HEADER_BYTES}`], 0],
  ['not_json', ['not valid JSON'], 8],
  ['not_utf8', ['not valid UTF-8'], 8],
  ['not_object', ["must be a JSON object starting with '{'"], 8],
  ['unknown_dtype', ["tensor 'a'", 'unsupported dtype "C64"', 'F32'], header('"a"')],
  ['bad_shape', ["tensor 'a'", 'non-negative integers', '[-1]'], header('"a"')],
  ['extra_field', ["tensor 'a'", 'exactly the fields', 'stride'], header('"a"')],
  ['shape_mismatch', ["tensor 'a'", 'shape [2, 2] of F32 needs 16 bytes', '[0, 12] hold 12'], data],
  ['offsets_out_of_range', ["tensor 'a'", '[4, 8] run past the end of the data buffer (2 bytes'], (b) => data(b) + 2],
  ['reversed_offsets', ["tensor 'a'", '[8, 4] end before they begin'], header('"a"')],
  ['overlap', ["tensor 'b'", "overlaps tensor 'a'", 'data bytes 4..12'], (b) => data(b) + 4],
  ['hole', ["data bytes 4..8 belong to no tensor", "before tensor 'b'"], (b) => data(b) + 4],
  ['trailing_data', ['data bytes 4..8 belong to no tensor', 'longer than its tensors'], (b) => data(b) + 4],
  ['huge_declared', ["tensor 'big'", '[0, 10000000000] run past the end of the data buffer (16 bytes'], data],
  ['duplicate_key', ["the key 'a' twice"], header('"a"', 2)],
  ['duplicate_metadata_key', ["the key 'k' twice"], header('"k"', 2)],
  ['metadata_not_strings', ["__metadata__: the value of 'epoch' must be a string, got 3"], 8 + 1],
  ['int64_overflow', ["tensor 'n'", 'element 1 is 2147483648', 'int32'], (b) => data(b) + 8],
  ['bool_bad_value', ["tensor 'm'", 'element 1 of a bool array is 2'], (b) => data(b) + 1],
];

for (const [name, parts, offset] of HOSTILE) {
  test(`hostile file ${name}: FormatError naming the file and the problem`, () => {
    const file = `hostile_${name}.safetensors`;
    const bytes = fixture(file);
    throwsFormat(() => parseSafetensors(bytes, file), file, parts, typeof offset === 'function' ? offset(bytes) : offset);
  });
}

test('the 10 GB tensor in a tiny file fails on its offsets, before any allocation', () => {
  const bytes = fixture('hostile_huge_declared.safetensors');
  assert.ok(bytes.length < 200);
  const started = performance.now();
  assert.throws(() => parseSafetensors(bytes), FormatError);
  assert.ok(performance.now() - started < 1000, 'fails fast');
});

test('every truncation and single-byte corruption is parsed or refused with a FormatError', () => {
  const { failed, parsed } = onlyFormatErrors(fixture('reference_layout.safetensors'), (b) => parseSafetensors(b).tensors);
  assert.ok(failed > 700 && parsed > 0, `${failed} refused, ${parsed} parsed`);
});

test('serialize refuses what it cannot write faithfully', () => {
  const x = tensor([1]);
  assert.throws(() => serializeSafetensors({ __metadata__: x }), /'__metadata__' is reserved/);
  assert.throws(() => serializeSafetensors({ x }, { epoch: 3 as unknown as string }), /metadata values must be strings; 'epoch' is number/);
  assert.throws(() => serializeSafetensors({ x }, {}, { int64: ['x'] }), /names 'x', which is a float32 tensor/);
  assert.throws(() => serializeSafetensors({ x }, {}, { int64: ['y'] }), /names 'y', which is not among the tensors/);
  assert.throws(() => serializeSafetensors({ x: [1] as unknown as Tensor }), /'x' is not a Tensor/);
  const gone = tensor([1]);
  gone.dispose();
  assert.throws(() => serializeSafetensors({ gone }), StrideError);
});

test('dtype names that are also Object.prototype properties are unsupported dtypes, not crashes', () => {
  for (const dtype of ['constructor', '__proto__', 'toString']) {
    const bytes = new TextEncoder().encode(`{"a":{"dtype":"${dtype}","shape":[1],"data_offsets":[0,4]}}`);
    throwsFormat(() => parseSafetensors(concat(new Uint8Array([bytes.length, 0, 0, 0, 0, 0, 0, 0]), bytes, new Uint8Array(4)), 'p'), 'p', [`unsupported dtype "${dtype}"`]);
  }
});

test('long hostile values are cut short in messages', () => {
  const shape = JSON.stringify(Array.from({ length: 1000 }, () => -1));
  const bytes = new TextEncoder().encode(`{"a":{"dtype":"F32","shape":${shape},"data_offsets":[0,4]}}`);
  const length = new Uint8Array(8);
  new DataView(length.buffer).setUint32(0, bytes.length, true);
  assert.throws(() => parseSafetensors(concat(length, bytes, new Uint8Array(4))), (e: Error) => {
    assert.ok(e instanceof FormatError && e.message.includes('[-1, -1, -1, -1, -1, -1, -1, -1, ...]'), e.message);
    return e.message.length < 200;
  });
});

test('odd names survive: __proto__, integer-like keys, non-ASCII', () => {
  const names = ['__proto__', '7', 'é', 'a.b'];
  const source = Object.fromEntries(names.map((n, i) => [n, tensor([i])]));
  // Object.fromEntries defines '__proto__' as an own key, as a parsed file must.
  const { tensors } = parseSafetensors(serializeSafetensors(source));
  assert.deepEqual(Object.keys(tensors).sort(), [...names].sort());
  names.forEach((n, i) => assert.deepEqual(Array.from(Object.getOwnPropertyDescriptor(tensors, n)!.value.dataSync()), [i], n));
});

// ---------------------------------------------------------------- Node file helpers

test('saveSafetensors / loadSafetensors round trip through a file', async () => {
  const path = join(tmp, 'model.safetensors');
  await saveSafetensors(path, referenceTensors(), { format: 'pt', '2': 'two' }, { int64: ['bn.num_batches_tracked'] });
  assert.deepEqual(new Uint8Array(readFileSync(path)), fixture('reference_layout.safetensors'));
  const { tensors, metadata } = await loadSafetensors(path);
  assert.deepEqual(metadata, { format: 'pt', '2': 'two' });
  assert.deepEqual(Array.from(tensors['conv.weight']!.dataSync()), Array.from({ length: 18 }, (_, i) => (i - 9) * 0.25));
  assert.deepEqual(readdirSync(tmp).filter((f) => f.endsWith('.tmp')), [], 'no temporary file is left behind');
});

test('loadSafetensors names the file in errors (missing, hostile)', async () => {
  const missing = join(tmp, 'nope.safetensors');
  await assert.rejects(loadSafetensors(missing), (e: Error) => e instanceof StrideError && e.message.includes(missing) && e.message.includes('ENOENT'));
  const hostile = FIXTURES + 'hostile_overlap.safetensors';
  await assert.rejects(loadSafetensors(hostile), (e: Error) => e instanceof FormatError && e.message.startsWith(hostile) && e.message.includes('overlaps'));
});

test('readBytes gunzips .gz files and checks them', async () => {
  const raw = fixture('reference_layout.safetensors');
  const gz = gzipSync(raw, { mtime: 0 });
  const path = join(tmp, 'model.safetensors.gz');
  writeFileSync(path, gz);
  assert.deepEqual(await readBytes(path), raw);
  assert.deepEqual(Object.keys((await loadSafetensors(path)).tensors).sort(), Object.keys(referenceTensors()).sort());
  const corrupt = gz.slice();
  corrupt[corrupt.length - 12]! ^= 0x55;
  const bad = join(tmp, 'corrupt.safetensors.gz');
  writeFileSync(bad, corrupt);
  await assert.rejects(readBytes(bad), (e: Error) => e instanceof FormatError && e.message.startsWith(bad));
  const plain = join(tmp, 'plain.gz');
  writeFileSync(plain, raw);
  await assert.rejects(readBytes(plain), (e: Error) => e instanceof FormatError && e.message.includes('gzip magic'));
});

test('writeFileAtomic: a failure mid-write leaves the previous file intact', async () => {
  const path = join(tmp, 'checkpoint.bin');
  await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
  assert.deepEqual([...readFileSync(path)], [1, 2, 3]);
  const boom = new Error('disk on fire');
  await assert.rejects(
    writeFileAtomic(path, async (write) => {
      await write(new Uint8Array(1000).fill(9));
      throw boom;
    }),
    (e: Error) => e instanceof StrideError && e.message.includes(path) && e.message.includes('disk on fire') && e.cause === boom,
  );
  assert.deepEqual([...readFileSync(path)], [1, 2, 3], 'old contents survive');
  assert.deepEqual(readdirSync(tmp).filter((f) => f.includes('checkpoint.bin.')), [], 'the temporary file is removed');
  await writeFileAtomic(path, async (write) => {
    await write(new Uint8Array([4, 5]));
    await write(new Uint8Array([6]));
  });
  assert.deepEqual([...readFileSync(path)], [4, 5, 6], 'chunks are written in order and replace the file');
});

test('writeFileAtomic names the path when the directory does not exist', async () => {
  const path = join(tmp, 'no', 'such', 'dir', 'x.bin');
  await assert.rejects(writeFileAtomic(path, new Uint8Array(1)), (e: Error) => e instanceof StrideError && e.message.includes(path) && e.message.includes('ENOENT'));
});
