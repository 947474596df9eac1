/**
 * The image encoder (Hiera trunk + FPN neck + conv_s0 / conv_s1) against the official forward_image
 * (test/fixtures/tiny256/image_encoder.safetensors: sam2.1_hiera_t at image size 256, synthetic weights,
 * bedroom frame 0 through the official loader), every stage the fixture holds, in every numeric variant; the
 * block structure of all 8 configs against the official modules (data/hiera_blocks.json); buffers returned to
 * the pool; typed shape errors.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { cast } from '../../src/kernels/layout.js';
import { configName, parseConfigName, sam2Config } from '../../src/checkpoint/config.js';
import { hieraBlocks } from '../../src/model/hiera.js';
import { ImageEncoder } from '../../src/model/image_encoder.js';
import { preprocessVideoFrame } from '../../src/model/preprocess.js';
import { ShapeError } from '../../src/runtime/errors.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { fixtureFrames, TINY256 } from '../fixtures/reader.js';
import { permuteRef } from '../../src/kernels/layout.ref.js';
import { CONFIG, paritySuite, PARTS, syntheticModel } from './modules.js';
import { expectParity } from './parity.js';

const S = 256;
const cfg = sam2Config('tiny', '2.1', { imageSize: S });

/** The encoder's tensors only: the trunk, the neck and the decoder's two high-res projections. */
const ENCODER = PARTS.imageEncoder();

/** [B, H, W, C] → [B, C, H, W] on the host. */
const toNchw = (a: Float32Array, shape: readonly number[]): Float32Array => permuteRef(a, shape, [0, 3, 1, 2]);

const suite = paritySuite(`${TINY256}/image_encoder.safetensors`, `image encoder parity (${CONFIG} @ ${S})`);
const { rows, timings } = suite;
let frames: Uint8Array;

beforeAll(async () => {
  frames = await fixtureFrames();
});

/**
 * The official Hiera trunk of every config, block by block (test/model/data/hiera_blocks.json: read from the
 * instantiated sam2 modules by tools/reference/regenerate.sh --only hiera).
 */
const officialHiera = JSON.parse(readFileSync(new URL('./data/hiera_blocks.json', import.meta.url), 'utf8')) as {
  configs: Record<
    string,
    {
      stage_ends: number[];
      q_pool_blocks: number[];
      channel_list: number[];
      neck_backbone_channel_list: number[];
      blocks: Array<{ dim: number; dim_out: number; heads: number; q_stride: number[] | null; q_pool: boolean; window_size: number; global: boolean }>;
    }
  >;
};

describe('Hiera block structure', () => {
  it('covers the 8 official configs', () => {
    expect(Object.keys(officialHiera.configs).sort()).toEqual(
      (['2.1', '2.0'] as const).flatMap((v) => (['tiny', 'small', 'base_plus', 'large'] as const).map((s) => configName(s, v))).sort(),
    );
  });
  for (const [name, o] of Object.entries(officialHiera.configs)) {
    it(name, () => {
      const { size, version } = parseConfigName(name);
      const c = sam2Config(size, version);
      const { blocks, stageEnds } = hieraBlocks(c.hiera);
      expect(stageEnds).toEqual(o.stage_ends);
      expect(blocks.map((b, i) => (b.qPool ? i : -1)).filter((i) => i >= 0)).toEqual(o.q_pool_blocks);
      expect(blocks.length).toBe(o.blocks.length);
      for (const [i, b] of o.blocks.entries()) {
        const got = blocks[i];
        const want = { dim: b.dim, dimOut: b.dim_out, heads: b.heads, windowSize: b.window_size, qPool: b.q_pool };
        expect(got, `${name} block ${i}`).toEqual(want);
        // the official block pools with q_stride (2, 2) exactly where it pools; global blocks have window 0
        expect(b.q_pool ? b.q_stride : null, `${name} block ${i} q_stride`).toEqual(b.q_pool ? c.hiera.qStride : null);
        expect(b.global, `${name} block ${i} global`).toBe(b.window_size === 0);
      }
      expect(stageEnds.map((e) => blocks[e].dimOut).reverse()).toEqual(o.channel_list);
      expect(c.neck.backboneChannelList).toEqual(o.neck_backbone_channel_list);
    });
  }
});

describe(`image encoder (${CONFIG} @ ${S}) against the official forward_image`, () => {
  const variantNames = ['f32', 'f16', 'f16packed'] as const;
  for (const name of variantNames) {
    it(`every stage (${name})`, async ({ skip }) => {
      const v = suite.vs.find((x) => x.name === name);
      if (!v) return skip('the adapter lacks shader-f16');
      const gpu = v.gpu;
      const dtype = v.dtype as 'f32' | 'f16';
      let t0 = performance.now();
      const weights = await syntheticModel(gpu, ENCODER, dtype);
      const enc = ImageEncoder.create({ gpu, weights }, cfg);
      try {
        enc.prepare();
        enc.neck.positionEncoding(S / 32, S / 32);
        // The preprocessing kernel keeps its resampling tables per device: create them before counting.
        preprocessVideoFrame(gpu, new Uint8Array(S * S * 3), S, S, S).release();
        await gpu.sync();
        const tLoad = performance.now() - t0;
        const base = gpu.pool.getStats().inUse;

        // f32 runs the frame-bytes path: frame 0 of fixtureFrames() is the official loader's PIL resize of frame 0, so the
        // video preprocessing (256 → 256, the identity, then the normalization) must give the official input
        // bit for bit. The f16 variants take the official input tensor.
        const kept = new Map<string, Tensor>();
        const tap = (n: string, t: Tensor) => kept.set(n, cast(gpu, t, dtype));
        t0 = performance.now();
        gpu.pool.resetPeak();
        let input: Tensor | null = null;
        let f;
        if (name === 'f32') {
          f = enc.encodeRGB(frames.subarray(0, S * S * 3), S, S, { tap });
        } else {
          input = gpu.upload(await suite.fx.f32('image_encoder.input'), [1, 3, S, S], dtype, 'input');
          f = enc.encode(input, { tap });
        }
        await gpu.sync();
        timings.push(
          `${name}: weights + prepare ${tLoad.toFixed(0)} ms, first encode (pipelines compiled, with taps) ${(performance.now() - t0).toFixed(0)} ms, ` +
            `peak live ${((gpu.pool.getStats().peakInUse - base) / 2 ** 20).toFixed(1)} MiB (taps included)`,
        );

        const check = async (label: string, got: Float32Array, ref: string) => {
          rows.push(expectParity(label, name, got, await suite.fx.f32(ref)));
        };
        await check('trunk.pos_embed.resized', await gpu.read(enc.trunk.posEmbed()), 'image_encoder.trunk.pos_embed.resized');
        await check('trunk.patch_embed', await gpu.read(kept.get('image_encoder.trunk.patch_embed')!), 'image_encoder.trunk.patch_embed');
        for (let i = 0; i < enc.trunk.blocks.length; i++) {
          const n = `image_encoder.trunk.blocks.${i}`;
          await check(`trunk.blocks.${i}`, await gpu.read(kept.get(n)!), n);
        }
        for (let k = 0; k < enc.neck.levels; k++) {
          const n = `image_encoder.neck.out.${k}`;
          const t = kept.get(n)!;
          expect(t.shape).toEqual([1, S / (4 << k), S / (4 << k), 256]);
          if (suite.fx.has(n)) await check(`neck.out.${k}`, toNchw(await gpu.read(t), t.shape), n);
        }
        await check('neck.pos.2 (visionPosEnc)', await gpu.read(f.visionPosEnc), 'image_encoder.neck.pos.2');
        await check('neck.pos.3', await gpu.read(enc.neck.positionEncoding(S / 32, S / 32)), 'image_encoder.neck.pos.3');
        input?.release();
        await check('conv_s0 (highRes[0])', await gpu.read(f.highRes[0]), 'sam_mask_decoder.conv_s0');
        await check('conv_s1 (highRes[1])', await gpu.read(f.highRes[1]), 'sam_mask_decoder.conv_s1');
        await check('visionFeatures', await gpu.read(f.visionFeatures), 'image_encoder.neck.out.2');
        // Token-major forms: the transposes of the NCHW ones.
        const h = S / 16;
        expect(f.visionTokens.shape).toEqual([1, h * h, 256]);
        expect(f.visionPosTokens.shape).toEqual([1, h * h, 256]);
        expect(toNchw(await gpu.read(f.visionTokens), [1, h, h, 256])).toEqual(await gpu.read(f.visionFeatures));
        expect(toNchw(await gpu.read(f.visionPosTokens), [1, h, h, 256])).toEqual(await gpu.read(f.visionPosEnc));
        expect(f.highRes[0].shape).toEqual([1, 32, S / 4, S / 4]);
        expect(f.highRes[1].shape).toEqual([1, 64, S / 8, S / 8]);
        expect(f.backboneFpn.map((t) => t.shape)).toEqual([f.highRes[0].shape, f.highRes[1].shape, f.visionFeatures.shape]);
        expect(f.featSizes).toEqual([
          [S / 4, S / 4],
          [S / 8, S / 8],
          [S / 16, S / 16],
        ]);

        // Everything but the encoder's cached constants goes back to the pool.
        for (const t of kept.values()) t.release();
        f.release();
        expect(gpu.pool.getStats().inUse).toBe(base);
      } finally {
        enc.release();
        weights.release();
      }
    });
  }

  it('split into window bands and token runs (a 512 KiB tensor limit): the same stages (f32)', async () => {
    // Stage 1 runs its windows in 8 bands of one window row, stage 3 in a band of 14 rows and a padded one
    // of 2; the MLPs run over 336 / 80 tokens at a time.
    const gpu = suite.vs.find((x) => x.name === 'f32')!.gpu;
    const weights = await syntheticModel(gpu, ENCODER, 'f32');
    const enc = ImageEncoder.create({ gpu, weights }, cfg, { maxTensorBytes: 512 * 1024 });
    try {
      const input = gpu.upload(await suite.fx.f32('image_encoder.input'), [1, 3, S, S], 'f32', 'input');
      const kept = new Map<string, Tensor>();
      const t0 = performance.now();
      gpu.pool.resetPeak();
      const before = gpu.pool.getStats().inUse;
      const f = enc.encode(input, { tap: (n, t) => n.includes('blocks') && kept.set(n, cast(gpu, t, 'f32')) });
      await gpu.sync();
      timings.push(`f32 split (512 KiB): encode ${(performance.now() - t0).toFixed(0)} ms, peak live ${((gpu.pool.getStats().peakInUse - before) / 2 ** 20).toFixed(1)} MiB`);
      for (const [n, t] of kept) rows.push(expectParity(`${n.replace('image_encoder.', '')} (split)`, 'f32', await gpu.read(t), await suite.fx.f32(n)));
      rows.push(expectParity('conv_s0 (split)', 'f32', await gpu.read(f.highRes[0]), await suite.fx.f32('sam_mask_decoder.conv_s0')));
      rows.push(expectParity('visionFeatures (split)', 'f32', await gpu.read(f.visionFeatures), await suite.fx.f32('image_encoder.neck.out.2')));
      for (const t of kept.values()) t.release();
      f.release();
      input.release();
    } finally {
      enc.release();
      weights.release();
    }
  });

  it('rejects wrong inputs with ShapeError naming the module', async () => {
    const v = suite.vs.find((x) => x.name === 'f32')!;
    const gpu = v.gpu;
    const weights = await syntheticModel(gpu, ENCODER, 'f32');
    const enc = ImageEncoder.create({ gpu, weights }, cfg);
    const wrongSize = gpu.empty([1, 3, S / 2, S / 2], 'f32');
    const wrongDtype = gpu.empty([1, 3, S, S], 'f16');
    const wrongChannels = gpu.empty([1, 4, S, S], 'f32');
    try {
      expect(() => enc.encode(wrongSize)).toThrow(ShapeError);
      expect(() => enc.encode(wrongSize)).toThrow(/image encoder: image/);
      expect(() => enc.encode(wrongDtype)).toThrow(/must be f32/);
      expect(() => enc.encode(wrongChannels)).toThrow(ShapeError);
      expect(() => enc.encodeRGB(new Uint8Array(10), S, S)).toThrow(/preprocessVideoFrame/);
      expect(() => ImageEncoder.create({ gpu, weights }, sam2Config('small', '2.1', { imageSize: S }))).toThrow(/image_encoder\.trunk\.blocks\.10\.attn\.qkv/);
    } finally {
      for (const t of [wrongSize, wrongDtype, wrongChannels]) t.release();
      enc.release();
      weights.release();
    }
  });
});
