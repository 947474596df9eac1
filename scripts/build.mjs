// Build: embed WGSL, type-check and write type declarations (dist/types), bundle the engine for Node and
// browsers with esbuild, and build the web page (dist/web).
//
// The Node and browser bundles each have one entry per package subpath (package.json "exports": '.',
// './kernels', './model'), built together with code splitting: modules shared by the entries land once in
// a shared chunk next to them, so every subpath sees the same classes (a Tensor from 'sam2-webgpu' is a
// Tensor to 'sam2-webgpu/kernels'), and dynamic import()s become chunks loaded on first use.
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { embedWgsl } from './embed-wgsl.mjs';
import { browserBundle } from './node_only_stub.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
embedWgsl(root);
const tsc = join(root, 'node_modules/typescript/bin/tsc');
// One pass type-checks and emits the declarations (tsconfig.json: declaration, outDir dist/types); the old
// declarations go first, so a removed source leaves none behind.
rmSync(join(root, 'dist/types'), { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', root, '--emitDeclarationOnly'], { stdio: 'inherit' });
if (existsSync(join(root, 'web/tsconfig.json'))) execFileSync(process.execPath, [tsc, '-p', join(root, 'web'), '--noEmit'], { stdio: 'inherit' });

const entry = join(root, 'src/index.ts');
// Node bundles: dependencies stay external (npm `webgpu` is a native module).
const nodeBundle = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
};
if (existsSync(entry)) {
  const subpaths = {
    kernels: join(root, 'src/kernels/index.ts'),
    model: join(root, 'src/model/index.ts'),
  };
  rmSync(join(root, 'dist/node'), { recursive: true, force: true });
  await build({
    ...nodeBundle,
    entryPoints: { node: join(root, 'src/node.ts'), ...subpaths },
    outdir: join(root, 'dist/node'),
    splitting: true,
  });
  // Browser: Node-only modules become stubs (scripts/node_only_stub.mjs).
  rmSync(join(root, 'dist/browser'), { recursive: true, force: true });
  await build({ ...browserBundle, entryPoints: { index: entry, ...subpaths }, outdir: join(root, 'dist/browser'), splitting: true, sourcemap: true });
}
// The command-line tool (Node): one file, which bin/sam2-webgpu.mjs loads.
await build({ ...nodeBundle, entryPoints: [join(root, 'src/cli.ts')], outfile: join(root, 'dist/cli.js') });
// The web page (web/ → dist/web).
if (existsSync(join(root, 'web/main.ts'))) {
  const { buildWeb } = await import('./web.mjs');
  await buildWeb(root);
}
console.log('build ok');
