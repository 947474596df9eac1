/**
 * `npm run bench:encoder [-- --models tiny,small --sizes 1024,512 --dtype f32,f16 --iters 3 --warmup 1 --profile --out file.json]`
 *
 * The image encoder (Hiera trunk + FPN neck + conv_s0 / conv_s1, i.e. SAM2Base.forward_image) with synthetic
 * weights: median milliseconds per frame after warm-up, GFLOPS achieved against the FLOP count of the
 * official module (torch.utils.flop_counter conventions: multiply-add = 2, convolutions, linears and both
 * products of every attention; for tiny 284.7 / 60.9 / 17.0 GFLOP in the trunk and 6.0 / 1.5 / 0.4 in the
 * neck at 1024 / 512 / 256), and GPU memory: the weights, the peak of live activations during a frame
 * (buffer pool, weights excluded) and the most the pool held at once (weights, live and cached-for-reuse
 * buffers). Optionally a
 * per-kernel breakdown; results go to bench/results/ as JSON.
 *
 * Defaults: every size at 1024 and 512 on GPUs; on CPU adapters (lavapipe) tiny at 1024 and 512 only.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODEL_SIZES, sam2Config, type ModelSize, type Sam2Config } from '../src/checkpoint/config.js';
import { hieraBlocks } from '../src/model/hiera.js';
import { ImageEncoder } from '../src/model/image_encoder.js';
import { getManifest, type Manifest } from '../src/checkpoint/manifests.js';
import { preprocessVideoFrame } from '../src/model/preprocess.js';
import { loadWeights } from '../src/checkpoint/weights.js';
import { Gpu } from '../src/runtime/gpu.js';
import { Profiler } from '../src/runtime/profiler.js';
import { syntheticWeights } from '../src/checkpoint/synthetic.js';

const here = dirname(fileURLToPath(import.meta.url));

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export interface EncoderFlops {
  trunk: number;
  neck: number;
  /** conv_s0 + conv_s1 (forward_image's high-res projections). */
  highRes: number;
}

/**
 * FLOPs of the official forward_image at cfg.imageSize, counted as torch.utils.flop_counter counts them:
 * the patch-embed convolution, every linear (qkv and attn.proj over the windows' padded tokens, the
 * shortcut projection, the MLP), both products of each scaled_dot_product_attention, the neck's 1×1
 * convolutions and conv_s0 / conv_s1. Norms, activations, pooling and adds are not counted.
 */
export function encoderFlops(cfg: Sam2Config): EncoderFlops {
  const S = cfg.imageSize;
  const C0 = cfg.hiera.embedDim;
  let side = S / 4;
  let trunk = 2 * C0 * side * side * 3 * 7 * 7;
  for (const b of hieraBlocks(cfg.hiera).blocks) {
    const { dim, dimOut, windowSize: ws, qPool } = b;
    const H = side;
    const Ho = qPool ? H / 2 : H;
    if (dim !== dimOut) trunk += 2 * H * H * dim * dimOut;
    const Hp = ws > 0 ? Math.ceil(H / ws) * ws : H;
    const windows = ws > 0 ? (Hp / ws) ** 2 : 1;
    const L = ws > 0 ? ws * ws : H * H;
    const Lq = qPool ? L / 4 : L;
    trunk += 2 * windows * L * dim * 3 * dimOut; // qkv
    trunk += 2 * 2 * windows * Lq * L * dimOut; // q kᵀ and p v, all heads
    trunk += 2 * windows * Lq * dimOut * dimOut; // attn.proj (before unpartitioning)
    trunk += 2 * 2 * Ho * Ho * dimOut * 4 * dimOut; // MLP
    side = Ho;
  }
  const d = cfg.neck.dModel;
  const chans = [...cfg.neck.backboneChannelList].reverse();
  const neck = chans.reduce((a, c, k) => a + 2 * (S / (4 << k)) ** 2 * c * d, 0);
  const highRes = cfg.useHighResFeaturesInSam ? 2 * (S / 4) ** 2 * d * (d / 8) + 2 * (S / 8) ** 2 * d * (d / 4) : 0;
  return { trunk, neck, highRes };
}

function encoderManifest(cfg: Sam2Config): Manifest {
  const full = getManifest(cfg.name as Parameters<typeof getManifest>[0]);
  return {
    ...full,
    config: `${cfg.name} (image encoder)`,
    tensors: full.tensors.filter((t) => t.name.startsWith('image_encoder.') || /^sam_mask_decoder\.conv_s[01]\./.test(t.name)),
  };
}

interface Row {
  model: string;
  imageSize: number;
  dtype: 'f32' | 'f16';
  medianMs: number;
  runsMs: number[];
  gflop: number;
  trunkGflop: number;
  neckGflop: number;
  gflops: number;
  weightBytes: number;
  peakActivationBytes: number;
  peakPoolBytes: number;
  profile?: { kernel: string; calls: number; totalMs: number }[];
}

const MB = (b: number) => (b / 2 ** 20).toFixed(1);

async function benchOne(gpu: Gpu, size: ModelSize, imageSize: number, dtype: 'f32' | 'f16', iters: number, warmup: number, profile: boolean): Promise<Row> {
  const cfg = sam2Config(size, '2.1', { imageSize });
  const manifest = encoderManifest(cfg);
  const weights = await loadWeights(syntheticWeights(manifest), { gpu, dtype, manifest });
  const enc = ImageEncoder.create({ gpu, weights }, cfg);
  enc.prepare();
  // A smooth test image (the values do not change the work).
  const px = new Uint8Array(imageSize * imageSize * 3);
  for (let y = 0; y < imageSize; y++) {
    for (let x = 0; x < imageSize; x++) {
      const o = (y * imageSize + x) * 3;
      px[o] = (x * 255) / imageSize;
      px[o + 1] = (y * 255) / imageSize;
      px[o + 2] = ((x ^ y) & 255) >>> 0;
    }
  }
  const image = preprocessVideoFrame(gpu, px, imageSize, imageSize, imageSize, { dtype });
  for (let i = 0; i < warmup; i++) enc.encode(image).release();
  await gpu.sync();
  gpu.pool.trim();
  gpu.pool.resetPeak();
  const live = gpu.pool.getStats().inUse;
  const runs: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    const f = enc.encode(image);
    await gpu.sync();
    runs.push(performance.now() - t0);
    f.release();
  }
  const stats = gpu.pool.getStats();
  let prof: Row['profile'];
  if (profile) {
    gpu.profiler.reset();
    gpu.profiler.enabled = true;
    enc.encode(image).release();
    await gpu.sync();
    const rows = await gpu.profiler.report();
    gpu.profiler.enabled = false;
    const agg = new Map<string, { calls: number; totalMs: number }>();
    for (const r of rows) {
      const k = r.kernel.replace(/blocks\.\d+/, 'blocks.*').replace(/convs\.\d+/, 'convs.*');
      const a = agg.get(k) ?? { calls: 0, totalMs: 0 };
      a.calls += r.calls;
      a.totalMs += r.totalMs;
      agg.set(k, a);
    }
    prof = [...agg.entries()].map(([kernel, a]) => ({ kernel, ...a })).sort((a, b) => b.totalMs - a.totalMs);
  }
  image.release();
  enc.release();
  const weightBytes = weights.byteLength;
  weights.release();
  gpu.pool.trim();
  const sorted = [...runs].sort((a, b) => a - b);
  const medianMs = sorted[Math.floor(sorted.length / 2)];
  const fl = encoderFlops(cfg);
  const total = fl.trunk + fl.neck + fl.highRes;
  return {
    model: cfg.name,
    imageSize,
    dtype,
    medianMs,
    runsMs: runs,
    gflop: total / 1e9,
    trunkGflop: fl.trunk / 1e9,
    neckGflop: fl.neck / 1e9,
    gflops: total / 1e6 / medianMs,
    weightBytes,
    peakActivationBytes: stats.peakInUse - live,
    peakPoolBytes: stats.peakAllocated,
    profile: prof,
  };
}

async function main(): Promise<void> {
  const gpu = await Gpu.create();
  const info = gpu.info;
  const cpu = gpu.profile.software;
  const models = (arg('models')?.split(',') ?? (cpu ? ['tiny'] : [...MODEL_SIZES])) as ModelSize[];
  const sizes = (arg('sizes') ?? '1024,512').split(',').map(Number);
  const dtypes = (arg('dtype') ?? (info.features.f16 ? 'f32,f16' : 'f32')).split(',') as ('f32' | 'f16')[];
  const iters = Number(arg('iters') ?? 3);
  const warmup = Number(arg('warmup') ?? 1);
  const profile = process.argv.includes('--profile');
  console.log(`adapter: ${info.adapter} (${info.backend}), f16: ${info.features.f16}, f16 storage: ${gpu.f16Mode}`);
  console.log(gpu.profile.describe());
  const header = `${'model'.padEnd(16)} ${'size'.padStart(5)} ${'dtype'.padEnd(5)} ${'ms/frame'.padStart(10)} ${'GFLOP'.padStart(7)} ${'GFLOPS'.padStart(8)} ${'weights MB'.padStart(10)} ${'peak act MB'.padStart(11)} ${'pool peak MB'.padStart(12)}`;
  console.log(header);
  console.log('-'.repeat(header.length));
  const rows: Row[] = [];
  for (const m of models) {
    for (const s of sizes) {
      for (const dt of dtypes) {
        const r = await benchOne(gpu, m, s, dt, iters, warmup, profile);
        rows.push(r);
        console.log(
          `${r.model.padEnd(16)} ${String(s).padStart(5)} ${dt.padEnd(5)} ${r.medianMs.toFixed(1).padStart(10)} ${r.gflop.toFixed(1).padStart(7)} ${r.gflops.toFixed(2).padStart(8)} ${MB(r.weightBytes).padStart(10)} ${MB(r.peakActivationBytes).padStart(11)} ${MB(r.peakPoolBytes).padStart(12)}`,
        );
        if (r.profile) console.log(Profiler.format(r.profile.slice(0, 15)));
      }
    }
  }
  const out = arg('out') ?? join(here, 'results', `encoder-${info.backend}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out + '.tmp', JSON.stringify({ date: new Date().toISOString(), adapter: info, rows }, null, 2));
  renameSync(out + '.tmp', out);
  console.log(`results written to ${out}`);
  gpu.destroy();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
