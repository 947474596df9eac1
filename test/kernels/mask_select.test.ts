import { describe, expect, it } from 'vitest';
import { maskSelection, selectRows, thresholdTest } from '../../src/kernels/mask_select.js';
import { maskSelectionRef, selectRowsRef, stabilityScoreRef } from '../../src/kernels/mask_select.ref.js';
import { ShapeError } from '../../src/runtime/errors.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { asStored, rand, variants } from '../helpers.js';

/**
 * Mask 0 of each prompt with exactly `ai` pixels above delta and `au` above −delta (the rest below −delta):
 * values 1 (in both areas), delta itself and 0 (union only: delta is not above delta), −delta (neither).
 */
function stabilityMasks(counts: Array<[number, number]>, M: number, P: number, delta: number, seed: number): Float32Array {
  const B = counts.length;
  const m = rand(B * M * P, seed, -4, 4);
  for (let b = 0; b < B; b++) {
    const [ai, au] = counts[b];
    const vals: number[] = [];
    for (let p = 0; p < P; p++) vals.push(p < ai ? 1 + (p % 3) : p < au ? (p % 2 ? delta : 0) : p % 2 ? -delta : -1 - (p % 5));
    // a fixed shuffle so the areas are spread over the workgroup's lanes
    for (let p = P - 1; p > 0; p--) {
      const q = (p * 7919 + b) % (p + 1);
      [vals[p], vals[q]] = [vals[q], vals[p]];
    }
    m.set(vals, b * M * P);
  }
  return m;
}

describe('mask selection', async () => {
  const vs = await variants();
  for (const v of vs) {
    const g = v.gpu;
    const owned: Tensor[] = [];
    const up = (data: ArrayLike<number>, shape: number[]) => {
      const t = g.upload(data, shape, v.dtype);
      owned.push(t);
      return t;
    };
    const read = async (t: Tensor) => {
      owned.push(t);
      return g.read(t);
    };

    it(`argmax over [first, M), first maximum on ties, per prompt (${v.name})`, async () => {
      for (const [B, M, H, W] of [[1, 3, 8, 8], [6, 4, 5, 7], [9, 3, 1, 1], [3, 1, 4, 4]]) {
        const masks = asStored(v, rand(B * M * H * W, B * M + H, -3, 3));
        // few distinct IoUs, so there are ties
        const iou = asStored(v, Float32Array.from(rand(B * M, B + M, 0, 4), (x) => Math.floor(x) / 4));
        const mt = up(masks, [B, M, H, W]);
        const it = up(iou, [B, M]);
        for (let first = 0; first < M; first++) {
          const sel = await read(maskSelection(g, mt, it, { first }));
          expect(Array.from(sel), `[${B}, ${M}] first ${first}`).toEqual(Array.from(maskSelectionRef(masks, iou, B, M, { first })));
        }
      }
      owned.splice(0).forEach((t) => t.release());
    });

    it(`stability: exact threshold edges, empty union, per prompt (${v.name})`, async () => {
      const P = 13 * 17; // odd, more than the 64 lanes
      const M = 4;
      const delta = 0.0625; // exact in f16
      const counts: Array<[number, number]> = [
        [49, 50], // 0.98: stable at 0.98
        [48, 49], // 0.97959…: not
        [0, 0], // empty union: score 1, stable
        [97, 100],
        [0, 5], // score 0
        [P, P], // all
        [3, 4], // 0.75 exactly
        [2, 3],
        [150, 151],
        [200, 221],
      ];
      const masks = asStored(v, stabilityMasks(counts, M, P, delta, 11));
      const iou = asStored(v, rand(counts.length * M, 12, 0, 1));
      const B = counts.length;
      const mt = up(masks, [B, M, 13, 17]);
      const it = up(iou, [B, M]);
      // The constructed counts are what the reference sees.
      for (let b = 0; b < B; b++) {
        const [ai, au] = counts[b];
        expect(stabilityScoreRef(masks.subarray(b * M * P, b * M * P + P), delta)).toBe(au ? Math.fround(ai / au) : 1);
      }
      for (const thresh of [0.98, 0.75, 0.7, 1, 0, -1, 1.5, 2 / 3, 0.97959183673, 150 / 151, 200 / 221, 0.5]) {
        for (const first of [0, 1]) {
          const opts = { first, stability: { delta, thresh } };
          const sel = await read(maskSelection(g, mt, it, opts));
          expect(Array.from(sel), `thresh ${thresh} first ${first}`).toEqual(Array.from(maskSelectionRef(masks, iou, B, M, opts)));
        }
      }
      // Another mask as the stability candidate.
      const opts = { first: 0, stability: { delta, thresh: 0.9, index: 2 } };
      const sel = await read(maskSelection(g, mt, it, opts));
      expect(Array.from(sel)).toEqual(Array.from(maskSelectionRef(masks, iou, B, M, opts)));
      owned.splice(0).forEach((t) => t.release());
    });

    it(`stability: seeded counts against thresholds at their f32 rounding boundaries (${v.name})`, async () => {
      const P = 1000;
      const M = 2;
      const delta = 0.5;
      const r = rand(256, 21, 0, 1);
      const counts: Array<[number, number]> = [];
      for (let i = 0; i < 128; i++) {
        const au = 1 + Math.floor(r[2 * i] * P);
        counts.push([Math.floor(r[2 * i + 1] * (au + 1)), au]);
      }
      const masks = asStored(v, stabilityMasks(counts, M, P, delta, 22));
      const iou = asStored(v, rand(counts.length * M, 23, 0, 1));
      const B = counts.length;
      const mt = up(masks, [B, M, P]);
      const it = up(iou, [B, M]);
      // Thresholds equal to some prompts' f32 quotients, and the f32 neighbours of those.
      const threshes: number[] = [];
      for (const [ai, au] of counts.slice(0, 6)) {
        const q = Math.fround(ai / au);
        if (!(q > 0)) continue;
        const bits = new Uint32Array(new Float32Array([q]).buffer)[0];
        for (const d of [-1, 0, 1]) threshes.push(new Float32Array(new Uint32Array([bits + d]).buffer)[0]);
      }
      for (const thresh of threshes) {
        const opts = { first: 1, stability: { delta, thresh } };
        const sel = await read(maskSelection(g, mt, it, opts));
        expect(Array.from(sel), `thresh ${thresh}`).toEqual(Array.from(maskSelectionRef(masks, iou, B, M, opts)));
      }
      owned.splice(0).forEach((t) => t.release());
    });

    it(`selectRows picks the one-hot's rows exactly (${v.name})`, async () => {
      const [B, M, H, W] = [5, 3, 7, 5];
      const x = asStored(v, rand(B * M * H * W, 31, -30, 30));
      const iou = asStored(v, rand(B * M, 32, 0, 1));
      const xt = up(x, [B, M, H, W]);
      const sel = maskSelection(g, xt, up(iou, [B, M]));
      const selData = await read(sel);
      const y = selectRows(g, sel, xt);
      expect(y.shape).toEqual([B, 1, H, W]);
      expect(Array.from(await read(y))).toEqual(Array.from(selectRowsRef(selData, x, B, M)));
      owned.splice(0).forEach((t) => t.release());
    });
  }

  it('thresholdTest: bound / 2^shift is the midpoint below f32(thresh)', () => {
    for (const thresh of [0.98, 0.95, 0.5, 1, 1e-3, 0.3333333]) {
      const t = thresholdTest(thresh);
      expect(t.mode).toBe(1);
      const mid = t.bound / 2 ** t.shift;
      const tf = Math.fround(thresh);
      expect(mid).toBeLessThan(tf);
      expect(Math.fround(mid)).not.toBe(mid);
    }
    expect(thresholdTest(0).mode).toBe(2);
    expect(thresholdTest(-0.5).mode).toBe(2);
    expect(thresholdTest(1.01).mode).toBe(3);
    // Thresholds below about 2^-16 need more than the 64-bit comparison holds.
    expect(() => thresholdTest(1e-6)).toThrow(/threshold .* out of the supported range/);
  });

  it('rejects bad shapes with ShapeError', () => {
    const g = vs[0].gpu;
    const masks = g.empty([2, 3, 4, 4]);
    const iou = g.empty([2, 3]);
    expect(() => maskSelection(g, masks, g.empty([2, 4]))).toThrow(ShapeError);
    expect(() => maskSelection(g, masks, g.empty([2, 4]))).toThrow(/maskSelection: .* differ in \[B, M\]/);
    expect(() => maskSelection(g, masks, g.empty([6]))).toThrow(/maskSelection: masks .* \[B, M, \.\.\.\]/);
    expect(() => maskSelection(g, masks, g.empty([2, 3], 'f16'))).toThrow(/maskSelection: .* differ in dtype/);
    expect(() => maskSelection(g, masks, iou, { first: 3 })).toThrow(/maskSelection: first candidate 3/);
    expect(() => maskSelection(g, masks, iou, { stability: { delta: 0.05, thresh: 0.9, index: 3 } })).toThrow(/maskSelection: stability index 3/);
    expect(() => selectRows(g, iou, g.empty([2, 4, 5]))).toThrow(/selectRows: .* must be \[2, 3, \.\.\.\]/);
    masks.release();
    iou.release();
  });
});
