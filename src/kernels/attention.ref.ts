/**
 * CPU reference for scaled dot-product attention, in double precision, after PyTorch's
 * F.scaled_dot_product_attention (no mask, no dropout): out = softmax(q kᵀ · scale) v with
 * scale = 1 / sqrt(D) unless given.
 *
 * Layouts (dense, row-major): q [B, H, Lq, D], k [B, H, Lk, D], v [B, H, Lk, Dv]; returns [B, H, Lq, Dv].
 */
export interface AttentionDims {
  B: number;
  H: number;
  Lq: number;
  Lk: number;
  D: number;
  Dv: number;
}

export function attentionRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dims: AttentionDims,
  scale = 1 / Math.sqrt(dims.D),
): Float64Array {
  const { B, H, Lq, Lk, D, Dv } = dims;
  const out = new Float64Array(B * H * Lq * Dv);
  const s = new Float64Array(Lk);
  for (let bh = 0; bh < B * H; bh++) {
    const qb = bh * Lq * D;
    const kb = bh * Lk * D;
    const vb = bh * Lk * Dv;
    const ob = bh * Lq * Dv;
    for (let i = 0; i < Lq; i++) {
      let m = -Infinity;
      for (let j = 0; j < Lk; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[qb + i * D + d] * k[kb + j * D + d];
        s[j] = dot * scale;
        if (s[j] > m) m = s[j];
      }
      let sum = 0;
      for (let j = 0; j < Lk; j++) {
        s[j] = Math.exp(s[j] - m);
        sum += s[j];
      }
      for (let j = 0; j < Lk; j++) {
        const p = s[j] / sum;
        for (let d = 0; d < Dv; d++) out[ob + i * Dv + d] += p * v[vb + j * Dv + d];
      }
    }
  }
  return out;
}

/** [B, H, L, D] → [B, L, H·D] (token-major, as SAM 2's Attention modules hold projected tokens). */
export function headsToTokens(x: ArrayLike<number>, B: number, H: number, L: number, D: number): Float32Array {
  return moveHeads(x, B, H, L, D, true);
}

/** [B, L, H·D] → [B, H, L, D]. */
export function tokensToHeads(x: ArrayLike<number>, B: number, H: number, L: number, D: number): Float32Array {
  return moveHeads(x, B, H, L, D, false);
}

/** Copies x between the head-major [B, H, L, D] and token-major [B, L, H·D] layouts (toTokens: from the first). */
function moveHeads(x: ArrayLike<number>, B: number, H: number, L: number, D: number, toTokens: boolean): Float32Array {
  const y = new Float32Array(B * H * L * D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let l = 0; l < L; l++)
        for (let d = 0; d < D; d++) {
          const heads = ((b * H + h) * L + l) * D + d;
          const tokens = ((b * L + l) * H + h) * D + d;
          if (toTokens) y[tokens] = x[heads];
          else y[heads] = x[tokens];
        }
  return y;
}
