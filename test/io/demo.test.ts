/**
 * `npm run demo` (scripts/demo.mjs): with what the machine lacks and may not install, it stops at once with
 * one line naming the one command to run; on a ready machine it writes the overlay MP4, the masks and the
 * JSON summary, and passes the track command's exit status through.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
const DEMO = join(ROOT, 'scripts', 'demo.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'sam2-demo-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A PATH with node and nothing else: no ffmpeg, no apt-get, no sudo. */
function bareBin(): string {
  const dir = join(tmp, 'bin');
  if (!existsSync(dir)) {
    mkdirSync(dir);
    symlinkSync(process.execPath, join(dir, 'node'));
  }
  return dir;
}

function demo(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [DEMO, ...args], { cwd: tmp, encoding: 'utf8', timeout: 600_000, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('npm run demo', () => {
  it('without ffmpeg, and not allowed to install, names the command and stops', () => {
    const r = demo(['--out-dir', join(tmp, 'never')], { PATH: bareBin(), SAM2_WEBGPU_NO_INSTALL: '1' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^demo: ffmpeg is missing; install it with: (sudo )?apt-get install -y ffmpeg\n$/);
    expect(existsSync(join(tmp, 'never'))).toBe(false);
  });

  it('without a WebGPU adapter, and not allowed to install, names the setup script and stops', () => {
    const r = demo(['--out-dir', join(tmp, 'never')], { SAM2_WEBGPU_DRIVER: join(tmp, 'no-such-icd.json'), SAM2_WEBGPU_NO_INSTALL: '1' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^demo: no WebGPU adapter was found; install a software Vulkan driver with: (sudo )?bash scripts\/setup-webgpu\.sh --no-chromium\n$/);
    const both = demo(['--out-dir', join(tmp, 'never')], { PATH: bareBin(), SAM2_WEBGPU_DRIVER: join(tmp, 'no-such-icd.json'), SAM2_WEBGPU_NO_INSTALL: '1' });
    expect(both.status).toBe(1);
    expect(both.stderr).toMatch(/^demo: ffmpeg and a WebGPU adapter are missing; install both with: (sudo )?bash scripts\/setup-webgpu\.sh --no-chromium\n$/);
    expect(existsSync(join(tmp, 'never'))).toBe(false);
  });

  it("passes track options through, and the track command's exit status", () => {
    const r = demo(['--out-dir', join(tmp, 'never'), '--image-size', '100']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("--image-size must be a multiple of 32 from 64 to 1024, not '100'");
  });

  it('tracks the sample clip: overlay MP4, palette PNG masks, JSON summary', () => {
    const out = join(tmp, 'out');
    const r = demo(['--out-dir', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`video: ${join(out, 'demo.mp4')}`);
    const probe = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-count_frames', '-show_entries', 'stream=codec_name,nb_read_frames', '-of', 'json', join(out, 'demo.mp4')], {
      encoding: 'utf8',
    });
    const stream = JSON.parse(probe.stdout).streams[0];
    expect(stream.codec_name).toBe('h264');
    const summary = JSON.parse(readFileSync(join(out, 'demo.json'), 'utf8'));
    expect(Number(stream.nb_read_frames)).toBe(summary.frames);
    expect(summary.trackedFrames).toBe(12);
    expect(summary.imageSize).toBe(256);
    const masks = readdirSync(join(out, 'demo-masks'));
    expect(masks.length).toBe(summary.frames);
    expect(masks.every((f) => /^\d{5}\.png$/.test(f))).toBe(true);
  });
});
