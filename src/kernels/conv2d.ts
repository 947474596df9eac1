/**
 * Convolutions (wgsl/conv2d.wgsl), PyTorch's F.conv2d / F.conv_transpose2d on NCHW tensors.
 *
 * conv2d(x, w, { stride, padding, dilation, groups, bias, act })
 *   x    [N, Cin, H, W]
 *   w    [Cout, Cin / groups, kh, kw]
 *   bias [Cout] (optional)
 *   y    [N, Cout, Ho, Wo], Ho = floor((H + 2·ph − dh·(kh − 1) − 1) / sh) + 1 (likewise Wo)
 *   y = act(conv(x, w) + bias), act ∈ none | relu | gelu (PyTorch's exact GELU).
 *
 * convTranspose2d(x, w, { stride, bias, act }) with kernel == stride, no padding (the mask decoder's 2×2
 * stride-2 upscaling):
 *   x    [N, Cin, H, W]
 *   w    [Cin, Cout, kh, kw] (PyTorch's ConvTranspose2d layout), kh = sh, kw = sw
 *   bias [Cout] (optional)
 *   y    [N, Cout, H·sh, W·sw], y[n, co, iy·sh + ky, ix·sw + kx] = act(bias[co] + Σ_ci x[n, ci, iy, ix] · w[ci, co, ky, kx])
 *
 * Paths: 1×1 stride-1 unpadded ungrouped convolutions run as a matmul over channels (per image,
 * y[n] = W[Cout, Cin] · x[n][Cin, H·W]); depthwise stride-1 convolutions (groups = Cin, e.g. the CXBlock's
 * 7×7) run a sliding-window kernel; everything else runs the direct implicit-GEMM kernel, or on CPU adapters
 * (where measured faster) im2col's column matrix [N, Cin·kh·kw, Ho·Wo] times the weight on the matmul kernel. The transposed
 * convolution is a matmul Wᵀ[Cout·kh·kw, Cin] · x[n][Cin, H·W] whose rows are scattered to their taps (the
 * conv kernel's GEMM, or on SwiftShader the matmul kernel followed by a scatter pass).
 *
 * The direct kernel reads its weight packed as [Cin/groups·kh·kw, Cout] (when Cout/groups % 4 == 0):
 * packConv2dWeight(w) makes it; pass it as `packedWeight` for a constant weight, otherwise conv2d packs
 * into a scratch tensor on every call.
 * All accumulate in f32; x, w, bias and y share one dtype (f32 or f16).
 */
import type { Gpu } from '../runtime/gpu.js';
import { ShapeError } from '../runtime/errors.js';
import { Params } from '../runtime/params.js';
import { shapeStr, type Tensor } from '../runtime/tensor.js';
import { checkFloat, unary } from './elementwise.js';
import { channelAffine } from './binary.js';
import { matmulStrided } from './matmul.js';
import { WG } from './workgroup.js';
/** The epilogue's activation: none, ReLU or PyTorch's exact GELU. */
export type ConvAct = 'none' | 'relu' | 'gelu';

const ACT_CODE: Record<ConvAct, number> = { none: 0, gelu: 1, relu: 2 };

/**
 * Register blocks, chosen on lavapipe (bench/entries/conv2d.ts). CPU drivers load every lane of a storage
 * read one by one, so the blocks are sized for FMAs per load: direct: up to 16 channels × 8 pixels;
 * depthwise: 8 pixels of a row; gemm: 8 rows × 8 pixels.
 */
const DIRECT_DPV = 2;
const DEPTHWISE_OX = 8;
const GEMM_MT = 8;
const GEMM_PXT = 8;
/** The largest column matrix the im2col route makes (elements): 32 Mi, 128 MiB in f32. */
const MAX_IM2COL_ELEMENTS = 1 << 25;

export type Pair = number | [number, number];

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  /** [Cout], same dtype as x. */
  bias?: Tensor | null;
  act?: ConvAct;
  /** Write here instead of a new tensor ([N, Cout, Ho, Wo], x's dtype; may not alias an input). */
  out?: Tensor;
  /**
   * 'auto' picks the fastest path; 'direct' forces the general kernel; for 1×1 convolutions 'gemm' forces the
   * conv kernel's GEMM and 'matmul' the matmul route; 'im2col' forces the im2col + matmul route of the other
   * ungrouped convolutions (tests and benchmarks).
   */
  impl?: 'auto' | 'direct' | 'gemm' | 'matmul' | 'im2col';
  /** The weight as packConv2dWeight made it, for the direct kernel (saves repacking on every call). */
  packedWeight?: Tensor;
}

export type Conv2dPath = 'gemm' | 'depthwise' | 'direct';

function pair(v: Pair | undefined, dflt: number): [number, number] {
  if (v === undefined) return [dflt, dflt];
  return typeof v === 'number' ? [v, v] : v;
}

function check4d(kernel: string, name: string, t: Tensor): void {
  if (t.shape.length !== 4) throw new ShapeError(`${kernel}: ${name} ${t} must be 4-D`);
}

/** x and the weight: 4-D, float, one dtype. */
function checkOperands(kernel: string, x: Tensor, w: Tensor): void {
  check4d(kernel, 'x', x);
  check4d(kernel, 'weight', w);
  checkFloat(kernel, x, w);
}

function checkBias(kernel: string, bias: Tensor | null | undefined, x: Tensor, cout: number): void {
  if (!bias) return;
  checkFloat(kernel, x, bias);
  if (bias.shape.length !== 1 || bias.shape[0] !== cout) throw new ShapeError(`${kernel}: bias ${bias} must be [${cout}]`);
}

function outTensor(gpu: Gpu, kernel: string, x: Tensor, shape: number[], out: Tensor | undefined): Tensor {
  if (!out) return gpu.empty(shape, x.dtype, kernel);
  if (out.dtype !== x.dtype || out.shape.length !== 4 || out.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`${kernel}: out ${out} must be ${shapeStr(shape)}:${x.dtype}`);
  }
  return out;
}

interface ConvGeometry {
  n: number; cin: number; h: number; w: number;
  cout: number; ho: number; wo: number; kh: number; kw: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
  groups: number;
}

function convParams(g: ConvGeometry, act: ConvAct = 'none'): Params {
  return new Params()
    .u32(g.n, g.cin, g.h, g.w)
    .u32(g.cout, g.ho, g.wo, g.kh)
    .u32(g.kw, g.sh, g.sw, g.ph)
    .u32(g.pw, g.dh, g.dw, g.cin / g.groups)
    .u32(g.cout / g.groups, ACT_CODE[act], 0, 0);
}

/** The tensors a conv2d.wgsl entry point reads; each is bound only where given (defines X, WT, BIAS). */
interface ConvBindings {
  x?: Tensor;
  wt?: Tensor;
  bias?: Tensor | null;
}

/** Records one conv2d.wgsl entry point: its bindings are x, wt, bias where given, then y. */
function dispatchConv(
  gpu: Gpu,
  kernel: string,
  entry: string,
  t: ConvBindings,
  y: Tensor,
  params: Params,
  workgroups: [number, number?, number?],
  defines: Record<string, number> = {},
  flops = 0,
): void {
  const inputs = [t.x, t.wt, t.bias].filter((v): v is Tensor => !!v);
  gpu.dispatch({
    variant: {
      kernel,
      file: 'conv2d.wgsl',
      entry,
      mode: gpu.modeFor(y.dtype),
      defines: { ...defines, WG, X: t.x ? 1 : 0, WT: t.wt ? 1 : 0, BIAS: t.bias ? 1 : 0 },
    },
    inputs,
    outputs: [y],
    params,
    workgroups,
    flops,
  });
}

/** The kernel conv2d runs for this geometry. */
export function conv2dPath(xShape: readonly number[], wShape: readonly number[], opts: Conv2dOptions = {}): Conv2dPath {
  if (opts.impl === 'direct') return 'direct';
  const [, cinG, kh, kw] = wShape;
  const [sh, sw] = pair(opts.stride, 1);
  const [ph, pw] = pair(opts.padding, 0);
  const [dh, dw] = pair(opts.dilation, 1);
  const groups = opts.groups ?? 1;
  if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && ph === 0 && pw === 0 && groups === 1) return 'gemm';
  if (cinG === 1 && groups > 1 && sh === 1 && sw === 1 && dh === 1 && dw === 1) return 'depthwise';
  return 'direct';
}

/**
 * Whether a 1×1 convolution over `pixels` pixels runs as the matmul kernel (plus a bias / activation pass)
 * instead of the conv kernel's GEMM: on SwiftShader always, on lavapipe up to 64² pixels (where the matmul
 * kernel's subgroup-shared loads win; larger maps favour the GEMM). GPUs keep the GEMM. Measurements:
 * src/kernels/README.md, "conv2d".
 */
function gemmByMatmul(gpu: Gpu, pixels: number): boolean {
  return gpu.profile.pointwiseConvByMatmul(pixels);
}

/**
 * y[n] = act(W[Cout, K] · b[n][K, Ho·Wo] + bias) with the matmul kernel, batched over the images, then a
 * bias / activation pass: b is x itself for a 1×1 convolution (K = Cin) or im2col's column matrix.
 */
function convByMatmul(
  gpu: Gpu,
  b: Tensor,
  w: Tensor,
  shape: [number, number, number, number],
  bias: Tensor | null,
  act: ConvAct,
  out: Tensor | undefined,
  label: string,
): Tensor {
  const [n, cout, ho, wo] = shape;
  const k = w.shape[1] * w.shape[2] * w.shape[3];
  const hw = ho * wo;
  const last = !bias && act === 'none';
  return gpu.tidy(() => {
    const prod = matmulStrided(
      gpu,
      { M: cout, N: hw, K: k, batch: [n], a: { tensor: w, ld: k, batchStrides: [0] }, b: { tensor: b, ld: hw, batchStrides: [k * hw] } },
      { out: last ? out?.reshape([n, cout, hw]) : undefined, label },
    );
    if (last) return out ?? prod.reshape(shape);
    let y = prod.reshape(shape);
    if (bias) y = channelAffine(gpu, y, null, bias, { dim: 1, out: act === 'none' ? out : undefined });
    if (act !== 'none') y = unary(gpu, y, act, { out });
    return y;
  });
}

/**
 * Whether a convolution of the direct path runs as im2col + the matmul kernel (plus a bias / activation
 * pass) instead: on SwiftShader always, on lavapipe from 16 input channels (with fewer, the column matrix
 * costs more than the direct kernel's loads), within the workgroup limit and MAX_IM2COL_ELEMENTS. GPUs keep
 * the direct kernel. Measurements: src/kernels/README.md, "conv2d".
 */
function directByMatmul(gpu: Gpu, g: ConvGeometry): boolean {
  if (g.groups !== 1 || !gpu.profile.directConvByMatmul(g.cin)) return false;
  const k = g.cin * g.kh * g.kw;
  return k <= gpu.info.limits.maxComputeWorkgroupsPerDimension && g.n * k * g.ho * g.wo <= MAX_IM2COL_ELEMENTS;
}

/** y = act(conv2d(x, w) + bias); see the module comment for layouts. */
export function conv2d(gpu: Gpu, x: Tensor, w: Tensor, opts: Conv2dOptions = {}): Tensor {
  const K = 'conv2d';
  checkOperands(K, x, w);
  const [n, cin, h, wd] = x.shape;
  const [cout, cinG, kh, kw] = w.shape;
  const [sh, sw] = pair(opts.stride, 1);
  const [ph, pw] = pair(opts.padding, 0);
  const [dh, dw] = pair(opts.dilation, 1);
  const groups = opts.groups ?? 1;
  for (const v of [sh, sw, dh, dw, groups, kh, kw]) {
    if (!Number.isInteger(v) || v < 1) throw new ShapeError(`${K}: stride, dilation, groups and kernel size must be positive integers`);
  }
  if (![ph, pw].every((v) => Number.isInteger(v) && v >= 0)) throw new ShapeError(`${K}: padding must be a non-negative integer`);
  if (cin % groups !== 0 || cout % groups !== 0) throw new ShapeError(`${K}: x ${x} and weight ${w}: channels not divisible by groups=${groups}`);
  if (cinG !== cin / groups) throw new ShapeError(`${K}: weight ${w} must have Cin/groups = ${cin / groups} input channels for x ${x}`);
  checkBias(K, opts.bias, x, cout);
  const ho = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const wo = Math.floor((wd + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  if (ho < 1 || wo < 1) throw new ShapeError(`${K}: x ${x} is smaller than the dilated kernel of weight ${w}`);
  const bias = opts.bias ?? null;
  const path = conv2dPath(x.shape, w.shape, opts);
  if (opts.packedWeight) checkPacked(K, opts.packedWeight, w); // whichever route runs
  if (path === 'gemm' && (opts.impl === 'matmul' || (opts.impl !== 'gemm' && gemmByMatmul(gpu, h * wd)))) {
    if (opts.out) outTensor(gpu, K, x, [n, cout, ho, wo], opts.out); // checks it
    return convByMatmul(gpu, x, w, [n, cout, ho, wo], bias, opts.act ?? 'none', opts.out, 'conv2d_1x1');
  }
  const g: ConvGeometry = { n, cin, h, w: wd, cout, ho, wo, kh, kw, sh, sw, ph, pw, dh, dw, groups };
  if (path === 'direct' && (opts.impl === 'im2col' || (opts.impl !== 'direct' && directByMatmul(gpu, g)))) {
    if (groups !== 1) throw new ShapeError(`${K}: the im2col route needs groups = 1 (weight ${w}, groups ${groups})`);
    if (opts.out) outTensor(gpu, K, x, [n, cout, ho, wo], opts.out); // checks it
    return gpu.tidy(() => {
      const col = gpu.empty([n, cin * kh * kw, ho * wo], x.dtype, 'conv2d_im2col');
      dispatchConv(gpu, 'conv2d_im2col', 'im2col', { x }, col, convParams(g), [Math.ceil(ho * wo / 4 / WG), cin * kh * kw, n]);
      return convByMatmul(gpu, col, w, [n, cout, ho, wo], bias, opts.act ?? 'none', opts.out, 'conv2d_gemm');
    });
  }
  const y = outTensor(gpu, K, x, [n, cout, ho, wo], opts.out);
  const params = convParams(g, opts.act);
  // Every output element sums Cin/G · kh · kw products.
  const flops = 2 * y.size * (w.size / cout);
  if (path === 'gemm') {
    const defines = { MT: GEMM_MT, PXT: GEMM_PXT, TRANSPOSE: 0, VEC_X: (h * wd) % 4 === 0 ? 1 : 0 };
    dispatchConv(gpu, 'conv2d_1x1', 'gemm', { x, wt: w, bias }, y, params, [Math.ceil(h * wd / GEMM_PXT / WG), Math.ceil(cout / GEMM_MT), n], defines, flops);
  } else if (path === 'depthwise') {
    const workgroups: [number, number] = [Math.ceil(ho * Math.ceil(wo / DEPTHWISE_OX) / WG), n * cout];
    dispatchConv(gpu, 'conv2d_depthwise', 'depthwise', { x, wt: w, bias }, y, params, workgroups, { OX: DEPTHWISE_OX }, flops);
  } else {
    // A channel block may not straddle two groups. Blocks of a multiple of 4 channels read packed weights.
    const coutG = cout / groups;
    const quadT = (groups === 1 ? cout >= 16 : coutG % 16 === 0) ? 16 : coutG % 4 === 0 || groups === 1 ? 4 : 0;
    const direct = (coT: number, wt: Tensor, packedW: boolean) =>
      dispatchConv(gpu, 'conv2d', 'direct', { x, wt, bias }, y, params, [Math.ceil(ho * wo / (4 * DIRECT_DPV) / WG), Math.ceil(cout / coT), n], {
        CO_T: coT,
        DPV: DIRECT_DPV,
        WPACK: packedW ? 1 : 0,
        VEC_W: packedW ? 1 : 0,
      }, flops);
    if (opts.packedWeight) {
      if (quadT === 0) throw new ShapeError(`${K}: packed weights need Cout/groups % 4 == 0 (weight ${w}, groups ${groups})`);
      direct(quadT, opts.packedWeight, true);
    } else if (cout % 4 === 0 && quadT > 0) {
      gpu.tidy(() => direct(quadT, packConv2dWeight(gpu, w), true));
    } else {
      direct(1, w, false);
    }
  }
  return y;
}

function checkPacked(kernel: string, p: Tensor, w: Tensor): void {
  const [cout, cinG, kh, kw] = w.shape;
  if (p.dtype !== w.dtype || p.shape.length !== 2 || p.shape[0] !== cinG * kh * kw || p.shape[1] !== cout) {
    throw new ShapeError(`${kernel}: packed weight ${p} must be [${cinG * kh * kw}, ${cout}]:${w.dtype} for weight ${w}`);
  }
}

/**
 * The weight of conv2d repacked for its direct kernel: w [Cout, Cin/G, kh, kw] → [Cin/G·kh·kw, Cout]
 * (each tap's output channels contiguous). Cout must be a multiple of 4. Pack a constant weight once and
 * pass it as `packedWeight` to skip the per-call repacking.
 */
export function packConv2dWeight(gpu: Gpu, w: Tensor, out?: Tensor): Tensor {
  const K = 'conv2d weight pack';
  check4d(K, 'weight', w);
  checkFloat(K, w);
  const [cout, cinG, kh, kw] = w.shape;
  if (cout % 4 !== 0) throw new ShapeError(`${K}: weight ${w} needs Cout % 4 == 0`);
  const kn = cinG * kh * kw;
  const p = out ?? gpu.empty([kn, cout], w.dtype, K);
  checkPacked(K, p, w);
  const g: ConvGeometry = { n: 1, cin: cinG, h: 1, w: 1, cout, ho: 1, wo: 1, kh, kw, sh: 1, sw: 1, ph: 0, pw: 0, dh: 1, dw: 1, groups: 1 };
  dispatchConv(gpu, 'conv2d_pack', 'pack_w', { wt: w }, p, convParams(g), gpu.grid(Math.ceil(kn * cout / 4 / WG)));
  return p;
}

export interface ConvTranspose2dOptions {
  /** Must equal the kernel size (default: the kernel size). */
  stride?: Pair;
  /** [Cout], same dtype as x. */
  bias?: Tensor | null;
  act?: ConvAct;
  /** Write here instead of a new tensor ([N, Cout, H·sh, W·sw], x's dtype; may not alias an input). */
  out?: Tensor;
  /**
   * 'auto' picks the fastest; 'gemm' forces the conv kernel's GEMM, 'matmul' the matmul kernel followed by a
   * pass that scatters the rows to their taps with the bias and activation (tests and benchmarks).
   */
  impl?: 'auto' | 'gemm' | 'matmul';
}

/** y = act(conv_transpose2d(x, w, stride = kernel) + bias); see the module comment for layouts. */
export function convTranspose2d(gpu: Gpu, x: Tensor, w: Tensor, opts: ConvTranspose2dOptions = {}): Tensor {
  const K = 'conv_transpose2d';
  checkOperands(K, x, w);
  const [n, cin, h, wd] = x.shape;
  const [cinW, cout, kh, kw] = w.shape;
  if (cinW !== cin) throw new ShapeError(`${K}: weight ${w} must be [Cin=${cin}, Cout, kh, kw] for x ${x}`);
  const [sh, sw] = pair(opts.stride, 0).map((s, i) => (s === 0 ? [kh, kw][i] : s));
  if (sh !== kh || sw !== kw || kh < 1 || kw < 1) {
    throw new ShapeError(`${K}: only kernel == stride is supported (weight ${w}, stride ${sh}×${sw})`);
  }
  checkBias(K, opts.bias, x, cout);
  const ho = h * sh;
  const wo = wd * sw;
  const y = outTensor(gpu, K, x, [n, cout, ho, wo], opts.out);
  const g: ConvGeometry = { n, cin, h, w: wd, cout, ho, wo, kh, kw, sh, sw, ph: 0, pw: 0, dh: 1, dw: 1, groups: 1 };
  const bias = opts.bias ?? null;
  const m = cout * kh * kw;
  // The matmul route on SwiftShader only: on lavapipe it is no faster, and GPUs keep the GEMM
  // (src/kernels/README.md, "conv2d").
  if (opts.impl === 'matmul' || (opts.impl !== 'gemm' && gpu.profile.transposedConvByMatmul())) {
    // y'[n] = Wᵀ[Cout·kh·kw, Cin] · x[n][Cin, H·W], then the taps pass.
    gpu.tidy(() => {
      const prod = matmulStrided(
        gpu,
        { M: m, N: h * wd, K: cin, batch: [n], a: { tensor: w, ld: m, trans: true, batchStrides: [0] }, b: { tensor: x, ld: h * wd, batchStrides: [cin * h * wd] } },
        { label: `${K}_gemm` },
      );
      dispatchConv(gpu, `${K}_taps`, 'taps', { x: prod, bias }, y, convParams(g, opts.act), [Math.ceil(wo / 4 / WG), ho, n * cout]);
    });
    return y;
  }
  const defines = { MT: GEMM_MT, PXT: GEMM_PXT, TRANSPOSE: 1, VEC_X: (h * wd) % 4 === 0 ? 1 : 0, VEC_W: m % 4 === 0 ? 1 : 0 };
  // Every output element sums Cin products.
  dispatchConv(gpu, K, 'gemm', { x, wt: w, bias }, y, convParams(g, opts.act), [Math.ceil(h * wd / GEMM_PXT / WG), Math.ceil(m / GEMM_MT), n], defines, 2 * y.size * cin);
  return y;
}
