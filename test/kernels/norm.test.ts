import { describe, expect, it } from 'vitest';
import { layerNorm, layerNorm2d } from '../../src/kernels/norm.js';
import { layerNorm2dRef, layerNormRef } from '../../src/kernels/norm.ref.js';
import { asStored, expectClose, rand, variants } from '../helpers.js';

describe('layerNorm', async () => {
  const vs = await variants();
  // [rows, C]: single element, odd, below/above every vector and group width, SAM 2's 256 / 384 / 1152.
  const shapes: Array<[number, number]> = [
    [1, 1],
    [3, 7],
    [2, 4],
    [5, 1001],
    [65, 12],
    [33, 256],
    [9, 384],
    [3, 1152],
  ];
  for (const v of vs) {
    for (const act of ['identity', 'gelu'] as const) {
      it(`affine ${act} ${v.name}`, async () => {
        for (const [rows, c] of shapes) {
          const seed = rows * 131 + c;
          const x = asStored(v, rand(rows * c, seed, -3, 5));
          const w = asStored(v, rand(c, seed + 1, 0.5, 1.5));
          const b = asStored(v, rand(c, seed + 2, -0.5, 0.5));
          const tx = v.gpu.upload(x, [rows, c], v.dtype);
          const tw = v.gpu.upload(w, [c], v.dtype);
          const tb = v.gpu.upload(b, [c], v.dtype);
          const ty = layerNorm(v.gpu, tx, tw, tb, { eps: 1e-6, act });
          const got = await v.gpu.read(ty);
          expectClose(got, asStored(v, layerNormRef(x, c, { weight: w, bias: b, eps: 1e-6, act })), v.tol, `${rows}x${c}`);
          for (const t of [tx, tw, tb, ty]) t.release();
        }
      });
    }

    it(`every threads-per-row, no affine ${v.name}`, async () => {
      for (const [rows, c] of [
        [7, 3],
        [5, 36],
        [4, 1001],
        [3, 1152],
      ] as Array<[number, number]>) {
        const x = asStored(v, rand(rows * c, c, -2, 2));
        const want = asStored(v, layerNormRef(x, c, { eps: 1e-5 }));
        const tx = v.gpu.upload(x, [1, rows, c], v.dtype);
        for (const tpr of [1, 2, 8, 64, 128, 256]) {
          const ty = layerNorm(v.gpu, tx, null, null, { eps: 1e-5, threadsPerRow: tpr });
          expect(ty.shape).toEqual([1, rows, c]);
          expectClose(await v.gpu.read(ty), want, v.tol, `${rows}x${c} tpr=${tpr}`);
          ty.release();
        }
        tx.release();
      }
    });

    it(`large common offset ${v.name}`, async () => {
      // E[x²] - E[x]² in f32 would lose most digits of the variance here (offset² / var ≈ 3e6).
      for (const [rows, c] of [
        [4, 384],
        [2, 1001],
      ] as Array<[number, number]>) {
        const x = asStored(v, rand(rows * c, 7 * c, 999, 1001));
        const tx = v.gpu.upload(x, [rows, c], v.dtype);
        const ty = layerNorm(v.gpu, tx, null, null, { eps: 1e-6 });
        // The f32 mean itself is only known to half an ulp of 1000 (3e-5), i.e. 1e-4 of the std.
        expectClose(await v.gpu.read(ty), asStored(v, layerNormRef(x, c, { eps: 1e-6 })), Math.max(v.tol, 5e-4), `offset ${rows}x${c}`);
        tx.release();
        ty.release();
      }
    });
  }

  it('checks shapes', async () => {
    const g = vs[0].gpu;
    const x = g.upload(rand(12, 1), [3, 4]);
    const w = g.upload(rand(3, 2), [3]);
    const w4 = g.upload(rand(4, 2), [4]);
    expect(() => layerNorm(g, x, w, w, { eps: 1e-5 })).toThrow(/layerNorm: weight .* 4 elements/);
    expect(() => layerNorm(g, x, w4, null, { eps: 1e-5 })).toThrow(/both/);
    expect(() => layerNorm(g, x, null, null, { eps: 1e-5, out: g.empty([3, 3]) })).toThrow(/does not match/);
    expect(() => layerNorm(g, x, null, null, { eps: 1e-5, threadsPerRow: 3 })).toThrow(/power of two/);
  });
});

describe('layerNorm2d', async () => {
  const vs = await variants();
  // [N, C, H, W]: odd pixel counts (scalar path), pixel counts that are multiples of 4, 1 channel, many.
  const shapes: Array<[number, number, number, number]> = [
    [1, 1, 1, 1],
    [1, 3, 5, 7],
    [2, 4, 3, 3],
    [2, 16, 4, 4],
    [1, 33, 7, 8],
    [1, 256, 6, 6],
    [3, 64, 2, 34],
  ];
  for (const v of vs) {
    for (const act of ['identity', 'gelu'] as const) {
      it(`affine ${act} ${v.name}`, async () => {
        for (const [n, c, h, w] of shapes) {
          const seed = n * 1000 + c * 10 + h + w;
          const x = asStored(v, rand(n * c * h * w, seed, -4, 3));
          const wt = asStored(v, rand(c, seed + 1, 0.5, 1.5));
          const b = asStored(v, rand(c, seed + 2, -0.5, 0.5));
          const tx = v.gpu.upload(x, [n, c, h, w], v.dtype);
          const tw = v.gpu.upload(wt, [c], v.dtype);
          const tb = v.gpu.upload(b, [c], v.dtype);
          const want = asStored(v, layerNorm2dRef(x, [n, c, h * w], { weight: wt, bias: b, eps: 1e-6, act }));
          for (const channelSplit of [1, 4]) {
            const ty = layerNorm2d(v.gpu, tx, tw, tb, { eps: 1e-6, act, channelSplit });
            expectClose(await v.gpu.read(ty), want, v.tol, `[${n},${c},${h},${w}] split ${channelSplit}`);
            ty.release();
          }
          for (const t of [tx, tw, tb]) t.release();
        }
      });
    }

    it(`channel splits, no affine, large offset ${v.name}`, async () => {
      const [n, c, h, w] = [2, 37, 3, 4];
      const x = asStored(v, rand(n * c * h * w, 5, -1000, -998));
      const want = asStored(v, layerNorm2dRef(x, [n, c, h * w], { eps: 1e-6 }));
      const tx = v.gpu.upload(x, [n, c, h, w], v.dtype);
      for (const channelSplit of [1, 2, 8, 64]) {
        const ty = layerNorm2d(v.gpu, tx, null, null, { eps: 1e-6, channelSplit });
        expectClose(await v.gpu.read(ty), want, Math.max(v.tol, 5e-4), `split ${channelSplit}`);
        ty.release();
      }
      tx.release();
    });
  }

  it('checks shapes', async () => {
    const g = vs[0].gpu;
    const x = g.upload(rand(24, 1), [1, 2, 3, 4]);
    const w = g.upload(rand(3, 2), [3]);
    expect(() => layerNorm2d(g, x, w, w, { eps: 1e-6 })).toThrow(/layerNorm2d: weight .* 2 elements/);
    expect(() => layerNorm2d(g, x.reshape([2, 3, 4]), null, null, { eps: 1e-6 })).toThrow(/\[N, C, H, W\]/);
    const h = g.upload(rand(24, 1), [1, 2, 3, 4], 'f16');
    expect(() => layerNorm2d(g, h, w, w, { eps: 1e-6 })).toThrow(/dtype/);
  });
});
