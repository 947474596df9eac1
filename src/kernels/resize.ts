/**
 * Resampling (wgsl/resize.wgsl), torch.nn.functional.interpolate on NCHW tensors.
 *
 * resize(x, mode, { size | scaleFactor, alignCorners, antialias, recomputeScaleFactor })
 *   x [N, C, H, W] → y [N, C, Ho, Wo]; [Ho, Wo] = size, or floor(H · sh), floor(W · sw) for scaleFactor.
 *   mode 'nearest'   PyTorch's legacy nearest: src = min(floor(dst · in / out), in − 1) (1 / scaleFactor
 *                    when given), the FPN neck's 2× upsampling
 *   mode 'bilinear'  align_corners false (half-pixel centers, negative sources clamped to 0) or true;
 *                    antialias = true is PyTorch's separable triangle filter widened by the downscale
 *                    factor (mask downsampling, torchvision's Resize)
 *   mode 'bicubic'   A = −0.75, border-clamped taps (Hiera's position-embedding interpolation)
 * The coordinate scale follows PyTorch: in / out from sizes, 1 / scaleFactor when a scale factor is given
 * (unless recomputeScaleFactor), (in − 1) / (out − 1) with alignCorners. Like PyTorch's CPU kernels,
 * bilinear leaves an axis whose size does not change untouched, whatever the scale factor.
 * Accumulates in f32; y has x's dtype.
 */
import type { Gpu } from '../runtime/gpu.js';
import { ShapeError } from '../runtime/errors.js';
import { Params } from '../runtime/params.js';
import { shapeStr, type Tensor } from '../runtime/tensor.js';
import { checkFloat } from './elementwise.js';
import { WG } from './workgroup.js';

/** nearest (PyTorch's legacy nearest), bilinear or bicubic. */
export type ResizeMode = 'nearest' | 'bilinear' | 'bicubic';

const MODE_CODE = { nearest: 0, bilinear: 1, bicubic: 2, antialias: 3 } as const;

export interface ResizeOptions {
  /** Output [H, W]. Give this or scaleFactor. */
  size?: [number, number];
  /** Output = floor(input · scaleFactor), coordinates mapped with 1 / scaleFactor. */
  scaleFactor?: number | [number, number];
  /** As F.interpolate's recompute_scale_factor: map coordinates with the ratio of the computed sizes. */
  recomputeScaleFactor?: boolean;
  /** bilinear and bicubic only. */
  alignCorners?: boolean;
  /** bilinear only. */
  antialias?: boolean;
  /** Write here instead of a new tensor ([N, C, Ho, Wo], x's dtype; may not alias x). */
  out?: Tensor;
}

interface Axis {
  scale: number;
  support: number;
  invscale: number;
}

/** PyTorch's per-axis coordinate scale (compute_scales_value / area_pixel_compute_scale). */
function axis(mode: ResizeMode, aa: boolean, align: boolean, inSize: number, outSize: number, sf: number | undefined): Axis {
  let scale: number;
  if (mode === 'nearest') {
    // nearest_idx: identity and exact halving for 1× and 2×, else floor(dst · scale).
    if (outSize === inSize) scale = 1;
    else if (outSize === 2 * inSize) scale = 0.5;
    else scale = sf !== undefined && sf > 0 ? Math.fround(1 / sf) : Math.fround(inSize / outSize);
  } else if (mode === 'bilinear' && outSize === inSize) {
    scale = 1;
  } else if (align) {
    scale = outSize > 1 ? Math.fround((inSize - 1) / (outSize - 1)) : 0;
  } else {
    scale = sf !== undefined && sf > 0 ? Math.fround(1 / sf) : Math.fround(inSize / outSize);
  }
  const support = aa && scale >= 1 ? scale : 1;
  const invscale = aa && scale >= 1 ? 1 / scale : 1;
  return { scale, support, invscale };
}

export function resize(gpu: Gpu, x: Tensor, mode: ResizeMode, opts: ResizeOptions): Tensor {
  const K = `resize_${mode}`;
  checkFloat(K, x);
  if (x.shape.length !== 4) throw new ShapeError(`${K}: x ${x} must be 4-D [N, C, H, W]`);
  if (mode !== 'nearest' && mode !== 'bilinear' && mode !== 'bicubic') throw new ShapeError(`resize: unknown mode ${mode}`);
  const aa = !!opts.antialias;
  const align = !!opts.alignCorners;
  if (aa && mode !== 'bilinear') throw new ShapeError(`${K}: antialias is implemented for bilinear only`);
  if (align && mode === 'nearest') throw new ShapeError(`${K}: alignCorners does not apply to nearest`);
  const [n, c, h, w] = x.shape;
  let size: [number, number];
  let sf: [number, number] | undefined;
  if (opts.size) {
    if (opts.scaleFactor !== undefined) throw new ShapeError(`${K}: give size or scaleFactor, not both`);
    size = opts.size;
  } else if (opts.scaleFactor !== undefined) {
    sf = typeof opts.scaleFactor === 'number' ? [opts.scaleFactor, opts.scaleFactor] : opts.scaleFactor;
    if (!(sf[0] > 0 && sf[1] > 0)) throw new ShapeError(`${K}: scaleFactor must be positive`);
    size = [Math.floor(h * sf[0]), Math.floor(w * sf[1])];
    if (opts.recomputeScaleFactor) sf = undefined;
  } else {
    throw new ShapeError(`${K}: give size or scaleFactor`);
  }
  const [ho, wo] = size;
  if (!(Number.isInteger(ho) && Number.isInteger(wo) && ho > 0 && wo > 0)) {
    throw new ShapeError(`${K}: output size ${shapeStr(size)} of x ${x} must be positive integers`);
  }
  const shape = [n, c, ho, wo];
  const y = opts.out ?? gpu.empty(shape, x.dtype, K);
  if (y.dtype !== x.dtype || y.shape.length !== 4 || y.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`${K}: out ${y} must be ${shapeStr(shape)}:${x.dtype}`);
  }
  const ay = axis(mode, aa, align, h, ho, sf?.[0]);
  const ax = axis(mode, aa, align, w, wo, sf?.[1]);
  const planes = n * c;
  const quads = planes * ho * Math.ceil(wo / 4);
  gpu.dispatch({
    variant: { kernel: K, file: 'resize.wgsl', mode: gpu.modeFor(x.dtype), defines: { WG, MODE: aa ? MODE_CODE.antialias : MODE_CODE[mode], UPX: mode === 'bicubic' && ax.scale <= 1 ? 1 : 0 } },
    inputs: [x],
    outputs: [y],
    params: new Params()
      .u32(planes, h, w, ho, wo, align ? 1 : 0, 0, 0)
      .f32(ay.scale, ax.scale, ay.support, ax.support, ay.invscale, ax.invscale, 0, 0),
    workgroups: gpu.grid(Math.ceil(quads / WG)),
  });
  return y;
}
