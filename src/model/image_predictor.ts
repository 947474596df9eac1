/**
 * ImagePredictor: the official SAM2ImagePredictor (sam2/sam2_image_predictor.py) in camelCase. setImage()
 * encodes an image once and caches its features; predict() turns prompts in original-image pixels into
 * masks at the original resolution, IoU predictions and low-res logits, as many prompts per call as wanted.
 *
 *   using p = await ImagePredictor.load({ model: 'tiny', weights: 'weights/sam2.1_hiera_tiny.safetensors' });
 *   await p.setImage({ data: rgb, width, height });           // or ImageData / ImageBitmap
 *   const { masks, iouPredictions, lowResMasks } = await p.predict({ pointCoords: [[500, 375]], pointLabels: [1] });
 *
 * What runs where: the image predictor's transform (ToTensor, torchvision Resize((S, S)) antialiased,
 * Normalize) and the image encoder on the GPU (image_encoder.ts, preprocess.ts); the cached features are
 * the top-level tokens with no_mem_embed added (directly_add_no_mem_embed) and the two high-res levels.
 * predict(): prompts are checked and scaled on the CPU, embedded (prompt_encoder.ts) and decoded
 * (mask_decoder.ts) on the GPU; the low-res logits are upsampled to the original size on the GPU (bilinear,
 * align_corners=False, as SAM2Transforms.postprocess_masks), read back once and thresholded at
 * maskThreshold. Holes and sprinkles are not filled (the official defaults max_hole_area =
 * max_sprinkle_area = 0).
 *
 * Outputs are host arrays shaped like the official numpy outputs: the batch dim is dropped for one prompt.
 */
import { add } from '../kernels/binary.js';
import { permute } from '../kernels/layout.js';
import { resize } from '../kernels/resize.js';
import { DisposableResource } from '../runtime/dispose.js';
import { dispose } from '../runtime/scope.js';
import { DisposedError, Sam2Error, ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import { checkOptionKeys } from '../runtime/options.js';
import type { Tensor } from '../runtime/tensor.js';
import type { Sam2Config } from '../checkpoint/config.js';
import { ImageEncoder, type ImageFeatures } from './image_encoder.js';
import { dtypeOf, releaseDerived, type ModelContext } from './layers.js';
import { MaskDecoder, maskDecoderOptions } from './mask_decoder.js';
import { PromptEncoder, PromptError, POINT_LABELS } from './prompt_encoder.js';
import { loadModel, type ModelLoadOptions, type WeightStore } from '../checkpoint/weights.js';

export { PromptError } from './prompt_encoder.js';

export type Point = readonly [number, number];
export type Box = readonly [number, number, number, number];

/** A host array with its shape (row-major). */
export interface HostArray<T extends Float32Array | Uint8Array = Float32Array> {
  data: T;
  shape: number[];
}

/** Packed RGB (3) or RGBA (4, alpha ignored) bytes, row-major. */
export interface RgbImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** Bytes per pixel; inferred from the data length when absent. */
  channels?: 3 | 4;
}

export type ImageInput = RgbImage | ImageData | ImageBitmap;

/** Image features as SAM2ImagePredictor caches them, for setImageFeatures(). */
export interface CachedFeatures {
  /** The top-level features with no_mem_embed added: [1, C, h, w] (NCHW) or [1, h·w, C] (token-major). */
  imageEmbed: Tensor;
  /** [feat_s0 [1, C/8, 4h, 4w], feat_s1 [1, C/4, 2h, 2w]]. */
  highResFeats: readonly [Tensor, Tensor];
}

/** ImagePredictor.load(): the model, its weights and the GPU, as SAM2VideoPredictor.load() takes them. */
export interface ImagePredictorLoadOptions extends ModelLoadOptions {
  /** Logits above this are foreground (default 0). */
  maskThreshold?: number;
}

const LOAD_KEYS = Object.keys({
  model: 1, version: 1, weights: 1, dtype: 1, imageSize: 1, gpu: 1, profile: 1, maskThreshold: 1, onProgress: 1,
} satisfies Record<keyof ImagePredictorLoadOptions, 1>);

/** What load() made and dispose() frees (nothing for create(), whose caller owns the GPU and weights). */
interface Owned {
  weights?: WeightStore;
  gpu?: Gpu;
  synthetic?: boolean;
}

/** ImagePredictor.create(): modules bound to weights already on a GPU the caller keeps. */
export interface ImagePredictorOptions {
  gpu: Gpu;
  weights: WeightStore;
  config: Sam2Config;
  /** Logits above this are foreground (default 0). */
  maskThreshold?: number;
}

export interface PredictOptions {
  /** [N, 2] (x, y) for one prompt or [B, N, 2] for B prompts, in original-image pixels (see normalizeCoords). */
  pointCoords?: readonly Point[] | readonly (readonly Point[])[] | null;
  /** [N] or [B, N]: 1 foreground, 0 background (-1 padding, 2 / 3 box corners as the official encoder takes them). */
  pointLabels?: readonly number[] | readonly (readonly number[])[] | null;
  /** [x0, y0, x1, y1] or [B, 4]; with points, each prompt's box comes first, as the official. */
  box?: Box | readonly Box[] | null;
  /** Low-res logits of a previous call: shape [1, 4h, 4w] (one prompt) or [B, 1, 4h, 4w]. */
  maskInput?: HostArray | null;
  /** Three masks per prompt (default true), or one (with the dynamic fallback via stability). */
  multimaskOutput?: boolean;
  /** Return the upsampled logits instead of binary masks (default false). */
  returnLogits?: boolean;
  /** true (default): coordinates in original-image pixels; false: relative to the image size, in [0, 1]. */
  normalizeCoords?: boolean;
}

export interface PredictResult {
  /** [C, H, W] or [B, C, H, W] at the original resolution: 0 / 1 bytes, or logits with returnLogits. */
  masks: HostArray<Uint8Array> | HostArray<Float32Array>;
  /** [C] or [B, C]. */
  iouPredictions: HostArray;
  /** [C, 4h, 4w] or [B, C, 4h, 4w]: logits clamped to ±32, usable as a later maskInput. */
  lowResMasks: HostArray;
}

interface Cached {
  /** [1, HW, C] token-major, no_mem_embed added. */
  imageTokens: Tensor;
  highRes: readonly [Tensor, Tensor];
  /** What to free on reset (empty for caller-provided features). */
  owned: Array<Tensor | ImageFeatures>;
  embedNchw: Tensor | null;
}

export class ImagePredictor extends DisposableResource {
  readonly promptEncoder: PromptEncoder;
  readonly maskDecoder: MaskDecoder;
  private encoder: ImageEncoder | null = null;
  private cached: Cached | null = null;
  private origHW: [number, number] | null = null;
  private readonly threshold: number;
  private disposed = false;

  private constructor(
    opts: ImagePredictorOptions,
    /** The prompt encoder's and mask decoder's context (the image encoder has its own, freed by release()). */
    private readonly ctx: ModelContext,
    promptEncoder: PromptEncoder,
    readonly config: Sam2Config,
    private readonly owned: Owned,
  ) {
    super();
    this.threshold = opts.maskThreshold ?? 0;
    this.promptEncoder = promptEncoder;
    this.maskDecoder = new MaskDecoder(this.ctx, maskDecoderOptions(config));
  }

  // What the predictor was loaded with; fixed (getters: assigning one is a TypeError).

  /** The model's input size. */
  get imageSize(): number {
    return this.config.imageSize;
  }

  /** Logits above this are foreground. */
  get maskThreshold(): number {
    return this.threshold;
  }

  /** True when the model runs on synthetic weights (weights: 'synthetic'): its masks are meaningless. */
  get syntheticWeights(): boolean {
    return this.owned.synthetic ?? false;
  }

  /**
   * Loads a model for single images: the GPU (unless given) and the weights (checked against the official
   * config of `model` / `version`). dispose() frees what it made.
   */
  static async load(opts: ImagePredictorLoadOptions = {}): Promise<ImagePredictor> {
    checkOptionKeys('ImagePredictor.load', opts, LOAD_KEYS);
    return loadModel(opts, 'ImagePredictor.load', ({ config, gpu, weights, synthetic, ownsGpu }) =>
      ImagePredictor.assemble({ gpu, weights, config, maskThreshold: opts.maskThreshold }, { weights, gpu: ownsGpu ? gpu : undefined, synthetic }),
    );
  }

  /** Binds the prompt encoder and mask decoder; the image encoder is bound at the first setImage(). */
  static async create(opts: ImagePredictorOptions): Promise<ImagePredictor> {
    return ImagePredictor.assemble(opts, {});
  }

  private static async assemble(opts: ImagePredictorOptions, owned: Owned): Promise<ImagePredictor> {
    const ctx: ModelContext = { gpu: opts.gpu, weights: opts.weights };
    return new ImagePredictor(opts, ctx, await PromptEncoder.create(ctx, opts.config), opts.config, owned);
  }

  /**
   * Frees the cached features and the modules, and what load() made (weights, GPU). Runs once; the
   * predictor is unusable after (DisposedError).
   */
  dispose(): void {
    if (this.disposed) return;
    this.release();
    releaseDerived(this.ctx);
    this.disposed = true;
    this.owned.weights?.release();
    this.owned.gpu?.destroy();
  }

  /** `using p = await ImagePredictor.load(...)` disposes it at scope exit. */
  protected free(): void {
    this.dispose();
  }

  private check(what: string): void {
    if (this.disposed) throw new DisposedError(`${what}: this ImagePredictor was disposed`);
  }

  get isImageSet(): boolean {
    return this.cached !== null;
  }

  /** (H, W) of the image set last. */
  get origSize(): [number, number] | null {
    return this.origHW ? [...this.origHW] : null;
  }

  /** set_image(): the transform and the image encoder on the GPU; the features are cached for predict(). */
  async setImage(image: ImageInput): Promise<void> {
    this.check('setImage');
    const { data, width, height, channels } = await rgbBytes(image);
    this.resetPredictor();
    const enc = this.imageEncoder();
    this.cacheEncoded(enc.encodeRGB(data, width, height, { transform: 'image', channels }), [height, width]);
  }

  /**
   * set_image() from an image already transformed (the official SAM2Transforms output, [1, 3, S, S] or
   * [3, S, S] in the weights' dtype) and the original image's size. The input is not released.
   */
  setTransformedImage(input: Tensor, origHW: readonly [number, number]): void {
    this.check('setTransformedImage');
    checkSize(origHW);
    this.resetPredictor();
    this.cacheEncoded(this.imageEncoder().encode(input), [origHW[0], origHW[1]]);
  }

  /**
   * Features computed elsewhere, as SAM2ImagePredictor caches them. They stay the caller's: they must
   * outlive their use here and are not released by resetPredictor().
   */
  setImageFeatures(features: CachedFeatures, origHW: readonly [number, number]): void {
    this.check('setImageFeatures');
    checkSize(origHW);
    const C = this.promptEncoder.embedDim;
    const [h, w] = this.promptEncoder.imageEmbeddingSize;
    const e = features.imageEmbed;
    const nchw = e.shape.length === 4 && e.shape[0] === 1 && e.shape[1] === C && e.shape[2] === h && e.shape[3] === w;
    const tok = e.shape.length === 3 && e.shape[0] === 1 && e.shape[1] === h * w && e.shape[2] === C;
    if (!nchw && !tok) throw new ShapeError(`setImageFeatures: imageEmbed ${e} must be [1, ${C}, ${h}, ${w}] or [1, ${h * w}, ${C}]`);
    this.resetPredictor();
    const imageTokens = nchw ? permute(this.ctx.gpu, e, [0, 2, 3, 1]).reshape([1, h * w, C]) : e;
    const owned = nchw ? [imageTokens] : [];
    this.cached = { imageTokens, highRes: [features.highResFeats[0], features.highResFeats[1]], owned, embedNchw: null };
    this.origHW = [origHW[0], origHW[1]];
  }

  /** get_image_embedding(): [1, C, h, w] (NCHW), owned by the predictor until the next image. */
  getImageEmbedding(): Tensor {
    this.check('getImageEmbedding');
    const c = this.requireImage('getImageEmbedding');
    if (!c.embedNchw) {
      const [h, w] = this.promptEncoder.imageEmbeddingSize;
      c.embedNchw = permute(this.ctx.gpu, c.imageTokens.reshape([1, h, w, this.promptEncoder.embedDim]), [0, 3, 1, 2]);
      c.owned.push(c.embedNchw);
    }
    return c.embedNchw;
  }

  /** reset_predictor(): drops the cached features. */
  resetPredictor(): void {
    dispose(this.cached?.owned);
    this.cached = null;
    this.origHW = null;
  }

  /** Releases the cached features and the encoders' own tensors (the weights belong to their WeightStore). */
  release(): void {
    this.resetPredictor();
    this.encoder?.release();
    this.encoder = null;
  }

  /** predict(): see PredictOptions and PredictResult. */
  async predict(opts: PredictOptions = {}): Promise<PredictResult> {
    this.check('predict');
    const cached = this.requireImage('predict');
    const gpu = this.ctx.gpu;
    const [H, W] = this.origHW!;
    const prompts = this.prepPrompts(opts);
    const B = prompts.batch;
    const dtype = dtypeOf(this.ctx);
    const out = gpu.tidy(() => {
      const masks = prompts.mask ? gpu.upload(prompts.mask, [B, 1, ...this.promptEncoder.maskInputSize], dtype, 'mask_input') : null;
      const emb = this.promptEncoder.forward({ points: prompts.points, masks });
      const dec = this.maskDecoder.forward({
        imageEmbeddings: cached.imageTokens,
        imagePe: this.promptEncoder.getDensePeTokens(),
        sparse: emb.sparse,
        dense: emb.dense,
        multimaskOutput: opts.multimaskOutput ?? true,
        repeatImage: B > 1,
        highResFeatures: cached.highRes,
      });
      // postprocess_masks: bilinear upsampling of the (unclamped) low-res logits to the original size.
      const upsampled = resize(gpu, dec.masks, 'bilinear', { size: [H, W], alignCorners: false });
      return { upsampled, masks: dec.masks, iouPred: dec.iouPred };
    });
    const M = out.masks.shape[1];
    const [lh, lw] = [out.masks.shape[2], out.masks.shape[3]];
    let logits: Float32Array, low: Float32Array, iou: Float32Array;
    try {
      [logits, low, iou] = await Promise.all([gpu.read(out.upsampled), gpu.read(out.masks), gpu.read(out.iouPred)]);
    } finally {
      dispose(out);
    }
    for (let i = 0; i < low.length; i++) low[i] = Math.min(32, Math.max(-32, low[i]));
    const lead = B === 1 ? [] : [B];
    let maskData: Float32Array | Uint8Array = logits;
    if (!opts.returnLogits) {
      const bits = new Uint8Array(logits.length);
      const t = this.maskThreshold;
      for (let i = 0; i < logits.length; i++) bits[i] = logits[i] > t ? 1 : 0;
      maskData = bits;
    }
    return {
      masks: { data: maskData, shape: [...lead, M, H, W] } as PredictResult['masks'],
      iouPredictions: { data: iou, shape: [...lead, M] },
      lowResMasks: { data: low, shape: [...lead, M, lh, lw] },
    };
  }

  // ---------------------------------------------------------------------------------------------- internals

  private imageEncoder(): ImageEncoder {
    if (!this.encoder) {
      this.encoder = ImageEncoder.create({ gpu: this.ctx.gpu, weights: this.ctx.weights }, this.config);
      this.encoder.prepare();
    }
    return this.encoder;
  }

  private cacheEncoded(f: ImageFeatures, origHW: [number, number]): void {
    const noMem = this.ctx.weights.get('no_mem_embed'); // [1, 1, C]
    const imageTokens = add(this.ctx.gpu, f.visionTokens, noMem);
    const [s0, s1] = f.highRes;
    this.cached = { imageTokens, highRes: [s0, s1], owned: [imageTokens, f], embedNchw: null };
    this.origHW = origHW;
  }

  private requireImage(what: string): Cached {
    if (!this.cached) throw new Sam2Error(`${what}: an image must be set with setImage() before mask prediction`);
    return this.cached;
  }

  /**
   * _prep_prompts and the prompt assembly of _predict: coordinates scaled to the model input (x / W · S,
   * y / H · S in f32), boxes as corner points with labels 2, 3 placed before each prompt's points.
   */
  private prepPrompts(opts: PredictOptions): { batch: number; points: { coords: Float32Array; labels: Int32Array; batch: number } | null; mask: Float32Array | null } {
    const [H, W] = this.origHW!;
    const S = this.imageSize;
    const normalize = opts.normalizeCoords ?? true;
    const f = Math.fround;
    const scale = (x: number, y: number): [number, number] =>
      normalize ? [f(f(x / W) * S), f(f(y / H) * S)] : [f(x * S), f(y * S)];
    const [xMax, yMax] = normalize ? [W, H] : [1, 1];
    const inside = (x: number, y: number) => Number.isFinite(x) && Number.isFinite(y) && x >= 0 && y >= 0 && x <= xMax && y <= yMax;
    const where = normalize ? `the ${W}×${H} image` : 'the unit square (normalizeCoords: false)';

    // Points: [N, 2] or [B, N, 2]
    let pts: Point[][] | null = null;
    let labs: number[][] | null = null;
    if (opts.pointCoords != null) {
      if (opts.pointLabels == null) throw new PromptError('predict: pointLabels must be given with pointCoords');
      const pc = opts.pointCoords as unknown[];
      const batched = pc.length > 0 && Array.isArray((pc[0] as unknown[])[0]);
      pts = (batched ? pc : [pc]) as Point[][];
      labs = (batched ? opts.pointLabels : [opts.pointLabels]) as number[][];
      if (labs.length !== pts.length || pts.some((p, b) => !Array.isArray(labs![b]) || p.length !== labs![b].length)) {
        throw new PromptError(`predict: pointLabels must have the shape of pointCoords without the last dim (${pts.length} prompts)`);
      }
      const n = pts[0].length;
      if (n === 0) throw new PromptError('predict: pointCoords is empty');
      pts.forEach((p, b) => {
        if (p.length !== n) throw new PromptError(`predict: every prompt needs the same number of points (${n}); prompt ${b} has ${p.length}`);
        p.forEach((xy, i) => {
          if (!Array.isArray(xy) || xy.length !== 2) throw new PromptError(`predict: point ${i} of prompt ${b} must be [x, y]`);
          if (!inside(xy[0], xy[1])) throw new PromptError(`predict: point (${xy[0]}, ${xy[1]}) is outside ${where}`);
          const l = labs![b][i];
          if (!POINT_LABELS.includes(l as (typeof POINT_LABELS)[number])) {
            throw new PromptError(`predict: point label ${l} is not one of -1 (padding), 0 (background), 1 (foreground), 2, 3 (box corners)`);
          }
        });
      });
    } else if (opts.pointLabels != null) {
      throw new PromptError('predict: pointLabels given without pointCoords');
    }

    // Boxes: [4] or [B, 4]
    let boxes: Box[] | null = null;
    if (opts.box != null) {
      const bx = opts.box as unknown[];
      boxes = (Array.isArray(bx[0]) ? bx : [bx]) as Box[];
      if (boxes.length === 0) throw new PromptError('predict: box is empty');
      boxes.forEach((b, i) => {
        if (!Array.isArray(b) || b.length !== 4) throw new PromptError(`predict: box ${i} must be [x0, y0, x1, y1]`);
        const [x0, y0, x1, y1] = b;
        if (!inside(x0, y0) || !inside(x1, y1)) throw new PromptError(`predict: box [${b.join(', ')}] is not inside ${where}`);
        if (x1 < x0 || y1 < y0) throw new PromptError(`predict: box [${b.join(', ')}] has x1 < x0 or y1 < y0 (expected [x0, y0, x1, y1])`);
      });
    }

    // Mask input: [1, 4h, 4w] or [B, 1, 4h, 4w]
    let mask: Float32Array | null = null;
    let maskBatch = 0;
    if (opts.maskInput != null) {
      const [mh, mw] = this.promptEncoder.maskInputSize;
      const s = opts.maskInput.shape;
      const ok = (s.length === 3 && s[0] === 1 && s[1] === mh && s[2] === mw) || (s.length === 4 && s[1] === 1 && s[2] === mh && s[3] === mw);
      if (!ok || opts.maskInput.data.length !== s.reduce((a, b) => a * b, 1)) {
        throw new PromptError(`predict: maskInput must be [1, ${mh}, ${mw}] or [B, 1, ${mh}, ${mw}] (low-res logits), got [${s.join(', ')}] with ${opts.maskInput.data.length} values`);
      }
      mask = opts.maskInput.data;
      maskBatch = s.length === 3 ? 1 : s[0];
    }

    if (!pts && !boxes && !mask) throw new PromptError('predict: no prompt (give pointCoords and pointLabels, a box, or a maskInput)');
    const sizes = [pts?.length, boxes?.length, mask ? maskBatch : undefined].filter((x): x is number => x !== undefined);
    const batch = sizes[0];
    if (sizes.some((x) => x !== batch)) {
      throw new PromptError(`predict: points, boxes and masks must describe the same number of prompts (got ${sizes.join(', ')})`);
    }

    let points: { coords: Float32Array; labels: Int32Array; batch: number } | null = null;
    if (pts || boxes) {
      const nb = boxes ? 2 : 0;
      const np = pts ? pts[0].length : 0;
      const n = nb + np;
      const coords = new Float32Array(batch * n * 2);
      const labels = new Int32Array(batch * n);
      for (let b = 0; b < batch; b++) {
        let o = b * n;
        if (boxes) {
          const [x0, y0, x1, y1] = boxes[b];
          [coords[2 * o], coords[2 * o + 1]] = scale(x0, y0);
          labels[o++] = 2;
          [coords[2 * o], coords[2 * o + 1]] = scale(x1, y1);
          labels[o++] = 3;
        }
        for (let i = 0; i < np; i++, o++) {
          const [x, y] = pts![b][i];
          [coords[2 * o], coords[2 * o + 1]] = scale(x, y);
          labels[o] = labs![b][i];
        }
      }
      points = { coords, labels, batch };
    }
    return { batch, points, mask };
  }
}

function checkSize(hw: readonly [number, number]): void {
  if (!Array.isArray(hw) || hw.length !== 2 || !hw.every((v) => Number.isInteger(v) && v > 0)) {
    throw new ShapeError(`image size [${String(hw)}] must be two positive integers [H, W]`);
  }
}

/** RGB(A) bytes of any accepted image input. */
async function rgbBytes(image: ImageInput): Promise<{ data: Uint8Array; width: number; height: number; channels: 3 | 4 }> {
  if (typeof ImageBitmap !== 'undefined' && image instanceof ImageBitmap) {
    const canvas = new OffscreenCanvas(image.width, image.height);
    const c2d = canvas.getContext('2d');
    if (!c2d) throw new Sam2Error('setImage: no 2D canvas context to read the ImageBitmap');
    c2d.drawImage(image, 0, 0);
    return rgbBytes(c2d.getImageData(0, 0, image.width, image.height));
  }
  const img = image as RgbImage;
  if (!img || !img.data || typeof img.width !== 'number' || typeof img.height !== 'number') {
    throw new ShapeError('setImage: expected ImageData, an ImageBitmap, or { data, width, height, channels? } RGB(A) bytes');
  }
  const { width, height } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ShapeError(`setImage: bad image size ${width}×${height}`);
  }
  const channels = img.channels ?? (img.data.length === width * height * 4 ? 4 : 3);
  if (channels !== 3 && channels !== 4) throw new ShapeError(`setImage: channels must be 3 (RGB) or 4 (RGBA), got ${channels}`);
  if (img.data.length !== width * height * channels) {
    throw new ShapeError(`setImage: ${img.data.length} bytes for a ${width}×${height} image with ${channels} channels`);
  }
  const d = img.data;
  const data = d instanceof Uint8Array ? d : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  return { data, width, height, channels };
}
