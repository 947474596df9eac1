/**
 * Where frames come from (Node): a folder of JPEG/PNG frames sorted as the official loader sorts them, a
 * video file decoded by ffmpeg, or frames the caller supplies. Frames are decoded on demand and only a few
 * are kept (a small cache), so host memory stays flat however long the video is.
 *
 * JPEG frames decode to the official loader's bytes: libjpeg-turbo as PIL runs it (src/io/jpeg.ts), checked
 * byte for byte against PIL by test/io/jpeg.test.ts. Video files have no official reference (the official
 * loader reads folders of JPEG frames); ffmpeg decodes them (src/io/ffmpeg.ts).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { closableSource } from '../runtime/dispose.js';
import { fileAccessError, Sam2Error } from '../runtime/errors.js';
import { frameFileOrder } from './browser_frames.js';
import { DecodeError, decodeImage, probe, RawFrameStream } from './ffmpeg.js';
import { FrameCache } from './frame_cache.js';

/** One RGB frame: width × height × 3 bytes, row-major. */
export interface Frame {
  width: number;
  height: number;
  rgb: Uint8Array;
}

export interface FrameSource {
  /** Number of frames; every index 0..count-1 can be read. */
  readonly count: number;
  /**
   * Size of the frames as displayed, after any rotation metadata (see `rotation`). Prompt coordinates (points,
   * boxes) are pixels of this displayed picture, and masks have this size.
   */
  readonly width: number;
  readonly height: number;
  /** Frames per second when the source knows it (video files). */
  readonly fps?: number;
  /**
   * Degrees clockwise by which the decoded picture was turned for display (video rotation metadata, as on
   * phone videos), when the source knows it; the frames are already turned, so width/height and prompts
   * need no further handling.
   */
  readonly rotation?: number;
  /** A short description for messages ("folder X (200 frames)"). */
  readonly description: string;
  get(index: number): Promise<Frame>;
  /**
   * Optional: the frame already resized to size × size RGB by another loader (for example the official
   * loader's own bytes, to reproduce its input exactly). Undefined → the engine resizes get(index).
   */
  resized?(index: number, size: number): Promise<Uint8Array | undefined>;
  /** Stops decoding and drops cached frames; get() afterwards is a DisposedError. Runs once. */
  close(): void;
  /** `using` closes the source (the package's sources all have it). */
  [Symbol.dispose]?(): void;
}

/** A FrameSource made by this package: `using frames = await openFrames(path)` closes it at scope exit. */
export type DisposableFrameSource = FrameSource & Disposable & AsyncDisposable;


function checkIndex(src: FrameSource, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= src.count) {
    throw new Sam2Error(`frame index ${index} is out of range for ${src.description} (0..${src.count - 1})`);
  }
}

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png']);

/**
 * The frames of a folder: JPEG and PNG files (decodeImage: JPEGs byte for byte as PIL decodes them). As the
 * official loader, names that are integers ("00042.jpg") sort by value; otherwise the folder must use one
 * naming scheme and sorts by natural order. As in the official loader, a JPEG's EXIF orientation is not
 * applied (PIL's decode ignores it).
 */
export async function openFrameFolder(dir: string, cacheFrames = 8): Promise<DisposableFrameSource> {
  if (!existsSync(dir)) throw fileAccessError('video source', dir, { code: 'ENOENT' });
  if (!statSync(dir).isDirectory()) throw new Sam2Error(`${dir} is not a folder of frames`);
  const files = frameFileOrder(readdirSync(dir).filter((f) => IMAGE_EXT.has(extname(f).toLowerCase())));
  if (files.length === 0) throw new Sam2Error(`no JPEG or PNG frames in ${dir}`);
  // The size is that of the first frame as stored (PIL, and so the official loader, ignores EXIF orientation).
  const first = await decodeImage(join(dir, files[0]));
  const cache = new FrameCache(cacheFrames);
  cache.set(0, first);
  const src: FrameSource = {
    count: files.length,
    width: first.width,
    height: first.height,
    description: `folder ${dir} (${files.length} frames)`,
    async get(index: number): Promise<Frame> {
      checkIndex(src, index);
      const hit = cache.get(index);
      if (hit) return hit;
      const path = join(dir, files[index]);
      const img = await decodeImage(path);
      if (img.width !== src.width || img.height !== src.height) {
        throw new Sam2Error(
          `frames of mixed sizes: ${files[index]} is ${img.width}×${img.height}, ${files[0]} is ${src.width}×${src.height}`,
        );
      }
      const f = { width: img.width, height: img.height, rgb: img.rgb };
      cache.set(index, f);
      return f;
    },
    close() {},
  };
  return closableSource(src);
}

/**
 * The frames of a video file, decoded by ffmpeg. Forward access streams; going backwards restarts the
 * decoder a window before the requested frame and caches that window, so reverse tracking costs one decode
 * per window, not per frame.
 *
 * Frames are as displayed: rotation metadata (phone videos) is applied, width/height are the displayed size
 * and prompt coordinates are displayed pixels. The count is decided when opening, by decoding the file once
 * (see probe()): it is the number of frames ffmpeg delivers, which for a cut with an edit list is fewer than
 * the file's packets. A truncated or undecodable file is a DecodeError naming it, raised here rather than
 * midway through tracking.
 */
export async function openVideoFile(path: string, window = 16): Promise<DisposableFrameSource> {
  if (!existsSync(path)) throw fileAccessError('video source', path, { code: 'ENOENT' });
  const info = await probe(path, true);
  if (info.frames < 1) throw new DecodeError(`${path} has no frames`);
  const cache = new FrameCache(window * 2);
  let stream: RawFrameStream | null = null;
  const rotated = info.rotation ? `, rotated ${info.rotation}°` : '';
  const src: FrameSource = {
    count: info.frames,
    width: info.width,
    height: info.height,
    fps: info.fps,
    rotation: info.rotation,
    description: `video ${path} (${info.frames} frames, ${info.width}×${info.height}${rotated}, ${info.fps.toFixed(2)} fps)`,
    async get(index: number): Promise<Frame> {
      checkIndex(src, index);
      const hit = cache.get(index);
      if (hit) return hit;
      if (!stream || stream.next > index || index - stream.next > window * 4) {
        stream?.close();
        stream = new RawFrameStream(path, info.width, info.height, stream && stream.next > index ? Math.max(0, index - window + 1) : index);
      }
      for (;;) {
        const at = stream.next;
        const rgb = await stream.read();
        if (!rgb) throw new DecodeError(`${path}: frame ${index} could not be decoded (the stream ended at frame ${at} of ${src.count})`);
        const f = { width: info.width, height: info.height, rgb };
        cache.set(at, f);
        if (at === index) return f;
      }
    },
    close() {
      stream?.close();
      stream = null;
    },
  };
  return closableSource(src);
}

/** Frames supplied by the caller (already decoded, all one size). */
export function framesFromMemory(frames: Frame[], fps?: number): DisposableFrameSource {
  if (frames.length === 0) throw new Sam2Error('no frames were given');
  const { width, height } = frames[0];
  frames.forEach((f, i) => {
    if (f.width !== width || f.height !== height) {
      throw new Sam2Error(`frames of mixed sizes: frame ${i} is ${f.width}×${f.height}, frame 0 is ${width}×${height}`);
    }
    if (f.rgb.length !== width * height * 3) throw new Sam2Error(`frame ${i}: ${f.rgb.length} bytes for ${width}×${height} RGB`);
  });
  const src: FrameSource = {
    count: frames.length,
    width,
    height,
    fps,
    description: `${frames.length} frames in memory`,
    async get(index) {
      checkIndex(src, index);
      return frames[index];
    },
    close() {},
  };
  return closableSource(src);
}

/** A folder of frames or a video file, by what the path is. */
export async function openFrames(path: string): Promise<DisposableFrameSource> {
  if (!existsSync(path)) throw fileAccessError('video source', path, { code: 'ENOENT' });
  return statSync(path).isDirectory() ? openFrameFolder(path) : openVideoFile(path);
}
