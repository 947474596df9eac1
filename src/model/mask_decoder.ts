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
 * Data-dependent choices (the dynamic multimask fallback, and the best-IoU mask the tracking step takes)
 * stay on the GPU: a small kernel writes a one-hot selection [B, M], and the chosen rows are gathered with
 * a matmul by that one-hot (exact: one product by 1, the rest by 0).
 */
import { add } from '../kernels/binary.js';
import { convTranspose2d } from '../kernels/conv2d.js';
import { unary } from '../kernels/elementwise.js';
import { concat, permute, slice } from '../kernels/layout.js';
import { matmul, matmulStrided, type MatmulAct } from '../kernels/matmul.js';
import { WGSL } from '../generated/wgsl.js';
import type { Gpu } from '../runtime/gpu.js';
import { ShapeError } from '../runtime/errors.js';
import { Params } from '../runtime/params.js';
import type { Tensor } from '../runtime/tensor.js';
import type { Sam2Config } from './config.js';
import { ConvTranspose2d, dtypeOf, LayerNorm2d, Linear, MLP, type ModelContext } from './layers.js';
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
  /** [B, 4, 4h, 4w] low-res mask logits of every mask token (predict_masks), or the selected ones (forward). */
  masks: Tensor;
  /** [B, 4] (or the selected [B, M]). */
  iouPred: Tensor;
  /** [B, 4, C] mask-token outputs (predict_masks) or the SAM output tokens [B, M', C] (forward). */
  tokens: Tensor;
  /** [B, 1]. */
  objectScoreLogits: Tensor;
}

export interface MaskDecoderOutput {
  /** [B, M, 4h, 4w]. */
  masks: Tensor;
  /** [B, M]. */
  iouPred: Tensor;
  /** [B, 3, C] with multimask output and use_multimask_token_for_obj_ptr, else [B, 1, C]. */
  samTokensOut: Tensor;
  /** [B, 1]. */
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
    this.outputTokens = concat(ctx.gpu, parts, 0);
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
    const all = this.predictMasks(input);
    const m = this.opts.numMultimaskOutputs;
    let masks: Tensor;
    let iouPred: Tensor;
    if (input.multimaskOutput) {
      masks = slice(gpu, all.masks, 1, 1, m);
      iouPred = slice(gpu, all.iouPred, 1, 1, m);
    } else if (this.opts.dynamicMultimaskViaStability) {
      const r = this.dynamicMultimaskViaStability(all.masks, all.iouPred);
      r.selection.release();
      masks = r.masks;
      iouPred = r.iouPred;
    } else {
      masks = slice(gpu, all.masks, 1, 0, 1);
      iouPred = slice(gpu, all.iouPred, 1, 0, 1);
    }
    // The single-mask token is always the object pointer's token unless multimask tokens are asked for.
    const samTokensOut =
      input.multimaskOutput && this.opts.useMultimaskTokenForObjPtr ? slice(gpu, all.tokens, 1, 1, m) : slice(gpu, all.tokens, 1, 0, 1);
    all.masks.release();
    all.iouPred.release();
    all.tokens.release();
    return { masks, iouPred, samTokensOut, objectScoreLogits: all.objectScoreLogits };
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

    // Tokens: the output tokens (expanded over the batch) followed by the prompt's sparse embeddings.
    const T0 = this.outputTokens.shape[0];
    const out0 = this.outputTokens.reshape([1, T0, C]);
    const expanded = B > 1 ? this.expand(out0, B) : out0;
    const tokens = concat(gpu, [expanded, sparse], 1);
    if (expanded !== out0) expanded.release();

    // Image tokens: image + dense prompt embedding, token-major [B, HW, C].
    let keys: Tensor;
    if (tokenMajor) {
      const d = permute(gpu, dense, [0, 2, 3, 1]);
      keys = add(gpu, img, d.reshape([B, HW, C]));
      d.release();
    } else {
      const s = add(gpu, img, dense);
      keys = permute(gpu, s, [0, 2, 3, 1]).reshape([B, HW, C]);
      s.release();
    }
    const pe = imagePe.shape.length === 3 ? imagePe : permute(gpu, imagePe, [0, 2, 3, 1]).reshape([1, HW, C]);

    const { queries: hs, keys: src } = this.transformer.forward(keys, pe, tokens);
    input.tap?.('transformer.hs', hs);
    input.tap?.('transformer.keys', src);
    keys.release();
    tokens.release();
    if (pe !== imagePe) pe.release();

    // Upscale the image tokens and add the high-res features.
    const srcNchw = permute(gpu, src.reshape([B, h, w, C]), [0, 3, 1, 2]);
    src.release();
    const up = this.upscaleEmbedding(srcNchw, hr);
    srcNchw.release();
    input.tap?.('upscaled_embedding', up);

    // Hypernetworks: one MLP per mask token, then masks = hyper_in @ upscaled.
    const s = this.opts.predObjScores ? 1 : 0;
    const hyper = this.hypernetworks.map((mlp, i) => mlpOnToken(gpu, mlp, hs, s + 1 + i).reshape([B, 1, C / 8]));
    const hyperIn = concat(gpu, hyper, 1);
    for (const t of hyper) t.release();
    const P = 16 * HW;
    const masks = matmul(gpu, hyperIn, up.reshape([B, C / 8, P]), { label: `${what}.masks` }).reshape([B, this.numMaskTokens, 4 * h, 4 * w]);
    hyperIn.release();
    up.release();

    const iouPred = mlpOnToken(gpu, this.iouHead, hs, s);
    let objectScoreLogits: Tensor;
    if (this.objScoreHead instanceof MLP) objectScoreLogits = mlpOnToken(gpu, this.objScoreHead, hs, 0);
    else if (this.objScoreHead) objectScoreLogits = linearOnToken(gpu, this.objScoreHead, hs, 0, 'none');
    else objectScoreLogits = uploadOrdered(gpu, new Float32Array(B).fill(10), [B, 1], dtype, `${what}.object_score_logits`);
    const tokensOut = slice(gpu, hs, 1, s + 1, this.numMaskTokens);
    hs.release();
    return { masks, iouPred, tokens: tokensOut, objectScoreLogits };
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
    if (!this.opts.useHighResFeatures || !hr) {
      const a = dc1.forward(src);
      const b = ln1.forward(a, { act: 'gelu' });
      a.release();
      const c = convTranspose2d(gpu, b, dc2.weight, { stride: 2, bias: dc2.bias ?? null, act: 'gelu' });
      b.release();
      return c;
    }
    const [featS0, featS1] = hr;
    const a = dc1.forward(src);
    const a1 = add(gpu, a, featS1);
    a.release();
    const b = ln1.forward(a1, { act: 'gelu' });
    a1.release();
    const c = dc2.forward(b);
    b.release();
    const c1 = add(gpu, c, featS0);
    c.release();
    const out = unary(gpu, c1, 'gelu');
    c1.release();
    return out;
  }

  /** x [1, ...] broadcast to [B, ...] (one add onto zeros). */
  private expand(x: Tensor, B: number): Tensor {
    const gpu = this.ctx.gpu;
    const zeros = uploadOrdered(gpu, new Float32Array(B), [B, ...x.shape.slice(1).map(() => 1)], x.dtype as 'f32' | 'f16', `${this.prefix}.zeros`);
    const y = add(gpu, x, zeros);
    zeros.release();
    return y;
  }
}

/**
 * gpu.upload() after submitting the work recorded so far. writeBuffer runs on the queue at once, before
 * dispatches that are recorded but not yet submitted, and a pooled buffer handed out here may be one such a
 * dispatch still reads under its previous owner.
 */
function uploadOrdered(gpu: Gpu, data: ArrayLike<number>, shape: readonly number[], dtype: 'f32' | 'f16', label: string): Tensor {
  gpu.flush();
  return gpu.upload(data, shape, dtype, label);
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
  let h = linearOnToken(gpu, mlp.layers[0], x, row, n > 1 ? mlp.act : 'none');
  for (let i = 1; i < n; i++) {
    const y = mlp.layers[i].forward(h, i < n - 1 ? { act: mlp.act } : {});
    h.release();
    h = y;
  }
  if (mlp.sigmoidOutput) {
    const s = unary(gpu, h, 'sigmoid');
    h.release();
    h = s;
  }
  return h;
}

// ------------------------------------------------------------------------------------------ mask selection

const SELECT_FILE = 'mask_decoder_select.wgsl';

/**
 * One workgroup per prompt: the stability counts of mask `stab_index` (a tree reduction), the argmax of the
 * predicted IoUs over [first, M) (the first maximum on ties, as torch.argmax), and a one-hot [B, M].
 * The threshold test is exact: f32(area_i / area_u) >= thresh is decided as area_i / area_u >= the
 * rounding boundary of thresh, compared in 64-bit integers (two u32), so no division rounding is involved.
 */
const SELECT_WGSL = `// Mask selection of the mask decoder (see src/model/mask_decoder.ts).
struct Params {
  M: u32, P: u32, first: u32, mode: u32,
  delta: f32, bound: u32, shift: u32, tie_up: u32,
  empty_stable: u32, stab_index: u32, _p0: u32, _p1: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
#tensor masks 1 read
#tensor iou 2 read
#tensor sel 3 write

var<workgroup> cnt_i: array<u32, 64>;
var<workgroup> cnt_u: array<u32, 64>;

// a * b as (lo, hi).
fn mul64(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu; let a1 = a >> 16u;
  let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0; let p11 = a1 * b1;
  let mid = p01 + p10;
  let c1 = select(0u, 0x10000u, mid < p01);
  let lo = p00 + (mid << 16u);
  let c2 = select(0u, 1u, lo < p00);
  return vec2<u32>(lo, p11 + (mid >> 16u) + c1 + c2);
}

// a << s as (lo, hi), s < 64.
fn shl64(a: u32, s: u32) -> vec2<u32> {
  if (s == 0u) { return vec2<u32>(a, 0u); }
  if (s < 32u) { return vec2<u32>(a << s, a >> (32u - s)); }
  return vec2<u32>(0u, a << (s - 32u));
}

// -1, 0, 1 as x <, ==, > y.
fn cmp64(x: vec2<u32>, y: vec2<u32>) -> i32 {
  if (x.y != y.y) { return select(-1, 1, x.y > y.y); }
  if (x.x != y.x) { return select(-1, 1, x.x > y.x); }
  return 0;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.x;
  // mode: 0 argmax only, 1 stability test, 2 always stable, 3 never stable
  if (P.mode == 1u) {
    var ni = 0u;
    var nu = 0u;
    let base = (b * P.M + P.stab_index) * P.P;
    for (var p = lid; p < P.P; p += 64u) {
      let v = ld_masks(base + p);
      ni += select(0u, 1u, v > P.delta);
      nu += select(0u, 1u, v > -P.delta);
    }
    cnt_i[lid] = ni;
    cnt_u[lid] = nu;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
      if (lid < s) {
        cnt_i[lid] += cnt_i[lid + s];
        cnt_u[lid] += cnt_u[lid + s];
      }
      workgroupBarrier();
    }
  }
  if (lid != 0u) { return; }
  var best = P.first;
  var bv = ld_iou(b * P.M + P.first);
  for (var m = P.first + 1u; m < P.M; m++) {
    let v = ld_iou(b * P.M + m);
    if (v > bv) { bv = v; best = m; }
  }
  var stable = P.mode == 2u;
  if (P.mode == 1u) {
    let ai = cnt_i[0];
    let au = cnt_u[0];
    if (au == 0u) {
      stable = P.empty_stable != 0u;
    } else {
      // ai / au >= bound / 2^shift  <=>  ai << shift >= bound * au
      let c = cmp64(shl64(ai, P.shift), mul64(P.bound, au));
      stable = c > 0 || (c == 0 && P.tie_up != 0u);
    }
  }
  if (stable) { best = P.stab_index; }
  for (var m = 0u; m < P.M; m++) {
    st_sel(b * P.M + m, select(0.0, 1.0, m == best));
  }
}
`;

// The selection kernel is not (yet) one of the kernel families under wgsl/; its source is registered here.
if (!(SELECT_FILE in WGSL)) (WGSL as Record<string, string>)[SELECT_FILE] = SELECT_WGSL;

/**
 * The exact form of `f32(a / b) >= thresh` for counts a ≤ b < 2^24: a / b ≥ bound / 2^shift (strictly, or
 * also at equality when a tie rounds up to thresh). mode 2 / 3: always / never.
 */
function thresholdTest(thresh: number): { mode: number; bound: number; shift: number; tieUp: boolean; emptyStable: boolean } {
  const t = Math.fround(thresh);
  const emptyStable = 1 >= t;
  if (!(t > 0)) return { mode: 2, bound: 0, shift: 0, tieUp: false, emptyStable };
  if (t > 1) return { mode: 3, bound: 0, shift: 0, tieUp: false, emptyStable };
  // The largest f32 below t and the midpoint between them: quotients above it round to t or more.
  const buf = new Float32Array([t]);
  const bits = new Uint32Array(buf.buffer);
  const tBits = bits[0];
  bits[0] = tBits - 1;
  const pred = buf[0];
  const mid = (pred + t) / 2; // exact in f64
  // mid = bound / 2^shift with an integer bound
  let shift = 0;
  let bound = mid;
  while (!Number.isInteger(bound)) {
    bound *= 2;
    shift++;
  }
  if (bound >= 2 ** 32 || shift >= 40) throw new ShapeError(`mask selection: threshold ${thresh} is out of the supported range`);
  // A quotient exactly at the midpoint rounds to the even one of pred and t.
  return { mode: 1, bound, shift, tieUp: (tBits & 1) === 0, emptyStable };
}

export interface MaskSelectionOptions {
  /** First candidate of the IoU argmax (default 0). */
  first?: number;
  /** Take mask `index` (default 0) instead when its stability score reaches `thresh`. */
  stability?: { delta: number; thresh: number; index?: number };
}

/**
 * A one-hot [B, M] (masks' dtype) marking, per prompt, the mask of highest predicted IoU among
 * [first, M) — or, with `stability`, mask `index` when its stability score is at least the threshold.
 * masks [B, M, H, W] (only read for the stability test), iou [B, M]. Apply with selectRows().
 */
export function maskSelection(gpu: Gpu, masks: Tensor, iou: Tensor, opts: MaskSelectionOptions = {}): Tensor {
  const what = 'maskSelection';
  if (masks.shape.length < 2 || iou.shape.length !== 2) throw new ShapeError(`${what}: masks ${masks} must be [B, M, ...] and iou ${iou} [B, M]`);
  const [B, M] = iou.shape;
  if (masks.shape[0] !== B || masks.shape[1] !== M) throw new ShapeError(`${what}: masks ${masks} and iou ${iou} differ in [B, M]`);
  if (masks.dtype !== iou.dtype) throw new ShapeError(`${what}: masks ${masks} and iou ${iou} differ in dtype`);
  const first = opts.first ?? 0;
  if (!Number.isInteger(first) || first < 0 || first >= M) throw new ShapeError(`${what}: first candidate ${first} is not in [0, ${M})`);
  const P = masks.size / (B * M);
  const st = opts.stability;
  const test = st ? thresholdTest(st.thresh) : { mode: 0, bound: 0, shift: 0, tieUp: false, emptyStable: false };
  const stabIndex = st?.index ?? 0;
  if (st && (stabIndex < 0 || stabIndex >= M)) throw new ShapeError(`${what}: stability index ${stabIndex} is not in [0, ${M})`);
  if (B > gpu.info.limits.maxComputeWorkgroupsPerDimension) throw new ShapeError(`${what}: ${B} prompts are more than one dispatch holds`);
  if (P >= 2 ** 24) throw new ShapeError(`${what}: ${P} pixels per mask is more than the counts support`);
  const sel = gpu.empty([B, M], masks.dtype, what);
  gpu.dispatch({
    variant: { kernel: what, file: SELECT_FILE, mode: gpu.modeFor(masks.dtype) },
    inputs: [masks, iou],
    outputs: [sel],
    params: new Params()
      .u32(M, P, first, test.mode)
      .f32(st?.delta ?? 0)
      .u32(test.bound, test.shift, test.tieUp ? 1 : 0)
      .u32(test.emptyStable ? 1 : 0, stabIndex, 0, 0),
    workgroups: [B],
  });
  return sel;
}

/** The rows a one-hot selection [B, M] picks from x [B, M, ...]: [B, 1, ...] (a matmul by the one-hot, exact). */
export function selectRows(gpu: Gpu, selection: Tensor, x: Tensor): Tensor {
  const [B, M] = selection.shape;
  if (x.shape[0] !== B || x.shape[1] !== M) throw new ShapeError(`selectRows: ${x} must be [${B}, ${M}, ...] for selection ${selection}`);
  const inner = x.size / (B * M);
  const y = matmul(gpu, selection.reshape([B, 1, M]), x.reshape([B, M, inner]), { label: 'selectRows' });
  return y.reshape([B, 1, ...x.shape.slice(2)]);
}
