/** Element types. int64 is not offered: indices are int32 (2^31 elements is beyond JS arrays). */
export type DType = 'float32' | 'float64' | 'int32' | 'uint8' | 'bool';

export type TypedArray = Float32Array | Float64Array | Int32Array | Uint8Array;

export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'uint8', 'bool'];

export function isFloatingPoint(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

export function isIntegral(dtype: DType): boolean {
  return dtype === 'int32' || dtype === 'uint8';
}

/** A zero-filled typed array of the type that stores `dtype` (bool is stored as 0/1 bytes). */
export function allocArray(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(size);
    case 'float64': return new Float64Array(size);
    case 'int32': return new Int32Array(size);
    case 'uint8':
    case 'bool': return new Uint8Array(size);
  }
}

/** The dtype a typed array stores by default when a tensor is made from it. */
export function dtypeOfArray(a: TypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  return 'uint8';
}

export function bytesPerElement(dtype: DType): number {
  return dtype === 'float64' ? 8 : dtype === 'float32' || dtype === 'int32' ? 4 : 1;
}

const RANK: Record<DType, number> = { bool: 0, uint8: 1, int32: 2, float32: 3, float64: 4 };

/** PyTorch's promotion between two tensor dtypes (bool < uint8 < int32 < float32 < float64). */
export function promoteTypes(a: DType, b: DType): DType {
  return RANK[a] >= RANK[b] ? a : b;
}

const CATEGORY: Record<DType, number> = { bool: 0, uint8: 1, int32: 1, float32: 2, float64: 2 };

/**
 * PyTorch's result_type for two tensor operands: a 0-d tensor beside a dimensioned one only
 * counts when it is of a higher category (bool < integer < float), so float32 [3] * 0-d float64
 * stays float32 while int32 [3] + 0-d float64 becomes float64.
 */
export function resultType(a: { dtype: DType; ndim: number }, b: { dtype: DType; ndim: number }): DType {
  if ((a.ndim === 0) === (b.ndim === 0)) return promoteTypes(a.dtype, b.dtype);
  const [dimmed, zeroDim] = a.ndim === 0 ? [b.dtype, a.dtype] : [a.dtype, b.dtype];
  return CATEGORY[zeroDim] > CATEGORY[dimmed] ? promoteTypes(dimmed, zeroDim) : dimmed;
}

/**
 * Promotion of a tensor dtype with a JS number, as PyTorch treats a Python scalar: the scalar
 * never widens the tensor within its category, but lifts bool to int and ints to float.
 * JS cannot tell 2 from 2.0, so an integral number counts as an int.
 */
export function promoteWithScalar(dtype: DType, value: number): DType {
  if (isFloatingPoint(dtype)) return dtype;
  if (!Number.isInteger(value)) return 'float32';
  return dtype === 'bool' ? 'int32' : dtype;
}

/** Rounds a JS number to what an element of `dtype` holds (float32 rounding, int wrap, bool). */
export function castScalar(value: number, dtype: DType): number {
  switch (dtype) {
    case 'float32': return Math.fround(value);
    case 'float64': return value;
    case 'int32': return Math.trunc(value) | 0;
    case 'uint8': return Math.trunc(value) & 0xff;
    case 'bool': return value !== 0 ? 1 : 0;
  }
}
