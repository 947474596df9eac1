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
 * sitting at x = t mod w, y = ⌊t / w⌋. The rope kernel (wgsl/rope.wgsl) does it in one pass on the
 * token-major projections, in place, with f32 cos / sin tables and f32 arithmetic in every storage mode.
 */
import { rope, ropeTable, type RopeTable } from '../kernels/rope.js';
import { sdpa, type SdpaImpl } from '../kernels/sdpa.js';
import { ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import { dispose } from '../runtime/scope.js';
import type { Tensor } from '../runtime/tensor.js';
import { dtypeOf, Linear, type ModelContext } from './layers.js';

/**
 * Rotation tables of the rope kernel (src/kernels/rope.ts) per (feature size, head dim), made on first use
 * and kept: one per resolution, shared by every RoPEAttention of a model. The tables are f32 in every
 * storage mode (the kernel rotates in f32 and rounds once on store); `dtype` is the activation dtype of the
 * model they serve.
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
    if (!t || t.tensor.isReleased) {
      const side = Math.round(Math.sqrt(length));
      if (side * side !== length) {
        throw new ShapeError(`RoPEAttention: ${length} query tokens are not a square feature map (RoPE assumes w = h = √L)`);
      }
      if (headDim % 4 !== 0) throw new ShapeError(`RoPEAttention: head dim ${headDim} must be a multiple of 4`);
      t = ropeTable(this.gpu, headDim, side, side, this.theta);
      this.gpu.keep(t.tensor);
      this.tables.set(key, t);
    }
    return t;
  }

  release(): void {
    dispose(this.tables);
    this.tables.clear();
  }
}

/**
 * apply_rotary_enc on token-major x [B, Lx, H·Dh] (rope kernel): the first Lx − exclude tokens (a multiple of
 * the table's endX·endY positions, token j taking the rotation of position j mod endX·endY) rotated, the rest
 * copied. Returns a new tensor; x is not released.
 */
export function applyRope(gpu: Gpu, x: Tensor, table: RopeTable, heads: number, exclude = 0): Tensor {
  return rope(gpu, x, table, { heads, repeat: true, exclude });
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

    const H = this.numHeads;
    return gpu.tidy(() => {
      // The projections' outputs are rotated in place; keys projected by the caller into a new tensor.
      const qr = rope(gpu, this.qProj.forward(q), table, { heads: H, inPlace: true });
      const kr = opts.kProjected
        ? rope(gpu, opts.kProjected, table, { heads: H, repeat: this.ropeKRepeat, exclude })
        : rope(gpu, this.kProj.forward(k!), table, { heads: H, repeat: this.ropeKRepeat, exclude, inPlace: true });
      const vp = opts.vProjected ?? this.vProj.forward(v!);
      const o = sdpa(gpu, qr, kr, vp, { heads: H, impl: this.sdpaImpl });
      return this.outProj.forward(o, { residual: opts.residual });
    });
  }
}
