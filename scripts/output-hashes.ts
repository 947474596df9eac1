/**
 * `npx tsx scripts/output-hashes.ts [--image-size 1024] [--frames 10] [--out FILE]`: a sha256 of every mask,
 * logit and object score of a 3-object video (point, box and mask prompts, a correction click, propagation
 * forward and back, objects batched and one by one) and of an image-predictor call, in f32, f16 and
 * f16packed, on the synthetic tiny weights and the bedroom frames. Two builds of the engine give identical
 * outputs exactly when these lines are identical: a refactor that must not change results compares them.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { openFrames } from '../src/io/frames.js';
import { ImagePredictor } from '../src/model/image_predictor.js';
import { SAM2VideoPredictor, type FrameResult } from '../src/model/video_predictor.js';
import { Gpu } from '../src/runtime/gpu.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

const imageSize = Number(arg('image-size', '1024'));
const frames = Number(arg('frames', '10'));
const out = arg('out', '');
const source = new URL('../samples/bedroom', import.meta.url).pathname;

function sha(parts: ArrayBufferView[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
  return h.digest('hex').slice(0, 16);
}

function frameParts(r: FrameResult): ArrayBufferView[] {
  return [new Int32Array([r.frameIdx, ...r.objIds]), ...r.masks, ...(r.logits ?? []), new Float64Array(r.objectScores)];
}

const lines: string[] = [];
const variants = [
  { name: 'f32', dtype: 'f32' as const, f16Mode: undefined },
  { name: 'f16', dtype: 'f16' as const, f16Mode: 'f16' as const },
  { name: 'f16packed', dtype: 'f16' as const, f16Mode: 'f16packed' as const },
];
for (const v of variants) {
  const gpu = await Gpu.create({ f16Mode: v.f16Mode });
  if (v.f16Mode === 'f16' && !gpu.info.features.f16) {
    lines.push(`${v.name}: skipped (no shader-f16)`);
    gpu.destroy();
    continue;
  }
  for (const batchObjects of [true, false]) {
    const t0 = performance.now();
    const predictor = await SAM2VideoPredictor.load({ model: 'tiny', imageSize, dtype: v.dtype, gpu, batchObjects, weights: 'synthetic' });
    const src = await openFrames(source);
    const state = await predictor.initState(src, { returnLogits: true });
    const all: ArrayBufferView[] = [];
    const add = (r: FrameResult) => all.push(...frameParts(r));
    add(await predictor.addNewPointsOrBox(state, { frameIdx: 0, objId: 1, points: [[210, 350]], labels: [1] }));
    add(await predictor.addNewPointsOrBox(state, { frameIdx: 0, objId: 2, box: [300, 120, 520, 330] }));
    const mask = new Uint8Array(src.height * src.width);
    for (let y = 200; y < 420; y++) for (let x = 620; x < 800; x++) mask[y * src.width + x] = 1;
    add(await predictor.addNewMask(state, { frameIdx: 0, objId: 3, mask }));
    for await (const r of predictor.propagateInVideo(state, { maxFrameNumToTrack: frames })) add(r);
    add(await predictor.addNewPointsOrBox(state, { frameIdx: Math.min(5, frames - 1), objId: 1, points: [[400, 300]], labels: [0] }));
    for await (const r of predictor.propagateInVideo(state, { startFrameIdx: frames - 1, reverse: true, maxFrameNumToTrack: frames })) add(r);
    lines.push(`${v.name} video batchObjects=${batchObjects} (${all.length} arrays, ${((performance.now() - t0) / 1000).toFixed(1)} s): ${sha(all)}`);
    predictor.closeState(state);
    src.close();
    predictor.dispose();
  }
  const image = await ImagePredictor.load({ model: 'tiny', imageSize, dtype: v.dtype, gpu, weights: 'synthetic' });
  const src = await openFrames(source);
  const frame = await src.get(0);
  await image.setImage({ data: frame.rgb, width: frame.width, height: frame.height, channels: 3 });
  const parts: ArrayBufferView[] = [];
  for (const opts of [
    { pointCoords: [[210, 350]] as [number, number][], pointLabels: [1] },
    { box: [300, 120, 520, 330] as const, multimaskOutput: false, returnLogits: true },
  ]) {
    const r = await image.predict(opts);
    parts.push(r.masks.data, r.iouPredictions.data, r.lowResMasks.data);
  }
  lines.push(`${v.name} image: ${sha(parts)}`);
  src.close();
  image.dispose();
  gpu.destroy();
}
const text = `image size ${imageSize}, ${frames} frames\n${lines.join('\n')}\n`;
process.stdout.write(text);
if (out) writeFileSync(out, text);
