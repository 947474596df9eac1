/** The video predictor refuses bad input with a clear message that names what is wrong. */
import { describe, expect, it } from 'vitest';
import { framesFromMemory } from '../../src/io/frames.js';
import { getManifest } from '../../src/checkpoint/manifests.js';
import { SAM2VideoPredictor } from '../../src/model/video_predictor.js';
import { syntheticTensors } from '../../src/checkpoint/synthetic.js';
import { testGpus } from '../helpers.js';

const W = 48;
const H = 32;
const frames = Array.from({ length: 3 }, (_, i) => ({ width: W, height: H, rgb: new Uint8Array(W * H * 3).fill(40 * i) }));

describe('video predictor bad input', async () => {
  const { main } = await testGpus();
  const predictor = await SAM2VideoPredictor.load({ model: 'tiny', imageSize: 64, gpu: main, weights: 'synthetic' });

  it('points outside the frame, bad labels and boxes', async () => {
    const state = await predictor.initState(framesFromMemory(frames));
    await expect(predictor.addNewPointsOrBox(state, { frameIdx: 0, objId: 1, points: [[W + 5, 3]], labels: [1] })).rejects.toThrow(
      /point 0 \(53, 3\) is outside the frame \(48×32 video pixels\)/,
    );
    await expect(predictor.addNewPointsOrBox(state, { frameIdx: 0, objId: 1, points: [[3, 3]], labels: [7] })).rejects.toThrow(/label 7/);
    await expect(predictor.addNewPointsOrBox(state, { frameIdx: 0, objId: 1, box: [10, 10, 5, 20] })).rejects.toThrow(/x1 >= x0/);
    await expect(predictor.addNewPointsOrBox(state, { frameIdx: 0, objId: 1 })).rejects.toThrow(/at least one of points or box/);
    predictor.closeState(state);
  });

  it('a misspelt option key is an OptionError naming it, in every option object', async () => {
    await expect(SAM2VideoPredictor.load({ model: 'tiny', weight: 'w.safetensors' } as never)).rejects.toThrow(
      /SAM2VideoPredictor\.load: unknown option 'weight' \(did you mean 'weights'\?\)/,
    );
    await expect(SAM2VideoPredictor.load({ model: 'tiny', weights: '/nonexistent/w.safetensors', gpu: main })).rejects.toThrow(
      /file \/nonexistent\/w\.safetensors does not exist/,
    );
    await expect(predictor.initState(framesFromMemory(frames), { returnLogit: true } as never)).rejects.toThrow(/initState: unknown option 'returnLogit'/);
    const state = await predictor.initState(framesFromMemory(frames));
    await expect(predictor.addNewPointsOrBox(state, { frameIdx: 0, objId: 1, point: [[3, 3]], labels: [1] } as never)).rejects.toThrow(
      /addNewPointsOrBox: unknown option 'point' \(did you mean 'points'\?\)/,
    );
    await expect(predictor.addNewMask(state, { frameIdx: 0, objId: 1, masks: new Uint8Array(W * H) } as never)).rejects.toThrow(/addNewMask: unknown option 'masks'/);
    await expect(predictor.propagateInVideo(state, { start: 1 } as never).next()).rejects.toThrow(/propagateInVideo: unknown option 'start'/);
    const { OptionError } = await import('../../src/runtime/options.js');
    await expect(predictor.initState(framesFromMemory(frames), { x: 1 } as never)).rejects.toBeInstanceOf(OptionError);
    predictor.closeState(state);
  });

  it('trackVideo checks its options, ids and outputs before loading anything', async () => {
    const { trackVideo } = await import('../../src/track.js');
    const { OutputError } = await import('../../src/io/outputs.js');
    const base = {
      source: '/nonexistent/clip.mp4',
      prompts: [{ frame: 0, objId: 1, points: [[3, 3]] as [number, number][], labels: [1] }],
      json: '/tmp/never.json',
      weights: 'synthetic',
    };
    await expect(trackVideo({ ...base, mask: 'm' } as never)).rejects.toThrow(/trackVideo: unknown option 'mask' \(did you mean 'masksDir'\?\)/);
    await expect(trackVideo({ ...base, prompts: [{ ...base.prompts[0], objId: 300 }] })).rejects.toThrow(/object id 300 is not allowed: ids are integers 1\.\.255/);
    await expect(trackVideo({ ...base, prompts: [{ ...base.prompts[0], objId: 0 }] })).rejects.toThrow(/object id 0 is not allowed/);
    await expect(trackVideo({ ...base, fps: 0 })).rejects.toThrow(/fps must be a number from 0\.01 to 1000, not 0/);
    await expect(trackVideo({ ...base, out: '/tmp/x.avi' })).rejects.toThrow(/must be named \.mp4/);
    await expect(trackVideo({ ...base, json: '/proc/x.json' })).rejects.toBeInstanceOf(OutputError);
    await expect(trackVideo({ ...base, json: '/tmp' })).rejects.toThrow(/json \/tmp is a folder; give a file name/);
    await expect(trackVideo(base)).rejects.toThrow(/video source \/nonexistent\/clip\.mp4 does not exist/);
  });

  it('frame index out of range', async () => {
    const state = await predictor.initState(framesFromMemory(frames));
    await expect(predictor.addNewPointsOrBox(state, { frameIdx: 3, objId: 1, points: [[3, 3]], labels: [1] })).rejects.toThrow(
      /frame index 3 is out of range \(the video has 3 frames: 0\.\.2\)/,
    );
    predictor.closeState(state);
  });

  it('propagating before any prompt, and an unknown object id', async () => {
    const state = await predictor.initState(framesFromMemory(frames));
    const gen = predictor.propagateInVideo(state);
    await expect(gen.next()).rejects.toThrow(/no points, boxes or masks were added/);
    await expect(predictor.removeObject(state, 9)).rejects.toThrow(/cannot remove object id 9: it does not exist/);
    await expect(predictor.clearAllPromptsInFrame(state, 0, 9)).rejects.toThrow(/unknown object id 9/);
    predictor.closeState(state);
  });

  it('a mask of the wrong size', async () => {
    const state = await predictor.initState(framesFromMemory(frames));
    await expect(predictor.addNewMask(state, { frameIdx: 0, objId: 1, mask: new Uint8Array(10) })).rejects.toThrow(/mask has 10 values; expected 32×48/);
    predictor.closeState(state);
  });

  it('weights of another model size', async () => {
    const tiny = (function* () {
      for (const t of syntheticTensors(getManifest('sam2.1_hiera_t'))) yield [t.name, { shape: [...t.shape], data: t.data }] as const;
    })();
    // A streamed source is checked tensor by tensor against the expected config; the first mismatch is named.
    await expect(SAM2VideoPredictor.load({ model: 'small', imageSize: 64, gpu: main, weights: tiny })).rejects.toThrow(
      /weights \(sam2\.1_hiera_s\): tensor '[^']+' has shape \[\d+, \d+\], expected/,
    );
  });

  it('prompts, tracks and removes objects on a short clip', async () => {
    const state = await predictor.initState(framesFromMemory(frames));
    const r = await predictor.addNewPointsOrBox(state, { frameIdx: 0, objId: 1, points: [[20, 16]], labels: [1] });
    expect(r.objIds).toEqual([1]);
    expect(r.masks[0].length).toBe(W * H);
    await predictor.addNewPointsOrBox(state, { frameIdx: 1, objId: 2, box: [2, 2, 30, 30] });
    const seen: number[] = [];
    for await (const f of predictor.propagateInVideo(state)) {
      seen.push(f.frameIdx);
      expect(f.objIds).toEqual([1, 2]);
    }
    expect(seen).toEqual([0, 1, 2]);
    const back: number[] = [];
    for await (const f of predictor.propagateInVideo(state, { startFrameIdx: 2, reverse: true })) back.push(f.frameIdx);
    expect(back).toEqual([2, 1, 0]);
    const rm = await predictor.removeObject(state, 1);
    expect(rm.objIds).toEqual([2]);
    predictor.closeState(state);
  });
});
