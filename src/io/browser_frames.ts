/**
 * Frame sources in browsers: the frames of a video as ImageBitmap / VideoFrame / ImageData / canvas / <img> /
 * <video> objects, either all given up front or fetched one at a time through a callback (index → image), so a
 * long video need not be held whole; or image files (a picked folder of JPEG frames), decoded here. Images are
 * converted to RGB through one reused OffscreenCanvas (ImageData is read directly, without a canvas); JPEG files
 * are decoded by libjpeg-turbo to PIL's bytes (src/io/jpeg.ts), the official loader's, which the browser's own
 * decoders (createImageBitmap, <img>) do not give.
 *
 * Nothing here imports a Node module; ImageData-like objects ({width, height, data}) and JPEG files work in
 * Node too.
 */
import { closableSource } from '../runtime/dispose.js';
import { Sam2Error } from '../runtime/errors.js';
import { FrameCache } from './frame_cache.js';
import type { DisposableFrameSource, Frame } from './frames.js';
import { DecodeError, decodeJpeg, isJpeg } from './jpeg.js';

/** Anything a browser can draw into a 2-D canvas, or raw RGBA pixels. */
export type BrowserImage =
  | ImageBitmap
  | VideoFrame
  | ImageData
  | HTMLCanvasElement
  | OffscreenCanvas
  | HTMLImageElement
  | HTMLVideoElement
  | RgbaImage;

/** Raw RGBA pixels (the shape of ImageData, without needing the DOM class). */
export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8ClampedArray | Uint8Array;
}

function isRgba(img: unknown): img is RgbaImage {
  const d = (img as { data?: unknown }).data;
  return (d instanceof Uint8ClampedArray || d instanceof Uint8Array) && typeof (img as RgbaImage).width === 'number';
}

/** The displayed size of an image in pixels (a VideoFrame's display size, a <video>'s intrinsic size, ...). */
export function browserImageSize(img: BrowserImage): { width: number; height: number } {
  if (img === null || typeof img !== 'object') throw new Sam2Error(`not an image: ${String(img)}`);
  if (isRgba(img)) return { width: img.width, height: img.height };
  const o = img as unknown as Record<string, unknown>;
  if (typeof o.displayWidth === 'number') return { width: o.displayWidth as number, height: o.displayHeight as number }; // VideoFrame
  if (typeof o.videoWidth === 'number') return { width: o.videoWidth as number, height: o.videoHeight as number }; // <video>
  if (typeof o.naturalWidth === 'number') return { width: o.naturalWidth as number, height: o.naturalHeight as number }; // <img>
  if (typeof o.width === 'number' && typeof o.height === 'number') return { width: o.width as number, height: o.height as number };
  throw new Sam2Error('not an image: expected an ImageBitmap, VideoFrame, ImageData, canvas, <img> or <video>');
}

/** RGBA bytes (width × height × 4) → RGB bytes (width × height × 3); alpha is dropped. */
export function rgbaToRgb(rgba: ArrayLike<number>, width: number, height: number): Uint8Array {
  const n = width * height;
  if (rgba.length !== n * 4) throw new Sam2Error(`${rgba.length} RGBA bytes for a ${width}×${height} image (expected ${n * 4})`);
  const rgb = new Uint8Array(n * 3);
  for (let p = 0, i = 0, o = 0; p < n; p++, i += 4, o += 3) {
    rgb[o] = rgba[i];
    rgb[o + 1] = rgba[i + 1];
    rgb[o + 2] = rgba[i + 2];
  }
  return rgb;
}

/** Converts images to RGB frames, drawing through one reused OffscreenCanvas. */
export class RgbConverter {
  private canvas: OffscreenCanvas | null = null;
  private ctx: OffscreenCanvasRenderingContext2D | null = null;

  async toFrame(img: BrowserImage): Promise<Frame> {
    const { width, height } = browserImageSize(img);
    if (!(width > 0 && height > 0)) throw new Sam2Error(`image of size ${width}×${height} (is the video or image loaded?)`);
    if (isRgba(img)) return { width, height, rgb: rgbaToRgb(img.data, width, height) };
    if (typeof OffscreenCanvas === 'undefined') {
      throw new Sam2Error('this environment has no OffscreenCanvas: give frames as ImageData-like {width, height, data} objects');
    }
    if (!this.canvas || this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas = new OffscreenCanvas(width, height);
      this.ctx = this.canvas.getContext('2d', { willReadFrequently: true, alpha: false }) as OffscreenCanvasRenderingContext2D | null;
      if (!this.ctx) throw new Sam2Error('could not create a 2-D OffscreenCanvas context to read frame pixels');
    }
    const ctx = this.ctx!;
    ctx.drawImage(img as CanvasImageSource, 0, 0, width, height);
    return { width, height, rgb: rgbaToRgb(ctx.getImageData(0, 0, width, height).data, width, height) };
  }
}


function checkIndex(count: number, description: string, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new Sam2Error(`frame index ${index} is out of range for ${description} (0..${count - 1})`);
  }
}

function checkSize(i: number, got: { width: number; height: number }, width: number, height: number): void {
  if (got.width !== width || got.height !== height) {
    throw new Sam2Error(`frames of mixed sizes: frame ${i} is ${got.width}×${got.height}, frame 0 is ${width}×${height}`);
  }
}

/**
 * A FrameSource of `count` frames of width × height that `load` converts on demand (it checks each frame's
 * size), with the last few kept (`first`, frame 0, already loaded); close() drops them, then runs onClose.
 */
function cachedSource(
  count: number,
  width: number,
  height: number,
  description: string,
  opts: ImageFramesOptions & { onClose?: () => void },
  load: (index: number) => Promise<Frame>,
  first?: Frame,
): DisposableFrameSource {
  const cache = new FrameCache(opts.cacheFrames ?? 4);
  if (first) cache.set(0, first);
  return closableSource({
    count,
    width,
    height,
    fps: opts.fps,
    description,
    async get(index: number): Promise<Frame> {
      checkIndex(count, description, index);
      const hit = cache.get(index);
      if (hit) return hit;
      const f = await load(index);
      cache.set(index, f);
      return f;
    },
    close() {
      cache.clear();
      opts.onClose?.();
    },
  });
}

export interface ImageFramesOptions {
  fps?: number;
  description?: string;
  /** Converted RGB frames kept (default 4). */
  cacheFrames?: number;
}

/**
 * A FrameSource over images held by the caller (all one size; checked up front). The images stay the caller's:
 * close() does not close them.
 */
export function framesFromImages(images: readonly BrowserImage[], opts: ImageFramesOptions = {}): DisposableFrameSource {
  if (images.length === 0) throw new Sam2Error('no frames were given');
  const { width, height } = browserImageSize(images[0]);
  if (!(width > 0 && height > 0)) throw new Sam2Error(`frame 0 has size ${width}×${height}`);
  images.forEach((img, i) => checkSize(i, browserImageSize(img), width, height));
  const converter = new RgbConverter();
  const description = opts.description ?? `${images.length} frames of ${width}×${height}`;
  return cachedSource(images.length, width, height, description, opts, async (index) => {
    const f = await converter.toFrame(images[index]);
    checkSize(index, f, width, height);
    return f;
  });
}

export interface CallbackFramesOptions extends ImageFramesOptions {
  /** Number of frames. */
  count: number;
  /** Returns frame `index`; called again for frames that have left the cache. */
  frame: (index: number) => BrowserImage | Promise<BrowserImage>;
  /** Frame size; when absent, frame 0 is fetched once to learn it. */
  width?: number;
  height?: number;
  /** Close each image (VideoFrame / ImageBitmap) once it has been converted (default false). */
  closeImages?: boolean;
  /** Called by close(), after the cache is dropped. */
  onClose?: () => void;
}

/**
 * A FrameSource that asks a callback for each frame as the engine needs it and keeps only a few converted
 * frames, so host memory stays flat however long the video is.
 */
export async function framesFromCallback(opts: CallbackFramesOptions): Promise<DisposableFrameSource> {
  const { count } = opts;
  if (!Number.isInteger(count) || count < 1) throw new Sam2Error(`a video needs at least one frame (count: ${count})`);
  const converter = new RgbConverter();
  const release = (img: BrowserImage) => {
    if (opts.closeImages) (img as { close?: () => void }).close?.();
  };
  let width = opts.width;
  let height = opts.height;
  let first: Frame | undefined;
  if (width === undefined || height === undefined) {
    const img = await opts.frame(0);
    try {
      first = await converter.toFrame(img);
      ({ width, height } = first);
    } finally {
      release(img);
    }
  }
  if (!(width! > 0 && height! > 0)) throw new Sam2Error(`frame size ${width}×${height}`);
  const W = width!;
  const H = height!;
  const description = opts.description ?? `${count} frames of ${W}×${H}`;
  const load = async (index: number): Promise<Frame> => {
    const img = await opts.frame(index);
    if (img === null || img === undefined) throw new Sam2Error(`${description}: no image for frame ${index}`);
    try {
      checkSize(index, browserImageSize(img), W, H);
      return await converter.toFrame(img);
    } finally {
      release(img);
    }
  };
  return cachedSource(count, W, H, description, opts, load, first);
}

/** A file name without its folder and extension ("frames/00042.jpg" → "00042"). */
function stem(name: string): string {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

/**
 * Frame files in the official loader's order: when every name is an integer ("00042.jpg"), by its value;
 * otherwise by natural order of the names ("frame2" before "frame10"). Names, or objects with a `name` (File).
 */
export function frameFileOrder<T extends string | { readonly name: string }>(items: readonly T[]): T[] {
  const name = (t: T) => (typeof t === 'string' ? t : t.name);
  const numeric = items.every((t) => /^\d+$/.test(stem(name(t))));
  const collator = new Intl.Collator(undefined, { numeric: true });
  return [...items].sort(numeric ? (a, b) => Number(stem(name(a))) - Number(stem(name(b))) : (a, b) => collator.compare(name(a), name(b)));
}

/** An image file's contents: a File or Blob (a picked file), or its bytes. */
export type ImageFile = Blob | ArrayBuffer | Uint8Array;

export interface FileFramesOptions extends ImageFramesOptions {
  /**
   * Order File objects by name as openFrameFolder orders a folder (frameFileOrder), keeping only .jpg, .jpeg
   * and .png files (default true when every item has a name; otherwise the given order is kept).
   */
  sort?: boolean;
}

const FRAME_FILE = /\.(jpe?g|png)$/i;

/**
 * A FrameSource over image files: the frames of a video as JPEG (or PNG) files, for example a folder a user
 * picked (`<input type="file" webkitdirectory>`). JPEGs decode byte for byte as the official loader's PIL
 * decodes them (decodeJpeg; EXIF orientation is not applied, as PIL does not apply it); other images (PNG, ...)
 * through createImageBitmap without colour conversion (PNG is lossless, but an RGBA PNG's transparent pixels
 * come out composited onto black, where PIL keeps their colour). Files are read and decoded when the engine
 * asks for a frame, and only a few decoded frames are kept. Frame 0 is decoded here, for the size.
 */
export async function framesFromFiles(files: readonly ImageFile[], opts: FileFramesOptions = {}): Promise<DisposableFrameSource> {
  const named = files.length > 0 && files.every((f) => typeof (f as { name?: unknown }).name === 'string');
  const sort = opts.sort ?? named;
  let list = files;
  if (sort) {
    if (!named) throw new Sam2Error('framesFromFiles: sort needs files with names (File objects)');
    list = frameFileOrder((files as readonly File[]).filter((f) => FRAME_FILE.test(f.name)));
    if (list.length === 0) throw new Sam2Error(`no JPEG or PNG frames among the ${files.length} files`);
  }
  if (list.length === 0) throw new Sam2Error('no frames were given');
  const nameOf = (i: number) => (list[i] as { name?: string }).name ?? `frame ${i}`;
  const converter = new RgbConverter();
  const decode = async (i: number): Promise<Frame> => {
    const f = list[i];
    const bytes = f instanceof Uint8Array ? f : new Uint8Array(f instanceof ArrayBuffer ? f : await f.arrayBuffer());
    if (isJpeg(bytes)) return decodeJpeg(bytes, nameOf(i));
    if (typeof createImageBitmap === 'undefined') {
      throw new DecodeError(`cannot decode ${nameOf(i)}: not a JPEG file, and this environment has no createImageBitmap for other images`);
    }
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>]), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    } catch (e) {
      throw new DecodeError(`cannot decode ${nameOf(i)}: ${(e as Error).message ?? e} (the file is damaged, truncated or not an image)`);
    }
    try {
      return await converter.toFrame(bitmap);
    } finally {
      bitmap.close();
    }
  };
  const first = await decode(0);
  const { width, height } = first;
  const description = opts.description ?? `${list.length} image files of ${width}×${height}`;
  const load = async (index: number): Promise<Frame> => {
    const f = await decode(index);
    if (f.width !== width || f.height !== height) {
      throw new Sam2Error(`frames of mixed sizes: ${nameOf(index)} is ${f.width}×${f.height}, ${nameOf(0)} is ${width}×${height}`);
    }
    return f;
  };
  return cachedSource(list.length, width, height, description, opts, load, first);
}
