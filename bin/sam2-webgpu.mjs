#!/usr/bin/env node
// The `sam2-webgpu` command (package.json "bin"; `npx sam2-webgpu ...` in a clone, `npm run weights`).
//
// In a clone (src/cli.ts present and the dev dependency tsx installed) it runs the TypeScript sources
// directly through tsx's loader, so the command always matches the working tree and needs no build step.
// Otherwise (an installed package, or a clone without dev dependencies) it runs the bundled dist/cli.js.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'cli.ts');
const built = join(root, 'dist', 'cli.js');

async function loadCli() {
  if (existsSync(source)) {
    try {
      const { register } = await import('tsx/esm/api');
      register();
      return await import(pathToFileURL(source).href);
    } catch (e) {
      if (!existsSync(built)) {
        if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('tsx')) {
          console.error('sam2-webgpu: run `npm install` first (the command runs src/cli.ts through tsx).');
          process.exit(1);
        }
        throw e;
      }
    }
  }
  if (!existsSync(built)) {
    console.error(`sam2-webgpu: neither ${source} nor ${built} exists; run \`npm run build\`.`);
    process.exit(1);
  }
  return import(pathToFileURL(built).href);
}

const cli = await loadCli();
process.exitCode = await cli.main(process.argv.slice(2));
