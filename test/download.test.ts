import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'fflate';
import { getDataset, untar, verify, type Resource } from '../src/io/download.js';
import { Generator } from '../src/index.js';

/** A local server on 127.0.0.1 serving fixed files, honouring Range unless told not to. */
const files = new Map<string, Uint8Array>();
const requests: { path: string; range?: string }[] = [];
let ignoreRange = false;
let server: Server;
let base = '';

before(async () => {
  server = createServer((req: IncomingMessage, res) => {
    const path = req.url ?? '';
    requests.push({ path, range: req.headers.range });
    const body = files.get(path);
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m && !ignoreRange) {
      const start = Number(m[1]);
      if (start >= body.length) {
        res.writeHead(416).end();
        return;
      }
      res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` }).end(Buffer.from(body.subarray(start)));
      return;
    }
    res.writeHead(200, { 'content-length': body.length }).end(Buffer.from(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address() as { port: number };
  base = `http://127.0.0.1:${addr.port}`;
});

after(() => server.close());

// Random bytes do not compress, so the .gz is large enough to be cut in the middle.
const payload = Uint8Array.from(new Generator(1).uint32(20000), (v) => v & 0xff);
const gz = gzipSync(payload);
const sha = createHash('sha256').update(payload).digest('hex');
const tempDir = () => mkdtempSync(join(tmpdir(), 'stride-dl-'));

test('downloads, verifies the SHA-256 of the content, and renames into place', async () => {
  files.set('/a.gz', gz);
  const dir = tempDir();
  const seen: number[] = [];
  await getDataset('mnist', { dir, resources: [{ file: 'a.gz', urls: [`${base}/a.gz`], sha256_decompressed: sha }], progress: (_f, done) => seen.push(done) });
  assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'a.gz'))), gz);
  assert.ok(!existsSync(join(dir, 'a.gz.part')));
  assert.equal(seen[seen.length - 1], gz.length, 'progress reached the full size');
});

test('resumes a partial download with a Range request', async () => {
  files.set('/b.gz', gz);
  const dir = tempDir();
  writeFileSync(join(dir, 'b.gz.part'), gz.subarray(0, 100));
  requests.length = 0;
  await getDataset('mnist', { dir, resources: [{ file: 'b.gz', urls: [`${base}/b.gz`], sha256_decompressed: sha }] });
  assert.equal(requests[0]!.range, 'bytes=100-');
  assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'b.gz'))), gz);
});

test('a server that ignores Range makes it start over, and the result is still right', async () => {
  files.set('/c.gz', gz);
  const dir = tempDir();
  writeFileSync(join(dir, 'c.gz.part'), gz.subarray(0, 100));
  ignoreRange = true;
  try {
    await getDataset('mnist', { dir, resources: [{ file: 'c.gz', urls: [`${base}/c.gz`], sha256_decompressed: sha }] });
  } finally {
    ignoreRange = false;
  }
  assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'c.gz'))), gz);
});

test('a corrupted file is rejected: no file under the final name, the part removed, hashes in the message', async () => {
  const bad = gz.slice();
  bad[bad.length - 20]! ^= 0xff;
  files.set('/bad.gz', bad);
  const dir = tempDir();
  await assert.rejects(
    getDataset('mnist', { dir, resources: [{ file: 'd.gz', urls: [`${base}/bad.gz`], sha256_decompressed: sha }] }),
    (e: Error) => /could not get d\.gz/.test(e.message) && (/SHA-256 of the data is [0-9a-f]{64}, expected/.test(e.message) || /not a valid gzip/.test(e.message)),
  );
  assert.ok(!existsSync(join(dir, 'd.gz')));
  assert.ok(!existsSync(join(dir, 'd.gz.part')));
});

test('an MD5 or size mismatch is rejected by verify', () => {
  const r: Resource = { file: 'x', urls: [], md5: '0'.repeat(32) };
  assert.throws(() => verify(r, gz, 'x'), /MD5 is [0-9a-f]{32}, expected 0{32}/);
  assert.throws(() => verify({ file: 'x', urls: [], size: 3 }, gz, 'x'), new RegExp(`expected 3 bytes, got ${gz.length}`));
});

test('falls back to the next mirror when one fails', async () => {
  files.set('/mirror2/e.gz', gz);
  const dir = tempDir();
  await getDataset('mnist', { dir, resources: [{ file: 'e.gz', urls: [`${base}/missing/e.gz`, `${base}/mirror2/e.gz`], sha256_decompressed: sha }] });
  assert.deepEqual(new Uint8Array(readFileSync(join(dir, 'e.gz'))), gz);
});

/** A minimal ustar archive with the given entries. */
function tar(entries: [string, Uint8Array][]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const [name, data] of entries) {
    const h = new Uint8Array(512);
    h.set(new TextEncoder().encode(name), 0);
    h.set(new TextEncoder().encode(data.length.toString(8).padStart(11, '0')), 124);
    h[156] = '0'.charCodeAt(0);
    blocks.push(h, data, new Uint8Array((512 - (data.length % 512)) % 512));
  }
  blocks.push(new Uint8Array(1024));
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of blocks) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

test('archives are unpacked, keeping the listed members', async () => {
  const archive = gzipSync(tar([['cifar-10-batches-bin/x.bin', new Uint8Array([1, 2, 3])], ['cifar-10-batches-bin/readme.html', new Uint8Array([9])]]));
  files.set('/t.tar.gz', archive);
  const dir = tempDir();
  const md5 = createHash('md5').update(archive).digest('hex');
  await getDataset('cifar10', { dir, resources: [{ file: 't.tar.gz', urls: [`${base}/t.tar.gz`], md5, extract: { members: ['x.bin'] } }] });
  assert.deepEqual([...readFileSync(join(dir, 'x.bin'))], [1, 2, 3]);
  assert.ok(!existsSync(join(dir, 'readme.html')));
});

test('hostile archives are refused: paths escaping the directory, sizes past the end', () => {
  assert.throws(() => untar(tar([['../evil', new Uint8Array([1])]]), 'evil.tar'), /escapes the target directory/);
  const truncated = tar([['a.bin', new Uint8Array(2000)]]).subarray(0, 1024);
  assert.throws(() => untar(truncated, 'short.tar'), /declares 2000 bytes, past the end/);
});
