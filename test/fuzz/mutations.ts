/**
 * Mutations of valid files, as fast-check arbitraries.
 *
 * An input is a recipe: a seed from the corpus plus lists of mutations, applied in three layers:
 *   1. structure-aware edits (safetensors header as JSON; pickle opcodes; zip entries, re-assembled with
 *      correct CRCs so that the edit reaches the code behind the CRC check),
 *   2. overwrites of known integer fields (lengths, sizes, offsets, counts) with extreme values,
 *   3. blind byte edits: bit flips, interesting byte values, inserted / deleted / duplicated ranges,
 *      truncation, little-endian integers with extreme values written anywhere.
 * Positions and indices are drawn as plain naturals and reduced modulo the size of what they index when
 * applied, so every recipe applies to every seed, and fast-check shrinks them towards the start.
 */
import fc from 'fast-check';
import {
  assembleSafetensors,
  concat,
  edgePickles,
  headerText,
  le,
  OP,
  PickleAsm,
  RawJson,
  walkPickle,
  writeZip,
  type CheckpointSeed,
  type IntField,
  type SafetensorsSeed,
  type ZipEntrySpec,
} from './corpus.js';
import { crc32 } from '../../src/runtime/bytes.js';

// ---------------------------------------------------------------------------------------------------------
// Integer values

/**
 * A value to write into an integer field: one of the classic boundary values, a value relative to the file
 * size, or the field's own value plus a small delta (an off-by-some size or offset).
 */
export type IntValue = { fixed: bigint } | { rel: number } | { delta: number };

export const INTERESTING_INTS: readonly bigint[] = [
  0n, 1n, 2n, 7n, 8n, 0x7fn, 0x80n, 0xffn, 0x100n, 0x7fffn, 0x8000n, 0xffffn, 0x10000n,
  2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n,
  2n ** 60n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n,
];

const intValueArb: fc.Arbitrary<IntValue> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...INTERESTING_INTS).map((fixed) => ({ fixed })) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((fixed) => ({ fixed })) },
  { weight: 2, arbitrary: fc.integer({ min: -64, max: 64 }).map((rel) => ({ rel })) },
  { weight: 2, arbitrary: fc.integer({ min: -64, max: 64 }).map((delta) => ({ delta })) },
);

function readInt(b: Uint8Array, at: number, width: number): bigint {
  let v = 0n;
  for (let i = width - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[at + i]);
  return v;
}

function intOf(v: IntValue, size: number, current = 0n): bigint {
  if ('fixed' in v) return v.fixed;
  if ('rel' in v) return BigInt(Math.max(0, size + v.rel));
  return current + BigInt(v.delta);
}

function writeInt(b: Uint8Array, f: IntField, v: IntValue): void {
  if (f.at + f.width > b.length) return;
  b.set(le(intOf(v, b.length, 'delta' in v ? readInt(b, f.at, f.width) : 0n), f.width), f.at);
}

// ---------------------------------------------------------------------------------------------------------
// Blind byte mutations

export type ByteMutation =
  | { k: 'flip'; pos: number; bit: number }
  | { k: 'set'; pos: number; value: number }
  | { k: 'insert'; pos: number; bytes: Uint8Array }
  | { k: 'delete'; pos: number; len: number }
  | { k: 'dup'; pos: number; len: number; to: number }
  | { k: 'truncate'; len: number }
  | { k: 'int'; pos: number; width: 1 | 2 | 4 | 8; value: IntValue };

// fast-check favours small numbers; positions are drawn mostly without that bias so that edits spread over
// the whole file instead of piling up on its first bytes.
const pos = fc.oneof(fc.nat({ max: 1 << 20 }), { weight: 3, arbitrary: fc.noBias(fc.nat({ max: 1 << 20 })) });
/** An index into a list (entries, opcodes, fields), reduced modulo its length. */
const index = fc.oneof(fc.nat(), { weight: 3, arbitrary: fc.noBias(fc.nat({ max: 1 << 20 })) });
const shortLen = fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 4096 }));

export const byteMutationArb: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.record({ k: fc.constant('flip' as const), pos, bit: fc.nat(7) }),
  fc.record({ k: fc.constant('set' as const), pos, value: fc.oneof(fc.constantFrom(0, 0xff, 0x7f, 0x80, 1, 0x0a, 0x2e), fc.nat(255)) }),
  fc.record({ k: fc.constant('insert' as const), pos, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ k: fc.constant('delete' as const), pos, len: shortLen }),
  fc.record({ k: fc.constant('dup' as const), pos, len: shortLen, to: pos }),
  fc.record({ k: fc.constant('truncate' as const), len: pos }),
  fc.record({
    k: fc.constant('int' as const),
    pos,
    width: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const),
    value: intValueArb,
  }),
);

/** Applies byte mutations to a copy of `input`. */
export function mutateBytes(input: Uint8Array, muts: readonly ByteMutation[]): Uint8Array {
  let b = input;
  let copied = false;
  const own = () => {
    if (!copied) b = b.slice();
    copied = true;
  };
  for (const m of muts) {
    const n = b.length;
    switch (m.k) {
      case 'flip':
        if (n) {
          own();
          b[m.pos % n] ^= 1 << m.bit;
        }
        break;
      case 'set':
        if (n) {
          own();
          b[m.pos % n] = m.value;
        }
        break;
      case 'insert': {
        const at = m.pos % (n + 1);
        b = concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        copied = true;
        break;
      }
      case 'delete': {
        if (!n) break;
        const at = m.pos % n;
        b = concat([b.subarray(0, at), b.subarray(Math.min(n, at + m.len))]);
        copied = true;
        break;
      }
      case 'dup': {
        if (!n) break;
        const from = m.pos % n;
        const piece = b.subarray(from, Math.min(n, from + m.len));
        const to = m.to % (n + 1);
        b = concat([b.subarray(0, to), piece, b.subarray(to)]);
        copied = true;
        break;
      }
      case 'truncate':
        b = b.subarray(0, m.len % (n + 1));
        break;
      case 'int':
        if (n >= m.width) {
          own();
          writeInt(b, { at: m.pos % (n - m.width + 1), width: m.width }, m.value);
        }
        break;
    }
  }
  return b;
}

/** Overwrites of recorded integer fields. */
export interface FieldMutation {
  field: number;
  value: IntValue;
}

const fieldMutationArb: fc.Arbitrary<FieldMutation> = fc.record({ field: index, value: intValueArb });

function mutateFields(b: Uint8Array, fields: readonly IntField[], muts: readonly FieldMutation[]): void {
  if (!fields.length) return;
  for (const m of muts) writeInt(b, fields[m.field % fields.length], m.value);
}

/** What every generated input carries: the bytes, and how they were made (printed when a property fails). */
export interface FuzzInput {
  bytes: Uint8Array;
  recipe: unknown;
}

const randomBytesArb: fc.Arbitrary<FuzzInput> = fc
  .uint8Array({ maxLength: 512 })
  .map((bytes) => ({ bytes, recipe: { random: bytes.length } }));

// ---------------------------------------------------------------------------------------------------------
// safetensors: header edits

/** A JSON value to put somewhere in a header. */
const deepNest = fc
  .record({ depth: fc.constantFrom(10, 100, 2_000, 6_000, 20_000), kind: fc.constantFrom('[', '{') })
  .map(({ depth, kind }) =>
    kind === '[' ? new RawJson('['.repeat(depth) + ']'.repeat(depth)) : new RawJson('{"a":'.repeat(depth) + '1' + '}'.repeat(depth)),
  );

const wideArray = fc
  .record({ n: fc.constantFrom(100, 1_000, 20_000), v: fc.constantFrom('0', '1', '2', '1e300') })
  .map(({ n, v }) => new RawJson(`[${Array(n).fill(v).join(',')}]`));

/** Number spellings JSON.parse accepts or rejects, including out-of-range and non-integer ones. */
const NUMBER_TEXTS = [
  '-1', '-0', '0.5', '1e-7', '1e400', '-1e400', '2147483647', '4294967295', '4294967296', '9007199254740991',
  '9007199254740992', '9007199254740993', '1152921504606846976', '18446744073709551615', '1'.repeat(400),
  '00', '0x10', '+1', '1.', '.5', 'NaN', 'Infinity', '1e2', '3.0',
];

const jsonValueArb: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom<unknown>(
      2 ** 31 - 1, 2 ** 32 - 1, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 2 ** 60, 1e300, -1, -(2 ** 53), 0.5, 1e-7, 0, 1, 3, -0,
      true, null, '', 'F32', 'F16', 'BF16', 'I64', 'I32', 'U8', 'BOOL', 'F64', 'f32', 'F8_E4M3', '__proto__',
      [], {}, [0], [1], [0, 0], [-1, 4], [2 ** 53, 2 ** 53], [1, 2, 3], [[1]], { a: 1 }, ['1'], [null],
    ),
  },
  { weight: 2, arbitrary: fc.integer().map((n) => n) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.array(fc.oneof(fc.nat(), fc.constantFrom(2 ** 53 - 1, 2 ** 40, 0)), { maxLength: 6 }) },
  { weight: 1, arbitrary: deepNest },
  { weight: 1, arbitrary: wideArray },
  { weight: 1, arbitrary: fc.constantFrom(...NUMBER_TEXTS).map((t) => new RawJson(t)) },
);

const TENSOR_FIELDS = ['dtype', 'shape', 'data_offsets'] as const;

export type JsonMutation =
  | { k: 'set'; t: number; f: (typeof TENSOR_FIELDS)[number]; v: unknown }
  | { k: 'item'; t: number; f: 'shape' | 'data_offsets'; i: number; v: unknown }
  | { k: 'delete'; t: number; f: (typeof TENSOR_FIELDS)[number] }
  | { k: 'extra'; t: number; key: string; v: unknown }
  | { k: 'entry'; t: number; v: unknown }
  | { k: 'rename'; t: number; name: string }
  | { k: 'duplicate'; t: number }
  | { k: 'swap'; a: number; b: number }
  | { k: 'meta'; key: string; v: unknown }
  | { k: 'number'; i: number; text: string }
  | { k: 'whole'; v: unknown }
  | { k: 'data'; delta: number };

const tensorIndex = index;

export const jsonMutationArb: fc.Arbitrary<JsonMutation> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ k: fc.constant('set' as const), t: tensorIndex, f: fc.constantFrom(...TENSOR_FIELDS), v: jsonValueArb }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('item' as const),
      t: tensorIndex,
      f: fc.constantFrom('shape' as const, 'data_offsets' as const),
      i: fc.nat(4),
      v: jsonValueArb,
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('delete' as const), t: tensorIndex, f: fc.constantFrom(...TENSOR_FIELDS) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('extra' as const),
      t: tensorIndex,
      key: fc.constantFrom('x', '__proto__', 'dtype '),
      v: jsonValueArb,
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('entry' as const), t: tensorIndex, v: jsonValueArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('rename' as const),
      t: tensorIndex,
      name: fc.oneof(fc.constantFrom('__metadata__', '__proto__', '', 'constructor', 'x'.repeat(5000)), fc.string({ maxLength: 8 })),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('duplicate' as const), t: tensorIndex }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('swap' as const), a: tensorIndex, b: tensorIndex }) },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant('meta' as const), key: fc.constantFrom('format', '__proto__', ''), v: jsonValueArb }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('number' as const), i: index, text: fc.constantFrom(...NUMBER_TEXTS) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('whole' as const), v: jsonValueArb }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('data' as const), delta: fc.integer({ min: -64, max: 64 }) }) },
);

/** A fresh copy of a generated JSON value: constants are shared between runs and must not be edited. */
function fresh(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fresh);
  if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fresh(x)]));
  return v;
}

/** Sets an own property, even one named __proto__ (which a plain assignment would not create). */
function setOwn(o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof RawJson);
}

/** Header text after JSON edits, and the data section after size edits. */
function editHeader(seed: SafetensorsSeed, muts: readonly JsonMutation[]): { text: string; data: Uint8Array } {
  // Entries are copied one level deep (plus their shape and offset arrays) before being edited.
  let entries: [string, unknown][] = seed.entries.map(([k, v]) => [
    k,
    isObject(v) ? Object.fromEntries(Object.entries(v).map(([f, x]) => [f, Array.isArray(x) ? [...x] : x])) : v,
  ]);
  let whole: unknown;
  const numberEdits: { i: number; text: string }[] = [];
  let data = seed.data;
  for (const mut of muts) {
    const m = 'v' in mut ? { ...mut, v: fresh(mut.v) } : mut;
    const n = entries.length;
    const entry = n ? entries[(m as { t?: number }).t! % n] : undefined;
    switch (m.k) {
      case 'set':
        if (entry && isObject(entry[1])) entry[1][m.f] = m.v;
        break;
      case 'item':
        if (entry && isObject(entry[1]) && Array.isArray(entry[1][m.f])) {
          const arr = entry[1][m.f] as unknown[];
          arr[m.i % (arr.length + 1)] = m.v;
        }
        break;
      case 'delete':
        if (entry && isObject(entry[1])) delete entry[1][m.f];
        break;
      case 'extra':
        if (entry && isObject(entry[1])) setOwn(entry[1], m.key, m.v);
        break;
      case 'entry':
        if (entry) entry[1] = m.v;
        break;
      case 'rename':
        if (entry) entry[0] = m.name;
        break;
      case 'duplicate':
        if (entry) entries.push([entry[0], entry[1]]);
        break;
      case 'swap':
        if (n) {
          const a = entries[m.a % n][1];
          const b = entries[m.b % n][1];
          if (isObject(a) && isObject(b)) [a.data_offsets, b.data_offsets] = [b.data_offsets, a.data_offsets];
        }
        break;
      case 'meta': {
        const meta = entries.find(([k]) => k === '__metadata__');
        if (meta && isObject(meta[1])) setOwn(meta[1], m.key, m.v);
        else entries = [['__metadata__', m.key === 'format' ? m.v : { [m.key]: m.v }], ...entries];
        break;
      }
      case 'number':
        numberEdits.push(m);
        break;
      case 'whole':
        whole = m.v;
        break;
      case 'data':
        data = m.delta >= 0 ? concat([data, new Uint8Array(m.delta)]) : data.subarray(0, Math.max(0, data.length + m.delta));
        break;
    }
  }
  let text = whole !== undefined ? toJsonText(whole) : headerText(entries);
  for (const { i, text: t } of numberEdits) {
    // Replace the i-th number token (modulo how many there are).
    const tokens = [...text.matchAll(/-?\d+(\.\d+)?([eE][+-]?\d+)?/g)];
    if (!tokens.length) continue;
    const tok = tokens[i % tokens.length];
    text = text.slice(0, tok.index) + t + text.slice(tok.index! + tok[0].length);
  }
  return { text, data };
}

function toJsonText(v: unknown): string {
  return headerText([['x', v]]).slice('{"x":'.length, -1);
}

export interface SafetensorsRecipe {
  seed: number;
  json: JsonMutation[];
  fields: FieldMutation[];
  bytes: ByteMutation[];
}

export function buildSafetensors(seeds: readonly SafetensorsSeed[], r: SafetensorsRecipe): Uint8Array {
  const seed = seeds[r.seed % seeds.length];
  const { text, data } = r.json.length ? editHeader(seed, r.json) : { text: headerText(seed.entries), data: seed.data };
  const file = assembleSafetensors(text, data, seed.pad);
  mutateFields(file.bytes, file.fields, r.fields);
  return mutateBytes(file.bytes, r.bytes);
}

export function safetensorsInputArb(seeds: readonly SafetensorsSeed[]): fc.Arbitrary<FuzzInput> {
  const recipe = fc.record({
    seed: fc.nat(seeds.length - 1),
    json: fc.array(jsonMutationArb, { maxLength: 3 }),
    // The only field is the length prefix: edited in one input in five, so that most reach the JSON.
    fields: fc.oneof(
      { weight: 4, arbitrary: fc.constant<FieldMutation[]>([]) },
      fc.array(fieldMutationArb, { minLength: 1, maxLength: 1 }),
    ),
    bytes: fc.array(byteMutationArb, { maxLength: 3 }),
  });
  // Random bytes behind a length prefix that is plausible, or extreme.
  const prefixed = fc
    .record({ len: intValueArb, rest: fc.uint8Array({ maxLength: 256 }) })
    .map(({ len, rest }) => ({ bytes: concat([le(intOf(len, rest.length), 8), rest]), recipe: { prefixed: rest.length } }));
  return fc.oneof(
    { weight: 12, arbitrary: recipe.map((r) => ({ bytes: buildSafetensors(seeds, r), recipe: r })) },
    { weight: 1, arbitrary: randomBytesArb },
    { weight: 1, arbitrary: prefixed },
  );
}

// ---------------------------------------------------------------------------------------------------------
// Pickle: opcode edits

const enc = new TextEncoder();

/** Module and attribute names an unsafe unpickler would resolve to code. */
export const DANGEROUS_GLOBALS: readonly [string, string][] = [
  ['os', 'system'],
  ['posix', 'system'],
  ['nt', 'system'],
  ['builtins', 'eval'],
  ['builtins', 'exec'],
  ['builtins', 'getattr'],
  ['builtins', '__import__'],
  ['__builtin__', 'eval'],
  ['subprocess', 'Popen'],
  ['sentinel', 'call'],
  ['torch', 'load'],
  ['collections', 'defaultdict'],
  ['functools', 'partial'],
  ['torch._utils', '_rebuild_device_tensor_from_numpy'],
  ['numpy.core.multiarray', '_reconstruct'],
  // Names that would reach JavaScript internals through a lookup in a plain object.
  ['torch', '__proto__'],
  ['__proto__', 'constructor'],
  ['constructor', 'constructor'],
  ['collections', 'toString'],
  ['torch._utils', 'hasOwnProperty'],
];

function snippet(build: (a: PickleAsm) => void, protocol = 2): Uint8Array {
  const a = new PickleAsm(protocol);
  build(a);
  return a.bytesOut();
}

/** Opcode sequences to splice into pickles at opcode boundaries. */
export const PICKLE_SNIPPETS: readonly Uint8Array[] = [
  // Calls of globals outside the allow-list, through every opcode that calls or instantiates.
  ...DANGEROUS_GLOBALS.flatMap(([m, n]) => [
    snippet((a) => a.global(m, n).str('echo pwned').op(OP.TUPLE1).op(OP.REDUCE)),
    snippet((a) => a.global(m, n).str('id').op(OP.TUPLE1).op(OP.REDUCE), 4),
    snippet((a) => a.global(m, n).op(OP.EMPTY_DICT).op(OP.BUILD)),
  ]),
  snippet((a) => a.op(OP.MARK).op(OP.INST).raw(enc.encode('os\nsystem\n'))),
  snippet((a) => a.op(OP.MARK).global('sentinel', 'call').op(OP.OBJ)),
  snippet((a) => a.global('sentinel', 'call').op(OP.EMPTY_TUPLE).op(OP.NEWOBJ)),
  snippet((a) => a.global('sentinel', 'call').op(OP.EMPTY_TUPLE).op(OP.EMPTY_DICT).op(OP.NEWOBJ_EX)),
  snippet((a) => a.op(OP.EXT1, 1)),
  snippet((a) => a.op(OP.PERSID).raw(enc.encode('0\n'))),
  snippet((a) => a.op(OP.INT).raw(enc.encode('1\n'))),
  // Allowed globals used wrongly.
  snippet((a) => a.global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE)),
  snippet((a) => a.global('collections', 'OrderedDict').op(OP.EMPTY_LIST).op(OP.TUPLE1).op(OP.REDUCE)),
  snippet((a) => a.global('collections', 'OrderedDict').int(3).op(OP.TUPLE1).op(OP.REDUCE)),
  snippet((a) => a.global('torch._utils', '_rebuild_tensor_v2').op(OP.EMPTY_TUPLE).op(OP.REDUCE)),
  snippet((a) => a.global('torch._utils', '_rebuild_parameter').op(OP.NONE).op(OP.TUPLE1).op(OP.REDUCE)),
  snippet((a) => a.global('torch', 'FloatStorage').op(OP.EMPTY_TUPLE).op(OP.REDUCE)),
  snippet((a) => a.global('torch', 'FloatStorage')),
  // Storage references, good and bad.
  snippet((a) =>
    a.op(OP.MARK).str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(2 ** 40).op(OP.TUPLE).op(OP.BINPERSID),
  ),
  snippet((a) =>
    a.op(OP.MARK).str('storage').global('torch', 'HalfStorage').str('0').str('cpu').int(3).op(OP.TUPLE).op(OP.BINPERSID),
  ),
  snippet((a) =>
    a.op(OP.MARK).str('storage').global('torch', 'FloatStorage').str('../0').op(OP.EMPTY_LIST).int(1).op(OP.TUPLE).op(OP.BINPERSID),
  ),
  snippet((a) => a.str('x').op(OP.BINPERSID)),
  // Views far beyond their storage, and huge stride-0 expansions.
  snippet((a) =>
    a.global('torch._utils', '_rebuild_tensor_v2').op(OP.MARK)
      .op(OP.MARK).str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(12).op(OP.TUPLE).op(OP.BINPERSID)
      .int(0).int(2 ** 40).op(OP.TUPLE1).int(0).op(OP.TUPLE1).op(OP.NEWFALSE).op(OP.TUPLE).op(OP.REDUCE),
  ),
  snippet((a) =>
    a.global('torch._utils', '_rebuild_tensor_v2').op(OP.MARK)
      .op(OP.MARK).str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(12).op(OP.TUPLE).op(OP.BINPERSID)
      .int(2 ** 50).int(3).int(4).op(OP.TUPLE2).int(2 ** 52).int(1).op(OP.TUPLE2).op(OP.NEWFALSE).op(OP.TUPLE).op(OP.REDUCE),
  ),
  // Structure opcodes on their own.
  ...[OP.MARK, OP.STOP, OP.POP, OP.POP_MARK, OP.DUP, OP.TUPLE, OP.LIST, OP.DICT, OP.APPENDS, OP.SETITEMS, OP.SETITEM,
    OP.APPEND, OP.BUILD, OP.REDUCE, OP.EMPTY_DICT, OP.EMPTY_LIST, OP.EMPTY_TUPLE, OP.MEMOIZE, OP.STACK_GLOBAL,
    OP.TUPLE1, OP.TUPLE2, OP.TUPLE3, OP.NONE, OP.BINPERSID].map((op) => new Uint8Array([op])),
  // Lengths and indices at the limits.
  new Uint8Array([OP.BINUNICODE, 0xff, 0xff, 0xff, 0xff]),
  new Uint8Array([OP.BINUNICODE8, ...le(2n ** 60n, 8)]),
  new Uint8Array([OP.BINBYTES8, ...le(2n ** 63n, 8)]),
  new Uint8Array([OP.BINBYTES, ...le(2 ** 31 - 1, 4)]),
  new Uint8Array([OP.FRAME, ...le(2n ** 60n, 8)]),
  new Uint8Array([OP.LONG4, ...le(2 ** 31 - 1, 4)]),
  new Uint8Array([OP.LONG4, ...le(-1, 4)]),
  new Uint8Array([OP.LONG1, 255, ...new Uint8Array(255).fill(0xff)]),
  new Uint8Array([OP.LONG_BINGET, 0xff, 0xff, 0xff, 0xff]),
  new Uint8Array([OP.LONG_BINPUT, 0xff, 0xff, 0xff, 0xff]),
  new Uint8Array([OP.PROTO, 6]),
  new Uint8Array([OP.GLOBAL, ...enc.encode('torch\n'), ...new Uint8Array(600).fill(0x41), 0x0a]),
  // Deep nesting and wide fan-out, cheap to write and costly to print.
  snippet((a) => {
    for (let i = 0; i < 5000; i++) a.op(OP.EMPTY_LIST);
    for (let i = 0; i < 4999; i++) a.op(OP.APPEND);
  }),
  snippet((a) => {
    for (let i = 0; i < 5000; i++) a.op(OP.EMPTY_TUPLE).op(OP.TUPLE1);
  }),
  snippet((a) => {
    a.op(OP.MARK).str('y'.repeat(200), 'long');
    for (let i = 0; i < 2000; i++) a.op(OP.DUP);
    a.op(OP.LIST);
    for (let i = 0; i < 200; i++) a.op(OP.DUP);
    a.op(OP.TUPLE3);
  }),
  // A list containing itself.
  snippet((a) => a.op(OP.EMPTY_LIST).op(OP.BINPUT, 250).op(OP.BINGET, 250).op(OP.APPEND)),
];

export type PickleMutation =
  | { k: 'drop'; i: number }
  | { k: 'dupOp'; i: number; to: number }
  | { k: 'swap'; i: number; j: number }
  | { k: 'insert'; to: number; s: number }
  | { k: 'arg'; i: number; value: IntValue };

export const pickleMutationArb: fc.Arbitrary<PickleMutation> = fc.oneof(
  fc.record({ k: fc.constant('drop' as const), i: index }),
  fc.record({ k: fc.constant('dupOp' as const), i: index, to: index }),
  fc.record({ k: fc.constant('swap' as const), i: index, j: index }),
  { weight: 3, arbitrary: fc.record({ k: fc.constant('insert' as const), to: index, s: fc.nat(PICKLE_SNIPPETS.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('arg' as const), i: index, value: intValueArb }) },
);

/** Applies opcode-level edits; opcode boundaries are found again after each edit. */
export function mutatePickle(input: Uint8Array, muts: readonly PickleMutation[]): Uint8Array {
  let b = input;
  for (const m of muts) {
    const ops = walkPickle(b);
    // Boundaries: every opcode start, plus the end of the last opcode walked.
    const bounds = ops.map((o) => o.at);
    bounds.push(ops.length ? ops[ops.length - 1].end : 0);
    const op = (i: number) => ops[i % ops.length];
    switch (m.k) {
      case 'drop':
        if (ops.length) {
          const o = op(m.i);
          b = concat([b.subarray(0, o.at), b.subarray(o.end)]);
        }
        break;
      case 'dupOp':
        if (ops.length) {
          const o = op(m.i);
          const to = bounds[m.to % bounds.length];
          b = concat([b.subarray(0, to), b.subarray(o.at, o.end), b.subarray(to)]);
        }
        break;
      case 'swap':
        if (ops.length > 1) {
          let [x, y] = [op(m.i), op(m.j)];
          if (x.at > y.at) [x, y] = [y, x];
          if (x.at !== y.at) {
            b = concat([b.subarray(0, x.at), b.subarray(y.at, y.end), b.subarray(x.end, y.at), b.subarray(x.at, x.end), b.subarray(y.end)]);
          }
        }
        break;
      case 'insert': {
        const to = bounds[m.to % bounds.length];
        b = concat([b.subarray(0, to), PICKLE_SNIPPETS[m.s], b.subarray(to)]);
        break;
      }
      case 'arg': {
        const withInt = ops.filter((o) => o.int);
        if (withInt.length) {
          b = b.slice();
          writeInt(b, withInt[m.i % withInt.length].int!, m.value);
        }
        break;
      }
    }
  }
  return b;
}

export interface PickleRecipe {
  seed: number;
  ops: PickleMutation[];
  bytes: ByteMutation[];
}

export function buildPickle(seeds: readonly [string, Uint8Array][], r: PickleRecipe): Uint8Array {
  return mutateBytes(mutatePickle(seeds[r.seed % seeds.length][1], r.ops), r.bytes);
}

export function pickleInputArb(seeds: readonly [string, Uint8Array][]): fc.Arbitrary<FuzzInput> {
  const recipe = fc.record({
    seed: fc.nat(seeds.length - 1),
    ops: fc.array(pickleMutationArb, { maxLength: 4 }),
    bytes: fc.array(byteMutationArb, { maxLength: 2 }),
  });
  // Opcode soup: snippets strung together after a protocol header, ending in STOP.
  const soup = fc
    .array(fc.nat(PICKLE_SNIPPETS.length - 1), { minLength: 1, maxLength: 12 })
    .map((idx) => ({ bytes: concat([[OP.PROTO, 2], ...idx.map((i) => PICKLE_SNIPPETS[i]), [OP.STOP]]), recipe: { soup: idx } }));
  return fc.oneof(
    { weight: 10, arbitrary: recipe.map((r) => ({ bytes: buildPickle(seeds, r), recipe: r })) },
    { weight: 2, arbitrary: soup },
    { weight: 1, arbitrary: randomBytesArb },
  );
}

// ---------------------------------------------------------------------------------------------------------
// Zip checkpoints: entry edits

/** Pickles that reach the checkpoint reader's edges, substituted for data.pkl. */
const EDGE_PICKLES = edgePickles();

const ENTRY_NAMES = [
  'data.pkl', 'a/data.pkl', 'b/data.pkl', 'archive/constants.pkl', 'archive/data/0', 'archive/data/99', 'archive/byteorder',
  '', '../data.pkl', 'é/data.pkl', 'archive/data/a b', 'archive/data/__proto__', 'x'.repeat(300),
];

export type CheckpointMutation =
  | { k: 'pickle'; ops: PickleMutation[] }
  | { k: 'content'; i: number; bytes: ByteMutation[]; keepCrc: boolean }
  | { k: 'drop'; i: number }
  | { k: 'duplicate'; i: number }
  | { k: 'rename'; i: number; name: string; keepPrefix: boolean }
  | { k: 'method'; i: number; method: number }
  | { k: 'flags'; i: number; flags: number }
  | { k: 'byteorder'; text: string }
  | { k: 'options'; align: boolean; zip64: boolean; comment: number }
  | { k: 'replacePickle'; s: number }
  | { k: 'zip64Extra'; i: number; kept: number; declared: 'kept' | 'full' }
  | { k: 'extraField'; i: number; bytes: Uint8Array }
  | { k: 'inflate'; i: number; zeros: number; declared: 'original' | 'huge' | 'exact' };

export const checkpointMutationArb: fc.Arbitrary<CheckpointMutation> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ k: fc.constant('pickle' as const), ops: fc.array(pickleMutationArb, { minLength: 1, maxLength: 3 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('content' as const),
      i: index,
      bytes: fc.array(byteMutationArb, { minLength: 1, maxLength: 2 }),
      keepCrc: fc.boolean(),
    }),
  },
  fc.record({ k: fc.constant('drop' as const), i: index }),
  fc.record({ k: fc.constant('duplicate' as const), i: index }),
  fc.record({ k: fc.constant('rename' as const), i: index, name: fc.constantFrom(...ENTRY_NAMES), keepPrefix: fc.boolean() }),
  fc.record({ k: fc.constant('method' as const), i: index, method: fc.constantFrom(0, 8, 12, 99) }),
  fc.record({ k: fc.constant('flags' as const), i: index, flags: fc.constantFrom(1, 8, 0x800) }),
  fc.record({ k: fc.constant('byteorder' as const), text: fc.constantFrom('big', 'little\n', '', 'LITTLE') }),
  fc.record({ k: fc.constant('options' as const), align: fc.boolean(), zip64: fc.boolean(), comment: fc.constantFrom(0, 1, 100, 65535) }),
  { weight: 2, arbitrary: fc.record({ k: fc.constant('replacePickle' as const), s: index }) },
  fc.record({
    k: fc.constant('zip64Extra' as const),
    i: index,
    kept: fc.nat(24),
    declared: fc.constantFrom('kept' as const, 'full' as const),
  }),
  fc.record({ k: fc.constant('extraField' as const), i: index, bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
  fc.record({
    k: fc.constant('inflate' as const),
    i: index,
    zeros: fc.constantFrom(1 << 10, 1 << 16, 1 << 20, 1 << 22),
    declared: fc.constantFrom('original' as const, 'huge' as const, 'exact' as const),
  }),
);

/** Shared runs of zeros (compressed once, then from the writer's cache): deflate shrinks them ~1000:1. */
const zeroRuns = new Map<number, Uint8Array>();

function zeros(n: number): Uint8Array {
  let z = zeroRuns.get(n);
  if (!z) zeroRuns.set(n, (z = new Uint8Array(n)));
  return z;
}

function editCheckpoint(
  seed: CheckpointSeed,
  muts: readonly CheckpointMutation[],
): { entries: ZipEntrySpec[]; opts: CheckpointSeed['opts'] } {
  const entries = seed.entries.map((e) => ({ ...e }));
  let opts = seed.opts;
  const prefix = entries.find((e) => e.name.endsWith('/data.pkl'))?.name.slice(0, -'data.pkl'.length) ?? '';
  for (const m of muts) {
    const n = entries.length;
    const e = n ? entries[((m as { i?: number }).i ?? 0) % n] : undefined;
    switch (m.k) {
      case 'pickle': {
        const pkl = entries.find((x) => x.name.endsWith('data.pkl'));
        if (pkl) pkl.data = mutatePickle(pkl.data, m.ops);
        break;
      }
      case 'content':
        if (e) {
          // keepCrc: record the CRC of the data before the edit, so that the CRC check has to catch it;
          // otherwise the writer records the CRC of the edited data, and the edit reaches the parser.
          if (m.keepCrc && e.crc === undefined) e.crc = crc32(e.data);
          e.data = mutateBytes(e.data, m.bytes);
        }
        break;
      case 'drop':
        if (e) entries.splice(entries.indexOf(e), 1);
        break;
      case 'duplicate':
        if (e) entries.push({ ...e });
        break;
      case 'rename':
        if (e) e.name = m.keepPrefix ? prefix + m.name : m.name;
        break;
      case 'method':
        if (e) e.method = m.method;
        break;
      case 'flags':
        if (e) e.flags = m.flags;
        break;
      case 'byteorder': {
        const bo = entries.find((x) => x.name.endsWith('byteorder'));
        if (bo) bo.data = enc.encode(m.text);
        break;
      }
      case 'options':
        opts = { align: m.align, zip64: m.zip64, comment: m.comment ? new Uint8Array(m.comment).fill(0x50) : undefined };
        break;
      case 'replacePickle': {
        const pkl = entries.find((x) => x.name.endsWith('data.pkl'));
        if (pkl) pkl.data = EDGE_PICKLES[m.s % EDGE_PICKLES.length][1];
        break;
      }
      case 'zip64Extra':
        if (e) {
          opts = { ...opts, zip64: true };
          e.zip64Kept = m.kept;
          e.zip64Declared = m.declared === 'full' ? 24 : m.kept;
        }
        break;
      case 'extraField':
        if (e) e.extra = m.bytes;
        break;
      case 'inflate':
        // A deflated entry of zeros whose recorded size is its old one, absurdly large, or right.
        if (e) {
          const before = e.data.length;
          e.method = 8;
          e.data = zeros(m.zeros);
          e.declaredSize = m.declared === 'original' ? before : m.declared === 'huge' ? 2 ** 40 : undefined;
        }
        break;
    }
  }
  return { entries, opts };
}

export interface CheckpointRecipe {
  seed: number;
  entries: CheckpointMutation[];
  fields: FieldMutation[];
  bytes: ByteMutation[];
}

export function buildCheckpoint(seeds: readonly CheckpointSeed[], r: CheckpointRecipe): Uint8Array {
  const seed = seeds[r.seed % seeds.length];
  const { entries, opts } = r.entries.length ? editCheckpoint(seed, r.entries) : seed;
  const file = writeZip(entries, opts);
  mutateFields(file.bytes, file.fields, r.fields);
  return mutateBytes(file.bytes, r.bytes);
}

export function checkpointInputArb(seeds: readonly CheckpointSeed[]): fc.Arbitrary<FuzzInput> {
  // Deflated seeds are drawn less often: every read of a deflated entry runs a DecompressionStream.
  const picks = seeds.flatMap((s, i) => Array<number>(s.weight ?? 3).fill(i));
  const recipe = fc.record({
    seed: fc.constantFrom(...picks),
    entries: fc.array(checkpointMutationArb, { maxLength: 3 }),
    fields: fc.array(fieldMutationArb, { maxLength: 2 }),
    // Blind edits that shift bytes break every offset after them: one input in three gets some.
    bytes: fc.oneof({ weight: 2, arbitrary: fc.constant<ByteMutation[]>([]) }, fc.array(byteMutationArb, { minLength: 1, maxLength: 2 })),
  });
  // A zip signature in front of random bytes, and random bytes behind a valid-looking end record.
  const framed = fc.uint8Array({ maxLength: 512 }).map((rest) => ({
    bytes: concat([[0x50, 0x4b, 0x03, 0x04], rest, [0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 1, 0, 1, 0], le(46, 4), le(0, 4), [0, 0]]),
    recipe: { framed: rest.length },
  }));
  return fc.oneof(
    { weight: 12, arbitrary: recipe.map((r) => ({ bytes: buildCheckpoint(seeds, r), recipe: r })) },
    { weight: 1, arbitrary: randomBytesArb },
    { weight: 1, arbitrary: framed },
  );
}
