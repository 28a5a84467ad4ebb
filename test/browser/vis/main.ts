/**
 * stride/vis in a browser page (for test/browser_vis.test.ts): fetches the trained convnet
 * (model.json and model.safetensors, served beside the page), then window.strideVis.render draws
 * the pictures of one image on canvases with putImageData and returns what the canvases hold.
 */
import { convnetFromBytes, convnetPictures, type ConvnetInfo } from './pictures.js';

interface CanvasPixels {
  width: number;
  height: number;
  data: number[];
}

declare global {
  interface Window {
    strideResult?: Record<string, unknown>;
    strideVis?: { render(image: number[]): Record<string, CanvasPixels> };
  }
}

/** Draws RGBA pixels on a new canvas and reads them back from it. */
function draw(name: string, picture: { data: Uint8ClampedArray; width: number; height: number }): CanvasPixels {
  const canvas = document.createElement('canvas');
  canvas.title = name;
  [canvas.width, canvas.height] = [picture.width, picture.height];
  const context = canvas.getContext('2d')!;
  context.putImageData(new ImageData(new Uint8ClampedArray(picture.data), picture.width, picture.height), 0, 0);
  document.getElementById('pictures')!.append(canvas);
  const back = context.getImageData(0, 0, picture.width, picture.height);
  return { width: back.width, height: back.height, data: Array.from(back.data) };
}

async function main(): Promise<void> {
  const info = (await (await fetch('model.json')).json()) as ConvnetInfo;
  const model = convnetFromBytes(info, new Uint8Array(await (await fetch('model.safetensors')).arrayBuffer()));
  window.strideVis = {
    render(image) {
      const pictures = convnetPictures(model, info, image);
      return Object.fromEntries(Object.entries(pictures).map(([name, p]) => [name, draw(name, p)]));
    },
  };
  window.strideResult = { ready: true };
  document.getElementById('log')!.textContent = 'ready';
}

main().catch((e: unknown) => {
  window.strideResult = { error: String((e as Error).stack ?? e) };
  document.getElementById('log')!.textContent = String(e);
});
