/**
 * The engine's image decode against PIL's, the official loader's: every image of
 * test/fixtures/decode/pil_decode.json (tools/reference/decode_fixture.py: the bedroom frames, the sample
 * images, and small JPEGs/PNGs of every common kind) decodes to the same bytes (sha256), through decodeJpeg,
 * through the public decodeImage, and through openFrameFolder. Damaged JPEGs are DecodeErrors naming the file.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DecodeError, decodeImage } from '../../src/io/ffmpeg.js';
import { openFrameFolder } from '../../src/io/frames.js';
import { decodeJpeg, isJpeg, scansComplete } from '../../src/io/jpeg.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

interface PilImage {
  path: string;
  format: 'JPEG' | 'PNG';
  mode: string;
  width: number;
  height: number;
  sha256: string;
  resized_sha256: string;
}
const FIXTURE = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/decode/pil_decode.json'), 'utf8')) as { pillow: string; images: PilImage[] };
const JPEGS = FIXTURE.images.filter((e) => e.format === 'JPEG');
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The text of src/io/jpeg_wasm.ts for the package's module bytes. */
function jpegWasmSource(bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes).toString('base64');
  const lines = b64.match(/.{1,120}/g)!.join('\n');
  return `/*! The TurboJPEG decompressor of libjpeg-turbo 2.0.4 compiled to WebAssembly: jpeg-turbo.wasm of the npm
 * package @cwasm/jpeg-turbo 0.1.3 (MIT License, Linus Unnebäck). libjpeg-turbo is under the IJG License, the
 * Modified (3-clause) BSD License and the zlib License: Copyright (C) 2009-2020 D. R. Commander, Copyright
 * (C) 1991-2019 Thomas G. Lane, Guido Vollbeding, and others; this software is based in part on the work of
 * the Independent JPEG Group. */
// Generated: \`SAM2_WRITE_JPEG_WASM=1 npx vitest run test/io/jpeg.test.ts\` writes it from the devDependency
// @cwasm/jpeg-turbo, and that test checks that the two hold the same bytes. src/io/jpeg.ts imports it lazily.

/** sha256 of the module's ${bytes.length} bytes. */
export const JPEG_TURBO_WASM_SHA256 = '${sha256(bytes)}';

/** The module in base64, in lines of 120 characters (atob skips the line breaks). */
export const JPEG_TURBO_WASM_BASE64 = \`
${lines}
\`;
`;
}

describe('the embedded decoder', () => {
  it('is the jpeg-turbo.wasm of the @cwasm/jpeg-turbo package', () => {
    const pkg = readFileSync(join(ROOT, 'node_modules/@cwasm/jpeg-turbo/jpeg-turbo.wasm'));
    const file = join(ROOT, 'src/io/jpeg_wasm.ts');
    if (process.env.SAM2_WRITE_JPEG_WASM === '1') writeFileSync(file, jpegWasmSource(pkg));
    expect(readFileSync(file, 'utf8') === jpegWasmSource(pkg), `${file} is not the package's module: run SAM2_WRITE_JPEG_WASM=1 npx vitest run test/io/jpeg.test.ts`).toBe(true);
  });
});

describe('JPEG decode = PIL', () => {
  it(`decodes every JPEG of the fixture to PIL ${FIXTURE.pillow}'s bytes`, async () => {
    expect(JPEGS.length).toBeGreaterThanOrEqual(30);
    const wrong: string[] = [];
    for (const e of JPEGS) {
      const img = await decodeJpeg(readFileSync(join(ROOT, e.path)), e.path);
      if (img.width !== e.width || img.height !== e.height || sha256(img.rgb) !== e.sha256) wrong.push(`${e.path} (${img.width}×${img.height})`);
    }
    expect(wrong).toEqual([]);
  });

  it('covers the kinds of JPEG that folders of frames hold', () => {
    const names = JPEGS.map((e) => e.path).join(' ');
    for (const kind of ['420', '422', '444', '440', '411', 'gray', 'progressive', 'restart', '97x61', 'rgb', 'cmyk', 'exif_orientation6']) expect(names).toContain(kind);
    // PIL does not apply the EXIF orientation: the picture keeps its stored size (97×61, not 61×97).
    expect(JPEGS.find((e) => e.path.includes('exif_orientation6'))).toMatchObject({ width: 97, height: 61 });
  });

  it('decodeImage (the public Node API) gives PIL bytes for JPEG and PNG files', async () => {
    const wrong: string[] = [];
    for (const e of FIXTURE.images.filter((x) => x.path.startsWith('test/') || x.path.startsWith('samples/images/'))) {
      const img = await decodeImage(join(ROOT, e.path));
      if (img.width !== e.width || img.height !== e.height || sha256(img.rgb) !== e.sha256) wrong.push(`${e.path} (${e.mode})`);
    }
    expect(wrong).toEqual([]);
  });

  it('openFrameFolder(samples/bedroom) gives PIL bytes for every frame', async () => {
    const frames = FIXTURE.images.filter((e) => e.path.startsWith('samples/bedroom/'));
    await using folder = await openFrameFolder(join(ROOT, 'samples/bedroom'));
    expect(folder.count).toBe(frames.length);
    for (let i = 0; i < folder.count; i++) {
      const f = await folder.get(i);
      expect([f.width, f.height]).toEqual([frames[i].width, frames[i].height]);
      expect(sha256(f.rgb), frames[i].path).toBe(frames[i].sha256);
    }
  });
});

describe('damaged JPEGs', () => {
  const good = readFileSync(join(ROOT, 'test/fixtures/decode/ffmpeg_420_97x61.jpg'));
  const progressive = readFileSync(join(ROOT, 'test/fixtures/decode/pillow_progressive_97x61.jpg'));
  const expected = (name: string) => FIXTURE.images.find((e) => e.path.endsWith(name))!.sha256;

  /** Start and end of a JPEG's (first) scan: after its start-of-scan header, up to the next marker. */
  function scanRange(bytes: Uint8Array): [number, number] {
    const b = Buffer.from(bytes);
    const sos = b.indexOf(Buffer.from([0xff, 0xda]));
    return [sos + 2 + b.readUInt16BE(sos + 2), b.lastIndexOf(Buffer.from([0xff, 0xd9]))];
  }

  async function decodeError(bytes: Uint8Array, name: string): Promise<DecodeError> {
    const e = await decodeJpeg(bytes, name).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e, name).toBeInstanceOf(DecodeError);
    expect((e as Error).message).toContain(name);
    return e as DecodeError;
  }

  it('a truncated file is a DecodeError naming it, quoting libjpeg-turbo', async () => {
    for (const [what, bytes] of [
      ['baseline', good],
      ['progressive', progressive],
    ] as const) {
      for (const keep of [0.5, 0.9, (bytes.length - 10) / bytes.length]) {
        const e = await decodeError(bytes.subarray(0, Math.floor(bytes.length * keep)), `${what}-cut.jpg`);
        expect(e.message).toMatch(/libjpeg-turbo: .+ \(the file is damaged or truncated\)$/);
      }
    }
    const header = await decodeError(good.subarray(0, 100), 'header-cut.jpg');
    expect(header.message).toMatch(/damaged or truncated/);
  });

  it('corrupt compressed data is a DecodeError (PIL would decode it to garbage)', async () => {
    for (const bytes of [good, progressive]) {
      const corrupt = Buffer.from(bytes);
      const [start, end] = scanRange(corrupt);
      // A run of 1-bits in the middle of the scan (0xFF followed by a stuffed 0x00): no valid Huffman code.
      for (let k = (start + end) >> 1, n = 0; n < 32; k += 2, n++) [corrupt[k], corrupt[k + 1]] = [0xff, 0x00];
      const e = await decodeError(corrupt, 'corrupt.jpg');
      expect(e.message).toBe('cannot decode corrupt.jpg: libjpeg-turbo: Corrupt JPEG data: bad Huffman code (the file is damaged or truncated)');
    }
  });

  it('a file that only lacks its end-of-image marker decodes to the complete file’s pixels', async () => {
    for (const [name, bytes] of [
      ['ffmpeg_420_97x61.jpg', good],
      ['pillow_progressive_97x61.jpg', progressive],
    ] as const) {
      const img = await decodeJpeg(bytes.subarray(0, bytes.length - 2), name);
      expect(sha256(img.rgb)).toBe(expected(name));
    }
  });

  it('a progressive file cut between two scans is truncated, though every scan it has is whole', async () => {
    const b = Buffer.from(progressive);
    // Cut just before the last scan (its start-of-scan marker): the file ends after a whole segment.
    const cutAt = b.lastIndexOf(Buffer.from([0xff, 0xda]));
    expect(scansComplete(b)).toBe(true);
    expect(scansComplete(b.subarray(0, cutAt))).toBe(false);
    const e = await decodeError(b.subarray(0, cutAt), 'cut-between-scans.jpg');
    expect(e.message).toMatch(/Premature end of JPEG file/);
  });

  it('not a JPEG, and unsupported kinds, are DecodeErrors that say so; the decoder works after each', async () => {
    expect(isJpeg(good)).toBe(true);
    expect(isJpeg(new Uint8Array([0x89, 0x50, 0x4e]))).toBe(false);
    const png = await decodeError(readFileSync(join(ROOT, 'test/fixtures/decode/rgb.png')), 'x.png');
    expect(png.message).toMatch(/not a JPEG file/);
    // A JPEG marker followed by garbage: libjpeg-turbo's fatal error unwinds out of the module.
    const garbage = await decodeError(new Uint8Array([0xff, 0xd8, 0xff, 0x00, 1, 2, 3, 4, 5, 6]), 'garbage.jpg');
    expect(garbage.message).toMatch(/libjpeg-turbo: \S/);
    expect(sha256((await decodeJpeg(good, 'good.jpg')).rgb)).toBe(expected('ffmpeg_420_97x61.jpg'));
    // Arithmetic coding (SOF9): libjpeg-turbo 2.0.4 was built without it.
    const arith = Buffer.from(good);
    arith[arith.indexOf(Buffer.from([0xff, 0xc0])) + 1] = 0xc9;
    const e = await decodeError(arith, 'arithmetic.jpg');
    expect(e.message).toMatch(/libjpeg-turbo: .*arithmetic.*does not read/);
    expect(sha256((await decodeJpeg(good.buffer.slice(good.byteOffset, good.byteOffset + good.length), 'good.jpg')).rgb)).toBe(expected('ffmpeg_420_97x61.jpg'));
  });

  it('a damaged JPEG among the frames of a folder is a DecodeError naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sam2-jpeg-'));
    const frames = join(dir, 'frames');
    mkdirSync(frames);
    writeFileSync(join(frames, '00000.jpg'), good);
    writeFileSync(join(frames, '00001.jpg'), good.subarray(0, good.length >> 1));
    await using folder = await openFrameFolder(frames);
    expect(sha256((await folder.get(0)).rgb)).toBe(expected('ffmpeg_420_97x61.jpg'));
    const e = await folder.get(1).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DecodeError);
    expect((e as Error).message).toBe(`cannot decode ${join(frames, '00001.jpg')}: libjpeg-turbo: Premature end of JPEG file (the file is damaged or truncated)`);
  });
});
