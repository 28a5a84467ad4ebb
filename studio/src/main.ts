/**
 * The studio page: the form, the live panels and saving/opening models. All computing happens in
 * the worker (worker.ts); this thread only draws what it posts, so the page stays responsive.
 * window.studio mirrors what the page shows, for test/studio.test.ts.
 */
import type { ModelInfo } from '../../src/cli/commands.js';
import { drawChart, legend, type Series } from './charts.js';
import { checkModelInfo } from './model_info.js';
import { DrawingPad } from './drawing.js';
import { decodeFolder, fromDrop, fromFileList } from './folder.js';
import { confusionTable, element, predictionGrid, probabilityBars, putPicture, testPicture } from './panels.js';
import { LayerEditor } from './layer_editor.js';
import { CUSTOM_MODEL, LAYER_TYPES, type LayerSpec, type LayerType } from '../../src/models/layer_list.js';
import { MODEL_CHOICES, type DatasetSummary, type Evaluation, type FromWorker, type ModelChoice, type RunState, type StudioProbe, type ToWorker, type TrainConfig } from './protocol.js';
import { deleteModel, getModel, listModels, putModel } from './storage.js';

declare global {
  interface Window {
    studio: StudioProbe;
  }
}

const probe: StudioProbe = {
  ready: false, backend: '', state: 'idle', dataset: null, model: null, source: '', custom: null, steps: 0, losses: [], images_per_second: [],
  evaluations: [], predictions: null, drawing: null, inspections: 0, saved: null, errors: [],
};
window.studio = probe;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (m: ToWorker, transfer: Transferable[] = []) => worker.postMessage(m, transfer);

let dataset: DatasetSummary | null = null;
let inspected = 0;
let lastEvaluation: Evaluation | null = null;

// ---------------------------------------------------------------- errors

function showError(message: string): void {
  probe.errors.push(message);
  const el = $('error');
  el.textContent = message;
  el.hidden = false;
}

function clearError(): void {
  $('error').hidden = true;
}

// ---------------------------------------------------------------- the form

const modelSelect = $<HTMLSelectElement>('model');
modelSelect.append(...Object.entries(MODEL_CHOICES).map(([name, p]) => element('option', { value: name }, p.label)));
modelSelect.addEventListener('change', () => {
  const p = MODEL_CHOICES[modelSelect.value as ModelChoice];
  $<HTMLSelectElement>('optimizer').value = p.optimizer;
  $<HTMLInputElement>('lr').value = String(p.lr);
  showEditor();
});

const editor = new LayerEditor($<HTMLOListElement>('layers'), $('layers-total'), (check) => {
  probe.custom = check;
  setState(probe.state);
});
const newLayer = $<HTMLSelectElement>('new-layer');
newLayer.append(...LAYER_TYPES.map((t) => element('option', { value: t }, t)));
$('add-layer').addEventListener('click', () => editor.add(newLayer.value as LayerType));

function showEditor(): void {
  $('custom').hidden = modelSelect.value !== CUSTOM_MODEL;
  setState(probe.state);
}

function config(): TrainConfig {
  const num = (id: string) => Number($<HTMLInputElement>(id).value);
  return {
    model: modelSelect.value as ModelChoice,
    ...(modelSelect.value === CUSTOM_MODEL ? { layers: editor.value() } : {}),
    optimizer: $<HTMLSelectElement>('optimizer').value as TrainConfig['optimizer'],
    lr: num('lr'), momentum: num('momentum'),
    schedule: $<HTMLSelectElement>('schedule').value as TrainConfig['schedule'],
    batch_size: num('batch'), epochs: num('epochs'), eval_every: num('eval-every'), seed: num('seed'), threads: num('threads'),
  };
}

$<HTMLFormElement>('config').addEventListener('submit', (e) => {
  e.preventDefault();
  clearError();
  resetCurves();
  send({ type: 'train', config: config() });
});
$('pause').addEventListener('click', () => send({ type: probe.state === 'paused' ? 'resume' : 'pause' }));
$('stop').addEventListener('click', () => send({ type: 'stop' }));

function setState(s: RunState): void {
  probe.state = s;
  const running = s === 'training' || s === 'paused';
  // A custom model trains once the library accepts its layers for this dataset.
  const buildable = modelSelect.value !== CUSTOM_MODEL || probe.custom?.error === null;
  $<HTMLButtonElement>('train').disabled = running || !dataset || !buildable;
  $<HTMLButtonElement>('pause').disabled = !running;
  $<HTMLButtonElement>('pause').textContent = s === 'paused' ? 'Resume' : 'Pause';
  $<HTMLButtonElement>('stop').disabled = !running;
  $('stat-state').textContent = s;
}

// ---------------------------------------------------------------- data

$('use-bundled').addEventListener('click', () => loadBundled());

function loadBundled(): void {
  $('dataset-status').textContent = 'Loading the bundled Fashion-MNIST subset…';
  send({ type: 'load-bundled', base: document.baseURI });
}

async function loadFolder(source: Promise<ReturnType<typeof fromFileList>>): Promise<void> {
  clearError();
  try {
    const { root, files } = await source;
    $('dataset-status').textContent = `Reading ${files.length} files of ${root}…`;
    const images = await decodeFolder(files, 28);
    send({ type: 'load-folder', name: root, images, size: 28, channels: 1 }, images.map((i) => i.pixels.buffer));
  } catch (e) {
    showError((e as Error).message);
  }
}

$<HTMLInputElement>('folder').addEventListener('change', (e) => {
  const files = (e.target as HTMLInputElement).files;
  if (files?.length) void loadFolder(Promise.resolve(fromFileList(files)));
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  if (e.dataTransfer) void loadFolder(fromDrop(e.dataTransfer.items));
});

function showDataset(d: DatasetSummary): void {
  dataset = d;
  probe.dataset = { name: d.name, classes: d.classes, train: d.train, test: d.test };
  $('dataset-status').textContent = `${d.name}: ${d.train.toLocaleString('en-US')} training and ${d.test.toLocaleString('en-US')} test images of ${d.input_shape.join('×')}, classes ${d.classes.join(', ')}`;
  inspected = 0;
  lastEvaluation = null;
  $('grid').replaceChildren();
  predictionGrid($('grid'), d, null, 60, choose);
  putPicture($<HTMLCanvasElement>('inspected'), testPicture(d, 0), 4);
  editor.setInput(d.input_shape, d.classes.length);
}

function choose(index: number): void {
  inspected = index;
  $('inspected-index').textContent = String(index);
  if (dataset) putPicture($<HTMLCanvasElement>('inspected'), testPicture(dataset, index), 4);
  send({ type: 'inspect', index });
}

// ---------------------------------------------------------------- curves

const curves = { loss: [] as [number, number][], lossSmooth: [] as [number, number][], accSmooth: [] as [number, number][] };
let smooth = { loss: NaN, acc: NaN };
let evaluations: Evaluation[] = [];
let redraw = false;

function resetCurves(): void {
  curves.loss = [];
  curves.lossSmooth = [];
  curves.accSmooth = [];
  smooth = { loss: NaN, acc: NaN };
  evaluations = [];
  Object.assign(probe, { steps: 0, losses: [], images_per_second: [], evaluations: [], predictions: null });
  scheduleRedraw();
}

/** Exponential moving average over about the last 20 steps (the first value as is). */
const ema = (prev: number, x: number) => (Number.isNaN(prev) ? x : 0.95 * prev + 0.05 * x);

function scheduleRedraw(): void {
  if (redraw) return;
  redraw = true;
  requestAnimationFrame(() => {
    redraw = false;
    drawCurves();
  });
}

function drawCurves(): void {
  const evalPoints = (pick: (e: Evaluation) => number | undefined) =>
    evaluations.map((e) => [e.step, pick(e)] as [number, number | undefined]).filter((p): p is [number, number] => p[1] !== undefined);
  const loss: Series[] = [
    { label: 'train (per batch)', color: '#3d7cc9', points: curves.loss, faint: true },
    { label: 'train', color: '#3d7cc9', points: curves.lossSmooth },
    { label: 'validation', color: '#d9822b', points: evalPoints((e) => e.val?.loss) },
    { label: 'test', color: '#2a9d55', points: evalPoints((e) => e.test.loss) },
  ];
  const accuracy: Series[] = [
    { label: 'train', color: '#3d7cc9', points: curves.accSmooth },
    { label: 'validation', color: '#d9822b', points: evalPoints((e) => e.val?.accuracy) },
    { label: 'test', color: '#2a9d55', points: evalPoints((e) => e.test.accuracy) },
  ];
  drawChart($<HTMLCanvasElement>('loss-chart'), loss, { xLabel: 'step' });
  drawChart($<HTMLCanvasElement>('accuracy-chart'), accuracy, { xLabel: 'step', yRange: [0, 1] });
  legend($('loss-legend'), loss);
  legend($('accuracy-legend'), accuracy);
  const last = evaluations[evaluations.length - 1];
  const summary = last ? `; at step ${last.step} test loss ${last.test.loss.toFixed(3)}, test accuracy ${(100 * last.test.accuracy).toFixed(1)}%` : '';
  $('loss-chart').setAttribute('aria-label', `Loss curves over ${curves.loss.length} steps${summary}`);
  $('accuracy-chart').setAttribute('aria-label', `Accuracy curves over ${curves.loss.length} steps${summary}`);
}
window.addEventListener('resize', scheduleRedraw);

function showEvaluation(e: Evaluation): void {
  lastEvaluation = e;
  evaluations.push(e);
  probe.evaluations.push({ step: e.step, val_accuracy: e.val?.accuracy ?? null, test_accuracy: e.test.accuracy, test_loss: e.test.loss });
  probe.predictions = e.test.predictions;
  $('stat-test').textContent = `${(100 * e.test.accuracy).toFixed(1)}%`;
  if (dataset) {
    confusionTable($<HTMLTableElement>('confusion'), dataset.classes, e.test.confusion);
    predictionGrid($('grid'), dataset, e.test.predictions, 60, choose);
    const shown = Math.min(60, dataset.test);
    const wrong = e.test.predictions.slice(0, shown).filter((p, i) => p !== dataset!.test_labels[i]).length;
    $('grid-summary').textContent = `The first ${shown} test images: ${wrong} mistakes (outlined in red). Test accuracy on all ${dataset.test}: ${(100 * e.test.accuracy).toFixed(1)}%.`;
  }
  scheduleRedraw();
}

// ---------------------------------------------------------------- drawing

let predictionId = 0;
let awaiting = false;
let dirty = false;
/** The values of the drawing in flight, for the probe. */
let sentPixels: number[] = [];

const pad = new DrawingPad($<HTMLCanvasElement>('pad'), 28, () => requestPrediction());

/** One prediction in flight at a time: a drawing that changes meanwhile is sent when the answer comes. */
function requestPrediction(): void {
  if (!probe.model) return;
  if (awaiting) {
    dirty = true;
    return;
  }
  awaiting = true;
  dirty = false;
  const pixels = pad.pixels();
  sentPixels = Array.from(pixels);
  send({ type: 'predict', id: ++predictionId, pixels }, [pixels.buffer]);
}

$('clear').addEventListener('click', () => pad.clear());
$('copy-test').addEventListener('click', () => {
  if (!dataset) return;
  const p = testPicture(dataset, inspected);
  const c = new OffscreenCanvas(p.width, p.height);
  c.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(p.data), p.width, p.height), 0, 0);
  pad.setImage(c, { invert: false, smooth: false });
});
$<HTMLInputElement>('upload').addEventListener('change', async (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (!file) return;
  try {
    const bitmap = await createImageBitmap(file);
    pad.setImage(bitmap, { invert: $<HTMLInputElement>('invert').checked, smooth: true });
    bitmap.close();
  } catch (err) {
    showError(`${file.name}: cannot read the picture (${(err as Error).message})`);
  }
});

// ---------------------------------------------------------------- models

let saveTarget: 'download' | 'store' = 'download';

function modelLoaded(info: ModelInfo, parameters: number, summary: string, source: string): void {
  probe.model = info;
  probe.source = source;
  // A custom model opened from a file is shown in the editor, ready to train again.
  if (info.model === CUSTOM_MODEL) {
    modelSelect.value = CUSTOM_MODEL;
    editor.set(info.options['layers'] as LayerSpec[]);
    showEditor();
  }
  $('summary').textContent = summary;
  $('models-title').textContent = `Save and open models (current: ${info.model}, ${parameters.toLocaleString('en-US')} parameters, ${source})`;
  for (const id of ['download', 'store-save']) $<HTMLButtonElement>(id).disabled = false;
  requestPrediction();
}

$('download').addEventListener('click', () => {
  saveTarget = 'download';
  send({ type: 'save' });
});
$<HTMLFormElement>('store').addEventListener('submit', (e) => {
  e.preventDefault();
  saveTarget = 'store';
  send({ type: 'save' });
});

async function saved(bytes: Uint8Array, info: ModelInfo): Promise<void> {
  const accuracy = lastEvaluation ? `, test accuracy ${(100 * lastEvaluation.test.accuracy).toFixed(1)}%` : '';
  const name = saveTarget === 'store' ? $<HTMLInputElement>('store-name').value.trim() || info.model : `${info.model}-${info.dataset}`;
  probe.saved = { name, bytes: bytes.length };
  if (saveTarget === 'download') {
    const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
    const a = element('a', { href: url, download: `${name}.safetensors` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    return;
  }
  await putModel({ name, saved: new Date().toISOString(), description: `${info.model} on ${info.dataset}${accuracy}`, bytes });
  await showStored();
}

async function showStored(): Promise<void> {
  const models = await listModels();
  $('stored').replaceChildren(...models.map((m) => {
    const open = element('button', { type: 'button' }, 'Open');
    open.setAttribute('aria-label', `Open ${m.name}`);
    open.addEventListener('click', async () => {
      const stored = await getModel(m.name);
      if (stored) openModel(stored.bytes, `${m.name} (saved in this browser)`);
    });
    const remove = element('button', { type: 'button' }, 'Delete');
    remove.setAttribute('aria-label', `Delete ${m.name}`);
    remove.addEventListener('click', () => void deleteModel(m.name).then(showStored));
    return element('li', {}, element('span', {}, `${m.name}: ${m.description}, ${(m.bytes.length / 1024).toFixed(0)} KiB, ${new Date(m.saved).toLocaleString()}`), open, remove);
  }));
}

function openModel(bytes: Uint8Array, source: string, info?: ModelInfo): void {
  clearError();
  resetCurves();
  send({ type: 'load', bytes, source, info }, [bytes.buffer]);
}

$<HTMLInputElement>('open').addEventListener('change', async (e) => {
  const input = e.target as HTMLInputElement;
  const files = [...(input.files ?? [])];
  input.value = '';
  const weights = files.find((f) => f.name.endsWith('.safetensors'));
  const json = files.find((f) => f.name.endsWith('.json'));
  if (!weights) return showError('choose a .safetensors file (and, for a run without metadata, its model.json with it)');
  try {
    const info = json ? checkModelInfo(JSON.parse(await json.text()), json.name) : undefined;
    openModel(new Uint8Array(await weights.arrayBuffer()), weights.name, info);
  } catch (err) {
    showError((err as Error).message);
  }
});

// ---------------------------------------------------------------- the worker's messages

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  switch (m.type) {
    case 'ready': {
      const s = m.status;
      probe.backend = s.available ? `${s.build}, ${s.threads} thread${s.threads === 1 ? '' : 's'}` : `unavailable: ${s.reason}`;
      $('backend').textContent = s.available
        ? `wasm backend: ${probe.backend}${crossOriginIsolated ? '' : ' (the page is not cross-origin isolated: one thread)'}`
        : `The wasm backend is unavailable (${s.reason}); training runs on the slow reference backend.`;
      probe.ready = true;
      $<HTMLInputElement>('threads').max = String(s.threads ?? 1);
      loadBundled();
      return;
    }
    case 'dataset':
      return showDataset(m.dataset);
    case 'model':
      return modelLoaded(m.info, m.parameters, m.summary, m.source);
    case 'state':
      return setState(m.state);
    case 'progress': {
      probe.steps = m.step;
      probe.losses.push(m.loss);
      probe.images_per_second.push(m.images_per_second);
      curves.loss.push([m.step, m.loss]);
      smooth = { loss: ema(smooth.loss, m.loss), acc: ema(smooth.acc, m.accuracy) };
      curves.lossSmooth.push([m.step, smooth.loss]);
      curves.accSmooth.push([m.step, smooth.acc]);
      $('stat-step').textContent = String(m.step);
      $('stat-epoch').textContent = m.epoch.toFixed(2);
      $('stat-speed').textContent = Math.round(m.images_per_second).toLocaleString('en-US');
      $('stat-lr').textContent = m.lr.toPrecision(3);
      scheduleRedraw();
      return;
    }
    case 'evaluation':
      return showEvaluation(m.evaluation);
    case 'inspection': {
      probe.inspections++;
      // The model changed since the drawing's last prediction.
      requestPrediction();
      if (!dataset) return;
      probabilityBars($('inspected-probs'), dataset.classes, m.probabilities, m.label);
      if (m.filters) putPicture($<HTMLCanvasElement>('filters'), m.filters, 6);
      $('filters-caption').textContent = m.filters ? 'First-layer filters' : 'First-layer filters (none: the model has no convolution or input-sized first layer)';
      const box = $('activations');
      if (box.childElementCount !== m.activations.length) {
        box.replaceChildren(...m.activations.map(() => element('figure', {}, element('canvas', { className: 'pixelated' }), element('figcaption'))));
      }
      m.activations.forEach((a, i) => {
        const fig = box.children[i]!;
        const canvas = fig.querySelector('canvas')!;
        putPicture(canvas, a.picture, Math.max(1, Math.min(4, Math.floor(240 / a.picture.width))));
        canvas.setAttribute('role', 'img');
        canvas.setAttribute('aria-label', `activations of ${a.name} (${a.type}), ${a.shape.join('×')}`);
        fig.querySelector('figcaption')!.textContent = `${a.name} ${a.type} (${a.shape.join('×')})`;
      });
      return;
    }
    case 'prediction': {
      awaiting = false;
      if (dataset && probe.model) {
        const classes = probe.model.classes;
        probabilityBars($('probs'), classes, m.probabilities);
        const top = m.probabilities.indexOf(Math.max(...m.probabilities));
        $('prediction').textContent = `${classes[top]} (${(100 * m.probabilities[top]!).toFixed(1)}%)`;
        putPicture($<HTMLCanvasElement>('saliency'), m.saliency, 6);
        if (m.gradcam) putPicture($<HTMLCanvasElement>('gradcam'), m.gradcam, 6);
        $('gradcam-caption').textContent = m.gradcam_layer ? `Grad-CAM of ${m.gradcam_layer}` : 'Grad-CAM (needs a convolution)';
      }
      let nonzero = 0;
      for (let i = 0; i < m.saliency.data.length; i += 4) if (m.saliency.data[i] !== m.saliency.data[0]) nonzero++;
      probe.drawing = { id: m.id, pixels: sentPixels, probabilities: m.probabilities, saliency_nonzero: nonzero, gradcam: m.gradcam !== null };
      if (dirty) requestPrediction();
      return;
    }
    case 'saved':
      void saved(m.bytes, m.info).catch((err: unknown) => showError(`saving failed: ${(err as Error).message}`));
      return;
    case 'error':
      awaiting = false;
      return showError(m.message);
  }
};
worker.onerror = (e) => showError(`the worker failed: ${e.message}`);

setState('idle');
void showStored().catch((e: unknown) => showError(`the models saved in this browser cannot be listed: ${(e as Error).message}`));
