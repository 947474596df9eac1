import { describe, expect, it } from 'vitest';
import { binary, broadcastPlan, channelAffine, type BinaryOp } from '../../src/kernels/binary.js';
import { binaryRef, channelAffineRef } from '../../src/kernels/binary.ref.js';
import { asStored, expectClose, rand, variants } from '../helpers.js';

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

describe('binary', async () => {
  const vs = await variants();
  const pairs: Array<[number[], number[], string]> = [
    [[1001], [1001], 'equal'],
    [[3, 7], [3, 7], 'equal 2-D'],
    [[1, 7, 3], [7, 3], 'equal up to leading 1'],
    [[5, 7], [], 'scalar b'],
    [[], [3], 'scalar a'],
    [[1], [2, 3, 5], 'size-1 a'],
    [[7, 13], [13], 'row'],
    [[7, 13], [7, 1], 'column'],
    [[1, 9, 11, 20], [20], 'channels-last bias'],
    [[2, 5, 3, 4], [5, 1, 1], 'middle (NCHW per-channel)'],
    [[2, 1, 3], [1, 4, 1], 'both broadcast'],
    [[3, 1], [1, 1001], 'outer product'],
    [[2, 1, 3, 1, 2, 3], [1, 2, 1, 2, 1, 3], '6 separate dims'],
    // Rows of 64+ outputs (workgroup-owned rows), broadcasting inside and across rows.
    [[3, 128], [128], 'row, long rows'],
    [[2, 5, 8, 16], [5, 1, 1], 'NCHW per-channel, long rows'],
    [[1, 2100], [3, 1], 'column over a long row (several segments)'],
    [[2, 3, 68], [2, 1, 68], 'middle dim, long rows'],
  ];
  for (const v of vs) {
    for (const [op, alpha] of [
      ['add', 1],
      ['add', -0.5],
      ['sub', 2],
      ['mul', 1],
    ] as Array<[BinaryOp, number]>) {
      it(`${op} alpha=${alpha} ${v.name}`, async () => {
        for (const [sa, sb, what] of pairs) {
          const a = asStored(v, rand(size(sa), size(sa) + 3, -2, 2));
          const b = asStored(v, rand(size(sb), size(sb) + 5, -2, 2));
          const ta = v.gpu.upload(a, sa, v.dtype);
          const tb = v.gpu.upload(b, sb, v.dtype);
          const ty = binary(v.gpu, op, ta, tb, { alpha });
          const want = binaryRef(op, a, sa, b, sb, alpha);
          expect(ty.shape).toEqual(want.shape);
          expectClose(await v.gpu.read(ty), asStored(v, want.y), v.tol, `${what} [${sa}] ${op} [${sb}]`);
          for (const t of [ta, tb, ty]) t.release();
        }
      });
    }
  }

  it('merges contiguous dims', () => {
    expect(broadcastPlan([2, 3, 4], [2, 3, 4])).toEqual({ dims: [24], sa: [1], sb: [1] });
    expect(broadcastPlan([2, 3, 4], [4])).toEqual({ dims: [4, 6], sa: [1, 4], sb: [1, 0] });
    expect(broadcastPlan([2, 5, 3, 4], [5, 1, 1])).toEqual({ dims: [12, 5, 2], sa: [1, 12, 60], sb: [0, 1, 0] });
    expect(broadcastPlan([1, 1], [1])).toEqual({ dims: [1], sa: [0], sb: [0] });
  });

  it('checks shapes', async () => {
    const g = vs[0].gpu;
    const a = g.upload(rand(6, 1), [2, 3]);
    const b = g.upload(rand(4, 1), [4]);
    expect(() => binary(g, 'add', a, b)).toThrow(/add: shapes \[2, 3\] and \[4\] do not broadcast/);
    expect(() => binary(g, 'mul', a, g.empty([3], 'f16'))).toThrow(/dtype/);
    expect(() => binary(g, 'add', a, a, { out: g.empty([5]) })).toThrow(/does not match/);
    const s7a = [2, 1, 2, 1, 2, 1, 2];
    const s7b = [1, 2, 1, 2, 1, 2, 1];
    expect(() => binary(g, 'add', g.empty(s7a), g.empty(s7b))).toThrow(/7 separate dims/);
  });
});

describe('channelAffine', async () => {
  const vs = await variants();
  const cases: Array<[number[], number]> = [
    [[2, 5, 3, 7], 1],
    [[1, 3, 4, 4], 1],
    [[3, 7, 12], -1],
    [[1001], 0],
    [[2, 3, 1], -1],
    [[2, 3, 8, 8], 1], // rows of one channel
    [[5, 64], -1], // rows of all channels
    [[1, 2, 2100], 1], // rows longer than one workgroup segment
    [[2, 128], 1],
  ];
  for (const v of vs) {
    it(`scale / bias / residual ${v.name}`, async () => {
      for (const [shape, dim] of cases) {
        const d = dim < 0 ? dim + shape.length : dim;
        const c = shape[d];
        const inner = size(shape.slice(d + 1));
        const n = size(shape);
        const x = asStored(v, rand(n, n, -3, 3));
        const s = asStored(v, rand(c, c + 1, 0.5, 2));
        const b = asStored(v, rand(c, c + 2, -1, 1));
        const r = asStored(v, rand(n, n + 3, -1, 1));
        const tx = v.gpu.upload(x, shape, v.dtype);
        const ts = v.gpu.upload(s, [c], v.dtype);
        const tb = v.gpu.upload(b, [c], v.dtype);
        const tr = v.gpu.upload(r, shape, v.dtype);
        for (const [useS, useB, useR] of [
          [true, true, false],
          [true, false, false],
          [false, true, false],
          [true, false, true],
          [true, true, true],
        ]) {
          const ty = channelAffine(v.gpu, tx, useS ? ts : null, useB ? tb : null, { dim, residual: useR ? tr : undefined });
          const want = channelAffineRef(x, c, inner, useS ? s : null, useB ? b : null, useR ? r : null);
          expectClose(await v.gpu.read(ty), asStored(v, want), v.tol, `[${shape}] dim ${dim} s=${useS} b=${useB} r=${useR}`);
          ty.release();
        }
        for (const t of [tx, ts, tb, tr]) t.release();
      }
    });
  }

  it('checks shapes', async () => {
    const g = vs[0].gpu;
    const x = g.upload(rand(24, 1), [2, 3, 4]);
    expect(() => channelAffine(g, x, g.empty([4]), null, { dim: 1 })).toThrow(/channelAffine: scale .* 3 elements/);
    expect(() => channelAffine(g, x, null, g.empty([3]), { dim: 3 })).toThrow(/dim 3 is not a dim/);
    expect(() => channelAffine(g, x, null, null, { dim: -1, residual: g.empty([4]) })).toThrow(/residual/);
  });
});
