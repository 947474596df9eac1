// Bundles the device kit's programs with esbuild into one folder (code splitting: the engine once, in shared
// chunks): checks.mjs (the kernel and module test files through bench/gpu/vitest_shim.ts), device.mjs (info,
// kernels, model, report) and peers.mjs (bench/peers/node.ts: our engine against onnxruntime-node). npm
// `webgpu` and onnxruntime-node stay external: the kit carries them in node_modules beside the folder.
//
//   node bench/gpu/build.mjs OUTDIR
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { embedWgsl } from '../../scripts/embed-wgsl.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const outdir = resolve(process.argv[2] ?? '');
if (!process.argv[2]) {
  console.error('usage: node bench/gpu/build.mjs OUTDIR');
  process.exit(2);
}

embedWgsl(root);
rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });

/** 'vitest' → the shim, so that the test files run as they are without vitest. */
const vitestShim = {
  name: 'vitest-shim',
  setup(b) {
    b.onResolve({ filter: /^vitest$/ }, () => ({ path: join(here, 'vitest_shim.ts') }));
  },
};

await build({
  entryPoints: {
    checks: join(here, 'checks.ts'),
    device: join(here, 'device.ts'),
    peers: join(root, 'bench/peers/node.ts'),
  },
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['webgpu', 'onnxruntime-node'],
  plugins: [vitestShim],
  // Some bundled packages are CommonJS: give them require() in the ESM output.
  banner: { js: "import { createRequire as __kitRequire } from 'node:module'; const require = __kitRequire(import.meta.url);" },
  minifyWhitespace: true,
  logLevel: 'warning',
});
console.log(`bundled the kit's programs into ${outdir}`);
