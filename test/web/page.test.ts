/**
 * The web page end to end in real Chromium (WebGPU on SwiftShader, no f16): the page serves and loads the
 * sample clip, the tiny model loads on synthetic weights at a small image size, a click gives a mask on the
 * prompted frame, propagation tracks 3 more frames, the overlay pixels carry the object's colour blended at
 * 0.6, and the MP4 / PNG exports produce files. Also checks the browser frame sources and the weights cache
 * inside the page. Screenshots go to test/web/artifacts/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectColor } from '../../src/io/render.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const ARTIFACTS = join(ROOT, 'test/web/artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const IMAGE_SIZE = 128;
// The sample clip is 480×270; the click is on the bed.
const CLICK: [number, number] = [105, 175];
const OBJ1 = [...objectColor(1)]; // object 1's colour (tab10 by object id, as the Node renderer)

/** Starts `node scripts/web.mjs --port 0` and resolves with the URL it prints. */
function startServer(): Promise<{ proc: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [join(ROOT, 'scripts/web.mjs'), '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`web server did not start: ${out}`)), 120_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, url: m[1] });
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`web server exited with ${code}: ${out}`));
    });
  });
}

type Hook = {
  state: string;
  busy: string;
  error: string | null;
  adapter: string;
  software: boolean;
  f16: boolean;
  modelLoaded: boolean;
  model: string;
  imageSize: number;
  syntheticWeights: boolean;
  videoLoaded: boolean;
  video: { frames: number; width: number; height: number; fps: number } | null;
  frame: number;
  lastPrompt: { frameIdx: number; objId: number; areas: Record<number, number>; ms: number } | null;
  encoderMs: number[];
  progress: { done: number; total: number };
  frameMs: Record<number, number>;
  msPerFrame: number | null;
  areas: Record<number, Record<number, number>>;
  exports: { mp4: { bytes: number; codec: string; ms: number } | null; png: { frame: number; bytes: number } | null };
};

const hook = (page: Page) => page.evaluate(() => JSON.parse(JSON.stringify({ ...(window as any).__sam2, engine: undefined })) as Hook);

/** Waits until `pred(hook)` holds; a page error fails at once with its message. */
const phases: string[] = [];
let phaseStart = Date.now();

async function waitFor(page: Page, what: string, pred: string, timeout: number): Promise<Hook> {
  await page.waitForFunction(`(() => { const h = window.__sam2; return !!h && (!!h.error || (${pred})); })()`, null, { timeout, polling: 250 });
  const h = await hook(page);
  if (h.error) throw new Error(`page error while waiting for ${what}: ${h.error}`);
  phases.push(`${what} ${((Date.now() - phaseStart) / 1000).toFixed(1)} s`);
  phaseStart = Date.now();
  return h;
}

/**
 * Counts, in the page, the canvas pixels in the window around (cx, cy) (radius r; Infinity: the whole frame)
 * whose value with the overlay on is the value with it off blended with `color` at alpha 0.6, as the Node
 * renderer blends. Leaves the overlay on.
 */
async function blendedPixels(page: Page, color: number[], cx: number, cy: number, r: number): Promise<number> {
  return page.evaluate(
    async ({ color, cx, cy, r }) => {
      const hook = (window as any).__sam2;
      const box = document.getElementById('showOverlay') as HTMLInputElement;
      const c = document.getElementById('view') as HTMLCanvasElement;
      const grab = async (on: boolean) => {
        if (box.checked !== on) {
          const before = hook.draws;
          box.click();
          while (hook.draws === before) await new Promise((res) => setTimeout(res, 20));
        }
        return c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      };
      const off = await grab(false);
      const on = await grab(true);
      let n = 0;
      for (let y = Math.max(0, Math.floor(cy - r)); y < Math.min(c.height, cy + r); y++) {
        for (let x = Math.max(0, Math.floor(cx - r)); x < Math.min(c.width, cx + r); x++) {
          const o = (y * c.width + x) * 4;
          let ok = true;
          for (let k = 0; k < 3; k++) if (Math.abs(on[o + k] - Math.round(off[o + k] * 0.4 + color[k] * 0.6)) > 1) ok = false;
          if (ok) n++;
        }
      }
      return n;
    },
    { color, cx, cy, r },
  );
}

/** Clicks the view at video pixel (x, y) (scrolling it into view first). */
async function clickVideo(page: Page, x: number, y: number): Promise<void> {
  const view = page.locator('#view');
  await view.scrollIntoViewIfNeeded();
  const box = (await view.boundingBox())!;
  await view.click({ position: { x: (box.width * x) / 480, y: (box.height * y) / 270 } });
}

async function showFrame(page: Page, i: number): Promise<void> {
  await page.evaluate((f) => {
    const s = document.getElementById('scrub') as HTMLInputElement;
    s.value = String(f);
    s.dispatchEvent(new Event('input'));
  }, i);
  await page.waitForFunction((f) => (window as any).__sam2.frame === f, i);
}

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`test/web: ${CHROMIUM} is missing (bash scripts/setup-webgpu.sh installs chromium); the page test is skipped`);

describe.skipIf(!haveChromium)('web page in Chromium', () => {
  let server: { proc: ChildProcess; url: string };
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // WebGPU in headless Chromium needs only --enable-unsafe-webgpu (it falls back to SwiftShader without a GPU).
      args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
  });

  afterAll(async () => {
    await browser?.close();
    server?.proc.kill();
  });

  it('loads, segments a click, tracks 3 frames and exports', async () => {
    const t0 = Date.now();
    phaseStart = t0;
    await page.goto(`${server.url}?size=${IMAGE_SIZE}`);
    let h = await waitFor(page, 'the device and the sample clip', 'h.videoLoaded && h.state === "running" && h.busy === ""', 60_000);
    expect(h.video).toMatchObject({ frames: 48, width: 480, height: 270 });
    expect(h.adapter).not.toBe('');
    expect(await page.locator('#device').textContent()).toContain('shader-f16');

    // Model: tiny, f32, synthetic weights (the defaults), at a small image size.
    expect(await page.locator('#imageSize').inputValue()).toBe(String(IMAGE_SIZE));
    expect(await page.locator('#model').inputValue()).toBe('tiny');
    expect(await page.locator('#dtype').inputValue()).toBe('f32');
    if (!h.f16) expect(await page.locator('#dtype option[value=f16]').isDisabled()).toBe(true);
    await page.click('#load');
    h = await waitFor(page, 'the model', 'h.modelLoaded && h.busy === ""', 120_000);
    expect(h).toMatchObject({ model: 'sam2.1_hiera_t', imageSize: IMAGE_SIZE, syntheticWeights: true });
    expect(await page.locator('#synthetic').isVisible()).toBe(true);

    // A click on frame 0: the mask appears on the prompted frame.
    await clickVideo(page, CLICK[0], CLICK[1]);
    h = await waitFor(page, 'the prompt', 'h.lastPrompt && h.busy === ""', 600_000);
    expect(h.lastPrompt!.frameIdx).toBe(0);
    expect(h.lastPrompt!.areas[1]).toBeGreaterThan(0);
    expect(h.encoderMs.length).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, 'prompt.png'), fullPage: true });
    const all = await blendedPixels(page, OBJ1, 0, 0, Infinity);
    expect(await blendedPixels(page, OBJ1, CLICK[0], CLICK[1], 40), `blended pixels near the click (${all} in the frame)`).toBeGreaterThan(0);

    // Propagate 3 frames after the prompted one.
    await page.fill('#maxFrames', '3');
    await page.click('#propagate');
    h = await waitFor(page, 'tracking', 'h.progress.total > 0 && h.progress.done === h.progress.total && h.busy === ""', 900_000);
    expect(h.progress).toEqual({ done: 4, total: 4 });
    for (const f of [1, 2, 3]) {
      expect(h.areas[f]?.[1]).toBeGreaterThan(0);
      expect(h.frameMs[f]).toBeGreaterThan(0);
    }
    expect(h.msPerFrame).toBeGreaterThan(0);
    expect(await page.locator('#trackStatus').textContent()).toMatch(/tracked 4 frames .* per frame/);
    for (const f of [1, 3]) {
      await showFrame(page, f);
      expect(await blendedPixels(page, OBJ1, 0, 0, Infinity), `frame ${f}`).toBeGreaterThan(0);
    }
    // A frame beyond the tracked ones has no overlay.
    await showFrame(page, 10);
    expect(await blendedPixels(page, OBJ1, 0, 0, Infinity)).toBeLessThan(50);
    await showFrame(page, 3);
    await page.screenshot({ path: join(ARTIFACTS, 'tracked.png'), fullPage: true });

    // Exports: the overlay MP4 (WebCodecs + mediabunny) and a palette PNG mask.
    await page.click('#exportPng');
    h = await waitFor(page, 'the PNG', 'h.exports.png !== null', 30_000);
    expect(h.exports.png).toMatchObject({ frame: 3 });
    expect(h.exports.png!.bytes).toBeGreaterThan(100);
    await page.click('#exportMp4');
    h = await waitFor(page, 'the MP4', 'h.exports.mp4 !== null && h.busy === ""', 300_000);
    expect(h.exports.mp4!.bytes).toBeGreaterThan(10_000);

    // A click on a frame not tracked yet (a second prompted frame): the encoder runs again, now warm.
    await showFrame(page, 10);
    await clickVideo(page, 240, 200);
    h = await waitFor(page, 'a prompt on frame 10', 'h.lastPrompt.frameIdx === 10 && h.busy === ""', 300_000);
    expect(h.lastPrompt!.areas[1]).toBeGreaterThan(0);
    expect(h.encoderMs.length).toBe(2);
    console.log(
      `web page (Chromium, ${h.adapter}, ${h.model} f32 @${IMAGE_SIZE}): image encoder ${h.encoderMs.map(Math.round).join(', ')} ms (first includes shader compilation), ` +
        `prompt ${Math.round(h.lastPrompt!.ms)} ms, ${Math.round(h.msPerFrame!)} ms per tracked frame, ` +
        `MP4 (${h.exports.mp4!.codec}) ${Math.round(h.exports.mp4!.ms)} ms; ${((Date.now() - t0) / 1000).toFixed(0)} s in all (${phases.join(', ')})`,
    );
    expect(pageErrors).toEqual([]);
  });

  it('says so when the browser has no WebGPU', async () => {
    const p = await browser.newPage();
    await p.addInitScript(() => delete (Navigator.prototype as { gpu?: unknown }).gpu);
    await p.goto(server.url);
    await p.waitForFunction(() => (window as any).__sam2?.state === 'no-webgpu');
    expect(await p.locator('#nogpu').isVisible()).toBe(true);
    expect(await p.locator('#nogpu').textContent()).toMatch(/no WebGPU.*Chrome/s);
    expect(await p.locator('#load').isDisabled()).toBe(true);
    await p.close();
  });

  it('browser frame sources and the weights cache work in the page', async () => {
    const r = await page.evaluate(async () => {
      const e = (window as any).__sam2.engine;
      const solid = (w: number, h: number, css: string) => {
        const c = new OffscreenCanvas(w, h);
        const ctx = c.getContext('2d')!;
        ctx.fillStyle = css;
        ctx.fillRect(0, 0, w, h);
        return c;
      };
      const out: Record<string, unknown> = {};
      const bmp = await createImageBitmap(solid(8, 4, 'rgb(10, 200, 30)'));
      const src = e.framesFromImages([bmp, solid(8, 4, 'rgb(1, 2, 3)')], { fps: 5 });
      const f0 = await src.get(0);
      const f1 = await src.get(1);
      out.sizes = [src.count, src.width, src.height, src.fps];
      out.f0 = Array.from(f0.rgb.slice(0, 3));
      out.f1 = Array.from(f1.rgb.slice(-3));
      out.len = f0.rgb.length;
      const err = async (fn: () => unknown) => {
        try {
          await fn();
          return 'no error';
        } catch (x) {
          return (x as Error).message;
        }
      };
      out.badIndex = await err(() => src.get(2));
      out.mixed = await err(() => e.framesFromImages([solid(8, 4, 'red'), solid(4, 4, 'red')]));
      out.empty = await err(() => e.framesFromImages([]));
      // A callback source handing out VideoFrames that it closes after use.
      const made: VideoFrame[] = [];
      const cb = await e.framesFromCallback({
        count: 3,
        closeImages: true,
        frame: (i: number) => {
          const vf = new VideoFrame(solid(6, 2, `rgb(${i * 50}, 0, 0)`), { timestamp: i });
          made.push(vf);
          return vf;
        },
      });
      out.cbSize = [cb.count, cb.width, cb.height];
      out.cb2 = Array.from((await cb.get(2)).rgb.slice(0, 3));
      out.closed = made.every((v) => v.format === null);
      out.cbBad = await err(() => cb.get(-1));
      // The weights cache: the second fetch of a URL comes from the Cache API.
      const url = new URL('bedroom.mp4', location.href).href;
      await e.clearCachedWeights(url);
      const a = await e.fetchWeights(url);
      const bytesA = (await a.response.arrayBuffer()).byteLength;
      out.cachedAfterFirst = await a.cached;
      const b = await e.fetchWeights(url);
      out.fromCache = [a.fromCache, b.fromCache];
      out.bytes = [bytesA, (await b.response.arrayBuffer()).byteLength];
      await e.clearCachedWeights(url);
      out.missing = await err(() => e.fetchWeights(new URL('no-such-file.safetensors', location.href).href));
      return out;
    });
    expect(r.sizes).toEqual([2, 8, 4, 5]);
    expect(r.f0).toEqual([10, 200, 30]);
    expect(r.f1).toEqual([1, 2, 3]);
    expect(r.len).toBe(8 * 4 * 3);
    expect(r.badIndex).toMatch(/frame index 2 is out of range/);
    expect(r.mixed).toMatch(/mixed sizes: frame 1 is 4×4, frame 0 is 8×4/);
    expect(r.empty).toMatch(/no frames/);
    expect(r.cbSize).toEqual([3, 6, 2]);
    expect(r.cb2).toEqual([100, 0, 0]);
    expect(r.closed).toBe(true);
    expect(r.cbBad).toMatch(/out of range/);
    expect(r.cachedAfterFirst).toBe(true);
    expect(r.fromCache).toEqual([false, true]);
    expect((r.bytes as number[])[0]).toBe(111990);
    expect((r.bytes as number[])[1]).toBe(111990);
    expect(r.missing).toMatch(/HTTP 404/);
  });
});
