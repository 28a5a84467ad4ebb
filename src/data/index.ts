/**
 * stride/data: datasets, loaders, transforms and the readers of dataset file formats. Pure code
 * (bytes in, tensors out) that runs in browsers too; finding and reading files is in stride/io.
 */
import '../backend/reference/index.js';

export { TensorDataset, Subset, MappedDataset, random_split, type Dataset } from './dataset.js';
export { DataLoader, default_collate, type DataLoaderOptions } from './dataloader.js';
export { ImageClassificationDataset, type ClassificationData, type ImageSet, type ImageDatasetOptions } from './classification.js';
export { parseIdx, parseIdxLabels } from './idx.js';
export { parseCifar, type CifarOptions, type CifarBatch } from './cifar.js';
export { parseNpy, parseNpz } from './npy.js';
export * as transforms from './transforms.js';
