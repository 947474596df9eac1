/**
 * The mask decoder's two-way transformer (sam2/modeling/sam/transformer.py): TwoWayTransformer,
 * TwoWayAttentionBlock and Attention with an internal-dim downsample rate, under the official prefix
 * (`sam_mask_decoder.transformer`):
 *
 *   layers.{i}.self_attn.{q,k,v,out}_proj                 Attention(C, heads)
 *   layers.{i}.cross_attn_token_to_image.{q,k,v,out}_proj Attention(C, heads, downsample_rate)
 *   layers.{i}.mlp.layers.{0,1}                           MLP(C, mlp_dim, C), ReLU
 *   layers.{i}.cross_attn_image_to_token.{q,k,v,out}_proj Attention(C, heads, downsample_rate)
 *   layers.{i}.norm{1,2,3,4}                              LayerNorm(C), eps 1e-5
 *   final_attn_token_to_image.*, norm_final_attn
 *
 * Layouts are token-major throughout, so no head permutes are needed (attention reads heads as strided views
 * of the projections; kernels/sdpa.ts picks the attention kernel or matmuls per device and shape):
 *   queries, query_pe (the prompt tokens)  [B, Nq, C]
 *   keys (the image)                       [B, HW, C]
 *   key_pe (the image position encoding)   [1, HW, C] or [B, HW, C] (broadcast over B)
 * Residual adds are fused into the out-projection and the MLP's last linear.
 */
import { sdpa } from '../kernels/sdpa.js';
import { add } from '../kernels/binary.js';
import { ShapeError } from '../runtime/errors.js';
import type { Tensor } from '../runtime/tensor.js';
import { LayerNorm, Linear, MLP, type ModelContext } from './layers.js';

/** Attention with q/k/v/out projections; the inner width is C / downsampleRate, split into `numHeads` heads. */
export class Attention {
  readonly qProj: Linear;
  readonly kProj: Linear;
  readonly vProj: Linear;
  readonly outProj: Linear;
  readonly internalDim: number;

  constructor(
    private readonly ctx: ModelContext,
    readonly prefix: string,
    readonly numHeads: number,
  ) {
    this.qProj = new Linear(ctx, `${prefix}.q_proj`);
    this.kProj = new Linear(ctx, `${prefix}.k_proj`);
    this.vProj = new Linear(ctx, `${prefix}.v_proj`);
    this.outProj = new Linear(ctx, `${prefix}.out_proj`);
    this.internalDim = this.qProj.outFeatures;
    if (this.internalDim % numHeads !== 0) {
      throw new ShapeError(`${prefix}: internal dim ${this.internalDim} is not divisible into ${numHeads} heads`);
    }
  }

  /**
   * q [B, Lq, C], k [B, Lk, C], v [B, Lk, C] → [B, Lq, C] = out_proj(SDPA(q_proj q, k_proj k, v_proj v))
   * (+ residual, [B, Lq, C], fused into out_proj). `k` may be the same tensor as `q`.
   */
  forward(q: Tensor, k: Tensor, v: Tensor, residual?: Tensor): Tensor {
    const { ctx, numHeads } = this;
    return ctx.gpu.tidy(() => {
      const o = sdpa(ctx.gpu, this.qProj.forward(q), this.kProj.forward(k), this.vProj.forward(v), { heads: numHeads });
      return this.outProj.forward(o, { residual });
    });
  }
}

/** Self-attention of the tokens, tokens → image, MLP, image → tokens; see the module comment. */
export class TwoWayAttentionBlock {
  readonly selfAttn: Attention;
  readonly crossAttnTokenToImage: Attention;
  readonly crossAttnImageToToken: Attention;
  readonly mlp: MLP;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly norm3: LayerNorm;
  readonly norm4: LayerNorm;

  constructor(
    private readonly ctx: ModelContext,
    readonly prefix: string,
    numHeads: number,
    readonly skipFirstLayerPe: boolean,
  ) {
    this.selfAttn = new Attention(ctx, `${prefix}.self_attn`, numHeads);
    this.crossAttnTokenToImage = new Attention(ctx, `${prefix}.cross_attn_token_to_image`, numHeads);
    this.crossAttnImageToToken = new Attention(ctx, `${prefix}.cross_attn_image_to_token`, numHeads);
    this.mlp = new MLP(ctx, `${prefix}.mlp`, 2, 'relu');
    this.norm1 = new LayerNorm(ctx, `${prefix}.norm1`);
    this.norm2 = new LayerNorm(ctx, `${prefix}.norm2`);
    this.norm3 = new LayerNorm(ctx, `${prefix}.norm3`);
    this.norm4 = new LayerNorm(ctx, `${prefix}.norm4`);
  }

  /**
   * queries [B, Nq, C], keys [B, HW, C], queryPe [B, Nq, C], keyPe [1 or B, HW, C] → new queries and keys
   * (fresh tensors; the inputs are not released).
   */
  forward(queries: Tensor, keys: Tensor, queryPe: Tensor, keyPe: Tensor): { queries: Tensor; keys: Tensor } {
    const gpu = this.ctx.gpu;
    return gpu.tidy(() => {
      // Self attention block
      let qs: Tensor;
      if (this.skipFirstLayerPe) {
        qs = this.norm1.forward(this.selfAttn.forward(queries, queries, queries));
      } else {
        const q = add(gpu, queries, queryPe);
        qs = this.norm1.forward(this.selfAttn.forward(q, q, queries, queries));
      }

      // Cross attention block, tokens attending to the image. keys + key_pe is reused by the last block
      // (the keys do not change in between).
      const k = add(gpu, keys, keyPe);
      qs = this.norm2.forward(this.crossAttnTokenToImage.forward(add(gpu, qs, queryPe), k, keys, qs));

      // MLP block
      qs = this.norm3.forward(this.mlp.forward(qs, { residual: qs }));

      // Cross attention block, the image attending to the tokens
      const ks = this.norm4.forward(this.crossAttnImageToToken.forward(k, add(gpu, qs, queryPe), qs, keys));
      return { queries: qs, keys: ks };
    });
  }
}

export class TwoWayTransformer {
  readonly layers: TwoWayAttentionBlock[];
  readonly finalAttnTokenToImage: Attention;
  readonly normFinalAttn: LayerNorm;

  /** `depth` blocks at prefix.layers.{i}, then the final token → image attention and its norm. */
  constructor(
    private readonly ctx: ModelContext,
    readonly prefix: string,
    readonly depth: number,
    readonly numHeads: number,
  ) {
    this.layers = Array.from({ length: depth }, (_, i) => new TwoWayAttentionBlock(ctx, `${prefix}.layers.${i}`, numHeads, i === 0));
    this.finalAttnTokenToImage = new Attention(ctx, `${prefix}.final_attn_token_to_image`, numHeads);
    this.normFinalAttn = new LayerNorm(ctx, `${prefix}.norm_final_attn`);
  }

  /**
   * imageTokens [B, HW, C] (the image embedding, token-major), imagePe [1 or B, HW, C], pointEmbedding
   * [B, Nq, C] → { queries [B, Nq, C], keys [B, HW, C] } (the official (hs, src)). Inputs are not released.
   */
  forward(imageTokens: Tensor, imagePe: Tensor, pointEmbedding: Tensor): { queries: Tensor; keys: Tensor } {
    const gpu = this.ctx.gpu;
    const what = this.prefix;
    if (imageTokens.shape.length !== 3 || pointEmbedding.shape.length !== 3) {
      throw new ShapeError(`${what}: image tokens ${imageTokens} must be [B, HW, C] and point embedding ${pointEmbedding} [B, N, C]`);
    }
    const [B, HW, C] = imageTokens.shape;
    if (pointEmbedding.shape[0] !== B || pointEmbedding.shape[2] !== C) {
      throw new ShapeError(`${what}: point embedding ${pointEmbedding} must be [${B}, N, ${C}] for image tokens ${imageTokens}`);
    }
    const ps = imagePe.shape;
    if (ps.length !== 3 || (ps[0] !== 1 && ps[0] !== B) || ps[1] !== HW || ps[2] !== C) {
      throw new ShapeError(`${what}: image PE ${imagePe} must be [1 or ${B}, ${HW}, ${C}]`);
    }
    for (const t of [imagePe, pointEmbedding]) {
      if (t.dtype !== imageTokens.dtype) throw new ShapeError(`${what}: ${t} must be ${imageTokens.dtype} like the image tokens`);
    }
    return gpu.tidy(() => {
      let queries = pointEmbedding;
      let keys = imageTokens;
      for (const layer of this.layers) ({ queries, keys } = layer.forward(queries, keys, pointEmbedding, imagePe));
      const a = this.finalAttnTokenToImage.forward(add(gpu, queries, pointEmbedding), add(gpu, keys, imagePe), keys, queries);
      // With depth 0 the keys are the input itself.
      return { queries: this.normFinalAttn.forward(a), keys };
    });
  }
}
