/**
 * Video and image files as users have them: phone videos with rotation metadata, clips cut without
 * re-encoding (edit lists), variable frame rates, B-frames, odd sizes, and damaged or truncated files. Every
 * clip is made here with ffmpeg, in a temporary folder.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { describe, expect, it } from 'vitest';
import { DecodeError, decodeImage, ffmpegTools, Mp4Writer, probe, RawFrameStream } from '../../src/io/ffmpeg.js';
import { openFrameFolder, openVideoFile } from '../../src/io/frames.js';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'sam2-video-files-'));
}

/** Runs ffmpeg (quiet, overwriting) and fails the test with its message when it fails. */
function ffmpeg(...args: string[]): Buffer {
  const r = spawnSync(ffmpegTools().ffmpeg, ['-v', 'error', '-y', ...args], { maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')} failed: ${r.stderr.toString()}`);
  return r.stdout;
}

function ffprobeJson(...args: string[]): any {
  const r = spawnSync(ffmpegTools().ffprobe, ['-v', 'error', '-of', 'json', ...args]);
  if (r.status !== 0) throw new Error(`ffprobe ${args.join(' ')} failed: ${r.stderr.toString()}`);
  return JSON.parse(r.stdout.toString());
}

/** A clip of testsrc (a distinct picture per frame) encoded with libx264. */
function testClip(path: string, opts: { size?: string; rate?: number; seconds?: number; vf?: string; extra?: string[] } = {}): string {
  const { size = '64x48', rate = 10, seconds = 4, vf, extra = [] } = opts;
  ffmpeg(
    '-f', 'lavfi', '-i', `testsrc=size=${size}:rate=${rate}:duration=${seconds}`,
    ...(vf ? ['-vf', vf] : []), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', ...extra, path,
  );
  return path;
}

/** Number of frames ffmpeg writes when decoding the file to raw RGB at its displayed size. */
function ffmpegFrameCount(path: string, width: number, height: number): number {
  const raw = ffmpeg('-i', path, '-map', '0:V:0', '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-');
  expect(raw.length % (width * height * 3)).toBe(0);
  return raw.length / (width * height * 3);
}

function hash(rgb: Uint8Array): string {
  return createHash('sha1').update(rgb).digest('hex');
}

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

/** Mean of the RGB bytes of rows [y0, y1) or columns [x0, x1) of a frame. */
function regionMean(rgb: Uint8Array, width: number, height: number, r: { x0?: number; x1?: number; y0?: number; y1?: number }): number {
  const { x0 = 0, x1 = width, y0 = 0, y1 = height } = r;
  let s = 0;
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      for (let c = 0; c < 3; c++) s += rgb[(y * width + x) * 3 + c];
      n += 3;
    }
  }
  return s / n;
}

describe('rotation metadata', () => {
  /** 64×48, left half white, right half black. */
  function halves(dir: string): string {
    return testClip(join(dir, 'halves.mp4'), {
      seconds: 1,
      vf: 'drawbox=x=0:y=0:w=32:h=48:color=white:t=fill,drawbox=x=32:y=0:w=32:h=48:color=black:t=fill',
    });
  }

  it('a video with a quarter-turn rotation decodes at its displayed size, turned as ffmpeg turns it', async () => {
    const dir = tmp();
    const src = halves(dir);
    const rotated = join(dir, 'rotated.mp4');
    ffmpeg('-i', src, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', rotated);
    // The metadata is really there (a display matrix, or a rotate tag with older ffmpeg versions).
    const s = ffprobeJson('-select_streams', 'v:0', '-show_entries', 'stream=width,height:stream_tags=rotate:stream_side_data=rotation', rotated).streams[0];
    expect([s.width, s.height]).toEqual([64, 48]);
    expect(s.side_data_list?.some((d: { rotation?: number }) => Math.abs(d.rotation ?? 0) === 90) || s.tags?.rotate === '90').toBe(true);

    const info = await probe(rotated);
    expect(info).toMatchObject({ width: 48, height: 64, frames: 10 });
    expect([90, 270]).toContain(info.rotation);

    const video = await openVideoFile(rotated, 4);
    expect([video.width, video.height, video.rotation]).toEqual([48, 64, info.rotation]);
    expect(video.description).toContain(`48×64, rotated ${info.rotation}°`);
    const f0 = await video.get(0);
    expect([f0.width, f0.height, f0.rgb.length]).toEqual([48, 64, 48 * 64 * 3]);

    // Same picture as ffmpeg's own autorotated output.
    ffmpeg('-i', rotated, '-frames:v', '1', join(dir, 'ref.png'));
    const ref = await decodeImage(join(dir, 'ref.png'));
    expect([ref.width, ref.height]).toEqual([48, 64]);
    expect(meanAbsDiff(f0.rgb, ref.rgb)).toBeLessThan(1);

    // And the rotation says which way: turned clockwise a quarter, the white left half is on top.
    const top = regionMean(f0.rgb, 48, 64, { y0: 2, y1: 30 });
    const bottom = regionMean(f0.rgb, 48, 64, { y0: 34, y1: 62 });
    if (info.rotation === 90) expect([top > 200, bottom < 50]).toEqual([true, true]);
    else expect([top < 50, bottom > 200]).toEqual([true, true]);

    // Later frames and going backwards (a restarted decoder) are turned the same way.
    for (const i of [9, 5, 1]) expect(meanAbsDiff((await video.get(i)).rgb, f0.rgb)).toBeLessThan(2);
    video.close();
  });

  it('a half-turn keeps the size and turns the picture', async () => {
    const dir = tmp();
    const rotated = join(dir, 'rotated180.mp4');
    ffmpeg('-i', halves(dir), '-c', 'copy', '-metadata:s:v:0', 'rotate=180', rotated);
    const video = await openVideoFile(rotated);
    expect([video.width, video.height, video.rotation]).toEqual([64, 48, 180]);
    const f = await video.get(0);
    expect(regionMean(f.rgb, 64, 48, { x0: 2, x1: 30 })).toBeLessThan(50);
    expect(regionMean(f.rgb, 64, 48, { x0: 34, x1: 62 })).toBeGreaterThan(200);
    video.close();
  });

  it('a JPEG with an EXIF orientation decodes as stored, as PIL decodes it (the orientation is not applied), in a folder too', async () => {
    const dir = tmp();
    ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=65x49', '-frames:v', '1', join(dir, 'plain.jpg'));
    const plain = readFileSync(join(dir, 'plain.jpg'));
    // APP1 "Exif" segment with one big-endian TIFF entry: Orientation (0x0112) = 6, "turn 90° clockwise".
    const tiff = Buffer.from([0x4d, 0x4d, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0]);
    const app1 = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
    const segment = Buffer.concat([Buffer.from([0xff, 0xe1, (app1.length + 2) >> 8, (app1.length + 2) & 255]), app1]);
    const frames = join(dir, 'frames');
    mkdirSync(frames);
    writeFileSync(join(frames, '00000.jpg'), Buffer.concat([plain.subarray(0, 2), segment, plain.subarray(2)]));
    writeFileSync(join(frames, '00001.jpg'), Buffer.concat([plain.subarray(0, 2), segment, plain.subarray(2)]));

    const info = await probe(join(frames, '00000.jpg'), false);
    expect([info.width, info.height, info.rotation]).toEqual([49, 65, 90]); // ffmpeg sees the orientation
    const img = await decodeImage(join(frames, '00000.jpg'));
    expect([img.width, img.height]).toEqual([65, 49]);
    expect(img.rgb).toEqual((await decodeImage(join(dir, 'plain.jpg'))).rgb);
    const folder = await openFrameFolder(frames);
    expect([folder.width, folder.height]).toEqual([65, 49]);
    expect((await folder.get(1)).rgb).toEqual(img.rgb);
  });
});

describe('frame count = frames that decode', () => {
  /** Opens the clip and checks count against ffmpeg, RawFrameStream, and random access both ways. */
  async function checkCount(path: string, expected?: number): Promise<number> {
    const info = await probe(path);
    if (expected !== undefined) expect(info.frames).toBe(expected);
    expect(info.frames).toBe(ffmpegFrameCount(path, info.width, info.height));

    // RawFrameStream yields exactly those frames, then ends.
    const stream = new RawFrameStream(path, info.width, info.height);
    const hashes: string[] = [];
    for (let f = await stream.read(); f; f = await stream.read()) hashes.push(hash(f));
    expect(hashes.length).toBe(info.frames);
    // testsrc draws a different picture on every frame, so no two decoded frames are alike.
    expect(new Set(hashes).size).toBe(hashes.length);

    // Every index decodes to the same frame, forward and backward.
    const forward = await openVideoFile(path, 4);
    expect(forward.count).toBe(info.frames);
    for (let i = 0; i < forward.count; i++) expect(hash((await forward.get(i)).rgb)).toBe(hashes[i]);
    forward.close();
    const backward = await openVideoFile(path, 4);
    for (let i = backward.count - 1; i >= 0; i--) expect(hash((await backward.get(i)).rgb)).toBe(hashes[i]);
    backward.close();
    return info.frames;
  }

  function packets(path: string): number {
    return Number(ffprobeJson('-select_streams', 'v:0', '-count_packets', '-show_entries', 'stream=nb_read_packets', path).streams[0].nb_read_packets);
  }

  it('a clip cut with -ss and -c copy (an edit list): fewer frames decode than there are packets', async () => {
    const dir = tmp();
    const full = testClip(join(dir, 'full.mp4'), { extra: ['-bf', '3'] });
    const cut = join(dir, 'cut.mp4');
    ffmpeg('-ss', '1.3', '-i', full, '-c', 'copy', cut);
    // The cut keeps every packet from the keyframe before 1.3 s; the edit list hides the first 1.3 s.
    expect(packets(cut)).toBe(40);
    await checkCount(cut, 27);
  });

  it('a variable-frame-rate clip with dropped frames and B-frames', async () => {
    const dir = tmp();
    // 30 fps source: frames 10..19 dropped, then the rest stretched to 70 ms apart, with B-frames.
    const vfr = testClip(join(dir, 'vfr.mp4'), {
      rate: 30,
      seconds: 3,
      vf: "select='not(between(n,10,19))',settb=1/1000,setpts='if(lt(N,30),N*20,600+(N-30)*70)/1000/TB'",
      extra: ['-fps_mode', 'vfr', '-enc_time_base', '1/1000', '-bf', '3'],
    });
    const pts = ffprobeJson('-select_streams', 'v:0', '-show_entries', 'packet=pts_time', vfr).packets.map((p: { pts_time: string }) => Number(p.pts_time));
    const gaps = new Set(pts.sort((a: number, b: number) => a - b).slice(1).map((t: number, i: number) => Math.round((t - pts[i]) * 1000)));
    expect(gaps.size).toBeGreaterThan(1);
    await checkCount(vfr, 80);
  });

  it('a B-frame clip, also cut with an edit list', async () => {
    const dir = tmp();
    const bf = testClip(join(dir, 'bf.mp4'), { extra: ['-bf', '3', '-g', '12'] });
    const s = ffprobeJson('-select_streams', 'v:0', '-show_entries', 'stream=has_b_frames', bf).streams[0];
    expect(s.has_b_frames).toBeGreaterThan(0);
    await checkCount(bf, 40);
    const cut = join(dir, 'bf-cut.mp4');
    ffmpeg('-ss', '1.3', '-i', bf, '-c', 'copy', cut);
    await checkCount(cut);
  });
});

describe('odd sizes', () => {
  /** Frames with a gradient that moves with the frame index. */
  function gradient(width: number, height: number, i: number): Uint8Array {
    const rgb = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const p = (y * width + x) * 3;
        rgb[p] = (x * 3 + i * 10) & 255;
        rgb[p + 1] = y * 4;
        rgb[p + 2] = 128;
      }
    }
    return rgb;
  }

  for (const [width, height, pixFmt, profile] of [
    [65, 49, 'yuv444p', 'High 4:4:4 Predictive'],
    [64, 49, 'yuv444p', 'High 4:4:4 Predictive'],
    [64, 48, 'yuv420p', 'High'],
  ] as const) {
    it(`an MP4 of ${width}×${height} frames is exactly ${width}×${height} (${pixFmt})`, async () => {
      const dir = tmp();
      const path = join(dir, 'odd.mp4');
      const w = new Mp4Writer(path, { width, height, fps: 10 });
      expect(w.pixelFormat).toBe(pixFmt);
      const frames = Array.from({ length: 12 }, (_, i) => gradient(width, height, i));
      for (const f of frames) await w.write(f);
      await w.close();
      const s = ffprobeJson('-select_streams', 'v:0', '-show_entries', 'stream=width,height,pix_fmt,profile', path).streams[0];
      expect(s).toMatchObject({ width, height, pix_fmt: pixFmt, profile });
      const info = await probe(path);
      expect(info).toMatchObject({ width, height, frames: 12, rotation: 0 });
      const video = await openVideoFile(path);
      for (const i of [0, 6, 11]) expect(meanAbsDiff((await video.get(i)).rgb, frames[i])).toBeLessThan(4);
      video.close();
    });
  }

  it('Mp4Writer names its temporary file after the final one and exposes it', async () => {
    const dir = tmp();
    const path = join(dir, 'out.mp4');
    const w = new Mp4Writer(path, { width: 16, height: 16, fps: 5 });
    expect(w.tempPath).toBe(`${path}.partial-${process.pid}.mp4`);
    await w.write(new Uint8Array(16 * 16 * 3));
    await w.close();
    expect(readdirSync(dir)).toEqual(['out.mp4']);
    const aborted = new Mp4Writer(join(dir, 'gone.mp4'), { width: 16, height: 16, fps: 5 });
    await aborted.write(new Uint8Array(16 * 16 * 3));
    await aborted.abort();
    expect(existsSync(aborted.tempPath)).toBe(false);
    expect(readdirSync(dir)).toEqual(['out.mp4']);
  });
});

describe('damaged files', () => {
  /** The entropy-coded data of a JPEG: after the start-of-scan header, up to the end-of-image marker. */
  function scanRange(bytes: Buffer): [number, number] {
    const sos = bytes.indexOf(Buffer.from([0xff, 0xda]));
    const start = sos + 2 + bytes.readUInt16BE(sos + 2);
    return [start, bytes.lastIndexOf(Buffer.from([0xff, 0xd9]))];
  }

  /** Writes the JPEGs a folder of frames typically holds, from three encoders; returns their paths. */
  function validJpegs(dir: string): string[] {
    const paths: string[] = [];
    ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=65x49', '-frames:v', '1', join(dir, 'src.png'));
    ffmpeg('-i', join(dir, 'src.png'), join(dir, 'ffmpeg.jpg'));
    paths.push(join(dir, 'ffmpeg.jpg'));
    const rgba = Buffer.alloc(65 * 49 * 4, 255);
    for (let i = 0; i < 65 * 49; i++) [rgba[i * 4], rgba[i * 4 + 1], rgba[i * 4 + 2]] = [(i * 7) & 255, (i % 65) * 3, Math.floor(i / 65) * 5];
    writeFileSync(join(dir, 'jpeg-js.jpg'), jpeg.encode({ data: rgba, width: 65, height: 49 }, 85).data);
    paths.push(join(dir, 'jpeg-js.jpg'));
    return paths;
  }

  it('valid JPEGs from common encoders decode (a missing end marker is tolerated)', async () => {
    const dir = tmp();
    for (const path of validJpegs(dir)) {
      const img = await decodeImage(path);
      expect([img.width, img.height]).toEqual([65, 49]);
      // Without its final EOI marker, as some cameras write them: still decodes, to the same picture.
      const bytes = readFileSync(path);
      writeFileSync(`${path}.noeoi.jpg`, bytes.subarray(0, bytes.length - 2));
      expect(meanAbsDiff((await decodeImage(`${path}.noeoi.jpg`)).rgb, img.rgb)).toBeLessThan(1);
    }
  });

  const hasPillow = spawnSync('python3', ['-c', 'import PIL'], { stdio: 'ignore' }).status === 0;
  it.skipIf(!hasPillow)('a JPEG written by Pillow (libjpeg) decodes', async () => {
    const dir = tmp();
    const path = join(dir, 'pillow.jpg');
    const r = spawnSync('python3', ['-c', `from PIL import Image; Image.new('RGB', (65, 49), (200, 30, 60)).save(${JSON.stringify(path)}, quality=90)`]);
    expect(r.status).toBe(0);
    const img = await decodeImage(path);
    expect([img.width, img.height]).toEqual([65, 49]);
    expect(regionMean(img.rgb, 65, 49, {})).toBeCloseTo((200 + 30 + 60) / 3, -1);
  });

  it('a truncated or corrupt JPEG among the frames is a DecodeError naming the file', async () => {
    const dir = tmp();
    const [good] = validJpegs(dir);
    const bytes = readFileSync(good);
    const frames = join(dir, 'frames');
    mkdirSync(frames);
    writeFileSync(join(frames, '00000.jpg'), bytes);
    writeFileSync(join(frames, '00001.jpg'), bytes.subarray(0, bytes.length >> 1)); // cut to half its bytes
    const corrupt = Buffer.from(bytes);
    const [start, end] = scanRange(corrupt);
    // A run of 1-bits in the middle of the scan (0xFF followed by a stuffed 0x00): no valid Huffman code.
    for (let k = (start + end) >> 1, n = 0; n < 32; k += 2, n++) [corrupt[k], corrupt[k + 1]] = [0xff, 0x00];
    writeFileSync(join(frames, '00002.jpg'), corrupt);

    const folder = await openFrameFolder(frames);
    expect(folder.count).toBe(3);
    await folder.get(0);
    for (const name of ['00001.jpg', '00002.jpg']) {
      const e = await folder.get(Number(name.slice(0, 5))).catch((x) => x);
      expect(e).toBeInstanceOf(DecodeError);
      expect(e.message).toContain(join(frames, name));
      expect(e.message).toMatch(/damaged or truncated/);
    }
  });

  it('a truncated or corrupt PNG is a DecodeError naming the file', async () => {
    const dir = tmp();
    ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=160x120,noise=alls=100:allf=t', '-frames:v', '1', join(dir, 'noise.png'));
    const bytes = readFileSync(join(dir, 'noise.png'));
    writeFileSync(join(dir, 'half.png'), bytes.subarray(0, bytes.length >> 1));
    const corrupt = Buffer.from(bytes);
    for (let k = bytes.length >> 1; k < (bytes.length >> 1) + 16; k++) corrupt[k] ^= 0x5a;
    writeFileSync(join(dir, 'corrupt.png'), corrupt);
    expect((await decodeImage(join(dir, 'noise.png'))).width).toBe(160);
    for (const name of ['half.png', 'corrupt.png']) {
      const e = await decodeImage(join(dir, name)).catch((x) => x);
      expect(e).toBeInstanceOf(DecodeError);
      expect(e.message).toContain(join(dir, name));
      expect(e.message).toMatch(/damaged or truncated/);
    }
  });

  it('a truncated MP4 or MKV is a DecodeError naming the file when it is opened', async () => {
    const dir = tmp();
    const cut = (src: string, name: string) => {
      const out = join(dir, name);
      writeFileSync(out, readFileSync(src).subarray(0, Math.floor(statSync(src).size * 0.6)));
      return out;
    };
    // Index (moov) in front, as downloads have it: the index lists frames past the end of the file.
    const faststart = testClip(join(dir, 'faststart.mp4'), { size: '160x120', extra: ['-movflags', '+faststart'] });
    // Index at the end, as recordings have it: cutting loses the index.
    const plain = testClip(join(dir, 'plain.mp4'), { size: '160x120' });
    const mkv = join(dir, 'clip.mkv');
    ffmpeg('-i', plain, '-c', 'copy', mkv);
    for (const [path, message] of [
      [cut(faststart, 'faststart-60.mp4'), /is truncated/],
      [cut(plain, 'plain-60.mp4'), /damaged or truncated/],
      [cut(mkv, 'clip-60.mkv'), /is truncated/],
    ] as const) {
      const e = await openVideoFile(path).catch((x) => x);
      expect(e).toBeInstanceOf(DecodeError);
      expect(e.message).toContain(path);
      expect(e.message).toMatch(message);
    }
    // The complete files open.
    for (const path of [faststart, plain, mkv]) expect((await openVideoFile(path)).count).toBe(40);
  });
});

describe('the MP4 writer when ffmpeg stops', () => {
  it('a setting ffmpeg refuses is a Sam2Error from write() or close(), never an unhandled pipe error, and nothing is left', async () => {
    const { Sam2Error } = await import('../../src/runtime/errors.js');
    const dir = mkdtempSync(join(tmpdir(), 'sam2-mp4-stop-'));
    const path = join(dir, 'o.mp4');
    // ffmpeg accepts the command line, then gives up on a frame duration this long.
    const w = new Mp4Writer(path, { width: 64, height: 48, fps: 1e-5 });
    const frame = new Uint8Array(64 * 48 * 3).fill(90);
    const e = await (async () => {
      for (let i = 0; i < 200; i++) await w.write(frame);
      await w.close();
    })().then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(Sam2Error);
    expect((e as Error).message).toMatch(/ffmpeg (stopped while writing|could not write) .*o\.mp4: \S/);
    await w.abort();
    expect(readdirSync(dir)).toEqual([]);
  });
});
