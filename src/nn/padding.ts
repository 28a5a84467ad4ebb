import { pad, type PadMode } from '../ops/join.js';
import { StrideError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

/** (left, right, top, bottom) from an int or a 4-tuple, as PyTorch's 2-d padding layers take it. */
function padding4(name: string, padding: number | readonly [number, number, number, number]): number[] {
  const p = typeof padding === 'number' ? [padding, padding, padding, padding] : [...padding];
  if (p.length !== 4 || !p.every(Number.isInteger)) throw new StrideError(`${name}: padding must be an int or 4 ints (left, right, top, bottom), got ${JSON.stringify(padding)}`);
  return p;
}

abstract class Pad2d extends Module {
  readonly padding: number[];

  constructor(padding: number | readonly [number, number, number, number], private readonly mode: PadMode, readonly value = 0) {
    super();
    this.padding = padding4(this.constructor.name, padding);
  }

  forward(x: Tensor): Tensor {
    return pad(x, this.padding, this.mode, this.value);
  }

  override extra_repr(): string {
    return `[${this.padding.join(', ')}]${this.mode === 'constant' && this.value !== 0 ? `, value=${this.value}` : ''}`;
  }
}

export class ZeroPad2d extends Pad2d {
  constructor(padding: number | readonly [number, number, number, number]) {
    super(padding, 'constant');
  }
}

export class ConstantPad2d extends Pad2d {
  constructor(padding: number | readonly [number, number, number, number], value: number) {
    super(padding, 'constant', value);
  }
}

export class ReflectionPad2d extends Pad2d {
  constructor(padding: number | readonly [number, number, number, number]) {
    super(padding, 'reflect');
  }
}

export class ReplicationPad2d extends Pad2d {
  constructor(padding: number | readonly [number, number, number, number]) {
    super(padding, 'replicate');
  }
}
