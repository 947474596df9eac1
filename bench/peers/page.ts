/**
 * The browser side of the peer benchmark (bundled by bench/peers/browser.ts, run in headless Chromium):
 * our engine and onnxruntime-web (the `onnxruntime-web/webgpu` build: its WebGPU EP, and its wasm backend
 * with 2 threads for context) in one page, timed in turn on the page's WebGPU adapter.
 */
import { Gpu } from '../../src/runtime/gpu.js';
import { loadCase, runCase, type CaseResult, type PeerManifest, type RuntimeSpec } from './common.js';
import { engineRuntime, loadEngineWeights } from './engine.js';
import { ortRuntime, type OrtLike } from './ort.js';

export interface PageOptions {
  modules: string[];
  sizes: number[];
  warmup: number;
  reps: number;
  runtimes: string[];
}

interface OrtWeb extends OrtLike {
  env: {
    wasm: { wasmPaths?: string; numThreads?: number };
    webgpu: { device: Promise<GPUDevice> };
    versions?: Record<string, string>;
  };
}

async function runPeers(opts: PageOptions): Promise<{ results: CaseResult[]; adapters: Record<string, unknown>; versions: Record<string, unknown> }> {
  const log = (s: string) => console.log(s);
  // A URL the bundler leaves alone: the server maps /ort/ to bench/peers/node_modules/onnxruntime-web/dist.
  const ortUrl = '/ort/ort.webgpu.min.mjs';
  const ort = (await import(/* @vite-ignore */ ortUrl)) as OrtWeb;
  ort.env.wasm.wasmPaths = '/ort/';
  ort.env.wasm.numThreads = 2;
  const manifest = (await (await fetch('/models/manifest.json')).json()) as PeerManifest;
  const read = async (f: string) => {
    const r = await fetch(`/models/${f}`);
    if (!r.ok) throw new Error(`peers: GET /models/${f}: ${r.status}`);
    return r.arrayBuffer();
  };
  const adapters: Record<string, unknown> = { crossOriginIsolated: globalThis.crossOriginIsolated };
  const describe = (i: GPUAdapterInfo | undefined) =>
    i ? { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description } : null;
  /** The adapter of onnxruntime-web's own device (GPUDevice.adapterInfo), once its WebGPU backend exists. */
  const ortAdapter = async () => {
    const dev = await Promise.race([ort.env.webgpu.device, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000))]);
    return describe((dev as (GPUDevice & { adapterInfo?: GPUAdapterInfo }) | undefined)?.adapterInfo);
  };

  const gpu = await Gpu.create();
  adapters.ours = { ...gpu.info, features: undefined, limits: undefined };
  log(`ours: ${gpu.info.adapter} (${gpu.info.vendor}, ${gpu.info.architecture})`);
  const weights = await loadEngineWeights(gpu);
  const model = async (c: { entry: { file: string } }) => `/models/${c.entry.file}`;
  const ortVersion = ort.env.versions?.web ?? '?';
  const all: Record<string, RuntimeSpec> = {
    ours: engineRuntime(gpu, weights, `sam2-webgpu (browser bundle)`),
    'ortweb-webgpu': ortRuntime(ort, 'ortweb-webgpu', `onnxruntime-web ${ortVersion} (webgpu build) WebGPU EP`, { executionProviders: ['webgpu'] }, model),
    // Without spinning, as in Node: a spinning thread pool takes the cores from the runtime timed next.
    'ortweb-wasm': ortRuntime(
      ort,
      'ortweb-wasm',
      `onnxruntime-web ${ortVersion} wasm, 2 threads, no spinning`,
      { executionProviders: ['wasm'], extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } },
      model,
      true,
    ),
  };
  const runtimes = opts.runtimes.map((r) => {
    if (!all[r]) throw new Error(`peers: unknown runtime ${r}`);
    return all[r];
  });
  const results: CaseResult[] = [];
  for (const size of opts.sizes) {
    for (const module of opts.modules) {
      const c = await loadCase(manifest, module, size, read);
      log(`${c.name}: ${opts.warmup} warm-up + ${opts.reps} runs of ${runtimes.map((r) => r.id).join(', ')}`);
      const r = await runCase(c, runtimes, { warmup: opts.warmup, reps: opts.reps, log });
      results.push(r);
      // Partial results reach the driver script as each case ends (bench/peers/browser.ts saves them).
      await (globalThis as unknown as { peerCaseDone?: (r: CaseResult) => Promise<void> }).peerCaseDone?.(r);
      if (!adapters.ortWeb && runtimes.some((r) => r.id === 'ortweb-webgpu')) {
        adapters.ortWeb = await ortAdapter();
        log(`onnxruntime-web WebGPU EP adapter: ${JSON.stringify(adapters.ortWeb)}`);
      }
    }
  }
  weights.release();
  gpu.destroy();
  return { results, adapters, versions: { onnxruntimeWeb: ortVersion, userAgent: navigator.userAgent } };
}

(globalThis as unknown as { runPeers: typeof runPeers }).runPeers = runPeers;
