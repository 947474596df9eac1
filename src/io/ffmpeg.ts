/**
 * Debian's `ffmpeg` / `ffprobe` as child processes (Node only): probing, decoding images and videos to RGB,
 * and encoding H.264 MP4s from RGB frames. JPEG images are decoded by libjpeg-turbo instead (src/io/jpeg.ts),
 * byte for byte as PIL decodes them in the official loader.
 *
 * Videos are decoded as a player shows them: ffmpeg's autorotation is left on, so a phone video whose
 * display matrix says "turn by 90°" decodes to its displayed size, and probe() reports that size. The frame
 * count is the number of frames the decoder actually delivers (after edit lists, for variable frame rates,
 * with B-frames), counted with the same ffmpeg arguments that RawFrameStream decodes with.
 */
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { Sam2Error } from '../runtime/errors.js';
import { DecodeError, decodeJpeg, isJpeg } from './jpeg.js';
import { hasPngSignature } from './png_format.js';

export { DecodeError };
export class FfmpegMissingError extends Sam2Error {}

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

/**
 * The first line of ffmpeg's error output (at `-v error` the first line is usually the cause, the last one a
 * generic "Conversion failed!"), with the "[mjpeg @ 0x55d…]" context shortened to "mjpeg: ".
 */
export function ffmpegReason(stderr: string): string {
  for (const raw of stderr.split('\n')) {
    // "NULL" is the context of a parser without a codec name.
    const line = raw.replace(/^\[([^\]]+?) @ 0x[0-9a-fA-F]+\]\s*/, (_m, ctx: string) => (ctx === 'NULL' ? '' : `${ctx}: `)).trim();
    if (line && !line.startsWith('Last message repeated')) return line;
  }
  return '';
}

/**
 * What the demuxers print when a file ends before the data its header or index announces: the MP4/MOV
 * demuxer for a sample past the end of the file, the Matroska/WebM demuxer for a cut cluster.
 */
const TRUNCATION = /partial file|File ended prematurely/;

/**
 * " (the file is damaged or truncated)" when ffmpeg's output says the data is invalid or missing, or that the
 * decoder failed on it (a zlib or CRC error in a PNG reads "Error while decoding stream ...").
 */
function damageNote(stderr: string): string {
  return /Invalid data found|Error while decoding stream|partial file|File ended prematurely/.test(stderr)
    ? ' (the file is damaged or truncated)'
    : '';
}

export interface VideoInfo {
  /**
   * Displayed size: the coded size turned by `rotation` (a 1920×1080 stream with rotation 90 is 1080×1920).
   * Decoded frames have this size, and prompt coordinates are pixels of this displayed picture.
   */
  width: number;
  height: number;
  /**
   * Degrees clockwise by which the decoded picture is turned for display (display matrix of MP4/MOV
   * streams, EXIF orientation of JPEGs), in [0, 360); 0 when there is none. Video frames are decoded already
   * turned, as ffmpeg's autorotation does; images are not (decodeImage decodes as PIL, which ignores the EXIF
   * orientation). Phone videos recorded upright usually have 90.
   */
  rotation: number;
  /** Frames per second (average rate). */
  fps: number;
  /**
   * Number of frames. Counted (the default): the frames ffmpeg delivers when decoding the whole file the
   * way RawFrameStream does, so every index 0..frames-1 decodes. Not counted: the count the container
   * declares (which ignores edit lists and frames that fail to decode), or 1 when it declares none (images).
   */
  frames: number;
}

/** Parses ffprobe's frame rate ("30000/1001"). */
function rate(q: string | undefined): number {
  if (!q) return NaN;
  const [a, b] = q.split('/').map(Number);
  return b ? a / b : a;
}

/**
 * Clockwise display rotation in degrees, [0, 360), as ffmpeg's autorotation derives it. `frameMatrix` and
 * `streamMatrix` are ffprobe's "rotation" of a display matrix, which is counterclockwise degrees (what
 * av_display_rotation_get returns; an upright iPhone video reads -90). ffmpeg uses the first decoded frame's
 * matrix (JPEG EXIF orientation, H.264 orientation SEI), else the stream's (MP4/MOV track matrix).
 * `rotateTag` is the stream's "rotate" tag, in clockwise degrees, which ffmpeg 4.x exports and prefers over
 * the stream matrix. Note that ffmpeg 5.1's `-metadata:s:v rotate=90` writes a counterclockwise quarter turn
 * (ffprobe reads +90), which this reports as 270.
 */
export function displayRotation(frameMatrix?: number, streamMatrix?: number, rotateTag?: string): number {
  let cw = 0;
  if (frameMatrix !== undefined && Number.isFinite(frameMatrix)) cw = -frameMatrix;
  else if (rotateTag !== undefined && Number.isFinite(Number(rotateTag)) && Number(rotateTag) !== 0) cw = Number(rotateTag);
  else if (streamMatrix !== undefined && Number.isFinite(streamMatrix)) cw = -streamMatrix;
  cw = Math.round(cw) % 360;
  return cw < 0 ? cw + 360 : cw;
}

/**
 * The displayed size of a coded width × height picture turned by `rotation` clockwise degrees: swapped for
 * a quarter turn (ffmpeg transposes within 1° of 90 and 270; other angles are drawn rotated in the same
 * frame size).
 */
export function displayedSize(width: number, height: number, rotation: number): { width: number; height: number } {
  const quarter = Math.abs(rotation - 90) < 1 || Math.abs(rotation - 270) < 1;
  return quarter ? { width: height, height: width } : { width, height };
}

/**
 * How ffmpeg converts decoded pictures to RGB (the scaler it inserts for `-pix_fmt rgb24`): exact rounding and
 * chroma interpolated to every pixel, rather than its default fast path (chroma of 4:2:0 repeated, coarser
 * rounding). Video files are the one input without an official reference (the official loader reads folders
 * of JPEG frames, decoded by PIL/libjpeg-turbo, which interpolates chroma too). Decoding the bedroom JPEG frames
 * and truck.jpg with ffmpeg, its RGB differs from PIL's by 0.22 levels on average (at most 11) with these
 * flags, and by 0.74 (at most 26) without.
 */
const SWS_FLAGS = ['-sws_flags', 'accurate_rnd+full_chroma_int'];

/**
 * Input arguments of every decode of a video file: the first video stream that is not a cover picture
 * (`0:V:0`, the stream probe() describes), and every decoded frame passed on exactly once
 * (`-fps_mode passthrough`: no frame duplicated or dropped to fit a constant rate, whatever the
 * timestamps), converted to RGB with SWS_FLAGS. Autorotation stays on (ffmpeg's default), so frames come out
 * as displayed. The frame count and RawFrameStream both use these arguments, so they see the same frames.
 */
function videoDecodeArgs(path: string, filter?: string): string[] {
  return ['-i', path, '-map', '0:V:0', ...(filter ? ['-vf', filter] : []), '-fps_mode', 'passthrough', ...SWS_FLAGS];
}

/** Decodes the whole video as RawFrameStream does, to nothing, and counts the frames ffmpeg delivers. */
async function countDecodedFrames(path: string): Promise<{ frames: number; code: number; stderr: string }> {
  const { ffmpeg } = ffmpegTools();
  // `-progress` reports frame=N (frames that reached the output) as key=value lines on stdout.
  const r = await run(ffmpeg, ['-v', 'error', '-nostats', '-progress', 'pipe:1', ...videoDecodeArgs(path), '-f', 'null', '-']);
  const counts = [...r.stdout.toString().matchAll(/^frame=(\d+)\s*$/gm)];
  const frames = counts.length ? Number(counts[counts.length - 1][1]) : 0;
  return { frames, code: r.code, stderr: r.stderr };
}

interface ProbeStream {
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  nb_frames?: string;
  tags?: { rotate?: string };
  side_data_list?: Array<{ rotation?: number }>;
}

/** The first display-matrix rotation in a side data list. */
function matrixRotation(list: Array<{ rotation?: number }> | undefined): number | undefined {
  return list?.find((d) => typeof d.rotation === 'number')?.rotation;
}

/**
 * Displayed size, rotation, frame rate and frame count of the first video stream of a file (a video or a
 * single image). Counting decodes the whole file once (see VideoInfo.frames). A truncated MP4/MOV/MKV (the
 * file ends before frames its index lists, such as an interrupted download) is a DecodeError, as is a file
 * ffmpeg stops decoding with an error; errors the decoder conceals (a damaged slice) are not.
 */
export async function probe(path: string, countFrames = true): Promise<VideoInfo> {
  const { ffprobe } = ffmpegTools();
  // The first few packets are decoded for the first frame's display matrix (EXIF orientation of a JPEG).
  const args = [
    '-v', 'error', '-select_streams', 'V:0', '-read_intervals', '%+#4',
    '-show_entries',
    'stream=width,height,avg_frame_rate,r_frame_rate,nb_frames:stream_tags=rotate:stream_side_data=rotation:frame_side_data=rotation',
    '-of', 'json', path,
  ];
  const [r, counted] = await Promise.all([run(ffprobe, args), countFrames ? countDecodedFrames(path) : undefined]);
  if (r.code !== 0) throw new DecodeError(`cannot read ${path}: ${ffmpegReason(r.stderr) || 'ffprobe failed'}${damageNote(r.stderr)}`);
  const json = JSON.parse(r.stdout.toString()) as { streams?: ProbeStream[]; frames?: Array<{ side_data_list?: Array<{ rotation?: number }> }> };
  const s = json.streams?.[0];
  if (!s || !s.width || !s.height) throw new DecodeError(`${path} has no video stream${r.stderr.trim() ? `: ${ffmpegReason(r.stderr)}` : ''}`);
  const rotation = displayRotation(matrixRotation(json.frames?.[0]?.side_data_list), matrixRotation(s.side_data_list), s.tags?.rotate);
  const size = displayedSize(s.width, s.height, rotation);
  let fps = rate(s.avg_frame_rate);
  if (!Number.isFinite(fps) || fps <= 0) fps = rate(s.r_frame_rate);
  fps = Number.isFinite(fps) && fps > 0 ? fps : 25;

  let frames: number;
  if (counted) {
    const why = ffmpegReason(counted.stderr);
    const cut = counted.stderr.split('\n').find((line) => TRUNCATION.test(line));
    if (cut) {
      throw new DecodeError(
        `${path} is truncated: the file ends in the middle of its data (only ${counted.frames} frames decode; ffmpeg: ${ffmpegReason(cut)}). ` +
          'Use a complete copy of the video.',
      );
    }
    if (counted.code !== 0) {
      throw new DecodeError(`cannot decode ${path}: ffmpeg stopped after ${counted.frames} frames: ${why || `exit code ${counted.code}`}${damageNote(counted.stderr)}`);
    }
    if (counted.frames < 1) throw new DecodeError(`${path} has no video frame that decodes${why ? `: ${why}` : ''}`);
    frames = counted.frames;
  } else {
    const declared = Number(s.nb_frames);
    frames = Number.isInteger(declared) && declared > 0 ? declared : 1;
  }
  return { ...size, rotation, fps, frames };
}

/**
 * The header of a binary PPM ("P6\n<width> <height>\n255\n") at the start of `buf`: its size and length, or
 * null when `buf` does not hold all of it yet. Throws on anything else (8-bit RGB PPM is all ffmpeg is
 * asked for).
 */
export function parsePpmHeader(buf: Uint8Array): { width: number; height: number; headerBytes: number } | null {
  const head = Buffer.from(buf.buffer, buf.byteOffset, Math.min(buf.length, 64)).toString('latin1');
  const m = /^P6\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(head);
  if (!m) {
    if (buf.length >= 64 || !/^(P(6(\s+(\d+(\s+(\d+(\s+(\d+)?)?)?)?)?)?)?)?$/.test(head)) {
      throw new Error(`not an 8-bit RGB PPM frame (starts with ${JSON.stringify(head.slice(0, 16))})`);
    }
    return null;
  }
  if (m[3] !== '255') throw new Error(`PPM frame with maximum value ${m[3]}, expected 255`);
  return { width: Number(m[1]), height: Number(m[2]), headerBytes: m[0].length };
}

/** Arguments that make ffmpeg write RGB frames to stdout, each as a PPM carrying its own size. */
const PPM_OUT = ['-f', 'image2pipe', '-c:v', 'ppm', '-pix_fmt', 'rgb24', '-'];

/**
 * Decodes one image file to RGB bytes (width × height × 3) as PIL's `Image.open(path).convert("RGB")` does,
 * the official loader's decode: EXIF orientation is not applied (PIL does not apply it).
 *
 * - JPEG (recognised by its first bytes, whatever the file's name): libjpeg-turbo (src/io/jpeg.ts), the same
 *   bytes as PIL. Truncated or corrupt data is a DecodeError quoting libjpeg-turbo.
 * - Anything else (PNG, ...) through ffmpeg. PNG is lossless, and ffmpeg's bytes equal PIL's for 8-bit RGB,
 *   RGBA (alpha dropped), grey, grey+alpha and palette PNGs; 16-bit PNGs are read at 16 bits and reduced as PIL
 *   reduces them (the high byte of RGB(A); grey clipped to 255). Damage ffmpeg can detect is a DecodeError:
 *   `-err_detect explode` turns concealment into a failure, and a truncated or corrupt PNG fails its checks.
 */
export async function decodeImage(path: string): Promise<{ width: number; height: number; rgb: Uint8Array }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new DecodeError(`cannot decode ${path}: ${err.code === 'ENOENT' ? 'No such file or directory' : err.code === 'EISDIR' ? 'it is a folder' : err.message}`);
  }
  if (isJpeg(bytes)) return decodeJpeg(bytes, path);
  const png16 = png16Layout(bytes);
  if (png16) return decodePng16(path, png16);
  const { ffmpeg } = ffmpegTools();
  const r = await run(ffmpeg, ['-v', 'error', '-err_detect', 'explode', '-i', path, '-frames:v', '1', ...SWS_FLAGS, ...PPM_OUT]);
  if (r.code !== 0 || r.stdout.length === 0) {
    throw new DecodeError(`cannot decode ${path}: ${ffmpegReason(r.stderr) || `exit code ${r.code}`}${damageNote(r.stderr)}`);
  }
  let head: ReturnType<typeof parsePpmHeader>;
  try {
    head = parsePpmHeader(r.stdout);
  } catch (e) {
    throw new DecodeError(`cannot decode ${path}: ffmpeg wrote ${(e as Error).message}`);
  }
  const want = head ? head.headerBytes + head.width * head.height * 3 : -1;
  if (!head || r.stdout.length !== want) {
    throw new DecodeError(`cannot decode ${path}: got ${r.stdout.length} bytes from ffmpeg, expected ${want}`);
  }
  const rgb = new Uint8Array(r.stdout.buffer, r.stdout.byteOffset + head.headerBytes, head.width * head.height * 3);
  return { width: head.width, height: head.height, rgb };
}

/** Size and colour type of a 16-bit PNG (from its IHDR chunk), or undefined for any other file. */
function png16Layout(b: Uint8Array): { width: number; height: number; grey: boolean } | undefined {
  if (b.length < 33 || !hasPngSignature(b) || b[24] !== 16) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  // Colour type 0 is grey; 4 (grey + alpha), 2 (RGB) and 6 (RGBA) PIL reduces to their high bytes.
  return { width: dv.getUint32(16), height: dv.getUint32(20), grey: b[25] === 0 };
}

/**
 * A 16-bit PNG as PIL converts it to RGB: the high byte of each sample, except plain grey, which PIL opens as
 * 16-bit integers ("I;16") and clips to 255.
 */
async function decodePng16(path: string, { width, height, grey }: { width: number; height: number; grey: boolean }): Promise<{ width: number; height: number; rgb: Uint8Array }> {
  const { ffmpeg } = ffmpegTools();
  const fmt = grey ? 'gray16be' : 'rgb48be';
  const r = await run(ffmpeg, ['-v', 'error', '-err_detect', 'explode', '-i', path, '-frames:v', '1', ...SWS_FLAGS, '-f', 'rawvideo', '-pix_fmt', fmt, '-']);
  const n = width * height;
  const want = n * (grey ? 2 : 6);
  if (r.code !== 0 || r.stdout.length !== want) {
    const why = r.code !== 0 ? ffmpegReason(r.stderr) || `exit code ${r.code}` : `got ${r.stdout.length} bytes from ffmpeg, expected ${want}`;
    throw new DecodeError(`cannot decode ${path}: ${why}${damageNote(r.stderr)}`);
  }
  const rgb = new Uint8Array(n * 3);
  const s = r.stdout;
  if (grey) {
    for (let p = 0; p < n; p++) rgb[3 * p] = rgb[3 * p + 1] = rgb[3 * p + 2] = Math.min(255, (s[2 * p] << 8) | s[2 * p + 1]);
  } else {
    for (let i = 0; i < n * 3; i++) rgb[i] = s[2 * i];
  }
  return { width, height, rgb };
}

/**
 * Streams the frames of a video as RGB, starting at frame `start` (frame-accurate: decodes from the
 * beginning and drops earlier frames). The frames are those probe() counts (same decode arguments), at the
 * displayed size; each comes with its size from ffmpeg, and a frame of another size than width × height is
 * a DecodeError rather than misread bytes.
 */
export class RawFrameStream {
  private proc: ChildProcessByStdio<null, Readable, Readable>;
  private chunks: Buffer[] = [];
  private have = 0;
  private ended = false;
  private exitCode: number | null = null;
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
    const args = ['-v', 'error', ...videoDecodeArgs(path, start > 0 ? `select=gte(n\\,${start})` : undefined), ...PPM_OUT];
    this.next = start;
    this.proc = spawn(ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.have += d.length;
      if (this.have >= this.frameBytes * 4) this.proc.stdout.pause();
      this.wake();
    });
    this.proc.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.proc.on('close', (code) => {
      this.ended = true;
      this.exitCode = code;
      this.wake();
    });
  }

  /** RGB bytes of one frame. */
  get frameBytes(): number {
    return this.width * this.height * 3;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** Waits until `n` bytes are buffered or ffmpeg has ended; true when they are there. */
  private async fill(n: number): Promise<boolean> {
    while (this.have < n && !this.ended) {
      this.proc.stdout.resume();
      await new Promise<void>((r) => (this.waiter = r));
    }
    return this.have >= n;
  }

  /** The buffered bytes from the start, at least `n` of them (or all there are) in one Buffer. */
  private front(n: number): Buffer {
    if (this.chunks.length > 1 && this.chunks[0].length < Math.min(n, this.have)) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private fail(what: string): DecodeError {
    const why = ffmpegReason(this.stderr);
    return new DecodeError(`cannot decode ${this.path} at frame ${this.next}: ${what}${why ? ` (ffmpeg: ${why})` : ''}`);
  }

  /** The next frame, or null at the end of the stream. */
  async read(): Promise<Uint8Array | null> {
    if (!(await this.fill(1))) {
      if (this.exitCode !== 0) throw this.fail(`ffmpeg stopped (exit code ${this.exitCode})`);
      return null;
    }
    let head: ReturnType<typeof parsePpmHeader> = null;
    for (;;) {
      try {
        head = parsePpmHeader(this.front(64));
      } catch (e) {
        throw this.fail((e as Error).message);
      }
      if (head) break;
      if (!(await this.fill(this.have + 1))) throw this.fail('the output ended inside a frame header');
    }
    if (head.width !== this.width || head.height !== this.height) {
      throw this.fail(`the frame is ${head.width}×${head.height}, expected ${this.width}×${this.height}`);
    }
    const n = this.frameBytes;
    if (!(await this.fill(head.headerBytes + n))) throw this.fail('the output ended inside a frame');
    const end = head.headerBytes + n;
    const first = this.front(end);
    const frame = new Uint8Array(n);
    frame.set(first.subarray(head.headerBytes, end));
    const rest = first.subarray(end);
    this.chunks = rest.length ? [rest, ...this.chunks.slice(1)] : this.chunks.slice(1);
    this.have -= end;
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
 * Writes an H.264 MP4 (faststart) of exactly width × height from RGB frames.
 *
 * - Even width and height: yuv420p (High profile), which every player and browser plays.
 * - An odd width or height: yuv420p and 4:2:2 need even sizes, so the frames are encoded as yuv444p (full
 *   resolution colour) in the High 4:4:4 Predictive profile, keeping the exact size instead of padding or
 *   cropping. ffmpeg-based players (ffplay, mpv, VLC) play it; many hardware decoders and the players built
 *   on them (QuickTime/Safari, iOS, Android, Firefox, and Chrome on some platforms) do not. Crop or pad the
 *   source to even dimensions when the file must play everywhere.
 *
 * The file is written under `tempPath` (`<path>.partial-<pid>.mp4`, which carries the final name) and
 * appears under `path` only when close() succeeds; abort() or a failure leaves nothing behind.
 */
export class Mp4Writer {
  private proc: ChildProcessByStdio<Writable, null, Readable>;
  private stderr = '';
  private done: Promise<number>;
  private readonly tmp: string;
  /** The pixel format of the H.264 stream: yuv420p for even sizes, yuv444p when a side is odd. */
  readonly pixelFormat: 'yuv420p' | 'yuv444p';
  frames = 0;

  constructor(
    readonly path: string,
    readonly opts: Mp4Options,
  ) {
    const { width, height, fps } = opts;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw new Sam2Error(`Mp4Writer: ${path}: size must be positive integers, not ${width}×${height}`);
    }
    if (!(fps > 0)) throw new Sam2Error(`Mp4Writer: ${path}: fps must be positive, not ${fps}`);
    const { ffmpeg } = ffmpegTools();
    this.tmp = `${path}.partial-${process.pid}.mp4`;
    this.pixelFormat = width % 2 === 0 && height % 2 === 0 ? 'yuv420p' : 'yuv444p';
    const args = [
      '-y', '-v', 'error',
      '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-r', String(fps), '-i', '-',
      '-c:v', 'libx264', '-preset', 'veryfast', '-crf', String(opts.crf ?? 18), '-pix_fmt', this.pixelFormat,
      '-movflags', '+faststart', this.tmp,
    ];
    this.proc = spawn(ffmpeg, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    this.proc.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    // ffmpeg may stop at any time (a full disk, a setting it refuses): writing to it then fails with EPIPE,
    // which is reported by write() and close() through the exit code and ffmpeg's own reason, never thrown
    // from an event handler.
    this.proc.stdin.on('error', (e: NodeJS.ErrnoException) => {
      this.stdinError ??= e;
    });
    this.done = new Promise((resolve) => {
      this.proc.on('close', (code) => resolve(code ?? -1));
      this.proc.on('error', () => resolve(-1));
    });
  }

  private stdinError: NodeJS.ErrnoException | undefined;

  /** Why ffmpeg stopped, for messages: its first error line, else the pipe error, else the exit code. */
  private reason(code?: number): string {
    return ffmpegReason(this.stderr) || (this.stdinError ? `${this.stdinError.code ?? this.stdinError.message}` : `exit code ${code ?? '?'}`);
  }

  /** Where the file is written until close() renames it to `path` (remove it if the process is interrupted). */
  get tempPath(): string {
    return this.tmp;
  }

  async write(rgb: Uint8Array): Promise<void> {
    const want = this.opts.width * this.opts.height * 3;
    if (rgb.length !== want) throw new Sam2Error(`Mp4Writer: frame of ${rgb.length} bytes, expected ${want}`);
    if (this.stdinError || this.proc.exitCode !== null) {
      const code = await this.done;
      throw new Sam2Error(`ffmpeg stopped while writing ${this.path}: ${this.reason(code)}`);
    }
    this.frames++;
    if (!this.proc.stdin.write(rgb)) {
      const drained = new Promise<boolean>((resolve) => this.proc.stdin.once('drain', () => resolve(true)));
      const stopped = this.done.then(() => false);
      if (!(await Promise.race([drained, stopped]))) {
        throw new Sam2Error(`ffmpeg stopped while writing ${this.path}: ${this.reason(await this.done)}`);
      }
    }
  }

  async close(): Promise<void> {
    this.proc.stdin.end();
    const code = await this.done;
    const { rename, rm } = await import('node:fs/promises');
    if (code !== 0) {
      await rm(this.tmp, { force: true });
      throw new Sam2Error(`ffmpeg could not write ${this.path}: ${this.reason(code)}`);
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
