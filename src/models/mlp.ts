import { ReLU } from '../nn/activation.js';
import { Flatten, Linear } from '../nn/linear.js';
import { Module, Sequential } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';

export interface MLPOptions {
  num_classes?: number;
  /** Flattened input size (784 for 28x28 images). */
  in_features?: number;
  /** Hidden layer widths (the course's 784-800-10 net is [800]). */
  hidden?: readonly number[];
}

/** A fully connected ReLU network on flattened images. */
export class MLP extends Module {
  layers: Sequential;

  constructor(opts: MLPOptions = {}) {
    super();
    const { num_classes = 10, in_features = 784, hidden = [800] } = opts;
    const sizes = [in_features, ...hidden];
    const mods: Module[] = [new Flatten()];
    for (let i = 0; i < hidden.length; i++) mods.push(new Linear(sizes[i]!, sizes[i + 1]!), new ReLU());
    mods.push(new Linear(sizes[sizes.length - 1]!, num_classes));
    this.layers = new Sequential(...mods);
  }

  forward(x: Tensor): Tensor {
    return this.layers.call(x) as Tensor;
  }
}
