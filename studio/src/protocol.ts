/** Messages between the page (main.ts) and the training worker (worker.ts). */
import type { ModelInfo } from '../../src/cli/commands.js';
import type { WasmStatus } from '../../src/backend/wasm/index.js';
import type { TrainOptions } from '../../src/cli/train.js';
import type { LayerCheck, LayerSpec } from '../../src/models/layer_list.js';

export const OPTIMIZER_CHOICES = ['sgd', 'adam'] as const;
export const SCHEDULE_CHOICES = ['none', 'step', 'cosine', 'onecycle'] as const;

/**
 * The model chooser: zoo models that take 28x28 grey images, and the layer-list editor's model
 * (layers.ts's CUSTOM_MODEL), with the settings that train them well here.
 */
export const MODEL_CHOICES = {
  lenet5: { label: 'LeNet-5', optimizer: 'adam', lr: 0.002 },
  convnet: { label: 'ConvNet (two conv-BN-ReLU-pool blocks)', optimizer: 'adam', lr: 0.002 },
  mlp: { label: 'MLP 784-800-10', optimizer: 'adam', lr: 0.001 },
  custom: { label: 'Custom (edit the layers)', optimizer: 'adam', lr: 0.002 },
} as const;
export type ModelChoice = keyof typeof MODEL_CHOICES;

/** A run's settings: those the CLI's training takes, and the studio's own. */
export interface TrainConfig extends Pick<TrainOptions, 'lr' | 'momentum' | 'batch_size' | 'epochs' | 'seed'> {
  model: ModelChoice;
  /** The custom model's layers (model 'custom'). */
  layers?: LayerSpec[];
  optimizer: (typeof OPTIMIZER_CHOICES)[number];
  /** Learning-rate schedule over all the run's steps. */
  schedule: (typeof SCHEDULE_CHOICES)[number];
  /** Steps between evaluations on the validation and test sets (also done at each epoch's end). */
  eval_every: number;
  /** Threads the wasm kernels split work over (at most those the backend started). */
  threads: number;
}

/** RGBA pixels for a canvas (vis's toImageData). */
export interface Picture {
  data: Uint8ClampedArray;
  width: number;
  height: number;
}

/** A labelled image set as the page shows it: grey or RGB bytes [N, C, H, W]. */
export interface DatasetSummary {
  name: string;
  classes: string[];
  train: number;
  test: number;
  input_shape: [number, number, number];
  test_images: Uint8Array;
  test_labels: Int32Array;
}

/** A picture folder dropped on the page: one sub-folder per class, already decoded to bytes [C, H, W]. */
export interface FolderImage {
  label: string;
  pixels: Uint8Array;
}

export type ToWorker =
  | { type: 'load-bundled'; base: string }
  | { type: 'load-folder'; name: string; images: FolderImage[]; size: number; channels: 1 | 3 }
  | { type: 'train'; config: TrainConfig }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' }
  /** The test image whose activations are shown. */
  | { type: 'inspect'; index: number }
  /** A drawn or uploaded image, pixels in [0, 1] [C, H, W]. */
  | { type: 'predict'; id: number; pixels: Float32Array }
  | { type: 'save' }
  | { type: 'load'; bytes: Uint8Array; source: string; info?: ModelInfo };

export interface Evaluation {
  step: number;
  epoch: number;
  val: { loss: number; accuracy: number } | null;
  test: { loss: number; accuracy: number; confusion: number[][]; predictions: number[] };
}

export interface Activation {
  name: string;
  /** The module's class (Conv2d, ReLU, MaxPool2d, ...). */
  type: string;
  shape: number[];
  picture: Picture;
}

export type RunState = 'idle' | 'training' | 'paused' | 'done';

export type FromWorker =
  | { type: 'ready'; status: WasmStatus }
  | { type: 'dataset'; dataset: DatasetSummary }
  | { type: 'model'; info: ModelInfo; parameters: number; summary: string; source: string }
  | { type: 'state'; state: RunState }
  | { type: 'progress'; step: number; epoch: number; steps_per_epoch: number; loss: number; accuracy: number; images_per_second: number; lr: number }
  | { type: 'evaluation'; evaluation: Evaluation }
  | { type: 'inspection'; index: number; label: number; probabilities: number[]; filters: Picture | null; activations: Activation[] }
  | { type: 'prediction'; id: number; probabilities: number[]; saliency: Picture; gradcam: Picture | null; gradcam_layer: string | null }
  | { type: 'saved'; bytes: Uint8Array; info: ModelInfo }
  | { type: 'error'; message: string };

/** What the page shows, left on window.studio for tests (test/studio.test.ts). */
export interface StudioProbe {
  ready: boolean;
  backend: string;
  state: RunState;
  dataset: { name: string; classes: string[]; train: number; test: number } | null;
  model: ModelInfo | null;
  source: string;
  /** The layer-list editor's check of its layers against the dataset (null until a dataset is loaded). */
  custom: LayerCheck | null;
  steps: number;
  losses: number[];
  images_per_second: number[];
  evaluations: { step: number; val_accuracy: number | null; test_accuracy: number; test_loss: number }[];
  /** The test set's predicted classes at the last evaluation. */
  predictions: number[] | null;
  /** The drawing's last prediction, with the values sent; saliency_nonzero counts the saliency map's pixels unlike its first. */
  drawing: { id: number; pixels: number[]; probabilities: number[]; saliency_nonzero: number; gradcam: boolean } | null;
  inspections: number;
  saved: { name: string; bytes: number } | null;
  errors: string[];
}
