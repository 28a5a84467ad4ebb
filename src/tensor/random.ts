/**
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
 * counter-based generator, so a (seed, offset) pair names every number it will ever produce.
 * Every backend and platform draws the same numbers for the same seed, and the state is two
 * integers that a checkpoint can store.
 */
import { StrideError } from './errors.js';

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two uint32 (Math.imul gives the low half). */
function mulhi(a: number, b: number): number {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const ll = al * bl;
  const lh = al * bh;
  const hl = ah * bl;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/** One Philox4x32-10 block: four uint32 from a 128-bit counter and a 64-bit key. */
export function philox4x32(counter: readonly [number, number, number, number], key: readonly [number, number]): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter;
  let [k0, k1] = key;
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

export interface GeneratorState {
  /** The seed (up to 2^53). */
  seed: number;
  /** 4-word blocks consumed so far. */
  offset: number;
}

export class Generator {
  private key: [number, number] = [0, 0];
  private seedValue = 0;
  private offset = 0;

  constructor(seed = 0) {
    this.manual_seed(seed);
  }

  manual_seed(seed: number): this {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new StrideError(`manual_seed: seed must be a non-negative safe integer, got ${seed}`);
    }
    this.seedValue = seed;
    this.key = [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0];
    this.offset = 0;
    return this;
  }

  initial_seed(): number {
    return this.seedValue;
  }

  get_state(): GeneratorState {
    return { seed: this.seedValue, offset: this.offset };
  }

  set_state(state: GeneratorState): this {
    if (!Number.isSafeInteger(state.offset) || state.offset < 0) {
      throw new StrideError(`set_state: offset must be a non-negative safe integer, got ${state.offset}`);
    }
    this.manual_seed(state.seed);
    this.offset = state.offset;
    return this;
  }

  /** n uniformly distributed uint32, consuming ceil(n/4) blocks. */
  uint32(n: number): Uint32Array {
    const out = new Uint32Array(Math.ceil(n / 4) * 4);
    for (let i = 0; i < out.length; i += 4) {
      const b = this.offset++;
      const block = philox4x32([b >>> 0, Math.floor(b / 2 ** 32) >>> 0, 0, 0], this.key);
      out[i] = block[0];
      out[i + 1] = block[1];
      out[i + 2] = block[2];
      out[i + 3] = block[3];
    }
    return out.subarray(0, n);
  }

  /** n floats in [0, 1): 24 random bits each (exact in float32), or 53 for float64. */
  uniform(n: number, bits: 24 | 53 = 24): Float64Array {
    const out = new Float64Array(n);
    if (bits === 24) {
      const u = this.uint32(n);
      for (let i = 0; i < n; i++) out[i] = (u[i]! >>> 8) * 2 ** -24;
    } else {
      const u = this.uint32(2 * n);
      for (let i = 0; i < n; i++) out[i] = ((u[2 * i]! >>> 5) * 2 ** 26 + (u[2 * i + 1]! >>> 6)) * 2 ** -53;
    }
    return out;
  }

  /** n standard normal numbers by the Box-Muller transform. */
  normal(n: number): Float64Array {
    const pairs = Math.ceil(n / 2);
    const u = this.uint32(2 * pairs);
    const out = new Float64Array(2 * pairs);
    for (let i = 0; i < pairs; i++) {
      const u1 = (u[2 * i]! + 0.5) * 2 ** -32; // in (0, 1), so the log is finite
      const u2 = u[2 * i + 1]! * 2 ** -32;
      const r = Math.sqrt(-2 * Math.log(u1));
      out[2 * i] = r * Math.cos(2 * Math.PI * u2);
      out[2 * i + 1] = r * Math.sin(2 * Math.PI * u2);
    }
    return out.subarray(0, n);
  }

  /** n integers uniform in [low, high) (53-bit draws, so the bias is below 2^-20 for any range JS can index). */
  integers(n: number, low: number, high: number): Float64Array {
    const u = this.uniform(n, 53);
    for (let i = 0; i < n; i++) u[i] = low + Math.floor(u[i]! * (high - low));
    return u;
  }
}

/** The generator used when none is passed (PyTorch's default_generator). */
export const default_generator = new Generator(0);

/** Seeds the default generator (torch.manual_seed). */
export function manual_seed(seed: number): Generator {
  return default_generator.manual_seed(seed);
}
