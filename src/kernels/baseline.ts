/**
 * Baseline kernels (wgsl/fma_peak.wgsl) that put kernel timings in context.
 *
 * noop(gpu, y): one dispatch that does nothing — the fixed cost of a dispatch.
 * fmaPeak(gpu, y, opts): a dispatch of independent vec4 FMA chains; returns its flop count. Dividing by the
 * measured time estimates the adapter's peak f32 FMA throughput, the ceiling for compute-bound kernels.
 * y: f32 [n], one value per invocation (n = groups * wg), written so the arithmetic is not optimized away.
 */
import type { Gpu } from '../runtime/gpu.js';
import { ShapeError } from '../runtime/errors.js';
import { Params } from '../runtime/params.js';
import type { Tensor } from '../runtime/tensor.js';

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
