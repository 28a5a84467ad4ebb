/**
 * `stride data get NAME`: downloads a dataset's files from the official mirrors into the user
 * cache. A download goes to FILE.part and resumes from there with an HTTP Range request; it is
 * checked (SHA-256 of the decompressed data where a trusted value is known, else the MD5 the
 * dataset's publishers give, and the size) before an atomic rename, so a file under its final
 * name is always complete and verified. CIFAR archives are unpacked with path checks.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, normalize, isAbsolute } from 'node:path';
import { gunzipSync } from 'fflate';
import { StrideError } from '../tensor/errors.js';
import { userCacheDir, type DatasetName } from './datasets.js';
import { readBytes, writeFileAtomic } from './files.js';

export interface Resource {
  /** File name under which the download is stored. */
  file: string;
  /** Full URLs to try in order. */
  urls: string[];
  /** MD5 of the file as published by the dataset's authors. */
  md5?: string;
  /** SHA-256 of the gunzipped content. */
  sha256_decompressed?: string;
  size?: number;
  /** Unpack this tar.gz into the dataset directory, keeping only `members` (paths with the top folder stripped). */
  extract?: { members: string[] };
}

const FASHION = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/';
const MNIST = ['https://ossci-datasets.s3.amazonaws.com/mnist/', 'http://yann.lecun.com/exdb/mnist/'];

/**
 * Fashion-MNIST's SHA-256 values are of the decompressed IDX data, computed from Debian's
 * dataset-fashion-mnist package (which re-compressed the files, so the .gz hashes differ from
 * upstream's). The MNIST and CIFAR values are the MD5s their publishers list.
 */
export const RESOURCES: Record<DatasetName, Resource[]> = {
  'fashion-mnist': [
    { file: 'train-images-idx3-ubyte.gz', urls: [FASHION + 'train-images-idx3-ubyte.gz'], sha256_decompressed: 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888' },
    { file: 'train-labels-idx1-ubyte.gz', urls: [FASHION + 'train-labels-idx1-ubyte.gz'], sha256_decompressed: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9' },
    { file: 't10k-images-idx3-ubyte.gz', urls: [FASHION + 't10k-images-idx3-ubyte.gz'], sha256_decompressed: '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b' },
    { file: 't10k-labels-idx1-ubyte.gz', urls: [FASHION + 't10k-labels-idx1-ubyte.gz'], sha256_decompressed: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34' },
  ],
  mnist: [
    { file: 'train-images-idx3-ubyte.gz', urls: MNIST.map((m) => m + 'train-images-idx3-ubyte.gz'), md5: 'f68b3c2dcbeaaa9fbdd348bbdeb94873' },
    { file: 'train-labels-idx1-ubyte.gz', urls: MNIST.map((m) => m + 'train-labels-idx1-ubyte.gz'), md5: 'd53e105ee54ea40749a09fcbcd1e9432' },
    { file: 't10k-images-idx3-ubyte.gz', urls: MNIST.map((m) => m + 't10k-images-idx3-ubyte.gz'), md5: '9fb629c4189551a2d022fa330f9573f3' },
    { file: 't10k-labels-idx1-ubyte.gz', urls: MNIST.map((m) => m + 't10k-labels-idx1-ubyte.gz'), md5: 'ec29112dd5afa0611ce80d1b7f02629c' },
  ],
  cifar10: [
    {
      file: 'cifar-10-binary.tar.gz', urls: ['https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz'], md5: 'c32a1d4ab5d03f1284b67883e8d87530', size: 170052171,
      extract: { members: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin', 'batches.meta.txt'] },
    },
  ],
  cifar100: [
    {
      file: 'cifar-100-binary.tar.gz', urls: ['https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz'], md5: '03b5dce01913d631647c71ecec9e9cb8',
      extract: { members: ['train.bin', 'test.bin', 'fine_label_names.txt', 'coarse_label_names.txt'] },
    },
  ],
};

export interface DownloadEvents {
  /** Called as bytes arrive: done so far (including a resumed part) and the total when known. */
  progress?(file: string, done: number, total: number | null): void;
  log?(line: string): void;
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

/** Fetches url into part, appending to what is there when the server honours the Range request. */
async function fetchInto(url: string, part: string, file: string, events: DownloadEvents): Promise<void> {
  const have = await sizeOf(part);
  const res = await fetch(url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {} });
  if (res.status === 416 && have > 0) return; // the part is already complete
  if (!res.ok || !res.body) throw new StrideError(`${url}: HTTP ${res.status} ${res.statusText}`);
  const resumed = res.status === 206;
  if (have > 0 && !resumed) events.log?.(`${file}: the server ignored the resume request; starting over`);
  const length = Number(res.headers.get('content-length'));
  const total = Number.isFinite(length) && length > 0 ? length + (resumed ? have : 0) : null;
  const out = createWriteStream(part, { flags: resumed ? 'a' : 'w' });
  let done = resumed ? have : 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      done += chunk.length;
      events.progress?.(file, done, total);
    }
  } finally {
    await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  }
}

/** Throws (naming the file, expected and actual) unless the bytes match every known check. */
export function verify(r: Resource, bytes: Uint8Array, where: string): void {
  if (r.size !== undefined && bytes.length !== r.size) throw new StrideError(`${where}: expected ${r.size} bytes, got ${bytes.length}`);
  if (r.md5) {
    const md5 = createHash('md5').update(bytes).digest('hex');
    if (md5 !== r.md5) throw new StrideError(`${where}: MD5 is ${md5}, expected ${r.md5} (corrupted or wrong file)`);
  }
  if (r.sha256_decompressed) {
    let content: Uint8Array;
    try {
      content = gunzipSync(bytes);
    } catch (e) {
      throw new StrideError(`${where}: not a valid gzip file (${(e as Error).message})`);
    }
    const sha = createHash('sha256').update(content).digest('hex');
    if (sha !== r.sha256_decompressed) throw new StrideError(`${where}: SHA-256 of the data is ${sha}, expected ${r.sha256_decompressed} (corrupted or wrong file)`);
  }
}

/** Regular files of a tar archive (ustar/GNU), by path; refuses absolute paths and '..'. */
export function untar(tar: Uint8Array, source: string): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const text = (o: number, n: number) => new TextDecoder().decode(tar.subarray(o, o + n)).replace(/\0.*$/s, '');
  for (let off = 0; off + 512 <= tar.length; ) {
    if (tar.subarray(off, off + 512).every((b) => b === 0)) break;
    const name = text(off + 345, 155) ? `${text(off + 345, 155)}/${text(off, 100)}` : text(off, 100);
    const size = parseInt(text(off + 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(tar[off + 156]!);
    if (!Number.isFinite(size) || size < 0 || off + 512 + size > tar.length) {
      throw new StrideError(`${source}: tar entry '${name}' at offset ${off} declares ${size} bytes, past the end of the archive`);
    }
    if (isAbsolute(name) || normalize(name).split('/').includes('..')) throw new StrideError(`${source}: tar entry '${name}' escapes the target directory`);
    if (type === '0' || type === '\0') files.set(normalize(name), tar.subarray(off + 512, off + 512 + size));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

/** Downloads (or completes) every file of a dataset into dir (default: the user cache; `resources` replaces the built-in list). Returns dir. */
export async function getDataset(name: DatasetName, opts: { dir?: string; resources?: Resource[] } & DownloadEvents = {}): Promise<string> {
  const dir = opts.dir ?? join(userCacheDir(), name);
  await mkdir(dir, { recursive: true });
  for (const r of opts.resources ?? RESOURCES[name]) {
    const target = join(dir, r.file);
    const wanted = r.extract ? r.extract.members.map((m) => join(dir, m)) : [target];
    if ((await Promise.all(wanted.map(sizeOf))).every((s) => s > 0)) {
      opts.log?.(`${r.file}: already present`);
      continue;
    }
    const part = `${target}.part`;
    let lastError: Error | null = null;
    for (const url of r.urls) {
      try {
        opts.log?.(`${r.file}: downloading ${url}`);
        await fetchInto(url, part, r.file, opts);
        const bytes = await readBytes(part);
        try {
          verify(r, bytes, url);
        } catch (e) {
          await rm(part, { force: true });
          throw e;
        }
        if (r.extract) {
          const members = untar(gunzipSync(bytes), url);
          for (const m of r.extract.members) {
            const entry = [...members.entries()].find(([p]) => p === m || p.endsWith(`/${m}`));
            if (!entry) throw new StrideError(`${url}: the archive has no ${m}`);
            await writeFileAtomic(join(dir, m), entry[1]);
          }
          await rm(part, { force: true });
        } else {
          await mkdir(dirname(target), { recursive: true });
          await rename(part, target);
        }
        lastError = null;
        break;
      } catch (e) {
        lastError = e as Error;
        opts.log?.(`${r.file}: ${lastError.message}`);
      }
    }
    if (lastError) throw new StrideError(`could not get ${r.file} for ${name}: ${lastError.message}`);
  }
  return dir;
}
