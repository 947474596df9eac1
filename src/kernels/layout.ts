/**
 * Layout kernels (wgsl/layout.wgsl): permute, Hiera's window partition / unpartition, concat, slice and
 * dtype casts. No arithmetic; every kernel can convert the element type on the way (f32, f16, bf16), so a
 * bf16 memory bank concatenates straight into f32 memory tokens as torch.cat's type promotion does.
 *
 * permute(x, perm): y.shape[k] = x.shape[perm[k]] (torch.permute followed by .contiguous()), up to 6 dims
 *   after merging dims that stay adjacent; batched 2-D transposes (NHWC <-> NCHW, [B, T, C] -> [B, C, T])
 *   go through a tiled kernel.
 * windowPartition(x [B, H, W, C], ws): zero-pads H and W up to multiples of ws and returns windows
 *   [B·(Hp/ws)·(Wp/ws), ws, ws, C] and (Hp, Wp), as sam2/modeling/backbones/utils.py window_partition.
 * windowUnpartition(windows [B·nW, ws, ws, C], ws, (Hp, Wp), (H, W)): [B, H, W, C], the padding cropped.
 * concat(xs, dim): inputs equal in every dim but `dim`; y has the sum along `dim`.
 * slice(x, dim, start, length): torch.narrow(x, dim, start, length), copied.
 * cast(x, dtype): f32 <-> f16 <-> bf16 (round to nearest even), or a plain copy when dtype is x's.
 */
import type { Gpu } from '../runtime/gpu.js';
import type { DType } from '../runtime/dtype.js';
import { ShapeError } from '../runtime/errors.js';
import { Params } from '../runtime/params.js';
import { rowTiling } from './binary.js';
import { numel, shapeStr, type Tensor } from '../runtime/tensor.js';
import type { StorageMode } from '../runtime/wgsl.js';
import { WG } from './workgroup.js';

export type LayoutDType = 'f32' | 'f16' | 'bf16';
const TYPE_CODE: Record<LayoutDType, number> = { f32: 0, f16: 1, bf16: 2 };
const MAX_DIMS = 6;
/** Groups of 4 elements a workgroup moves in the row kernels (SEG in layout.wgsl): the device profile's figure (src/runtime/profile.ts). */
export function rowSegment(gpu: Gpu): number {
  return gpu.profile.layoutRowSegment;
}

export interface LayoutOptions {
  /** Element type of the result (converted on the way); the input's when absent. */
  dtype?: LayoutDType;
  /** Write here instead of a new tensor (the result's size and dtype; not an input). */
  out?: Tensor;
}

function checkType(kernel: string, t: Tensor): LayoutDType {
  if (t.dtype !== 'f32' && t.dtype !== 'f16' && t.dtype !== 'bf16') throw new ShapeError(`${kernel}: ${t} must be f32, f16 or bf16`);
  return t.dtype;
}

function outputFor(gpu: Gpu, kernel: string, shape: readonly number[], dtype: LayoutDType, out?: Tensor): Tensor {
  const y = out ?? gpu.empty(shape, dtype, kernel);
  if (y.size !== numel(shape) || y.dtype !== dtype) throw new ShapeError(`${kernel}: out ${y} does not match ${shapeStr(shape)}:${dtype}`);
  return y;
}

function modeOf(gpu: Gpu, a: DType, b: DType): StorageMode {
  return a === 'f16' || b === 'f16' ? gpu.f16Mode : 'f32';
}

function dispatchLayout(
  gpu: Gpu,
  kernel: string,
  x: Tensor,
  y: Tensor,
  defines: Record<string, number>,
  params: Params,
  workgroups: [number, number?, number?],
): void {
  gpu.dispatch({
    variant: {
      kernel,
      file: 'layout.wgsl',
      mode: modeOf(gpu, x.dtype, y.dtype),
      defines: { WG, SEG: rowSegment(gpu), ...defines, SRC: TYPE_CODE[x.dtype as LayoutDType], DST: TYPE_CODE[y.dtype as LayoutDType] },
    },
    inputs: [x],
    outputs: [y],
    params,
    workgroups,
  });
}

/** Copies `outer` rows of `len` elements: y[o·dstRow + dstOff + j] = x[o·srcRow + srcOff + j]. */
function copyRows(
  gpu: Gpu,
  kernel: string,
  x: Tensor,
  y: Tensor,
  outer: number,
  len: number,
  srcRow: number,
  srcOff: number,
  dstRow: number,
  dstOff: number,
): void {
  if (outer === 0 || len === 0) return;
  // Groups of 4 destination elements per row (a row may start anywhere in its first group).
  const q = Math.ceil((len + 3) / 4);
  const short = q < 16;
  const t = rowTiling(outer, q, rowSegment(gpu));
  dispatchLayout(
    gpu,
    kernel,
    x,
    y,
    { KIND: 3, SHORT: short ? 1 : 0 },
    new Params().u32(outer, len, q, srcRow, srcOff, dstRow, dstOff, t.segs, t.rpw),
    gpu.grid(short ? Math.ceil((outer * q) / WG) : t.workgroups),
  );
}

// ------------------------------------------------------------------ permute

/**
 * Output dims of a permute, innermost first, with the element stride of x along each; size-1 dims dropped
 * and neighbours merged where they are adjacent in x as well.
 */
export function permutePlan(shape: readonly number[], perm: readonly number[]): { dims: number[]; strides: number[] } {
  const r = shape.length;
  const st = new Array<number>(r);
  let acc = 1;
  for (let k = r - 1; k >= 0; k--) {
    st[k] = acc;
    acc *= shape[k];
  }
  const dims: number[] = [];
  const strides: number[] = [];
  for (let k = r - 1; k >= 0; k--) {
    const d = shape[perm[k]];
    if (d === 1) continue;
    const s = st[perm[k]];
    const j = dims.length - 1;
    if (j >= 0 && s === strides[j] * dims[j]) dims[j] *= d;
    else {
      dims.push(d);
      strides.push(s);
    }
  }
  if (dims.length === 0) {
    dims.push(1);
    strides.push(1);
  }
  return { dims, strides };
}

export type PermuteMethod = 'tiled' | 'rows' | 'gather';

export interface PermuteOptions extends LayoutOptions {
  /**
   * 'tiled': a batched 2-D transpose through workgroup memory (only for such permutes); 'rows': workgroups
   * own rows of the innermost output dim and gather them with x's stride; 'gather': every invocation
   * decomposes its own 4 output indices (best for short innermost dims). Chosen by permuteMethod() when absent.
   */
  method?: PermuteMethod;
}

/** A permute plan's batched-transpose form: y [B, C, R] from x [B, R, C], if it has one. */
function transposeForm(dims: readonly number[], strides: readonly number[]): { b: number; r: number; c: number } | null {
  if (dims.length < 2 || dims.length > 3) return null;
  const [d0, d1, d2 = 1] = dims;
  if (strides[0] !== d1 || strides[1] !== 1 || (dims.length === 3 && strides[2] !== d0 * d1)) return null;
  return { b: d2, r: d0, c: d1 };
}

/**
 * The permute kernel for a plan: on GPUs batched transposes go through the tiled kernel (contiguous reads
 * and writes); otherwise rows of 64 or more outputs go by rows, shorter ones by per-invocation gathers. On
 * CPU adapters the tiled kernel is slower than rows, as barriers and workgroup memory cost more than strided
 * loads there (src/kernels/README.md, "layout").
 */
export function permuteMethod(gpu: Gpu, dims: readonly number[], strides: readonly number[]): PermuteMethod {
  if (gpu.profile.tiledTranspose && transposeForm(dims, strides) && dims[0] >= 8 && dims[1] >= 8) return 'tiled';
  return dims[0] >= 64 ? 'rows' : 'gather';
}

/** torch.permute(x, perm).contiguous(): y.shape[k] = x.shape[perm[k]]. */
export function permute(gpu: Gpu, x: Tensor, perm: readonly number[], opts: PermuteOptions = {}): Tensor {
  const src = checkType('permute', x);
  const r = x.shape.length;
  if (perm.length !== r || [...perm].sort((a, b) => a - b).some((p, k) => p !== k)) {
    throw new ShapeError(`permute: [${perm.join(', ')}] is not a permutation of the ${r} dims of ${x}`);
  }
  const shape = perm.map((p) => x.shape[p]);
  const y = outputFor(gpu, 'permute', shape, opts.dtype ?? src, opts.out);
  const n = x.size;
  if (n === 0) return y;
  const { dims, strides } = permutePlan(x.shape, perm);
  if (dims.length === 1) {
    copyRows(gpu, 'permute', x, y, 1, n, n, 0, n, 0);
    return y;
  }
  if (dims.length > MAX_DIMS) throw new ShapeError(`permute: ${x} by [${perm.join(', ')}] needs ${dims.length} separate dims, more than ${MAX_DIMS}`);
  const maxWg = gpu.info.limits.maxComputeWorkgroupsPerDimension;
  let method = opts.method ?? permuteMethod(gpu, dims, strides);
  const t = transposeForm(dims, strides);
  if (method === 'tiled' && !(t && t.b <= maxWg && Math.ceil(t.r / 32) <= maxWg && Math.ceil(t.c / 32) <= maxWg)) method = 'rows';
  if (method === 'tiled' && t) {
    dispatchLayout(gpu, 'permute', x, y, { KIND: 1 }, new Params().u32(t.b, t.r, t.c, 0), [Math.ceil(t.c / 32), Math.ceil(t.r / 32), t.b]);
    return y;
  }
  if (method === 'rows') {
    const rows = n / dims[0];
    const t = rowTiling(rows, Math.ceil((dims[0] + 3) / 4), rowSegment(gpu));
    const outer = [...dims.slice(1), ...new Array<number>(MAX_DIMS - dims.length).fill(1)];
    const os = [...strides.slice(1), ...new Array<number>(MAX_DIMS - dims.length).fill(0)];
    dispatchLayout(
      gpu,
      'permute',
      x,
      y,
      { KIND: 4 },
      new Params()
        .u32(rows, t.segs, dims[0], strides[0], dims.length)
        .u32(...outer.slice(0, 4))
        .u32(...os)
        .u32(t.rpw),
      gpu.grid(t.workgroups),
    );
    return y;
  }
  const pad = (v: number[]) => [...v, ...new Array<number>(MAX_DIMS - v.length).fill(1)];
  dispatchLayout(
    gpu,
    'permute',
    x,
    y,
    { KIND: 0 },
    new Params()
      .u32(n, dims.length, 0, 0)
      .u32(...pad(dims))
      .u32(...pad(strides)),
    gpu.grid(Math.ceil(n / (4 * WG))),
  );
  return y;
}

// ------------------------------------------------------------------ windows

/** Window kernels copy runs of ws·C elements (a window row), a workgroup per run. */
function windowDispatch(
  gpu: Gpu,
  kernel: string,
  x: Tensor,
  y: Tensor,
  dir: number,
  rows: number,
  h: number,
  w: number,
  c: number,
  ws: number,
  nh: number,
  nw: number,
): void {
  const rpw = Math.max(1, Math.floor(rowSegment(gpu) / Math.ceil((ws * c + 3) / 4)));
  dispatchLayout(gpu, kernel, x, y, { KIND: 2, DIR: dir }, new Params().u32(h, w, c, ws, nh, nw, rows, rpw), gpu.grid(Math.ceil(rows / rpw)));
}

function checkWindow(kernel: string, ws: number): void {
  if (!Number.isInteger(ws) || ws < 1) throw new ShapeError(`${kernel}: window size ${ws} must be a positive integer`);
}

/**
 * Hiera's window_partition: x [B, H, W, C] -> windows [B·(Hp/ws)·(Wp/ws), ws, ws, C] with H, W zero-padded
 * to Hp, Wp (multiples of ws). Returns the windows and [Hp, Wp].
 */
export function windowPartition(gpu: Gpu, x: Tensor, ws: number, opts: LayoutOptions = {}): { windows: Tensor; padHW: [number, number] } {
  const src = checkType('windowPartition', x);
  checkWindow('windowPartition', ws);
  if (x.shape.length !== 4) throw new ShapeError(`windowPartition: ${x} must be [B, H, W, C]`);
  const [b, h, w, c] = x.shape;
  const nh = Math.ceil(h / ws);
  const nw = Math.ceil(w / ws);
  const y = outputFor(gpu, 'windowPartition', [b * nh * nw, ws, ws, c], opts.dtype ?? src, opts.out);
  if (y.size > 0) windowDispatch(gpu, 'windowPartition', x, y, 0, b * nh * nw * ws, h, w, c, ws, nh, nw);
  return { windows: y, padHW: [nh * ws, nw * ws] };
}

/**
 * Hiera's window_unpartition: windows [B·(Hp/ws)·(Wp/ws), ws, ws, C] -> [B, H, W, C], dropping the
 * padding rows and columns beyond H and W.
 */
export function windowUnpartition(
  gpu: Gpu,
  windows: Tensor,
  ws: number,
  padHW: readonly [number, number],
  hw: readonly [number, number],
  opts: LayoutOptions = {},
): Tensor {
  const src = checkType('windowUnpartition', windows);
  checkWindow('windowUnpartition', ws);
  const [hp, wp] = padHW;
  const [h, w] = hw;
  if (hp % ws !== 0 || wp % ws !== 0 || h > hp || w > wp || h < 0 || w < 0) {
    throw new ShapeError(`windowUnpartition: padded ${hp}x${wp} must be multiples of ${ws} and hold ${h}x${w}`);
  }
  const nh = hp / ws;
  const nw = wp / ws;
  const s = windows.shape;
  if (s.length !== 4 || s[1] !== ws || s[2] !== ws || (nh * nw > 0 && s[0] % (nh * nw) !== 0)) {
    throw new ShapeError(`windowUnpartition: ${windows} must be [B·${nh}·${nw}, ${ws}, ${ws}, C]`);
  }
  const b = nh * nw > 0 ? s[0] / (nh * nw) : 0;
  const c = s[3];
  const y = outputFor(gpu, 'windowUnpartition', [b, h, w, c], opts.dtype ?? src, opts.out);
  if (y.size > 0) windowDispatch(gpu, 'windowUnpartition', windows, y, 1, b * h * nw, h, w, c, ws, nh, nw);
  return y;
}

// ------------------------------------------------------------------ concat, slice, cast

function normDim(kernel: string, dim: number, t: Tensor): number {
  const d = dim < 0 ? dim + t.shape.length : dim;
  if (!Number.isInteger(d) || d < 0 || d >= t.shape.length) throw new ShapeError(`${kernel}: dim ${dim} is not a dim of ${t}`);
  return d;
}

/**
 * torch.cat(xs, dim): every input has the rank and the dims of xs[0] except along `dim`. The result's dtype
 * is opts.dtype, else the inputs' common dtype, else f32 (torch's promotion of f16 / bf16 with f32). One
 * dispatch per non-empty input.
 */
export function concat(gpu: Gpu, xs: readonly Tensor[], dim: number, opts: LayoutOptions = {}): Tensor {
  if (xs.length === 0) throw new ShapeError('concat: no inputs');
  const types = xs.map((t) => checkType('concat', t));
  const d = normDim('concat', dim, xs[0]);
  const ref = xs[0].shape;
  let total = 0;
  for (const t of xs) {
    if (t.shape.length !== ref.length || t.shape.some((s, k) => k !== d && s !== ref[k])) {
      throw new ShapeError(`concat: ${t} does not match ${xs[0]} outside dim ${dim}`);
    }
    total += t.shape[d];
  }
  const dtype = opts.dtype ?? (types.every((t) => t === types[0]) ? types[0] : 'f32');
  const shape = ref.map((s, k) => (k === d ? total : s));
  const y = outputFor(gpu, 'concat', shape, dtype, opts.out);
  const outer = numel(ref.slice(0, d));
  const inner = numel(ref.slice(d + 1));
  let off = 0;
  for (const t of xs) {
    const len = t.shape[d] * inner;
    copyRows(gpu, 'concat', t, y, outer, len, len, 0, total * inner, off * inner);
    off += t.shape[d];
  }
  return y;
}

/** torch.narrow(x, dim, start, length), copied into a new tensor (or opts.out). */
export function slice(gpu: Gpu, x: Tensor, dim: number, start: number, length: number, opts: LayoutOptions = {}): Tensor {
  const src = checkType('slice', x);
  const d = normDim('slice', dim, x);
  const size = x.shape[d];
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > size) {
    throw new ShapeError(`slice: [${start}, ${start + length}) is not inside dim ${dim} (size ${size}) of ${x}`);
  }
  const shape = x.shape.map((s, k) => (k === d ? length : s));
  const y = outputFor(gpu, 'slice', shape, opts.dtype ?? src, opts.out);
  const inner = numel(x.shape.slice(d + 1));
  copyRows(gpu, 'slice', x, y, numel(x.shape.slice(0, d)), length * inner, size * inner, start * inner, length * inner, 0);
  return y;
}

/**
 * x converted to dtype: f32 -> f16 / bf16 round to nearest even (as torch's .to()), f16 / bf16 -> f32
 * exact, f16 <-> bf16 through f32; a copy when dtype is x's.
 */
export function cast(gpu: Gpu, x: Tensor, dtype: LayoutDType, opts: { out?: Tensor } = {}): Tensor {
  checkType('cast', x);
  const y = outputFor(gpu, 'cast', x.shape, dtype, opts.out);
  copyRows(gpu, 'cast', x, y, 1, x.size, x.size, 0, x.size, 0);
  return y;
}
