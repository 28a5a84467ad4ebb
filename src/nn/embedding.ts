import { no_grad } from '../autograd/grad_mode.js';
import { ne, where } from '../ops/elementwise.js';
import { index_select } from '../ops/indexing.js';
import { reshape, unsqueeze } from '../ops/shape.js';
import { isIntegral } from '../tensor/dtype.js';
import { DTypeError, StrideError } from '../tensor/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { normal_ } from './init.js';
import { parameter } from './linear.js';
import { Module, type Parameter } from './module.js';

/**
 * A lookup table of num_embeddings vectors of size embedding_dim, initialised N(0, 1). The row
 * at padding_idx starts at zero and receives no gradient.
 */
export class Embedding extends Module {
  weight: Parameter;
  readonly padding_idx: number | null;

  constructor(readonly num_embeddings: number, readonly embedding_dim: number, opts: { padding_idx?: number | null } = {}) {
    super();
    let p = opts.padding_idx ?? null;
    if (p !== null) {
      if (!Number.isInteger(p) || p < -num_embeddings || p >= num_embeddings) {
        throw new StrideError(`Embedding: padding_idx ${p} must be within [-${num_embeddings}, ${num_embeddings})`);
      }
      if (p < 0) p += num_embeddings;
    }
    this.padding_idx = p;
    this.weight = parameter([num_embeddings, embedding_dim], 'Embedding');
    normal_(this.weight);
    if (p !== null) no_grad(() => this.weight.select(0, p).zero_());
  }

  forward(indices: Tensor): Tensor {
    if (!isIntegral(indices.dtype)) throw new DTypeError(`Embedding: indices must be an integer tensor, got ${indices.dtype}`);
    const flat = reshape(indices, [-1]);
    let rows = index_select(this.weight, 0, flat);
    // Rows looked up at padding_idx keep their value but pass no gradient to the table.
    if (this.padding_idx !== null) rows = where(unsqueeze(ne(flat, this.padding_idx), 1), rows, rows.detach());
    return reshape(rows, [...indices.shape, this.embedding_dim]);
  }

  override extra_repr(): string {
    return `${this.num_embeddings}, ${this.embedding_dim}${this.padding_idx !== null ? `, padding_idx=${this.padding_idx}` : ''}`;
  }
}
