#!/usr/bin/env node
// The `sam2-webgpu` command (package.json "bin"; `npx sam2-webgpu ...`).
//
// In a clone (src/cli.ts present and the dev dependency tsx installed) it runs the TypeScript sources
// directly through tsx's loader, so the command always matches the working tree and needs no build step
// (the shaders' embedded copy, src/generated/wgsl.ts, is brought up to date first: scripts/embed-wgsl.mjs).
// Otherwise (an installed package, or a clone without dev dependencies) it runs the bundled dist/cli.js.
//
// The command runs in a child process whose stderr passes through this one: the GPU driver (Dawn) prints
// warnings from native code straight to the process's stderr ("Warning: maxDynamic... artificially
// reduced"), which would break the one-line progress display; they are dropped here. Signals (Ctrl-C,
// SIGTERM, SIGHUP) reach the child, which removes its unfinished outputs and exits with 130 / 143 / 129.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'cli.ts');
const built = join(root, 'dist', 'cli.js');
const embedScript = join(root, 'scripts', 'embed-wgsl.mjs');

/** Native driver messages that are not the user's business (printed once per GPU adapter). */
const DRIVER_NOISE = /^Warning: maxDynamic\w+ artificially reduced from \d+ to \d+/;

async function loadCli() {
  if (existsSync(source)) {
    try {
      const { register } = await import('tsx/esm/api');
      register();
      if (existsSync(embedScript)) (await import(pathToFileURL(embedScript).href)).embedWgsl(root);
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

/** Runs this script again as a child and passes its stderr through, without the driver's noise. */
function supervise() {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'pipe'],
    env: {
      ...process.env,
      SAM2_WEBGPU_CHILD: '1',
      SAM2_WEBGPU_TTY: process.stderr.isTTY ? '1' : '0',
      SAM2_WEBGPU_COLUMNS: String(process.stderr.columns ?? ''),
    },
  });
  // Lines are held back only while they could still turn out to be noise; anything else passes at once,
  // so progress rewritten with \r appears as it is written.
  let held = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    const text = held + chunk;
    held = '';
    let out = '';
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      const line = text.slice(start, nl);
      if (!DRIVER_NOISE.test(line)) out += `${line}\n`;
      start = nl + 1;
    }
    const rest = text.slice(start);
    if ('Warning: '.startsWith(rest) || rest.startsWith('Warning: ')) held = rest;
    else out += rest;
    if (out) process.stderr.write(out);
  });
  child.stderr.on('end', () => {
    if (held && !DRIVER_NOISE.test(held)) process.stderr.write(held);
  });
  // A terminal's Ctrl-C reaches both processes; a signal sent to this process alone is passed on. The child
  // treats repeats within a moment as one.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      if (child.exitCode === null) child.kill(signal);
    });
  }
  child.on('close', (code, signal) => {
    const codes = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };
    process.exitCode = code ?? codes[signal] ?? 1;
  });
}

if (process.env.SAM2_WEBGPU_CHILD === '1') {
  const cli = await loadCli();
  process.exitCode = await cli.main(process.argv.slice(2));
} else {
  supervise();
}
