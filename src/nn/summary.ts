import { no_grad } from '../autograd/grad_mode.js';
import { zeros } from '../tensor/creation.js';
import { StrideError } from '../tensor/errors.js';
import { formatShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d } from './conv.js';
import { Linear } from './linear.js';
import { Module } from './module.js';

export interface SummaryRow {
  /** Dotted module name (PyTorch's, e.g. features.0). */
  name: string;
  type: string;
  output_shape: readonly number[];
  /** Parameters owned by this module itself. */
  params: number;
  /** Multiply-adds for one input (convolutions and linear layers). */
  mult_adds: number;
}

export interface ModelSummary {
  input_shape: readonly number[];
  rows: SummaryRow[];
  total_params: number;
  trainable_params: number;
  non_trainable_params: number;
  mult_adds: number;
  /** The printable table. */
  text: string;
}

/** Multiply-adds of one layer call for a single sample. */
function multAdds(m: Module, input: Tensor, output: Tensor): number {
  const perSample = (t: Tensor) => t.numel() / t.shape[0]!;
  if (m instanceof Linear) return perSample(output) * m.in_features;
  if (m instanceof Conv1d || m instanceof Conv2d) {
    return perSample(output) * (m.in_channels / m.groups) * m.kernel_size.reduce((a, b) => a * b, 1);
  }
  if (m instanceof ConvTranspose1d || m instanceof ConvTranspose2d) {
    return perSample(input) * (m.out_channels / m.groups) * m.kernel_size.reduce((a, b) => a * b, 1);
  }
  return 0;
}

const fmt = (n: number) => n.toLocaleString('en-US');

/**
 * Runs one zero input of shape [1, ...input_shape] through the model (eval mode, no grad) and
 * lists every layer that has no children: name, type, output shape, parameters, multiply-adds.
 * For large models, build them on the 'meta' backend (with_default_backend('meta', ...)): the
 * shapes are then followed without computing anything.
 */
export function summary(model: Module, input_shape: readonly number[]): ModelSummary {
  if (!input_shape.every((s) => Number.isInteger(s) && s > 0)) {
    throw new StrideError(`summary: input_shape must be positive integers without the batch dim, got ${formatShape(input_shape)}`);
  }
  const rows: SummaryRow[] = [];
  const handles = [...model.named_modules()]
    .filter(([, m]) => [...m.children()].length === 0)
    .map(([name, m]) =>
      m.register_forward_hook((mod, inputs, output) => {
        if (!(output instanceof Tensor)) return;
        const input = inputs[0] instanceof Tensor ? inputs[0] : output;
        const params = mod.parameters(false).reduce((s, p) => s + p.numel(), 0);
        rows.push({ name, type: mod.constructor.name, output_shape: output.shape.slice(1), params, mult_adds: multAdds(mod, input, output) });
      }),
    );
  const wasTraining = model.training;
  model.eval();
  try {
    no_grad(() => {
      // The input lives where the model does (a model built on 'meta' is summarised without data).
      const x = zeros([1, ...input_shape], { backend: model.parameters()[0]?.device });
      (model.call as (x: Tensor) => unknown)(x);
    });
  } finally {
    for (const h of handles) h.remove();
    model.train(wasTraining);
  }
  const params = model.parameters();
  const total = params.reduce((s, p) => s + p.numel(), 0);
  const trainable = params.filter((p) => p.requires_grad).reduce((s, p) => s + p.numel(), 0);
  const macs = rows.reduce((s, r) => s + r.mult_adds, 0);
  const table = [['Layer', 'Type', 'Output shape', 'Param #'], ...rows.map((r) => [r.name, r.type, formatShape(r.output_shape), fmt(r.params)])];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  const line = (row: string[]) => row.map((cell, c) => (c === 3 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ');
  const rule = '-'.repeat(widths.reduce((a, b) => a + b + 2, -2));
  const text = [
    `${model.constructor.name} on input ${formatShape([1, ...input_shape])}`,
    rule,
    line(table[0]!),
    rule,
    ...table.slice(1).map(line),
    rule,
    `Total params: ${fmt(total)}`,
    `Trainable params: ${fmt(trainable)}`,
    `Non-trainable params: ${fmt(total - trainable)}`,
    `Mult-adds (per input): ${fmt(macs)}`,
  ].join('\n');
  return { input_shape: [...input_shape], rows, total_params: total, trainable_params: trainable, non_trainable_params: total - trainable, mult_adds: macs, text };
}

declare module './module.js' {
  interface Module {
    /** The layer table for an input of this shape (without the batch dim); see `summary`. */
    summary(input_shape: readonly number[]): ModelSummary;
  }
}

Module.prototype.summary = function (this: Module, input_shape: readonly number[]) {
  return summary(this, input_shape);
};
