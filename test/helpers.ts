/** Shared test utilities: GPU variants, seeded data, tolerance checks. */
import { expect } from 'vitest';
import { Gpu } from '../src/runtime/gpu.js';
import type { DType } from '../src/runtime/dtype.js';
import { roundTo } from '../src/runtime/dtype.js';

export interface Variant {
  /** 'f32', 'f16' (shader-f16) or 'f16packed' (f16 pairs in u32, f32 math). */
  name: 'f32' | 'f16' | 'f16packed';
  gpu: Gpu;
  dtype: DType;
  /** Relative tolerance (of the reference's max |value|) for results of this variant. */
  tol: number;
}

let gpus: { main: Gpu; packed: Gpu } | undefined;

/** One Gpu with the adapter's features and one that stores f16 as packed pairs (no shader-f16). */
export async function testGpus(): Promise<{ main: Gpu; packed: Gpu }> {
  gpus ??= {
    main: await Gpu.create(),
    packed: await Gpu.create({ f16Mode: 'f16packed' }),
  };
  return gpus;
}

let saidSkipped = false;

/**
 * Every numeric variant the adapter supports. Without shader-f16 the 'f16' variant is left out, and the
 * suite's output says so (once per test file).
 */
export async function variants(): Promise<Variant[]> {
  const { main, packed } = await testGpus();
  const v: Variant[] = [{ name: 'f32', gpu: main, dtype: 'f32', tol: 1e-5 }];
  if (main.info.features.f16) v.push({ name: 'f16', gpu: main, dtype: 'f16', tol: 1e-2 });
  else if (!saidSkipped) {
    saidSkipped = true;
    console.log(`variants: f16 skipped in this file (the adapter, ${main.info.adapter}, lacks shader-f16); f32 and f16packed run`);
  }
  v.push({ name: 'f16packed', gpu: packed, dtype: 'f16', tol: 1e-2 });
  return v;
}

/** Deterministic uniform [lo, hi) values (mulberry32). */
export function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = lo + (hi - lo) * u;
  }
  return out;
}

/** Input data as a tensor of this dtype would hold it (rounded to f16 for f16 variants). */
export function asStored(v: Variant, data: Float32Array): Float32Array {
  return roundTo(v.dtype, data);
}

export interface CloseReport {
  maxAbs: number;
  maxRef: number;
  rel: number;
  at: number;
}

export function compare(actual: ArrayLike<number>, expected: ArrayLike<number>): CloseReport {
  expect(actual.length).toBe(expected.length);
  let maxAbs = 0;
  let maxRef = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= maxAbs)) {
      maxAbs = d;
      at = i;
    }
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  return { maxAbs, maxRef, rel: maxAbs / Math.max(maxRef, 1e-30), at };
}

/** max|actual - expected| <= tol * max|expected| (plus a tiny absolute floor for all-zero references). */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = ''): CloseReport {
  const r = compare(actual, expected);
  const ok = r.maxAbs <= tol * r.maxRef + 1e-30 || r.maxAbs <= 1e-7 * tol;
  if (!ok) {
    throw new Error(
      `${what}: max|Δ| ${r.maxAbs.toExponential(3)} at ${r.at} (got ${actual[r.at]}, want ${expected[r.at]}) > ${tol} × max|ref| ${r.maxRef.toExponential(3)}`,
    );
  }
  return r;
}

/** IoU of the masks (a > 0) and (b > 0): 0/1 masks, label masks or logits; 1 when both are empty. */
export function maskIou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maskIou: ${a.length} values against ${b.length}`);
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] > 0;
    const y = b[i] > 0;
    if (x && y) inter++;
    if (x || y) union++;
  }
  return union === 0 ? 1 : inter / union;
}
