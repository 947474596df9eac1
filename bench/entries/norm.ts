/**
 * Normalization cases. Bytes count one read of x and one write of y (plus weight and bias), the least any
 * implementation moves; the kernels read x twice (statistics, then normalization).
 */
import type { BenchCase } from '../harness.js';
import { layerNorm, layerNorm2d } from '../../src/kernels/norm.js';

const DTYPES = ['f32', 'f16'] as const;
const bytesOf = (dtype: 'f32' | 'f16') => (dtype === 'f32' ? 4 : 2);

function rowsCase(rows: number, c: number, dtype: 'f32' | 'f16', what: string): BenchCase {
  return {
    kernel: 'layerNorm',
    name: `${rows}x${c} ${what}`,
    dtype,
    flops: 0,
    bytes: (2 * rows * c + 2 * c) * bytesOf(dtype),
    setup(gpu) {
      const x = gpu.empty([rows, c], dtype);
      const w = gpu.empty([c], dtype);
      const b = gpu.empty([c], dtype);
      const y = gpu.empty([rows, c], dtype);
      return {
        run: () => void layerNorm(gpu, x, w, b, { eps: 1e-6, out: y }),
        dispose: () => [x, w, b, y].forEach((t) => t.release()),
      };
    },
  };
}

function nchwCase(shape: [number, number, number, number], dtype: 'f32' | 'f16', act: 'identity' | 'gelu', what: string): BenchCase {
  const [n, c, h, w] = shape;
  const size = n * c * h * w;
  return {
    kernel: 'layerNorm2d',
    name: `${shape.join('x')} ${what}`,
    dtype,
    flops: 0,
    bytes: (2 * size + 2 * c) * bytesOf(dtype),
    setup(gpu) {
      const x = gpu.empty(shape, dtype);
      const wt = gpu.empty([c], dtype);
      const b = gpu.empty([c], dtype);
      const y = gpu.empty(shape, dtype);
      return {
        run: () => void layerNorm2d(gpu, x, wt, b, { eps: 1e-6, act, out: y }),
        dispose: () => [x, wt, b, y].forEach((t) => t.release()),
      };
    },
  };
}

export const cases: BenchCase[] = DTYPES.flatMap((dtype) => [
  rowsCase(4096, 384, dtype, '(Hiera-S/B+ stage 3 tokens)'),
  rowsCase(1024, 1152, dtype, '(Hiera-L stage 4)'),
  nchwCase([1, 256, 64, 64], dtype, 'identity', '(memory encoder)'),
  nchwCase([1, 64, 128, 128], dtype, 'gelu', '+GELU (mask decoder upscaling)'),
]);
