/**
 * Objects tracked together in one batch per frame give what tracking them one by one (the official loop)
 * gives: three objects, one of them prompted later (so their memories differ in length and they form two
 * batches on some frames), a box and points, tracked forward over a few frames.
 */
import { describe, expect, it } from 'vitest';
import { framesFromMemory } from '../../src/io/frames.js';
import { SAM2VideoPredictor, type FrameResult } from '../../src/model/video_predictor.js';
import { testGpus } from '../helpers.js';

const W = 96;
const H = 64;
const N = 5;

function frames() {
  return Array.from({ length: N }, (_, f) => {
    const rgb = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const i = (y * W + x) * 3;
        const inside = Math.hypot(x - 30 - 3 * f, y - 30) < 14;
        rgb[i] = inside ? 220 : (x * 5 + f * 17) & 255;
        rgb[i + 1] = inside ? 40 : (y * 7) & 255;
        rgb[i + 2] = (x * y + f) & 255;
      }
    }
    return { width: W, height: H, rgb };
  });
}

/** Tracks the scene; `batches` receives the batch size of every memory-attention call. */
async function run(batchObjects: boolean, batches: number[]): Promise<FrameResult[]> {
  const { main } = await testGpus();
  const predictor = await SAM2VideoPredictor.load({ model: 'tiny', imageSize: 128, gpu: main, batchObjects, weights: 'synthetic' });
  const attention = predictor.model.memoryAttention;
  const forward = attention.forward.bind(attention);
  attention.forward = (curr, ...rest) => {
    batches.push(curr.shape[0]);
    return forward(curr, ...rest);
  };
  const state = await predictor.initState(framesFromMemory(frames()), { returnLogits: true });
  try {
    await predictor.addNewPointsOrBox(state, { frameIdx: 0, objId: 1, points: [[30, 30]], labels: [1] });
    await predictor.addNewPointsOrBox(state, { frameIdx: 0, objId: 2, box: [50, 10, 90, 50] });
    await predictor.addNewPointsOrBox(state, { frameIdx: 2, objId: 3, points: [[70, 40], [20, 10]], labels: [1, 0] });
    const out: FrameResult[] = [];
    for await (const r of predictor.propagateInVideo(state)) out.push(r);
    return out;
  } finally {
    predictor.closeState(state);
    predictor.dispose();
  }
}

describe('objects batched per frame', () => {
  it('give the results of one-by-one tracking', async () => {
    const oneBatches: number[] = [];
    const batchedBatches: number[] = [];
    const one = await run(false, oneBatches);
    const batched = await run(true, batchedBatches);
    // One by one never batches; batched tracking puts objects together (and makes fewer calls).
    expect(Math.max(...oneBatches)).toBe(1);
    expect(Math.max(...batchedBatches)).toBeGreaterThan(1);
    expect(batchedBatches.reduce((a, b) => a + b, 0)).toBe(oneBatches.length);
    expect(batched.map((r) => r.frameIdx)).toEqual(one.map((r) => r.frameIdx));
    let maxDiff = 0;
    let maxRef = 0;
    for (const [i, r] of batched.entries()) {
      expect(r.objIds).toEqual([1, 2, 3]);
      for (let k = 0; k < 3; k++) {
        const a = r.logits![k];
        const b = one[i].logits![k];
        for (let j = 0; j < a.length; j++) {
          maxDiff = Math.max(maxDiff, Math.abs(a[j] - b[j]));
          maxRef = Math.max(maxRef, Math.abs(b[j]));
        }
        expect(r.objectScores[k]).toBe(one[i].objectScores[k]);
      }
    }
    console.log(`batched vs one by one: ${batched.length} frames × 3 objects, max |Δ logits| ${maxDiff} (max |logit| ${maxRef})`);
    expect(maxRef).toBeGreaterThan(0);
    expect(maxDiff).toBe(0);
  });
});
