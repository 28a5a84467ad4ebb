import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { test } from 'node:test';
import { gzipSync, zipSync } from 'fflate';
import { FormatError, StrideError } from '../src/index.js';
import { parseCifar } from '../src/data/cifar.js';
import { crc32, gunzip } from '../src/data/formats.js';
import { parseIdx, parseIdxLabels } from '../src/data/idx.js';
import { parseNpy, parseNpz } from '../src/data/npy.js';
import { assertTensor, fixture, manifest, onlyFormatErrors, throwsFormat } from './formats_util.js';

const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};

// ---------------------------------------------------------------- IDX

test('IDX: every element type, raw and gzipped (with and without a file name in the gzip header)', () => {
  for (const [name, e] of Object.entries(manifest.idx)) {
    if (name === 'labels.idx1') continue;
    const t = parseIdx(fixture(name), name);
    assertTensor(t, e, name);
  }
  assert.equal(Object.keys(manifest.idx).length, 9);
});

test('IDX labels: int32 [N], every label checked against numClasses', () => {
  const e = manifest.idx['labels.idx1']!;
  assertTensor(parseIdxLabels(fixture('labels.idx1'), 10, 'labels.idx1'), { ...e, dtype: 'int32' }, 'labels');
  throwsFormat(() => parseIdxLabels(fixture('hostile_labels.idx1'), 10, 'bad.idx1'), 'bad.idx1', ['label 2 is 10', 'expected 0..9 (10 classes)'], 8 + 2);
  throwsFormat(() => parseIdxLabels(fixture('labels.idx1'), 5, 'l'), 'l', ['label 5 is 5', '0..4'], 8 + 5);
  throwsFormat(() => parseIdxLabels(fixture('u8.idx'), 10, 'img'), 'img', ['expected a label file', 'sizes [2, 3, 4]']);
  throwsFormat(() => parseIdxLabels(fixture('f32.idx'), 10, 'f'), 'f', ['expected a label file', 'floats']);
  assert.throws(() => parseIdxLabels(fixture('labels.idx1'), 0), (e: Error) => e instanceof StrideError && /numClasses must be a positive integer, got 0/.test(e.message));
});

test('IDX: bad magic, unknown type, sizes past the end, truncated and trailing data', () => {
  const u8 = fixture('u8.idx');
  throwsFormat(() => parseIdx(fixture('hostile_bad_magic.idx'), 'm'), 'm', ['start with 00 00, got 01 00 08 03', 'not an IDX file'], 0);
  throwsFormat(() => parseIdx(fixture('hostile_bad_type.idx'), 't'), 't', ['unknown element type 0x0a'], 2);
  throwsFormat(() => parseIdx(fixture('hostile_dims_past_end.idx'), 'd'), 'd', ['file ends before size 1 of 3', 'the data has 8 bytes'], 8);
  throwsFormat(() => parseIdx(u8.subarray(0, 39), 'cut'), 'cut', ['expected 40 bytes (16-byte header + 2 × 3 × 4 unsigned bytes of 1 byte), got 39 (truncated)'], 39);
  throwsFormat(() => parseIdx(concat(u8, new Uint8Array(3)), 'long'), 'long', ['got 43 (trailing bytes)'], 40);
  throwsFormat(() => parseIdx(new Uint8Array([0, 0, 8, 0]), 'zero'), 'zero', ['number of dimensions is 0'], 3);
});

test('IDX: errors inside gzipped data name the decompressed source; a corrupted gzip is refused', () => {
  const gz = fixture('u8.idx.gz');
  throwsFormat(() => parseIdx(gzipSync(fixture('u8.idx').subarray(0, 30)), 'x.gz'), 'x.gz (gunzipped)', ['truncated'], 30);
  const corrupt = gz.slice();
  corrupt[15]! ^= 0x10;
  assert.throws(() => parseIdx(corrupt, 'c.gz'), (e: Error) => e instanceof FormatError && e.message.startsWith('c.gz'));
});

test('IDX: every truncation and byte flip is parsed or refused with a FormatError', () => {
  for (const name of ['u8.idx', 'f64.idx', 'u8_named.idx.gz']) {
    const { failed } = onlyFormatErrors(fixture(name), (b) => parseIdx(b, name));
    assert.ok(failed >= fixture(name).length, `${name}: every truncation fails (${failed})`);
  }
});

// ---------------------------------------------------------------- gzip

test('gunzip checks the header, the declared size (before allocating) and the CRC', () => {
  const raw = fixture('u8.idx');
  const gz = gzipSync(raw, { mtime: 0 });
  assert.deepEqual(gunzip(gz, 'ok'), raw);
  const withFlag = (flags: number) => {
    const b = gz.slice();
    b[3] = flags;
    return b;
  };
  throwsFormat(() => gunzip(withFlag(0x20), 'r'), 'r', ['reserved flag bits'], 3);
  const unterminatedName = concat(gz.subarray(0, 10), new Uint8Array(20).fill(0x41));
  unterminatedName[3] = 0x08;
  throwsFormat(() => gunzip(unterminatedName, 'n'), 'n', ['file name is not zero-terminated'], 10);
  const method = gz.slice();
  method[2] = 7;
  throwsFormat(() => gunzip(method, 'm'), 'm', ['compression method 7 is not DEFLATE'], 2);
  const lying = gz.slice();
  new DataView(lying.buffer).setUint32(lying.length - 4, 2 ** 31, true);
  throwsFormat(() => gunzip(lying, 'l'), 'l', ['declares 2147483648 uncompressed bytes, more than the limit'], lying.length - 4);
  new DataView(lying.buffer).setUint32(lying.length - 4, 10_000_000, true);
  throwsFormat(() => gunzip(lying, 'l'), 'l', ['impossible for'], lying.length - 4);
  throwsFormat(() => gunzip(gz, 'small', 10), 'small', ['more than the limit of 10']);
  const badCrc = gz.slice();
  badCrc[badCrc.length - 8]! ^= 1;
  throwsFormat(() => gunzip(badCrc, 'crc'), 'crc', ['CRC-32']);
  const shorter = gz.slice();
  new DataView(shorter.buffer).setUint32(shorter.length - 4, raw.length - 1, true);
  // A stream longer than its declared size is cut to that size, and then caught by the CRC.
  throwsFormat(() => gunzip(shorter, 's'), 's', ['CRC-32']);
  // FEXTRA, FCOMMENT and FHCRC fields are skipped.
  const extra = concat(gz.subarray(0, 3), new Uint8Array([4 | 16 | 2]), gz.subarray(4, 10), new Uint8Array([2, 0, 0xaa, 0xbb]), new Uint8Array([0x63, 0]), new Uint8Array([0, 0]), gz.subarray(10));
  assert.deepEqual(gunzip(extra, 'extra'), raw);
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926, 'CRC-32 check value');
});

// ---------------------------------------------------------------- CIFAR

test('CIFAR-10 and CIFAR-100 (fine and coarse labels): images [N, 3, 32, 32] uint8, labels int32', () => {
  const c10 = manifest.cifar.cifar10!;
  const b10 = parseCifar(fixture('cifar10.bin'), { variant: 'cifar10', source: 'c10' });
  assert.deepEqual([...b10.images.shape], [3, 3, 32, 32]);
  assert.equal(b10.images.dtype, 'uint8');
  assert.equal(b10.labels.dtype, 'int32');
  assert.deepEqual(Array.from(b10.labels.dataSync()), c10.labels.map((l) => l[0]));
  const c100 = manifest.cifar.cifar100!;
  const fine = parseCifar(fixture('cifar100.bin'), { variant: 'cifar100', source: 'c100' });
  const coarse = parseCifar(fixture('cifar100.bin'), { variant: 'cifar100', label: 'coarse' });
  assert.deepEqual(Array.from(fine.labels.dataSync()), c100.labels.map((l) => l[1]));
  assert.deepEqual(Array.from(coarse.labels.dataSync()), c100.labels.map((l) => l[0]));
  for (const [batch, e] of [[b10, c10], [fine, c100]] as const) {
    const px = batch.images.dataSync();
    const sums = e.channel_sums.map((_, n) => [0, 1, 2].map((c) => Array.from(px.subarray((n * 3 + c) * 1024, (n * 3 + c + 1) * 1024)).reduce((a, b) => a + b, 0)));
    assert.deepEqual(sums, e.channel_sums);
    for (const [[n, c, h, w], v] of e.samples) assert.equal(px[((n! * 3 + c!) * 32 + h!) * 32 + w!], v);
  }
  const gz = parseCifar(gzipSync(fixture('cifar10.bin')), { variant: 'cifar10' });
  assert.deepEqual(gz.images.dataSync(), b10.images.dataSync(), 'gzipped batches are read too');
});

test('CIFAR: bad labels, misaligned and empty files, wrong options', () => {
  throwsFormat(() => parseCifar(fixture('hostile_cifar10_label.bin'), { variant: 'cifar10', source: 'b' }), 'b', ['record 1: label is 10, expected 0..9'], 3073);
  throwsFormat(() => parseCifar(fixture('hostile_cifar100_coarse.bin'), { variant: 'cifar100', source: 'b' }), 'b', ['record 0: coarse label is 20, expected 0..19'], 0);
  const c100 = fixture('cifar100.bin');
  const badFine = c100.slice();
  badFine[3074 + 1] = 100;
  throwsFormat(() => parseCifar(badFine, { variant: 'cifar100', label: 'coarse', source: 'f' }), 'f', ['record 1: fine label is 100, expected 0..99'], 3075);
  throwsFormat(() => parseCifar(c100.subarray(0, 5000), { variant: 'cifar100', source: 'cut' }), 'cut', ['whole number of 3074-byte records', 'got 5000 bytes'], 3074);
  throwsFormat(() => parseCifar(fixture('cifar10.bin'), { variant: 'cifar100', source: 'v' }), 'v', ['3074-byte records', 'got 9219']);
  throwsFormat(() => parseCifar(new Uint8Array(0), { variant: 'cifar10', source: 'e' }), 'e', ['got 0 bytes']);
  assert.throws(() => parseCifar(c100, { variant: 'cifar10', label: 'coarse' } as never), /label must be omitted \(CIFAR-10 has one label\)/);
  assert.throws(() => parseCifar(c100, { variant: 'cifar100', label: 'medium' } as never), /label must be 'fine' or 'coarse', got 'medium'/);
  for (const variant of ['cifar1000', 'toString']) {
    assert.throws(() => parseCifar(c100, { variant } as never), /variant must be 'cifar10' or 'cifar100'/);
  }
  const { failed } = onlyFormatErrors(c100, (b) => parseCifar(b, { variant: 'cifar100' }), 4);
  assert.ok(failed >= c100.length);
});

// ---------------------------------------------------------------- .npy

test('npy written by numpy: every dtype, big-endian, Fortran order, 0-d, empty, versions 2.0 and 3.0', () => {
  for (const [name, e] of Object.entries(manifest.npy)) assertTensor(parseNpy(fixture(name), name), e, name);
  assert.equal(Object.keys(manifest.npy).length, 25);
  // Fortran order: numpy wrote arange(24).reshape(2, 3, 4) column-major; it must come back row-major.
  assert.deepEqual(Array.from(parseNpy(fixture('fortran_3d.npy')).dataSync()), Array.from({ length: 24 }, (_, i) => i));
});

const NPY_HOSTILE: [file: string, parts: string[]][] = [
  ['object', ["object arrays ('|O')", 'refused']],
  ['i8_overflow', ['element 1 is 2147483648', 'int32']],
  ['u4_overflow', ['element 0 is 4294967295']],
  ['bad_magic', ['magic string']],
  ['bad_version', ['unsupported format version 4.0']],
  ['header_eval', ["header: got '_' where a value was expected", 'only strings, integers']],
  ['header_missing_key', ["exactly the keys 'descr', 'fortran_order' and 'shape', got 'descr', 'shape'"]],
  ['header_extra_key', ["got 'descr', 'fortran_order', 'shape', 'x'"]],
  ['header_negative_shape', ['shape: sizes must be non-negative integers, got [-1]']],
  ['header_complex', ["unsupported dtype '<c8'"]],
  ['header_structured', ['descr must be a string (structured dtypes are not supported)']],
  ['header_deep', ['nesting deeper than 8 levels']],
  ['header_unterminated', ['got the end of the header where a value was expected']],
  ['header_past_end', ['file ends before the 60000-byte header']],
  ['header_huge_shape', ["expected 40000000080 bytes (80-byte header + 10000000000 elements of '<f4' for shape (100000, 100000)), got 84 (truncated)"]],
];

for (const [name, parts] of NPY_HOSTILE) {
  test(`hostile npy ${name}: FormatError naming the file and the problem`, () => {
    const file = `hostile_${name}.npy`;
    throwsFormat(() => parseNpy(fixture(file), file), file, parts);
  });
}

test('npy: truncated and trailing data report expected and actual sizes at the right offset', () => {
  const f4 = fixture('f4.npy');
  throwsFormat(() => parseNpy(f4.subarray(0, f4.length - 1), 'a'), 'a', [`expected ${f4.length} bytes`, "6 elements of '<f4' for shape (2, 3)", `got ${f4.length - 1} (truncated)`], f4.length - 1);
  throwsFormat(() => parseNpy(concat(f4, new Uint8Array(1)), 'b'), 'b', ['(trailing bytes)'], f4.length);
  for (const name of ['f4.npy', 'v3.npy', 'fortran_3d.npy', 'be_i8.npy']) {
    const { failed } = onlyFormatErrors(fixture(name), (b) => parseNpy(b, name));
    assert.ok(failed >= fixture(name).length, name);
  }
});

test('npy: header error offsets are byte offsets, also in a UTF-8 (version 3.0) header', () => {
  const text = new TextEncoder().encode("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'ü': (1 2)}\n");
  const bytes = concat(new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 3, 0, text.length, 0, 0, 0]), text);
  const at = 12 + text.indexOf(0x32); // the byte of '2', after the two-byte 'ü'
  throwsFormat(() => parseNpy(bytes, 'v3'), 'v3', ["expected ',' or ')', got '2'"], at);
});

// ---------------------------------------------------------------- .npz

test('npz written by numpy.savez (stored) and savez_compressed (deflated)', () => {
  for (const file of ['savez.npz', 'savez_compressed.npz']) {
    const arrays = parseNpz(fixture(file), file);
    assert.deepEqual(Object.keys(arrays).sort(), ['x', 'y', 'z'], file);
    for (const [name, e] of Object.entries(manifest.npz)) assertTensor(arrays[name]!, e, `${file}:${name}`);
  }
});

test('npz written by another zip writer (fflate), and errors inside an entry name the entry', () => {
  const npy = fixture('f8.npy');
  for (const level of [0, 9] as const) {
    const arrays = parseNpz(zipSync({ 'a.npy': npy, 'dir/b.npy': fixture('b1.npy') }, { level }), 'z.npz');
    assertTensor(arrays.a!, manifest.npy['f8.npy']!, 'a');
    assertTensor(arrays['dir/b']!, manifest.npy['b1.npy']!, 'dir/b');
  }
  throwsFormat(() => parseNpz(zipSync({ 'a.npy': fixture('hostile_header_eval.npy') }), 'z.npz'), 'z.npz:a.npy', ["got '_' where a value was expected"]);
  assert.deepEqual(parseNpz(zipSync({})), {}, 'an empty archive holds no arrays');
});

test('hostile npz: non-npy entries, bad CRC, lying sizes (zip bombs), truncation', () => {
  throwsFormat(() => parseNpz(fixture('hostile_not_npy.npz'), 'n'), 'n', ["entry 'readme.txt' is not a .npy file"]);
  throwsFormat(() => parseNpz(fixture('hostile_bad_crc.npz'), 'c'), 'c', ["entry 'x.npy': CRC-32 is", '(corrupted data)']);
  throwsFormat(() => parseNpz(fixture('hostile_huge_declared.npz'), 'h'), 'h', ["entry 'x.npy' declares 3000000000 uncompressed bytes, more than the limit of 1073741824"]);
  throwsFormat(() => parseNpz(fixture('hostile_impossible_ratio.npz'), 'r'), 'r', ['declares 50000000 uncompressed bytes, impossible for']);
  throwsFormat(() => parseNpz(fixture('hostile_short_declared.npz'), 's'), 's', ["entry 'x.npy': CRC-32"]);
  throwsFormat(() => parseNpz(fixture('savez_compressed.npz'), 'limit', 300), 'limit', ['in total, more than the limit of 300']);
  const npz = fixture('savez.npz');
  throwsFormat(() => parseNpz(npz.subarray(0, npz.length - 30), 't'), 't', ['no end-of-central-directory record']);
  throwsFormat(() => parseNpz(zipSync({ 'a.npy': fixture('f4.npy'), 'b.npy': fixture('f4.npy') }).slice().fill(0x63, 30, 31), 'renamed'), 'renamed', ['local header names another file']);
  for (const file of ['savez.npz', 'savez_compressed.npz']) {
    const { failed, parsed } = onlyFormatErrors(fixture(file), (b) => parseNpz(b, file));
    assert.ok(failed >= fixture(file).length && parsed > 0, `${file}: ${failed} refused, ${parsed} parsed`);
  }
});

// ---------------------------------------------------------------- bundled Fashion-MNIST subset

const SUBSET = new URL('../data/fashion-mnist-subset/', import.meta.url).pathname;
const FULL = '/usr/share/datasets/fashion-mnist/';

for (const [split, perClass] of [['train', 600], ['t10k', 100]] as const) {
  test(`bundled Fashion-MNIST ${split}: ${perClass * 10} images, ${perClass} per class, the first of each class in the full set`, (t) => {
    const file = (dir: string, kind: string) => `${dir}${split}-${kind}-idx${kind === 'images' ? 3 : 1}-ubyte.gz`;
    const images = parseIdx(readFileSync(file(SUBSET, 'images')), file(SUBSET, 'images'));
    const labels = parseIdxLabels(readFileSync(file(SUBSET, 'labels')), 10, file(SUBSET, 'labels'));
    assert.deepEqual([...images.shape], [perClass * 10, 28, 28]);
    assert.equal(images.dtype, 'uint8');
    const counts = new Array<number>(10).fill(0);
    for (const l of labels.dataSync()) counts[l]!++;
    assert.deepEqual(counts, new Array(10).fill(perClass));
    assert.ok(statSync(file(SUBSET, 'images')).size < 3_000_000, 'the bundled images stay small');
    if (!existsSync(FULL)) {
      t.skip(`${FULL} is missing (Debian package dataset-fashion-mnist): the comparison with the full set is skipped`);
      console.log(`# SKIPPED: ${FULL} is missing, the subset was not compared with the full Fashion-MNIST`);
      return;
    }
    // The subset must be exactly the first perClass images of each class, in the original order.
    const fullLabels = parseIdxLabels(readFileSync(file(FULL, 'labels')), 10, file(FULL, 'labels')).dataSync();
    const fullImages = parseIdx(readFileSync(file(FULL, 'images')), file(FULL, 'images')).dataSync();
    const taken = new Array<number>(10).fill(0);
    const keep: number[] = [];
    fullLabels.forEach((l, i) => taken[l]!++ < perClass && keep.push(i));
    assert.deepEqual(Array.from(labels.dataSync()), keep.map((i) => fullLabels[i]));
    const px = images.dataSync();
    keep.forEach((src, dst) => {
      for (let k = 0; k < 784; k++) if (px[dst * 784 + k] !== fullImages[src * 784 + k]) assert.fail(`image ${dst} differs from full-set image ${src} at pixel ${k}`);
    });
  });
}
