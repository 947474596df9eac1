/**
 * SAM's mask decoder (sam2/modeling/sam/mask_decoder.py, MaskDecoder) under its official prefix
 * `sam_mask_decoder`:
 *
 *   obj_score_token.weight [1, C] (pred_obj_scores), iou_token.weight [1, C], mask_tokens.weight [4, C]
 *   transformer.*                                     TwoWayTransformer (two_way_transformer.ts)
 *   output_upscaling.{0,1,3}                          ConvTranspose2d 2×2/2 (C → C/4), LayerNorm2d, GELU,
 *                                                     ConvTranspose2d 2×2/2 (C/4 → C/8), GELU
 *   output_hypernetworks_mlps.{0..3}.layers.{0..2}    MLP(C, C, C/8), one per mask token
 *   iou_prediction_head.layers.{0..2}                 MLP(C, 256, 4), sigmoid where configured
 *   pred_obj_score_head(.layers.{0..2})               Linear(C, 1) or MLP(C, C, 1) (pred_obj_scores_mlp)
 *
 * (conv_s0 / conv_s1 live under this prefix too but run in the image encoder's forward_image; their outputs
 * are the high-res features passed in here.)
 *
 * Layouts:
 *   imageEmbeddings    [Bi, C, h, w] (NCHW, as the official) or [Bi, h·w, C] (token-major, no permute needed)
 *   imagePe            [1, C, h, w] or [1, h·w, C] (PromptEncoder.getDensePeTokens(): no permute needed)
 *   sparse             [B, N, C]     PromptEncoder.forward().sparse
 *   dense              [B, C, h, w]  PromptEncoder.forward().dense
 *   highResFeatures    [feat_s0 [Bi, C/8, 4h, 4w], feat_s1 [Bi, C/4, 2h, 2w]] (or batch 1, broadcast)
 * Bi is B, or 1 with repeatImage (every prompt reads the same image features, broadcast, never copied).
 * Outputs: masks [B, M, 4h, 4w] (low-res logits), iouPred [B, M], samTokensOut [B, M', C],
 * objectScoreLogits [B, 1]; M = 3 with multimask output, else 1.
 *
 * Decisions are made in f32 in every storage mode: the mask logits (whose stability score picks the
 * dynamic multimask fallback), the IoU predictions (the multimask choice) and the object-score logits
 * (presence) are computed and returned as f32, by heads whose weights are kept in f32 (F32_WEIGHTS in
 * weights.ts), so f16 storage cannot flip a near-tie: two candidates 4e-4 apart are below one f16 step at 0.5.
 *
 * Data-dependent choices (the dynamic multimask fallback, and the best-IoU mask the tracking step takes)
 * stay on the GPU: a small kernel writes a one-hot selection [B, M], and the chosen rows are gathered with
 * a matmul by that one-hot (exact: one product by 1, the rest by 0).
 */
import { add } from '../kernels/binary.js';
import { convTranspose2d } from '../kernels/conv2d.js';
import { unary } from '../kernels/elementwise.js';
import { cast, concat, permute, slice } from '../kernels/layout.js';
import { maskSelection, selectRows } from '../kernels/mask_select.js';
import { matmul, matmulStrided, type MatmulAct } from '../kernels/matmul.js';
import type { Gpu } from '../runtime/gpu.js';
import { ShapeError } from '../runtime/errors.js';
import type { Tensor } from '../runtime/tensor.js';
import type { Sam2Config } from '../checkpoint/config.js';
import { ConvTranspose2d, derive, dtypeOf, LayerNorm2d, Linear, MLP, type ModelContext } from './layers.js';
import { TwoWayTransformer } from './two_way_transformer.js';

export interface MaskDecoderOptions {
  numMultimaskOutputs: number;
  transformerDepth: number;
  transformerNumHeads: number;
  useHighResFeatures: boolean;
  iouPredictionUseSigmoid: boolean;
  dynamicMultimaskViaStability: boolean;
  dynamicMultimaskStabilityDelta: number;
  dynamicMultimaskStabilityThresh: number;
  predObjScores: boolean;
  predObjScoresMlp: boolean;
  useMultimaskTokenForObjPtr: boolean;
}

/** The decoder options of a model config (the official builder's, with the predictors' stability fallback). */
export function maskDecoderOptions(cfg: Sam2Config): MaskDecoderOptions {
  const d = cfg.maskDecoder;
  return {
    numMultimaskOutputs: d.numMultimaskOutputs,
    transformerDepth: d.transformerDepth,
    transformerNumHeads: d.transformerNumHeads,
    useHighResFeatures: cfg.useHighResFeaturesInSam,
    iouPredictionUseSigmoid: cfg.iouPredictionUseSigmoid,
    dynamicMultimaskViaStability: d.dynamicMultimaskViaStability,
    dynamicMultimaskStabilityDelta: d.dynamicMultimaskStabilityDelta,
    dynamicMultimaskStabilityThresh: d.dynamicMultimaskStabilityThresh,
    predObjScores: cfg.predObjScores,
    predObjScoresMlp: cfg.predObjScoresMlp,
    useMultimaskTokenForObjPtr: cfg.useMultimaskTokenForObjPtr,
  };
}

export interface MaskDecoderInput {
  imageEmbeddings: Tensor;
  imagePe: Tensor;
  sparse: Tensor;
  dense: Tensor;
  /** With repeatImage, imageEmbeddings (and the high-res features) have batch 1 and serve every prompt. */
  repeatImage: boolean;
  highResFeatures?: readonly [Tensor, Tensor] | null;
  /**
   * Receives intermediates (copy what you keep; they are released after the call): 'transformer.hs'
   * [B, Nt, C] and 'transformer.keys' [B, HW, C] (the transformer's outputs), 'upscaled_embedding'
   * [B, C/8, 4h, 4w].
   */
  tap?: (name: string, t: Tensor) => void;
}

export interface MaskPrediction {
  /** [B, 4, 4h, 4w] f32 low-res mask logits of every mask token (predict_masks), or the selected ones (forward). */
  masks: Tensor;
  /** [B, 4] f32 (or the selected [B, M]). */
  iouPred: Tensor;
  /** [B, 4, C] mask-token outputs (predict_masks) or the SAM output tokens [B, M', C] (forward); activation dtype. */
  tokens: Tensor;
  /** [B, 1] f32. */
  objectScoreLogits: Tensor;
}

export interface MaskDecoderOutput {
  /** [B, M, 4h, 4w] f32. */
  masks: Tensor;
  /** [B, M] f32. */
  iouPred: Tensor;
  /** [B, 3, C] with multimask output and use_multimask_token_for_obj_ptr, else [B, 1, C]; activation dtype. */
  samTokensOut: Tensor;
  /** [B, 1] f32. */
  objectScoreLogits: Tensor;
}

export class MaskDecoder {
  readonly transformerDim: number;
  readonly numMaskTokens: number;
  readonly transformer: TwoWayTransformer;
  /** [T0, C]: obj_score_token (when predicted), iou_token, mask_tokens, as predict_masks concatenates them. */
  private readonly outputTokens: Tensor;
  private readonly upscale: { dc1: ConvTranspose2d; ln1: LayerNorm2d; dc2: ConvTranspose2d };
  readonly hypernetworks: MLP[];
  readonly iouHead: MLP;
  private readonly objScoreHead: MLP | Linear | null;

  constructor(
    private readonly ctx: ModelContext,
    readonly opts: MaskDecoderOptions,
    readonly prefix = 'sam_mask_decoder',
  ) {
    const w = ctx.weights;
    const iou = w.get(`${prefix}.iou_token.weight`);
    const mask = w.get(`${prefix}.mask_tokens.weight`);
    this.transformerDim = iou.shape[1];
    this.numMaskTokens = opts.numMultimaskOutputs + 1;
    if (mask.shape[0] !== this.numMaskTokens) {
      throw new ShapeError(`${prefix}: mask_tokens ${mask} must hold ${this.numMaskTokens} tokens`);
    }
    const parts = opts.predObjScores ? [w.get(`${prefix}.obj_score_token.weight`), iou, mask] : [iou, mask];
    this.outputTokens = derive(ctx, concat(ctx.gpu, parts, 0));
    this.transformer = new TwoWayTransformer(ctx, `${prefix}.transformer`, opts.transformerDepth, opts.transformerNumHeads);
    this.upscale = {
      dc1: new ConvTranspose2d(ctx, `${prefix}.output_upscaling.0`),
      ln1: new LayerNorm2d(ctx, `${prefix}.output_upscaling.1`),
      dc2: new ConvTranspose2d(ctx, `${prefix}.output_upscaling.3`),
    };
    this.hypernetworks = Array.from({ length: this.numMaskTokens }, (_, i) => new MLP(ctx, `${prefix}.output_hypernetworks_mlps.${i}`, 3));
    this.iouHead = new MLP(ctx, `${prefix}.iou_prediction_head`, 3, 'relu', opts.iouPredictionUseSigmoid);
    this.objScoreHead = !opts.predObjScores
      ? null
      : opts.predObjScoresMlp
        ? new MLP(ctx, `${prefix}.pred_obj_score_head`, 3)
        : new Linear(ctx, `${prefix}.pred_obj_score_head`);
  }

  /**
   * The official forward(): predict_masks, then the output selection: masks 1..3 with multimask output;
   * otherwise mask 0, or (dynamic_multimask_via_stability) mask 0 unless its stability score is below the
   * threshold, then the best of 1..3 by predicted IoU. The caller owns the four outputs.
   */
  forward(input: MaskDecoderInput & { multimaskOutput: boolean }): MaskDecoderOutput {
    const gpu = this.ctx.gpu;
    return gpu.tidy(() => {
      const all = this.predictMasks(input);
      const m = this.opts.numMultimaskOutputs;
      let masks: Tensor;
      let iouPred: Tensor;
      if (input.multimaskOutput) {
        masks = slice(gpu, all.masks, 1, 1, m);
        iouPred = slice(gpu, all.iouPred, 1, 1, m);
      } else if (this.opts.dynamicMultimaskViaStability) {
        ({ masks, iouPred } = this.dynamicMultimaskViaStability(all.masks, all.iouPred));
      } else {
        masks = slice(gpu, all.masks, 1, 0, 1);
        iouPred = slice(gpu, all.iouPred, 1, 0, 1);
      }
      // The single-mask token is always the object pointer's token unless multimask tokens are asked for.
      const samTokensOut =
        input.multimaskOutput && this.opts.useMultimaskTokenForObjPtr ? slice(gpu, all.tokens, 1, 1, m) : slice(gpu, all.tokens, 1, 0, 1);
      return { masks, iouPred, samTokensOut, objectScoreLogits: all.objectScoreLogits };
    });
  }

  /**
   * predict_masks(): every mask token's logits [B, 4, 4h, 4w], IoU predictions [B, 4], mask-token outputs
   * [B, 4, C] (in `tokens`) and object-score logits [B, 1]. Inputs are not released.
   */
  predictMasks(input: MaskDecoderInput): MaskPrediction {
    const gpu = this.ctx.gpu;
    const C = this.transformerDim;
    const what = this.prefix;
    const { sparse, dense, imageEmbeddings: img, imagePe } = input;
    const dtype = dtypeOf(this.ctx);
    for (const [name, t] of [['sparse', sparse], ['dense', dense], ['imageEmbeddings', img], ['imagePe', imagePe]] as const) {
      if (t.dtype !== dtype) throw new ShapeError(`${what}: ${name} ${t} must be ${dtype} (the weights' dtype)`);
    }
    if (sparse.shape.length !== 3 || sparse.shape[2] !== C) throw new ShapeError(`${what}: sparse ${sparse} must be [B, N, ${C}]`);
    const B = sparse.shape[0];
    if (dense.shape.length !== 4 || dense.shape[0] !== B || dense.shape[1] !== C) {
      throw new ShapeError(`${what}: dense ${dense} must be [${B}, ${C}, h, w]`);
    }
    const [, , h, w] = dense.shape;
    const HW = h * w;
    const tokenMajor = img.shape.length === 3;
    const okImg = tokenMajor
      ? img.shape[1] === HW && img.shape[2] === C
      : img.shape.length === 4 && img.shape[1] === C && img.shape[2] === h && img.shape[3] === w;
    if (!okImg) throw new ShapeError(`${what}: imageEmbeddings ${img} must be [Bi, ${C}, ${h}, ${w}] or [Bi, ${HW}, ${C}]`);
    const Bi = img.shape[0];
    if (input.repeatImage ? Bi !== 1 : Bi !== B) {
      throw new ShapeError(`${what}: imageEmbeddings ${img} must have batch ${input.repeatImage ? '1 (repeatImage)' : `${B} (one image per prompt)`}`);
    }
    const peOk =
      imagePe.shape[0] === 1 &&
      (imagePe.shape.length === 3
        ? imagePe.shape[1] === HW && imagePe.shape[2] === C
        : imagePe.shape.length === 4 && imagePe.shape[1] === C && imagePe.shape[2] === h && imagePe.shape[3] === w);
    if (!peOk) throw new ShapeError(`${what}: imagePe ${imagePe} must be [1, ${C}, ${h}, ${w}] or [1, ${HW}, ${C}]`);
    const hr = input.highResFeatures;
    if (this.opts.useHighResFeatures) {
      if (!hr || hr.length !== 2) throw new ShapeError(`${what}: this model needs highResFeatures [feat_s0, feat_s1]`);
      const want: Array<[Tensor, number, number]> = [
        [hr[0], C / 8, 4],
        [hr[1], C / 4, 2],
      ];
      for (const [i, [t, c, s]] of want.entries()) {
        if (t.dtype !== dtype || t.shape.length !== 4 || (t.shape[0] !== Bi && t.shape[0] !== 1) || t.shape[1] !== c || t.shape[2] !== s * h || t.shape[3] !== s * w) {
          throw new ShapeError(`${what}: highResFeatures[${i}] ${t} must be [${Bi} or 1, ${c}, ${s * h}, ${s * w}]:${dtype}`);
        }
      }
    }

    const tap = (name: string, t: Tensor) => input.tap && gpu.untracked(() => input.tap!(name, t));
    return gpu.tidy(() => {
      // Tokens: the output tokens (expanded over the batch) followed by the prompt's sparse embeddings.
      const T0 = this.outputTokens.shape[0];
      const out0 = this.outputTokens.reshape([1, T0, C]);
      const tokens = concat(gpu, [B > 1 ? this.expand(out0, B) : out0, sparse], 1);

      // Image tokens: image + dense prompt embedding, token-major [B, HW, C].
      const keys = tokenMajor
        ? add(gpu, img, permute(gpu, dense, [0, 2, 3, 1]).reshape([B, HW, C]))
        : permute(gpu, add(gpu, img, dense), [0, 2, 3, 1]).reshape([B, HW, C]);
      const pe = imagePe.shape.length === 3 ? imagePe : permute(gpu, imagePe, [0, 2, 3, 1]).reshape([1, HW, C]);

      const { queries: hs, keys: src } = this.transformer.forward(keys, pe, tokens);
      tap('transformer.hs', hs);
      tap('transformer.keys', src);

      // Upscale the image tokens and add the high-res features.
      const up = this.upscaleEmbedding(permute(gpu, src.reshape([B, h, w, C]), [0, 3, 1, 2]), hr);
      tap('upscaled_embedding', up);

      // Hypernetworks: one MLP per mask token, then masks = hyper_in @ upscaled.
      const s = this.opts.predObjScores ? 1 : 0;
      const hyperIn = concat(gpu, this.hypernetworks.map((mlp, i) => mlpOnToken(gpu, mlp, hs, s + 1 + i).reshape([B, 1, C / 8])), 1);
      const P = 16 * HW;
      // The mask logits in f32 (one rounding of an f32-accumulated product, none to f16): their stability
      // score decides the dynamic multimask fallback.
      const masks = matmul(gpu, toF32(gpu, hyperIn), toF32(gpu, up).reshape([B, C / 8, P]), { label: `${what}.masks` }).reshape([
        B, this.numMaskTokens, 4 * h, 4 * w,
      ]);

      // The decision heads read the output tokens in f32, with f32 weights.
      const hs32 = toF32(gpu, hs);
      const iouPred = mlpOnToken(gpu, this.iouHead, hs32, s);
      let objectScoreLogits: Tensor;
      if (this.objScoreHead instanceof MLP) objectScoreLogits = mlpOnToken(gpu, this.objScoreHead, hs32, 0);
      else if (this.objScoreHead) objectScoreLogits = linearOnToken(gpu, this.objScoreHead, hs32, 0, 'none');
      else objectScoreLogits = gpu.upload(new Float32Array(B).fill(10), [B, 1], 'f32', `${what}.object_score_logits`);
      return { masks, iouPred, tokens: slice(gpu, hs, 1, s + 1, this.numMaskTokens), objectScoreLogits };
    });
  }

  /**
   * _dynamic_multimask_via_stability: per prompt, mask 0 when its stability score (area of logits > delta
   * over area of logits > -delta) reaches the threshold, else the mask of 1..3 with the highest predicted
   * IoU. allMasks [B, 4, H, W], allIou [B, 4] → masks [B, 1, H, W], iouPred [B, 1], and the one-hot
   * selection [B, 4] (the caller owns all three).
   */
  dynamicMultimaskViaStability(allMasks: Tensor, allIou: Tensor): { masks: Tensor; iouPred: Tensor; selection: Tensor } {
    const gpu = this.ctx.gpu;
    const selection = maskSelection(gpu, allMasks, allIou, {
      first: 1,
      stability: { delta: this.opts.dynamicMultimaskStabilityDelta, thresh: this.opts.dynamicMultimaskStabilityThresh },
    });
    return { masks: selectRows(gpu, selection, allMasks), iouPred: selectRows(gpu, selection, allIou), selection };
  }

  /** dc1 + feat_s1 → LayerNorm2d → GELU → dc2 + feat_s0 → GELU (or the plain sequence without high-res features). */
  private upscaleEmbedding(src: Tensor, hr: readonly [Tensor, Tensor] | null | undefined): Tensor {
    const gpu = this.ctx.gpu;
    const { dc1, ln1, dc2 } = this.upscale;
    return gpu.tidy(() => {
      if (!this.opts.useHighResFeatures || !hr) {
        const b = ln1.forward(dc1.forward(src), { act: 'gelu' });
        return convTranspose2d(gpu, b, dc2.weight, { stride: 2, bias: dc2.bias ?? null, act: 'gelu' });
      }
      const [featS0, featS1] = hr;
      const b = ln1.forward(add(gpu, dc1.forward(src), featS1), { act: 'gelu' });
      return unary(gpu, add(gpu, dc2.forward(b), featS0), 'gelu');
    });
  }

  /** x [1, ...] broadcast to [B, ...] (one add onto zeros). */
  private expand(x: Tensor, B: number): Tensor {
    const gpu = this.ctx.gpu;
    return gpu.tidy(() => add(gpu, x, gpu.upload(new Float32Array(B), [B, ...x.shape.slice(1).map(() => 1)], x.dtype, `${this.prefix}.zeros`)));
  }
}

/** x as f32: x itself when it is f32, else a new f32 copy. */
function toF32(gpu: Gpu, x: Tensor): Tensor {
  return x.dtype === 'f32' ? x : cast(gpu, x, 'f32');
}

/** Linear on row `row` of every batch of x [B, N, in] (read in place, strided) → [B, out]. */
function linearOnToken(gpu: Gpu, lin: Linear, x: Tensor, row: number, act: MatmulAct): Tensor {
  const [B, N, K] = x.shape;
  if (lin.inFeatures !== K) throw new ShapeError(`${lin.prefix}: input ${x} must end in ${lin.inFeatures}`);
  return matmulStrided(
    gpu,
    { M: B, N: lin.outFeatures, K, a: { tensor: x, offset: row * K, ld: N * K }, b: { tensor: lin.weight, ld: K, trans: true } },
    { bias: lin.bias, act, label: lin.prefix },
  );
}

/** An MLP on row `row` of every batch of x [B, N, C] → [B, out] (the first layer reads the row in place). */
function mlpOnToken(gpu: Gpu, mlp: MLP, x: Tensor, row: number): Tensor {
  const n = mlp.layers.length;
  return gpu.tidy(() => {
    let h = linearOnToken(gpu, mlp.layers[0], x, row, n > 1 ? mlp.act : 'none');
    for (let i = 1; i < n; i++) h = mlp.layers[i].forward(h, i < n - 1 ? { act: mlp.act } : {});
    return mlp.sigmoidOutput ? unary(gpu, h, 'sigmoid') : h;
  });
}

// ------------------------------------------------------------------------------------------ mask selection

// The selection kernel lives in src/kernels/mask_select.ts (wgsl/mask_select.wgsl).
export { maskSelection, selectRows, type MaskSelectionOptions } from '../kernels/mask_select.js';
