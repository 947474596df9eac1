/**
 * `npm run bench:memory [-- --sizes 512,1024 --dtype f32,f16 --iters 3 --profile --out file.json]`
 *
 * Memory attention and memory encoder of sam2.1_hiera_t (synthetic weights) with a full memory bank: 7
 * spatial memories of h·w tokens and 16 object pointers (64 tokens), the tracking step's steady state. Prints
 * the median milliseconds per frame of each module and the GFLOPS achieved against the official FLOP counts
 * (attention included: at 1024, 605.5 GFLOP for memory attention, 11.6 for the memory encoder), optionally a
 * per-kernel breakdown, and writes JSON under bench/results/.
 *
 * The memory-encoder step is what the tracker runs per frame after the mask decoder: mask preparation
 * (sigmoid · 20 − 10), the encoder, the no-object embedding and the bf16 cast into the bank.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sam2Config, type Sam2Config } from '../src/checkpoint/config.js';
import { getManifest } from '../src/checkpoint/manifests.js';
import { MemoryAttention } from '../src/model/memory_attention.js';
import { addNoObjectEmbedding, maskForMemory, MemoryEncoder, toMemoryBank } from '../src/model/memory_encoder.js';
import { loadWeights } from '../src/checkpoint/weights.js';
import { Gpu } from '../src/runtime/gpu.js';
import { Profiler } from '../src/runtime/profiler.js';
import { syntheticWeights } from '../src/checkpoint/synthetic.js';

const here = dirname(fileURLToPath(import.meta.url));

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Memory tokens of a full bank: numMaskmem memories of L tokens and maxObjPtrs pointers split into 256/64 tokens. */
export function fullBankTokens(cfg: Sam2Config, L: number): { M: number; ptrTokens: number } {
  const ptrTokens = cfg.maxObjPtrsInEncoder * (cfg.hiddenDim / cfg.memDim);
  return { M: cfg.numMaskmem * L + ptrTokens, ptrTokens };
}

/** FLOPs of memory attention (multiply-add = 2; projections, both attentions' QKᵀ and PV, FFN). */
export function memoryAttentionFlops(cfg: Sam2Config, L: number, M: number): number {
  const C = cfg.hiddenDim;
  const F = cfg.memoryAttention.dimFeedforward;
  const D = cfg.memDim;
  const self = 4 * 2 * L * C * C + 2 * 2 * L * L * C;
  const cross = 2 * 2 * L * C * C + 2 * 2 * M * D * C + 2 * 2 * L * M * C;
  const ffn = 2 * 2 * L * C * F;
  return cfg.memoryAttention.numLayers * (self + cross + ffn);
}

/** FLOPs of the memory encoder at feature size h × w (mask downsampler, projections, CXBlocks). */
export function memoryEncoderFlops(cfg: Sam2Config, h: number, w: number): number {
  const C = cfg.hiddenDim;
  const me = cfg.memoryEncoder;
  const k = me.maskDownsamplerKernel;
  const s = me.maskDownsamplerStride;
  const layers = Math.round(Math.log2(me.maskDownsamplerTotalStride) / Math.log2(s));
  let flops = 0;
  let cin = 1;
  let side = h * me.maskDownsamplerTotalStride;
  for (let i = 0; i < layers; i++) {
    const cout = cin * s * s;
    side /= s;
    flops += 2 * k * k * cin * cout * side * side;
    cin = cout;
  }
  const px = h * w;
  flops += 2 * cin * C * px; // final 1×1 of the downsampler
  flops += 2 * C * C * px; // pix_feat_proj
  flops += me.fuserLayers * (2 * me.fuserKernel * me.fuserKernel * C * px + 2 * 2 * C * 4 * C * px);
  flops += 2 * C * cfg.memDim * px; // out_proj
  return flops;
}

function seeded(n: number, seed: number, amp = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = ((a >>> 8) / 16777216 - 0.5) * 2 * amp;
  }
  return out;
}

interface Row {
  module: string;
  size: number;
  dtype: string;
  tokens: string;
  medianMs: number;
  gflop: number;
  gflops: number;
  profile?: { kernel: string; calls: number; totalMs: number }[];
}

async function timeIt(gpu: Gpu, iters: number, run: () => void): Promise<number> {
  run(); // warm-up: pipelines, pool, tables
  await gpu.sync();
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    run();
    await gpu.sync();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function profileOnce(gpu: Gpu, run: () => void): Promise<Row['profile']> {
  gpu.profiler.reset();
  gpu.profiler.enabled = true;
  run();
  await gpu.sync();
  gpu.profiler.enabled = false;
  // Fold the per-layer labels together ("memory_attention.layers.2.linear1" → "memory_attention.layers.*.linear1").
  const merged = new Map<string, { calls: number; totalMs: number }>();
  for (const r of await gpu.profiler.report()) {
    const k = r.kernel.replace(/\.(layers)\.\d+\./, '.$1.*.');
    const m = merged.get(k) ?? { calls: 0, totalMs: 0 };
    m.calls += r.calls;
    m.totalMs += r.totalMs;
    merged.set(k, m);
  }
  gpu.profiler.reset();
  return [...merged].map(([kernel, m]) => ({ kernel, ...m })).sort((a, b) => b.totalMs - a.totalMs);
}

async function main(): Promise<void> {
  const sizes = (arg('sizes') ?? '256,512').split(',').map(Number);
  const dtypes = (arg('dtype') ?? 'f32').split(',') as Array<'f32' | 'f16'>;
  const iters = Number(arg('iters') ?? 3);
  const profile = process.argv.includes('--profile');
  const gpu = await Gpu.create();
  const info = gpu.info;
  console.log(`adapter: ${info.adapter} (${info.backend}), f16: ${info.features.f16} (${gpu.f16Mode})`);
  const full = getManifest('sam2.1_hiera_t');
  const manifest = {
    ...full,
    config: 'sam2.1_hiera_t (memory modules)',
    tensors: full.tensors.filter((t) => /^(memory_attention|memory_encoder)\./.test(t.name) || t.name === 'no_obj_embed_spatial'),
  };
  const rows: Row[] = [];
  const header = `${'module'.padEnd(18)} ${'size'.padStart(5)} ${'dtype'.padEnd(5)} ${'tokens (q x mem)'.padEnd(18)} ${'median ms'.padStart(11)} ${'GFLOP'.padStart(8)} ${'GFLOPS'.padStart(8)}`;
  console.log(header);
  console.log('-'.repeat(header.length));
  const print = (r: Row) =>
    console.log(
      `${r.module.padEnd(18)} ${String(r.size).padStart(5)} ${r.dtype.padEnd(5)} ${r.tokens.padEnd(18)} ${r.medianMs.toFixed(1).padStart(11)} ${r.gflop.toFixed(2).padStart(8)} ${r.gflops.toFixed(2).padStart(8)}`,
    );
  for (const dtype of dtypes) {
    const weights = await loadWeights(syntheticWeights(manifest), { gpu, dtype, manifest });
    for (const size of sizes) {
      const cfg = sam2Config('tiny', '2.1', { imageSize: size });
      const ctx = { gpu, weights };
      const h = size / cfg.backboneStride;
      const L = h * h;
      const { M, ptrTokens } = fullBankTokens(cfg, L);

      // Memory attention, full bank.
      const ma = new MemoryAttention(ctx, cfg);
      const curr = gpu.upload(seeded(L * 256, 1), [1, L, 256], dtype);
      const currPos = gpu.upload(seeded(L * 256, 2), [1, L, 256], dtype);
      const mem = gpu.upload(seeded(M * 64, 3), [1, M, 64], dtype);
      const memPos = gpu.upload(seeded(M * 64, 4), [1, M, 64], dtype);
      const runMa = () => ma.forward(curr, currPos, mem, memPos, ptrTokens).release();
      const maMs = await timeIt(gpu, iters, runMa);
      const maFlop = memoryAttentionFlops(cfg, L, M) / 1e9;
      const maRow: Row = { module: 'memory_attention', size, dtype, tokens: `${L} x ${M}`, medianMs: maMs, gflop: maFlop, gflops: maFlop / (maMs / 1e3) };
      if (profile) maRow.profile = await profileOnce(gpu, runMa);
      rows.push(maRow);
      print(maRow);
      for (const t of [curr, currPos, mem, memPos]) t.release();
      ma.release();

      // Memory encoder step.
      const enc = new MemoryEncoder(ctx, cfg);
      const pix = gpu.upload(seeded(256 * L, 5), [1, 256, h, h], dtype);
      const logits = gpu.upload(seeded(size * size, 6, 8), [1, 1, size, size], dtype);
      const score = gpu.upload(new Float32Array([1]), [1, 1], dtype);
      const noObj = weights.get('no_obj_embed_spatial');
      const runEnc = () => {
        const m = maskForMemory(gpu, logits, { binarize: false, scale: cfg.sigmoidScaleForMemEnc, bias: cfg.sigmoidBiasForMemEnc });
        const out = enc.forward(pix, m, { skipMaskSigmoid: true });
        m.release();
        const f = addNoObjectEmbedding(gpu, out.features, score, noObj);
        out.features.release();
        toMemoryBank(gpu, f).release();
        f.release();
      };
      const encMs = await timeIt(gpu, iters, runEnc);
      const encFlop = memoryEncoderFlops(cfg, h, h) / 1e9;
      const encRow: Row = { module: 'memory_encoder', size, dtype, tokens: `${L}`, medianMs: encMs, gflop: encFlop, gflops: encFlop / (encMs / 1e3) };
      if (profile) encRow.profile = await profileOnce(gpu, runEnc);
      rows.push(encRow);
      print(encRow);
      for (const t of [pix, logits, score]) t.release();
      enc.release();
    }
    weights.release();
  }
  if (profile) {
    for (const r of rows) {
      console.log(`\n${r.module} @ ${r.size} ${r.dtype} (one profiled run; each dispatch timed alone)`);
      console.log(Profiler.format(r.profile!.map((p) => ({ ...p }))));
    }
  }
  const out = arg('out') ?? join(here, 'results', `memory-${info.backend}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out + '.tmp', JSON.stringify({ date: new Date().toISOString(), adapter: info, rows }, null, 2));
  renameSync(out + '.tmp', out);
  console.log(`\nresults written to ${out}`);
  gpu.destroy();
}

await main();
