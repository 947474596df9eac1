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
import { pilResizeNormalize, uploadPixels } from '../kernels/pil_resize.js';
import { resize } from '../kernels/resize.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../kernels/pil_tables.js';
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
export function preprocessVideoFrame(gpu: Gpu, pixels: Uint8Array, width: number, height: number, size: number, opts: PreprocessOptions = {}): Tensor {
  return preprocess(gpu, 'video', pixels, width, height, size, opts);
}

/**
 * The image predictor's preprocessing (SAM2Transforms): bytes [height, width, channels] → [3, size, size].
 *
 * Normalization is affine per channel and the antialiased bilinear weights of each output pixel sum to 1, so
 * normalizing first (the byte table of the video path, at the source size) and resizing second gives the
 * official values up to f32 rounding. The resize accumulates in f32 and rounds once to `dtype`.
 */
export function preprocessImage(gpu: Gpu, pixels: Uint8Array, width: number, height: number, size: number, opts: PreprocessOptions = {}): Tensor {
  return preprocess(gpu, 'image', pixels, width, height, size, opts);
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
  const channels = opts.channels ?? 3;
  checkPixels(transform === 'video' ? 'preprocessVideoFrame' : 'preprocessImage', pixels, width, height, channels, size);
  const dtype = opts.dtype ?? 'f32';
  return gpu.tidy(() => {
    const px = uploadPixels(gpu, pixels, transform === 'video' ? 'frame pixels' : 'image pixels');
    if (transform === 'video') return pilResizeNormalize(gpu, px, width, height, channels, size, size, { dtype, mean: opts.mean, std: opts.std });
    // Identity Pillow resize (all taps but the centre are zero) + the normalization table: (v / 255 - mean) / std.
    const x = pilResizeNormalize(gpu, px, width, height, channels, width, height, {
      dtype: 'f32',
      mean: opts.mean ?? IMAGENET_MEAN,
      std: opts.std ?? IMAGENET_STD,
    });
    let y = x;
    if (width !== size || height !== size) {
      // torchvision's Resize((S, S)) on a float tensor: F.interpolate(bilinear, antialias=True, align_corners=False).
      y = gpu.empty([3, size, size], 'f32', 'image');
      resize(gpu, x.reshape([1, 3, height, width]), 'bilinear', { size: [size, size], antialias: true, out: y.reshape([1, 3, size, size]) });
    }
    return dtype === 'f32' ? y : cast(gpu, y, dtype);
  });
}
