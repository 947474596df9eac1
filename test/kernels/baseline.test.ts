import { describe, expect, it } from 'vitest';
import { broadcastRate, fmaPeak, LOAD_RATE_TABLE, loadRate } from '../../bench/baseline.js';
import { f32ToF16Bits } from '../../src/runtime/dtype.js';
import { expectClose, testGpus } from '../helpers.js';

/** CPU twin of load_rate.wgsl: invocation id's sum of its loads from `table` (vectors of 4). */
function loadRateRef(table: Float32Array, invocations: number, iters: number, stride: number): Float32Array {
  const out = new Float32Array(invocations);
  const mask = LOAD_RATE_TABLE - 1;
  for (let id = 0; id < invocations; id++) {
    let s = 0;
    for (let r = 0; r < iters; r++) {
      for (let j = 0; j < 4; j++) {
        const v = (id + (4 * r + j) * stride) & mask;
        for (let c = 0; c < 4; c++) s += table[v * 4 + c];
      }
    }
    out[id] = s;
  }
  return out;
}

describe('baseline kernels', async () => {
  const { main: gpu } = await testGpus();
  // Multiples of 1/8 below 4: exact in f16 and f32, and every partial sum here is exact in f32, so the
  // order of the additions does not matter and the comparison is exact.
  const table = Float32Array.from({ length: 4 * LOAD_RATE_TABLE }, (_, i) => ((i * 37) % 61) / 8 - 3.75);
  const opts = { groups: 3, wg: 64, iters: 5 };
  const n = opts.groups * opts.wg;

  it('load_rate loads every vector it counts (vec4<f32>)', async () => {
    const x = gpu.upload(table, [table.length]);
    const y = gpu.empty([n]);
    expect(loadRate(gpu, x, y, opts)).toBe(n * opts.iters * 4);
    expect(Array.from(await gpu.read(y))).toEqual(Array.from(loadRateRef(table, n, opts.iters, opts.wg)));
    x.release();
    y.release();
  });

  it('load_rate loads every vector it counts (packed halves)', async () => {
    // The first half of the buffer holds LOAD_RATE_TABLE vectors of 4 halves.
    const bits = new Uint16Array(2 * table.length);
    for (let i = 0; i < table.length; i++) bits[i] = f32ToF16Bits(table[i]);
    const x = gpu.uploadBytes(new Uint8Array(bits.buffer), [table.length], 'f32');
    const y = gpu.empty([n]);
    loadRate(gpu, x, y, { ...opts, packed: true });
    expect(Array.from(await gpu.read(y))).toEqual(Array.from(loadRateRef(table, n, opts.iters, opts.wg)));
    x.release();
    y.release();
  });

  it('broadcast_rate broadcasts lane j to chain j', async (ctx) => {
    if (!gpu.info.features.subgroups || gpu.info.subgroupMinSize < 8) {
      const y = gpu.empty([n]);
      expect(() => broadcastRate(gpu, y, { groups: 3 })).toThrow(/broadcastRate: needs subgroups/);
      y.release();
      ctx.skip();
    }
    const y = gpu.empty([n]);
    const iters = 3;
    expect(broadcastRate(gpu, y, { ...opts, iters })).toBe(n * iters * 8);
    const out = await gpu.read(y);
    // Chain j of every lane starts at s + j with s = id · 1e-3 + 1 (in f32) and adds lane j's value each round.
    const sg = gpu.info.subgroupMinSize;
    const start = (id: number, j: number) => Math.fround(Math.fround(Math.fround(id * 1e-3) + 1) + j);
    const expected = Float32Array.from({ length: n }, (_, id) => {
      let t = 0;
      for (let j = 0; j < 8; j++) {
        let v = start(id, j);
        let src = start(id - (id % sg) + j, j);
        for (let r = 0; r < iters; r++) {
          v = Math.fround(v + src);
          src = Math.fround(src + src);
        }
        t += 4 * v;
      }
      return t;
    });
    expectClose(out, expected, 1e-5);
    y.release();
  });

  it('fma_peak runs its chains to finite values', async () => {
    const y = gpu.empty([n]);
    expect(fmaPeak(gpu, y, { groups: 3, wg: 64, chains: 8, iters: 4 })).toBe(n * 8 * 4 * 32);
    const out = await gpu.read(y);
    expect(out.every((v) => Number.isFinite(v) && v !== 0)).toBe(true);
    y.release();
  });

  it('rejects a table of the wrong size', () => {
    const x = gpu.empty([16]);
    const y = gpu.empty([n]);
    expect(() => loadRate(gpu, x, y, opts)).toThrow(/loadRate: x .* must be f32 with 16384 elements/);
    x.release();
    y.release();
  });
});
