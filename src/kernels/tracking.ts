/**
 * The tracking step's small kernels (wgsl/tracking.wgsl), for SAM2Base (sam2/modeling/sam2_base.py):
 *
 *   clampToF32(x, lo, hi)                    x [...] f32/f16 → f32, torch.clamp
 *   gateMasks(x, score, gate)                x [B, ...] f32/f16, score [B, 1] f32 → f32 [B, ...]:
 *                                            torch.where(score > 0, x, NO_OBJ_SCORE)
 *   gatePointer(ptr, score, noObjPtr, opts)  ptr [B, C] (C even), score [B, 1] f32, noObjPtr [1, C] → [B, C]
 *   maskPresence(masks, s, t)                masks [B, ...] f32 → [B, 1] f32: s · [any(mask > 0)] + t
 *   memoryMask(logits, dtype, opts)          logits [...] f32 (even size) → binarized or sigmoid · scale + bias
 *   memoryBankEntry(features, score, e)      features [B, C, h, w] (C even) → [B, h·w, C] bf16 (+ e where absent)
 *
 * Every kernel is batched over a leading B (the objects of a frame tracked together); the score of row b
 * is score[b]. A score of exactly 0 counts as absent (the official test is object_score_logits > 0).
 * CPU references: tracking.ref.ts.
 */
import type { Gpu } from '../runtime/gpu.js';
import { ShapeError } from '../runtime/errors.js';
import { Params } from '../runtime/params.js';
import type { Tensor } from '../runtime/tensor.js';
import { WG } from './workgroup.js';
import { checkFloat } from './elementwise.js';

/** The mask logit of a missing object (the official NO_OBJ_SCORE). */
export const NO_OBJ_SCORE = -1024;

const FILE = 'tracking.wgsl';

function params(n: number, per: number, flag0: number, flag1: number, s: number, t: number): Params {
  return new Params().u32(n, per, flag0, flag1).f32(s, t).u32(0, 0);
}

/** Scores [B] or [B, 1], f32. */
function checkScores(what: string, score: Tensor, B: number, of: Tensor): void {
  if (score.dtype !== 'f32' || score.size !== B) throw new ShapeError(`${what}: scores ${score} must be [${B}, 1]:f32 for ${of}`);
}

/** torch.clamp(x, lo, hi) into a new f32 tensor (x f32 or f16). */
export function clampToF32(gpu: Gpu, x: Tensor, lo: number, hi: number): Tensor {
  checkFloat('clampToF32', x);
  const y = gpu.empty(x.shape, 'f32', 'clamp');
  gpu.dispatch({
    variant: { kernel: 'tracking_clamp', file: FILE, mode: gpu.modeFor(x.dtype), defines: { KIND: 0, WG } },
    inputs: [x],
    outputs: [y],
    params: params(x.size, 1, 0, 0, lo, hi),
    workgroups: gpu.grid(Math.ceil(x.size / WG)),
  });
  return y;
}

/**
 * Object-score gating of masks x [B, ...] (f32 or f16) with scores [B] (f32): an f32 copy where the score
 * is positive, NO_OBJ_SCORE elsewhere; a plain f32 copy when `gate` is false.
 */
export function gateMasks(gpu: Gpu, x: Tensor, score: Tensor, gate = true): Tensor {
  checkFloat('gateMasks', x);
  if (x.shape.length < 1 || x.size === 0) throw new ShapeError(`gateMasks: masks ${x} must be a non-empty [B, ...]`);
  const B = x.shape[0];
  checkScores('gateMasks', score, B, x);
  const y = gpu.empty(x.shape, 'f32', 'pred_masks');
  gpu.dispatch({
    variant: { kernel: 'tracking_gate_masks', file: FILE, mode: gpu.modeFor(x.dtype), defines: { KIND: 1, WG } },
    inputs: [x, score],
    outputs: [y],
    params: params(x.size, x.size / B, gate ? 1 : 0, 0, NO_OBJ_SCORE, 0),
    workgroups: gpu.grid(Math.ceil(x.size / WG)),
  });
  return y;
}

/**
 * The pointer's occlusion handling: ptr [B, C] (activation dtype), scores [B] (f32), noObjPtr [1, C] →
 * (fixed ? λ : 1) · ptr + (1 − λ) · noObjPtr with λ = soft ? sigmoid(score) : [score > 0].
 */
export function gatePointer(gpu: Gpu, ptr: Tensor, score: Tensor, noObjPtr: Tensor, opts: { soft: boolean; fixed: boolean }): Tensor {
  checkFloat('gatePointer', ptr);
  const [B, C] = ptr.shape;
  if (ptr.shape.length !== 2 || C % 2 !== 0 || ptr.size === 0) throw new ShapeError(`gatePointer: pointer ${ptr} must be [B, C] with C even`);
  checkScores('gatePointer', score, B, ptr);
  if (noObjPtr.size !== C || noObjPtr.dtype !== ptr.dtype) throw new ShapeError(`gatePointer: no_obj_ptr ${noObjPtr} must be [1, ${C}]:${ptr.dtype}`);
  const y = gpu.empty(ptr.shape, ptr.dtype, 'obj_ptr');
  gpu.dispatch({
    variant: { kernel: 'tracking_gate_pointer', file: FILE, mode: gpu.modeFor(ptr.dtype), defines: { KIND: 2, WG } },
    inputs: [ptr, score, noObjPtr],
    outputs: [y],
    params: params(ptr.size, C, opts.soft ? 1 : 0, opts.fixed ? 1 : 0, 0, 0),
    workgroups: gpu.grid(Math.ceil(ptr.size / 2 / WG)),
  });
  return y;
}

/** s · [any(mask[b] > 0)] + t per mask of masks [B, ...] (f32) → [B, 1] f32. */
export function maskPresence(gpu: Gpu, masks: Tensor, s: number, t: number): Tensor {
  if (masks.dtype !== 'f32') throw new ShapeError(`maskPresence: masks ${masks} must be f32`);
  if (masks.shape.length < 1 || masks.size === 0) throw new ShapeError(`maskPresence: masks ${masks} must be a non-empty [B, ...]`);
  const B = masks.shape[0];
  if (B > gpu.info.limits.maxComputeWorkgroupsPerDimension) throw new ShapeError(`maskPresence: ${B} masks are more than one dispatch holds`);
  const y = gpu.empty([B, 1], 'f32', 'object_score_logits');
  gpu.dispatch({
    variant: { kernel: 'tracking_mask_presence', file: FILE, mode: 'f32', defines: { KIND: 3, WG } },
    inputs: [masks],
    outputs: [y],
    params: params(masks.size, masks.size / B, 0, 0, s, t),
    workgroups: [B],
  });
  return y;
}

/**
 * mask_for_mem of _encode_new_memory: logits (f32, an even number of elements) → ([logits > 0] when
 * binarize, else sigmoid(logits)) · scale + bias, in `dtype`.
 */
export function memoryMask(gpu: Gpu, logits: Tensor, dtype: 'f32' | 'f16', opts: { binarize: boolean; scale: number; bias: number }): Tensor {
  if (logits.dtype !== 'f32' || logits.size % 2 !== 0) throw new ShapeError(`memoryMask: logits ${logits} must be f32 with an even size`);
  if (dtype !== 'f32' && dtype !== 'f16') throw new ShapeError(`memoryMask: output dtype ${String(dtype)} must be f32 or f16`);
  const y = gpu.empty(logits.shape, dtype, 'mask_for_mem');
  gpu.dispatch({
    variant: { kernel: 'tracking_memory_mask', file: FILE, mode: gpu.modeFor(dtype), defines: { KIND: 4, WG } },
    inputs: [logits],
    outputs: [y],
    params: params(logits.size, 1, opts.binarize ? 1 : 0, 0, opts.scale, opts.bias),
    workgroups: gpu.grid(Math.ceil(logits.size / 2 / WG)),
  });
  return y;
}

/**
 * The bank entry of a memory: features [B, C, h, w] (activation dtype) + (1 − [score > 0]) ·
 * noObjEmbedSpatial[c] (when given; scores [B] f32) → [B, h·w, C] bf16, token-major, in one pass.
 */
export function memoryBankEntry(gpu: Gpu, features: Tensor, score: Tensor, noObjEmbedSpatial: Tensor | null): Tensor {
  if (features.shape.length !== 4) throw new ShapeError(`memoryBankEntry: features ${features} must be [B, C, h, w]`);
  checkFloat('memoryBankEntry', features);
  const [B, C, h, w] = features.shape;
  if (C % 2 !== 0) throw new ShapeError(`memoryBankEntry: features ${features} need an even channel count`);
  checkScores('memoryBankEntry', score, B, features);
  if (noObjEmbedSpatial && (noObjEmbedSpatial.size !== C || noObjEmbedSpatial.dtype !== features.dtype)) {
    throw new ShapeError(`memoryBankEntry: no_obj_embed_spatial ${noObjEmbedSpatial} must be [1, ${C}]:${features.dtype}`);
  }
  const y = gpu.empty([B, h * w, C], 'bf16', 'maskmem_features');
  const pairs = features.size / 2;
  gpu.dispatch({
    variant: { kernel: 'tracking_memory_bank', file: FILE, mode: gpu.modeFor(features.dtype), defines: { KIND: 5, WG } },
    // Without the embedding the flag is off and the binding is never read.
    inputs: [features, score, noObjEmbedSpatial ?? features],
    outputs: [y],
    params: params(pairs, h * w, noObjEmbedSpatial ? 1 : 0, C, 0, 0),
    workgroups: gpu.grid(Math.ceil(pairs / WG)),
  });
  return y;
}
