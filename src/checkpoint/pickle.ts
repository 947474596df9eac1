/**
 * A safe, minimal unpickler for PyTorch zip checkpoints (what `torch.save({"model": state_dict}, f)` writes),
 * and the checkpoint reader built on it.
 *
 * Nothing here executes Python or any code named by the pickle. The interpreter knows only the opcodes that
 * torch.save emits for nested dicts / lists / tuples of tensors and plain values (protocols 2–5), and only
 * the globals in ALLOWED_GLOBALS, each implemented here in TypeScript as data construction:
 *   - torch._utils._rebuild_tensor_v2 / _rebuild_tensor → a TorchTensor (a view on a storage),
 *   - torch._utils._rebuild_parameter(_with_state)      → the same TorchTensor,
 *   - collections.OrderedDict                            → a PickleDict,
 *   - torch.<Type>Storage                                → a storage type (dtype) marker.
 * Any other global or opcode is refused with a FormatError (UnsafePickleError for globals) that names it.
 *
 * Checkpoint layout (zip, entries stored uncompressed, 64-byte aligned):
 *   <archive>/data.pkl        the pickle; tensors reference storages through BINPERSID
 *                             ('storage', <torch.XStorage>, '<key>', '<location>', <numel>)
 *   <archive>/data/<key>      raw little-endian storage bytes
 *   <archive>/byteorder       'little' (absent in older files, which are little-endian)
 *   <archive>/version, .format_version, .storage_alignment, .data/serialization_id
 *
 * Tensors may be views (storage offset, arbitrary non-negative strides, several tensors sharing one
 * storage): readTensor() returns the tensor's elements in row-major order, reading only the storage range
 * the view touches.
 */
import { FormatError } from '../runtime/errors.js';
import { aligned, copyBytes } from '../runtime/bytes.js';
import { ELEMENT_BYTES } from '../runtime/dtype.js';
import type { ByteSource } from '../runtime/safetensors.js';
import { STORAGE_TYPES, torchName, type TorchDType } from './torch_names.js';
import { ZipReader, type ZipEntry } from './zip.js';

/** A pickle names a global (GLOBAL / STACK_GLOBAL) outside the allow-list. */
export class UnsafePickleError extends FormatError {
  constructor(
    message: string,
    readonly global: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Values the unpickler produces

/** A storage referenced by BINPERSID: raw bytes in `<archive>/data/<key>`. */
export class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: TorchDType,
    /** Element count recorded in the pickle. */
    readonly numel: number,
    readonly location: string,
  ) {}
}

/** A tensor: a strided view on a storage. Offset and strides are in elements. */
export class TorchTensor {
  constructor(
    readonly storage: StorageRef,
    readonly storageOffset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
    readonly requiresGrad: boolean,
  ) {}

  get dtype(): TorchDType {
    return this.storage.dtype;
  }

  get numel(): number {
    let n = 1;
    for (const d of this.shape) n *= d;
    // A zero dim empties the tensor even when the other dims multiply past the float range (NaN otherwise).
    return Number.isNaN(n) ? 0 : n;
  }

  /** True when the elements are laid out densely in row-major order (size-1 dims may have any stride). */
  get isContiguous(): boolean {
    let expect = 1;
    for (let d = this.shape.length - 1; d >= 0; d--) {
      if (this.shape[d] !== 1 && this.stride[d] !== expect) return this.numel === 0;
      expect *= this.shape[d];
    }
    return true;
  }

  /** Number of storage elements from storageOffset to the last element the view touches (0 if empty). */
  get extent(): number {
    if (this.numel === 0) return 0;
    let last = 0;
    for (let d = 0; d < this.shape.length; d++) last += (this.shape[d] - 1) * this.stride[d];
    return last + 1;
  }
}

/** A Python dict (or OrderedDict). BUILD state (e.g. a state_dict's `_metadata`) is kept in `attrs`. */
export class PickleDict extends Map<unknown, unknown> {
  attrs?: PickleDict;
}

/** A Python tuple (lists become plain arrays). */
export class PickleTuple extends Array<unknown> {}

function tuple(items: unknown[]): PickleTuple {
  const t = new PickleTuple();
  for (const x of items) t.push(x); // no spread: a long tuple must not overflow the call stack
  return t;
}

/** A global the allow-list knows, as it sits on the stack before REDUCE. */
class AllowedGlobal {
  constructor(
    readonly qualname: string,
    readonly call: ((args: unknown[]) => unknown) | null,
  ) {}
}

// ---------------------------------------------------------------------------------------------------------
// The allow-list

function intArg(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new FormatError(`pickle: ${what} must be a non-negative integer, got ${describe(v)}`);
  }
  return v;
}

function intTuple(v: unknown, what: string): number[] {
  if (!Array.isArray(v)) throw new FormatError(`pickle: ${what} must be a tuple, got ${describe(v)}`);
  return Array.from(v, (x, i) => intArg(x, `${what}[${i}]`)); // a plain array, not a PickleTuple
}

function rebuildTensor(args: unknown[], fn: string): TorchTensor {
  const [storage, offset, size, stride, requiresGrad] = args;
  if (!(storage instanceof StorageRef)) throw new FormatError(`pickle: ${fn}: first argument is not a storage (${describe(storage)})`);
  const shape = intTuple(size, `${fn} size`);
  const strides = intTuple(stride, `${fn} stride`);
  if (shape.length !== strides.length) {
    throw new FormatError(`pickle: ${fn}: size has ${shape.length} dims but stride has ${strides.length}`);
  }
  return new TorchTensor(storage, intArg(offset, `${fn} storage_offset`), shape, strides, requiresGrad === true);
}

function rebuildParameter(args: unknown[], fn: string): TorchTensor {
  const [data] = args;
  if (!(data instanceof TorchTensor)) throw new FormatError(`pickle: ${fn}: data is not a tensor (${describe(data)})`);
  return data;
}

function orderedDict(args: unknown[]): PickleDict {
  const d = new PickleDict();
  if (args.length > 0 && args[0] !== null) {
    if (!Array.isArray(args[0])) throw new FormatError(`pickle: OrderedDict argument is not a list of pairs`);
    for (const pair of args[0]) {
      if (!Array.isArray(pair) || pair.length !== 2) throw new FormatError(`pickle: OrderedDict item is not a pair`);
      d.set(pair[0], pair[1]);
    }
  }
  return d;
}

/** Every global a checkpoint may name, with its TypeScript meaning. `null` = not callable. */
export const ALLOWED_GLOBALS: ReadonlyMap<string, ((args: unknown[]) => unknown) | null> = new Map<
  string,
  ((args: unknown[]) => unknown) | null
>([
  ['torch._utils._rebuild_tensor_v2', (a) => rebuildTensor(a, '_rebuild_tensor_v2')],
  ['torch._utils._rebuild_tensor', (a) => rebuildTensor(a, '_rebuild_tensor')],
  ['torch._utils._rebuild_parameter', (a) => rebuildParameter(a, '_rebuild_parameter')],
  ['torch._utils._rebuild_parameter_with_state', (a) => rebuildParameter(a, '_rebuild_parameter_with_state')],
  ['collections.OrderedDict', orderedDict],
  ...Object.keys(STORAGE_TYPES).map((n) => [`torch.${n}`, null] as [string, null]),
]);

// ---------------------------------------------------------------------------------------------------------
// The interpreter

const OP = {
  MARK: 0x28, // (
  STOP: 0x2e, // .
  POP: 0x30, // 0
  POP_MARK: 0x31, // 1
  DUP: 0x32, // 2
  BINBYTES: 0x42, // B
  SHORT_BINBYTES: 0x43, // C
  BINFLOAT: 0x47, // G
  BININT: 0x4a, // J
  BININT1: 0x4b, // K
  BININT2: 0x4d, // M
  NONE: 0x4e, // N
  BINPERSID: 0x51, // Q
  REDUCE: 0x52, // R
  BINUNICODE: 0x58, // X
  EMPTY_LIST: 0x5d, // ]
  APPEND: 0x61, // a
  BUILD: 0x62, // b
  GLOBAL: 0x63, // c
  DICT: 0x64, // d
  APPENDS: 0x65, // e
  BINGET: 0x68, // h
  LONG_BINGET: 0x6a, // j
  LIST: 0x6c, // l
  BINPUT: 0x71, // q
  LONG_BINPUT: 0x72, // r
  SETITEM: 0x73, // s
  TUPLE: 0x74, // t
  SETITEMS: 0x75, // u
  EMPTY_DICT: 0x7d, // }
  EMPTY_TUPLE: 0x29, // )
  PROTO: 0x80,
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
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
} as const;

/** Names of the opcodes this unpickler refuses, for the error message. */
const REFUSED_OPCODES: Readonly<Record<number, string>> = {
  0x69: 'INST',
  0x6f: 'OBJ',
  0x81: 'NEWOBJ',
  0x92: 'NEWOBJ_EX',
  0x50: 'PERSID',
  0x49: 'INT',
  0x4c: 'LONG',
  0x46: 'FLOAT',
  0x53: 'STRING',
  0x54: 'BINSTRING',
  0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x67: 'GET',
  0x70: 'PUT',
  0x8f: 'EMPTY_SET',
  0x90: 'ADDITEMS',
  0x91: 'FROZENSET',
  0x96: 'BYTEARRAY8',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof AllowedGlobal) return v.qualname;
  if (v instanceof TorchTensor) return `tensor ${torchName(v.dtype)} [${v.shape.join(', ')}]`;
  if (v instanceof PickleDict) return 'dict';
  if (v instanceof PickleTuple) return 'tuple';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return typeof v;
}

export interface UnpickleOptions {
  /** Resolves a BINPERSID id (torch: a storage reference tuple). Without it, BINPERSID is refused. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Name used in error messages. */
  description?: string;
}

/**
 * Interprets a pickle made of the supported opcodes and allow-listed globals and returns the top object.
 * Integers beyond 2^53 become bigint; bytes become Uint8Array; dicts PickleDict; tuples PickleTuple.
 */
export function unpickle(data: Uint8Array, opts: UnpickleOptions = {}): unknown {
  const what = opts.description ?? 'pickle';
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const utf8 = new TextDecoder('utf-8');
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let p = 0;

  const fail = (msg: string, at = p): never => {
    throw new FormatError(`${what}: ${msg} (at byte ${at})`);
  };
  const need = (n: number): void => {
    if (p + n > data.length) fail(`truncated: ${n} bytes needed, ${data.length - p} left`);
  };
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1])) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail('no MARK on the stack');
    return stack.splice(m!);
  };
  const str = (n: number): string => {
    need(n);
    const s = utf8.decode(data.subarray(p, p + n));
    p += n;
    return s;
  };
  const bytes = (n: number): Uint8Array => {
    need(n);
    const b = copyBytes(data.subarray(p, p + n));
    p += n;
    return b;
  };
  const u8 = (): number => {
    need(1);
    return data[p++];
  };
  const u32 = (): number => {
    need(4);
    p += 4;
    return dv.getUint32(p - 4, true);
  };
  const u64 = (): number => {
    need(8);
    const v = dv.getBigUint64(p, true);
    p += 8;
    if (v > BigInt(data.length)) fail(`length ${v} exceeds the pickle`);
    return Number(v);
  };
  const long = (n: number): number | bigint => {
    need(n);
    if (n === 0) return 0;
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(data[p + i]);
    if (data[p + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    p += n;
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const resolveGlobal = (module: string, name: string, at: number): AllowedGlobal => {
    const qualname = `${module}.${name}`;
    if (!ALLOWED_GLOBALS.has(qualname)) {
      throw new UnsafePickleError(
        `${what}: refusing global '${qualname}' (at byte ${at}): only tensors, storages and dicts are ` +
          `allowed in a checkpoint (${[...ALLOWED_GLOBALS.keys()].filter((k) => !k.endsWith('Storage')).join(', ')}, torch.*Storage)`,
        qualname,
      );
    }
    return new AllowedGlobal(qualname, ALLOWED_GLOBALS.get(qualname) ?? null);
  };
  const setItems = (dict: unknown, items: unknown[]): void => {
    if (!(dict instanceof PickleDict)) fail(`SETITEM(S) on ${describe(dict)}`);
    if (items.length % 2) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) (dict as PickleDict).set(items[i], items[i + 1]);
  };

  while (true) {
    if (p >= data.length) fail('ended without STOP');
    const at = p;
    const op = data[p++];
    switch (op) {
      case OP.PROTO:
        need(1);
        if (data[p] > 5) fail(`unsupported pickle protocol ${data[p]}`);
        p += 1;
        break;
      case OP.FRAME:
        u64(); // frames are a buffering hint; the whole pickle is in memory
        break;
      case OP.STOP: {
        if (stack.length !== 1 || marks.length) fail(`STOP with ${stack.length} values on the stack`);
        return stack[0];
      }
      case OP.MARK:
        marks.push(stack.length);
        break;
      case OP.POP:
        if (marks.length && stack.length === marks[marks.length - 1]) marks.pop();
        else pop();
        break;
      case OP.POP_MARK:
        popMark();
        break;
      case OP.DUP:
        stack.push(top());
        break;
      case OP.NONE:
        stack.push(null);
        break;
      case OP.NEWTRUE:
        stack.push(true);
        break;
      case OP.NEWFALSE:
        stack.push(false);
        break;
      case OP.BININT:
        need(4);
        stack.push(dv.getInt32(p, true));
        p += 4;
        break;
      case OP.BININT1:
        stack.push(u8());
        break;
      case OP.BININT2:
        need(2);
        stack.push(dv.getUint16(p, true));
        p += 2;
        break;
      case OP.LONG1:
        stack.push(long(u8()));
        break;
      case OP.LONG4: {
        need(4);
        const n = dv.getInt32(p, true);
        p += 4;
        if (n < 0 || n > 64) fail(`LONG4 of ${n} bytes`);
        stack.push(long(n));
        break;
      }
      case OP.BINFLOAT:
        need(8);
        stack.push(dv.getFloat64(p, false)); // big-endian, per the pickle spec
        p += 8;
        break;
      case OP.SHORT_BINUNICODE:
        stack.push(str(u8()));
        break;
      case OP.BINUNICODE:
        stack.push(str(u32()));
        break;
      case OP.BINUNICODE8:
        stack.push(str(u64()));
        break;
      case OP.SHORT_BINBYTES:
        stack.push(bytes(u8()));
        break;
      case OP.BINBYTES:
        stack.push(bytes(u32()));
        break;
      case OP.BINBYTES8:
        stack.push(bytes(u64()));
        break;
      case OP.EMPTY_DICT:
        stack.push(new PickleDict());
        break;
      case OP.EMPTY_LIST:
        stack.push([]);
        break;
      case OP.EMPTY_TUPLE:
        stack.push(tuple([]));
        break;
      case OP.TUPLE:
        stack.push(tuple(popMark()));
        break;
      case OP.TUPLE1: {
        const a = pop();
        stack.push(tuple([a]));
        break;
      }
      case OP.TUPLE2: {
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b]));
        break;
      }
      case OP.TUPLE3: {
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b, c]));
        break;
      }
      case OP.LIST:
        stack.push(popMark());
        break;
      case OP.DICT: {
        const d = new PickleDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case OP.APPEND: {
        const v = pop();
        const list = top();
        if (!Array.isArray(list) || list instanceof PickleTuple) fail(`APPEND to ${describe(list)}`, at);
        (list as unknown[]).push(v);
        break;
      }
      case OP.APPENDS: {
        const items = popMark();
        const list = top();
        if (!Array.isArray(list) || list instanceof PickleTuple) fail(`APPENDS to ${describe(list)}`, at);
        for (const x of items) (list as unknown[]).push(x);
        break;
      }
      case OP.SETITEM: {
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case OP.SETITEMS: {
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case OP.BINPUT:
        memo.set(u8(), top());
        break;
      case OP.LONG_BINPUT:
        memo.set(u32(), top());
        break;
      case OP.MEMOIZE:
        memo.set(memo.size, top());
        break;
      case OP.BINGET:
      case OP.LONG_BINGET: {
        const idx = op === OP.LONG_BINGET ? u32() : u8();
        if (!memo.has(idx)) fail(`memo entry ${idx} is not defined`, at);
        stack.push(memo.get(idx));
        break;
      }
      case OP.GLOBAL: {
        const nl1 = data.indexOf(0x0a, p);
        const nl2 = nl1 < 0 ? -1 : data.indexOf(0x0a, nl1 + 1);
        if (nl1 < 0 || nl2 < 0 || nl2 - p > 512) fail('malformed GLOBAL', at);
        const module = utf8.decode(data.subarray(p, nl1));
        const name = utf8.decode(data.subarray(nl1 + 1, nl2));
        p = nl2 + 1;
        stack.push(resolveGlobal(module, name, at));
        break;
      }
      case OP.STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings', at);
        stack.push(resolveGlobal(module as string, name as string, at));
        break;
      }
      case OP.REDUCE: {
        const args = pop();
        const fn = pop();
        if (!(fn instanceof AllowedGlobal) || !fn.call) fail(`REDUCE calls ${describe(fn)}, which is not callable`, at);
        if (!(args instanceof PickleTuple)) fail(`REDUCE arguments are a ${describe(args)}, not a tuple`, at);
        stack.push((fn as AllowedGlobal).call!(args as unknown[]));
        break;
      }
      case OP.BUILD: {
        const state = pop();
        const obj = top();
        if (state === null || (state instanceof PickleDict && state.size === 0)) break;
        if (obj instanceof PickleDict && state instanceof PickleDict) {
          // An OrderedDict's instance attributes, e.g. the `_metadata` of a module's state_dict().
          obj.attrs = state;
          break;
        }
        // Tensors carry no Python state in a checkpoint: anything else is an object we do not model.
        fail(`BUILD with a ${describe(state)} state on a ${describe(obj)}`, at);
        break;
      }
      case OP.BINPERSID: {
        const pid = pop();
        if (!opts.persistentLoad) fail('persistent ids (BINPERSID) are not expected here', at);
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      default: {
        const name = REFUSED_OPCODES[op];
        const ch = op >= 0x20 && op < 0x7f ? ` '${String.fromCharCode(op)}'` : '';
        throw new FormatError(
          `${what}: unsupported pickle opcode ${name ?? 'unknown'} (0x${op.toString(16).padStart(2, '0')}${ch}) ` +
            `at byte ${at}: a PyTorch checkpoint of tensors does not need it`,
        );
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// PyTorch checkpoints

/** The largest dense tensor readTensor returns: 4 GiB, the most one ArrayBuffer holds in Node 20. */
export const MAX_TENSOR_BYTES = 2 ** 32;

/** The first bytes of a pre-1.6 (non-zip) torch.save file: PROTO 2, LONG1 of the magic number. */
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/** A PyTorch zip checkpoint: the unpickled object tree, with storages read on demand. */
export class TorchCheckpoint {
  private constructor(
    readonly zip: ZipReader,
    /** The folder inside the zip that holds data.pkl (the file's stem when torch wrote it). */
    readonly prefix: string,
    /** The unpickled top-level object (official checkpoints: a PickleDict with key "model"). */
    readonly root: unknown,
  ) {}

  get description(): string {
    return this.zip.source.description;
  }

  static async open(source: ByteSource): Promise<TorchCheckpoint> {
    const what = source.description;
    const head = await source.read(0, Math.min(source.size, LEGACY_MAGIC.length));
    if (head.length >= LEGACY_MAGIC.length && LEGACY_MAGIC.every((b, i) => head[i] === b)) {
      throw new FormatError(
        `${what}: legacy (pre-1.6, non-zip) torch.save format is not supported; load it in Python and ` +
          `re-save it with torch.save(obj, path) (the zip format is the default since PyTorch 1.6)`,
      );
    }
    if (!(head[0] === 0x50 && head[1] === 0x4b)) {
      throw new FormatError(`${what}: not a PyTorch zip checkpoint (does not start with a zip header)`);
    }
    const zip = await ZipReader.open(source);
    const pkls = [...zip.entries.keys()].filter((n) => /^([^/]+\/)?data\.pkl$/.test(n));
    if (pkls.length !== 1) {
      const jit = [...zip.entries.keys()].some((n) => /(^|\/)constants\.pkl$/.test(n));
      throw new FormatError(
        jit
          ? `${what}: this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint`
          : `${what}: expected exactly one data.pkl in the checkpoint, found ${pkls.length}`,
      );
    }
    const prefix = pkls[0].slice(0, -'data.pkl'.length);
    const byteorder = zip.get(`${prefix}byteorder`);
    if (byteorder) {
      // torch writes 'little' or 'big'; a larger entry is not read (nor echoed in the message).
      const order = byteorder.size <= 16 ? new TextDecoder().decode(await zip.read(byteorder)).trim() : undefined;
      if (order !== 'little') {
        const found =
          order === undefined ? `of unknown byte order (a ${byteorder.size}-byte byteorder entry)` : `${order}-endian`;
        throw new FormatError(`${what}: storages are ${found}; only little-endian is supported`);
      }
    }
    const storages = new Map<string, StorageRef>();
    const persistentLoad = (pid: unknown): StorageRef => {
      if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') {
        throw new FormatError(`${what}: unsupported persistent id ${describe(pid)} (expected a storage reference)`);
      }
      const [, type, key, location, numel] = pid;
      const typeName = type instanceof AllowedGlobal && type.qualname.startsWith('torch.') ? type.qualname.slice(6) : '';
      if (!Object.hasOwn(STORAGE_TYPES, typeName)) {
        throw new FormatError(`${what}: storage reference with type ${describe(type)}`);
      }
      if (typeof key !== 'string' || !/^\w+$/.test(key)) throw new FormatError(`${what}: storage key ${describe(key)}`);
      const dtype = STORAGE_TYPES[typeName];
      const prev = storages.get(key);
      if (prev) {
        if (prev.dtype !== dtype) {
          throw new FormatError(`${what}: storage '${key}' is used as both ${torchName(prev.dtype)} and ${torchName(dtype)}`);
        }
        return prev;
      }
      const entry = zip.get(`${prefix}data/${key}`);
      if (!entry) throw new FormatError(`${what}: storage '${key}' is referenced but ${prefix}data/${key} is missing`);
      // torch writes a device name ('cpu', 'cuda:0'); anything else is not turned into a string (String() of
      // an untrusted nested list recurses without bound).
      if (typeof location !== 'string') {
        throw new FormatError(`${what}: storage '${key}' has location ${describe(location)}, not a device name`);
      }
      const n = intArg(numel, `storage '${key}' numel`);
      if (entry.size !== n * ELEMENT_BYTES[dtype]) {
        throw new FormatError(
          `${what}: storage '${key}' has ${entry.size} bytes but ${n} ${torchName(dtype)} elements need ${n * ELEMENT_BYTES[dtype]}`,
        );
      }
      const ref = new StorageRef(key, dtype, n, location);
      storages.set(key, ref);
      return ref;
    };
    const pkl = await zip.read(zip.get(pkls[0])!);
    const root = unpickle(pkl, { persistentLoad, description: `${what}: ${pkls[0]}` });
    return new TorchCheckpoint(zip, prefix, root);
  }

  /**
   * The state dict: `root["model"]` (official checkpoints), or the root itself when it is a dict of
   * tensors. Every key must be a string and every value a tensor.
   */
  stateDict(): Map<string, TorchTensor> {
    const what = this.description;
    const root = this.root;
    if (!(root instanceof PickleDict)) throw new FormatError(`${what}: the checkpoint holds a ${describe(root)}, not a dict`);
    let sd: PickleDict;
    if (root.get('model') instanceof PickleDict) sd = root.get('model') as PickleDict;
    else if ([...root.values()].every((v) => v instanceof TorchTensor)) sd = root;
    else {
      // Keys are untrusted values (a list nested thousands deep, one list shared thousands of times):
      // name at most a few, each briefly, never through String() of the whole structure.
      const keys = [...root.keys()];
      const shown = keys
        .slice(0, 10)
        .map((k) => (typeof k !== 'string' ? describe(k) : k.length > 40 ? `${k.slice(0, 40)}…` : k));
      if (keys.length > shown.length) shown.push(`and ${keys.length - shown.length} more`);
      throw new FormatError(`${what}: no state dict found: expected a "model" entry (keys: ${shown.join(', ')})`);
    }
    const out = new Map<string, TorchTensor>();
    for (const [k, v] of sd) {
      if (typeof k !== 'string') throw new FormatError(`${what}: state dict key ${describe(k)} is not a string`);
      if (!(v instanceof TorchTensor)) throw new FormatError(`${what}: state dict entry '${k}' is a ${describe(v)}, not a tensor`);
      out.set(k, v);
    }
    return out;
  }

  /**
   * The tensor's elements in row-major order as little-endian bytes of its dtype. Reads only the storage
   * range the view touches; a non-contiguous view is gathered element by element.
   */
  async readTensor(t: TorchTensor, name = 'tensor'): Promise<Uint8Array> {
    const what = `${this.description}: tensor '${name}'`;
    const es = ELEMENT_BYTES[t.dtype];
    const numel = t.numel;
    if (numel === 0) return new Uint8Array(0);
    // A view may repeat storage elements (stride 0), so its dense size is not bounded by the file: refuse
    // sizes no buffer can hold before allocating anything.
    const dense = numel * es;
    if (!Number.isSafeInteger(dense) || dense > MAX_TENSOR_BYTES) {
      throw new FormatError(
        `${what}: ${torchName(t.dtype)} [${t.shape.join(', ')}] is ${numel} elements (${dense} bytes), more than the ` +
          `${MAX_TENSOR_BYTES} bytes one tensor may hold`,
      );
    }
    const extent = t.extent;
    if (t.storageOffset + extent > t.storage.numel) {
      throw new FormatError(
        `${what}: view [offset ${t.storageOffset}, size (${t.shape.join(', ')}), stride (${t.stride.join(', ')})] ` +
          `reaches element ${t.storageOffset + extent - 1} of storage '${t.storage.key}', which has ${t.storage.numel}`,
      );
    }
    const entry: ZipEntry = this.zip.get(`${this.prefix}data/${t.storage.key}`)!;
    let raw: Uint8Array;
    try {
      raw = await this.zip.read(entry, t.storageOffset * es, extent * es);
    } catch (e) {
      throw new FormatError(`${what}: ${(e as Error).message}`);
    }
    if (t.isContiguous) return raw;
    try {
      return gather(raw, t.shape, t.stride, es);
    } catch (e) {
      // An engine whose buffers are smaller than MAX_TENSOR_BYTES, or memory running out.
      if (e instanceof RangeError) {
        throw new FormatError(`${what}: cannot allocate ${dense} bytes for the dense tensor (${e.message})`);
      }
      throw e;
    }
  }
}

/** Copies a strided view (offset already applied to `raw`) into a dense row-major buffer. */
export function gather(raw: Uint8Array, shape: readonly number[], stride: readonly number[], es: number): Uint8Array {
  let numel = 1;
  for (const d of shape) numel *= d;
  const out = new Uint8Array(numel * es);
  if (numel === 0) return out;
  // Move elements as unsigned integers of their width (8-byte elements as two words), never as floats,
  // so that every bit pattern (NaN payloads included) is preserved.
  const words = es === 8 ? 2 : 1;
  const W = es === 1 ? Uint8Array : es === 2 ? Uint16Array : Uint32Array;
  const wbytes = es === 8 ? 4 : es;
  const src = aligned(raw, wbytes);
  const s = new W(src.buffer as ArrayBuffer, src.byteOffset, src.length / wbytes);
  const o = new W(out.buffer, 0, out.length / wbytes);
  const nd = shape.length;
  if (nd === 0) {
    o.set(s.subarray(0, words));
    return out;
  }
  const inner = shape[nd - 1];
  const innerStride = stride[nd - 1] * words;
  const idx = new Array<number>(nd).fill(0);
  const outer = numel / inner;
  let k = 0;
  for (let q = 0; q < outer; q++) {
    let base = 0;
    for (let d = 0; d < nd - 1; d++) base += idx[d] * stride[d];
    base *= words;
    if (words === 1) {
      for (let j = 0, b = base; j < inner; j++, b += innerStride) o[k++] = s[b];
    } else {
      for (let j = 0, b = base; j < inner; j++, b += innerStride) {
        o[k++] = s[b];
        o[k++] = s[b + 1];
      }
    }
    for (let d = nd - 2; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}
