/**
 * The predicted frame budget on a discrete GPU (`npm run bench:budget`): every dispatch of one tracked frame
 * with a full memory bank, under the device profile's GPU choices, costed on a roofline.
 *
 *   npm run bench:budget [-- --models tiny,large] [--size 1024] [--objects 1,3] [--dtypes f32,f16]
 *                           [--setup-frames 16] [--json FILE] [--tflops 67] [--tbps 3.35] [--onchip-tbps 33.4]
 *                           [--launch-us 3]
 *
 * The engine runs for real on this machine's adapter except that no dispatch executes: each is recorded with
 * its module (image encoder, memory attention, prompt encoder, mask decoder, memory encoder, other), kernel,
 * floating-point operations (products, attention, convolutions; Dispatch.flops) and the bytes of the tensors
 * it binds. SAM 2's shapes do not depend on the data, so the dispatches are those of a real frame (masks read
 * back hold no result: the object-score branches may differ, not the shapes). One dispatch's predicted time is
 * a roofline's with an on-chip level:
 *
 *   max(flops / peak, FMAs / (on-chip intensity × on-chip bandwidth), bytes / bandwidth)
 *
 * with the bytes each tensor it binds once (what it must move at least), the on-chip intensity the FMAs per
 * byte a kernel reads from workgroup memory or L1 (ONCHIP_INTENSITY: the GPU kernels' designs, see
 * src/kernels/README.md), plus --launch-us per dispatch for the launch and the barrier between dependent
 * dispatches. Defaults: an H100 SXM5, 67 TFLOPS f32 (the kernels compute in f32 in every storage mode, so
 * also for f16 models) and 3.35 TB/s HBM3 (NVIDIA's H100 datasheet); 33.4 TB/s of shared memory / L1 (128
 * bytes per clock per SM, NVIDIA's Hopper tuning guide, × 132 SMs × 1.98 GHz); 3 µs per dispatch is an
 * assumption for Dawn on Vulkan, which a device run (bench/gpu) measures.
 */
import { writeFileSync } from 'node:fs';
import { framesFromCallback } from '../src/io/browser_frames.js';
import type { ModelSize } from '../src/checkpoint/config.js';
import { ImageEncoder } from '../src/model/image_encoder.js';
import { MaskDecoder } from '../src/model/mask_decoder.js';
import { MemoryAttention } from '../src/model/memory_attention.js';
import { MemoryEncoder } from '../src/model/memory_encoder.js';
import { PromptEncoder } from '../src/model/prompt_encoder.js';
import { SAM2VideoPredictor } from '../src/model/video_predictor.js';
import { DTYPE_BYTES } from '../src/runtime/dtype.js';
import { Gpu, type Dispatch } from '../src/runtime/gpu.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const num = (name: string, dflt: number) => Number(arg(name) ?? dflt);
const list = (name: string, dflt: string) => (arg(name) ?? dflt).split(',').filter(Boolean);

export const MODULES = ['image encoder', 'memory attention', 'prompt encoder', 'mask decoder', 'memory encoder', 'other'] as const;
export type Module = (typeof MODULES)[number];

export interface Recorded {
  module: Module;
  /** The kernel's label (a layer's name for products). */
  kernel: string;
  /** The WGSL file and entry point ('matmul.main_tiled'). */
  family: string;
  flops: number;
  bytes: number;
}

export interface Roofline {
  /** FLOP/s. */
  peak: number;
  /** Bytes/s from device memory. */
  bandwidth: number;
  /** Bytes/s from workgroup memory / L1 (all compute units). */
  onchip: number;
  /** Seconds per dispatch. */
  launch: number;
}

/**
 * FMAs per byte the GPU profile's compute kernels read from workgroup memory or L1 (src/kernels/README.md,
 * "GPU kernels"): the tiled matmul reads 4 vec4 per 64 FMAs; the flash kernel a vec4 of k per 4 FMAs of the
 * scores and a vec4 of v per 4 FMAs of the output; the conv kernels their taps' loads.
 */
export const ONCHIP_INTENSITY: Record<string, number> = {
  'matmul.main_tiled': 1,
  'attention.flash': 0.25,
  // The register kernel (small head dims on GPUs): each invocation reads every k and v row from L1.
  'attention.main': 0.25,
  'conv2d.direct': 4 / 3,
  'conv2d.gemm': 1,
  'conv2d.depthwise': 1,
};

/** Predicted seconds of one dispatch. */
export function predict(d: Recorded, r: Roofline): number {
  const fi = ONCHIP_INTENSITY[d.family];
  const onchip = fi ? d.flops / 2 / (fi * r.onchip) : 0;
  return Math.max(d.flops / r.peak, onchip, d.bytes / r.bandwidth) + r.launch;
}

/**
 * Records the dispatches of `gpu` instead of running them, each under the module whose forward is on the stack
 * (the model's module classes are wrapped while recording). Returns the log and a function that stops.
 */
function recordDispatches(gpu: Gpu): { log: Recorded[]; on: (v: boolean) => void; stop: () => void } {
  const log: Recorded[] = [];
  const stack: Module[] = [];
  let recording = false;
  const wraps: Array<[object, string, Module]> = [
    [ImageEncoder.prototype, 'encode', 'image encoder'],
    [MemoryAttention.prototype, 'forward', 'memory attention'],
    [PromptEncoder.prototype, 'forward', 'prompt encoder'],
    [MaskDecoder.prototype, 'forward', 'mask decoder'],
    [MemoryEncoder.prototype, 'forward', 'memory encoder'],
  ];
  const saved = wraps.map(([proto, name]) => (proto as Record<string, unknown>)[name] as (...a: unknown[]) => unknown);
  wraps.forEach(([proto, name, module], i) => {
    (proto as Record<string, unknown>)[name] = function (this: unknown, ...a: unknown[]) {
      stack.push(module);
      try {
        return saved[i].apply(this, a);
      } finally {
        stack.pop();
      }
    };
  });
  const run = gpu.dispatch;
  gpu.dispatch = (d: Dispatch) => {
    if (!recording) return;
    let bytes = 0;
    for (const t of [...d.inputs, ...d.outputs]) bytes += t.size * DTYPE_BYTES[t.dtype];
    const family = `${d.variant.file.replace(/\.wgsl$/, '')}.${d.variant.entry ?? 'main'}`;
    log.push({ module: stack[stack.length - 1] ?? 'other', kernel: d.variant.kernel, family, flops: d.flops ?? 0, bytes });
  };
  return {
    log,
    on: (v) => (recording = v),
    stop: () => {
      wraps.forEach(([proto, name], i) => ((proto as Record<string, unknown>)[name] = saved[i]));
      gpu.dispatch = run;
    },
  };
}

export interface BudgetRow {
  module: Module | 'frame';
  dispatches: number;
  gflop: number;
  mbytes: number;
  /** Predicted ms: roofline only, and with the launch cost per dispatch. */
  rooflineMs: number;
  ms: number;
}

export function budget(log: Recorded[], r: Roofline): BudgetRow[] {
  const rows: BudgetRow[] = [];
  const row = (module: BudgetRow['module'], ds: Recorded[]): BudgetRow => ({
    module,
    dispatches: ds.length,
    gflop: ds.reduce((a, d) => a + d.flops, 0) / 1e9,
    mbytes: ds.reduce((a, d) => a + d.bytes, 0) / 1e6,
    rooflineMs: ds.reduce((a, d) => a + predict(d, { ...r, launch: 0 }), 0) * 1e3,
    ms: ds.reduce((a, d) => a + predict(d, r), 0) * 1e3,
  });
  for (const m of MODULES) {
    const ds = log.filter((d) => d.module === m);
    if (ds.length) rows.push(row(m, ds));
  }
  rows.push(row('frame', log));
  return rows;
}

/** Per kernel (WGSL file and entry point) over a log: dispatches, GFLOP, MB and predicted ms, slowest first. */
export function byKernel(log: Recorded[], r: Roofline): Array<{ kernel: string; dispatches: number; gflop: number; mbytes: number; ms: number }> {
  const m = new Map<string, Recorded[]>();
  for (const d of log) m.set(d.family, [...(m.get(d.family) ?? []), d]);
  return [...m]
    .map(([kernel, ds]) => ({
      kernel,
      dispatches: ds.length,
      gflop: ds.reduce((a, d) => a + d.flops, 0) / 1e9,
      mbytes: ds.reduce((a, d) => a + d.bytes, 0) / 1e6,
      ms: ds.reduce((a, d) => a + predict(d, r), 0) * 1e3,
    }))
    .sort((a, b) => b.ms - a.ms);
}

export interface FrameCase {
  model: ModelSize;
  size: number;
  dtype: 'f32' | 'f16';
  objects: number;
  /** Frames tracked before the recorded one (16 fill the bank: 7 memories, 16 object pointers). */
  setup: number;
}

/**
 * The dispatches of one tracked frame of `c` on `gpu`, none executed: the predictor loads synthetic weights, a
 * click per object on frame 0 of a blank 960×540 video, `setup` frames tracked, then the next one recorded.
 */
export async function recordTrackedFrame(gpu: Gpu, c: FrameCase): Promise<Recorded[]> {
  const rec = recordDispatches(gpu);
  const W = 960;
  const H = 540;
  const blank = { width: W, height: H, data: new Uint8Array(W * H * 4).fill(128) };
  try {
    using predictor = await SAM2VideoPredictor.load({ model: c.model, imageSize: c.size, dtype: c.dtype, gpu, weights: 'synthetic' });
    const source = await framesFromCallback({ count: c.setup + 3, width: W, height: H, frame: () => blank, cacheFrames: 1, description: 'blank frames' });
    using state = await predictor.initState(source);
    for (let k = 0; k < c.objects; k++) {
      await predictor.addNewPointsOrBox(state, { frameIdx: 0, objId: k + 1, points: [[100 + 200 * k, 200]], labels: [1] });
    }
    const frames = predictor.propagateInVideo(state);
    for (let f = 0; f <= c.setup; f++) await frames.next();
    rec.on(true);
    await frames.next();
    rec.on(false);
    await frames.return(undefined);
    return rec.log;
  } finally {
    rec.stop();
  }
}

async function main(): Promise<void> {
  const models = list('models', 'tiny,large') as ModelSize[];
  const size = num('size', 1024);
  const objectCounts = list('objects', '1,3').map(Number);
  const dtypes = list('dtypes', 'f32,f16') as Array<'f32' | 'f16'>;
  const setup = num('setup-frames', 16);
  const roof: Roofline = { peak: num('tflops', 67) * 1e12, bandwidth: num('tbps', 3.35) * 1e12, onchip: num('onchip-tbps', 33.4) * 1e12, launch: num('launch-us', 3) * 1e-6 };
  using gpu = await Gpu.create({ profile: 'gpu' });
  const cases: Array<FrameCase & { rows: BudgetRow[]; kernels: ReturnType<typeof byKernel> }> = [];
  console.log(`Predicted tracked frame on ${roof.peak / 1e12} TFLOPS, ${roof.bandwidth / 1e12} TB/s, ${roof.onchip / 1e12} TB/s on chip, ${roof.launch * 1e6} µs per dispatch; image size ${size}, 960×540 video, a full bank after ${setup} frames; device profile:`);
  console.log(gpu.profile.describe());
  for (const model of models) {
    for (const dtype of dtypes) {
      for (const objects of objectCounts) {
        const c: FrameCase = { model, size, dtype, objects, setup };
        const log = await recordTrackedFrame(gpu, c);
        const rows = budget(log, roof);
        const kernels = byKernel(log, roof);
        cases.push({ ...c, rows, kernels });
        const frame = rows[rows.length - 1];
        console.log(`\nsam2.1 ${model} @${size}, ${dtype}, ${objects} object(s): ${frame.dispatches} dispatches, ${frame.gflop.toFixed(1)} GFLOP, ${frame.mbytes.toFixed(0)} MB → ${frame.ms.toFixed(2)} ms (${(1000 / frame.ms).toFixed(0)} FPS; roofline alone ${frame.rooflineMs.toFixed(2)} ms)`);
        console.log('| module | dispatches | GFLOP | MB | roofline ms | + launches ms |');
        console.log('|---|---:|---:|---:|---:|---:|');
        for (const r of rows) console.log(`| ${r.module} | ${r.dispatches} | ${r.gflop.toFixed(2)} | ${r.mbytes.toFixed(1)} | ${r.rooflineMs.toFixed(3)} | ${r.ms.toFixed(3)} |`);
        console.log('| kernel | dispatches | GFLOP | MB | + launches ms |');
        console.log('|---|---:|---:|---:|---:|');
        for (const k of kernels) console.log(`| ${k.kernel} | ${k.dispatches} | ${k.gflop.toFixed(2)} | ${k.mbytes.toFixed(1)} | ${k.ms.toFixed(3)} |`);
      }
    }
  }
  const out = arg('json');
  if (out) writeFileSync(out, JSON.stringify({ roofline: roof, size, setupFrames: setup, profile: gpu.profile.summary(), cases }, null, 1));
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
