/**
 * Layer normalization kernels (wgsl/norm.wgsl), as torch.nn.LayerNorm and SAM 2's LayerNorm2d compute them:
 * y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance; statistics in f32 (Welford
 * within an invocation, Chan's merge across invocations), so a large common offset costs no precision.
 *
 * layerNorm(x, weight, bias): x [..., C] normalized over the last dim; weight, bias [C]; y like x.
 * layerNorm2d(x, weight, bias): x [N, C, H, W] normalized over C for every pixel; weight, bias [C]; y like x.
 *
 * Both take an optional GELU epilogue (the mask decoder's upscaling and the memory encoder's mask
 * downsampler apply LayerNorm2d then GELU). eps has no default on purpose: Hiera uses 1e-6, torch's
 * LayerNorm (memory attention, two-way transformer) 1e-5, LayerNorm2d 1e-6.
 */
import type { Gpu } from '../runtime/gpu.js';
import { ShapeError } from '../runtime/errors.js';
import { Params } from '../runtime/params.js';
import type { Tensor } from '../runtime/tensor.js';
import { checkFloat } from './elementwise.js';

export interface NormOptions {
  eps: number;
  /** Activation applied after the affine transform. */
  act?: 'identity' | 'gelu';
  /** Write here instead of a new tensor (x's shape and dtype; may not be x itself). */
  out?: Tensor;
  /** Invocations per row for layerNorm (power of two, 1..256); layerNormThreadsPerRow() when absent. */
  threadsPerRow?: number;
  /** Invocations splitting the channels of a pixel for layerNorm2d (power of two, 1..64). */
  channelSplit?: number;
}

function checkAffine(kernel: string, x: Tensor, c: number, weight: Tensor | null, bias: Tensor | null): void {
  if ((weight === null) !== (bias === null)) throw new ShapeError(`${kernel}: weight and bias must both be given or both be null`);
  if (weight && bias) {
    checkFloat(kernel, x, weight, bias);
    if (weight.size !== c) throw new ShapeError(`${kernel}: weight ${weight} must have ${c} elements (the channels of ${x})`);
    if (bias.size !== c) throw new ShapeError(`${kernel}: bias ${bias} must have ${c} elements (the channels of ${x})`);
  }
}

function output(kernel: string, gpu: Gpu, x: Tensor, out: Tensor | undefined): Tensor {
  const y = out ?? gpu.empty(x.shape, x.dtype, kernel);
  if (y.size !== x.size || y.dtype !== x.dtype) throw new ShapeError(`${kernel}: out ${y} does not match ${x}`);
  return y;
}

function pow2(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1 || (n & (n - 1)) !== 0) throw new ShapeError(`${what} must be a power of two, got ${n}`);
  return n;
}

/** Invocations the device needs in flight to be busy: the device profile's figure (src/runtime/profile.ts). */
export function busyInvocations(gpu: Gpu): number {
  return gpu.profile.busyInvocations;
}

/** The smallest power of two p with p * have >= want, capped at max (a power of two). */
function splitFor(want: number, have: number, max: number): number {
  let p = 1;
  while (p < max && p * have < want) p *= 2;
  return p;
}

/**
 * Invocations per row: enough to fill the device, while each keeps at least 8 vectors of its row, at most
 * 256. SAM 2's many short rows (4096 tokens × 256 or 384) get one or a few invocations each and many rows
 * per workgroup; few long rows (Hiera-L's 1152) get a wider reduction.
 */
export function layerNormThreadsPerRow(gpu: Gpu, rows: number, c: number): number {
  const units = c % 4 === 0 ? c / 4 : c;
  let cap = 1;
  while (cap < 256 && cap * 16 <= units) cap *= 2;
  return splitFor(busyInvocations(gpu), rows, cap);
}

/** Invocations splitting the channels of a pixel group in layerNorm2d, by the same rule (at most 64). */
export function layerNorm2dChannelSplit(gpu: Gpu, pixelGroups: number, c: number): number {
  let cap = 1;
  while (cap < 64 && cap * 16 <= c) cap *= 2;
  return splitFor(busyInvocations(gpu), pixelGroups, cap);
}

/** Records a norm.wgsl dispatch: x, then weight and bias when affine; the affine and activation defines from opts. */
function dispatchNorm(
  gpu: Gpu,
  kernel: string,
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  y: Tensor,
  opts: NormOptions,
  defines: Record<string, number>,
  params: Params,
  workgroups: [number, number],
): void {
  gpu.dispatch({
    variant: { kernel, file: 'norm.wgsl', mode: gpu.modeFor(x.dtype), defines: { ...defines, AFFINE: weight ? 1 : 0, ACT: opts.act === 'gelu' ? 1 : 0 } },
    inputs: weight && bias ? [x, weight, bias] : [x],
    outputs: [y],
    params,
    workgroups,
  });
}

/**
 * LayerNorm over the last dim. x [..., C] (any leading dims, row-major); weight, bias [C] or both null
 * (elementwise_affine=False); y [..., C], x's dtype (f32 or f16; weight and bias the same dtype).
 */
export function layerNorm(gpu: Gpu, x: Tensor, weight: Tensor | null, bias: Tensor | null, opts: NormOptions): Tensor {
  checkFloat('layerNorm', x);
  if (x.shape.length < 1) throw new ShapeError(`layerNorm: ${x} needs at least one dim`);
  const c = x.shape[x.shape.length - 1];
  if (c < 1) throw new ShapeError(`layerNorm: ${x} has an empty last dim`);
  checkAffine('layerNorm', x, c, weight, bias);
  const y = output('layerNorm', gpu, x, opts.out);
  const rows = x.size / c;
  const tpr = pow2(opts.threadsPerRow ?? layerNormThreadsPerRow(gpu, rows, c), 'layerNorm: threadsPerRow');
  if (tpr > 256) throw new ShapeError(`layerNorm: threadsPerRow ${tpr} > 256`);
  const wg = Math.max(64, tpr);
  const vec = c % 4 === 0 ? 4 : 1;
  const params = new Params().u32(rows, c, 1).f32(opts.eps);
  dispatchNorm(gpu, 'layerNorm', x, weight, bias, y, opts, { KIND: 0, VEC: vec, TPR: tpr, WG: wg }, params, gpu.grid(Math.ceil(rows / (wg / tpr))));
  return y;
}

/**
 * LayerNorm2d (sam2_utils.LayerNorm2d): x [N, C, H, W] normalized over C at every (n, h, w); weight, bias
 * [C] or both null; y [N, C, H, W], x's dtype.
 */
export function layerNorm2d(gpu: Gpu, x: Tensor, weight: Tensor | null, bias: Tensor | null, opts: NormOptions): Tensor {
  checkFloat('layerNorm2d', x);
  if (x.shape.length !== 4) throw new ShapeError(`layerNorm2d: ${x} must be [N, C, H, W]`);
  const [n, c, h, w] = x.shape;
  if (c < 1) throw new ShapeError(`layerNorm2d: ${x} has no channels`);
  checkAffine('layerNorm2d', x, c, weight, bias);
  const y = output('layerNorm2d', gpu, x, opts.out);
  const inner = h * w;
  const vec = inner % 4 === 0 ? 4 : 1;
  const groups = (n * inner) / vec;
  // The split (and so the summation order) is chosen per image: an image gives the same bits in any batch.
  const cs = pow2(opts.channelSplit ?? layerNorm2dChannelSplit(gpu, inner / vec, c), 'layerNorm2d: channelSplit');
  if (cs > 64) throw new ShapeError(`layerNorm2d: channelSplit ${cs} > 64`);
  const pxt = 64 / cs;
  const params = new Params().u32(n, c, inner).f32(opts.eps);
  dispatchNorm(gpu, 'layerNorm2d', x, weight, bias, y, opts, { KIND: 1, VEC: vec, PXT: pxt, CS: cs }, params, gpu.grid(Math.ceil(groups / pxt)));
  return y;
}
