import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { f16BitsToF32, f32BitsToF16Bits, f32ToBf16Bits, f32ToF16Bits, convertFloatBytes, decodeToF32, ELEMENT_BYTES } from '../../src/runtime/dtype.js';
import { FormatError } from '../../src/runtime/errors.js';
import {
  bufferSource,
  openSafetensorsResponse,
  openSafetensorsStream,
  SafetensorsReader,
  serializeSafetensors,
  TruncatedError,
  type TensorToWrite,
} from '../../src/runtime/safetensors.js';
import { openSafetensorsFile, writeSafetensorsFile } from '../../src/runtime/safetensors_node.js';
import { chunkedStream, EVERY_DTYPE, tensorsOf } from '../fuzz/corpus.js';

const dir = mkdtempSync(join(tmpdir(), 'sam2-st-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One tensor of every dtype, with odd sizes so that alignment matters, plus a scalar and an empty one. */
const sampleTensors = (): TensorToWrite[] => tensorsOf(EVERY_DTYPE, 1);

function expectSame(a: Uint8Array, b: Uint8Array): void {
  expect(a.length).toBe(b.length);
  expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
}

/** A file with a hand-written header and `dataBytes` bytes of data. */
function craft(header: unknown, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

async function openBytes(b: Uint8Array): Promise<SafetensorsReader> {
  return SafetensorsReader.open(bufferSource(b, 'test.safetensors'));
}

/** A stream that delivers `b` in chunks of varying sizes. */
const chunked = (b: Uint8Array): ReadableStream<Uint8Array> => chunkedStream(b, [1, 7, 3, 64, 5, 1000]);

describe('safetensors round trip', () => {
  it('every dtype through memory, with metadata and aligned offsets', async () => {
    const tensors = sampleTensors();
    const file = await serializeSafetensors(tensors, { config: 'x', note: 'héllo' });
    const r = await openBytes(file);
    expect(r.metadata).toEqual({ config: 'x', note: 'héllo' });
    expect(r.header.dataStart % 8).toBe(0);
    expect(r.tensors.length).toBe(tensors.length);
    for (const t of tensors) {
      const info = r.info(t.name);
      expect(info.dtype).toBe(t.dtype);
      expect(info.shape).toEqual(t.shape);
      expect(info.begin % ELEMENT_BYTES[t.dtype]).toBe(0);
      expectSame(await r.read(t.name), t.data as Uint8Array);
    }
  });

  it("the header spells dtypes as the format does ('F32', 'BOOL'), the API as the engine does ('f32', 'bool')", async () => {
    const file = await serializeSafetensors(sampleTensors());
    const len = Number(new DataView(file.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + len))) as Record<string, { dtype: string }>;
    const spelled = Object.fromEntries(Object.entries(header).map(([k, v]) => [k, v.dtype]));
    expect(spelled).toEqual({ u8: 'U8', f16: 'F16', f32: 'F32', bf16: 'BF16', i64: 'I64', bool: 'BOOL', i32: 'I32', scalar: 'F32', empty: 'F16' });
    // The engine's names are not the format's: a header that spells them so is refused.
    await expect(openBytes(craft({ q: { dtype: 'f32', shape: [1], data_offsets: [0, 4] } }, 4))).rejects.toThrow(
      /tensor 'q': dtype "f32" is not supported \(supported: F32, F16, BF16, I64, I32, U8, BOOL\)/,
    );
    await expect(serializeSafetensors([{ name: 'x', dtype: 'F32' as never, shape: [1], data: new Uint8Array(4) }])).rejects.toThrow(
      /tensor 'x': dtype F32 is not supported/,
    );
  });

  it('every dtype through a file (written to .tmp, then renamed)', async () => {
    const tensors = sampleTensors().map((t) => ({ ...t, data: () => Promise.resolve(t.data as Uint8Array) }));
    const path = join(dir, 'all.safetensors');
    const progress: number[] = [];
    await writeSafetensorsFile(path, tensors, { a: 'b' }, (p) => progress.push(p.written));
    expect(existsSync(`${path}.tmp`)).toBe(false);
    expect(progress.length).toBe(tensors.length);
    expect(progress.at(-1)).toBe(readFileSync(path).length);
    const r = await openSafetensorsFile(path);
    try {
      expect(r.metadata).toEqual({ a: 'b' });
      for (const t of sampleTensors()) expectSame(await r.read(t.name), t.data as Uint8Array);
    } finally {
      await r.close();
    }
  });

  it('every dtype through a chunked stream and a Response, with progress', async () => {
    const tensors = sampleTensors();
    const file = await serializeSafetensors(tensors);
    const byName = new Map(tensors.map((t) => [t.name, t.data as Uint8Array]));

    const loaded: number[] = [];
    const s = await openSafetensorsStream(chunked(file), { totalBytes: file.length, onProgress: (p) => loaded.push(p.loaded) });
    let n = 0;
    for await (const { info, bytes } of s.entries()) {
      expectSame(bytes, byName.get(info.name)!);
      n++;
    }
    expect(n).toBe(tensors.length);
    expect(loaded.at(-1)).toBe(file.length);

    const resp = new Response(chunked(file), { headers: { 'content-length': String(file.length) } });
    const s2 = await openSafetensorsResponse(resp);
    for await (const { info, bytes } of s2.entries()) expectSame(bytes, byName.get(info.name)!);
  });

  it('reads a file written by the Python safetensors package', async () => {
    const r = await openSafetensorsFile('test/fixtures/ckpt/expected.safetensors');
    try {
      expect(r.metadata.source).toBe('small.pt');
      const i = r.info('extra.i32');
      expect(i.dtype).toBe('i32');
      expect(Array.from(decodeToF32('i32', await r.read('extra.i32')))).toEqual(Array.from({ length: 24 }, (_, k) => k - 12));
      expect(Array.from(decodeToF32('bool', await r.read('extra.bool')))).toEqual([1, 0, 1, 1]);
      expect(Array.from(decodeToF32('i64', await r.read('extra.i64'))).slice(0, 4)).toEqual([0, 1, -1, 2 ** 40]);
      expect(r.info('extra.scalar').shape).toEqual([]);
      expect(decodeToF32('f32', await r.read('extra.scalar'))[0]).toBe(3.25);
    } finally {
      await r.close();
    }
  });
});

describe('safetensors validation', () => {
  const f32 = (begin: number, end: number, shape: number[]) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

  it('rejects a header length beyond the file', async () => {
    const b = craft({ a: f32(0, 4, [1]) }, 4);
    new DataView(b.buffer).setBigUint64(0, BigInt(b.length), true);
    await expect(openBytes(b)).rejects.toThrow(/header length \d+ runs past the end of the file/);
    new DataView(b.buffer).setBigUint64(0, 1n << 40n, true);
    await expect(openBytes(b)).rejects.toThrow(/exceeds the 100000000-byte limit/);
    await expect(openBytes(new Uint8Array(5))).rejects.toThrow(/too short/);
  });

  it('rejects offsets out of bounds, naming the tensor', async () => {
    const b = craft({ a: f32(0, 8, [2]), b: f32(8, 16, [2]) }, 12);
    const e = await openBytes(b).catch((x) => x);
    expect(e).toBeInstanceOf(TruncatedError);
    expect(e.message).toMatch(/tensor 'b' needs data bytes \[8, 16\)/);
    expect(e.tensor).toBe('b');
    await expect(openBytes(craft({ a: f32(0, 4, [1]), b: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, 8))).rejects.toThrow(
      /tensor 'b': data_offsets \[8, 4\] end before they begin/,
    );
    await expect(openBytes(craft({ a: { dtype: 'F32', shape: [1], data_offsets: [0, -4] } }, 4))).rejects.toThrow(
      /tensor 'a': data_offsets \[0,-4\] is not a pair of non-negative integers/,
    );
  });

  it('rejects overlapping tensors, naming both', async () => {
    const b = craft({ a: f32(0, 8, [2]), b: f32(4, 12, [2]) }, 12);
    await expect(openBytes(b)).rejects.toThrow(/tensor 'b' bytes \[4, 12\) overlap tensor 'a' \[0, 8\)/);
  });

  it('rejects holes between tensors and stray bytes after the last', async () => {
    await expect(openBytes(craft({ a: f32(0, 4, [1]), b: f32(8, 12, [1]) }, 12))).rejects.toThrow(
      /data bytes \[4, 8\) before tensor 'b' belong to no tensor/,
    );
    await expect(openBytes(craft({ a: f32(0, 4, [1]) }, 9))).rejects.toThrow(/5 stray bytes after the last tensor \('a'\)/);
  });

  it('rejects a byte count that is not dtype size × shape product, naming the tensor', async () => {
    const b = craft({ w: { dtype: 'F16', shape: [3, 2], data_offsets: [0, 10] } }, 10);
    await expect(openBytes(b)).rejects.toThrow(/tensor 'w': holds 10 bytes but F16 \[3, 2\] needs 12 \(2 × 6\)/);
  });

  it('rejects a truncated file, naming the first tensor cut off', async () => {
    const file = await serializeSafetensors(sampleTensors());
    const r = await openBytes(file);
    const last = r.tensors.filter((t) => t.end > t.begin).at(-1)!;
    const cut = file.slice(0, file.length - 3);
    const e = await openBytes(cut).catch((x) => x);
    expect(e).toBeInstanceOf(TruncatedError);
    expect(e.message).toContain(`truncated: tensor '${last.name}'`);
    // The same over a file on disk.
    const path = join(dir, 'cut.safetensors');
    writeFileSync(path, cut);
    await expect(openSafetensorsFile(path)).rejects.toThrow(`tensor '${last.name}'`);
    // And over a stream without Content-Length: detected when the tensor's bytes run out.
    const s = await openSafetensorsStream(chunked(cut));
    const got: string[] = [];
    const err = await (async () => {
      for await (const { info } of s.entries()) got.push(info.name);
    })().catch((x) => x);
    expect(err).toBeInstanceOf(TruncatedError);
    expect(err.tensor).toBe(last.name);
    expect(got).not.toContain(last.name);
    // Cut inside the header.
    await expect(openBytes(file.slice(0, 20))).rejects.toThrow(/runs past the end of the file/);
  });

  it('rejects bad JSON and malformed entries', async () => {
    await expect(openBytes(craft('{"a": {"dtype": "F32", ', 0))).rejects.toThrow(/header is not valid UTF-8 JSON/);
    await expect(openBytes(craft('[1, 2]', 0))).rejects.toThrow(/header is not a JSON object/);
    await expect(openBytes(craft({ q: { dtype: 'F8_E4M3', shape: [1], data_offsets: [0, 1] } }, 1))).rejects.toThrow(
      /tensor 'q': dtype "F8_E4M3" is not supported/,
    );
    await expect(openBytes(craft({ q: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, 4))).rejects.toThrow(
      /tensor 'q': shape \[1.5\] is not a list of non-negative integers/,
    );
    await expect(openBytes(craft({ __metadata__: { a: 1 } }, 0))).rejects.toThrow(/__metadata__\["a"\] is not a string/);
    await expect(openBytes(craft({ q: 7 }, 0))).rejects.toThrow(/tensor 'q': header entry is not an object/);
  });

  it('the writer refuses data of the wrong size and leaves no file behind', async () => {
    const path = join(dir, 'bad.safetensors');
    const t: TensorToWrite[] = [
      { name: 'ok', dtype: 'f32', shape: [2], data: new Uint8Array(8) },
      { name: 'short', dtype: 'f32', shape: [4], data: () => new Uint8Array(12) },
    ];
    await expect(writeSafetensorsFile(path, t)).rejects.toThrow(/tensor 'short': 12 bytes given, F32 \[4\] needs 16/);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(`${path}.tmp`)).toBe(false);
    await expect(serializeSafetensors([t[0], t[0]])).rejects.toThrow(/tensor 'ok' is given twice/);
    await expect(serializeSafetensors([t[1]])).rejects.toBeInstanceOf(FormatError);
  });
});

/**
 * Independent references from the IEEE 754 definitions (no bit manipulation shared with src/runtime/dtype.ts):
 * a half's value from its fields, and f32 → f16 as round-to-nearest-even by searching the halves.
 */
function halfValue(h: number): number {
  const e = (h >> 10) & 31;
  const m = h & 1023;
  const mag = e === 31 ? (m ? NaN : Infinity) : e === 0 ? m * 2 ** -24 : (1024 + m) * 2 ** (e - 25);
  return h & 0x8000 ? -mag : mag;
}
/** The finite non-negative halves' values, increasing with their bits (0 .. 65504). */
const HALF_MAGNITUDES = Float64Array.from({ length: 0x7c00 }, (_, h) => halfValue(h));
function nearestHalf(v: number): number {
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a >= 65520) return sign | 0x7c00; // halfway to 2^16 and beyond: infinity
  let lo = 0;
  let hi = 0x7bff;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (HALF_MAGNITUDES[mid] <= a) lo = mid;
    else hi = mid - 1;
  }
  if (HALF_MAGNITUDES[lo] === a || lo === 0x7bff) return sign | lo;
  const below = a - HALF_MAGNITUDES[lo];
  const above = HALF_MAGNITUDES[lo + 1] - a;
  return sign | (below < above || (below === above && lo % 2 === 0) ? lo : lo + 1);
}

/** f32 bit patterns: the edge cases of rounding, overflow, underflow and subnormals, then pseudo-random ones. */
function sampleF32Bits(n: number): Uint32Array {
  const bits = new Uint32Array(n);
  const edges = [0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffc00001, 0x477fe000, 0x477ff000, 0x477fefff, 0x477fffff, 0x33000000, 0x33000001, 0x32ffffff, 0x38800000, 0x387fffff, 0x387fe000, 0x387ff000, 0x3f801000, 0x3f803000, 0x3f800fff, 0x3f801001];
  bits.set(edges);
  let a = 12345;
  for (let i = edges.length; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    bits[i] = a;
  }
  return bits;
}

describe('float conversions', () => {
  it('f32 → f16, scalar and bulk, is round-to-nearest-even on edge cases and random bit patterns', () => {
    const n = 200_000;
    const bits = sampleF32Bits(n);
    const out = new Uint16Array(n);
    f32BitsToF16Bits(bits, out);
    const f = new Float32Array(bits.buffer);
    for (let i = 0; i < n; i++) {
      // JS numbers may not carry a NaN's payload into the scalar form: there only NaN-ness is defined.
      const want = Number.isNaN(f[i]) ? undefined : nearestHalf(f[i]);
      if (want === undefined) {
        expect(out[i] & 0x7c00).toBe(0x7c00);
        expect(out[i] & 0x3ff).not.toBe(0);
        expect(f32ToF16Bits(f[i]) & 0x7fff).toBeGreaterThan(0x7c00);
      } else if (out[i] !== want || f32ToF16Bits(f[i]) !== want) {
        expect.fail(`bits ${bits[i].toString(16)}: bulk ${out[i]}, scalar ${f32ToF16Bits(f[i])}, nearest ${want}`);
      }
    }
  });

  it('f16 → f32 is exact for all 65,536 halves, equals the definition, and round-trips', () => {
    const h = new Uint16Array(65536).map((_, i) => i);
    const f = new Float32Array(convertFloatBytes('f16', 'f32', new Uint8Array(h.buffer)).slice().buffer);
    const fbits = new Uint32Array(f.buffer);
    for (let i = 0; i < 65536; i++) {
      const ref = halfValue(i);
      const nan = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
      if (nan) {
        // NaN keeps its sign and payload in the bulk form.
        if (fbits[i] !== (((i & 0x8000) << 16) | 0x7f800000 | ((i & 0x3ff) << 13)) >>> 0) expect.fail(`NaN half ${i.toString(16)}: ${fbits[i].toString(16)}`);
        if (!Number.isNaN(f16BitsToF32(i)) || !Number.isNaN(ref)) expect.fail(`NaN half ${i.toString(16)}`);
        if ((f32ToF16Bits(f[i]) & 0x7c00) !== 0x7c00 || (f32ToF16Bits(f[i]) & 0x3ff) === 0) expect.fail(`NaN half ${i.toString(16)} came back as a number`);
        continue;
      }
      if (!Object.is(f[i], ref) || !Object.is(f16BitsToF32(i), ref)) expect.fail(`half ${i.toString(16)}: ${f[i]} / ${f16BitsToF32(i)} vs ${ref}`);
      if (f32ToF16Bits(f[i]) !== i) expect.fail(`half ${i.toString(16)} → ${f[i]} → ${f32ToF16Bits(f[i]).toString(16)}`);
    }
    const back = new Uint16Array(convertFloatBytes('f32', 'f16', new Uint8Array(f.buffer)).slice().buffer);
    // A NaN comes back as the quiet NaN of its sign (the payload is not kept when narrowing, as in torch).
    expect(Array.from(back)).toEqual(Array.from(h, (i) => ((i & 0x7c00) === 0x7c00 && (i & 0x3ff) ? (i & 0x8000) | 0x7e00 : i)));
  });

  it('bf16 → f32 is a shift', () => {
    const vals = new Float32Array([1.5, -3.140625, 1e-30, 65504]);
    const b = Uint16Array.from(vals, (v) => f32ToBf16Bits(v));
    const back = decodeToF32('bf16', new Uint8Array(b.buffer));
    expect(Array.from(back)).toEqual(Array.from(vals, (v) => new Float32Array(new Uint32Array([f32ToBf16Bits(v) << 16]).buffer)[0]));
  });
});
