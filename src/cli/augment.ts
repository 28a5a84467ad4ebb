import type { ClassificationData } from '../data/classification.js';
import { ColorJitter, Compose, RandomAffine, RandomCrop, RandomErasing, RandomHorizontalFlip, type Transform } from '../data/transforms.js';
import { StrideError } from '../tensor/errors.js';
import { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';

export const AUGMENTATIONS = ['flip', 'crop', 'affine', 'erase', 'jitter'] as const;

/** Training-time augmentation whose random draws depend only on (seed, epoch, sample index). */
export interface Augmentation {
  apply(image: Tensor, index: number): Tensor;
  set_epoch(epoch: number): void;
}

/**
 * Builds the augmentation named on the command line. Each sample reseeds one generator to its
 * own Philox stream, so prefetching order and resuming mid-epoch cannot change what it draws.
 */
export function augmentation(names: readonly string[], data: ClassificationData, seed: number): Augmentation | null {
  if (names.length === 0) return null;
  const g = new Generator(seed);
  const side = data.train.images.shape[2]!;
  const steps: Transform[] = names.map((n) => {
    switch (n) {
      case 'flip': return new RandomHorizontalFlip(0.5, { generator: g });
      case 'crop': return new RandomCrop(side, { padding: Math.round(side / 8), generator: g });
      case 'affine': return new RandomAffine(10, { translate: [0.1, 0.1], generator: g });
      case 'erase': return new RandomErasing({ generator: g });
      case 'jitter': return new ColorJitter({ brightness: 0.2, contrast: 0.2, generator: g });
      default: throw new StrideError(`unknown augmentation '${n}'; valid: ${AUGMENTATIONS.join(', ')}`);
    }
  });
  const pipeline = new Compose(steps);
  let epoch = 0;
  return {
    apply(image, index) {
      g.set_state({ seed: seed + 1, offset: (epoch * 2 ** 24 + index) * 2 ** 12 });
      return pipeline.forward(image as never) as Tensor;
    },
    set_epoch(e) {
      epoch = e;
    },
  };
}
