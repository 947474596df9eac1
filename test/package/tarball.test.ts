/**
 * The published package: packs the repository as `npm publish` would (from the current dist/, which
 * `npm run build` makes), installs the tarball into an empty project without the network (its dependencies
 * come from the local npm cache, pinned to the repository's lockfile versions), and uses it as a consumer:
 * the command, a Node ESM program on every subpath, a strict TypeScript type check against the published
 * declarations, and a browser bundle. Prints one `package sizes:` line.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JPEG_TURBO_WASM_BASE64 } from '../../src/io/jpeg_wasm.js';
import { BROWSER_MJS, CONSUMER_MJS, CONSUMER_TS, CONSUMER_TSCONFIG, SAMPLE } from './consumers.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
};
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const NPX = process.platform === 'win32' ? 'npx.cmd' : 'npx';

/** The environment without what an enclosing `npm test` sets for the repository (its prefix, package, script). */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    const key = k.toLowerCase();
    if (key.startsWith('npm_package_') || key.startsWith('npm_lifecycle_') || key === 'npm_config_local_prefix' || key === 'npm_command' || key === 'npm_config_call') continue;
    env[k] = v;
  }
  return env;
}

interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string, opts: SpawnSyncOptions = {}): RunResult {
  const r = spawnSync(cmd, args, { cwd, env: childEnv(), encoding: 'utf8', timeout: 300_000, maxBuffer: 64 << 20, ...opts });
  if (r.error) throw r.error;
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Runs a command that must succeed; a failure shows its output. */
function ok(cmd: string, args: string[], cwd: string, opts: SpawnSyncOptions = {}): RunResult {
  const r = run(cmd, args, cwd, opts);
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited with ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  }
  return r;
}

/**
 * The package-lock.json of a project that depends on nothing yet, holding the package's dependency closure
 * exactly as the repository's lockfile pins it: `npm install --offline <tgz>` then takes them from the npm
 * cache (which `npm ci` filled) without asking the registry which versions exist.
 */
function seedLockfile(name: string): object {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }>;
  };
  const packages: Record<string, object> = { '': { name, version: '1.0.0' } };
  const todo = Object.keys(PKG.dependencies);
  while (todo.length > 0) {
    const dep = todo.pop()!;
    const key = `node_modules/${dep}`;
    if (key in packages) continue;
    const entry = lock.packages[key];
    if (!entry) throw new Error(`package-lock.json has no top-level ${key}`);
    packages[key] = { ...entry, extraneous: true };
    todo.push(...Object.keys(entry.dependencies ?? {}), ...Object.keys(entry.optionalDependencies ?? {}).filter((d) => lock.packages[`node_modules/${d}`]));
  }
  return { name, version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

const kB = (n: number) => `${(n / 1024).toFixed(1)} kB`;
const MB = (n: number) => `${(n / (1024 * 1024)).toFixed(2)} MB`;

describe('published package', () => {
  let tmp = '';
  let project = '';
  let tarball = '';
  let entries: string[] = [];
  const sizes: Record<string, string> = {};

  beforeAll(() => {
    const missing = ['dist/cli.js', 'dist/node/node.js', 'dist/browser/index.js', 'dist/types/src/index.d.ts'].filter((f) => !existsSync(join(ROOT, f)));
    if (missing.length > 0) throw new Error(`${missing.join(', ')} missing: run \`npm run build\` before this test (it packs the built dist/)`);
    tmp = mkdtempSync(join(tmpdir(), 'sam2-webgpu-package-'));

    // Pack as `npm publish` would, without prepack's build (dist/ is current).
    const pack = ok(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT);
    const info = (JSON.parse(pack.stdout) as { filename: string; size: number; unpackedSize: number; entryCount: number }[])[0];
    tarball = join(tmp, basename(info.filename));
    expect(existsSync(tarball)).toBe(true);
    const packed = statSync(tarball).size;
    sizes.tarball = `${MB(packed)} (${packed} B)`;
    sizes.unpacked = `${MB(info.unpackedSize)} (${info.unpackedSize} B, ${info.entryCount} files)`;
    entries = ok('tar', ['-tzf', tarball], tmp)
      .stdout.split('\n')
      .filter(Boolean)
      .map((e) => e.replace(/^package\//, ''));

    // An empty ESM project that installs the tarball.
    project = join(tmp, 'consumer');
    mkdirSync(project);
    ok(NPM, ['init', '-y'], project);
    const pkgPath = join(project, 'package.json');
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { name: string; type?: string };
    pkg.type = 'module';
    writeFileSync(pkgPath, JSON.stringify(pkg, null, 2));
    writeFileSync(join(project, 'package-lock.json'), JSON.stringify(seedLockfile(pkg.name), null, 2));
    ok(NPM, ['install', '--offline', '--no-audit', '--no-fund', tarball], project);
    expect(existsSync(join(project, 'node_modules/sam2-webgpu/package.json'))).toBe(true);
    for (const dep of Object.keys(PKG.dependencies)) expect(existsSync(join(project, 'node_modules', dep, 'package.json'))).toBe(true);
  });

  afterAll(() => {
    if (Object.keys(sizes).length > 0) console.log(`package sizes: ${Object.entries(sizes).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('holds the bundles, declarations, command, sample and license, and no sources or tooling', () => {
    for (const f of [
      'package.json',
      'README.md',
      'LICENSE',
      'bin/sam2-webgpu.mjs',
      'dist/cli.js',
      'dist/node/node.js',
      'dist/node/kernels.js',
      'dist/node/model.js',
      'dist/browser/index.js',
      'dist/browser/kernels.js',
      'dist/browser/model.js',
      'dist/types/src/index.d.ts',
      'dist/types/src/node.d.ts',
      'dist/types/src/kernels/index.d.ts',
      'dist/types/src/model/index.d.ts',
      'samples/bedroom.mp4',
    ]) {
      expect(entries, f).toContain(f);
    }
    const unwanted = entries.filter(
      (e) =>
        /^(src|test|tools|bench|scripts|web|wgsl|weights|node_modules)\//.test(e) ||
        /^dist\/(web|types\/(test|bench|scripts))\//.test(e) ||
        (/\.(ts|mts|cts)$/.test(e) && !/\.d\.ts$/.test(e)) ||
        /\.(safetensors|pt|onnx|node)$/.test(e),
    );
    expect(unwanted).toEqual([]);
    // Every chunk an entry imports is in the tarball, next to the entries.
    for (const dir of ['dist/node', 'dist/browser']) {
      for (const e of entries.filter((f) => f.startsWith(`${dir}/`) && f.endsWith('.js'))) {
        const code = readFileSync(join(project, 'node_modules/sam2-webgpu', e), 'utf8');
        for (const m of code.matchAll(/(?:from\s*|import\s*\(\s*|import\s*)["'](\.[^"']+)["']/g)) {
          expect(entries, `${e} imports ${m[1]}`).toContain(join(dir, m[1]).replace(/\\/g, '/'));
        }
      }
    }
  });

  it('runs the command: --version and a short synthetic-weights track job', () => {
    const version = ok(NPX, ['--no-install', 'sam2-webgpu', '--version'], project);
    expect(version.stdout.trim()).toContain(PKG.version);

    const maxFrames = 3;
    ok(
      NPX,
      ['--no-install', 'sam2-webgpu', 'track', SAMPLE, '--point', '105,175', '--weights', 'synthetic', '--image-size', '256', '--max-frames', String(maxFrames), '--out', 'o.mp4', '--masks', 'm', '--json', 'o.json'],
      project,
    );
    expect(statSync(join(project, 'o.mp4')).size).toBeGreaterThan(0);
    const summary = JSON.parse(readFileSync(join(project, 'o.json'), 'utf8')) as { syntheticWeights: boolean; frames: number; trackedFrames: number; imageSize: number };
    expect(summary.syntheticWeights).toBe(true);
    expect(summary.imageSize).toBe(256);
    // --max-frames counts the frames tracked after the prompted one.
    expect(summary.trackedFrames).toBe(maxFrames + 1);
    // One palette PNG per frame of the clip (frames not tracked have no object).
    const pngs = readdirSync(join(project, 'm')).filter((f) => /^\d{5}\.png$/.test(f));
    expect(pngs.length).toBe(summary.frames);
    for (const f of pngs.slice(0, maxFrames + 1)) {
      expect(readFileSync(join(project, 'm', f)).subarray(1, 4).toString('latin1')).toBe('PNG');
    }
  });

  it('serves a Node ESM consumer on every subpath, with one module graph', () => {
    writeFileSync(join(project, 'consumer.mjs'), CONSUMER_MJS);
    const jpeg = 'test/fixtures/decode/ffmpeg_420_97x61.jpg';
    writeFileSync(join(project, 'frame.jpg'), readFileSync(join(ROOT, jpeg)));
    const r = ok(process.execPath, ['consumer.mjs'], project);
    const line = r.stdout.trim().split('\n').pop()!;
    const out = JSON.parse(line) as {
      kernelAdd: number[];
      image: { masks: number[] };
      video: { frameIdx: number; objIds: number[]; maskPixels: number; width: number; height: number; syntheticWeights: boolean };
      jpeg: { width: number; height: number; sha256: string };
    };
    // The packed package finds its JPEG decoder and decodes as PIL does (test/fixtures/decode/pil_decode.json).
    const pil = (JSON.parse(readFileSync(join(ROOT, 'test/fixtures/decode/pil_decode.json'), 'utf8')) as { images: { path: string; width: number; height: number; sha256: string }[] }).images.find((e) => e.path === jpeg)!;
    expect(out.jpeg).toEqual({ width: pil.width, height: pil.height, sha256: pil.sha256 });
    expect(out.kernelAdd).toEqual([11, 22, 13, 24]);
    expect(out.image.masks).toEqual([3, 48, 64]);
    expect(out.video.frameIdx).toBe(0);
    expect(out.video.objIds).toEqual([1]);
    expect(out.video.maskPixels).toBe(out.video.width * out.video.height);
    expect(out.video.syntheticWeights).toBe(true);
  });

  it('type-checks a strict TypeScript consumer under nodenext, declarations included', () => {
    writeFileSync(join(project, 'consumer.ts'), CONSUMER_TS);
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(CONSUMER_TSCONFIG, null, 2));
    const r = run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project], project);
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.status).toBe(0);
  });

  it('bundles for browsers without Node built-ins or the native driver', async () => {
    writeFileSync(join(project, 'browser.mjs'), BROWSER_MJS);
    const outdir = join(project, 'browser-dist');
    const result = await build({
      absWorkingDir: project,
      entryPoints: [join(project, 'browser.mjs')],
      outdir,
      platform: 'browser',
      bundle: true,
      format: 'esm',
      minify: true,
      splitting: true,
      metafile: true,
      write: true,
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    const meta: Metafile = result.metafile;
    const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    const inputs = Object.keys(meta.inputs);
    expect(inputs.filter((p) => p.startsWith('node:') || builtins.has(p))).toEqual([]);
    expect(inputs.filter((p) => p.includes('node_modules/webgpu/') || p.endsWith('.node'))).toEqual([]);
    expect(inputs.some((p) => p.includes('node_modules/sam2-webgpu/dist/browser/'))).toBe(true);
    const outputs = Object.entries(meta.outputs);
    expect(outputs.flatMap(([, o]) => o.imports.filter((i) => i.external).map((i) => i.path))).toEqual([]);
    expect(outputs.filter(([p]) => p.endsWith('.node'))).toEqual([]);

    const wasmStart = JPEG_TURBO_WASM_BASE64.trim().split('\n')[0];
    let wasmChunks = 0;
    let entryMin = 0;
    let entryGz = 0;
    let totalMin = 0;
    let totalGz = 0;
    for (const [p, o] of outputs) {
      if (!p.endsWith('.js')) continue;
      const bytes = readFileSync(join(project, p));
      const gz = gzipSync(bytes).length;
      totalMin += bytes.length;
      totalGz += gz;
      // Chunks of dynamic import()s have an entryPoint too (their module); the page loads only this one up front.
      if (o.entryPoint === 'browser.mjs') {
        entryMin += bytes.length;
        entryGz += gz;
        // The weight manifests (JSON of every official state dict) and the synthetic-weights generator are
        // fetched only when used: they are not in the chunk a page loads up front.
        const text = bytes.toString('utf8');
        expect(text).not.toContain('sam2.modeling.backbones.image_encoder.ImageEncoder');
        expect(text).not.toContain('sam_prompt_encoder\\.pe_layer');
        // Nor is the JPEG decoder's WebAssembly module (embedded as base64, imported on the first decode).
        expect(text).not.toContain(wasmStart);
      } else if (bytes.includes(wasmStart)) {
        wasmChunks++;
      }
    }
    expect(entryMin).toBeGreaterThan(0);
    expect(wasmChunks).toBe(1);
    sizes['browser entry'] = `${kB(entryMin)} min / ${kB(entryGz)} gzip`;
    sizes['browser all chunks (lazy ones included)'] = `${kB(totalMin)} min / ${kB(totalGz)} gzip (${outputs.filter(([p]) => p.endsWith('.js')).length} files)`;
  });
});
