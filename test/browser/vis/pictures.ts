/**
 * The pictures test/browser_vis.test.ts compares: the same stride/vis calls made in the page (on
 * weights fetched and parsed there) and in Node (on weights read from the file). No DOM here, so
 * that Node can import it.
 */
import { fromFlat, no_grad, with_default_backend, type Tensor } from '../../../src/index.js';
import { parseSafetensors } from '../../../src/io/safetensors.js';
import { create_model } from '../../../src/models/index.js';
import type { Module } from '../../../src/nn/module.js';
import { feature_map_grid, features, filter_grid, grad_cam, overlay, saliency, toImageData } from '../../../src/vis/index.js';

/** The fields of the run's model.json the page needs. */
export interface ConvnetInfo {
  model: string;
  options: Record<string, unknown>;
  mean: number[];
  std: number[];
}

export type Picture = ReturnType<typeof toImageData>;

/** The trained convnet from model.json's description and the bytes of model.safetensors, on the reference backend. */
export function convnetFromBytes(info: ConvnetInfo, bytes: Uint8Array): Module {
  return with_default_backend('reference', () => {
    const model = create_model(info.model, info.options);
    model.load_state_dict(parseSafetensors(bytes, 'model.safetensors').tensors);
    model.eval();
    return model;
  });
}

/**
 * For one Fashion-MNIST image (28x28 bytes): the first layer's filters, its feature maps, and
 * saliency and Grad-CAM (layer2) for the predicted class over the image, as RGBA pixels. On the
 * reference backend, whose arithmetic is the same JavaScript in both places.
 */
export function convnetPictures(model: Module, info: ConvnetInfo, image: ArrayLike<number>): Record<'filters' | 'features' | 'saliency' | 'gradcam', Picture> {
  return with_default_backend('reference', () => {
    const pixels = Array.from(image, (p) => p / 255);
    const [mean, std] = [info.mean[0]!, info.std[0]!];
    const normalised = Array.from(pixels, (p) => (p - mean) / std);
    const x = fromFlat(normalised, [1, 1, 28, 28]);
    const shown = fromFlat(pixels, [1, 28, 28]);
    const predicted = no_grad(() => (model.call as (x: Tensor) => Tensor)(x).argmax(1).item());
    const layer2 = new Map(model.named_modules()).get('layer2')!;
    return {
      filters: toImageData(filter_grid(model.state_dict()['layer1.0.weight']!)),
      features: toImageData(feature_map_grid(features(model, x, ['layer1'])['layer1']!)),
      saliency: toImageData(overlay(shown, saliency(model, x, predicted).select(0, 0), 0.6)),
      gradcam: toImageData(overlay(shown, grad_cam(model, layer2, x, predicted).upsampled.select(0, 0), 0.6)),
    };
  });
}
