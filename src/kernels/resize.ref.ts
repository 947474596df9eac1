/**
 * CPU reference for resize.ts, written from PyTorch's torch.nn.functional.interpolate on NCHW tensors
 * (aten/src/ATen/native/UpSample.h and the CPU kernels): modes 'nearest' (the legacy one), 'bilinear'
 * (optionally antialiased) and 'bicubic' (A = −0.75).
 *
 * Index arithmetic follows PyTorch's float32 math (Math.fround at each step) so that floors land where
 * PyTorch's do; the interpolation sums are in double precision.
 */
import type { ResizeMode } from './resize.js';

export interface ResizeRefOptions {
  /** Output [H, W]. Either this or scaleFactor. */
  size?: [number, number];
  /** Output = floor(input · scaleFactor); the kernel then maps coordinates with 1 / scaleFactor. */
  scaleFactor?: [number, number];
  /** As F.interpolate's recompute_scale_factor: derive the scale from the computed sizes. */
  recomputeScaleFactor?: boolean;
  alignCorners?: boolean;
  antialias?: boolean;
}

const f = Math.fround;

/** One output coordinate: the input indices it reads and their weights. */
interface Taps {
  idx: number[];
  w: number[];
}

/** compute_scales_value / area_pixel_compute_scale in float32. */
function pixelScale(inSize: number, outSize: number, alignCorners: boolean, scale: number | undefined): number {
  if (alignCorners) return outSize > 1 ? f((inSize - 1) / (outSize - 1)) : 0;
  return scale !== undefined && scale > 0 ? f(1 / scale) : f(inSize / outSize);
}

function sourceIndex(scale: number, dst: number, alignCorners: boolean, cubic: boolean): number {
  if (alignCorners) return f(scale * dst);
  const s = f(f(scale * f(dst + 0.5)) - 0.5);
  return !cubic && s < 0 ? 0 : s;
}

function cubic1(x: number, A: number): number {
  return ((A + 2) * x - (A + 3)) * x * x + 1;
}

function cubic2(x: number, A: number): number {
  return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
}

function axisTaps(mode: ResizeMode, inSize: number, outSize: number, scaleArg: number | undefined, alignCorners: boolean, antialias: boolean): Taps[] {
  const taps: Taps[] = [];
  if (mode === 'nearest') {
    const scale = f(scaleArg !== undefined && scaleArg > 0 ? 1 / scaleArg : inSize / outSize);
    for (let o = 0; o < outSize; o++) {
      let i: number;
      if (outSize === inSize) i = o;
      else if (outSize === 2 * inSize) i = o >> 1;
      else i = Math.min(Math.floor(f(o * scale)), inSize - 1);
      taps.push({ idx: [i], w: [1] });
    }
    return taps;
  }
  const scale = pixelScale(inSize, outSize, alignCorners, scaleArg);
  if (antialias) {
    // Separable triangle filter; its support grows with the downscale factor.
    const support = scale >= 1 ? scale : 1;
    const invscale = scale >= 1 ? 1 / scale : 1;
    for (let o = 0; o < outSize; o++) {
      const center = scale * (o + 0.5);
      const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
      const xsize = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
      const idx: number[] = [];
      const w: number[] = [];
      let total = 0;
      for (let j = 0; j < xsize; j++) {
        const t = Math.abs((j + xmin - center + 0.5) * invscale);
        const v = t < 1 ? 1 - t : 0;
        idx.push(xmin + j);
        w.push(v);
        total += v;
      }
      if (total !== 0) for (let j = 0; j < w.length; j++) w[j] /= total;
      taps.push({ idx, w });
    }
    return taps;
  }
  if (mode === 'bilinear') {
    for (let o = 0; o < outSize; o++) {
      const src = sourceIndex(scale, o, alignCorners, false);
      const i0 = Math.min(Math.floor(src), inSize - 1);
      const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
      const l1 = Math.min(Math.max(src - i0, 0), 1);
      taps.push({ idx: [i0, i1], w: [1 - l1, l1] });
    }
    return taps;
  }
  // bicubic, A = -0.75, indices clamped to the border
  const A = -0.75;
  for (let o = 0; o < outSize; o++) {
    const src = sourceIndex(scale, o, alignCorners, true);
    const i = Math.min(Math.floor(src), inSize - 1);
    const t = Math.min(Math.max(src - i, 0), 1);
    const w = [cubic2(t + 1, A), cubic1(t, A), cubic1(1 - t, A), cubic2(2 - t, A)];
    const idx = [0, 1, 2, 3].map((j) => Math.max(Math.min(i - 1 + j, inSize - 1), 0));
    taps.push({ idx, w });
  }
  return taps;
}

/** Output [H, W] of F.interpolate for these options. */
export function resizeOutSize(h: number, w: number, opts: ResizeRefOptions): [number, number] {
  if (opts.size) return opts.size;
  if (!opts.scaleFactor) throw new Error('resizeRef: size or scaleFactor');
  return [Math.floor(h * opts.scaleFactor[0]), Math.floor(w * opts.scaleFactor[1])];
}

/** x [N, C, H, W] → [N, C, Ho, Wo]. */
export function resizeRef(
  x: ArrayLike<number>,
  shape: readonly number[],
  mode: ResizeMode,
  opts: ResizeRefOptions,
): { data: Float32Array; shape: [number, number, number, number] } {
  const [N, C, H, W] = shape;
  const [Ho, Wo] = resizeOutSize(H, W, opts);
  const useScale = opts.scaleFactor && !opts.recomputeScaleFactor && !opts.size;
  const [sh, sw] = useScale ? opts.scaleFactor! : [undefined, undefined];
  const ac = !!opts.alignCorners;
  const aa = !!opts.antialias;
  // PyTorch's CPU kernels leave an axis whose size does not change untouched in bilinear mode (antialiased
  // or not), whatever the scale factor; nearest maps it to itself too; bicubic resamples it.
  const keep = (a: number, b: number) => a === b && (mode === 'bilinear' || aa);
  const ty = keep(H, Ho) ? identityTaps(H) : axisTaps(mode, H, Ho, sh, ac, aa);
  const tx = keep(W, Wo) ? identityTaps(W) : axisTaps(mode, W, Wo, sw, ac, aa);
  const out = new Float32Array(N * C * Ho * Wo);
  for (let p = 0; p < N * C; p++) {
    const base = p * H * W;
    for (let oy = 0; oy < Ho; oy++) {
      const ry = ty[oy];
      for (let ox = 0; ox < Wo; ox++) {
        const rx = tx[ox];
        let s = 0;
        for (let a = 0; a < ry.idx.length; a++) {
          let r = 0;
          const row = base + ry.idx[a] * W;
          for (let b = 0; b < rx.idx.length; b++) r += rx.w[b] * x[row + rx.idx[b]];
          s += ry.w[a] * r;
        }
        out[(p * Ho + oy) * Wo + ox] = s;
      }
    }
  }
  return { data: out, shape: [N, C, Ho, Wo] };
}

function identityTaps(n: number): Taps[] {
  return Array.from({ length: n }, (_, i) => ({ idx: [i], w: [1] }));
}
