import { describe, expect, it } from 'vitest';
import { cast, concat, permute, permutePlan, slice, windowPartition, windowUnpartition, type LayoutDType } from '../../src/kernels/layout.js';
import { castRef, concatRef, permuteRef, sliceRef, windowPartitionRef, windowUnpartitionRef } from '../../src/kernels/layout.ref.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { roundTo } from '../../src/runtime/dtype.js';
import { rand, testGpus } from '../helpers.js';

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Layout kernels move values, so results must be bit-exact. */
function expectExact(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) throw new Error(`${what}: at ${i} got ${got[i]}, want ${want[i]}`);
  }
}

interface Case {
  name: string;
  gpu: Gpu;
  dtype: LayoutDType;
}

describe('layout', async () => {
  const { main, packed } = await testGpus();
  // Every storage path: f32, native f16, packed f16, and bf16 pairs (with and without shader-f16).
  const cases: Case[] = [{ name: 'f32', gpu: main, dtype: 'f32' }];
  if (main.info.features.f16) cases.push({ name: 'f16', gpu: main, dtype: 'f16' });
  cases.push({ name: 'f16packed', gpu: packed, dtype: 'f16' }, { name: 'bf16', gpu: main, dtype: 'bf16' });
  const data = (c: Case, n: number, seed: number) => roundTo(c.dtype, rand(n, seed, -4, 4));

  for (const c of cases) {
    it(`permute ${c.name}`, async () => {
      const perms: Array<[number[], number[]]> = [
        [[2, 3, 4], [2, 0, 1]],
        [[1, 9, 7, 12], [0, 3, 1, 2]], // NHWC -> NCHW (tiled)
        [[1, 12, 9, 7], [0, 2, 3, 1]], // NCHW -> NHWC (tiled)
        [[33, 65], [1, 0]],
        [[3, 40, 37], [0, 2, 1]],
        [[5, 3, 4, 6], [0, 2, 1, 3]], // attention heads [B, T, H, D] -> [B, H, T, D]
        [[2, 3, 5, 7, 1, 3], [3, 1, 5, 0, 4, 2]],
        [[3, 1, 5], [1, 0, 2]], // a no-op after dropping the size-1 dim
        [[8300, 3], [1, 0]], // rows longer than one workgroup segment (2048 groups of 4 on CPU adapters)
        [[7], [0]],
      ];
      for (const [shape, perm] of perms) {
        const x = data(c, size(shape), size(shape) + perm[0]);
        const tx = c.gpu.upload(x, shape, c.dtype);
        const want = permuteRef(x, shape, perm);
        for (const method of ['tiled', 'rows', 'gather'] as const) {
          const ty = permute(c.gpu, tx, perm, { method });
          expect(ty.shape).toEqual(perm.map((p) => shape[p]));
          expectExact(await c.gpu.read(ty), want, `[${shape}] by [${perm}] ${method}`);
          ty.release();
        }
        tx.release();
      }
    });

    it(`window partition / unpartition ${c.name}`, async () => {
      const shapes: Array<[number, number, number, number, number]> = [
        [1, 7, 5, 4, 3], // padding in H and W, vec4 channels
        [2, 8, 8, 6, 4], // no padding, odd channel count in pairs
        [1, 10, 9, 8, 8], // window larger than W's remainder
        [1, 1, 1, 3, 2],
        [2, 5, 6, 3, 5],
      ];
      for (const [b, h, w, ch, ws] of shapes) {
        const x = data(c, b * h * w * ch, h * 100 + w * 10 + ch);
        const tx = c.gpu.upload(x, [b, h, w, ch], c.dtype);
        const { windows, padHW } = windowPartition(c.gpu, tx, ws);
        const [hp, wp] = padHW;
        expect(padHW).toEqual([Math.ceil(h / ws) * ws, Math.ceil(w / ws) * ws]);
        expect(windows.shape).toEqual([(b * hp * wp) / (ws * ws), ws, ws, ch]);
        expectExact(await c.gpu.read(windows), windowPartitionRef(x, b, h, w, ch, ws), `partition [${b},${h},${w},${ch}] ws ${ws}`);
        // Round trip, then unpartition of windows whose padding is not zero (it must be dropped).
        const back = windowUnpartition(c.gpu, windows, ws, padHW, [h, w]);
        expectExact(await c.gpu.read(back), x, `round trip [${b},${h},${w},${ch}] ws ${ws}`);
        const win = data(c, windows.size, 77 + ws);
        const twin = c.gpu.upload(win, windows.shape, c.dtype);
        const un = windowUnpartition(c.gpu, twin, ws, padHW, [h, w]);
        expect(un.shape).toEqual([b, h, w, ch]);
        expectExact(await c.gpu.read(un), windowUnpartitionRef(win, ws, hp, wp, h, w, ch), `unpartition [${b},${h},${w},${ch}] ws ${ws}`);
        for (const t of [tx, windows, back, twin, un]) t.release();
      }
    });

    it(`concat ${c.name}`, async () => {
      const groups: Array<[number[][], number]> = [
        [[[2, 3, 5], [4, 3, 5]], 0],
        [[[2, 3, 5], [2, 1, 5], [2, 7, 5]], 1],
        [[[2, 3, 5], [2, 3, 1], [2, 3, 2]], -1], // odd row pieces: packed words shared between inputs
        [[[3, 1], [3, 0], [3, 2]], 1], // an empty input
        [[[3, 70], [3, 66]], 1], // rows of 16+ groups, several per workgroup, unaligned starts
        [[[2, 8301], [2, 3]], 1], // rows longer than one workgroup segment
        // Memory tokens: 7 memory frames and 2 pointer blocks along the token dim (more than 8 inputs).
        [[[16, 1, 8], [16, 1, 8], [16, 1, 8], [16, 1, 8], [16, 1, 8], [16, 1, 8], [16, 1, 8], [4, 1, 8], [3, 1, 8]], 0],
      ];
      for (const [shapes, dim] of groups) {
        const xs = shapes.map((s, k) => ({ data: data(c, size(s), 31 * k + size(s)), shape: s }));
        const ts = xs.map((x) => c.gpu.upload(x.data, x.shape, c.dtype));
        const d = dim < 0 ? dim + shapes[0].length : dim;
        const ty = concat(c.gpu, ts, dim);
        expect(ty.shape).toEqual(shapes[0].map((s, k) => (k === d ? shapes.reduce((a, t) => a + t[d], 0) : s)));
        expectExact(await c.gpu.read(ty), concatRef(xs, d), `concat ${JSON.stringify(shapes)} dim ${dim}`);
        for (const t of [...ts, ty]) t.release();
      }
    });

    it(`slice ${c.name}`, async () => {
      const shape = [3, 5, 7];
      const x = data(c, size(shape), 5);
      const tx = c.gpu.upload(x, shape, c.dtype);
      for (const [dim, start, length] of [
        [0, 1, 2],
        [0, 0, 3],
        [1, 1, 3],
        [1, 4, 1],
        [2, 0, 7],
        [2, 3, 3],
        [-1, 1, 1],
        [2, 2, 0],
      ]) {
        const ty = slice(c.gpu, tx, dim, start, length);
        const d = dim < 0 ? dim + 3 : dim;
        expect(ty.shape).toEqual(shape.map((s, k) => (k === d ? length : s)));
        expectExact(await c.gpu.read(ty), sliceRef(x, shape, d, start, length), `slice dim ${dim} [${start}, +${length})`);
        ty.release();
      }
      tx.release();
    });
  }

  it('concat promotes bf16 with f32 to f32, as torch.cat', async () => {
    const a = roundTo('bf16', rand(6, 1));
    const b = rand(4, 2);
    const ta = main.upload(a, [3, 2], 'bf16');
    const tb = main.upload(b, [2, 2], 'f32');
    const ty = concat(main, [ta, tb], 0);
    expect(ty.dtype).toBe('f32');
    expectExact(await main.read(ty), Float32Array.from([...a, ...b]), 'bf16 + f32');
  });

  for (const [name, g] of [
    ['main', main],
    ['packed', packed],
  ] as const) {
    it(`cast between f32, f16 and bf16 (${name})`, async () => {
      // Ties for bf16 (1 + 2^-8, 1 + 3·2^-8) and f16 (1 + 2^-11), tiny and large values, odd lengths.
      const special = [1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8), 1 + 2 ** -11, 1 + 3 * 2 ** -11, 3e-5, -6e4, 1e-8, 0, -0];
      const types: LayoutDType[] = ['f32', 'f16', 'bf16'];
      for (const n of [1, 3, 10, 1001]) {
        const x = rand(n, n, -100, 100);
        x.set(special.slice(0, n));
        for (const from of types) {
          const xs = roundTo(from, x);
          const tx = g.upload(xs, [n], from);
          for (const to of types) {
            const ty = cast(g, tx, to);
            expect(ty.dtype).toBe(to);
            expectExact(await g.read(ty), castRef(xs, to), `${from} -> ${to} n=${n}`);
            ty.release();
          }
          tx.release();
        }
      }
    });
  }

  it('merges adjacent dims in permute plans', () => {
    expect(permutePlan([1, 64, 64, 256], [0, 3, 1, 2])).toEqual({ dims: [4096, 256], strides: [256, 1] });
    expect(permutePlan([2, 3, 4], [0, 1, 2])).toEqual({ dims: [24], strides: [1] });
    expect(permutePlan([5, 3, 4, 6], [0, 2, 1, 3])).toEqual({ dims: [6, 3, 4, 5], strides: [1, 24, 6, 72] });
  });

  it('checks shapes', () => {
    const g = main;
    const x = g.empty([2, 3, 4]);
    expect(() => permute(g, x, [0, 1])).toThrow(/permute: \[0, 1\] is not a permutation/);
    expect(() => permute(g, x, [0, 0, 1])).toThrow(/not a permutation/);
    expect(() => permute(g, g.empty([2, 2, 2, 2, 2, 2, 2]), [6, 5, 4, 3, 2, 1, 0])).toThrow(/7 separate dims/);
    expect(() => windowPartition(g, x, 2)).toThrow(/windowPartition: .* must be \[B, H, W, C\]/);
    expect(() => windowUnpartition(g, g.empty([3, 2, 2, 4]), 2, [4, 4], [3, 3])).toThrow(/windowUnpartition: .* must be \[B·2·2, 2, 2, C\]/);
    expect(() => windowUnpartition(g, g.empty([4, 2, 2, 4]), 2, [4, 4], [5, 3])).toThrow(/multiples/);
    expect(() => concat(g, [x, g.empty([2, 4, 4])], 0)).toThrow(/concat: .* does not match/);
    expect(() => concat(g, [], 0)).toThrow(/no inputs/);
    expect(() => slice(g, x, 1, 2, 2)).toThrow(/slice: \[2, 4\) is not inside dim 1/);
    expect(() => slice(g, x, 3, 0, 1)).toThrow(/dim 3 is not a dim/);
    expect(() => cast(g, g.empty([3], 'u32'), 'f32')).toThrow(/cast: .* must be f32, f16 or bf16/);
    expect(() => permute(g, x, [0, 2, 1], { out: x })).toThrow(/does not match|shares its buffer/);
  });
});
