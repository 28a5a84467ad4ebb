/** The page's panels that show the worker's results: pictures, probabilities, the confusion matrix, the prediction grid. */
import type { DatasetSummary, Picture } from './protocol.js';

export function element<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const el = Object.assign(document.createElement(tag), props);
  el.append(...children);
  return el;
}

/** Draws a picture into a canvas enlarged `scale` times, pixels kept sharp. */
export function putPicture(canvas: HTMLCanvasElement, p: Picture, scale: number): void {
  canvas.width = p.width * scale;
  canvas.height = p.height * scale;
  const ctx = canvas.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  const source = new OffscreenCanvas(p.width, p.height);
  source.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(p.data), p.width, p.height), 0, 0);
  ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
}

/** Test image `index` of the dataset as a picture (grey or RGB bytes [C, H, W]). */
export function testPicture(d: DatasetSummary, index: number): Picture {
  const [c, h, w] = d.input_shape;
  const data = new Uint8ClampedArray(h * w * 4);
  const base = index * c * h * w;
  for (let i = 0; i < h * w; i++) {
    for (let k = 0; k < 3; k++) data[4 * i + k] = d.test_images[base + (c === 3 ? k * h * w : 0) + i]!;
    data[4 * i + 3] = 255;
  }
  return { data, width: w, height: h };
}

/** Horizontal bars of class probabilities, the top one marked; readable as a list. */
export function probabilityBars(list: HTMLElement, classes: string[], probabilities: number[], truth?: number): void {
  const top = probabilities.indexOf(Math.max(...probabilities));
  list.replaceChildren(...probabilities.map((p, i) => {
    const pct = `${(100 * p).toFixed(1)}%`;
    const bar = element('span', { className: 'bar' });
    bar.style.width = `${(100 * p).toFixed(1)}%`;
    const li = element('li', { className: i === top ? 'top' : '' },
      element('span', { className: 'name' }, classes[i] + (i === truth ? ' (true)' : '')),
      element('span', { className: 'track' }, bar),
      element('span', { className: 'value' }, pct));
    return li;
  }));
}

/** The confusion matrix as a table (rows: true class, columns: predicted), shaded by row share. */
export function confusionTable(table: HTMLTableElement, classes: string[], confusion: number[][]): void {
  const head = element('tr', {}, element('th', { scope: 'col' }, 'true \\ predicted'), ...classes.map((c, j) => element('th', { scope: 'col', title: c }, String(j))));
  const rows = confusion.map((row, i) => {
    const total = Math.max(1, row.reduce((a, b) => a + b, 0));
    return element('tr', {}, element('th', { scope: 'row' }, `${i} ${classes[i]}`), ...row.map((v, j) => {
      // White figures on the darker diagonal cells.
      const td = element('td', { className: i === j ? (v / total > 0.55 ? 'diag strong' : 'diag') : v > 0 ? 'off' : '' }, String(v));
      td.style.setProperty('--share', (v / total).toFixed(3));
      return td;
    }));
  });
  table.replaceChildren(element('caption', {}, 'Confusion matrix on the test set: rows are true classes, columns predicted ones'), element('thead', {}, head), element('tbody', {}, ...rows));
}

/**
 * The first `count` test images as buttons captioned with their predicted class; mistakes are
 * marked. Choosing one shows its activations.
 */
export function predictionGrid(grid: HTMLElement, d: DatasetSummary, predictions: number[] | null, count: number, choose: (i: number) => void): void {
  const n = Math.min(count, d.test);
  if (grid.childElementCount !== n) {
    grid.replaceChildren(...Array.from({ length: n }, (_, i) => {
      const canvas = element('canvas');
      putPicture(canvas, testPicture(d, i), 2);
      const button = element('button', { type: 'button', className: 'thumb' }, canvas, element('span', { className: 'caption' }));
      button.addEventListener('click', () => choose(i));
      return button;
    }));
  }
  [...grid.children].forEach((button, i) => {
    const truth = d.test_labels[i]!;
    const p = predictions?.[i];
    const wrong = p !== undefined && p !== truth;
    button.classList.toggle('wrong', wrong);
    button.querySelector('.caption')!.textContent = p === undefined ? d.classes[truth]! : d.classes[p]!;
    button.setAttribute('aria-label', `test image ${i}: ${d.classes[truth]}${p === undefined ? '' : `, predicted ${d.classes[p]}${wrong ? ' (wrong)' : ''}`}`);
  });
}
