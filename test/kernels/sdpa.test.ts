import { describe, expect, it } from 'vitest';
import { packedQKV, tokenMajor } from '../../src/kernels/attention.js';
import { attentionRef, headsToTokens, tokensToHeads, type AttentionDims } from '../../src/kernels/attention.ref.js';
import { sdpa, sdpaByMatmul, type SdpaImpl } from '../../src/kernels/sdpa.js';
import { asStored, expectClose, rand, variants } from '../helpers.js';

const IMPLS: SdpaImpl[] = ['kernel', 'matmul'];

/** q, k, v [B, H, L, D] (head-major, as the reference takes them) from one packed qkv [B, L, 3, H, D]. */
function unpack(packed: Float32Array, B: number, H: number, L: number, D: number): [Float32Array, Float32Array, Float32Array] {
  const parts = [0, 1, 2].map(() => new Float32Array(B * H * L * D));
  for (let b = 0; b < B; b++)
    for (let l = 0; l < L; l++)
      for (let p = 0; p < 3; p++)
        for (let h = 0; h < H; h++)
          for (let d = 0; d < D; d++) parts[p][((b * H + h) * L + l) * D + d] = packed[(((b * L + l) * 3 + p) * H + h) * D + d];
  return parts as [Float32Array, Float32Array, Float32Array];
}

describe('sdpa', async () => {
  const vs = await variants();

  for (const v of vs) {
    for (const impl of IMPLS) {
      it(`${impl}: token-major operands, query blocks, v's head dim unlike q's (${v.name})`, async () => {
        const g = v.gpu;
        const cases: AttentionDims[] = [
          { B: 1, H: 8, Lq: 7, Lk: 70, D: 16, Dv: 16 },
          { B: 2, H: 2, Lq: 70, Lk: 5, D: 32, Dv: 32 },
          { B: 1, H: 1, Lq: 33, Lk: 40, D: 256, Dv: 64 },
        ];
        for (const [n, c] of cases.entries()) {
          const q = asStored(v, rand(c.B * c.H * c.Lq * c.D, 10 + n));
          const k = asStored(v, rand(c.B * c.H * c.Lk * c.D, 20 + n));
          const val = asStored(v, rand(c.B * c.H * c.Lk * c.Dv, 30 + n));
          const tq = g.upload(headsToTokens(q, c.B, c.H, c.Lq, c.D), [c.B, c.Lq, c.H * c.D], v.dtype);
          const tk = g.upload(headsToTokens(k, c.B, c.H, c.Lk, c.D), [c.B, c.Lk, c.H * c.D], v.dtype);
          const tv = g.upload(headsToTokens(val, c.B, c.H, c.Lk, c.Dv), [c.B, c.Lk, c.H * c.Dv], v.dtype);
          // A budget of 32 query rows per (batch, head) at a time: the matmul route runs in several blocks.
          const out = sdpa(g, tq, tk, tv, { heads: c.H, impl, scoreBudget: 32 * c.B * c.H * c.Lk });
          expect(out.shape).toEqual([c.B, c.Lq, c.H * c.Dv]);
          const ref = asStored(v, Float32Array.from(attentionRef(q, k, val, c)));
          expectClose(tokensToHeads(await g.read(out), c.B, c.H, c.Lq, c.Dv), ref, v.tol, `${impl} B${c.B} H${c.H} Lq${c.Lq} Lk${c.Lk} D${c.D} Dv${c.Dv}`);
          for (const t of [tq, tk, tv, out]) t.release();
        }
      });

      it(`${impl}: Hiera's packed qkv and a pooled q (${v.name})`, async () => {
        const g = v.gpu;
        for (const [n, [B, H, L, D]] of [
          [2, 1, 20, 16],
          [1, 2, 49, 96],
        ].entries()) {
          const packed = asStored(v, rand(B * L * 3 * H * D, 50 + n));
          const [q, k, val] = unpack(packed, B, H, L, D);
          const t = g.upload(packed, [B, L, 3, H, D], v.dtype);
          const [qv, kv, vv] = packedQKV(t, H);
          const c: AttentionDims = { B, H, Lq: L, Lk: L, D, Dv: D };
          const out = sdpa(g, qv, kv, vv, { impl });
          expect(out.shape).toEqual([B, L, H * D]);
          expectClose(tokensToHeads(await g.read(out), B, H, L, D), asStored(v, Float32Array.from(attentionRef(q, k, val, c))), v.tol, `${impl} packed B${B} H${H} L${L}`);
          const lq = Math.ceil(L / 4);
          const qp = asStored(v, rand(B * H * lq * D, 60 + n));
          const tq = g.upload(headsToTokens(qp, B, H, lq, D), [B, lq, H * D], v.dtype);
          const out2 = sdpa(g, tokenMajor(tq, H), kv, vv, { impl });
          const ref2 = asStored(v, Float32Array.from(attentionRef(qp, k, val, { ...c, Lq: lq })));
          expectClose(tokensToHeads(await g.read(out2), B, H, lq, D), ref2, v.tol, `${impl} pooled q B${B} H${H} L${L}`);
          for (const u of [t, out, tq, out2]) u.release();
        }
      });
    }
  }

  it("'auto' picks matmuls on the cpu profile above head dim 128, and on SwiftShader from 16 keys", async () => {
    const g = vs[0].gpu;
    const cpu = g.profile.kind === 'cpu';
    const swift = cpu && g.profile.adapter === 'swiftshader';
    expect(sdpaByMatmul(g, 256, 4096)).toBe(cpu);
    expect(sdpaByMatmul(g, 96, 196)).toBe(swift);
    expect(sdpaByMatmul(g, 16, 7)).toBe(false);
    expect(sdpaByMatmul(g, 16, 7, 'matmul')).toBe(true);
    expect(sdpaByMatmul(g, 256, 4096, 'kernel')).toBe(false);
  });
});
