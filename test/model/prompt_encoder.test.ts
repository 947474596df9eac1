/**
 * PromptEncoder against the official sam_prompt_encoder (test/fixtures/tiny256/prompt_encoder.safetensors:
 * sam2.1_hiera_t at image size 256, synthetic weights): the dense position encoding, sparse embeddings of
 * points (positive, negative, padding), boxes as corner points, box + point, and the dense embedding of a
 * mask prompt and of no mask; then each bad prompt kind.
 */
import { describe, expect, it } from 'vitest';
import { PromptEncoder, PromptError } from '../../src/model/prompt_encoder.js';
import { ShapeError } from '../../src/runtime/errors.js';
import { TINY256 } from '../fixtures/reader.js';
import { cfg, paritySuite, PARTS, withModel } from './modules.js';
import { expectParity } from './parity.js';

const HEADS = PARTS.heads();
const CASES = ['points', 'box', 'box_point', 'none', 'mask'] as const;
const suite = paritySuite(`${TINY256}/prompt_encoder.safetensors`, 'prompt encoder parity (sam2.1_hiera_t @ 256)');
const { rows } = suite;

describe('PromptEncoder (sam2.1_hiera_t @ 256) matches the official sam_prompt_encoder', () => {
  it('every variant: dense PE, sparse and dense embeddings of each case', async () => {
    for (const v of suite.vs) {
      await withModel(v.gpu, HEADS, v.dtype as 'f32' | 'f16', async (weights) => {
        const enc = await PromptEncoder.create({ gpu: v.gpu, weights }, cfg);
        expect(enc.imageEmbeddingSize).toEqual([16, 16]);
        expect(enc.maskInputSize).toEqual([64, 64]);
        const pe = await v.gpu.read(enc.getDensePe());
        rows.push(expectParity('get_dense_pe', v.name, pe, await suite.fx.f32('sam_prompt_encoder.get_dense_pe')));
        // The token-major copy is the same values, transposed.
        const tok = await v.gpu.read(enc.getDensePeTokens());
        const C = 256;
        const HW = 256;
        const t2 = new Float32Array(C * HW);
        for (let p = 0; p < HW; p++) for (let c = 0; c < C; c++) t2[c * HW + p] = tok[p * C + c];
        expect(Array.from(t2)).toEqual(Array.from(pe));

        for (const name of CASES) {
          const coords = await suite.fx.f32(`${name}.point_coords`);
          const labels = await suite.fx.f32(`${name}.point_labels`);
          const masks = suite.fx.has(`${name}.masks`)
            ? v.gpu.upload(await suite.fx.f32(`${name}.masks`), suite.fx.info(`${name}.masks`).shape, v.dtype, 'masks')
            : null;
          const { sparse, dense } = enc.forward({ points: { coords, labels }, masks });
          masks?.release();
          expect(sparse.shape).toEqual(suite.fx.info(`${name}.sparse_embeddings`).shape);
          rows.push(expectParity(`${name}.sparse_embeddings`, v.name, await v.gpu.read(sparse), await suite.fx.f32(`${name}.sparse_embeddings`)));
          expect(dense.shape).toEqual([1, 256, 16, 16]);
          if (suite.fx.has(`${name}.dense_embeddings`)) {
            rows.push(expectParity(`${name}.dense_embeddings`, v.name, await v.gpu.read(dense), await suite.fx.f32(`${name}.dense_embeddings`)));
          }
          sparse.release();
          dense.release();
        }
      });
    }
  });

  it('boxes given as boxes embed like corner points with labels 2 / 3, without a padding point', async () => {
    const v = suite.vs[0];
    await withModel(v.gpu, HEADS, 'f32', async (weights) => {
      const enc = await PromptEncoder.create({ gpu: v.gpu, weights }, cfg);
      const corners = await suite.fx.f32('box.point_coords'); // [1, 2, 2]
      const point = (await suite.fx.f32('box_point.point_coords')).subarray(4, 6);
      const ref = await suite.fx.f32('box_point.sparse_embeddings'); // box corners, the point, the padding point
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
    });
  });

  it('bad prompts are clear errors', async () => {
    const v = suite.vs[0];
    await withModel(v.gpu, HEADS, 'f32', async (weights) => {
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
    });
  });
});
