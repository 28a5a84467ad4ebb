import { ReLU } from '../nn/activation.js';
import { Conv2d, ConvTranspose2d } from '../nn/conv.js';
import { Module, ModuleList, Sequential } from '../nn/module.js';
import { MaxPool2d } from '../nn/pooling.js';
import { cat } from '../ops/join.js';
import { narrow } from '../ops/shape.js';
import { ShapeError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { positiveInt, run } from './common.js';

export interface UNetOptions {
  /** Output maps of the final 1x1 convolution (2 in the paper: cell / background). */
  num_classes?: number;
  in_channels?: number;
  /**
   * false: the paper's unpadded 3x3 convolutions, so the output is smaller than the input
   * (572 → 388) and skip connections are centre-cropped; true: padding 1, output size = input
   * size (which must then be a multiple of 16).
   */
  padding?: boolean;
  /** Channels of the first stage, doubled at each of the 4 downsamplings (64 in the paper). */
  base_channels?: number;
}

/** Two 3x3 convolutions, each followed by ReLU. */
function doubleConv(cin: number, cout: number, padding: number): Sequential {
  return new Sequential(new Conv2d(cin, cout, 3, { padding }), new ReLU(), new Conv2d(cout, cout, 3, { padding }), new ReLU());
}

/** The middle height x width window of x's last two dims (the paper's cropping of the skip maps). */
function centerCrop(x: Tensor, height: number, width: number): Tensor {
  const top = Math.floor((x.shape[2]! - height) / 2);
  const left = Math.floor((x.shape[3]! - width) / 2);
  return narrow(narrow(x, 2, top, height), 3, left, width);
}

/**
 * U-Net (Ronneberger et al. 2015): a contracting path of 5 stages of two 3x3 convolutions
 * (64-128-256-512-1024 channels) with 2x2 max pooling between them, an expanding path of 2x2
 * "up-convolutions" (ConvTranspose2d, stride 2, halving the channels) each followed by
 * concatenation with the cropped maps of the contracting stage at the same depth and two 3x3
 * convolutions, and a 1x1 convolution to the classes. 31,030,658 parameters for 1 input channel
 * and 2 classes.
 */
export class UNet extends Module {
  encoder: ModuleList;
  pool: MaxPool2d;
  upconv: ModuleList;
  decoder: ModuleList;
  head: Conv2d;

  constructor(opts: UNetOptions = {}) {
    super();
    const { in_channels = 1, padding = false } = opts;
    const num_classes = positiveInt('unet', 'num_classes', opts.num_classes ?? 2);
    const base = positiveInt('unet', 'base_channels', opts.base_channels ?? 64);
    const pad = padding ? 1 : 0;
    const widths = [base, base * 2, base * 4, base * 8, base * 16];
    this.encoder = new ModuleList(widths.map((w, i) => doubleConv(i === 0 ? in_channels : widths[i - 1]!, w, pad)));
    this.pool = new MaxPool2d(2);
    const up = widths.slice(0, 4).reverse();
    this.upconv = new ModuleList(up.map((w) => new ConvTranspose2d(w * 2, w, 2, { stride: 2 })));
    this.decoder = new ModuleList(up.map((w) => doubleConv(w * 2, w, pad)));
    this.head = new Conv2d(base, num_classes, 1);
  }

  forward(x: Tensor): Tensor {
    const skips: Tensor[] = [];
    let y = x;
    [...this.encoder].forEach((stage, i) => {
      if (i > 0) {
        const [h, w] = y.shape.slice(2) as [number, number];
        // Odd maps would lose a row to pooling and no longer line up with the upsampled ones.
        if (h % 2 || w % 2) throw new ShapeError(`unet: stage ${i} gets ${h}x${w} maps, which 2x2 pooling cannot halve evenly; use inputs whose maps stay even (a multiple of 16 with padding, e.g. 572 without)`);
        skips.push(y);
        y = this.pool.call(y);
      }
      y = run(stage, y);
    });
    [...this.upconv].forEach((upconv, i) => {
      y = run(upconv, y);
      const skip = skips[skips.length - 1 - i]!;
      y = run(this.decoder[i]!, cat([centerCrop(skip, y.shape[2]!, y.shape[3]!), y], 1));
    });
    return this.head.call(y);
  }
}
