import { describe, expect, it } from 'vitest';
import { linear, matmul, matmulConfig, matmulStrided, type MatmulConfig, type MatmulOptions } from '../../src/kernels/matmul.js';
import { matmulRef, type MatmulRefOptions } from '../../src/kernels/matmul.ref.js';
import { ShapeError } from '../../src/runtime/errors.js';
import { numel } from '../../src/runtime/tensor.js';
import { asStored, expectClose, rand, variants, type Variant } from '../helpers.js';

interface Case {
  a: number[];
  b: number[];
  opts?: Omit<MatmulRefOptions, 'bias' | 'residual'> & { bias?: boolean; residual?: boolean };
  config?: Partial<MatmulConfig>;
}

/** Runs one product on the GPU and compares it with the double-precision reference. */
async function check(v: Variant, c: Case, seed: number, what: string): Promise<void> {
  const o = c.opts ?? {};
  const a = asStored(v, rand(numel(c.a), seed, -1, 1));
  const b = asStored(v, rand(numel(c.b), seed + 1, -1, 1));
  const ref0 = matmulRef(a, c.a, b, c.b, { transA: o.transA, transB: o.transB });
  const N = ref0.shape[ref0.shape.length - 1];
  const bias = o.bias ? asStored(v, rand(N, seed + 2, -1, 1)) : undefined;
  const residual = o.residual ? asStored(v, rand(ref0.data.length, seed + 3, -2, 2)) : undefined;
  const ref = matmulRef(a, c.a, b, c.b, { ...o, bias, residual });
  const g = v.gpu;
  const ta = g.upload(a, c.a, v.dtype);
  const tb = g.upload(b, c.b, v.dtype);
  const tbias = bias ? g.upload(bias, [N], v.dtype) : undefined;
  const tres = residual ? g.upload(residual, ref.shape, v.dtype) : undefined;
  const opts: MatmulOptions = { transA: o.transA, transB: o.transB, act: o.act, alpha: o.alpha, bias: tbias, residual: tres, config: c.config };
  const y = matmul(g, ta, tb, opts);
  expect(y.shape).toEqual(ref.shape);
  const got = await g.read(y);
  expectClose(got, asStored(v, ref.data), v.tol, what);
  for (const t of [ta, tb, tbias, tres, y]) t?.release();
}

function shapesFor(M: number, N: number, K: number, transA: boolean, transB: boolean, batchA: number[] = [], batchB: number[] = []): Case {
  return {
    a: [...batchA, ...(transA ? [K, M] : [M, K])],
    b: [...batchB, ...(transB ? [N, K] : [K, N])],
    opts: { transA, transB },
  };
}

const TRANS: Array<[boolean, boolean]> = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

// M, N, K: sizes 1, 3, 7, 33, 1001 (scalar loads, ragged tiles, N odd: element stores) and multiples of 4
// (4-vector loads, vector stores), N = 6 (pair stores), M = 17 / 40 (16- and 32-row tiles).
const SHAPES: Array<[number, number, number]> = [
  [1, 1, 1],
  [7, 3, 33],
  [33, 1001, 7],
  [1001, 7, 3],
  [3, 33, 1001],
  [36, 44, 20],
  [17, 6, 12],
  [40, 8, 1000],
];

describe('matmul', async () => {
  const vs = await variants();
  for (const v of vs) {
    for (const [transA, transB] of TRANS) {
      it(`${v.name} a${transA ? 'ᵀ' : ''} b${transB ? 'ᵀ' : ''}: awkward sizes`, async () => {
        let seed = 1;
        for (const [M, N, K] of SHAPES) {
          await check(v, shapesFor(M, N, K, transA, transB), seed++ * 100, `${v.name} M=${M} N=${N} K=${K}`);
        }
      });
    }

    it(`${v.name} epilogues: alpha, bias, GELU, ReLU, residual`, async () => {
      for (const [M, N, K] of [[33, 7, 9], [40, 12, 16], [5, 6, 3]] as const) {
        for (const act of ['gelu', 'relu', 'none'] as const) {
          const c = shapesFor(M, N, K, false, true);
          c.opts = { ...c.opts, act, alpha: 1.75, bias: true, residual: act !== 'relu' };
          await check(v, c, M * 7 + N, `${v.name} ${act} M=${M} N=${N} K=${K}`);
        }
      }
      const c = shapesFor(20, 16, 24, true, false);
      c.opts = { ...c.opts, act: 'gelu', residual: true };
      await check(v, c, 5, `${v.name} gelu + residual, aᵀ`);
    });

    it(`${v.name} adds the residual after the activation`, async () => {
      // a @ b + bias = -5 everywhere, residual = 3: PyTorch's relu(x) + r gives 3; relu(x + r) would give 0.
      const g = v.gpu;
      const M = 9, N = 6, K = 4;
      const a = g.upload(new Float32Array(M * K).fill(1), [M, K], v.dtype);
      const b = g.upload(new Float32Array(K * N).fill(-1), [K, N], v.dtype);
      const bias = g.upload(new Float32Array(N).fill(-1), [N], v.dtype);
      const res = g.upload(new Float32Array(M * N).fill(3), [M, N], v.dtype);
      const y = matmul(g, a, b, { bias, act: 'relu', residual: res });
      expectClose(await g.read(y), new Float32Array(M * N).fill(3), v.tol, 'relu then residual');
      const y2 = matmul(g, a, b, { bias, act: 'gelu', residual: res });
      // gelu(-5) = -5 * Φ(-5) ≈ -1.43e-6
      expectClose(await g.read(y2), new Float32Array(M * N).fill(3 - 1.4333e-6), v.tol, 'gelu then residual');
      for (const t of [a, b, bias, res, y, y2]) t.release();
    });

    it(`${v.name} batch broadcasting`, async () => {
      const cases: Case[] = [
        shapesFor(7, 9, 5, false, false, [2, 3], [3]),
        shapesFor(8, 12, 16, false, true, [2, 1], [1, 3]),
        shapesFor(5, 4, 8, true, false, [1], [4]),
        // Shared weights: a's batch folds into M.
        shapesFor(3, 10, 6, false, true, [2, 5], []),
        shapesFor(3, 10, 6, false, false, [4], [1]),
        // Attention-like [B, H, M, K] @ [B, H, N, K]ᵀ and [B, H, M, N] @ [B, H, N, K].
        shapesFor(17, 13, 8, false, true, [2, 3], [2, 3]),
        shapesFor(17, 8, 13, false, false, [2, 3], [2, 3]),
      ];
      let seed = 7;
      for (const c of cases) await check(v, c, seed++ * 31, `${v.name} ${JSON.stringify(c.a)} @ ${JSON.stringify(c.b)}`);
    });

    it(`${v.name} linear`, async () => {
      const g = v.gpu;
      for (const [lead, inF, outF] of [[[2, 5], 12, 7], [[33], 7, 16], [[], 3, 1]] as Array<[number[], number, number]>) {
        const x = asStored(v, rand(numel(lead) * inF, inF, -1, 1));
        const w = asStored(v, rand(outF * inF, outF, -1, 1));
        const bias = asStored(v, rand(outF, 3, -1, 1));
        const tx = g.upload(x, [...lead, inF], v.dtype);
        const tw = g.upload(w, [outF, inF], v.dtype);
        const tb = g.upload(bias, [outF], v.dtype);
        const y = linear(g, tx, tw, tb, { act: 'gelu' });
        expect(y.shape).toEqual([...lead, outF]);
        const ref = matmulRef(x, [numel(lead), inF], w, [outF, inF], { transB: true, bias, act: 'gelu' });
        expectClose(await g.read(y), asStored(v, ref.data), v.tol, `linear ${lead} ${inF}->${outF}`);
        for (const t of [tx, tw, tb, y]) t.release();
      }
    });

    it(`${v.name} strided operands: per-head q @ kᵀ from a fused qkv tensor`, async () => {
      const g = v.gpu;
      const T = 11, H = 3, hd = 8;
      const qkv = asStored(v, rand(T * 3 * H * hd, 99, -1, 1)); // [T, 3, H, hd]
      const t = g.upload(qkv, [T, 3, H, hd], v.dtype);
      const ld = 3 * H * hd;
      const y = matmulStrided(g, {
        M: T,
        N: T,
        K: hd,
        batch: [H],
        a: { tensor: t, offset: 0, ld, batchStrides: [hd] },
        b: { tensor: t, offset: H * hd, ld, batchStrides: [hd], trans: true },
      }, { alpha: 1 / Math.sqrt(hd) });
      expect(y.shape).toEqual([H, T, T]);
      const want = new Float32Array(H * T * T);
      for (let h = 0; h < H; h++) {
        for (let i = 0; i < T; i++) {
          for (let j = 0; j < T; j++) {
            let s = 0;
            for (let d = 0; d < hd; d++) s += qkv[i * ld + h * hd + d] * qkv[j * ld + H * hd + h * hd + d];
            want[(h * T + i) * T + j] = s / Math.sqrt(hd);
          }
        }
      }
      expectClose(await g.read(y), asStored(v, want), v.tol, 'strided qkv');
      t.release();
      y.release();
    });

    // The kernels the device does not pick by default: shared-memory tiles (GPUs) and register blocking
    // without subgroups (CPU adapters without 8-lane subgroups), at the largest and smallest workgroups.
    for (const config of [{ kernel: 'tiled' }, { kernel: 'reg', sg: 1, wg: 64, tm: 8 }, { kernel: 'reg', sg: 1, wg: 4, tm: 8 }] as Array<Partial<MatmulConfig>>) {
      it(`${v.name} ${config.kernel}${config.sg ? ` sg=${config.sg} wg=${config.wg}` : ''}`, async () => {
        let seed = 3;
        const trans = v.name === 'f32' ? TRANS : TRANS.slice(1, 3);
        for (const [transA, transB] of trans) {
          for (const [M, N, K] of [[67, 70, 33], [7, 3, 1001], [36, 44, 20], [1, 1, 1]] as const) {
            const c = { ...shapesFor(M, N, K, transA, transB), config };
            await check(v, c, seed++ * 17, `${v.name} ${JSON.stringify(config)} M=${M} N=${N} K=${K} ${transA} ${transB}`);
          }
        }
        const c = { ...shapesFor(9, 6, 5, false, false, [2], [2]), config };
        c.opts = { ...c.opts, act: 'gelu', bias: true, residual: true, alpha: 0.5 };
        await check(v, c, 11, `${v.name} ${JSON.stringify(config)} epilogue`);
      });
    }
  }

  it('without 8-lane subgroups, the workgroup follows N (at most 1/8 of the last one idle)', (ctx) => {
    const g = vs[0].gpu;
    if (matmulConfig(g, 64).kernel !== 'reg' || matmulConfig(g, 64).sg === 8) ctx.skip();
    const wg = (N: number) => matmulConfig(g, 64, 'f32', N).wg;
    expect([wg(1024), wg(1536), wg(96), wg(196), wg(16), wg(4), wg(128)]).toEqual([64, 64, 8, 8, 4, 4, 32]);
  });

  it('splits batches beyond 65,535 workgroups and rows beyond 65,535 tiles', async () => {
    const v = vs[0];
    await check(v, shapesFor(1, 2, 3, false, false, [70_000], [70_000]), 5, 'batch 70000');
    await check(v, { ...shapesFor(65_536 * 8 + 9, 1, 1, false, false), config: { tm: 8 } }, 6, 'M > 65535 tiles');
  });

  it('writes into out and accepts K = 0 (bias only)', async () => {
    const g = vs[0].gpu;
    const a = g.upload(new Float32Array(0), [3, 0]);
    const b = g.upload(new Float32Array(0), [0, 5]);
    const bias = g.upload([1, 2, 3, 4, 5], [5]);
    const out = g.empty([3, 5]);
    const y = matmul(g, a, b, { bias, out });
    expect(y).toBe(out);
    expectClose(await g.read(y), [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5], 1e-6, 'K=0');
  });

  it('rejects bad shapes and dtypes', () => {
    const g = vs[0].gpu;
    const a = g.upload(rand(12, 1), [3, 4]);
    const b = g.upload(rand(10, 2), [5, 2]);
    const b2 = g.upload(rand(8, 2), [4, 2]);
    const h = g.upload(rand(8, 2), [4, 2], 'f16');
    expect(() => matmul(g, a, b)).toThrow(ShapeError);
    expect(() => matmul(g, a, b)).toThrow(/inner dimensions/);
    expect(() => matmul(g, a, h)).toThrow(/dtype/);
    expect(() => matmul(g, a, b2, { bias: g.upload([1, 2, 3], [3]) })).toThrow(/bias/);
    expect(() => matmul(g, a, b2, { residual: g.upload(rand(5, 1), [5]) })).toThrow(/residual/);
    expect(() => matmul(g, a, b2, { out: g.empty([3, 3]) })).toThrow(/out/);
    expect(() => matmul(g, a.reshape([12]), b2)).toThrow(/2 dimensions/);
    expect(() => matmul(g, g.upload(rand(24, 1), [2, 3, 4]), g.upload(rand(24, 1), [3, 4, 2]))).toThrow(/broadcast/);
    expect(() => linear(g, a, b2)).toThrow(/weight|end in/);
    expect(() =>
      matmulStrided(g, { M: 3, N: 2, K: 4, a: { tensor: a, ld: 4, offset: 1 }, b: { tensor: b2, ld: 2 } }),
    ).toThrow(/too small/);
  });
});
