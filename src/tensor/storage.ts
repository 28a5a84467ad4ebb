import type { Backend } from '../backend/backend.js';
import type { DType } from './dtype.js';
import { DisposedError } from './errors.js';

/**
 * A reference-counted buffer on one backend, shared by a tensor and its views. Each tensor
 * handle and each autograd node that saves a tensor holds one reference; the buffer is freed
 * when the last one is released. `version` counts in-place writes so autograd can refuse to
 * use a saved tensor that changed after it was saved.
 */
export class Storage {
  refs = 1;
  version = 0;

  constructor(
    readonly backend: Backend,
    readonly buffer: unknown,
    readonly dtype: DType,
    readonly size: number,
  ) {}

  static alloc(backend: Backend, dtype: DType, size: number): Storage {
    return new Storage(backend, backend.alloc(dtype, size), dtype, size);
  }

  get freed(): boolean {
    return this.refs <= 0;
  }

  retain(): void {
    if (this.refs <= 0) throw new DisposedError('a freed buffer cannot be retained');
    this.refs++;
  }

  release(): void {
    if (this.refs <= 0) return;
    if (--this.refs === 0) this.backend.free(this.buffer);
  }
}
