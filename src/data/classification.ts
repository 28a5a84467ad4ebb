import { select } from '../ops/shape.js';
import { fromFlat } from '../tensor/creation.js';
import { ShapeError } from '../tensor/errors.js';
import { tidy } from '../tensor/memory.js';
import { formatShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Dataset } from './dataset.js';

/** Images (uint8 [N, C, H, W]) and their class indices (int32 [N]). */
export interface ImageSet {
  images: Tensor;
  labels: Tensor;
}

/** A labelled image-classification dataset as loaded from disk: splits, class names, statistics. */
export interface ClassificationData {
  name: string;
  classes: string[];
  train: ImageSet;
  test: ImageSet;
  /** Per-channel mean and standard deviation of the training pixels in [0, 1], for Normalize. */
  mean: number[];
  std: number[];
  /** Where the files came from (shown to the user). */
  source: string;
}

export interface ImageDatasetOptions {
  mean: readonly number[];
  std: readonly number[];
  /** Applied to each image in [0, 1], [C, H, W], before normalisation (augmentation); gets the item's index. */
  transform?: ((image: Tensor, index: number) => Tensor) | null;
}

/**
 * Items are (image, label): the image as float32 [C, H, W] scaled to [0, 1], transformed, then
 * normalised per channel with (x - mean) / std, as torchvision's ToTensor + Normalize.
 */
export class ImageClassificationDataset implements Dataset<[Tensor, number]> {
  private readonly mean: Tensor;
  private readonly std: Tensor;
  private readonly labels: Int32Array;

  constructor(readonly set: ImageSet, readonly opts: ImageDatasetOptions) {
    const [n, c] = set.images.shape as [number, number];
    if (set.images.ndim !== 4 || set.labels.ndim !== 1 || set.labels.shape[0] !== n) {
      throw new ShapeError(`ImageClassificationDataset: expected images [N, C, H, W] and labels [N], got ${formatShape(set.images.shape)} and ${formatShape(set.labels.shape)}`);
    }
    if (opts.mean.length !== c || opts.std.length !== c) {
      throw new ShapeError(`ImageClassificationDataset: mean and std need ${c} values (one per channel), got ${opts.mean.length} and ${opts.std.length}`);
    }
    this.mean = fromFlat(opts.mean, [c, 1, 1]);
    this.std = fromFlat(opts.std, [c, 1, 1]);
    this.labels = Int32Array.from(set.labels.dataSync());
  }

  get length(): number {
    return this.labels.length;
  }

  get(index: number): [Tensor, number] {
    // One item per sample of every epoch: only the normalised image outlives the conversion.
    return tidy(() => {
      let image = select(this.set.images, 0, index).float().div(255);
      if (this.opts.transform) image = this.opts.transform(image, index);
      return [image.sub(this.mean).div(this.std), this.labels[index]!];
    });
  }
}
