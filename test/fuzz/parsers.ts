/**
 * Fuzzing of the three binary parsers: src/runtime/safetensors.ts, src/checkpoint/zip.ts and src/checkpoint/pickle.ts.
 *
 * Why fast-check: it runs in-process under plain Node and under vitest, with no native build (jazzer.js
 * needs a native libFuzzer addon); it shrinks a failing input to a small one; and a run is fully determined
 * by its seed (plus a path for one counterexample), so every failure can be replayed exactly.
 *
 * Inputs are valid files from ./corpus.ts, mutated as ./mutations.ts describes, plus pure random bytes.
 * Every input must satisfy these properties:
 *
 *  (a) typed errors only: a parser either accepts the input or throws a Sam2Error (FormatError and its
 *      subclasses). Any other throw (TypeError, RangeError, a plain Error) is a failure.
 *  (b) time: no input takes more than MAX_INPUT_MS (1 s); an input that never settles fails after 10 s.
 *  (c) memory: no parse allocates more than MEMORY_FACTOR × the input size + MEMORY_SLACK bytes of typed
 *      arrays and ArrayBuffers, beyond what the caller explicitly asked for (a tensor's dense size, and a
 *      deflated entry's inflated size capped by deflate's 1032:1 maximum ratio). How this is enforced:
 *        - every ArrayBuffer and typed-array constructor on globalThis is replaced, for the whole run, by a
 *          Proxy that, while a parse is running, adds the bytes each construction requests (a length, or
 *          the length of what is copied; views of an existing buffer request nothing) BEFORE anything is
 *          allocated, and throws once the budget is exceeded. The violation is recorded outside the parser,
 *          so a parser that catches and wraps the throw still fails the property. A header that claims
 *          2^60 bytes is thus caught at the request, without allocating anything. The parser modules look
 *          these constructors up on the global object at call time, so `new Uint8Array(n)`,
 *          `Float32Array.from(...)` and the like in them are all seen.
 *        - allocations made inside Node itself (TextDecoder, Blob, DecompressionStream and its zlib
 *          chunks) do not go through those globals; a second check compares
 *          process.memoryUsage().arrayBuffers before and after each input, which counts every live
 *          ArrayBuffer backing store including Node's own. It is a backstop (a garbage collection in the
 *          middle of a parse hides what it freed), so its limit is the same budget plus 1 MiB.
 *        - string and object blow-ups (an error message that prints a structure the input describes
 *          compactly) show up as time, as RangeError (invalid string length, call stack), or as an error
 *          message longer than 4 × the input + 4 KiB, which is checked too.
 *  (d) nothing is executed by the pickle reader: functions that an unpickler resolving names at run time
 *      would reach (os.system, builtins.eval, sentinel.call, ...) are installed on globalThis as sentinels
 *      that record any call, globalThis.eval is wrapped the same way, and after every input no sentinel may
 *      have been called. When a pickle is accepted, every GLOBAL it names must be on the allow-list, and the
 *      object tree it returns may hold only data (numbers, strings, bytes, lists, tuples, dicts, tensors,
 *      storage references, allow-listed global markers), never a function. An UnsafePickleError must name
 *      a global that is not on the allow-list. Object.prototype and friends must be unchanged.
 *
 * Accepted inputs are also checked for consistency: the safetensors random-access reader and the stream
 * reader (with and without a known length) must agree on accepting a file and on every tensor's bytes; a
 * zip entry read in part must equal the same range of the whole entry; a tensor read from a checkpoint
 * must have its dense size.
 */
import fc from 'fast-check';
import { FormatError, Sam2Error } from '../../src/runtime/errors.js';
import { ELEMENT_BYTES } from '../../src/runtime/dtype.js';
import {
  bufferSource,
  numelOf,
  openSafetensorsStream,
  SafetensorsReader,
  type TensorInfo,
} from '../../src/runtime/safetensors.js';
import {
  ALLOWED_GLOBALS,
  MAX_TENSOR_BYTES,
  PickleDict,
  PickleTuple,
  StorageRef,
  TorchCheckpoint,
  TorchTensor,
  unpickle,
  UnsafePickleError,
} from '../../src/checkpoint/pickle.js';
import { STORAGE_TYPES } from '../../src/checkpoint/torch_names.js';
import { ZipReader, type ZipEntry } from '../../src/checkpoint/zip.js';
import { checkpointCorpus, chunkedStream, pickleCorpus, safetensorsCorpus, walkPickle } from './corpus.js';
import { checkpointInputArb, DANGEROUS_GLOBALS, pickleInputArb, safetensorsInputArb, type FuzzInput } from './mutations.js';

export const PARSERS = ['safetensors', 'zip', 'pickle'] as const;
export type ParserName = (typeof PARSERS)[number];

/** (b): the longest one input may take. */
export const MAX_INPUT_MS = 1000;
/** (b): an input still running after this long is reported as hung. */
export const HANG_MS = 10_000;
/** (c): the allocation budget of one parse: MEMORY_FACTOR × input bytes + MEMORY_SLACK. */
export const MEMORY_FACTOR = 8;
export const MEMORY_SLACK = 64 * 1024;
/** (c): the slack of the process-wide ArrayBuffer check on top of the budget. */
export const BACKSTOP_SLACK = 1 << 20;
/** Deflate's maximum expansion: a 258-byte match coded in 2 bits. */
export const DEFLATE_MAX_RATIO = 1032;
/** Tensors and deflated entries larger than this are not read by the fuzzer (the caller's choice). */
const READ_LIMIT = 8 << 20;

const WHAT = 'fuzz-input';

/** A property does not hold: what fast-check reports as the failure (never a parser error). */
export class PropertyViolation extends Error {
  override name = 'PropertyViolation';
}

function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.constructor.name}: ${e.message.length > 500 ? `${e.message.slice(0, 500)}…` : e.message}`;
  return `non-Error ${typeof e}: ${String(e).slice(0, 200)}`;
}

/** (a): anything a parser throws must be typed; everything else becomes a PropertyViolation. */
function untyped(where: string, e: unknown): never {
  if (e instanceof PropertyViolation) throw e;
  const stack = e instanceof Error && e.stack ? `\n${e.stack.split('\n').slice(1, 8).join('\n')}` : '';
  throw new PropertyViolation(`${where} threw an untyped ${describeError(e)}${stack}`);
}

// ---------------------------------------------------------------------------------------------------------
// (c) Allocation metering

const ALLOCATORS = [
  'ArrayBuffer', 'SharedArrayBuffer', 'Uint8Array', 'Uint8ClampedArray', 'Int8Array', 'Uint16Array', 'Int16Array',
  'Uint32Array', 'Int32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array',
] as const;

type Ctor = new (...args: unknown[]) => object;

/** Bytes a constructor call asks for, computed from its arguments before anything is allocated. */
function requestedBytes(isBuffer: boolean, bytesPerElement: number, args: readonly unknown[]): number {
  const a = args[0];
  const count = (v: unknown) => {
    const n = Number(v);
    return Number.isFinite(n) && n > 0 ? n : 0;
  };
  if (isBuffer) return count(a);
  if (typeof a !== 'object' || a === null) return count(a) * bytesPerElement; // new T(length)
  if (a instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && a instanceof SharedArrayBuffer)) return 0; // a view
  return count((a as { length?: unknown }).length) * bytesPerElement; // a copy of an array or typed array
}

export class AllocationMeter {
  private readonly originals = new Map<string, Ctor>();
  private armed = false;
  private budget = 0;
  private total = 0;
  /** Largest single request seen in the current parse. */
  largest = 0;
  violation: string | undefined;

  install(): void {
    const g = globalThis as unknown as Record<string, Ctor>;
    for (const name of ALLOCATORS) {
      const C = g[name];
      if (typeof C !== 'function' || this.originals.has(name)) continue;
      const isBuffer = name === 'ArrayBuffer' || name === 'SharedArrayBuffer';
      const bpe = (C as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
      const meter = this;
      const proxy: Ctor = new Proxy(C, {
        construct(target, args, newTarget) {
          if (meter.armed) meter.request(name, requestedBytes(isBuffer, bpe, args));
          return Reflect.construct(target, args, newTarget === proxy ? target : newTarget);
        },
      });
      this.originals.set(name, C);
      g[name] = proxy;
    }
  }

  uninstall(): void {
    const g = globalThis as unknown as Record<string, Ctor>;
    for (const [name, C] of this.originals) g[name] = C;
    this.originals.clear();
    this.armed = false;
  }

  /** Starts metering a parse of `inputBytes` bytes. */
  begin(inputBytes: number): void {
    this.budget = MEMORY_FACTOR * inputBytes + MEMORY_SLACK;
    this.total = 0;
    this.largest = 0;
    this.violation = undefined;
    this.armed = true;
  }

  /** A new window: the same budget again, for another parse of the same input. */
  window(inputBytes: number): void {
    this.budget = MEMORY_FACTOR * inputBytes + MEMORY_SLACK;
    this.total = 0;
  }

  /** Raises the budget by what the caller legitimately asks for (a tensor's dense bytes, say). */
  allow(bytes: number): void {
    this.budget += bytes;
  }

  end(): void {
    this.armed = false;
  }

  get limit(): number {
    return this.budget;
  }

  /** Bytes requested in the current window. */
  get allocated(): number {
    return this.total;
  }

  private request(name: string, bytes: number): void {
    this.total += bytes;
    if (bytes > this.largest) this.largest = bytes;
    if (this.total > this.budget && this.violation === undefined) {
      this.violation =
        `new ${name} of ${bytes} bytes brings this parse's allocations to ${this.total} bytes, over its budget of ` +
        `${this.budget} bytes`;
    }
    // Refuse before allocating; the violation stays recorded even if the parser catches this.
    if (this.violation !== undefined) throw new RangeError(`allocation refused by the fuzzer: ${this.violation}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// (d) Sentinels

/** Callables an unpickler that resolves names would reach; each records the calls it gets. */
export class Sentinels {
  readonly calls: string[] = [];
  private readonly installed: string[] = [];
  private originalEval: typeof eval | undefined;

  install(): void {
    const g = globalThis as unknown as Record<string, unknown>;
    for (const [module, name] of DANGEROUS_GLOBALS) {
      const path = [...module.split('.'), name];
      // Names that are JavaScript built-ins on every object are in the list to check that lookups never
      // reach them; they cannot carry a sentinel.
      if (path.some((p) => p in Object.prototype || p === '__proto__')) continue;
      const top = path[0];
      if (top in g && !this.installed.includes(top)) continue; // never shadow something real
      if (!this.installed.includes(top)) {
        g[top] = {};
        this.installed.push(top);
      }
      let obj = g[top] as Record<string, unknown>;
      for (const p of path.slice(1, -1)) obj = (obj[p] ??= {}) as Record<string, unknown>;
      obj[name] = (...args: unknown[]) => {
        this.calls.push(`${module}.${name}(${args.length} args)`);
      };
    }
    this.originalEval = globalThis.eval;
    const original = this.originalEval;
    const calls = this.calls;
    globalThis.eval = function (this: unknown, ...args: unknown[]) {
      calls.push('eval');
      return original.apply(this, args as [string]);
    } as typeof eval;
  }

  uninstall(): void {
    const g = globalThis as unknown as Record<string, unknown>;
    for (const m of this.installed) delete g[m];
    this.installed.length = 0;
    if (this.originalEval) globalThis.eval = this.originalEval;
  }
}

/** Counts of own properties on the built-in prototypes, to notice prototype pollution. */
function prototypeShape(): string {
  return [Object.prototype, Array.prototype, Map.prototype, Function.prototype, Uint8Array.prototype]
    .map((p) => Object.getOwnPropertyNames(p).length)
    .join(',');
}

// ---------------------------------------------------------------------------------------------------------
// Targets: what is done with each input

interface Ctx {
  /** Starts a new metering window (another complete parse of the same input). */
  window(): void;
  allow(bytes: number): void;
}

interface Settled<T> {
  ok: boolean;
  value?: T;
  error?: unknown;
}

async function settle<T>(f: () => Promise<T>): Promise<Settled<T>> {
  try {
    return { ok: true, value: await f() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Chunk sizes of the streamed reads, the first chosen by the file's length. */
const CHUNKS = [1, 7, 3, 64, 5, 1000, 4096];

type Tensors = [TensorInfo, Uint8Array][];

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function checkTensorSizes(where: string, tensors: Tensors): void {
  for (const [info, b] of tensors) {
    const want = numelOf(info.shape) * ELEMENT_BYTES[info.dtype];
    if (b.length !== want || info.end - info.begin !== want) {
      throw new PropertyViolation(
        `${where}: tensor '${info.name}' came back with ${b.length} bytes, ${info.dtype} [${info.shape}] has ${want}`,
      );
    }
  }
}

/**
 * safetensors: the random-access reader over memory, then the stream reader without and with a known
 * length. All three must agree.
 */
async function safetensorsTarget(bytes: Uint8Array, ctx: Ctx): Promise<void> {
  ctx.window();
  const random = await settle(async () => {
    const r = await SafetensorsReader.open(bufferSource(bytes, WHAT));
    const out: Tensors = [];
    for await (const { info, bytes: b } of r.entries()) out.push([info, b]);
    if (r.header.dataStart + r.header.dataLength !== bytes.length) {
      const covered = r.header.dataStart + r.header.dataLength;
      throw new PropertyViolation(`accepted, but header and data cover ${covered} of ${bytes.length} bytes`);
    }
    let cursor = 0;
    for (const t of r.tensors) {
      if (t.begin !== cursor) throw new PropertyViolation(`accepted, but tensor '${t.name}' starts at ${t.begin}, not ${cursor}`);
      cursor = t.end;
    }
    const missing = await settle(async () => r.read('\u0000 no such tensor'));
    if (missing.ok || !(missing.error instanceof FormatError)) {
      throw new PropertyViolation('reading a missing tensor did not throw a FormatError');
    }
    checkTensorSizes('random-access reader', out);
    return out;
  });
  const streamed = async (total: number | undefined) => {
    const s = await openSafetensorsStream(chunkedStream(bytes, CHUNKS, bytes.length % CHUNKS.length), { totalBytes: total, description: WHAT });
    const out: Tensors = [];
    for await (const { info, bytes: b } of s.entries()) out.push([info, b]);
    checkTensorSizes('stream reader', out);
    return out;
  };
  ctx.window();
  const stream = await settle(() => streamed(undefined));
  ctx.window();
  const sized = await settle(() => streamed(bytes.length));

  const runs: [string, Settled<Tensors>][] = [
    ['SafetensorsReader.open', random],
    ['openSafetensorsStream', stream],
    ['openSafetensorsStream with totalBytes', sized],
  ];
  for (const [where, s] of runs) if (!s.ok && !(s.error instanceof Sam2Error)) untyped(where, s.error);
  for (const [where, s] of runs.slice(1)) {
    if (s.ok !== random.ok) {
      const verdict = (x: Settled<Tensors>) => (x.ok ? 'accepts' : `rejects (${describeError(x.error)})`);
      throw new PropertyViolation(`the random-access reader ${verdict(random)} but ${where} ${verdict(s)}`);
    }
    if (s.ok) {
      const a = random.value!;
      const b = s.value!;
      if (a.length !== b.length || a.some(([ia, ba], i) => ia.name !== b[i][0].name || !sameBytes(ba, b[i][1]))) {
        throw new PropertyViolation(`${where} returns other tensors than the random-access reader`);
      }
    }
  }
  if (!random.ok) throw random.error;
}

/**
 * What reading a deflated entry may legitimately allocate: three times what it inflates to (at most its
 * recorded size, and at most what deflate can expand its compressed bytes to). Node's DecompressionStream
 * holds about twice its output in ArrayBuffers (its 16 KiB chunks and its own copies of them, measured),
 * and the reader copies the chunks into one buffer.
 */
function inflateAllowance(e: ZipEntry | undefined): number {
  if (!e || e.method !== 8) return 0;
  return 3 * Math.min(e.size, DEFLATE_MAX_RATIO * e.compressedSize);
}

/**
 * zip: the zip reader on its own (every entry whole, and in part), then the checkpoint reader on top of it
 * (the state dict, and every tensor of a readable size).
 */
async function zipTarget(bytes: Uint8Array, ctx: Ctx): Promise<void> {
  const src = bufferSource(bytes, WHAT);
  ctx.window();
  let zip: ZipReader | undefined;
  try {
    zip = await ZipReader.open(src);
    for (const e of zip.entries.values()) {
      const inflate = inflateAllowance(e);
      if (inflate > READ_LIMIT) continue;
      ctx.allow(inflate);
      const whole = await zip.read(e);
      if (whole.length !== e.size) {
        throw new PropertyViolation(`entry '${e.name}' read as ${whole.length} bytes, the directory says ${e.size}`);
      }
      // A part of a stored entry is read in place; a deflated one is inflated whole again (not repeated).
      if (e.size >= 2 && e.method === 0) {
        const part = await zip.read(e, 1, e.size - 2);
        if (!sameBytes(part, whole.subarray(1, e.size - 1))) {
          throw new PropertyViolation(`entry '${e.name}': a partial read differs from the whole`);
        }
      }
    }
  } catch (e) {
    if (!(e instanceof Sam2Error)) untyped('ZipReader', e);
  }

  ctx.window();
  for (const e of zip?.entries.values() ?? []) {
    if (/(^|\/)(data\.pkl|byteorder)$/.test(e.name)) ctx.allow(inflateAllowance(e));
  }
  let ckpt: TorchCheckpoint;
  try {
    ckpt = await TorchCheckpoint.open(src);
  } catch (e) {
    if (e instanceof Sam2Error) throw e;
    untyped('TorchCheckpoint.open', e);
  }
  if (!zip) throw new PropertyViolation('TorchCheckpoint.open accepted a file that ZipReader.open refuses');
  let sd: Map<string, TorchTensor>;
  try {
    sd = ckpt.stateDict();
  } catch (e) {
    if (e instanceof Sam2Error) throw e;
    untyped('TorchCheckpoint.stateDict', e);
  }
  for (const [name, t] of sd) {
    const es = ELEMENT_BYTES[t.dtype];
    const dense = t.numel * es;
    const entry = ckpt.zip.get(`${ckpt.prefix}data/${t.storage.key}`);
    const inflate = inflateAllowance(entry);
    // Tensors beyond the read limit are the caller's call (a stride-0 view may legitimately expand a
    // small storage); readTensor itself must still refuse impossible sizes with a typed error.
    const wanted = Number.isSafeInteger(dense) && dense <= READ_LIMIT && inflate <= READ_LIMIT;
    if (wanted) ctx.allow(dense + Math.min(t.extent * es, entry?.size ?? 0) + inflate);
    else if (Number.isSafeInteger(dense) && dense <= MAX_TENSOR_BYTES) continue;
    let out: Uint8Array;
    try {
      out = await ckpt.readTensor(t, name);
    } catch (e) {
      if (e instanceof Sam2Error) throw e;
      untyped('TorchCheckpoint.readTensor', e);
    }
    if (out.length !== dense) {
      throw new PropertyViolation(`tensor '${name}' read as ${out.length} bytes, ${t.dtype} [${t.shape}] has ${dense}`);
    }
  }
}

/** Storage references as torch writes them, resolved without any archive behind them. */
function persistentLoad(pid: unknown): StorageRef {
  if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') throw new FormatError(`${WHAT}: unsupported persistent id`);
  const [, type, key, location, numel] = pid as unknown[];
  const q = (type as { qualname?: unknown } | null)?.qualname;
  const cls = typeof q === 'string' && q.startsWith('torch.') ? q.slice(6) : '';
  if (!Object.hasOwn(STORAGE_TYPES, cls)) throw new FormatError(`${WHAT}: storage reference without a storage type`);
  if (typeof key !== 'string' || typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) {
    throw new FormatError(`${WHAT}: malformed storage reference`);
  }
  return new StorageRef(key, STORAGE_TYPES[cls], numel, typeof location === 'string' ? location : 'cpu');
}

/** (d): what an accepted pickle returns holds only data. */
function checkPickleTree(root: unknown): void {
  const seen = new Set<object>();
  const todo: unknown[] = [root];
  while (todo.length) {
    const v = todo.pop();
    if (v === undefined) throw new PropertyViolation('unpickle produced undefined');
    if (v === null || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' || typeof v === 'string') continue;
    if (typeof v === 'function') throw new PropertyViolation(`unpickle produced a function (${v.name || 'anonymous'})`);
    if (typeof v !== 'object') throw new PropertyViolation(`unpickle produced a ${typeof v}`);
    if (seen.has(v)) continue;
    seen.add(v);
    if (v instanceof Uint8Array || v instanceof StorageRef) continue;
    if (v instanceof TorchTensor) {
      todo.push(v.storage);
      continue;
    }
    if (v instanceof PickleDict) {
      for (const [k, x] of v) todo.push(k, x);
      if (v.attrs) todo.push(v.attrs);
      continue;
    }
    if (Array.isArray(v) && (Object.getPrototypeOf(v) === Array.prototype || v instanceof PickleTuple)) {
      for (const x of v) todo.push(x);
      continue;
    }
    const ctor = (v as { constructor?: { name?: string } }).constructor?.name;
    if (ctor === 'AllowedGlobal') {
      const q = (v as { qualname?: unknown }).qualname;
      if (typeof q !== 'string' || !ALLOWED_GLOBALS.has(q)) {
        throw new PropertyViolation(`unpickle produced a global '${String(q)}' that is not allowed`);
      }
      continue;
    }
    throw new PropertyViolation(`unpickle produced an object of class ${ctor ?? '(none)'}`);
  }
}

/** pickle: the unpickler on its own, with torch-style storage references. */
async function pickleTarget(bytes: Uint8Array, ctx: Ctx): Promise<void> {
  ctx.window();
  let v: unknown;
  try {
    v = unpickle(bytes, { persistentLoad, description: WHAT });
  } catch (e) {
    if (e instanceof UnsafePickleError && ALLOWED_GLOBALS.has(e.global)) {
      throw new PropertyViolation(`UnsafePickleError for the allowed global '${e.global}'`);
    }
    if (e instanceof Sam2Error) throw e;
    untyped('unpickle', e);
  }
  checkPickleTree(v);
  // The reader runs straight through to the first STOP: every GLOBAL before it was resolved.
  for (const op of walkPickle(bytes)) {
    if (op.global !== undefined && !ALLOWED_GLOBALS.has(op.global)) {
      throw new PropertyViolation(`a pickle naming '${op.global}' was accepted`);
    }
  }
}

const TARGETS: Readonly<Record<ParserName, (bytes: Uint8Array, ctx: Ctx) => Promise<void>>> = {
  safetensors: safetensorsTarget,
  zip: zipTarget,
  pickle: pickleTarget,
};

// ---------------------------------------------------------------------------------------------------------
// Checking one input

/** The guards every checked input runs under; installed once per fuzzing session. */
export class Guards {
  readonly meter = new AllocationMeter();
  readonly sentinels = new Sentinels();
  private installs = 0;

  install(): void {
    if (this.installs++ === 0) {
      this.meter.install();
      this.sentinels.install();
    }
  }

  uninstall(): void {
    if (--this.installs === 0) {
      this.meter.uninstall();
      this.sentinels.uninstall();
    }
  }
}

export const guards = new Guards();

export interface Outcome {
  accepted: boolean;
  /** The typed error of a rejected input. */
  error?: Sam2Error;
  ms: number;
}

/**
 * Runs one input through a parser and checks every property; throws a PropertyViolation when one fails.
 * `guards` must be installed.
 */
export async function checkInput(parser: ParserName, bytes: Uint8Array): Promise<Outcome> {
  const { meter, sentinels } = guards;
  const calls = sentinels.calls.length;
  const protoBefore = prototypeShape();
  const buffersBefore = process.memoryUsage().arrayBuffers;
  let allowed = 0;
  const ctx: Ctx = {
    window: () => meter.window(bytes.length),
    allow: (n) => {
      allowed += n;
      meter.allow(n);
    },
  };
  let error: unknown;
  let accepted = false;
  meter.begin(bytes.length);
  const t0 = performance.now();
  try {
    await TARGETS[parser](bytes, ctx);
    accepted = true;
  } catch (e) {
    error = e;
  } finally {
    meter.end();
  }
  const ms = performance.now() - t0;
  const buffersGrowth = process.memoryUsage().arrayBuffers - buffersBefore;

  if (meter.violation !== undefined) throw new PropertyViolation(`(c) memory: ${meter.violation}`);
  if (error instanceof PropertyViolation) throw error;
  if (error !== undefined && !(error instanceof Sam2Error)) untyped(parser, error);
  if (ms > MAX_INPUT_MS) throw new PropertyViolation(`(b) time: the input took ${ms.toFixed(0)} ms (limit ${MAX_INPUT_MS} ms)`);
  const backstop = 3 * (MEMORY_FACTOR * bytes.length + MEMORY_SLACK) + allowed + BACKSTOP_SLACK;
  if (buffersGrowth > backstop) {
    throw new PropertyViolation(`(c) memory: live ArrayBuffers grew by ${buffersGrowth} bytes during the parse (limit ${backstop})`);
  }
  if (sentinels.calls.length !== calls) throw new PropertyViolation(`(d) executed: ${sentinels.calls.slice(calls).join(', ')}`);
  if (prototypeShape() !== protoBefore) throw new PropertyViolation('(d) a built-in prototype was modified');
  if (error instanceof Sam2Error && error.message.length > 4 * bytes.length + 4096) {
    throw new PropertyViolation(`the error message has ${error.message.length} characters for a ${bytes.length}-byte input`);
  }
  return { accepted, error: error as Sam2Error | undefined, ms };
}

// ---------------------------------------------------------------------------------------------------------
// Fuzzing sessions

export interface FuzzStats {
  inputs: number;
  accepted: number;
  rejected: number;
  inputBytes: number;
  slowestMs: number;
  slowestRecipe?: unknown;
  /** Rejections by error class and the gist of the message. */
  reasons: Map<string, number>;
}

/** The gist of an error message: without the input's name, numbers and quoted names. */
function reasonOf(e: Sam2Error): string {
  const msg = e.message
    .replace(/^fuzz-input(: fuzz-input)?(: [\w./-]*data\.pkl)?: /, '')
    .replace(/'[^']*'|"[^"]*"/g, '…')
    .replace(/\d+/g, 'N');
  return `${e.constructor.name}: ${msg.length > 70 ? `${msg.slice(0, 70)}…` : msg}`;
}

export interface FuzzOptions {
  runs: number;
  /** fast-check seed (random when absent; always reported). */
  seed?: number;
  /** fast-check path of a counterexample, to replay it. */
  path?: string;
  /** Called with the running statistics every `progressEvery` inputs. */
  onProgress?: (stats: FuzzStats) => void;
  progressEvery?: number;
}

export interface FuzzFailure {
  message: string;
  /** The fast-check path of the (shrunk) counterexample: replay with the same seed and this path. */
  path: string;
  input?: FuzzInput;
}

export interface FuzzReport {
  parser: ParserName;
  seed: number;
  seconds: number;
  stats: FuzzStats;
  failure?: FuzzFailure;
}

export async function inputArbitrary(parser: ParserName): Promise<fc.Arbitrary<FuzzInput>> {
  switch (parser) {
    case 'safetensors':
      return safetensorsInputArb(await safetensorsCorpus());
    case 'zip':
      return checkpointInputArb(await checkpointCorpus());
    case 'pickle':
      return pickleInputArb(await pickleCorpus());
  }
}

/** Runs `opts.runs` generated inputs through one parser; on a failure, shrinks it and reports it. */
export async function fuzzParser(parser: ParserName, opts: FuzzOptions): Promise<FuzzReport> {
  const arb = await inputArbitrary(parser);
  const seed = opts.seed ?? (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) | 0;
  const stats: FuzzStats = { inputs: 0, accepted: 0, rejected: 0, inputBytes: 0, slowestMs: 0, reasons: new Map() };
  const every = opts.progressEvery ?? 0;
  const property = fc.asyncProperty(arb, async (input) => {
    stats.inputs++;
    stats.inputBytes += input.bytes.length;
    const o = await checkInput(parser, input.bytes); // a failing input counts as neither accepted nor rejected
    if (o.accepted) stats.accepted++;
    else {
      stats.rejected++;
      // Kept to a few thousand kinds: JSON.parse messages quote the input, so kinds do not all repeat.
      let r = reasonOf(o.error!);
      if (!stats.reasons.has(r) && stats.reasons.size >= 5000) r = '(other kinds)';
      stats.reasons.set(r, (stats.reasons.get(r) ?? 0) + 1);
    }
    if (o.ms > stats.slowestMs) {
      stats.slowestMs = o.ms;
      stats.slowestRecipe = input.recipe;
    }
    if (every && stats.inputs % every === 0) opts.onProgress?.(stats);
  });
  guards.install();
  const t0 = performance.now();
  try {
    const details = await fc.check(property, { numRuns: opts.runs, seed, path: opts.path, timeout: HANG_MS });
    const seconds = (performance.now() - t0) / 1000;
    if (!details.failed) return { parser, seed, seconds, stats };
    const err = details.errorInstance;
    return {
      parser,
      seed,
      seconds,
      stats,
      failure: {
        message: err instanceof Error ? err.message : String(err ?? 'failed'),
        path: details.counterexamplePath ?? '',
        input: details.counterexample?.[0],
      },
    };
  } finally {
    guards.uninstall();
  }
}

/** A failure in words: what failed, how to replay it, and the (shrunk) recipe. */
export function describeFailure(r: FuzzReport): string {
  if (!r.failure) return `${r.parser}: no failure`;
  const recipe = JSON.stringify(r.failure.input?.recipe ?? null, (_k, v) =>
    typeof v === 'bigint'
      ? `${v}n`
      : v instanceof Uint8Array
        ? `<${v.length} bytes>`
        : typeof v === 'string' && v.length > 80
          ? `${v.slice(0, 40)}…(${v.length} characters)`
          : v,
  );
  return [
    `${r.parser}: property failed: ${r.failure.message}`,
    `  replay: npm run fuzz -- --parser ${r.parser} --seed ${r.seed} --path ${r.failure.path}`,
    `  input: ${r.failure.input?.bytes.length ?? '?'} bytes, recipe ${recipe.length > 2000 ? `${recipe.slice(0, 2000)}…` : recipe}`,
  ].join('\n');
}
