/**
 * Frame preprocessing on the GPU: RGB(A) bytes → the image encoder's input [3, S, S] (normalized with the
 * ImageNet mean / std), the two ways the official code does it:
 *
 * - 'video' (sam2/utils/misc.py, load_video_frames → _load_img_as_tensor): PIL `Image.resize((S, S))`
 *   (bicubic, on the 8-bit image, bit-exact here), then x / 255, then (x - mean) / std;
 * - 'image' (sam2/utils/transforms.py, SAM2Transforms used by SAM2ImagePredictor): ToTensor (x / 255 as
 *   floats), torchvision Resize((S, S)) on the float tensor (bilinear with antialiasing, align_corners
 *   False), then Normalize.
 *
 * Pixels are row-major, `channels` bytes per pixel (3: RGB, 4: RGBA with the alpha ignored).
 */
import { cast } from '../kernels/layout.js';
import { matmul } from '../kernels/matmul.js';
import { pilResizeNormalize, uploadPixels } from '../kernels/pil_resize.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../kernels/pil_resize.ref.js';
import { ShapeError } from '../runtime/errors.js';
import type { Gpu } from '../runtime/gpu.js';
import type { Tensor } from '../runtime/tensor.js';

export type PreprocessTransform = 'video' | 'image';

export interface PreprocessOptions {
  /** Bytes per pixel: 3 (RGB, default) or 4 (RGBA). */
  channels?: 3 | 4;
  /** Output dtype (default f32); the encoder wants its weights' dtype. */
  dtype?: 'f32' | 'f16';
  mean?: readonly number[];
  std?: readonly number[];
}

function checkPixels(what: string, pixels: Uint8Array, width: number, height: number, channels: number, size: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ShapeError(`${what}: bad image size ${width}×${height}`);
  }
  if (channels !== 3 && channels !== 4) throw new ShapeError(`${what}: channels must be 3 or 4, got ${channels}`);
  if (pixels.byteLength !== width * height * channels) {
    throw new ShapeError(`${what}: ${pixels.byteLength} bytes for a ${width}×${height} image with ${channels} channels`);
  }
  if (!Number.isInteger(size) || size < 1) throw new ShapeError(`${what}: bad output size ${size}`);
}

/**
 * The official video loader's preprocessing of one frame: bytes [height, width, channels] → [3, size, size]
 * (NCHW without the batch dim), exactly as the official f32 input (bit for bit in f32).
 */
export function preprocessVideoFrame(
  gpu: Gpu,
  pixels: Uint8Array,
  width: number,
  height: number,
  size: number,
  opts: PreprocessOptions = {},
): Tensor {
  const channels = opts.channels ?? 3;
  checkPixels('preprocessVideoFrame', pixels, width, height, channels, size);
  const px = uploadPixels(gpu, pixels, 'frame pixels');
  const y = pilResizeNormalize(gpu, px, width, height, channels, size, size, { dtype: opts.dtype ?? 'f32', mean: opts.mean, std: opts.std });
  px.release();
  return y;
}

/**
 * The image predictor's preprocessing (SAM2Transforms): bytes [height, width, channels] → [3, size, size].
 *
 * Normalization is affine per channel and the antialiased bilinear weights of each output pixel sum to 1, so
 * normalizing first (the exact byte table of the video path, at the source size) and resizing second gives
 * the official values up to f32 rounding. The resize runs as two products with the separable interpolation
 * matrices ([3·H, W] @ [W, S], then [S, H] @ [3, H, S]), skipped along an axis whose size does not change
 * (PyTorch leaves such an axis untouched).
 */
export function preprocessImage(
  gpu: Gpu,
  pixels: Uint8Array,
  width: number,
  height: number,
  size: number,
  opts: PreprocessOptions = {},
): Tensor {
  const channels = opts.channels ?? 3;
  checkPixels('preprocessImage', pixels, width, height, channels, size);
  const px = uploadPixels(gpu, pixels, 'image pixels');
  // Identity Pillow resize (all taps but the centre are zero) + the normalization table: (v / 255 - mean) / std.
  let x = pilResizeNormalize(gpu, px, width, height, channels, width, height, {
    dtype: 'f32',
    mean: opts.mean ?? IMAGENET_MEAN,
    std: opts.std ?? IMAGENET_STD,
  });
  px.release();
  if (width !== size) {
    const rxT = gpu.upload(antialiasBilinearMatrix(width, size, true), [width, size], 'f32', 'resize x');
    const t = matmul(gpu, x.reshape([3 * height, width]), rxT, { label: 'preprocessImage.resize', out: gpu.empty([3, height, size], 'f32', 'image') });
    rxT.release();
    x.release();
    x = t;
  }
  if (height !== size) {
    const ry = gpu.upload(antialiasBilinearMatrix(height, size, false), [size, height], 'f32', 'resize y');
    const t = matmul(gpu, ry, x.reshape([3, height, size]), { label: 'preprocessImage.resize', out: gpu.empty([3, size, size], 'f32', 'image') });
    ry.release();
    x.release();
    x = t;
  }
  const dtype = opts.dtype ?? 'f32';
  if (dtype === 'f32') return x;
  const out = gpu.empty([3, size, size], dtype, 'image');
  cast(gpu, x, dtype, { out });
  x.release();
  return out;
}

/** One frame through either official transform. */
export function preprocess(
  gpu: Gpu,
  transform: PreprocessTransform,
  pixels: Uint8Array,
  width: number,
  height: number,
  size: number,
  opts: PreprocessOptions = {},
): Tensor {
  return transform === 'video'
    ? preprocessVideoFrame(gpu, pixels, width, height, size, opts)
    : preprocessImage(gpu, pixels, width, height, size, opts);
}

/**
 * The interpolation matrix of F.interpolate(mode='bilinear', antialias=True, align_corners=False) along one
 * axis (PyTorch's _compute_index_ranges_weights with the triangle filter): [outSize, inSize], or its
 * transpose [inSize, outSize] when `transposed`. Downscaling widens the triangle by the scale; each output's
 * weights are normalized to sum to 1.
 */
export function antialiasBilinearMatrix(inSize: number, outSize: number, transposed = false): Float32Array {
  const scale = inSize / outSize;
  const support = scale >= 1 ? scale : 1;
  const invscale = scale >= 1 ? 1 / scale : 1;
  const m = new Float32Array(inSize * outSize);
  for (let o = 0; o < outSize; o++) {
    const center = scale * (o + 0.5);
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xsize = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    const w: number[] = [];
    let total = 0;
    for (let j = 0; j < xsize; j++) {
      const t = Math.abs((j + xmin - center + 0.5) * invscale);
      const v = t < 1 ? 1 - t : 0;
      w.push(v);
      total += v;
    }
    for (let j = 0; j < xsize; j++) {
      const v = total !== 0 ? w[j] / total : 0;
      const i = xmin + j;
      if (transposed) m[i * outSize + o] = v;
      else m[o * inSize + i] = v;
    }
  }
  return m;
}
