/**
 * Parity checks of model tensors against the official PyTorch reference.
 *
 * Every check has a name (deterministic: the tensor and the case), a variant ('f32', 'f16', 'f16packed') and
 * a file (the test file it runs in). Its bounds live in one table, test/parity_bounds.json: for each check,
 * the measured error (max|Δ|/max|ref| and 1 − cosine, the worst over the adapters the suites run on) and the
 * bound the test enforces, at most 10× the measured error (8× rounded up to two digits, or the floor of the
 * variant when the measured error is below it: see `rule` in the table). The README's parity table is
 * generated from the same file (`npm run parity:bounds`), so neither can drift from what is enforced.
 *
 * Re-measuring: `SAM2_WEBGPU_PARITY=record` makes expectParity print each measurement (an `@parity` line)
 * instead of asserting; `npm run parity:bounds -- record` runs the parity suites that way, in Node and in
 * Chromium, and rewrites the table and the README. A check without an entry fails, naming that command.
 */
import { expect } from 'vitest';
import table from '../parity_bounds.json';

export interface ParityTolerance {
  /** Lower bound of the cosine similarity. */
  cosine: number;
  /** Upper bound of max|Δ| / max|ref| (none when absent). */
  rel?: number;
}

/** The fixed bounds of checks outside the table (the browser-vs-Node agreement). */
export const F32_PARITY: ParityTolerance = { cosine: 0.99999, rel: 1e-3 };

export interface ParityResult {
  name: string;
  variant: string;
  n: number;
  cosine: number;
  maxAbs: number;
  maxRef: number;
  /** max|Δ| / max|ref|. */
  rel: number;
  /** Index of the largest difference. */
  at: number;
}

/** One check's entry in test/parity_bounds.json. */
export interface BoundEntry {
  /** Enforced: max|Δ|/max|ref| ≤ rel and 1 − cosine ≤ cos. */
  rel: number;
  cos: number;
  /** The worst measured values the bounds derive from. */
  measured: { rel: number; cos: number };
}

interface BoundsTable {
  checks: Record<string, Record<string, Record<string, BoundEntry>>>;
}

declare const __SAM2_WEBGPU_PARITY__: string | undefined;

/** 'record' when measuring (Node: the environment; Chromium: defined by vitest.browser.config.ts). */
function mode(): string {
  if (typeof __SAM2_WEBGPU_PARITY__ === 'string') return __SAM2_WEBGPU_PARITY__;
  return typeof process !== 'undefined' ? (process.env.SAM2_WEBGPU_PARITY ?? '') : '';
}

/** The running test file as the table names it: 'model/mask_decoder' for test/model/mask_decoder.test.ts. */
export function currentTestFile(): string {
  const path = (expect.getState().testPath ?? '').replace(/\\/g, '/');
  const m = /(?:^|\/)test\/(.+)\.test\.ts$/.exec(path);
  if (!m) throw new Error(`parity: cannot tell the test file from '${path}'`);
  return m[1];
}

/** The table's bounds of a check, or undefined when it has none. */
export function boundOf(file: string, name: string, variant: string): BoundEntry | undefined {
  return (table as BoundsTable).checks[file]?.[name]?.[variant];
}

/** Cosine similarity and max relative difference of `actual` against `expected`, in f64. */
export function parity(name: string, variant: string, actual: ArrayLike<number>, expected: ArrayLike<number>): ParityResult {
  if (actual.length !== expected.length) {
    throw new Error(`${name} (${variant}): ${actual.length} values, the reference has ${expected.length}`);
  }
  let dot = 0;
  let na = 0;
  let ne = 0;
  let maxAbs = 0;
  let maxRef = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    dot += a * e;
    na += a * a;
    ne += e * e;
    const d = Math.abs(a - e);
    if (!(d <= maxAbs)) {
      maxAbs = d;
      at = i;
    }
    maxRef = Math.max(maxRef, Math.abs(e));
  }
  // Two all-zero tensors agree exactly.
  const cosine = na === 0 && ne === 0 ? 1 : dot / Math.sqrt(na * ne);
  return { name, variant, n: expected.length, cosine, maxAbs, maxRef, rel: maxAbs / Math.max(maxRef, 1e-30), at };
}

/**
 * parity() and an assertion of the check's bounds: those of test/parity_bounds.json for this file, name and
 * variant, or `tol` when given (checks outside the table). Returns the measurement. In record mode it prints
 * the measurement and asserts only that it is finite.
 */
export function expectParity(
  name: string,
  variant: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol?: ParityTolerance,
): ParityResult {
  const r = parity(name, variant, actual, expected);
  const where = r.at >= 0 ? ` (worst at ${r.at}: got ${actual[r.at]}, want ${expected[r.at]})` : '';
  const msg = `${name} (${variant}): cosine ${r.cosine.toFixed(9)}, max|Δ|/max|ref| ${r.rel.toExponential(3)}${where}`;
  expect(Number.isFinite(r.cosine) && Number.isFinite(r.rel), `${msg}: not finite`).toBe(true);
  if (tol) {
    expect(r.cosine >= tol.cosine, `${msg}: cosine below ${tol.cosine}`).toBe(true);
    if (tol.rel !== undefined) expect(r.rel <= tol.rel, `${msg}: above ${tol.rel}`).toBe(true);
    return r;
  }
  const file = currentTestFile();
  if (mode() === 'record') {
    console.log(`@parity ${JSON.stringify({ file, name, variant, rel: r.rel, cos: Math.max(0, 1 - r.cosine) })}`);
    return r;
  }
  const b = boundOf(file, name, variant);
  if (!b) {
    throw new Error(`${msg}: no bound for this check in test/parity_bounds.json (file ${file}); measure it with \`npm run parity:bounds -- record\``);
  }
  expect(1 - r.cosine <= b.cos, `${msg}: 1 − cosine ${(1 - r.cosine).toExponential(3)} above the bound ${b.cos} (measured ${b.measured.cos})`).toBe(true);
  expect(r.rel <= b.rel, `${msg}: above the bound ${b.rel} (measured ${b.measured.rel})`).toBe(true);
  return r;
}

/** A markdown table of measurements: tensor, variant, cosine, max|Δ|/max|ref|. */
export function parityTable(rows: readonly ParityResult[]): string {
  const lines = ['| tensor | variant | cosine | max|Δ|/max|ref| |', '|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.name} | ${r.variant} | ${r.cosine.toFixed(7)} | ${r.rel.toExponential(2)} |`);
  return lines.join('\n');
}
