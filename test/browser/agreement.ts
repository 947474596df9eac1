/**
 * The computation whose outputs a browser page and Node must agree on (test/browser/agreement.test.ts runs it
 * in Chromium, test/browser/node_outputs.ts in Node): the video predictor, sam2.1_hiera_t at image size 256
 * on synthetic weights, in f32, on the fixture frames (fixtureFrames(): the official loader's 256 × 256 bytes):
 * one positive click on frame 0, then tracking over the first AGREEMENT_FRAMES frames — image encoder,
 * prompt encoder, mask decoder, memory encoder and memory attention. The outputs are each result's
 * video-resolution logits and object score, as f32 by name, in a fixed order.
 */
import type { FrameSource } from '../../src/io/frames.js';
import { SAM2VideoPredictor } from '../../src/model/video_predictor.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { fixtureFrames } from '../fixtures/reader.js';

export const AGREEMENT_CONFIG = 'sam2.1_hiera_t';
export const AGREEMENT_SIZE = 256;
/** Frames tracked by the video part. */
export const AGREEMENT_FRAMES = 2;
const CLICK: [number, number] = [105, 175];

/** The first `n` fixture frames (the official loader's 256 × 256 RGB bytes) as a frame source of that size. */
async function firstFrames(n: number): Promise<FrameSource> {
  const u8 = await fixtureFrames();
  const S = AGREEMENT_SIZE;
  const frameBytes = S * S * 3;
  return {
    count: n,
    width: S,
    height: S,
    description: `${n} fixture frames`,
    get: async (i) => ({ width: S, height: S, rgb: u8.subarray(i * frameBytes, (i + 1) * frameBytes) }),
    close() {},
  };
}

export async function agreementOutputs(gpu: Gpu): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  const frames = await firstFrames(AGREEMENT_FRAMES);
  const video = await SAM2VideoPredictor.load({ gpu, imageSize: AGREEMENT_SIZE, dtype: 'f32', weights: 'synthetic' });
  const state = await video.initState(frames, { returnLogits: true });
  try {
    const first = await video.addNewPointsOrBox(state, { frameIdx: 0, objId: 1, points: [CLICK], labels: [1] });
    out.set('video.prompt.frame0.logits', first.logits![0]);
    for await (const f of video.propagateInVideo(state)) {
      out.set(`video.frame${f.frameIdx}.logits`, f.logits![0]);
      out.set(`video.frame${f.frameIdx}.object_score`, Float32Array.of(f.objectScores[0]));
    }
  } finally {
    video.closeState(state);
    video.dispose();
  }
  return out;
}
