import { describe, expect, it } from 'vitest';
import { maxPool2d, type MaxPool2dOptions } from '../../src/kernels/pool.js';
import { maxPool2dRef } from '../../src/kernels/pool.ref.js';
import { asStored, expectClose, rand, variants } from '../helpers.js';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const pair = (v: number | [number, number] | undefined): [number, number] | undefined => (typeof v === 'number' ? [v, v] : v);

const cases: Array<{ shape: [number, number, number, number]; opts: MaxPool2dOptions }> = [
  // Hiera query pooling: 2×2 stride 2 on [B, H, W, C] tokens (C % 4 == 0: quad path), odd sizes floor.
  { shape: [2, 9, 7, 8], opts: { kernel: 2, layout: 'nhwc' } },
  { shape: [1, 16, 16, 96], opts: { kernel: 2, layout: 'nhwc' } },
  { shape: [1, 5, 6, 7], opts: { kernel: 2, layout: 'nhwc' } },
  { shape: [1, 7, 9, 3], opts: { kernel: 3, stride: 2, padding: 1, layout: 'nhwc' } },
  { shape: [1, 8, 9, 12], opts: { kernel: [3, 2], stride: [2, 1], padding: [1, 1], dilation: [2, 2], layout: 'nhwc' } },
  // NCHW
  { shape: [2, 3, 9, 7], opts: { kernel: 2 } },
  { shape: [1, 3, 9, 7], opts: { kernel: 3, stride: 2, padding: 1 } },
  { shape: [1, 2, 10, 9], opts: { kernel: [3, 2], stride: [2, 1], padding: [1, 1], dilation: [2, 2] } },
  { shape: [1, 1, 1, 1001], opts: { kernel: [1, 2] } },
  { shape: [1, 5, 2, 2], opts: { kernel: 2 } },
];

describe('max_pool2d', async () => {
  const vs = await variants();
  for (const v of vs) {
    it(`matches PyTorch's definition exactly (${v.name})`, async () => {
      for (const c of cases) {
        const x = asStored(v, rand(numel(c.shape), numel(c.shape), -4, 4));
        const ref = maxPool2dRef(x, c.shape, {
          kernel: pair(c.opts.kernel)!,
          stride: pair(c.opts.stride),
          padding: pair(c.opts.padding),
          dilation: pair(c.opts.dilation),
          layout: c.opts.layout,
        });
        const tx = v.gpu.upload(x, c.shape, v.dtype);
        const ty = maxPool2d(v.gpu, tx, c.opts);
        expect(ty.shape).toEqual(ref.shape);
        // A max is exact: no tolerance.
        expectClose(await v.gpu.read(ty), ref.data, 0, `max_pool2d ${JSON.stringify(c)}`);
        tx.release();
        ty.release();
      }
    });
  }
  it('pads with −∞ (all-negative inputs at the border)', async () => {
    const g = vs[0].gpu;
    const x = new Float32Array(16).map((_, i) => -1 - i);
    const y = await g.read(maxPool2d(g, g.upload(x, [1, 1, 4, 4]), { kernel: 3, stride: 2, padding: 1 }));
    expect(Array.from(y)).toEqual([-1, -2, -5, -6]);
  });
  it('rejects bad arguments', () => {
    const g = vs[0].gpu;
    const x = g.empty([1, 4, 8, 8]);
    expect(() => maxPool2d(g, x, { kernel: 2, padding: 2 })).toThrow(/max_pool2d: padding/);
    expect(() => maxPool2d(g, x, { kernel: 9 })).toThrow(/max_pool2d: .*smaller/);
    expect(() => maxPool2d(g, g.empty([4, 8, 8]), { kernel: 2 })).toThrow(/max_pool2d: x .*4-D/);
    expect(() => maxPool2d(g, x, { kernel: 2, out: g.empty([1, 4, 4, 5]) })).toThrow(/max_pool2d: out/);
  });
});
