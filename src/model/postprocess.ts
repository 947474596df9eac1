/**
 * Mask post-processing of the official video predictor (sam2/utils/misc.py, sam2_base.py), on the CPU over
 * small low-resolution masks:
 * - fillHolesInMaskScores: background components (mask <= 0, 8-connectivity) of area <= maxArea become 0.1;
 * - applyNonOverlappingConstraints: at each pixel only the highest-scoring object keeps its score, the others
 *   are clamped to at most -10.
 */

const NEIGHBOURS = [-1, 0, 1];

/** Fills small holes in one [H, W] logit mask in place; returns the number of pixels filled. */
export function fillHolesInMaskScores(mask: Float32Array, H: number, W: number, maxArea: number): number {
  if (!(maxArea > 0)) throw new Error('fillHolesInMaskScores: maxArea must be positive');
  if (mask.length !== H * W) throw new Error(`fillHolesInMaskScores: ${mask.length} values for ${H}×${W}`);
  const label = new Int32Array(H * W);
  const queue = new Int32Array(H * W);
  let filled = 0;
  let next = 0;
  for (let start = 0; start < H * W; start++) {
    if (!(mask[start] <= 0) || label[start]) continue;
    next++;
    label[start] = next;
    let head = 0;
    let tail = 0;
    queue[tail++] = start;
    while (head < tail) {
      const p = queue[head++];
      const y = (p / W) | 0;
      const x = p - y * W;
      for (const dy of NEIGHBOURS) {
        const yy = y + dy;
        if (yy < 0 || yy >= H) continue;
        for (const dx of NEIGHBOURS) {
          const xx = x + dx;
          if ((dy === 0 && dx === 0) || xx < 0 || xx >= W) continue;
          const q = yy * W + xx;
          if (mask[q] <= 0 && !label[q]) {
            label[q] = next;
            queue[tail++] = q;
          }
        }
      }
    }
    // queue[0..tail) holds the component
    if (tail <= maxArea) {
      for (let i = 0; i < tail; i++) mask[queue[i]] = 0.1;
      filled += tail;
    }
  }
  return filled;
}

/** Non-overlapping constraint over N object masks of equal size, in place (no-op for one object). */
export function applyNonOverlappingConstraints(masks: Float32Array[]): void {
  if (masks.length <= 1) return;
  const n = masks[0].length;
  for (let p = 0; p < n; p++) {
    let best = 0;
    for (let k = 1; k < masks.length; k++) if (masks[k][p] > masks[best][p]) best = k;
    for (let k = 0; k < masks.length; k++) if (k !== best && masks[k][p] > -10) masks[k][p] = -10;
  }
}
