/**
 * The engine's tests inside Chromium (`npm run test:browser`): headless Debian chromium with WebGPU on its
 * SwiftShader adapter (no shader-f16, so the variants are f32 and f16packed), driven by Playwright. The same
 * test files as in Node run in the page, unchanged: every kernel test, the image encoder and mask decoder
 * parity fixtures, and one video case; test/browser adds the browser-vs-Node agreement check.
 *
 * The page reads files from the test server: the fixture reader fetches safetensors, and `node:fs` /
 * `Buffer` are small shims (test/browser/node_fs.ts, setup.ts). Nothing is downloaded: the browser is the
 * system's (CHROMIUM_PATH overrides /usr/bin/chromium).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { playwright } from '@vitest/browser-playwright';
import { defineConfig } from 'vitest/config';
import type { BrowserCommand } from 'vitest/node';
// @ts-expect-error plain ESM script without types
import { embedWgsl } from './scripts/embed-wgsl.mjs';

embedWgsl();

/** The video file's suite, and the cases of it that run in the page (SwiftShader is slow): one single-object case. */
const VIDEO_SUITE = 'SAM2VideoPredictor against the official predictor';
const VIDEO_CASES = ['point.nofill (f32)'];
/** Tests left to Node: minutes on SwiftShader for what the page adds nothing to (test names, as regexes). */
const NODE_ONLY = [
  // 2^19 matmul rows to fold the grid beyond 65,535 workgroups: ~4 minutes in the page; the attention test
  // of the same folding runs.
  'splits batches beyond 65,535 workgroups',
];

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  throw new Error(`browser tests: no Chromium at ${CHROMIUM} (bash scripts/setup-webgpu.sh installs it; CHROMIUM_PATH picks another)`);
}

const ROOT = fileURLToPath(new URL('.', import.meta.url));
const ARTIFACTS = join(ROOT, 'test/browser/artifacts');

/** The agreement computation in Node (test/browser/node_outputs.ts): its output file (also as base64) and adapter. */
const nodeOutputs: BrowserCommand<[driver: string]> = async (_ctx, driver) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = `node-${driver}.safetensors`;
  const env = { ...process.env };
  if (driver !== 'default') env.SAM2_WEBGPU_DRIVER = driver;
  const t0 = performance.now();
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'test/browser/node_outputs.ts', join(ARTIFACTS, file)],
      { cwd: ROOT, env, maxBuffer: 16 << 20 },
      (err, out, errOut) => (err ? reject(new Error(`node_outputs.ts (${driver}): ${err.message}\n${errOut}`)) : resolve(out)),
    );
  });
  const adapter = stdout.trim().split('\n').pop()!;
  const base64 = readFileSync(join(ARTIFACTS, file)).toString('base64');
  return { file, base64, adapter, seconds: (performance.now() - t0) / 1000 };
};

const writeArtifact: BrowserCommand<[name: string, text: string]> = (_ctx, name, text) => {
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(join(ARTIFACTS, name), text);
};

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

export default defineConfig({
  // Record mode of the parity checks (test/model/parity.ts) in the page.
  define: { __SAM2_WEBGPU_PARITY__: JSON.stringify(process.env.SAM2_WEBGPU_PARITY ?? '') },
  resolve: {
    alias: [{ find: /^node:fs$/, replacement: new URL('./test/browser/node_fs.ts', import.meta.url).pathname }],
  },
  test: {
    include: [
      'test/kernels/*.test.ts',
      'test/model/image_encoder.test.ts',
      'test/model/mask_decoder.test.ts',
      'test/video/video_predictor.test.ts',
      'test/browser/*.test.ts',
    ],
    // Matched against each test's name with its suites': in the video suite only the listed cases run, and
    // nowhere the Node-only tests.
    testNamePattern: new RegExp(
      `^(?!.*${esc(VIDEO_SUITE)} (?!(?:${VIDEO_CASES.map(esc).join('|')})$))(?!.*(?:${NODE_ONLY.map(esc).join('|')}))`,
    ),
    setupFiles: ['test/browser/setup.ts'],
    fileParallelism: false,
    // SwiftShader in a page on a busy CPU: a video case or the agreement check can take many minutes.
    testTimeout: 1_800_000,
    hookTimeout: 1_800_000,
    browser: {
      enabled: true,
      commands: { nodeOutputs, writeArtifact },
      headless: true,
      screenshotFailures: false,
      provider: playwright({
        launchOptions: {
          executablePath: CHROMIUM,
          args: [
            '--enable-unsafe-webgpu',
            '--no-sandbox',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            '--no-first-run',
          ],
        },
      }),
      instances: [{ browser: 'chromium' }],
    },
  },
});
