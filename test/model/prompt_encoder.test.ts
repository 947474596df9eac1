/**
 * PromptEncoder against the official sam_prompt_encoder (test/fixtures/tiny256/prompt_encoder.safetensors:
 * sam2.1_hiera_t at image size 256, synthetic weights): the dense position encoding, sparse embeddings of
 * points (positive, negative, padding), boxes as corner points, box + point, and the dense embedding of a
 * mask prompt and of no mask; then each bad prompt kind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sam2Config } from '../../src/checkpoint/config.js';
import { getManifest, type Manifest } from '../../src/checkpoint/manifests.js';
import { PromptEncoder, PromptError } from '../../src/model/prompt_encoder.js';
import { loadWeights, type WeightStore } from '../../src/checkpoint/weights.js';
import { ShapeError } from '../../src/runtime/errors.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { syntheticWeights } from '../../src/checkpoint/synthetic.js';
import { openFixture, TINY256, type Fixture } from '../fixtures/reader.js';
import { variants, type Variant } from '../helpers.js';
import { expectParity, parityTable, type ParityResult } from './parity.js';

const CONFIG = 'sam2.1_hiera_t';
const cfg = sam2Config('tiny', '2.1', { imageSize: 256 });

/** The prompt encoder's and mask decoder's tensors of the official manifest (a partial model). */
function headsManifest(): Manifest {
  const full = getManifest(CONFIG);
  return { ...full, config: `${CONFIG} (SAM heads)`, tensors: full.tensors.filter((t) => /^sam_(prompt_encoder|mask_decoder)\./.test(t.name)) };
}

async function headWeights(gpu: Gpu, dtype: 'f32' | 'f16'): Promise<WeightStore> {
  const manifest = headsManifest();
  return loadWeights(syntheticWeights(manifest), { gpu, dtype, manifest });
}

const CASES = ['points', 'box', 'box_point', 'none', 'mask'] as const;
const rows: ParityResult[] = [];
let fx: Fixture;
let vs: Variant[];

beforeAll(async () => {
  fx = await openFixture(`${TINY256}/prompt_encoder.safetensors`);
  vs = await variants();
});

afterAll(async () => {
  await fx?.close();
  if (rows.length) console.log(`prompt encoder parity (sam2.1_hiera_t @ 256)\n${parityTable(rows)}`);
});

describe('PromptEncoder (sam2.1_hiera_t @ 256) matches the official sam_prompt_encoder', () => {
  it('every variant: dense PE, sparse and dense embeddings of each case', async () => {
    for (const v of vs) {
      const weights = await headWeights(v.gpu, v.dtype as 'f32' | 'f16');
      try {
        const enc = await PromptEncoder.create({ gpu: v.gpu, weights }, cfg);
        expect(enc.imageEmbeddingSize).toEqual([16, 16]);
        expect(enc.maskInputSize).toEqual([64, 64]);
        const pe = await v.gpu.read(enc.getDensePe());
        rows.push(expectParity('get_dense_pe', v.name, pe, await fx.f32('sam_prompt_encoder.get_dense_pe')));
        // The token-major copy is the same values, transposed.
        const tok = await v.gpu.read(enc.getDensePeTokens());
        const C = 256;
        const HW = 256;
        const t2 = new Float32Array(C * HW);
        for (let p = 0; p < HW; p++) for (let c = 0; c < C; c++) t2[c * HW + p] = tok[p * C + c];
        expect(Array.from(t2)).toEqual(Array.from(pe));

        for (const name of CASES) {
          const coords = await fx.f32(`${name}.point_coords`);
          const labels = await fx.f32(`${name}.point_labels`);
          const masks = fx.has(`${name}.masks`)
            ? v.gpu.upload(await fx.f32(`${name}.masks`), fx.info(`${name}.masks`).shape, v.dtype, 'masks')
            : null;
          const { sparse, dense } = enc.forward({ points: { coords, labels }, masks });
          masks?.release();
          expect(sparse.shape).toEqual(fx.info(`${name}.sparse_embeddings`).shape);
          rows.push(expectParity(`${name}.sparse_embeddings`, v.name, await v.gpu.read(sparse), await fx.f32(`${name}.sparse_embeddings`)));
          expect(dense.shape).toEqual([1, 256, 16, 16]);
          if (fx.has(`${name}.dense_embeddings`)) {
            rows.push(expectParity(`${name}.dense_embeddings`, v.name, await v.gpu.read(dense), await fx.f32(`${name}.dense_embeddings`)));
          }
          sparse.release();
          dense.release();
        }
      } finally {
        weights.release();
      }
    }
  });

  it('boxes given as boxes embed like corner points with labels 2 / 3, without a padding point', async () => {
    const v = vs[0];
    const weights = await headWeights(v.gpu, 'f32');
    try {
      const enc = await PromptEncoder.create({ gpu: v.gpu, weights }, cfg);
      const corners = await fx.f32('box.point_coords'); // [1, 2, 2]
      const point = (await fx.f32('box_point.point_coords')).subarray(4, 6);
      const ref = await fx.f32('box_point.sparse_embeddings'); // box corners, the point, the padding point
      // points then boxes: [point, corner0, corner1] (no padding when boxes are given)
      const { sparse, dense } = enc.forward({ points: { coords: point, labels: [1] }, boxes: corners });
      const got = await v.gpu.read(sparse);
      expect(sparse.shape).toEqual([1, 3, 256]);
      expectParity('point row', 'f32', got.subarray(0, 256), ref.subarray(512, 768));
      expectParity('box rows', 'f32', got.subarray(256), ref.subarray(0, 512));
      sparse.release();
      dense.release();
      // A batch of two prompts keeps each prompt's rows together.
      const two = enc.forward({
        points: { coords: [...point, ...point], labels: [1, 1], batch: 2 },
        boxes: [...corners, ...corners],
      });
      expect(two.sparse.shape).toEqual([2, 3, 256]);
      expect(two.dense.shape).toEqual([2, 256, 16, 16]);
      const g2 = await v.gpu.read(two.sparse);
      expect(Array.from(g2.subarray(768))).toEqual(Array.from(got));
      two.sparse.release();
      two.dense.release();
    } finally {
      weights.release();
    }
  });

  it('bad prompts are clear errors', async () => {
    const v = vs[0];
    const weights = await headWeights(v.gpu, 'f32');
    try {
      const enc = await PromptEncoder.create({ gpu: v.gpu, weights }, cfg);
      expect(() => enc.forward({ points: { coords: [1, 2], labels: [4] } })).toThrow(PromptError);
      expect(() => enc.forward({ points: { coords: [1, 2], labels: [-2] } })).toThrow(/label -2/);
      expect(() => enc.forward({ points: { coords: [1, 2, 3], labels: [1] } })).toThrow(PromptError);
      expect(() => enc.forward({ points: { coords: [NaN, 2], labels: [1] } })).toThrow(/non-finite/);
      expect(() => enc.forward({ boxes: [1, 2, 3] })).toThrow(PromptError);
      expect(() => enc.forward({ points: { coords: [1, 2, 3, 4], labels: [1, 1], batch: 2 }, boxes: [0, 0, 5, 5] })).toThrow(/batch/);
      const wrong = v.gpu.upload(new Float32Array(32 * 32), [1, 1, 32, 32], 'f32');
      expect(() => enc.forward({ masks: wrong })).toThrow(ShapeError);
      wrong.release();
    } finally {
      weights.release();
    }
  });
});
