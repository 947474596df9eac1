/**
 * Kernel benchmark harness: each case records its dispatches, runs warm-up iterations, then times batches
 * of iterations (wall clock around submit → onSubmittedWorkDone, which on a software adapter is the GPU
 * time) and reports the median milliseconds per iteration, GFLOPS and GB/s.
 */
import type { Gpu } from '../src/runtime/gpu.js';

export interface BenchCase {
  /** Kernel family, e.g. "matmul". */
  kernel: string;
  /** Size label, e.g. "1024x1024x1024 f32". */
  name: string;
  dtype: 'f32' | 'f16';
  /** Floating-point operations per iteration (multiply-add = 2), 0 for memory-bound kernels. */
  flops: number;
  /** Bytes read + written per iteration (for GB/s). */
  bytes: number;
  /** Allocates inputs; returns the function that records one iteration and a cleanup. */
  setup(gpu: Gpu): { run(): void; dispose(): void };
  /** Skip on devices that cannot run it (returns a reason). */
  skip?(gpu: Gpu): string | undefined;
}

export interface BenchResult {
  kernel: string;
  name: string;
  dtype: string;
  medianMs: number;
  gflops: number;
  gbps: number;
  iterations: number;
  skipped?: string;
}

export interface BenchOptions {
  /** Minimum wall time to spend timing each case. */
  minMs?: number;
  warmup?: number;
  samples?: number;
}

export async function runCase(gpu: Gpu, c: BenchCase, opts: BenchOptions = {}): Promise<BenchResult> {
  const skipped = c.skip?.(gpu);
  if (skipped) return { kernel: c.kernel, name: c.name, dtype: c.dtype, medianMs: NaN, gflops: NaN, gbps: NaN, iterations: 0, skipped };
  const { run, dispose } = c.setup(gpu);
  // The first run compiles pipelines and warms caches.
  let t0 = performance.now();
  run();
  await gpu.sync();
  let one = performance.now() - t0;
  // Cases that take seconds per iteration (a software adapter at SAM 2's full sizes) get fewer samples.
  const heavy = one > 5000;
  const warmup = heavy ? 0 : (opts.warmup ?? 2);
  for (let i = 0; i < warmup; i++) run();
  await gpu.sync();
  // Size each sample so it takes about minMs / samples.
  const samples = heavy ? Math.min(opts.samples ?? 5, 3) : (opts.samples ?? 5);
  t0 = performance.now();
  run();
  await gpu.sync();
  one = Math.max(performance.now() - t0, 1e-3);
  const per = Math.max(1, Math.min(1000, Math.round((opts.minMs ?? 1000) / samples / one)));
  const times: number[] = [];
  for (let s = 0; s < samples; s++) {
    const a = performance.now();
    for (let i = 0; i < per; i++) run();
    await gpu.sync();
    times.push((performance.now() - a) / per);
  }
  dispose();
  times.sort((a, b) => a - b);
  const med = times[Math.floor(times.length / 2)];
  return {
    kernel: c.kernel,
    name: c.name,
    dtype: c.dtype,
    medianMs: med,
    gflops: c.flops / (med * 1e6),
    gbps: c.bytes / (med * 1e6),
    iterations: per * samples,
  };
}
