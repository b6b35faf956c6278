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
await import('../src/cli/main.ts');
