/**
 * The FPN neck of SAM 2's image encoder (FpnNeck in sam2/modeling/backbones/image_encoder.py): a 1×1
 * lateral convolution per trunk stage to d_model channels, top-down nearest-neighbour ×2 upsampling added in
 * at the configured levels, and a sine position encoding (PositionEmbeddingSine, position_encoding.py) per
 * level.
 *
 * Layout: the neck takes the trunk's token-major stages [B, H, W, C] and keeps them token-major: a 1×1
 * convolution over channels-last pixels is a linear over the last dim (the conv weight [d, C, 1, 1] read as
 * [d, C]), and the ×2 nearest upsample-and-add is one broadcast add ([B·h, 2, w, 2, d] + [B·h, 1, w, 1, d]).
 * Position encodings are functions of the level's size alone: computed on the CPU (position_encoding.ts),
 * uploaded once per size and cached.
 *
 * Weights under `image_encoder.neck`: convs.{k}.conv.{weight, bias}, k = 0 for the deepest stage.
 */
import { add } from '../kernels/binary.js';
import { linear } from '../kernels/matmul.js';
import { ShapeError } from '../runtime/errors.js';
import type { Tensor } from '../runtime/tensor.js';
import type { NeckConfig } from '../checkpoint/config.js';
import { cached, dtypeOf, type ModelContext } from './layers.js';
import { sinePositionEncoding } from './position_encoding.js';

export class FpnNeck {
  /** Lateral conv weights viewed as [d, C_k] and biases [d], k = 0 for the deepest stage. */
  private readonly convs: { weight: Tensor; bias: Tensor; prefix: string }[];
  private readonly posCache = new Map<string, Tensor>();

  constructor(
    private readonly ctx: ModelContext,
    readonly cfg: NeckConfig,
    readonly prefix = 'image_encoder.neck',
  ) {
    const d = cfg.dModel;
    this.convs = cfg.backboneChannelList.map((c, k) => {
      const p = `${prefix}.convs.${k}.conv`;
      const weight = ctx.weights.get(`${p}.weight`);
      const bias = ctx.weights.get(`${p}.bias`);
      const s = weight.shape;
      if (s.length !== 4 || s[0] !== d || s[1] !== c || s[2] !== 1 || s[3] !== 1) {
        throw new ShapeError(`${p}: weight ${weight} must be [${d}, ${c}, 1, 1]`);
      }
      return { weight: weight.reshape([d, c]), bias, prefix: p };
    });
  }

  /** Number of levels (trunk stages). */
  get levels(): number {
    return this.convs.length;
  }

  /**
   * xs: the trunk's stages, highest resolution first, [B, H_i, W_i, C_i] token-major (not released).
   * Returns out[i] = the neck's level i, [B, H_i, W_i, d] token-major, every level (scalp is the image
   * encoder's business), in the official order of computation: deepest level first, each level in
   * fpnTopDownLevels adding its deeper neighbour upsampled ×2 (nearest).
   */
  forward(xs: readonly Tensor[]): Tensor[] {
    const gpu = this.ctx.gpu;
    const n = this.convs.length - 1;
    if (xs.length !== this.convs.length) throw new ShapeError(`${this.prefix}: ${xs.length} inputs for ${this.convs.length} levels`);
    return gpu.tidy(() => {
      const d = this.cfg.dModel;
      const out: Tensor[] = new Array(xs.length);
      let prev: Tensor | null = null;
      for (let i = n; i >= 0; i--) {
        const x = xs[i];
        const conv = this.convs[n - i];
        if (x.shape.length !== 4 || x.shape[3] !== conv.weight.shape[1] || x.dtype !== dtypeOf(this.ctx)) {
          throw new ShapeError(`${this.prefix}: level ${i} input ${x} must be [B, H, W, ${conv.weight.shape[1]}]:${dtypeOf(this.ctx)}`);
        }
        const [B, H, W] = x.shape;
        const lateral = linear(gpu, x, conv.weight, conv.bias, { label: conv.prefix });
        if (this.cfg.fpnTopDownLevels.includes(i) && prev) {
          const [, h, w] = prev.shape;
          if (H !== 2 * h || W !== 2 * w) throw new ShapeError(`${this.prefix}: level ${i} ${x} is not twice level ${i + 1} ${prev}`);
          out[i] = add(gpu, lateral.reshape([B * h, 2, w, 2, d]), prev.reshape([B * h, 1, w, 1, d]), {
            out: gpu.empty([B, H, W, d], x.dtype, `${this.prefix}.out.${i}`),
          });
        } else {
          out[i] = lateral;
        }
        prev = out[i];
      }
      return out;
    });
  }

  /**
   * The sine position encoding of an H×W level, [1, d, H, W] (NCHW, as the official `pos` list) or
   * [1, H·W, d] ('tokens'), in the weights' dtype. Cached: owned by the neck, shared by every frame.
   */
  positionEncoding(H: number, W: number, layout: 'nchw' | 'tokens' = 'nchw'): Tensor {
    return cached(this.ctx, this.posCache, `${H}x${W}:${layout}`, () => {
      const d = this.cfg.dModel;
      const pe = sinePositionEncoding(d, H, W);
      let data = pe;
      if (layout === 'tokens') {
        data = new Float32Array(pe.length);
        for (let c = 0; c < d; c++) for (let p = 0; p < H * W; p++) data[p * d + c] = pe[c * H * W + p];
      }
      return this.ctx.gpu.upload(data, layout === 'nchw' ? [1, d, H, W] : [1, H * W, d], dtypeOf(this.ctx), `${this.prefix}.pos`);
    });
  }
}
