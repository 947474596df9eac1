/**
 * CPU references for mask_select.ts, written from sam2/modeling/sam/mask_decoder.py
 * (_get_stability_scores, _dynamic_multimask_via_stability) and the tracking step's torch.argmax over the
 * predicted IoUs. Inputs are the stored values (already rounded to their dtype).
 */

export interface MaskSelectionRefOptions {
  first?: number;
  stability?: { delta: number; thresh: number; index?: number };
}

/**
 * _get_stability_scores of one mask: area_i = #(v > delta), area_u = #(v > −delta), delta compared as f32;
 * the f32 quotient (double division of integers < 2^24, then rounded: the correctly rounded f32 quotient),
 * 1 when area_u is 0.
 */
export function stabilityScoreRef(mask: ArrayLike<number>, delta: number): number {
  const d = Math.fround(delta);
  let ai = 0;
  let au = 0;
  for (let p = 0; p < mask.length; p++) {
    if (mask[p] > d) ai++;
    if (mask[p] > -d) au++;
  }
  return au > 0 ? Math.fround(ai / au) : 1;
}

/**
 * masks [B, M, P], iou [B, M] → one-hot [B, M]: argmax of iou over [first, M) (first maximum on ties), or
 * mask `index` when its stability score >= f32(thresh).
 */
export function maskSelectionRef(
  masks: ArrayLike<number>,
  iou: ArrayLike<number>,
  B: number,
  M: number,
  opts: MaskSelectionRefOptions = {},
): Float32Array {
  const P = masks.length / (B * M);
  const first = opts.first ?? 0;
  const out = new Float32Array(B * M);
  for (let b = 0; b < B; b++) {
    let best = first;
    for (let m = first + 1; m < M; m++) if (iou[b * M + m] > iou[b * M + best]) best = m;
    const st = opts.stability;
    if (st) {
      const idx = st.index ?? 0;
      const start = (b * M + idx) * P;
      const score = stabilityScoreRef(Array.prototype.slice.call(masks, start, start + P) as number[], st.delta);
      if (score >= Math.fround(st.thresh)) best = idx;
    }
    out[b * M + best] = 1;
  }
  return out;
}

/** x [B, M, inner] rows picked by a one-hot [B, M] → [B, inner]. */
export function selectRowsRef(selection: ArrayLike<number>, x: ArrayLike<number>, B: number, M: number): Float32Array {
  const inner = x.length / (B * M);
  const out = new Float32Array(B * inner);
  for (let b = 0; b < B; b++) {
    for (let m = 0; m < M; m++) {
      if (selection[b * M + m] !== 1) continue;
      for (let k = 0; k < inner; k++) out[b * inner + k] = x[(b * M + m) * inner + k];
    }
  }
  return out;
}
