/**
 * matmul / linear benchmarks: 1024³ and the products SAM 2 runs at its official sizes, with the FMA-peak
 * and vector-load baselines measured in the same run, so each product reads as a share of the adapter's
 * peak beside the share its loads and broadcasts leave it by the model of harness.modelPercent.
 *
 *   npx tsx bench/entries/matmul.ts [filter]   prints the table (median ms, GFLOPS, % of peak, model)
 */
import { pathToFileURL } from 'node:url';
import { modelPercent, issueRates, rateNote, type BenchCase, type BenchResult, type IssueCounts } from '../harness.js';
import { linear, matmul, matmulConfig } from '../../src/kernels/matmul.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { modelBaselines } from './baseline.js';

const BYTES = { f32: 4, f16: 2 } as const;

function randomTensor(gpu: Gpu, shape: number[], dtype: 'f32' | 'f16', seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = s / 2 ** 32 - 0.5;
  }
  return gpu.upload(v, shape, dtype);
}

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

for (const dtype of ['f32', 'f16'] as const) {
  const S = 1024;
  cases.push({
    kernel: 'matmul',
    name: `${S}x${S}x${S}`,
    dtype,
    flops: 2 * S * S * S,
    bytes: 3 * S * S * BYTES[dtype],
    skip: (gpu) => (dtype === 'f16' && !gpu.info.features.f16 && gpu.f16Mode !== 'f16packed' ? 'no f16' : undefined),
    counts: (gpu) => matmulCounts(gpu, S, S, S, dtype),
    setup(gpu) {
      const a = randomTensor(gpu, [S, S], dtype, 1);
      const b = randomTensor(gpu, [S, S], dtype, 2);
      const y = gpu.empty([S, S], dtype);
      return { run: () => void matmul(gpu, a, b, { out: y }), dispose: () => [a, b, y].forEach((t) => t.release()) };
    },
  });
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
  cases.push({
    kernel: 'matmul',
    name: 'attention scores 1024x256 @ (4096x256)ᵀ',
    dtype,
    flops: 2 * 1024 * 4096 * 256,
    bytes: (1024 * 256 + 4096 * 256 + 1024 * 4096) * BYTES[dtype],
    counts: (gpu) => matmulCounts(gpu, 1024, 4096, 256, dtype),
    setup(gpu) {
      const q = randomTensor(gpu, [1, 1, 1024, 256], dtype, 8);
      const k = randomTensor(gpu, [1, 1, 4096, 256], dtype, 9);
      const y = gpu.empty([1, 1, 1024, 4096], dtype);
      return {
        run: () => void matmul(gpu, q, k, { transB: true, alpha: 1 / 16, out: y }),
        dispose: () => [q, k, y].forEach((t) => t.release()),
      };
    },
  });
  // Mask decoder: hyper_in [1, 4, 32] @ upscaled embedding [1, 32, 256 * 256].
  cases.push({
    kernel: 'matmul',
    name: 'mask decoder masks 4x32 @ 32x65536',
    dtype,
    flops: 2 * 4 * 32 * 65536,
    bytes: (4 * 32 + 32 * 65536 + 4 * 65536) * BYTES[dtype],
    counts: (gpu) => matmulCounts(gpu, 4, 65536, 32, dtype),
    setup(gpu) {
      const a = randomTensor(gpu, [1, 4, 32], dtype, 6);
      const b = randomTensor(gpu, [1, 32, 65536], dtype, 7);
      const y = gpu.empty([1, 4, 65536], dtype);
      return { run: () => void matmul(gpu, a, b, { out: y }), dispose: () => [a, b, y].forEach((t) => t.release()) };
    },
  });
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

async function main(): Promise<void> {
  const { Gpu } = await import('../../src/runtime/gpu.js');
  const { runCase } = await import('../harness.js');
  const filter = process.argv[2];
  const gpu = await Gpu.create();
  console.log(`${gpu.info.adapter} (${gpu.info.backend})`);
  const results: BenchResult[] = [];
  for (const c of cases) {
    if (filter && !modelBaselines.includes(c) && !`${c.kernel} ${c.name} ${c.dtype}`.includes(filter)) continue;
    results.push(await runCase(gpu, c, { minMs: 2000, samples: 5 }));
  }
  console.log(table(results));
  gpu.destroy();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
