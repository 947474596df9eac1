/**
 * Flash-style scaled dot-product attention (wgsl/attention.wgsl), as PyTorch's
 * F.scaled_dot_product_attention without mask or dropout:
 *
 *   out[b, h, i, :] = Σ_j softmax_j(scale · q[b, h, i, :] · k[b, h, j, :]) v[b, h, j, :]
 *
 * with scale = 1 / sqrt(D) unless given. One pass over the keys with an online softmax; running max, running
 * sum and the output accumulator are f32 in every storage mode, and q is multiplied by the scale before qkᵀ.
 *
 * Layouts. Every operand is a `HeadsView`: element (b, h, l, d) at offset + b·strideB + h·strideH + l·strideL + d
 * of a dense tensor (d contiguous). The helpers build the views for the layouts SAM 2 produces, so the model
 * needs no permutes:
 *   headMajor(t)           t [B, H, L, D]        (the layout SDPA takes)
 *   tokenMajor(t, heads)   t [B, L, H·D]         (Attention / RoPEAttention: projections before _separate_heads)
 *   packedQKV(t, heads)    t [B, L, 3·H·D] or [B, L, 3, H, D]  (Hiera's MultiScaleAttention qkv linear)
 * A plain tensor passed to attention() is read as headMajor when 4-D and tokenMajor(t, opts.heads ?? 1) when 3-D.
 *
 * Shapes: q has B, H, Lq, D; k has B, H, Lk, D; v has B, H, Lk, Dv. Lq, Lk ≥ 1; D, Dv ≤ 256.
 * Output: [B, Lq, H·Dv] (token-major, what the out-projection takes) when outLayout is 'tokens', the default
 * unless q is a 4-D tensor; [B, H, Lq, Dv] when outLayout is 'heads'.
 */
import type { Gpu } from '../runtime/gpu.js';
import { capacity, flashWorkgroupBytes, MAX_HEAD_DIM, type AttentionTuning as ProfileAttentionTuning } from '../runtime/profile.js';
import { ShapeError } from '../runtime/errors.js';
import { Params } from '../runtime/params.js';
import type { Tensor } from '../runtime/tensor.js';
import { checkFloat } from './elementwise.js';

export interface HeadsView {
  tensor: Tensor;
  batch: number;
  heads: number;
  length: number;
  dim: number;
  offset: number;
  strideB: number;
  strideH: number;
  strideL: number;
}

/** t [B, H, L, D]. */
export function headMajor(t: Tensor): HeadsView {
  if (t.shape.length !== 4) throw new ShapeError(`attention: ${t} must be [B, H, L, D]`);
  const [B, H, L, D] = t.shape;
  return { tensor: t, batch: B, heads: H, length: L, dim: D, offset: 0, strideB: H * L * D, strideH: L * D, strideL: D };
}

/** t [B, L, H·D]: tokens with their heads side by side. */
export function tokenMajor(t: Tensor, heads: number): HeadsView {
  if (t.shape.length !== 3) throw new ShapeError(`attention: ${t} must be [B, L, H·D]`);
  const [B, L, C] = t.shape;
  if (!Number.isInteger(heads) || heads < 1 || C % heads !== 0) {
    throw new ShapeError(`attention: ${t} has ${C} channels, not divisible into ${heads} heads`);
  }
  const D = C / heads;
  return { tensor: t, batch: B, heads, length: L, dim: D, offset: 0, strideB: L * C, strideH: D, strideL: C };
}

/** t [B, L, 3·H·D] or [B, L, 3, H, D]: q, k and v of each token side by side (one qkv linear). */
export function packedQKV(t: Tensor, heads: number): [HeadsView, HeadsView, HeadsView] {
  let B: number, L: number, C3: number;
  if (t.shape.length === 3) [B, L, C3] = t.shape;
  else if (t.shape.length === 5 && t.shape[2] === 3 && t.shape[3] === heads) {
    [B, L] = t.shape;
    C3 = 3 * t.shape[3] * t.shape[4];
  } else throw new ShapeError(`attention: packed qkv ${t} must be [B, L, 3·H·D] or [B, L, 3, ${heads}, D]`);
  if (!Number.isInteger(heads) || heads < 1 || C3 % (3 * heads) !== 0) {
    throw new ShapeError(`attention: packed qkv ${t} has ${C3} channels, not 3 × ${heads} heads`);
  }
  const C = C3 / 3;
  const D = C / heads;
  const view = (part: number): HeadsView => ({
    tensor: t, batch: B, heads, length: L, dim: D, offset: part * C, strideB: L * C3, strideH: D, strideL: C3,
  });
  return [view(0), view(1), view(2)];
}

/** An override of the device profile's variant choice, any subset of its fields (benchmarks, tests). */
export type AttentionTuning = Partial<ProfileAttentionTuning>;

export interface AttentionOptions {
  /** Heads of 3-D token-major tensors passed directly (default 1). */
  heads?: number;
  /** Multiplies q before qkᵀ (default 1 / sqrt(D)). */
  scale?: number;
  /** 'tokens': out [B, Lq, H·Dv]; 'heads': out [B, H, Lq, Dv]. Default: 'heads' for a 4-D q tensor, else 'tokens'. */
  outLayout?: 'tokens' | 'heads';
  /** Write here (shape as outLayout says, q's dtype) instead of a new tensor. */
  out?: Tensor;
  /** Overrides the variant choice (benchmarks). */
  tune?: AttentionTuning;
}

export { capacity, MAX_HEAD_DIM };

function asView(x: Tensor | HeadsView, heads: number, what: string): HeadsView {
  if ('tensor' in x) return x;
  if (x.shape.length === 4) return headMajor(x);
  if (x.shape.length === 3) return tokenMajor(x, heads);
  throw new ShapeError(`attention: ${what} ${x} must be [B, H, L, D] or [B, L, H·D]`);
}

function checkView(x: HeadsView, what: string): void {
  const t = x.tensor;
  const last = x.offset + (x.batch - 1) * x.strideB + (x.heads - 1) * x.strideH + (x.length - 1) * x.strideL + x.dim;
  if (x.batch < 1 || x.heads < 1 || x.length < 1 || x.dim < 1) {
    throw new ShapeError(`attention: ${what} view of ${t} is empty (B ${x.batch}, H ${x.heads}, L ${x.length}, D ${x.dim})`);
  }
  if (last > t.size) throw new ShapeError(`attention: ${what} view reaches element ${last} of ${t}`);
}

/**
 * q, k and v as views (a plain tensor read as attention() reads it), checked against each other: the same
 * batch and heads, k's head dim equal to q's, as many values as keys, head dims at most MAX_HEAD_DIM.
 */
export function attentionViews(
  qIn: Tensor | HeadsView,
  kIn: Tensor | HeadsView,
  vIn: Tensor | HeadsView,
  heads: number,
): { q: HeadsView; k: HeadsView; v: HeadsView } {
  const q = asView(qIn, heads, 'q');
  const k = asView(kIn, heads, 'k');
  const v = asView(vIn, heads, 'v');
  checkView(q, 'q');
  checkView(k, 'k');
  checkView(v, 'v');
  checkFloat('attention', q.tensor, k.tensor, v.tensor);
  if (k.batch !== q.batch || v.batch !== q.batch) {
    throw new ShapeError(`attention: batch of q ${q.batch}, k ${k.batch}, v ${v.batch} differ`);
  }
  if (k.heads !== q.heads || v.heads !== q.heads) {
    throw new ShapeError(`attention: heads of q ${q.heads}, k ${k.heads}, v ${v.heads} differ`);
  }
  if (k.dim !== q.dim) throw new ShapeError(`attention: k ${k.tensor} head dim ${k.dim} is not q's ${q.dim}`);
  if (v.length !== k.length) throw new ShapeError(`attention: v ${v.tensor} has ${v.length} keys, k has ${k.length}`);
  if (q.dim > MAX_HEAD_DIM) throw new ShapeError(`attention: q ${q.tensor} head dim ${q.dim} > ${MAX_HEAD_DIM}`);
  if (v.dim > MAX_HEAD_DIM) throw new ShapeError(`attention: v ${v.tensor} head dim ${v.dim} > ${MAX_HEAD_DIM}`);
  return { q, k, v };
}

/** The kernel variant for this device: the device profile's choice (src/runtime/profile.ts). */
export function attentionTuning(gpu: Gpu, lq: number, d: number, dv: number): ProfileAttentionTuning {
  return gpu.profile.attention(lq, d, dv);
}

export function attention(
  gpu: Gpu,
  qIn: Tensor | HeadsView,
  kIn: Tensor | HeadsView,
  vIn: Tensor | HeadsView,
  opts: AttentionOptions = {},
): Tensor {
  const { q, k, v } = attentionViews(qIn, kIn, vIn, opts.heads ?? 1);
  const { batch: B, heads: H, length: Lq, dim: D } = q;
  const Lk = k.length;
  const Dv = v.dim;
  const layout = opts.outLayout ?? ('tensor' in qIn || qIn.shape.length !== 4 ? 'tokens' : 'heads');
  const outShape = layout === 'tokens' ? [B, Lq, H * Dv] : [B, H, Lq, Dv];
  const out = opts.out ?? gpu.empty(outShape, q.tensor.dtype, 'attention');
  if (out.dtype !== q.tensor.dtype || out.shape.length !== outShape.length || out.shape.some((d, i) => d !== outShape[i])) {
    throw new ShapeError(`attention: out ${out} must be [${outShape.join(', ')}]:${q.tensor.dtype}`);
  }
  const o: HeadsView = layout === 'tokens' ? tokenMajor(out, H) : headMajor(out);

  const views = [q, k, v, o];
  const aligned =
    D % 4 === 0 &&
    Dv % 4 === 0 &&
    views.every((x) => x.tensor.size % 4 === 0 && [x.offset, x.strideB, x.strideH, x.strideL].every((s) => s % 4 === 0));
  const tuned = attentionTuning(gpu, Lq, D, Dv);
  const nbh = B * H;
  const maxWg = gpu.info.limits.maxComputeWorkgroupsPerDimension;
  const gy = Math.min(nbh, maxWg);
  const gz = Math.ceil(nbh / gy);
  const params = new Params()
    .u32(Lq, Lk, D, Dv, H, nbh)
    .f32(opts.scale ?? 1 / Math.sqrt(D))
    .u32(gy);
  for (const x of views) params.u32(x.offset, x.strideB, x.strideH, x.strideL);
  const flops = 2 * nbh * Lq * Lk * (D + Dv);
  if ((opts.tune?.kernel ?? tuned.kernel) === 'flash') {
    // The flash variant this device would choose, for what the options leave open.
    const f = tuned.kernel === 'flash' ? tuned : gpu.profile.flashTuning(Lq, D, Dv);
    const t = opts.tune?.t ?? f.t;
    const wg = opts.tune?.wg ?? f.wg;
    const bk = opts.tune?.bk ?? f.bk;
    const [dc, dvc] = [capacity(D) / 4, capacity(Dv) / 4];
    if (![1, 2, 4, 8, 16].includes(t) || dc % t !== 0 || dvc % t !== 0 || wg % t !== 0 || wg > 256) {
      throw new ShapeError(`attention: flash lanes per query ${t} must divide the head dims' chunks (${dc}, ${dvc}) and the workgroup size ${wg} (at most 256)`);
    }
    const bytes = flashWorkgroupBytes(wg / t, t, bk, dc, dvc);
    if (bytes > gpu.info.limits.maxComputeWorkgroupStorageSize) {
      throw new ShapeError(`attention: flash tiles need ${bytes} bytes of workgroup memory, more than this device's ${gpu.info.limits.maxComputeWorkgroupStorageSize}`);
    }
    gpu.dispatch({
      variant: {
        kernel: 'attention',
        file: 'attention.wgsl',
        entry: 'flash',
        mode: gpu.modeFor(q.tensor.dtype),
        defines: { FLASH: 1, WG: wg, T: t, BK: bk, DC: dc, DVC: dvc, ALIGNED: aligned },
      },
      inputs: [q.tensor, k.tensor, v.tensor],
      outputs: [out],
      params,
      workgroups: [Math.ceil(Lq / (wg / t)), gy, gz],
      flops,
    });
    return out;
  }
  const wg = opts.tune?.wg ?? tuned.wg;
  const qpi = opts.tune?.qpi ?? tuned.qpi;
  const sg = opts.tune?.sg ?? tuned.sg;
  const kt = opts.tune?.kt ?? tuned.kt;
  if (wg % Math.max(sg, 1) !== 0) throw new ShapeError(`attention: workgroup size ${wg} is not a multiple of subgroup size ${sg}`);
  gpu.dispatch({
    variant: {
      kernel: 'attention',
      file: 'attention.wgsl',
      mode: gpu.modeFor(q.tensor.dtype),
      defines: {
        WG: wg,
        QPI: qpi,
        DC: capacity(D) / 4,
        DVC: capacity(Dv) / 4,
        DFULL: capacity(D) === D,
        DVFULL: capacity(Dv) === Dv,
        SG: sg,
        KT: kt,
        ALIGNED: aligned,
      },
    },
    inputs: [q.tensor, k.tensor, v.tensor],
    outputs: [out],
    params,
    workgroups: [Math.ceil(Lq / (wg * qpi)), gy, gz],
    flops,
  });
  return out;
}

