/**
 * Baselines that put kernel timings in context: the fixed cost of one dispatch (no-op kernel), and the
 * adapter's f32 multiply-add throughput (independent vec4 chains, the ceiling for compute-bound kernels).
 */
import type { BenchCase } from '../harness.js';
import { fmaPeak, noop, type FmaPeakOptions } from '../../src/kernels/baseline.js';

/** The FMA-throughput configuration used for the peak estimate (the best measured on lavapipe). */
export const FMA_PEAK: FmaPeakOptions = { groups: 256, wg: 64, chains: 8, iters: 128 };

function fmaCase(name: string, o: FmaPeakOptions): BenchCase {
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
];
