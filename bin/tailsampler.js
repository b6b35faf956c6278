#!/usr/bin/env node
// Runs the TypeScript sources directly (Node 24 strips types). Node 24 ships in node_modules
// (node-linux-<arch> from npm), and npm scripts / npx put it first on PATH.
import { enableCompileCache } from 'node:module';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `tailsampler needs Node 24 or later (this is ${process.version}). Run it through npm, which uses the Node 24 ` +
      'installed in node_modules: `npm start`, or `npx tailsampler ...`.\n',
  );
  process.exit(1);
}

// `start` runs under memory settings that keep RSS near the live set, applied by re-executing this same
// process (same pid) once. The service churns through short-lived buffers (decoded batches, Parquet
// pages): with glibc's defaults freed native memory stays in per-thread arenas, and V8 keeps heap pages
// up to its high-water mark, which its default growth lets run far above the live heap.
// --heap-growing-percent=35 grows the old space in small steps and a 4 MiB semi-space bounds the young
// generation, which holds RSS near the live set without --optimize-for-size, whose less optimized code
// cost 1.4x the CPU per span (README, Benchmarks). TAILSAMPLER_NODE_FLAGS replaces the V8 flags ('' for
// none); MALLOC_* variables already set win.
const TUNED = 'TAILSAMPLER_MEMORY_TUNED';
if (process.argv[2] === 'start' && process.platform === 'linux' && !process.env[TUNED] && typeof process.execve === 'function') {
  const flags = (process.env.TAILSAMPLER_NODE_FLAGS ?? '--max-semi-space-size=4 --heap-growing-percent=35').split(' ').filter(Boolean);
  const env = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '65536', ...process.env, [TUNED]: '1' };
  process.execve(process.execPath, [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)], env);
}
// Node's compile cache keeps the stripped JavaScript and V8's code cache of every module (in
// $NODE_COMPILE_CACHE, else <tmpdir>/node-compile-cache; keyed by content, so edits are never stale):
// a start that finds it never loads the type stripper, ~8 MiB less RSS for the life of the process
// and ~0.3 s less CPU at start (README, Benchmarks). `start` writes it once the service is up.
enableCompileCache();
await import('../src/cli/main.ts');
