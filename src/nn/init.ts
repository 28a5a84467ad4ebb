import { no_grad } from '../autograd/grad_mode.js';
import { copy_ } from '../ops/elementwise.js';
import { fromFlat } from '../tensor/creation.js';
import { ShapeError, StrideError } from '../tensor/errors.js';
import { default_generator, type Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * torch.nn.init: in-place initialisers drawing from the seeded generator. The distributions are
 * PyTorch's; the numbers are stride's own (its generator is not PyTorch's).
 */

export type Nonlinearity =
  | 'linear' | 'conv1d' | 'conv2d' | 'conv3d' | 'conv_transpose1d' | 'conv_transpose2d' | 'conv_transpose3d'
  | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

/** The recommended gain for a nonlinearity, as torch.nn.init.calculate_gain. */
export function calculate_gain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear': case 'conv1d': case 'conv2d': case 'conv3d':
    case 'conv_transpose1d': case 'conv_transpose2d': case 'conv_transpose3d': case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw new StrideError(`calculate_gain: unsupported nonlinearity '${String(nonlinearity)}'; expected one of linear, conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d, sigmoid, tanh, relu, leaky_relu, selu`);
  }
}

/** fan_in = size(1) * receptive field, fan_out = size(0) * receptive field (PyTorch's rule). */
export function calculate_fan_in_and_fan_out(t: Tensor): [number, number] {
  if (t.ndim < 2) {
    throw new ShapeError(`fan in and fan out cannot be computed for a tensor with fewer than 2 dimensions (shape [${t.shape.join(', ')}])`);
  }
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return [t.shape[1]! * receptive, t.shape[0]! * receptive];
}

export type FanMode = 'fan_in' | 'fan_out';

function fan(t: Tensor, mode: FanMode): number {
  if (mode !== 'fan_in' && mode !== 'fan_out') throw new StrideError(`mode must be 'fan_in' or 'fan_out', got '${String(mode)}'`);
  const [fanIn, fanOut] = calculate_fan_in_and_fan_out(t);
  return mode === 'fan_in' ? fanIn : fanOut;
}

/**
 * Writes the values `make` gives (row-major) into t without recording autograd. A meta tensor
 * holds no data, so nothing is drawn for it: building a huge model on 'meta' stays instant.
 */
function fillWith(t: Tensor, make: () => ArrayLike<number>): Tensor {
  if (t.device === 'meta') return t;
  no_grad(() => {
    const src = fromFlat(make(), t.shape, { dtype: 'float64', backend: t.device });
    copy_(t, src);
    src.dispose();
  });
  return t;
}

export interface InitOptions {
  generator?: Generator;
}

export function uniform_(t: Tensor, a = 0, b = 1, opts: InitOptions = {}): Tensor {
  return fillWith(t, () => {
    const u = (opts.generator ?? default_generator).uniform(t.numel(), 53);
    for (let i = 0; i < u.length; i++) u[i] = a + (b - a) * u[i]!;
    return u;
  });
}

export function normal_(t: Tensor, mean = 0, std = 1, opts: InitOptions = {}): Tensor {
  return fillWith(t, () => {
    const z = (opts.generator ?? default_generator).normal(t.numel());
    for (let i = 0; i < z.length; i++) z[i] = mean + std * z[i]!;
    return z;
  });
}

/** Normal(mean, std) restricted to [a, b] by redrawing values outside. */
export function trunc_normal_(t: Tensor, mean = 0, std = 1, a = -2, b = 2, opts: InitOptions = {}): Tensor {
  if (!(a < b)) throw new StrideError(`trunc_normal_: need a < b, got a=${a}, b=${b}`);
  return fillWith(t, () => {
    const g = opts.generator ?? default_generator;
    const out = new Float64Array(t.numel());
    let filled = 0;
    for (let round = 0; filled < out.length; round++) {
      if (round > 1000) throw new StrideError(`trunc_normal_: [${a}, ${b}] lies too far in the tail of Normal(${mean}, ${std})`);
      for (const z of g.normal(out.length - filled)) {
        const v = mean + std * z;
        if (v >= a && v <= b) out[filled++] = v;
      }
    }
    return out;
  });
}

export function constant_(t: Tensor, value: number): Tensor {
  return fillWith(t, () => new Float64Array(t.numel()).fill(value));
}

export function zeros_(t: Tensor): Tensor {
  return constant_(t, 0);
}

export function ones_(t: Tensor): Tensor {
  return constant_(t, 1);
}

/** The identity matrix (2-d tensors only). */
export function eye_(t: Tensor): Tensor {
  if (t.ndim !== 2) throw new ShapeError(`eye_: only 2-d tensors are supported, got shape [${t.shape.join(', ')}]`);
  const [n, m] = t.shape as [number, number];
  return fillWith(t, () => {
    const v = new Float64Array(n * m);
    for (let i = 0; i < Math.min(n, m); i++) v[i * m + i] = 1;
    return v;
  });
}

/** Glorot & Bengio: U(-a, a) with a = gain·sqrt(6 / (fan_in + fan_out)). */
export function xavier_uniform_(t: Tensor, gain = 1, opts: InitOptions = {}): Tensor {
  const [fanIn, fanOut] = calculate_fan_in_and_fan_out(t);
  const a = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -a, a, opts);
}

/** Glorot & Bengio: N(0, std²) with std = gain·sqrt(2 / (fan_in + fan_out)). */
export function xavier_normal_(t: Tensor, gain = 1, opts: InitOptions = {}): Tensor {
  const [fanIn, fanOut] = calculate_fan_in_and_fan_out(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), opts);
}

export interface KaimingOptions extends InitOptions {
  /** Negative slope of the rectifier after this layer (leaky_relu), 0 for relu. */
  a?: number;
  mode?: FanMode;
  nonlinearity?: Nonlinearity;
}

/** He et al.: U(-b, b) with b = gain·sqrt(3 / fan), gain from the nonlinearity (default leaky_relu with a = 0). */
export function kaiming_uniform_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  const { a = 0, mode = 'fan_in', nonlinearity = 'leaky_relu' } = opts;
  const std = calculate_gain(nonlinearity, a) / Math.sqrt(fan(t, mode));
  const bound = Math.sqrt(3) * std;
  return uniform_(t, -bound, bound, opts);
}

/** He et al.: N(0, std²) with std = gain / sqrt(fan). */
export function kaiming_normal_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  const { a = 0, mode = 'fan_in', nonlinearity = 'leaky_relu' } = opts;
  return normal_(t, 0, calculate_gain(nonlinearity, a) / Math.sqrt(fan(t, mode)), opts);
}

/**
 * A (semi-)orthogonal matrix (Saxe et al.), for tensors viewed as [size(0), rest]: Gram-Schmidt
 * (twice, for stability) on Gaussian vectors, the sign convention making the result uniform over
 * the orthogonal group as PyTorch's QR-based method does.
 */
export function orthogonal_(t: Tensor, gain = 1, opts: InitOptions = {}): Tensor {
  if (t.ndim < 2) throw new ShapeError(`orthogonal_: only tensors with 2 or more dimensions are supported, got shape [${t.shape.join(', ')}]`);
  return fillWith(t, () => {
    const rows = t.shape[0]!;
    const cols = t.numel() / rows;
    const transpose = rows < cols;
    const [n, k] = transpose ? [cols, rows] : [rows, cols]; // n >= k: orthonormalise k columns of length n
    const z = (opts.generator ?? default_generator).normal(n * k);
    const q: Float64Array[] = [];
    for (let j = 0; j < k; j++) {
      const v = Float64Array.from({ length: n }, (_, i) => z[i * k + j]!);
      for (let pass = 0; pass < 2; pass++) {
        for (const u of q) {
          let d = 0;
          for (let i = 0; i < n; i++) d += u[i]! * v[i]!;
          for (let i = 0; i < n; i++) v[i]! -= d * u[i]!;
        }
      }
      const norm = Math.hypot(...v);
      for (let i = 0; i < n; i++) v[i]! /= norm;
      q.push(v);
    }
    const out = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) out[r * cols + c] = gain * (transpose ? q[r]![c]! : q[c]![r]!);
    }
    return out;
  });
}
