/**
 * CPU reference for pool.ts, written from PyTorch's max_pool2d (ceil_mode=False): padding is implicit −∞,
 * a NaN in a window makes the output NaN.
 */
import { convOutSize, forEachTap, window } from './conv2d.ref.js';
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
  const g = window(opts.kernel, [H, W], opts, opts.kernel);
  const Ho = convOutSize(H, g.kh, g.sh, g.ph, g.dh);
  const Wo = convOutSize(W, g.kw, g.sw, g.pw, g.dw);
  const at = nhwc
    ? (n: number, c: number, y: number, xx: number, h: number, w: number) => ((n * h + y) * w + xx) * C + c
    : (n: number, c: number, y: number, xx: number, h: number, w: number) => ((n * C + c) * h + y) * w + xx;
  const out = new Float32Array(N * C * Ho * Wo);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      for (let oy = 0; oy < Ho; oy++) {
        for (let ox = 0; ox < Wo; ox++) {
          let m = -Infinity;
          forEachTap(g, oy, ox, (iy, ix) => {
            const v = x[at(n, c, iy, ix, H, W)];
            // A NaN, once taken, stays: nothing compares greater than it.
            if (v > m || Number.isNaN(v)) m = v;
          });
          out[at(n, c, oy, ox, Ho, Wo)] = m;
        }
      }
    }
  }
  return { data: out, shape: nhwc ? [N, Ho, Wo, C] : [N, C, Ho, Wo] };
}
