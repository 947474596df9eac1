/**
 * Tables of the official video loader's preprocessing: Pillow's 8-bit bicubic resampling coefficients
 * (libImaging/Resample.c, precompute_coeffs + normalize_coeffs_8bpc), its pass order, and the byte → f32
 * normalization. The GPU kernel (pil_resize.ts) reads them; the CPU reference (pil_resize.ref.ts) too.
 */

export const PRECISION_BITS = 22;

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

export interface ResampleCoeffs {
  /** Taps per output pixel (the table's row length). */
  ksize: number;
  /** Per output pixel: first input index and tap count. */
  bounds: Int32Array;
  /** Fixed-point coefficients, [outSize, ksize]. */
  coeffs: Int32Array;
}

/** precompute_coeffs + normalize_coeffs_8bpc for one axis (box = the whole input). */
export function pilBicubicCoeffs(inSize: number, outSize: number): ResampleCoeffs {
  const support0 = 2.0;
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1.0);
  const support = support0 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const coeffs = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1.0 / filterscale;
    // (int) truncates toward zero in C.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bicubic((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < ksize; x++) {
      const v = x < xmax ? (ww !== 0 ? k[x] / ww : k[x]) : 0;
      coeffs[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { ksize, bounds, coeffs };
}

/** Pillow 13 runs the vertical pass first when the height shrinks more than twice as much as the width. */
export function pilVerticalFirst(inW: number, inH: number, outW: number, outH: number): boolean {
  return inH - outH > 0 && inH - outH > (inW - outW) * 2;
}

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/**
 * The official loader's normalization of a byte value, per channel: (v / 255 in float64, stored as f32)
 * minus the f32 mean, divided by the f32 std, in f32. Returns a [3 * 256] table.
 */
export function normalizationTable(mean: readonly number[] = IMAGENET_MEAN, std: readonly number[] = IMAGENET_STD): Float32Array {
  const t = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const m = Math.fround(mean[c]);
    const s = Math.fround(std[c]);
    for (let v = 0; v < 256; v++) t[c * 256 + v] = Math.fround(Math.fround(Math.fround(v / 255) - m) / s);
  }
  return t;
}
