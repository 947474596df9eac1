/**
 * Kernel benchmark harness: each case records its dispatches, runs warm-up iterations, then times batches
 * of iterations (wall clock around submit → onSubmittedWorkDone, which on a software adapter is the GPU
 * time) and reports the median milliseconds per iteration, GFLOPS and GB/s.
 */
import type { Gpu } from '../src/runtime/gpu.js';
import type { Tensor } from '../src/runtime/tensor.js';

/** The value after `--name` on the command line, or dflt. */
export function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

/** Bytes per element of the benchmarked float dtypes. */
export const BYTES = { f32: 4, f16: 2 } as const;

/** A tensor of deterministic values in [−0.5, 0.5) (a linear congruential sequence from `seed`). */
export function randomTensor(gpu: Gpu, shape: number[], dtype: 'f32' | 'f16', seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = s / 2 ** 32 - 0.5;
  }
  return gpu.upload(v, shape, dtype);
}

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
  /**
   * What one iteration issues on this device besides its FMAs, where counted: storage-buffer vector loads
   * (vec4<f32>, or 4 halves packed in 2 u32 for f16) and vec4 subgroup broadcasts. With the baselines'
   * rates this gives the case's modelled share of the peak (modelPercent).
   */
  counts?(gpu: Gpu): IssueCounts | undefined;
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
  /** BenchCase.counts on the device the case ran on. */
  counts?: IssueCounts;
}

export interface IssueCounts {
  loads: number;
  broadcasts: number;
}

/** The baselines' rates, per millisecond: vector loads by dtype (load_rate) and vec4 broadcasts. */
export interface IssueRates {
  loads: Record<string, number>;
  broadcasts: number;
}

/** What a load_rate / broadcast_rate result measured: its loads or broadcasts per iteration (undefined for other kernels). */
function baselineCount(r: BenchResult): number | undefined {
  return r.kernel === 'load_rate' ? r.counts?.loads : r.kernel === 'broadcast_rate' ? r.counts?.broadcasts : undefined;
}

/** The issue rates measured in a run (from its load_rate and broadcast_rate results). */
export function issueRates(results: BenchResult[]): IssueRates {
  const rates: IssueRates = { loads: {}, broadcasts: NaN };
  for (const r of results) {
    const n = baselineCount(r);
    if (!n || !(r.medianMs > 0)) continue;
    if (r.kernel === 'load_rate') rates.loads[r.dtype] = Math.max(rates.loads[r.dtype] ?? 0, n / r.medianMs);
    else rates.broadcasts = Math.max(Number.isFinite(rates.broadcasts) ? rates.broadcasts : 0, n / r.medianMs);
  }
  return rates;
}

/**
 * The share of the FMA peak a case would reach if its FMAs, vector loads and broadcasts each took the time
 * the baselines measured for them, one after another (a CPU adapter issues all three from the same cores).
 * A model, not a bound: an out-of-order core overlaps some of the three, so a kernel can run faster than it
 * predicts; a kernel far slower than it predicts spends its time on something the model leaves out
 * (spilled registers, control flow, exp). NaN where its counts or a needed rate are missing.
 */
export function modelPercent(r: Pick<BenchResult, 'gflops' | 'medianMs' | 'dtype' | 'counts'>, peakGflops: number, rates: IssueRates): number {
  const flops = r.gflops * r.medianMs * 1e6;
  const c = r.counts;
  const loadRate = rates.loads[r.dtype];
  if (!c || !(flops > 0) || !(peakGflops > 0) || !(loadRate > 0) || (c.broadcasts > 0 && !(rates.broadcasts > 0))) return NaN;
  const fmaMs = flops / (peakGflops * 1e6);
  return (100 * fmaMs) / (fmaMs + c.loads / loadRate + (c.broadcasts > 0 ? c.broadcasts / rates.broadcasts : 0));
}

/** "12.3 G loads/s" for the load and broadcast baselines' rows, '' for others. */
export function rateNote(r: BenchResult): string {
  const n = baselineCount(r);
  return n && r.medianMs > 0 ? `${(n / r.medianMs / 1e6).toFixed(3)} G ${r.kernel === 'load_rate' ? 'loads' : 'broadcasts'}/s` : '';
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
  const counts = c.counts?.(gpu);
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
    ...(counts ? { counts } : {}),
  };
}

/**
 * A bench entry's command line: runs its cases on a new Gpu (with a filter argument, those whose
 * "kernel name dtype" contains it, and `always`) and prints `table` of the results; `eachRow` also prints
 * each case's row as it finishes.
 */
export async function runEntry(
  cases: readonly BenchCase[],
  table: (results: BenchResult[]) => string,
  opts: BenchOptions,
  always: readonly BenchCase[] = [],
  eachRow = false,
): Promise<void> {
  const { Gpu } = await import('../src/runtime/gpu.js');
  const filter = process.argv[2];
  const gpu = await Gpu.create();
  console.log(`${gpu.info.adapter} (${gpu.info.backend})`);
  const results: BenchResult[] = [];
  for (const c of cases) {
    if (filter && !always.includes(c) && !`${c.kernel} ${c.name} ${c.dtype}`.includes(filter)) continue;
    const r = await runCase(gpu, c, opts);
    if (eachRow) console.log(table([r]).split('\n')[1]);
    results.push(r);
  }
  console.log(table(results));
  gpu.destroy();
}
