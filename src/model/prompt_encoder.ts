/**
 * SAM's prompt encoder (sam2/modeling/sam/prompt_encoder.py, PromptEncoder) under its official prefix
 * `sam_prompt_encoder`:
 *
 *   pe_layer.positional_encoding_gaussian_matrix  [2, C/2]   random Fourier features (PositionEmbeddingRandom)
 *   point_embeddings.{0..3}.weight                [1, C]     label 0 negative, 1 positive, 2 / 3 box corners
 *   not_a_point_embed.weight                      [1, C]     label -1 (padding)
 *   mask_downscaling.{0,1,3,4,6}                             conv 2×2/2, LayerNorm2d, GELU, conv 2×2/2,
 *                                                            LayerNorm2d, GELU, conv 1×1
 *   no_mask_embed.weight                          [1, C]     the dense embedding without a mask prompt
 *
 * Sparse embeddings (points and boxes) are a few rows of sines and cosines: they are computed on the CPU in
 * PyTorch's f32 steps from host copies of the small tables above (read once, when the encoder is created)
 * and uploaded, [B, N, C]. The dense position encoding (get_dense_pe) depends only on the size: computed
 * once on the CPU and kept on the GPU. Mask prompts run the downscaling convolutions on the GPU.
 *
 * Coordinates are model-input pixels (x, y) of the `imageSize` × `imageSize` input, as the official
 * predictors pass them (after their own scaling).
 */
import { add } from '../kernels/binary.js';
import { ShapeError, Sam2Error } from '../runtime/errors.js';
import type { Tensor } from '../runtime/tensor.js';
import type { Sam2Config } from '../checkpoint/config.js';
import { cached, Conv2d, dtypeOf, LayerNorm2d, type ModelContext } from './layers.js';
import { randomFourierEncode, randomFourierGrid, randomFourierPoints } from './position_encoding.js';

const f = Math.fround;

/** A prompt the encoder cannot take: bad labels, coordinates, boxes or batch sizes. */
export class PromptError extends Sam2Error {}

/** Point labels of the official encoder: -1 padding, 0 negative, 1 positive, 2 / 3 top-left / bottom-right box corner. */
export const POINT_LABELS = [-1, 0, 1, 2, 3] as const;

/** Points of B prompts with N points each: coords [B, N, 2] (x, y) row-major, labels [B, N]. */
export interface PointPrompts {
  coords: ArrayLike<number>;
  labels: ArrayLike<number>;
  /** B (default 1); N = labels.length / B. */
  batch?: number;
}

export interface PromptEncoderInput {
  points?: PointPrompts | null;
  /** Boxes [B, 4] (x0, y0, x1, y1), embedded as two corner points after the points. */
  boxes?: ArrayLike<number> | null;
  /** Mask prompts [B, 1, 4h, 4w] (low-res logits), the weights' dtype. */
  masks?: Tensor | null;
}

export interface PromptEmbeddings {
  /** [B, N, C]: one row per point (plus one padding point when there are points but no boxes), then two per box. */
  sparse: Tensor;
  /** [B, C, h, w]: the downscaled mask prompt, or no_mask_embed at every position. */
  dense: Tensor;
}

export class PromptEncoder {
  /** C (transformer width). */
  readonly embedDim: number;
  /** (h, w) of the image embedding. */
  readonly imageEmbeddingSize: [number, number];
  /** (H, W) of the model input. */
  readonly inputImageSize: [number, number];
  /** (4h, 4w): the size of a mask prompt. */
  readonly maskInputSize: [number, number];
  private readonly downscaling: { conv0: Conv2d; ln1: LayerNorm2d; conv3: Conv2d; ln4: LayerNorm2d; conv6: Conv2d };
  private readonly noMaskEmbed: Tensor;
  /** get_dense_pe() in both layouts, made on first use. */
  private readonly densePe = new Map<'nchw' | 'tokens', Tensor>();

  private constructor(
    private readonly ctx: ModelContext,
    readonly prefix: string,
    cfg: Sam2Config,
    /** Host copies: the Gaussian matrix [2, C/2], point_embeddings [4][C], not_a_point [C], no_mask [C]. */
    private readonly host: { gaussian: Float32Array; point: Float32Array[]; notAPoint: Float32Array },
  ) {
    this.embedDim = cfg.hiddenDim;
    const h = cfg.imageSize / cfg.backboneStride;
    this.imageEmbeddingSize = [h, h];
    this.inputImageSize = [cfg.imageSize, cfg.imageSize];
    this.maskInputSize = [4 * h, 4 * h];
    const p = `${prefix}.mask_downscaling`;
    this.downscaling = {
      conv0: new Conv2d(ctx, `${p}.0`, { stride: 2 }),
      ln1: new LayerNorm2d(ctx, `${p}.1`),
      conv3: new Conv2d(ctx, `${p}.3`, { stride: 2 }),
      ln4: new LayerNorm2d(ctx, `${p}.4`),
      conv6: new Conv2d(ctx, `${p}.6`),
    };
    this.noMaskEmbed = ctx.weights.get(`${prefix}.no_mask_embed.weight`);
    const C = this.embedDim;
    if (host.gaussian.length !== C || this.noMaskEmbed.size !== C) {
      throw new ShapeError(`${prefix}: the Gaussian matrix and no_mask_embed must have ${C} values (hidden dim)`);
    }
  }

  /**
   * Binds the encoder to its weights. Reads the small tables the sparse embeddings are built from (about
   * 7·C values) back to the host once, here.
   */
  static async create(ctx: ModelContext, cfg: Sam2Config, prefix = 'sam_prompt_encoder'): Promise<PromptEncoder> {
    const w = ctx.weights;
    const read = (name: string) => ctx.gpu.read(w.get(name));
    const [gaussian, notAPoint, ...point] = await Promise.all([
      read(`${prefix}.pe_layer.positional_encoding_gaussian_matrix`),
      read(`${prefix}.not_a_point_embed.weight`),
      ...[0, 1, 2, 3].map((i) => read(`${prefix}.point_embeddings.${i}.weight`)),
    ]);
    return new PromptEncoder(ctx, prefix, cfg, { gaussian, point, notAPoint });
  }

  /**
   * get_dense_pe(): the random Fourier encoding of every image-embedding position, [1, C, h, w] (NCHW, as
   * the official). Computed once; owned by the encoder (do not release).
   */
  getDensePe(): Tensor {
    return cached(this.ctx, this.densePe, 'nchw', () => {
      const [h, w] = this.imageEmbeddingSize;
      const data = randomFourierGrid(this.host.gaussian, h, w);
      return this.ctx.gpu.upload(data, [1, this.embedDim, h, w], dtypeOf(this.ctx), `${this.prefix}.dense_pe`);
    });
  }

  /** The same encoding token-major, [1, h·w, C] (what the two-way transformer consumes). Owned by the encoder. */
  getDensePeTokens(): Tensor {
    return cached(this.ctx, this.densePe, 'tokens', () => {
      const [h, w] = this.imageEmbeddingSize;
      const coords = new Float32Array(h * w * 2);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          coords[2 * (y * w + x)] = f(f(x + 0.5) / w);
          coords[2 * (y * w + x) + 1] = f(f(y + 0.5) / h);
        }
      }
      const data = randomFourierEncode(coords, this.host.gaussian);
      return this.ctx.gpu.upload(data, [1, h * w, this.embedDim], dtypeOf(this.ctx), `${this.prefix}.dense_pe_tokens`);
    });
  }

  /** Batch size of a prompt set, as PromptEncoder._get_batch_size, after checking that its parts agree. */
  batchSize(input: PromptEncoderInput): number {
    const sizes: Array<[string, number]> = [];
    if (input.points) sizes.push(['points', pointBatch(input.points)]);
    if (input.boxes) {
      if (input.boxes.length % 4 !== 0 || input.boxes.length === 0) {
        throw new PromptError(`${this.prefix}: boxes must be [B, 4] (x0, y0, x1, y1), got ${input.boxes.length} values`);
      }
      sizes.push(['boxes', input.boxes.length / 4]);
    }
    if (input.masks) sizes.push(['masks', input.masks.shape[0]]);
    if (sizes.length === 0) return 1;
    for (const [what, b] of sizes) {
      if (b !== sizes[0][1]) throw new PromptError(`${this.prefix}: ${what} have batch ${b}, ${sizes[0][0]} have ${sizes[0][1]}`);
    }
    return sizes[0][1];
  }

  /**
   * The official forward(points, boxes, masks): sparse [B, N, C] and dense [B, C, h, w] embeddings, the
   * weights' dtype. The caller owns (and releases) both.
   */
  forward(input: PromptEncoderInput): PromptEmbeddings {
    const B = this.batchSize(input);
    const C = this.embedDim;
    const rows: Float32Array[] = [];
    let perPrompt = 0;
    if (input.points) {
      const pts = this.embedPoints(input.points, !input.boxes);
      rows.push(pts.data);
      perPrompt += pts.n;
    }
    if (input.boxes) {
      rows.push(this.embedBoxes(input.boxes));
      perPrompt += 2;
    }
    // Interleave per prompt: [points of b, boxes of b] for each b.
    const sparse = new Float32Array(B * perPrompt * C);
    let off = 0;
    for (let b = 0; b < B; b++) {
      for (const r of rows) {
        const per = r.length / B;
        sparse.set(r.subarray(b * per, (b + 1) * per), off);
        off += per;
      }
    }
    const dtype = dtypeOf(this.ctx);
    const sparseT = this.ctx.gpu.upload(sparse, [B, perPrompt, C], dtype, `${this.prefix}.sparse`);
    const dense = input.masks ? this.embedMasks(input.masks) : this.noMaskDense(B);
    return { sparse: sparseT, dense };
  }

  /** _embed_points: [B·N'·C] with N' = N (+1 padding point when `pad`), and N'. */
  private embedPoints(points: PointPrompts, pad: boolean): { data: Float32Array; n: number } {
    const B = pointBatch(points);
    const N = points.labels.length / B;
    if (points.coords.length !== 2 * B * N) {
      throw new PromptError(`${this.prefix}: point coords must be [B, N, 2] = [${B}, ${N}, 2], got ${points.coords.length} values`);
    }
    const n = N + (pad ? 1 : 0);
    const coords = new Float32Array(B * n * 2);
    const labels = new Int32Array(B * n);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < n; i++) {
        const o = b * n + i;
        if (i < N) {
          const x = points.coords[2 * (b * N + i)];
          const y = points.coords[2 * (b * N + i) + 1];
          const l = points.labels[b * N + i];
          if (!Number.isFinite(x) || !Number.isFinite(y)) {
            throw new PromptError(`${this.prefix}: point ${i} of prompt ${b} has a non-finite coordinate (${x}, ${y})`);
          }
          if (!POINT_LABELS.includes(l as (typeof POINT_LABELS)[number])) {
            throw new PromptError(`${this.prefix}: point ${i} of prompt ${b} has label ${l}; labels are -1 (padding), 0, 1, 2, 3`);
          }
          coords[2 * o] = f(x + 0.5); // shift to the pixel centre
          coords[2 * o + 1] = f(y + 0.5);
          labels[o] = l;
        } else {
          // The padding point at (0, 0): the official shift happens before the padding is appended.
          labels[o] = -1;
        }
      }
    }
    const [H, W] = this.inputImageSize;
    const pe = randomFourierPoints(coords, this.host.gaussian, H, W);
    const C = this.embedDim;
    for (let o = 0; o < B * n; o++) {
      const row = pe.subarray(o * C, (o + 1) * C);
      const l = labels[o];
      if (l === -1) row.set(this.host.notAPoint);
      else {
        const e = this.host.point[l];
        for (let c = 0; c < C; c++) row[c] = f(row[c] + e[c]);
      }
    }
    return { data: pe, n };
  }

  /** _embed_boxes: [B·2·C], corners embedded as points with point_embeddings 2 and 3 added. */
  private embedBoxes(boxes: ArrayLike<number>): Float32Array {
    const B = boxes.length / 4;
    const coords = new Float32Array(B * 4);
    for (let i = 0; i < B * 4; i++) {
      if (!Number.isFinite(boxes[i])) throw new PromptError(`${this.prefix}: box ${Math.floor(i / 4)} has a non-finite coordinate`);
      coords[i] = f(boxes[i] + 0.5);
    }
    const [H, W] = this.inputImageSize;
    const pe = randomFourierPoints(coords, this.host.gaussian, H, W);
    const C = this.embedDim;
    for (let o = 0; o < 2 * B; o++) {
      const e = this.host.point[2 + (o % 2)];
      for (let c = 0; c < C; c++) pe[o * C + c] = f(pe[o * C + c] + e[c]);
    }
    return pe;
  }

  /** _embed_masks: masks [B, 1, 4h, 4w] → [B, C, h, w]. */
  private embedMasks(masks: Tensor): Tensor {
    const [mh, mw] = this.maskInputSize;
    const s = masks.shape;
    if (s.length !== 4 || s[1] !== 1 || s[2] !== mh || s[3] !== mw) {
      throw new ShapeError(`${this.prefix}: mask prompt ${masks} must be [B, 1, ${mh}, ${mw}]`);
    }
    if (masks.dtype !== dtypeOf(this.ctx)) {
      throw new ShapeError(`${this.prefix}: mask prompt ${masks} must be ${dtypeOf(this.ctx)} (the weights' dtype)`);
    }
    const d = this.downscaling;
    return this.ctx.gpu.tidy(() => {
      const b = d.ln1.forward(d.conv0.forward(masks), { act: 'gelu' });
      return d.conv6.forward(d.ln4.forward(d.conv3.forward(b), { act: 'gelu' }));
    });
  }

  /** no_mask_embed at every position of B images: [B, C, h, w] (broadcast add onto zeros). */
  private noMaskDense(B: number): Tensor {
    const [h, w] = this.imageEmbeddingSize;
    const gpu = this.ctx.gpu;
    return gpu.tidy(() => {
      const zeros = gpu.upload(new Float32Array(B * h * w), [B, 1, h, w], dtypeOf(this.ctx), `${this.prefix}.zeros`);
      return add(gpu, this.noMaskEmbed.reshape([1, this.embedDim, 1, 1]), zeros);
    });
  }
}

function pointBatch(p: PointPrompts): number {
  const B = p.batch ?? 1;
  if (!Number.isInteger(B) || B < 1) throw new PromptError(`prompt encoder: point batch ${B} must be a positive integer`);
  if (p.labels.length % B !== 0) {
    throw new PromptError(`prompt encoder: ${p.labels.length} point labels do not split into ${B} prompts`);
  }
  return B;
}
