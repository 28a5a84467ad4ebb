/**
 * Datasets by name, found on disk: in `--data DIR` only when given, else in $STRIDE_DATA, then the
 * standard places (Debian's /usr/share/datasets/NAME, the user cache ~/.cache/stride/NAME), then,
 * for Fashion-MNIST, the subset bundled with stride. The first place that has every file wins.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClassificationData, ImageSet } from '../data/classification.js';
import { parseCifar } from '../data/cifar.js';
import { parseIdx, parseIdxLabels } from '../data/idx.js';
import { cat } from '../ops/join.js';
import { StrideError } from '../tensor/errors.js';
import { formatShape } from '../tensor/shape.js';
import { readBytes } from './files.js';

export const DATASETS = ['fashion-mnist', 'mnist', 'cifar10', 'cifar100'] as const;
export type DatasetName = (typeof DATASETS)[number];

const IDX_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

interface Spec {
  /** Files that must exist (an IDX file may also be present gzipped). */
  files: string[];
  /** Sub-directory names the files may sit in below a data directory. */
  dirs: string[];
  load(dir: string): Promise<Omit<ClassificationData, 'name' | 'source'>>;
}

const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** An IDX file with or without .gz (whichever exists). */
function idxPath(dir: string, file: string): string {
  return existsSync(join(dir, file)) ? join(dir, file) : join(dir, `${file}.gz`);
}

async function idxSplit(dir: string, prefix: 'train' | 't10k', classes: number): Promise<ImageSet> {
  const imgPath = idxPath(dir, `${prefix}-images-idx3-ubyte`);
  const lblPath = idxPath(dir, `${prefix}-labels-idx1-ubyte`);
  const images = parseIdx(await readBytes(imgPath), imgPath);
  const labels = parseIdxLabels(await readBytes(lblPath), classes, lblPath);
  if (images.ndim !== 3 || images.dtype !== 'uint8' || images.shape[0] !== labels.shape[0]) {
    throw new StrideError(`${imgPath}: expected uint8 images [N, H, W] matching the ${labels.shape[0]} labels of ${lblPath}, got ${images.dtype} ${formatShape(images.shape)}`);
  }
  return { images: images.unsqueeze(1), labels };
}

function idxSpec(classes: string[], mean: number, std: number, dirs: string[]): Spec {
  return {
    files: IDX_FILES,
    dirs,
    load: async (dir) => ({
      classes,
      train: await idxSplit(dir, 'train', classes.length),
      test: await idxSplit(dir, 't10k', classes.length),
      mean: [mean],
      std: [std],
    }),
  };
}

async function cifarSplit(dir: string, files: string[], variant: 'cifar10' | 'cifar100'): Promise<ImageSet> {
  const parts = await Promise.all(files.map(async (f) => parseCifar(await readBytes(join(dir, f)), { variant, source: join(dir, f) })));
  return { images: cat(parts.map((p) => p.images)), labels: cat(parts.map((p) => p.labels)) };
}

async function classNames(dir: string, file: string, count: number): Promise<string[]> {
  const names = new TextDecoder().decode(await readBytes(join(dir, file))).split('\n').map((s) => s.trim()).filter(Boolean);
  if (names.length !== count) throw new StrideError(`${join(dir, file)}: expected ${count} class names, found ${names.length}`);
  return names;
}

const CIFAR10_TRAIN = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);

const SPECS: Record<DatasetName, Spec> = {
  'fashion-mnist': idxSpec(FASHION_CLASSES, 0.286, 0.353, ['fashion-mnist', 'FashionMNIST/raw']),
  mnist: idxSpec(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'], 0.1307, 0.3081, ['mnist', 'MNIST/raw']),
  cifar10: {
    files: [...CIFAR10_TRAIN, 'test_batch.bin', 'batches.meta.txt'],
    dirs: ['cifar10', 'cifar-10-batches-bin'],
    load: async (dir) => ({
      classes: await classNames(dir, 'batches.meta.txt', 10),
      train: await cifarSplit(dir, CIFAR10_TRAIN, 'cifar10'),
      test: await cifarSplit(dir, ['test_batch.bin'], 'cifar10'),
      mean: [0.4914, 0.4822, 0.4465],
      std: [0.247, 0.2435, 0.2616],
    }),
  },
  cifar100: {
    files: ['train.bin', 'test.bin', 'fine_label_names.txt'],
    dirs: ['cifar100', 'cifar-100-binary'],
    load: async (dir) => ({
      classes: await classNames(dir, 'fine_label_names.txt', 100),
      train: await cifarSplit(dir, ['train.bin'], 'cifar100'),
      test: await cifarSplit(dir, ['test.bin'], 'cifar100'),
      mean: [0.5071, 0.4865, 0.4409],
      std: [0.2673, 0.2564, 0.2762],
    }),
  },
};

/** The bundled 6,000 + 1,000 image Fashion-MNIST subset (see data/fashion-mnist-subset/README.md). */
export const BUNDLED_SUBSET = fileURLToPath(new URL('../../data/fashion-mnist-subset/', import.meta.url));

export function userCacheDir(): string {
  return join(process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'stride');
}

/**
 * Where a dataset is looked for, in order. A directory given explicitly is the only place looked
 * in: a mistyped --data must not silently train on another copy.
 */
export function candidateDirs(name: DatasetName, dir?: string): string[] {
  const spec = SPECS[name];
  const under = (root: string) => [root, ...spec.dirs.map((d) => join(root, d))];
  if (dir) return under(dir);
  const env = process.env['STRIDE_DATA'];
  const out = env ? under(env) : [];
  out.push(join('/usr/share/datasets', name), join(userCacheDir(), name));
  if (name === 'fashion-mnist') out.push(BUNDLED_SUBSET);
  return out;
}

function complete(dir: string, spec: Spec): boolean {
  return spec.files.every((f) => existsSync(join(dir, f)) || existsSync(join(dir, `${f}.gz`)));
}

export interface LoadOptions {
  /** A directory to look in first. */
  dir?: string;
  log?: (line: string) => void;
}

/** Loads a dataset by name from the first place that has all its files; errors list where it looked. */
export async function loadDataset(name: string, opts: LoadOptions = {}): Promise<ClassificationData> {
  if (!(DATASETS as readonly string[]).includes(name)) throw new StrideError(`unknown dataset '${name}'; available: ${DATASETS.join(', ')}`);
  const spec = SPECS[name as DatasetName];
  const dirs = candidateDirs(name as DatasetName, opts.dir);
  const found = dirs.find((d) => complete(d, spec));
  if (!found) {
    throw new StrideError(`dataset ${name} not found: none of ${dirs.join(', ')} has all of ${spec.files.join(', ')} (or .gz); get it with: stride data get ${name}`);
  }
  const data = await spec.load(found);
  const bundled = resolve(found) === resolve(BUNDLED_SUBSET);
  opts.log?.(`${name}: ${data.train.labels.shape[0]} training and ${data.test.labels.shape[0]} test images from ${found}${bundled ? ' (the bundled subset; install the full set for real results)' : ''}`);
  return { name, source: found, ...data };
}
