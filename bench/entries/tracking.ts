import { BYTES, type BenchCase } from '../harness.js';
import { clampToF32, gateMasks, gatePointer, maskPresence, memoryBankEntry, memoryMask } from '../../src/kernels/tracking.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import type { Tensor } from '../../src/runtime/tensor.js';

/**
 * The tracking step's kernels at SAM 2's sizes (image size 1024, 4 objects tracked as one batch): low-res
 * masks [4, 1, 256, 256], high-res masks [4, 1, 1024, 1024], pointers [4, 256], memories [4, 64, 64, 64].
 * Memory-bound; each run allocates its output from the pool and releases it.
 */
const B = 4;
const LOW = 256 * 256;
const HIGH = 1024 * 1024;

interface TrackingCase {
  name: string;
  /** Reads f32 whatever the activation dtype (one case, not one per dtype). */
  f32Only?: boolean;
  bytes(dtype: 'f32' | 'f16'): number;
  /** Inputs (allocated once) and the dispatch of one iteration, which returns its output. */
  make(gpu: Gpu, dtype: 'f32' | 'f16'): { inputs: Tensor[]; run(): Tensor };
}

const score = (gpu: Gpu) => gpu.upload([1, -1, 0, 2], [B, 1], 'f32');

const tracking: TrackingCase[] = [
  {
    name: `clampToF32 ${B}x1x256x256`,
    bytes: (d) => B * LOW * (BYTES[d] + 4),
    make(gpu, d) {
      const x = gpu.empty([B, 1, 256, 256], d);
      return { inputs: [x], run: () => clampToF32(gpu, x, -32, 32) };
    },
  },
  {
    name: `gateMasks ${B}x1x256x256`,
    bytes: (d) => B * LOW * (BYTES[d] + 4),
    make(gpu, d) {
      const x = gpu.empty([B, 1, 256, 256], d);
      const s = score(gpu);
      return { inputs: [x, s], run: () => gateMasks(gpu, x, s) };
    },
  },
  {
    name: `gatePointer ${B}x256 soft`,
    bytes: (d) => (2 * B * 256 + 256) * BYTES[d],
    make(gpu, d) {
      const p = gpu.empty([B, 256], d);
      const e = gpu.empty([1, 256], d);
      const s = score(gpu);
      return { inputs: [p, e, s], run: () => gatePointer(gpu, p, s, e, { soft: true, fixed: true }) };
    },
  },
  {
    name: `maskPresence ${B}x1x1024x1024`,
    f32Only: true,
    bytes: () => B * HIGH * 4,
    make(gpu) {
      const x = gpu.empty([B, 1, 1024, 1024], 'f32');
      return { inputs: [x], run: () => maskPresence(gpu, x, 20, -10) };
    },
  },
  {
    name: `memoryMask ${B}x1x1024x1024 sigmoid`,
    bytes: (d) => B * HIGH * (4 + BYTES[d]),
    make(gpu, d) {
      const x = gpu.empty([B, 1, 1024, 1024], 'f32');
      return { inputs: [x], run: () => memoryMask(gpu, x, d, { binarize: false, scale: 20, bias: -10 }) };
    },
  },
  {
    name: `memoryBankEntry ${B}x64x64x64`,
    bytes: (d) => B * 64 * 4096 * (BYTES[d] + 2),
    make(gpu, d) {
      const x = gpu.empty([B, 64, 64, 64], d);
      const e = gpu.empty([1, 64], d);
      const s = score(gpu);
      return { inputs: [x, e, s], run: () => memoryBankEntry(gpu, x, s, e) };
    },
  },
];

export const cases: BenchCase[] = (['f32', 'f16'] as const).flatMap((dtype) =>
  tracking.filter((c) => dtype === 'f32' || !c.f32Only).map(
    (c) =>
      ({
        kernel: 'tracking',
        name: c.name,
        dtype,
        flops: 0,
        bytes: c.bytes(dtype),
        setup(gpu) {
          const { inputs, run } = c.make(gpu, dtype);
          return {
            run: () => run().release(),
            dispose: () => inputs.forEach((t) => t.release()),
          };
        },
      }) satisfies BenchCase,
  ),
);
