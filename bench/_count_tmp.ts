import { SAM2VideoPredictor } from '../src/model/video_predictor.js';
const size = Number(process.env.SIZE ?? 1024);
const p = await SAM2VideoPredictor.load({ model: 'tiny', imageSize: size, weights: 'synthetic', warmup: false, profile: 'gpu' });
// Count a tracked frame: dry-run the warmup's graph, split as the warmup does.
const m = p.model; const gpu = p.gpu;
const counts = new Map<string, number>();
let enc = 0, track = 0;
const { preprocessVideoFrame } = await import('../src/model/preprocess.js');
const log = gpu.dryRun(() => {
  const S = size; const W = 2 * S, H = 3 * S / 2;
  const features = m.imageEncoder.encode(preprocessVideoFrame(gpu, new Uint8Array(W * H * 3), W, H, S, { dtype: m.dtype }));
  enc = gpu.dryRecorded().length;
  const obj = { cond: new Map(), nonCond: new Map() };
  const first = m.trackStep({ frameIdx: 0, isInitCondFrame: true, features, pointInputs: { coords: Float32Array.of(S / 2, S / 2), labels: Int32Array.of(1) }, outputs: obj, numFrames: 2, reverse: false, runMemEncoder: true });
  obj.cond.set(0, { predMasks: first.predMasks, objPtr: first.objPtr, objectScoreLogits: first.objectScoreLogits, maskmemFeatures: first.maskmemFeatures });
  const before = gpu.dryRecorded().length;
  m.trackObjects({ frameIdx: 1, features, outputs: [obj], numFrames: 2, reverse: false, runMemEncoder: true });
  track = gpu.dryRecorded().length - before;
  for (const v of gpu.dryRecorded().slice(before)) { const k = `${v.file}:${v.kernel}`; counts.set(k, (counts.get(k) ?? 0) + 1); }
});
console.log({ encoder: enc, tracked: track });
console.log([...counts].sort((a, b) => b[1] - a[1]));
p.dispose();
