/**
 * Pillow's 8-bit resampling (libImaging/Resample.c) for the bicubic filter, the default of Image.resize: an
 * exact CPU implementation (the reference of pil_resize.ts), on the coefficient tables of pil_tables.ts.
 */
import { pilBicubicCoeffs, pilVerticalFirst, PRECISION_BITS } from './pil_tables.js';

export { IMAGENET_MEAN, IMAGENET_STD, normalizationTable, pilBicubicCoeffs, pilVerticalFirst, type ResampleCoeffs } from './pil_tables.js';

function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
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
