/**
 * Images on disk (Node): decoding PNG and JPEG files into tensors, and torchvision's ImageFolder,
 * a classification dataset laid out as one sub-folder per class.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Dataset } from '../data/dataset.js';
import { interpolate } from '../ops/interpolate.js';
import { fromFlat } from '../tensor/creation.js';
import { StrideError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { readBytes, writeFileAtomic } from './files.js';

export interface ReadImageOptions {
  /** 1 converts to grayscale, 3 to sRGB without alpha (default: 3). */
  channels?: 1 | 3;
  /** Resize (bilinear) to [height, width] when the image has another size. */
  size?: readonly [number, number] | null;
}

/** Decodes a PNG or JPEG file into float32 [C, H, W] in [0, 1] (torchvision's ToTensor). */
export async function readImage(path: string, opts: ReadImageOptions = {}): Promise<Tensor> {
  const { channels = 3, size = null } = opts;
  let img = sharp(await readBytes(path));
  img = channels === 1 ? img.grayscale() : img.removeAlpha().toColourspace('srgb');
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true }).catch((e: Error) => {
    throw new StrideError(`${path}: not a readable image (${e.message})`);
  });
  let chw = fromFlat(data, [info.height, info.width, info.channels], { dtype: 'uint8' }).permute(2, 0, 1).float().div(255);
  // sharp may keep an extra channel (grayscale with alpha): keep the ones asked for.
  if (info.channels !== channels) chw = chw.narrow(0, 0, channels);
  if (size && (info.height !== size[0] || info.width !== size[1])) {
    chw = interpolate(chw.unsqueeze(0), { size: [size[0], size[1]], mode: 'bilinear' }).squeeze(0);
  }
  return chw;
}

/** Writes an image [1 or 3, H, W] with values in [0, 1] (clamped) as a PNG file, atomically. */
export async function writeImage(path: string, image: Tensor): Promise<void> {
  if (image.ndim !== 3 || (image.shape[0] !== 1 && image.shape[0] !== 3)) {
    throw new StrideError(`writeImage ${path}: expected an image [1 or 3, H, W], got [${image.shape.join(', ')}]`);
  }
  const [c, h, w] = image.shape as [number, number, number];
  const v = image.float().contiguous().dataSync();
  const px = Buffer.alloc(c * h * w);
  for (let i = 0; i < h * w; i++) for (let ch = 0; ch < c; ch++) px[i * c + ch] = Math.round(255 * Math.min(1, Math.max(0, v[ch * h * w + i]!)));
  await writeFileAtomic(path, await sharp(px, { raw: { width: w, height: h, channels: c as 1 | 3 } }).png().toBuffer());
}

/** The file names ImageFolder takes (torchvision's IMG_EXTENSIONS that sharp decodes). */
const EXTENSIONS = ['.png', '.jpg', '.jpeg'];

export interface ImageFolderOptions extends ReadImageOptions {
  /** Applied to each decoded image; gets the item's index. */
  transform?: ((image: Tensor, index: number) => Tensor) | null;
}

/**
 * torchvision's ImageFolder: root/<class>/<image>, classes sorted by name and numbered from 0,
 * images sorted by path; other files are ignored. Items are (image, class index) with the
 * image float32 [C, H, W] in [0, 1]. Create with `await ImageFolder.open(root)`.
 */
export class ImageFolder implements Dataset<[Tensor, number]> {
  private constructor(
    readonly root: string,
    readonly classes: string[],
    readonly samples: [string, number][],
    private readonly opts: ImageFolderOptions,
  ) {}

  static async open(root: string, opts: ImageFolderOptions = {}): Promise<ImageFolder> {
    let entries;
    try {
      entries = await readdir(root, { withFileTypes: true });
    } catch (e) {
      throw new StrideError(`ImageFolder: cannot read the folder ${root} (${(e as Error).message})`);
    }
    const classes = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
    if (classes.length === 0) throw new StrideError(`ImageFolder: ${root} has no sub-folders; expected one per class, e.g. ${join(root, 'cat', '1.png')}`);
    const samples: [string, number][] = [];
    const empty: string[] = [];
    for (const [label, name] of classes.entries()) {
      const dir = join(root, name);
      const files = (await readdir(dir)).filter((f) => EXTENSIONS.some((x) => f.toLowerCase().endsWith(x))).sort();
      const images: string[] = [];
      for (const f of files) if ((await stat(join(dir, f))).isFile()) images.push(join(dir, f));
      if (images.length === 0) empty.push(name);
      for (const path of images) samples.push([path, label]);
    }
    if (empty.length > 0) {
      throw new StrideError(`ImageFolder: no ${EXTENSIONS.join('/')} images in the class folder(s) ${empty.join(', ')} of ${root}`);
    }
    return new ImageFolder(root, classes, samples, opts);
  }

  /** Class name → index, as torchvision's class_to_idx. */
  get class_to_idx(): Record<string, number> {
    return Object.fromEntries(this.classes.map((c, i) => [c, i]));
  }

  get length(): number {
    return this.samples.length;
  }

  async get(index: number): Promise<[Tensor, number]> {
    const sample = this.samples[index];
    if (!Number.isInteger(index) || !sample) throw new StrideError(`ImageFolder: index ${index} is out of range for ${this.samples.length} images`);
    const image = await readImage(sample[0], this.opts);
    return [this.opts.transform ? this.opts.transform(image, index) : image, sample[1]];
  }
}
