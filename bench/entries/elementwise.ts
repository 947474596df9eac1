import type { BenchCase } from '../harness.js';
import { unary } from '../../src/kernels/elementwise.js';

const n = 256 * 64 * 64;
export const cases: BenchCase[] = (['f32', 'f16'] as const).map((dtype) => ({
  kernel: 'gelu',
  name: `${n} elements`,
  dtype,
  flops: 0,
  bytes: n * (dtype === 'f32' ? 8 : 4),
  setup(gpu) {
    const x = gpu.empty([n], dtype);
    const y = gpu.empty([n], dtype);
    return {
      run: () => void unary(gpu, x, 'gelu', { out: y }),
      dispose: () => {
        x.release();
        y.release();
      },
    };
  },
}));
