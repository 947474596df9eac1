/**
 * SAM 2's per-frame tracking step: SAM2Base (sam2/modeling/sam2_base.py) for inference. trackStep runs one
 * object (prompted frames); trackObjects runs the tracked objects of a frame as batches (objects whose
 * memories have the same length go through memory attention, the heads and the memory encoder together,
 * with the same bits as one by one; the official predictor loops over objects).
 *
 *   trackStep(frame f, prompts, the object's stored outputs)
 *     ├─ mask prompt (use_mask_input_as_output_without_sam): the mask itself is the output (±10 logits,
 *     │  antialiased downsampling by 4); the SAM heads run on mask_downsample(mask) only for the pointer
 *     └─ otherwise
 *          pixel tokens  = initial conditioning frame: image tokens + no_mem_embed
 *                          other frames: memory attention of the image tokens to the memory bank
 *          SAM heads     = prompt encoder (a padding point when there are no points, the mask prompt
 *                          antialias-downsampled to the mask input size) → mask decoder with the high-res
 *                          features → best-IoU mask when multimask → object-score gating (NO_OBJ_SCORE) →
 *                          bilinear upsampling to image_size; obj_ptr_proj of the output token, gated with
 *                          no_obj_ptr
 *     then, with runMemEncoder, the new memory: binarized (clicked frames) or sigmoid mask · 20 − 10 →
 *     memory encoder → + no_obj_embed_spatial when absent → the bank entry, bf16 token-major.
 *
 * The memory of a tracked frame (_prepare_memory_conditioned_features): the conditioning frames (all, or the
 * `max_cond_frames_in_attn` closest) with t_pos 0, then the last num_maskmem − 1 tracked frames (t_pos 1 for
 * the farthest .. num_maskmem − 1 for the previous one; every r-th frame with a temporal stride r > 1), each
 * with the spatial sine encoding + maskmem_tpos_enc[num_maskmem − 1 − t_pos]; then up to
 * max_obj_ptrs_in_encoder object pointers (conditioning frames — only past ones in eval — then the previous
 * frames), each split into hidden_dim / mem_dim tokens, encoded by obj_ptr_tpos_proj(get_1d_sine_pe(t /
 * (max − 1))) of their signed temporal distance t. selectMemory() makes the choice on the CPU (it depends
 * only on frame indices); the tensors are assembled with one copy per stored entry, no readbacks.
 *
 * Everything data-dependent stays on the GPU: the best-IoU choice (mask decoder's selection kernel), the
 * object-score gating of masks, pointers and memories, and the presence test of a mask prompt are small
 * kernels (src/kernels/tracking.ts, mask_select.ts). Low-res and high-res masks and object scores are f32 (as the official code's
 * `.float()`), pointers are in the activation dtype, memories bf16 (the official video predictor's storage).
 *
 * Weights: the whole official state dict (image_encoder.*, sam_prompt_encoder.*, sam_mask_decoder.*,
 * memory_attention.*, memory_encoder.*, maskmem_tpos_enc, no_mem_embed, no_obj_ptr, no_obj_embed_spatial,
 * mask_downsample.*, obj_ptr_proj.*, obj_ptr_tpos_proj.*).
 */
import { add } from '../kernels/binary.js';
import { unary } from '../kernels/elementwise.js';
import { cast, concat, slice } from '../kernels/layout.js';
import { maskSelection, selectRows } from '../kernels/mask_select.js';
import { resize } from '../kernels/resize.js';
import { clampToF32, gateMasks, gatePointer, maskPresence, memoryBankEntry, memoryMask } from '../kernels/tracking.js';
import { Sam2Error, ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import { dispose } from '../runtime/scope.js';
import type { Tensor } from '../runtime/tensor.js';
import type { Sam2Config } from '../checkpoint/config.js';
import { ImageEncoder, type ImageFeatures } from './image_encoder.js';
import { cached, Conv2d, dtypeOf, Linear, MLP, releaseDerived, type ModelContext } from './layers.js';
import { MaskDecoder, maskDecoderOptions } from './mask_decoder.js';
import { MemoryAttention } from './memory_attention.js';
import { MemoryEncoder } from './memory_encoder.js';
import { sine1d } from './position_encoding.js';
import { PromptEncoder } from './prompt_encoder.js';

/** The mask logit of a missing object (the official NO_OBJ_SCORE). */
export { NO_OBJ_SCORE } from '../kernels/tracking.js';

/** Prompt points in the model's input pixels (0..imageSize): coords [P*2] (x, y pairs), labels [P] (−1, 0, 1, 2, 3). */
export interface PointInputs {
  coords: Float32Array;
  labels: Int32Array;
}

/** One object's stored output on one frame (the official compact_current_out). Owned by whoever stores it. */
export interface FrameOutput {
  /** [1, 1, S/4, S/4] f32 low-res logits. */
  predMasks: Tensor;
  /** [1, hidden_dim] activation dtype. */
  objPtr: Tensor;
  /** [1, 1] f32. */
  objectScoreLogits: Tensor;
  /** The bf16 bank entry of this frame, [1, (S/16)², mem_dim] token-major; null until encoded. */
  maskmemFeatures: Tensor | null;
}

/** An object's outputs by frame: conditioning (prompted) frames and tracked frames, in insertion order. */
/** Frees the tensors of a stored output (nothing for undefined). */
export function releaseOutput(o: FrameOutput | undefined): void {
  dispose(o);
}

/** The stored part of a track_step result (the high-res logits dropped). */
export function frameOutput(r: TrackStepResult): FrameOutput {
  return { predMasks: r.predMasks, objPtr: r.objPtr, objectScoreLogits: r.objectScoreLogits, maskmemFeatures: r.maskmemFeatures };
}

export interface ObjectOutputDict {
  cond: Map<number, FrameOutput>;
  nonCond: Map<number, FrameOutput>;
}

export interface TrackStepArgs {
  frameIdx: number;
  isInitCondFrame: boolean;
  features: ImageFeatures;
  pointInputs?: PointInputs;
  /** [1, 1, S, S] f32 of 0 / 1. */
  maskInputs?: Tensor;
  outputs: ObjectOutputDict;
  numFrames: number;
  reverse: boolean;
  runMemEncoder: boolean;
  /** [1, 1, S/4, S/4] f32, already clamped (a correction click's previous logits). */
  prevSamMaskLogits?: Tensor;
}

/** A tracked frame without prompts for several objects at once (trackObjects). */
export interface TrackObjectsArgs {
  frameIdx: number;
  features: ImageFeatures;
  /** Each object's stored outputs (its memory). */
  outputs: readonly ObjectOutputDict[];
  numFrames: number;
  reverse: boolean;
  runMemEncoder: boolean;
}

export interface TrackStepResult extends FrameOutput {
  /** [1, 1, S, S] f32. */
  predMasksHighRes: Tensor;
}

// ------------------------------------------------------------------------------------------ memory choice

/** The config fields the memory selection depends on. */
export type MemorySelectionConfig = Pick<
  Sam2Config,
  | 'numMaskmem'
  | 'maxCondFramesInAttn'
  | 'memoryTemporalStrideForEval'
  | 'useObjPtrsInEncoder'
  | 'maxObjPtrsInEncoder'
  | 'onlyObjPtrsInThePastForEval'
  | 'useSignedTposEncToObjPtrs'
>;

/** Where a selected entry is stored: the conditioning or the non-conditioning outputs. */
export type OutputSource = 'cond' | 'nonCond';

export interface MemoryFrame {
  frame: number;
  /** 0 for conditioning frames, 1 (farthest) .. num_maskmem − 1 (previous frame) for the others. */
  tPos: number;
  source: OutputSource;
}

export interface PointerFrame {
  frame: number;
  /** The temporal distance encoded for the pointer (signed for conditioning frames with signed encoding). */
  tpos: number;
  source: OutputSource;
}

export interface MemorySelection {
  /** Spatial memories in concatenation order. */
  memories: MemoryFrame[];
  /** Object pointers in concatenation order. */
  pointers: PointerFrame[];
  /** The pointer distances are encoded as get_1d_sine_pe(tpos / tDiffMax). */
  tDiffMax: number;
}

/**
 * select_closest_cond_frames: all conditioning frames when maxCondFrames is −1 or not exceeded; otherwise
 * the closest one before frameIdx, the closest one at or after it, then the others by distance (ties in
 * insertion order) up to maxCondFrames. `condFrames` in insertion order; both lists keep the official order.
 */
export function selectClosestCondFrames(
  frameIdx: number,
  condFrames: readonly number[],
  maxCondFrames: number,
): { selected: number[]; unselected: number[] } {
  if (maxCondFrames === -1 || condFrames.length <= maxCondFrames) return { selected: [...condFrames], unselected: [] };
  if (maxCondFrames < 2) throw new Sam2Error(`max_cond_frames_in_attn ${maxCondFrames}: at least 2 conditioning frames must be allowed`);
  const selected: number[] = [];
  const before = condFrames.filter((t) => t < frameIdx);
  if (before.length) selected.push(Math.max(...before));
  const after = condFrames.filter((t) => t >= frameIdx);
  if (after.length) selected.push(Math.min(...after));
  const remain = condFrames
    .filter((t) => !selected.includes(t))
    .map((t, i) => ({ t, i }))
    .sort((a, b) => Math.abs(a.t - frameIdx) - Math.abs(b.t - frameIdx) || a.i - b.i)
    .slice(0, maxCondFrames - selected.length)
    .map((e) => e.t);
  selected.push(...remain);
  return { selected, unselected: condFrames.filter((t) => !selected.includes(t)) };
}

/**
 * The memories and object pointers _prepare_memory_conditioned_features reads for a frame that is not an
 * initial conditioning frame. `condFrames`: the object's conditioning frames in insertion order;
 * `hasNonCond(f)`: whether frame f has a non-conditioning output.
 */
export function selectMemory(
  cfg: MemorySelectionConfig,
  frameIdx: number,
  condFrames: readonly number[],
  hasNonCond: (frame: number) => boolean,
  numFrames: number,
  reverse: boolean,
): MemorySelection {
  if (condFrames.length === 0) throw new Sam2Error(`frame ${frameIdx}: tracking needs at least one conditioning frame (a prompted frame)`);
  const { selected, unselected } = selectClosestCondFrames(frameIdx, condFrames, cfg.maxCondFramesInAttn);
  const unsel = new Set(unselected);
  const lookup = (f: number): OutputSource | null => (hasNonCond(f) ? 'nonCond' : unsel.has(f) ? 'cond' : null);

  const memories: MemoryFrame[] = selected.map((frame) => ({ frame, tPos: 0, source: 'cond' }));
  const r = Math.max(1, cfg.memoryTemporalStrideForEval);
  const n = cfg.numMaskmem;
  for (let tPos = 1; tPos < n; tPos++) {
    const tRel = n - tPos; // frames before (after, in reverse) the current one
    let prev: number;
    if (tRel === 1) prev = reverse ? frameIdx + 1 : frameIdx - 1;
    else if (!reverse) prev = Math.floor((frameIdx - 2) / r) * r - (tRel - 2) * r;
    else prev = Math.ceil((frameIdx + 2) / r) * r + (tRel - 2) * r;
    const source = lookup(prev);
    if (source) memories.push({ frame: prev, tPos, source });
  }

  const pointers: PointerFrame[] = [];
  const maxPtrs = Math.min(numFrames, cfg.maxObjPtrsInEncoder);
  if (cfg.useObjPtrsInEncoder) {
    const sign = reverse ? -1 : 1;
    for (const t of selected) {
      if (cfg.onlyObjPtrsInThePastForEval && (reverse ? t < frameIdx : t > frameIdx)) continue;
      pointers.push({ frame: t, tpos: cfg.useSignedTposEncToObjPtrs ? (frameIdx - t) * sign : Math.abs(frameIdx - t), source: 'cond' });
    }
    for (let d = 1; d < maxPtrs; d++) {
      const t = reverse ? frameIdx + d : frameIdx - d;
      if (t < 0 || t >= numFrames) break;
      const source = lookup(t);
      if (source) pointers.push({ frame: t, tpos: d, source });
    }
  }
  return { memories, pointers, tDiffMax: maxPtrs - 1 };
}

// ------------------------------------------------------------------------------------------ kernels

// The tracking step's small kernels live in src/kernels/tracking.ts (wgsl/tracking.wgsl).
export { clampToF32, gateMasks, gatePointer, maskPresence, memoryBankEntry, memoryMask } from '../kernels/tracking.js';

// ------------------------------------------------------------------------------------------ the model

/** What the SAM heads (or the mask-as-output path) produce for one object. */
interface SamHeadsOutput {
  /** [1, 1, S/4, S/4] f32. */
  lowRes: Tensor;
  /** [1, 1, S, S] f32. */
  highRes: Tensor;
  /** [1, C] activation dtype. */
  objPtr: Tensor;
  /** [1, 1] f32. */
  score: Tensor;
}

export class SAM2Base {
  readonly dtype: 'f32' | 'f16';
  readonly gpu: Gpu;
  readonly imageEncoder: ImageEncoder;
  readonly maskDecoder: MaskDecoder;
  readonly memoryAttention: MemoryAttention;
  readonly memoryEncoder: MemoryEncoder;
  readonly objPtrProj: MLP | Linear | null;
  readonly objPtrTposProj: Linear | null;
  readonly maskDownsample: Conv2d | null;
  private readonly noMemEmbed: Tensor;
  private readonly noObjPtr: Tensor | null;
  private readonly noObjEmbedSpatial: Tensor | null;
  private readonly maskmemTposEnc: Tensor;
  /** Spatial + temporal memory encodings [1, h·w, mem_dim] by "h×w t_pos", computed once. */
  private readonly memPosCache = new Map<string, Tensor>();

  private constructor(
    private readonly ctx: ModelContext,
    readonly config: Sam2Config,
    readonly promptEncoder: PromptEncoder,
  ) {
    const w = ctx.weights;
    this.gpu = ctx.gpu;
    this.dtype = dtypeOf(ctx);
    this.imageEncoder = ImageEncoder.create(ctx, config);
    this.maskDecoder = new MaskDecoder(ctx, maskDecoderOptions(config));
    this.memoryAttention = new MemoryAttention(ctx, config);
    this.memoryEncoder = new MemoryEncoder(ctx, config);
    const C = config.hiddenDim;
    if (config.useObjPtrsInEncoder) {
      this.objPtrProj = config.useMlpForObjPtrProj ? new MLP(ctx, 'obj_ptr_proj', 3) : new Linear(ctx, 'obj_ptr_proj');
      this.maskDownsample = new Conv2d(ctx, 'mask_downsample', { stride: 4 });
    } else {
      this.objPtrProj = null;
      this.maskDownsample = null;
    }
    this.objPtrTposProj = config.projTposEncInObjPtrs ? new Linear(ctx, 'obj_ptr_tpos_proj') : null;
    this.noMemEmbed = w.get('no_mem_embed').reshape([1, 1, C]);
    this.noObjPtr = config.predObjScores && config.useObjPtrsInEncoder ? w.get('no_obj_ptr') : null;
    this.noObjEmbedSpatial = config.noObjEmbedSpatial ? w.get('no_obj_embed_spatial') : null;
    this.maskmemTposEnc = w.get('maskmem_tpos_enc');
    if (this.maskmemTposEnc.size !== config.numMaskmem * config.memDim) {
      throw new ShapeError(`maskmem_tpos_enc ${this.maskmemTposEnc} must be [${config.numMaskmem}, 1, 1, ${config.memDim}]`);
    }
    if (C % config.memDim !== 0) throw new ShapeError(`hidden dim ${C} is not a multiple of the memory dim ${config.memDim}`);
  }

  /**
   * Builds every module from ctx.weights (the whole official state dict). Async: the prompt encoder reads
   * its small embedding tables back once.
   */
  static async create(ctx: ModelContext, config: Sam2Config): Promise<SAM2Base> {
    return new SAM2Base(ctx, config, await PromptEncoder.create(ctx, config));
  }

  get imageSize(): number {
    return this.config.imageSize;
  }

  /** torch.clamp into a new f32 tensor. */
  clampLogits(t: Tensor, lo: number, hi: number): Tensor {
    return clampToF32(this.gpu, t, lo, hi);
  }

  /**
   * track_step for one object (batch 1). Returned tensors are new (the caller owns them); the inputs and the
   * stored outputs are not released.
   */
  trackStep(a: TrackStepArgs): TrackStepResult {
    const cfg = this.config;
    this.checkFeatures(a.features);
    if (a.pointInputs && a.pointInputs.coords.length !== 2 * a.pointInputs.labels.length) {
      throw new ShapeError(`trackStep: ${a.pointInputs.coords.length} point coordinates for ${a.pointInputs.labels.length} labels`);
    }
    if (a.prevSamMaskLogits && (!a.pointInputs || a.maskInputs)) {
      throw new Sam2Error('trackStep: previous mask logits go with point inputs and no mask input');
    }
    return this.gpu.tidy(() => {
      let heads: SamHeadsOutput;
      if (a.maskInputs && cfg.useMaskInputAsOutputWithoutSam) {
        heads = this.useMaskAsOutput(a.features, a.maskInputs);
      } else {
        const pix = this.memoryConditionedFeatures(a);
        // A correction click feeds the previous logits as the mask prompt.
        const maskInputs = a.prevSamMaskLogits ?? a.maskInputs;
        heads = this.forwardSamHeads(pix, a.features, a.pointInputs, maskInputs, this.useMultimask(a.isInitCondFrame, a.pointInputs));
      }
      const maskmemFeatures =
        a.runMemEncoder && cfg.numMaskmem > 0 ? this.encodeNewMemory(a.features, heads.highRes, heads.score, a.pointInputs !== undefined) : null;
      return { predMasks: heads.lowRes, predMasksHighRes: heads.highRes, objPtr: heads.objPtr, objectScoreLogits: heads.score, maskmemFeatures };
    });
  }

  /**
   * track_step on a tracked frame (no prompts, not a conditioning frame) for several objects at once: the
   * objects whose memories have the same length go through memory attention, the SAM heads and the memory
   * encoder as one batch (the image features are shared, never copied per object where a broadcast does), so
   * the per-frame cost grows far less than linearly with the number of objects. Every object's result is
   * what trackStep gives it alone. Returns one FrameOutput per entry of `outputs` (the caller owns them).
   */
  trackObjects(a: TrackObjectsArgs): FrameOutput[] {
    const gpu = this.gpu;
    const cfg = this.config;
    const f = a.features;
    this.checkFeatures(f);
    const single = (outputs: ObjectOutputDict): FrameOutput => gpu.tidy(() => frameOutput(this.trackStep({ ...a, outputs, isInitCondFrame: false })));
    if (a.outputs.length < 2 || cfg.numMaskmem === 0) return a.outputs.map(single);

    return gpu.tidy(() => this.trackGroups(a));
  }

  /** trackObjects for two or more objects with memory: the objects grouped by memory length, a batch per group. */
  private trackGroups(a: TrackObjectsArgs): FrameOutput[] {
    const gpu = this.gpu;
    const f = a.features;
    const [h, w] = f.featSizes[f.featSizes.length - 1];
    const mems = a.outputs.map((o) => this.assembleMemory(a.frameIdx, o, a.numFrames, a.reverse, [h, w]));
    // Objects batch together when their memories have the same length and pointer count.
    const groups = new Map<string, number[]>();
    mems.forEach((m, i) => {
      const key = `${m.memory.shape[1]} ${m.numObjPtrTokens}`;
      groups.set(key, [...(groups.get(key) ?? []), i]);
    });
    const results: FrameOutput[] = new Array(a.outputs.length);
    for (const idx of groups.values()) {
      const B = idx.length;
      const outs = gpu.tidy(() => {
        const batch = (ts: Tensor[]): Tensor => (ts.length === 1 ? ts[0] : concat(gpu, ts, 0));
        const memory = batch(idx.map((i) => mems[i].memory));
        const memoryPos = batch(idx.map((i) => mems[i].memoryPos));
        const curr = batch(Array(B).fill(f.visionTokens));
        const currPos = batch(Array(B).fill(f.visionPosTokens));
        const pix = this.memoryAttention.forward(curr, currPos, memory, memoryPos, mems[idx[0]].numObjPtrTokens);
        const heads = this.forwardSamHeads(pix, f, undefined, undefined, this.useMultimask(false, undefined));
        const banks = a.runMemEncoder ? this.encodeNewMemories(f, heads.highRes, heads.score, false) : null;
        const part = (t: Tensor, b: number): Tensor => (B === 1 ? t : slice(gpu, t, 0, b, 1));
        return idx.map((_, b) => ({
          predMasks: part(heads.lowRes, b),
          objPtr: part(heads.objPtr, b),
          objectScoreLogits: part(heads.score, b),
          maskmemFeatures: banks ? banks[b] : null,
        }));
      });
      idx.forEach((i, b) => (results[i] = outs[b]));
    }
    return results;
  }

  /**
   * The preflight path of the video predictor: stored low-res logits [1, 1, S/4, S/4] (f32) upsampled
   * bilinearly to S×S, then _encode_new_memory → the bf16 bank entry [1, (S/16)², mem_dim].
   */
  encodeMemoryFromLowRes(features: ImageFeatures, predMasks: Tensor, objectScoreLogits: Tensor, isMaskFromPts: boolean): Tensor {
    this.checkFeatures(features);
    const S = this.imageSize;
    if (predMasks.shape.length !== 4 || predMasks.dtype !== 'f32') throw new ShapeError(`encodeMemoryFromLowRes: masks ${predMasks} must be [1, 1, h, w]:f32`);
    return this.gpu.tidy(() => {
      const score = objectScoreLogits.dtype === 'f32' ? objectScoreLogits : cast(this.gpu, objectScoreLogits, 'f32');
      const high = resize(this.gpu, predMasks, 'bilinear', { size: [S, S] });
      return this.encodeNewMemory(features, high, score, isMaskFromPts);
    });
  }

  /** Frees what the model computed and cached (the weights belong to their WeightStore). */
  release(): void {
    releaseDerived(this.ctx);
    this.memoryAttention.release();
  }

  // ---------------------------------------------------------------- internals

  private checkFeatures(f: ImageFeatures): void {
    const C = this.config.hiddenDim;
    const h = this.imageSize / this.config.backboneStride;
    const t = f.visionTokens;
    if (t.shape.length !== 3 || t.shape[0] !== 1 || t.shape[1] !== h * h || t.shape[2] !== C || t.dtype !== this.dtype) {
      throw new ShapeError(`trackStep: image tokens ${t} must be [1, ${h * h}, ${C}]:${this.dtype} (one frame at image size ${this.imageSize})`);
    }
  }

  /** _use_multimask: multimask output for 0..1 clicks (config) on initial conditioning frames (and in tracking). */
  private useMultimask(isInitCondFrame: boolean, points: PointInputs | undefined): boolean {
    const c = this.config;
    const n = points ? points.labels.length : 0;
    return c.multimaskOutputInSam && (isInitCondFrame || c.multimaskOutputForTracking) && c.multimaskMinPtNum <= n && n <= c.multimaskMaxPtNum;
  }

  /** The spatial + temporal encoding of a memory with this t_pos, [1, h·w, mem_dim]; cached. */
  private memoryPos(tPos: number, h: number, w: number): Tensor {
    return cached(this.ctx, this.memPosCache, `${h}x${w} ${tPos}`, () =>
      this.gpu.tidy(() => {
        const D = this.config.memDim;
        const row = slice(this.gpu, this.maskmemTposEnc.reshape([this.config.numMaskmem, D]), 0, this.config.numMaskmem - tPos - 1, 1);
        return add(this.gpu, this.memoryEncoder.positionTokens(h, w), row.reshape([1, 1, D]));
      }),
    );
  }

  /**
   * _prepare_memory_conditioned_features: the pixel tokens [1, h·w, C] the SAM heads read (the image tokens
   * themselves without memory).
   */
  private memoryConditionedFeatures(a: TrackStepArgs): Tensor {
    const gpu = this.gpu;
    const cfg = this.config;
    const f = a.features;
    if (cfg.numMaskmem === 0) return f.visionTokens;
    if (a.isInitCondFrame) {
      if (!cfg.directlyAddNoMemEmbed) throw new Sam2Error(`${cfg.name}: initial conditioning frames through memory attention (directly_add_no_mem_embed false) are not supported`);
      return add(gpu, f.visionTokens, this.noMemEmbed);
    }
    const [h, w] = f.featSizes[f.featSizes.length - 1];
    return gpu.tidy(() => {
      const m = this.assembleMemory(a.frameIdx, a.outputs, a.numFrames, a.reverse, [h, w]);
      return this.memoryAttention.forward(f.visionTokens, f.visionPosTokens, m.memory, m.memoryPos, m.numObjPtrTokens);
    });
  }

  /**
   * The memory a tracked frame attends to (batch-first, activation dtype): memory [1, M, mem_dim] = the
   * selected frames' bank entries then the pointer tokens, memoryPos [1, M, mem_dim] = their spatial +
   * temporal encodings then the pointers' temporal encodings, and the number of pointer tokens (the last
   * ones). `featSize` is the top-level feature map's [h, w]. The caller owns memory and memoryPos.
   */
  assembleMemory(
    frameIdx: number,
    outputs: ObjectOutputDict,
    numFrames: number,
    reverse: boolean,
    featSize: readonly [number, number],
  ): { memory: Tensor; memoryPos: Tensor; numObjPtrTokens: number; selection: MemorySelection } {
    const gpu = this.gpu;
    const cfg = this.config;
    const [h, w] = featSize;
    const HW = h * w;
    const C = cfg.hiddenDim;
    const D = cfg.memDim;
    const sel = selectMemory(cfg, frameIdx, [...outputs.cond.keys()], (t) => outputs.nonCond.has(t), numFrames, reverse);
    const stored = (e: { frame: number; source: OutputSource }): FrameOutput => (e.source === 'cond' ? outputs.cond : outputs.nonCond).get(e.frame)!;

    return gpu.tidy(() => {
      const parts: Tensor[] = [];
      const posParts: Tensor[] = [];
      for (const m of sel.memories) {
        const bank = stored(m).maskmemFeatures;
        if (!bank) {
          // A non-conditioning frame whose memory a bounded store already dropped counts as absent (padding).
          if (m.source === 'nonCond') continue;
          throw new Sam2Error(`frame ${frameIdx}: the output of conditioning frame ${m.frame} has no memory yet (encode it before tracking)`);
        }
        if (bank.size !== HW * D) throw new ShapeError(`frame ${frameIdx}: memory of frame ${m.frame} ${bank} must be [1, ${HW}, ${D}]`);
        parts.push(bank.reshape([1, HW, D]));
        posParts.push(this.memoryPos(m.tPos, h, w));
      }
      const nTok = C / D;
      const P = sel.pointers.length;
      if (P > 0) {
        for (const p of sel.pointers) {
          const ptr = stored(p).objPtr;
          if (ptr.size !== C) throw new ShapeError(`frame ${frameIdx}: object pointer of frame ${p.frame} ${ptr} must be [1, ${C}]`);
          parts.push(ptr.reshape([1, nTok, D]));
        }
        posParts.push(this.pointerPos(sel));
      }
      const memory = concat(gpu, parts, 1, { dtype: this.dtype });
      const memoryPos = concat(gpu, posParts, 1, { dtype: this.dtype });
      return { memory, memoryPos, numObjPtrTokens: P * nTok, selection: sel };
    });
  }

  /** The pointers' temporal encodings [1, P · C/mem_dim, mem_dim], each pointer's row repeated for its tokens. */
  private pointerPos(sel: MemorySelection): Tensor {
    const cfg = this.config;
    const C = cfg.hiddenDim;
    const D = cfg.memDim;
    const nTok = C / D;
    const rows = sel.pointers.length * nTok;
    if (!cfg.addTposEncToObjPtrs) return this.gpu.upload(new Float32Array(rows * D), [1, rows, D], this.dtype, 'obj_pos');
    const pos = new Float32Array(rows);
    sel.pointers.forEach((p, i) => pos.fill(Math.fround(p.tpos / sel.tDiffMax), i * nTok, (i + 1) * nTok));
    const dim = this.objPtrTposProj ? C : D;
    const proj = this.objPtrTposProj;
    return this.gpu.tidy(() => {
      const sine = this.gpu.upload(sine1d(pos, dim), [1, rows, dim], this.dtype, 'obj_pos');
      return proj ? proj.forward(sine) : sine;
    });
  }

  /**
   * _forward_sam_heads on pixel tokens [B, h·w, C] (B objects on one frame; prompts only with B = 1); masks
   * come out gated, selected and f32, every output with batch B.
   */
  private forwardSamHeads(pix: Tensor, f: ImageFeatures, points: PointInputs | undefined, maskInputs: Tensor | undefined, multimask: boolean): SamHeadsOutput {
    const gpu = this.gpu;
    const cfg = this.config;
    const S = this.imageSize;
    const B = pix.shape[0];
    if (B > 1 && (points || maskInputs)) throw new Sam2Error('trackStep: prompts go with one object at a time');
    const [mh, mw] = this.promptEncoder.maskInputSize;
    return gpu.tidy(() => {
      let maskPrompt: Tensor | null = null;
      if (maskInputs) {
        const s = maskInputs.shape;
        if (s.length !== 4 || s[0] !== 1 || s[1] !== 1) throw new ShapeError(`trackStep: mask input ${maskInputs} must be [1, 1, H, W]`);
        let m = maskInputs;
        if (s[2] !== mh || s[3] !== mw) m = resize(gpu, toF32(gpu, m), 'bilinear', { size: [mh, mw], antialias: true });
        maskPrompt = m.dtype === this.dtype ? m : cast(gpu, m, this.dtype);
      }
      // No points: one padding point (label −1), as the official.
      const pts = points ? { coords: points.coords, labels: points.labels } : { coords: [0, 0], labels: [-1] };
      const prompt = this.promptEncoder.forward({ points: pts, masks: maskPrompt });
      // The same (empty) prompt for every object of a batch.
      const repeat = (t: Tensor): Tensor => (B === 1 ? t : concat(gpu, Array(B).fill(t), 0));
      const hr = cfg.useHighResFeaturesInSam ? ([f.highRes[0], f.highRes[1]] as const) : null;
      const dec = this.maskDecoder.forward({
        imageEmbeddings: pix,
        imagePe: this.promptEncoder.getDensePeTokens(),
        sparse: repeat(prompt.sparse),
        dense: repeat(prompt.dense),
        repeatImage: false,
        highResFeatures: hr,
        multimaskOutput: multimask,
      });

      // The decoder's masks, IoU predictions and object scores are f32 in every storage mode.
      let masks = dec.masks;
      let token = dec.samTokensOut;
      if (multimask) {
        // The best mask (and its token) by predicted IoU.
        const sel = maskSelection(gpu, dec.masks, dec.iouPred, { first: 0 });
        masks = selectRows(gpu, sel, dec.masks);
        if (token.shape[1] > 1) token = selectRows(gpu, sel.dtype === token.dtype ? sel : cast(gpu, sel, token.dtype as 'f16'), token);
      }
      const score = dec.objectScoreLogits;
      const lowRes = gateMasks(gpu, masks, score, cfg.predObjScores);
      const highRes = resize(gpu, lowRes, 'bilinear', { size: [S, S] });

      // The object pointer: obj_ptr_proj and the no-object gating in f32, stored in the activation dtype.
      const C = cfg.hiddenDim;
      let objPtr = this.pointerF32(token.reshape([B, C]));
      if (this.noObjPtr) objPtr = gatePointer(gpu, objPtr, score, this.noObjPtr, { soft: cfg.softNoObjPtr, fixed: cfg.fixedNoObjPtr });
      return { lowRes, highRes, objPtr: this.stored(objPtr), score };
    });
  }

  /** obj_ptr_proj (or the identity) of the SAM output token [B, C], in f32. */
  private pointerF32(token: Tensor): Tensor {
    const t32 = toF32(this.gpu, token);
    return this.objPtrProj ? this.objPtrProj.forward(t32) : t32;
  }

  /** An f32 tensor in the activation dtype (x itself in f32 models, else an f16 copy). */
  private stored(x: Tensor): Tensor {
    return x.dtype === this.dtype ? x : cast(this.gpu, x, this.dtype);
  }

  /** _use_mask_as_output: mask [1, 1, S, S] (f32, 0 / 1) → ±10 logits, the pointer from mask_downsample(mask). */
  private useMaskAsOutput(f: ImageFeatures, mask: Tensor): SamHeadsOutput {
    const gpu = this.gpu;
    const cfg = this.config;
    const S = this.imageSize;
    const C = cfg.hiddenDim;
    if (mask.shape.length !== 4 || mask.shape[0] !== 1 || mask.shape[1] !== 1 || mask.shape[2] !== S || mask.shape[3] !== S) {
      throw new ShapeError(`trackStep: mask input ${mask} must be [1, 1, ${S}, ${S}]`);
    }
    return gpu.tidy(() => {
      const m32 = toF32(gpu, mask);
      // Logits −10 / +10 (sigmoid(−10) = 4.5e−5).
      const highRes = unary(gpu, m32, 'identity', { scale: 20, bias: -10 });
      const lowRes = resize(gpu, highRes, 'bilinear', { size: [S / 4, S / 4], antialias: true });
      let objPtr: Tensor;
      if (this.maskDownsample) {
        const down = this.maskDownsample.forward(m32.dtype === this.dtype ? m32 : cast(gpu, m32, this.dtype));
        objPtr = this.forwardSamHeads(f.visionTokens, f, undefined, down, false).objPtr;
      } else {
        objPtr = gpu.upload(new Float32Array(C), [1, C], this.dtype, 'obj_ptr');
      }
      // The object appears iff the mask has a positive pixel; its score is then +10, else −10.
      const score = maskPresence(gpu, m32, 20, -10);
      if (cfg.predObjScores && this.noObjPtr) {
        objPtr = this.stored(gatePointer(gpu, toF32(gpu, objPtr), score, this.noObjPtr, { soft: false, fixed: cfg.fixedNoObjPtr }));
      }
      return { lowRes, highRes, objPtr, score };
    });
  }

  /**
   * _encode_new_memory: the high-res logits (f32 [1, 1, S, S]) → mask for the memory encoder (binarized for
   * clicked frames, else sigmoid; × sigmoid_scale + sigmoid_bias) → memory encoder on the frame's own image
   * features → + no_obj_embed_spatial when absent → bf16 bank entry [1, (S/16)², mem_dim].
   */
  private encodeNewMemory(f: ImageFeatures, highRes: Tensor, score: Tensor, isMaskFromPts: boolean): Tensor {
    return this.encodeNewMemories(f, highRes, score, isMaskFromPts)[0];
  }

  /**
   * encodeNewMemory for B objects of one frame: high-res logits [B, 1, S, S] and scores [B, 1] → one bank
   * entry per object (the frame's features are projected once and broadcast over the batch).
   */
  private encodeNewMemories(f: ImageFeatures, highRes: Tensor, score: Tensor, isMaskFromPts: boolean): Tensor[] {
    const cfg = this.config;
    const gpu = this.gpu;
    const B = highRes.shape[0];
    return gpu.tidy(() => {
      const mask = memoryMask(gpu, highRes, this.dtype, {
        binarize: cfg.binarizeMaskFromPtsForMemEnc && isMaskFromPts,
        scale: cfg.sigmoidScaleForMemEnc,
        bias: cfg.sigmoidBiasForMemEnc,
      });
      const { features } = this.memoryEncoder.forward(f.visionFeatures, mask, { skipMaskSigmoid: true });
      if (B === 1) return [memoryBankEntry(gpu, features, score, this.noObjEmbedSpatial)];
      return Array.from({ length: B }, (_, b) =>
        memoryBankEntry(gpu, slice(gpu, features, 0, b, 1), slice(gpu, score, 0, b, 1), this.noObjEmbedSpatial),
      );
    });
  }

}

/** x as f32: x itself when it is f32, else a new f32 copy. */
function toF32(gpu: Gpu, x: Tensor): Tensor {
  return x.dtype === 'f32' ? x : cast(gpu, x, 'f32');
}
