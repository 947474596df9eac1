/**
 * Frame preprocessing on its own, both official transforms, every numeric variant:
 * - 'video' (the official loader): on the loader's own resized bytes (fixtureFrames(): PIL's, checked by sha256)
 *   and from the JPEG itself (decoded as PIL decodes it, src/io/jpeg.ts, then the Pillow-exact resize), the
 *   result is the official input tensor bit for bit in f32;
 * - 'image' (SAM2Transforms: ToTensor, torchvision's antialiased bilinear Resize, Normalize): on the crops
 *   recorded in test/model/data/image_predictor_truck256.safetensors (downscaling 150×100 and upscaling 40×30
 *   to 64), and from the truck JPEG to 256, at the parity bounds of the table.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJpeg } from '../../src/io/jpeg.js';
import { preprocess, preprocessImage, preprocessVideoFrame } from '../../src/model/preprocess.js';
import { ShapeError } from '../../src/runtime/errors.js';
import { roundTo } from '../../src/runtime/dtype.js';
import { fixtureFrames, openFixture, TINY256, type Fixture } from '../fixtures/reader.js';
import { variants, type Variant } from '../helpers.js';
import { expectParity, parityTable, type ParityResult } from './parity.js';

const S = 256;
const BEDROOM0 = 'samples/bedroom/00000.jpg';
const TRUCK = 'samples/images/truck.jpg';
const rows: ParityResult[] = [];
let frames: Uint8Array;
let encoderFx: Fixture;
let predictorFx: Fixture;
let vs: Variant[];

beforeAll(async () => {
  frames = await fixtureFrames();
  encoderFx = await openFixture(`${TINY256}/image_encoder.safetensors`);
  predictorFx = await openFixture('test/model/data/image_predictor_truck256.safetensors');
  vs = await variants();
});

afterAll(async () => {
  await encoderFx?.close();
  await predictorFx?.close();
  if (rows.length) console.log(`preprocessing parity\n${parityTable(rows)}`);
});

async function decodeFile(path: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  const img = await decodeJpeg(readFileSync(path), path);
  return { data: img.rgb, width: img.width, height: img.height };
}

describe('video loader transform (PIL bicubic resize, /255, normalize)', () => {
  it('the loader-resized bytes give the official input tensor exactly', async () => {
    const u8 = frames.subarray(0, S * S * 3);
    const want = await encoderFx.f32('image_encoder.input');
    for (const v of vs) {
      const x = preprocessVideoFrame(v.gpu, u8, S, S, S, { dtype: v.dtype as 'f32' | 'f16' });
      expect(x.shape).toEqual([3, S, S]);
      expect(x.dtype).toBe(v.dtype);
      expect(await v.gpu.read(x), v.name).toEqual(roundTo(v.dtype, want));
      x.release();
    }
  });

  it('RGBA bytes give the same result as RGB', async () => {
    const u8 = frames.subarray(0, S * S * 3);
    const rgba = new Uint8Array(S * S * 4);
    for (let p = 0; p < S * S; p++) {
      rgba.set(u8.subarray(p * 3, p * 3 + 3), p * 4);
      rgba[p * 4 + 3] = 77;
    }
    const gpu = vs[0].gpu;
    const a = preprocessVideoFrame(gpu, u8, S, S, S);
    const b = preprocessVideoFrame(gpu, rgba, S, S, S, { channels: 4 });
    expect(await gpu.read(b)).toEqual(await gpu.read(a));
    a.release();
    b.release();
  });

  it('from the JPEG (960×540 → 256), decoded as PIL decodes it: the official input tensor exactly', async () => {
    const img = await decodeFile(BEDROOM0);
    expect([img.width, img.height]).toEqual([960, 540]);
    const want = await encoderFx.f32('image_encoder.input');
    for (const v of vs) {
      const x = preprocess(v.gpu, 'video', img.data, img.width, img.height, S, { dtype: v.dtype as 'f32' | 'f16' });
      const got = await v.gpu.read(x);
      x.release();
      expect(got, v.name).toEqual(roundTo(v.dtype, want));
    }
  });
});

describe('image predictor transform (ToTensor, antialiased bilinear Resize, Normalize)', () => {
  for (const crop of ['large', 'small'] as const) {
    it(`${crop} crop → 64 against SAM2Transforms`, async () => {
      const px = await predictorFx.bytes(`transform.${crop}.pixels`);
      const [h, w] = predictorFx.info(`transform.${crop}.pixels`).shape;
      const want = await predictorFx.f32(`transform.${crop}.output`);
      for (const v of vs) {
        const x = preprocessImage(v.gpu, px, w, h, 64, { dtype: v.dtype as 'f32' | 'f16' });
        expect(x.shape).toEqual([3, 64, 64]);
        rows.push(expectParity(`image ${w}×${h} → 64`, v.name, await v.gpu.read(x), want));
        x.release();
      }
    });
  }

  it('same-size input is ToTensor + Normalize only', async () => {
    const px = await predictorFx.bytes('transform.small.pixels');
    const gpu = vs[0].gpu;
    const y = preprocessImage(gpu, px.subarray(0, 30 * 30 * 3), 30, 30, 30);
    const got = await gpu.read(y);
    // (v / 255 - mean) / std per channel, planar.
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < 900; p++) expect(got[c * 900 + p]).toBeCloseTo((px[p * 3 + c] / 255 - mean[c]) / std[c], 5);
    }
    y.release();
  });

  it('from the truck JPEG (1800×1200 → 256), decoded as PIL decodes it: the official input', async () => {
    const img = await decodeFile(TRUCK);
    // The decode is PIL's: the crop at (400, 550) that the reference decoded with PIL, byte for byte.
    const pil = await predictorFx.bytes('transform.large.pixels');
    for (let y = 0; y < 100; y++) {
      const row = img.data.subarray(((550 + y) * img.width + 400) * 3, ((550 + y) * img.width + 550) * 3);
      expect(row).toEqual(pil.subarray(y * 150 * 3, (y + 1) * 150 * 3));
    }
    const want = await predictorFx.f32('input');
    for (const v of vs) {
      const x = preprocess(v.gpu, 'image', img.data, img.width, img.height, S, { dtype: v.dtype as 'f32' | 'f16' });
      const got = await v.gpu.read(x);
      x.release();
      rows.push(expectParity(`image ${img.width}×${img.height} → 256 (from the JPEG)`, v.name, got, want));
    }
  });
});

describe('preprocessing input checks', () => {
  it('rejects bad sizes and channel counts with ShapeError', () => {
    const gpu = vs[0].gpu;
    preprocessVideoFrame(gpu, new Uint8Array(12), 2, 2, 8).release();
    expect(() => preprocessVideoFrame(gpu, new Uint8Array(11), 2, 2, 8)).toThrow(ShapeError);
    expect(() => preprocessImage(gpu, new Uint8Array(12), 2, 2, 8, { channels: 2 as 3 })).toThrow(/channels must be 3 or 4/);
    expect(() => preprocessImage(gpu, new Uint8Array(12), 2, 2, 0)).toThrow(/bad output size/);
    expect(() => preprocessImage(gpu, new Uint8Array(0), 0, 2, 8)).toThrow(/bad image size/);
  });
});
