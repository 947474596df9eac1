/**
 * CPU references for tracking.ts, written from sam2/modeling/sam2_base.py (_forward_sam_heads,
 * _use_mask_as_output, _encode_new_memory) with the kernels' f32 arithmetic (each operation rounded to f32
 * with Math.fround; sigmoid in double, so it differs from the GPU's exp by a few f32 ulps). Inputs are the
 * stored values (already rounded to their dtype); outputs are f32 values before the output's storage
 * rounding, except memoryBankEntryRef, which rounds to bf16 as the kernel stores it.
 *
 * Batched: x [B, ...] with score[b] per row; "present" is score > 0 (a score of exactly 0 is absent).
 */
import { bf16BitsToF32, f32ToBf16Bits } from '../runtime/dtype.js';
import { NO_OBJ_SCORE } from './tracking.js';

export { NO_OBJ_SCORE };

const f = Math.fround;
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** torch.clamp(x, lo, hi) in f32. */
export function clampRef(x: ArrayLike<number>, lo: number, hi: number): Float32Array {
  return Float32Array.from(x, (v) => Math.min(Math.max(v, f(lo)), f(hi)));
}

/** torch.where(score[b] > 0, x[b], NO_OBJ_SCORE) for x [B, ...] (a plain copy when gate is false). */
export function gateMasksRef(x: ArrayLike<number>, score: ArrayLike<number>, gate = true): Float32Array {
  const B = score.length;
  const per = x.length / B;
  return Float32Array.from(x, (v, i) => (gate && !(score[Math.floor(i / per)] > 0) ? NO_OBJ_SCORE : v));
}

/**
 * ptr [B, C], score [B], noObjPtr [C]: λ = soft ? sigmoid(score) : [score > 0];
 * (fixed ? λ · ptr : ptr) + (1 − λ) · noObjPtr.
 */
export function gatePointerRef(
  ptr: ArrayLike<number>,
  score: ArrayLike<number>,
  noObjPtr: ArrayLike<number>,
  opts: { soft: boolean; fixed: boolean },
): Float32Array {
  const B = score.length;
  const C = noObjPtr.length;
  const out = new Float32Array(B * C);
  for (let b = 0; b < B; b++) {
    const lam = opts.soft ? f(sigmoid(score[b])) : score[b] > 0 ? 1 : 0;
    const keep = opts.fixed ? lam : 1;
    for (let c = 0; c < C; c++) out[b * C + c] = f(f(ptr[b * C + c] * keep) + f(noObjPtr[c] * f(1 - lam)));
  }
  return out;
}

/** s · [any(x[b] > 0)] + t per row of x [B, ...] → [B]. */
export function maskPresenceRef(x: ArrayLike<number>, B: number, s: number, t: number): Float32Array {
  const per = x.length / B;
  const out = new Float32Array(B);
  for (let b = 0; b < B; b++) {
    let any = 0;
    for (let k = 0; k < per; k++) if (x[b * per + k] > 0) any = 1;
    out[b] = f(f(f(s) * any) + f(t));
  }
  return out;
}

/** mask_for_mem: (binarize ? [x > 0] : sigmoid(x)) · scale + bias. */
export function memoryMaskRef(x: ArrayLike<number>, opts: { binarize: boolean; scale: number; bias: number }): Float32Array {
  return Float32Array.from(x, (v) => {
    const m = opts.binarize ? (v > 0 ? 1 : 0) : f(sigmoid(v));
    return f(f(m * f(opts.scale)) + f(opts.bias));
  });
}

/**
 * features [B, C, HW] (+ (1 − [score[b] > 0]) · noObj[c] in f32 when given) → bf16 [B, HW, C], as
 * maskmem_features += (1 − present) · no_obj_embed_spatial, then .to(bfloat16) and the token-major view.
 */
export function memoryBankEntryRef(
  x: ArrayLike<number>,
  shape: readonly [number, number, number],
  score: ArrayLike<number>,
  noObj: ArrayLike<number> | null,
): Float32Array {
  const [B, C, HW] = shape;
  const out = new Float32Array(B * HW * C);
  for (let b = 0; b < B; b++) {
    const absent = score[b] > 0 ? 0 : 1;
    for (let c = 0; c < C; c++) {
      for (let t = 0; t < HW; t++) {
        let v = x[(b * C + c) * HW + t];
        if (noObj) v = f(v + f(noObj[c] * absent));
        out[(b * HW + t) * C + c] = bf16BitsToF32(f32ToBf16Bits(v));
      }
    }
  }
  return out;
}
