/** Fashion-MNIST from the IDX .gz files, as float32 pixels in [0, 1] and int labels, for the Node workers. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export const FASHION_DIR = process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';

export interface Split {
  /** n x 784 pixels, row-major. */
  images: Float32Array;
  labels: Int32Array;
  n: number;
}

function idx(file: string, headerBytes: number): Uint8Array {
  return gunzipSync(readFileSync(join(FASHION_DIR, file))).subarray(headerBytes);
}

export function loadFashion(split: 'train' | 't10k'): Split {
  const px = idx(`${split}-images-idx3-ubyte.gz`, 16);
  const lb = idx(`${split}-labels-idx1-ubyte.gz`, 8);
  const images = new Float32Array(px.length);
  for (let i = 0; i < px.length; i++) images[i] = px[i]! / 255;
  return { images, labels: Int32Array.from(lb), n: lb.length };
}

/** A seeded permutation (xorshift32 + Fisher-Yates), so each epoch's order is reproducible. */
export function permutation(n: number, seed: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  let s = (seed * 2654435761 + 1) >>> 0 || 1;
  for (let i = n - 1; i > 0; i--) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    const j = s % (i + 1);
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}
