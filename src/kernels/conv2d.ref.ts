/**
 * CPU references for conv2d.ts, in double precision, written from PyTorch's definitions of
 * torch.nn.functional.conv2d and conv_transpose2d (NCHW).
 */
import type { ConvAct } from './conv2d.js';
import { geluRef } from './elementwise.ref.js';

export interface Conv2dRefOptions {
  stride?: [number, number];
  padding?: [number, number];
  dilation?: [number, number];
  groups?: number;
  act?: ConvAct;
}

export interface RefResult {
  data: Float32Array;
  shape: [number, number, number, number];
}

export function applyAct(v: number, act: ConvAct = 'none'): number {
  return act === 'relu' ? Math.max(v, 0) : act === 'gelu' ? geluRef(v) : v;
}

/** Output size of one spatial dimension of a convolution (floor division, as PyTorch). */
export function convOutSize(inSize: number, k: number, stride: number, pad: number, dilation: number): number {
  return Math.floor((inSize + 2 * pad - dilation * (k - 1) - 1) / stride) + 1;
}

/**
 * y[n, co, oy, ox] = act(bias[co] + Σ_{ci, ky, kx} x[n, g·Cin/G + ci, oy·sh − ph + ky·dh, ox·sw − pw + kx·dw]
 *                                        · w[co, ci, ky, kx]),  g = co / (Cout/G), zero padding.
 * x [N, Cin, H, W], w [Cout, Cin/G, kh, kw], bias [Cout] or null.
 */
export function conv2dRef(
  x: ArrayLike<number>,
  xShape: readonly number[],
  w: ArrayLike<number>,
  wShape: readonly number[],
  bias: ArrayLike<number> | null,
  opts: Conv2dRefOptions = {},
): RefResult {
  const [N, Cin, H, W] = xShape;
  const [Cout, CinG, KH, KW] = wShape;
  const [sh, sw] = opts.stride ?? [1, 1];
  const [ph, pw] = opts.padding ?? [0, 0];
  const [dh, dw] = opts.dilation ?? [1, 1];
  const G = opts.groups ?? 1;
  if (CinG * G !== Cin || Cout % G !== 0) throw new Error('conv2dRef: bad groups');
  const CoutG = Cout / G;
  const Ho = convOutSize(H, KH, sh, ph, dh);
  const Wo = convOutSize(W, KW, sw, pw, dw);
  const y = new Float32Array(N * Cout * Ho * Wo);
  for (let n = 0; n < N; n++) {
    for (let co = 0; co < Cout; co++) {
      const ci0 = Math.floor(co / CoutG) * CinG;
      for (let oy = 0; oy < Ho; oy++) {
        for (let ox = 0; ox < Wo; ox++) {
          let s = bias ? bias[co] : 0;
          for (let ci = 0; ci < CinG; ci++) {
            const xb = (n * Cin + ci0 + ci) * H * W;
            const wb = (co * CinG + ci) * KH * KW;
            for (let ky = 0; ky < KH; ky++) {
              const iy = oy * sh - ph + ky * dh;
              if (iy < 0 || iy >= H) continue;
              for (let kx = 0; kx < KW; kx++) {
                const ix = ox * sw - pw + kx * dw;
                if (ix < 0 || ix >= W) continue;
                s += x[xb + iy * W + ix] * w[wb + ky * KW + kx];
              }
            }
          }
          y[((n * Cout + co) * Ho + oy) * Wo + ox] = applyAct(s, opts.act);
        }
      }
    }
  }
  return { data: y, shape: [N, Cout, Ho, Wo] };
}

export interface ConvTranspose2dRefOptions {
  stride?: [number, number];
  padding?: [number, number];
  outputPadding?: [number, number];
  dilation?: [number, number];
  groups?: number;
  act?: ConvAct;
}

/**
 * PyTorch's conv_transpose2d: every input pixel scatters x[n, ci, iy, ix] · w[ci, co, ky, kx] into
 * y[n, g·Cout/G + co, iy·sh − ph + ky·dh, ix·sw − pw + kx·dw]; then bias and act.
 * x [N, Cin, H, W], w [Cin, Cout/G, kh, kw], bias [Cout] or null;
 * Ho = (H − 1)·sh − 2·ph + dh·(kh − 1) + output_padding + 1.
 */
export function convTranspose2dRef(
  x: ArrayLike<number>,
  xShape: readonly number[],
  w: ArrayLike<number>,
  wShape: readonly number[],
  bias: ArrayLike<number> | null,
  opts: ConvTranspose2dRefOptions = {},
): RefResult {
  const [N, Cin, H, W] = xShape;
  const [CinW, CoutG, KH, KW] = wShape;
  const [sh, sw] = opts.stride ?? [1, 1];
  const [ph, pw] = opts.padding ?? [0, 0];
  const [oph, opw] = opts.outputPadding ?? [0, 0];
  const [dh, dw] = opts.dilation ?? [1, 1];
  const G = opts.groups ?? 1;
  if (CinW !== Cin || Cin % G !== 0) throw new Error('convTranspose2dRef: bad weight');
  const CinG = Cin / G;
  const Cout = CoutG * G;
  const Ho = (H - 1) * sh - 2 * ph + dh * (KH - 1) + oph + 1;
  const Wo = (W - 1) * sw - 2 * pw + dw * (KW - 1) + opw + 1;
  const acc = new Float64Array(N * Cout * Ho * Wo);
  for (let n = 0; n < N; n++) {
    for (let ci = 0; ci < Cin; ci++) {
      const g = Math.floor(ci / CinG);
      for (let iy = 0; iy < H; iy++) {
        for (let ix = 0; ix < W; ix++) {
          const xv = x[((n * Cin + ci) * H + iy) * W + ix];
          for (let co = 0; co < CoutG; co++) {
            const oc = g * CoutG + co;
            for (let ky = 0; ky < KH; ky++) {
              const oy = iy * sh - ph + ky * dh;
              if (oy < 0 || oy >= Ho) continue;
              for (let kx = 0; kx < KW; kx++) {
                const ox = ix * sw - pw + kx * dw;
                if (ox < 0 || ox >= Wo) continue;
                acc[((n * Cout + oc) * Ho + oy) * Wo + ox] += xv * w[((ci * CoutG + co) * KH + ky) * KW + kx];
              }
            }
          }
        }
      }
    }
  }
  const y = new Float32Array(acc.length);
  const plane = Ho * Wo;
  for (let i = 0; i < acc.length; i++) {
    const co = Math.floor(i / plane) % Cout;
    y[i] = applyAct(acc[i] + (bias ? bias[co] : 0), opts.act);
  }
  return { data: y, shape: [N, Cout, Ho, Wo] };
}
