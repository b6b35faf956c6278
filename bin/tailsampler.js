#!/usr/bin/env node
// Runs the TypeScript sources directly (Node 24 strips types). Node 24 ships in node_modules
// (node-linux-<arch> from npm), and npm scripts / npx put it first on PATH.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `tailsampler needs Node 24 or later (this is ${process.version}). Run it through npm, which uses the Node 24 ` +
      'installed in node_modules: `npm start`, or `npx tailsampler ...`.\n',
  );
  process.exit(1);
}

// Memory settings that keep RSS near the live set, applied by re-executing this same process (same pid)
// once. The service churns through many short-lived buffers (decoded batches, Parquet pages): with
// glibc's defaults freed native memory stays mapped in per-thread arenas and a grown heap, and V8's
// default young generation holds tens of MB of garbage between scavenges. Variables already set by the
// user win; TAILSAMPLER_NO_MEMORY_TUNING=1 turns this off.
const TUNED = 'TAILSAMPLER_MEMORY_TUNED';
if (process.platform === 'linux' && !process.env[TUNED] && !process.env.TAILSAMPLER_NO_MEMORY_TUNING && typeof process.execve === 'function') {
  const env = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '65536', ...process.env, [TUNED]: '1' };
  process.execve(process.execPath, [process.execPath, '--max-semi-space-size=2', ...process.execArgv, ...process.argv.slice(1)], env);
}
await import('../src/cli/main.ts');
