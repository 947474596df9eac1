/**
 * matmul / linear benchmarks: 1024³ and the products SAM 2 runs at its official sizes, with the FMA-peak
 * and vector-load baselines measured in the same run, so each product reads as a share of the adapter's
 * peak beside the share its loads and broadcasts leave it by the model of harness.modelPercent.
 *
 *   npx tsx bench/entries/matmul.ts [filter]   prints the table (median ms, GFLOPS, % of peak, model)
 */
import { pathToFileURL } from 'node:url';
import { BYTES, modelPercent, issueRates, randomTensor, rateNote, runEntry, type BenchCase, type BenchResult, type IssueCounts } from '../harness.js';
import { linear, matmul, matmulConfig, type MatmulOptions } from '../../src/kernels/matmul.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { modelBaselines } from './baseline.js';

interface LinearCase {
  name: string;
  rows: number;
  inF: number;
  outF: number;
  act?: 'gelu' | 'relu';
}

/** nn.Linear layers of SAM 2 (tokens x in -> out). */
const linears: LinearCase[] = [
  // 4096 of the 65,536 tokens of stage 1 at 1024 x 1024.
  { name: 'Hiera-T stage 1 qkv 4096x96->288', rows: 4096, inF: 96, outF: 288 },
  { name: 'Hiera-T stage 3 MLP 4096x384->1536 +GELU', rows: 4096, inF: 384, outF: 1536, act: 'gelu' },
  { name: 'Hiera-T stage 4 MLP 1024x768->3072 +GELU', rows: 1024, inF: 768, outF: 3072, act: 'gelu' },
  { name: 'memory attention MLP 4096x256->2048 +ReLU', rows: 4096, inF: 256, outF: 2048, act: 'relu' },
  { name: 'memory attention MLP 4096x2048->256', rows: 4096, inF: 2048, outF: 256 },
];

/**
 * Vector loads and broadcasts of one product [M, K] @ [K, N] (either operand transposed alike) by the
 * register-blocked kernel on this device: each lane (4 columns, tm rows) loads, per 4 steps of K, 4 vectors
 * of B, and tm / sg vectors of A that the subgroup shares in tm broadcasts (without subgroups: a vector per
 * row). Undefined for the GPU kernel and for layouts read by scalar loads.
 */
function matmulCounts(gpu: Gpu, M: number, N: number, K: number, dtype: 'f32' | 'f16'): IssueCounts | undefined {
  const cfg = matmulConfig(gpu, M, dtype, N);
  if (cfg.kernel !== 'reg' || N % 4 !== 0 || K % 4 !== 0) return undefined;
  const steps = Math.ceil(M / cfg.tm) * Math.ceil(N / (4 * cfg.wg)) * cfg.wg * (K / 4);
  return { loads: steps * (4 + cfg.tm / cfg.sg), broadcasts: cfg.sg > 1 ? steps * cfg.tm : 0 };
}

export const cases: BenchCase[] = [...modelBaselines];

/** matmul(a, b) of seeded operands a [..., M, K] and b [..., K, N] (transB: [..., N, K]) into y [..., M, N]. */
function productCase(
  name: string,
  dtype: 'f32' | 'f16',
  aShape: number[],
  bShape: number[],
  seeds: [number, number],
  opts: MatmulOptions = {},
  skip?: BenchCase['skip'],
): BenchCase {
  const [M, K] = aShape.slice(-2);
  const N = opts.transB ? bShape[bShape.length - 2] : bShape[bShape.length - 1];
  return {
    kernel: 'matmul',
    name,
    dtype,
    flops: 2 * M * N * K,
    bytes: (M * K + K * N + M * N) * BYTES[dtype],
    skip,
    counts: (gpu) => matmulCounts(gpu, M, N, K, dtype),
    setup(gpu) {
      const a = randomTensor(gpu, aShape, dtype, seeds[0]);
      const b = randomTensor(gpu, bShape, dtype, seeds[1]);
      const y = gpu.empty([...aShape.slice(0, -1), N], dtype);
      return { run: () => void matmul(gpu, a, b, { ...opts, out: y }), dispose: () => [a, b, y].forEach((t) => t.release()) };
    },
  };
}

for (const dtype of ['f32', 'f16'] as const) {
  const S = 1024;
  const noF16 = (gpu: Gpu) => (dtype === 'f16' && !gpu.info.features.f16 && gpu.f16Mode !== 'f16packed' ? 'no f16' : undefined);
  cases.push(productCase(`${S}x${S}x${S}`, dtype, [S, S], [S, S], [1, 2], {}, noF16));
  for (const c of linears) {
    cases.push({
      kernel: 'linear',
      name: c.name,
      dtype,
      flops: 2 * c.rows * c.inF * c.outF,
      bytes: (c.rows * c.inF + c.inF * c.outF + c.outF + c.rows * c.outF) * BYTES[dtype],
      counts: (gpu) => matmulCounts(gpu, c.rows, c.outF, c.inF, dtype),
      setup(gpu) {
        const x = randomTensor(gpu, [c.rows, c.inF], dtype, 3);
        const w = randomTensor(gpu, [c.outF, c.inF], dtype, 4);
        const b = randomTensor(gpu, [c.outF], dtype, 5);
        const y = gpu.empty([c.rows, c.outF], dtype);
        return {
          run: () => void linear(gpu, x, w, b, { act: c.act, out: y }),
          dispose: () => [x, w, b, y].forEach((t) => t.release()),
        };
      },
    });
  }
  // Memory attention scores for 1024 of the 4096 queries: [1, 1, 1024, 256] @ [1, 1, 4096, 256]ᵀ.
  cases.push(productCase('attention scores 1024x256 @ (4096x256)ᵀ', dtype, [1, 1, 1024, 256], [1, 1, 4096, 256], [8, 9], { transB: true, alpha: 1 / 16 }));
  // Mask decoder: hyper_in [1, 4, 32] @ upscaled embedding [1, 32, 256 * 256].
  cases.push(productCase('mask decoder masks 4x32 @ 32x65536', dtype, [1, 4, 32], [1, 32, 65536], [6, 7]));
}

/**
 * The results as a table: each product's GFLOPS as a share of the FMA peak measured in the same run, and the
 * share its loads and broadcasts leave it by the model of harness.modelPercent (model); the baselines' rows give their rates.
 */
export function table(results: BenchResult[]): string {
  const peak = Math.max(0, ...results.filter((r) => r.kernel === 'fma_peak').map((r) => r.gflops));
  const rates = issueRates(results);
  const rows = results.map((r) => {
    const base = modelBaselines.some((c) => c.kernel === r.kernel);
    const pct = !base && peak > 0 ? `${((100 * r.gflops) / peak).toFixed(0)}%` : '';
    const model = base ? NaN : modelPercent(r, peak, rates);
    const rate = rateNote(r) && `   ${rateNote(r)}`;
    return `${`${r.kernel} ${r.name}`.padEnd(56)} ${r.dtype.padEnd(4)} ${r.medianMs.toFixed(3).padStart(10)} ms ${r.gflops.toFixed(2).padStart(8)} GFLOPS ${pct.padStart(5)} ${(Number.isFinite(model) ? `${model.toFixed(0)}%` : '').padStart(7)}${rate}`;
  });
  return [`${'case'.padEnd(56)} ${'type'} ${'median'.padStart(13)} ${'GFLOPS'.padStart(15)} ${'%peak'.padStart(5)} ${'model'.padStart(7)}`, ...rows].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await runEntry(cases, table, { minMs: 2000, samples: 5 }, modelBaselines);
