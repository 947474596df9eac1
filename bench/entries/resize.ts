import { BYTES, type BenchCase } from '../harness.js';
import { resize, type ResizeMode, type ResizeOptions } from '../../src/kernels/resize.js';

interface ResizeCase {
  name: string;
  x: [number, number, number, number];
  out: [number, number];
  mode: ResizeMode;
  opts: ResizeOptions;
}

/** The resamplings SAM 2 runs. */
const resizes: ResizeCase[] = [
  // Video predictor: low-res masks (3 multimask outputs) to the video resolution.
  { name: 'bilinear 3x256x256 -> 540x960', x: [1, 3, 256, 256], out: [540, 960], mode: 'bilinear', opts: {} },
  // Mask input downsampling with antialiasing (1024 → 256).
  { name: 'bilinear aa 1x1024x1024 -> 256x256', x: [1, 1, 1024, 1024], out: [256, 256], mode: 'bilinear', opts: { antialias: true } },
  // Hiera position embedding (7×7 → 256×256, 96 channels).
  { name: 'bicubic 96x7x7 -> 256x256', x: [1, 96, 7, 7], out: [256, 256], mode: 'bicubic', opts: {} },
  // FPN neck top-down path: 2× nearest of 256 channels.
  { name: 'nearest 2x 256x64x64 -> 128x128', x: [1, 256, 64, 64], out: [128, 128], mode: 'nearest', opts: { scaleFactor: 2 } },
];

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

export const cases: BenchCase[] = (['f32', 'f16'] as const).flatMap((dtype) =>
  resizes.map((c) => {
    const ys = [c.x[0], c.x[1], ...c.out];
    return {
      kernel: 'resize',
      name: c.name,
      dtype,
      flops: 0,
      bytes: (numel(c.x) + numel(ys)) * BYTES[dtype],
      setup(gpu) {
        const x = gpu.empty(c.x, dtype);
        const y = gpu.empty(ys, dtype);
        const opts: ResizeOptions = c.opts.scaleFactor ? { ...c.opts, out: y } : { ...c.opts, size: c.out, out: y };
        return {
          run: () => void resize(gpu, x, c.mode, opts),
          dispose: () => {
            x.release();
            y.release();
          },
        };
      },
    } satisfies BenchCase;
  }),
);
