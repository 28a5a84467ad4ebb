/**
 * Browser tests: Debian's Chromium (/usr/bin/chromium, installed by `make test` as root with
 * apt), driven headless by playwright-core, which downloads no browser. Pages are built with
 * Vite into a temporary folder and served by stride's own static server with the cross-origin
 * isolation headers. Without Chromium the tests are skipped with a NOTICE.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { build, type InlineConfig } from 'vite';
import { serveStatic, type StaticServer } from '../src/cli/serve.js';

/**
 * What the pages under test/browser leave on their window, typed for the Node side, whose
 * page.evaluate callbacks run in the page (their source is sent there: they can only name
 * globals, so they cast globalThis) but are compiled without the DOM's types.
 */
export interface PageGlobals {
  strideResult?: Record<string, unknown>;
  strideBench?: {
    prepare(id: 'w1_train' | 'w1_eval', p: { batch: number; lr?: number; momentum?: number }): void;
    steps(n: number): number;
    threads(n: number): void;
  };
}

export const CHROMIUM = process.env['STRIDE_CHROMIUM'] ?? '/usr/bin/chromium';

/** Why browser tests cannot run here, or false when they can (the form node:test's skip takes). */
export function browserSkip(file: string): string | false {
  if (existsSync(CHROMIUM)) return false;
  const reason = `Chromium is not installed at ${CHROMIUM} (apt-get install chromium)`;
  console.log(`NOTICE: ${reason}; skipping ${file}`);
  return reason;
}

/**
 * Headless Chromium with the flags this closed network needs (it would otherwise try Google's
 * hosts at every start); playwright gives each launch a fresh temporary profile.
 */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
  });
}

/** Builds the Vite app rooted at `root` into a temporary folder and serves it. */
export async function buildAndServe(root: string, config: InlineConfig = {}): Promise<StaticServer & { dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'stride-page-'));
  await build({ root, logLevel: 'warn', ...config, build: { outDir: dir, emptyOutDir: true, ...config.build } });
  const server = await serveStatic(dir);
  return {
    ...server,
    dir,
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
