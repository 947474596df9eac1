// Build: embed WGSL, type-check and write type declarations (dist/types), bundle the engine for Node and
// browsers with esbuild, and build the web page (dist/web).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { embedWgsl } from './embed-wgsl.mjs';
import { nodeOnlyStub } from './node_only_stub.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
embedWgsl(root);
const tsc = join(root, 'node_modules/typescript/bin/tsc');
// One pass type-checks and emits the declarations (tsconfig.json: declaration, outDir dist/types).
execFileSync(process.execPath, [tsc, '-p', root, '--emitDeclarationOnly'], { stdio: 'inherit' });
if (existsSync(join(root, 'web/tsconfig.json'))) execFileSync(process.execPath, [tsc, '-p', join(root, 'web'), '--noEmit'], { stdio: 'inherit' });

const entry = join(root, 'src/index.ts');
if (existsSync(entry)) {
  // Node: dependencies stay external (npm `webgpu` is a native module).
  await build({
    entryPoints: [join(root, 'src/node.ts')],
    outfile: join(root, 'dist/node/node.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: true,
    logLevel: 'warning',
  });
  // Browser: Node-only modules become stubs (scripts/node_only_stub.mjs).
  await build({
    plugins: [nodeOnlyStub],
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
// The command-line tool (Node).
await build({
  entryPoints: [join(root, 'src/cli.ts')],
  outfile: join(root, 'dist/cli.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
});
// The web page (web/ → dist/web).
if (existsSync(join(root, 'web/main.ts'))) {
  const { buildWeb } = await import('./web.mjs');
  await buildWeb(root);
}
console.log('build ok');
