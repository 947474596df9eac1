/**
 * Palette PNG masks in the browser, in the DAVIS convention the Node CLI writes (0 = background, k = object k,
 * the DAVIS palette), compressed with the browser's CompressionStream.
 */
import { davisPalette, indexedPngDraft } from '../src/io/png_format.js';

const PALETTE = davisPalette(256);

async function deflate(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(new CompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** An 8-bit palette PNG of object indices (height × width) with the DAVIS palette. */
export async function encodeMaskPng(width: number, height: number, indices: Uint8Array): Promise<Uint8Array> {
  const d = indexedPngDraft(width, height, indices, PALETTE);
  return d.finish(await deflate(d.raw));
}
