import { describe, expect, it } from 'vitest';
import { attention, attentionTuning, headMajor, packedQKV, tokenMajor, type HeadsView } from '../../src/kernels/attention.js';
import { attentionRef, headsToTokens, tokensToHeads, type AttentionDims } from '../../src/kernels/attention.ref.js';
import { ShapeError } from '../../src/runtime/errors.js';
import { capacity, DeviceProfile, flashWorkgroupBytes } from '../../src/runtime/profile.js';
import { asStored, expectClose, rand, variants, type Variant } from '../helpers.js';

interface Case extends AttentionDims {
  /** Input value range (logits grow with it). */
  range?: number;
}

const dimsStr = (c: AttentionDims) => `B${c.B} H${c.H} Lq${c.Lq} Lk${c.Lk} D${c.D} Dv${c.Dv}`;

/** Seeded q, k, v in head-major layout, rounded to the variant's storage. */
function inputs(v: Variant, c: Case, seed: number) {
  const r = c.range ?? 1;
  return {
    q: asStored(v, rand(c.B * c.H * c.Lq * c.D, seed, -r, r)),
    k: asStored(v, rand(c.B * c.H * c.Lk * c.D, seed + 1, -r, r)),
    v: asStored(v, rand(c.B * c.H * c.Lk * c.Dv, seed + 2, -1, 1)),
  };
}

/** The reference in head-major layout, as the variant would store it. */
function reference(v: Variant, c: Case, x: ReturnType<typeof inputs>, scale?: number): Float32Array {
  return asStored(v, Float32Array.from(attentionRef(x.q, x.k, x.v, c, scale)));
}

describe('attention', async () => {
  const vs = await variants();

  // Lengths 1, 3, 7, 33, 1001 for queries and keys; head dims 16, 48, 64, 256 (and 15: unaligned rows,
  // v's head dim unlike q's); several heads and batches.
  const shapes: Case[] = [
    { B: 1, H: 1, Lq: 1, Lk: 1, D: 16, Dv: 16 },
    { B: 2, H: 3, Lq: 3, Lk: 7, D: 48, Dv: 48 },
    { B: 1, H: 2, Lq: 33, Lk: 3, D: 64, Dv: 64 },
    { B: 1, H: 1, Lq: 7, Lk: 1001, D: 16, Dv: 16 },
    { B: 1, H: 2, Lq: 1001, Lk: 7, D: 16, Dv: 16 },
    { B: 1, H: 1, Lq: 3, Lk: 33, D: 256, Dv: 256 },
    { B: 2, H: 1, Lq: 7, Lk: 33, D: 48, Dv: 16 },
    { B: 1, H: 2, Lq: 7, Lk: 3, D: 15, Dv: 15 },
    { B: 1, H: 1, Lq: 33, Lk: 7, D: 16, Dv: 256 },
  ];

  for (const v of vs) {
    it(`head-major [B, H, L, D] ${v.name}`, async () => {
      const g = v.gpu;
      for (const [n, c] of shapes.entries()) {
        const x = inputs(v, c, 100 + n);
        const tq = g.upload(x.q, [c.B, c.H, c.Lq, c.D], v.dtype);
        const tk = g.upload(x.k, [c.B, c.H, c.Lk, c.D], v.dtype);
        const tv = g.upload(x.v, [c.B, c.H, c.Lk, c.Dv], v.dtype);
        const out = attention(g, tq, tk, tv);
        expect(out.shape).toEqual([c.B, c.H, c.Lq, c.Dv]);
        expectClose(await g.read(out), reference(v, c, x), v.tol, dimsStr(c));
        for (const t of [tq, tk, tv, out]) t.release();
      }
    });

    it(`token-major [B, L, H·D] in and out ${v.name}`, async () => {
      const g = v.gpu;
      for (const [n, c] of shapes.entries()) {
        const x = inputs(v, c, 200 + n);
        const tq = g.upload(headsToTokens(x.q, c.B, c.H, c.Lq, c.D), [c.B, c.Lq, c.H * c.D], v.dtype);
        const tk = g.upload(headsToTokens(x.k, c.B, c.H, c.Lk, c.D), [c.B, c.Lk, c.H * c.D], v.dtype);
        const tv = g.upload(headsToTokens(x.v, c.B, c.H, c.Lk, c.Dv), [c.B, c.Lk, c.H * c.Dv], v.dtype);
        const out = attention(g, tq, tk, tv, { heads: c.H });
        expect(out.shape).toEqual([c.B, c.Lq, c.H * c.Dv]);
        const got = tokensToHeads(await g.read(out), c.B, c.H, c.Lq, c.Dv);
        expectClose(got, reference(v, c, x), v.tol, `tokens ${dimsStr(c)}`);
        // Mixed: token-major in, head-major out.
        const out2 = attention(g, tq, tk, tv, { heads: c.H, outLayout: 'heads' });
        expectClose(await g.read(out2), reference(v, c, x), v.tol, `tokens→heads ${dimsStr(c)}`);
        for (const t of [tq, tk, tv, out, out2]) t.release();
      }
    });

    it(`packed qkv [B, L, 3, H, D] and a separate pooled q ${v.name}`, async () => {
      const g = v.gpu;
      // Hiera: self-attention over one packed qkv projection; at a stage change q is pooled (fewer tokens)
      // and k, v still come from the packed tensor.
      for (const [n, [B, H, L, D]] of [
        [2, 1, 7, 16],
        [1, 2, 33, 48],
        [3, 3, 3, 64],
      ].entries()) {
        const packed = asStored(v, rand(B * L * 3 * H * D, 300 + n));
        const part = (p: number) => {
          const y = new Float32Array(B * H * L * D);
          for (let b = 0; b < B; b++)
            for (let l = 0; l < L; l++)
              for (let h = 0; h < H; h++)
                for (let d = 0; d < D; d++) y[((b * H + h) * L + l) * D + d] = packed[(((b * L + l) * 3 + p) * H + h) * D + d];
          return y;
        };
        const c: Case = { B, H, Lq: L, Lk: L, D, Dv: D };
        const x = { q: part(0), k: part(1), v: part(2) };
        const t = g.upload(packed, [B, L, 3, H, D], v.dtype);
        const [qv, kv, vv] = packedQKV(t, H);
        const out = attention(g, qv, kv, vv);
        expect(out.shape).toEqual([B, L, H * D]);
        expectClose(tokensToHeads(await g.read(out), B, H, L, D), reference(v, c, x), v.tol, `packed ${dimsStr(c)}`);
        // Pooled queries: a separate token-major q with Lq = ceil(L / 4).
        const lq = Math.ceil(L / 4);
        const qp = asStored(v, rand(B * H * lq * D, 400 + n));
        const tq = g.upload(headsToTokens(qp, B, H, lq, D), [B, lq, H * D], v.dtype);
        const out2 = attention(g, tokenMajor(tq, H), kv, vv);
        const c2: Case = { ...c, Lq: lq };
        expectClose(tokensToHeads(await g.read(out2), B, H, lq, D), reference(v, c2, { ...x, q: qp }), v.tol, `pooled q ${dimsStr(c2)}`);
        for (const u of [t, out, tq, out2]) u.release();
      }
    });

    it(`large-magnitude logits (online softmax stability) ${v.name}`, async () => {
      const g = v.gpu;
      // Logits of several hundred: exp of them overflows f32 without the running max. Keys are then sorted
      // by their score against query 0 so that its running max grows at every key (a rescale every step),
      // and the reverse (the first key holds the max). f32 rounds logits of this size to about 2^-24 · Σ|q·k|,
      // which the softmax passes on to the output, so the tolerance allows that much beyond the variant's.
      for (const c of [
        { B: 1, H: 1, Lq: 7, Lk: 33, D: 64, Dv: 64, range: 20 },
        { B: 1, H: 2, Lq: 3, Lk: 1001, D: 16, Dv: 16, range: 20 },
      ] as Case[]) {
        const x = inputs(v, c, 500 + c.Lk);
        const tol = Math.max(v.tol, 16 * 2 ** -24 * maxAbsDot(x, c) / Math.sqrt(c.D));
        for (const order of ['as drawn', 'ascending', 'descending']) {
          if (order !== 'as drawn') {
            const sorted = sortKeys(x, c, order === 'ascending');
            x.k = sorted.k;
            x.v = sorted.v;
          }
          const ref = reference(v, c, x);
          const tq = g.upload(x.q, [c.B, c.H, c.Lq, c.D], v.dtype);
          const tk = g.upload(x.k, [c.B, c.H, c.Lk, c.D], v.dtype);
          const tv = g.upload(x.v, [c.B, c.H, c.Lk, c.Dv], v.dtype);
          const got = await g.read(attention(g, tq, tk, tv));
          expect(got.every(Number.isFinite)).toBe(true);
          expectClose(got, ref, tol, `${order} ${dimsStr(c)}`);
          for (const t of [tq, tk, tv]) t.release();
        }
      }
    });
  }

  it('explicit scale, and every kernel variant agrees (f32)', async () => {
    const v = vs[0];
    const g = v.gpu;
    for (const c of [
      { B: 1, H: 2, Lq: 33, Lk: 7, D: 48, Dv: 48 },
      { B: 1, H: 1, Lq: 7, Lk: 33, D: 15, Dv: 15 },
    ] as Case[]) {
      const x = inputs(v, c, 600 + c.D);
      const tq = g.upload(x.q, [c.B, c.H, c.Lq, c.D]);
      const tk = g.upload(x.k, [c.B, c.H, c.Lk, c.D]);
      const tv = g.upload(x.v, [c.B, c.H, c.Lk, c.Dv]);
      expectClose(await g.read(attention(g, tq, tk, tv, { scale: 0.3 })), reference(v, c, x, 0.3), v.tol, `scale ${dimsStr(c)}`);
      const want = reference(v, c, x);
      const tuned = attentionTuning(g, c.Lq, c.D, c.Dv);
      for (const tune of [
        { kernel: 'register', wg: 16, qpi: 1, sg: 0 },
        { kernel: 'register', wg: 64, qpi: 4, sg: 0 },
        { kernel: 'register', wg: 16, qpi: 1, sg: tuned.sg },
        { kernel: 'register', wg: 64, qpi: 2, sg: tuned.sg },
        { kernel: 'register', wg: 16, qpi: 2, sg: tuned.sg, kt: 4 },
        { kernel: 'flash', t: 1, wg: 32, bk: 4 },
        { kernel: 'flash', t: 4, wg: 16, bk: 1 },
      ] as const) {
        const out = attention(g, tq, tk, tv, { tune });
        expectClose(await g.read(out), want, v.tol, `${JSON.stringify(tune)} ${dimsStr(c)}`);
        out.release();
      }
      for (const t of [tq, tk, tv]) t.release();
    }
  });

  // The FlashAttention-2 kernel (the GPU profile's) at every lanes-per-query split, key tiles from 1 to 16
  // keys, workgroups of 1 to 256 queries, on seeded random shapes: lengths 1 to 80, head dims 1 to 256 (v's
  // unlike q's, unaligned rows), several batches and heads; every storage variant (8 shapes in f32, 3 in
  // each f16 mode: each tiling is a pipeline, and software adapters compile them slowly).
  for (const v of vs) {
    it(`flash kernel, fuzzed shapes and tilings ${v.name}`, async () => {
      const g = v.gpu;
      let seed = 9001 + v.name.length;
      const cases = v.name === 'f32' ? 8 : 3;
      const next = (n: number) => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return (seed >>> 8) % n;
      };
      const dims = [1, 7, 15, 16, 32, 48, 64, 96, 100, 128, 192, 256];
      const limit = g.info.limits.maxComputeWorkgroupStorageSize;
      let ran = 0;
      for (let n = 0; ran < cases && n < 4 * cases; n++) {
        const D = dims[next(dims.length)];
        const Dv = next(3) === 0 ? dims[next(dims.length)] : D;
        const c: Case = { B: 1 + next(2), H: 1 + next(3), Lq: 1 + next(80), Lk: 1 + next(80), D, Dv };
        const dc = capacity(D) / 4;
        const dvc = capacity(Dv) / 4;
        // Splits that leave a lane at most 32 vec4 (twice the profile's budget; more only slows compiling).
        const ts = [1, 2, 4, 8, 16].filter((t) => dc % t === 0 && dvc % t === 0 && (dc + dvc) / t <= 32);
        const t = ts[next(ts.length)];
        const bq = [1, 4, 32, 256 / t][next(4)];
        const bk = [1, 4, 16][next(3)];
        if (bq * t > 256 || flashWorkgroupBytes(bq, t, bk, dc, dvc) > limit) continue;
        const x = inputs(v, c, 800 + n);
        const tq = g.upload(x.q, [c.B, c.H, c.Lq, c.D], v.dtype);
        const tk = g.upload(x.k, [c.B, c.H, c.Lk, c.D], v.dtype);
        const tv = g.upload(x.v, [c.B, c.H, c.Lk, c.Dv], v.dtype);
        const tune = { kernel: 'flash', t, wg: bq * t, bk } as const;
        const out = attention(g, tq, tk, tv, { tune });
        expectClose(await g.read(out), reference(v, c, x), v.tol, `${JSON.stringify(tune)} ${dimsStr(c)}`);
        for (const u of [tq, tk, tv, out]) u.release();
        ran++;
      }
      expect(ran).toBe(cases);
    });
  }

  it('the GPU profile picks the flash kernel from head dim 96: head dim 256 split over 8 lanes, tiles within the workgroup memory', () => {
    const g = vs[0].gpu;
    const p = new DeviceProfile(g.info, { mode: 'gpu' });
    const f = p.attention(4096, 256, 256);
    expect([f.kernel, f.t, f.wg]).toEqual(['flash', 8, 256]);
    expect(flashWorkgroupBytes(f.wg / f.t, f.t, f.bk, 64, 64)).toBeLessThanOrEqual(g.info.limits.maxComputeWorkgroupStorageSize);
    const hiera = p.attention(4096, 96, 96);
    expect([hiera.kernel, hiera.t]).toEqual(['flash', 4]);
    const decoder = p.attention(7, 16, 16);
    expect([decoder.kernel, decoder.qpi, decoder.sg]).toEqual(['register', 1, 0]);
  });

  it('more than 65,535 (batch, head) pairs fold into the grid (f32)', async () => {
    const v = vs[0];
    const g = v.gpu;
    const c: Case = { B: 1, H: 65_537, Lq: 1, Lk: 3, D: 16, Dv: 16 };
    const x = inputs(v, c, 700);
    const tq = g.upload(x.q, [c.B, c.H, c.Lq, c.D]);
    const tk = g.upload(x.k, [c.B, c.H, c.Lk, c.D]);
    const tv = g.upload(x.v, [c.B, c.H, c.Lk, c.Dv]);
    expectClose(await g.read(attention(g, tq, tk, tv)), reference(v, c, x), v.tol, dimsStr(c));
    for (const t of [tq, tk, tv]) t.release();
  });

  it('rejects inconsistent shapes', () => {
    const g = vs[0].gpu;
    const q = g.empty([1, 2, 5, 16]);
    const k = g.empty([1, 2, 7, 16]);
    const v = g.empty([1, 2, 7, 32]);
    expect(() => attention(g, q, g.empty([1, 2, 7, 8]), v)).toThrow(ShapeError);
    expect(() => attention(g, q, k, g.empty([1, 2, 6, 32]))).toThrow(/keys/);
    expect(() => attention(g, q, g.empty([1, 3, 7, 16]), v)).toThrow(/heads/);
    expect(() => attention(g, q, k, v, { out: g.empty([1, 2, 5, 16]) })).toThrow(/out/);
    expect(() => attention(g, g.empty([1, 1, 5, 512]), g.empty([1, 1, 7, 512]), v.reshape([1, 1, 7, 64]))).toThrow(/head dim/);
    expect(() => tokenMajor(g.empty([1, 5, 30]), 4)).toThrow(/heads/);
    expect(() => attention(g, q, k, g.empty([1, 2, 7, 32], 'f16'))).toThrow(/dtype/);
    const bad: HeadsView = { ...headMajor(k), length: 8 };
    expect(() => attention(g, q, bad, v)).toThrow(/reaches/);
  });
});

/** max over (b, h, i, j) of Σ_d |q_id k_jd|. */
function maxAbsDot(x: { q: Float32Array; k: Float32Array }, c: AttentionDims): number {
  let m = 0;
  for (let bh = 0; bh < c.B * c.H; bh++)
    for (let i = 0; i < c.Lq; i++)
      for (let j = 0; j < c.Lk; j++) {
        let s = 0;
        for (let d = 0; d < c.D; d++) s += Math.abs(x.q[(bh * c.Lq + i) * c.D + d] * x.k[(bh * c.Lk + j) * c.D + d]);
        m = Math.max(m, s);
      }
  return m;
}

/** Reorders each (b, h)'s keys (and values) by their score against query 0 of that head. */
function sortKeys(x: { q: Float32Array; k: Float32Array; v: Float32Array }, c: AttentionDims, ascending: boolean) {
  const k = new Float32Array(x.k.length);
  const v = new Float32Array(x.v.length);
  for (let bh = 0; bh < c.B * c.H; bh++) {
    const q0 = bh * c.Lq * c.D;
    const score = (j: number) => {
      let s = 0;
      for (let d = 0; d < c.D; d++) s += x.q[q0 + d] * x.k[(bh * c.Lk + j) * c.D + d];
      return s;
    };
    const order = [...Array(c.Lk).keys()].sort((a, b) => (ascending ? score(a) - score(b) : score(b) - score(a)));
    order.forEach((j, to) => {
      k.set(x.k.subarray((bh * c.Lk + j) * c.D, (bh * c.Lk + j + 1) * c.D), (bh * c.Lk + to) * c.D);
      v.set(x.v.subarray((bh * c.Lk + j) * c.Dv, (bh * c.Lk + j + 1) * c.Dv), (bh * c.Lk + to) * c.Dv);
    });
  }
  return { k, v };
}
