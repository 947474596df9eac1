/**
 * The whole-tracked-frame cases (`frame1_S`, `frame3_S`): one more frame of a video tracked with a full
 * memory bank (7 memories + 16 object pointers), for 1 or 3 objects, RGB bytes in, per-object masks out.
 *
 * onnxruntime: the four exported sessions of size S composed as a developer would per frame, with the CPU
 * glue between them in JS (and in the timing):
 *
 *   RGB bytes → normalized [1, 3, S, S] → encoder → vision_features [1, 256, h, h], fpn0, fpn1 (h = S / 16)
 *   per object:
 *     vision_features → tokens [h², 1, 256] → memory_attention (curr_pos, memory, memory_pos: the
 *       memory_attention case's stored full bank) → tokens → [1, 256, h, h]
 *     → mask_decoder (with fpn0, fpn1 and the mask_decoder case's stored clicks) → masks [1, 3, 4h, 4h], iou
 *     → the mask of the highest iou, bilinear to S × S (align_corners=false) = the object's mask logits
 *     → sigmoid(x) · 20 − 10 → memory_encoder (pix_feat = vision_features) → features [1, 64, h, h]
 *
 * The bank is fixed (the stored inputs), so the onnxruntime side does none of the bank's bookkeeping
 * (choosing and concatenating memories, temporal position encodings, object pointer projection) that a
 * tracker built on these sessions would add; nor the official post-processing (hole filling).
 *
 * Our engine: its real tracking path, SAM2VideoPredictor.propagateInVideo over a long in-memory video of
 * S × S frames, objects prompted with clicks on frame 0 and the bank filled at creation (untimed: frame 1
 * tracked, its stored outputs copied to frames 2..16), so that every timed frame sees the full bank; each
 * run() pulls the next frame from the open generator: the frame's
 * preprocessing, the image encoder, the objects batched through memory attention, mask decoder and memory
 * encoder, the bank's bookkeeping, hole filling and the video-resolution masks read back to the CPU.
 */
import { framesFromCallback } from '../../src/io/browser_frames.js';
import { sam2Config } from '../../src/checkpoint/config.js';
import { SAM2Base, type FrameOutput } from '../../src/model/sam2_base.js';
import { SAM2VideoPredictor, type FrameResult, type InferenceState } from '../../src/model/video_predictor.js';
import type { WeightStore } from '../../src/checkpoint/weights.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { IMAGE_MEAN, IMAGE_STD, type FrameCase, type ModuleCase, type Runner } from './common.js';
import { runSession, type OrtLike, type OrtSession } from './ort.js';

/** Frames of the synthetic video: far more than any run takes, so that tracking never reaches its end. */
const VIDEO_FRAMES = 10_000;

/**
 * Frames stored at creation after the prompted frame 0: then the next frame sees frame 0 (conditioning) and
 * the 6 frames before it as memories (num_maskmem = 7) and 16 object pointers (frame 0 + the 15 frames
 * before it; max_obj_ptrs_in_encoder = 16).
 */
const SETUP_FRAMES = 16;

/** ℝ → the memory encoder's mask input, as the tracker feeds it (sigmoid_scale_for_mem_enc, sigmoid_bias_for_mem_enc). */
const MEM_SCALE = 20;
const MEM_BIAS = -10;

// ---------------------------------------------------------------- CPU glue of the onnxruntime side

/** RGB bytes [S, S, 3] → SAM 2's normalized input [1, 3, S, S] (the resize to S × S is the identity here). */
export function normalizeImage(rgb: Uint8Array, size: number): Float32Array {
  const n = size * size;
  if (rgb.length !== n * 3) throw new Error(`peers: ${rgb.length} RGB bytes for a ${size}×${size} frame`);
  const out = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) {
    const scale = 1 / (255 * IMAGE_STD[c]);
    const shift = IMAGE_MEAN[c] / IMAGE_STD[c];
    for (let p = 0; p < n; p++) out[c * n + p] = rgb[p * 3 + c] * scale - shift;
  }
  return out;
}

/** Transpose of a row-major [rows, cols] matrix: [C, h·w] (NCHW, batch 1) ↔ [h·w, C] (tokens [h·w, 1, C]). */
export function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  if (x.length !== rows * cols) throw new Error(`peers: transpose of ${x.length} values as [${rows}, ${cols}]`);
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = x[base + c];
  }
  return out;
}

/** One row's source indices and weights of a bilinear resize with align_corners=false (F.interpolate). */
function bilinearTaps(inSize: number, outSize: number): { i0: Int32Array; i1: Int32Array; w1: Float32Array } {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const w1 = new Float32Array(outSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const src = Math.max((o + 0.5) * scale - 0.5, 0); // PyTorch clamps negative source coordinates to 0
    const a = Math.floor(src);
    i0[o] = a;
    i1[o] = a < inSize - 1 ? a + 1 : a;
    w1[o] = src - a;
  }
  return { i0, i1, w1 };
}

/**
 * Bilinear resize of one [inH, inW] plane to [outH, outW], align_corners=false (F.interpolate's bilinear). The
 * kernels' reference (resizeRef) computes the same but is written for exactness, not speed; this glue is timed
 * on the onnxruntime side, so it is the plain loop a developer would write.
 */
export function resizeBilinear(x: Float32Array, inH: number, inW: number, outH: number, outW: number): Float32Array {
  if (x.length !== inH * inW) throw new Error(`peers: resize of ${x.length} values as [${inH}, ${inW}]`);
  const ty = bilinearTaps(inH, outH);
  const tx = bilinearTaps(inW, outW);
  const out = new Float32Array(outH * outW);
  for (let oy = 0; oy < outH; oy++) {
    const r0 = ty.i0[oy] * inW;
    const r1 = ty.i1[oy] * inW;
    const wy = ty.w1[oy];
    for (let ox = 0; ox < outW; ox++) {
      const a = tx.i0[ox];
      const b = tx.i1[ox];
      const wx = tx.w1[ox];
      const top = x[r0 + a] + (x[r0 + b] - x[r0 + a]) * wx;
      const bottom = x[r1 + a] + (x[r1 + b] - x[r1 + a]) * wx;
      out[oy * outW + ox] = top + (bottom - top) * wy;
    }
  }
  return out;
}

/** Mask logits → the memory encoder's input: sigmoid(x) · 20 − 10 (the model exported with skip_mask_sigmoid). */
function maskForMemory(logits: Float32Array): Float32Array {
  const out = new Float32Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = MEM_SCALE / (1 + Math.exp(-logits[i])) + MEM_BIAS;
  return out;
}

function shapeOf(c: ModuleCase, name: string): number[] {
  const t = c.entry.inputs.find((x) => x.name === name);
  if (!t) throw new Error(`peers: ${c.name} has no input ${name}`);
  return t.shape;
}

/**
 * The onnxruntime side of a frame case: the four sessions of the case's size, composed per frame as the file
 * header describes. Outputs: `mask_k` (object k's mask logits, S × S) and `features_k` (its new memory).
 */
export async function createOrtFrameRunner(
  ort: OrtLike,
  sessionOptions: Record<string, unknown>,
  model: (c: ModuleCase) => Promise<string | Uint8Array>,
  c: FrameCase,
): Promise<Runner> {
  const { encoder, memory_attention: ma, mask_decoder: md, memory_encoder: me } = c.parts;
  const S = c.imageSize;
  const sessions: OrtSession[] = [];
  try {
    for (const part of [encoder, ma, md, me]) sessions.push(await ort.InferenceSession.create(await model(part), { graphOptimizationLevel: 'all', ...sessionOptions }));
  } catch (e) {
    await Promise.all(sessions.map((s) => s.release()));
    throw e;
  }
  const [encS, maS, mdS, meS] = sessions;
  const [, C, h, w] = shapeOf(me, 'pix_feat');
  const [, , maskH, maskW] = md.entry.outputs.find((t) => t.name === 'masks')!.shape;
  const tensor = (data: Float32Array, dims: readonly number[]) => new ort.Tensor('float32', data, dims);
  // The stored inputs the composition reuses every frame: the bank and the clicks.
  const bank = {
    curr_pos: tensor(ma.inputs.get('curr_pos')!, shapeOf(ma, 'curr_pos')),
    memory: tensor(ma.inputs.get('memory')!, shapeOf(ma, 'memory')),
    memory_pos: tensor(ma.inputs.get('memory_pos')!, shapeOf(ma, 'memory_pos')),
  };
  const clicks = {
    point_coords: tensor(md.inputs.get('point_coords')!, shapeOf(md, 'point_coords')),
    point_labels: tensor(md.inputs.get('point_labels')!, shapeOf(md, 'point_labels')),
  };
  return {
    async run() {
      const enc = await runSession(encS, { image: tensor(normalizeImage(c.rgb, S), [1, 3, S, S]) });
      const vision = enc.get('vision_features')!;
      const fpn = { fpn0: tensor(enc.get('fpn0')!, shapeOf(md, 'fpn0')), fpn1: tensor(enc.get('fpn1')!, shapeOf(md, 'fpn1')) };
      const curr = tensor(transpose(vision, C, h * w), [h * w, 1, C]);
      const pixFeat = tensor(vision, [1, C, h, w]);
      const out = new Map<string, Float32Array>();
      for (let k = 0; k < c.objects; k++) {
        const conditioned = (await runSession(maS, { curr, ...bank })).get('output')!;
        const dec = await runSession(mdS, { image_embeddings: tensor(transpose(conditioned, h * w, C), [1, C, h, w]), ...fpn, ...clicks });
        const iou = dec.get('iou')!;
        let best = 0;
        for (let m = 1; m < iou.length; m++) if (iou[m] > iou[best]) best = m;
        const plane = maskH * maskW;
        const lowRes = dec.get('masks')!.subarray(best * plane, (best + 1) * plane);
        const mask = resizeBilinear(lowRes, maskH, maskW, S, S);
        const mem = await runSession(meS, { pix_feat: pixFeat, mask: tensor(maskForMemory(mask), [1, 1, S, S]) });
        out.set(`mask_${k}`, mask);
        out.set(`features_${k}`, mem.get('features')!);
      }
      return out;
    },
    async dispose() {
      await Promise.all(sessions.map((s) => s.release()));
    },
  };
}

// ---------------------------------------------------------------- our engine

/**
 * Our side of a frame case: a SAM2VideoPredictor on the shared synthetic weights, a video of VIDEO_FRAMES
 * copies of the case's frame (RGBA through framesFromCallback, which works in Node and in browsers), one
 * positive click per object on frame 0, the bank filled to SETUP_FRAMES frames; run() tracks the next frame. Outputs:
 * `mask_k`, object k's video-resolution mask (0 / 1) as the predictor returns it.
 */
export async function createEngineFrameRunner(gpu: Gpu, weights: WeightStore, c: FrameCase): Promise<Runner> {
  const S = c.imageSize;
  const config = sam2Config('tiny', '2.1', { imageSize: S });
  // SAM2VideoPredictor.load takes a weight source and loads its own copy; the constructor takes a model
  // built on the weights already on the GPU (the same synthetic sam2.1_hiera_t weights).
  const predictor = new SAM2VideoPredictor(await SAM2Base.create({ gpu, weights }, config));
  const rgba = new Uint8Array(S * S * 4);
  for (let p = 0; p < S * S; p++) {
    rgba.set(c.rgb.subarray(p * 3, p * 3 + 3), p * 4);
    rgba[p * 4 + 3] = 255;
  }
  const image = { width: S, height: S, data: rgba };
  const source = await framesFromCallback({ count: VIDEO_FRAMES, width: S, height: S, frame: () => image, cacheFrames: 1, description: `${VIDEO_FRAMES} synthetic frames of ${S}×${S}` });
  let state: InferenceState | undefined;
  let frames: AsyncGenerator<FrameResult> | undefined;
  const close = async () => {
    await frames?.return(undefined);
    if (state) predictor.closeState(state);
    else source.close();
    predictor.dispose();
  };
  try {
    state = await predictor.initState(source);
    for (let k = 0; k < c.objects; k++) {
      const point: [number, number] = [Math.round(((k + 1) * S) / (c.objects + 1)), Math.round(S / 2)];
      await predictor.addNewPointsOrBox(state, { frameIdx: 0, objId: k + 1, points: [point], labels: [1] });
    }
    // Frame 0 (prompted) and frame 1 tracked for real; frames 2..SETUP_FRAMES get copies of frame 1's stored
    // outputs (memory, object pointer, mask, score). A tracked frame's work depends on the bank's shape, not
    // its values, so the timed frame costs what it would after SETUP_FRAMES tracked frames, and the setup
    // costs 2 frames instead of 17 (at 512 on SwiftShader, minutes instead of an hour).
    const warm = predictor.propagateInVideo(state);
    await next(warm);
    await next(warm);
    await warm.return(undefined);
    for (const obj of state.objects) {
      const tracked = obj.output.nonCond.get(1);
      if (!tracked?.maskmemFeatures) throw new Error(`peers: ${c.name}: frame 1 stored no memory`);
      for (let f = 2; f <= SETUP_FRAMES; f++) obj.output.nonCond.set(f, await copyOutput(gpu, tracked));
    }
    checkFullBank(state, SETUP_FRAMES + 1, config.numMaskmem, config.maxObjPtrsInEncoder, c.name);
    frames = predictor.propagateInVideo(state, { startFrameIdx: SETUP_FRAMES + 1 });
  } catch (e) {
    await close();
    throw e;
  }
  const open = frames;
  return {
    async run() {
      const r = await next(open);
      return new Map(r.masks.map((m, k) => [`mask_${k}`, Float32Array.from(m)] as const));
    },
    dispose: close,
  };
}

/** A copy of a stored frame output in new GPU buffers (the predictor frees each stored output on its own). */
async function copyOutput(gpu: Gpu, o: FrameOutput): Promise<FrameOutput> {
  const copy = async (t: Tensor) => gpu.uploadBytes(await gpu.readBytes(t), t.shape, t.dtype, t.label);
  return {
    predMasks: await copy(o.predMasks),
    objPtr: await copy(o.objPtr),
    objectScoreLogits: await copy(o.objectScoreLogits),
    maskmemFeatures: o.maskmemFeatures && (await copy(o.maskmemFeatures)),
  };
}

/**
 * Checks that every object's stored outputs give frame `frameIdx` a full bank: memories of the conditioning
 * frames and of the numMaskmem − 1 frames before it (numMaskmem in all), pointers of the conditioning frames
 * and of the maxObjPtrs − 1 frames before it (maxObjPtrs in all); the official selection with one prompted
 * frame and stride 1.
 */
export function checkFullBank(state: InferenceState, frameIdx: number, numMaskmem: number, maxObjPtrs: number, name: string): void {
  state.objects.forEach((obj, k) => {
    const near = (reach: number) => [...obj.output.nonCond].filter(([f]) => f < frameIdx && f >= frameIdx - reach);
    const memories = [...obj.output.cond.values()].filter((o) => o.maskmemFeatures).length + near(numMaskmem - 1).filter(([, o]) => o.maskmemFeatures).length;
    const pointers = obj.output.cond.size + near(maxObjPtrs - 1).length;
    if (memories < numMaskmem || pointers < maxObjPtrs) {
      throw new Error(`peers: ${name}: object ${state.objIds[k]} reaches ${memories} memories and ${pointers} pointers from frame ${frameIdx}, expected ${numMaskmem} and ${maxObjPtrs}`);
    }
  });
}

async function next(frames: AsyncGenerator<FrameResult>): Promise<FrameResult> {
  const r = await frames.next();
  if (r.done) throw new Error(`peers: the synthetic video of ${VIDEO_FRAMES} frames ended`);
  return r.value;
}
