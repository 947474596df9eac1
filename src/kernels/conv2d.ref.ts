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

/** A sliding window along H and W: kernel, stride, padding, dilation, and the size the taps must fall in. */
export interface Window {
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
  /** Bounds of the tapped positions: [0, h) × [0, w). */
  h: number;
  w: number;
}

/** A window from PyTorch-style options (stride by default `stride`, padding 0, dilation 1). */
export function window(
  [kh, kw]: readonly number[],
  [h, w]: readonly number[],
  opts: { stride?: [number, number]; padding?: [number, number]; dilation?: [number, number] },
  stride: readonly number[] = [1, 1],
): Window {
  const [sh, sw] = opts.stride ?? stride;
  const [ph, pw] = opts.padding ?? [0, 0];
  const [dh, dw] = opts.dilation ?? [1, 1];
  return { kh, kw, sh, sw, ph, pw, dh, dw, h, w };
}

/** f(ty, tx, ky, kx) for each tap of the window at (py, px): ty = py·sh − ph + ky·dh (x alike) within bounds. */
export function forEachTap(g: Window, py: number, px: number, f: (ty: number, tx: number, ky: number, kx: number) => void): void {
  for (let ky = 0; ky < g.kh; ky++) {
    const ty = py * g.sh - g.ph + ky * g.dh;
    if (ty < 0 || ty >= g.h) continue;
    for (let kx = 0; kx < g.kw; kx++) {
      const tx = px * g.sw - g.pw + kx * g.dw;
      if (tx >= 0 && tx < g.w) f(ty, tx, ky, kx);
    }
  }
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
  const g = window([KH, KW], [H, W], opts);
  const G = opts.groups ?? 1;
  if (CinG * G !== Cin || Cout % G !== 0) throw new Error('conv2dRef: bad groups');
  const CoutG = Cout / G;
  const Ho = convOutSize(H, KH, g.sh, g.ph, g.dh);
  const Wo = convOutSize(W, KW, g.sw, g.pw, g.dw);
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
            forEachTap(g, oy, ox, (iy, ix, ky, kx) => (s += x[xb + iy * W + ix] * w[wb + ky * KW + kx]));
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
  input: { data: ArrayLike<number>; shape: readonly number[] },
  weight: { data: ArrayLike<number>; shape: readonly number[] },
  bias: ArrayLike<number> | null,
  opts: ConvTranspose2dRefOptions = {},
): RefResult {
  const { data: x, shape: [N, Cin, H, W] } = input;
  const { data: w, shape: [CinW, CoutG, KH, KW] } = weight;
  const { sh, sw, ph, pw, dh, dw } = window([KH, KW], [H, W], opts);
  const [oph, opw] = opts.outputPadding ?? [0, 0];
  const G = opts.groups ?? 1;
  if (CinW !== Cin || Cin % G !== 0) throw new Error('convTranspose2dRef: bad weight');
  const CinG = Cin / G;
  const Cout = CoutG * G;
  const Ho = (H - 1) * sh - 2 * ph + dh * (KH - 1) + oph + 1;
  const Wo = (W - 1) * sw - 2 * pw + dw * (KW - 1) + opw + 1;
  // The taps scatter into the output: the window's bounds are the output's.
  const g = window([KH, KW], [Ho, Wo], opts);
  const acc = new Float64Array(N * Cout * Ho * Wo);
  for (let n = 0; n < N; n++) {
    for (let ci = 0; ci < Cin; ci++) {
      const grp = Math.floor(ci / CinG);
      for (let iy = 0; iy < H; iy++) {
        for (let ix = 0; ix < W; ix++) {
          const xv = x[((n * Cin + ci) * H + iy) * W + ix];
          for (let co = 0; co < CoutG; co++) {
            const oc = grp * CoutG + co;
            forEachTap(g, iy, ix, (oy, ox, ky, kx) => (acc[((n * Cout + oc) * Ho + oy) * Wo + ox] += xv * w[((ci * CoutG + co) * KH + ky) * KW + kx]));
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
