/**
 * Softmax over the last dim (wgsl/softmax.wgsl), as torch.softmax(x * scale, dim=-1): the row max is
 * subtracted before exp, and the max and the sum are kept in f32 in every storage mode.
 *
 * softmax(x): x [..., N] (any leading dims, row-major, any N >= 1); y like x (f32 or f16).
 */
import type { Gpu } from '../runtime/gpu.js';
import { ShapeError } from '../runtime/errors.js';
import { Params } from '../runtime/params.js';
import type { Tensor } from '../runtime/tensor.js';
import { checkFloat } from './elementwise.js';
import { layerNormThreadsPerRow } from './norm.js';

export interface SoftmaxOptions {
  /** Multiplies x before the softmax (an attention scale); 1 when absent. */
  scale?: number;
  /** Write here instead of a new tensor (x's shape and dtype; may not be x itself). */
  out?: Tensor;
  /** Invocations per row (power of two, 1..256); chosen from the row count and length when absent. */
  threadsPerRow?: number;
}

/** Softmax of x [..., N] along the last dim; returns y [..., N] in x's dtype. */
export function softmax(gpu: Gpu, x: Tensor, opts: SoftmaxOptions = {}): Tensor {
  checkFloat('softmax', x);
  if (x.shape.length < 1) throw new ShapeError(`softmax: ${x} needs at least one dim`);
  const n = x.shape[x.shape.length - 1];
  if (n < 1) throw new ShapeError(`softmax: ${x} has an empty last dim`);
  const y = opts.out ?? gpu.empty(x.shape, x.dtype, 'softmax');
  if (y.size !== x.size || y.dtype !== x.dtype) throw new ShapeError(`softmax: out ${y} does not match ${x}`);
  const rows = x.size / n;
  // Same balance as LayerNorm: one pass of statistics over the row, one of output.
  const tpr = opts.threadsPerRow ?? layerNormThreadsPerRow(gpu, rows, n);
  if (!Number.isInteger(tpr) || tpr < 1 || tpr > 256 || (tpr & (tpr - 1)) !== 0) {
    throw new ShapeError(`softmax: threadsPerRow must be a power of two in 1..256, got ${tpr}`);
  }
  const wg = Math.max(64, tpr);
  gpu.dispatch({
    variant: { kernel: 'softmax', file: 'softmax.wgsl', mode: gpu.modeFor(x.dtype), defines: { VEC: n % 4 === 0 ? 4 : 1, TPR: tpr, WG: wg } },
    inputs: [x],
    outputs: [y],
    params: new Params().u32(rows, n).f32(opts.scale ?? 1).u32(0),
    workgroups: gpu.grid(Math.ceil(rows / (wg / tpr))),
  });
  return y;
}
