import { BYTES, type BenchCase } from '../harness.js';
import { conv2d, convTranspose2d, type Conv2dOptions } from '../../src/kernels/conv2d.js';

interface ConvCase {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  opts: Conv2dOptions;
}

/** The convolutions SAM 2 runs, at the official sizes. */
const convs: ConvCase[] = [
  { name: 'depthwise 7x7 256x64x64 (CXBlock)', x: [1, 256, 64, 64], w: [256, 1, 7, 7], opts: { padding: 3, groups: 256 } },
  { name: 'patch embed 7x7 s4 3->96 @1024', x: [1, 3, 1024, 1024], w: [96, 3, 7, 7], opts: { stride: 4, padding: 3 } },
  { name: '1x1 256->256 @64x64', x: [1, 256, 64, 64], w: [256, 256, 1, 1], opts: {} },
  { name: '3x3 s2 64->256 @128 (mask downsampler)', x: [1, 64, 128, 128], w: [256, 64, 3, 3], opts: { stride: 2, padding: 1 } },
  // The two routes of a strided convolution, forced (the automatic choice depends on the adapter).
  { name: '3x3 s2 64->256 @128, direct kernel', x: [1, 64, 128, 128], w: [256, 64, 3, 3], opts: { stride: 2, padding: 1, impl: 'direct' } },
  { name: '3x3 s2 64->256 @128, im2col + matmul', x: [1, 64, 128, 128], w: [256, 64, 3, 3], opts: { stride: 2, padding: 1, impl: 'im2col' } },
];

function outHW(c: ConvCase): [number, number] {
  const s = typeof c.opts.stride === 'number' ? c.opts.stride : 1;
  const p = typeof c.opts.padding === 'number' ? c.opts.padding : 0;
  return [Math.floor((c.x[2] + 2 * p - c.w[2]) / s) + 1, Math.floor((c.x[3] + 2 * p - c.w[3]) / s) + 1];
}

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

export const cases: BenchCase[] = [];

for (const dtype of ['f32', 'f16'] as const) {
  for (const c of convs) {
    const [ho, wo] = outHW(c);
    const out = c.x[0] * c.w[0] * ho * wo;
    cases.push({
      kernel: 'conv2d',
      name: c.name,
      dtype,
      flops: 2 * out * c.w[1] * c.w[2] * c.w[3],
      bytes: (numel(c.x) + numel(c.w) + c.w[0] + out) * BYTES[dtype],
      setup(gpu) {
        const x = gpu.empty(c.x, dtype);
        const w = gpu.empty(c.w, dtype);
        const b = gpu.empty([c.w[0]], dtype);
        const y = gpu.empty([c.x[0], c.w[0], ho, wo], dtype);
        return {
          run: () => void conv2d(gpu, x, w, { ...c.opts, bias: b, out: y }),
          dispose: () => [x, w, b, y].forEach((t) => t.release()),
        };
      },
    });
  }
  // Mask decoder output upscaling, first stage: ConvTranspose2d(256, 64, kernel 2, stride 2) at 64×64, the
  // automatic choice and each route forced.
  const xs = [1, 256, 64, 64];
  const ws = [256, 64, 2, 2];
  const ys = [1, 64, 128, 128];
  for (const impl of ['auto', 'gemm', 'matmul'] as const) {
    cases.push({
      kernel: 'conv2d',
      name: `conv-transpose 2x2 s2 256->64 @64x64${impl === 'auto' ? '' : `, ${impl}`}`,
      dtype,
      flops: 2 * numel(xs) * ws[1] * ws[2] * ws[3],
      bytes: (numel(xs) + numel(ws) + ws[1] + numel(ys)) * BYTES[dtype],
      setup(gpu) {
        const x = gpu.empty(xs, dtype);
        const w = gpu.empty(ws, dtype);
        const b = gpu.empty([ws[1]], dtype);
        const y = gpu.empty(ys, dtype);
        return {
          run: () => void convTranspose2d(gpu, x, w, { bias: b, out: y, impl }),
          dispose: () => [x, w, b, y].forEach((t) => t.release()),
        };
      },
    });
  }
}
