/**
 * The frame budget's recording (bench/budget.ts): every dispatch of a tracked frame attributed to its module,
 * with the operation counts of SAM 2's layers, and the roofline arithmetic.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { budget, byKernel, predict, recordTrackedFrame, type Recorded } from '../../bench/budget.js';
import { Gpu } from '../../src/runtime/gpu.js';

describe('frame budget (sam2.1 tiny @ 256, a full bank, dispatches recorded, none run)', () => {
  let gpu: Gpu;
  let log: Recorded[];
  beforeAll(async () => {
    gpu = await Gpu.create({ profile: 'gpu' });
    log = await recordTrackedFrame(gpu, { model: 'tiny', size: 256, dtype: 'f32', objects: 1, setup: 16 });
  });
  afterAll(() => gpu.destroy());

  it('attributes the dispatches of every module of a tracked frame', () => {
    const modules = new Set(log.map((d) => d.module));
    for (const m of ['image encoder', 'memory attention', 'mask decoder', 'memory encoder'] as const) expect(modules.has(m), m).toBe(true);
    expect(log.length).toBeGreaterThan(200);
  });

  it("counts SAM 2's operations: Hiera's first MLP, the patch embedding, the first window attention", () => {
    // 64 × 64 tokens of 96 channels at 256; MLP 96 → 384.
    const mlp = log.filter((d) => d.kernel === 'image_encoder.trunk.blocks.0.mlp.layers.0');
    expect(mlp.reduce((a, d) => a + d.flops, 0)).toBe(2 * 4096 * 96 * 384);
    // Patch embedding: 7×7 stride 4, 3 → 96 channels, 64 × 64 outputs.
    const patch = log.find((d) => d.module === 'image encoder' && d.family === 'conv2d.direct')!;
    expect(patch.flops).toBe(2 * 96 * 64 * 64 * 3 * 49);
    // Block 0: 8 × 8 windows (64 of them), 1 head of 96 channels: QKᵀ and PV.
    const att = log.find((d) => d.module === 'image encoder' && d.family.startsWith('attention.'))!;
    expect(att.flops).toBe(2 * 64 * 64 * 64 * (96 + 96));
    // Memory attention's cross-attention: 256 queries over 7 memories of 256 tokens and 16 pointers of 4 tokens, head dim 256.
    const cross = log.filter((d) => d.module === 'memory attention' && d.family.startsWith('attention.') && d.flops === 2 * 256 * (7 * 256 + 16 * 4) * 512);
    expect(cross.length).toBe(4);
  });

  it('predicts each dispatch on the roofline and sums modules into the frame', () => {
    const roof = { peak: 67e12, bandwidth: 3.35e12, onchip: 33.4e12, launch: 3e-6 };
    expect(predict({ module: 'other', kernel: 'k', family: 'f', flops: 67e9, bytes: 0 }, roof)).toBeCloseTo(1e-3 + 3e-6, 12);
    expect(predict({ module: 'other', kernel: 'k', family: 'f', flops: 0, bytes: 3.35e9 }, roof)).toBeCloseTo(1e-3 + 3e-6, 12);
    // The flash kernel: 0.25 FMA per byte of workgroup memory → 8.35 TFMA/s = 16.7 TFLOPS, a quarter of the peak.
    expect(predict({ module: 'other', kernel: 'k', family: 'attention.flash', flops: 16.7e9, bytes: 0 }, roof)).toBeCloseTo(1e-3 + 3e-6, 12);
    // The tiled matmul: 1 FMA per byte → 33.4 TFMA/s = 66.8 TFLOPS, just under the f32 peak.
    expect(predict({ module: 'other', kernel: 'k', family: 'matmul.main_tiled', flops: 66.8e9, bytes: 0 }, roof)).toBeCloseTo(1e-3 + 3e-6, 12);
    const rows = budget(log, roof);
    const frame = rows[rows.length - 1];
    expect(frame.module).toBe('frame');
    expect(frame.dispatches).toBe(log.length);
    const sum = rows.slice(0, -1).reduce((a, r) => a + r.ms, 0);
    expect(sum).toBeCloseTo(frame.ms, 9);
    expect(frame.ms - frame.rooflineMs).toBeCloseTo(log.length * 3e-3, 9);
    expect(byKernel(log, roof).reduce((a, k) => a + k.dispatches, 0)).toBe(log.length);
  });
});
