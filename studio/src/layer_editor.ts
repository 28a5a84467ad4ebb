/**
 * The layer-list editor: rows that can be added, removed, moved and edited, each showing the
 * output shape and parameter count that layers.ts's checkLayers computes with the library, or
 * the library's message for the layer it refuses. Every change is checked at once (on the 'meta'
 * backend, which computes nothing but shapes).
 */
import { checkLayers, LAYER_TYPES, type LayerCheck, type LayerSpec, type LayerType } from '../../src/models/layer_list.js';
import { element } from './panels.js';

/** A number field of a layer type: its key in LayerSpec, its visible label, its input's limits. */
interface Field {
  key: string;
  label: string;
  min: number;
  max?: number;
  step: string;
}

/** A new layer of each type, as the editor adds it. */
const NEW_LAYERS: { [T in LayerType]: LayerSpec & { type: T } } = {
  Conv2d: { type: 'Conv2d', out_channels: 8, kernel_size: 3, stride: 1, padding: 1 },
  MaxPool2d: { type: 'MaxPool2d', kernel_size: 2, stride: 2 },
  AvgPool2d: { type: 'AvgPool2d', kernel_size: 2, stride: 2 },
  ReLU: { type: 'ReLU' },
  LeakyReLU: { type: 'LeakyReLU' },
  Tanh: { type: 'Tanh' },
  Sigmoid: { type: 'Sigmoid' },
  BatchNorm2d: { type: 'BatchNorm2d' },
  Dropout: { type: 'Dropout', p: 0.5 },
  Flatten: { type: 'Flatten' },
  Linear: { type: 'Linear', out_features: 'classes' },
};

/** The zoo's LeNet-5 for 28x28 inputs (src/models/lenet.ts: the first convolution pads by 2), where the editor starts. */
const LENET5_LAYERS: readonly LayerSpec[] = [
  { type: 'Conv2d', out_channels: 6, kernel_size: 5, stride: 1, padding: 2 }, { type: 'ReLU' }, { type: 'MaxPool2d', kernel_size: 2, stride: 2 },
  { type: 'Conv2d', out_channels: 16, kernel_size: 5, stride: 1, padding: 0 }, { type: 'ReLU' }, { type: 'MaxPool2d', kernel_size: 2, stride: 2 },
  { type: 'Flatten' }, { type: 'Linear', out_features: 120 }, { type: 'ReLU' }, { type: 'Linear', out_features: 84 }, { type: 'ReLU' },
  { type: 'Linear', out_features: 'classes' },
];

const whole = (key: string, label: string, min: number): Field => ({ key, label, min, step: '1' });
const FIELDS: { [T in LayerType]: Field[] } = {
  Conv2d: [whole('out_channels', 'out channels', 1), whole('kernel_size', 'kernel', 1), whole('stride', 'stride', 1), whole('padding', 'padding', 0)],
  MaxPool2d: [whole('kernel_size', 'kernel', 1), whole('stride', 'stride', 1)],
  AvgPool2d: [whole('kernel_size', 'kernel', 1), whole('stride', 'stride', 1)],
  ReLU: [], LeakyReLU: [], Tanh: [], Sigmoid: [], BatchNorm2d: [], Flatten: [],
  Dropout: [{ key: 'p', label: 'drop probability', min: 0, max: 1, step: 'any' }],
  Linear: [whole('out_features', 'out features', 1)],
};

const shapeText = (shape: readonly number[]) => shape.join('×');

export class LayerEditor {
  private layers: LayerSpec[] = LENET5_LAYERS.map((l) => ({ ...l }));
  private input: { shape: readonly number[]; classes: number } | null = null;

  /** `list` gets a row per layer, `total` the whole model's result; onCheck hears every check (null without a dataset). */
  constructor(private readonly list: HTMLOListElement, private readonly total: HTMLElement, private readonly onCheck: (check: LayerCheck | null) => void) {
    this.render();
  }

  /** A copy of the layers, for a message to the worker. */
  value(): LayerSpec[] {
    return this.layers.map((l) => ({ ...l }));
  }

  /** Replaces the list (a custom model opened from a file), unless it already holds these layers. */
  set(layers: readonly LayerSpec[]): void {
    if (JSON.stringify(layers) === JSON.stringify(this.layers)) return;
    this.layers = layers.map((l) => ({ ...l }));
    this.render();
  }

  /** The dataset's image shape [C, H, W] and class count, which the layers are checked against. */
  setInput(shape: readonly number[], classes: number): void {
    this.input = { shape, classes };
    this.render();
  }

  add(type: LayerType): void {
    this.layers.push({ ...NEW_LAYERS[type] });
    this.render(`layer-${this.layers.length}-type`);
  }

  private move(i: number, by: -1 | 1): void {
    const [layer] = this.layers.splice(i, 1);
    this.layers.splice(i + by, 0, layer!);
    const row = i + by + 1;
    // At the top or bottom that button is disabled: the other one keeps the focus on the moved layer.
    const atEnd = by === -1 ? row === 1 : row === this.layers.length;
    this.render(`layer-${row}-${(by === -1) !== atEnd ? 'up' : 'down'}`);
  }

  private remove(i: number): void {
    this.layers.splice(i, 1);
    const next = Math.min(i + 1, this.layers.length);
    this.render(next > 0 ? `layer-${next}-remove` : 'new-layer');
  }

  private setType(i: number, type: LayerType): void {
    this.layers[i] = { ...NEW_LAYERS[type] };
    this.render(`layer-${i + 1}-type`);
  }

  /** Rebuilds the rows, then focuses `focusId` (or whatever had the focus). */
  private render(focusId = document.activeElement?.id): void {
    this.list.replaceChildren(...this.layers.map((layer, i) => this.row(layer, i)));
    this.refresh();
    if (focusId) document.getElementById(focusId)?.focus();
  }

  private row(layer: LayerSpec, i: number): HTMLLIElement {
    const n = i + 1;
    const id = (part: string) => `layer-${n}-${part}`;
    const type = element('select', { id: id('type') }, ...LAYER_TYPES.map((t) => element('option', { value: t, selected: t === layer.type }, t)));
    type.setAttribute('aria-label', `Layer ${n} type`);
    type.setAttribute('aria-describedby', id('result'));
    type.addEventListener('change', () => this.setType(i, type.value as LayerType));
    const fields = FIELDS[layer.type].map((f) => {
      const value = (layer as unknown as Record<string, number | 'classes'>)[f.key]!;
      const input = element('input', { id: id(f.key), type: 'number', min: String(f.min), step: f.step, value: value === 'classes' ? '' : String(value) });
      if (f.max !== undefined) input.max = String(f.max);
      if (f.key === 'out_features') input.placeholder = String(this.input?.classes ?? '');
      input.setAttribute('aria-label', `Layer ${n} ${f.label}`);
      input.setAttribute('aria-describedby', id('result'));
      input.addEventListener('input', () => {
        // An empty out_features is the class count, which changes with the dataset.
        (layer as unknown as Record<string, number | 'classes'>)[f.key] = f.key === 'out_features' && input.value === '' ? 'classes' : Number(input.value);
        this.refresh();
      });
      return element('label', {}, f.label, input);
    });
    const button = (part: string, text: string, label: string, disabled: boolean, action: () => void) => {
      const b = element('button', { type: 'button', id: id(part), disabled }, text);
      b.setAttribute('aria-label', label);
      b.addEventListener('click', action);
      return b;
    };
    // The labels name the layer's number; on screen it stands before the row.
    const number = element('span', { className: 'layer-number', ariaHidden: 'true' }, `${n}.`);
    return element('li', { className: 'layer' }, number, type, ...fields,
      element('div', { className: 'layer-buttons' },
        button('up', '↑', `Move layer ${n} up`, i === 0, () => this.move(i, -1)),
        button('down', '↓', `Move layer ${n} down`, i === this.layers.length - 1, () => this.move(i, 1)),
        button('remove', '✕', `Remove layer ${n}`, false, () => this.remove(i))),
      element('p', { className: 'layer-result', id: id('result') }));
  }

  /** Checks the layers and shows each row's result and the total. */
  private refresh(): void {
    const check = this.input && checkLayers(this.layers, this.input.shape, this.input.classes);
    [...this.list.children].forEach((li, i) => {
      const row = check?.rows[i];
      li.classList.toggle('invalid', Boolean(row?.error));
      for (const input of li.querySelectorAll('input, select')) input.setAttribute('aria-invalid', String(Boolean(row?.error)));
      li.querySelector('.layer-result')!.textContent = !row ? '' : row.error ?? (row.output_shape ? `→ ${shapeText(row.output_shape)}, ${row.params!.toLocaleString('en-US')} parameters` : '(after the error: not checked)');
    });
    this.total.classList.toggle('invalid', Boolean(check?.error));
    if (!this.input || !check) this.total.textContent = 'Load a dataset to check the layers against.';
    else if (check.error) this.total.textContent = `Cannot train: ${check.error}`;
    else this.total.textContent = `${shapeText(this.input.shape)} in, ${this.input.classes} class scores out: ${check.total_params.toLocaleString('en-US')} parameters in ${this.layers.length} layers.`;
    this.onCheck(check);
  }
}
