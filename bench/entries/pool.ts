import { BYTES, type BenchCase } from '../harness.js';
import { maxPool2d } from '../../src/kernels/pool.js';

/** Hiera's first query pooling: 2×2 stride 2 on [1, 256, 256, 96] tokens (NHWC), and the same in NCHW. */
export const cases: BenchCase[] = (['f32', 'f16'] as const).flatMap((dtype) =>
  (['nhwc', 'nchw'] as const).map((layout) => {
    const xs = layout === 'nhwc' ? [1, 256, 256, 96] : [1, 96, 256, 256];
    const ys = layout === 'nhwc' ? [1, 128, 128, 96] : [1, 96, 128, 128];
    const n = 256 * 256 * 96;
    return {
      kernel: 'max_pool2d',
      name: `2x2 s2 ${xs.join('x')} ${layout}`,
      dtype,
      flops: 0,
      bytes: (n + n / 4) * BYTES[dtype],
      setup(gpu) {
        const x = gpu.empty(xs, dtype);
        const y = gpu.empty(ys, dtype);
        return {
          run: () => void maxPool2d(gpu, x, { kernel: 2, layout, out: y }),
          dispose: () => {
            x.release();
            y.release();
          },
        };
      },
    } satisfies BenchCase;
  }),
);
