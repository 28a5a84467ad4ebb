/**
 * `stride studio`: serves the studio (the web app in studio/, built by `npm run build:studio`
 * into studio/dist) on 127.0.0.1 with the cross-origin isolation headers the wasm backend's
 * threads need, and opens it in a browser. A build that is missing or older than its sources is
 * made first when Vite is installed (a development checkout).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { StrideError } from '../tensor/errors.js';
import { int } from './options.js';
import { serveStatic } from './serve.js';

export const STUDIO_DIR = fileURLToPath(new URL('../../studio/', import.meta.url));

/** The newest modification time among the studio's sources (page, code, styles, build config) and the library's it bundles. */
function newestSource(dir: string): number {
  const walk = (path: string): number => statSync(path).isDirectory()
    ? Math.max(0, ...readdirSync(path).map((f) => walk(join(path, f))))
    : statSync(path).mtimeMs;
  return Math.max(...['index.html', 'vite.config.ts', 'src', '../src'].map((f) => join(dir, f)).filter(existsSync).map(walk));
}

/** The directory of the built studio, building it first when it is missing or stale and Vite is there. */
export async function studioBuild(log: (line: string) => void, dir = STUDIO_DIR): Promise<string> {
  const dist = join(dir, 'dist');
  const index = join(dist, 'index.html');
  const built = existsSync(index);
  const hasSources = existsSync(join(dir, 'index.html'));
  if (built && (!hasSources || statSync(index).mtimeMs >= newestSource(dir))) return dist;
  if (!hasSources) throw new StrideError(`the studio is not in this installation (no ${index}); run stride studio from a checkout of stride, after npm run build:studio`);
  let vite: typeof import('vite');
  try {
    vite = await import('vite');
  } catch {
    if (built) return dist;
    throw new StrideError(`the studio is not built (no ${index}) and Vite is not installed to build it: run npm install, then npm run build:studio`);
  }
  log(`${built ? 'rebuilding the studio (its sources changed)' : 'building the studio'} into ${dist}`);
  await vite.build({ root: dir, logLevel: 'warn' });
  return dist;
}

/** Opens `url` in the desktop's browser; says where to go when none can be started. */
function openBrowser(url: string, log: (line: string) => void): void {
  const [cmd, args] = process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '', url]] : ['xdg-open', [url]];
  const child = spawn(cmd as string, args as string[], { detached: true, stdio: 'ignore' });
  child.on('error', () => log(`could not start a browser (${cmd}); open ${url} yourself`));
  child.unref();
}

export function addStudioCommand(cli: Command): void {
  cli
    .command('studio')
    .description('the studio in your browser: train models on the wasm backend and watch their curves, activations and filters; draw and see predictions')
    .option('--port <n>', 'port to listen on (0: any free one)', int('port', 0), 8377)
    .option('--no-open', 'do not open a browser')
    .action(async (o: { port: number; open: boolean }) => {
      const root = await studioBuild((l) => console.log(l));
      const server = await serveStatic(root, o.port).catch((e: NodeJS.ErrnoException) => {
        throw new StrideError(e.code === 'EADDRINUSE' ? `port ${o.port} is in use; choose another with --port (0: any free one)` : e.message);
      });
      console.log(`stride studio: ${server.url} (Ctrl-C to stop)`);
      if (o.open) openBrowser(server.url, (l) => console.log(l));
      // Serve until interrupted, then close the connections and return normally.
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
      await server.close();
    });
}
