/**
 * Memory encoder of sam2/modeling/memory_encoder.py: turns a frame's image features and its predicted mask
 * into a spatial memory for later frames.
 *
 *   masks [B, 1, H, W] ──(sigmoid unless skipped)── MaskDownSampler ──┐
 *   pixFeat [B, 256, h, w] ── pix_feat_proj (1×1) ─────────────────────+── Fuser (CXBlocks) ── out_proj (1×1)
 *   → features [B, 64, h, w] and the sine position encoding pos [1, 64, h, w]
 *
 * MaskDownSampler: log_stride(total_stride) × (conv k×k stride s → LayerNorm2d → GELU) growing channels
 * 1 → 4 → 16 → 64 → 256, then a 1×1 conv to 256 (H/16 × W/16). CXBlock: depthwise 7×7 conv → LayerNorm2d →
 * pointwise MLP 256 → 1024 (GELU) → 256 → layer scale γ → + input. Everything stays NCHW: the pointwise
 * linears run as 1×1 convolutions over channels, so no permutes are needed.
 *
 * The rest of SAM2Base._encode_new_memory, for the tracking step: maskForMemory() (sigmoid of the mask
 * logits, or binarized masks for frames prompted by clicks, then × sigmoid_scale + sigmoid_bias; the encoder
 * is then called with skipMaskSigmoid), addNoObjectEmbedding() (SAM 2.1's no_obj_embed_spatial where the
 * object score says absent, without a readback) and toMemoryBank() (the bf16 storage of the video predictor,
 * token-major for memory attention).
 */
import { add, channelAffine, mul } from '../kernels/binary.js';
import { matmulStrided } from '../kernels/matmul.js';
import { unary } from '../kernels/elementwise.js';
import { permute } from '../kernels/layout.js';
import { ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import type { Tensor } from '../runtime/tensor.js';
import type { Sam2Config } from '../checkpoint/config.js';
import { cached, Conv2d, dtypeOf, LayerNorm2d, Linear, releaseDerived, type ModelContext } from './layers.js';
import { sinePositionEncoding } from './position_encoding.js';

/** Sees intermediate tensors (tests); what it creates (copies) belongs to it; it must not release them. */
export type Tap = (name: string, t: Tensor) => void;

/** memory_encoder.MaskDownSampler at `prefix` (encoder.{3i} conv, encoder.{3i+1} LayerNorm2d, last 1×1 conv). */
export class MaskDownSampler {
  readonly convs: Conv2d[] = [];
  readonly norms: LayerNorm2d[] = [];
  readonly proj: Conv2d;
  readonly totalStride: number;

  constructor(
    ctx: ModelContext,
    readonly prefix: string,
    opts: { kernelSize: number; stride: number; padding: number; totalStride: number },
  ) {
    const numLayers = Math.round(Math.log2(opts.totalStride) / Math.log2(opts.stride));
    if (opts.stride ** numLayers !== opts.totalStride) {
      throw new ShapeError(`${prefix}: total stride ${opts.totalStride} is not a power of the stride ${opts.stride}`);
    }
    for (let i = 0; i < numLayers; i++) {
      this.convs.push(new Conv2d(ctx, `${prefix}.encoder.${3 * i}`, { stride: opts.stride, padding: opts.padding }));
      this.norms.push(new LayerNorm2d(ctx, `${prefix}.encoder.${3 * i + 1}`));
    }
    this.proj = new Conv2d(ctx, `${prefix}.encoder.${3 * numLayers}`);
    this.totalStride = opts.totalStride;
  }

  /** mask [B, 1, H, W] → [B, 256, H/16, W/16]; mask is not released. */
  forward(mask: Tensor): Tensor {
    return mask.gpu.tidy(() => {
      let x = mask;
      for (let i = 0; i < this.convs.length; i++) x = this.norms[i].forward(this.convs[i].forward(x), { act: 'gelu' });
      return this.proj.forward(x);
    });
  }
}

/**
 * memory_encoder.CXBlock at `prefix` (dwconv, norm, pwconv1, pwconv2, gamma). The pointwise MLP runs as two
 * matmuls over the NCHW map without permutes: hᵀ [B, h·w, 4C] = GELU(nᵀ · W1ᵀ + b1) (the bias and GELU in the
 * matmul's epilogue), then p [B, C, h·w] = W2 · h; the layer scale, pwconv2's bias and the residual are one
 * channel-affine pass, γ·p + γ·b2 + x.
 */
export class CXBlock {
  readonly dwconv: Conv2d;
  readonly norm: LayerNorm2d;
  readonly pwconv1: Linear;
  readonly pwconv2: Linear;
  readonly gamma: Tensor | null;
  /** γ · b2, made on first use. */
  private readonly scaledBias = new Map<'shift', Tensor>();

  constructor(
    private readonly ctx: ModelContext,
    readonly prefix: string,
    opts: { dim: number; kernelSize: number },
  ) {
    const pad = (opts.kernelSize - 1) / 2;
    this.dwconv = new Conv2d(ctx, `${prefix}.dwconv`, { padding: pad, groups: opts.dim });
    this.norm = new LayerNorm2d(ctx, `${prefix}.norm`);
    this.pwconv1 = new Linear(ctx, `${prefix}.pwconv1`);
    this.pwconv2 = new Linear(ctx, `${prefix}.pwconv2`);
    this.gamma = ctx.weights.has(`${prefix}.gamma`) ? ctx.weights.get(`${prefix}.gamma`) : null;
  }

  /** x [B, C, h, w] → x + γ · pwconv2(gelu(pwconv1(norm(dwconv(x))))); x is not released. */
  forward(x: Tensor): Tensor {
    const gpu = this.ctx.gpu;
    const [b, c, hh, ww] = x.shape;
    const hw = hh * ww;
    const hidden = this.pwconv1.outFeatures;
    if (this.pwconv1.inFeatures !== c || this.pwconv2.inFeatures !== hidden || this.pwconv2.outFeatures !== c) {
      throw new ShapeError(`${this.prefix}: x ${x} does not fit pwconv1 ${this.pwconv1.weight} and pwconv2 ${this.pwconv2.weight}`);
    }
    return gpu.tidy(() => {
      const n = this.norm.forward(this.dwconv.forward(x));
      const h = matmulStrided(
        gpu,
        {
          M: hw, N: hidden, K: c, batch: [b],
          a: { tensor: n, ld: hw, trans: true, batchStrides: [c * hw] },
          b: { tensor: this.pwconv1.weight, ld: c, trans: true, batchStrides: [0] },
        },
        { bias: this.pwconv1.bias, act: 'gelu', label: `${this.prefix}.pwconv1` },
      );
      const p = matmulStrided(
        gpu,
        {
          M: c, N: hw, K: hidden, batch: [b],
          a: { tensor: this.pwconv2.weight, ld: hidden, batchStrides: [0] },
          b: { tensor: h, ld: hidden, trans: true, batchStrides: [hw * hidden] },
        },
        { label: `${this.prefix}.pwconv2` },
      );
      return channelAffine(gpu, p.reshape([b, c, hh, ww]), this.gamma, this.shift(), { dim: 1, residual: x });
    });
  }

  /** The affine pass's shift: γ · b2 with a layer scale, else b2. */
  private shift(): Tensor | null {
    const b2 = this.pwconv2.bias ?? null;
    const gamma = this.gamma;
    if (!b2 || !gamma) return b2;
    return cached(this.ctx, this.scaledBias, 'shift', () => mul(this.ctx.gpu, gamma, b2));
  }
}

/** memory_encoder.Fuser at `prefix`: an optional 1×1 input projection, then CXBlocks at layers.{i}. */
export class Fuser {
  readonly proj: Conv2d | null;
  readonly layers: CXBlock[];

  constructor(ctx: ModelContext, readonly prefix: string, opts: { dim: number; kernelSize: number; numLayers: number }) {
    this.proj = ctx.weights.has(`${prefix}.proj.weight`) ? new Conv2d(ctx, `${prefix}.proj`) : null;
    this.layers = Array.from({ length: opts.numLayers }, (_, i) => new CXBlock(ctx, `${prefix}.layers.${i}`, opts));
  }

  /** x [B, C, h, w] → [B, C, h, w]; x is not released. */
  forward(x: Tensor): Tensor {
    return x.gpu.tidy(() => {
      let y = this.proj ? this.proj.forward(x) : x;
      for (const layer of this.layers) y = layer.forward(y);
      return y;
    });
  }
}

export interface MemoryEncoderOutput {
  /** vision_features [B, memDim, h, w], the activation dtype. */
  features: Tensor;
  /**
   * vision_pos_enc [1, memDim, h, w]: the sine encoding, the same for every frame and batch entry. Owned by
   * the encoder (kept per feature size): do not release it.
   */
  pos: Tensor;
}

/** memory_encoder.MemoryEncoder at `prefix` (default "memory_encoder"). */
export class MemoryEncoder {
  readonly maskDownsampler: MaskDownSampler;
  readonly pixFeatProj: Conv2d;
  readonly fuser: Fuser;
  readonly outProj: Conv2d | null;
  readonly inDim: number;
  readonly outDim: number;
  private readonly posCache = new Map<string, Tensor>();

  constructor(
    private readonly ctx: ModelContext,
    readonly config: Sam2Config,
    readonly prefix = 'memory_encoder',
  ) {
    const me = config.memoryEncoder;
    this.inDim = config.hiddenDim;
    this.outDim = config.memDim;
    this.maskDownsampler = new MaskDownSampler(ctx, `${prefix}.mask_downsampler`, {
      kernelSize: me.maskDownsamplerKernel,
      stride: me.maskDownsamplerStride,
      // Every official config sets padding 1 for its 3×3 stride-2 convolutions (the module's default is 0).
      padding: (me.maskDownsamplerKernel - 1) / 2,
      totalStride: me.maskDownsamplerTotalStride,
    });
    this.pixFeatProj = new Conv2d(ctx, `${prefix}.pix_feat_proj`);
    this.fuser = new Fuser(ctx, `${prefix}.fuser`, { dim: this.inDim, kernelSize: me.fuserKernel, numLayers: me.fuserLayers });
    this.outProj = this.outDim !== this.inDim ? new Conv2d(ctx, `${prefix}.out_proj`) : null;
  }

  /** The sine position encoding [1, memDim, h, w] (PositionEmbeddingSine(memDim), normalized), cached per size. */
  positionEncoding(h: number, w: number): Tensor {
    return cached(this.ctx, this.posCache, `${h}x${w}`, () =>
      this.ctx.gpu.upload(sinePositionEncoding(this.outDim, h, w), [1, this.outDim, h, w], dtypeOf(this.ctx), `${this.prefix}.pos`),
    );
  }

  /**
   * The same encoding token-major, [1, h·w, memDim] (memory attention's memory_pos layout), cached per size;
   * owned by the encoder.
   */
  positionTokens(h: number, w: number): Tensor {
    return cached(this.ctx, this.posCache, `tokens ${h}x${w}`, () => {
      const chw = sinePositionEncoding(this.outDim, h, w);
      const hwc = new Float32Array(chw.length);
      const n = h * w;
      for (let c = 0; c < this.outDim; c++) for (let i = 0; i < n; i++) hwc[i * this.outDim + c] = chw[c * n + i];
      return this.ctx.gpu.upload(hwc, [1, n, this.outDim], dtypeOf(this.ctx), `${this.prefix}.pos_tokens`);
    });
  }

  /**
   * pixFeat [B or 1, 256, h, w] and masks [B, 1, 16h, 16w] (both the activation dtype) → features [B, 64, h, w]
   * and pos. The masks go through a sigmoid unless skipMaskSigmoid (SAM2Base passes prepared masks, see
   * maskForMemory). The inputs are not released. `tap` sees "mask_downsampler", "pix_feat_proj", "fuser".
   */
  forward(pixFeat: Tensor, masks: Tensor, opts: { skipMaskSigmoid?: boolean; tap?: Tap } = {}): MemoryEncoderOutput {
    const gpu = this.ctx.gpu;
    const dt = dtypeOf(this.ctx);
    const P = this.prefix;
    if (pixFeat.dtype !== dt) throw new ShapeError(`${P}: pixFeat ${pixFeat} must be ${dt}`);
    if (masks.dtype !== dt) throw new ShapeError(`${P}: masks ${masks} must be ${dt}`);
    if (pixFeat.shape.length !== 4 || pixFeat.shape[1] !== this.inDim) throw new ShapeError(`${P}: pixFeat ${pixFeat} must be [B, ${this.inDim}, h, w]`);
    const [Bp, , h, w] = pixFeat.shape;
    const s = this.maskDownsampler.totalStride;
    // Several masks of one frame: pixFeat may have batch 1 (projected once, broadcast over the masks).
    const B = masks.shape[0];
    if (masks.shape.length !== 4 || (Bp !== B && Bp !== 1) || masks.shape[1] !== 1 || masks.shape[2] !== h * s || masks.shape[3] !== w * s) {
      throw new ShapeError(`${P}: masks ${masks} must be [${Bp === 1 ? 'B' : Bp}, 1, ${h * s}, ${w * s}] for pixFeat ${pixFeat}`);
    }

    const tap = (name: string, t: Tensor) => opts.tap && gpu.untracked(() => opts.tap!(name, t));
    const features = gpu.tidy(() => {
      const md = this.maskDownsampler.forward(opts.skipMaskSigmoid ? masks : unary(gpu, masks, 'sigmoid'));
      tap('mask_downsampler', md);
      const pf = this.pixFeatProj.forward(pixFeat);
      tap('pix_feat_proj', pf);
      const fused = this.fuser.forward(add(gpu, pf, md));
      tap('fuser', fused);
      return this.outProj ? this.outProj.forward(fused) : fused;
    });
    return { features, pos: this.positionEncoding(h, w) };
  }

  /** Frees what the modules built on this encoder's context derived and cached (the weights belong to their WeightStore). */
  release(): void {
    releaseDerived(this.ctx);
  }
}

// ----------------------------------------------------------------------------------------------------------
// The parts of SAM2Base._encode_new_memory around the encoder

/** Large enough that sigmoid(BIG · x) is exactly 0 or 1 for every non-zero f16 / normal f32 x. */
const STEP_SCALE = 2 ** 100;

export interface MaskForMemoryOptions {
  /** Binarize (logits > 0 → 1, else 0) instead of the sigmoid: frames whose mask came from clicks. */
  binarize: boolean;
  /** sigmoid_scale_for_mem_enc (20 in the official configs). */
  scale: number;
  /** sigmoid_bias_for_mem_enc (−10 in the official configs). */
  bias: number;
}

/**
 * mask_for_mem of SAM2Base._encode_new_memory: logits [B, 1, H, W] → (binarize ? [logits > 0] :
 * sigmoid(logits)) · scale + bias, same shape and dtype (pass to MemoryEncoder.forward with skipMaskSigmoid).
 * The step is exact for every input: sigmoid(2¹⁰⁰ x) is 1 for x > 0, 0 for x < 0 and ½ for x = 0 (an
 * overflowing exp gives +inf or the largest float, both → 0), and relu(2s − 1) maps ½ to 0.
 */
export function maskForMemory(gpu: Gpu, logits: Tensor, opts: MaskForMemoryOptions): Tensor {
  return gpu.tidy(() => {
    const p = opts.binarize ? step(gpu, logits) : unary(gpu, logits, 'sigmoid');
    return opts.scale === 1 && opts.bias === 0 ? p : unary(gpu, p, 'identity', { scale: opts.scale, bias: opts.bias });
  });
}

/** [x > 0] as 0 / 1 in x's dtype: relu(2·sigmoid(2¹⁰⁰ x) − 1) (see maskForMemory). */
function step(gpu: Gpu, x: Tensor): Tensor {
  return gpu.tidy(() => unary(gpu, unary(gpu, x, 'sigmoid', { scale: STEP_SCALE }), 'relu', { scale: 2, bias: -1 }));
}

/**
 * SAM 2.1: features [B, C, h, w] + (1 − [objectScoreLogits > 0]) · noObjEmbedSpatial[c], computed on the GPU
 * (objectScoreLogits [B, 1], noObjEmbedSpatial [1, C]). Present objects get exactly + 0. Returns a new tensor.
 */
export function addNoObjectEmbedding(gpu: Gpu, features: Tensor, objectScoreLogits: Tensor, noObjEmbedSpatial: Tensor): Tensor {
  const [B, C] = features.shape;
  if (features.shape.length !== 4) throw new ShapeError(`no_obj_embed_spatial: features ${features} must be [B, C, h, w]`);
  if (objectScoreLogits.size !== B) throw new ShapeError(`no_obj_embed_spatial: object scores ${objectScoreLogits} must be [${B}, 1]`);
  if (noObjEmbedSpatial.size !== C) throw new ShapeError(`no_obj_embed_spatial: ${noObjEmbedSpatial} must be [1, ${C}]`);
  return gpu.tidy(() => {
    // absent = 1 − [x > 0]
    const absent = unary(gpu, step(gpu, objectScoreLogits), 'identity', { scale: -1, bias: 1 });
    const term = mul(gpu, absent.reshape([B, 1]), noObjEmbedSpatial.reshape([1, C]));
    return add(gpu, features, term.reshape([B, C, 1, 1]));
  });
}

/**
 * The memory bank's storage: features [B, C, h, w] → [B, h·w, C] bfloat16 (round to nearest even, pairs
 * packed in u32), the values the official video predictor stores (maskmem_features.to(torch.bfloat16)) in the
 * token-major layout memory attention reads (the official flatten(2).permute(2, 0, 1), batch-first), converted
 * and transposed in one pass. Half the bytes of f32.
 */
export function toMemoryBank(gpu: Gpu, features: Tensor): Tensor {
  if (features.shape.length !== 4) throw new ShapeError(`memory bank: features ${features} must be [B, C, h, w]`);
  const [B, C, h, w] = features.shape;
  return permute(gpu, features.reshape([B, C, h * w]), [0, 2, 1], { dtype: 'bf16' });
}
