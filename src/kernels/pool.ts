/**
 * Max pooling (wgsl/pool.wgsl), PyTorch's F.max_pool2d with ceil_mode=False.
 *
 * maxPool2d(x, { kernel, stride = kernel, padding = 0, dilation = 1, layout })
 *   layout 'nchw': x [N, C, H, W] → y [N, C, Ho, Wo]
 *   layout 'nhwc': x [N, H, W, C] → y [N, Ho, Wo, C] (Hiera's query pooling pools its [B, H, W, C] tokens
 *                  directly, with no permute)
 *   Ho = floor((H + 2·ph − dh·(kh − 1) − 1) / sh) + 1 (likewise Wo); padding counts as −∞ and may be at most
 *   half the kernel (as PyTorch requires). NaN inputs are not guaranteed to propagate (WGSL may assume
 *   there are none).
 * NHWC tensors with C % 4 == 0 read and write 4 channels at a time.
 */
import type { Gpu } from '../runtime/gpu.js';
import { ShapeError } from '../runtime/errors.js';
import { Params } from '../runtime/params.js';
import { shapeStr, type Tensor } from '../runtime/tensor.js';
import { checkFloat } from './elementwise.js';
import { WG } from './workgroup.js';

/** Where the channels are: [N, C, H, W] or [N, H, W, C]. */
export type PoolLayout = 'nchw' | 'nhwc';

type Pair = number | [number, number];

export interface MaxPool2dOptions {
  kernel: Pair;
  /** Default: the kernel size. */
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  /** Default 'nchw'. */
  layout?: PoolLayout;
  /** Write here instead of a new tensor (the output shape, x's dtype; may not alias x). */
  out?: Tensor;
}

function pair(v: Pair | undefined, dflt: [number, number]): [number, number] {
  if (v === undefined) return dflt;
  return typeof v === 'number' ? [v, v] : v;
}

export function maxPool2d(gpu: Gpu, x: Tensor, opts: MaxPool2dOptions): Tensor {
  const K = 'max_pool2d';
  checkFloat(K, x);
  if (x.shape.length !== 4) throw new ShapeError(`${K}: x ${x} must be 4-D`);
  const nhwc = opts.layout === 'nhwc';
  const [n, c, h, w] = nhwc ? [x.shape[0], x.shape[3], x.shape[1], x.shape[2]] : x.shape;
  const [kh, kw] = pair(opts.kernel, [1, 1]);
  const [sh, sw] = pair(opts.stride, [kh, kw]);
  const [ph, pw] = pair(opts.padding, [0, 0]);
  const [dh, dw] = pair(opts.dilation, [1, 1]);
  for (const v of [kh, kw, sh, sw, dh, dw]) {
    if (!Number.isInteger(v) || v < 1) throw new ShapeError(`${K}: kernel, stride and dilation must be positive integers`);
  }
  if (![ph, pw].every((v) => Number.isInteger(v) && v >= 0)) throw new ShapeError(`${K}: padding must be a non-negative integer`);
  if (2 * ph > kh || 2 * pw > kw) throw new ShapeError(`${K}: padding ${ph}×${pw} must be at most half the kernel ${kh}×${kw}`);
  const ho = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const wo = Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  if (ho < 1 || wo < 1) throw new ShapeError(`${K}: x ${x} is smaller than the ${kh}×${kw} window`);
  const shape = nhwc ? [n, ho, wo, c] : [n, c, ho, wo];
  const y = opts.out ?? gpu.empty(shape, x.dtype, K);
  if (y.dtype !== x.dtype || y.shape.length !== 4 || y.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`${K}: out ${y} must be ${shapeStr(shape)}:${x.dtype}`);
  }
  const total = n * c * ho * wo;
  const vec = nhwc && c % 4 === 0;
  gpu.dispatch({
    variant: { kernel: K, file: 'pool.wgsl', mode: gpu.modeFor(x.dtype), defines: { WG, NHWC: nhwc ? 1 : 0, VEC: vec ? 1 : 0 } },
    inputs: [x],
    outputs: [y],
    params: new Params().u32(total, c, h, w, ho, wo, kh, kw, sh, sw, ph, pw, dh, dw, 0, 0),
    workgroups: gpu.grid(Math.ceil(total / 4 / WG)),
  });
  return y;
}
