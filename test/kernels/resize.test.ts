import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { resize, type ResizeMode, type ResizeOptions } from '../../src/kernels/resize.js';
import { resizeRef } from '../../src/kernels/resize.ref.js';
import { asStored, expectClose, rand, variants } from '../helpers.js';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** torch.nn.functional.interpolate outputs (tools/reference/data_fixtures.py, group `resize`). */
const torchResize = JSON.parse(readFileSync(new URL('./data/resize_torch.json', import.meta.url), 'utf8')) as {
  input: { shape: number[]; data: number[] };
  cases: Array<{
    mode: ResizeMode;
    size: number[] | null;
    scale_factor: number | null;
    align_corners: boolean | null;
    antialias: boolean;
    shape: number[];
    out: number[];
  }>;
};

interface Case {
  shape: [number, number, number, number];
  mode: ResizeMode;
  opts: Omit<ResizeOptions, 'out'>;
}

const cases: Case[] = [
  // nearest: arbitrary sizes, the special 1× / 2× cases, scale factors whose reciprocal rounds in float32
  { shape: [1, 2, 5, 7], mode: 'nearest', opts: { size: [9, 4] } },
  { shape: [1, 3, 7, 7], mode: 'nearest', opts: { size: [64, 61] } },
  { shape: [2, 3, 4, 5], mode: 'nearest', opts: { scaleFactor: 2 } },
  { shape: [1, 1, 5, 7], mode: 'nearest', opts: { scaleFactor: 3 } },
  { shape: [1, 1, 10, 9], mode: 'nearest', opts: { scaleFactor: [1.7, 0.3] } },
  { shape: [1, 1, 5, 5], mode: 'nearest', opts: { scaleFactor: 1.1 } },
  // bilinear, align_corners false / true, up and down, 1×1 in and out, unchanged axis with a scale factor
  { shape: [2, 3, 6, 5], mode: 'bilinear', opts: { size: [13, 11] } },
  { shape: [1, 2, 16, 12], mode: 'bilinear', opts: { size: [27, 45] } },
  { shape: [2, 3, 6, 5], mode: 'bilinear', opts: { size: [4, 3] } },
  { shape: [2, 3, 6, 5], mode: 'bilinear', opts: { size: [13, 2], alignCorners: true } },
  { shape: [1, 2, 7, 9], mode: 'bilinear', opts: { scaleFactor: 2.5 } },
  { shape: [1, 2, 7, 9], mode: 'bilinear', opts: { scaleFactor: 0.45, recomputeScaleFactor: true } },
  { shape: [1, 1, 1, 1], mode: 'bilinear', opts: { size: [3, 5] } },
  { shape: [1, 1, 5, 5], mode: 'bilinear', opts: { size: [1, 1], alignCorners: true } },
  { shape: [1, 1, 5, 7], mode: 'bilinear', opts: { scaleFactor: [1.1, 1.3] } },
  // antialiased bilinear: integer and fractional downscales, mixed up/down, one axis unchanged
  { shape: [1, 2, 16, 20], mode: 'bilinear', opts: { size: [4, 5], antialias: true } },
  { shape: [1, 2, 17, 23], mode: 'bilinear', opts: { size: [5, 7], antialias: true } },
  { shape: [1, 2, 17, 23], mode: 'bilinear', opts: { size: [30, 7], antialias: true } },
  { shape: [1, 2, 9, 8], mode: 'bilinear', opts: { size: [9, 3], antialias: true } },
  { shape: [1, 2, 9, 8], mode: 'bilinear', opts: { size: [4, 3], antialias: true, alignCorners: true } },
  { shape: [1, 1, 10, 10], mode: 'bilinear', opts: { scaleFactor: 0.33, antialias: true } },
  // bicubic (position embeddings: 7×7 → larger), down, align_corners
  { shape: [1, 3, 7, 7], mode: 'bicubic', opts: { size: [64, 64] } },
  { shape: [1, 3, 7, 6], mode: 'bicubic', opts: { size: [3, 4] } },
  { shape: [1, 3, 7, 6], mode: 'bicubic', opts: { size: [11, 13], alignCorners: true } },
  { shape: [1, 2, 8, 8], mode: 'bicubic', opts: { scaleFactor: 1.5 } },
  { shape: [1, 1, 1, 3], mode: 'bicubic', opts: { size: [2, 7] } },
];

describe('resize', async () => {
  const vs = await variants();
  for (const v of vs) {
    it(`matches the reference (${v.name})`, async () => {
      for (const c of cases) {
        const x = asStored(v, rand(numel(c.shape), numel(c.shape) + 3, -2, 2));
        const sf = c.opts.scaleFactor;
        const ref = resizeRef(x, c.shape, c.mode, {
          ...c.opts,
          scaleFactor: sf === undefined ? undefined : typeof sf === 'number' ? [sf, sf] : sf,
        });
        const tx = v.gpu.upload(x, c.shape, v.dtype);
        const ty = resize(v.gpu, tx, c.mode, c.opts);
        expect(ty.shape).toEqual(ref.shape);
        // nearest copies values: exact.
        expectClose(await v.gpu.read(ty), asStored(v, ref.data), c.mode === 'nearest' ? 0 : v.tol, `resize ${JSON.stringify(c)}`);
        tx.release();
        ty.release();
      }
    });
  }

  it('reproduces values computed by PyTorch', async () => {
    // F.interpolate on x = arange(12) ** 1.5 as [1, 1, 3, 4] (data/resize_torch.json, written by
    // tools/reference/regenerate.sh --only resize).
    const g = vs[0].gpu;
    const input = Float32Array.from(torchResize.input.data);
    expect(Array.from(input)).toEqual(Array.from({ length: 12 }, (_, i) => Math.fround(i ** 1.5)));
    const x = g.upload(input, torchResize.input.shape);
    expect(torchResize.cases.map((c) => c.mode).sort()).toEqual(['bicubic', 'bilinear', 'bilinear', 'nearest']);
    for (const c of torchResize.cases) {
      const opts: ResizeOptions = {
        ...(c.size ? { size: c.size as [number, number] } : { scaleFactor: c.scale_factor! }),
        ...(c.align_corners ? { alignCorners: true } : {}),
        ...(c.antialias ? { antialias: true } : {}),
      };
      const y = resize(g, x, c.mode, opts);
      expect(y.shape, `${c.mode} ${JSON.stringify(opts)}`).toEqual(c.shape);
      expectClose(await g.read(y), c.out, 1e-6, `${c.mode} ${JSON.stringify(opts)}`);
      y.release();
    }
    x.release();
  });

  it('rejects bad arguments', () => {
    const g = vs[0].gpu;
    const x = g.empty([1, 2, 8, 8]);
    expect(() => resize(g, x, 'bilinear', {})).toThrow(/resize_bilinear: give size or scaleFactor/);
    expect(() => resize(g, x, 'bilinear', { size: [4, 4], scaleFactor: 2 })).toThrow(/not both/);
    expect(() => resize(g, x, 'bicubic', { size: [4, 4], antialias: true })).toThrow(/antialias/);
    expect(() => resize(g, x, 'nearest', { size: [4, 4], alignCorners: true })).toThrow(/alignCorners/);
    expect(() => resize(g, x, 'nearest', { scaleFactor: 0.1 })).toThrow(/output size/);
    expect(() => resize(g, g.empty([2, 8, 8]), 'nearest', { size: [4, 4] })).toThrow(/4-D/);
    expect(() => resize(g, x, 'nearest', { size: [4, 4], out: g.empty([1, 2, 4, 5]) })).toThrow(/out/);
  });
});
