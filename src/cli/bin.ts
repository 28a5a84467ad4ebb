#!/usr/bin/env node
import { main } from './main.js';

// A reader that stops early (`stride models | head -1`) closes the pipe: stop quietly, as Unix
// tools do, instead of dying on the unhandled EPIPE with a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code !== 'EPIPE') throw e;
  process.exit(0);
});

process.exitCode = await main(process.argv.slice(2));
