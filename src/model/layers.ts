/**
 * Building blocks shared by the SAM 2 modules, bound to their weights by official state-dict prefix (a
 * missing or misnamed weight fails at construction, not at inference):
 * Linear (nn.Linear), LayerNorm (nn.LayerNorm over the last dim), LayerNorm2d (sam2_utils.LayerNorm2d over
 * NCHW channels), Conv2d / ConvTranspose2d (NCHW), and MLP (sam2_utils.MLP).
 */
import { conv2d, conv2dPath, convTranspose2d, packConv2dWeight, type Conv2dOptions } from '../kernels/conv2d.js';
import { unary } from '../kernels/elementwise.js';
import { linear, type EpilogueOptions, type MatmulAct } from '../kernels/matmul.js';
import { layerNorm, layerNorm2d, layerNormThreadsPerRow } from '../kernels/norm.js';
import type { Gpu } from '../runtime/gpu.js';
import { dispose } from '../runtime/scope.js';
import type { Tensor } from '../runtime/tensor.js';
import type { WeightStore } from '../checkpoint/weights.js';

/** What every module needs: the GPU, the weights, and the activation dtype (the weights' dtype). */
export interface ModelContext {
  gpu: Gpu;
  weights: WeightStore;
  /**
   * What the modules built on this context derived from the weights (rearranged, cast) or cached (position
   * encodings, tables): kept out of every scope, freed together by releaseDerived().
   */
  derived?: Tensor[];
}

/** Keeps `t` as state of the modules of `ctx` (freed by releaseDerived(ctx)). Returns t. */
export function derive<T extends Tensor>(ctx: ModelContext, t: T): T {
  (ctx.derived ??= []).push(ctx.gpu.keep(t));
  return t;
}

/**
 * The tensor under `key` in a module's cache, made by `make` on first use (or after releaseDerived) and kept
 * as derived state of ctx.
 */
export function cached<K>(ctx: ModelContext, cache: Map<K, Tensor>, key: K, make: () => Tensor): Tensor {
  let t = cache.get(key);
  // A dry run's tensors hold no values (Gpu.dryRun): made for the run, never kept.
  if (ctx.gpu.dry && (!t || t.isReleased)) return make();
  if (!t || t.isReleased) {
    t = derive(ctx, make());
    cache.set(key, t);
  }
  return t;
}

/** Frees everything derive() kept for the modules of `ctx` (their weights belong to the WeightStore). */
export function releaseDerived(ctx: ModelContext): void {
  dispose(ctx.derived?.splice(0));
}

export function dtypeOf(ctx: ModelContext): 'f32' | 'f16' {
  return ctx.weights.dtype;
}

function optional(ctx: ModelContext, name: string): Tensor | undefined {
  return ctx.weights.has(name) ? ctx.weights.get(name) : undefined;
}

/** nn.Linear at `prefix` (prefix.weight [out, in], optional prefix.bias [out]). */
export class Linear {
  readonly weight: Tensor;
  readonly bias?: Tensor;
  constructor(
    private readonly ctx: ModelContext,
    readonly prefix: string,
  ) {
    this.weight = ctx.weights.get(`${prefix}.weight`);
    this.bias = optional(ctx, `${prefix}.bias`);
  }

  get inFeatures(): number {
    return this.weight.shape[1];
  }

  get outFeatures(): number {
    return this.weight.shape[0];
  }

  /** x [..., in] → [..., out]; epilogue: act(x Wᵀ + b) + residual. */
  forward(x: Tensor, opts: EpilogueOptions = {}): Tensor {
    return linear(this.ctx.gpu, x, this.weight, this.bias, { label: this.prefix, ...opts });
  }
}

/** A norm's affine parameters at `prefix` (prefix.weight, prefix.bias) and its epsilon. */
abstract class Norm {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(
    protected readonly ctx: ModelContext,
    readonly prefix: string,
    readonly eps: number,
  ) {
    this.weight = ctx.weights.get(`${prefix}.weight`);
    this.bias = ctx.weights.get(`${prefix}.bias`);
  }
}

/** nn.LayerNorm over the last dim at `prefix`. */
export class LayerNorm extends Norm {
  constructor(ctx: ModelContext, prefix: string, eps = 1e-5) {
    super(ctx, prefix, eps);
  }

  /**
   * x [..., C]; with three or more dims the first is a batch, and the reduction's split (and so its
   * summation order) is chosen per batch item, so an item gives the same bits in any batch.
   */
  forward(x: Tensor, opts: { act?: 'identity' | 'gelu'; out?: Tensor } = {}): Tensor {
    const c = x.shape[x.shape.length - 1];
    const rows = x.shape.length >= 3 ? x.size / c / x.shape[0] : x.size / c;
    const threadsPerRow = layerNormThreadsPerRow(this.ctx.gpu, rows, c);
    return layerNorm(this.ctx.gpu, x, this.weight, this.bias, { eps: this.eps, threadsPerRow, ...opts });
  }
}

/** sam2_utils.LayerNorm2d (eps 1e-6) over the channels of [N, C, H, W] at `prefix`. */
export class LayerNorm2d extends Norm {
  constructor(ctx: ModelContext, prefix: string, eps = 1e-6) {
    super(ctx, prefix, eps);
  }

  forward(x: Tensor, opts: { act?: 'identity' | 'gelu'; out?: Tensor } = {}): Tensor {
    return layerNorm2d(this.ctx.gpu, x, this.weight, this.bias, { eps: this.eps, ...opts });
  }
}

/**
 * nn.Conv2d at `prefix` on NCHW. Convolutions that take the direct path get their weight rearranged once,
 * at construction, instead of on every call.
 */
export class Conv2d {
  readonly weight: Tensor;
  readonly bias?: Tensor;
  private readonly packed?: Tensor;
  constructor(
    private readonly ctx: ModelContext,
    readonly prefix: string,
    readonly opts: Omit<Conv2dOptions, 'bias' | 'out' | 'act' | 'packedWeight'> = {},
  ) {
    this.weight = ctx.weights.get(`${prefix}.weight`);
    this.bias = optional(ctx, `${prefix}.bias`);
    // The path depends on the kernel geometry only, not on the input's size.
    if (conv2dPath([1, this.weight.shape[1] * (opts.groups ?? 1), 1, 1], this.weight.shape, opts) === 'direct' && this.weight.shape[0] % 4 === 0) {
      this.packed = derive(ctx, packConv2dWeight(ctx.gpu, this.weight));
    }
  }

  forward(x: Tensor, extra: Pick<Conv2dOptions, 'act' | 'out'> = {}): Tensor {
    return conv2d(this.ctx.gpu, x, this.weight, { ...this.opts, bias: this.bias ?? null, packedWeight: this.packed, ...extra });
  }
}

/** nn.ConvTranspose2d (kernel == stride) at `prefix` on NCHW. */
export class ConvTranspose2d {
  readonly weight: Tensor;
  readonly bias?: Tensor;
  constructor(
    private readonly ctx: ModelContext,
    readonly prefix: string,
    readonly stride = 2,
  ) {
    this.weight = ctx.weights.get(`${prefix}.weight`);
    this.bias = optional(ctx, `${prefix}.bias`);
  }

  forward(x: Tensor): Tensor {
    return convTranspose2d(this.ctx.gpu, x, this.weight, { stride: this.stride, bias: this.bias ?? null });
  }
}

/**
 * sam2_utils.MLP: `numLayers` linears at prefix.layers.{i}, the activation between them (ReLU by default;
 * Hiera's blocks use GELU), optionally a sigmoid on the output.
 */
export class MLP {
  readonly layers: Linear[];
  constructor(
    private readonly ctx: ModelContext,
    readonly prefix: string,
    numLayers: number,
    readonly act: MatmulAct = 'relu',
    readonly sigmoidOutput = false,
  ) {
    this.layers = Array.from({ length: numLayers }, (_, i) => new Linear(ctx, `${prefix}.layers.${i}`));
  }

  /** x [..., in] → [..., out]. */
  forward(x: Tensor, opts: { residual?: Tensor } = {}): Tensor {
    return this.ctx.gpu.tidy(() => {
      const n = this.layers.length;
      let h = x;
      for (let i = 0; i < n; i++) {
        const last = i === n - 1;
        h = this.layers[i].forward(h, last ? { residual: this.sigmoidOutput ? undefined : opts.residual } : { act: this.act });
      }
      return this.sigmoidOutput ? unary(this.ctx.gpu, h, 'sigmoid') : h;
    });
  }
}
