/**
 * Frame preprocessing of SAM 2's official video loader on the GPU: RGB(A) bytes → Pillow bicubic resize to
 * outW × outH (bit-exact) → (v / 255 - mean) / std → planar [3, outH, outW] in f32 or f16.
 */
import type { Gpu } from '../runtime/gpu.js';
import { ShapeError } from '../runtime/errors.js';
import { Params } from '../runtime/params.js';
import type { Tensor } from '../runtime/tensor.js';
import { WG } from './workgroup.js';
import { normalizationTable, pilBicubicCoeffs, pilVerticalFirst } from './pil_tables.js';

interface AxisTables {
  ksize: number;
  bounds: Tensor;
  coeffs: Tensor;
}

function axis(gpu: Gpu, inSize: number, outSize: number): AxisTables {
  return gpu.constant(`pil_resize axis:${inSize}:${outSize}`, () => {
    const c = pilBicubicCoeffs(inSize, outSize);
    return {
      ksize: c.ksize,
      bounds: gpu.upload(c.bounds, [outSize, 2], 'i32', 'pil bounds'),
      coeffs: gpu.upload(c.coeffs, [outSize, c.ksize], 'i32', 'pil coeffs'),
    };
  });
}

export interface PilResizeOptions {
  dtype?: 'f32' | 'f16';
  mean?: readonly number[];
  std?: readonly number[];
}

/**
 * `pixels`: packed bytes of an image, `channels` (3 = RGB, 4 = RGBA, alpha ignored) bytes per pixel, row-major,
 * as a u32 tensor (the bytes of a Uint8Array, zero-padded to a multiple of 4).
 * Returns [3, outH, outW].
 */
export function pilResizeNormalize(
  gpu: Gpu,
  pixels: Tensor,
  inW: number,
  inH: number,
  channels: 3 | 4,
  outW: number,
  outH: number,
  opts: PilResizeOptions = {},
): Tensor {
  if (pixels.dtype !== 'u32') throw new ShapeError(`pil_resize: pixels ${pixels} must be u32-packed bytes`);
  if (pixels.size * 4 < inW * inH * channels) {
    throw new ShapeError(`pil_resize: pixels ${pixels} hold fewer than ${inW}×${inH}×${channels} bytes`);
  }
  if (channels !== 3 && channels !== 4) throw new ShapeError(`pil_resize: channels must be 3 or 4, got ${channels}`);
  const dtype = opts.dtype ?? 'f32';
  const h = axis(gpu, inW, outW);
  const v = axis(gpu, inH, outH);
  const mean = opts.mean ?? undefined;
  const std = opts.std ?? undefined;
  const table = gpu.constant(`pil_resize table:${mean}:${std}`, () => gpu.upload(normalizationTable(mean, std), [3, 256], 'f32', 'pil norm table'));
  const mode = gpu.modeFor(dtype);
  const vFirst = pilVerticalFirst(inW, inH, outW, outH);
  const [first, second] = vFirst ? [v, h] : [h, v];
  const midW = vFirst ? inW : outW;
  const midH = vFirst ? outH : inH;
  return gpu.tidy(() => {
    const tmp = gpu.empty([midH, midW, 3], 'u32', 'pil tmp');
    gpu.dispatch({
      variant: { kernel: 'pil_resize', file: 'pil_resize.wgsl', mode, defines: { AXIS: vFirst ? 1 : 0, SRC_BYTES: 1, FINAL: 0, WG } },
      inputs: [pixels, first.bounds, first.coeffs],
      outputs: [tmp],
      params: new Params().u32(inW, inH, midW, midH, channels, first.ksize, 0, 0),
      workgroups: gpu.grid(Math.ceil((midW * midH) / WG)),
  });
  const y = gpu.empty([3, outH, outW], dtype, 'frame');
  gpu.dispatch({
    variant: { kernel: 'pil_resize', file: 'pil_resize.wgsl', mode, defines: { AXIS: vFirst ? 0 : 1, SRC_BYTES: 0, FINAL: 1, WG } },
    inputs: [tmp, second.bounds, second.coeffs, table],
    outputs: [y],
    params: new Params().u32(midW, midH, outW, outH, 3, second.ksize, 0, 0),
    workgroups: gpu.grid(Math.ceil((outW * outH) / WG)),
  });
  return y;
  });
}

/** Uploads image bytes as the packed u32 tensor pilResizeNormalize reads. */
export function uploadPixels(gpu: Gpu, bytes: Uint8Array, label = 'pixels'): Tensor {
  const words = Math.ceil(bytes.byteLength / 4);
  const padded = bytes.byteLength % 4 === 0 && bytes.byteOffset % 4 === 0 ? bytes : (() => {
    const p = new Uint8Array(words * 4);
    p.set(bytes);
    return p;
  })();
  return gpu.uploadBytes(new Uint8Array(padded.buffer, padded.byteOffset, words * 4), [words], 'u32', label);
}
