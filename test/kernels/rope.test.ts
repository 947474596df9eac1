import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { headsToTokens, tokensToHeads } from '../../src/kernels/attention.ref.js';
import { rope, ropeTable } from '../../src/kernels/rope.js';
import { axialCis, ropeRef } from '../../src/kernels/rope.ref.js';
import { ShapeError } from '../../src/runtime/errors.js';
import { asStored, expectClose, rand, variants } from '../helpers.js';

/**
 * Outputs of the official functions (data/rope_torch.json, written by tools/reference/regenerate.sh --only
 * rope) from sam2.modeling.position_encoding: q [B, H, end_x·end_y, dim] and k [B, H, repeats·end_x·end_y +
 * exclude, dim] (torch.randn · 3 after torch.manual_seed(0)), cis = compute_axial_cis(dim, end_x, end_y,
 * 10000), then as RoPEAttention.forward:
 * q, k[:, :, :num_k_rope] = apply_rotary_enc(q, k[:, :, :num_k_rope], cis, repeat_freqs_k=repeats > 1).
 * Tensors are little-endian f32, base64.
 */
interface TorchCase {
  B: number;
  H: number;
  dim: number;
  endX: number;
  endY: number;
  repeats: number;
  exclude: number;
  q: string;
  k: string;
  qOut: string;
  kOut: string;
}
const fixture = JSON.parse(readFileSync(new URL('./data/rope_torch.json', import.meta.url), 'utf8')) as { cases: TorchCase[] };
const f32 = (b64: string) => {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
};

// f32 results are PyTorch's to within a few f32 roundings of the largest value.
const F32_TOL = 2e-6;

describe('rope', async () => {
  const vs = await variants();

  it('the reference follows PyTorch (compute_axial_cis, apply_rotary_enc)', () => {
    for (const c of fixture.cases) {
      const L = c.endX * c.endY;
      const lk = c.repeats * L + c.exclude;
      const q = f32(c.q);
      const k = f32(c.k);
      expectClose(ropeRef(q, [c.B, c.H, L, c.dim], c.endX, c.endY), f32(c.qOut), F32_TOL, `q dim ${c.dim}`);
      const kr = ropeRef(k, [c.B, c.H, lk, c.dim], c.endX, c.endY, { repeat: c.repeats > 1, exclude: c.exclude });
      expectClose(kr, f32(c.kOut), F32_TOL, `k dim ${c.dim}`);
    }
    // Spot values of the table: token 5 of a 4×3 grid is at x 1, y 1; the first frequency is 1.
    const { cos, sin } = axialCis(16, 4, 3);
    expect(cos[5 * 8]).toBe(Math.fround(Math.cos(1)));
    expect(sin[5 * 8 + 4]).toBe(Math.fround(Math.sin(1)));
    expect(cos[5 * 8 + 1]).toBe(Math.fround(Math.cos(Math.fround(0.1))));
  });

  it('matches PyTorch on the GPU (f32)', async () => {
    const g = vs[0].gpu;
    for (const c of fixture.cases) {
      const L = c.endX * c.endY;
      const lk = c.repeats * L + c.exclude;
      const table = ropeTable(g, c.dim, c.endX, c.endY);
      const tq = g.upload(f32(c.q), [c.B, c.H, L, c.dim]);
      const tk = g.upload(f32(c.k), [c.B, c.H, lk, c.dim]);
      const qo = rope(g, tq, table);
      const ko = rope(g, tk, table, { repeat: c.repeats > 1, exclude: c.exclude });
      expectClose(await g.read(qo), f32(c.qOut), F32_TOL, `q dim ${c.dim}`);
      expectClose(await g.read(ko), f32(c.kOut), F32_TOL, `k dim ${c.dim}`);
      for (const t of [table.tensor, tq, tk, qo, ko]) t.release();
    }
  });

  for (const v of vs) {
    it(`layouts, repeats, excluded tokens, in place ${v.name}`, async () => {
      const g = v.gpu;
      const tol = v.dtype === 'f32' ? F32_TOL : v.tol;
      // [B, H, endX, endY, dim, repeats, exclude]: non-square grids, 1×1, SAM 2's memory-attention dim 256
      // with the key repeats of several memory frames and 4 excluded object-pointer tokens.
      for (const [B, H, ex, ey, dim, reps, excl] of [
        [1, 1, 1, 1, 16, 1, 0],
        [2, 3, 7, 3, 16, 1, 0],
        [1, 2, 5, 4, 48, 3, 7],
        [1, 1, 8, 8, 256, 2, 4],
        [3, 1, 2, 9, 64, 1, 1],
      ]) {
        const period = ex * ey;
        const L = reps * period + excl;
        const opts = { repeat: reps > 1, exclude: excl };
        const x = asStored(v, rand(B * H * L * dim, 31 * L + dim, -4, 4));
        const want = asStored(v, Float32Array.from(ropeRef(x, [B, H, L, dim], ex, ey, opts)));
        const table = ropeTable(g, dim, ex, ey);
        const what = `B${B} H${H} ${ex}×${ey} dim ${dim} repeats ${reps} exclude ${excl}`;

        const th = g.upload(x, [B, H, L, dim], v.dtype);
        const yh = rope(g, th, table, opts);
        expect(yh.shape).toEqual([B, H, L, dim]);
        expectClose(await g.read(yh), want, tol, `heads ${what}`);
        expect(rope(g, th, table, { ...opts, inPlace: true })).toBe(th);
        expectClose(await g.read(th), want, tol, `heads in place ${what}`);

        const tt = g.upload(headsToTokens(x, B, H, L, dim), [B, L, H * dim], v.dtype);
        const yt = rope(g, tt, table, { ...opts, heads: H });
        expect(yt.shape).toEqual([B, L, H * dim]);
        expectClose(tokensToHeads(await g.read(yt), B, H, L, dim), want, tol, `tokens ${what}`);
        rope(g, tt, table, { ...opts, heads: H, inPlace: true });
        expectClose(tokensToHeads(await g.read(tt), B, H, L, dim), want, tol, `tokens in place ${what}`);
        for (const t of [table.tensor, th, yh, tt, yt]) t.release();
      }
    });
  }

  it('rejects mismatched shapes', () => {
    const g = vs[0].gpu;
    const table = ropeTable(g, 16, 4, 3);
    expect(() => rope(g, g.empty([1, 1, 12, 32]), table)).toThrow(/head dim/);
    expect(() => rope(g, g.empty([1, 1, 13, 16]), table)).toThrow(/rotate/);
    expect(() => rope(g, g.empty([1, 1, 25, 16]), table, { repeat: true })).toThrow(/multiple/);
    expect(() => rope(g, g.empty([1, 1, 25, 16]), table, { repeat: true, exclude: 30 })).toThrow(/exclude/);
    expect(() => rope(g, g.empty([1, 12, 30]), table, { heads: 2 })).toThrow(/head dim/);
    const x = g.empty([1, 1, 12, 16]);
    expect(() => rope(g, x, table, { out: g.empty([1, 1, 12, 16], 'f16') })).toThrow(/does not match/);
    expect(() => ropeTable(g, 18, 4, 4)).toThrow(ShapeError);
  });
});
