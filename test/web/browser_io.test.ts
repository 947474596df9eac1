/**
 * The platform-neutral parts of the browser frame sources and weight loading, in Node: RGBA → RGB, sizes,
 * errors for empty / mixed-size / out-of-range frames, the callback source's cache and image closing, and a
 * picked file streaming into the safetensors reader. (The canvas paths run in Chromium: page.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { browserImageSize, framesFromCallback, framesFromImages, rgbaToRgb, type RgbaImage } from '../../src/io/browser_frames.js';
import { weightsFromFile } from '../../src/io/browser_weights.js';
import { openSafetensorsResponse, serializeSafetensors } from '../../src/runtime/safetensors.js';

function rgba(width: number, height: number, fill: (p: number) => [number, number, number]): RgbaImage {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let p = 0; p < width * height; p++) data.set([...fill(p), 255], p * 4);
  return { width, height, data };
}

describe('browser frame sources', () => {
  it('converts RGBA to RGB and checks the byte count', () => {
    expect(Array.from(rgbaToRgb([1, 2, 3, 255, 4, 5, 6, 0], 2, 1))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(() => rgbaToRgb([1, 2, 3], 1, 1)).toThrow(/3 RGBA bytes for a 1×1 image \(expected 4\)/);
  });

  it('reads sizes of image-like objects', () => {
    expect(browserImageSize(rgba(5, 3, () => [0, 0, 0]))).toEqual({ width: 5, height: 3 });
    expect(browserImageSize({ displayWidth: 7, displayHeight: 2, codedWidth: 8 } as unknown as VideoFrame)).toEqual({ width: 7, height: 2 });
    expect(browserImageSize({ videoWidth: 9, videoHeight: 4, width: 0 } as unknown as HTMLVideoElement)).toEqual({ width: 9, height: 4 });
    expect(() => browserImageSize({} as ImageBitmap)).toThrow(/not an image/);
  });

  it('serves RGB frames from images, with clear errors', async () => {
    const a = rgba(4, 2, (p) => [p, 10, 20]);
    const b = rgba(4, 2, () => [7, 8, 9]);
    const src = framesFromImages([a, b], { fps: 30 });
    expect([src.count, src.width, src.height, src.fps]).toEqual([2, 4, 2, 30]);
    const f0 = await src.get(0);
    expect(f0.rgb.length).toBe(4 * 2 * 3);
    expect(Array.from(f0.rgb.slice(3, 6))).toEqual([1, 10, 20]);
    expect(Array.from((await src.get(1)).rgb.slice(0, 3))).toEqual([7, 8, 9]);
    await expect(src.get(2)).rejects.toThrow(/frame index 2 is out of range for 2 frames of 4×2 \(0\.\.1\)/);
    await expect(src.get(0.5)).rejects.toThrow(/out of range/);
    expect(() => framesFromImages([])).toThrow(/no frames were given/);
    expect(() => framesFromImages([a, rgba(2, 2, () => [0, 0, 0])])).toThrow(/mixed sizes: frame 1 is 2×2, frame 0 is 4×2/);
    expect(() => framesFromImages([rgba(0, 0, () => [0, 0, 0])])).toThrow(/frame 0 has size 0×0/);
  });

  it('asks a callback for frames, keeps a few and closes what it was given', async () => {
    const calls: number[] = [];
    const closed: number[] = [];
    const src = await framesFromCallback({
      count: 10,
      cacheFrames: 2,
      closeImages: true,
      frame: async (i) => {
        calls.push(i);
        return { ...rgba(3, 2, () => [i, 0, 0]), close: () => closed.push(i) } as RgbaImage;
      },
    });
    // Frame 0 was fetched once to learn the size, and is cached.
    expect([src.count, src.width, src.height]).toEqual([10, 3, 2]);
    expect((await src.get(0)).rgb[0]).toBe(0);
    expect((await src.get(5)).rgb[0]).toBe(5);
    expect((await src.get(6)).rgb[0]).toBe(6);
    expect((await src.get(0)).rgb[0]).toBe(0); // evicted: fetched again
    expect(calls).toEqual([0, 5, 6, 0]);
    expect(closed).toEqual([0, 5, 6, 0]);
    await expect(src.get(10)).rejects.toThrow(/out of range/);
    await expect(framesFromCallback({ count: 0, frame: () => rgba(1, 1, () => [0, 0, 0]) })).rejects.toThrow(/at least one frame/);

    const mixed = await framesFromCallback({ count: 2, width: 3, height: 2, frame: (i) => rgba(i ? 4 : 3, 2, () => [0, 0, 0]) });
    await expect(mixed.get(1)).rejects.toThrow(/mixed sizes: frame 1 is 4×2, frame 0 is 3×2/);
    let onClose = 0;
    const c = await framesFromCallback({ count: 1, width: 1, height: 1, frame: () => rgba(1, 1, () => [0, 0, 0]), onClose: () => onClose++ });
    c.close();
    expect(onClose).toBe(1);
  });
});

describe('browser weights', () => {
  it('streams a picked file into the safetensors reader with its size and progress', async () => {
    const bytes = await serializeSafetensors([{ name: 'w', dtype: 'f32', shape: [2, 3], data: new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer) }]);
    const progress: number[] = [];
    const res = weightsFromFile(Object.assign(new Blob([bytes as BlobPart]), { name: 'w.safetensors' }), (p) => progress.push(p.loaded));
    expect(res.headers.get('content-length')).toBe(String(bytes.length));
    const st = await openSafetensorsResponse(res);
    const got = [];
    for await (const e of st.entries()) got.push([e.info.name, Array.from(new Float32Array(e.bytes.slice().buffer))]);
    expect(got).toEqual([['w', [1, 2, 3, 4, 5, 6]]]);
    expect(progress.at(-1)).toBe(bytes.length);
    expect(() => weightsFromFile(Object.assign(new Blob([new Uint8Array(3)]), { name: 'x.safetensors' }))).toThrow(/x.safetensors has 3 bytes/);
  });
});
