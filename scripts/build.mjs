// Build: embed WGSL, type-check, and bundle the engine for Node and browsers with esbuild.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { embedWgsl } from './embed-wgsl.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
embedWgsl(root);
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', root, '--noEmit'], { stdio: 'inherit' });

const entry = join(root, 'src/index.ts');
if (existsSync(entry)) {
  // Node: dependencies stay external (npm `webgpu` is a native module).
  await build({
    entryPoints: [entry],
    outfile: join(root, 'dist/node/index.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: true,
    logLevel: 'warning',
  });
  // Browser: Node-only modules are never reached there (device.ts imports them dynamically on Node only).
  await build({
    entryPoints: [entry],
    outfile: join(root, 'dist/browser/index.js'),
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    external: ['webgpu', 'node:*'],
    sourcemap: true,
    logLevel: 'warning',
  });
}
console.log('build ok');
