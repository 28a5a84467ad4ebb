/**
 * Training reports: metrics.json, report.md, and plots as SVG (vega-lite) and PNG (the SVG
 * rasterised by sharp): loss and accuracy curves, the confusion matrix, and a grid of
 * misclassified test images with their predicted and true labels.
 */
import sharp from 'sharp';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/files.js';
import type { Tensor } from '../tensor/tensor.js';

export interface EpochMetrics {
  epoch: number;
  train_loss: number;
  train_accuracy: number;
  val_loss: number;
  val_accuracy: number;
  lr: number;
  seconds: number;
  images_per_second: number;
}

/** A vega-lite figure as SVG, rendered headless. */
export async function render(spec: vl.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

/** Train and validation curves of one metric over the epochs. */
export function curveSpec(history: readonly EpochMetrics[], metric: 'loss' | 'accuracy'): vl.TopLevelSpec {
  const values = history.flatMap((h) => [
    { epoch: h.epoch, split: 'train', value: metric === 'loss' ? h.train_loss : h.train_accuracy },
    { epoch: h.epoch, split: 'validation', value: metric === 'loss' ? h.val_loss : h.val_accuracy },
  ]);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: metric === 'loss' ? 'Loss' : 'Accuracy',
    width: 420,
    height: 260,
    background: 'white',
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
      y: { field: 'value', type: 'quantitative', title: metric, scale: { zero: false } },
      color: { field: 'split', type: 'nominal', title: null },
    },
  };
}

/** Counts of (true class, predicted class), with the count written in each cell. */
export function confusionSpec(matrix: readonly (readonly number[])[], classes: readonly string[]): vl.TopLevelSpec {
  const values = matrix.flatMap((row, t) => row.map((count, p) => ({ truth: classes[t]!, predicted: classes[p]!, count })));
  const max = Math.max(1, ...values.map((v) => v.count));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Confusion matrix (rows: true class)',
    background: 'white',
    data: { values },
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: [...classes], title: 'predicted' },
      y: { field: 'truth', type: 'nominal', sort: [...classes], title: 'true' },
    },
    layer: [
      { mark: 'rect', encoding: { color: { field: 'count', type: 'quantitative', scale: { scheme: 'blues' }, legend: null } } },
      {
        mark: { type: 'text', fontSize: 10 },
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          color: { condition: { test: `datum.count > ${max / 2}`, value: 'white' }, value: 'black' },
        },
      },
    ],
    width: 32 * classes.length,
    height: 32 * classes.length,
  };
}

const escapeXml = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

/**
 * A grid of images [N, C, H, W] in [0, 1] (C = 1 or 3), each scaled up and captioned (a caption
 * may have two lines separated by \n), as an SVG embedding the pixels as PNG.
 */
export async function imageGridSvg(images: Tensor, captions: readonly string[], opts: { cols?: number; scale?: number; title?: string } = {}): Promise<string> {
  const [n, c, h, w] = images.shape as [number, number, number, number];
  const { cols = Math.min(n, 8), scale = 3, title = '' } = opts;
  const data = images.dataSync();
  const cellW = Math.max(w * scale, 110);
  const cellH = h * scale + 40;
  const top = title ? 28 : 4;
  const rows = Math.ceil(n / cols);
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    const px = Buffer.alloc(h * w * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let k = 0; k < 3; k++) {
          const v = data[((i * c + (c === 1 ? 0 : k)) * h + y) * w + x]!;
          px[(y * w + x) * 3 + k] = Math.round(Math.min(Math.max(v, 0), 1) * 255);
        }
      }
    }
    const png = await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
    const x0 = (i % cols) * cellW + (cellW - w * scale) / 2;
    const y0 = top + Math.floor(i / cols) * cellH;
    const cx = (i % cols) * cellW + cellW / 2;
    parts.push(
      `<image x="${x0}" y="${y0}" width="${w * scale}" height="${h * scale}" style="image-rendering:pixelated" href="data:image/png;base64,${png.toString('base64')}"/>`,
      ...(captions[i] ?? '').split('\n').map((line, k) => `<text x="${cx}" y="${y0 + h * scale + 13 + 12 * k}" font-size="11" text-anchor="middle" font-family="sans-serif">${escapeXml(line)}</text>`),
    );
  }
  const width = cols * cellW;
  const height = top + rows * cellH;
  const heading = title ? `<text x="6" y="18" font-size="14" font-family="sans-serif">${escapeXml(title)}</text>` : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><rect width="100%" height="100%" fill="white"/>${heading}${parts.join('')}</svg>`;
}

/** Writes name.svg and name.png (rasterised at 2x for sharp text). */
export async function writePlot(dir: string, name: string, svg: string): Promise<void> {
  await writeFileAtomic(join(dir, `${name}.svg`), new TextEncoder().encode(svg));
  const png = await sharp(Buffer.from(svg), { density: 144 }).png().toBuffer();
  await writeFileAtomic(join(dir, `${name}.png`), png);
}

export interface ReportInput {
  title: string;
  model: string;
  dataset: string;
  history: readonly EpochMetrics[];
  test: { loss: number; accuracy: number; per_class: Record<string, number>; confusion: number[][] };
  classes: readonly string[];
  mistakes: { images: Tensor; captions: string[] };
  settings: Record<string, unknown>;
}

/** Writes metrics.json, report.md and the plots into `dir`. */
export async function writeReport(dir: string, r: ReportInput): Promise<string[]> {
  await writePlot(dir, 'loss', await render(curveSpec(r.history, 'loss')));
  await writePlot(dir, 'accuracy', await render(curveSpec(r.history, 'accuracy')));
  await writePlot(dir, 'confusion', await render(confusionSpec(r.test.confusion, r.classes)));
  if (r.mistakes.captions.length > 0) {
    await writePlot(dir, 'mistakes', await imageGridSvg(r.mistakes.images, r.mistakes.captions, { title: 'Misclassified test images' }));
  }
  const metrics = { model: r.model, dataset: r.dataset, settings: r.settings, history: r.history, test: r.test };
  await writeFileAtomic(join(dir, 'metrics.json'), new TextEncoder().encode(JSON.stringify(metrics, null, 2) + '\n'));
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  const md = [
    `# ${r.title}`,
    '',
    `Model \`${r.model}\` on \`${r.dataset}\`. Test accuracy **${pct(r.test.accuracy)}**, test loss ${r.test.loss.toFixed(4)}.`,
    '',
    '## Settings',
    '',
    ...Object.entries(r.settings).map(([k, v]) => `- ${k}: ${JSON.stringify(v)}`),
    '',
    '## Epochs',
    '',
    '| epoch | train loss | train acc | val loss | val acc | lr | images/s | seconds |',
    '|---|---|---|---|---|---|---|---|',
    ...r.history.map((h) => `| ${h.epoch} | ${h.train_loss.toFixed(4)} | ${pct(h.train_accuracy)} | ${h.val_loss.toFixed(4)} | ${pct(h.val_accuracy)} | ${h.lr.toPrecision(3)} | ${Math.round(h.images_per_second)} | ${h.seconds.toFixed(1)} |`),
    '',
    '![loss](loss.png) ![accuracy](accuracy.png)',
    '',
    '## Per-class test accuracy',
    '',
    '| class | accuracy |',
    '|---|---|',
    ...Object.entries(r.test.per_class).map(([k, v]) => `| ${k} | ${pct(v)} |`),
    '',
    '![confusion matrix](confusion.png)',
    '',
    ...(r.mistakes.captions.length ? ['## Mistakes', '', '![misclassified test images](mistakes.png)', ''] : []),
  ].join('\n');
  await writeFileAtomic(join(dir, 'report.md'), new TextEncoder().encode(md));
  return ['metrics.json', 'report.md', 'loss.svg', 'loss.png', 'accuracy.svg', 'accuracy.png', 'confusion.svg', 'confusion.png', ...(r.mistakes.captions.length ? ['mistakes.svg', 'mistakes.png'] : [])];
}
