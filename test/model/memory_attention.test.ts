/**
 * MemoryAttention against the official memory_attention (test/fixtures/tiny256/memory_attention.safetensors:
 * sam2.1_hiera_t at image size 256, synthetic weights, frame 16 of the `point` video case: 256 query tokens,
 * a full bank of 7 memories + 16 object pointers = 1,856 memory tokens of which 64 are excluded from RoPE):
 * every layer's output and the final output, in every numeric variant. Then the axial RoPE against a CPU
 * reference in double precision (repeat over memory frames, excluded pointer tokens), batches of 2 against
 * single runs, and the shape checks.
 */
import { describe, expect, it } from 'vitest';
import { MemoryAttention } from '../../src/model/memory_attention.js';
import { sdpa } from '../../src/kernels/sdpa.js';
import { applyRope, RopeTables } from '../../src/model/rope_attention.js';
import { axialCis } from '../../src/kernels/rope.ref.js';
import { attentionRef } from '../../src/kernels/attention.ref.js';
import { ShapeError } from '../../src/runtime/errors.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { TINY256 } from '../fixtures/reader.js';
import { asStored, rand, testGpus, variants } from '../helpers.js';
import { cfg, paritySuite, PARTS, withModel } from './modules.js';
import { expectParity, parity } from './parity.js';

const suite = paritySuite(`${TINY256}/memory_attention.safetensors`, 'memory attention parity (sam2.1_hiera_t @ 256, 7 memories + 16 pointers)');
const { rows, upload } = suite;

/** Runs `body` with the module on `gpu` (synthetic weights stored as `dtype`), releasing it after. */
async function withMemoryAttention(
  gpu: Gpu,
  dtype: 'f32' | 'f16',
  body: (ma: MemoryAttention) => Promise<void>,
  opts?: ConstructorParameters<typeof MemoryAttention>[3],
): Promise<void> {
  await withModel(gpu, PARTS.memoryAttention(), dtype, async (weights) => {
    const ma = new MemoryAttention({ gpu, weights }, cfg, 'memory_attention', opts);
    try {
      await body(ma);
    } finally {
      ma.release();
    }
  });
}

describe('MemoryAttention (sam2.1_hiera_t @ 256) matches the official memory_attention', () => {
  it('every variant: each layer and the output, full memory bank', async () => {
    const numPtr = suite.fx.meta.num_obj_ptr_tokens as number;
    expect(numPtr).toBe(64);
    for (const v of suite.vs) {
      const dtype = v.dtype as 'f32' | 'f16';
      await withMemoryAttention(v.gpu, dtype, async (ma) => {
        const ins = await Promise.all(['curr', 'curr_pos', 'memory', 'memory_pos'].map((n) => upload(v.gpu, n, dtype)));
        expect(ins[2].shape).toEqual([7 * 256 + 64, 1, 64]);
        const taps: Record<string, Promise<Float32Array>> = {};
        const out = ma.forwardSeqFirst(ins[0], ins[1], ins[2], ins[3], numPtr, (n, t) => (taps[n] = v.gpu.read(t)));
        expect(out.shape).toEqual([256, 1, 256]);
        const got = await v.gpu.read(out);
        for (let i = 0; i < 4; i++) {
          const name = `memory_attention.layers.${i}`;
          rows.push(expectParity(name, v.name, await taps[`layers.${i}`], await suite.fx.f32(name)));
        }
        rows.push(expectParity('memory_attention (output)', v.name, got, await suite.fx.f32('output')));
        out.release();
        for (const t of ins) t.release();
      });
    }
  });

  it('f32, each attention path forced (the sdpa kernel, scores and values by matmul), whichever "auto" picks here', async () => {
    // Named by path, not by "the one auto does not pick", so that a check has the same name (and bound) on
    // every adapter: CPU adapters pick matmul at head dim 256, GPUs the kernel.
    const { main: gpu } = await testGpus();
    for (const path of ['kernel', 'matmul'] as const) {
      await withMemoryAttention(gpu, 'f32', async (ma) => {
        const ins = await Promise.all(['curr', 'curr_pos', 'memory', 'memory_pos'].map((n) => upload(gpu, n, 'f32')));
        const got = await gpu.read(ma.forwardSeqFirst(ins[0], ins[1], ins[2], ins[3], 64));
        rows.push(expectParity(`memory_attention (output, sdpa ${path})`, 'f32', got, await suite.fx.f32('output')));
        for (const t of ins) t.release();
      }, { sdpa: path });
    }
  });

  it('any number of memories and pointers: every memory frame and pointer token twice gives the same output', async () => {
    // Duplicated key / value pairs leave softmax attention unchanged, and a duplicated frame gets the same
    // rotation (rope_k_repeat), so 14 memories + 128 pointer tokens must reproduce the official output.
    const { main: gpu } = await testGpus();
    await withMemoryAttention(gpu, 'f32', async (ma) => {
      const L = 256;
      const doubled = async (name: string) => {
        const x = await suite.fx.f32(name);
        const frames = x.subarray(0, 7 * L * 64);
        const ptrs = x.subarray(7 * L * 64);
        const y = new Float32Array(2 * x.length);
        y.set(frames, 0);
        y.set(frames, frames.length);
        y.set(ptrs, 2 * frames.length);
        y.set(ptrs, 2 * frames.length + ptrs.length);
        return gpu.upload(y, [1, y.length / 64, 64]);
      };
      const curr = (await upload(gpu, 'curr', 'f32')).reshape([1, L, 256]);
      const currPos = (await upload(gpu, 'curr_pos', 'f32')).reshape([1, L, 256]);
      const mem = await doubled('memory');
      const memPos = await doubled('memory_pos');
      expect(mem.shape).toEqual([1, 14 * L + 128, 64]);
      const got = await gpu.read(ma.forward(curr, currPos, mem, memPos, 128));
      rows.push(expectParity('memory_attention (output, bank doubled)', 'f32', got, await suite.fx.f32('output')));
    });
  });

  it('a batch of 2 (sequence-first, permuted at the boundary) equals two single runs', async () => {
    const { main: gpu } = await testGpus();
    await withMemoryAttention(gpu, 'f32', async (ma) => {
      const L = 256;
      const M = 2 * L + 8;
      const data = [rand(L * 256, 1), rand(L * 256, 2), rand(M * 64, 3), rand(M * 64, 4)];
      const data2 = [rand(L * 256, 5), rand(L * 256, 6), rand(M * 64, 7), rand(M * 64, 8)];
      const dims = [256, 256, 64, 64];
      const lens = [L, L, M, M];
      // Sequence-first [len, 2, C]: entry b of every token from data (b = 0) or data2 (b = 1).
      const interleave = (a: Float32Array, b: Float32Array, c: number) => {
        const n = a.length / c;
        const y = new Float32Array(2 * a.length);
        for (let i = 0; i < n; i++) {
          y.set(a.subarray(i * c, (i + 1) * c), 2 * i * c);
          y.set(b.subarray(i * c, (i + 1) * c), (2 * i + 1) * c);
        }
        return y;
      };
      const batched = data.map((d, i) => gpu.upload(interleave(d, data2[i], dims[i]), [lens[i], 2, dims[i]]));
      const out = await gpu.read(ma.forwardSeqFirst(batched[0], batched[1], batched[2], batched[3], 8));
      for (const [b, set] of [data, data2].entries()) {
        const single = set.map((d, i) => gpu.upload(d, [1, lens[i], dims[i]]));
        const ref = await gpu.read(ma.forward(single[0], single[1], single[2], single[3], 8));
        const mine = new Float32Array(L * 256);
        for (let i = 0; i < L; i++) mine.set(out.subarray((2 * i + b) * 256, (2 * i + b + 1) * 256), i * 256);
        const r = parity(`batch entry ${b}`, 'f32', mine, ref);
        expect(r.rel).toBeLessThan(1e-6);
        for (const t of single) t.release();
      }
      for (const t of batched) t.release();
    });
  });

  it('checks shapes at entry, naming the module and tensor', async () => {
    const { main: gpu } = await testGpus();
    await withMemoryAttention(gpu, 'f32', async (ma) => {
      const t = (shape: number[], dtype: 'f32' | 'f16' = 'f32') => gpu.empty(shape, dtype);
      const curr = t([1, 256, 256]);
      const mem = t([1, 2 * 256 + 4, 64]);
      expect(() => ma.forward(curr, t([1, 255, 256]), mem, mem, 4)).toThrow(/memory_attention: currPos .* does not match curr/);
      expect(() => ma.forward(curr, curr, mem, t([1, 2 * 256 + 4, 64]), 5)).toThrow(ShapeError);
      expect(() => ma.forward(curr, curr, mem, t([1, 2 * 256 + 4, 64]), 5)).toThrow(/not whole frames of 256 tokens/);
      expect(() => ma.forward(t([1, 256, 128]), curr, mem, mem, 4)).toThrow(/memory_attention: curr .* must be \[B, L, 256\]/);
      expect(() => ma.forward(curr, curr, t([1, 516, 64], 'f16'), mem, 4)).toThrow(/memory_attention: memory .* must be f32/);
      expect(() => ma.forward(t([1, 200, 256]), t([1, 200, 256]), t([1, 404, 64]), t([1, 404, 64]), 4)).toThrow(/not a square feature map/);
    });
  });
});

/** apply_rotary_enc in double precision on [B, Lx, H·Dh] with the f32 tables. */
function ropeRef(x: Float32Array, B: number, Lx: number, H: number, Dh: number, L: number, exclude: number): Float64Array {
  const side = Math.sqrt(L);
  const { cos, sin } = axialCis(Dh, side, side);
  const y = Float64Array.from(x);
  const half = Dh / 2;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < Lx - exclude; t++) {
      const p = t % L;
      for (let h = 0; h < H; h++) {
        for (let i = 0; i < half; i++) {
          const o = ((b * Lx + t) * H + h) * Dh + 2 * i;
          const re = x[o];
          const im = x[o + 1];
          const c = cos[p * half + i];
          const s = sin[p * half + i];
          y[o] = re * c - im * s;
          y[o + 1] = re * s + im * c;
        }
      }
    }
  }
  return y;
}

describe('scaled dot-product attention paths', () => {
  it('every variant: kernel and blocked matmul paths against a double-precision reference, several heads and blocks', async () => {
    for (const v of await variants()) {
      for (const [B, H, Lq, Lk, Dh] of [
        [1, 1, 100, 300, 256],
        [2, 2, 70, 45, 256],
      ]) {
        const q = rand(B * Lq * H * Dh, 21);
        const k = rand(B * Lk * H * Dh, 22, -2, 2);
        const vv = rand(B * Lk * H * Dh, 23);
        const qt = v.gpu.upload(q, [B, Lq, H * Dh], v.dtype);
        const kt = v.gpu.upload(k, [B, Lk, H * Dh], v.dtype);
        const vt = v.gpu.upload(vv, [B, Lk, H * Dh], v.dtype);
        // [B, L, H, D] → [B, H, L, D] for the reference.
        const heads = (x: Float32Array, L: number) => {
          const y = new Float32Array(x.length);
          for (let b = 0; b < B; b++)
            for (let l = 0; l < L; l++)
              for (let h = 0; h < H; h++)
                for (let d = 0; d < Dh; d++) y[((b * H + h) * L + l) * Dh + d] = x[((b * L + l) * H + h) * Dh + d];
          return y;
        };
        const refHeads = attentionRef(heads(asStored(v, q), Lq), heads(asStored(v, k), Lk), heads(asStored(v, vv), Lk), { B, H, Lq, Lk, D: Dh, Dv: Dh });
        const ref = new Float32Array(refHeads.length);
        for (let b = 0; b < B; b++)
          for (let h = 0; h < H; h++)
            for (let l = 0; l < Lq; l++)
              for (let d = 0; d < Dh; d++) ref[((b * Lq + l) * H + h) * Dh + d] = refHeads[((b * H + h) * Lq + l) * Dh + d];
        // A small score budget forces blocks of 32 queries.
        for (const [impl, budget] of [['kernel', undefined], ['matmul', undefined], ['matmul', 1]] as const) {
          const y = await v.gpu.read(sdpa(v.gpu, qt, kt, vt, { heads: H, impl, scoreBudget: budget }));
          const r = parity(`sdpa ${impl}`, v.name, y, ref);
          expect(r.rel, `${v.name} ${impl} budget ${budget} B${B} H${H} ${Lq}x${Lk}x${Dh}`).toBeLessThan(v.name === 'f32' ? 1e-5 : 5e-3);
        }
        for (const t of [qt, kt, vt]) t.release();
      }
    }
  });
});

describe('axial RoPE (compute_axial_cis + apply_rotary_enc)', () => {
  it('tables: x then y angles, frequencies theta^(-4k/dim)', () => {
    const { cos, sin } = axialCis(16, 4, 4);
    // Token 6 sits at x = 2, y = 1; pair 1 is the x angle 2 · 10000^(-4/16), pair 5 the y angle 1 · same.
    const f1 = Math.pow(10000, -4 / 16);
    expect(cos[6 * 8 + 1]).toBeCloseTo(Math.cos(2 * f1), 6);
    expect(sin[6 * 8 + 5]).toBeCloseTo(Math.sin(f1), 6);
    expect(cos[6 * 8 + 0]).toBeCloseTo(Math.cos(2), 6);
  });

  it('every variant: queries, repeated keys with excluded tokens, several heads', async () => {
    for (const v of await variants()) {
      const tables = new RopeTables(v.gpu, v.dtype as 'f32' | 'f16');
      for (const [B, r, H, Dh, L, exclude] of [
        [1, 1, 1, 256, 64, 0],
        [2, 3, 2, 32, 16, 5],
        [1, 2, 4, 16, 9, 0],
      ]) {
        const Lx = r * L + exclude;
        const x = asStored(v, rand(B * Lx * H * Dh, 11 + Lx));
        const xt = v.gpu.upload(x, [B, Lx, H * Dh], v.dtype);
        const y = await v.gpu.read(applyRope(v.gpu, xt, tables.get(L, Dh), H, exclude));
        const ref = ropeRef(x, B, Lx, H, Dh, L, exclude);
        const res = parity(`rope ${B}x${Lx}x${H}x${Dh}`, v.name, y, ref);
        expect(res.rel, `${v.name} B${B} r${r} H${H} Dh${Dh} L${L} excl${exclude}`).toBeLessThan(v.name === 'f32' ? 1e-6 : 2e-3);
        // Excluded tokens are copied exactly.
        const tail = (B - 1) * Lx * H * Dh + (Lx - exclude) * H * Dh;
        for (let i = tail; i < B * Lx * H * Dh; i++) expect(y[i]).toBe(x[i]);
        xt.release();
      }
      tables.release();
    }
  });
});
