/**
 * The programs of test/package/tarball.test.ts's consumer project, which depends on the packed tarball only.
 * They are kept as text (not files under test/) so that the repository's own type check, which resolves
 * imports differently, does not see them.
 */

/** The sample clip inside the installed package (relative to the consumer project). */
export const SAMPLE = 'node_modules/sam2-webgpu/samples/bedroom.mp4';

/**
 * Node ESM consumer: every subpath, one module graph (the same classes everywhere, a tensor from the root's
 * Gpu accepted by a kernel from 'sam2-webgpu/kernels'), one image prompt and one video prompt on synthetic
 * weights. Prints one line of JSON.
 */
export const CONSUMER_MJS = `
import * as root from 'sam2-webgpu';
import * as node from 'sam2-webgpu/node';
import * as kernels from 'sam2-webgpu/kernels';
import * as model from 'sam2-webgpu/model';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Gpu, ImagePredictor, SAM2VideoPredictor, ShapeError, Tensor, decodeJpeg, DecodeError } from 'sam2-webgpu';
import { openFrames, decodeImage } from 'sam2-webgpu/node';

function check(ok, what) {
  if (!ok) throw new Error('consumer: ' + what);
}
const out = {};

// One module graph: the subpaths share the root's classes.
check(kernels.Tensor === Tensor && model.Tensor === Tensor, 'one Tensor class across subpaths');
check(kernels.Gpu === Gpu && model.Gpu === Gpu, 'one Gpu class across subpaths');
check(kernels.ShapeError === ShapeError, 'one ShapeError class across subpaths');
check(model.SAM2Base === root.SAM2Base && model.ImageEncoder === root.ImageEncoder && model.WeightStore === root.WeightStore, 'model classes are the root exports');
check(node.SAM2VideoPredictor === SAM2VideoPredictor && node.Tensor === Tensor, "'sam2-webgpu/node' re-exports the root");
check(typeof model.Hiera === 'function' && typeof model.MemoryAttention === 'function' && typeof model.sam2Config === 'function', 'model modules exported');
out.modelExports = Object.keys(model).length;
out.kernelExports = Object.keys(kernels).length;

// A tensor made with the root's Gpu goes through a kernel of the kernels subpath and comes back a Tensor.
{
  const gpu = await Gpu.create();
  const a = gpu.upload([1, 2, 3, 4], [2, 2]);
  const b = gpu.upload([10, 20], [2]);
  const c = kernels.add(gpu, a, b);
  check(c instanceof Tensor && c instanceof kernels.Tensor, 'kernel output is a Tensor');
  out.kernelAdd = Array.from(await gpu.read(c));
  check(out.kernelAdd.join() === '11,22,13,24', 'add: ' + out.kernelAdd.join());
  let err = null;
  try {
    kernels.matmul(gpu, a, gpu.upload([1, 2, 3], [3, 1]));
  } catch (e) {
    err = e;
  }
  check(err instanceof ShapeError, 'a kernel shape error is the root ShapeError: ' + err);
  gpu.destroy();
}
out.config = model.sam2Config('tiny', '2.1', { imageSize: 256 }).imageSize;

// Image predictor: one point prompt on a synthetic picture.
{
  const W = 64, H = 48;
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      const inside = x > 20 && x < 44 && y > 10 && y < 34;
      data[i] = inside ? 230 : x * 4;
      data[i + 1] = inside ? 40 : y * 5;
      data[i + 2] = inside ? 40 : 128;
    }
  }
  const p = await ImagePredictor.load({ model: 'tiny', weights: 'synthetic', imageSize: 256 });
  await p.setImage({ data, width: W, height: H });
  const r = await p.predict({ pointCoords: [[30, 20]], pointLabels: [1] });
  check(r.masks.shape.join() === '3,' + H + ',' + W, 'image masks shape ' + r.masks.shape.join());
  check(r.masks.data.length === 3 * H * W, 'image masks data');
  check(r.iouPredictions.shape.join() === '3', 'iou shape ' + r.iouPredictions.shape.join());
  out.image = { masks: r.masks.shape, iou: Array.from(r.iouPredictions.data) };
  p.dispose();
}

// Video predictor: a point on the first frame of the sample clip.
{
  const predictor = await SAM2VideoPredictor.load({ model: 'tiny', weights: 'synthetic', imageSize: 256 });
  const frames = await openFrames(${JSON.stringify(SAMPLE)});
  const state = await predictor.initState(frames);
  const r = await predictor.addNewPointsOrBox(state, { frameIdx: 0, objId: 1, points: [[105, 175]], labels: [1] });
  check(r.frameIdx === 0 && r.objIds.join() === '1', 'video result ' + r.frameIdx + ' ' + r.objIds);
  check(r.masks[0].length === state.videoWidth * state.videoHeight, 'video mask size');
  out.video = {
    frames: state.numFrames,
    width: state.videoWidth,
    height: state.videoHeight,
    frameIdx: r.frameIdx,
    objIds: r.objIds,
    maskPixels: r.masks[0].length,
    objectScores: r.objectScores,
    syntheticWeights: predictor.syntheticWeights,
  };
  state.close();
  predictor.dispose();
}
// The JPEG decoder (WebAssembly, loaded on first use) from the installed package: frame.jpg, which the test
// copies from test/fixtures/decode, through the root export and through decodeImage.
{
  const sha = (b) => createHash('sha256').update(b).digest('hex');
  const a = await decodeJpeg(readFileSync('frame.jpg'), 'frame.jpg');
  const b = await decodeImage('frame.jpg');
  check(sha(a.rgb) === sha(b.rgb), 'decodeJpeg and decodeImage agree');
  let err = null;
  try {
    await decodeJpeg(readFileSync('frame.jpg').subarray(0, 200), 'cut.jpg');
  } catch (e) {
    err = e;
  }
  check(err instanceof DecodeError && err instanceof node.DecodeError, 'a truncated JPEG is a DecodeError: ' + err);
  out.jpeg = { width: a.width, height: a.height, sha256: sha(a.rgb) };
}
console.log(JSON.stringify(out));
`;

/**
 * TypeScript consumer: the same API with its types. Type-checked only (noEmit); the @ts-expect-error lines
 * fail the check if the package's types were missing (any) instead of wrong.
 */
export const CONSUMER_TS = `
import { Gpu, ImagePredictor, SAM2VideoPredictor, type FrameResult, type PredictorLoadOptions, type Tensor } from 'sam2-webgpu';
import { openFrames, trackVideo, type TrackSummary } from 'sam2-webgpu/node';
import { add, matmul, type MatmulOptions } from 'sam2-webgpu/kernels';
import { Hiera, MemoryAttention, sam2Config, type Sam2Config } from 'sam2-webgpu/model';

const opts: PredictorLoadOptions = { model: 'tiny', weights: 'synthetic', imageSize: 256 };
const predictor: SAM2VideoPredictor = await SAM2VideoPredictor.load(opts);
const frames = await openFrames(${JSON.stringify(SAMPLE)});
const state = await predictor.initState(frames);
const r: FrameResult = await predictor.addNewPointsOrBox(state, { frameIdx: 0, objId: 1, points: [[105, 175]], labels: [1] });
const mask: Uint8Array = r.masks[0];
const scores: number[] = r.objectScores;
for await (const f of predictor.propagateInVideo(state, { maxFrameNumToTrack: 2 })) {
  const tracked: FrameResult = f;
  console.log(tracked.frameIdx);
}
state.close();

const image = await ImagePredictor.load({ model: 'tiny', weights: 'synthetic', imageSize: 256 });
await image.setImage({ data: new Uint8Array(64 * 48 * 3), width: 64, height: 48 });
const pr = await image.predict({ pointCoords: [[30, 20]], pointLabels: [1] });
const shape: number[] = pr.masks.shape;
image.dispose();

const gpu: Gpu = predictor.gpu;
const t: Tensor = gpu.upload([1, 2, 3, 4], [2, 2]);
const s: Tensor = add(gpu, t, t);
const mo: MatmulOptions = {};
const m: Tensor = matmul(gpu, s, t, mo);
const cfg: Sam2Config = sam2Config('tiny');
const modules: [typeof Hiera, typeof MemoryAttention] = [Hiera, MemoryAttention];
const summary: Promise<TrackSummary> | null = null;
predictor.dispose();
console.log(mask.length, scores, shape, m.shape, cfg.imageSize, modules.length, summary, trackVideo.name);

// @ts-expect-error imageSize is a number
const bad: PredictorLoadOptions = { imageSize: '256' };
// @ts-expect-error FrameResult.masks holds Uint8Arrays
const badMask: string = r.masks[0];
console.log(bad, badMask);
`;

/** The consumer project's tsconfig: strict, Node's ESM resolution, our .d.ts checked too, no @webgpu/types listed. */
export const CONSUMER_TSCONFIG = {
  compilerOptions: {
    strict: true,
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'es2022',
    lib: ['es2022', 'dom'],
    noEmit: true,
    skipLibCheck: false,
  },
  files: ['consumer.ts'],
};

/** Browser consumer, bundled by esbuild for platform 'browser' (the package's "browser" export). */
export const BROWSER_MJS = `
import { SAM2VideoPredictor, framesFromImages, framesFromFiles, fetchWeights } from 'sam2-webgpu';

export async function pickedFrames(files) {
  return framesFromFiles(files);
}

export async function start(canvas, images, url) {
  const { response } = await fetchWeights(url);
  const predictor = await SAM2VideoPredictor.load({ model: 'tiny', weights: response });
  const state = await predictor.initState(framesFromImages(images));
  const r = await predictor.addNewPointsOrBox(state, { frameIdx: 0, objId: 1, points: [[105, 175]], labels: [1] });
  canvas.dataset.objects = String(r.objIds.length);
  return predictor;
}
`;
