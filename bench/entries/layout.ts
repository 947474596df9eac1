/**
 * Layout cases: bytes are one read and one write of every element (the windows' zero padding counted as
 * written). Permutes run with the method permuteMethod() picks for the adapter, and NHWC -> NCHW also tiled.
 */
import type { BenchCase } from '../harness.js';
import { cast, concat, permute, windowPartition, windowUnpartition, type PermuteMethod } from '../../src/kernels/layout.js';
import { numel } from '../../src/runtime/tensor.js';

const DTYPES = ['f32', 'f16'] as const;
const bytesOf = (dtype: string) => (dtype === 'f32' ? 4 : 2);

function permuteCase(shape: number[], perm: number[], dtype: 'f32' | 'f16', method: PermuteMethod | undefined, what: string): BenchCase {
  const n = numel(shape);
  return {
    kernel: 'permute',
    name: `[${shape}] -> [${perm}] ${what}${method ? ` (${method})` : ''}`,
    dtype,
    flops: 0,
    bytes: 2 * n * bytesOf(dtype),
    setup(gpu) {
      const x = gpu.empty(shape, dtype);
      const y = gpu.empty(perm.map((p) => shape[p]), dtype);
      return { run: () => void permute(gpu, x, perm, { out: y, method }), dispose: () => [x, y].forEach((t) => t.release()) };
    },
  };
}

function windowCase(shape: [number, number, number, number], ws: number, dtype: 'f32' | 'f16', dir: 'partition' | 'unpartition', what: string): BenchCase {
  const [b, h, w, c] = shape;
  const hp = Math.ceil(h / ws) * ws;
  const wp = Math.ceil(w / ws) * ws;
  const padded = b * hp * wp * c;
  return {
    kernel: dir === 'partition' ? 'windowPartition' : 'windowUnpartition',
    name: `[${shape}] ws ${ws} ${what}`,
    dtype,
    flops: 0,
    bytes: (numel(shape) + padded) * bytesOf(dtype),
    setup(gpu) {
      const x = gpu.empty(shape, dtype);
      const win = gpu.empty([padded / (ws * ws * c), ws, ws, c], dtype);
      return {
        run: () =>
          void (dir === 'partition'
            ? windowPartition(gpu, x, ws, { out: win })
            : windowUnpartition(gpu, win, ws, [hp, wp], [h, w], { out: x })),
        dispose: () => [x, win].forEach((t) => t.release()),
      };
    },
  };
}

function concatCase(dtype: 'f32' | 'f16'): BenchCase {
  // Memory attention's memory: 7 frames of 64·64 tokens × 64 channels and 64 pointer tokens.
  const shapes = [...new Array<number[]>(7).fill([4096, 1, 64]), [64, 1, 64]];
  const n = shapes.reduce((a, s) => a + numel(s), 0);
  return {
    kernel: 'concat',
    name: `7x[4096,1,64] + [64,1,64] dim 0 (memory tokens)`,
    dtype,
    flops: 0,
    bytes: 2 * n * bytesOf(dtype),
    setup(gpu) {
      const xs = shapes.map((s) => gpu.empty(s, dtype));
      const y = gpu.empty([n / 64, 1, 64], dtype);
      return { run: () => void concat(gpu, xs, 0, { out: y }), dispose: () => [...xs, y].forEach((t) => t.release()) };
    },
  };
}

function castCase(from: 'f32' | 'bf16', to: 'f32' | 'bf16'): BenchCase {
  const shape = [7 * 4096, 64];
  const n = numel(shape);
  return {
    kernel: 'cast',
    name: `[${shape}] ${from} -> ${to} (memory bank)`,
    dtype: 'f32',
    flops: 0,
    bytes: n * (bytesOf(from) + bytesOf(to)),
    setup(gpu) {
      const x = gpu.empty(shape, from);
      const y = gpu.empty(shape, to);
      return { run: () => void cast(gpu, x, to, { out: y }), dispose: () => [x, y].forEach((t) => t.release()) };
    },
  };
}

export const cases: BenchCase[] = [
  ...DTYPES.flatMap((dtype) => [
    permuteCase([1, 64, 64, 256], [0, 3, 1, 2], dtype, undefined, 'NHWC -> NCHW'),
    permuteCase([1, 64, 64, 256], [0, 3, 1, 2], dtype, 'tiled', 'NHWC -> NCHW'),
    permuteCase([1, 4096, 8, 32], [0, 2, 1, 3], dtype, undefined, 'heads'),
    windowCase([1, 256, 256, 96], 8, dtype, 'partition', '(Hiera stage 1 at 1024)'),
    windowCase([1, 256, 256, 96], 8, dtype, 'unpartition', '(Hiera stage 1 at 1024)'),
    windowCase([1, 64, 64, 384], 14, dtype, 'partition', '(Hiera-S stage 3, padded to 70)'),
    concatCase(dtype),
  ]),
  castCase('f32', 'bf16'),
  castCase('bf16', 'f32'),
];
