/**
 * Baseline kernels (fma_peak.wgsl, generated below, and bench/wgsl/load_rate.wgsl) that put kernel timings in
 * context.
 * Benchmark-only: their WGSL is registered with the preprocessor here, not embedded in the engine.
 *
 * noop(gpu, y): one dispatch that does nothing — the fixed cost of a dispatch.
 * fmaPeak(gpu, y, opts): a dispatch of independent vec4 FMA chains; returns its flop count. Dividing by the
 * measured time estimates the adapter's peak f32 FMA throughput, the ceiling for compute-bound kernels.
 * loadRate(gpu, x, y, opts): a dispatch of storage-buffer vector loads from a cache-resident table; returns
 * the number of loads. Dividing by the measured time gives the adapter's vector-load throughput, the
 * ceiling for kernels that load more than they compute (on software adapters, most of them).
 * broadcastRate(gpu, y, opts): a dispatch of vec4 subgroupBroadcasts (subgroups only); returns their number.
 * y: f32 [n], one value per invocation (n = groups * wg), written so the work is not optimized away.
 */
import { BENCH_WGSL } from '../src/generated/bench_wgsl.js';
import type { Gpu } from '../src/runtime/gpu.js';
import { ShapeError } from '../src/runtime/errors.js';
import { Params } from '../src/runtime/params.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { registerWgsl } from '../src/runtime/wgsl.js';

/**
 * fma_peak.wgsl, written out by a loop: CHAINS (1..16, a define) independent vec4 chains, each its own
 * variable (no arrays, so they stay in registers).
 */
function fmaPeakWgsl(): string {
  const ks = Array.from({ length: 16 }, (_, k) => k);
  const each = (f: (k: number) => string, indent = '  ') =>
    ks.map((k) => (k === 0 ? `${indent}${f(k)}` : `#if CHAINS > ${k}\n${indent}${f(k)}\n#endif`)).join('\n');
  const round = each((k) => `a${k} = fma(a${k}, m, c);`, '    ');
  return [
    '// Baseline kernels for benchmarks.',
    '//',
    '// noop: does no work; one dispatch of it measures the fixed cost of a dispatch (record, submit, wait).',
    '// fma_peak: CHAINS independent vec4 multiply-add chains per invocation (written out, no arrays, so they stay',
    '//   in registers), `iters` rounds of 4 steps each, so no step waits on the previous one\'s result;',
    '//   2 * 4 * 4 * CHAINS * iters flops per invocation. The chains\' sum is stored so the compiler cannot drop',
    '//   them. Estimates the adapter\'s peak f32 FMA throughput, the ceiling for compute-bound kernels. (lavapipe',
    '//   lowers fma to a multiply and an add; the matmul kernels use fma as well, so the two compare like with like.)',
    '// Defines: WG (workgroup size), CHAINS (independent vec4 accumulators, 1..16).',
    '#include "common.wgsl"',
    '',
    'struct Params { iters: u32, m: f32, c: f32, n: u32 }',
    '@group(0) @binding(0) var<uniform> P: Params;',
    '#tensor y 1 write f32',
    '',
    '@compute @workgroup_size(1)',
    'fn noop(@builtin(global_invocation_id) gid: vec3<u32>) {',
    '  // Never true (n is 0); keeps the bindings live.',
    '  if (gid.x < P.n) { st_y(gid.x, P.m); }',
    '}',
    '',
    '@compute @workgroup_size(WG)',
    'fn fma_peak(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {',
    '  let id = linear_id(gid, nwg, WG);',
    '  let s = vec4<f32>(f32(id & 1023u) * 1.0e-6);',
    '  let m = vec4<f32>(P.m, P.m * 0.999, P.m * 0.998, P.m * 0.997);',
    '  let c = vec4<f32>(P.c);',
    each((k) => (k === 0 ? 'var a0 = s;' : `var a${k} = s + ${k}.0e-3;`)),
    '  for (var i = 0u; i < P.iters; i++) {',
    round,
    round,
    round,
    round,
    '  }',
    '  var t = a0;',
    each((k) => (k === 0 ? '' : `t += a${k};`)),
    '  if (id < P.n) { st_y(id, t.x + t.y + t.z + t.w); }',
    '}',
    '',
  ].join('\n');
}

registerWgsl({ ...BENCH_WGSL, 'fma_peak.wgsl': fmaPeakWgsl() });

export function noop(gpu: Gpu, y: Tensor): void {
  if (y.dtype !== 'f32') throw new ShapeError(`noop: ${y} must be f32`);
  gpu.dispatch({
    variant: { kernel: 'noop', file: 'fma_peak.wgsl', entry: 'noop', mode: 'f32', defines: { WG: 1, CHAINS: 1 } },
    inputs: [],
    outputs: [y],
    params: new Params().u32(0).f32(1, 0).u32(0),
    workgroups: [1],
  });
}

export interface FmaPeakOptions {
  /** Workgroups (default 1024: several per CPU thread or GPU core). */
  groups?: number;
  /** Invocations per workgroup (default 64). */
  wg?: number;
  /** Independent vec4 chains per invocation (default 8). */
  chains?: number;
  /** Rounds of 4 steps per chain (default 256). */
  iters?: number;
}

/** Records one FMA-throughput dispatch and returns the flops it performs. y: f32 [groups * wg]. */
export function fmaPeak(gpu: Gpu, y: Tensor, opts: FmaPeakOptions = {}): number {
  const groups = opts.groups ?? 1024;
  const wg = opts.wg ?? 64;
  const chains = opts.chains ?? 8;
  const iters = opts.iters ?? 256;
  if (y.dtype !== 'f32' || y.size < groups * wg) {
    throw new ShapeError(`fmaPeak: y ${y} must be f32 with at least ${groups * wg} elements`);
  }
  gpu.dispatch({
    variant: { kernel: 'fma_peak', file: 'fma_peak.wgsl', entry: 'fma_peak', mode: 'f32', defines: { WG: wg, CHAINS: chains } },
    inputs: [],
    outputs: [y],
    // m slightly below 1 and c small keep the chains finite for any iteration count.
    params: new Params().u32(iters).f32(0.9999, 1e-4).u32(groups * wg),
    workgroups: gpu.grid(groups),
  });
  return groups * wg * chains * iters * 32;
}

export interface LoadRateOptions {
  /** Workgroups (default 256). */
  groups?: number;
  /** Invocations per workgroup (default 64). */
  wg?: number;
  /** Rounds of 4 loads per invocation (default 256). */
  iters?: number;
  /** Loads of 4 halves packed in 2 u32 (the f16 kernels' loads) instead of vec4<f32> (default false). */
  packed?: boolean;
}

/** The dispatch size of loadRate / broadcastRate (defaults filled in), with y checked to hold one value per invocation. */
function rateDims(what: string, y: Tensor, opts: LoadRateOptions): { groups: number; wg: number; iters: number } {
  const groups = opts.groups ?? 256;
  const wg = opts.wg ?? 64;
  if (y.dtype !== 'f32' || y.size < groups * wg) {
    throw new ShapeError(`${what}: y ${y} must be f32 with at least ${groups * wg} elements`);
  }
  return { groups, wg, iters: opts.iters ?? 256 };
}

/** Vectors in the table loadRate reads (64 KiB of vec4<f32>): small enough for the CPU's caches. */
export const LOAD_RATE_TABLE = 4096;

/**
 * Records one vector-load throughput dispatch and returns the loads it makes. x: the table, f32 with
 * 4 · LOAD_RATE_TABLE elements (read as LOAD_RATE_TABLE vec4<f32>, or as many vec2<u32> from its first
 * half when packed); y: f32 [groups * wg].
 */
export function loadRate(gpu: Gpu, x: Tensor, y: Tensor, opts: LoadRateOptions = {}): number {
  if (x.dtype !== 'f32' || x.size !== 4 * LOAD_RATE_TABLE) {
    throw new ShapeError(`loadRate: x ${x} must be f32 with ${4 * LOAD_RATE_TABLE} elements`);
  }
  const { groups, wg, iters } = rateDims('loadRate', y, opts);
  gpu.dispatch({
    variant: { kernel: 'load_rate', file: 'load_rate.wgsl', entry: 'load_rate', mode: 'f32', defines: { WG: wg, PACKED: opts.packed ? 1 : 0, BROADCAST: 0 } },
    inputs: [x],
    outputs: [y],
    params: new Params().u32(iters, LOAD_RATE_TABLE - 1, groups * wg, wg),
    workgroups: gpu.grid(groups),
  });
  return groups * wg * iters * 4;
}

/**
 * Records one subgroup-broadcast throughput dispatch and returns the vec4 broadcasts it makes (8 per round
 * per invocation). Needs the subgroups feature with subgroups of at least 8. y: f32 [groups * wg].
 */
export function broadcastRate(gpu: Gpu, y: Tensor, opts: Omit<LoadRateOptions, 'packed'> = {}): number {
  if (!gpu.info.features.subgroups || gpu.info.subgroupMinSize < 8) {
    throw new ShapeError(`broadcastRate: needs subgroups of at least 8 lanes (adapter: ${gpu.info.features.subgroups ? `${gpu.info.subgroupMinSize}..${gpu.info.subgroupMaxSize}` : 'no subgroups'})`);
  }
  const { groups, wg, iters } = rateDims('broadcastRate', y, opts);
  gpu.dispatch({
    variant: { kernel: 'broadcast_rate', file: 'load_rate.wgsl', entry: 'broadcast_rate', mode: 'f32', defines: { WG: wg, PACKED: 0, BROADCAST: 1 } },
    inputs: [],
    outputs: [y],
    params: new Params().u32(iters, LOAD_RATE_TABLE - 1, groups * wg, wg),
    workgroups: gpu.grid(groups),
  });
  return groups * wg * iters * 8;
}
