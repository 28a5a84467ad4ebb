/**
 * `stride export <run-dir|model.safetensors> --format onnx`: a trained model as an ONNX file for
 * other runtimes, written atomically. The graph takes images normalised as in training (the
 * command prints the mean and std; the file's metadata carries them with the classes, under
 * stride.model as in model.safetensors) and gives the logits.
 */
import { stat, mkdir } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { Option, type Command } from 'commander';
import { writeFileAtomic } from '../io/files.js';
import { export_onnx, ONNX_OPSETS as OPSETS } from '../io/onnx/export.js';
import { zeros } from '../tensor/creation.js';
import { loadTrained, MODEL_INFO_KEY } from './commands.js';
import { choice, int, number } from './options.js';

const FORMATS = ['onnx'] as const;
/** The batch size traced when the batch dim stays symbolic: not 1, which other dims often are. */
const TRACED_BATCH = 2;

async function exportCommand(checkpoint: string, o: { format: (typeof FORMATS)[number]; out?: string; opset: number; batch?: number }): Promise<void> {
  const { model, info } = await loadTrained(checkpoint);
  const out = o.out ?? ((await stat(checkpoint)).isDirectory() ? join(checkpoint, 'model.onnx') : join(dirname(checkpoint), `${basename(checkpoint, extname(checkpoint))}.onnx`));
  const example = zeros([o.batch ?? TRACED_BATCH, ...info.input_shape]);
  const bytes = export_onnx(model, example, { batch_dim: o.batch === undefined ? 'N' : null, opset: o.opset, metadata: { [MODEL_INFO_KEY]: JSON.stringify(info) } });
  await mkdir(dirname(out), { recursive: true });
  await writeFileAtomic(out, bytes);
  const batch = o.batch ?? 'N';
  console.log(
    `wrote ${out} (${Math.round(bytes.length / 1024)} KB, ONNX opset ${o.opset}): ${info.model}; input 'input' [${[batch, ...info.input_shape].join(', ')}], ` +
      `normalised per channel with mean [${info.mean.join(', ')}] and std [${info.std.join(', ')}]; output 'output' [${batch}, ${info.classes.length}], the logits of ${info.classes.join(', ')}`,
  );
}

export function addExportCommand(cli: Command): void {
  cli
    .command('export')
    .description('write a trained model as a file for other runtimes (ONNX)')
    .argument('<checkpoint>', 'a run directory or its model.safetensors')
    .addOption(new Option('--format <format>', `file format (${FORMATS.join(', ')})`).argParser(choice('format', FORMATS)).makeOptionMandatory())
    .option('--out <file>', 'where to write (default: model.onnx in the run directory, or the .safetensors path with .onnx)')
    .option('--opset <n>', `ONNX operator set, ${OPSETS.min} to ${OPSETS.max}`, number('opset', (n) => Number.isInteger(n) && n >= OPSETS.min && n <= OPSETS.max, `an integer from ${OPSETS.min} to ${OPSETS.max}`), OPSETS.min)
    .option('--batch <n>', 'a fixed batch size (default: a symbolic batch dim, any size)', int('batch'))
    .action(exportCommand);
}
