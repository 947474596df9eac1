/**
 * ImagePredictor against the official SAM2ImagePredictor (test/model/data/image_predictor_truck256.safetensors,
 * made by tools/reference/image_predictor_reference.py: sam2.1_hiera_t at image size 256, synthetic weights,
 * samples/images/truck.jpg, the prompts of the official notebook):
 * - from the reference's cached features, every variant: one point (multimask), positive + negative points,
 *   box, box + point, mask input, a batch of 4 boxes, one point single-mask: IoU predictions and low-res
 *   logits (parity), binary masks at 1800 × 1200 (IoU);
 * - end to end on the reference's transformed input (image encoder included), and from the JPEG's pixels;
 * - each bad input kind.
 */
import { readFileSync } from 'node:fs';
import jpeg from 'jpeg-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sam2Config } from '../../src/checkpoint/config.js';
import { ImagePredictor, PromptError, type PredictOptions, type PredictResult } from '../../src/model/image_predictor.js';
import { getManifest, type Manifest } from '../../src/checkpoint/manifests.js';
import { loadWeights, type WeightStore } from '../../src/checkpoint/weights.js';
import { Sam2Error, ShapeError } from '../../src/runtime/errors.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { syntheticWeights } from '../../src/checkpoint/synthetic.js';
import { openFixture, type Fixture } from '../fixtures/reader.js';
import { maskIou, type Variant, variants } from '../helpers.js';
import { expectParity, parity, parityTable, type ParityResult } from './parity.js';
import { preprocessImage } from '../../src/model/preprocess.js';

const CONFIG = 'sam2.1_hiera_t';
const cfg = sam2Config('tiny', '2.1', { imageSize: 256 });
// Written by tools/reference/regenerate.sh --only image_predictor (tools/reference/image_predictor_reference.py).
const DATA = 'test/model/data/image_predictor_truck256.safetensors';
const TRUCK = 'samples/images/truck.jpg';

function manifest(heads: boolean): Manifest {
  const full = getManifest(CONFIG);
  if (!heads) return full;
  return { ...full, config: `${CONFIG} (SAM heads)`, tensors: full.tensors.filter((t) => /^sam_(prompt_encoder|mask_decoder)\./.test(t.name)) };
}

async function weightsFor(gpu: Gpu, dtype: 'f32' | 'f16', heads: boolean): Promise<WeightStore> {
  const m = manifest(heads);
  return loadWeights(syntheticWeights(m), { gpu, dtype, manifest: m });
}

/** The official predict() calls of the reference, by case (mask_input is filled in from the reference). */
const POINT: [number, number] = [500, 375];
const BOX: [number, number, number, number] = [425, 600, 700, 875];
const CASES: Record<string, PredictOptions> = {
  point: { pointCoords: [POINT], pointLabels: [1], multimaskOutput: true },
  points_pos_neg: { pointCoords: [POINT, [1125, 625]], pointLabels: [1, 0], multimaskOutput: false },
  box: { box: BOX, multimaskOutput: false },
  box_point: { pointCoords: [[575, 750]], pointLabels: [0], box: BOX, multimaskOutput: false },
  mask_input: { pointCoords: [POINT, [1125, 625]], pointLabels: [1, 1], multimaskOutput: false },
  boxes: {
    box: [
      [75, 275, 1725, 850],
      [425, 600, 700, 875],
      [1375, 550, 1650, 800],
      [1240, 675, 1400, 750],
    ],
    multimaskOutput: false,
  },
  point_single: { pointCoords: [POINT], pointLabels: [1], multimaskOutput: false },
};

const rows: ParityResult[] = [];
const notes: string[] = [];
let fx: Fixture;
let vs: Variant[];
let origHW: [number, number];

beforeAll(async () => {
  fx = await openFixture(DATA);
  vs = await variants();
  origHW = fx.meta.orig_hw as [number, number];
});

afterAll(async () => {
  await fx?.close();
  if (rows.length) console.log(`image predictor parity (sam2.1_hiera_t @ 256, truck.jpg)\n${parityTable(rows)}`);
  if (notes.length) console.log(notes.join('\n'));
});

async function optionsFor(name: string): Promise<PredictOptions> {
  const o = { ...CASES[name] };
  if (name === 'mask_input') {
    const low = await fx.f32('point.low_res_masks'); // [3, 64, 64]
    const iou = await fx.f32('point.iou_predictions');
    const best = iou.indexOf(Math.max(...iou));
    o.maskInput = { data: low.slice(best * 4096, (best + 1) * 4096), shape: [1, 64, 64] };
  }
  return o;
}

interface Stability {
  score: number;
  area_i: number;
  area_u: number;
}

/**
 * Compares one predict() result with the reference case; returns the masks' IoUs.
 *
 * Single-mask outputs go through the dynamic fallback, a threshold on a ratio of pixel counts (area of
 * logits > 0.05 over area > -0.05, both at 4h × 4w). On a small mask one pixel moves that ratio by 1 / area,
 * so f16 logits may take the other branch where the reference was within two pixels of the threshold. Such
 * a prompt (its IoU prediction then belongs to another mask token) must be within two pixels in the
 * reference's own counts; it is reported and left out of the comparison. f32 takes every branch as the
 * reference does.
 */
async function check(v: Variant, tag: string, name: string, r: PredictResult): Promise<number[]> {
  expect(r.iouPredictions.shape).toEqual(fx.info(`${name}.iou_predictions`).shape);
  expect(r.lowResMasks.shape).toEqual(fx.info(`${name}.low_res_masks`).shape);
  const refIou = await fx.f32(`${name}.iou_predictions`);
  const refLow = await fx.f32(`${name}.low_res_masks`);
  const stab = (fx.meta.cases as Record<string, { stability?: Stability[] }>)[name].stability;
  const prompts = stab ? stab.length : 1;
  const keep = new Set(Array.from({ length: prompts }, (_, b) => b));
  if (stab && v.name !== 'f32') {
    for (let b = 0; b < prompts; b++) {
      if (Math.abs(r.iouPredictions.data[b] - refIou[b]) <= 0.01) continue;
      const s = stab[b];
      const margin = Math.abs(s.area_i / s.area_u - 0.98);
      expect(margin, `${tag}${name} prompt ${b} took the other branch of the fallback (${v.name})`).toBeLessThanOrEqual(2 / s.area_u);
      notes.push(
        `${v.name.padEnd(9)} ${tag}${name}: prompt ${b} took the other fallback branch; the reference's stability ` +
          `${s.area_i}/${s.area_u} = ${s.score.toFixed(4)} is ${(margin * s.area_u).toFixed(2)} pixel(s) from 0.98 (left out)`,
      );
      keep.delete(b);
    }
  }
  const pick = (a: ArrayLike<number>, per: number) => {
    const out: number[] = [];
    for (const b of keep) for (let i = b * per; i < (b + 1) * per; i++) out.push(a[i]);
    return out;
  };
  const perIou = refIou.length / prompts;
  const perLow = refLow.length / prompts;
  rows.push(expectParity(`${tag}${name}.iou_predictions`, v.name, pick(r.iouPredictions.data, perIou), pick(refIou, perIou)));
  rows.push(expectParity(`${tag}${name}.low_res_masks`, v.name, pick(r.lowResMasks.data, perLow), pick(refLow, perLow)));
  const ious: number[] = [];
  if (fx.has(`${name}.masks.bits`)) {
    const ref = await fx.mask(`${name}.masks.bits`);
    const per = origHW[0] * origHW[1];
    const n = ref.data.length / per;
    const perPrompt = r.masks.data.length / prompts / per;
    for (let k = 0; k < n; k++) {
      if (!keep.has(Math.floor(k / perPrompt))) continue;
      const iou = maskIou(r.masks.data.subarray(k * per, (k + 1) * per), ref.data.subarray(k * per, (k + 1) * per));
      ious.push(iou);
      expect(iou, `${tag}${name} mask ${k} IoU (${v.name})`).toBeGreaterThanOrEqual(v.name === 'f32' ? 0.999 : 0.99);
    }
    notes.push(`${v.name.padEnd(9)} ${tag}${name}: mask IoU ${ious.map((x) => x.toFixed(5)).join(', ')}`);
  }
  return ious;
}

async function upload(v: Variant, name: string): Promise<Tensor> {
  return v.gpu.upload(await fx.f32(name), fx.info(name).shape, v.dtype, name);
}

describe('ImagePredictor (sam2.1_hiera_t @ 256, truck.jpg) matches the official SAM2ImagePredictor', () => {
  it('from the cached features, every variant and case', async () => {
    for (const v of vs) {
      const weights = await weightsFor(v.gpu, v.dtype as 'f32' | 'f16', true);
      const feats = [await upload(v, 'image_embed'), await upload(v, 'high_res_feats.0'), await upload(v, 'high_res_feats.1')];
      try {
        const p = await ImagePredictor.create({ gpu: v.gpu, weights, config: cfg });
        p.setImageFeatures({ imageEmbed: feats[0], highResFeats: [feats[1], feats[2]] }, origHW);
        expect(p.origSize).toEqual(origHW);
        for (const name of Object.keys(CASES)) {
          const t0 = performance.now();
          const r = await p.predict(await optionsFor(name));
          if (name === 'point' || name === 'boxes') notes.push(`${v.name.padEnd(9)} predict ${name}: ${(performance.now() - t0).toFixed(0)} ms (incl. upsampling to ${origHW[1]}×${origHW[0]} and readback)`);
          expect(r.masks.shape).toEqual(name === 'boxes' ? [4, 1, ...origHW] : [name === 'point' ? 3 : 1, ...origHW]);
          expect(r.masks.data).toBeInstanceOf(Uint8Array);
          await check(v, '', name, r);
        }
        // The embedding the predictor exposes is the one it was given.
        const e = await v.gpu.read(p.getImageEmbedding());
        expect(Array.from(e)).toEqual(Array.from(await v.gpu.read(feats[0])));
        // returnLogits gives the upsampled logits, whose sign is the mask.
        const lg = await p.predict({ ...CASES.box, returnLogits: true });
        const bits = (await p.predict(CASES.box)).masks.data;
        expect(lg.masks.data).toBeInstanceOf(Float32Array);
        expect(Array.from(lg.masks.data, (x) => (x > 0 ? 1 : 0))).toEqual(Array.from(bits));
        p.release();
      } finally {
        for (const t of feats) t.release();
        weights.release();
      }
    }
  });

  for (const variant of ['f32', 'f16', 'f16packed']) {
    it(`end to end (${variant}): the reference transform output through the image encoder${variant === 'f32' ? '; then the JPEG' : ''}`, async ({ skip }) => {
      skip(!vs.some((x) => x.name === variant), 'the adapter lacks shader-f16');
      for (const v of vs.filter((x) => x.name === variant)) {
        const weights = await weightsFor(v.gpu, v.dtype as 'f32' | 'f16', false);
        const input = await upload(v, 'input');
        try {
          const p = await ImagePredictor.create({ gpu: v.gpu, weights, config: cfg });
          let t0 = performance.now();
          p.setTransformedImage(input, origHW);
          // predict() straight after setImage (the encoder's work still queued), then the embedding.
          const first = await p.predict(await optionsFor('point'));
          notes.push(`${v.name.padEnd(9)} setImage + predict (encoder, first call incl. pipeline creation): ${(performance.now() - t0).toFixed(0)} ms`);
          await check(v, 'e2e ', 'point', first);
          const embed = await v.gpu.read(p.getImageEmbedding());
          rows.push(expectParity('e2e image_embed', v.name, embed, await fx.f32('image_embed')));
          for (const name of ['box', 'boxes']) await check(v, 'e2e ', name, await p.predict(await optionsFor(name)));

          if (v.name === 'f32') {
            // From the JPEG's pixels. jpeg-js and Pillow (libjpeg-turbo) decode truck.jpg differently (60% of the
            // values differ, mostly by 1, up to 26 at chroma edges), so this input is not the reference's: the
            // parity bounds above hold for the model on the reference input, while here the transform is checked
            // on the reference's own pixels (next test) and the decoder's difference is measured and bounded.
            const img = jpeg.decode(readFileSync(TRUCK), { useTArray: true, formatAsRGBA: false });
            expect([img.height, img.width]).toEqual(origHW);
            t0 = performance.now();
            await p.setImage({ data: img.data, width: img.width, height: img.height, channels: 3 });
            const embedJpeg = await v.gpu.read(p.getImageEmbedding());
            notes.push(`f32       setImage(truck.jpg pixels, warm): ${(performance.now() - t0).toFixed(0)} ms`);
            const d = parity('jpeg-js decode: image_embed', v.name, embedJpeg, await fx.f32('image_embed'));
            rows.push(d);
            expect(d.cosine).toBeGreaterThanOrEqual(0.9999);
            for (const name of ['point', 'box']) {
              const r = await p.predict(await optionsFor(name));
              const ref = await fx.mask(`${name}.masks.bits`);
              const per = origHW[0] * origHW[1];
              const ious = Array.from({ length: ref.data.length / per }, (_, k) =>
                maskIou(r.masks.data.subarray(k * per, (k + 1) * per), ref.data.subarray(k * per, (k + 1) * per)),
              );
              notes.push(`f32       jpeg-js decode ${name}: mask IoU ${ious.map((x) => x.toFixed(5)).join(', ')}`);
              for (const x of ious) expect(x).toBeGreaterThanOrEqual(0.95);
            }
          }
          p.release();
        } finally {
          input.release();
          weights.release();
        }
      }
    });
  }

  it("setImage's transform equals the official SAM2Transforms on the reference's own pixels (downscale and upscale)", async () => {
    for (const v of vs) {
      for (const crop of ['large', 'small']) {
        const info = fx.info(`transform.${crop}.pixels`); // [h, w, 3] uint8
        const px = Uint8Array.from(await fx.f32(`transform.${crop}.pixels`));
        const y = preprocessImage(v.gpu, px, info.shape[1], info.shape[0], 64, { dtype: v.dtype as 'f32' | 'f16' });
        rows.push(expectParity(`transform.${crop} (${info.shape[1]}×${info.shape[0]} → 64)`, v.name, await v.gpu.read(y), await fx.f32(`transform.${crop}.output`)));
        y.release();
      }
    }
  });

  it('bad inputs are clear errors', async () => {
    const v = vs[0];
    const weights = await weightsFor(v.gpu, 'f32', true);
    const feats = [await upload(v, 'image_embed'), await upload(v, 'high_res_feats.0'), await upload(v, 'high_res_feats.1')];
    try {
      const p = await ImagePredictor.create({ gpu: v.gpu, weights, config: cfg });
      await expect(p.predict(CASES.point)).rejects.toThrow(/setImage\(\) before/);
      await expect(p.predict(CASES.point)).rejects.toBeInstanceOf(Sam2Error);
      p.setImageFeatures({ imageEmbed: feats[0], highResFeats: [feats[1], feats[2]] }, origHW);
      const bad: Array<[PredictOptions, RegExp]> = [
        [{ pointCoords: [[1900, 10]], pointLabels: [1] }, /outside the 1800×1200 image/],
        [{ pointCoords: [[-1, 10]], pointLabels: [1] }, /outside/],
        [{ pointCoords: [[10, 10]], pointLabels: [5] }, /label 5/],
        [{ pointCoords: [[10, 10]], pointLabels: [-2] }, /label -2/],
        [{ pointCoords: [[10, 10]] }, /pointLabels must be given/],
        [{ pointCoords: [[10, 10]], pointLabels: [1, 1] }, /shape of pointCoords/],
        [{}, /no prompt/],
        [{ pointCoords: [], pointLabels: [] }, /empty/],
        [{ box: [700, 600, 425, 875] }, /x1 < x0/],
        [{ box: [425, 875, 700, 600] }, /y1 < y0/],
        [{ box: [425, 600, 700, 1300] }, /not inside/],
        [{ maskInput: { data: new Float32Array(32 * 32), shape: [1, 32, 32] } }, /maskInput must be \[1, 64, 64\]/],
        [{ pointCoords: [[[10, 10]], [[20, 20]]], pointLabels: [[1], [1]], box: [BOX, BOX, BOX] }, /same number of prompts/],
        [{ pointCoords: [[0.5, 1.5]], pointLabels: [1], normalizeCoords: false }, /unit square/],
      ];
      for (const [o, re] of bad) {
        const e = await p.predict(o).then(
          () => null,
          (x: unknown) => x,
        );
        expect(e, JSON.stringify(o)).toBeInstanceOf(PromptError);
        expect(String(e)).toMatch(re);
      }
      await expect(p.setImage({ data: new Uint8Array(10), width: 3, height: 3 })).rejects.toBeInstanceOf(ShapeError);
      expect(() => p.setImageFeatures({ imageEmbed: feats[1], highResFeats: [feats[1], feats[2]] }, origHW)).toThrow(ShapeError);
      p.resetPredictor();
      expect(p.isImageSet).toBe(false);
      await expect(p.predict(CASES.point)).rejects.toThrow(/setImage/);
    } finally {
      for (const t of feats) t.release();
      weights.release();
    }
  });
});
