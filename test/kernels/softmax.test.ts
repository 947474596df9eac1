import { describe, expect, it } from 'vitest';
import { softmax } from '../../src/kernels/softmax.js';
import { softmaxRef } from '../../src/kernels/softmax.ref.js';
import { asStored, expectClose, rand, variants } from '../helpers.js';

describe('softmax', async () => {
  const vs = await variants();
  // [..., N]: single element, odd lengths, lengths below and above every vector / group width, 3-D.
  const shapes = [[1, 1], [3, 7], [2, 4], [5, 1001], [65, 12], [3, 4096], [2, 3, 64], [1, 2, 1, 3]];
  for (const v of vs) {
    it(`shapes ${v.name}`, async () => {
      for (const shape of shapes) {
        const n = shape[shape.length - 1];
        const size = shape.reduce((a, b) => a * b, 1);
        const x = asStored(v, rand(size, size * 3 + n, -4, 4));
        const tx = v.gpu.upload(x, shape, v.dtype);
        const ty = softmax(v.gpu, tx, { scale: 0.75 });
        expect(ty.shape).toEqual(shape);
        expectClose(await v.gpu.read(ty), asStored(v, softmaxRef(x, n, 0.75)), v.tol, `[${shape}]`);
        tx.release();
        ty.release();
      }
    });

    it(`every threads-per-row ${v.name}`, async () => {
      for (const [rows, n] of [
        [9, 5],
        [4, 36],
        [3, 1001],
      ]) {
        const x = asStored(v, rand(rows * n, n, -8, 8));
        const want = asStored(v, softmaxRef(x, n));
        const tx = v.gpu.upload(x, [rows, n], v.dtype);
        for (const tpr of [1, 2, 8, 64, 256]) {
          const ty = softmax(v.gpu, tx, { threadsPerRow: tpr });
          expectClose(await v.gpu.read(ty), want, v.tol, `${rows}x${n} tpr=${tpr}`);
          ty.release();
        }
        tx.release();
      }
    });

    it(`large magnitudes ${v.name}`, async () => {
      // exp without the max subtracted overflows at 88; rows mix huge positive and negative values, and one
      // row is constant and large (uniform output).
      const big = v.dtype === 'f32' ? 1e4 : 100;
      for (const [rows, n] of [
        [4, 33],
        [3, 260],
      ]) {
        const raw = rand(rows * n, 11 * n, -big, big);
        raw.fill(big * 0.9, 0, n);
        // Ties and a near-tie at the top of the second row, so the sum is not just 1.
        raw[n] = raw[n + 1] = raw[n + 2] = big;
        raw[n + 3] = big - 2;
        const x = asStored(v, raw);
        for (const tpr of [1, 8, 64]) {
          const tx = v.gpu.upload(x, [rows, n], v.dtype);
          const ty = softmax(v.gpu, tx, { threadsPerRow: tpr });
          const got = await v.gpu.read(ty);
          expect(got.every(Number.isFinite)).toBe(true);
          expectClose(got, asStored(v, softmaxRef(x, n)), v.tol, `big ${rows}x${n} tpr=${tpr}`);
          tx.release();
          ty.release();
        }
      }
    });
  }

  it('checks shapes', async () => {
    const g = vs[0].gpu;
    const x = g.upload(rand(12, 1), [3, 4]);
    expect(() => softmax(g, x, { out: g.empty([4, 3], 'f16') })).toThrow(/softmax: out .* does not match/);
    expect(() => softmax(g, g.empty([3, 0]))).toThrow(/empty last dim/);
    expect(() => softmax(g, x, { threadsPerRow: 6 })).toThrow(/power of two/);
  });
});
