/**
 * The browser peer benchmark: bundles bench/peers/page.ts (our engine from src/, with the Node-only modules
 * stubbed as scripts/build.mjs does), serves it with onnxruntime-web's files and the exported models from
 * a local 127.0.0.1 server (cross-origin isolated, so wasm gets threads), and runs it in headless Chromium:
 *
 *   tsx bench/peers/browser.ts [--quick] [--modules a,b] [--sizes 256,512] [--reps N] [--warmup N]
 *       [--runtimes ours,ortweb-webgpu,ortweb-wasm] [--chromium /usr/bin/chromium] [--out file.json]
 *
 * Headless Chromium's WebGPU adapter is SwiftShader (Vulkan, CPU); both runtimes share it. Modules as in
 * node.ts, the whole-frame cases frame1, frame3 included.
 */
import { createReadStream, existsSync, mkdirSync, mkdtempSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { formatTable, parseArgs, type CaseResult } from './common.js';
// @ts-expect-error plain ESM script without types
import { browserBundle } from '../../scripts/node_only_stub.mjs';
import type { PageOptions } from './page.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const MODELS_DIR = process.env.SAM2_PEERS_MODELS ?? join(here, 'models');
/** onnxruntime-web's files, from the benchmark's own install (bench/peers/install.mjs). */
const ORT_DIST = join(here, 'node_modules', 'onnxruntime-web', 'dist');

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.map': 'application/json',
};

async function bundle(outDir: string): Promise<void> {
  await build({ ...browserBundle, entryPoints: [join(here, 'page.ts')], outfile: join(outDir, 'page.js') });
  writeFileSync(join(outDir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>sam2-webgpu peers</title><script type="module" src="/page.js"></script>\n');
}

/** Serves `/` from dir, /ort/ from onnxruntime-web's dist, /models/ from the exported models; COOP / COEP on every response. */
function serve(dir: string): Promise<{ url: string; close(): void }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    let file: string;
    if (path.startsWith('/ort/')) file = join(ORT_DIST, normalize(path.slice(5)));
    else if (path.startsWith('/models/')) file = join(MODELS_DIR, normalize(path.slice(8)));
    else file = join(dir, path === '/' ? 'index.html' : normalize(path.slice(1)));
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    };
    if (file.includes('..') || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const a = server.address() as { port: number };
      resolve({ url: `http://127.0.0.1:${a.port}/`, close: () => server.close() });
    });
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv);
  const opts: PageOptions = {
    modules: args.modules,
    sizes: args.sizes,
    warmup: args.warmup,
    reps: args.reps,
    runtimes: (args.get('runtimes') ?? 'ours,ortweb-webgpu,ortweb-wasm').split(','),
  };
  if (!existsSync(join(ORT_DIST, 'ort.webgpu.min.mjs'))) {
    throw new Error(`peers: onnxruntime-web is not installed in ${ORT_DIST}; run: node bench/peers/install.mjs`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'sam2-peers-'));
  await bundle(dir);
  const server = await serve(dir);
  const browser = await chromium.launch({
    executablePath: args.get('chromium') ?? process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage();
    page.on('console', (m) => console.error(`  [page] ${m.text()}`));
    page.on('pageerror', (e) => console.error(`  [page error] ${e.message}`));
    const file = args.get('out') ?? join(root, 'bench', 'results', `peers-chromium-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    mkdirSync(dirname(file), { recursive: true });
    const save = (doc: object) => {
      writeFileSync(file + '.tmp', JSON.stringify(doc, null, 1));
      renameSync(file + '.tmp', file);
    };
    const partial: CaseResult[] = [];
    await page.exposeFunction('peerCaseDone', (r: CaseResult) => {
      partial.push(r);
      save({ date: new Date().toISOString(), target: 'chromium', partial: true, options: { warmup: args.warmup, reps: args.reps, quick: args.quick }, results: partial });
      console.error(formatTable([r]));
    });
    await page.goto(server.url);
    await page.waitForFunction(() => typeof (globalThis as { runPeers?: unknown }).runPeers === 'function');
    const chromiumVersion = browser.version();
    const out = (await page.evaluate(
      (o) => (globalThis as unknown as { runPeers(o: PageOptions): Promise<unknown> }).runPeers(o),
      opts,
    )) as { results: CaseResult[]; adapters: Record<string, unknown>; versions: Record<string, unknown> };
    console.log(`Chromium ${chromiumVersion}: ours ${JSON.stringify(out.adapters.ours)}`);
    console.log(`  onnxruntime-web WebGPU EP adapter: ${JSON.stringify(out.adapters.ortWeb ?? null)}; crossOriginIsolated ${out.adapters.crossOriginIsolated}`);
    console.log(`\nChromium (median ms of ${args.reps} after ${args.warmup} warm-up; ratio = peer ms ÷ ours; max|Δ| vs PyTorch, largest over the outputs)\n`);
    console.log(formatTable(out.results));
    const doc = {
      date: new Date().toISOString(),
      target: 'chromium',
      chromium: chromiumVersion,
      adapters: out.adapters,
      versions: out.versions,
      options: { warmup: args.warmup, reps: args.reps, quick: args.quick },
      results: out.results,
    };
    save(doc);
    console.log(`\nresults written to ${file}`);
  } finally {
    await browser.close();
    server.close();
  }
}

await main();
