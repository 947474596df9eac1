import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { pilResizeNormalize, uploadPixels } from '../../src/kernels/pil_resize.js';
import { normalizationTable, pilResizeRef } from '../../src/kernels/pil_resize.ref.js';
import { variants } from '../helpers.js';

// Outputs of Pillow's Image.resize (default bicubic) and of the official loader's normalization in torch
// (data/pil_resize.json, written by tools/reference/regenerate.sh --only pil_resize).
const data = JSON.parse(readFileSync(new URL('./data/pil_resize.json', import.meta.url), 'utf8')) as {
  cases: Array<{ w: number; h: number; ow: number; oh: number; src: number[]; out: number[] }>;
  table: number[];
};

describe('Pillow bicubic resize + normalization', async () => {
  const vs = await variants();
  it('CPU reference equals Pillow byte for byte', () => {
    for (const c of data.cases) {
      const got = pilResizeRef(Uint8Array.from(c.src), c.w, c.h, 3, c.ow, c.oh);
      expect(Array.from(got), `${c.w}x${c.h}→${c.ow}x${c.oh}`).toEqual(c.out);
    }
  });
  it('normalization table equals the official loader (torch) exactly', () => {
    expect(Array.from(normalizationTable())).toEqual(data.table);
  });
  for (const v of vs) {
    it(`GPU equals Pillow + normalization exactly (${v.name})`, async () => {
      const table = normalizationTable();
      for (const c of data.cases) {
        for (const channels of [3, 4] as const) {
          const src = new Uint8Array(c.w * c.h * channels);
          for (let p = 0; p < c.w * c.h; p++) {
            for (let k = 0; k < 3; k++) src[p * channels + k] = c.src[p * 3 + k];
            if (channels === 4) src[p * 4 + 3] = 255;
          }
          const px = uploadPixels(v.gpu, src);
          const y = pilResizeNormalize(v.gpu, px, c.w, c.h, channels, c.ow, c.oh, { dtype: v.dtype as 'f32' | 'f16' });
          const got = await v.gpu.read(y);
          const plane = c.ow * c.oh;
          const want = new Float32Array(3 * plane);
          for (let p = 0; p < plane; p++) for (let k = 0; k < 3; k++) want[k * plane + p] = table[k * 256 + c.out[p * 3 + k]];
          const stored = v.dtype === 'f32' ? want : Float32Array.from(await v.gpu.read(v.gpu.upload(want, [want.length], 'f16')));
          expect(got).toEqual(stored);
          px.release();
          y.release();
        }
      }
    });
  }
});
