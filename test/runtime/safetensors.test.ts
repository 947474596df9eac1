import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../src/runtime/dtype.js';
import { FormatError } from '../../src/runtime/errors.js';
import {
  bufferSource,
  convertFloatBytes,
  f32BitsToF16Bits,
  openSafetensorsResponse,
  openSafetensorsStream,
  SAFETENSORS_DTYPE_BYTES,
  SafetensorsReader,
  serializeSafetensors,
  toFloat32,
  TruncatedError,
  type SafetensorsDType,
  type TensorToWrite,
} from '../../src/runtime/safetensors.js';
import { openSafetensorsFile, writeSafetensorsFile } from '../../src/runtime/safetensors_node.js';

const dir = mkdtempSync(join(tmpdir(), 'sam2-st-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Deterministic bytes. */
function bytesOf(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = a >>> 24;
  }
  return out;
}

/** One tensor of every dtype, with odd sizes so that alignment matters, plus a scalar and an empty one. */
function sampleTensors(): TensorToWrite[] {
  const specs: [string, SafetensorsDType, number[]][] = [
    ['u8', 'U8', [3, 5]],
    ['f16', 'F16', [7]],
    ['f32', 'F32', [2, 3, 4]],
    ['bf16', 'BF16', [3, 3]],
    ['i64', 'I64', [5]],
    ['bool', 'BOOL', [9]],
    ['i32', 'I32', [1, 3]],
    ['scalar', 'F32', []],
    ['empty', 'F16', [0, 4]],
  ];
  return specs.map(([name, dtype, shape], i) => {
    let n = 1;
    for (const d of shape) n *= d;
    const data = bytesOf(n * SAFETENSORS_DTYPE_BYTES[dtype], i + 1);
    if (dtype === 'BOOL') data.forEach((v, j) => (data[j] = v & 1));
    return { name, dtype, shape, data };
  });
}

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
function chunked(b: Uint8Array, sizes = [1, 7, 3, 64, 5, 1000]): ReadableStream<Uint8Array> {
  let pos = 0;
  let k = 0;
  return new ReadableStream<Uint8Array>({
    pull(ctrl) {
      if (pos >= b.length) return ctrl.close();
      const n = sizes[k++ % sizes.length];
      ctrl.enqueue(b.slice(pos, pos + n));
      pos += n;
    },
  });
}

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
      expect(info.begin % SAFETENSORS_DTYPE_BYTES[t.dtype]).toBe(0);
      expectSame(await r.read(t.name), t.data as Uint8Array);
    }
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
      expect(i.dtype).toBe('I32');
      expect(Array.from(toFloat32('I32', await r.read('extra.i32')))).toEqual(Array.from({ length: 24 }, (_, k) => k - 12));
      expect(Array.from(toFloat32('BOOL', await r.read('extra.bool')))).toEqual([1, 0, 1, 1]);
      expect(Array.from(toFloat32('I64', await r.read('extra.i64'))).slice(0, 4)).toEqual([0, 1, -1, 2 ** 40]);
      expect(r.info('extra.scalar').shape).toEqual([]);
      expect(toFloat32('F32', await r.read('extra.scalar'))[0]).toBe(3.25);
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
      { name: 'ok', dtype: 'F32', shape: [2], data: new Uint8Array(8) },
      { name: 'short', dtype: 'F32', shape: [4], data: () => new Uint8Array(12) },
    ];
    await expect(writeSafetensorsFile(path, t)).rejects.toThrow(/tensor 'short': 12 bytes given, F32 \[4\] needs 16/);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(`${path}.tmp`)).toBe(false);
    await expect(serializeSafetensors([t[0], t[0]])).rejects.toThrow(/tensor 'ok' is given twice/);
    await expect(serializeSafetensors([t[1]])).rejects.toBeInstanceOf(FormatError);
  });
});

describe('float conversions', () => {
  it('bulk f32 → f16 matches the scalar reference on edge cases and random bit patterns', () => {
    const n = 200_000;
    const bits = new Uint32Array(n);
    const edges = [0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x477fe000, 0x477ff000, 0x477fefff, 0x33000000, 0x33000001, 0x32ffffff, 0x38800000, 0x387fffff, 0x3f801000, 0x3f803000];
    bits.set(edges);
    let a = 12345;
    for (let i = edges.length; i < n; i++) {
      a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
      bits[i] = a;
    }
    const out = new Uint16Array(n);
    f32BitsToF16Bits(bits, out);
    const f = new Float32Array(bits.buffer);
    for (let i = 0; i < n; i++) {
      if (Number.isNaN(f[i])) expect(out[i] & 0x7c00).toBe(0x7c00);
      else if (out[i] !== f32ToF16Bits(f[i])) expect.fail(`bits ${bits[i].toString(16)}: ${out[i]} vs ${f32ToF16Bits(f[i])}`);
    }
  });

  it('f16 → f32 is exact for all 65,536 halves; bf16 → f32 is a shift', () => {
    const h = new Uint16Array(65536).map((_, i) => i);
    const f = new Float32Array(convertFloatBytes('F16', 'F32', new Uint8Array(h.buffer)).slice().buffer);
    for (let i = 0; i < 65536; i++) {
      const ref = f16BitsToF32(i);
      if (Number.isNaN(ref) ? !Number.isNaN(f[i]) : f[i] !== ref) expect.fail(`half ${i.toString(16)}: ${f[i]} vs ${ref}`);
    }
    const vals = new Float32Array([1.5, -3.140625, 1e-30, 65504]);
    const b = Uint16Array.from(vals, (v) => f32ToBf16Bits(v));
    const back = toFloat32('BF16', new Uint8Array(b.buffer));
    expect(Array.from(back)).toEqual(Array.from(vals, (v) => new Float32Array(new Uint32Array([f32ToBf16Bits(v) << 16]).buffer)[0]));
  });
});
