/**
 * CPU references for the normalization kernels, in double precision, from PyTorch's definitions:
 * torch.nn.LayerNorm (biased variance over the last dim) and sam2_utils.LayerNorm2d
 * (u = x.mean(1); s = (x - u)^2.mean(1); (x - u) / sqrt(s + eps) * weight + bias).
 */
import { geluRef } from './elementwise.ref.js';

export interface NormRefOptions {
  eps: number;
  act?: 'identity' | 'gelu';
}

/** A normalization's options and affine parameters (both or neither; none when omitted). */
export interface NormRefAffine extends NormRefOptions {
  weight?: ArrayLike<number> | null;
  bias?: ArrayLike<number> | null;
}

/** Normalizes the `c` values of x at base + k · stride (k < c) into y. */
function normalizeStrided(x: ArrayLike<number>, y: Float32Array, [base, stride, c]: readonly number[], opts: NormRefAffine): void {
  const { weight, bias } = opts;
  let mean = 0;
  for (let k = 0; k < c; k++) mean += x[base + k * stride];
  mean /= c;
  let v = 0;
  for (let k = 0; k < c; k++) {
    const d = x[base + k * stride] - mean;
    v += d * d;
  }
  v /= c;
  const rstd = 1 / Math.sqrt(v + opts.eps);
  for (let k = 0; k < c; k++) {
    let r = (x[base + k * stride] - mean) * rstd;
    if (weight && bias) r = r * weight[k] + bias[k];
    y[base + k * stride] = opts.act === 'gelu' ? geluRef(r) : r;
  }
}

/** LayerNorm over the last dim of x [rows, c]. */
export function layerNormRef(x: ArrayLike<number>, c: number, opts: NormRefAffine): Float32Array {
  const y = new Float32Array(x.length);
  for (let r = 0; r < x.length / c; r++) normalizeStrided(x, y, [r * c, 1, c], opts);
  return y;
}

/** LayerNorm2d of x [n, c, h·w] over c. */
export function layerNorm2dRef(x: ArrayLike<number>, [n, c, hw]: readonly number[], opts: NormRefAffine): Float32Array {
  const y = new Float32Array(x.length);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < hw; p++) normalizeStrided(x, y, [i * c * hw + p, hw, c], opts);
  }
  return y;
}
