/**
 * The JPEG decode in the page: the same libjpeg-turbo WebAssembly module as in Node gives PIL's bytes for every
 * JPEG of test/fixtures/decode/pil_decode.json (sha256 with crypto.subtle), and framesFromFiles orders and
 * decodes picked frame files the same way. For comparison it prints how far the browser's own decoder
 * (createImageBitmap) is from PIL on the same files, and the time per 960×540 frame.
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { frameFileOrder, framesFromFiles } from '../../src/io/browser_frames.js';
import { decodeJpeg } from '../../src/io/jpeg.js';

interface PilImage {
  path: string;
  format: 'JPEG' | 'PNG';
  width: number;
  height: number;
  sha256: string;
}
const FIXTURE = JSON.parse(readFileSync(new URL('../fixtures/decode/pil_decode.json', import.meta.url), 'utf8')) as { images: PilImage[] };
const JPEGS = FIXTURE.images.filter((e) => e.format === 'JPEG');
const BEDROOM = JPEGS.filter((e) => e.path.startsWith('samples/bedroom/'));

/** A file of the repository, from the test server (which serves the repository at its root). */
async function fetchBytes(path: string): Promise<Uint8Array> {
  const r = await fetch(`/${path}`);
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

it('decodes every JPEG of the fixture to PIL’s bytes in the browser', async () => {
  const wrong: string[] = [];
  for (const e of JPEGS) {
    const img = await decodeJpeg(await fetchBytes(e.path), e.path);
    if (img.width !== e.width || img.height !== e.height || (await sha256(img.rgb)) !== e.sha256) wrong.push(e.path);
  }
  expect(wrong).toEqual([]);
});

it('framesFromFiles orders picked frame files as the official loader and decodes them to PIL’s bytes', async () => {
  const picked = await Promise.all(
    BEDROOM.slice(0, 4).map(async (e) => new File([(await fetchBytes(e.path)) as Uint8Array<ArrayBuffer>], e.path.split('/').pop()!, { type: 'image/jpeg' })),
  );
  const notes = new File(['not a frame'], 'notes.txt');
  // A picked folder lists its files in any order, with other files among them.
  const src = await framesFromFiles([picked[2], notes, picked[0], picked[3], picked[1]]);
  expect(src.count).toBe(4);
  for (let i = 0; i < 4; i++) expect(await sha256((await src.get(i)).rgb)).toBe(BEDROOM[i].sha256);
  src.close();
  expect(frameFileOrder(['10.jpg', '9.jpg', '100.jpg'])).toEqual(['9.jpg', '10.jpg', '100.jpg']);
  expect(frameFileOrder(['f10.jpg', 'f9.jpg'])).toEqual(['f9.jpg', 'f10.jpg']);
});

it('prints the browser decoder’s distance from PIL and the time per frame', async () => {
  const files = await Promise.all(BEDROOM.map((e) => fetchBytes(e.path)));
  await decodeJpeg(files[0]);
  const t0 = performance.now();
  const ours = [];
  for (const b of files) ours.push(await decodeJpeg(b));
  const ms = (performance.now() - t0) / files.length;

  // The browser's own decode, for comparison: createImageBitmap (without colour conversion, and as a page
  // draws an image: with it), read back through a canvas, on every JPEG of the fixture.
  const browser: string[] = [];
  for (const colorSpaceConversion of ['none', 'default'] as const) {
    let exact = 0;
    let differ = 0;
    let max = 0;
    let total = 0;
    let failed = 0;
    for (const e of JPEGS) {
      let bitmap: ImageBitmap;
      try {
        bitmap = await createImageBitmap(new Blob([(await fetchBytes(e.path)) as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' }), { colorSpaceConversion });
      } catch {
        failed++;
        continue;
      }
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
      ctx.drawImage(bitmap, 0, 0);
      const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
      bitmap.close();
      const { rgb, width, height } = await decodeJpeg(await fetchBytes(e.path));
      if (canvas.width !== width || canvas.height !== height) {
        failed++; // turned by its EXIF orientation
        continue;
      }
      let d0 = 0;
      for (let p = 0, i = 0; p < rgb.length; p += 3, i += 4) {
        for (let c = 0; c < 3; c++) {
          const d = Math.abs(rgba[i + c] - rgb[p + c]);
          if (d) d0++;
          if (d > max) max = d;
        }
      }
      if (d0 === 0) exact++;
      differ += d0;
      total += rgb.length;
    }
    browser.push(
      `createImageBitmap (colorSpaceConversion '${colorSpaceConversion}'): ${exact}/${JPEGS.length} files exact, ` +
        `${((100 * differ) / total).toFixed(2)}% of the bytes differ (max ${max}), ${failed} of another size or not decoded`,
    );
  }
  const agent = navigator.userAgent.match(/(Headless)?Chrome\/[\d.]+/)?.[0] ?? 'the browser';
  console.log(
    `JPEG decode in ${agent}: libjpeg-turbo (wasm) ${ms.toFixed(1)} ms per ${ours[0].width}×${ours[0].height} frame, PIL's bytes; ` +
      browser.join('; '),
  );
  expect(ms).toBeGreaterThan(0);
});
