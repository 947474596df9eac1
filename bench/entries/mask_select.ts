import { BYTES, type BenchCase } from '../harness.js';
import { maskSelection, selectRows } from '../../src/kernels/mask_select.js';

/**
 * The mask decoder's dynamic multimask selection (stability of mask 0 over 256×256 logits, IoU argmax over
 * 1..3) for 4 prompts, and the best-IoU selection followed by the row gather the tracking step runs.
 */
const [B, M, H, W] = [4, 4, 256, 256];

export const cases: BenchCase[] = (['f32', 'f16'] as const).flatMap((dtype) => [
  {
    kernel: 'mask_select',
    name: `stability ${B}x${M}x${H}x${W}`,
    dtype,
    flops: 0,
    // mask 0 of each prompt is read
    bytes: B * H * W * BYTES[dtype],
    setup(gpu) {
      const masks = gpu.empty([B, M, H, W], dtype);
      const iou = gpu.empty([B, M], dtype);
      return {
        run: () => maskSelection(gpu, masks, iou, { first: 1, stability: { delta: 0.05, thresh: 0.98 } }).release(),
        dispose: () => [masks, iou].forEach((t) => t.release()),
      };
    },
  } satisfies BenchCase,
  {
    kernel: 'mask_select',
    name: `argmax + selectRows ${B}x3x${H}x${W}`,
    dtype,
    flops: 0,
    bytes: (B * 3 * H * W + B * H * W) * BYTES[dtype],
    setup(gpu) {
      const masks = gpu.empty([B, 3, H, W], dtype);
      const iou = gpu.empty([B, 3], dtype);
      return {
        run: () => {
          const sel = maskSelection(gpu, masks, iou);
          selectRows(gpu, sel, masks).release();
          sel.release();
        },
        dispose: () => [masks, iou].forEach((t) => t.release()),
      };
    },
  } satisfies BenchCase,
]);
