/**
 * Attention and rotary-embedding benchmarks at SAM 2's shapes, with the FMA-peak and vector-load baselines
 * measured in the same run. Attention flops count 4·Lq·Lk·D per head (qkᵀ and pv, a multiply-add as 2),
 * bytes one read of q, k, v and one write of out.
 *
 *   npx tsx bench/entries/attention.ts [filter]   prints the table (median ms, GFLOPS, GB/s, % of peak, and
 *                                                 for f32 the share its loads and broadcasts leave it by
 *                                                 the model of harness.modelPercent)
 *
 * The 4096 × 28,736 × 256 case (memory cross-attention over the full memory bank at 1024: 7 frames of
 * 64×64 tokens and 64 object-pointer tokens) is 120 GFLOP per iteration: tens of seconds on a software adapter.
 */
import { pathToFileURL } from 'node:url';
import { BYTES, modelPercent, issueRates, randomTensor, rateNote, runEntry, type BenchCase, type BenchResult, type IssueCounts } from '../harness.js';
import { attention, attentionTuning, capacity, type AttentionTuning } from '../../src/kernels/attention.js';
import { rope, ropeTable } from '../../src/kernels/rope.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { modelBaselines } from './baseline.js';

interface AttnCase {
  name: string;
  B: number;
  H: number;
  lq: number;
  lk: number;
  d: number;
  dv?: number;
  /** Token-major q, k, v and out ([B, L, H·D]), as the model holds them. */
  tokens?: boolean;
  tune?: AttentionTuning;
  dtypes?: Array<'f32' | 'f16'>;
}

const attn: AttnCase[] = [
  { name: '1024x1024x64', B: 1, H: 1, lq: 1024, lk: 1024, d: 64 },
  // The same with the other kernel variants, to compare (see attentionTuning): the register kernel's
  // (CPU adapters) and the FlashAttention-2 kernel (GPUs) with the tiles the GPU profile picks.
  { name: '1024x1024x64 no subgroups, 4 q/inv', B: 1, H: 1, lq: 1024, lk: 1024, d: 64, tune: { kernel: 'register', sg: 0, qpi: 4 }, dtypes: ['f32'] },
  { name: '1024x1024x64 no subgroups, 1 q/inv', B: 1, H: 1, lq: 1024, lk: 1024, d: 64, tune: { kernel: 'register', sg: 0, qpi: 1 }, dtypes: ['f32'] },
  { name: '1024x1024x64 1 q/inv', B: 1, H: 1, lq: 1024, lk: 1024, d: 64, tune: { kernel: 'register', qpi: 1 }, dtypes: ['f32'] },
  { name: '1024x1024x64 4 q/inv', B: 1, H: 1, lq: 1024, lk: 1024, d: 64, tune: { kernel: 'register', qpi: 4 }, dtypes: ['f32'] },
  { name: '1024x1024x64 flash', B: 1, H: 1, lq: 1024, lk: 1024, d: 64, tune: { kernel: 'flash' } },
  { name: 'Hiera global 4096x4096x96 flash', B: 1, H: 1, lq: 4096, lk: 4096, d: 96, tokens: true, tune: { kernel: 'flash' } },
  { name: 'memory cross 4096x28736x256 flash', B: 1, H: 1, lq: 4096, lk: 28736, d: 256, tokens: true, tune: { kernel: 'flash' }, dtypes: ['f32'] },
  // Hiera-T/S global attention at 1024 (stage 3: 64×64 tokens, head dim 96), one of its 4 heads.
  { name: 'Hiera global 4096x4096x96', B: 1, H: 1, lq: 4096, lk: 4096, d: 96, tokens: true },
  // Hiera-T stage 1 window attention at 1024: 1024 windows of 8×8 tokens, head dim 96.
  { name: 'Hiera windows 1024 x (64x64x96)', B: 1024, H: 1, lq: 64, lk: 64, d: 96, tokens: true },
  // Mask decoder (8 heads): tokens → image cross-attention (head dim 16) and image → tokens.
  { name: 'decoder tokens->image 8 x (7x4096x16)', B: 1, H: 8, lq: 7, lk: 4096, d: 16, tokens: true },
  { name: 'decoder image->tokens 8 x (4096x7x16)', B: 1, H: 8, lq: 4096, lk: 7, d: 16, tokens: true },
  // Memory attention at 1024 (one head of 256): self-attention, and cross-attention to the full memory bank.
  { name: 'memory self 4096x4096x256', B: 1, H: 1, lq: 4096, lk: 4096, d: 256, tokens: true },
  { name: 'memory cross 4096x28736x256', B: 1, H: 1, lq: 4096, lk: 28736, d: 256, tokens: true, dtypes: ['f32'] },
  { name: 'memory cross 4096x28736x256 2 q/inv', B: 1, H: 1, lq: 4096, lk: 28736, d: 256, tokens: true, tune: { kernel: 'register', qpi: 2 }, dtypes: ['f32'] },
];

const noF16 = (dtype: 'f32' | 'f16') => (gpu: Gpu) =>
  dtype === 'f16' && !gpu.info.features.f16 && gpu.f16Mode !== 'f16packed' ? 'no f16' : undefined;

/**
 * Vector loads and broadcasts of an f32 case on this device: each invocation loads its queries' rows once,
 * then per key its share of the key and value rows (chunks c ≡ lane mod SG) and receives every chunk of both
 * by a shuffle from a lane known at compile time (a broadcast); without subgroups it loads both whole rows.
 * Undefined for f16 (vec4<f16> loads, whose rate the baselines do not measure).
 */
function attentionCounts(gpu: Gpu, c: AttnCase, dtype: 'f32' | 'f16'): IssueCounts | undefined {
  const dv = c.dv ?? c.d;
  if (dtype !== 'f32' || c.d % 4 !== 0 || dv % 4 !== 0) return undefined;
  const tuned = attentionTuning(gpu, c.lq, c.d, dv);
  // The model counts the register kernel's loads; the flash kernel stages rows in workgroup memory.
  if ((c.tune?.kernel ?? tuned.kernel) === 'flash') return undefined;
  const sg = c.tune?.sg ?? tuned.sg;
  const qpi = c.tune?.qpi ?? tuned.qpi;
  const wg = c.tune?.wg ?? tuned.wg;
  const dc = capacity(c.d) / 4;
  const dvc = capacity(dv) / 4;
  const perKey = sg ? Math.ceil(dc / sg) + Math.ceil(dvc / sg) : dc + dvc;
  const lanes = c.B * c.H * Math.ceil(c.lq / (wg * qpi)) * wg;
  return { loads: lanes * (c.lk * perKey + qpi * dc), broadcasts: sg ? lanes * c.lk * (dc + dvc) : 0 };
}

export const cases: BenchCase[] = [...modelBaselines];

for (const c of attn) {
  for (const dtype of c.dtypes ?? (['f32', 'f16'] as const)) {
    const dv = c.dv ?? c.d;
    cases.push({
      kernel: 'attention',
      name: c.name,
      dtype,
      flops: 2 * c.B * c.H * c.lq * c.lk * (c.d + dv),
      bytes: c.B * c.H * (c.lq * c.d + c.lk * (c.d + dv) + c.lq * dv) * BYTES[dtype],
      skip: noF16(dtype),
      counts: (gpu) => attentionCounts(gpu, c, dtype),
      setup(gpu) {
        const shape = (l: number, d: number) => (c.tokens ? [c.B, l, c.H * d] : [c.B, c.H, l, d]);
        const q = randomTensor(gpu, shape(c.lq, c.d), dtype, 1);
        const k = randomTensor(gpu, shape(c.lk, c.d), dtype, 2);
        const v = randomTensor(gpu, shape(c.lk, dv), dtype, 3);
        const out = gpu.empty(shape(c.lq, dv), dtype);
        return {
          run: () => void attention(gpu, q, k, v, { heads: c.H, out, tune: c.tune }),
          dispose: () => [q, k, v, out].forEach((t) => t.release()),
        };
      },
    });
  }
}

// RoPE on memory attention's q (4096 × 256) and on its keys over the full memory bank (7 frames of 4096
// rotated tokens, 64 object-pointer tokens left as they are), in place.
for (const [name, L, repeat, exclude] of [
  ['q 4096x256', 4096, false, 0],
  ['k 28736x256 (7 repeats, 64 excluded)', 7 * 4096 + 64, true, 64],
] as const) {
  for (const dtype of ['f32', 'f16'] as const) {
    cases.push({
      kernel: 'rope',
      name,
      dtype,
      flops: 0,
      bytes: 2 * (L - exclude) * 256 * BYTES[dtype],
      skip: noF16(dtype),
      setup(gpu) {
        const table = ropeTable(gpu, 256, 64, 64);
        const x = randomTensor(gpu, [1, L, 256], dtype, 4);
        return {
          run: () => void rope(gpu, x, table, { repeat, exclude, inPlace: true }),
          dispose: () => [x, table.tensor].forEach((t) => t.release()),
        };
      },
    });
  }
}

/**
 * The results as a table, with GFLOPS as a share of the FMA peak measured in the same run and the share the
 * case's loads and broadcasts leave it by the model of harness.modelPercent (model); the baselines' rows give their rates.
 */
export function table(results: BenchResult[]): string {
  const peak = Math.max(0, ...results.filter((r) => r.kernel === 'fma_peak').map((r) => r.gflops));
  const rates = issueRates(results);
  const rows = results.map((r) => {
    const base = modelBaselines.some((c) => c.kernel === r.kernel);
    const pct = r.gflops > 0 && !base && peak > 0 ? `${((100 * r.gflops) / peak).toFixed(0)}%` : '';
    const model = base ? NaN : modelPercent(r, peak, rates);
    const rate = rateNote(r) && `   ${rateNote(r)}`;
    return `${`${r.kernel} ${r.name}`.padEnd(58)} ${r.dtype.padEnd(4)} ${r.medianMs.toFixed(2).padStart(11)} ms ${r.gflops.toFixed(2).padStart(7)} GFLOPS ${r.gbps.toFixed(2).padStart(7)} GB/s ${pct.padStart(5)} ${(Number.isFinite(model) ? `${model.toFixed(0)}%` : '').padStart(7)}${rate}`;
  });
  return [`${'case'.padEnd(58)} type ${'median'.padStart(14)} ${'GFLOPS'.padStart(14)} ${'GB/s'.padStart(12)} %peak   model`, ...rows].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await runEntry(cases, table, { minMs: 1000, samples: 3, warmup: 1 }, modelBaselines, true);
