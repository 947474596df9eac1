/**
 * JPEG → RGB bytes exactly as the official SAM 2 loader gets them: `np.asarray(Image.open(path).convert("RGB"))`
 * with PIL, whose JPEG decoder is libjpeg-turbo at its default settings (integer "islow" inverse DCT, fancy
 * chroma upsampling, no EXIF orientation applied, no colour management). The decoder here is libjpeg-turbo
 * itself (2.0.4, its TurboJPEG decompressor compiled to WebAssembly; src/io/jpeg_wasm.ts), driven with the
 * same settings, so the bytes are identical to PIL's: checked by sha256 against PIL 13 on every JPEG of
 * test/fixtures/decode/pil_decode.json (4:2:0, 4:2:2, 4:4:4, 4:4:0, 4:1:1, greyscale, progressive, restart
 * markers, odd sizes, an RGB and a CMYK JPEG). ffmpeg's decode differs from it by up to 28 levels; browsers'
 * own decoders (createImageBitmap, <img>) vary by browser: Chromium's, libjpeg-turbo too, agrees but turns
 * pictures by their EXIF orientation; others, and colour management, differ.
 *
 * The same code runs in Node and in browsers (no Node module is imported). The WebAssembly module (139 kB,
 * 186 kB as base64) is imported and compiled on the first decode, so it is in no bundle's entry chunk.
 *
 * Damaged data is an error rather than a grey or smeared picture: a truncated file, corrupt compressed data,
 * or anything libjpeg-turbo warns about is a DecodeError naming the file and quoting libjpeg-turbo. (PIL, too,
 * refuses a truncated file, but decodes corrupt data without a word.) A file whose only fault is a missing
 * end-of-image marker, as some cameras write them, decodes, to the same pixels as the complete file (PIL
 * calls it truncated).
 * Arithmetic-coded, lossless and 12-bit JPEGs are not read (a DecodeError saying so).
 */
import { Sam2Error } from '../runtime/errors.js';
import type { Frame } from './frames.js';

/** A file cannot be decoded: unreadable, damaged, truncated or not an image/video. The message names the file. */
export class DecodeError extends Sam2Error {}

/** True when `bytes` starts like a JPEG file (start-of-image marker followed by another marker). */
export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/** The exports of jpeg-turbo.wasm: libc's allocator and TurboJPEG's decompression API (libjpeg-turbo 2.0.4). */
interface TurboJpeg {
  memory: WebAssembly.Memory;
  malloc(size: number): number;
  free(ptr: number): void;
  tjInitDecompress(): number;
  tjDecompressHeader3(handle: number, jpeg: number, size: number, width: number, height: number, subsamp: number, colorspace: number): number;
  tjDecompress2(handle: number, jpeg: number, size: number, dst: number, width: number, pitch: number, height: number, pixelFormat: number, flags: number): number;
  tjDestroy(handle: number): number;
}

// TurboJPEG's pixel formats and colour spaces (turbojpeg.h).
const TJPF_RGB = 0;
const TJPF_CMYK = 11;
const TJCS_CMYK = 3;
const TJCS_YCCK = 4;
/** libjpeg's message length (JMSG_LENGTH_MAX), the size of TurboJPEG's error string. */
const MSG_LENGTH = 200;

/**
 * libjpeg reports a fatal error by longjmp() out of the library; the module imports setjmp/longjmp from here,
 * and longjmp unwinds by this exception. The instance is then dropped (its C stack pointer was not restored).
 */
class LongJump extends Error {}

interface Decoder {
  x: TurboJpeg;
  /** Address of TurboJPEG's static error string, where libjpeg-turbo writes its messages; -1 if not found. */
  errStr: number;
}

let compiled: Promise<WebAssembly.Module> | undefined;
let decoder: Decoder | undefined;
let instantiating: Promise<Decoder> | undefined;
/** Memory above which the instance is dropped after a decode, so that one huge image does not pin it. */
const KEEP_MEMORY = 256 * 1024 * 1024;

function base64Bytes(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function imports(): WebAssembly.Imports {
  const unsupported = (what: string) => () => {
    throw new LongJump(`libjpeg-turbo called ${what}`);
  };
  return {
    env: {
      setjmp: () => 0,
      longjmp: () => {
        throw new LongJump('libjpeg-turbo: fatal error');
      },
    },
    // The C library's system calls, which the decoder never makes (no files, no environment, no exit).
    wasi_snapshot_preview1: {
      proc_exit: unsupported('proc_exit'),
      environ_sizes_get: () => 0,
      environ_get: unsupported('environ_get'),
      fd_close: unsupported('fd_close'),
      fd_seek: unsupported('fd_seek'),
      fd_write: unsupported('fd_write'),
    },
  };
}

/**
 * Finds TurboJPEG's error string in a fresh instance's memory: `static char errStr[JMSG_LENGTH_MAX] = "No error"`,
 * so "No error" followed by zeros to the end of its 200 bytes (a constant "No error" elsewhere is followed
 * by other text).
 */
function findErrStr(memory: WebAssembly.Memory): number {
  const m = new Uint8Array(memory.buffer);
  const key = [...'No error'].map((c) => c.charCodeAt(0));
  outer: for (let i = 0; i + MSG_LENGTH <= m.length; i++) {
    for (let j = 0; j < key.length; j++) if (m[i + j] !== key[j]) continue outer;
    for (let j = key.length; j < MSG_LENGTH; j++) if (m[i + j] !== 0) continue outer;
    return i;
  }
  return -1;
}

/** The decoder, compiled once (on first use) and instantiated again after a fatal error or a huge image. */
function getDecoder(): Promise<Decoder> {
  if (decoder) return Promise.resolve(decoder);
  compiled ??= import('./jpeg_wasm.js')
    .then((m) => WebAssembly.compile(base64Bytes(m.JPEG_TURBO_WASM_BASE64)))
    .catch((e: unknown) => {
      compiled = undefined;
      throw new Sam2Error(`the JPEG decoder (WebAssembly) could not be loaded: ${(e as Error).message ?? e}`);
    });
  instantiating ??= compiled
    .then((module) => WebAssembly.instantiate(module, imports()))
    .then((instance) => {
      const x = instance.exports as unknown as TurboJpeg;
      decoder = { x, errStr: findErrStr(x.memory) };
      return decoder;
    })
    .finally(() => {
      instantiating = undefined;
    });
  return instantiating;
}

/** One decode: the pixels (RGB, or CMYK for CMYK/YCCK files) and libjpeg-turbo's first warning, if any. */
interface Attempt {
  width: number;
  height: number;
  pixels: Uint8Array;
  cmyk: boolean;
  warning?: string;
}

function message(d: Decoder): string {
  if (d.errStr < 0) return '';
  const m = new Uint8Array(d.x.memory.buffer, d.errStr, MSG_LENGTH);
  const end = m.indexOf(0);
  return new TextDecoder().decode(m.subarray(0, end < 0 ? MSG_LENGTH : end)).trim();
}

/**
 * Decodes once. A fatal libjpeg-turbo error (not a JPEG, a header it cannot read, an unsupported variant)
 * throws a DecodeError with its message; warnings come back in `warning` with the pixels.
 */
function attempt(d: Decoder, data: Uint8Array, name: string): Attempt {
  const { x } = d;
  if (d.errStr >= 0) new Uint8Array(x.memory.buffer)[d.errStr] = 0;
  const fail = (fallback: string) => new DecodeError(`cannot decode ${name}: ${describe(message(d) || fallback)}`);
  const input = x.malloc(data.length);
  const meta = x.malloc(16);
  const handle = x.tjInitDecompress();
  let output = 0;
  try {
    if (!input || !meta || !handle) throw fail('out of memory');
    new Uint8Array(x.memory.buffer, input, data.length).set(data);
    if (x.tjDecompressHeader3(handle, input, data.length, meta, meta + 4, meta + 8, meta + 12) !== 0) throw fail('cannot read the header');
    const [width, height, , colorspace] = new Int32Array(x.memory.buffer, meta, 4);
    const cmyk = colorspace === TJCS_CMYK || colorspace === TJCS_YCCK;
    const bytes = width * height * (cmyk ? 4 : 3);
    if (!(width > 0 && height > 0) || bytes > 2 ** 31 - 1) throw fail(`unsupported size ${width}×${height}`);
    output = x.malloc(bytes);
    if (!output) throw fail(`out of memory for ${width}×${height} pixels`);
    const status = x.tjDecompress2(handle, input, data.length, output, width, 0, height, cmyk ? TJPF_CMYK : TJPF_RGB, 0);
    const pixels = new Uint8Array(x.memory.buffer, output, bytes).slice();
    return { width, height, pixels, cmyk, warning: status === 0 ? undefined : message(d) || 'unknown error' };
  } catch (e) {
    if (e instanceof LongJump) {
      // libjpeg-turbo gave up: drop this instance (a fresh one is made for the next file).
      if (decoder === d) decoder = undefined;
      throw fail(e.message);
    }
    throw e;
  } finally {
    if (decoder === d) {
      if (output) x.free(output);
      x.tjDestroy(handle);
      x.free(meta);
      x.free(input);
      if (x.memory.buffer.byteLength > KEEP_MEMORY) decoder = undefined;
    }
  }
}

/** libjpeg-turbo's message, and what it means for the user. */
function describe(msg: string): string {
  if (/^Sorry|^Unsupported (JPEG|color conversion)|not implemented/i.test(msg)) {
    return `libjpeg-turbo: ${msg} (a JPEG variant this decoder does not read: convert the file to a baseline or progressive 8-bit JPEG, or to PNG)`;
  }
  return `libjpeg-turbo: ${msg} (the file is damaged or truncated)`;
}

/**
 * True when the scans of a JPEG cover every component fully (each component in a scan, and for a progressive
 * JPEG every coefficient refined to its last bit): the data misses no whole scan. Used to accept a file that
 * lacks only its end-of-image marker; a file cut inside a scan is caught by the decoder itself.
 */
export function scansComplete(b: Uint8Array): boolean {
  let progressive = false;
  let components: number[] = [];
  const done = new Map<number, boolean[]>();
  let i = 2;
  while (i + 1 < b.length) {
    if (b[i] !== 0xff) return false;
    const marker = b[i + 1];
    if (marker === 0xff) {
      i++;
      continue;
    }
    if (marker === 0xd9) return true;
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      i += 2;
      continue;
    }
    if (i + 3 >= b.length) break;
    const len = (b[i + 2] << 8) | b[i + 3];
    const seg = i + 4;
    if (seg + len - 2 > b.length) break;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      progressive = marker === 0xc2 || marker === 0xc6 || marker === 0xca || marker === 0xce;
      components = Array.from({ length: b[seg + 5] }, (_, k) => b[seg + 6 + 3 * k]);
      for (const c of components) done.set(c, new Array<boolean>(64).fill(false));
    }
    if (marker === 0xda) {
      const ns = b[seg];
      const ss = b[seg + 1 + 2 * ns];
      const se = progressive ? b[seg + 2 + 2 * ns] : 63;
      const al = progressive ? b[seg + 3 + 2 * ns] & 15 : 0;
      for (let k = 0; k < ns; k++) {
        const bits = done.get(b[seg + 1 + 2 * k]);
        if (bits && al === 0) for (let c = progressive ? ss : 0; c <= se; c++) bits[c] = true;
      }
      // Skip the entropy-coded data: up to a marker that is not a stuffed 0xFF00 or a restart marker.
      let j = i + 2 + len;
      while (j + 1 < b.length && !(b[j] === 0xff && b[j + 1] !== 0 && b[j + 1] !== 0xff && !(b[j + 1] >= 0xd0 && b[j + 1] <= 0xd7))) j++;
      i = j;
      continue;
    }
    i += 2 + len;
  }
  return components.length > 0 && components.every((c) => done.get(c)!.every(Boolean));
}

/**
 * PIL's conversion of a CMYK JPEG to RGB: it reads the four channels inverted ("CMYK;I", Adobe's convention,
 * which PIL always assumes) and converts with Convert.c's cmyk2rgb.
 */
function cmykToRgb(cmyk: Uint8Array, n: number): Uint8Array {
  const rgb = new Uint8Array(n * 3);
  const muldiv255 = (a: number, b: number) => {
    const t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (let p = 0, i = 0, o = 0; p < n; p++, i += 4, o += 3) {
    const nk = cmyk[i + 3]; // 255 - (255 - raw K)
    for (let c = 0; c < 3; c++) rgb[o + c] = Math.max(0, Math.min(255, nk - muldiv255(255 - cmyk[i + c], nk)));
  }
  return rgb;
}

/**
 * Decodes a JPEG file's bytes to RGB (width × height × 3, row-major), byte-identical to PIL's
 * `Image.open(f).convert("RGB")`. `name` (a path or file name) is quoted in errors. EXIF orientation is not
 * applied, as PIL does not apply it. A damaged, truncated or unsupported file is a DecodeError.
 */
export async function decodeJpeg(data: Uint8Array | ArrayBuffer, name = 'JPEG data'): Promise<Frame> {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (!isJpeg(bytes)) throw new DecodeError(`cannot decode ${name}: not a JPEG file (it does not start with the JPEG start-of-image marker)`);
  let got = attempt(await getDecoder(), bytes, name);
  if (got.warning) {
    const first = got.warning;
    const endsWithEoi = bytes[bytes.length - 2] === 0xff && bytes[bytes.length - 1] === 0xd9;
    let accepted = false;
    if (/Premature end of JPEG file/.test(first) && !endsWithEoi && scansComplete(bytes)) {
      // Only the end-of-image marker may be missing: decode again with it; a file cut inside a scan still warns.
      const whole = new Uint8Array(bytes.length + 2);
      whole.set(bytes);
      whole.set([0xff, 0xd9], bytes.length);
      const again = attempt(await getDecoder(), whole, name);
      if (!again.warning) {
        got = again;
        accepted = true;
      }
    }
    if (!accepted) throw new DecodeError(`cannot decode ${name}: ${describe(first)}`);
  }
  const n = got.width * got.height;
  return { width: got.width, height: got.height, rgb: got.cmyk ? cmykToRgb(got.pixels, n) : got.pixels };
}
