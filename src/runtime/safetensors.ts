/**
 * safetensors: reader and writer, platform-neutral (browsers and Node; Node file access lives in
 * safetensors_node.ts so that browser bundles never pull in `node:fs`).
 *
 * Format (https://github.com/huggingface/safetensors):
 *
 *   [u64 little-endian N] [N bytes of JSON header] [data section]
 *
 * The header maps each tensor name to `{dtype, shape, data_offsets: [begin, end]}`, offsets relative to the
 * start of the data section, plus an optional `"__metadata__": {string: string}`. Data is little-endian,
 * row-major, with no padding between tensors.
 *
 * Everything is validated before a single tensor byte is used: the header length lies within the file, the
 * JSON is an object of well-formed entries, each tensor's byte count equals dtype size × shape product, the
 * offsets are in bounds, do not overlap and leave no holes, and the file is neither truncated nor followed
 * by stray bytes. Every error is a FormatError whose message names the tensor (or the part of the header)
 * at fault.
 *
 * Three ways to read:
 *  - SafetensorsReader over a random-access ByteSource (an ArrayBuffer via bufferSource(), a Node file via
 *    safetensors_node.ts): the header is parsed once and each tensor's bytes are read on demand.
 *  - openSafetensorsStream() over a ReadableStream / fetch() Response: the header first, then each tensor
 *    in file order as soon as its bytes have arrived, with download progress; only one tensor is held.
 *
 * Writing: planSafetensors() lays out a header (tensors ordered by element size, largest first, so that
 * every tensor starts at a multiple of its element size and typed-array views need no copy);
 * serializeSafetensors() builds a file in memory; safetensors_node.ts streams one to disk.
 */
import { ELEMENT_BYTES } from './dtype.js';
import { FormatError } from './errors.js';

/** The data ends before a tensor's last byte (a truncated download or copy). Names the first tensor cut. */
export class TruncatedError extends FormatError {
  constructor(
    message: string,
    readonly tensor: string,
  ) {
    super(message);
  }
}

/**
 * The element types a safetensors file holds here, and the header's spelling of each: the only place the
 * format's names ('F32', 'I64', …) appear; everything past the parser speaks the engine's names.
 */
const HEADER_NAMES = { f32: 'F32', f16: 'F16', bf16: 'BF16', i64: 'I64', i32: 'I32', u8: 'U8', bool: 'BOOL' } as const;

/** Element types this engine reads from and writes to safetensors files. */
export type SafetensorsDType = keyof typeof HEADER_NAMES;

export const SAFETENSORS_DTYPES = Object.keys(HEADER_NAMES) as SafetensorsDType[];

const FROM_HEADER: ReadonlyMap<string, SafetensorsDType> = new Map(SAFETENSORS_DTYPES.map((t) => [HEADER_NAMES[t], t]));

export function isSafetensorsDType(s: unknown): s is SafetensorsDType {
  return typeof s === 'string' && Object.hasOwn(HEADER_NAMES, s);
}

/** How a safetensors header spells an element type (for error messages that quote the file). */
export function safetensorsName(t: SafetensorsDType): string {
  return HEADER_NAMES[t];
}

/** Headers above this size are refused before allocation (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

/** The typed-array views below assume a little-endian host, as every WebGPU platform is. */
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('safetensors: big-endian hosts are not supported');
}

/** One tensor as described by the header. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Byte range [begin, end) relative to the start of the data section. */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  /** Tensors in file order (ascending offsets). */
  readonly tensors: readonly TensorInfo[];
  readonly byName: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
  /** Absolute file offset of the data section (8 + header length). */
  readonly dataStart: number;
  /** Bytes in the data section: the end of the last tensor. */
  readonly dataLength: number;
}

/** Random-access bytes: an in-memory buffer or a file. */
export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** Human-readable origin for error messages (a path, "ArrayBuffer"). */
  readonly description: string;
  /**
   * Returns exactly `length` bytes from `offset`; throws if they are not all there. The result may be a view
   * into memory the source owns: copy it before keeping it past the next read.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}

/** Download / read progress. `total` is undefined when the size is not known in advance. */
export interface ByteProgress {
  loaded: number;
  total?: number;
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

// ---------------------------------------------------------------------------------------------------------
// Header parsing and validation

/** Reads the 8-byte little-endian header length and checks it against the file size (when known). */
export function parseHeaderLength(first8: Uint8Array, fileSize?: number, what = 'safetensors file'): number {
  if (first8.length < 8 || (fileSize !== undefined && fileSize < 8)) {
    throw new FormatError(`${what}: ${fileSize ?? first8.length} bytes is too short for a safetensors header`);
  }
  const dv = new DataView(first8.buffer, first8.byteOffset, 8);
  const n = dv.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new FormatError(`${what}: header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`);
  }
  const len = Number(n);
  if (fileSize !== undefined && 8 + len > fileSize) {
    throw new FormatError(`${what}: header length ${len} runs past the end of the file (${fileSize} bytes)`);
  }
  if (len < 2) throw new FormatError(`${what}: header length ${len} is too short for a JSON object`);
  return len;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A header value in an error message: JSON for small values (what JSON.stringify gives), cut short for
 * large ones. The header is untrusted, so nothing here recurses deeper than a few levels or copies the
 * value whole (JSON.stringify of an array nested thousands deep overflows the call stack).
 */
function preview(v: unknown, max = 120): string {
  let out = '';
  const walk = (x: unknown, depth: number): void => {
    if (Array.isArray(x)) {
      if (depth >= 4) {
        out += '[…]';
        return;
      }
      out += '[';
      for (let i = 0; i < x.length && out.length <= max; i++) {
        if (i) out += ',';
        walk(x[i], depth + 1);
      }
      out += ']';
    } else if (isPlainObject(x)) {
      if (depth >= 4) {
        out += '{…}';
        return;
      }
      out += '{';
      let first = true;
      for (const k in x) {
        if (!Object.hasOwn(x, k)) continue;
        if (out.length > max) break;
        out += `${first ? '' : ','}${JSON.stringify(k.length > max ? `${k.slice(0, max)}…` : k)}:`;
        first = false;
        walk(x[k], depth + 1);
      }
      out += '}';
    } else if (typeof x === 'string') {
      out += JSON.stringify(x.length > max ? `${x.slice(0, max)}…` : x);
    } else {
      out += String(JSON.stringify(x));
    }
  };
  walk(v, 0);
  return out.length > max ? `${out.slice(0, max)}…` : out;
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parses and validates the JSON header. `fileSize`, when known, is the total file size: a file shorter than
 * the header says is reported as truncated (naming the first tensor cut off), a longer one as having stray
 * bytes. Without it (streams) truncation is detected while reading.
 */
export function parseHeader(
  json: Uint8Array,
  fileSize?: number,
  what = 'safetensors file',
): SafetensorsHeader {
  const dataStart = 8 + json.length;
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (e) {
    throw new FormatError(`${what}: header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(raw)) throw new FormatError(`${what}: header is not a JSON object`);

  let metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(raw)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) throw new FormatError(`${what}: __metadata__ is not an object`);
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw new FormatError(`${what}: __metadata__["${k}"] is not a string`);
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    const where = `${what}: tensor '${name}'`;
    if (!isPlainObject(entry)) throw new FormatError(`${where}: header entry is not an object`);
    const { dtype: spelled, shape, data_offsets: offsets } = entry;
    const dtype = typeof spelled === 'string' ? FROM_HEADER.get(spelled) : undefined;
    if (dtype === undefined) {
      throw new FormatError(
        `${where}: dtype ${preview(spelled)} is not supported (supported: ${Object.values(HEADER_NAMES).join(', ')})`,
      );
    }
    if (!Array.isArray(shape) || !shape.every(isIndex)) {
      throw new FormatError(`${where}: shape ${preview(shape)} is not a list of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !isIndex(offsets[0]) || !isIndex(offsets[1])) {
      throw new FormatError(`${where}: data_offsets ${preview(offsets)} is not a pair of non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (end < begin) throw new FormatError(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
    const numel = numelOf(shape);
    const expected = numel * ELEMENT_BYTES[dtype];
    if (!Number.isSafeInteger(expected) || end - begin !== expected) {
      throw new FormatError(
        `${where}: holds ${end - begin} bytes but ${spelled} ${shapeText(shape)} needs ${expected} ` +
          `(${ELEMENT_BYTES[dtype]} × ${numel})`,
      );
    }
    tensors.push({ name, dtype, shape: shape as number[], begin, end });
  }

  // File order; empty tensors sort before anything starting at the same offset.
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev: TensorInfo | undefined;
  for (const t of tensors) {
    if (t.begin < cursor) {
      throw new FormatError(
        `${what}: tensor '${t.name}' bytes [${t.begin}, ${t.end}) overlap tensor '${prev!.name}' ` +
          `[${prev!.begin}, ${prev!.end})`,
      );
    }
    if (t.begin > cursor) {
      throw new FormatError(
        `${what}: data bytes [${cursor}, ${t.begin}) before tensor '${t.name}' belong to no tensor ` +
          `(holes are not allowed)`,
      );
    }
    cursor = t.end;
    if (t.end > t.begin) prev = t;
  }
  const dataLength = cursor;

  if (fileSize !== undefined) {
    const available = fileSize - dataStart;
    if (dataLength > available) {
      const cut = tensors.find((t) => t.end > available)!;
      throw new TruncatedError(
        `${what}: truncated: tensor '${cut.name}' needs data bytes [${cut.begin}, ${cut.end}) but the file ` +
          `has only ${Math.max(0, available)} data bytes (${fileSize} bytes in all, ${dataStart + dataLength} expected)`,
        cut.name,
      );
    }
    if (dataLength < available) {
      throw new FormatError(
        `${what}: ${available - dataLength} stray bytes after the last tensor` +
          (prev ? ` ('${prev.name}')` : '') + ` (${fileSize} bytes, ${dataStart + dataLength} expected)`,
      );
    }
  }

  const byName = new Map(tensors.map((t) => [t.name, t] as const));
  return { tensors, byName, metadata, dataStart, dataLength };
}

// ---------------------------------------------------------------------------------------------------------
// Random-access reading

/** A ByteSource over memory (zero-copy views). */
export function bufferSource(buf: ArrayBuffer | ArrayBufferView, description = 'ArrayBuffer'): ByteSource {
  const bytes = ArrayBuffer.isView(buf)
    ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
    : new Uint8Array(buf);
  return {
    size: bytes.length,
    description,
    async read(offset: number, length: number): Promise<Uint8Array> {
      if (offset < 0 || length < 0 || offset + length > bytes.length) {
        throw new FormatError(`${description}: read of [${offset}, ${offset + length}) beyond ${bytes.length} bytes`);
      }
      return bytes.subarray(offset, offset + length);
    },
  };
}

/** A validated safetensors file over a random-access source; tensors are read on demand. */
export class SafetensorsReader {
  private constructor(
    readonly source: ByteSource,
    readonly header: SafetensorsHeader,
  ) {}

  /** Reads and validates the header; no tensor data is read. */
  static async open(source: ByteSource): Promise<SafetensorsReader> {
    const what = source.description;
    if (source.size < 8) parseHeaderLength(new Uint8Array(0), source.size, what);
    const len = parseHeaderLength(await source.read(0, 8), source.size, what);
    const json = await source.read(8, len);
    return new SafetensorsReader(source, parseHeader(json, source.size, what));
  }

  get tensors(): readonly TensorInfo[] {
    return this.header.tensors;
  }

  get metadata(): Readonly<Record<string, string>> {
    return this.header.metadata;
  }

  has(name: string): boolean {
    return this.header.byName.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.header.byName.get(name);
    if (!t) throw new FormatError(`${this.source.description}: no tensor '${name}'`);
    return t;
  }

  /** The raw little-endian bytes of one tensor (a view for memory sources: copy before mutating). */
  async read(name: string): Promise<Uint8Array> {
    const t = this.info(name);
    try {
      return await this.source.read(this.header.dataStart + t.begin, t.end - t.begin);
    } catch (e) {
      throw new FormatError(`${this.source.description}: tensor '${name}': ${(e as Error).message}`);
    }
  }

  /** Every tensor in file order with its bytes; one tensor's bytes at a time. */
  async *entries(): AsyncGenerator<{ info: TensorInfo; bytes: Uint8Array }> {
    for (const info of this.header.tensors) yield { info, bytes: await this.read(info.name) };
  }

  async close(): Promise<void> {
    await this.source.close?.();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Streamed reading (fetch Response / ReadableStream)

export interface StreamOptions {
  /** Total bytes, when known (Content-Length); enables the truncation check before data is read. */
  totalBytes?: number;
  onProgress?: (p: ByteProgress) => void;
  /** Name used in error messages. */
  description?: string;
}

/** The first buffer a streamed read allocates before any of its bytes have arrived. */
const READ_CHUNK = 64 * 1024;

/** Pulls exact byte counts out of a stream of chunks, keeping at most one partial chunk. */
class ChunkReader {
  private chunk: Uint8Array = new Uint8Array(0);
  private pos = 0;
  loaded = 0;

  constructor(
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    private readonly onChunk: (loaded: number) => void,
  ) {}

  /** Fills `out` completely; returns the number of bytes written (short only at end of stream). */
  async fill(out: Uint8Array): Promise<number> {
    let n = 0;
    while (n < out.length) {
      if (this.pos === this.chunk.length) {
        if (!(await this.nextChunk())) return n;
        continue;
      }
      const take = Math.min(out.length - n, this.chunk.length - this.pos);
      out.set(this.chunk.subarray(this.pos, this.pos + take), n);
      this.pos += take;
      n += take;
    }
    return n;
  }

  /**
   * Reads exactly `n` bytes into a fresh, caller-owned buffer; returns the number of bytes that arrived
   * instead when the stream ends first. `n` comes from the file (a header length, a tensor's byte count) and
   * is not trusted: the buffer starts at READ_CHUNK bytes at most and doubles only as bytes actually arrive
   * (ending at exactly `n`), so a stream that claims more than it delivers never makes us allocate more than
   * twice what it delivered.
   */
  async readExact(n: number): Promise<Uint8Array | number> {
    let out = new Uint8Array(Math.min(n, READ_CHUNK));
    let got = 0;
    for (;;) {
      got += await this.fill(out.subarray(got));
      if (got < out.length) return got;
      if (got === n) return out;
      const grown = new Uint8Array(Math.min(n, out.length * 2));
      grown.set(out);
      out = grown;
    }
  }

  /** True when no byte is left. */
  async atEnd(): Promise<boolean> {
    while (this.pos === this.chunk.length) {
      if (!(await this.nextChunk())) return true;
    }
    return false;
  }

  /** Takes the stream's next chunk as the current one; false at the end of the stream. */
  private async nextChunk(): Promise<boolean> {
    const { done, value } = await this.reader.read();
    if (done) return false;
    this.chunk = value;
    this.pos = 0;
    this.loaded += value.length;
    this.onChunk(this.loaded);
    return true;
  }

  cancel(): void {
    this.reader.cancel().catch(() => {});
  }
}

/** A safetensors file arriving over a stream: the header, then tensors in file order. */
export interface SafetensorsStream {
  readonly header: SafetensorsHeader;
  /**
   * Yields each tensor (a fresh, caller-owned buffer) once its bytes have arrived. Call once. Throws a
   * FormatError naming the tensor if the stream ends early, or if bytes follow the last tensor.
   */
  entries(): AsyncGenerator<{ info: TensorInfo; bytes: Uint8Array }>;
  /** Stops the download (when the consumer gives up early). */
  cancel(): void;
}

/** Reads and validates the header from a stream; tensor data is pulled as `entries()` is iterated. */
export async function openSafetensorsStream(
  stream: ReadableStream<Uint8Array>,
  opts: StreamOptions = {},
): Promise<SafetensorsStream> {
  const what = opts.description ?? 'safetensors stream';
  const total = opts.totalBytes;
  const reader = new ChunkReader(stream.getReader(), (loaded) => opts.onProgress?.({ loaded, total }));
  try {
    const first8 = new Uint8Array(8);
    const got8 = await reader.fill(first8);
    if (got8 < 8) throw new FormatError(`${what}: ${got8} bytes is too short for a safetensors header`);
    const len = parseHeaderLength(first8, total, what);
    const json = await reader.readExact(len);
    if (typeof json === 'number') {
      throw new FormatError(`${what}: truncated inside the ${len}-byte header (${8 + json} bytes in all)`);
    }
    const header = parseHeader(json, total, what);

    let started = false;
    async function* entries(): AsyncGenerator<{ info: TensorInfo; bytes: Uint8Array }> {
      if (started) throw new FormatError(`${what}: entries() can be iterated only once`);
      started = true;
      let done = false;
      try {
        for (const info of header.tensors) {
          const bytes = await reader.readExact(info.end - info.begin);
          if (typeof bytes === 'number') {
            const n = bytes; // the stream ended after n of the tensor's bytes
            throw new TruncatedError(
              `${what}: truncated: tensor '${info.name}' needs data bytes [${info.begin}, ${info.end}) but the ` +
                `stream ended after ${info.begin + n} data bytes (${header.dataStart + info.begin + n} bytes in all)`,
              info.name,
            );
          }
          yield { info, bytes };
        }
        if (!(await reader.atEnd())) {
          throw new FormatError(`${what}: stray bytes after the last tensor (expected ${header.dataStart + header.dataLength} bytes)`);
        }
        done = true;
      } finally {
        if (!done) reader.cancel();
      }
    }
    return { header, entries, cancel: () => reader.cancel() };
  } catch (e) {
    reader.cancel();
    throw e;
  }
}

/** openSafetensorsStream over a fetch() Response, with Content-Length as the expected size. */
export async function openSafetensorsResponse(
  response: Response,
  opts: Omit<StreamOptions, 'totalBytes'> = {},
): Promise<SafetensorsStream> {
  const what = opts.description ?? (response.url || 'safetensors response');
  if (!response.ok) throw new FormatError(`${what}: HTTP ${response.status} ${response.statusText}`);
  if (!response.body) throw new FormatError(`${what}: response has no body`);
  const len = response.headers.get('content-length');
  // A compressed transfer reports the compressed length: only trust it for identity encoding.
  const enc = response.headers.get('content-encoding');
  const totalBytes = len !== null && (!enc || enc === 'identity') && /^\d+$/.test(len) ? Number(len) : undefined;
  return openSafetensorsStream(response.body, { ...opts, totalBytes, description: what });
}

// ---------------------------------------------------------------------------------------------------------
// Writing

export interface TensorSpec {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
}

/** A tensor to write; `data` may be produced lazily (one tensor in memory at a time). */
export interface TensorToWrite extends TensorSpec {
  data: Uint8Array | (() => Uint8Array | Promise<Uint8Array>);
}

export interface SafetensorsLayout {
  /** The 8-byte length plus the JSON header, padded with spaces to a multiple of 8 bytes. */
  prefix: Uint8Array;
  /** Tensors in the order their bytes must be written. */
  tensors: TensorInfo[];
  dataLength: number;
  totalBytes: number;
}

/**
 * Lays out a file: tensors ordered by element size (largest first, stable otherwise), so every tensor starts
 * at a multiple of its element size once the header is padded to 8 bytes.
 */
export function planSafetensors(specs: readonly TensorSpec[], metadata?: Record<string, string>): SafetensorsLayout {
  const seen = new Set<string>();
  for (const s of specs) {
    if (s.name === '__metadata__') throw new FormatError(`tensor name '__metadata__' is reserved`);
    if (seen.has(s.name)) throw new FormatError(`tensor '${s.name}' is given twice`);
    seen.add(s.name);
    if (!isSafetensorsDType(s.dtype)) throw new FormatError(`tensor '${s.name}': dtype ${String(s.dtype)} is not supported`);
    if (!s.shape.every(isIndex)) throw new FormatError(`tensor '${s.name}': bad shape ${shapeText(s.shape)}`);
  }
  const ordered = specs
    .map((s, i) => ({ s, i }))
    .sort((a, b) => ELEMENT_BYTES[b.s.dtype] - ELEMENT_BYTES[a.s.dtype] || a.i - b.i)
    .map(({ s }) => s);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new FormatError(`__metadata__["${k}"] is not a string`);
    }
    header.__metadata__ = metadata;
  }
  const tensors: TensorInfo[] = [];
  let offset = 0;
  for (const s of ordered) {
    const bytes = numelOf(s.shape) * ELEMENT_BYTES[s.dtype];
    const info: TensorInfo = { name: s.name, dtype: s.dtype, shape: [...s.shape], begin: offset, end: offset + bytes };
    tensors.push(info);
    header[s.name] = { dtype: HEADER_NAMES[s.dtype], shape: info.shape, data_offsets: [info.begin, info.end] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const prefix = new Uint8Array(8 + padded).fill(0x20, 8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(padded), true);
  prefix.set(json, 8);
  return { prefix, tensors, dataLength: offset, totalBytes: prefix.length + offset };
}

/** Produces a tensor's bytes and checks their count against the layout. */
export async function tensorBytes(t: TensorToWrite, info: TensorInfo): Promise<Uint8Array> {
  const data = typeof t.data === 'function' ? await t.data() : t.data;
  if (!(data instanceof Uint8Array) || data.length !== info.end - info.begin) {
    throw new FormatError(
      `tensor '${t.name}': ${data instanceof Uint8Array ? data.length : typeof data} bytes given, ` +
        `${HEADER_NAMES[t.dtype]} ${shapeText(t.shape)} needs ${info.end - info.begin}`,
    );
  }
  return data;
}

/** Builds a whole safetensors file in memory. */
export async function serializeSafetensors(
  tensors: readonly TensorToWrite[],
  metadata?: Record<string, string>,
): Promise<Uint8Array> {
  const layout = planSafetensors(tensors, metadata);
  const out = new Uint8Array(layout.totalBytes);
  out.set(layout.prefix, 0);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  for (const info of layout.tensors) {
    out.set(await tensorBytes(byName.get(info.name)!, info), layout.prefix.length + info.begin);
  }
  return out;
}
