/**
 * Pillow's 8-bit resampling (libImaging/Resample.c) for the bicubic filter, the default of Image.resize:
 * the coefficient tables and an exact CPU implementation, used as the reference and to build the tables the
 * GPU kernel reads.
 */

const PRECISION_BITS = 22;

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

function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Pillow 13 runs the vertical pass first when the height shrinks more than twice as much as the width. */
export function pilVerticalFirst(inW: number, inH: number, outW: number, outH: number): boolean {
  return inH - outH > 0 && inH - outH > (inW - outW) * 2;
}

/** One pass along x (axis 0) or y (axis 1) of an image with `channels` bytes per pixel → RGB bytes. */
function pass(src: Uint8Array, w: number, h: number, channels: number, axis: 0 | 1, outSize: number): Uint8Array {
  const ow = axis === 0 ? outSize : w;
  const oh = axis === 0 ? h : outSize;
  const c = pilBicubicCoeffs(axis === 0 ? w : h, outSize);
  const out = new Uint8Array(ow * oh * 3);
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      const o = axis === 0 ? ox : oy;
      const first = c.bounds[2 * o];
      const n = c.bounds[2 * o + 1];
      for (let ch = 0; ch < 3; ch++) {
        let ss = 1 << (PRECISION_BITS - 1);
        for (let k = 0; k < n; k++) {
          const idx = axis === 0 ? oy * w + first + k : (first + k) * w + ox;
          ss += src[idx * channels + ch] * c.coeffs[o * c.ksize + k];
        }
        out[(oy * ow + ox) * 3 + ch] = clip8(ss);
      }
    }
  }
  return out;
}

/**
 * Image.resize((outW, outH)) of an RGB(A) byte image with `channels` bytes per pixel → RGB bytes [outH, outW, 3],
 * with Pillow 13's pass order. (A pass whose size does not change is the identity and is skipped, as in Pillow.)
 */
export function pilResizeRef(src: Uint8Array, inW: number, inH: number, channels: number, outW: number, outH: number): Uint8Array {
  if (pilVerticalFirst(inW, inH, outW, outH)) {
    const t = pass(src, inW, inH, channels, 1, outH);
    return pass(t, inW, outH, 3, 0, outW);
  }
  const t = pass(src, inW, inH, channels, 0, outW);
  return pass(t, outW, inH, 3, 1, outH);
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
