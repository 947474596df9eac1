/**
 * Binary elementwise kernels (wgsl/binary.wgsl).
 *
 * binary(op, a, b): y = a + alpha·b | a - alpha·b | a · (alpha·b) (alpha = 1 by default, as torch.add's
 *   alpha), with NumPy / PyTorch broadcasting: shapes are aligned at their last dims, and a dim of size 1
 *   (or a missing leading dim) repeats. a, b: any shapes that broadcast, up to 6 dims after merging
 *   contiguous dims; y: the broadcast shape. Equal element counts with equal shapes take a vec4 fast path.
 * channelAffine(x, scale, bias): y = x · scale[c] + bias[c] (+ residual) where c is x's index along `dim`
 *   (dim 1 of NCHW: a BatchNorm-like per-channel affine; dim -1 of [..., C]: CXBlock's layer-scale gamma).
 *
 * All tensors f32 or f16, one dtype per call; y has that dtype.
 */
import type { Gpu } from '../runtime/gpu.js';
import { ShapeError } from '../runtime/errors.js';
import { Params } from '../runtime/params.js';
import { numel, shapeStr, type Tensor } from '../runtime/tensor.js';
import { checkFloat } from './elementwise.js';
import { WG } from './workgroup.js';

export type BinaryOp = 'add' | 'sub' | 'mul';
const OP_CODE: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2 };
const MAX_DIMS = 6;
/** Groups of 4 elements per workgroup segment in the row modes (SEG in binary.wgsl). */
const SEG = 512;

/**
 * Workgroups for `rows` rows of q groups of 4: long rows split into segments of SEG groups, short rows
 * packed rpw to a workgroup, so that each workgroup has about SEG groups (8 per invocation) to move.
 */
export function rowTiling(rows: number, q: number, seg = SEG): { segs: number; rpw: number; workgroups: number } {
  const segs = Math.max(1, Math.ceil(q / seg));
  const rpw = segs > 1 ? 1 : Math.max(1, Math.floor(seg / Math.max(q, 1)));
  return { segs, rpw, workgroups: Math.ceil(rows / rpw) * segs };
}

export interface BinaryOptions {
  /** Multiplies b (torch.add / torch.sub's alpha); 1 when absent. */
  alpha?: number;
  /** Write here instead of a new tensor (the broadcast shape's size, the inputs' dtype; not a or b). */
  out?: Tensor;
}

/** The broadcast shape of two shapes (NumPy rules); throws ShapeError naming `kernel` if they do not broadcast. */
export function broadcastShape(a: readonly number[], b: readonly number[], kernel = 'broadcast'): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let k = 0; k < r; k++) {
    const da = a[a.length - r + k] ?? 1;
    const db = b[b.length - r + k] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`${kernel}: shapes ${shapeStr(a)} and ${shapeStr(b)} do not broadcast (dim ${k - r}: ${da} vs ${db})`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/**
 * Output dims with the element strides of each input (0 where broadcast), innermost first, with size-1
 * dims dropped and neighbours merged where both inputs are contiguous across them.
 */
export function broadcastPlan(a: readonly number[], b: readonly number[]): { dims: number[]; sa: number[]; sb: number[] } {
  const shape = broadcastShape(a, b);
  const r = shape.length;
  const strides = (s: readonly number[]) => {
    const st = new Array<number>(r).fill(0);
    let acc = 1;
    for (let k = s.length - 1; k >= 0; k--) {
      st[r - s.length + k] = s[k] === 1 ? 0 : acc;
      acc *= s[k];
    }
    return st;
  };
  const fa = strides(a);
  const fb = strides(b);
  const dims: number[] = [];
  const sa: number[] = [];
  const sb: number[] = [];
  for (let k = r - 1; k >= 0; k--) {
    if (shape[k] === 1) continue;
    const j = dims.length - 1;
    if (j >= 0 && fa[k] === sa[j] * dims[j] && fb[k] === sb[j] * dims[j]) {
      dims[j] *= shape[k];
    } else {
      dims.push(shape[k]);
      sa.push(fa[k]);
      sb.push(fb[k]);
    }
  }
  if (dims.length === 0) {
    dims.push(1);
    sa.push(0);
    sb.push(0);
  }
  return { dims, sa, sb };
}

/** y = op(a, alpha·b) with broadcasting; see the module comment for the shapes. */
export function binary(gpu: Gpu, op: BinaryOp, a: Tensor, b: Tensor, opts: BinaryOptions = {}): Tensor {
  const kernel = op;
  checkFloat(kernel, a, b);
  const shape = broadcastShape(a.shape, b.shape, kernel);
  const n = numel(shape);
  const y = opts.out ?? gpu.empty(shape, a.dtype, op);
  if (y.size !== n || y.dtype !== a.dtype) throw new ShapeError(`${kernel}: out ${y} does not match the broadcast shape ${shapeStr(shape)}:${a.dtype}`);
  if (n === 0) return y;
  const alpha = opts.alpha ?? 1;
  const groups = gpu.grid(Math.ceil(Math.ceil(n / 4) / WG));
  const mode = gpu.modeFor(a.dtype);
  if (a.size === n && b.size === n) {
    gpu.dispatch({
      variant: { kernel, file: 'binary.wgsl', mode, defines: { WG, KIND: 0, OP: OP_CODE[op] } },
      inputs: [a, b],
      outputs: [y],
      params: new Params().u32(n).f32(alpha).u32(0, 0),
      workgroups: groups,
    });
    return y;
  }
  const { dims, sa, sb } = broadcastPlan(a.shape, b.shape);
  if (dims.length > MAX_DIMS) {
    throw new ShapeError(`${kernel}: ${a} and ${b} broadcast over ${dims.length} separate dims, more than ${MAX_DIMS}`);
  }
  const pad = (v: number[], fill: number) => [...v, ...new Array<number>(MAX_DIMS - v.length).fill(fill)];
  // Rows of 64+ outputs (a multiple of 4) go by workgroup-owned rows, shorter ones per invocation.
  const rows = dims[0] % 4 === 0 && dims[0] >= 64;
  const t = rowTiling(n / dims[0], dims[0] / 4);
  gpu.dispatch({
    variant: { kernel, file: 'binary.wgsl', mode, defines: { WG, KIND: 1, OP: OP_CODE[op], ROWS: rows ? 1 : 0 } },
    inputs: [a, b],
    outputs: [y],
    params: new Params()
      .u32(n, dims.length)
      .f32(alpha)
      .u32(t.segs)
      .u32(...pad(dims, 1))
      .u32(...pad(sa, 0))
      .u32(...pad(sb, 0))
      .u32(t.rpw),
    workgroups: rows ? gpu.grid(t.workgroups) : groups,
  });
  return y;
}

/** y = a + alpha·b, broadcasting. */
export function add(gpu: Gpu, a: Tensor, b: Tensor, opts: BinaryOptions = {}): Tensor {
  return binary(gpu, 'add', a, b, opts);
}

/** y = a - alpha·b, broadcasting. */
export function sub(gpu: Gpu, a: Tensor, b: Tensor, opts: BinaryOptions = {}): Tensor {
  return binary(gpu, 'sub', a, b, opts);
}

/** y = a · (alpha·b), broadcasting. */
export function mul(gpu: Gpu, a: Tensor, b: Tensor, opts: BinaryOptions = {}): Tensor {
  return binary(gpu, 'mul', a, b, opts);
}

export interface ChannelAffineOptions {
  /** The channel dim of x: 1 for NCHW, -1 for channels-last [..., C]; negative counts from the end. */
  dim: number;
  /** Added after the affine; x's shape and dtype. */
  residual?: Tensor;
  /** Write here instead of a new tensor (x's shape and dtype; not x, scale, bias or residual). */
  out?: Tensor;
}

/**
 * y = x · scale[c] + bias[c] (+ residual), c = x's index along opts.dim. x: any shape with a channel dim of
 * size C; scale, bias: [C] (either may be null); residual: x's shape; y: x's shape.
 */
export function channelAffine(gpu: Gpu, x: Tensor, scale: Tensor | null, bias: Tensor | null, opts: ChannelAffineOptions): Tensor {
  const kernel = 'channelAffine';
  const r = opts.residual;
  checkFloat(kernel, x, ...[scale, bias, r].filter((t): t is Tensor => !!t));
  const dim = opts.dim < 0 ? opts.dim + x.shape.length : opts.dim;
  if (!Number.isInteger(dim) || dim < 0 || dim >= x.shape.length) throw new ShapeError(`${kernel}: dim ${opts.dim} is not a dim of ${x}`);
  const c = x.shape[dim];
  if (scale && scale.size !== c) throw new ShapeError(`${kernel}: scale ${scale} must have ${c} elements (dim ${opts.dim} of ${x})`);
  if (bias && bias.size !== c) throw new ShapeError(`${kernel}: bias ${bias} must have ${c} elements (dim ${opts.dim} of ${x})`);
  if (r && r.size !== x.size) throw new ShapeError(`${kernel}: residual ${r} does not match ${x}`);
  const y = opts.out ?? gpu.empty(x.shape, x.dtype, kernel);
  if (y.size !== x.size || y.dtype !== x.dtype) throw new ShapeError(`${kernel}: out ${y} does not match ${x}`);
  if (x.size === 0) return y;
  const inner = numel(x.shape.slice(dim + 1));
  // Rows of one channel (inner % 4 == 0) or of all channels of a position (inner == 1, C % 4 == 0) go by
  // workgroup-owned rows; anything else finds each element's channel by division.
  const cmode = inner % 4 === 0 && inner >= 64 ? 1 : inner === 1 && c % 4 === 0 && c >= 64 ? 2 : 0;
  const len = cmode === 1 ? inner : c;
  const t = rowTiling(x.size / len, len / 4);
  gpu.dispatch({
    variant: {
      kernel,
      file: 'binary.wgsl',
      mode: gpu.modeFor(x.dtype),
      defines: { WG, KIND: 2, CMODE: cmode, HAS_SCALE: !!scale, HAS_BIAS: !!bias, HAS_RES: !!r },
    },
    // Absent operands are bound as x (never read); read-only bindings may share a buffer.
    inputs: [x, scale ?? x, bias ?? x, r ?? x],
    outputs: [y],
    params: new Params().u32(x.size, c, inner, t.segs, t.rpw),
    workgroups: gpu.grid(cmode ? t.workgroups : Math.ceil(Math.ceil(x.size / 4) / WG)),
  });
  return y;
}
