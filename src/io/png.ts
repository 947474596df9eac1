/** A small PNG encoder for 8-bit indexed (palette) and RGB images, and the DAVIS mask palette. */
import { deflateSync } from 'node:zlib';
import { crc32 } from '../../weights/zip.js';

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function png(width: number, height: number, colorType: 2 | 3, channels: number, pixels: Uint8Array, extra: Uint8Array[]): Uint8Array {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = colorType;
  const stride = width * channels;
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1); // filter 0
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...extra,
    chunk('IDAT', deflateSync(raw)),
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

/** An 8-bit palette PNG: `indices` [height × width], palette of up to 256 RGB triples. */
export function encodeIndexedPng(width: number, height: number, indices: Uint8Array, palette: ReadonlyArray<readonly [number, number, number]>): Uint8Array {
  if (indices.length !== width * height) throw new Error(`encodeIndexedPng: ${indices.length} indices for ${width}×${height}`);
  const plte = new Uint8Array(palette.length * 3);
  palette.forEach(([r, g, b], i) => plte.set([r, g, b], i * 3));
  return png(width, height, 3, 1, indices, [chunk('PLTE', plte)]);
}

/** An RGB PNG from [height × width × 3] bytes. */
export function encodeRgbPng(width: number, height: number, rgb: Uint8Array): Uint8Array {
  if (rgb.length !== width * height * 3) throw new Error(`encodeRgbPng: ${rgb.length} bytes for ${width}×${height}`);
  return png(width, height, 2, 3, rgb, []);
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
