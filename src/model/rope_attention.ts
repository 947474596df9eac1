/**
 * RoPEAttention of sam2/modeling/sam/transformer.py: multi-head attention whose queries and keys are rotated
 * by a 2-D axial rotary position encoding (sam2/modeling/position_encoding.py compute_axial_cis /
 * apply_rotary_enc). Memory attention uses it for its self-attention and for the cross-attention to the
 * memory bank (keys 64-d in, `rope_k_repeat`: the keys are several frames of the query's size, each rotated
 * like the queries; the last `numKExcludeRope` keys, the object-pointer tokens, are not rotated).
 *
 * Layouts are batch-first and token-major (no head permutes):
 *   q [B, Lq, E], k [B, Lk, kvIn], v [B, Lk, kvIn]  →  out [B, Lq, E]
 * The projections are [B, L, H·Dh] with the heads side by side, which the attention kernel reads directly.
 *
 * The rotation pairs channels (2i, 2i + 1) of each head as a complex number and multiplies it by
 * e^{iθ}: for the Dh/2 pairs of a head, the first Dh/4 take θ = x · f_k and the last Dh/4 θ = y · f_k, with
 * f_k = theta^(-4k / Dh), the token at index t of a w × h map (w = h = √Lq, as the official code assumes)
 * sitting at x = t mod w, y = ⌊t / w⌋.
 */
import { attention } from '../kernels/attention.js';
import { add, mul } from '../kernels/binary.js';
import { cast, concat, permute, slice } from '../kernels/layout.js';
import { matmulStrided } from '../kernels/matmul.js';
import { softmax } from '../kernels/softmax.js';
import { isCpuAdapter } from '../runtime/device.js';
import { ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import { Tensor } from '../runtime/tensor.js';
import { dtypeOf, Linear, type ModelContext } from './layers.js';

const f = Math.fround;

/**
 * `t` under another shape, taking over its buffer: the result owns it (release() gives it back) and `t` must
 * not be used or released afterwards. (Tensor.reshape makes a non-owning view.)
 */
export function reshapeOwned(t: Tensor, shape: readonly number[]): Tensor {
  // A view shares its base's ownership: releasing it frees the buffer.
  return t.reshape(shape);
}

/**
 * compute_axial_cis(dim, endX, endY, theta) as cos / sin tables [endX·endY, dim/2], each step rounded to f32
 * where PyTorch computes in f32.
 */
export function axialRopeTables(dim: number, endX: number, endY: number, theta = 10000): { cos: Float32Array; sin: Float32Array } {
  if (dim % 4 !== 0) throw new ShapeError(`RoPEAttention: head dim ${dim} must be a multiple of 4`);
  const nf = dim / 4;
  const freqs = new Float32Array(nf);
  for (let k = 0; k < nf; k++) freqs[k] = f(1 / f(Math.pow(theta, f(f(4 * k) / dim))));
  const n = endX * endY;
  const half = dim / 2;
  const cos = new Float32Array(n * half);
  const sin = new Float32Array(n * half);
  for (let t = 0; t < n; t++) {
    const tx = t % endX;
    const ty = Math.floor(t / endX);
    for (let k = 0; k < nf; k++) {
      const ax = f(tx * freqs[k]);
      const ay = f(ty * freqs[k]);
      cos[t * half + k] = f(Math.cos(ax));
      sin[t * half + k] = f(Math.sin(ax));
      cos[t * half + nf + k] = f(Math.cos(ay));
      sin[t * half + nf + k] = f(Math.sin(ay));
    }
  }
  return { cos, sin };
}

/**
 * The rotation tables of one feature-map size on the GPU, in the activation dtype, expanded to the channels
 * they multiply: cosT[t, 2i] = cosT[t, 2i + 1] = cos θ_i, sinT[t, 2i] = −sin θ_i, sinT[t, 2i + 1] = sin θ_i,
 * so that rot(x) = x · cosT + swap(x) · sinT with swap exchanging the channels of each pair. Shapes [L, 1, Dh]
 * (one row per token, broadcast over the heads).
 */
export interface RopeTable {
  length: number;
  headDim: number;
  cos: Tensor;
  sin: Tensor;
}

/**
 * Rotation tables per (feature size, head dim), made on first use and kept: one per resolution, shared by
 * every RoPEAttention of a model.
 */
export class RopeTables {
  private tables = new Map<string, RopeTable>();

  constructor(
    private readonly gpu: Gpu,
    readonly dtype: 'f32' | 'f16',
    readonly theta = 10000,
  ) {}

  /** The table for L tokens of a √L × √L map and heads of `headDim` channels. */
  get(length: number, headDim: number): RopeTable {
    const key = `${length}:${headDim}`;
    let t = this.tables.get(key);
    if (!t) {
      const side = Math.round(Math.sqrt(length));
      if (side * side !== length) {
        throw new ShapeError(`RoPEAttention: ${length} query tokens are not a square feature map (RoPE assumes w = h = √L)`);
      }
      const { cos, sin } = axialRopeTables(headDim, side, side, this.theta);
      const half = headDim / 2;
      const c = new Float32Array(length * headDim);
      const s = new Float32Array(length * headDim);
      for (let i = 0; i < length * half; i++) {
        c[2 * i] = cos[i];
        c[2 * i + 1] = cos[i];
        s[2 * i] = -sin[i];
        s[2 * i + 1] = sin[i];
      }
      t = {
        length,
        headDim,
        cos: this.gpu.upload(c, [length, 1, headDim], this.dtype, 'rope.cos'),
        sin: this.gpu.upload(s, [length, 1, headDim], this.dtype, 'rope.sin'),
      };
      this.tables.set(key, t);
    }
    return t;
  }

  release(): void {
    for (const t of this.tables.values()) {
      t.cos.release();
      t.sin.release();
    }
    this.tables.clear();
  }
}

/**
 * x [B, r·L, H·Dh] rotated in place of a new tensor: token j takes the rotation of position j mod L.
 * Composed from layout and binary kernels (x · cosT + swap(x) · sinT).
 */
function rotate(gpu: Gpu, x: Tensor, table: RopeTable, heads: number): Tensor {
  const [B, Lx, C] = x.shape;
  const L = table.length;
  const Dh = table.headDim;
  const r = Lx / L;
  const pairs = x.reshape([B, Lx, C / 2, 2]);
  const even = slice(gpu, pairs, 3, 0, 1);
  const odd = slice(gpu, pairs, 3, 1, 1);
  const swapped = concat(gpu, [odd, even], 3);
  even.release();
  odd.release();
  const view = [B, r, L, heads, Dh];
  const a = mul(gpu, x.reshape(view), table.cos);
  const b = mul(gpu, swapped.reshape(view), table.sin);
  swapped.release();
  const y = add(gpu, a, b);
  a.release();
  b.release();
  return reshapeOwned(y, [B, Lx, C]);
}

/**
 * apply_rotary_enc on token-major x [B, Lx, H·Dh]: the first Lx − exclude tokens (a multiple of the table's
 * L) rotated, the rest copied. Returns a new tensor; x is not released.
 */
export function applyRope(gpu: Gpu, x: Tensor, table: RopeTable, heads: number, exclude = 0): Tensor {
  const [, Lx, C] = x.shape;
  const n = Lx - exclude;
  if (C !== heads * table.headDim) throw new ShapeError(`RoPEAttention: ${x} does not hold ${heads} heads of ${table.headDim}`);
  if (exclude < 0 || n < 0 || n % table.length !== 0) {
    throw new ShapeError(`RoPEAttention: ${x} minus ${exclude} unrotated tokens is not a multiple of the ${table.length} query tokens`);
  }
  if (n === 0) return slice(gpu, x, 1, 0, Lx);
  if (exclude === 0) return rotate(gpu, x, table, heads);
  const head = slice(gpu, x, 1, 0, n);
  const tail = slice(gpu, x, 1, n, exclude);
  const rot = rotate(gpu, head, table, heads);
  head.release();
  const y = concat(gpu, [rot, tail], 1);
  rot.release();
  tail.release();
  return y;
}

/**
 * How scaled dot-product attention runs:
 *   'kernel'  the flash-style attention kernel (one pass, scores never stored): the choice on GPUs;
 *   'matmul'  scores materialized in f32, a block of queries at a time: S = scale · q kᵀ (matmul),
 *             softmax (f32), out = P v (matmul, P in the activation dtype). On CPU adapters the register-
 *             blocked matmul is several times faster than the attention kernel at head dim 256 (lavapipe,
 *             256 × 1,856 keys: 182 vs 1,686 ms).
 *   'auto'    'matmul' on CPU adapters, 'kernel' elsewhere.
 */
export type SdpaImpl = 'auto' | 'kernel' | 'matmul';

/** Score elements (f32) materialized at once by the 'matmul' path: 64 MiB. */
const SCORE_BUDGET = 1 << 24;

/**
 * F.scaled_dot_product_attention on token-major tensors: q [B, Lq, H·Dh], k [B, Lk, H·Dh], v [B, Lk, H·Dv]
 * → [B, Lq, H·Dv], softmax(qkᵀ / √Dh) v per head. `scoreBudget`: most score elements the 'matmul' path holds
 * at once (blocks of at least 32 queries).
 */
export function sdpa(
  gpu: Gpu,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  heads: number,
  impl: SdpaImpl = 'auto',
  scoreBudget = SCORE_BUDGET,
): Tensor {
  const useMatmul = impl === 'matmul' || (impl === 'auto' && isCpuAdapter(gpu.info));
  if (!useMatmul) return attention(gpu, q, k, v, { heads });
  const [B, Lq, C] = q.shape;
  const Lk = k.shape[1];
  const Cv = v.shape[2];
  const Dh = C / heads;
  const Dv = Cv / heads;
  const H = heads;
  const q32 = q.dtype === 'f32' ? q : cast(gpu, q, 'f32');
  const k32 = k.dtype === 'f32' ? k : cast(gpu, k, 'f32');
  const rowsMax = Math.max(32, Math.floor(scoreBudget / (B * H * Lk) / 32) * 32);
  const parts: Tensor[] = [];
  for (let r0 = 0; r0 < Lq; r0 += rowsMax) {
    const rows = Math.min(rowsMax, Lq - r0);
    const s = matmulStrided(
      gpu,
      {
        M: rows,
        N: Lk,
        K: Dh,
        batch: [B, H],
        a: { tensor: q32, offset: r0 * C, ld: C, batchStrides: [Lq * C, Dh] },
        b: { tensor: k32, ld: C, batchStrides: [Lk * C, Dh], trans: true },
      },
      { alpha: 1 / Math.sqrt(Dh), label: 'sdpa.scores' },
    );
    const p32 = softmax(gpu, s);
    s.release();
    const p = v.dtype === 'f32' ? p32 : cast(gpu, p32, v.dtype as 'f16');
    if (p !== p32) p32.release();
    const o = matmulStrided(
      gpu,
      {
        M: rows,
        N: Dv,
        K: Lk,
        batch: [B, H],
        a: { tensor: p, ld: Lk, batchStrides: [H * rows * Lk, rows * Lk] },
        b: { tensor: v, ld: Cv, batchStrides: [Lk * Cv, Dv] },
      },
      { label: 'sdpa.values' },
    );
    p.release();
    // [B, H, rows, Dv] → token-major [B, rows, H·Dv].
    if (H === 1) parts.push(reshapeOwned(o, [B, rows, Cv]));
    else {
      parts.push(reshapeOwned(permute(gpu, o.reshape([B, H, rows, Dv]), [0, 2, 1, 3]), [B, rows, Cv]));
      o.release();
    }
  }
  if (q32 !== q) q32.release();
  if (k32 !== k) k32.release();
  if (parts.length === 1) return parts[0];
  const y = concat(gpu, parts, 1);
  for (const t of parts) t.release();
  return y;
}

export interface RoPEAttentionOptions {
  numHeads: number;
  /** Rotate keys that are several copies of the query map (cross-attention to memories). */
  ropeKRepeat?: boolean;
  /** How the attention itself runs (default 'auto'). */
  sdpa?: SdpaImpl;
}

export interface RoPEForwardOptions {
  /** The last keys that are not rotated (object-pointer tokens). */
  numKExcludeRope?: number;
  /** Added to the output projection (the layer's residual), fused into its epilogue. */
  residual?: Tensor;
  /** Keys already projected ([B, Lk, E], k_proj applied, not rotated); k is then ignored. */
  kProjected?: Tensor;
  /** Values already projected ([B, Lk, E]); v is then ignored. */
  vProjected?: Tensor;
}

/** RoPEAttention at `prefix` (q_proj, k_proj, v_proj, out_proj). */
export class RoPEAttention {
  readonly qProj: Linear;
  readonly kProj: Linear;
  readonly vProj: Linear;
  readonly outProj: Linear;
  readonly numHeads: number;
  readonly ropeKRepeat: boolean;
  readonly internalDim: number;
  readonly embeddingDim: number;
  readonly kvInDim: number;
  sdpaImpl: SdpaImpl;

  constructor(
    private readonly ctx: ModelContext,
    readonly prefix: string,
    private readonly tables: RopeTables,
    opts: RoPEAttentionOptions,
  ) {
    this.qProj = new Linear(ctx, `${prefix}.q_proj`);
    this.kProj = new Linear(ctx, `${prefix}.k_proj`);
    this.vProj = new Linear(ctx, `${prefix}.v_proj`);
    this.outProj = new Linear(ctx, `${prefix}.out_proj`);
    this.numHeads = opts.numHeads;
    this.ropeKRepeat = opts.ropeKRepeat ?? false;
    this.sdpaImpl = opts.sdpa ?? 'auto';
    this.embeddingDim = this.qProj.inFeatures;
    this.internalDim = this.qProj.outFeatures;
    this.kvInDim = this.kProj.inFeatures;
    if (this.internalDim % this.numHeads !== 0) {
      throw new ShapeError(`${prefix}: ${this.numHeads} heads do not divide the internal dim ${this.internalDim}`);
    }
    if (tables.dtype !== dtypeOf(ctx)) throw new ShapeError(`${prefix}: RoPE tables are ${tables.dtype}, weights ${dtypeOf(ctx)}`);
  }

  get headDim(): number {
    return this.internalDim / this.numHeads;
  }

  /**
   * q [B, Lq, E], k / v [B, Lk, kvIn] (or opts.kProjected / vProjected [B, Lk, internal]) → [B, Lq, E].
   * Lq must be a square (√Lq × √Lq map); Lk − numKExcludeRope equals Lq, or a multiple of it with ropeKRepeat.
   */
  forward(q: Tensor, k: Tensor | null, v: Tensor | null, opts: RoPEForwardOptions = {}): Tensor {
    const gpu = this.ctx.gpu;
    const dt = dtypeOf(this.ctx);
    const P = this.prefix;
    const check = (name: string, t: Tensor, last: number) => {
      if (t.dtype !== dt) throw new ShapeError(`${P}: ${name} ${t} must be ${dt}`);
      if (t.shape.length !== 3 || t.shape[2] !== last) throw new ShapeError(`${P}: ${name} ${t} must be [B, L, ${last}]`);
      if (t.shape[0] !== q.shape[0]) throw new ShapeError(`${P}: ${name} ${t} has another batch than q ${q}`);
    };
    check('q', q, this.embeddingDim);
    if (opts.kProjected) check('kProjected', opts.kProjected, this.internalDim);
    else if (k) check('k', k, this.kvInDim);
    else throw new ShapeError(`${P}: no keys`);
    if (opts.vProjected) check('vProjected', opts.vProjected, this.internalDim);
    else if (v) check('v', v, this.kvInDim);
    else throw new ShapeError(`${P}: no values`);
    const Lq = q.shape[1];
    const Lk = (opts.kProjected ?? k)!.shape[1];
    const Lv = (opts.vProjected ?? v)!.shape[1];
    if (Lv !== Lk) throw new ShapeError(`${P}: ${Lk} keys but ${Lv} values`);
    const exclude = opts.numKExcludeRope ?? 0;
    if (Lk - exclude !== Lq && !this.ropeKRepeat) {
      throw new ShapeError(`${P}: ${Lk - exclude} rotated keys for ${Lq} queries needs rope_k_repeat`);
    }
    const table = this.tables.get(Lq, this.headDim);

    const qp = this.qProj.forward(q);
    const qr = applyRope(gpu, qp, table, this.numHeads);
    qp.release();
    const kp = opts.kProjected ?? this.kProj.forward(k!);
    const kr = applyRope(gpu, kp, table, this.numHeads, exclude);
    if (kp !== opts.kProjected) kp.release();
    const vp = opts.vProjected ?? this.vProj.forward(v!);
    const o = sdpa(gpu, qr, kr, vp, this.numHeads, this.sdpaImpl);
    qr.release();
    kr.release();
    if (vp !== opts.vProjected) vp.release();
    const y = this.outProj.forward(o, { residual: opts.residual });
    o.release();
    return y;
  }
}
