import { defineConfig } from 'vitest/config';
// @ts-expect-error plain ESM script without types
import { embedWgsl } from './scripts/embed-wgsl.mjs';

embedWgsl();

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/browser/**', 'node_modules/**'],
    // One GPU device per worker; a software adapter is CPU-bound, so run files one at a time.
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
