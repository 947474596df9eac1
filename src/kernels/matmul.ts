/**
 * Matrix products with a fused epilogue (wgsl/matmul.wgsl):
 *
 *   y = act(alpha * (a @ b) + bias) + residual
 *
 * in PyTorch's order of operations (the activation before the residual add, as in `x + mlp(x)`), f32
 * accumulation in every storage mode, one rounding to the output dtype at the end.
 *
 * matmul(gpu, a, b, opts)
 *   a         [...batchA, M, K]  (transA: [...batchA, K, M])
 *   b         [...batchB, K, N]  (transB: [...batchB, N, K], e.g. an nn.Linear weight [out, in])
 *   bias      [N]
 *   residual  the output's shape
 *   y         [...batch, M, N], batch = batchA and batchB broadcast as torch.matmul does (b may have no batch
 *             dimensions: shared weights; then a's batch folds into M and runs as one big product)
 * linear(gpu, x, weight, bias)
 *   x [..., in], weight [out, in], bias [out] -> [..., out]  (= x @ weightᵀ + bias, nn.Linear)
 * matmulStrided(gpu, spec, opts)
 *   operands described by element offset, row stride (ld) and up to three batch strides (0 broadcasts), e.g.
 *   per-head slices of a fused qkv tensor; y is contiguous [...spec.batch, M, N].
 *
 * All tensors f32, or all f16 (f16 or packed-f16 storage mode, as the Gpu chose).
 *
 * Kernels (see matmulConfig for the choice and the measurements behind it):
 *   'reg'   register blocking for CPU adapters: 4 columns x TM rows per invocation; with subgroups of 8
 *           (or 4) lanes the rows of A are loaded once per subgroup and shared with subgroupBroadcast.
 *   'tiled' 64 x 64 shared-memory tiles per 8 x 8 workgroup, 8 x 8 outputs per invocation, for GPUs.
 */
import type { Gpu } from '../runtime/gpu.js';
import { ShapeError } from '../runtime/errors.js';
import { Params } from '../runtime/params.js';
import { numel, shapeStr, type Tensor } from '../runtime/tensor.js';
import type { MatmulConfig } from '../runtime/profile.js';

export type MatmulAct = 'none' | 'gelu' | 'relu';
export const MATMUL_ACT: Record<MatmulAct, number> = { none: 0, gelu: 1, relu: 2 };

export type { MatmulConfig };

export interface EpilogueOptions {
  /** [N], added after the scaling. */
  bias?: Tensor;
  act?: MatmulAct;
  /** The output's shape, added after the activation. */
  residual?: Tensor;
  /** Scales the product before the bias (default 1). */
  alpha?: number;
  /** Write here instead of a new tensor (the output's shape and dtype; may not share a buffer with an input). */
  out?: Tensor;
  /** Override the device's choice of kernel and tiles (tests and benchmarks). */
  config?: Partial<MatmulConfig>;
  label?: string;
}

export interface MatmulOptions extends EpilogueOptions {
  transA?: boolean;
  transB?: boolean;
}

/** One operand of a strided product, in elements. */
export interface MatmulOperand {
  tensor: Tensor;
  /** Index of the first element of the first matrix (default 0). */
  offset?: number;
  /** Elements between consecutive rows of the stored matrix ([M, K] for A or [K, N] for B; [K, M] / [N, K] when transposed). */
  ld: number;
  /** Strides of the batch dimensions, one per entry of the spec's batch (0 broadcasts). */
  batchStrides?: readonly number[];
  trans?: boolean;
}

export interface StridedMatmul {
  M: number;
  N: number;
  K: number;
  /** Batch dimensions of the output (default none). */
  batch?: readonly number[];
  a: MatmulOperand;
  b: MatmulOperand;
}

/** The kernel and tiles for a product on this device: the device profile's choice (src/runtime/profile.ts). */
export function matmulConfig(gpu: Gpu, M: number, dtype: 'f32' | 'f16' = 'f32', N = Infinity): MatmulConfig {
  return gpu.profile.matmul(M, dtype, N);
}

function checkFloats(what: string, ts: Tensor[]): void {
  for (const t of ts) {
    if (t.dtype !== 'f32' && t.dtype !== 'f16') throw new ShapeError(`${what}: ${t} must be f32 or f16`);
    if (t.dtype !== ts[0].dtype) throw new ShapeError(`${what}: ${t} and ${ts[0]} differ in dtype`);
  }
}

/** a @ b with batch broadcasting (torch.matmul for operands of rank >= 2), transposes and the epilogue. */
export function matmul(gpu: Gpu, a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const what = opts.label ?? 'matmul';
  if (a.shape.length < 2) throw new ShapeError(`${what}: a ${a} needs at least 2 dimensions`);
  if (b.shape.length < 2) throw new ShapeError(`${what}: b ${b} needs at least 2 dimensions`);
  const ra = a.shape.length;
  const rb = b.shape.length;
  const transA = !!opts.transA;
  const transB = !!opts.transB;
  const M = transA ? a.shape[ra - 1] : a.shape[ra - 2];
  const Ka = transA ? a.shape[ra - 2] : a.shape[ra - 1];
  const Kb = transB ? b.shape[rb - 1] : b.shape[rb - 2];
  const N = transB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (Ka !== Kb) {
    throw new ShapeError(`${what}: inner dimensions differ: a ${a}${transA ? 'ᵀ' : ''} has K=${Ka}, b ${b}${transB ? 'ᵀ' : ''} has K=${Kb}`);
  }
  const K = Ka;
  const ba = a.shape.slice(0, ra - 2);
  const bb = b.shape.slice(0, rb - 2);
  const nb = Math.max(ba.length, bb.length);
  const batch: number[] = [];
  const sa: number[] = [];
  const sb: number[] = [];
  let strideA = M * K;
  let strideB = K * N;
  for (let i = 0; i < nb; i++) {
    // Walk from the innermost batch dimension outwards.
    const da = ba[ba.length - 1 - i] ?? 1;
    const db = bb[bb.length - 1 - i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`${what}: batch dimensions of a ${a} and b ${b} do not broadcast`);
    }
    const d = Math.max(da, db);
    batch.unshift(d);
    sa.unshift(da === 1 ? 0 : strideA);
    sb.unshift(db === 1 ? 0 : strideB);
    strideA *= da;
    strideB *= db;
  }
  const outShape = [...batch, M, N];
  // Shared weights: a's batch rows stack into one [batch * M, K] matrix.
  if (!transA && sb.every((s) => s === 0) && batch.length > 0) {
    const rows = numel(batch) * M;
    return run(gpu, { M: rows, N, K, a: { tensor: a, ld: K }, b: { tensor: b, ld: transB ? K : N, trans: transB } }, outShape, opts, what);
  }
  return run(
    gpu,
    {
      M,
      N,
      K,
      batch,
      a: { tensor: a, ld: transA ? M : K, batchStrides: sa, trans: transA },
      b: { tensor: b, ld: transB ? K : N, batchStrides: sb, trans: transB },
    },
    outShape,
    opts,
    what,
  );
}

/** nn.Linear: x [..., in] @ weight[out, in]ᵀ + bias[out] -> [..., out], with the same epilogue options. */
export function linear(gpu: Gpu, x: Tensor, weight: Tensor, bias?: Tensor, opts: EpilogueOptions = {}): Tensor {
  const what = opts.label ?? 'linear';
  if (weight.shape.length !== 2) throw new ShapeError(`${what}: weight ${weight} must be [out, in]`);
  const [out, inF] = weight.shape;
  if (x.shape.length < 1 || x.shape[x.shape.length - 1] !== inF) {
    throw new ShapeError(`${what}: x ${x} must end in ${inF} (weight ${weight})`);
  }
  const lead = x.shape.slice(0, -1);
  const rows = numel(lead);
  return run(
    gpu,
    { M: rows, N: out, K: inF, a: { tensor: x, ld: inF }, b: { tensor: weight, ld: inF, trans: true } },
    [...lead, out],
    { ...opts, bias: bias ?? opts.bias },
    what,
  );
}

/** A product over explicitly strided operands; y is contiguous [...spec.batch, M, N]. */
export function matmulStrided(gpu: Gpu, spec: StridedMatmul, opts: EpilogueOptions = {}): Tensor {
  return run(gpu, spec, [...(spec.batch ?? []), spec.M, spec.N], opts, opts.label ?? 'matmulStrided');
}

interface Dim {
  size: number;
  sa: number;
  sb: number;
}

function checkOperand(what: string, name: string, op: MatmulOperand, rows: number, cols: number, batch: readonly number[]): void {
  const off = op.offset ?? 0;
  const st = op.batchStrides ?? [];
  const t = op.tensor;
  for (const v of [off, op.ld, ...st]) {
    if (!Number.isInteger(v) || v < 0) throw new ShapeError(`${what}: ${name} ${t} has a bad offset or stride ${v}`);
  }
  if (st.length !== batch.length) {
    throw new ShapeError(`${what}: ${name} ${t} has ${st.length} batch strides for batch ${shapeStr(batch)}`);
  }
  if (rows > 1 && op.ld < cols) throw new ShapeError(`${what}: ${name} ${t} row stride ${op.ld} < ${cols} columns`);
  if (rows === 0 || cols === 0 || batch.some((d) => d === 0)) return;
  let last = off + (rows - 1) * op.ld + cols - 1;
  batch.forEach((d, i) => (last += (d - 1) * st[i]));
  if (last >= t.size) {
    throw new ShapeError(`${what}: ${name} ${t} is too small: the ${rows} x ${cols} matrices reach element ${last}`);
  }
}

/** Merges batch dimensions that step alike in both operands and drops size-1 ones; at most 3 may remain. */
function collapseBatch(what: string, dims: Dim[]): Dim[] {
  const out: Dim[] = [];
  for (const d of dims) {
    if (d.size === 1) continue;
    const prev = out[out.length - 1];
    if (prev && prev.sa === d.sa * d.size && prev.sb === d.sb * d.size) {
      out[out.length - 1] = { size: prev.size * d.size, sa: d.sa, sb: d.sb };
    } else {
      out.push({ ...d });
    }
  }
  if (out.length > 3) throw new ShapeError(`${what}: batch ${shapeStr(dims.map((d) => d.size))} needs more than 3 strided dimensions`);
  return out;
}

/** Whether an operand can be bound as 4-vectors along its contiguous dimension of `cols` elements. */
function vec4Ok(op: MatmulOperand, cols: number): boolean {
  return (
    cols % 4 === 0 &&
    op.ld % 4 === 0 &&
    (op.offset ?? 0) % 4 === 0 &&
    (op.batchStrides ?? []).every((s) => s % 4 === 0) &&
    op.tensor.size % 4 === 0 &&
    op.tensor.size >= 4
  );
}

function run(gpu: Gpu, spec: StridedMatmul, outShape: number[], opts: EpilogueOptions, what: string): Tensor {
  const { M, N, K } = spec;
  const batch = spec.batch ?? [];
  for (const v of [M, N, K, ...batch]) {
    if (!Number.isInteger(v) || v < 0) throw new ShapeError(`${what}: bad size ${v}`);
  }
  const A = spec.a;
  const B = spec.b;
  const ins = [A.tensor, B.tensor];
  if (opts.bias) ins.push(opts.bias);
  if (opts.residual) ins.push(opts.residual);
  checkFloats(what, opts.out ? [...ins, opts.out] : ins);
  checkOperand(what, 'a', A, A.trans ? K : M, A.trans ? M : K, batch);
  checkOperand(what, 'b', B, B.trans ? N : K, B.trans ? K : N, batch);
  if (opts.bias && (opts.bias.shape.length !== 1 || opts.bias.shape[0] !== N)) {
    throw new ShapeError(`${what}: bias ${opts.bias} must be [${N}]`);
  }
  const size = numel(outShape);
  if (opts.residual && opts.residual.size !== size) {
    throw new ShapeError(`${what}: residual ${opts.residual} must have the output's shape ${shapeStr(outShape)}`);
  }
  const y = opts.out ?? gpu.empty(outShape, A.tensor.dtype, what);
  if (y.size !== size || y.dtype !== A.tensor.dtype) {
    throw new ShapeError(`${what}: out ${y} does not match the output ${shapeStr(outShape)}:${A.tensor.dtype}`);
  }
  if (size === 0) return y;

  const dims = collapseBatch(
    what,
    batch.map((d, i) => ({ size: d, sa: A.batchStrides![i], sb: B.batchStrides![i] })),
  );
  while (dims.length < 3) dims.unshift({ size: 1, sa: 0, sb: 0 });
  const [d2, d1, d0] = dims;
  const nbatch = d0.size * d1.size * d2.size;

  const cfg: MatmulConfig = { ...matmulConfig(gpu, M, A.tensor.dtype as 'f32' | 'f16', N), ...opts.config };
  if (![8, 16, 32].includes(cfg.tm)) throw new ShapeError(`${what}: tm must be 8, 16 or 32 (${cfg.tm})`);
  if (cfg.sg > 1 && cfg.wg % cfg.sg !== 0) throw new ShapeError(`${what}: a subgroup kernel needs wg to be a multiple of sg (${cfg.wg}, ${cfg.sg})`);
  const tiled = cfg.kernel === 'tiled';
  const vecA = vec4Ok(A, A.trans ? M : K) ? 4 : 1;
  const vecB = vec4Ok(B, B.trans ? K : N) ? 4 : 1;
  const rowsPerGroup = tiled ? 64 : cfg.tm;
  const colsPerGroup = tiled ? 64 : cfg.wg * 4;
  const inputs = [A.tensor, B.tensor];
  if (opts.bias) inputs.push(opts.bias);
  if (opts.residual) inputs.push(opts.residual);
  const variant = {
    kernel: what,
    file: 'matmul.wgsl',
    entry: tiled ? 'main_tiled' : 'main_reg',
    mode: gpu.modeFor(A.tensor.dtype),
    defines: {
      TRANS_A: A.trans ? 1 : 0,
      TRANS_B: B.trans ? 1 : 0,
      VEC_A: vecA,
      VEC_B: vecB,
      BIAS: opts.bias ? 1 : 0,
      RESIDUAL: opts.residual ? 1 : 0,
      ACT: MATMUL_ACT[opts.act ?? 'none'],
      STORE: N % 4 === 0 ? 4 : N % 2 === 0 ? 2 : 1,
      SG: tiled ? 1 : cfg.sg,
      TM: cfg.tm,
      WG: cfg.wg,
    },
  };
  // Batches and row blocks past the device's workgroups per dimension go in further dispatches.
  const maxWg = gpu.info.limits.maxComputeWorkgroupsPerDimension;
  const gx = Math.ceil(N / colsPerGroup);
  if (gx > maxWg) throw new ShapeError(`${what}: N=${N} needs ${gx} workgroups across, more than ${maxWg}`);
  const rowBlocks = Math.ceil(M / rowsPerGroup);
  const alpha = opts.alpha ?? 1;
  for (let z0 = 0; z0 < nbatch; z0 += maxWg) {
    const gz = Math.min(maxWg, nbatch - z0);
    for (let r0 = 0; r0 < rowBlocks; r0 += maxWg) {
      const gy = Math.min(maxWg, rowBlocks - r0);
      gpu.dispatch({
        variant,
        inputs,
        outputs: [y],
        params: new Params()
          .u32(M, N, K)
          .f32(alpha)
          .u32(A.ld, B.ld, A.offset ?? 0, B.offset ?? 0)
          .u32(d0.size, d1.size, z0, r0 * rowsPerGroup)
          .u32(d0.sa, d1.sa, d2.sa, 0)
          .u32(d0.sb, d1.sb, d2.sb, 0),
        workgroups: [gx, gy, gz],
        flops: 2 * N * K * gz * Math.min(gy * rowsPerGroup, M - r0 * rowsPerGroup),
      });
    }
  }
  return y;
}
