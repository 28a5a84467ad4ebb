/**
 * `stride lm train` and `stride lm sample`: the character-level language model from the command
 * line. train reads a text (by default the bundled public-domain one), holds out its end, trains,
 * reports bits per character on the held-out part and writes model.safetensors and lm.json (the
 * options and the vocabulary) into --out; sample loads them and prints generated text.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Command, Option } from 'commander';
import { saveSafetensors, writeFileAtomic } from '../io/files.js';
import { load_weights } from '../io/weights.js';
import { bits_per_character, CharLM, type CellType, type CharLMOptions, CharVocab, sample_text, train_char_lm } from '../models/lm.js';
import { StrideError } from '../tensor/errors.js';
import { addBackendOptions, fraction, int as count, positive, useBackend, type BackendChoice } from './options.js';
import { Generator, manual_seed } from '../tensor/random.js';

/** The bundled text (see data/text/README.md). */
export const BUNDLED_TEXT = fileURLToPath(new URL('../../data/text/devils_dictionary.txt', import.meta.url));

/** What lm.json holds. */
interface LmInfo {
  model: 'char_lm';
  options: CharLMOptions;
  vocab: string[];
  text: string;
  held_out_bits_per_character: number;
}

interface TrainOptions {
  text: string;
  out: string;
  steps: number;
  hidden: number;
  embedding: number;
  layers: number;
  cell: CellType;
  seqLen: number;
  batchSize: number;
  lr: number;
  valSplit: number;
  seed: number;
  backend: BackendChoice;
  threads?: number;
}

async function trainCommand(o: TrainOptions): Promise<void> {
  useBackend(o.backend, o.threads);
  let text: string;
  try {
    text = await readFile(o.text, 'utf8');
  } catch (e) {
    throw new StrideError(`cannot read the text ${o.text} (${(e as Error).message})`);
  }
  const vocab = CharVocab.from_text(text);
  const ids = vocab.encode(text);
  const cut = Math.floor(ids.length * (1 - o.valSplit));
  if (cut < o.seqLen + 2 || ids.length - cut < 2) throw new StrideError(`${o.text}: ${ids.length} characters are too few to train on windows of ${o.seqLen} and hold out ${o.valSplit}`);
  console.log(`${o.text}: ${ids.length} characters, ${vocab.size} distinct; training on the first ${cut}, holding out ${ids.length - cut}`);
  manual_seed(o.seed);
  const options: CharLMOptions = { vocab_size: vocab.size, embedding_dim: o.embedding, hidden_size: o.hidden, num_layers: o.layers, cell: o.cell };
  const model = new CharLM(options);
  const started = performance.now();
  train_char_lm(model, ids.subarray(0, cut), {
    steps: o.steps, seq_len: o.seqLen, batch_size: o.batchSize, lr: o.lr, generator: new Generator(o.seed),
    log_every: Math.max(1, Math.min(100, Math.floor(o.steps / 10))),
    log: (step, loss) => console.log(`step ${step}/${o.steps}: training loss ${(loss / Math.LN2).toFixed(3)} bits per character (${((performance.now() - started) / 1000).toFixed(0)} s)`),
  });
  const held = ids.subarray(cut);
  const bpc = bits_per_character(model, held, { streams: Math.max(1, Math.min(16, Math.floor((held.length - 1) / 64))) });
  console.log(`held-out text (${held.length} characters): ${bpc.toFixed(3)} bits per character`);
  await mkdir(o.out, { recursive: true });
  const info: LmInfo = { model: 'char_lm', options, vocab: [...vocab.chars], text: o.text, held_out_bits_per_character: bpc };
  await saveSafetensors(join(o.out, 'model.safetensors'), model.state_dict());
  await writeFileAtomic(join(o.out, 'lm.json'), new TextEncoder().encode(JSON.stringify(info, null, 2) + '\n'));
  console.log(`wrote ${join(o.out, 'model.safetensors')}, ${join(o.out, 'lm.json')}`);
  console.log(`sample (temperature 0.8):\n${sample_text(model, vocab, { length: 300, temperature: 0.8, generator: new Generator(o.seed) })}`);
}

/** A trained model from a run directory. */
async function loadLm(dir: string): Promise<{ model: CharLM; vocab: CharVocab }> {
  const infoPath = join(dir, 'lm.json');
  try {
    await stat(infoPath);
  } catch {
    throw new StrideError(`no language model in ${dir}: ${infoPath} is missing (train one with: stride lm train --out ${dir})`);
  }
  const info = JSON.parse(await readFile(infoPath, 'utf8')) as LmInfo;
  const model = new CharLM(info.options);
  await load_weights(model, join(dir, 'model.safetensors'));
  model.eval();
  return { model, vocab: new CharVocab(info.vocab) };
}

/** Adds the `lm` command group to the program. */
export function addLmCommands(cli: Command): void {
  const lm = cli.command('lm').description('character-level language model: train on a text, sample from it');
  const train = lm
    .command('train')
    .description('train on a text (default: the bundled Devil\'s Dictionary); reports held-out bits per character, writes the model into --out')
    .option('--text <file>', 'UTF-8 text to learn', BUNDLED_TEXT)
    .option('--out <dir>', 'output directory', 'runs/lm')
    .option('--steps <n>', 'training steps (batches)', count('steps'), 2500)
    .option('--hidden <n>', 'hidden units per layer', count('hidden'), 192)
    .option('--embedding <n>', 'character embedding size', count('embedding'), 32)
    .option('--layers <n>', 'recurrent layers', count('layers'), 1)
    .addOption(new Option('--cell <type>', 'recurrent cell').choices(['lstm', 'gru', 'rnn']).default('lstm'))
    .option('--seq-len <n>', 'characters per training window (backpropagation through time)', count('seq len'), 64)
    .option('--batch-size <n>', 'windows per step', count('batch size'), 32)
    .option('--lr <x>', 'Adam learning rate', positive('learning rate'), 3e-3)
    .option('--val-split <x>', 'fraction at the end of the text held out', fraction('val split'), 0.1)
    .option('--seed <n>', 'random seed', count('seed', 0), 0);
  addBackendOptions(train).action(trainCommand);
  lm
    .command('sample')
    .description('print text generated by a trained model')
    .argument('<run>', 'the --out directory of stride lm train')
    .option('--length <n>', 'characters to generate', count('length'), 500)
    .option('--temperature <x>', 'below 1: safer, above 1: more varied', positive('temperature'), 1)
    .option('--prime <text>', 'text to start from (printed before the sample)', '')
    .option('--seed <n>', 'random seed', count('seed', 0), 0)
    .action(async (run: string, o: { length: number; temperature: number; prime: string; seed: number }) => {
      const { model, vocab } = await loadLm(run);
      const text = sample_text(model, vocab, { length: o.length, temperature: o.temperature, prime: o.prime, generator: new Generator(o.seed) });
      console.log(o.prime + text);
    });
}
