/**
 * SAM 2's image encoder (ImageEncoder in sam2/modeling/backbones/image_encoder.py: Hiera trunk + FPN neck,
 * `scalp` lowest-resolution levels dropped) together with what SAM2Base.forward_image adds on top: the mask
 * decoder's high-resolution projections conv_s0 / conv_s1 of the two highest-resolution levels. One call,
 * `encode(image)`, returns everything later stages consume (ImageFeatures), in the layouts they want.
 *
 * Weights: `image_encoder.trunk.*`, `image_encoder.neck.*`, `sam_mask_decoder.conv_s0.*`,
 * `sam_mask_decoder.conv_s1.*` (official state-dict names).
 */
import { linear } from '../kernels/matmul.js';
import { permute } from '../kernels/layout.js';
import { ShapeError } from '../runtime/errors.js';
import { dispose, heldTensors, type HoldsTensors } from '../runtime/scope.js';
import type { Tensor } from '../runtime/tensor.js';
import type { Sam2Config } from '../checkpoint/config.js';
import { FpnNeck } from './fpn_neck.js';
import { Hiera, type HieraOptions, type Tap } from './hiera.js';
import { dtypeOf, releaseDerived, type ModelContext } from './layers.js';
import { preprocess, type PreprocessOptions, type PreprocessTransform } from './preprocess.js';

export type { Tap } from './hiera.js';

/**
 * The encoder's output for a batch of B images of side S (B = 1 for video frames), d = 256:
 *
 * | field | shape | layout | official |
 * |---|---|---|---|
 * | visionFeatures | [B, d, S/16, S/16] | NCHW | backbone_out["vision_features"] |
 * | visionTokens | [B, (S/16)², d] | token-major, pixels row-major | vision_feats[-1] of _prepare_backbone_features ([HW, B, d] there) |
 * | visionPosEnc | [1, d, S/16, S/16] | NCHW | vision_pos_enc[-1] |
 * | visionPosTokens | [1, (S/16)², d] | token-major | vision_pos_embeds[-1] of _prepare_backbone_features |
 * | highRes[0] | [B, 32, S/4, S/4] | NCHW | backbone_fpn[0] after forward_image (conv_s0) |
 * | highRes[1] | [B, 64, S/8, S/8] | NCHW | backbone_fpn[1] after forward_image (conv_s1) |
 * | backboneFpn | [...highRes, visionFeatures] | NCHW | backbone_fpn after forward_image |
 *
 * featSizes are the [H, W] of backboneFpn's levels. The position encodings belong to the encoder (the same
 * tensors for every frame); everything else belongs to this object: release() frees it (never release the
 * fields one by one).
 */
export class ImageFeatures implements HoldsTensors {
  constructor(
    readonly visionFeatures: Tensor,
    readonly visionTokens: Tensor,
    readonly visionPosEnc: Tensor,
    readonly visionPosTokens: Tensor,
    readonly highRes: readonly Tensor[],
    readonly featSizes: readonly (readonly [number, number])[],
    private readonly owned: readonly Tensor[],
  ) {}

  get backboneFpn(): Tensor[] {
    return [...this.highRes, this.visionFeatures];
  }

  [heldTensors](): readonly Tensor[] {
    return this.owned;
  }

  release(): void {
    dispose(this.owned);
  }
}

export interface EncodeOptions {
  /**
   * Receives intermediates (to copy what it keeps, e.g. with layout.cast): 'image_encoder.trunk.patch_embed'
   * and 'image_encoder.trunk.blocks.{i}' ([B, H, W, C] token-major), 'image_encoder.neck.out.{k}'
   * ([B, H, W, d] token-major, every level before the scalp).
   */
  tap?: Tap;
}

export type ImageEncoderOptions = HieraOptions;

export class ImageEncoder {
  readonly trunk: Hiera;
  readonly neck: FpnNeck;
  readonly imageSize: number;
  /** [H, W] of the kept levels, highest resolution first. */
  readonly featSizes: readonly (readonly [number, number])[];
  private readonly highResConvs: { weight: Tensor; bias: Tensor; prefix: string }[] = [];

  private constructor(
    private readonly ctx: ModelContext,
    readonly config: Sam2Config,
    opts: ImageEncoderOptions,
  ) {
    this.imageSize = config.imageSize;
    this.trunk = new Hiera(ctx, config.hiera, config.imageSize, 'image_encoder.trunk', opts);
    this.neck = new FpnNeck(ctx, config.neck);
    const trunkList = [...this.trunk.channels].reverse();
    if (trunkList.join() !== config.neck.backboneChannelList.join()) {
      throw new ShapeError(`image encoder: trunk channels [${trunkList}] do not match the neck's [${config.neck.backboneChannelList}]`);
    }
    const kept = this.trunk.channels.length - config.neck.scalp;
    this.featSizes = Array.from({ length: kept }, (_, i) => {
      const s = this.imageSize / (4 << i);
      return [s, s] as const;
    });
    if (config.useHighResFeaturesInSam) {
      const d = config.neck.dModel;
      ['conv_s0', 'conv_s1'].forEach((name, i) => {
        const prefix = `sam_mask_decoder.${name}`;
        const weight = ctx.weights.get(`${prefix}.weight`);
        const bias = ctx.weights.get(`${prefix}.bias`);
        const out = d / (8 >> i);
        if (weight.shape.join() !== [out, d, 1, 1].join()) throw new ShapeError(`${prefix}: weight ${weight} must be [${out}, ${d}, 1, 1]`);
        this.highResConvs.push({ weight: weight.reshape([out, d]), bias, prefix });
      });
    }
  }

  /** The encoder for a config (weights in ctx.weights, activations in their dtype). Nothing runs yet. */
  static create(ctx: ModelContext, config: Sam2Config, opts: ImageEncoderOptions = {}): ImageEncoder {
    return new ImageEncoder(ctx, config, opts);
  }

  /** Runs what depends only on the weights and the image size (the trunk's position embedding, the neck's position encodings). */
  prepare(): void {
    this.trunk.posEmbed();
    const [h, w] = this.featSizes[this.featSizes.length - 1];
    this.neck.positionEncoding(h, w, 'nchw');
    this.neck.positionEncoding(h, w, 'tokens');
  }

  /**
   * image [1, 3, S, S] or [3, S, S] (also [B, 3, S, S]), normalized, in the weights' dtype → ImageFeatures.
   * The image is not released.
   */
  encode(image: Tensor, opts: EncodeOptions = {}): ImageFeatures {
    const gpu = this.ctx.gpu;
    const S = this.imageSize;
    const x = image.shape.length === 3 ? image.reshape([1, ...image.shape]) : image;
    if (x.shape.length !== 4 || x.shape[1] !== 3 || x.shape[2] !== S || x.shape[3] !== S) {
      throw new ShapeError(`image encoder: image ${image} must be [1, 3, ${S}, ${S}]`);
    }
    if (x.dtype !== dtypeOf(this.ctx)) throw new ShapeError(`image encoder: image ${image} must be ${dtypeOf(this.ctx)} (the weights' dtype)`);
    const B = x.shape[0];
    const d = this.config.neck.dModel;
    const kept = this.featSizes.length;
    const [h, w] = this.featSizes[kept - 1];
    // The tap's copies belong to its caller, not to this scope.
    const tap = opts.tap && ((name: string, t: Tensor) => gpu.untracked(() => opts.tap!(name, t)));
    const { last, visionFeatures, highRes } = gpu.tidy(() => {
      const stages = this.trunk.forward(x, tap ? (name, t) => tap(`image_encoder.trunk.${name}`, t) : undefined);
      const levels = this.neck.forward(stages);
      levels.forEach((t, k) => tap?.(`image_encoder.neck.out.${k}`, t));
      // scalp: the lowest-resolution levels only fed the top-down path.
      const last = levels[kept - 1];
      const highRes = levels.slice(0, kept - 1).map((lv, k) => {
        const conv = this.highResConvs[k];
        // 1×1 convolution over channels-last pixels, then to NCHW.
        const y = conv ? linear(gpu, lv, conv.weight, conv.bias, { label: conv.prefix }) : lv;
        const t = permute(gpu, y, [0, 3, 1, 2]);
        const [H, W] = this.featSizes[k];
        if (t.shape[2] !== H || t.shape[3] !== W) throw new ShapeError(`image encoder: level ${k} is ${t}, expected ${H}×${W}`);
        return t;
      });
      return { last, visionFeatures: permute(gpu, last, [0, 3, 1, 2]), highRes };
    });
    return new ImageFeatures(
      visionFeatures,
      last.reshape([B, h * w, d]),
      this.neck.positionEncoding(h, w, 'nchw'),
      this.neck.positionEncoding(h, w, 'tokens'),
      highRes,
      this.featSizes,
      [visionFeatures, last, ...highRes],
    );
  }

  /**
   * A frame from RGB(A) bytes [height, width, channels]: preprocessed on the GPU the video loader's way
   * ('video', default) or the image predictor's ('image'), then encoded.
   */
  encodeRGB(
    pixels: Uint8Array,
    width: number,
    height: number,
    opts: PreprocessOptions & EncodeOptions & { transform?: PreprocessTransform } = {},
  ): ImageFeatures {
    return this.ctx.gpu.tidy(() => {
      const x = preprocess(this.ctx.gpu, opts.transform ?? 'video', pixels, width, height, this.imageSize, {
        ...opts,
        dtype: dtypeOf(this.ctx),
      });
      return this.encode(x, opts);
    });
  }

  /** The sine position encoding of kept level k ([1, d, H, W] NCHW or [1, H·W, d] tokens); cached, encoder-owned. */
  positionEncoding(level: number, layout: 'nchw' | 'tokens' = 'nchw'): Tensor {
    const s = this.featSizes[level];
    if (!s) throw new ShapeError(`image encoder: no level ${level} (${this.featSizes.length} kept)`);
    return this.neck.positionEncoding(s[0], s[1], layout);
  }

  /**
   * Frees what the modules built on this encoder's context derived and cached (the trunk's position
   * embedding, the neck's encodings; the weights belong to their WeightStore).
   */
  release(): void {
    releaseDerived(this.ctx);
  }
}
