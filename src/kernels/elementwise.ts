/**
 * Elementwise kernels (wgsl/elementwise.wgsl).
 *
 * unary(x, op): y = op(x * scale + bias) for op in identity | gelu (PyTorch's exact-erf GELU) | relu | sigmoid.
 * Any shape; y has x's shape and dtype (f32 or f16).
 */
import type { Gpu } from '../runtime/gpu.js';
import { ShapeError } from '../runtime/errors.js';
import { Params } from '../runtime/params.js';
import type { Tensor } from '../runtime/tensor.js';
import { WG } from './workgroup.js';

export type UnaryOp = 'identity' | 'gelu' | 'relu' | 'sigmoid';
export const UNARY_ACT: Record<UnaryOp, number> = { identity: 0, gelu: 1, relu: 2, sigmoid: 3 };

export interface UnaryOptions {
  scale?: number;
  bias?: number;
  /** Write here instead of a new tensor (same shape and dtype as x; may not be x itself). */
  out?: Tensor;
}

export function checkFloat(kernel: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (t.dtype !== 'f32' && t.dtype !== 'f16') throw new ShapeError(`${kernel}: ${t} must be f32 or f16`);
    if (t.dtype !== ts[0].dtype) throw new ShapeError(`${kernel}: ${t} and ${ts[0]} differ in dtype`);
  }
}

export function unary(gpu: Gpu, x: Tensor, op: UnaryOp, opts: UnaryOptions = {}): Tensor {
  checkFloat('unary', x);
  const y = opts.out ?? gpu.empty(x.shape, x.dtype, op);
  if (y.size !== x.size || y.dtype !== x.dtype) throw new ShapeError(`unary ${op}: out ${y} does not match ${x}`);
  const groups = Math.ceil(Math.ceil(x.size / 4) / WG);
  gpu.dispatch({
    variant: { kernel: op, file: 'elementwise.wgsl', mode: gpu.modeFor(x.dtype), defines: { WG, ACT: UNARY_ACT[op] } },
    inputs: [x],
    outputs: [y],
    params: new Params().u32(x.size).f32(opts.scale ?? 1, opts.bias ?? 0).u32(0),
    workgroups: gpu.grid(groups),
  });
  return y;
}
