import { interpolate, type InterpolateMode } from '../ops/interpolate.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

export interface UpsampleOptions {
  size?: number | readonly number[];
  scale_factor?: number | readonly number[];
  mode?: InterpolateMode;
  align_corners?: boolean;
}

/** Upsampling by nearest neighbour or (bi)linear interpolation (torch.nn.Upsample). */
export class Upsample extends Module {
  constructor(readonly opts: UpsampleOptions) {
    super();
  }

  forward(x: Tensor): Tensor {
    return interpolate(x, this.opts);
  }

  override extra_repr(): string {
    return Object.entries(this.opts).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ');
  }
}
