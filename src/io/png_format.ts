/**
 * The PNG format for 8-bit indexed (palette) and RGB images, without the compressor: Node deflates with
 * node:zlib (src/io/png.ts), browsers with CompressionStream (web/png.ts). Also the DAVIS mask palette.
 */
import { concatBytes, crc32 } from '../runtime/bytes.js';

/** The eight bytes every PNG file starts with. */
export const PNG_SIGNATURE: readonly number[] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** True when `b` starts with the PNG signature. */
export function hasPngSignature(b: Uint8Array): boolean {
  return b.length >= PNG_SIGNATURE.length && PNG_SIGNATURE.every((v, i) => b[i] === v);
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** The largest object id a palette mask can hold (one byte per pixel; 0 is the background). */
export const MAX_OBJ_ID = 255;

/**
 * True when `head` (the first 26 bytes of a file, or more) is a PNG of 8-bit palette indices: the kind of
 * file a mask folder holds (a photo or a video frame is RGB or grey).
 */
export function isIndexedPng(head: Uint8Array): boolean {
  if (head.length < 26 || !hasPngSignature(head)) return false;
  const ihdr = String.fromCharCode(head[12], head[13], head[14], head[15]) === 'IHDR';
  return ihdr && head[24] === 8 && head[25] === 3;
}

/** An image ready for compression: `raw` (the scanlines, filter 0) goes through zlib deflate, then `finish`. */
export interface PngDraft {
  raw: Uint8Array;
  finish(deflated: Uint8Array): Uint8Array;
}

function draft(width: number, height: number, colorType: 2 | 3, channels: number, pixels: Uint8Array, extra: Uint8Array[]): PngDraft {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = colorType;
  const stride = width * channels;
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1); // filter 0
  return {
    raw,
    finish(deflated: Uint8Array): Uint8Array {
      return concatBytes([
        PNG_SIGNATURE,
        chunk('IHDR', ihdr),
        ...extra,
        chunk('IDAT', deflated),
        chunk('IEND', new Uint8Array(0)),
      ]);
    },
  };
}

/** An 8-bit palette PNG: `indices` [height × width], palette of up to 256 RGB triples. */
export function indexedPngDraft(width: number, height: number, indices: Uint8Array, palette: ReadonlyArray<readonly [number, number, number]>): PngDraft {
  if (indices.length !== width * height) throw new Error(`indexed PNG: ${indices.length} indices for ${width}×${height}`);
  const plte = new Uint8Array(palette.length * 3);
  palette.forEach(([r, g, b], i) => plte.set([r, g, b], i * 3));
  return draft(width, height, 3, 1, indices, [chunk('PLTE', plte)]);
}

/** An RGB PNG from [height × width × 3] bytes. */
export function rgbPngDraft(width: number, height: number, rgb: Uint8Array): PngDraft {
  if (rgb.length !== width * height * 3) throw new Error(`RGB PNG: ${rgb.length} bytes for ${width}×${height}`);
  return draft(width, height, 2, 3, rgb, []);
}

/** The DAVIS / PASCAL VOC palette: 0 = black background, then (128,0,0), (0,128,0), (128,128,0), ... */
export function davisPalette(n = 256): Array<[number, number, number]> {
  const pal: Array<[number, number, number]> = [];
  for (let i = 0; i < n; i++) {
    let r = 0;
    let g = 0;
    let b = 0;
    let c = i;
    for (let j = 0; j < 8; j++) {
      r |= ((c >> 0) & 1) << (7 - j);
      g |= ((c >> 1) & 1) << (7 - j);
      b |= ((c >> 2) & 1) << (7 - j);
      c >>= 3;
    }
    pal.push([r, g, b]);
  }
  return pal;
}

/**
 * The DAVIS index image of a frame: 0 = background, k where object k is (`masks[i]`, width × height, marks
 * object `objIds[i]`; ids above 255 are clamped; where objects overlap the later one wins).
 */
export function davisIndexMask(width: number, height: number, objIds: readonly number[], masks: readonly Uint8Array[]): Uint8Array {
  const idx = new Uint8Array(width * height);
  objIds.forEach((id, k) => {
    const v = Math.min(255, Math.max(0, id));
    const m = masks[k];
    for (let p = 0; p < idx.length; p++) if (m[p]) idx[p] = v;
  });
  return idx;
}
