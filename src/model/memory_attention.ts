/**
 * Memory attention of sam2/modeling/memory_attention.py: conditions the current frame's image features on
 * the memory bank. MemoryAttention adds 0.1 · the position encoding to the input, runs `num_layers`
 * MemoryAttentionLayers (pre-norm RoPE self-attention, pre-norm RoPE cross-attention to the memory, pre-norm
 * FFN with ReLU) and a final LayerNorm.
 *
 * Layouts: batch-first token-major throughout (the official layers' batch_first form):
 *   curr, currPos      [B, L, 256]  the current frame's features (L = h·w tokens, row-major over the map)
 *   memory, memoryPos  [B, M, 64]   spatial memories (h·w tokens each) then object-pointer tokens
 *   output             [B, L, 256]
 * The official module takes and returns sequence-first [L, B, C]; forwardSeqFirst() converts at the
 * boundary (a free reshape for B = 1). The last `numObjPtrTokens` memory tokens are the object pointers,
 * excluded from RoPE; the others must be whole frames of L tokens (rope_k_repeat).
 *
 * Configuration (all official configs): d_model 256, 1 head, FFN 2048, pos_enc_at_input, query position
 * encoding neither in self-attention nor at the cross-attention queries, memory position encoding at the
 * cross-attention keys.
 */
import { add } from '../kernels/binary.js';
import { permute } from '../kernels/layout.js';
import { ShapeError } from '../runtime/errors.js';
import type { Tensor } from '../runtime/tensor.js';
import type { Sam2Config } from '../checkpoint/config.js';
import { dtypeOf, LayerNorm, Linear, type ModelContext } from './layers.js';
import type { SdpaImpl } from '../kernels/sdpa.js';
import { RoPEAttention, RopeTables } from './rope_attention.js';

/** Where the position encodings go, as the official MemoryAttentionLayer's flags. */
export interface MemoryAttentionLayerOptions {
  posEncAtAttn: boolean;
  posEncAtCrossAttnQueries: boolean;
  posEncAtCrossAttnKeys: boolean;
  numHeads: number;
  /** How the attentions run (see SdpaImpl; default 'auto'). */
  sdpa?: SdpaImpl;
}

/** The official configs' placement of position encodings. */
export const OFFICIAL_LAYER_OPTIONS: MemoryAttentionLayerOptions = {
  posEncAtAttn: false,
  posEncAtCrossAttnQueries: false,
  posEncAtCrossAttnKeys: true,
  numHeads: 1,
};

/** memory_attention.MemoryAttentionLayer at `prefix` (self_attn, cross_attn_image, linear1/2, norm1/2/3). */
export class MemoryAttentionLayer {
  readonly selfAttn: RoPEAttention;
  readonly crossAttnImage: RoPEAttention;
  readonly linear1: Linear;
  readonly linear2: Linear;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly norm3: LayerNorm;

  constructor(
    private readonly ctx: ModelContext,
    readonly prefix: string,
    tables: RopeTables,
    readonly opts: MemoryAttentionLayerOptions = OFFICIAL_LAYER_OPTIONS,
  ) {
    this.selfAttn = new RoPEAttention(ctx, `${prefix}.self_attn`, tables, { numHeads: opts.numHeads, sdpa: opts.sdpa });
    this.crossAttnImage = new RoPEAttention(ctx, `${prefix}.cross_attn_image`, tables, {
      numHeads: opts.numHeads,
      ropeKRepeat: true,
      sdpa: opts.sdpa,
    });
    this.linear1 = new Linear(ctx, `${prefix}.linear1`);
    this.linear2 = new Linear(ctx, `${prefix}.linear2`);
    this.norm1 = new LayerNorm(ctx, `${prefix}.norm1`);
    this.norm2 = new LayerNorm(ctx, `${prefix}.norm2`);
    this.norm3 = new LayerNorm(ctx, `${prefix}.norm3`);
  }

  /**
   * tgt [B, L, 256], queryPos [B, L, 256] → [B, L, 256]. The memory side comes prepared by MemoryAttention:
   * `memoryKeysIn` = memory + pos (or memory, as configured) [B, M, 64], `memory` [B, M, 64].
   * tgt is not released.
   */
  forward(tgt: Tensor, queryPos: Tensor, memoryKeysIn: Tensor, memory: Tensor, numKExcludeRope: number): Tensor {
    const gpu = this.ctx.gpu;
    return gpu.tidy(() => {
      // Self-attention (pre-norm).
      const n1 = this.norm1.forward(tgt);
      const qk = this.opts.posEncAtAttn ? add(gpu, n1, queryPos) : n1;
      const t1 = this.selfAttn.forward(qk, qk, n1, { residual: tgt });
      // Cross-attention to the memory (pre-norm).
      const n2 = this.norm2.forward(t1);
      const q = this.opts.posEncAtCrossAttnQueries ? add(gpu, n2, queryPos) : n2;
      const t2 = this.crossAttnImage.forward(q, memoryKeysIn, memory, { numKExcludeRope, residual: t1 });
      // FFN (pre-norm).
      const h = this.linear1.forward(this.norm3.forward(t2), { act: 'relu' });
      return this.linear2.forward(h, { residual: t2 });
    });
  }
}

/** memory_attention.MemoryAttention at `prefix` (default "memory_attention"). */
export class MemoryAttention {
  readonly layers: MemoryAttentionLayer[];
  readonly norm: LayerNorm;
  readonly tables: RopeTables;
  readonly dModel: number;
  readonly memDim: number;
  readonly posEncAtInput = true;

  constructor(
    private readonly ctx: ModelContext,
    readonly config: Sam2Config,
    readonly prefix = 'memory_attention',
    opts: { sdpa?: SdpaImpl } = {},
  ) {
    const ma = config.memoryAttention;
    this.tables = new RopeTables(ctx.gpu, dtypeOf(ctx), ma.ropeTheta);
    const layerOpts = { ...OFFICIAL_LAYER_OPTIONS, numHeads: ma.numHeads, sdpa: opts.sdpa };
    this.layers = Array.from({ length: ma.numLayers }, (_, i) => new MemoryAttentionLayer(ctx, `${prefix}.layers.${i}`, this.tables, layerOpts));
    this.norm = new LayerNorm(ctx, `${prefix}.norm`);
    this.dModel = config.hiddenDim;
    this.memDim = config.memDim;
    if (this.layers[0].crossAttnImage.kvInDim !== this.memDim) {
      throw new ShapeError(`${prefix}: cross-attention keys take ${this.layers[0].crossAttnImage.kvInDim} channels, memDim is ${this.memDim}`);
    }
  }

  /**
   * Batch-first: curr / currPos [B, L, 256], memory / memoryPos [B, M, 64] → [B, L, 256] (a new tensor; the
   * inputs are not released). `numObjPtrTokens`: the last memory tokens, excluded from RoPE.
   * `tap(name, t)` sees each layer's output ("layers.i"; tests: what it creates is its own).
   */
  forward(
    curr: Tensor,
    currPos: Tensor,
    memory: Tensor,
    memoryPos: Tensor,
    numObjPtrTokens = 0,
    tap?: (name: string, t: Tensor) => void,
  ): Tensor {
    const gpu = this.ctx.gpu;
    const dt = dtypeOf(this.ctx);
    const P = this.prefix;
    for (const [name, t, c] of [
      ['curr', curr, this.dModel],
      ['currPos', currPos, this.dModel],
      ['memory', memory, this.memDim],
      ['memoryPos', memoryPos, this.memDim],
    ] as const) {
      if (t.dtype !== dt) throw new ShapeError(`${P}: ${name} ${t} must be ${dt}`);
      if (t.shape.length !== 3 || t.shape[2] !== c) throw new ShapeError(`${P}: ${name} ${t} must be [B, L, ${c}]`);
      if (t.shape[0] !== curr.shape[0]) throw new ShapeError(`${P}: ${name} ${t} and curr ${curr} differ in batch`);
    }
    if (currPos.shape[1] !== curr.shape[1]) throw new ShapeError(`${P}: currPos ${currPos} does not match curr ${curr}`);
    if (memoryPos.shape[1] !== memory.shape[1]) throw new ShapeError(`${P}: memoryPos ${memoryPos} does not match memory ${memory}`);
    const L = curr.shape[1];
    const M = memory.shape[1];
    if (!Number.isInteger(numObjPtrTokens) || numObjPtrTokens < 0 || numObjPtrTokens > M) {
      throw new ShapeError(`${P}: ${numObjPtrTokens} object-pointer tokens in memory ${memory}`);
    }
    if ((M - numObjPtrTokens) % L !== 0) {
      throw new ShapeError(`${P}: memory ${memory} minus ${numObjPtrTokens} pointer tokens is not whole frames of ${L} tokens`);
    }

    return gpu.tidy(() => {
      let x = this.posEncAtInput ? add(gpu, curr, currPos, { alpha: 0.1 }) : curr;
      const keysIn = this.layers[0].opts.posEncAtCrossAttnKeys ? add(gpu, memory, memoryPos) : memory;
      this.layers.forEach((layer, i) => {
        x = layer.forward(x, currPos, keysIn, memory, numObjPtrTokens);
        const t = x;
        if (tap) gpu.untracked(() => tap(`layers.${i}`, t));
      });
      return this.norm.forward(x);
    });
  }

  /**
   * The official interface: sequence-first curr / currPos [L, B, 256], memory / memoryPos [M, B, 64] →
   * [L, B, 256]. B = 1 needs no copies; larger batches are permuted at entry and exit.
   */
  forwardSeqFirst(...args: Parameters<MemoryAttention['forward']>): Tensor {
    const [curr, currPos, memory, memoryPos, numObjPtrTokens = 0, tap] = args;
    const gpu = this.ctx.gpu;
    for (const [name, t] of [['curr', curr], ['currPos', currPos], ['memory', memory], ['memoryPos', memoryPos]] as const) {
      if (t.shape.length !== 3) throw new ShapeError(`${this.prefix}: ${name} ${t} must be [L, B, C] (sequence-first)`);
    }
    const B = curr.shape[1];
    const toBatchFirst = (t: Tensor): Tensor => (B === 1 ? t.reshape([1, t.shape[0], t.shape[2]]) : permute(gpu, t, [1, 0, 2]));
    return gpu.tidy(() => {
      const out = this.forward(toBatchFirst(curr), toBatchFirst(currPos), toBatchFirst(memory), toBatchFirst(memoryPos), numObjPtrTokens, tap);
      return B === 1 ? out.reshape([out.shape[1], 1, out.shape[2]]) : permute(gpu, out, [1, 0, 2]);
    });
  }

  /** Frees the RoPE tables (the weights belong to their WeightStore). */
  release(): void {
    this.tables.release();
  }
}
