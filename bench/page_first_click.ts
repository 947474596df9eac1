/**
 * First-click latency in the page (`npm run bench:first-click`): headless Chromium (WebGPU on SwiftShader
 * without a GPU), the tiny model on synthetic weights, the sample clip; the time from a click on frame 0 to
 * its mask, in three cases, each in a fresh browser:
 *   cold       ?warmup=0: every pipeline compiles at its first dispatch (what a click cost before the warmup)
 *   immediate  the default: the click comes as soon as the model is loaded, while the kernels still compile
 *   after      the default: the click comes once the kernels are compiled (a user looking at the video first)
 *
 *   npm run bench:first-click [-- --size 256] [--runs 1] [--json FILE (default bench/results/first-click.json)]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const SIZE = Number(arg('size') ?? 256);
const RUNS = Number(arg('runs') ?? 1);
// The sample clip is 480×270; the click is on the bed.
const CLICK: [number, number] = [105, 175];

function startServer(): Promise<{ proc: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [join(ROOT, 'scripts/web.mjs'), '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve({ proc, url: m[1] });
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.on('exit', (code) => reject(new Error(`web server exited with ${code}: ${out}`)));
  });
}

type Case = 'cold' | 'immediate' | 'after';
interface Measured {
  case: Case;
  /** Click to mask (ms). */
  clickMs: number;
  /** Model load start to compiled kernels (ms), when warmed. */
  kernelsReadyMs: number | null;
  /** The page's own split of the click: image encoder (incl. waiting for the kernels) and the prompt. */
  encoderMs: number;
  promptMs: number;
}

async function until(page: Page, pred: string, timeout: number): Promise<void> {
  await page.waitForFunction(`(() => { const h = window.__sam2; if (h && h.error) throw new Error(h.error); return !!h && (${pred}); })()`, null, { timeout, polling: 20 });
}

async function measure(url: string, c: Case): Promise<Measured> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${url}?model=tiny&size=${SIZE}&load=1${c === 'cold' ? '&warmup=0' : ''}`);
    await until(page, 'h.modelLoaded && h.videoLoaded && h.busy === ""', 300_000);
    if (c === 'after') await until(page, 'h.kernelsReadyMs !== null', 300_000);
    const view = page.locator('#view');
    await view.scrollIntoViewIfNeeded();
    const box = (await view.boundingBox())!;
    const t0 = Date.now();
    await view.click({ position: { x: (box.width * CLICK[0]) / 480, y: (box.height * CLICK[1]) / 270 } });
    await until(page, 'h.lastPrompt && h.busy === ""', 600_000);
    const clickMs = Date.now() - t0;
    const h = await page.evaluate(() => {
      const x = (window as unknown as { __sam2: { kernelsReadyMs: number | null; encoderMs: number[]; lastPrompt: { ms: number } } }).__sam2;
      return { kernelsReadyMs: x.kernelsReadyMs, encoderMs: x.encoderMs[0], promptMs: x.lastPrompt.ms };
    });
    return { case: c, clickMs, ...h };
  } finally {
    await browser.close();
  }
}

const server = await startServer();
try {
  const results: Measured[] = [];
  for (let r = 0; r < RUNS; r++) {
    for (const c of ['cold', 'immediate', 'after'] as Case[]) {
      const m = await measure(server.url, c);
      results.push(m);
      console.log(
        `${c.padEnd(9)} click → mask ${(m.clickMs / 1000).toFixed(2)} s (image encoder ${(m.encoderMs / 1000).toFixed(2)} s + prompt ${(m.promptMs / 1000).toFixed(2)} s)` +
          (m.kernelsReadyMs !== null ? `; kernels ready ${(m.kernelsReadyMs / 1000).toFixed(2)} s after the load began` : ''),
      );
    }
  }
  const out = arg('json') ?? join(ROOT, 'bench/results/first-click.json');
  writeFileSync(out, JSON.stringify({ size: SIZE, chromium: CHROMIUM, results }, null, 2) + '\n');
  console.log(`results: ${out}`);
} finally {
  server.proc.kill();
}
