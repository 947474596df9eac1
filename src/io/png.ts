/** PNG files in Node (compressed with node:zlib): 8-bit indexed (palette) and RGB images. */
import { deflateSync } from 'node:zlib';
import { indexedPngDraft, rgbPngDraft } from './png_format.js';

export { davisPalette } from './png_format.js';

/** An 8-bit palette PNG: `indices` [height × width], palette of up to 256 RGB triples. */
export function encodeIndexedPng(width: number, height: number, indices: Uint8Array, palette: ReadonlyArray<readonly [number, number, number]>): Uint8Array {
  const d = indexedPngDraft(width, height, indices, palette);
  return d.finish(deflateSync(d.raw));
}

/** An RGB PNG from [height × width × 3] bytes. */
export function encodeRgbPng(width: number, height: number, rgb: Uint8Array): Uint8Array {
  const d = rgbPngDraft(width, height, rgb);
  return d.finish(deflateSync(d.raw));
}
