/**
 * CPU reference for pool.ts, written from PyTorch's max_pool2d (ceil_mode=False): padding is implicit −∞,
 * a NaN in a window makes the output NaN.
 */
import { convOutSize } from './conv2d.ref.js';
import type { PoolLayout } from './pool.js';

export interface MaxPool2dRefOptions {
  kernel: [number, number];
  stride?: [number, number];
  padding?: [number, number];
  dilation?: [number, number];
  layout?: PoolLayout;
}

/**
 * x [N, C, H, W] ('nchw') or [N, H, W, C] ('nhwc'); returns the pooled tensor in the same layout.
 * Stride defaults to the kernel size, as in PyTorch.
 */
export function maxPool2dRef(
  x: ArrayLike<number>,
  shape: readonly number[],
  opts: MaxPool2dRefOptions,
): { data: Float32Array; shape: [number, number, number, number] } {
  const nhwc = opts.layout === 'nhwc';
  const [N, C, H, W] = nhwc ? [shape[0], shape[3], shape[1], shape[2]] : shape;
  const [kh, kw] = opts.kernel;
  const [sh, sw] = opts.stride ?? opts.kernel;
  const [ph, pw] = opts.padding ?? [0, 0];
  const [dh, dw] = opts.dilation ?? [1, 1];
  const Ho = convOutSize(H, kh, sh, ph, dh);
  const Wo = convOutSize(W, kw, sw, pw, dw);
  const at = nhwc
    ? (n: number, c: number, y: number, xx: number, h: number, w: number) => ((n * h + y) * w + xx) * C + c
    : (n: number, c: number, y: number, xx: number, h: number, w: number) => ((n * C + c) * h + y) * w + xx;
  const out = new Float32Array(N * C * Ho * Wo);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      for (let oy = 0; oy < Ho; oy++) {
        for (let ox = 0; ox < Wo; ox++) {
          let m = -Infinity;
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * sh - ph + ky * dh;
            if (iy < 0 || iy >= H) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * sw - pw + kx * dw;
              if (ix < 0 || ix >= W) continue;
              const v = x[at(n, c, iy, ix, H, W)];
              if (v > m || Number.isNaN(v)) m = v;
              if (Number.isNaN(m)) break;
            }
          }
          out[at(n, c, oy, ox, Ho, Wo)] = m;
        }
      }
    }
  }
  return { data: out, shape: nhwc ? [N, Ho, Wo, C] : [N, C, Ho, Wo] };
}
