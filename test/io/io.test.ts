import { existsSync, mkdtempSync, readdirSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeImage, Mp4Writer, probe } from '../../src/io/ffmpeg.js';
import { framesFromMemory, openFrameFolder, openFrames, openVideoFile } from '../../src/io/frames.js';
import { davisPalette, encodeIndexedPng } from '../../src/io/png.js';
import { objectColor, renderOverlay } from '../../src/io/render.js';

const BEDROOM = join(__dirname, '../../samples/bedroom');

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'sam2-io-'));
}

describe('frame sources', () => {
  it('reads a frame folder in the official order, lazily', async () => {
    const dir = tmp();
    for (const n of [10, 2, 1]) copyFileSync(join(BEDROOM, `${String(n).padStart(5, '0')}.jpg`), join(dir, `${n}.jpg`));
    const src = await openFrameFolder(dir);
    expect(src.count).toBe(3);
    expect([src.width, src.height]).toEqual([960, 540]);
    const f0 = await src.get(0);
    const ref = await decodeImage(join(dir, '1.jpg'));
    expect(f0.rgb).toEqual(ref.rgb);
    await expect(src.get(3)).rejects.toThrow(/frame index 3 is out of range/);
  });

  it('rejects a missing source, an empty folder and frames of mixed sizes', async () => {
    await expect(openFrames('/nonexistent/video.mp4')).rejects.toThrow(/does not exist/);
    const empty = tmp();
    writeFileSync(join(empty, 'notes.txt'), 'x');
    await expect(openFrameFolder(empty)).rejects.toThrow(/no JPEG or PNG frames/);
    const mixed = tmp();
    copyFileSync(join(BEDROOM, '00000.jpg'), join(mixed, '0.jpg'));
    writeFileSync(join(mixed, '1.png'), encodeIndexedPng(4, 2, new Uint8Array(8), davisPalette(2)));
    const src = await openFrameFolder(mixed);
    await expect(src.get(1)).rejects.toThrow(/mixed sizes: 1.png is 4×2/);
  });

  it('rejects an undecodable video file', async () => {
    const dir = tmp();
    const bad = join(dir, 'broken.mp4');
    writeFileSync(bad, 'this is not a video');
    await expect(openVideoFile(bad)).rejects.toThrow(/broken.mp4/);
  });

  it('writes an MP4 and reads its frames back, forward and backward', async () => {
    const dir = tmp();
    const W = 64;
    const H = 48;
    const frames = Array.from({ length: 12 }, (_, i) => {
      const rgb = new Uint8Array(W * H * 3).fill(i * 20);
      return { width: W, height: H, rgb };
    });
    const path = join(dir, 'clip.mp4');
    const w = new Mp4Writer(path, { width: W, height: H, fps: 10 });
    for (const f of frames) await w.write(f.rgb);
    expect(existsSync(path)).toBe(false); // only under a temporary name until closed
    await w.close();
    expect(existsSync(path)).toBe(true);
    expect(readdirSync(dir)).toEqual(['clip.mp4']);
    const info = await probe(path);
    expect(info).toMatchObject({ width: W, height: H, frames: 12 });
    expect(info.fps).toBeCloseTo(10, 3);
    const src = await openVideoFile(path, 4);
    for (const i of [0, 5, 11, 10, 3, 2, 7]) {
      const f = await src.get(i);
      const mean = f.rgb.reduce((a, b) => a + b, 0) / f.rgb.length;
      expect(Math.abs(mean - i * 20)).toBeLessThan(3);
    }
    src.close();
  });

  it('an aborted MP4 leaves nothing behind', async () => {
    const dir = tmp();
    const w = new Mp4Writer(join(dir, 'x.mp4'), { width: 16, height: 16, fps: 5 });
    await w.write(new Uint8Array(16 * 16 * 3));
    await w.abort();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('in-memory frames check their sizes', () => {
    expect(() => framesFromMemory([{ width: 2, height: 2, rgb: new Uint8Array(12) }, { width: 3, height: 2, rgb: new Uint8Array(18) }])).toThrow(/mixed sizes/);
  });
});

describe('PNG and overlays', () => {
  it('writes a valid palette PNG that decodes to the same indices', async () => {
    const dir = tmp();
    mkdirSync(dir, { recursive: true });
    const W = 5;
    const H = 3;
    const idx = Uint8Array.from({ length: W * H }, (_, i) => i % 3);
    const bytes = encodeIndexedPng(W, H, idx, davisPalette(3));
    const path = join(dir, 'm.png');
    writeFileSync(path, bytes);
    const img = await decodeImage(path);
    const pal = davisPalette(3);
    for (let p = 0; p < W * H; p++) expect(Array.from(img.rgb.subarray(p * 3, p * 3 + 3))).toEqual(pal[idx[p]]);
    // IDAT holds the filter byte + indices per row
    const i = Buffer.from(bytes).indexOf('IDAT');
    const len = Buffer.from(bytes).readUInt32BE(i - 4);
    const raw = inflateSync(bytes.subarray(i + 4, i + 4 + len));
    expect(raw.length).toBe((W + 1) * H);
  });

  it('DAVIS palette starts black, dark red, dark green', () => {
    expect(davisPalette(4)).toEqual([[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]);
  });

  it('blends masks at alpha 0.6 in the object colour and draws prompts', () => {
    const W = 40;
    const H = 40;
    const rgb = new Uint8Array(W * H * 3).fill(100);
    const mask = new Uint8Array(W * H);
    mask[0] = 1;
    const out = renderOverlay(W, H, rgb, [{ objId: 1, mask }], [{ points: [[20, 20]], labels: [1] }, { box: [2, 2, 10, 10] }]);
    const c = objectColor(1);
    expect(Array.from(out.subarray(0, 3))).toEqual(c.map((v) => Math.round(100 * 0.4 + v * 0.6)));
    expect(Array.from(out.subarray((20 * W + 20) * 3, (20 * W + 20) * 3 + 3))).toEqual([0, 128, 0]);
    expect(Array.from(out.subarray((2 * W + 5) * 3, (2 * W + 5) * 3 + 3))).toEqual([0, 128, 0]);
    expect(Array.from(out.subarray((30 * W + 5) * 3, (30 * W + 5) * 3 + 3))).toEqual([100, 100, 100]);
  });
});
