import { describe, expect, it } from 'vitest';

describe('ffmpeg missing', () => {
  it('says which package to install', async () => {
    process.env.SAM2_FFMPEG = '/nonexistent/ffmpeg';
    const { openFrames } = await import('../../src/io/frames.js');
    const { FfmpegMissingError } = await import('../../src/io/ffmpeg.js');
    const dir = new URL('../../samples/bedroom.mp4', import.meta.url).pathname;
    const e = await openFrames(dir).catch((x) => x);
    expect(e).toBeInstanceOf(FfmpegMissingError);
    expect(e.message).toMatch(/\/nonexistent\/ffmpeg was not found.*apt-get install ffmpeg.*package "ffmpeg"/);
    delete process.env.SAM2_FFMPEG;
  });
});
