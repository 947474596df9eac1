/**
 * SAM 2's 2-D axial rotary position embedding (wgsl/rope.wgsl), as RoPEAttention applies it to q and k
 * (sam2/modeling/position_encoding.py: compute_axial_cis, apply_rotary_enc):
 *
 *   x[..., l, 2p : 2p+2] ← x[..., l, 2p : 2p+2] ⊗ cis[l mod end_x·end_y, p]   (complex multiply)
 *
 * for the first L - exclude tokens; the last `exclude` tokens (num_k_exclude_rope: object pointers) are
 * unchanged. Without `repeat`, L - exclude must be end_x·end_y (q, and the keys of self-attention); with it
 * (rope_k_repeat: cross-attention to the memory of several frames) a multiple of it.
 *
 * Layouts: x [B, H, L, D] (head-major, as after _separate_heads) or [B, L, H·D] with `heads` (token-major,
 * the projection's output). D is the head dim of the table, a multiple of 4. The result has x's shape and
 * dtype; `inPlace` rotates x itself (no copy of the excluded tokens).
 *
 * The table holds f32 cos and sin of PyTorch's f32 angles (ropeTable), made once per (dim, end_x, end_y):
 * f32 [end_x + end_y, D/4, 2], rows x = 0 .. end_x - 1 for the first half of the pairs, then
 * rows end_x + y for the second half.
 */
import type { Gpu } from '../runtime/gpu.js';
import { ShapeError } from '../runtime/errors.js';
import { Params } from '../runtime/params.js';
import type { Tensor } from '../runtime/tensor.js';
import { headMajor, tokenMajor, type HeadsView } from './attention.js';
import { checkFloat } from './elementwise.js';
import { WG } from './workgroup.js';

export interface RopeTable {
  /** f32 [endX + endY, dim / 4, 2]: (cos, sin) per position and frequency. */
  tensor: Tensor;
  dim: number;
  endX: number;
  endY: number;
  theta: number;
}

/**
 * cos / sin table of compute_axial_cis(dim, end_x, end_y, theta): the f32 frequencies, the f32 angles
 * position · frequency, then cos and sin in double rounded to f32. Angles are separable in x and y, so the
 * table has end_x + end_y rows instead of end_x · end_y.
 */
/** compute_axial_cis's frequencies in PyTorch's f32 steps: 1.0 / (theta ** (arange(0, dim, 4)[: dim // 4].float() / dim)). */
function frequencies(dim: number, theta: number): Float32Array {
  const f = Math.fround;
  const out = new Float32Array(dim / 4);
  for (let i = 0; i < out.length; i++) out[i] = f(1 / f(theta ** f(f(4 * i) / dim)));
  return out;
}

export function ropeTable(gpu: Gpu, dim: number, endX: number, endY: number, theta = 10000): RopeTable {
  if (!Number.isInteger(dim) || dim < 4 || dim % 4 !== 0) throw new ShapeError(`ropeTable: dim ${dim} must be a positive multiple of 4`);
  if (!Number.isInteger(endX) || !Number.isInteger(endY) || endX < 1 || endY < 1) {
    throw new ShapeError(`ropeTable: feature size ${endX}×${endY} must be positive integers`);
  }
  const freqs = frequencies(dim, theta);
  const q = dim / 4;
  const data = new Float32Array((endX + endY) * q * 2);
  const fill = (row: number, pos: number) => {
    for (let i = 0; i < q; i++) {
      const angle = Math.fround(pos * freqs[i]);
      data[(row * q + i) * 2] = Math.cos(angle);
      data[(row * q + i) * 2 + 1] = Math.sin(angle);
    }
  };
  for (let x = 0; x < endX; x++) fill(x, x);
  for (let y = 0; y < endY; y++) fill(endX + y, y);
  return { tensor: gpu.upload(data, [endX + endY, q, 2], 'f32', 'rope_table'), dim, endX, endY, theta };
}

export interface RopeOptions {
  /** Heads of a 3-D token-major x (default 1). */
  heads?: number;
  /** rope_k_repeat: L - exclude may be any multiple of end_x·end_y. */
  repeat?: boolean;
  /** num_k_exclude_rope: the last tokens are not rotated. */
  exclude?: number;
  /** Rotate x itself and return it. */
  inPlace?: boolean;
  /** Write here (x's shape and dtype, not x) instead of a new tensor. */
  out?: Tensor;
}

export function rope(gpu: Gpu, x: Tensor, table: RopeTable, opts: RopeOptions = {}): Tensor {
  checkFloat('rope', x);
  if (table.tensor.dtype !== 'f32') throw new ShapeError(`rope: table ${table.tensor} must be f32`);
  let view: HeadsView;
  if (x.shape.length === 4) view = headMajor(x);
  else if (x.shape.length === 3) view = tokenMajor(x, opts.heads ?? 1);
  else throw new ShapeError(`rope: x ${x} must be [B, H, L, D] or [B, L, H·D]`);
  const { batch: B, heads: H, length: L, dim: D } = view;
  if (D !== table.dim) throw new ShapeError(`rope: x ${x} has head dim ${D}, the table ${table.dim}`);
  const exclude = opts.exclude ?? 0;
  if (!Number.isInteger(exclude) || exclude < 0 || exclude > L) throw new ShapeError(`rope: exclude ${exclude} out of range for x ${x}`);
  const rot = L - exclude;
  const period = table.endX * table.endY;
  if (opts.repeat ? rot % period !== 0 : rot !== period) {
    throw new ShapeError(
      `rope: x ${x} has ${rot} tokens to rotate, ${opts.repeat ? 'not a multiple of' : 'not'} the table's ${table.endX}×${table.endY} positions`,
    );
  }
  if (opts.inPlace && opts.out) throw new ShapeError('rope: inPlace and out are exclusive');
  const y = opts.inPlace ? x : (opts.out ?? gpu.empty(x.shape, x.dtype, 'rope'));
  if (y.dtype !== x.dtype || y.shape.length !== x.shape.length || y.shape.some((d, i) => d !== x.shape[i])) {
    throw new ShapeError(`rope: out ${y} does not match x ${x}`);
  }
  const yv = x.shape.length === 4 ? headMajor(y) : tokenMajor(y, H);
  const chunks = D / 4;
  const n = B * H * L * chunks;
  const params = new Params().u32(n, chunks, L, H, rot, period, table.endX, D / 4);
  for (const v of [view, yv]) params.u32(v.offset, v.strideB, v.strideH, v.strideL);
  gpu.dispatch({
    variant: { kernel: 'rope', file: 'rope.wgsl', mode: gpu.modeFor(x.dtype), defines: { WG, INPLACE: !!opts.inPlace } },
    inputs: opts.inPlace ? [table.tensor] : [table.tensor, x],
    outputs: [y],
    params,
    workgroups: gpu.grid(Math.ceil(n / WG)),
  });
  return y;
}
