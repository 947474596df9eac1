// Installs the peer benchmark's own dependencies (onnxruntime-node, onnxruntime-web: bench/peers/package.json)
// into bench/peers/node_modules, from bench/peers/package-lock.json. `npm run bench:peers` runs it first; it does
// nothing when that folder was already installed from the same lockfile.
//
// onnxruntime-node carries its CPU and WebGPU binaries in the package; its install script would only download
// CUDA extras from outside the npm registry, so it is skipped (ONNXRUNTIME_NODE_INSTALL=skip).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const lockfile = join(here, 'package-lock.json');
const stamp = join(here, 'node_modules', '.sam2-webgpu-lock-sha256');

const hash = createHash('sha256').update(readFileSync(lockfile)).digest('hex');
const installed = existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === hash;

if (!installed) {
  console.log('bench:peers: installing onnxruntime-node and onnxruntime-web into bench/peers/node_modules (npm ci)');
  // Under `npm run`, the npm that runs this script; otherwise the one on PATH.
  const execpath = process.env.npm_execpath ?? '';
  const npm = /npm-cli\.js$/.test(execpath) ? [process.execPath, execpath] : ['npm'];
  const r = spawnSync(npm[0], [...npm.slice(1), 'ci', '--no-audit', '--no-fund'], {
    cwd: here,
    stdio: 'inherit',
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
    shell: process.platform === 'win32' && npm.length === 1,
  });
  if (r.status !== 0) {
    const why = r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit ${r.status}`;
    console.error(`bench:peers: npm ci in bench/peers failed (${why}); run it there by hand to see why: cd bench/peers && ONNXRUNTIME_NODE_INSTALL=skip npm ci`);
    process.exit(1);
  }
  writeFileSync(stamp, `${hash}\n`);
}
