/**
 * CPU reference for SAM 2's 2-D axial rotary position embedding (sam2/modeling/position_encoding.py:
 * init_t_xy, compute_axial_cis, apply_rotary_enc; used by RoPEAttention in sam2/modeling/sam/transformer.py).
 *
 * compute_axial_cis follows PyTorch's f32 steps literally (every intermediate rounded to f32: the
 * frequencies, the positions, their products); cos and sin of those f32 angles are computed in double and
 * rounded to f32 as torch.polar's f32 result is (PyTorch's own may differ by 1 ulp). The rotation itself is
 * done in double.
 */

const f = Math.fround;

/** f32 frequencies 1 / theta^(4i / dim), i < dim / 4, as `1.0 / (theta ** (arange(0, dim, 4)[: dim // 4].float() / dim))`. */
export function axialFrequencies(dim: number, theta = 10000): Float32Array {
  const n = Math.floor(dim / 4);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const e = f(f(4 * i) / dim);
    out[i] = f(1 / f(theta ** e));
  }
  return out;
}

/**
 * compute_axial_cis(dim, end_x, end_y, theta): [end_x·end_y, dim / 2] complex values, returned as f32 cos and
 * sin arrays of that shape. Token t has x = t % end_x, y = floor(t / end_x); pairs [0, dim/4) rotate by x·freq,
 * pairs [dim/4, dim/2) by y·freq.
 */
export function axialCis(dim: number, endX: number, endY: number, theta = 10000): { cos: Float32Array; sin: Float32Array } {
  const freqs = axialFrequencies(dim, theta);
  const q = freqs.length;
  const half = 2 * q;
  const n = endX * endY;
  const cos = new Float32Array(n * half);
  const sin = new Float32Array(n * half);
  for (let t = 0; t < n; t++) {
    const tx = t % endX;
    const ty = Math.floor(t / endX);
    for (let i = 0; i < q; i++) {
      const ax = f(tx * freqs[i]);
      const ay = f(ty * freqs[i]);
      cos[t * half + i] = f(Math.cos(ax));
      sin[t * half + i] = f(Math.sin(ax));
      cos[t * half + q + i] = f(Math.cos(ay));
      sin[t * half + q + i] = f(Math.sin(ay));
    }
  }
  return { cos, sin };
}

export interface RopeRefOptions {
  /** rope_k_repeat: the L - exclude rotated tokens are several repeats of the end_x·end_y positions. */
  repeat?: boolean;
  /** num_k_exclude_rope: the last tokens (object pointers) are left as they are. */
  exclude?: number;
  theta?: number;
}

/**
 * apply_rotary_enc on one tensor x [B, H, L, D] (head-major, as after _separate_heads): consecutive pairs
 * (x[2p], x[2p+1]) of token l are multiplied as complex numbers by cis[l mod end_x·end_y][p].
 * Without `repeat`, L - exclude must equal end_x·end_y (PyTorch asserts it); with it, a multiple of it.
 */
export function ropeRef(
  x: ArrayLike<number>,
  shape: readonly [number, number, number, number],
  endX: number,
  endY: number,
  opts: RopeRefOptions = {},
): Float64Array {
  const [B, H, L, D] = shape;
  const { cos, sin } = axialCis(D, endX, endY, opts.theta ?? 10000);
  const period = endX * endY;
  const rot = L - (opts.exclude ?? 0);
  if (opts.repeat ? rot % period !== 0 : rot !== period) {
    throw new Error(`ropeRef: ${rot} rotated tokens do not match ${endX}×${endY} positions (repeat ${!!opts.repeat})`);
  }
  const half = D / 2;
  const out = Float64Array.from(x);
  for (let bh = 0; bh < B * H; bh++) {
    for (let l = 0; l < rot; l++) {
      const t = l % period;
      const base = (bh * L + l) * D;
      for (let p = 0; p < half; p++) {
        const a = x[base + 2 * p];
        const b = x[base + 2 * p + 1];
        const c = cos[t * half + p];
        const s = sin[t * half + p];
        out[base + 2 * p] = a * c - b * s;
        out[base + 2 * p + 1] = a * s + b * c;
      }
    }
  }
  return out;
}
