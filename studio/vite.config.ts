/**
 * The studio's build (`npm run build:studio`, i.e. `vite build studio`, into studio/dist). The
 * bundled Fashion-MNIST subset is served from data/fashion-mnist-subset in development and copied
 * into the build as fashion-mnist/*, with fashion-mnist/dataset.json (class names, mean, std)
 * taken from the library's own dataset table, so the files are not duplicated in git.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Connect, Plugin, UserConfig } from 'vite';
// loadDataset makes tensors: it needs a backend.
import '../src/backend/reference/index.js';
import { ISOLATION_HEADERS } from '../src/cli/serve.js';
import { BUNDLED_SUBSET, loadDataset } from '../src/io/datasets.js';

const PREFIX = 'fashion-mnist/';
const FILES = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'];

/** What the page needs to know of the dataset besides its pixels (the CLI writes the same into model.json). */
async function datasetJson(): Promise<string> {
  const d = await loadDataset('fashion-mnist', { dir: BUNDLED_SUBSET });
  return JSON.stringify({ name: d.name, classes: d.classes, mean: d.mean, std: d.std });
}

function bundledSubset(): Plugin {
  return {
    name: 'stride-fashion-mnist-subset',
    configureServer(server) {
      const serve: Connect.NextHandleFunction = (req, res, next) => {
        const name = req.url?.split('?')[0]?.replace(/^\//, '') ?? '';
        if (name === 'dataset.json') {
          void datasetJson().then((json) => res.setHeader('Content-Type', 'application/json').end(json), next);
        } else if (FILES.includes(name)) {
          res.setHeader('Content-Type', 'application/gzip').end(readFileSync(join(BUNDLED_SUBSET, name)));
        } else next();
      };
      server.middlewares.use(`/${PREFIX}`, serve);
    },
    async generateBundle() {
      this.emitFile({ type: 'asset', fileName: `${PREFIX}dataset.json`, source: await datasetJson() });
      for (const f of FILES) this.emitFile({ type: 'asset', fileName: PREFIX + f, source: readFileSync(join(BUNDLED_SUBSET, f)) });
    },
  };
}

export default {
  // Relative URLs: the build can be served from any path or opened from a static host.
  base: './',
  plugins: [bundledSubset()],
  // The wasm backend loads with a top-level await, in the page's worker too.
  // Not minified: the layer table names layers by their class names.
  build: { target: 'esnext', outDir: 'dist', emptyOutDir: true, minify: false },
  worker: { format: 'es' },
  // Without cross-origin isolation the backend runs on one thread.
  server: { headers: ISOLATION_HEADERS },
  preview: { headers: ISOLATION_HEADERS },
} satisfies UserConfig;
