/**
 * Errors thrown by stride. Each says what was expected, what came, and where (op or layer name),
 * so that bad input is reported rather than turned into a wrong answer.
 */
export class StrideError extends Error {
  override name = 'StrideError';
}

/** Shapes that do not fit an op: broadcasting, rank, sizes, output-size arithmetic. */
export class ShapeError extends StrideError {
  override name = 'ShapeError';
}

/** A dtype an op cannot take (an integer tensor where a float is needed, mixed backends...). */
export class DTypeError extends StrideError {
  override name = 'DTypeError';
}

/** An index outside the range of the dimension it indexes. */
export class IndexError extends StrideError {
  override name = 'IndexError';
}

/** Misuse of autograd: backward through a freed graph, in-place change of a saved tensor... */
export class AutogradError extends StrideError {
  override name = 'AutogradError';
}

/** Use of a tensor after dispose(). */
export class DisposedError extends StrideError {
  override name = 'DisposedError';
}

/** A gradient that disagrees with finite differences; `result` holds the details. */
export class GradcheckError extends StrideError {
  override name = 'GradcheckError';

  constructor(message: string, readonly result: unknown) {
    super(message);
  }
}

/**
 * A file or byte buffer that does not follow its format (truncated, corrupted or hostile).
 * The message starts with where: the source (file name) and, when known, the byte offset.
 */
export class FormatError extends StrideError {
  override name = 'FormatError';

  constructor(message: string, readonly source: string, readonly offset?: number, options?: ErrorOptions) {
    super(`${source}${offset === undefined ? '' : ` at byte ${offset}`}: ${message}`, options);
  }
}
