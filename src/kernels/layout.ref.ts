/**
 * CPU references for the layout kernels, written from the PyTorch code they replace: permute().contiguous(),
 * sam2/modeling/backbones/utils.py window_partition / window_unpartition (F.pad with zeros, view, permute,
 * crop), torch.cat, torch.narrow and .to(dtype).
 */
import { roundTo } from '../runtime/dtype.js';

function stridesOf(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length);
  let acc = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    st[k] = acc;
    acc *= shape[k];
  }
  return st;
}

/** x [shape] permuted: y.shape[k] = shape[perm[k]]. */
export function permuteRef(x: ArrayLike<number>, shape: readonly number[], perm: readonly number[]): Float32Array {
  const st = stridesOf(shape);
  const oshape = perm.map((p) => shape[p]);
  const y = new Float32Array(x.length);
  const coord = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < y.length; i++) {
    let rem = i;
    for (let k = oshape.length - 1; k >= 0; k--) {
      coord[k] = rem % oshape[k];
      rem = Math.floor(rem / oshape[k]);
    }
    let src = 0;
    for (let k = 0; k < perm.length; k++) src += coord[k] * st[perm[k]];
    y[i] = x[src];
  }
  return y;
}

/** window_partition of x [b, h, w, c]: pad to multiples of ws, then [b·nh·nw, ws, ws, c]. */
export function windowPartitionRef(x: ArrayLike<number>, b: number, h: number, w: number, c: number, ws: number): Float32Array {
  const hp = Math.ceil(h / ws) * ws;
  const wp = Math.ceil(w / ws) * ws;
  // F.pad(x, (0, 0, 0, pad_w, 0, pad_h)) then view(b, hp/ws, ws, wp/ws, ws, c).permute(0, 1, 3, 2, 4, 5).
  const padded = new Float32Array(b * hp * wp * c);
  for (let i = 0; i < b; i++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        for (let k = 0; k < c; k++) padded[((i * hp + y) * wp + xx) * c + k] = x[((i * h + y) * w + xx) * c + k];
  return permuteRef(padded, [b, hp / ws, ws, wp / ws, ws, c], [0, 1, 3, 2, 4, 5]);
}

/** window_unpartition: windows [b·nh·nw, ws, ws, c] -> [b, hp, wp, c] -> crop to [b, h, w, c]. */
export function windowUnpartitionRef(
  win: ArrayLike<number>,
  ws: number,
  hp: number,
  wp: number,
  h: number,
  w: number,
  c: number,
): Float32Array {
  const b = win.length / (hp * wp * c);
  const full = permuteRef(win, [b, hp / ws, wp / ws, ws, ws, c], [0, 1, 3, 2, 4, 5]);
  const y = new Float32Array(b * h * w * c);
  for (let i = 0; i < b; i++)
    for (let r = 0; r < h; r++)
      for (let s = 0; s < w; s++)
        for (let k = 0; k < c; k++) y[((i * h + r) * w + s) * c + k] = full[((i * hp + r) * wp + s) * c + k];
  return y;
}

/** torch.cat of row-major tensors along dim. */
export function concatRef(xs: ReadonlyArray<{ data: ArrayLike<number>; shape: readonly number[] }>, dim: number): Float32Array {
  const shape = xs[0].shape;
  const outer = shape.slice(0, dim).reduce((a, b) => a * b, 1);
  const inner = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
  const total = xs.reduce((a, t) => a + t.shape[dim], 0);
  const y = new Float32Array(outer * total * inner);
  let off = 0;
  for (const t of xs) {
    const len = t.shape[dim] * inner;
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < len; j++) y[o * total * inner + off * inner + j] = t.data[o * len + j];
    }
    off += t.shape[dim];
  }
  return y;
}

/** torch.narrow(x, dim, start, length). */
export function sliceRef(x: ArrayLike<number>, shape: readonly number[], dim: number, start: number, length: number): Float32Array {
  const outer = shape.slice(0, dim).reduce((a, b) => a * b, 1);
  const inner = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
  const y = new Float32Array(outer * length * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < length * inner; j++) y[o * length * inner + j] = x[(o * shape[dim] + start) * inner + j];
  }
  return y;
}

/** Values as a tensor of `dtype` holds them (round to nearest even). */
export function castRef(x: Float32Array, dtype: 'f32' | 'f16' | 'bf16'): Float32Array {
  return roundTo(dtype, x);
}
