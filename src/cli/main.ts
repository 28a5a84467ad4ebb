/**
 * The `stride` command: train, eval, predict, summary, models, data. Errors print one line
 * (add --debug for the stack) and exit with status 1; an interrupted training run exits with 130
 * after saving a checkpoint.
 */
import { Command, Option } from 'commander';
import '../backend/reference/index.js';
import '../backend/meta/index.js';
import { list_backends } from '../backend/backend.js';
import { nativeStatus } from '../backend/native/index.js';
import { wasmStatus } from '../backend/wasm/index.js';
import '../nn/index.js';
import { candidateDirs, DATASETS, loadDataset, type DatasetName } from '../io/datasets.js';
import { getDataset } from '../io/download.js';
import { describe_model, list_models } from '../models/registry.js';
import { StrideError } from '../tensor/errors.js';
import { evalCommand, predictCommand, summaryCommand } from './commands.js';
import { augmentation, AUGMENTATIONS } from './augment.js';
import { checkpointSettings } from './checkpoint.js';
import { addLmCommands } from './lm.js';
import { addVisualizeCommands } from './visualize.js';
import { addExportCommand } from './export.js';
import { addStudioCommand } from './studio.js';
import { DownloadProgress } from './progress.js';
import { addBackendOptions, autoBackend, choice, choices, int, num, unavailableReason, useBackend, type BackendName } from './options.js';
import { InterruptedError, OPTIMIZERS, SCHEDULES, train } from './train.js';

/** Applies fn to a command and all its subcommands (settings made after creation are not inherited). */
function everyCommand(cmd: Command, fn: (c: Command) => void): void {
  fn(cmd);
  for (const c of cmd.commands) everyCommand(c, fn);
}

/** Commander's error, on one line, followed by the valid commands or options when one was unknown. */
function oneLineError(cmd: Command, message: string): string {
  const line = message.trim().replace(/\s*\n\s*/g, ' ');
  const valid = line.startsWith('error: unknown command') ? cmd.commands.map((c) => c.name())
    : line.startsWith('error: unknown option') ? cmd.createHelp().visibleOptions(cmd).map((o) => o.long ?? o.short)
    : null;
  return `${line}${valid ? `; valid: ${valid.join(', ')}` : ''}\n`;
}

export function program(): Command {
  const cli = new Command('stride')
    .description('Train, evaluate and inspect convolutional neural networks.')
    .option('--debug', 'print stack traces of errors')
    .showSuggestionAfterError(true);

  const trainCommand = cli
    .command('train')
    .description('train a model on a dataset; writes checkpoints, the model and a report into --out')
    .addOption(new Option('--model <name>', `model (${list_models().join(', ')})`).default('lenet5').argParser(choice('model', list_models())))
    .addOption(new Option('--dataset <name>', `dataset (${DATASETS.join(', ')})`).default('fashion-mnist').argParser(choice('dataset', DATASETS)))
    .option('--data <dir>', 'directory with the dataset files (the only place looked in; else $STRIDE_DATA, the system and user locations, the bundled subset)')
    .option('--epochs <n>', 'epochs', int('epochs'), 10)
    .option('--batch-size <n>', 'batch size', int('batch size'), 64)
    .option('--lr <x>', 'learning rate', num('learning rate'), 0.01)
    .addOption(new Option('--optimizer <name>', OPTIMIZERS.join('|')).default('sgd').argParser(choice('optimizer', OPTIMIZERS)))
    .option('--momentum <x>', 'momentum (sgd, rmsprop)', num('momentum'), 0.9)
    .option('--weight-decay <x>', 'L2 weight decay', num('weight decay'), 0)
    .addOption(new Option('--schedule <name>', SCHEDULES.join('|')).default('none').argParser(choice('schedule', SCHEDULES)))
    .option('--augment <list>', `comma-separated augmentations (${AUGMENTATIONS.join(', ')})`, choices('augmentation', AUGMENTATIONS), [])
    .option('--val-split <x>', 'fraction of the training set held out for validation', num('val split'), 0.1)
    .option('--limit <n>', 'use only the first N training images', int('limit'))
    .option('--seed <n>', 'random seed', int('seed', 0), 0);
  addBackendOptions(trainCommand)
    .option('--out <dir>', 'output directory (default runs/<model>-<dataset>)')
    .option('--resume', 'continue the run in --out from its last checkpoint (with its options, unless given)')
    .option('--profile', 'time each training step by layer, backward op and backend primitive; prints the table and writes profile.md')
    .action(async (o, cmd: Command) => {
      const out = o.out ?? `runs/${o.model}-${o.dataset}`;
      if (o.resume) {
        // Settings are saved under snake_case names, commander's keys are camelCase.
        for (const [k, v] of Object.entries((await checkpointSettings(out)) ?? {})) {
          const key = k.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
          // A run continues on another backend where its own cannot run here.
          const unavailable = key === 'backend' && unavailableReason(v as BackendName) !== undefined;
          if (cmd.getOptionValueSource(key) !== 'cli' && !unavailable) o[key] = v;
        }
      }
      useBackend(o.backend, o.threads);
      const data = await loadDataset(o.dataset, { dir: o.data, log: (l) => console.log(l) });
      const names: string[] = o.augment;
      const signal = { interrupted: false };
      const onSigint = () => {
        if (signal.interrupted) process.exit(130);
        signal.interrupted = true;
        console.error('\ninterrupt: saving a checkpoint after this batch (press Ctrl-C again to quit at once)');
      };
      process.on('SIGINT', onSigint);
      try {
        const r = await train({
          model: o.model, data, epochs: o.epochs, batch_size: o.batchSize, lr: o.lr, optimizer: o.optimizer, momentum: o.momentum,
          weight_decay: o.weightDecay, schedule: o.schedule, val_split: o.valSplit, limit: o.limit ?? null,
          augment: augmentation(names, data, o.seed), augment_names: names, seed: o.seed, out, resume: Boolean(o.resume), log: (l) => console.log(l),
          profile: Boolean(o.profile),
        }, signal);
        console.log(`wrote ${r.files.map((f) => `${out}/${f}`).join(', ')}`);
      } finally {
        process.off('SIGINT', onSigint);
      }
    });

  cli
    .command('eval')
    .description('accuracy, per-class accuracy and confusion matrix of a trained model on a test set')
    .argument('<checkpoint>', 'a run directory or its model.safetensors')
    .addOption(new Option('--dataset <name>', `dataset (default: the one it was trained on)`).argParser(choice('dataset', DATASETS)))
    .option('--data <dir>', 'directory with the dataset files')
    .action(evalCommand);

  cli
    .command('predict')
    .description('top-k classes with probabilities for image files (PNG, JPEG)')
    .argument('<checkpoint>', 'a run directory or its model.safetensors')
    .argument('<images...>', 'image files')
    .option('--top-k <k>', 'classes to show', int('top-k'), 3)
    .action(predictCommand);

  cli
    .command('summary')
    .description('layer table of a model: output shapes, parameters, mult-adds')
    .argument('<model>', `model name (${list_models().join(', ')})`)
    .option('--input <shape>', 'input shape C,H,W', '1,28,28')
    .option('--num-classes <n>', 'classes', int('classes'), 10)
    .action(summaryCommand);

  cli
    .command('models')
    .description('list the models available by name')
    .action(() => {
      for (const m of list_models()) console.log(`${m.padEnd(10)} ${describe_model(m)}`);
    });

  cli
    .command('info')
    .description('the backends available here, the ISA oneDNN chose, the wasm build and the thread counts')
    .action(() => {
      const native = nativeStatus();
      const wasm = wasmStatus();
      console.log(`backends: ${list_backends().filter((b) => b !== 'meta').join(', ')} (default for training: ${autoBackend()})`);
      console.log(native.available
        ? `native: oneDNN ${native.onednn}, ISA ${native.isa}, ${native.threads} thread(s)`
        : `native: unavailable (${native.reason})`);
      console.log(wasm.available ? `wasm: build ${wasm.build}, ${wasm.threads} thread(s)` : `wasm: unavailable (${wasm.reason})`);
      console.log(`node ${process.version} on ${process.platform}-${process.arch}`);
    });

  const data = cli.command('data').description('datasets: where they are and how to get them');
  data
    .command('get')
    .description('download a dataset into the user cache, verified, resuming partial downloads')
    .argument('<name>', `dataset (${DATASETS.join(', ')})`, choice('dataset', DATASETS))
    .option('--dir <dir>', 'where to put the files (default: the user cache)')
    .action(async (name: DatasetName, o: { dir?: string }) => {
      const bar = new DownloadProgress();
      try {
        const dir = await getDataset(name, { dir: o.dir, progress: (f, d, t) => bar.update(f, d, t), log: (l) => { bar.stop(); console.log(l); } });
        bar.stop();
        console.log(`${name}: ready in ${dir}`);
      } finally {
        bar.stop();
      }
    });
  data
    .command('where')
    .description('list the places searched for a dataset, in order')
    .argument('<name>', `dataset (${DATASETS.join(', ')})`, choice('dataset', DATASETS))
    .option('--data <dir>', 'look only in this directory')
    .action((name: DatasetName, o: { data?: string }) => {
      for (const d of candidateDirs(name, o.data)) console.log(d);
    });

  addLmCommands(cli);
  addVisualizeCommands(cli);
  addExportCommand(cli);
  addStudioCommand(cli);

  everyCommand(cli, (cmd) => cmd.configureOutput({ outputError: (s, write) => write(oneLineError(cmd, s)) }));
  return cli;
}

export async function main(argv: string[]): Promise<number> {
  const cli = program();
  // Errors and --help of subcommands too must come back here rather than exit the process.
  everyCommand(cli, (cmd) => cmd.exitOverride());
  try {
    await cli.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    const err = e as Error & { code?: string; exitCode?: number };
    if (err.code?.startsWith('commander.')) return err.exitCode ?? 1;
    if (err instanceof InterruptedError) return 130;
    const debug = argv.includes('--debug');
    console.error(`stride: ${err instanceof StrideError ? err.message : (debug ? err.stack : err.message)}`);
    if (debug && err instanceof StrideError) console.error(err.stack);
    return 1;
  }
}
