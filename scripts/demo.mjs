#!/usr/bin/env node
// `npm run demo [-- --out-dir DIR] [track options]`: tracks the child in samples/bedroom.mp4 and writes
// out/demo.mp4 (overlay), out/demo-masks/ (palette PNGs) and out/demo.json.
//
// First it makes sure the machine can: ffmpeg and ffprobe on PATH, and a WebGPU adapter (a GPU's Vulkan
// driver, or a software one). What is missing is installed when that is possible without asking (root, or
// passwordless sudo, and apt-get): ffmpeg alone with apt-get, a software Vulkan driver (and ffmpeg) with
// scripts/setup-webgpu.sh --no-chromium. Otherwise it stops with the one command to run.
// SAM2_WEBGPU_NO_INSTALL=1: never install, only say what to run.
//
// Track options after `--` are passed on and replace the demo's own (e.g. --image-size 512, --point X,Y).
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { embedWgsl } from './embed-wgsl.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SETUP = 'bash scripts/setup-webgpu.sh --no-chromium';

const fail = (line) => {
  console.error(`demo: ${line}`);
  process.exit(1);
};

const executable = (file) => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};
const onPath = (cmd) => (process.env.PATH ?? '').split(delimiter).some((d) => executable(join(d || '.', cmd)));
/** A tool as the engine runs it: its name on PATH, or the path in SAM2_FFMPEG / SAM2_FFPROBE. */
const found = (cmd) => (cmd.includes('/') ? executable(cmd) : onPath(cmd));
const hasFfmpeg = () => found(process.env.SAM2_FFMPEG || 'ffmpeg') && found(process.env.SAM2_FFPROBE || 'ffprobe');

const isRoot = process.getuid?.() === 0;
const canInstall =
  process.env.SAM2_WEBGPU_NO_INSTALL !== '1' &&
  onPath('apt-get') &&
  (isRoot || (onPath('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0));
/** A command as the user should type it. */
const asUser = (cmd) => (isRoot ? cmd : `sudo ${cmd}`);

/** Runs a command as root (directly or through passwordless sudo); true when it succeeded. */
function asRoot(cmd) {
  const [exe, ...args] = [...(isRoot ? [] : ['sudo', '-n']), 'env', 'DEBIAN_FRONTEND=noninteractive', ...cmd];
  return spawnSync(exe, args, { cwd: root, stdio: 'inherit' }).status === 0;
}

/** The engine's own adapter search (src/runtime/device.ts), in a child process: "adapter (driver)", or null. */
function probeAdapter() {
  const device = pathToFileURL(join(root, 'src', 'runtime', 'device.ts')).href;
  const code = `
    const { acquireDevice } = await import(${JSON.stringify(device)});
    try {
      const { device, info } = await acquireDevice();
      console.log(info.adapter + ' (' + info.backend + ')');
      device.destroy();
      process.exit(0);
    } catch (e) {
      console.error(e.message);
      process.exit(e.name === 'NoAdapterError' ? 3 : 1);
    }`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: root, encoding: 'utf8' });
  if (r.status === 0) return r.stdout.trim();
  if (r.status === 3) return null;
  if (/Cannot find package 'tsx'/.test(r.stderr)) fail('the dev dependencies are missing; run `npm ci` first');
  const why = `${r.stderr}`.split('\n').find((l) => /Error/.test(l)) ?? `exit ${r.status ?? r.signal}`;
  fail(`looking for a WebGPU adapter failed: ${why.trim()}`);
}

// ---------------------------------------------------------------- what the machine lacks
let adapter = probeAdapter();
if (!hasFfmpeg() || !adapter) {
  if (!canInstall) {
    if (adapter) fail(`ffmpeg is missing; install it with: ${asUser('apt-get install -y ffmpeg')}`);
    const what = hasFfmpeg() ? 'no WebGPU adapter was found; install a software Vulkan driver' : 'ffmpeg and a WebGPU adapter are missing; install both';
    fail(`${what} with: ${asUser(SETUP)}`);
  }
  if (!adapter) {
    console.log(`demo: no WebGPU adapter was found; installing a software Vulkan driver${hasFfmpeg() ? '' : ' and ffmpeg'}: ${SETUP}`);
    if (!asRoot(SETUP.split(' '))) fail(`${SETUP} failed (see above)`);
    adapter = probeAdapter();
    if (!adapter) fail(`still no WebGPU adapter after ${SETUP}; install your GPU's Vulkan driver, or see README.md`);
  }
  if (!hasFfmpeg()) {
    console.log('demo: ffmpeg is missing; installing it: apt-get install -y ffmpeg');
    const install = ['apt-get', 'install', '-y', '-q', '--no-install-recommends', 'ffmpeg'];
    // A fresh machine may have no package index yet.
    if (!asRoot(install) && !(asRoot(['apt-get', 'update', '-q']) && asRoot(install))) fail('apt-get install -y ffmpeg failed (see above)');
    if (!hasFfmpeg()) fail('ffmpeg is still missing after apt-get install -y ffmpeg');
  }
}
console.log(`demo: WebGPU adapter: ${adapter}`);

// ---------------------------------------------------------------- the track command
embedWgsl(root);

const argv = process.argv.slice(2);
let outDir = 'out';
const i = argv.indexOf('--out-dir');
if (i >= 0) {
  if (!argv[i + 1]) fail('--out-dir needs a folder');
  outDir = argv.splice(i, 2)[1];
}
// Relative to the repository (where the command runs) when inside it, so that the printed paths stay short.
const rel = relative(root, resolve(outDir));
const out = rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : resolve(outDir);

const given = (...names) => argv.some((a) => names.some((n) => a === n || a.startsWith(`${n}=`)));
const defaults = [
  ['--point', '105,175', ['--point', '--box', '--obj', '--frame']],
  ['--image-size', '256'],
  ['--max-frames', '11'],
  ['--out', join(out, 'demo.mp4')],
  ['--masks', join(out, 'demo-masks')],
  ['--json', join(out, 'demo.json')],
];
const args = ['track', 'samples/bedroom.mp4'];
for (const [name, value, replacedBy = [name]] of defaults) if (!given(...replacedBy)) args.push(name, value);
args.push('--overwrite');
// The CLI's default weights (src/io/weights_files.ts): the model's file in weights/ or $SAM2_WEBGPU_WEIGHTS.
const weightsDir = resolve(root, process.env.SAM2_WEBGPU_WEIGHTS || 'weights');
const realWeights = ['sam2.1_hiera_tiny.safetensors', 'sam2.1_hiera_tiny.f16.safetensors'].some((f) => existsSync(join(weightsDir, f)));
if (!given('--weights', '--model', '--v2.0') && !realWeights) {
  console.log('demo: the demo runs on synthetic weights, so the masks are meaningless; get the real ones with `npx sam2-webgpu weights tiny`');
  args.push('--weights', 'synthetic');
}
args.push(...argv);

console.log(`demo: sam2-webgpu ${args.join(' ')}`);
const child = spawn(process.execPath, [join(root, 'bin', 'sam2-webgpu.mjs'), ...args], { cwd: root, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (child.exitCode === null) child.kill(signal);
  });
}
child.on('close', (code, signal) => {
  process.exitCode = code ?? { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 }[signal] ?? 1;
});
