/**
 * Debian's `ffmpeg` / `ffprobe` as child processes (Node only): probing, decoding images and videos to raw
 * RGB, and encoding H.264 MP4s from raw RGB frames.
 */
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { Sam2Error } from '../runtime/errors.js';

export class FfmpegMissingError extends Sam2Error {}
export class DecodeError extends Sam2Error {}

const INSTALL_HINT =
  'Install it with `apt-get install ffmpeg` (Debian/Ubuntu package "ffmpeg"), or run `bash scripts/setup-webgpu.sh`; ' +
  'SAM2_FFMPEG / SAM2_FFPROBE select other binaries.';

let checked: { ffmpeg: string; ffprobe: string } | undefined;

/** Paths of ffmpeg and ffprobe; throws FfmpegMissingError saying which package to install. */
export function ffmpegTools(): { ffmpeg: string; ffprobe: string } {
  if (checked) return checked;
  const ffmpeg = process.env.SAM2_FFMPEG ?? 'ffmpeg';
  const ffprobe = process.env.SAM2_FFPROBE ?? 'ffprobe';
  for (const bin of [ffmpeg, ffprobe]) {
    const r = spawnSync(bin, ['-version'], { stdio: 'ignore' });
    if (r.error || r.status !== 0) throw new FfmpegMissingError(`${bin} was not found or does not run. ${INSTALL_HINT}`);
  }
  checked = { ffmpeg, ffprobe };
  return checked;
}

/** Runs a command to completion, collecting stdout as bytes. */
function run(bin: string, args: string[]): Promise<{ stdout: Buffer; stderr: string; code: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ stdout: Buffer.concat(out), stderr: err, code: code ?? -1 }));
  });
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

export interface VideoInfo {
  width: number;
  height: number;
  /** Frames per second (average rate). */
  fps: number;
  /** Number of frames (counted by reading the stream). */
  frames: number;
}

/** Size, frame rate and frame count of the first video stream of a file (a video or a single image). */
export async function probe(path: string, countFrames = true): Promise<VideoInfo> {
  const { ffprobe } = ffmpegTools();
  const args = ['-v', 'error', '-select_streams', 'v:0'];
  if (countFrames) args.push('-count_packets');
  args.push('-show_entries', 'stream=width,height,avg_frame_rate,r_frame_rate,nb_read_packets', '-of', 'json', path);
  const r = await run(ffprobe, args);
  if (r.code !== 0) throw new DecodeError(`cannot read ${path}: ${lastLine(r.stderr) || 'ffprobe failed'}`);
  const s = JSON.parse(r.stdout.toString()).streams?.[0];
  if (!s || !s.width || !s.height) throw new DecodeError(`${path} has no video stream`);
  const rate = (q: string | undefined) => {
    if (!q) return NaN;
    const [a, b] = q.split('/').map(Number);
    return b ? a / b : a;
  };
  let fps = rate(s.avg_frame_rate);
  if (!Number.isFinite(fps) || fps <= 0) fps = rate(s.r_frame_rate);
  return { width: s.width, height: s.height, fps: Number.isFinite(fps) && fps > 0 ? fps : 25, frames: Number(s.nb_read_packets ?? 1) };
}

/** Decodes one image file (JPEG, PNG, ...) to RGB bytes. */
export async function decodeImage(path: string): Promise<{ width: number; height: number; rgb: Uint8Array }> {
  const { ffmpeg } = ffmpegTools();
  const info = await probe(path, false);
  const r = await run(ffmpeg, ['-v', 'error', '-i', path, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-']);
  const want = info.width * info.height * 3;
  if (r.code !== 0 || r.stdout.length !== want) {
    throw new DecodeError(`cannot decode ${path}: ${lastLine(r.stderr) || `got ${r.stdout.length} bytes, expected ${want}`}`);
  }
  return { width: info.width, height: info.height, rgb: new Uint8Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.length) };
}

/**
 * Streams the frames of a video as RGB, starting at frame `start` (frame-accurate: decodes from the
 * beginning and drops earlier frames).
 */
export class RawFrameStream {
  private proc: ChildProcessByStdio<null, Readable, Readable>;
  private chunks: Buffer[] = [];
  private have = 0;
  private ended = false;
  private stderr = '';
  private waiter: (() => void) | null = null;
  next: number;

  constructor(
    readonly path: string,
    readonly width: number,
    readonly height: number,
    start = 0,
  ) {
    const { ffmpeg } = ffmpegTools();
    const args = ['-v', 'error', '-i', path];
    if (start > 0) args.push('-vf', `select=gte(n\\,${start})`);
    args.push('-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-');
    this.next = start;
    this.proc = spawn(ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.have += d.length;
      if (this.have >= this.frameBytes * 4) this.proc.stdout.pause();
      this.wake();
    });
    this.proc.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.proc.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  get frameBytes(): number {
    return this.width * this.height * 3;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** The next frame, or null at the end of the stream. */
  async read(): Promise<Uint8Array | null> {
    const n = this.frameBytes;
    while (this.have < n && !this.ended) {
      this.proc.stdout.resume();
      await new Promise<void>((r) => (this.waiter = r));
    }
    if (this.have < n) {
      if (this.stderr.trim()) throw new DecodeError(`cannot decode ${this.path}: ${lastLine(this.stderr)}`);
      return null;
    }
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const frame = new Uint8Array(n);
    frame.set(all.subarray(0, n));
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.have = rest.length;
    if (this.have < n * 4) this.proc.stdout.resume();
    this.next++;
    return frame;
  }

  close(): void {
    if (!this.ended) this.proc.kill('SIGKILL');
  }
}

export interface Mp4Options {
  width: number;
  height: number;
  fps: number;
  /** x264 constant rate factor (default 18, visually lossless). */
  crf?: number;
}

/**
 * Writes an H.264 MP4 (yuv420p, faststart) from RGB frames. The file appears under its name only when
 * close() succeeds; abort() or a failure leaves nothing behind.
 */
export class Mp4Writer {
  private proc: ChildProcessByStdio<Writable, null, Readable>;
  private stderr = '';
  private done: Promise<number>;
  private readonly tmp: string;
  frames = 0;

  constructor(
    readonly path: string,
    readonly opts: Mp4Options,
  ) {
    const { ffmpeg } = ffmpegTools();
    this.tmp = `${path}.partial-${process.pid}.mp4`;
    const args = [
      '-y', '-v', 'error',
      '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${opts.width}x${opts.height}`, '-r', String(opts.fps), '-i', '-',
      '-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2',
      '-c:v', 'libx264', '-preset', 'veryfast', '-crf', String(opts.crf ?? 18), '-pix_fmt', 'yuv420p',
      '-movflags', '+faststart', this.tmp,
    ];
    this.proc = spawn(ffmpeg, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    this.proc.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.done = new Promise((resolve) => {
      this.proc.on('close', (code) => resolve(code ?? -1));
      this.proc.on('error', () => resolve(-1));
    });
  }

  async write(rgb: Uint8Array): Promise<void> {
    const want = this.opts.width * this.opts.height * 3;
    if (rgb.length !== want) throw new Sam2Error(`Mp4Writer: frame of ${rgb.length} bytes, expected ${want}`);
    this.frames++;
    if (!this.proc.stdin.write(rgb)) {
      const drained = new Promise<boolean>((resolve) => this.proc.stdin.once('drain', () => resolve(true)));
      const stopped = this.done.then(() => false);
      if (!(await Promise.race([drained, stopped]))) {
        throw new Sam2Error(`ffmpeg stopped while writing ${this.path}: ${lastLine(this.stderr)}`);
      }
    }
  }

  async close(): Promise<void> {
    this.proc.stdin.end();
    const code = await this.done;
    const { rename, rm } = await import('node:fs/promises');
    if (code !== 0) {
      await rm(this.tmp, { force: true });
      throw new Sam2Error(`ffmpeg could not write ${this.path}: ${lastLine(this.stderr) || `exit code ${code}`}`);
    }
    await rename(this.tmp, this.path);
  }

  async abort(): Promise<void> {
    this.proc.kill('SIGKILL');
    await this.done;
    const { rm } = await import('node:fs/promises');
    await rm(this.tmp, { force: true });
  }
}
