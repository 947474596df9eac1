/**
 * Mask selection (wgsl/mask_select.wgsl) for the mask decoder and the tracking step: data-dependent choices
 * that stay on the GPU.
 *
 *   maskSelection(masks, iou, opts)   masks [B, M, ...], iou [B, M] (same dtype) → one-hot [B, M] (that
 *                                     dtype): per prompt, the mask of highest predicted IoU among [first, M)
 *                                     (first maximum on ties, as torch.argmax) — or, with `stability`, mask
 *                                     `index` when its stability score (#(v > delta) / #(v > −delta), 1 when
 *                                     the union is empty) reaches `thresh`
 *                                     (_dynamic_multimask_via_stability of sam2/modeling/sam/mask_decoder.py)
 *   selectRows(selection, x)          one-hot [B, M], x [B, M, ...] → [B, 1, ...]: a matmul by the one-hot,
 *                                     exact (one product by 1, the rest by 0)
 *
 * CPU references: mask_select.ref.ts.
 */
import type { Gpu } from '../runtime/gpu.js';
import { ShapeError } from '../runtime/errors.js';
import { Params } from '../runtime/params.js';
import type { Tensor } from '../runtime/tensor.js';
import { checkFloat } from './elementwise.js';
import { matmul } from './matmul.js';
import { WG } from './workgroup.js';

/**
 * The exact form of `f32(a / b) >= thresh` for counts a ≤ b < 2^24: a / b ≥ bound / 2^shift (strictly, or
 * also at equality when a tie rounds up to thresh). mode 2 / 3: always / never.
 */
export function thresholdTest(thresh: number): { mode: number; bound: number; shift: number; tieUp: boolean; emptyStable: boolean } {
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
  checkFloat(what, masks, iou);
  if (B < 1 || M < 1 || masks.size === 0) throw new ShapeError(`${what}: masks ${masks} and iou ${iou} must not be empty`);
  const first = opts.first ?? 0;
  if (!Number.isInteger(first) || first < 0 || first >= M) throw new ShapeError(`${what}: first candidate ${first} is not in [0, ${M})`);
  const P = masks.size / (B * M);
  const st = opts.stability;
  const test = st ? thresholdTest(st.thresh) : { mode: 0, bound: 0, shift: 0, tieUp: false, emptyStable: false };
  const stabIndex = st?.index ?? 0;
  if (st && (!Number.isInteger(stabIndex) || stabIndex < 0 || stabIndex >= M)) throw new ShapeError(`${what}: stability index ${stabIndex} is not in [0, ${M})`);
  if (B > gpu.info.limits.maxComputeWorkgroupsPerDimension) throw new ShapeError(`${what}: ${B} prompts are more than one dispatch holds`);
  if (P >= 2 ** 24) throw new ShapeError(`${what}: ${P} pixels per mask is more than the counts support`);
  const sel = gpu.empty([B, M], masks.dtype, what);
  gpu.dispatch({
    variant: { kernel: what, file: 'mask_select.wgsl', mode: gpu.modeFor(masks.dtype), defines: { WG } },
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
  if (selection.shape.length !== 2) throw new ShapeError(`selectRows: selection ${selection} must be [B, M]`);
  const [B, M] = selection.shape;
  if (x.shape.length < 2 || x.shape[0] !== B || x.shape[1] !== M) throw new ShapeError(`selectRows: ${x} must be [${B}, ${M}, ...] for selection ${selection}`);
  const inner = x.size / (B * M);
  const y = matmul(gpu, selection.reshape([B, 1, M]), x.reshape([B, M, inner]), { label: 'selectRows' });
  return y.reshape([B, 1, ...x.shape.slice(2)]);
}
