/**
 * The routes hardware GPUs take, checked here on the software adapters (`npm run test:gpu-profile`, part of
 * `npm test`): SAM2_WEBGPU_PROFILE=gpu makes any adapter take the device profile's GPU choices (the tiled
 * matmul, the attention kernel at every head dim, the conv kernels instead of the matmul routes, norms split
 * across workgroups, the tiled transpose; src/runtime/profile.ts). The same test files, fixtures and bounds as
 * the default profile:
 *   - the model parity suites on lavapipe, in f32, f16 and packed f16;
 *   - the kernel tests of every dispatcher with a GPU route on SwiftShader (packed f16, its 4-lane subgroups).
 * Which test covers which route: src/kernels/README.md, "The GPU profile's routes".
 */
import { defineConfig } from 'vitest/config';
// @ts-expect-error plain ESM script without types
import { embedWgsl } from './scripts/embed-wgsl.mjs';
// @ts-expect-error plain ESM script without types
import { GPU_PROFILE_FILES, GPU_PROFILE_PROJECT } from './scripts/parity-bounds.mjs';

embedWgsl();

/** The kernel tests of the dispatchers whose choice the profile makes, run under it on SwiftShader. */
export const GPU_PROFILE_KERNEL_FILES = [
  'test/kernels/matmul.test.ts',
  'test/kernels/attention.test.ts',
  'test/kernels/sdpa.test.ts',
  'test/kernels/conv2d.test.ts',
  'test/kernels/norm.test.ts',
  'test/kernels/layout.test.ts',
];

/**
 * The cases of the model suites run under the GPU profile: all but the long video replays, of which one case
 * in every variant (point.nofill: 8 frames in f32, 4 in f16 and packed f16) and one tracking step in every
 * variant (sam2_base's frame 16, 7 memories and 16 pointers) take every route of a tracked frame. The
 * other replays take the same routes with other prompts and memories; on lavapipe the GPU profile's attention
 * at head dim 256 (memory attention) costs seconds per frame, which the whole set would multiply into most
 * of an hour.
 */
const GPU_PROFILE_CASES =
  /^(?!.*(?:video cases replayed through trackStep|video cases in f16|SAM 2\.0 memory options|SAM2VideoPredictor against the official predictor (?!point\.nofill \((?:f32|f16|f16packed)\)$)))/;

export default defineConfig({
  test: {
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 600_000,
    projects: [
      {
        extends: true,
        test: { name: GPU_PROFILE_PROJECT as string, include: GPU_PROFILE_FILES as string[], testNamePattern: GPU_PROFILE_CASES, env: { SAM2_WEBGPU_PROFILE: 'gpu', SAM2_WEBGPU_DRIVER: 'lavapipe' } },
      },
      {
        extends: true,
        test: { name: 'gpu profile on swiftshader', include: GPU_PROFILE_KERNEL_FILES, env: { SAM2_WEBGPU_PROFILE: 'gpu', SAM2_WEBGPU_DRIVER: 'swiftshader' } },
      },
    ],
  },
});
