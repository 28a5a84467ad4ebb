/**
 * Image captioning on synthetic scenes drawn by this test: 12×12 images of two coloured shapes
 * (red, green or blue circles, squares and triangles of 5×5 pixels), one above the other or side
 * by side, each shifted by up to a pixel either way, captioned like "a red circle above a blue
 * square" or "a green triangle left of a red circle" (the upper or left shape first). The CNN →
 * LSTM captioner trains on 500 scenes and must caption at least 90% of 100 held-out scenes
 * exactly, by greedy decoding and by beam search.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Generator, StrideError, fromFlat, manual_seed, no_grad, tensor, type Tensor } from '../src/index.js';
import { ImageCaptioner, WordVocab } from '../src/models/captioning.js';
import { Adam } from '../src/optim/index.js';
import { throwsNaming } from './helpers.js';

const SIZE = 12;
const BOX = 5;
const COLOURS: Record<string, [number, number, number]> = { red: [1, 0, 0], green: [0, 1, 0], blue: [0, 0, 1] };
const SHAPES = ['circle', 'square', 'triangle'] as const;

/** Whether pixel (y, x) of a BOX×BOX cell is inside the shape. */
function inside(shape: (typeof SHAPES)[number], y: number, x: number): boolean {
  const c = (BOX - 1) / 2;
  if (shape === 'square') return y >= 1 && y <= BOX - 1 && x >= 0 && x <= BOX - 2;
  if (shape === 'circle') return (y - c) ** 2 + (x - c) ** 2 <= 2.3 ** 2 && !(Math.abs(y - c) === 2 && Math.abs(x - c) === 2);
  return Math.abs(x - c) <= y / 2; // triangle: apex at the top, base at the bottom row
}

interface Scene {
  image: Float32Array;
  caption: string;
}

/** A random scene: two different (colour, shape) objects, stacked or side by side, each at one of 2×2 positions. */
function scene(g: Generator): Scene {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(g.uniform(1, 53)[0]! * xs.length)]!;
  const colours = Object.keys(COLOURS);
  const a = { colour: pick(colours), shape: pick(SHAPES) };
  let b = { colour: pick(colours), shape: pick(SHAPES) };
  while (b.colour === a.colour && b.shape === a.shape) b = { colour: pick(colours), shape: pick(SHAPES) };
  const vertical = g.uniform(1)[0]! < 0.5;
  const jitter = () => Math.floor(g.uniform(1, 53)[0]! * 2);
  const centred = () => 3 + Math.floor(g.uniform(1, 53)[0]! * 2);
  // The first object is the upper (or left) one: rows (or columns) 0-1, the second 6-7; across,
  // both sit at 3 or 4.
  const first = vertical ? { y: jitter(), x: centred() } : { y: centred(), x: jitter() };
  const second = vertical ? { y: SIZE - BOX - jitter(), x: centred() } : { y: centred(), x: SIZE - BOX - jitter() };
  const image = new Float32Array(3 * SIZE * SIZE);
  for (const [obj, at] of [[a, first], [b, second]] as const) {
    const rgb = COLOURS[obj.colour]!;
    for (let y = 0; y < BOX; y++) {
      for (let x = 0; x < BOX; x++) {
        if (!inside(obj.shape, y, x)) continue;
        for (let ch = 0; ch < 3; ch++) image[(ch * SIZE + at.y + y) * SIZE + at.x + x] = rgb[ch]!;
      }
    }
  }
  return { image, caption: `a ${a.colour} ${a.shape} ${vertical ? 'above' : 'left of'} a ${b.colour} ${b.shape}` };
}

function batch(scenes: readonly Scene[], vocab: WordVocab): { images: Tensor; captions: Tensor } {
  const images = new Float32Array(scenes.length * 3 * SIZE * SIZE);
  scenes.forEach((s, i) => images.set(s.image, i * s.image.length));
  const captions = scenes.flatMap((s) => vocab.encode(s.caption, 10));
  return { images: fromFlat(images, [scenes.length, 3, SIZE, SIZE]), captions: fromFlat(captions, [scenes.length, 10], { dtype: 'int32' }) };
}

test('WordVocab: special tokens first, encode pads, decode stops at <END>', () => {
  const v = WordVocab.from_captions(['a red circle', 'a blue square']);
  assert.deepEqual(v.words, ['<NULL>', '<START>', '<END>', 'a', 'blue', 'circle', 'red', 'square']);
  assert.deepEqual(v.encode('a red circle', 7), [1, 3, 6, 5, 2, 0, 0]);
  assert.equal(v.decode([3, 4, 7, 2, 6]), 'a blue square');
  throwsNaming(() => v.encode('a green circle'), StrideError, "'green'");
  throwsNaming(() => v.encode('a red circle', 4), StrideError, 'needs 5 tokens');
});

test('the scenes: shapes are told apart by their pixels, captions name the upper or left shape first', () => {
  const g = new Generator(0);
  const s = Array.from({ length: 200 }, () => scene(g));
  const captions = new Set(s.map((x) => x.caption));
  assert.ok(captions.size > 80, `${captions.size} distinct captions`);
  const counts = SHAPES.map((shape) => [...Array(BOX * BOX).keys()].filter((i) => inside(shape, Math.floor(i / BOX), i % BOX)).length);
  assert.equal(new Set(counts).size, 3, `pixel counts ${counts}`);
  assert.ok(s.every((x) => /^a (red|green|blue) (circle|square|triangle) (above|left of) a (red|green|blue) (circle|square|triangle)$/.test(x.caption)));
});

test('the captioner trains on 500 scenes and captions at least 90% of 100 held-out scenes exactly', () => {
  const g = new Generator(1);
  const train = Array.from({ length: 500 }, () => scene(g));
  const held = Array.from({ length: 100 }, () => scene(g));
  const vocab = WordVocab.from_captions([...train, ...held].map((s) => s.caption));
  assert.equal(vocab.size, 13);
  manual_seed(7);
  const model = new ImageCaptioner({ vocab_size: vocab.size, image_size: SIZE, channels: [8, 16], embedding_dim: 16, hidden_size: 48 });
  const optimizer = new Adam(model.parameters(), { lr: 1e-2 });
  const heldBatch = batch(held, vocab);
  const exact = (pred: number[][]) => pred.filter((ids, i) => vocab.decode(ids) === held[i]!.caption).length / held.length;
  const started = performance.now();
  let epoch = 0;
  let greedyAcc = 0;
  for (; epoch < 30 && greedyAcc < 0.95; epoch++) {
    const order = Array.from(g.uniform(train.length), (u, i) => [u, i] as const).sort((x, y) => x[0] - y[0]).map(([, i]) => i);
    for (let start = 0; start < train.length; start += 25) {
      const { images, captions } = batch(order.slice(start, start + 25).map((i) => train[i]!), vocab);
      optimizer.zero_grad();
      const loss = model.loss(images, captions);
      loss.backward();
      optimizer.step();
    }
    if (epoch % 5 === 4) {
      model.eval();
      greedyAcc = exact(model.greedy(heldBatch.images, 12));
      model.train();
    }
  }
  model.eval();
  greedyAcc = exact(model.greedy(heldBatch.images, 12));
  const beamAcc = exact(model.beam_search(heldBatch.images, { beam_size: 3, max_len: 12 }));
  const seconds = (performance.now() - started) / 1000;
  console.log(`# captioning: ${epoch} epochs in ${seconds.toFixed(0)} s; held-out exact captions: greedy ${greedyAcc}, beam search (3) ${beamAcc}`);
  const i = model.greedy(heldBatch.images.narrow(0, 0, 1), 12)[0]!;
  console.log(`# held-out scene 0: "${held[0]!.caption}" -> "${vocab.decode(i)}"`);
  assert.ok(greedyAcc >= 0.9, `greedy: ${greedyAcc}`);
  assert.ok(beamAcc >= 0.9, `beam search: ${beamAcc}`);
});

test('beam search: one beam is greedy decoding; a beam wide enough to keep everything finds the most likely caption', () => {
  manual_seed(3);
  // Two words besides the special tokens, so that every caption can be enumerated.
  const model = new ImageCaptioner({ vocab_size: 5, image_size: 8, channels: [4, 4], embedding_dim: 4, hidden_size: 8 }).eval();
  const images = tensor(Array.from({ length: 3 * 3 * 64 }, (_, i) => Math.sin(i * 0.37))).reshape([3, 3, 8, 8]);
  assert.deepEqual(model.beam_search(images, { beam_size: 1, max_len: 6 }), model.greedy(images, 6));
  /** Log-probability of the words followed by <END>. */
  const logp = (img: Tensor, ids: number[]) => no_grad(() => {
    const scores = model.forward(img, fromFlat([WordVocab.START, ...ids], [1, ids.length + 1], { dtype: 'int32' })).log_softmax(2).select(0, 0);
    return [...ids, WordVocab.END].reduce((s, id, t) => s + scores.select(0, t).select(0, id).item(), 0);
  });
  const maxLen = 4;
  const all: number[][] = [[]];
  for (let n = 1; n < maxLen; n++) for (const c of all.filter((x) => x.length === n - 1)) all.push([...c, 3], [...c, 4]);
  const found = model.beam_search(images, { beam_size: 100, max_len: maxLen });
  for (let b = 0; b < 3; b++) {
    const img = images.narrow(0, b, 1);
    const best = all.reduce((x, y) => (logp(img, y) > logp(img, x) ? y : x));
    assert.deepEqual(found[b], best, `image ${b}`);
  }
});
