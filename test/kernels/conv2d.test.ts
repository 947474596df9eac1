import { describe, expect, it } from 'vitest';
import { conv2d, conv2dPath, convTranspose2d, packConv2dWeight, type Conv2dOptions, type ConvAct } from '../../src/kernels/conv2d.js';
import { conv2dRef, convTranspose2dRef } from '../../src/kernels/conv2d.ref.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { asStored, expectClose, rand, variants, type Variant } from '../helpers.js';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const pair = (v: number | [number, number] | undefined): [number, number] | undefined => (typeof v === 'number' ? [v, v] : v);

interface Case {
  x: [number, number, number, number];
  w: [number, number, number, number];
  opts?: { stride?: number | [number, number]; padding?: number | [number, number]; dilation?: number | [number, number]; groups?: number; act?: ConvAct };
  bias?: boolean;
  /** The kernel conv2d must pick. */
  path: 'gemm' | 'depthwise' | 'direct';
}

const cases: Case[] = [
  // Patch-embed geometry (7×7, stride 4, pad 3) at a small size; 8 and 96 channels use packed weights.
  { x: [1, 3, 21, 22], w: [8, 3, 7, 7], opts: { stride: 4, padding: 3 }, path: 'direct' },
  { x: [1, 3, 16, 16], w: [96, 3, 7, 7], opts: { stride: 4, padding: 3, act: 'gelu' }, path: 'direct' },
  // Mask downsampler geometry (3×3, stride 2, pad 1), Cout not a multiple of 4 (unpacked weights).
  { x: [2, 5, 13, 11], w: [7, 5, 3, 3], opts: { stride: 2, padding: 1, act: 'relu' }, path: 'direct' },
  // 16 input channels (the im2col route on CPU adapters), odd output size.
  { x: [1, 16, 9, 10], w: [8, 16, 3, 3], opts: { stride: 2, padding: 1, act: 'gelu' }, path: 'direct' },
  // 12 channels: blocks of 8 with a tail.
  { x: [1, 4, 9, 8], w: [12, 4, 3, 3], opts: { stride: 2, padding: 1 }, path: 'direct' },
  // Prompt encoder mask downscaling (2×2 stride 2) and sam2_base's 4×4 stride 4.
  { x: [1, 1, 14, 10], w: [4, 1, 2, 2], opts: { stride: 2 }, path: 'direct' },
  { x: [1, 1, 17, 16], w: [1, 1, 4, 4], opts: { stride: 4 }, path: 'direct' },
  // Groups: 3 channels per group (unpacked), 8 per group (packed).
  { x: [2, 4, 9, 7], w: [6, 2, 3, 3], opts: { stride: 2, padding: 1, groups: 2, act: 'gelu' }, path: 'direct' },
  { x: [1, 8, 5, 6], w: [16, 4, 3, 3], opts: { padding: 1, groups: 2 }, path: 'direct' },
  // Dilation, asymmetric stride and padding, no bias.
  { x: [1, 3, 9, 12], w: [5, 3, 3, 2], opts: { stride: [1, 2], padding: [0, 2], dilation: [2, 1] }, bias: false, path: 'direct' },
  { x: [1, 3, 8, 8], w: [6, 1, 3, 3], opts: { padding: [1, 2], dilation: [2, 1], groups: 3 }, path: 'direct' },
  // Depthwise (CXBlock 7×7 pad 3), odd widths, channel multiplier 2, a 1×1 image.
  { x: [1, 5, 9, 11], w: [5, 1, 7, 7], opts: { padding: 3, groups: 5 }, path: 'depthwise' },
  { x: [2, 3, 8, 16], w: [6, 1, 3, 3], opts: { padding: 1, groups: 3, act: 'gelu' }, path: 'depthwise' },
  { x: [1, 4, 6, 13], w: [4, 1, 3, 6], opts: { padding: [1, 4], groups: 4 }, bias: false, path: 'depthwise' },
  { x: [1, 3, 1, 1], w: [3, 1, 7, 7], opts: { padding: 3, groups: 3 }, path: 'depthwise' },
  // 1×1 as matmul: H·W not a multiple of 4, a multiple of 4, Cout not a multiple of the row block.
  { x: [2, 7, 5, 3], w: [9, 7, 1, 1], path: 'gemm' },
  { x: [1, 5, 4, 8], w: [19, 5, 1, 1], opts: { act: 'relu' }, path: 'gemm' },
  { x: [1, 3, 1, 1001], w: [4, 3, 1, 1], bias: false, path: 'gemm' },
  { x: [3, 33, 2, 6], w: [17, 33, 1, 1], opts: { act: 'gelu' }, path: 'gemm' },
];

function upload(v: Variant, data: Float32Array, shape: number[]): Tensor {
  return v.gpu.upload(data, shape, v.dtype);
}

async function check(v: Variant, c: Case, extra: Conv2dOptions = {}, seed = 1): Promise<void> {
  const x = asStored(v, rand(numel(c.x), seed, -1, 1));
  const w = asStored(v, rand(numel(c.w), seed + 1, -0.5, 0.5));
  const b = c.bias === false ? null : asStored(v, rand(c.w[0], seed + 2, -1, 1));
  const o = c.opts ?? {};
  const ref = conv2dRef(x, c.x, w, c.w, b, {
    stride: pair(o.stride),
    padding: pair(o.padding),
    dilation: pair(o.dilation),
    groups: o.groups,
    act: o.act,
  });
  const tx = upload(v, x, c.x);
  const tw = upload(v, w, c.w);
  const tb = b ? upload(v, b, [c.w[0]]) : null;
  const ty = conv2d(v.gpu, tx, tw, { ...o, bias: tb, ...extra });
  expect(ty.shape).toEqual(ref.shape);
  expectClose(await v.gpu.read(ty), asStored(v, ref.data), v.tol, `conv2d ${JSON.stringify(c)} ${JSON.stringify(Object.keys(extra))}`);
  for (const t of [tx, tw, tb, ty]) t?.release();
}

describe('conv2d', async () => {
  const vs = await variants();
  it('picks the path for the geometry', () => {
    for (const c of cases) expect(conv2dPath(c.x, c.w, c.opts as Conv2dOptions), JSON.stringify(c)).toBe(c.path);
  });
  for (const v of vs) {
    it(`matches the reference, every path (${v.name})`, async () => {
      for (const c of cases) await check(v, c);
    });
    it(`1×1 convolutions through the conv GEMM and through the matmul route (${v.name})`, async () => {
      const oneByOne = cases.filter((k) => k.path === 'gemm');
      expect(oneByOne.length).toBeGreaterThan(0);
      for (const c of oneByOne) {
        await check(v, c, { impl: 'gemm' }, 7);
        await check(v, c, { impl: 'matmul' }, 7);
      }
    });
    it(`ungrouped convolutions through the direct kernel and through im2col + matmul (${v.name})`, async () => {
      const ungrouped = cases.filter((k) => k.path === 'direct' && (k.opts?.groups ?? 1) === 1);
      expect(ungrouped.length).toBeGreaterThan(5);
      for (const c of ungrouped) {
        await check(v, c, { impl: 'direct' }, 11);
        await check(v, c, { impl: 'im2col' }, 11);
      }
    });
    it(`general kernel on 1×1 and depthwise shapes (${v.name})`, async () => {
      for (const c of cases.filter((k) => k.path !== 'direct')) await check(v, c, { impl: 'direct' }, 7);
    });
    it(`pre-packed weights (${v.name})`, async () => {
      const c = cases[1];
      const w = asStored(v, rand(numel(c.w), 2, -0.5, 0.5));
      const tw = upload(v, w, c.w);
      const packed = packConv2dWeight(v.gpu, tw);
      expect(packed.shape).toEqual([3 * 7 * 7, 96]);
      // Packing is a transpose: [co, k] → [k, co].
      const got = await v.gpu.read(packed);
      const want = new Float32Array(got.length);
      for (let co = 0; co < 96; co++) for (let k = 0; k < 147; k++) want[k * 96 + co] = w[co * 147 + k];
      expectClose(got, want, 0, 'packed weight');
      const tx = upload(v, asStored(v, rand(numel(c.x), 1, -1, 1)), c.x);
      const a = await v.gpu.read(conv2d(v.gpu, tx, tw, { ...c.opts, packedWeight: packed } as Conv2dOptions));
      const b = await v.gpu.read(conv2d(v.gpu, tx, tw, c.opts as Conv2dOptions));
      expectClose(a, b, 0, 'packed vs unpacked');
      for (const t of [tw, packed, tx]) t.release();
    });
  }

  it('writes into out', async () => {
    const g = vs[0].gpu;
    const x = g.upload(rand(2 * 3 * 4 * 4, 3), [2, 3, 4, 4]);
    const w = g.upload(rand(5 * 3, 4), [5, 3, 1, 1]);
    const out = g.empty([2, 5, 4, 4]);
    expect(conv2d(g, x, w, { out })).toBe(out);
    const ref = conv2dRef(await g.read(x), [2, 3, 4, 4], await g.read(w), [5, 3, 1, 1], null);
    expectClose(await g.read(out), ref.data, 1e-5, 'out');
    // The im2col route, with and without a bias.
    const w3 = g.upload(rand(5 * 3 * 9, 5), [5, 3, 3, 3]);
    const b3 = g.upload(rand(5, 6), [5]);
    for (const bias of [null, b3]) {
      const out2 = g.empty([2, 5, 2, 2]);
      expect(conv2d(g, x, w3, { stride: 2, padding: 1, bias, impl: 'im2col', out: out2 })).toBe(out2);
      const ref2 = conv2dRef(await g.read(x), [2, 3, 4, 4], await g.read(w3), [5, 3, 3, 3], bias ? await g.read(bias) : null, { stride: [2, 2], padding: [1, 1] });
      expectClose(await g.read(out2), ref2.data, 1e-5, 'out (im2col)');
    }
  });

  it('rejects bad shapes', () => {
    const g = vs[0].gpu;
    const x = g.empty([1, 4, 8, 8]);
    expect(() => conv2d(g, x, g.empty([8, 3, 3, 3]))).toThrow(/conv2d: .*weight/);
    expect(() => conv2d(g, x, g.empty([6, 2, 3, 3]), { groups: 3 })).toThrow(/conv2d: .*groups/);
    expect(() => conv2d(g, x, g.empty([8, 4, 3, 3]), { bias: g.empty([7]) })).toThrow(/conv2d: bias/);
    expect(() => conv2d(g, x, g.empty([8, 4, 9, 9]))).toThrow(/conv2d: .*smaller/);
    expect(() => conv2d(g, x, g.empty([8, 4, 3, 3]), { out: g.empty([1, 8, 8, 8]) })).toThrow(/conv2d: out/);
    expect(() => conv2d(g, g.empty([4, 8, 8]), g.empty([8, 4, 3, 3]))).toThrow(/conv2d: x .* 4-D/);
    expect(() => conv2d(g, x, g.empty([8, 4, 3, 3], 'f16'))).toThrow(/conv2d: .*dtype/);
    expect(() => conv2d(g, x, g.empty([8, 4, 3, 3]), { packedWeight: g.empty([36, 4]) })).toThrow(/conv2d: packed weight/);
    expect(() => conv2d(g, x, g.empty([8, 2, 3, 3]), { groups: 2, impl: 'im2col' })).toThrow(/conv2d: the im2col route needs groups = 1/);
  });
});

describe('conv_transpose2d (kernel == stride)', async () => {
  const vs = await variants();
  const tcases: Array<{ x: [number, number, number, number]; w: [number, number, number, number]; act?: ConvAct; bias?: boolean }> = [
    // Mask decoder upscaling: 2×2 stride 2 (Cout·4 rows, a multiple of 4: quad weight loads).
    { x: [1, 8, 4, 4], w: [8, 4, 2, 2], act: 'gelu' },
    { x: [1, 4, 3, 5], w: [4, 3, 2, 2] },
    { x: [2, 5, 3, 3], w: [5, 7, 3, 2], bias: false },
    { x: [1, 9, 1, 7], w: [9, 1, 1, 3], act: 'relu' },
    { x: [1, 3, 5, 4], w: [3, 5, 4, 4] },
  ];
  for (const v of vs) {
    for (const impl of ['auto', 'gemm', 'matmul'] as const) {
      it(`matches the reference (${v.name}, ${impl})`, async () => {
        for (const c of tcases) {
          const x = asStored(v, rand(numel(c.x), 11, -1, 1));
          const w = asStored(v, rand(numel(c.w), 12, -0.5, 0.5));
          const b = c.bias === false ? null : asStored(v, rand(c.w[1], 13, -1, 1));
          const ref = convTranspose2dRef({ data: x, shape: c.x }, { data: w, shape: c.w }, b, { stride: [c.w[2], c.w[3]], act: c.act });
          const tx = upload(v, x, c.x);
          const tw = upload(v, w, c.w);
          const tb = b ? upload(v, b, [c.w[1]]) : null;
          const ty = convTranspose2d(v.gpu, tx, tw, { bias: tb, act: c.act, impl });
          expect(ty.shape).toEqual(ref.shape);
          expectClose(await v.gpu.read(ty), asStored(v, ref.data), v.tol, `conv_transpose2d ${impl} ${JSON.stringify(c)}`);
          for (const t of [tx, tw, tb, ty]) t?.release();
        }
      });
    }
  }
  it('rejects stride != kernel and bad weights', () => {
    const g = vs[0].gpu;
    const x = g.empty([1, 4, 8, 8]);
    expect(() => convTranspose2d(g, x, g.empty([4, 2, 3, 3]), { stride: 2 })).toThrow(/conv_transpose2d: only kernel == stride/);
    expect(() => convTranspose2d(g, x, g.empty([3, 2, 2, 2]))).toThrow(/conv_transpose2d: weight/);
    expect(() => convTranspose2d(g, x, g.empty([4, 2, 2, 2]), { bias: g.empty([4]) })).toThrow(/conv_transpose2d: bias/);
  });
});
