/**
 * The Hiera trunk of SAM 2's image encoder (sam2/modeling/backbones/hieradet.py, with PatchEmbed and the
 * window helpers of backbones/utils.py): a 7×7 stride-4 patch embedding, an absolute position embedding
 * (bicubic-resized background plus a tiled window embedding), then multi-scale blocks with windowed or
 * global attention, query pooling at the stage transitions, and GELU MLPs.
 *
 * Layout: every activation is token-major [B, H, W, C] (channels last, as the official blocks hold them), so
 * the qkv / proj / MLP linears read and write it directly, attention (kernels/sdpa.ts) takes the packed qkv with
 * strides, and no permute is needed between blocks. Only the patch embedding (an NCHW convolution) is
 * permuted once.
 *
 * Weights under `image_encoder.trunk` with the state-dict's names: patch_embed.proj, pos_embed,
 * pos_embed_window, blocks.{i}.{norm1, attn.qkv, attn.proj, norm2, mlp.layers.{0,1}, proj}.
 */
import { packedQKV, tokenMajor } from '../kernels/attention.js';
import { sdpa } from '../kernels/sdpa.js';
import { add } from '../kernels/binary.js';
import { cast, concat, permute, slice, windowPartition, windowUnpartition } from '../kernels/layout.js';
import { matmulStrided } from '../kernels/matmul.js';
import { maxPool2d } from '../kernels/pool.js';
import { resize } from '../kernels/resize.js';
import { ShapeError } from '../runtime/errors.js';
import { shapeStr, type Tensor } from '../runtime/tensor.js';
import type { HieraConfig } from '../checkpoint/config.js';
import { cached, Conv2d, dtypeOf, LayerNorm, Linear, MLP, type ModelContext } from './layers.js';

/** Receives intermediate tensors by name ('patch_embed', 'blocks.{i}'); it must copy what it keeps. */
export type Tap = (name: string, t: Tensor) => void;

/** The structure of one block as Hiera.__init__ derives it from the config. */
export interface BlockSpec {
  dim: number;
  dimOut: number;
  heads: number;
  /** 0: global attention. */
  windowSize: number;
  /** Query pooling (2×2 max-pool of q and of the shortcut) at a stage transition. */
  qPool: boolean;
}

/** Block specs and stage ends of a Hiera config, exactly as the official constructor lays them out. */
export function hieraBlocks(cfg: HieraConfig): { blocks: BlockSpec[]; stageEnds: number[] } {
  const depth = cfg.stages.reduce((a, b) => a + b, 0);
  const stageEnds = cfg.stages.map((_, i) => cfg.stages.slice(0, i + 1).reduce((a, b) => a + b, 0) - 1);
  const qPoolBlocks = stageEnds.slice(0, -1).map((e) => e + 1).slice(0, cfg.qPool);
  const blocks: BlockSpec[] = [];
  let dim = cfg.embedDim;
  let heads = cfg.numHeads;
  let stage = 1;
  for (let i = 0; i < depth; i++) {
    let dimOut = dim;
    // The window size lags by a block: a stage's first block still uses the previous stage's window.
    let windowSize = cfg.windowSpec[stage - 1];
    if (cfg.globalAttBlocks.includes(i)) windowSize = 0;
    if (stageEnds.includes(i - 1)) {
      dimOut = Math.trunc(dim * cfg.dimMul);
      heads = Math.trunc(heads * cfg.headMul);
      stage++;
    }
    blocks.push({ dim, dimOut, heads, windowSize, qPool: qPoolBlocks.includes(i) });
    dim = dimOut;
  }
  return { blocks, stageEnds };
}

/** MultiScaleAttention: qkv linear, optional 2×2 q pooling, SDPA over heads, output projection. */
export class MultiScaleAttention {
  readonly qkv: Linear;
  readonly proj: Linear;
  constructor(
    private readonly ctx: ModelContext,
    readonly prefix: string,
    readonly dimOut: number,
    readonly heads: number,
    readonly qPool: boolean,
  ) {
    this.qkv = new Linear(ctx, `${prefix}.qkv`);
    this.proj = new Linear(ctx, `${prefix}.proj`);
    if (this.qkv.outFeatures !== 3 * dimOut) throw new ShapeError(`${prefix}.qkv: ${this.qkv.weight} must have ${3 * dimOut} outputs`);
  }

  /**
   * x [N, h, w, C] (N windows or images) → the attention output before the projection, token-major
   * [N, h'·w', dimOut] (h' = h / 2, w' = w / 2 with q pooling). The projection is applied by the block after
   * unpartitioning, since it acts per token.
   */
  attend(x: Tensor): Tensor {
    const gpu = this.ctx.gpu;
    const [N, h, w, C] = x.shape;
    return gpu.tidy(() => {
      const qkv = this.qkv.forward(x.reshape([N, h * w, C]));
      const [q, k, v] = packedQKV(qkv, this.heads);
      if (!this.qPool) return sdpa(gpu, q, k, v);
      const qp = maxPool2d(gpu, slice(gpu, qkv, 2, 0, this.dimOut).reshape([N, h, w, this.dimOut]), { kernel: 2, layout: 'nhwc' });
      return sdpa(gpu, tokenMajor(qp.reshape([N, (h / 2) * (w / 2), this.dimOut]), this.heads), k, v);
    });
  }
}

/**
 * MultiScaleBlock: x + attn(norm1(x)) (windowed, maybe q-pooled), then x + mlp(norm2(x)).
 *
 * Large intermediates are split so that no tensor exceeds `maxTensorBytes` (the adapter's storage-binding
 * limit by default; 128 MiB on some adapters, which the qkv of a 1024-pixel frame's first stages exceeds):
 * windowed attention runs over horizontal bands of whole window rows (windows are independent), and the
 * MLP over runs of tokens. Below the limit each runs in one piece.
 */
export class MultiScaleBlock {
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly attn: MultiScaleAttention;
  readonly mlp: MLP;
  /** The shortcut's projection where the width changes. */
  readonly proj?: Linear;
  constructor(
    private readonly ctx: ModelContext,
    readonly prefix: string,
    readonly spec: BlockSpec,
    eps: number,
    readonly maxTensorBytes = Infinity,
  ) {
    this.norm1 = new LayerNorm(ctx, `${prefix}.norm1`, eps);
    this.norm2 = new LayerNorm(ctx, `${prefix}.norm2`, eps);
    this.attn = new MultiScaleAttention(ctx, `${prefix}.attn`, spec.dimOut, spec.heads, spec.qPool);
    this.mlp = new MLP(ctx, `${prefix}.mlp`, 2, 'gelu');
    if (spec.dim !== spec.dimOut) this.proj = new Linear(ctx, `${prefix}.proj`);
  }

  /** x [B, H, W, dim] → [B, H', W', dimOut] (H' = H / 2 with q pooling). x is not released. */
  forward(x: Tensor): Tensor {
    const gpu = this.ctx.gpu;
    const { dim, dimOut, windowSize: ws, qPool } = this.spec;
    if (x.shape.length !== 4 || x.shape[3] !== dim) throw new ShapeError(`${this.prefix}: x ${x} must be [B, H, W, ${dim}]`);
    const [B, H, W] = x.shape;
    if (qPool && (H % 2 !== 0 || W % 2 !== 0)) throw new ShapeError(`${this.prefix}: x ${x} needs even H and W for q pooling`);
    return gpu.tidy(() => {
      const xn = this.norm1.forward(x);

      let shortcut = x;
      if (this.proj) {
        const p = this.proj.forward(xn);
        shortcut = qPool ? maxPool2d(gpu, p, { kernel: 2, layout: 'nhwc' }) : p;
      }

      let a: Tensor;
      const [Ho, Wo] = qPool ? [H / 2, W / 2] : [H, W];
      if (ws > 0) {
        // Whole window rows per band, as many as keep the band's qkv within the limit.
        const elem = xn.byteLength / xn.size;
        const Wp = Math.ceil(W / ws) * ws;
        const rowBytes = B * ws * Wp * 3 * dimOut * elem;
        const bandRows = ws * Math.max(1, Math.floor(this.maxTensorBytes / rowBytes));
        if (bandRows >= H) {
          a = this.windowAttention(xn, Ho, Wo);
        } else {
          const parts: Tensor[] = [];
          for (let r = 0; r < H; r += bandRows) {
            const hb = Math.min(bandRows, H - r);
            parts.push(gpu.tidy(() => this.windowAttention(slice(gpu, xn, 1, r, hb), qPool ? hb / 2 : hb, Wo)));
          }
          a = concat(gpu, parts, 1);
        }
      } else {
        a = this.attn.attend(xn);
      }
      // The projection acts per token, so it runs after unpartitioning (padding tokens dropped), with the
      // shortcut added in its epilogue.
      const x1 = this.attn.proj.forward(a, { residual: shortcut, out: gpu.empty([B, Ho, Wo, dimOut], x.dtype, `${this.prefix}`) });
      const y = this.mlpForward(this.norm2.forward(x1), x1);
      if (y.shape[0] !== B || y.shape[3] !== dimOut) throw new ShapeError(`${this.prefix}: produced ${y}, expected [${B}, ${Ho}, ${Wo}, ${dimOut}]`);
      return y;
    });
  }

  /** window_partition → attention (q-pooled at stage transitions) → window_unpartition: [B, h, w, dim] → [B, ho, wo, dimOut]. */
  private windowAttention(xn: Tensor, ho: number, wo: number): Tensor {
    const gpu = this.ctx.gpu;
    const { dimOut, windowSize: ws, qPool } = this.spec;
    return gpu.tidy(() => {
      const { windows, padHW } = windowPartition(gpu, xn, ws);
      const aw = this.attn.attend(windows);
      const wsOut = qPool ? ws / 2 : ws;
      const pad: [number, number] = qPool ? [padHW[0] / 2, padHW[1] / 2] : padHW;
      return windowUnpartition(gpu, aw.reshape([aw.shape[0], wsOut, wsOut, dimOut]), wsOut, pad, [ho, wo]);
    });
  }

  /** x1 + mlp(h): fc1 with GELU, fc2 with the residual; over runs of tokens when the hidden layer is too large. */
  private mlpForward(h: Tensor, x1: Tensor): Tensor {
    const gpu = this.ctx.gpu;
    const C = this.spec.dimOut;
    const [fc1, fc2] = this.mlp.layers;
    const hidden = fc1.outFeatures;
    const tokens = h.size / C;
    const elem = h.byteLength / h.size;
    const run = Math.max(8, Math.floor(this.maxTensorBytes / (hidden * elem) / 8) * 8);
    if (run >= tokens) return this.mlp.forward(h, { residual: x1 });
    return gpu.tidy(() => {
      const parts: Tensor[] = [];
      for (let t0 = 0; t0 < tokens; t0 += run) {
        const m = Math.min(run, tokens - t0);
        const mid = (): Tensor =>
          matmulStrided(
            gpu,
            { M: m, N: hidden, K: C, a: { tensor: h, offset: t0 * C, ld: C }, b: { tensor: fc1.weight, ld: C, trans: true } },
            { bias: fc1.bias, act: 'gelu', label: fc1.prefix },
          );
        parts.push(gpu.tidy(() => fc2.forward(mid())));
      }
      const cat = concat(gpu, parts, 0);
      return add(gpu, cat.reshape(x1.shape), x1, { out: gpu.empty(x1.shape, x1.dtype, this.prefix) });
    });
  }
}

export interface HieraOptions {
  /**
   * The largest intermediate tensor to create, in bytes (default: the adapter's maxStorageBufferBindingSize).
   * Smaller values split the big blocks into more pieces and lower the peak memory.
   */
  maxTensorBytes?: number;
}

/**
 * Hiera. forward(image [B, 3, S, S]) → the output of each stage, highest resolution first, token-major:
 * [B, S/4, S/4, C], [B, S/8, S/8, 2C], [B, S/16, S/16, 4C], [B, S/32, S/32, 8C] (C = embedDim).
 */
export class Hiera {
  readonly patchEmbed: Conv2d;
  readonly blocks: MultiScaleBlock[];
  readonly specs: BlockSpec[];
  readonly stageEnds: number[];
  /** Side of the patch grid, S / 4. */
  readonly gridSize: number;
  /** Stage widths, highest resolution first (the neck's backbone_channel_list reversed). */
  readonly channels: number[];
  private readonly posEmbedCache = new Map<'pos', Tensor>();

  constructor(
    private readonly ctx: ModelContext,
    readonly cfg: HieraConfig,
    readonly imageSize: number,
    readonly prefix = 'image_encoder.trunk',
    opts: HieraOptions = {},
  ) {
    if (imageSize % 32 !== 0) throw new ShapeError(`${prefix}: image size ${imageSize} must be a multiple of 32`);
    this.patchEmbed = new Conv2d(ctx, `${prefix}.patch_embed.proj`, { stride: 4, padding: 3 });
    const pe = this.patchEmbed.weight.shape;
    if (pe[0] !== cfg.embedDim || pe[1] !== 3 || pe[2] !== 7 || pe[3] !== 7) {
      throw new ShapeError(`${prefix}.patch_embed.proj: weight ${this.patchEmbed.weight} must be [${cfg.embedDim}, 3, 7, 7]`);
    }
    const { blocks, stageEnds } = hieraBlocks(cfg);
    this.specs = blocks;
    this.stageEnds = stageEnds;
    const lim = ctx.gpu.info.limits;
    const maxBytes = opts.maxTensorBytes ?? Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
    this.blocks = blocks.map((s, i) => new MultiScaleBlock(ctx, `${prefix}.blocks.${i}`, s, cfg.normEps, maxBytes));
    this.gridSize = imageSize / 4;
    this.channels = stageEnds.map((e) => blocks[e].dimOut);
  }

  /**
   * _get_pos_embed at the patch grid, [1, S/4, S/4, C] in the weights' dtype: pos_embed resized by bicubic
   * interpolation (align_corners False) plus pos_embed_window tiled. Computed on the GPU in f32 on first use,
   * then cached (it depends only on the weights and the image size).
   */
  posEmbed(): Tensor {
    return cached(this.ctx, this.posEmbedCache, 'pos', () => this.ctx.gpu.tidy(() => this.computePosEmbed()));
  }

  private computePosEmbed(): Tensor {
    const gpu = this.ctx.gpu;
    const w = this.ctx.weights;
    const C = this.cfg.embedDim;
    const n = this.gridSize;
    const bg = w.get(`${this.prefix}.pos_embed`);
    const win = w.get(`${this.prefix}.pos_embed_window`);
    const ws = win.shape[2];
    if (n % ws !== 0) throw new ShapeError(`${this.prefix}: the ${n}×${n} patch grid does not tile by the ${ws}×${ws} window embedding`);
    const bg32 = cast(gpu, bg, 'f32');
    const win32 = cast(gpu, win, 'f32');
    const t = resize(gpu, bg32, 'bicubic', { size: [n, n] });
    const tiled = add(gpu, t.reshape([C, n / ws, ws, n / ws, ws]), win32.reshape([C, 1, ws, 1, ws]));
    const dt = dtypeOf(this.ctx);
    return permute(gpu, tiled.reshape([C, n * n]), [1, 0], { dtype: dt, out: gpu.empty([1, n, n, C], dt, `${this.prefix}.pos_embed`) });
  }

  /** image [B, 3, S, S] (NCHW, normalized) → stage outputs (see the class comment). The image is not released. */
  forward(image: Tensor, tap?: Tap): Tensor[] {
    const gpu = this.ctx.gpu;
    const S = this.imageSize;
    const dt = dtypeOf(this.ctx);
    if (image.shape.length !== 4 || image.shape[1] !== 3 || image.shape[2] !== S || image.shape[3] !== S) {
      throw new ShapeError(`${this.prefix}: image ${image} must be [B, 3, ${S}, ${S}]`);
    }
    if (image.dtype !== dt) throw new ShapeError(`${this.prefix}: image ${image} must be ${dt} (the weights' dtype)`);
    const B = image.shape[0];
    const pos = this.posEmbed();
    let x = gpu.tidy(() => {
      const pe = permute(gpu, this.patchEmbed.forward(image), [0, 2, 3, 1]);
      tap?.('patch_embed', pe);
      return add(gpu, pe, pos);
    });
    const outputs: Tensor[] = [];
    for (let i = 0; i < this.blocks.length; i++) {
      const next = this.blocks[i].forward(x);
      // Blocks run one after another: each input that is not a stage output is freed at once (peak memory).
      if (!outputs.includes(x)) x.release();
      x = next;
      tap?.(`blocks.${i}`, x);
      if (this.stageEnds.includes(i)) outputs.push(x);
    }
    if (outputs.length !== this.channels.length || outputs[0].shape[0] !== B) {
      throw new ShapeError(`${this.prefix}: produced ${outputs.map((o) => shapeStr(o.shape)).join(', ')}`);
    }
    return outputs;
  }
}
