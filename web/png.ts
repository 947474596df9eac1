/**
 * Palette PNG masks in the browser, in the DAVIS convention the Node CLI writes (0 = background, k = object k,
 * the DAVIS palette): the same chunk layout as src/io/png.ts, compressed with the browser's CompressionStream.
 */
import { davisPalette } from '../src/io/png.js';
import { crc32 } from '../weights/zip.js';

const PALETTE = davisPalette(256);

async function deflate(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(new CompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
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

/** The object index of each pixel: `masks[k]` (width × height) marks object `objIds[k]`; later objects win. */
export function indexMask(width: number, height: number, objIds: readonly number[], masks: readonly Uint8Array[]): Uint8Array {
  const idx = new Uint8Array(width * height);
  objIds.forEach((id, k) => {
    const v = Math.min(255, Math.max(0, id));
    const m = masks[k];
    for (let p = 0; p < idx.length; p++) if (m[p]) idx[p] = v;
  });
  return idx;
}

/** An 8-bit palette PNG of object indices (height × width) with the DAVIS palette. */
export async function encodeMaskPng(width: number, height: number, indices: Uint8Array): Promise<Uint8Array> {
  if (indices.length !== width * height) throw new Error(`encodeMaskPng: ${indices.length} indices for ${width}×${height}`);
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = 8;
  ihdr[9] = 3; // indexed colour
  const raw = new Uint8Array((width + 1) * height);
  for (let y = 0; y < height; y++) raw.set(indices.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const plte = new Uint8Array(PALETTE.length * 3);
  PALETTE.forEach(([r, g, b], i) => plte.set([r, g, b], i * 3));
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('PLTE', plte),
    chunk('IDAT', await deflate(raw)),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
