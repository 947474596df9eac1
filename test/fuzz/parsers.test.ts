/**
 * Fuzzing of the binary parsers in CI: 10,000 generated inputs per parser (FUZZ_TEST_RUNS to change, and
 * FUZZ_SEED to pin the seed), then hand-written regression inputs for every bug the fuzzer found. The
 * properties are those of ./parsers.ts: typed errors only, at most 1 s per input, bounded allocations,
 * nothing executed by the unpickler. `npm run fuzz` runs the same with 1,000,000 inputs per parser.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/runtime/errors.js';
import { bufferSource, openSafetensorsStream, serializeSafetensors, TruncatedError } from '../../src/runtime/safetensors.js';
import { ALLOWED_GLOBALS, TorchCheckpoint, unpickle, UnsafePickleError } from '../../src/checkpoint/pickle.js';
import {
  assembleSafetensors,
  checkpointCorpus,
  checkpointEntries,
  checkpointPickle,
  concat,
  edgePickles,
  headerText,
  le,
  OP,
  PickleAsm,
  pickleCorpus,
  SAMPLE_STORAGES,
  SAMPLE_TENSORS,
  safetensorsCorpus,
  writeZip,
  type ZipEntrySpec,
} from './corpus.js';
import { DANGEROUS_GLOBALS } from './mutations.js';
import { checkInput, describeFailure, fuzzParser, guards, PARSERS, type Outcome, type ParserName } from './parsers.js';

const RUNS = Number(process.env.FUZZ_TEST_RUNS ?? 10_000);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;

describe('fuzz: generated inputs', () => {
  for (const parser of PARSERS) {
    it(`${parser}: ${RUNS.toLocaleString('en-US')} mutated and random inputs`, async () => {
      const report = await fuzzParser(parser, { runs: RUNS, seed: SEED });
      expect(report.failure, describeFailure(report)).toBeUndefined();
      expect(report.stats.inputs).toBe(RUNS);
      // Both outcomes must be common, or the mutations are too weak (or too strong) to be useful.
      expect(report.stats.accepted).toBeGreaterThan(RUNS / 50);
      expect(report.stats.rejected).toBeGreaterThan(RUNS / 2);
    });
  }
});

// ---------------------------------------------------------------------------------------------------------
// Regressions: each input below made a parser break a property before it was fixed.

beforeAll(() => guards.install());
afterAll(() => guards.uninstall());

/** Checks every property on one input and expects a typed rejection whose message matches. */
async function expectRejected(parser: ParserName, bytes: Uint8Array, message: RegExp): Promise<Outcome> {
  const o = await checkInput(parser, bytes);
  expect(o.accepted, 'the input was accepted').toBe(false);
  expect(o.error).toBeInstanceOf(FormatError);
  expect(o.error!.message).toMatch(message);
  expect(o.error!.message.length).toBeLessThan(1000);
  return o;
}

function safetensorsFile(header: string, dataBytes = 0): Uint8Array {
  return assembleSafetensors(header, new Uint8Array(dataBytes), false).bytes;
}

const TENSOR = (shape: string) => `{"w":{"dtype":"F32","shape":${shape},"data_offsets":[0,4]}}`;

describe('fuzz regressions: safetensors', () => {
  it('a stream claiming a 50 MB header allocates as its bytes arrive, not up front', async () => {
    const bytes = concat([le(50_000_000, 8), new TextEncoder().encode('{"a":')]);
    await expectRejected('safetensors', bytes, /header length 50000000 runs past the end/);
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream();
    await expect(openSafetensorsStream(stream)).rejects.toThrow(/truncated inside the 50000000-byte header \(13 bytes in all\)/);
  });

  it('a stream whose header declares a 2^40-byte tensor ends with a TruncatedError, not a 1 TB allocation', async () => {
    const bytes = safetensorsFile(`{"huge":{"dtype":"F32","shape":[${2 ** 38}],"data_offsets":[0,${2 ** 40}]}}`, 16);
    await expectRejected('safetensors', bytes, /truncated: tensor 'huge' needs data bytes \[0, 1099511627776\)/);
    const s = await openSafetensorsStream(new Blob([bytes as Uint8Array<ArrayBuffer>]).stream());
    const it = s.entries();
    const e = await it.next().catch((x) => x);
    expect(e).toBeInstanceOf(TruncatedError);
    expect(e.message).toMatch(/stream ended after 16 data bytes/);
  });

  it('values nested 10,000 deep in the header are named briefly, not stringified whole', async () => {
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    await expectRejected('safetensors', safetensorsFile(TENSOR(deep), 4), /tensor 'w': shape \[\[\[\[\[…\]\]\]\]\] is not a list/);
    const dtype = `{"w":{"dtype":${deep},"shape":[1],"data_offsets":[0,4]}}`;
    await expectRejected('safetensors', safetensorsFile(dtype, 4), /tensor 'w': dtype \[\[\[\[\[…\]\]\]\]\] is not supported/);
    const offsets = `{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,{"a":${'{"a":'.repeat(9_999)}1${'}'.repeat(9_999)}}]}}`;
    await expectRejected('safetensors', safetensorsFile(offsets, 4), /data_offsets \[0,\{"a":\{"a":\{"a":\{…\}\}\}\}\] is not a pair/);
    // Small values read as before.
    await expectRejected('safetensors', safetensorsFile(TENSOR('[1.5]'), 4), /shape \[1\.5\] is not a list of non-negative integers/);
  });

  it('every seed file is accepted by all three readers', async () => {
    for (const s of await safetensorsCorpus()) {
      const o = await checkInput('safetensors', assembleSafetensors(headerText(s.entries), s.data, s.pad).bytes);
      expect(o.accepted, s.name).toBe(true);
    }
    const file = await serializeSafetensors([{ name: 'x', dtype: 'f16', shape: [3], data: new Uint8Array(6) }]);
    expect((await checkInput('safetensors', file)).accepted).toBe(true);
  });
});

describe('fuzz regressions: zip', () => {
  const stored = (): ZipEntrySpec[] => checkpointEntries('archive', checkpointPickle(2, SAMPLE_STORAGES, SAMPLE_TENSORS), SAMPLE_STORAGES);

  it('a ZIP64 extra field cut short at the end of the central directory is a FormatError', async () => {
    const entries = stored();
    entries[entries.length - 1].zip64Kept = 0; // the field header says 0 bytes, the offset is saturated
    const zip = writeZip(entries, { zip64: true }).bytes;
    await expectRejected('zip', zip, /the ZIP64 extra field ends before its uncompressed size \(0 bytes\)/);
    const cut = stored();
    cut[cut.length - 1].zip64Kept = 16; // sizes present, the local header offset missing
    cut[cut.length - 1].zip64Declared = 24; // while the field header claims all 24 bytes
    await expectRejected('zip', writeZip(cut, { zip64: true }).bytes, /the ZIP64 extra field ends before its local header offset/);
  });

  it('a deflated entry that inflates past its recorded size stops there', async () => {
    const entries = stored();
    entries[0].method = 8;
    entries[0].data = new Uint8Array(4 << 20); // 4 MiB of zeros deflate to ~4 KiB
    entries[0].declaredSize = 10;
    const bomb = writeZip(entries).bytes;
    await expectRejected('zip', bomb, /entry 'archive\/data\.pkl' does not inflate: inflates to more than the 10 bytes recorded/);
  });

  it('recorded sizes that the data cannot have are refused when the zip is opened', async () => {
    const ratio = stored();
    ratio[1].method = 8;
    ratio[1].declaredSize = 2 ** 31;
    await expectRejected('zip', writeZip(ratio).bytes, /records 2147483648 bytes inflated from \d+, beyond what deflate can expand to/);
    const storedMismatch = stored();
    storedMismatch[2].declaredSize = 1000;
    const mismatch = writeZip(storedMismatch).bytes;
    await expectRejected('zip', mismatch, /entry 'archive\/\.storage_alignment' is stored but records 2 bytes in the file and 1000/);
  });

  it('a 4 MiB byteorder entry is neither read nor echoed', async () => {
    const entries = stored();
    const bo = entries.find((e) => e.name.endsWith('byteorder'))!;
    bo.method = 8;
    bo.data = new Uint8Array(4 << 20);
    await expectRejected('zip', writeZip(entries).bytes, /storages are of unknown byte order \(a 4194304-byte byteorder entry\)/);
    bo.data = new TextEncoder().encode('big');
    await expectRejected('zip', writeZip(entries).bytes, /storages are big-endian; only little-endian is supported/);
  });

  it('every seed checkpoint is accepted, except the one naming os.system', async () => {
    for (const s of await checkpointCorpus()) {
      const o = await checkInput('zip', writeZip(s.entries, s.opts).bytes);
      if (s.name === 'unsafe_global.pt') expect(o.error).toBeInstanceOf(UnsafePickleError);
      else expect(o.accepted, `${s.name}: ${o.error?.message}`).toBe(true);
    }
  });
});

describe('fuzz regressions: checkpoints and pickles', () => {
  const edge = new Map(edgePickles());
  /** A generated checkpoint whose data.pkl is one of the edge pickles. */
  const withPickle = (name: string) => {
    const pkl = edge.get(name);
    expect(pkl, name).toBeDefined();
    return writeZip(checkpointEntries('archive', pkl!, SAMPLE_STORAGES), { align: true }).bytes;
  };

  it('keys nested 5,000 deep or shared 6,000 times are named briefly when there is no state dict', async () => {
    const deep = withPickle('no state dict, a key nested 5,000 deep');
    await expectRejected('zip', deep, /no state dict found: expected a "model" entry \(keys: list, step\)/);
    await expectRejected('zip', withPickle('no state dict, a key sharing one list 6,000 times'), /\(keys: tuple, step\)/);
    await expectRejected('zip', withPickle('no state dict, a key that contains itself'), /\(keys: list, step\)/);
  });

  it('a storage location that is not a string is refused, not stringified', async () => {
    await expectRejected('zip', withPickle('storage location nested 5,000 deep'), /storage '0' has location list, not a device name/);
    await expectRejected('zip', withPickle('storage location sharing one list 6,000 times'), /storage '0' has location tuple/);
  });

  it('views whose dense size no buffer holds are refused before anything is allocated', async () => {
    await expectRejected(
      'zip',
      withPickle('2^40 elements viewing one'),
      /tensor 'big': float32 \[1099511627776\] is 1099511627776 elements \(4398046511104 bytes\), more than the 4294967296 bytes/,
    );
    await expectRejected('zip', withPickle('2^33 elements of a 4-wide row'), /more than the 4294967296 bytes one tensor may hold/);
    await expectRejected('zip', withPickle('an element count beyond 2^53'), /more than the 4294967296 bytes/);
    await expectRejected('zip', withPickle('an element count that overflows to Infinity'), /is Infinity elements/);
    await expectRejected('zip', withPickle('a stride beyond 2^53'), /reaches element \d+ of storage '0', which has 12/);
  });

  it('an empty tensor stays empty when its other dims multiply past the float range', async () => {
    expect((await checkInput('zip', withPickle('an empty tensor whose other dims overflow'))).accepted).toBe(true);
    const src = bufferSource(withPickle('an empty tensor whose other dims overflow'));
    const ckpt = await TorchCheckpoint.open(src);
    const t = ckpt.stateDict().get('empty')!;
    expect(t.numel).toBe(0);
    expect((await ckpt.readTensor(t, 'empty')).length).toBe(0);
  });

  it('no global outside the allow-list is ever called, through any opcode', async () => {
    for (const [module, name] of DANGEROUS_GLOBALS) {
      const qual = `${module}.${name}`;
      expect(ALLOWED_GLOBALS.has(qual)).toBe(false);
      for (const protocol of [2, 4]) {
        const a = new PickleAsm(protocol).proto().global(module, name).str('echo pwned').op(OP.TUPLE1).op(OP.REDUCE).op(OP.STOP);
        const o = await checkInput('pickle', a.bytesOut()); // sentinels: nothing may have been called
        expect(o.error).toBeInstanceOf(UnsafePickleError);
        expect((o.error as UnsafePickleError).global).toBe(qual);
      }
    }
    const enc = (s: string) => [...new TextEncoder().encode(s)];
    for (const [op, bytes] of [
      ['INST', [OP.PROTO, 2, OP.MARK, OP.INST, ...enc('os\nsystem\n'), OP.STOP]],
      ['OBJ', [OP.PROTO, 2, OP.MARK, OP.GLOBAL, ...enc('sentinel\ncall\n'), OP.OBJ, OP.STOP]],
      ['NEWOBJ', [OP.PROTO, 2, OP.GLOBAL, ...enc('collections\nOrderedDict\n'), OP.EMPTY_TUPLE, OP.NEWOBJ, OP.STOP]],
    ] as const) {
      const o = await checkInput('pickle', new Uint8Array(bytes));
      expect(o.error?.message).toMatch(new RegExp(`unsupported pickle opcode ${op}|refusing global`));
    }
    // The sentinels do record calls: the check above is not vacuous.
    const calls = guards.sentinels.calls.length;
    (globalThis as unknown as { sentinel: { call(): void } }).sentinel.call();
    expect(guards.sentinels.calls.length).toBe(calls + 1);
    guards.sentinels.calls.length = calls;
  });

  it('every seed pickle is accepted, except those that call a global', async () => {
    for (const [name, bytes] of await pickleCorpus()) {
      const o = await checkInput('pickle', bytes);
      if (name === 'bytes_p2.pkl' || name.startsWith('unsafe_global')) expect(o.error, name).toBeInstanceOf(UnsafePickleError);
      else expect(o.accepted, `${name}: ${o.error?.message}`).toBe(true);
    }
    expect(() => unpickle(new Uint8Array([OP.PROTO, 2, OP.NONE, OP.STOP]))).not.toThrow();
  });
});

describe('fuzz harness', () => {
  it('refuses an allocation over budget before making it, and counts copies but not views', () => {
    const m = guards.meter;
    m.begin(100);
    let caught: unknown;
    try {
      new Uint8Array(2 ** 40);
    } catch (e) {
      caught = e; // as a parser might: the violation is recorded all the same
    } finally {
      m.end();
    }
    expect(caught).toBeInstanceOf(RangeError);
    expect(m.violation).toMatch(/new Uint8Array of 1099511627776 bytes/);

    m.begin(1 << 20);
    const buf = new ArrayBuffer(1 << 16);
    new Float32Array(buf, 0, 1 << 14); // a view: nothing
    Float32Array.from(new Uint8Array(buf, 0, 100)); // a copy: 400 bytes
    m.end();
    expect(m.violation).toBeUndefined();
    expect(m.allocated).toBe((1 << 16) + 400);
  });
});
