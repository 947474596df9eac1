/**
 * Valid inputs for the parser fuzzers: writers for the three formats and the seed corpora built with them.
 *
 *  - safetensors: files written by serializeSafetensors plus hand-laid headers (every dtype, scalars, empty
 *    tensors, metadata, key order unlike offset order, unpadded headers) and one real converted file.
 *  - pickle: a small assembler for exactly the opcodes src/checkpoint/pickle.ts supports, the torch.save layout of
 *    a state dict (persistent ids, _rebuild_tensor_v2, _rebuild_parameter, OrderedDict with BUILD state) in
 *    protocols 2 and 4, plain-value pickles, and the pickles Python wrote for the test fixtures.
 *  - zip: a writer for PyTorch checkpoint archives as torch.save lays them out (entries stored, data aligned
 *    to 64 bytes with an 'FB' padding field), with deflated entries, an archive comment and ZIP64 records as
 *    options. It records where every integer field sits, so that mutations can target them.
 *
 * Everything here is deterministic: the corpora are the same in every run, so a fast-check seed and path
 * reproduce an input exactly.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import { concatBytes, crc32 } from '../../src/runtime/bytes.js';
import { ELEMENT_BYTES } from '../../src/runtime/dtype.js';
import {
  bufferSource,
  safetensorsName,
  serializeSafetensors,
  type SafetensorsDType,
  type TensorToWrite,
} from '../../src/runtime/safetensors.js';
import { ZipReader } from '../../src/checkpoint/zip.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'ckpt');

const utf8 = new TextEncoder();

// ---------------------------------------------------------------------------------------------------------
// Bytes

/** The parts one after another (src/runtime/bytes.ts). */
export const concat = concatBytes;

/** `value` as `width` little-endian bytes (two's complement, truncated to the width). */
export function le(value: bigint | number, width: number): number[] {
  let v = BigInt.asUintN(width * 8, BigInt(value));
  const out: number[] = [];
  for (let i = 0; i < width; i++) {
    out.push(Number(v & 0xffn));
    v >>= 8n;
  }
  return out;
}

/** Deterministic pseudo-random bytes (a linear congruential generator). */
export function bytesOf(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = a >>> 24;
  }
  return out;
}

/**
 * A stream that delivers `bytes` in chunks of the given sizes in turn (views, no copies), starting at
 * `sizes[start]`.
 */
export function chunkedStream(bytes: Uint8Array, sizes: readonly number[], start = 0): ReadableStream<Uint8Array> {
  let pos = 0;
  let k = start;
  return new ReadableStream<Uint8Array>({
    pull(ctrl) {
      if (pos >= bytes.length) return ctrl.close();
      const n = sizes[k++ % sizes.length];
      ctrl.enqueue(bytes.subarray(pos, pos + n));
      pos += n;
    },
  });
}

/** A position of an integer field inside a file, for mutations that overwrite it. */
export interface IntField {
  at: number;
  width: 1 | 2 | 4 | 8;
}

// ---------------------------------------------------------------------------------------------------------
// safetensors

/** A JSON fragment written verbatim (deep nesting, odd number spellings, duplicate keys). */
export class RawJson {
  constructor(readonly text: string) {}
}

/** JSON text of a value that may contain RawJson fragments. */
export function toJson(v: unknown): string {
  if (v instanceof RawJson) return v.text;
  if (Array.isArray(v)) return `[${v.map(toJson).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * A safetensors file split into its header entries (in key order, duplicates allowed) and its data section,
 * so that mutations can edit the header as JSON and re-assemble a file with a matching length prefix.
 */
export interface SafetensorsSeed {
  name: string;
  entries: [string, unknown][];
  data: Uint8Array;
  /** Pad the header with spaces to a multiple of 8 bytes, as the writer does. */
  pad: boolean;
}

export interface AssembledFile {
  bytes: Uint8Array;
  fields: IntField[];
}

/** [u64 header length][header JSON][data]. */
export function assembleSafetensors(headerText: string, data: Uint8Array, pad: boolean): AssembledFile {
  let json = utf8.encode(headerText);
  if (pad && json.length % 8) {
    const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
    padded.set(json);
    json = padded;
  }
  return { bytes: concat([le(json.length, 8), json, data]), fields: [{ at: 0, width: 8 }] };
}

export function headerText(entries: readonly [string, unknown][]): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`).join(',')}}`;
}

function splitSafetensors(name: string, file: Uint8Array, pad = true): SafetensorsSeed {
  const dv = new DataView(file.buffer, file.byteOffset, file.length);
  const len = Number(dv.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + len))) as Record<string, unknown>;
  return { name, entries: Object.entries(header), data: file.slice(8 + len), pad };
}

export type TensorSpecs = [name: string, dtype: SafetensorsDType, shape: number[]][];

/**
 * One tensor of every dtype, with odd sizes so that alignment matters, plus a scalar and an empty one (the
 * names are those of the dtypes).
 */
export const EVERY_DTYPE: TensorSpecs = [
  ['u8', 'u8', [3, 5]],
  ['f16', 'f16', [7]],
  ['f32', 'f32', [2, 3, 4]],
  ['bf16', 'bf16', [3, 3]],
  ['i64', 'i64', [5]],
  ['bool', 'bool', [9]],
  ['i32', 'i32', [1, 3]],
  ['scalar', 'f32', []],
  ['empty', 'f16', [0, 4]],
];

/** Tensors of the given specs holding pseudo-random bytes (tensor i from seed `seed + i`; bools 0 or 1). */
export function tensorsOf(specs: TensorSpecs, seed: number): TensorToWrite[] {
  return specs.map(([name, dtype, shape], i) => {
    let n = 1;
    for (const d of shape) n *= d;
    const data = bytesOf(n * ELEMENT_BYTES[dtype], seed + i);
    if (dtype === 'bool') data.forEach((v, j) => (data[j] = v & 1));
    return { name, dtype, shape, data };
  });
}

const tensors = (specs: TensorSpecs) => tensorsOf(specs, 7);

/** A header written by hand: [name, dtype, shape] laid out in the order given, keys in `keyOrder`. */
function handLaid(
  name: string,
  specs: TensorSpecs,
  opts: { keyOrder?: string[]; metadata?: Record<string, string>; pad?: boolean } = {},
): SafetensorsSeed {
  const info = new Map<string, unknown>();
  let offset = 0;
  for (const [n, dtype, shape] of specs) {
    let numel = 1;
    for (const d of shape) numel *= d;
    const bytes = numel * ELEMENT_BYTES[dtype];
    info.set(n, { dtype: safetensorsName(dtype), shape, data_offsets: [offset, offset + bytes] });
    offset += bytes;
  }
  const entries: [string, unknown][] = [];
  if (opts.metadata) entries.push(['__metadata__', opts.metadata]);
  for (const n of opts.keyOrder ?? specs.map((s) => s[0])) entries.push([n, info.get(n)]);
  return { name, entries, data: bytesOf(offset, specs.length), pad: opts.pad ?? false };
}

let safetensorsSeeds: Promise<SafetensorsSeed[]> | undefined;

/** Valid safetensors files: several dtypes and shapes, with and without metadata. */
export function safetensorsCorpus(): Promise<SafetensorsSeed[]> {
  safetensorsSeeds ??= (async () => {
    const written: [string, TensorToWrite[], Record<string, string> | undefined][] = [
      [
        'every dtype',
        tensors(EVERY_DTYPE),
        { format: 'pt', note: 'héllo' },
      ],
      ['one f32', tensors([['w', 'f32', [2, 2]]]), undefined],
      ['i64 and bool', tensors([['idx', 'i64', [4, 1]], ['mask', 'bool', [2, 2, 2]]]), { a: '' }],
      ['names', tensors([['é/ü.weight', 'f16', [3]], ['a"b\\c', 'u8', [1]], ['0', 'i32', [2]]]), undefined],
      ['metadata only', [], { config: 'sam2.1_hiera_t', dtype: 'f16' }],
      ['empty', [], undefined],
    ];
    const seeds: SafetensorsSeed[] = [];
    for (const [name, ts, meta] of written) seeds.push(splitSafetensors(name, await serializeSafetensors(ts, meta)));
    seeds.push(
      handLaid('key order unlike file order', [['a', 'f32', [2]], ['b', 'f16', [3]], ['c', 'u8', [5]]], {
        keyOrder: ['c', 'a', 'b'],
      }),
      handLaid('empty tensors between others', [['x', 'u8', [2]], ['z0', 'f32', [0]], ['y', 'bf16', [1]], ['z1', 'i64', [3, 0]]], {
        metadata: { k: 'v' },
      }),
      handLaid('unaligned, unpadded', [['b', 'u8', [3]], ['w', 'f32', [1, 1]]], { pad: false }),
    );
    // A real file: the converter's expected output for the small test checkpoint (27 tensors, f16).
    seeds.push(splitSafetensors('expected_f16.safetensors', new Uint8Array(readFileSync(join(FIXTURES, 'expected_f16.safetensors')))));
    return seeds;
  })();
  return safetensorsSeeds;
}

// ---------------------------------------------------------------------------------------------------------
// Pickle: an assembler for the supported opcodes

/** Opcodes (the subset src/checkpoint/pickle.ts reads, plus a few it must refuse). */
export const OP = {
  MARK: 0x28,
  EMPTY_TUPLE: 0x29,
  STOP: 0x2e,
  POP: 0x30,
  POP_MARK: 0x31,
  DUP: 0x32,
  FLOAT: 0x46,
  BINBYTES: 0x42,
  SHORT_BINBYTES: 0x43,
  BINFLOAT: 0x47,
  INT: 0x49,
  BININT: 0x4a,
  BININT1: 0x4b,
  BININT2: 0x4d,
  NONE: 0x4e,
  PERSID: 0x50,
  BINPERSID: 0x51,
  REDUCE: 0x52,
  BINUNICODE: 0x58,
  EMPTY_LIST: 0x5d,
  APPEND: 0x61,
  BUILD: 0x62,
  GLOBAL: 0x63,
  DICT: 0x64,
  APPENDS: 0x65,
  BINGET: 0x68,
  INST: 0x69,
  LONG_BINGET: 0x6a,
  LIST: 0x6c,
  OBJ: 0x6f,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  SETITEM: 0x73,
  TUPLE: 0x74,
  SETITEMS: 0x75,
  EMPTY_DICT: 0x7d,
  PROTO: 0x80,
  NEWOBJ: 0x81,
  EXT1: 0x82,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  NEWOBJ_EX: 0x92,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
} as const;

/**
 * How each supported opcode's argument is laid out: a fixed byte count, a length prefix of n bytes followed
 * by that many bytes, or two newline-terminated lines (GLOBAL).
 */
export type OpArg = { fixed: number } | { prefixed: 1 | 4 | 8 } | 'lines';

export const OP_ARGS: ReadonlyMap<number, OpArg> = new Map<number, OpArg>([
  [OP.PROTO, { fixed: 1 }],
  [OP.FRAME, { fixed: 8 }],
  [OP.BININT, { fixed: 4 }],
  [OP.BININT1, { fixed: 1 }],
  [OP.BININT2, { fixed: 2 }],
  [OP.BINFLOAT, { fixed: 8 }],
  [OP.BINGET, { fixed: 1 }],
  [OP.LONG_BINGET, { fixed: 4 }],
  [OP.BINPUT, { fixed: 1 }],
  [OP.LONG_BINPUT, { fixed: 4 }],
  [OP.LONG1, { prefixed: 1 }],
  [OP.LONG4, { prefixed: 4 }],
  [OP.SHORT_BINUNICODE, { prefixed: 1 }],
  [OP.BINUNICODE, { prefixed: 4 }],
  [OP.BINUNICODE8, { prefixed: 8 }],
  [OP.SHORT_BINBYTES, { prefixed: 1 }],
  [OP.BINBYTES, { prefixed: 4 }],
  [OP.BINBYTES8, { prefixed: 8 }],
  [OP.GLOBAL, 'lines'],
  ...[
    OP.MARK, OP.EMPTY_TUPLE, OP.STOP, OP.POP, OP.POP_MARK, OP.DUP, OP.NONE, OP.BINPERSID, OP.REDUCE, OP.EMPTY_LIST,
    OP.APPEND, OP.BUILD, OP.DICT, OP.APPENDS, OP.LIST, OP.SETITEM, OP.TUPLE, OP.SETITEMS, OP.EMPTY_DICT, OP.TUPLE1,
    OP.TUPLE2, OP.TUPLE3, OP.NEWTRUE, OP.NEWFALSE, OP.STACK_GLOBAL, OP.MEMOIZE,
  ].map((op) => [op, { fixed: 0 }] as [number, OpArg]),
]);

/** One opcode found by walkPickle: its byte range and, when it has one, its integer argument's position. */
export interface PickleOp {
  at: number;
  end: number;
  op: number;
  int?: IntField;
  /** GLOBAL's "module.name". */
  global?: string;
}

/**
 * Splits a pickle into opcodes, for structure-aware mutations and for checking what a pickle names. Stops
 * at the first opcode it does not know or whose argument runs past the end.
 */
export function walkPickle(b: Uint8Array): PickleOp[] {
  const ops: PickleOp[] = [];
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  let p = 0;
  while (p < b.length) {
    const op = b[p];
    const arg = OP_ARGS.get(op);
    if (arg === undefined) break;
    const at = p++;
    let int: IntField | undefined;
    let global: string | undefined;
    if (arg === 'lines') {
      const nl1 = b.indexOf(0x0a, p);
      const nl2 = nl1 < 0 ? -1 : b.indexOf(0x0a, nl1 + 1);
      if (nl2 < 0) break;
      const dec = new TextDecoder();
      global = `${dec.decode(b.subarray(p, nl1))}.${dec.decode(b.subarray(nl1 + 1, nl2))}`;
      p = nl2 + 1;
    } else if ('fixed' in arg) {
      if (p + arg.fixed > b.length) break;
      if (arg.fixed === 1 || arg.fixed === 2 || arg.fixed === 4 || arg.fixed === 8) int = { at: p, width: arg.fixed };
      p += arg.fixed;
    } else {
      const w = arg.prefixed;
      if (p + w > b.length) break;
      const n = w === 1 ? b[p] : w === 4 ? dv.getUint32(p, true) : Number(dv.getBigUint64(p, true));
      int = { at: p, width: w };
      if (p + w + n > b.length) break;
      p += w + n;
    }
    ops.push({ at, end: p, op, int, global });
    if (op === OP.STOP) break;
  }
  return ops;
}

/** Builds pickles opcode by opcode. */
export class PickleAsm {
  private readonly out: number[] = [];

  /**
   * @param wideInts write every integer as BININT (4 bytes) or LONG1 of 8 bytes, never BININT1 / BININT2, so
   *   that mutations of the argument can reach any 32- or 64-bit value.
   */
  constructor(
    readonly protocol = 2,
    readonly wideInts = false,
  ) {}

  op(code: number, ...arg: readonly number[]): this {
    this.out.push(code);
    for (const x of arg) this.out.push(x);
    return this;
  }

  raw(bytes: Uint8Array | readonly number[]): this {
    for (const x of bytes) this.out.push(x);
    return this;
  }

  proto(): this {
    return this.op(OP.PROTO, this.protocol);
  }

  /** A memo slot for the value on top of the stack: MEMOIZE from protocol 4, BINPUT / LONG_BINPUT before. */
  put(slot: number): this {
    if (this.protocol >= 4) return this.op(OP.MEMOIZE);
    return slot < 256 ? this.op(OP.BINPUT, slot) : this.op(OP.LONG_BINPUT, ...le(slot, 4));
  }

  get(slot: number): this {
    return slot < 256 ? this.op(OP.BINGET, slot) : this.op(OP.LONG_BINGET, ...le(slot, 4));
  }

  str(s: string, form?: 'short' | 'long' | 'u8'): this {
    const b = utf8.encode(s);
    const f = form ?? (this.protocol >= 4 && b.length < 256 ? 'short' : 'long');
    if (f === 'short') return this.op(OP.SHORT_BINUNICODE, b.length).raw(b);
    if (f === 'long') return this.op(OP.BINUNICODE, ...le(b.length, 4)).raw(b);
    return this.op(OP.BINUNICODE8, ...le(b.length, 8)).raw(b);
  }

  bytes(b: Uint8Array, form: 'short' | 'long' | 'u8' = 'short'): this {
    if (form === 'short') return this.op(OP.SHORT_BINBYTES, b.length).raw(b);
    if (form === 'long') return this.op(OP.BINBYTES, ...le(b.length, 4)).raw(b);
    return this.op(OP.BINBYTES8, ...le(b.length, 8)).raw(b);
  }

  /** The shortest integer opcode, as Python's pickler chooses it. */
  int(v: number | bigint): this {
    const n = BigInt(v);
    if (this.wideInts) {
      return n >= -(2n ** 31n) && n < 2n ** 31n ? this.op(OP.BININT, ...le(n, 4)) : this.op(OP.LONG1, 8, ...le(n, 8));
    }
    if (n >= 0n && n < 256n) return this.op(OP.BININT1, Number(n));
    if (n >= 0n && n < 65536n) return this.op(OP.BININT2, ...le(n, 2));
    if (n >= -(2n ** 31n) && n < 2n ** 31n) return this.op(OP.BININT, ...le(n, 4));
    let len = 1;
    while (n >= 2n ** BigInt(8 * len - 1) || n < -(2n ** BigInt(8 * len - 1))) len++;
    return len < 256 ? this.op(OP.LONG1, len, ...le(n, len)) : this.op(OP.LONG4, ...le(len, 4), ...le(n, len));
  }

  float(x: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, x, false);
    return this.op(OP.BINFLOAT).raw(b);
  }

  global(module: string, name: string): this {
    if (this.protocol >= 4) return this.str(module, 'short').op(OP.MEMOIZE).str(name, 'short').op(OP.MEMOIZE).op(OP.STACK_GLOBAL);
    return this.op(OP.GLOBAL).raw(utf8.encode(`${module}\n${name}\n`));
  }

  /** A tuple of what `items` pushes: EMPTY_TUPLE, TUPLE1..3, or MARK .. TUPLE. */
  tuple(n: number, items: () => void): this {
    if (n === 0) return this.op(OP.EMPTY_TUPLE);
    if (n > 3) this.op(OP.MARK);
    items();
    return this.op(n === 1 ? OP.TUPLE1 : n === 2 ? OP.TUPLE2 : n === 3 ? OP.TUPLE3 : OP.TUPLE);
  }

  bytesOut(): Uint8Array {
    return new Uint8Array(this.out);
  }
}

/** Storage class names and element sizes (torch.<Name>Storage). */
export const STORAGE_CLASSES: Readonly<Record<string, number>> = {
  FloatStorage: 4,
  HalfStorage: 2,
  BFloat16Storage: 2,
  DoubleStorage: 8,
  LongStorage: 8,
  IntStorage: 4,
  ShortStorage: 2,
  CharStorage: 1,
  ByteStorage: 1,
  BoolStorage: 1,
};

/** A tensor of a checkpoint: a view on a storage. */
export interface CkptTensor {
  name: string;
  storage: string;
  offset: number;
  shape: number[];
  stride: number[];
  /** Wrap in _rebuild_parameter, as nn.Parameter is pickled. */
  parameter?: boolean;
}

export interface CkptStorage {
  key: string;
  cls: keyof typeof STORAGE_CLASSES;
  numel: number;
}

/**
 * The pickle torch.save writes for `{"model": state_dict, ...extra}`: each tensor a _rebuild_tensor_v2 call
 * on a persistent storage reference, the state dict an OrderedDict with a `_metadata` BUILD state.
 */
export function checkpointPickle(
  protocol: number,
  storages: readonly CkptStorage[],
  ts: readonly CkptTensor[],
  extra = true,
  wideInts = false,
): Uint8Array {
  const a = new PickleAsm(protocol, wideInts);
  let slot = 0;
  const memo = new Map<string, number>();
  /** Pushes a global, memoised on first use and fetched from the memo after. */
  const global = (module: string, name: string) => {
    const key = `${module}.${name}`;
    const m = memo.get(key);
    if (m !== undefined) a.get(m);
    else {
      a.global(module, name);
      if (protocol >= 4) slot += 2; // the two name strings were memoised
      memo.set(key, slot);
      a.put(slot++);
    }
  };
  const emptyOrderedDict = () => {
    global('collections', 'OrderedDict');
    a.op(OP.EMPTY_TUPLE).op(OP.REDUCE).put(slot++);
  };
  const intTuple = (xs: readonly number[]) => a.tuple(xs.length, () => xs.forEach((x) => a.int(x))).put(slot++);
  const byKey = new Map(storages.map((s) => [s.key, s]));

  a.proto();
  if (protocol >= 4) a.op(OP.FRAME, ...le(0, 8)); // a buffering hint; its length is not checked
  a.op(OP.EMPTY_DICT).put(slot++);
  a.str('model').put(slot++);
  emptyOrderedDict();
  a.op(OP.MARK);
  const seen = new Set<string>();
  for (const t of ts) {
    const s = byKey.get(t.storage)!;
    a.str(t.name).put(slot++);
    if (t.parameter) global('torch._utils', '_rebuild_parameter');
    global('torch._utils', '_rebuild_tensor_v2');
    a.op(OP.MARK);
    // ('storage', torch.XStorage, key, location, numel), memoised: a shared storage is fetched back.
    const pidSlot = memo.get(`pid:${s.key}`);
    if (pidSlot !== undefined && seen.has(s.key)) a.get(pidSlot);
    else {
      a.op(OP.MARK);
      a.str('storage');
      global('torch', s.cls);
      a.str(s.key).str('cpu').int(s.numel);
      a.op(OP.TUPLE);
      memo.set(`pid:${s.key}`, slot);
      a.put(slot++);
      seen.add(s.key);
    }
    a.op(OP.BINPERSID);
    a.int(t.offset);
    intTuple(t.shape);
    intTuple(t.stride);
    a.op(OP.NEWFALSE);
    emptyOrderedDict();
    a.op(OP.TUPLE).put(slot++).op(OP.REDUCE).put(slot++);
    if (t.parameter) {
      // _rebuild_parameter(data, requires_grad, backward_hooks)
      a.op(OP.NEWTRUE);
      emptyOrderedDict();
      a.op(OP.TUPLE3).put(slot++).op(OP.REDUCE).put(slot++);
    }
  }
  a.op(OP.SETITEMS);
  // state_dict()._metadata = {'': {'version': 1}}
  a.op(OP.EMPTY_DICT).put(slot++).str('_metadata').put(slot++);
  emptyOrderedDict();
  a.str('').op(OP.EMPTY_DICT).put(slot++).str('version').put(slot++).int(1).op(OP.SETITEM).op(OP.SETITEM);
  a.op(OP.SETITEM).op(OP.BUILD);
  a.op(OP.SETITEM);
  if (extra) {
    a.op(OP.MARK);
    a.str('epoch').int(7);
    a.str('lr').float(2.5e-4);
    a.str('steps').op(OP.EMPTY_LIST).put(slot++).op(OP.MARK).int(1).int(2n ** 70n).op(OP.APPENDS);
    a.op(OP.SETITEMS);
  }
  a.op(OP.STOP);
  return a.bytesOut();
}

/** A pickle of plain values exercising every value opcode the reader supports. */
export function plainValuesPickle(protocol: number): Uint8Array {
  const a = new PickleAsm(protocol);
  a.proto();
  if (protocol >= 4) a.op(OP.FRAME, ...le(200, 8));
  a.op(OP.EMPTY_DICT).put(0);
  a.op(OP.MARK);
  a.str('ints').op(OP.EMPTY_LIST).put(1).op(OP.MARK);
  for (const v of [0, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31 - 1, 2 ** 31, 2 ** 53, -(2n ** 70n), 2n ** 63n]) a.int(v);
  a.op(OP.APPENDS);
  a.str('long4').op(OP.LONG4, ...le(3, 4), 1, 2, 3).op(OP.LONG1, 0);
  a.op(OP.TUPLE2);
  a.str('floats').float(1.5).float(-0).float(Number.POSITIVE_INFINITY).op(OP.TUPLE3);
  a.str('consts').op(OP.NONE).op(OP.NEWTRUE).op(OP.NEWFALSE).op(OP.TUPLE3);
  a.str('strings').op(OP.MARK).str('a', 'short').str('é'.repeat(3), 'long').str('x'.repeat(300), 'u8').op(OP.LIST);
  a.str('bytes').op(OP.MARK).bytes(new Uint8Array([1, 2]), 'short').bytes(bytesOf(40, 3), 'long').bytes(new Uint8Array(0), 'u8');
  a.op(OP.TUPLE);
  // A list built with APPEND, a value fetched twice from the memo, DUP, POP and POP_MARK.
  a.str('list').op(OP.EMPTY_LIST).op(OP.LONG_BINPUT, ...le(300, 4)).int(1).op(OP.APPEND).get(300).op(OP.POP).int(2).op(OP.APPEND);
  a.op(OP.DUP).op(OP.POP);
  a.op(OP.MARK).int(9).int(9).op(OP.POP_MARK);
  a.str('dict').op(OP.MARK).int(7).str('seven').int(8).op(OP.NONE).op(OP.DICT);
  a.op(OP.SETITEMS);
  a.int(7).op(OP.EMPTY_DICT).op(OP.SETITEM);
  a.op(OP.STOP);
  return a.bytesOut();
}

/** Pushes a list nested `depth` deep: [[[...]]]. */
function deepList(a: PickleAsm, depth: number): void {
  for (let i = 0; i < depth; i++) a.op(OP.EMPTY_LIST);
  for (let i = 1; i < depth; i++) a.op(OP.APPEND);
}

/** Pushes a tuple of three references to one list of 2,000 references to one 200-character string. */
function fanOut(a: PickleAsm): void {
  a.op(OP.MARK).str('z'.repeat(200), 'long');
  for (let i = 0; i < 2000; i++) a.op(OP.DUP);
  a.op(OP.LIST).op(OP.DUP).op(OP.DUP).op(OP.TUPLE3);
}

/** Pushes _rebuild_tensor_v2(storage('0', FloatStorage, numel 12, location), offset, shape, stride, False). */
function rebuiltTensor(
  a: PickleAsm,
  shape: readonly (number | bigint)[],
  stride: readonly (number | bigint)[],
  location?: (a: PickleAsm) => void,
): void {
  a.global('torch._utils', '_rebuild_tensor_v2').op(OP.MARK);
  a.op(OP.MARK).str('storage').global('torch', 'FloatStorage').str('0');
  if (location) location(a);
  else a.str('cpu');
  a.int(12).op(OP.TUPLE).op(OP.BINPERSID);
  a.int(0);
  a.op(OP.MARK);
  shape.forEach((d) => a.int(d));
  a.op(OP.TUPLE).op(OP.MARK);
  stride.forEach((d) => a.int(d));
  a.op(OP.TUPLE).op(OP.NEWFALSE).op(OP.TUPLE).op(OP.REDUCE);
}

/** {"model": {name: tensor}} around what `tensor` pushes. */
function stateDictOf(name: string | ((a: PickleAsm) => void), tensor: (a: PickleAsm) => void): Uint8Array {
  const a = new PickleAsm(2);
  a.proto().op(OP.EMPTY_DICT).str('model').op(OP.EMPTY_DICT);
  if (typeof name === 'string') a.str(name);
  else name(a);
  tensor(a);
  a.op(OP.SETITEM).op(OP.SETITEM).op(OP.STOP);
  return a.bytesOut();
}

/**
 * Pickles that are valid as pickles but exercise the checkpoint reader's edges: what it prints when there
 * is no state dict (keys that are deeply nested or widely shared lists), storage locations that are not
 * strings, keys that are not strings, and views whose dense size is enormous for a 12-element storage.
 * Each refers to storage '0' as a FloatStorage of 12 elements, as the generated checkpoints hold it.
 */
export function edgePickles(): [string, Uint8Array][] {
  const noModel = (key: (a: PickleAsm) => void) => {
    const a = new PickleAsm(2);
    a.proto().op(OP.EMPTY_DICT).op(OP.MARK);
    key(a);
    rebuiltTensor(a, [3, 4], [4, 1]);
    a.str('step').int(1).op(OP.SETITEMS).op(OP.STOP);
    return a.bytesOut();
  };
  const huge: number[] = Array(24).fill(2 ** 52); // 2^1248 elements in all
  return [
    ['no state dict, a key nested 5,000 deep', noModel((a) => deepList(a, 5000))],
    ['no state dict, a key sharing one list 6,000 times', noModel(fanOut)],
    ['no state dict, a key that contains itself', noModel((a) => a.op(OP.EMPTY_LIST).op(OP.BINPUT, 1).op(OP.BINGET, 1).op(OP.APPEND))],
    ['storage location nested 5,000 deep', stateDictOf('w', (a) => rebuiltTensor(a, [3, 4], [4, 1], (b) => deepList(b, 5000)))],
    ['storage location sharing one list 6,000 times', stateDictOf('w', (a) => rebuiltTensor(a, [3, 4], [4, 1], fanOut))],
    ['state dict key that is not a string', stateDictOf((a) => a.int(5), (a) => rebuiltTensor(a, [12], [1]))],
    ['2^40 elements viewing one', stateDictOf('big', (a) => rebuiltTensor(a, [2 ** 40], [0]))],
    ['2^33 elements of a 4-wide row', stateDictOf('big', (a) => rebuiltTensor(a, [2 ** 31, 4], [0, 1]))],
    ['an element count beyond 2^53', stateDictOf('big', (a) => rebuiltTensor(a, [2 ** 52, 2 ** 52, 4], [0, 0, 1]))],
    ['an element count that overflows to Infinity', stateDictOf('big', (a) => rebuiltTensor(a, huge, Array(24).fill(0)))],
    ['an empty tensor whose other dims overflow', stateDictOf('empty', (a) => rebuiltTensor(a, [...huge, 0], Array(25).fill(0)))],
    ['a stride beyond 2^53', stateDictOf('w', (a) => rebuiltTensor(a, [3, 2], [2 ** 52, 1]))],
  ];
}

/** Pickles Python wrote for the test fixtures, and the data.pkl of each fixture checkpoint. */
async function fixturePickles(): Promise<[string, Uint8Array][]> {
  const out: [string, Uint8Array][] = [];
  for (const f of ['plain_p2.pkl', 'plain_p4.pkl', 'bytes_p4.pkl', 'bytes_p2.pkl']) {
    out.push([f, new Uint8Array(readFileSync(join(FIXTURES, f)))]);
  }
  for (const f of ['small_proto4.pt', 'unsafe_global.pt']) {
    const zip = await ZipReader.open(bufferSource(new Uint8Array(readFileSync(join(FIXTURES, f))), f));
    const pkl = [...zip.entries.values()].find((e) => e.name.endsWith('/data.pkl'))!;
    out.push([`${f}:data.pkl`, new Uint8Array(await zip.read(pkl))]);
  }
  return out;
}

/** A small state dict: several storage types, a transposed view, an offset view, a stride-0 expansion,
 *  a scalar, an empty tensor, two tensors sharing a storage, and a parameter. */
export const SAMPLE_STORAGES: readonly CkptStorage[] = [
  { key: '0', cls: 'FloatStorage', numel: 12 },
  { key: '1', cls: 'HalfStorage', numel: 6 },
  { key: '2', cls: 'LongStorage', numel: 3 },
  { key: '3', cls: 'BoolStorage', numel: 4 },
  { key: '4', cls: 'FloatStorage', numel: 4 },
  { key: '5', cls: 'DoubleStorage', numel: 1 },
  { key: '6', cls: 'BFloat16Storage', numel: 0 },
];

export const SAMPLE_TENSORS: readonly CkptTensor[] = [
  { name: 'conv.weight', storage: '0', offset: 0, shape: [3, 4], stride: [4, 1], parameter: true },
  { name: 'conv.weight_t', storage: '0', offset: 0, shape: [4, 3], stride: [1, 4] },
  { name: 'half.view', storage: '1', offset: 2, shape: [2, 2], stride: [2, 1] },
  { name: 'idx', storage: '2', offset: 0, shape: [3], stride: [1] },
  { name: 'mask', storage: '3', offset: 0, shape: [2, 2], stride: [2, 1] },
  { name: 'pos_embed', storage: '4', offset: 0, shape: [3, 4], stride: [0, 1] },
  { name: 'scale', storage: '5', offset: 0, shape: [], stride: [] },
  { name: 'empty', storage: '6', offset: 0, shape: [0, 5], stride: [5, 1] },
];

let pickleSeeds: Promise<[string, Uint8Array][]> | undefined;

/** Valid pickles covering every opcode the reader supports. */
export function pickleCorpus(): Promise<[string, Uint8Array][]> {
  pickleSeeds ??= (async () => [
    ['checkpoint protocol 2', checkpointPickle(2, SAMPLE_STORAGES, SAMPLE_TENSORS)],
    ['checkpoint protocol 4', checkpointPickle(4, SAMPLE_STORAGES, SAMPLE_TENSORS)],
    ['checkpoint protocol 5, bare state dict', checkpointPickle(5, SAMPLE_STORAGES.slice(0, 2), SAMPLE_TENSORS.slice(0, 3), false)],
    ['plain values protocol 2', plainValuesPickle(2)],
    ['plain values protocol 4', plainValuesPickle(4)],
    ['checkpoint with 4- and 8-byte integers', checkpointPickle(2, SAMPLE_STORAGES, SAMPLE_TENSORS, true, true)],
    ...edgePickles(),
    ...(await fixturePickles()),
  ])();
  return pickleSeeds;
}

// ---------------------------------------------------------------------------------------------------------
// Zip

export interface ZipEntrySpec {
  name: string;
  data: Uint8Array;
  /** 0 stored, 8 deflate; anything else is written with the data as is. */
  method: number;
  flags?: number;
  /** CRC-32 to record instead of the data's own. */
  crc?: number;
  /** Uncompressed size to record instead of the data's own. */
  declaredSize?: number;
  /** ZIP64 only: bytes of the 24-byte extended-information payload actually written, and the length its
   *  header declares (both 24 by default). */
  zip64Kept?: number;
  zip64Declared?: number;
  /** Extra fields written into the central directory entry ahead of the ZIP64 one. */
  extra?: Uint8Array;
}

export interface ZipOptions {
  /** Align stored data to 64 bytes with an 'FB' extra field, as torch.save does. */
  align?: boolean;
  /** Sizes and offsets in ZIP64 extended-information fields, with a ZIP64 end record and locator. */
  zip64?: boolean;
  comment?: Uint8Array;
}

/** An append-only byte buffer that notes where integer fields go. */
class ByteWriter {
  private buf = new Uint8Array(1024);
  private dv = new DataView(this.buf.buffer);
  pos = 0;
  readonly fields: IntField[] = [];

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  bytes(b: Uint8Array | readonly number[]): void {
    this.reserve(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A little-endian integer field, noted for mutations. */
  int(v: number | bigint, width: 2 | 4 | 8): void {
    this.fields.push({ at: this.pos, width });
    this.reserve(width);
    if (width === 2) this.dv.setUint16(this.pos, Number(v), true);
    else if (width === 4) this.dv.setUint32(this.pos, Number(v), true);
    else this.dv.setBigUint64(this.pos, BigInt(v), true);
    this.pos += width;
  }

  /** A signature or other constant: not a mutation target of its own. */
  u32(v: number): void {
    this.reserve(4);
    this.dv.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  zeros(n: number): void {
    this.reserve(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }

  done(): AssembledFile {
    return { bytes: this.buf.slice(0, this.pos), fields: this.fields };
  }
}

/** Deflated bodies by their uncompressed data, so that unchanged entries are not compressed again. */
const deflated = new WeakMap<Uint8Array, Uint8Array>();

function deflate(data: Uint8Array): Uint8Array {
  let d = deflated.get(data);
  if (!d) {
    d = new Uint8Array(deflateRawSync(data));
    deflated.set(data, d);
  }
  return d;
}

/** CRC-32 by data, for the same reason. */
const crcs = new WeakMap<Uint8Array, number>();

function crcOf(data: Uint8Array): number {
  let c = crcs.get(data);
  if (c === undefined) {
    c = crc32(data);
    crcs.set(data, c);
  }
  return c;
}

/** Writes a zip archive, noting the position of every integer field. */
export function writeZip(entries: readonly ZipEntrySpec[], opts: ZipOptions = {}): AssembledFile {
  const w = new ByteWriter();
  const version = opts.zip64 ? 45 : 20;
  const central: { e: ZipEntrySpec; name: Uint8Array; crc: number; csize: number; offset: number }[] = [];
  for (const e of entries) {
    const body = e.method === 8 ? deflate(e.data) : e.data;
    const name = utf8.encode(e.name);
    const crc = e.crc ?? crcOf(e.data);
    const offset = w.pos;
    // torch.save aligns stored data to 64 bytes with an 'FB' extra field of padding.
    let pad = 0;
    if (opts.align && e.method === 0) pad = 4 + ((64 - ((offset + 30 + name.length + 4) % 64)) % 64);
    w.u32(0x04034b50);
    w.int(version, 2);
    w.int(e.flags ?? 0, 2);
    w.int(e.method, 2);
    w.bytes([0, 0, 0x21, 0]); // time 00:00, date 1980-01-01
    w.int(crc, 4);
    w.int(body.length, 4);
    w.int(e.declaredSize ?? e.data.length, 4);
    w.int(name.length, 2);
    w.int(pad, 2);
    w.bytes(name);
    if (pad) {
      w.int(0x4246, 2);
      w.int(pad - 4, 2);
      w.bytes(new Uint8Array(pad - 4).fill(0x5a));
    }
    w.bytes(body);
    central.push({ e, name, crc, csize: body.length, offset });
  }
  const cdStart = w.pos;
  for (const { e, name, crc, csize, offset } of central) {
    const size = e.declaredSize ?? e.data.length;
    const extra = e.extra ?? new Uint8Array(0);
    const kept = Math.max(0, Math.min(24, e.zip64Kept ?? 24));
    w.u32(0x02014b50);
    w.int(version, 2); // made by
    w.int(version, 2); // needed
    w.int(e.flags ?? 0, 2);
    w.int(e.method, 2);
    w.bytes([0, 0, 0x21, 0]);
    w.int(crc, 4);
    w.int(opts.zip64 ? 0xffffffff : csize, 4);
    w.int(opts.zip64 ? 0xffffffff : size, 4);
    w.int(name.length, 2);
    w.int(extra.length + (opts.zip64 ? 4 + kept : 0), 2);
    w.int(0, 2); // comment length
    w.zeros(8); // disk, internal and external attributes
    w.int(opts.zip64 ? 0xffffffff : offset, 4);
    w.bytes(name);
    w.bytes(extra);
    if (opts.zip64) {
      w.int(0x0001, 2);
      w.int(e.zip64Declared ?? kept, 2);
      const start = w.pos;
      w.int(size, 8);
      w.int(csize, 8);
      w.int(offset, 8);
      // Cut the payload short (the bytes past it are overwritten), with the fields it held.
      w.pos = start + kept;
      while (w.fields.length && w.fields[w.fields.length - 1].at + w.fields[w.fields.length - 1].width > w.pos) w.fields.pop();
    }
  }
  const cdSize = w.pos - cdStart;
  if (opts.zip64) {
    const recAt = w.pos;
    w.u32(0x06064b50);
    w.int(44, 8);
    w.int(45, 2);
    w.int(45, 2);
    w.zeros(8); // disk numbers
    w.int(central.length, 8);
    w.int(central.length, 8);
    w.int(cdSize, 8);
    w.int(cdStart, 8);
    w.u32(0x07064b50);
    w.int(0, 4);
    w.int(recAt, 8);
    w.int(1, 4);
  }
  const comment = opts.comment ?? new Uint8Array(0);
  w.u32(0x06054b50);
  w.zeros(4);
  w.int(opts.zip64 ? 0xffff : central.length, 2);
  w.int(opts.zip64 ? 0xffff : central.length, 2);
  w.int(opts.zip64 ? 0xffffffff : cdSize, 4);
  w.int(opts.zip64 ? 0xffffffff : cdStart, 4);
  w.int(comment.length, 2);
  w.bytes(comment);
  return w.done();
}

/** A checkpoint archive as entries, so that mutations can edit entries and re-assemble a consistent zip. */
export interface CheckpointSeed {
  name: string;
  entries: ZipEntrySpec[];
  opts: ZipOptions;
  /** How often the seed is drawn relative to others (default 3). */
  weight?: number;
}

/** The entries torch.save writes around data.pkl and the storages. */
export function checkpointEntries(prefix: string, pkl: Uint8Array, storages: readonly CkptStorage[], method = 0): ZipEntrySpec[] {
  const text = (s: string) => utf8.encode(s);
  return [
    { name: `${prefix}/data.pkl`, data: pkl, method },
    { name: `${prefix}/.format_version`, data: text('1'), method },
    { name: `${prefix}/.storage_alignment`, data: text('64'), method },
    { name: `${prefix}/byteorder`, data: text('little'), method },
    ...storages.map((s, i) => ({
      name: `${prefix}/data/${s.key}`,
      data: bytesOf(s.numel * STORAGE_CLASSES[s.cls], 100 + i),
      method,
    })),
    { name: `${prefix}/version`, data: text('3\n'), method },
    { name: `${prefix}/.data/serialization_id`, data: text('1234567890'.repeat(4)), method },
  ];
}

/** A zip written elsewhere (a fixture), read back into entries. */
async function entriesOf(file: string): Promise<ZipEntrySpec[]> {
  const bytes = new Uint8Array(readFileSync(join(FIXTURES, file)));
  const zip = await ZipReader.open(bufferSource(bytes, file));
  const out: ZipEntrySpec[] = [];
  for (const e of zip.entries.values()) out.push({ name: e.name, data: new Uint8Array(await zip.read(e)), method: e.method });
  return out;
}

let checkpointSeeds: Promise<CheckpointSeed[]> | undefined;

/** Valid checkpoints: stored and deflated entries, ZIP64, an archive comment, fixtures written by torch. */
export function checkpointCorpus(): Promise<CheckpointSeed[]> {
  checkpointSeeds ??= (async () => {
    const p2 = checkpointPickle(2, SAMPLE_STORAGES, SAMPLE_TENSORS);
    const p4 = checkpointPickle(4, SAMPLE_STORAGES, SAMPLE_TENSORS);
    const mixed = checkpointEntries('mixed', p2, SAMPLE_STORAGES);
    mixed.forEach((e, i) => (e.method = i % 2 ? 8 : 0));
    const one = SAMPLE_STORAGES.slice(0, 1);
    const two = SAMPLE_STORAGES.slice(0, 2);
    const noByteorder = checkpointEntries('plain', checkpointPickle(2, one, SAMPLE_TENSORS.slice(0, 2), false), one);
    return [
      { name: 'torch layout, protocol 2', entries: checkpointEntries('archive', p2, SAMPLE_STORAGES), opts: { align: true } },
      {
        name: 'torch layout, protocol 4, ZIP64',
        entries: checkpointEntries('ckpt', p4, SAMPLE_STORAGES),
        opts: { align: true, zip64: true },
      },
      {
        name: 'deflated',
        entries: checkpointEntries('deflated', checkpointPickle(4, two, SAMPLE_TENSORS.slice(0, 3)), two, 8),
        opts: {},
        weight: 1,
      },
      {
        name: 'mixed stored and deflated, with comment',
        entries: mixed,
        opts: { comment: utf8.encode('written by a zip tool') },
        weight: 1,
      },
      { name: 'one tensor, no byteorder', entries: noByteorder.filter((e) => !e.name.endsWith('byteorder')), opts: { align: true } },
      { name: 'unsafe_global.pt', entries: await entriesOf('unsafe_global.pt'), opts: { align: true } },
      { name: 'small.pt', entries: await entriesOf('small.pt'), opts: { align: true } },
    ];
  })();
  return checkpointSeeds;
}
