import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/runtime/errors.js';
import { CONFIG_NAMES, getManifest, inferConfig } from '../../src/checkpoint/manifests.js';
import { bufferSource, SafetensorsReader } from '../../src/runtime/safetensors.js';
import { fileSource, openSafetensorsFile } from '../../src/runtime/safetensors_node.js';
import { convertCheckpoint, UnknownConfigError } from '../../weights/convert.js';
import { downloadWeights, OfflineError } from '../../weights/download.js';
import { PickleDict, TorchCheckpoint, unpickle, UnsafePickleError } from '../../src/checkpoint/pickle.js';

const FIX = 'test/fixtures/ckpt';
const dir = mkdtempSync(join(tmpdir(), 'sam2-convert-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** Every tensor of `expected` is in `actual` with the same dtype, shape and bytes, and nothing else is. */
async function expectIdentical(actualPath: string, expectedPath: string): Promise<number> {
  const a = await openSafetensorsFile(actualPath);
  const e = await openSafetensorsFile(expectedPath);
  try {
    expect(a.tensors.map((t) => t.name).sort()).toEqual(e.tensors.map((t) => t.name).sort());
    const bad: string[] = [];
    for (const t of e.tensors) {
      const ai = a.info(t.name);
      if (ai.dtype !== t.dtype || ai.shape.join() !== t.shape.join() || !same(await a.read(t.name), await e.read(t.name))) {
        bad.push(`${t.name}: ${ai.dtype}[${ai.shape}] vs ${t.dtype}[${t.shape}]`);
      }
    }
    expect(bad).toEqual([]);
    return e.tensors.length;
  } finally {
    await a.close();
    await e.close();
  }
}

/**
 * Rewrites a (small, classic) zip into ZIP64 form, as a writer does for files over 4 GiB: every central
 * directory entry gets saturated 32-bit sizes / offset and a ZIP64 extended-information field with the real
 * values, and the end of central directory points at a ZIP64 end record through a locator.
 */
function toZip64(src: Buffer): Buffer {
  const eocd = src.length - 22; // torch writes no archive comment
  expect(src.readUInt32LE(eocd)).toBe(0x06054b50);
  const count = src.readUInt16LE(eocd + 10);
  const cdSize = src.readUInt32LE(eocd + 12);
  const cdOffset = src.readUInt32LE(eocd + 16);
  const entries: Buffer[] = [];
  let p = cdOffset;
  for (let k = 0; k < count; k++) {
    const nameLen = src.readUInt16LE(p + 28);
    const extraLen = src.readUInt16LE(p + 30);
    const commentLen = src.readUInt16LE(p + 32);
    const fixed = Buffer.from(src.subarray(p, p + 46));
    const extra = Buffer.alloc(28);
    extra.writeUInt16LE(0x0001, 0);
    extra.writeUInt16LE(24, 2);
    extra.writeBigUInt64LE(BigInt(fixed.readUInt32LE(24)), 4); // uncompressed size
    extra.writeBigUInt64LE(BigInt(fixed.readUInt32LE(20)), 12); // compressed size
    extra.writeBigUInt64LE(BigInt(fixed.readUInt32LE(42)), 20); // local header offset
    fixed.writeUInt32LE(0xffffffff, 20);
    fixed.writeUInt32LE(0xffffffff, 24);
    fixed.writeUInt32LE(0xffffffff, 42);
    fixed.writeUInt16LE(extraLen + 28, 30);
    const name = src.subarray(p + 46, p + 46 + nameLen);
    const rest = src.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen + commentLen);
    entries.push(Buffer.concat([fixed, name, extra, rest]));
    p += 46 + nameLen + extraLen + commentLen;
  }
  expect(p - cdOffset).toBe(cdSize);
  const cd = Buffer.concat(entries);
  const rec = Buffer.alloc(56);
  rec.writeUInt32LE(0x06064b50, 0);
  rec.writeBigUInt64LE(44n, 4);
  rec.writeUInt16LE(45, 12);
  rec.writeUInt16LE(45, 14);
  rec.writeBigUInt64LE(BigInt(count), 24);
  rec.writeBigUInt64LE(BigInt(count), 32);
  rec.writeBigUInt64LE(BigInt(cd.length), 40);
  rec.writeBigUInt64LE(BigInt(cdOffset), 48);
  const loc = Buffer.alloc(20);
  loc.writeUInt32LE(0x07064b50, 0);
  loc.writeBigUInt64LE(BigInt(cdOffset + cd.length), 8);
  loc.writeUInt32LE(1, 16);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(0xffff, 8);
  end.writeUInt16LE(0xffff, 10);
  end.writeUInt32LE(0xffffffff, 12);
  end.writeUInt32LE(0xffffffff, 16);
  return Buffer.concat([src.subarray(0, cdOffset), cd, rec, loc, end]);
}

describe('convert: round trip against what PyTorch saved', () => {
  for (const dtype of ['f32', 'f16'] as const) {
    it(`small.pt --dtype ${dtype}: every tensor ${dtype === 'f32' ? 'bit for bit' : "as torch's .half()"}`, async () => {
      const out = join(dir, `small_${dtype}.safetensors`);
      const r = await convertCheckpoint(`${FIX}/small.pt`, out, { dtype, allowUnknownConfig: true });
      expect(r).toMatchObject({ config: null, tensors: 27, dtype });
      expect(existsSync(`${out}.tmp`)).toBe(false);
      expect(await expectIdentical(out, `${FIX}/expected_${dtype}.safetensors`)).toBe(27);
      const meta = (await SafetensorsReader.open(bufferSource(readFileSync(out)))).metadata;
      expect(meta).toEqual({ format: 'pt', source: 'small.pt', dtype });
    });
  }

  it('pickle protocol 4 with extra top-level keys gives the same tensors', async () => {
    const out = join(dir, 'proto4.safetensors');
    await convertCheckpoint(`${FIX}/small_proto4.pt`, out, { dtype: 'f32', allowUnknownConfig: true });
    await expectIdentical(out, `${FIX}/expected_f32.safetensors`);
    const src = await fileSource(`${FIX}/small_proto4.pt`);
    try {
      const root = (await TorchCheckpoint.open(src)).root as PickleDict;
      expect(root.get('epoch')).toBe(7);
      expect(root.get('lr')).toBe(2.5e-4);
      expect(root.get('steps')).toEqual([1, 2n ** 70n]);
      expect((root.get('model') as PickleDict).attrs?.has('_metadata')).toBe(true);
    } finally {
      await src.close();
    }
  });

  it('infers sam2.1_hiera_t from a full-size state dict of stride-0 views and densifies them', async () => {
    const out = join(dir, 'tiny_f16.safetensors');
    const progress: number[] = [];
    const r = await convertCheckpoint(`${FIX}/sam2.1_hiera_t_expanded.pt`, out, {
      dtype: 'f16',
      onProgress: (p) => progress.push(p.tensorsDone),
    });
    expect(r.config).toBe('sam2.1_hiera_t');
    expect(r.tensors).toBe(471);
    expect(progress.at(-1)).toBe(471);
    const st = await openSafetensorsFile(out);
    const src = await fileSource(`${FIX}/sam2.1_hiera_t_expanded.pt`);
    try {
      expect(st.metadata).toEqual({ format: 'pt', source: 'sam2.1_hiera_t_expanded.pt', dtype: 'f16', config: 'sam2.1_hiera_t' });
      const ckpt = await TorchCheckpoint.open(src);
      const sd = ckpt.stateDict();
      for (const name of ['image_encoder.trunk.blocks.0.attn.qkv.weight', 'image_encoder.trunk.pos_embed', 'maskmem_tpos_enc']) {
        const t = sd.get(name)!;
        expect(t.isContiguous).toBe(false);
        expect(t.stride.slice(0, -1).every((s, d) => s === 0 || t.shape[d] === 1)).toBe(true);
        // The storage holds one row; every row of the dense output is that row in f16.
        const rowF32 = await ckpt.zip.read(ckpt.zip.get(`${ckpt.prefix}data/${t.storage.key}`)!);
        const { convertFloatBytes } = await import('../../src/runtime/dtype.js');
        const row = convertFloatBytes('f32', 'f16', rowF32);
        const dense = await st.read(name);
        expect(st.info(name).shape).toEqual(t.shape);
        for (let off = 0; off < dense.length; off += row.length) expect(same(dense.subarray(off, off + row.length), row)).toBe(true);
      }
    } finally {
      await st.close();
      await src.close();
    }
  });

  it('infers each official config from its own manifest, and tells SAM 2 from SAM 2.1', () => {
    for (const c of CONFIG_NAMES) {
      const m = inferConfig(getManifest(c).tensors);
      expect(m).toMatchObject({ config: c, exact: true });
    }
    const t21 = getManifest('sam2.1_hiera_t').tensors;
    const without = inferConfig(t21.filter((t) => t.name !== 'no_obj_embed_spatial'));
    expect(without.exact).toBe(false);
    expect(without.diff.missing).toEqual(['no_obj_embed_spatial']);
  });

  it('refuses a checkpoint of no official config unless allowed, and another config than expected', async () => {
    await expect(convertCheckpoint(`${FIX}/small.pt`, join(dir, 'x.safetensors'))).rejects.toThrow(UnknownConfigError);
    expect(existsSync(join(dir, 'x.safetensors'))).toBe(false);
    await expect(
      convertCheckpoint(`${FIX}/sam2.1_hiera_t_expanded.pt`, join(dir, 'y.safetensors'), { expectConfig: 'sam2_hiera_t' }),
    ).rejects.toThrow(/expected sam2_hiera_t weights, found sam2.1_hiera_t/);
  });
});

describe('convert: refusals (nothing from the pickle is ever executed)', () => {
  it('refuses a checkpoint whose pickle names os.system', async () => {
    const e = await convertCheckpoint(`${FIX}/unsafe_global.pt`, join(dir, 'u.safetensors')).catch((x) => x);
    expect(e).toBeInstanceOf(UnsafePickleError);
    expect(e.global).toMatch(/^(posix|os|nt)\.system$/);
    expect(e.message).toMatch(/refusing global '(posix|os|nt)\.system'/);
    expect(existsSync(join(dir, 'u.safetensors'))).toBe(false);
  });

  it('refuses non-allow-listed globals in hand-written pickles (GLOBAL and STACK_GLOBAL)', () => {
    const enc = (s: string) => Array.from(new TextEncoder().encode(s));
    const viaGlobal = new Uint8Array([0x80, 2, ...enc('cos\nsystem\n'), 0x58, 2, 0, 0, 0, ...enc('ls'), 0x85, 0x52, 0x2e]);
    expect(() => unpickle(viaGlobal)).toThrow(UnsafePickleError);
    expect(() => unpickle(viaGlobal)).toThrow(/refusing global 'os\.system' \(at byte 2\)/);
    const viaStack = new Uint8Array([0x80, 4, 0x8c, 8, ...enc('builtins'), 0x8c, 4, ...enc('eval'), 0x93, 0x2e]);
    expect(() => unpickle(viaStack)).toThrow(/refusing global 'builtins\.eval'/);
    // An allow-listed storage type is data, not a callable.
    const callStorage = new Uint8Array([0x80, 2, ...enc('ctorch\nFloatStorage\n'), 0x29, 0x52, 0x2e]);
    expect(() => unpickle(callStorage)).toThrow(/REDUCE calls torch\.FloatStorage, which is not callable/);
  });

  it('refuses unknown and unsupported opcodes, naming them', () => {
    expect(() => unpickle(new Uint8Array([0x80, 2, 0xff, 0x2e]))).toThrow(/unsupported pickle opcode unknown \(0xff\) at byte 2/);
    const inst = new Uint8Array([0x80, 2, 0x28, 0x69, ...Array.from(new TextEncoder().encode('os\nsystem\n')), 0x2e]);
    expect(() => unpickle(inst)).toThrow(/unsupported pickle opcode INST \(0x69 'i'\) at byte 3/);
    expect(() => unpickle(new Uint8Array([0x80, 2, 0x81, 0x2e]))).toThrow(/NEWOBJ/);
    expect(() => unpickle(new Uint8Array([0x80, 2, 0x4e]))).toThrow(/ended without STOP/);
    expect(() => unpickle(new Uint8Array([0x80, 2, 0x68, 9, 0x2e]))).toThrow(/memo entry 9 is not defined/);
    expect(() => unpickle(new Uint8Array([0x80, 2, 0x58, 0xff, 0, 0, 0, 0x61, 0x2e]))).toThrow(/truncated/);
  });

  it('unpickles plain values (protocols 2 and 4), refusing protocol 2 bytes (a _codecs.encode call)', () => {
    // PLAIN_VALUES in tools/reference/make_ckpt_fixture.py.
    const want = [1, -2, 300, 70000, -70000, 2 ** 40, -(2n ** 70n), 1.5, null, true, false, ['x'.repeat(300)], 'é'];
    for (const protocol of [2, 4]) {
      const v = unpickle(readFileSync(`${FIX}/plain_p${protocol}.pkl`)) as PickleDict;
      expect(v).toBeInstanceOf(PickleDict);
      expect([...(v.get('a') as unknown[])]).toEqual(want);
      expect(v.get(7)).toBeInstanceOf(PickleDict);
    }
    expect(unpickle(readFileSync(`${FIX}/bytes_p4.pkl`))).toEqual(new Uint8Array([120, 121]));
    expect(() => unpickle(readFileSync(`${FIX}/bytes_p2.pkl`))).toThrow(/refusing global '_codecs\.encode'/);
  });

  it('reads ZIP64 records (sizes and offsets in the extended-information field)', async () => {
    const zip64 = join(dir, 'zip64.pt');
    writeFileSync(zip64, toZip64(readFileSync(`${FIX}/small.pt`)));
    const out = join(dir, 'zip64.safetensors');
    await convertCheckpoint(zip64, out, { dtype: 'f32', allowUnknownConfig: true });
    await expectIdentical(out, `${FIX}/expected_f32.safetensors`);
  });

  it('rejects truncated, corrupted, non-zip and legacy files', async () => {
    const bytes = readFileSync(`${FIX}/small.pt`);
    const cut = join(dir, 'cut.pt');
    writeFileSync(cut, bytes.subarray(0, bytes.length >> 1));
    await expect(convertCheckpoint(cut, join(dir, 'c.safetensors'), { allowUnknownConfig: true })).rejects.toThrow(
      /no zip end-of-central-directory record/,
    );
    // Flip one byte inside a storage: the CRC check names the entry.
    const ckptSrc = await fileSource(`${FIX}/small.pt`);
    const ckpt = await TorchCheckpoint.open(ckptSrc);
    const entry = ckpt.zip.get(`${ckpt.prefix}data/0`)!;
    const local = entry.localHeaderOffset;
    await ckptSrc.close();
    const flipped = Buffer.from(bytes);
    const dataStart = local + 30 + flipped.readUInt16LE(local + 26) + flipped.readUInt16LE(local + 28);
    flipped[dataStart + 5] ^= 0x40;
    const bad = join(dir, 'flipped.pt');
    writeFileSync(bad, flipped);
    await expect(convertCheckpoint(bad, join(dir, 'f.safetensors'), { allowUnknownConfig: true })).rejects.toThrow(
      /entry 'small\/data\/0' is corrupt \(CRC-32/,
    );
    const notZip = join(dir, 'not.pt');
    writeFileSync(notZip, 'hello world, not a checkpoint');
    await expect(convertCheckpoint(notZip, join(dir, 'n.safetensors'))).rejects.toThrow(/not a PyTorch zip checkpoint/);
    const legacy = join(dir, 'legacy.pt');
    writeFileSync(legacy, new Uint8Array([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    await expect(convertCheckpoint(legacy, join(dir, 'l.safetensors'))).rejects.toThrow(/legacy \(pre-1.6, non-zip\)/);
    await expect(convertCheckpoint(`${FIX}/small.pt`, `${FIX}/small.pt`)).rejects.toThrow(/overwrite the input/);
  });
});

describe('command line', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/sam2-webgpu.mjs', ...args], { encoding: 'utf8' });

  it('convert writes the file; --help and bad usage behave', () => {
    const out = join(dir, 'cli.safetensors');
    const r = cli('convert', `${FIX}/small.pt`, out, '--dtype', 'f16', '--allow-unknown-config');
    expect(r.status).toBe(0);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.stdout).toContain('27 tensors, f16');
    expect(existsSync(out)).toBe(true);
    expect(cli('--help').stdout).toMatch(/Commands:\n\s+track .*\n\s+convert .*\n\s+weights /);
    expect(cli('convert', '--help').stdout).toMatch(/--dtype f32\|f16/);
    expect(cli('convert').status).toBe(2);
    expect(cli('convert', 'a.pt', 'b.safetensors', 'c').status).toBe(2);
    expect(cli('convert', 'only-one').stderr).toMatch(/checkpoint only-one does not exist/);
    expect(cli('convert', `${FIX}/small.pt`, out, '--dtype', 'f64').stderr).toMatch(/--dtype must be f32 or f16/);
    expect(cli('frobnicate').status).toBe(2);
    const huge = cli('weights', 'huge');
    expect(huge.status).toBe(2);
    expect(huge.stderr).toMatch(/'huge' is not a model size: tiny \| small \| base_plus \| large/);
    const unsafe = cli('convert', `${FIX}/unsafe_global.pt`, join(dir, 'z.safetensors'));
    expect(unsafe.status).toBe(1);
    expect(unsafe.stderr).toMatch(/refusing global/);
  });

  it('one name per model joins convert and track: convert without an output writes weights/<name>.safetensors, track finds it', () => {
    const work = join(dir, 'names');
    mkdirSync(work, { recursive: true });
    const bin = resolve('bin/sam2-webgpu.mjs');
    const env = { ...process.env, SAM2_WEBGPU_WEIGHTS: '' };
    const run = (cwd: string, ...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', env });
    copyFileSync(`${FIX}/sam2.1_hiera_t_expanded.pt`, join(work, 'sam2.1_hiera_tiny.pt'));
    const c = run(work, 'convert', 'sam2.1_hiera_tiny.pt');
    expect(c.status, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/^weights\/sam2\.1_hiera_tiny\.safetensors: sam2\.1_hiera_t, /);
    expect(existsSync(join(work, 'weights', 'sam2.1_hiera_tiny.safetensors'))).toBe(true);
    const odd = run(work, 'convert', 'sam2.1_hiera_tiny.pt', '--dtype', 'f16');
    expect(odd.status, odd.stderr).toBe(0);
    expect(existsSync(join(work, 'weights', 'sam2.1_hiera_tiny.f16.safetensors'))).toBe(true);
    copyFileSync(join(work, 'sam2.1_hiera_tiny.pt'), join(work, 'model.pt'));
    expect(run(work, 'convert', 'model.pt').stderr).toMatch(/^sam2-webgpu convert: model\.pt is not named as Meta names its checkpoints .*; give the output file\n$/);
    expect(run(work, 'convert', 'absent.pt').stderr).toMatch(/checkpoint absent\.pt does not exist/);
    const clip = resolve('samples/bedroom.mp4');
    const t = run(work, 'track', clip, '--point', '105,175', '--image-size', '64', '--max-frames', '1', '--out', 'o.mp4', '--json', 'o.json');
    expect(t.status, t.stderr).toBe(0);
    expect(t.stderr).not.toMatch(/synthetic/);
    expect(JSON.parse(readFileSync(join(work, 'o.json'), 'utf8')).syntheticWeights).toBe(false);
    // Elsewhere there are no weights: one line that says how to get them (synthetic only when asked for).
    const none = join(dir, 'no-weights');
    mkdirSync(none, { recursive: true });
    const n = run(none, 'track', clip, '--point', '105,175', '--image-size', '64', '--out', 'o.mp4');
    expect(n.status).toBe(1);
    expect(n.stderr.trim().split('\n')).toHaveLength(1);
    expect(n.stderr).toMatch(/no weights for sam2\.1_hiera_t \(tiny, SAM 2\.1\): found neither weights\/sam2\.1_hiera_tiny\.safetensors nor weights\/sam2\.1_hiera_tiny\.f16\.safetensors\. Get them with `npx sam2-webgpu weights tiny`/);
    expect(n.stderr).toMatch(/--weights synthetic/);
    expect(existsSync(join(none, 'o.mp4'))).toBe(false);
  });

  it('weights fails at once offline, explaining how to convert a file obtained elsewhere', async () => {
    const t0 = Date.now();
    // Port 9 (discard) on localhost refuses the connection immediately, as an offline machine does.
    const e = await downloadWeights({ size: 'tiny', outDir: join(dir, 'w'), baseUrl: 'http://127.0.0.1:9/' }).catch((x) => x);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(e).toBeInstanceOf(OfflineError);
    expect(e.message).toMatch(/seems to be offline/);
    expect(e.message).toMatch(/npx sam2-webgpu convert \S*sam2\.1_hiera_tiny\.pt \S*sam2\.1_hiera_tiny\.safetensors/);
    expect(existsSync(join(dir, 'w', 'checkpoints', 'sam2.1_hiera_tiny.pt.tmp'))).toBe(false);
  });

  it('weights converts a checkpoint already in place without downloading', async () => {
    const out = join(dir, 'w2');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(out, 'checkpoints'), { recursive: true });
    // The expanded fixture is a sam2.1_hiera_t checkpoint in every respect the converter checks.
    copyFileSync(`${FIX}/sam2.1_hiera_t_expanded.pt`, join(out, 'checkpoints', 'sam2.1_hiera_tiny.pt'));
    const fetchImpl = (() => {
      throw new Error('must not download');
    }) as unknown as typeof fetch;
    const r = await downloadWeights({ size: 'tiny', outDir: out, dtype: 'f16', fetchImpl });
    expect(r).toMatchObject({ config: 'sam2.1_hiera_t', downloaded: false });
    expect(r.safetensors).toBe(join(out, 'sam2.1_hiera_tiny.f16.safetensors'));
    // The v2.0 name for the same file would be refused: it is not a sam2_hiera_t checkpoint.
    copyFileSync(`${FIX}/sam2.1_hiera_t_expanded.pt`, join(out, 'checkpoints', 'sam2_hiera_tiny.pt'));
    await expect(downloadWeights({ size: 'tiny', v2_0: true, outDir: out, fetchImpl })).rejects.toBeInstanceOf(FormatError);
    expect(existsSync(join(out, 'sam2_hiera_tiny.safetensors'))).toBe(false);
  });
});
