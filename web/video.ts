/**
 * Video in and out for the page, through WebCodecs with mediabunny: decoding an MP4 / WebM / MOV file into
 * ImageBitmaps, and encoding overlay frames into an MP4.
 */
import {
  ALL_FORMATS,
  BlobSource,
  BufferTarget,
  CanvasSource,
  Input,
  Mp4OutputFormat,
  Output,
  QUALITY_HIGH,
  VideoSampleSink,
  canEncodeVideo,
  type VideoCodec,
} from 'mediabunny';

export interface DecodedVideo {
  frames: ImageBitmap[];
  width: number;
  height: number;
  fps: number;
  /** Frames in the file (frames.length is smaller when the limit cut the video). */
  totalFrames: number;
  codec: string;
}

/**
 * Decodes the primary video track of a file into ImageBitmaps (display size), at most `maxFrames` of them.
 * Throws an Error saying what is wrong (no video track, codec this browser cannot decode).
 */
export async function decodeVideo(
  file: Blob,
  opts: { maxFrames?: number; onFrame?: (done: number, total: number) => void } = {},
): Promise<DecodedVideo> {
  const input = new Input({ source: new BlobSource(file), formats: ALL_FORMATS });
  try {
    if (!(await input.canRead())) throw new Error('not a video file this page can read (MP4, MOV, WebM, MKV)');
    const track = await input.getPrimaryVideoTrack();
    if (!track) throw new Error('the file has no video track');
    const codec = (await track.getCodec()) ?? 'unknown';
    if (!(await track.canDecode())) throw new Error(`this browser cannot decode ${codec} video (WebCodecs)`);
    const stats = await track.computePacketStats();
    const total = stats.packetCount;
    const fps = stats.averagePacketRate > 0 ? stats.averagePacketRate : 24;
    const width = await track.getDisplayWidth();
    const height = await track.getDisplayHeight();
    const limit = Math.min(total, opts.maxFrames ?? total);
    const frames: ImageBitmap[] = [];
    const sink = new VideoSampleSink(track);
    try {
      for await (const sample of sink.samples()) {
        try {
          if (frames.length >= limit) break;
          const vf = sample.toVideoFrame();
          try {
            frames.push(await createImageBitmap(vf, { resizeWidth: width, resizeHeight: height }));
          } finally {
            vf.close();
          }
        } finally {
          sample.close();
        }
        opts.onFrame?.(frames.length, limit);
      }
    } catch (e) {
      for (const f of frames) f.close();
      throw e;
    }
    if (frames.length === 0) throw new Error('no frame could be decoded');
    return { frames, width, height, fps, totalFrames: total, codec };
  } finally {
    input.dispose();
  }
}

/** The first codec of H.264, VP9, AV1 this browser can encode at this size, or null. */
export async function pickEncoder(width: number, height: number): Promise<VideoCodec | null> {
  for (const c of ['avc', 'vp9', 'av1'] as const) {
    if (await canEncodeVideo(c, { width, height })) return c;
  }
  return null;
}

/**
 * Encodes `count` frames drawn by `draw(i, ctx)` into an MP4 (WebCodecs VideoEncoder inside mediabunny's
 * CanvasSource, mediabunny's MP4 muxer). Returns the file's bytes and the codec used.
 */
export async function encodeMp4(
  width: number,
  height: number,
  fps: number,
  count: number,
  draw: (i: number, ctx: OffscreenCanvasRenderingContext2D) => Promise<void>,
  onFrame?: (done: number) => void,
): Promise<{ bytes: ArrayBuffer; codec: VideoCodec }> {
  // H.264 needs even sizes.
  const W = width + (width % 2);
  const H = height + (height % 2);
  const codec = await pickEncoder(W, H);
  if (!codec) throw new Error('this browser cannot encode H.264, VP9 or AV1 video (WebCodecs VideoEncoder)');
  const canvas = new OffscreenCanvas(W, H);
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2-D canvas context');
  const output = new Output({ format: new Mp4OutputFormat({ fastStart: 'in-memory' }), target: new BufferTarget() });
  const source = new CanvasSource(canvas, { codec, bitrate: QUALITY_HIGH });
  output.addVideoTrack(source, { frameRate: fps });
  await output.start();
  try {
    for (let i = 0; i < count; i++) {
      ctx.fillStyle = '#000';
      ctx.fillRect(0, 0, W, H);
      await draw(i, ctx);
      await source.add(i / fps, 1 / fps);
      onFrame?.(i + 1);
    }
    source.close();
    await output.finalize();
  } catch (e) {
    await output.cancel().catch(() => {});
    throw e;
  }
  const bytes = output.target.buffer;
  if (!bytes) throw new Error('the MP4 muxer produced no data');
  return { bytes, codec };
}
