/**
 * The part of vitest's API the kernel and module test files use (describe, it, beforeAll, afterAll, expect
 * with the matchers below, ctx.skip(), expect.getState().testPath), implemented without vitest, so that the
 * same test files run as they are in the device kit's bundle (bench/gpu/build.mjs aliases 'vitest' to this
 * file): on a machine that has only a Node binary, with the test files' own cases, tolerances and parity
 * bounds. bench/gpu/checks.ts collects and runs them.
 */

type Body = (ctx: TestContext) => unknown;

export interface TestContext {
  skip(note?: string): never;
}

interface Test {
  kind: 'test';
  name: string;
  fn: Body;
}

interface Suite {
  kind: 'suite';
  name: string;
  body?: () => unknown;
  children: Array<Suite | Test>;
  beforeAll: Array<() => unknown>;
  afterAll: Array<() => unknown>;
}

export interface TestOutcome {
  file: string;
  name: string;
  status: 'passed' | 'failed' | 'skipped';
  ms: number;
  error?: string;
}

class Skip extends Error {}

const newSuite = (name: string, body?: () => unknown): Suite => ({ kind: 'suite', name, body, children: [], beforeAll: [], afterAll: [] });

let current: Suite = newSuite('');
let testPath = '';
let testName = '';

export function describe(name: string, body: () => unknown): void {
  current.children.push(newSuite(name, body));
}

export function it(name: string, fn: Body): void {
  current.children.push({ kind: 'test', name, fn });
}

export function beforeAll(fn: () => unknown): void {
  current.beforeAll.push(fn);
}

export function afterAll(fn: () => unknown): void {
  current.afterAll.push(fn);
}

// ---------------------------------------------------------------- expect

function equal(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.constructor !== b.constructor) return false;
    const x = a as unknown as ArrayLike<unknown>;
    const y = b as unknown as ArrayLike<unknown>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i]) && x[i] !== y[i]) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (a instanceof Map || b instanceof Map) {
    if (!(a instanceof Map && b instanceof Map) || a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || !equal(v, b.get(k))) return false;
    return true;
  }
  if (a instanceof Set || b instanceof Set) {
    if (!(a instanceof Set && b instanceof Set) || a.size !== b.size) return false;
    for (const v of a) if (!b.has(v)) return false;
    return true;
  }
  // toEqual ignores properties whose value is undefined.
  const keys = (o: object) => Object.keys(o).filter((k) => (o as Record<string, unknown>)[k] !== undefined);
  const ka = keys(a);
  const kb = keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (!equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  return true;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'function') return `[function ${v.name || 'anonymous'}]`;
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}[${Array.from(v as unknown as ArrayLike<number>).slice(0, 16).join(', ')}${(v as unknown as ArrayLike<number>).length > 16 ? ', …' : ''}]`;
  try {
    const s = JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? String(x) : x));
    return s === undefined ? String(v) : s.length > 400 ? `${s.slice(0, 400)}…` : s;
  } catch {
    return String(v);
  }
}

type ErrorClass = abstract new (...args: never[]) => Error;

function thrownMatches(thrown: unknown, expected: undefined | string | RegExp | ErrorClass | Error): boolean {
  if (expected === undefined) return true;
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  if (typeof expected === 'string') return message.includes(expected);
  if (expected instanceof RegExp) return expected.test(message);
  if (expected instanceof Error) return message === expected.message;
  return thrown instanceof expected;
}

export interface Matchers {
  toBe(expected: unknown): void;
  toEqual(expected: unknown): void;
  toStrictEqual(expected: unknown): void;
  toBeCloseTo(expected: number, digits?: number): void;
  toBeGreaterThan(n: number): void;
  toBeGreaterThanOrEqual(n: number): void;
  toBeLessThan(n: number): void;
  toBeLessThanOrEqual(n: number): void;
  toBeDefined(): void;
  toBeUndefined(): void;
  toBeTruthy(): void;
  toBeFalsy(): void;
  toBeNaN(): void;
  toContain(item: unknown): void;
  toMatch(re: RegExp | string): void;
  toHaveLength(n: number): void;
  toBeInstanceOf(cls: ErrorClass): void;
  toThrow(expected?: string | RegExp | ErrorClass | Error): void;
  readonly not: Matchers;
}

function matchers(actual: unknown, message: string | undefined, negate: boolean): Matchers {
  const check = (pass: boolean, what: string) => {
    if (pass === negate) throw new Error(`${message ? `${message}: ` : ''}expected ${show(actual)} ${negate ? 'not ' : ''}${what}`);
  };
  const num = () => actual as number;
  return {
    toBe: (e) => check(Object.is(actual, e), `to be ${show(e)}`),
    toEqual: (e) => check(equal(actual, e), `to equal ${show(e)}`),
    toStrictEqual: (e) => check(equal(actual, e), `to equal ${show(e)}`),
    toBeCloseTo: (e, digits = 2) => check(Math.abs(num() - e) < 10 ** -digits / 2, `to be close to ${e} (${digits} digits)`),
    toBeGreaterThan: (n) => check(num() > n, `to be > ${n}`),
    toBeGreaterThanOrEqual: (n) => check(num() >= n, `to be ≥ ${n}`),
    toBeLessThan: (n) => check(num() < n, `to be < ${n}`),
    toBeLessThanOrEqual: (n) => check(num() <= n, `to be ≤ ${n}`),
    toBeDefined: () => check(actual !== undefined, 'to be defined'),
    toBeUndefined: () => check(actual === undefined, 'to be undefined'),
    toBeTruthy: () => check(!!actual, 'to be truthy'),
    toBeFalsy: () => check(!actual, 'to be falsy'),
    toBeNaN: () => check(Number.isNaN(actual), 'to be NaN'),
    toContain: (item) => check(typeof actual === 'string' ? actual.includes(String(item)) : Array.from(actual as ArrayLike<unknown>).includes(item), `to contain ${show(item)}`),
    toMatch: (re) => check(typeof re === 'string' ? String(actual).includes(re) : re.test(String(actual)), `to match ${String(re)}`),
    toHaveLength: (n) => check((actual as { length: number }).length === n, `to have length ${n}`),
    toBeInstanceOf: (cls) => check(actual instanceof cls, `to be an instance of ${cls.name}`),
    toThrow(expected) {
      if (typeof actual !== 'function') throw new Error('toThrow: expect() needs a function');
      let thrown: unknown;
      let threw = false;
      try {
        (actual as () => unknown)();
      } catch (e) {
        threw = true;
        thrown = e;
      }
      const what = expected === undefined ? 'to throw' : `to throw ${expected instanceof RegExp || typeof expected === 'string' ? String(expected) : expected instanceof Error ? expected.message : expected.name}`;
      const pass = threw && thrownMatches(thrown, expected);
      if (pass === negate) {
        const got = threw ? `it threw ${thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : show(thrown)}` : 'it did not throw';
        throw new Error(`${message ? `${message}: ` : ''}expected the function ${negate ? 'not ' : ''}${what}; ${got}`);
      }
    },
    get not() {
      return matchers(actual, message, !negate);
    },
  };
}

export const expect = Object.assign((actual: unknown, message?: string): Matchers => matchers(actual, message, false), {
  getState: () => ({ testPath, currentTestName: testName }),
});

// ---------------------------------------------------------------- collection and running

/** Collects a test file: `load` imports it (its top-level describe / it / hooks register under a new root). */
export async function collectFile(path: string, load: () => Promise<unknown>): Promise<Suite> {
  const root = newSuite(path);
  current = root;
  testPath = path;
  await load();
  await collectBodies(root);
  current = newSuite('');
  return root;
}

/** Runs the describe bodies (they may be async, as in vitest), each with its suite current. */
async function collectBodies(s: Suite): Promise<void> {
  for (const child of s.children) {
    if (child.kind !== 'suite') continue;
    current = child;
    await child.body?.();
    await collectBodies(child);
  }
}

function errorText(e: unknown): string {
  if (e instanceof Error) return `${e.name === 'Error' ? '' : `${e.name}: `}${e.message}`;
  return String(e);
}

/**
 * Runs a collected file's tests in order (hooks around each suite) and returns one outcome per test. A
 * failing beforeAll fails every test of its suite; `onOutcome` sees each outcome as it is known.
 */
export async function runFile(root: Suite, file: string, onOutcome: (o: TestOutcome) => void = () => {}): Promise<TestOutcome[]> {
  testPath = root.name;
  const out: TestOutcome[] = [];
  const emit = (o: TestOutcome) => {
    out.push(o);
    onOutcome(o);
  };
  const failAll = (s: Suite, prefix: string, error: string) => {
    for (const c of s.children) {
      const name = prefix ? `${prefix} > ${c.name}` : c.name;
      if (c.kind === 'test') emit({ file, name, status: 'failed', ms: 0, error });
      else failAll(c, name, error);
    }
  };
  const run = async (s: Suite, prefix: string) => {
    try {
      for (const h of s.beforeAll) await h();
    } catch (e) {
      failAll(s, prefix, `beforeAll: ${errorText(e)}`);
      return;
    }
    for (const c of s.children) {
      const name = prefix ? `${prefix} > ${c.name}` : c.name;
      if (c.kind === 'suite') {
        await run(c, name);
        continue;
      }
      testName = name;
      const t0 = performance.now();
      const ctx: TestContext = {
        skip(note?: string): never {
          throw new Skip(note ?? 'skipped');
        },
      };
      try {
        await c.fn(ctx);
        emit({ file, name, status: 'passed', ms: performance.now() - t0 });
      } catch (e) {
        if (e instanceof Skip) emit({ file, name, status: 'skipped', ms: performance.now() - t0, error: e.message });
        else emit({ file, name, status: 'failed', ms: performance.now() - t0, error: errorText(e) });
      }
    }
    for (const h of s.afterAll) {
      try {
        await h();
      } catch (e) {
        emit({ file, name: `${prefix || file} (afterAll)`, status: 'failed', ms: 0, error: errorText(e) });
      }
    }
  };
  await run(root, '');
  return out;
}
