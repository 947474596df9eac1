/**
 * `npm run bench:video -- [--image-size 256] [--frames 10] [--reps 2] [--dtype f32]`: per-frame milliseconds
 * of whole tracked frames (frame resize + image encoder + tracking + video-resolution masks) on the bedroom
 * clip (samples/bedroom: its first 30 frames at 960×540, or --source), for 1 and 3 objects, with the objects of a frame batched and
 * one by one. The configurations alternate (A B C A B C …) so that machine load hits them alike; the table
 * gives the median per-frame time of each and the ratios. JSON goes to bench/results/video.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { openFrames } from '../src/io/frames.js';
import { SAM2VideoPredictor } from '../src/model/video_predictor.js';
import { Gpu } from '../src/runtime/gpu.js';
import { arg } from './harness.js';

const imageSize = Number(arg('image-size', '256'));
const frames = Number(arg('frames', '10'));
const reps = Number(arg('reps', '2'));
const dtype = arg('dtype', 'f32') as 'f32' | 'f16';
const source = arg('source', new URL('../samples/bedroom', import.meta.url).pathname);
const prompts: Array<[number, number]> = [[210, 350], [390, 220], [700, 300]];

const gpu = await Gpu.create();
const configs = [
  { objects: 1, batch: true },
  { objects: 3, batch: false },
  { objects: 3, batch: true },
];
const predictors = new Map<boolean, SAM2VideoPredictor>();
for (const batch of [true, false]) {
  predictors.set(batch, await SAM2VideoPredictor.load({ model: 'tiny', imageSize, dtype, gpu, batchObjects: batch, weights: 'synthetic' }));
}

/** Tracks `frames` frames after prompting frame 0; returns ms per tracked frame (frame 0 excluded). */
async function run(objects: number, batch: boolean): Promise<number> {
  const predictor = predictors.get(batch)!;
  const src = await openFrames(source);
  const state = await predictor.initState(src);
  try {
    for (let k = 0; k < objects; k++) {
      await predictor.addNewPointsOrBox(state, { frameIdx: 0, objId: k + 1, points: [prompts[k]], labels: [1] });
    }
    let t0 = 0;
    let n = 0;
    for await (const r of predictor.propagateInVideo(state, { maxFrameNumToTrack: frames })) {
      void r;
      if (n === 0) t0 = performance.now(); // frame 0 holds the prompts: timing starts after it
      n++;
    }
    return (performance.now() - t0) / (n - 1);
  } finally {
    predictor.closeState(state);
    src.close();
  }
}

const times = configs.map(() => [] as number[]);
await run(1, true); // warm-up: pipelines compiled, pool filled
for (let r = 0; r < reps; r++) {
  for (const [i, c] of configs.entries()) {
    const ms = await run(c.objects, c.batch);
    times[i].push(ms);
    console.error(`rep ${r + 1}: ${c.objects} object(s), ${c.batch ? 'batched' : 'one by one'}: ${ms.toFixed(0)} ms/frame`);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const med = times.map(median);
console.log(`tiny, image size ${imageSize}, ${dtype}, ${frames} tracked frames × ${reps} reps, adapter ${gpu.info.adapter}`);
console.log('| objects | objects per frame | ms / frame (median) | vs 1 object |');
console.log('|---|---|---|---|');
for (const [i, c] of configs.entries()) {
  console.log(`| ${c.objects} | ${c.batch ? 'one batch' : 'one by one'} | ${med[i].toFixed(0)} | ${(med[i] / med[0]).toFixed(2)}× |`);
}
mkdirSync(new URL('./results', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/video.json', import.meta.url),
  JSON.stringify({ imageSize, dtype, frames, reps, adapter: gpu.info.adapter, configs: configs.map((c, i) => ({ ...c, msPerFrame: times[i], median: med[i] })) }, null, 2),
);
for (const p of predictors.values()) p.dispose();
gpu.destroy();
