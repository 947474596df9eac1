/**
 * F.scaled_dot_product_attention (no mask, no dropout) by one of two routes, on the operand layouts of
 * attention() (HeadsView: head-major, token-major, packed qkv) with a token-major result [B, Lq, H·Dv]:
 *   'kernel'  the flash-style attention kernel (one pass, scores never stored): the choice on GPUs;
 *   'matmul'  scores materialized in f32, a block of queries at a time: S = scale · q kᵀ (matmul),
 *             softmax (f32), out = P v (matmul, P in the activation dtype). On CPU adapters the register-
 *             blocked matmul is several times faster than the attention kernel at large head dims, as it
 *             loads each row of k and v once per subgroup rather than once per query block; on SwiftShader
 *             also at smaller head dims once there are 16 keys or more, while with fewer keys the kernel
 *             wins; on lavapipe the kernel is as fast or faster below head dim 128 (measurements:
 *             src/kernels/README.md, "sdpa").
 *   'auto'    the device profile's choice (src/runtime/profile.ts): 'matmul' on CPU adapters above head
 *             dim 128 and on SwiftShader from 16 keys; 'kernel' elsewhere.
 */
import { attention, attentionViews, type HeadsView } from './attention.js';
import { cast, concat, permute } from './layout.js';
import { matmulStrided, type MatmulOperand } from './matmul.js';
import { softmax } from './softmax.js';
import type { Gpu } from '../runtime/gpu.js';
import type { Tensor } from '../runtime/tensor.js';

export type SdpaImpl = 'auto' | 'kernel' | 'matmul';

/** Score elements (f32) materialized at once by the 'matmul' route: 64 MiB. */
export const SCORE_BUDGET = 1 << 24;

export interface SdpaOptions {
  /** Heads of a 3-D (token-major) tensor operand (default 1). */
  heads?: number;
  impl?: SdpaImpl;
  /** 'matmul': most score elements held at once (blocks of at least 32 queries; default SCORE_BUDGET). */
  scoreBudget?: number;
}

/** True when `impl` runs by matmuls on this device for `keys` keys and heads of `headDim` channels (the larger of q / k's and v's). */
export function sdpaByMatmul(gpu: Gpu, headDim: number, keys: number, impl: SdpaImpl = 'auto'): boolean {
  if (impl !== 'auto') return impl === 'matmul';
  return gpu.profile.sdpaByMatmul(headDim, keys);
}

/** softmax(qkᵀ / √D) v per (batch, head): q [B, H, Lq, D], k [B, H, Lk, D], v [B, H, Lk, Dv] as views → [B, Lq, H·Dv]. */
export function sdpa(gpu: Gpu, qIn: Tensor | HeadsView, kIn: Tensor | HeadsView, vIn: Tensor | HeadsView, opts: SdpaOptions = {}): Tensor {
  const { q, k, v } = attentionViews(qIn, kIn, vIn, opts.heads ?? 1);
  if (!sdpaByMatmul(gpu, Math.max(q.dim, v.dim), k.length, opts.impl)) return attention(gpu, q, k, v, { outLayout: 'tokens' });
  const { batch: B, heads: H, length: Lq, dim: D } = q;
  const Lk = k.length;
  const Dv = v.dim;
  // The scores are f32 (the softmax's input), so q and k are read as f32: each distinct tensor cast once.
  const f32 = new Map<Tensor, Tensor>();
  const asF32 = (t: Tensor) => {
    if (t.dtype === 'f32') return t;
    let c = f32.get(t);
    if (!c) f32.set(t, (c = cast(gpu, t, 'f32')));
    return c;
  };
  const operand = (x: HeadsView, tensor: Tensor, rowOffset: number, trans = false): MatmulOperand => ({
    tensor,
    offset: x.offset + rowOffset * x.strideL,
    ld: x.strideL,
    batchStrides: [x.strideB, x.strideH],
    trans,
  });
  const rowsMax = Math.max(32, Math.floor((opts.scoreBudget ?? SCORE_BUDGET) / (B * H * Lk) / 32) * 32);
  // A block of query rows at a time, each block's scores freed before the next (the score budget).
  const block = (r0: number): Tensor => {
    const rows = Math.min(rowsMax, Lq - r0);
    const s = matmulStrided(
      gpu,
      { M: rows, N: Lk, K: D, batch: [B, H], a: operand(q, asF32(q.tensor), r0), b: operand(k, asF32(k.tensor), 0, true) },
      { alpha: 1 / Math.sqrt(D), label: 'sdpa.scores' },
    );
    const p32 = softmax(gpu, s);
    const p = v.tensor.dtype === 'f32' ? p32 : cast(gpu, p32, v.tensor.dtype as 'f16');
    const o = matmulStrided(
      gpu,
      {
        M: rows,
        N: Dv,
        K: Lk,
        batch: [B, H],
        a: { tensor: p, ld: Lk, batchStrides: [H * rows * Lk, rows * Lk] },
        b: operand(v, v.tensor, 0),
      },
      { label: 'sdpa.values' },
    );
    // [B, H, rows, Dv] → token-major [B, rows, H·Dv].
    return H === 1 ? o.reshape([B, rows, Dv]) : permute(gpu, o.reshape([B, H, rows, Dv]), [0, 2, 1, 3]).reshape([B, rows, H * Dv]);
  };
  return gpu.tidy(() => {
    // The f32 copies live across the blocks: made here, outside the blocks' scopes.
    asF32(q.tensor);
    asF32(k.tensor);
    const parts: Tensor[] = [];
    for (let r0 = 0; r0 < Lq; r0 += rowsMax) parts.push(gpu.tidy(() => block(r0)));
    return parts.length === 1 ? parts[0] : concat(gpu, parts, 1);
  });
}
