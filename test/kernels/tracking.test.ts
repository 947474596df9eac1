import { describe, expect, it } from 'vitest';
import { clampToF32, gateMasks, gatePointer, maskPresence, memoryBankEntry, memoryMask } from '../../src/kernels/tracking.js';
import {
  clampRef,
  gateMasksRef,
  gatePointerRef,
  maskPresenceRef,
  memoryBankEntryRef,
  memoryMaskRef,
  NO_OBJ_SCORE,
} from '../../src/kernels/tracking.ref.js';
import { roundTo } from '../../src/runtime/dtype.js';
import { ShapeError } from '../../src/runtime/errors.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { asStored, expectClose, rand, variants } from '../helpers.js';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Object scores of a batch: negative, exactly 0, −0, the smallest normal f32, tiny, positive. */
const SCORES = [-0.5, 0, -0, 1.1754943508222875e-38, 2.75, -1e-30, 1e-30, 12];
const scoresFor = (B: number, seed: number) => Float32Array.from({ length: B }, (_, b) => SCORES[(b + seed) % SCORES.length]);

function noNaN(a: ArrayLike<number>, what: string): void {
  for (let i = 0; i < a.length; i++) if (Number.isNaN(a[i])) throw new Error(`${what}: NaN at ${i}`);
}

describe('tracking kernels', async () => {
  const vs = await variants();
  for (const v of vs) {
    const g = v.gpu;
    const owned: Tensor[] = [];
    const up = (data: ArrayLike<number>, shape: number[], dtype: 'f32' | 'f16' = v.dtype as 'f32' | 'f16') => {
      const t = g.upload(data, shape, dtype);
      owned.push(t);
      return t;
    };
    const read = async (t: Tensor) => {
      owned.push(t);
      return g.read(t);
    };
    const releaseAll = () => owned.splice(0).forEach((t) => t.release());

    it(`clampToF32: f32 out of x's dtype, exact (${v.name})`, async () => {
      for (const shape of [[3, 1, 7, 9], [1, 1, 64, 64], [1], [2, 5]]) {
        const x = asStored(v, rand(numel(shape), numel(shape), -50, 50));
        const y = clampToF32(g, up(x, shape), -32, 32);
        expect(y.dtype).toBe('f32');
        expect(y.shape).toEqual(shape);
        expectClose(await read(y), clampRef(x, -32, 32), 0, `clamp ${shape}`);
      }
      releaseAll();
    });

    it(`gateMasks: NO_OBJ_SCORE where score ≤ 0 (0 and −0 are absent), per batch row (${v.name})`, async () => {
      for (const shape of [[5, 1, 7, 9], [8, 1, 4, 4], [1, 1, 16, 16], [3, 3, 5, 3]]) {
        const B = shape[0];
        const x = asStored(v, rand(numel(shape), B * 31 + 1, -20, 20));
        const s = scoresFor(B, shape[3]);
        const xt = up(x, shape);
        const st = up(s, [B, 1], 'f32');
        const y = await read(gateMasks(g, xt, st));
        expectClose(y, gateMasksRef(x, s), 0, `gateMasks ${shape}`);
        const off = await read(gateMasks(g, xt, st, false));
        expectClose(off, gateMasksRef(x, s, false), 0, `gateMasks off ${shape}`);
      }
      // All eight scores in one batch: exactly which rows are gated.
      const B = SCORES.length;
      const xt = up(new Float32Array(B * 3).fill(1), [B, 1, 1, 3]);
      const y = await read(gateMasks(g, xt, up(SCORES, [B, 1], 'f32')));
      expect(Array.from(y)).toEqual(SCORES.flatMap((s) => new Array(3).fill(s > 0 ? 1 : NO_OBJ_SCORE)));
      releaseAll();
    });

    it(`gatePointer: hard λ exact, soft λ within f32 sigmoid ulps, per batch row (${v.name})`, async () => {
      for (const [B, C] of [[1, 256], [5, 10], [8, 2], [3, 64]]) {
        const p = asStored(v, rand(B * C, B + C, -2, 2));
        const e = asStored(v, rand(C, C, -1, 1));
        const s = scoresFor(B, C);
        const pt = up(p, [B, C]);
        const et = up(e, [1, C]);
        const st = up(s, [B, 1], 'f32');
        for (const soft of [false, true]) {
          for (const fixed of [false, true]) {
            const y = gatePointer(g, pt, st, et, { soft, fixed });
            expect(y.dtype).toBe(v.dtype);
            expect(y.shape).toEqual([B, C]);
            const got = await read(y);
            noNaN(got, 'gatePointer');
            const ref = roundTo(v.dtype, gatePointerRef(p, s, e, { soft, fixed }));
            expectClose(got, ref, soft ? v.tol : 0, `gatePointer [${B}, ${C}] soft=${soft} fixed=${fixed}`);
          }
        }
      }
      // Saturated soft scores (NO_OBJ_SCORE, large positive) stay finite.
      const C = 4;
      const y = await read(
        gatePointer(g, up([1, 2, 3, 4, 5, 6, 7, 8], [2, C]), up([NO_OBJ_SCORE, 1e30], [2, 1], 'f32'), up([-1, -2, -3, -4], [1, C]), {
          soft: true,
          fixed: true,
        }),
      );
      expect(Array.from(y)).toEqual([-1, -2, -3, -4, 5, 6, 7, 8]);
      releaseAll();
    });

    it(`maskPresence: s · [any > 0] + t per row; 0 is not positive (${v.name})`, async () => {
      const shape = [6, 1, 13, 11];
      const per = 13 * 11;
      const x = rand(numel(shape), 5, -3, -0.5);
      // row 0: all negative; 1: one positive pixel at the end; 2: exact zeros only; 3: positive first pixel;
      // 4: random signs; 5: the smallest normal f32 in the middle (denormals may be flushed on GPUs).
      x[2 * per - 1] = 0.25;
      x.fill(0, 2 * per, 3 * per);
      x[3 * per] = 7;
      x.set(rand(per, 9, -1, 1), 4 * per);
      x[5 * per + 70] = 1.1754943508222875e-38;
      const y = maskPresence(g, up(x, shape, 'f32'), 20, -10);
      expect(y.shape).toEqual([6, 1]);
      const got = await read(y);
      expectClose(got, maskPresenceRef(x, 6, 20, -10), 0, 'maskPresence');
      expect(Array.from(got)).toEqual([-10, 10, -10, 10, 10, 10]);
      // Rows shorter than the workgroup, and one element.
      const z = Float32Array.from([0, -1, 2, 0, 0, 0, -0, 3]);
      expectClose(await read(maskPresence(g, up(z, [4, 2], 'f32'), 1, 0)), [0, 1, 0, 1], 0, 'maskPresence short');
      expectClose(await read(maskPresence(g, up([0.5], [1, 1], 'f32'), 20, -10)), [10], 0, 'maskPresence one');
      releaseAll();
    });

    it(`memoryMask: binarized exact, sigmoid within ulps, into the activation dtype (${v.name})`, async () => {
      for (const shape of [[2, 1, 7, 9], [3, 1, 16, 16], [1, 1, 2, 1]]) {
        const x = rand(numel(shape), numel(shape) + 3, -12, 12);
        x[0] = 0;
        x[1] = NO_OBJ_SCORE;
        const xt = up(x, shape, 'f32');
        for (const binarize of [true, false]) {
          const opts = { binarize, scale: 20, bias: -10 };
          const y = memoryMask(g, xt, v.dtype as 'f32' | 'f16', opts);
          expect(y.dtype).toBe(v.dtype);
          const got = await read(y);
          noNaN(got, 'memoryMask');
          // The sigmoid path: f32 sigmoid differs by ulps, × 20 − 10 makes that an absolute 1e-5.
          const ref = roundTo(v.dtype, memoryMaskRef(x, opts));
          expectClose(got, ref, binarize ? 0 : v.name === 'f32' ? 1e-5 : v.tol, `memoryMask ${shape} binarize=${binarize}`);
        }
      }
      const sat = await read(memoryMask(g, up([-1e30, 1e30, -1024, 1024], [1, 4], 'f32'), v.dtype as 'f32' | 'f16', { binarize: false, scale: 20, bias: -10 }));
      expect(Array.from(sat)).toEqual([-10, 10, -10, 10]);
      releaseAll();
    });

    it(`memoryBankEntry: bf16 token-major, no_obj_embed_spatial per absent row, exact (${v.name})`, async () => {
      for (const [B, C, h, w] of [[3, 6, 5, 7], [5, 64, 4, 4], [1, 2, 1, 1], [2, 16, 3, 65]]) {
        const x = asStored(v, rand(B * C * h * w, B * C + h, -3, 3));
        const e = asStored(v, rand(C, C + 1, -1, 1));
        const s = scoresFor(B, C);
        const ft = up(x, [B, C, h, w]);
        const st = up(s, [B, 1], 'f32');
        const y = memoryBankEntry(g, ft, st, up(e, [1, C]));
        expect(y.dtype).toBe('bf16');
        expect(y.shape).toEqual([B, h * w, C]);
        expectClose(await read(y), memoryBankEntryRef(x, [B, C, h * w], s, e), 0, `memoryBankEntry [${B}, ${C}, ${h}, ${w}]`);
        const plain = memoryBankEntry(g, ft, st, null);
        expectClose(await read(plain), memoryBankEntryRef(x, [B, C, h * w], s, null), 0, `memoryBankEntry plain [${B}, ${C}, ${h}, ${w}]`);
      }
      releaseAll();
    });

    it(`a batch equals its rows one by one (${v.name})`, async () => {
      const [B, C, h, w] = [4, 8, 3, 5];
      const x = asStored(v, rand(B * C * h * w, 77, -4, 4));
      const e = asStored(v, rand(C, 78));
      const s = scoresFor(B, 1);
      const ft = up(x, [B, C, h, w]);
      const st = up(s, [B, 1], 'f32');
      const et = up(e, [1, C]);
      const whole = {
        gate: await read(gateMasks(g, ft, st)),
        ptr: await read(gatePointer(g, ft.reshape([B, C * h * w]), st, up(rand(C * h * w, 79), [1, C * h * w]), { soft: true, fixed: true })),
        bank: await read(memoryBankEntry(g, ft, st, et)),
      };
      const per = C * h * w;
      const noObjPtr = asStored(v, rand(C * h * w, 79));
      for (let b = 0; b < B; b++) {
        const fb = up(x.subarray(b * per, (b + 1) * per), [1, C, h, w]);
        const sb = up([s[b]], [1, 1], 'f32');
        expect(Array.from(await read(gateMasks(g, fb, sb)))).toEqual(Array.from(whole.gate.subarray(b * per, (b + 1) * per)));
        const pb = await read(gatePointer(g, fb.reshape([1, per]), sb, up(noObjPtr, [1, per]), { soft: true, fixed: true }));
        expect(Array.from(pb)).toEqual(Array.from(whole.ptr.subarray(b * per, (b + 1) * per)));
        expect(Array.from(await read(memoryBankEntry(g, fb, sb, et)))).toEqual(Array.from(whole.bank.subarray(b * per, (b + 1) * per)));
      }
      releaseAll();
    });
  }

  it('rejects bad shapes and dtypes with ShapeError', () => {
    const g = vs[0].gpu;
    const x = g.empty([2, 1, 4, 4]);
    const s2 = g.empty([2, 1]);
    const s3 = g.empty([3, 1]);
    const s2h = g.empty([2, 1], 'f16');
    expect(() => gateMasks(g, x, s3)).toThrow(ShapeError);
    expect(() => gateMasks(g, x, s3)).toThrow(/gateMasks: scores .* must be \[2, 1\]:f32/);
    expect(() => gateMasks(g, x, s2h)).toThrow(/gateMasks: scores/);
    expect(() => gatePointer(g, g.empty([2, 5]), s2, g.empty([1, 5]), { soft: false, fixed: false })).toThrow(/gatePointer: pointer .* C even/);
    expect(() => gatePointer(g, g.empty([2, 4]), s3, g.empty([1, 4]), { soft: false, fixed: false })).toThrow(/gatePointer: scores/);
    expect(() => gatePointer(g, g.empty([2, 4]), s2, g.empty([1, 6]), { soft: false, fixed: false })).toThrow(/gatePointer: no_obj_ptr/);
    expect(() => gatePointer(g, g.empty([2, 4]), s2, g.empty([1, 4], 'f16'), { soft: false, fixed: false })).toThrow(/gatePointer: no_obj_ptr/);
    expect(() => maskPresence(g, g.empty([2, 4], 'f16'), 20, -10)).toThrow(/maskPresence: masks .* must be f32/);
    expect(() => memoryMask(g, g.empty([1, 3]), 'f32', { binarize: true, scale: 1, bias: 0 })).toThrow(/memoryMask: logits .* even size/);
    expect(() => memoryMask(g, g.empty([1, 4], 'f16'), 'f32', { binarize: true, scale: 1, bias: 0 })).toThrow(/memoryMask: logits/);
    expect(() => memoryBankEntry(g, g.empty([2, 4, 4]), s2, null)).toThrow(/memoryBankEntry: features .* \[B, C, h, w\]/);
    expect(() => memoryBankEntry(g, g.empty([2, 3, 4, 4]), s2, null)).toThrow(/memoryBankEntry: .* even channel count/);
    expect(() => memoryBankEntry(g, x.reshape([2, 4, 2, 2]), s3, null)).toThrow(/memoryBankEntry: scores/);
    expect(() => memoryBankEntry(g, x.reshape([2, 4, 2, 2]), s2, g.empty([1, 2]))).toThrow(/memoryBankEntry: no_obj_embed_spatial/);
    expect(() => clampToF32(g, g.empty([2], 'bf16'), 0, 1)).toThrow(/clampToF32: .* f32 or f16/);
    for (const t of [x, s2, s3, s2h]) t.release();
  });
});
