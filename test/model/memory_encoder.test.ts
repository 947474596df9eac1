/**
 * MemoryEncoder against the official memory_encoder (test/fixtures/tiny256/memory_encoder.safetensors:
 * sam2.1_hiera_t at image size 256, synthetic weights), inside the official SAM2Base._encode_new_memory:
 *   click_frame    the clicked frame (binarized mask), with the mask downsampler, pix_feat_proj and fuser
 *                  outputs;
 *   tracked_frame  a tracked frame (sigmoid of the logits);
 *   absent_frame   a frame whose object score says absent (no_obj_embed_spatial added).
 * Each is checked in every numeric variant, for the encoder's output, the final maskmem_features and the
 * position encoding. Then the bf16 bank storage, the exact step of maskForMemory, the encoder's own sigmoid,
 * and the shape checks.
 */
import { describe, expect, it } from 'vitest';
import { addNoObjectEmbedding, maskForMemory, MemoryEncoder, toMemoryBank } from '../../src/model/memory_encoder.js';
import { bf16BitsToF32, f32ToBf16Bits } from '../../src/runtime/dtype.js';
import { ShapeError } from '../../src/runtime/errors.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import type { WeightStore } from '../../src/checkpoint/weights.js';
import { TINY256 } from '../fixtures/reader.js';
import { rand, testGpus, variants } from '../helpers.js';
import { cfg, paritySuite, PARTS, withModel } from './modules.js';
import { expectParity } from './parity.js';

/** Runs `body` with the encoder on `gpu` (synthetic weights stored as `dtype`), releasing it after. */
async function withMemoryEncoder(gpu: Gpu, dtype: 'f32' | 'f16', body: (enc: MemoryEncoder, weights: WeightStore) => Promise<void>): Promise<void> {
  await withModel(gpu, PARTS.memoryEncoder(), dtype, async (weights) => {
    const enc = new MemoryEncoder({ gpu, weights }, cfg);
    try {
      await body(enc, weights);
    } finally {
      enc.release();
    }
  });
}

interface CaseMeta {
  binarized: boolean;
  object_present: boolean;
}

const suite = paritySuite(`${TINY256}/memory_encoder.safetensors`, 'memory encoder parity (sam2.1_hiera_t @ 256)');
const { rows, upload } = suite;

describe('MemoryEncoder (sam2.1_hiera_t @ 256) matches the official _encode_new_memory', () => {
  it('every variant: clicked, tracked and absent frames', async () => {
    const cases = suite.fx.meta.cases as Record<string, CaseMeta>;
    expect(Object.keys(cases).sort()).toEqual(['absent_frame', 'click_frame', 'tracked_frame']);
    expect(cases.click_frame.binarized).toBe(true);
    expect(cases.absent_frame.object_present).toBe(false);
    for (const v of suite.vs) {
      const dtype = v.dtype as 'f32' | 'f16';
      await withMemoryEncoder(v.gpu, dtype, async (enc, weights) => {
        for (const [name, c] of Object.entries(cases)) {
          const pix = await upload(v.gpu, `${name}.pix_feat`, dtype);
          const logits = await upload(v.gpu, `${name}.pred_masks_high_res`, dtype);
          const score = await upload(v.gpu, `${name}.object_score_logits`, dtype);
          const reads: Record<string, Promise<Float32Array>> = {};
          const mask = maskForMemory(v.gpu, logits, {
            binarize: c.binarized,
            scale: cfg.sigmoidScaleForMemEnc,
            bias: cfg.sigmoidBiasForMemEnc,
          });
          const out = enc.forward(pix, mask, {
            skipMaskSigmoid: true,
            tap: (n, t) => (reads[`memory_encoder.${n}`] = v.gpu.read(t)),
          });
          expect(out.features.shape).toEqual([1, 64, 16, 16]);
          expect(out.pos.shape).toEqual([1, 64, 16, 16]);
          reads['memory_encoder.vision_features'] = v.gpu.read(out.features);
          const feats = addNoObjectEmbedding(v.gpu, out.features, score, weights.get('no_obj_embed_spatial'));
          reads.maskmem_features = v.gpu.read(feats);
          reads.maskmem_pos_enc = v.gpu.read(out.pos);
          for (const [n, p] of Object.entries(reads)) {
            const key = `${name}.${n}`;
            if (suite.fx.has(key)) rows.push(expectParity(key, v.name, await p, await suite.fx.f32(key)));
          }
          if (name === 'click_frame') expect(suite.fx.has(`${name}.memory_encoder.fuser`)).toBe(true);
          for (const t of [pix, logits, score, mask, out.features, feats]) t.release();
        }
      });
    }
  });

  it('the encoder applies the sigmoid itself unless told to skip it', async () => {
    const { main: gpu } = await testGpus();
    await withMemoryEncoder(gpu, 'f32', async (enc) => {
      const pix = gpu.upload(rand(256 * 8 * 8, 1), [1, 256, 8, 8]);
      const logits = gpu.upload(rand(128 * 128, 2, -8, 8), [1, 1, 128, 128]);
      const own = enc.forward(pix, logits);
      const prob = maskForMemory(gpu, logits, { binarize: false, scale: 1, bias: 0 });
      const given = enc.forward(pix, prob, { skipMaskSigmoid: true });
      expect(Array.from(await gpu.read(own.features))).toEqual(Array.from(await gpu.read(given.features)));
      for (const t of [pix, logits, own.features, prob, given.features]) t.release();
    });
  });

  it('checks shapes and dtypes at entry, naming the module and tensor', async () => {
    const { main: gpu } = await testGpus();
    await withMemoryEncoder(gpu, 'f32', async (enc) => {
      const pix = gpu.empty([1, 256, 16, 16]);
      expect(() => enc.forward(pix, gpu.empty([1, 1, 255, 256]))).toThrow(/memory_encoder: masks .* must be \[B, 1, 256, 256\]/);
      expect(() => enc.forward(gpu.empty([1, 128, 16, 16]), gpu.empty([1, 1, 256, 256]))).toThrow(/memory_encoder: pixFeat/);
      expect(() => enc.forward(pix, gpu.empty([1, 1, 256, 256], 'f16'))).toThrow(ShapeError);
    });
  });
});

describe('memory preparation and storage (SAM2Base._encode_new_memory, the video predictor)', () => {
  it('every variant: binarized masks are exactly ±10, zero logits included; sigmoid masks scaled', async () => {
    for (const v of await variants()) {
      const x = new Float32Array([-3, -1e-3, 0, 1e-3, 2, 70, -70, -0]);
      const t = v.gpu.upload(x, [1, 1, 2, 4], v.dtype);
      const bin = await v.gpu.read(maskForMemory(v.gpu, t, { binarize: true, scale: 20, bias: -10 }));
      expect(Array.from(bin), v.name).toEqual([-10, -10, -10, 10, 10, 10, -10, -10]);
      const sig = await v.gpu.read(maskForMemory(v.gpu, t, { binarize: false, scale: 20, bias: -10 }));
      const ref = Array.from(x, (a) => 20 / (1 + Math.exp(-a)) - 10);
      const tol = v.name === 'f32' ? 1e-5 : 2e-2;
      sig.forEach((s, i) => expect(Math.abs(s - ref[i]), `${v.name} ${x[i]}`).toBeLessThan(tol));
      t.release();
    }
  });

  it('no_obj_embed_spatial is added where the object score is not positive, exactly nothing elsewhere', async () => {
    const { main: gpu } = await testGpus();
    const B = 3;
    const C = 4;
    const feats = rand(B * C * 2 * 2, 5);
    const emb = new Float32Array([0.5, -1, 2, 0.25]);
    const f = gpu.upload(feats, [B, C, 2, 2]);
    const s = gpu.upload(new Float32Array([1.5, 0, -2]), [B, 1]);
    const e = gpu.upload(emb, [1, C]);
    const y = await gpu.read(addNoObjectEmbedding(gpu, f, s, e));
    const absent = [0, 1, 1];
    for (let i = 0; i < y.length; i++) {
      const b = Math.floor(i / (C * 4));
      const c = Math.floor(i / 4) % C;
      expect(y[i]).toBe(Math.fround(feats[i] + absent[b] * emb[c]));
    }
  });

  it('the memory bank stores bf16 token-major, rounded to nearest even like torch.bfloat16', async () => {
    const { main: gpu } = await testGpus();
    const [B, C, h, w] = [2, 64, 4, 8];
    const x = rand(B * C * h * w, 9, -50, 50);
    // Ties: 1 + 2^-8 rounds down to 1, 1 + 3·2^-8 rounds up to 1 + 2^-6.
    x[0] = 1 + 2 ** -8;
    x[1] = 1 + 3 * 2 ** -8;
    const t = gpu.upload(x, [B, C, h, w]);
    const bank = toMemoryBank(gpu, t);
    expect(bank.dtype).toBe('bf16');
    expect(bank.shape).toEqual([B, h * w, C]);
    expect(bank.byteLength).toBe(t.byteLength / 2);
    const got = await gpu.read(bank);
    // flatten(2).permute(0, 2, 1) of the rounded values.
    for (let b = 0; b < B; b++)
      for (let c = 0; c < C; c++)
        for (let i = 0; i < h * w; i++) {
          expect(got[(b * h * w + i) * C + c]).toBe(bf16BitsToF32(f32ToBf16Bits(x[(b * C + c) * h * w + i])));
        }
    expect(got[0]).toBe(1);
    expect(got[C]).toBe(1 + 2 ** -6);
    t.release();
    bank.release();
  });

  it('the token-major position encoding is the NCHW one transposed', async () => {
    const { main: gpu } = await testGpus();
    await withMemoryEncoder(gpu, 'f32', async (enc) => {
      const chw = await gpu.read(enc.positionEncoding(16, 16));
      const tok = await gpu.read(enc.positionTokens(16, 16));
      expect(enc.positionTokens(16, 16).shape).toEqual([1, 256, 64]);
      for (let c = 0; c < 64; c++) for (let i = 0; i < 256; i++) expect(tok[i * 64 + c]).toBe(chw[c * 256 + i]);
    });
  });
});
