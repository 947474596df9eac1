/**
 * `npx tsx bench/memory_flat.ts [--image-size 64] [--frames 200] [--objects 1]`: tracks the bedroom clip
 * (samples/bedroom, its first 30 frames at 960×540, played over and over to make --frames; or --source) and prints the GPU bytes in use (buffer pool) and
 * the Node heap after selected frames, to show that memory stays flat over the video's length.
 */
import { openFrames, type FrameSource } from '../src/io/frames.js';
import { SAM2VideoPredictor } from '../src/model/video_predictor.js';
import { arg } from './harness.js';

const imageSize = Number(arg('image-size', '64'));
const frames = Number(arg('frames', '200'));
const objects = Number(arg('objects', '1'));
const source = arg('source', new URL('../samples/bedroom', import.meta.url).pathname);
const marks = new Set([8, 10, 50, 100, 200].filter((n) => n <= frames));

const predictor = await SAM2VideoPredictor.load({ model: 'tiny', imageSize, weights: 'synthetic' });
const clip = await openFrames(source);
// The clip played over and over until it has `frames` frames: memory must stay flat with the video's length.
const src: FrameSource = {
  count: Math.max(frames, clip.count),
  width: clip.width,
  height: clip.height,
  description: `${clip.description}, looped to ${Math.max(frames, clip.count)} frames`,
  get: (i) => clip.get(i % clip.count),
  close: () => clip.close(),
};
const state = await predictor.initState(src);
const prompts: Array<[number, number]> = [[210, 350], [390, 220], [700, 300]];
for (let k = 0; k < objects; k++) {
  await predictor.addNewPointsOrBox(state, { frameIdx: 0, objId: k + 1, points: [prompts[k % 3]], labels: [1] });
}
console.log(`tiny, image size ${imageSize}, ${objects} object(s), ${src.description}, adapter ${predictor.gpu.info.adapter}`);
console.log('frames tracked | memory bank bytes | GPU bytes in use | GPU bytes held (in use + pooled) | Node heap MB | ms/frame');
let n = 0;
let t = performance.now();
for await (const r of predictor.propagateInVideo(state, { maxFrameNumToTrack: frames - 1 })) {
  n++;
  void r;
  if (marks.has(n)) {
    await predictor.gpu.sync();
    const s = predictor.gpu.pool.getStats();
    const now = performance.now();
    console.log(`${String(n).padStart(14)} | ${String(predictor.bankBytes(state)).padStart(17)} | ${String(s.inUse).padStart(16)} | ${String(s.inUse + s.cached).padStart(31)} | ${(process.memoryUsage().heapUsed / 1e6).toFixed(1).padStart(12)} | ${((now - t) / n).toFixed(0)}`);
  }
}
predictor.closeState(state);
predictor.dispose();
