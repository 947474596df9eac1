/**
 * Baselines that put kernel timings in context: the fixed cost of one dispatch (no-op kernel), the
 * adapter's f32 multiply-add throughput (independent vec4 chains, the ceiling for compute-bound kernels),
 * its storage-buffer vector-load throughput (the ceiling for kernels that load more than they compute) and
 * its subgroup-broadcast throughput (how the CPU kernels share loaded rows); with BenchCase.counts these give
 * a case's modelled share of the peak (harness.modelPercent).
 */
import type { BenchCase } from '../harness.js';
import { f32ToF16Bits } from '../../src/runtime/dtype.js';
import { broadcastRate, fmaPeak, LOAD_RATE_TABLE, loadRate, noop, type FmaPeakOptions, type LoadRateOptions } from '../baseline.js';

/** The FMA-throughput configuration used for the peak estimate (the best measured on lavapipe). */
export const FMA_PEAK: FmaPeakOptions = { groups: 256, wg: 64, chains: 8, iters: 128 };

/** The f32 FMA-throughput case of configuration `o` (its flops: 32 per chain and round, 4 FMA steps of vec4). */
export function fmaCase(name: string, o: FmaPeakOptions): BenchCase {
  const g = o.groups ?? 1024;
  const wg = o.wg ?? 64;
  return {
    kernel: 'fma_peak',
    name,
    dtype: 'f32',
    flops: g * wg * (o.chains ?? 8) * (o.iters ?? 256) * 32,
    bytes: g * wg * 4,
    setup(gpu) {
      const y = gpu.empty([g * wg]);
      return { run: () => void fmaPeak(gpu, y, o), dispose: () => y.release() };
    },
  };
}

/** The load-throughput configuration: as many invocations as the FMA peak's. */
export const LOAD_RATE: LoadRateOptions = { groups: 256, wg: 64, iters: 256 };

function loadCase(packed: boolean): BenchCase {
  const o = { ...LOAD_RATE, packed };
  const loads = o.groups! * o.wg! * o.iters! * 4;
  return {
    kernel: 'load_rate',
    name: packed ? 'vector loads (4 halves in 2 u32)' : 'vector loads (vec4<f32>)',
    dtype: packed ? 'f16' : 'f32',
    flops: 0,
    bytes: loads * (packed ? 8 : 16),
    counts: () => ({ loads, broadcasts: 0 }),
    setup(gpu) {
      // Normal values in either reading (no denormals, which some CPUs add slowly).
      const values = Array.from({ length: 4 * LOAD_RATE_TABLE }, (_, i) => (i % 7) / 8 + 1);
      const bytes = packed ? new Uint8Array(Uint16Array.from([...values, ...values], f32ToF16Bits).buffer) : new Uint8Array(Float32Array.from(values).buffer);
      const x = gpu.uploadBytes(bytes, [4 * LOAD_RATE_TABLE], 'f32');
      const y = gpu.empty([o.groups! * o.wg!]);
      return { run: () => void loadRate(gpu, x, y, o), dispose: () => [x, y].forEach((t) => t.release()) };
    },
  };
}

const broadcastCase: BenchCase = {
  kernel: 'broadcast_rate',
  name: 'subgroup broadcasts (vec4<f32>)',
  dtype: 'f32',
  flops: 0,
  bytes: 0,
  counts: () => ({ loads: 0, broadcasts: LOAD_RATE.groups! * LOAD_RATE.wg! * LOAD_RATE.iters! * 8 }),
  skip: (gpu) => (gpu.info.features.subgroups && gpu.info.subgroupMinSize >= 8 ? undefined : 'no subgroups of 8 lanes'),
  setup(gpu) {
    const y = gpu.empty([LOAD_RATE.groups! * LOAD_RATE.wg!]);
    return { run: () => void broadcastRate(gpu, y, LOAD_RATE), dispose: () => y.release() };
  },
};

export const cases: BenchCase[] = [
  {
    kernel: 'noop',
    name: 'one empty dispatch',
    dtype: 'f32',
    flops: 0,
    bytes: 0,
    setup(gpu) {
      const y = gpu.empty([1]);
      return { run: () => noop(gpu, y), dispose: () => y.release() };
    },
  },
  fmaCase('fma peak (256 x 64 invocations, 8 vec4 chains)', FMA_PEAK),
  fmaCase('fma peak (1024 x 64 invocations, 4 vec4 chains)', { groups: 1024, wg: 64, chains: 4, iters: 64 }),
  loadCase(false),
  loadCase(true),
  broadcastCase,
];

/** The baselines a table of shares of the peak and of the model needs: the FMA peak, loads and broadcasts. */
export const modelBaselines: BenchCase[] = [cases.find((c) => c.kernel === 'fma_peak')!, ...cases.filter((c) => c.kernel === 'load_rate' || c.kernel === 'broadcast_rate')];
