/**
 * The device kit's Node side (bundled by bench/gpu/build.mjs into the kit; bench/gpu/run.sh calls it), one
 * phase per call so that each runs under its own time cap and a phase that hangs or crashes loses only itself:
 *
 *   node device.mjs info    --out DIR                      adapter, features, limits → DIR/info.json
 *   node device.mjs kernels --out DIR [--cap-s 45] [--min-ms 300]
 *                                                          kernels at SAM 2's shapes → DIR/kernels.json
 *   node device.mjs model   --out DIR [--size 1024] [--frames 30] [--setup-frames 16] [--objects 1,3]
 *                           [--dtypes f32,f16] [--reps 10] [--model tiny|small|base_plus|large] [--cap-s 90]
 *                                                          image encoder and tracked frames → DIR/model.json
 *                                                          (DIR/model-<name>.json for another model)
 *   node device.mjs report  --out DIR                      every phase's JSON → DIR/gpu-results.{json,md}
 *
 * Each phase rewrites its JSON after every case (a temporary name, then a rename), so a phase stopped by
 * its cap keeps what it measured. Timings: wall clock around submit → queue.onSubmittedWorkDone, and the
 * GPU time from timestamp queries (the engine's profiler) where the adapter has `timestamp-query`.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fmaCase } from '../entries/baseline.js';
import { runCase as runBenchCase, type BenchCase, type BenchResult } from '../harness.js';
import { checkFullBank } from '../peers/frame.js';
import { framesFromCallback } from '../../src/io/browser_frames.js';
import { openFrames } from '../../src/io/frames.js';
import type { ModelSize } from '../../src/checkpoint/config.js';
import { SAM2VideoPredictor, type FrameResult } from '../../src/model/video_predictor.js';
import { Gpu } from '../../src/runtime/gpu.js';
import { requestNodeAdapter } from '../../src/runtime/node_gpu.js';
import { report } from './report.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const num = (name: string, dflt: number) => Number(arg(name) ?? dflt);
const list = (name: string, dflt: string) => (arg(name) ?? dflt).split(',').filter(Boolean);

function save(file: string, doc: unknown): void {
  writeFileSync(`${file}.tmp`, JSON.stringify(doc, null, 1));
  renameSync(`${file}.tmp`, file);
}

const log = (s: string) => console.error(s);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

// ---------------------------------------------------------------- info

/** Features the report names, whatever else the adapter has. */
const NOTABLE = ['shader-f16', 'subgroups', 'timestamp-query', 'chromium-experimental-subgroup-matrix'];

async function info(dir: string): Promise<void> {
  const { adapter, driver } = await requestNodeAdapter({ powerPreference: 'high-performance' });
  const features = [...adapter.features].sort();
  const limits: Record<string, number> = {};
  for (const k in adapter.limits) {
    const v = (adapter.limits as unknown as Record<string, unknown>)[k];
    if (typeof v === 'number') limits[k] = v;
  }
  const ai = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const doc = {
    date: new Date().toISOString(),
    driver,
    adapter: { vendor: ai.vendor, architecture: ai.architecture, device: ai.device, description: ai.description, subgroupMinSize: ai.subgroupMinSize, subgroupMaxSize: ai.subgroupMaxSize },
    notable: Object.fromEntries(NOTABLE.map((f) => [f, features.includes(f)])),
    features,
    limits,
    env: { VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES, VK_DRIVER_FILES: process.env.VK_DRIVER_FILES, SAM2_WEBGPU_DRIVER: process.env.SAM2_WEBGPU_DRIVER },
    node: process.version,
  };
  save(join(dir, 'info.json'), doc);
  console.log(`adapter: ${ai.description || ai.device || '?'} (${ai.vendor}, ${ai.architecture}); driver ${driver}`);
  console.log(`features: ${NOTABLE.map((f) => `${f} ${features.includes(f) ? 'yes' : 'no'}`).join(', ')}`);
  console.log(`subgroup sizes: ${ai.subgroupMinSize ?? '?'}–${ai.subgroupMaxSize ?? '?'}`);
  console.log(`all features: ${features.join(' ')}`);
  console.log(`limits: ${Object.entries(limits).map(([k, v]) => `${k}=${v}`).join(' ')}`);
}

// ---------------------------------------------------------------- kernels

/**
 * Datasheet peaks of the GPUs the kit is meant for (dense, without tensor cores; TFLOPS): the table's
 * "% of peak" column. An adapter not listed gets the share of the FMA peak measured in the same run only.
 */
const DATASHEET: Array<{ match: RegExp; name: string; f32: number; f16: number }> = [
  { match: /H100.*(HBM3|SXM)/i, name: 'H100 SXM5', f32: 66.9, f16: 133.8 },
  { match: /H100.*PCIe/i, name: 'H100 PCIe', f32: 51.2, f16: 102.4 },
  { match: /H200/i, name: 'H200', f32: 66.9, f16: 133.8 },
];

async function kernels(dir: string): Promise<void> {
  // The entries run their own tables when they are the main module; here they only provide cases.
  process.argv[1] = '';
  const entries = [await import('../entries/matmul.js'), await import('../entries/attention.js'), await import('../entries/conv2d.js'), await import('../entries/norm.js')];
  const gpu = await Gpu.create();
  const deadline = performance.now() + num('cap-s', 45) * 1000;
  const minMs = num('min-ms', 300);
  const cpu = gpu.profile.software;
  // Enough invocations to fill a discrete GPU (hundreds of thousands in flight); the CPU configuration elsewhere.
  const peak: BenchCase = cpu
    ? fmaCase('f32 FMA peak (256 x 64 invocations, 8 vec4 chains)', { groups: 256, wg: 64, chains: 8, iters: 128 })
    : fmaCase('f32 FMA peak (16384 x 256 invocations, 8 vec4 chains)', { groups: 16384, wg: 256, chains: 8, iters: 256 });
  const seen = new Set<BenchCase>();
  const cases = [peak];
  for (const e of entries) for (const c of e.cases as BenchCase[]) if (!/fma|noop|load_rate|broadcast_rate/.test(c.kernel) && !seen.has(c)) (seen.add(c), cases.push(c));
  const sheet = DATASHEET.find((d) => d.match.test(gpu.info.adapter));
  const results: Array<BenchResult & { gpuMs?: number; tflops?: number; percentOfMeasuredPeak?: number; percentOfDatasheet?: number }> = [];
  const doc = { adapter: gpu.info.adapter, timestamps: gpu.info.features.timestamps, datasheet: sheet ? { name: sheet.name, f32: sheet.f32, f16: sheet.f16 } : null, measuredPeakTflops: NaN, results, stoppedAtCap: false };
  for (const c of cases) {
    if (performance.now() > deadline) {
      doc.stoppedAtCap = true;
      log(`kernels: time cap reached; ${cases.length - results.length} cases not run`);
      break;
    }
    let r: BenchResult;
    try {
      r = await runBenchCase(gpu, c, { minMs, samples: 3, warmup: 1 });
    } catch (e) {
      r = { kernel: c.kernel, name: c.name, dtype: c.dtype, medianMs: NaN, gflops: NaN, gbps: NaN, iterations: 0, skipped: String((e as Error).message).slice(0, 300) };
    }
    const row: (typeof results)[number] = { ...r };
    if (!r.skipped && gpu.info.features.timestamps) row.gpuMs = await gpuTime(gpu, c);
    if (c.kernel === 'fma_peak') doc.measuredPeakTflops = r.gflops / 1000;
    if (c.flops > 0) {
      const ms = row.gpuMs ?? r.medianMs;
      row.tflops = c.flops / (ms * 1e9);
      if (c.kernel !== 'fma_peak' && doc.measuredPeakTflops > 0) row.percentOfMeasuredPeak = (100 * row.tflops) / doc.measuredPeakTflops;
      if (sheet) row.percentOfDatasheet = (100 * row.tflops) / (c.dtype === 'f16' ? sheet.f16 : sheet.f32);
    }
    results.push(row);
    save(join(dir, 'kernels.json'), doc);
    log(`${`${c.kernel} ${c.name}`.padEnd(60)} ${c.dtype} ${r.skipped ? `skipped: ${r.skipped}` : `${r.medianMs.toFixed(3)} ms wall${row.gpuMs !== undefined ? `, ${row.gpuMs.toFixed(3)} ms GPU` : ''}${row.tflops !== undefined ? `, ${row.tflops.toFixed(2)} TFLOPS` : ''}`}`);
  }
  save(join(dir, 'kernels.json'), doc);
  gpu.destroy();
}

/** GPU milliseconds of one iteration of a case, from timestamp queries (the sum over its dispatches), over a few iterations. */
async function gpuTime(gpu: Gpu, c: BenchCase): Promise<number | undefined> {
  const { run, dispose } = c.setup(gpu);
  try {
    run();
    await gpu.sync();
    await gpu.profiler.report();
    gpu.profiler.reset();
    gpu.profiler.enabled = true;
    const n = 5;
    for (let i = 0; i < n; i++) run();
    await gpu.sync();
    const rows = await gpu.profiler.report();
    const total = rows.reduce((a, x) => a + x.totalMs, 0) / n;
    return total > 0 ? total : undefined;
  } finally {
    gpu.profiler.enabled = false;
    gpu.profiler.reset();
    dispose();
  }
}

// ---------------------------------------------------------------- model

interface ModelCase {
  case: 'encoder' | 'frame';
  dtype: string;
  objects?: number;
  /** Wall-clock ms per call / per tracked frame. */
  ms: number[];
  medianMs: number;
  meanMs: number;
  fps?: number;
  warmupMs: number[];
  /** GPU ms of one call / frame from timestamps (sum over its kernels), and its slowest kernels. */
  gpuMs?: number;
  topKernels?: Array<{ kernel: string; calls: number; totalMs: number }>;
  bank?: string;
  error?: string;
}

/** The bedroom clip's frames (samples/bedroom), decoded once, as RGBA images for a video of any length. */
async function bedroomImages(): Promise<Array<{ width: number; height: number; data: Uint8Array }>> {
  const src = await openFrames(arg('frames-dir') ?? 'samples/bedroom');
  try {
    const out = [];
    for (let i = 0; i < src.count; i++) {
      const f = await src.get(i);
      const data = new Uint8Array(f.width * f.height * 4);
      for (let p = 0; p < f.width * f.height; p++) {
        data.set(f.rgb.subarray(p * 3, p * 3 + 3), p * 4);
        data[p * 4 + 3] = 255;
      }
      out.push({ width: f.width, height: f.height, data });
    }
    return out;
  } finally {
    src.close();
  }
}

/** One positive click per object on frame 0, in the bedroom clip's pixels (as bench/model_video.ts and torch_bench.py). */
const CLICKS: Array<[number, number]> = [
  [210, 350],
  [390, 220],
  [700, 300],
];

async function model(dir: string): Promise<void> {
  const size = num('size', 1024);
  const modelName = (arg('model') ?? 'tiny') as ModelSize;
  const file = join(dir, modelName === 'tiny' ? 'model.json' : `model-${modelName}.json`);
  const timed = num('frames', 30);
  const setup = num('setup-frames', 16);
  const objectCounts = list('objects', '1,3').map(Number);
  const reps = num('reps', 10);
  const deadline = performance.now() + num('cap-s', 90) * 1000;
  const gpu = await Gpu.create();
  const dtypes = list('dtypes', 'f32,f16').filter((d) => d === 'f32' || d === 'f16') as Array<'f32' | 'f16'>;
  const images = await bedroomImages();
  const { width: W, height: H } = images[0];
  const cases: ModelCase[] = [];
  const doc = {
    adapter: gpu.info.adapter,
    f16Mode: gpu.f16Mode,
    model: `sam2.1 ${modelName}`,
    size,
    setupFrames: setup,
    timedFrames: timed,
    video: `samples/bedroom (${images.length} frames of ${W}×${H}, cycled; decoded before timing)`,
    cases,
    pipelines: [] as Array<{ dtype: string; loadMs: number; readyMs: number; compiledAhead: number }>,
    stoppedAtCap: false,
  };
  const late = () => {
    if (performance.now() < deadline) return false;
    doc.stoppedAtCap = true;
    return true;
  };
  const profile = async <T>(body: () => Promise<T>): Promise<{ gpuMs?: number; top?: ModelCase['topKernels'] }> => {
    if (!gpu.info.features.timestamps) {
      await body();
      return {};
    }
    await gpu.sync();
    await gpu.profiler.report();
    gpu.profiler.reset();
    gpu.profiler.enabled = true;
    try {
      await body();
      await gpu.sync();
      const rows = await gpu.profiler.report();
      return { gpuMs: rows.reduce((a, r) => a + r.totalMs, 0), top: rows.slice(0, 8).map((r) => ({ kernel: r.kernel, calls: r.calls, totalMs: r.totalMs })) };
    } finally {
      gpu.profiler.enabled = false;
      gpu.profiler.reset();
    }
  };
  for (const dtype of dtypes) {
    if (late()) break;
    const tLoad = performance.now();
    const predictor = await SAM2VideoPredictor.load({ model: modelName, imageSize: size, dtype, gpu, weights: 'synthetic' });
    const loadMs = performance.now() - tLoad;
    try {
      // The pipelines of a click and a tracked frame, compiled in the background from load (a first click waits for them).
      const compiled = gpu.pipelines.size;
      await predictor.ready;
      const readyMs = performance.now() - tLoad;
      doc.pipelines.push({ dtype, loadMs, readyMs, compiledAhead: gpu.pipelines.size - compiled });
      log(`load ${dtype} @${size}: ${loadMs.toFixed(0)} ms; pipelines of a click and a tracked frame ready ${readyMs.toFixed(0)} ms after the load began`);
      // The image encoder alone: a normalized image already on the GPU → the features the tracker uses.
      const enc = predictor.model.imageEncoder;
      const x = gpu.upload(new Float32Array(3 * size * size).map((_, i) => Math.sin(i * 0.001)), [1, 3, size, size], dtype, 'image');
      const encCase: ModelCase = { case: 'encoder', dtype, ms: [], medianMs: NaN, meanMs: NaN, warmupMs: [] };
      const once = async () => {
        const t0 = performance.now();
        const f = enc.encode(x);
        await gpu.sync();
        const ms = performance.now() - t0;
        f.release();
        return ms;
      };
      for (let i = 0; i < 2; i++) encCase.warmupMs.push(await once());
      for (let i = 0; i < reps && !late(); i++) encCase.ms.push(await once());
      const p = await profile(once);
      Object.assign(encCase, { medianMs: median(encCase.ms), meanMs: encCase.ms.reduce((a, b) => a + b, 0) / encCase.ms.length, gpuMs: p.gpuMs, topKernels: p.top });
      x.release();
      cases.push(encCase);
      save(file, doc);
      log(`encoder ${dtype} @${size}: median ${encCase.medianMs.toFixed(2)} ms wall${p.gpuMs !== undefined ? `, ${p.gpuMs.toFixed(2)} ms GPU` : ''} (warm-up ${encCase.warmupMs.map((m) => m.toFixed(0)).join(', ')} ms)`);

      for (const objects of objectCounts) {
        if (late()) break;
        const c: ModelCase = { case: 'frame', dtype, objects, ms: [], medianMs: NaN, meanMs: NaN, warmupMs: [] };
        cases.push(c);
        const total = setup + timed + 2;
        const source = await framesFromCallback({ count: total, width: W, height: H, frame: (i) => images[i % images.length], cacheFrames: 1, description: `bedroom cycled to ${total} frames` });
        const state = await predictor.initState(source);
        const frames: AsyncGenerator<FrameResult> = predictor.propagateInVideo(state);
        try {
          for (let k = 0; k < objects; k++) {
            await predictor.addNewPointsOrBox(state, { frameIdx: 0, objId: k + 1, points: [CLICKS[k % CLICKS.length]], labels: [1] });
          }
          const step = async () => {
            const t0 = performance.now();
            const r = await frames.next();
            if (r.done) throw new Error('the video ended');
            return performance.now() - t0;
          };
          // Frame 0 (the prompts) and the setup frames fill the bank; the first two count as warm-up.
          for (let f = 0; f <= setup; f++) {
            const ms = await step();
            if (f < 2) c.warmupMs.push(ms);
          }
          try {
            checkFullBank(state, setup + 1, predictor.config.numMaskmem, predictor.config.maxObjPtrsInEncoder, `frame${objects}`);
            c.bank = `full: ${predictor.config.numMaskmem} memories, ${predictor.config.maxObjPtrsInEncoder} object pointers`;
          } catch (e) {
            c.bank = `not full (${(e as Error).message.replace(/^peers: frame\d+: /, '')}); --setup-frames ${setup}`;
          }
          for (let f = 0; f < timed && !late(); f++) c.ms.push(await step());
          const p = await profile(step);
          const sum = c.ms.reduce((a, b) => a + b, 0);
          Object.assign(c, { medianMs: median(c.ms), meanMs: sum / c.ms.length, fps: (1000 * c.ms.length) / sum, gpuMs: p.gpuMs, topKernels: p.top });
          log(`frame ${dtype} @${size}, ${objects} object(s): ${c.ms.length} frames, median ${c.medianMs.toFixed(2)} ms, ${c.fps!.toFixed(1)} frames/s${p.gpuMs !== undefined ? `, ${p.gpuMs.toFixed(2)} ms GPU` : ''}; bank ${c.bank}`);
        } catch (e) {
          c.error = String((e as Error)?.message ?? e).slice(0, 400);
          log(`frame ${dtype}, ${objects} object(s): ${c.error}`);
        } finally {
          await frames.return(undefined);
          predictor.closeState(state);
        }
        save(file, doc);
      }
    } finally {
      predictor.dispose();
    }
  }
  save(file, doc);
  gpu.destroy();
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const phase = process.argv[2];
  const dir = arg('out') ?? '.';
  if (!existsSync(dir)) throw new Error(`device: --out ${dir} does not exist`);
  if (phase === 'info') await info(dir);
  else if (phase === 'kernels') await kernels(dir);
  else if (phase === 'model') await model(dir);
  else if (phase === 'report') {
    const { json, md } = report(dir, (f) => (existsSync(join(dir, f)) ? JSON.parse(readFileSync(join(dir, f), 'utf8')) : undefined));
    save(join(dir, 'gpu-results.json'), json);
    writeFileSync(join(dir, 'gpu-results.md'), md);
    console.log(md);
  } else throw new Error(`device: unknown phase '${phase ?? ''}' (info, kernels, model, report)`);
}

try {
  await main();
  process.exit(0);
} catch (e) {
  // The message and stack only: an uncaught error would also print the bundle's (minified) source line.
  console.error(`device ${process.argv[2] ?? ''}: ${(e as Error)?.stack ?? e}`);
  process.exit(1);
}
