/**
 * Parity checks of model tensors against the official PyTorch reference (the tolerances of the model issues):
 *   f32 variant:            cosine ≥ 0.99999 and max|Δ| ≤ 1e-3 · max|ref|
 *   f16 / f16packed variant: cosine ≥ 0.999 against the same f32 reference
 * A reference stored as F16 in a fixture (tensors above 65,536 elements) is still a valid reference for these
 * bounds: its rounding (≤ 2⁻¹¹ of each value) is far below both.
 */
import { expect } from 'vitest';

export interface ParityTolerance {
  /** Lower bound of the cosine similarity. */
  cosine: number;
  /** Upper bound of max|Δ| / max|ref| (none when absent). */
  rel?: number;
}

export const F32_PARITY: ParityTolerance = { cosine: 0.99999, rel: 1e-3 };
export const F16_PARITY: ParityTolerance = { cosine: 0.999 };

/** The tolerance of a numeric variant ('f32', 'f16' or 'f16packed'). */
export function parityTolerance(variant: string): ParityTolerance {
  return variant === 'f32' ? F32_PARITY : F16_PARITY;
}

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

/** parity() and an assertion of the variant's tolerance (or `tol`); returns the measurement. */
export function expectParity(
  name: string,
  variant: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: ParityTolerance = parityTolerance(variant),
): ParityResult {
  const r = parity(name, variant, actual, expected);
  const where = r.at >= 0 ? ` (worst at ${r.at}: got ${actual[r.at]}, want ${expected[r.at]})` : '';
  const msg = `${name} (${variant}): cosine ${r.cosine.toFixed(7)}, max|Δ|/max|ref| ${r.rel.toExponential(3)}${where}`;
  expect(Number.isFinite(r.cosine) && r.cosine >= tol.cosine, `${msg}: cosine below ${tol.cosine}`).toBe(true);
  if (tol.rel !== undefined) expect(r.rel <= tol.rel, `${msg}: above ${tol.rel}`).toBe(true);
  return r;
}

/** A markdown table of measurements: tensor, variant, cosine, max|Δ|/max|ref|. */
export function parityTable(rows: readonly ParityResult[]): string {
  const lines = ['| tensor | variant | cosine | max|Δ|/max|ref| |', '|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.name} | ${r.variant} | ${r.cosine.toFixed(7)} | ${r.rel.toExponential(2)} |`);
  return lines.join('\n');
}
