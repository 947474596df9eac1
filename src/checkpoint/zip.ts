/**
 * A minimal, read-only zip reader for PyTorch checkpoints, over a random-access ByteSource.
 *
 * torch.save writes a zip (through miniz) whose entries are stored, not compressed, with their data aligned
 * to 64 bytes; files over 4 GiB use ZIP64 records. This reader parses the central directory once and then
 * reads any byte range of a stored entry directly from the source, so one storage of a 900 MB checkpoint
 * can be read without the rest. Deflated entries (a checkpoint re-zipped by another tool) are supported by
 * inflating the whole entry when it is read, never past the size the central directory records. CRC-32 is
 * checked whenever a whole entry is read.
 *
 * The file is untrusted: every size, offset and count is checked against the file (and against what the
 * compression method allows) before it is used, and every error is a FormatError naming the entry.
 */
import { FormatError } from '../runtime/errors.js';
import type { ByteSource } from '../runtime/safetensors.js';
import { concatBytes, crc32, hex32 } from '../runtime/bytes.js';

export interface ZipEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflate. */
  readonly method: number;
  readonly compressedSize: number;
  /** Uncompressed size. */
  readonly size: number;
  readonly crc32: number;
  readonly localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;

export class ZipReader {
  private readonly dataOffsets = new Map<string, number>();

  private constructor(
    readonly source: ByteSource,
    readonly entries: ReadonlyMap<string, ZipEntry>,
  ) {}

  /** Parses the end-of-central-directory record(s) and the central directory. */
  static async open(source: ByteSource): Promise<ZipReader> {
    const what = source.description;
    const size = source.size;
    if (size < 22) throw new FormatError(`${what}: ${size} bytes is too short for a zip file`);
    // The EOCD record is 22 bytes plus a comment of at most 65,535 bytes, at the very end.
    const tailLen = Math.min(size, 22 + 65535);
    const tail = await source.read(size - tailLen, tailLen);
    const tv = new DataView(tail.buffer, tail.byteOffset, tail.length);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tv.getUint32(i, true) === SIG_EOCD && i + 22 + tv.getUint16(i + 20, true) === tailLen) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw new FormatError(`${what}: no zip end-of-central-directory record (not a zip file, or truncated)`);
    let count = tv.getUint16(eocd + 10, true);
    let cdSize = tv.getUint32(eocd + 12, true);
    let cdOffset = tv.getUint32(eocd + 16, true);
    const eocdAbs = size - tailLen + eocd;

    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      // ZIP64: a locator sits just before the EOCD and points at the ZIP64 EOCD record.
      if (eocdAbs < 20) throw new FormatError(`${what}: ZIP64 locator missing`);
      const loc = await source.read(eocdAbs - 20, 20);
      const lv = new DataView(loc.buffer, loc.byteOffset, 20);
      if (lv.getUint32(0, true) !== SIG_EOCD64_LOCATOR) throw new FormatError(`${what}: ZIP64 locator missing`);
      const recOffset = u64(lv, 8, what);
      if (recOffset + 56 > size) throw new FormatError(`${what}: ZIP64 end record beyond the file`);
      const rec = await source.read(recOffset, 56);
      const rv = new DataView(rec.buffer, rec.byteOffset, 56);
      if (rv.getUint32(0, true) !== SIG_EOCD64) throw new FormatError(`${what}: bad ZIP64 end record signature`);
      count = u64(rv, 32, what);
      cdSize = u64(rv, 40, what);
      cdOffset = u64(rv, 48, what);
    }
    if (cdOffset + cdSize > size) {
      throw new FormatError(`${what}: central directory [${cdOffset}, ${cdOffset + cdSize}) beyond the file (${size} bytes): truncated?`);
    }

    const cd = await source.read(cdOffset, cdSize);
    const cv = new DataView(cd.buffer, cd.byteOffset, cd.length);
    const entries = new Map<string, ZipEntry>();
    const utf8 = new TextDecoder();
    let p = 0;
    for (let k = 0; k < count; k++) {
      if (p + 46 > cd.length || cv.getUint32(p, true) !== SIG_CENTRAL) {
        throw new FormatError(`${what}: central directory entry ${k} is corrupt`);
      }
      const flags = cv.getUint16(p + 8, true);
      const method = cv.getUint16(p + 10, true);
      const crc32 = cv.getUint32(p + 16, true);
      let compressedSize = cv.getUint32(p + 20, true);
      let uncompressed = cv.getUint32(p + 24, true);
      const nameLen = cv.getUint16(p + 28, true);
      const extraLen = cv.getUint16(p + 30, true);
      const commentLen = cv.getUint16(p + 32, true);
      let localHeaderOffset = cv.getUint32(p + 42, true);
      if (p + 46 + nameLen + extraLen + commentLen > cd.length) {
        throw new FormatError(`${what}: central directory entry ${k} runs past the directory`);
      }
      const name = utf8.decode(cd.subarray(p + 46, p + 46 + nameLen));
      // ZIP64 extended information: 64-bit values for whichever fields are saturated, in this order.
      let e = p + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {
        const id = cv.getUint16(e, true);
        const len = cv.getUint16(e + 2, true);
        if (id === 0x0001) {
          // Each value read must lie inside this field, and the field inside the extra area.
          const fieldEnd = Math.min(e + 4 + len, extraEnd);
          let q = e + 4;
          const next = (field: string): number => {
            if (q + 8 > fieldEnd) {
              throw new FormatError(`${what}: entry '${name}': the ZIP64 extra field ends before its ${field} (${len} bytes)`);
            }
            q += 8;
            return u64(cv, q - 8, what);
          };
          if (uncompressed === 0xffffffff) uncompressed = next('uncompressed size');
          if (compressedSize === 0xffffffff) compressedSize = next('compressed size');
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = next('local header offset');
        }
        e += 4 + len;
      }
      if (flags & 0x1) throw new FormatError(`${what}: entry '${name}' is encrypted`);
      if (method !== 0 && method !== 8) {
        throw new FormatError(`${what}: entry '${name}' uses zip compression method ${method} (only stored and deflate are supported)`);
      }
      // Sizes the data cannot have: a stored entry is its own bytes; deflate expands at most 1032:1.
      if (method === 0 && uncompressed !== compressedSize) {
        throw new FormatError(
          `${what}: entry '${name}' is stored but records ${compressedSize} bytes in the file and ${uncompressed} uncompressed`,
        );
      }
      if (method === 8 && uncompressed > compressedSize * DEFLATE_MAX_RATIO) {
        throw new FormatError(
          `${what}: entry '${name}' records ${uncompressed} bytes inflated from ${compressedSize}, beyond what deflate can expand to`,
        );
      }
      if (localHeaderOffset + 30 + compressedSize > size) {
        throw new FormatError(`${what}: entry '${name}' extends beyond the end of the file: truncated?`);
      }
      entries.set(name, { name, method, compressedSize, size: uncompressed, crc32, localHeaderOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return new ZipReader(source, entries);
  }

  get(name: string): ZipEntry | undefined {
    return this.entries.get(name);
  }

  /** Absolute offset of an entry's data (after its local header, whose extra field may differ). */
  private async dataOffset(entry: ZipEntry): Promise<number> {
    let off = this.dataOffsets.get(entry.name);
    if (off === undefined) {
      const what = this.source.description;
      const h = await this.source.read(entry.localHeaderOffset, 30);
      const hv = new DataView(h.buffer, h.byteOffset, 30);
      if (hv.getUint32(0, true) !== SIG_LOCAL) throw new FormatError(`${what}: entry '${entry.name}': bad local header`);
      off = entry.localHeaderOffset + 30 + hv.getUint16(26, true) + hv.getUint16(28, true);
      if (off + entry.compressedSize > this.source.size) {
        throw new FormatError(`${what}: entry '${entry.name}' extends beyond the end of the file: truncated?`);
      }
      this.dataOffsets.set(entry.name, off);
    }
    return off;
  }

  /**
   * Reads bytes [offset, offset + length) of an entry's uncompressed data (default: all of it). A stored
   * entry is read in place; a deflated one is inflated whole first. The CRC is checked on whole reads.
   */
  async read(entry: ZipEntry, offset = 0, length = entry.size - offset): Promise<Uint8Array> {
    const what = this.source.description;
    if (offset < 0 || length < 0 || offset + length > entry.size) {
      throw new FormatError(`${what}: entry '${entry.name}' has ${entry.size} bytes, [${offset}, ${offset + length}) requested`);
    }
    const start = await this.dataOffset(entry);
    const whole = offset === 0 && length === entry.size;
    let out: Uint8Array;
    if (entry.method === 0) {
      out = await this.source.read(start + offset, length);
      if (whole) checkCrc(out, entry, what);
    } else {
      const raw = await this.source.read(start, entry.compressedSize);
      const full = await inflateRaw(raw, entry, what);
      checkCrc(full, entry, what);
      out = full.subarray(offset, offset + length);
    }
    return out;
  }
}

function u64(dv: DataView, at: number, what: string): number {
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FormatError(`${what}: zip offset ${v} is too large`);
  return Number(v);
}

/** Deflate's largest expansion: a 258-byte match coded in 2 bits. */
const DEFLATE_MAX_RATIO = 1032;

/**
 * Inflates a deflated entry, stopping as soon as the output exceeds the size the directory records: a
 * small entry can inflate to a thousand times its size, and the recorded size is what the caller budgets.
 */
async function inflateRaw(raw: Uint8Array, entry: ZipEntry, what: string): Promise<Uint8Array> {
  const ds = new DecompressionStream('deflate-raw');
  const writer = ds.writable.getWriter();
  const reader = ds.readable.getReader();
  // Failures surface on the reading side; the writer's promises must not become unhandled rejections.
  writer.write(raw as Uint8Array<ArrayBuffer>).catch(() => {});
  writer.close().catch(() => {});
  const parts: Uint8Array[] = [];
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      n += value.length;
      if (n > entry.size) throw new Error(`inflates to more than the ${entry.size} bytes recorded`);
      parts.push(value);
    }
    if (n !== entry.size) throw new Error(`inflated to ${n} bytes, expected ${entry.size}`);
  } catch (e) {
    reader.cancel().catch(() => {});
    throw new FormatError(`${what}: entry '${entry.name}' does not inflate: ${e instanceof Error ? e.message : String(e)}`);
  }
  return concatBytes(parts);
}

function checkCrc(data: Uint8Array, entry: ZipEntry, what: string): void {
  const c = crc32(data);
  if (c !== entry.crc32) {
    throw new FormatError(
      `${what}: entry '${entry.name}' is corrupt (CRC-32 ${hex32(c)}, expected ${hex32(entry.crc32)})`,
    );
  }
}
