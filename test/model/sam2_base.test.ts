/**
 * SAM2Base.trackStep against the official SAM2VideoPredictor runs (test/fixtures/tiny256/video/*.nofill:
 * sam2.1_hiera_t at image size 256, synthetic weights, the bedroom frames; hole filling is the predictor's
 * job, so the runs without it):
 * - the memory selection of _prepare_memory_conditioned_features against choices recorded from the official
 *   function (forward, reverse, temporal strides, max_cond_frames_in_attn, pointer options) and against the
 *   memory-attention fixture's frame 16;
 * - the memory assembled for frame 16 of `point` (7 memories, 16 pointers) from the predictor's stored bf16
 *   memories and pointers, against the memory-attention fixture's inputs, and that frame tracked from the
 *   stored state;
 * - video cases replayed with the predictor's bookkeeping (test/model/sam2_replay.ts) on the engine's own
 *   image features of the stored frames: per frame pred_masks, object_score_logits, obj_ptr (and the bf16
 *   maskmem_features of `point`). f32 everywhere; the f16 variants on fewer frames;
 * - SAM 2.0's memory options on configs256/sam2_hiera_t (a click and two tracked frames);
 * - the tracking step's small kernels, and typed errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sam2Config } from '../../src/checkpoint/config.js';
import type { ImageFeatures } from '../../src/model/image_encoder.js';
import { getManifest } from '../../src/checkpoint/manifests.js';
import { addNoObjectEmbedding, toMemoryBank } from '../../src/model/memory_encoder.js';
import {
  clampToF32,
  gateMasks,
  memoryBankEntry,
  NO_OBJ_SCORE,
  SAM2Base,
  selectClosestCondFrames,
  selectMemory,
  type FrameOutput,
  type MemorySelectionConfig,
  type ObjectOutputDict,
} from '../../src/model/sam2_base.js';
import { loadWeights, type WeightStore } from '../../src/checkpoint/weights.js';
import { bf16BitsToF32, f32ToBf16Bits } from '../../src/runtime/dtype.js';
import { Sam2Error, ShapeError } from '../../src/runtime/errors.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { syntheticWeights } from '../../src/checkpoint/synthetic.js';
import { CONFIGS256, fixtureFrames, normalizeFrames, openFixture, outputName, TINY256, type Fixture } from '../fixtures/reader.js';
import { asStored, rand, testGpus, variants, type Variant } from '../helpers.js';
import { expectParity, parityTable, type ParityResult } from './parity.js';
import { Replay, type ReplayReport } from './sam2_replay.js';

const CONFIG = 'sam2.1_hiera_t';
const S = 256;
const cfg = sam2Config('tiny', '2.1', { imageSize: S });
const H = S / 16;
const HW = H * H;
const D = cfg.memDim;

// ------------------------------------------------------------------------------------------ harness

/** A model per weight-override set on one variant, and the engine's features of the stored frames. */
class Bench {
  private models = new Map<string, { model: SAM2Base; weights: WeightStore }>();
  private feats = new Map<number, ImageFeatures>();
  readonly stepMs: number[] = [];

  constructor(
    readonly v: Variant,
    private readonly frames: Uint8Array,
  ) {}

  get gpu(): Gpu {
    return this.v.gpu;
  }

  get dtype(): 'f32' | 'f16' {
    return this.v.dtype as 'f32' | 'f16';
  }

  async model(overrides: Record<string, number[]> = {}): Promise<SAM2Base> {
    const key = JSON.stringify(overrides);
    let m = this.models.get(key);
    if (!m) {
      const manifest = getManifest(CONFIG);
      const weights = await loadWeights(syntheticWeights(manifest, overrides), { gpu: this.gpu, dtype: this.dtype, manifest });
      m = { model: await SAM2Base.create({ gpu: this.gpu, weights }, cfg), weights };
      this.models.set(key, m);
    }
    return m.model;
  }

  /** The image features of stored frame f (the official loader's input, bit for bit), encoded once. */
  async features(f: number): Promise<ImageFeatures> {
    let x = this.feats.get(f);
    if (!x) {
      const img = normalizeFrames(this.frames.subarray(f * S * S * 3, (f + 1) * S * S * 3), 1, S);
      const t = this.gpu.upload(img, [1, 3, S, S], this.dtype, `frame ${f}`);
      x = (await this.model()).imageEncoder.encode(t);
      t.release();
      this.feats.set(f, x);
    }
    return x;
  }

  release(): void {
    for (const f of this.feats.values()) f.release();
    this.feats.clear();
    for (const { model, weights } of this.models.values()) {
      model.release();
      weights.release();
    }
    this.models.clear();
  }
}

let frames: Uint8Array;
let maFx: Fixture;
let vs: Variant[];
const benches = new Map<string, Bench>();
const rows: ParityResult[] = [];
const frameRows: string[] = [];

beforeAll(async () => {
  frames = await fixtureFrames();
  maFx = await openFixture(`${TINY256}/memory_attention.safetensors`);
  vs = await variants();
});

afterAll(async () => {
  for (const b of benches.values()) b.release();
  await maFx?.close();
  if (rows.length) console.log(`tracking step parity (sam2.1_hiera_t @ ${S})\n${parityTable(rows)}`);
  if (frameRows.length) {
    console.log(
      [
        '| case | variant | step | frame | obj | kind | pred_masks cos | max rel | mask IoU | score | obj_ptr cos | max rel | maskmem max rel |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
        ...frameRows,
      ].join('\n'),
    );
  }
  for (const b of benches.values()) {
    if (b.stepMs.length) {
      const ms = [...b.stepMs].sort((a, c) => a - c);
      console.log(`trackStep at ${S} (${b.v.name}, ${b.gpu.info.adapter}): median ${ms[ms.length >> 1].toFixed(0)} ms over ${ms.length} steps`);
    }
  }
});

async function bench(v: Variant): Promise<Bench> {
  let b = benches.get(v.name);
  if (!b) {
    b = new Bench(v, frames);
    benches.set(v.name, b);
  }
  return b;
}

/** [1, C, h, w] (the fixture's NCHW) → [1, h·w, C] (the bank's token-major layout). */
function tokenMajor(a: Float32Array, C: number, n: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let c = 0; c < C; c++) for (let p = 0; p < n; p++) out[p * C + c] = a[c * n + p];
  return out;
}

/** IoU of the binary masks where the reference logit is farther than `tol` from 0 (1 when both are empty). */
function maskIou(got: Float32Array, want: Float32Array, tol: number): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < want.length; i++) {
    if (Math.abs(want[i]) <= tol) continue;
    const a = got[i] > 0;
    const b = want[i] > 0;
    if (a && b) inter++;
    if (a || b) union++;
  }
  return union === 0 ? 1 : inter / union;
}

interface Tolerance {
  iou: number;
  /** Pixels with |ref| ≤ near · max|ref| are left out of the IoU. */
  near: number;
}

/** The mask IoU bounds: prompted frames (and their stored copies) tight, tracked frames looser. */
function tolerance(v: Variant, kind: ReplayReport['kind']): Tolerance {
  const prompted = kind !== 'tracked';
  if (v.name === 'f32') return prompted ? { iou: 0.999, near: 1e-3 } : { iou: 0.999, near: 1e-2 };
  return { iou: 0.99, near: 1e-2 };
}

/** expectParity with the bounds of test/parity_bounds.json; the row goes to the summary. */
function check(name: string, v: Variant, got: Float32Array, want: Float32Array): ParityResult {
  const r = expectParity(name, v.name, got, want);
  rows.push(r);
  return r;
}

/** Compares one reported output with the fixture's fields of the same step, frame and object. */
async function compareOutput(c: string, v: Variant, fx: Fixture, r: { step: number; frame: number; objId: number; kind: ReplayReport['kind']; out: FrameOutput }): Promise<void> {
  const gpu = v.gpu;
  const tol = tolerance(v, r.kind);
  const key = (f: string) => outputName(r.step, r.frame, r.objId, f);
  expect(fx.has(key('pred_masks')), `${c}: no reference for ${key('pred_masks')}`).toBe(true);
  const masks = await gpu.read(r.out.predMasks);
  const wantMasks = await fx.f32(key('pred_masks'));
  const pm = check(`${c} ${key('pred_masks')}`, v, masks, wantMasks);
  const iou = maskIou(masks, wantMasks, tol.near * pm.maxRef);
  expect(iou, `${c} ${key('pred_masks')} (${v.name}): mask IoU`).toBeGreaterThanOrEqual(tol.iou);
  const score = await gpu.read(r.out.objectScoreLogits);
  const wantScore = await fx.f32(key('object_score_logits'));
  check(`${c} ${key('object_score_logits')}`, v, score, wantScore);
  expect(score[0] > 0, `${c} ${key('object_score_logits')}: presence`).toBe(wantScore[0] > 0);
  const ptr = check(`${c} ${key('obj_ptr')}`, v, await gpu.read(r.out.objPtr), await fx.f32(key('obj_ptr')));
  let mm = '';
  if (r.out.maskmemFeatures && fx.has(key('maskmem_features'))) {
    expect(r.out.maskmemFeatures.dtype).toBe('bf16');
    expect(r.out.maskmemFeatures.shape).toEqual([1, HW, D]);
    const want = tokenMajor(await fx.f32(key('maskmem_features')), D, HW);
    // Both sides are bf16: a value at a rounding boundary may land one bf16 step (2⁻⁸ relative) apart.
    // In f16 the binarized mask of a clicked frame flips at pixels whose logit is near 0.
    const m = check(`${c} ${key('maskmem_features')}`, v, await gpu.read(r.out.maskmemFeatures), want);
    mm = m.rel.toExponential(2);
  }
  frameRows.push(
    `| ${c} | ${v.name} | ${r.step} | ${r.frame} | ${r.objId} | ${r.kind} | ${pm.cosine.toFixed(7)} | ${pm.rel.toExponential(2)} | ${iou.toFixed(5)} | ${score[0].toFixed(3)} / ${wantScore[0].toFixed(3)} | ${ptr.cosine.toFixed(7)} | ${ptr.rel.toExponential(2)} | ${mm} |`,
  );
}

/** Replays a case and checks every output; features are encoded before the replay so that steps can be timed. */
async function replayCase(v: Variant, c: string, opts: { maxFramesPerPass?: number; steps?: number } = {}): Promise<Set<string>> {
  const b = await bench(v);
  const fx = await openFixture(`${TINY256}/video/${c}.nofill.safetensors`);
  const seen = new Set<string>();
  try {
    const model = await b.model((fx.meta.overrides ?? {}) as Record<string, number[]>);
    const steps = (fx.meta.steps ?? []).slice(0, opts.steps);
    const need = new Set<number>();
    for (const st of steps) {
      if (st.frame !== undefined) need.add(st.frame);
      for (const f of (st.frames ?? []).slice(0, opts.maxFramesPerPass)) need.add(f);
    }
    for (const f of need) await b.features(f);
    await b.gpu.sync();
    let last = performance.now();
    const replay = new Replay({
      model,
      fx,
      features: (f) => b.features(f),
      maxFramesPerPass: opts.maxFramesPerPass,
      steps: opts.steps,
      report: async (r) => {
        await b.gpu.sync();
        if (r.kind !== 'cond') b.stepMs.push(performance.now() - last);
        await compareOutput(c, v, fx, r);
        seen.add(`${r.step}.${r.frame}.${r.objId}.${r.kind}`);
        last = performance.now();
      },
    });
    try {
      await replay.run();
      // The replay ran the official processing order of every pass.
      for (const st of steps) if (st.kind === 'propagate') expect(replay.passes.get(st.step)).toEqual(st.frames);
    } finally {
      replay.release();
    }
  } finally {
    await fx.close();
  }
  return seen;
}

// ------------------------------------------------------------------------------------------ memory selection

const OFFICIAL: MemorySelectionConfig = {
  numMaskmem: cfg.numMaskmem,
  maxCondFramesInAttn: cfg.maxCondFramesInAttn,
  memoryTemporalStrideForEval: cfg.memoryTemporalStrideForEval,
  useObjPtrsInEncoder: cfg.useObjPtrsInEncoder,
  maxObjPtrsInEncoder: cfg.maxObjPtrsInEncoder,
  onlyObjPtrsInThePastForEval: cfg.onlyObjPtrsInThePastForEval,
  useSignedTposEncToObjPtrs: cfg.useSignedTposEncToObjPtrs,
};

/**
 * Choices of the official _prepare_memory_conditioned_features (sam2 1.1.0), recorded by running it with
 * stand-in tensors that carry their frame index: memories [frame, t_pos] and pointers in concatenation
 * order, the pointers' encoded distances, t_diff_max. Conditioning and non-conditioning frames are listed in
 * insertion order. `cfg` holds the options that differ from the official configs (snake_case, as recorded).
 */
const RECORDED = [
  { name: 'point frame 16', frame: 16, cond: [0], nonCond: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], numFrames: 17, reverse: false, cfg: {}, memories: [[0, 0], [10, 1], [11, 2], [12, 3], [13, 4], [14, 5], [15, 6]], pointers: [0, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1], tpos: [16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], tDiffMax: 15 },
  { name: 'early frame', frame: 2, cond: [0], nonCond: [1], numFrames: 8, reverse: false, cfg: {}, memories: [[0, 0], [1, 6]], pointers: [0, 1], tpos: [2, 1], tDiffMax: 7 },
  { name: 'reverse', frame: 1, cond: [4], nonCond: [5, 6, 7, 3, 2], numFrames: 8, reverse: true, cfg: {}, memories: [[4, 0], [7, 1], [6, 2], [5, 3], [3, 5], [2, 6]], pointers: [4, 2, 3, 5, 6, 7], tpos: [3, 1, 2, 4, 5, 6], tDiffMax: 7 },
  { name: 'reverse from the end', frame: 3, cond: [7], nonCond: [6, 5, 4], numFrames: 20, reverse: true, cfg: {}, memories: [[7, 0], [6, 4], [5, 5], [4, 6]], pointers: [7, 4, 5, 6], tpos: [4, 1, 2, 3], tDiffMax: 15 },
  { name: 'two cond frames, one ahead', frame: 3, cond: [0, 5], nonCond: [1, 2], numFrames: 8, reverse: false, cfg: {}, memories: [[0, 0], [5, 0], [1, 5], [2, 6]], pointers: [0, 2, 1], tpos: [3, 1, 2], tDiffMax: 7 },
  { name: 'two cond frames reverse', frame: 3, cond: [5, 0], nonCond: [4], numFrames: 8, reverse: true, cfg: {}, memories: [[5, 0], [0, 0], [4, 6]], pointers: [5, 4], tpos: [2, 1], tDiffMax: 7 },
  { name: 'stride 3', frame: 20, cond: [0], nonCond: Array.from({ length: 19 }, (_, i) => i + 1), numFrames: 40, reverse: false, cfg: { memory_temporal_stride_for_eval: 3 }, memories: [[0, 0], [6, 1], [9, 2], [12, 3], [15, 4], [18, 5], [19, 6]], pointers: [0, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5], tpos: [20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], tDiffMax: 15 },
  { name: 'stride 3 reverse', frame: 10, cond: [30], nonCond: Array.from({ length: 19 }, (_, i) => i + 11), numFrames: 40, reverse: true, cfg: { memory_temporal_stride_for_eval: 3 }, memories: [[30, 0], [24, 1], [21, 2], [18, 3], [15, 4], [12, 5], [11, 6]], pointers: [30, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25], tpos: [20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], tDiffMax: 15 },
  { name: 'stride 4 gaps', frame: 13, cond: [0], nonCond: [12, 8, 4, 11], numFrames: 30, reverse: false, cfg: { memory_temporal_stride_for_eval: 4 }, memories: [[0, 0], [4, 4], [8, 5], [12, 6]], pointers: [0, 12, 11, 8, 4], tpos: [13, 1, 2, 5, 9], tDiffMax: 15 },
  { name: 'max cond 2', frame: 12, cond: [0, 9, 11, 30], nonCond: [10], numFrames: 40, reverse: false, cfg: { max_cond_frames_in_attn: 2 }, memories: [[11, 0], [30, 0], [9, 4], [10, 5]], pointers: [11, 10, 9, 0], tpos: [1, 2, 3, 12], tDiffMax: 15 },
  { name: 'max cond 3 ties', frame: 10, cond: [30, 4, 16, 13, 7], nonCond: [9, 8], numFrames: 40, reverse: false, cfg: { max_cond_frames_in_attn: 3 }, memories: [[7, 0], [13, 0], [4, 0], [8, 5], [9, 6]], pointers: [7, 4, 9, 8], tpos: [3, 6, 1, 2], tDiffMax: 15 },
  { name: 'max cond 2 reverse', frame: 12, cond: [20, 14, 0, 13], nonCond: [13, 15], numFrames: 40, reverse: true, cfg: { max_cond_frames_in_attn: 2 }, memories: [[0, 0], [13, 0], [15, 4], [14, 5], [13, 6]], pointers: [13, 13, 14, 15, 20], tpos: [1, 1, 2, 3, 8], tDiffMax: 15 },
  { name: 'pointers in the future too', frame: 4, cond: [0, 8], nonCond: [1, 2, 3], numFrames: 10, reverse: false, cfg: { only_obj_ptrs_in_the_past_for_eval: false }, memories: [[0, 0], [8, 0], [1, 4], [2, 5], [3, 6]], pointers: [0, 8, 3, 2, 1], tpos: [4, -4, 1, 2, 3], tDiffMax: 9 },
  { name: 'unsigned distances', frame: 3, cond: [6, 0], nonCond: [4, 5], numFrames: 10, reverse: true, cfg: { use_signed_tpos_enc_to_obj_ptrs: false }, memories: [[6, 0], [0, 0], [5, 5], [4, 6]], pointers: [6, 4, 5], tpos: [3, 1, 2], tDiffMax: 9 },
  { name: 'few frames', frame: 3, cond: [0], nonCond: [1, 2], numFrames: 4, reverse: false, cfg: {}, memories: [[0, 0], [1, 5], [2, 6]], pointers: [0, 2, 1], tpos: [3, 1, 2], tDiffMax: 3 },
  { name: 'fewer pointers', frame: 30, cond: [0], nonCond: Array.from({ length: 29 }, (_, i) => i + 1), numFrames: 60, reverse: false, cfg: { max_obj_ptrs_in_encoder: 5 }, memories: [[0, 0], [24, 1], [25, 2], [26, 3], [27, 4], [28, 5], [29, 6]], pointers: [0, 29, 28, 27, 26], tpos: [30, 1, 2, 3, 4], tDiffMax: 4 },
  { name: 'three memories', frame: 9, cond: [0], nonCond: [1, 2, 3, 4, 5, 6, 7, 8], numFrames: 20, reverse: false, cfg: { num_maskmem: 3 }, memories: [[0, 0], [7, 1], [8, 2]], pointers: [0, 8, 7, 6, 5, 4, 3, 2, 1], tpos: [9, 1, 2, 3, 4, 5, 6, 7, 8], tDiffMax: 15 },
] as const;

const OPTION_NAMES: Record<string, keyof MemorySelectionConfig> = {
  num_maskmem: 'numMaskmem',
  max_cond_frames_in_attn: 'maxCondFramesInAttn',
  memory_temporal_stride_for_eval: 'memoryTemporalStrideForEval',
  max_obj_ptrs_in_encoder: 'maxObjPtrsInEncoder',
  only_obj_ptrs_in_the_past_for_eval: 'onlyObjPtrsInThePastForEval',
  use_signed_tpos_enc_to_obj_ptrs: 'useSignedTposEncToObjPtrs',
};

describe('memory selection (_prepare_memory_conditioned_features)', () => {
  it("frame 16 of point: the memory-attention fixture's memory frames, t_pos, pointer frames and distances", () => {
    const meta = maFx.meta as Record<string, number[] | number>;
    const nonCond = new Set(Array.from({ length: 15 }, (_, i) => i + 1));
    const sel = selectMemory(OFFICIAL, 16, [0], (f) => nonCond.has(f), 17, false);
    expect(sel.memories.map((m) => m.frame)).toEqual(meta.memory_frames);
    expect(sel.memories.map((m) => m.tPos)).toEqual(meta.memory_t_pos);
    expect(sel.pointers.map((p) => p.frame)).toEqual(meta.object_pointer_frames);
    expect(sel.pointers.map((p) => p.tpos)).toEqual(meta.object_pointer_tpos);
    expect(sel.pointers.length * (cfg.hiddenDim / D)).toBe(meta.num_obj_ptr_tokens);
    expect(sel.tDiffMax).toBe(15);
    expect(sel.memories[0].source).toBe('cond');
    expect(sel.memories.slice(1).every((m) => m.source === 'nonCond')).toBe(true);
  });

  it.each(RECORDED.map((r) => [r.name, r] as const))('%s: the official choice', (_, r) => {
    const c: MemorySelectionConfig = { ...OFFICIAL };
    for (const [k, val] of Object.entries(r.cfg)) (c as unknown as Record<string, unknown>)[OPTION_NAMES[k]] = val;
    const nonCond = new Set<number>(r.nonCond);
    const sel = selectMemory(c, r.frame, r.cond, (f) => nonCond.has(f), r.numFrames, r.reverse);
    expect(sel.memories.map((m) => [m.frame, m.tPos])).toEqual(r.memories);
    expect(sel.pointers.map((p) => p.frame)).toEqual(r.pointers);
    expect(sel.pointers.map((p) => p.tpos)).toEqual(r.tpos);
    expect(sel.tDiffMax).toBe(r.tDiffMax);
    // A frame stored in both dictionaries is read from the non-conditioning outputs, as the official.
    for (const e of [...sel.memories.filter((m) => m.tPos > 0), ...sel.pointers.slice(r.cond.length)]) {
      expect(e.source).toBe(nonCond.has(e.frame) ? 'nonCond' : 'cond');
    }
  });

  it('select_closest_cond_frames: all, or before / after / the closest, in the official order', () => {
    expect(selectClosestCondFrames(5, [9, 1, 4], -1)).toEqual({ selected: [9, 1, 4], unselected: [] });
    expect(selectClosestCondFrames(5, [9, 1, 4], 3)).toEqual({ selected: [9, 1, 4], unselected: [] });
    expect(selectClosestCondFrames(5, [9, 1, 4, 20], 2)).toEqual({ selected: [4, 9], unselected: [1, 20] });
    expect(selectClosestCondFrames(5, [9, 5, 4, 20], 3)).toEqual({ selected: [4, 5, 9], unselected: [20] });
    expect(selectClosestCondFrames(0, [3, 7, 1], 2)).toEqual({ selected: [1, 3], unselected: [7] });
    expect(() => selectClosestCondFrames(5, [1, 2, 3], 1)).toThrow(Sam2Error);
    expect(() => selectMemory(OFFICIAL, 3, [], () => true, 8, false)).toThrow(/conditioning frame/);
  });
});

// ------------------------------------------------------------------------------------------ from the stored state

/** The point case's stored outputs of frames 0..15 (conditioning frame 0), as the predictor holds them before frame 16. */
async function storedPointState(gpu: Gpu, dtype: 'f32' | 'f16', fx: Fixture): Promise<ObjectOutputDict> {
  const dict: ObjectOutputDict = { cond: new Map(), nonCond: new Map() };
  for (let f = 0; f < 16; f++) {
    const name = (field: string) => outputName(1, f, 1, field);
    const out: FrameOutput = {
      predMasks: gpu.upload(await fx.f32(name('pred_masks')), [1, 1, S / 4, S / 4], 'f32', name('pred_masks')),
      objPtr: gpu.upload(await fx.f32(name('obj_ptr')), [1, cfg.hiddenDim], dtype, name('obj_ptr')),
      objectScoreLogits: gpu.upload(await fx.f32(name('object_score_logits')), [1, 1], 'f32', name('object_score_logits')),
      maskmemFeatures: gpu.upload(tokenMajor(await fx.f32(name('maskmem_features')), D, HW), [1, HW, D], 'bf16', name('maskmem_features')),
    };
    (f === 0 ? dict.cond : dict.nonCond).set(f, out);
  }
  return dict;
}

function releaseDict(d: ObjectOutputDict): void {
  for (const m of [d.cond, d.nonCond]) {
    for (const o of m.values()) for (const t of [o.predMasks, o.objPtr, o.objectScoreLogits, o.maskmemFeatures]) t?.release();
  }
}

describe('frame 16 of point from the stored state (7 memories, 16 pointers)', () => {
  it("the assembled memory is the memory-attention fixture's memory and memory_pos (every variant)", async () => {
    const fx = await openFixture(`${TINY256}/video/point.nofill.safetensors`);
    try {
      const wantMem = await maFx.f32('memory');
      const wantPos = await maFx.f32('memory_pos');
      for (const v of vs) {
        const b = await bench(v);
        const model = await b.model();
        const dict = await storedPointState(v.gpu, b.dtype, fx);
        const m = model.assembleMemory(16, dict, 17, false, [H, H]);
        expect(m.memory.shape).toEqual([1, 7 * HW + 64, D]);
        expect(m.memory.dtype).toBe(b.dtype);
        expect(m.numObjPtrTokens).toBe(64);
        const mem = await v.gpu.read(m.memory);
        if (v.name === 'f32') expect(Array.from(mem)).toEqual(Array.from(wantMem));
        else check('memory', v, mem, wantMem);
        check('memory_pos', v, await v.gpu.read(m.memoryPos), wantPos);
        m.memory.release();
        m.memoryPos.release();
        releaseDict(dict);
      }
    } finally {
      await fx.close();
    }
  });

  it('trackStep on frame 16 matches the official outputs (every variant)', async () => {
    const fx = await openFixture(`${TINY256}/video/point.nofill.safetensors`);
    try {
      for (const v of vs) {
        const b = await bench(v);
        const model = await b.model();
        const dict = await storedPointState(v.gpu, b.dtype, fx);
        const features = await b.features(16);
        const out = model.trackStep({ frameIdx: 16, isInitCondFrame: false, features, outputs: dict, numFrames: 17, reverse: false, runMemEncoder: true });
        expect(out.predMasks.shape).toEqual([1, 1, S / 4, S / 4]);
        expect(out.predMasksHighRes.shape).toEqual([1, 1, S, S]);
        expect([out.predMasks.dtype, out.predMasksHighRes.dtype, out.objectScoreLogits.dtype, out.objPtr.dtype]).toEqual(['f32', 'f32', 'f32', b.dtype]);
        // One step from the official state: the prompted-frame tolerance.
        await compareOutput('point (stored state)', v, fx, { step: 1, frame: 16, objId: 1, kind: 'cond', out });
        for (const t of [out.predMasks, out.predMasksHighRes, out.objPtr, out.objectScoreLogits, out.maskmemFeatures!]) t.release();
        releaseDict(dict);
      }
    } finally {
      await fx.close();
    }
  });
});

// ------------------------------------------------------------------------------------------ video cases

describe('video cases replayed through trackStep (f32)', () => {
  const f32 = (): Variant => vs.find((v) => v.name === 'f32')!;

  it('point: the click, then 8 tracked frames forward with the bf16 memories', async () => {
    const seen = await replayCase(f32(), 'point', { maxFramesPerPass: 9 });
    expect([...seen].filter((k) => k.endsWith('tracked')).length).toBe(8);
  });

  it('reverse: click on frame 4, forward 4–7, then in reverse 4–0 (signed pointer distances)', async () => {
    const seen = await replayCase(f32(), 'reverse');
    expect(seen.has('2.0.1.tracked')).toBe(true);
  });

  it('absent: mask-prompted object present then absent, clicked object absent throughout (both gating branches)', async () => {
    const seen = await replayCase(f32(), 'absent');
    expect(seen.size).toBe(2 + 16);
  });

  it('midtrack: a second conditioning frame, re-tracking, a correction click with the previous logits', async () => {
    await replayCase(f32(), 'midtrack');
  });

  it('late_object: memories without pointers and a future conditioning frame', async () => {
    await replayCase(f32(), 'late_object', { maxFramesPerPass: 5 });
  });

  it('points_pos_neg, box, mask: single-mask output with the stability fallback, box corners, mask as output', async () => {
    for (const c of ['points_pos_neg', 'box', 'mask']) await replayCase(f32(), c, { maxFramesPerPass: 3 });
  });
});

describe('SAM 2.0 memory options (configs256/sam2_hiera_t: no pointer temporal encoding, no no_obj_embed_spatial)', () => {
  it('click on frame 0, then frames 1–2 tracked (f32)', async () => {
    const v = vs.find((x) => x.name === 'f32')!;
    const gpu = v.gpu;
    const name = 'sam2_hiera_t';
    const c20 = sam2Config('tiny', '2.0', { imageSize: S });
    expect([c20.addTposEncToObjPtrs, c20.noObjEmbedSpatial, c20.useSignedTposEncToObjPtrs]).toEqual([false, false, false]);
    const fx = await openFixture(`${CONFIGS256}/${name}.safetensors`);
    const manifest = getManifest(name);
    const weights = await loadWeights(syntheticWeights(manifest), { gpu, dtype: 'f32', manifest });
    const model = await SAM2Base.create({ gpu, weights }, c20);
    const u8 = frames;
    const feats = new Map<number, ImageFeatures>();
    const replay = new Replay({
      model,
      fx,
      features: async (f) => {
        let x = feats.get(f);
        if (!x) {
          const t = gpu.upload(normalizeFrames(u8.subarray(f * S * S * 3, (f + 1) * S * S * 3), 1, S), [1, 3, S, S]);
          x = model.imageEncoder.encode(t);
          t.release();
          feats.set(f, x);
        }
        return x;
      },
      report: (r) => compareOutput(name, v, fx, r),
    });
    try {
      await replay.run();
      expect(replay.passes.get(1)).toEqual([0, 1, 2]);
    } finally {
      replay.release();
      for (const f of feats.values()) f.release();
      model.release();
      weights.release();
      await fx.close();
    }
  });
});

describe('video cases in f16 (fewer frames)', () => {
  it('point (click + 3 tracked frames) and absent (3 frames) in every f16 variant', async () => {
    for (const v of vs.filter((x) => x.name !== 'f32')) {
      await replayCase(v, 'point', { maxFramesPerPass: 4 });
      await replayCase(v, 'absent', { maxFramesPerPass: 3 });
      // The f16 variants' features are not needed by later tests.
      benches.get(v.name)?.release();
      benches.delete(v.name);
    }
  });
});

// ------------------------------------------------------------------------------------------ kernels and errors

describe('tracking-step kernels', () => {
  it('memoryBankEntry: + no_obj_embed_spatial where absent, bf16 token-major, in one pass (every variant)', async () => {
    const [B, C, h, w] = [2, 64, 6, 5];
    for (const v of vs) {
      const gpu = v.gpu;
      const x = asStored(v, rand(B * C * h * w, 7, -3, 3));
      const e = asStored(v, rand(C, 8));
      const feats = gpu.upload(x, [B, C, h, w], v.dtype);
      const noObj = gpu.upload(e, [1, C], v.dtype);
      const score = gpu.upload([0.25, -0.5], [B, 1], 'f32');
      const got = memoryBankEntry(gpu, feats, score, noObj);
      const plain = memoryBankEntry(gpu, feats, score, null);
      expect(got.shape).toEqual([B, h * w, C]);
      expect(got.dtype).toBe('bf16');
      // The official order: maskmem_features += (1 − present) · no_obj_embed_spatial in f32, then .to(bfloat16).
      const want = new Float32Array(x.length);
      const wantPlain = new Float32Array(x.length);
      for (let b = 0; b < B; b++) {
        for (let c = 0; c < C; c++) {
          for (let t = 0; t < h * w; t++) {
            const xv = x[(b * C + c) * h * w + t];
            const o = (b * h * w + t) * C + c;
            want[o] = bf16BitsToF32(f32ToBf16Bits(Math.fround(xv + Math.fround((b === 0 ? 0 : 1) * e[c]))));
            wantPlain[o] = bf16BitsToF32(f32ToBf16Bits(xv));
          }
        }
      }
      expect(Array.from(await gpu.read(got))).toEqual(Array.from(want));
      expect(Array.from(await gpu.read(plain))).toEqual(Array.from(wantPlain));
      if (v.name === 'f32') {
        // The same values as the memory encoder's two-step helpers.
        const scoreAct = gpu.upload([0.25, -0.5], [B, 1], v.dtype);
        const ref = addNoObjectEmbedding(gpu, feats, scoreAct, noObj);
        const bank = toMemoryBank(gpu, ref);
        expect(Array.from(await gpu.read(bank))).toEqual(Array.from(want));
        for (const t of [scoreAct, ref, bank]) t.release();
      }
      for (const t of [feats, noObj, score, got, plain]) t.release();
    }
  });

  it('clamp and object-score gating of masks', async () => {
    const { main: gpu } = await testGpus();
    const x = rand(2 * 40, 3, -50, 50);
    const xt = gpu.upload(x, [2, 1, 5, 8]);
    const c = await gpu.read(clampToF32(gpu, xt, -32, 32));
    expect(Array.from(c)).toEqual(Array.from(x, (a) => Math.fround(Math.min(Math.max(a, -32), 32))));
    const score = gpu.upload([-0.1, 3], [2, 1]);
    const g = await gpu.read(gateMasks(gpu, xt, score));
    expect(Array.from(g)).toEqual([...new Array(40).fill(NO_OBJ_SCORE), ...x.subarray(40)]);
    const zero = gpu.upload([0, 1e-30], [2, 1]);
    const g0 = await gpu.read(gateMasks(gpu, xt, zero));
    // A score of exactly 0 is absent (object_score_logits > 0 is the test).
    expect(Array.from(g0)).toEqual([...new Array(40).fill(NO_OBJ_SCORE), ...x.subarray(40)]);
    const off = await gpu.read(gateMasks(gpu, xt, score, false));
    expect(Array.from(off)).toEqual(Array.from(x));
    for (const t of [xt, score, zero]) t.release();
  });

  it('typed errors: wrong features, a stored output without memory, no conditioning frame', async () => {
    const v = vs.find((x) => x.name === 'f32')!;
    const b = await bench(v);
    const model = await b.model();
    const gpu = v.gpu;
    const features = await b.features(0);
    const empty: ObjectOutputDict = { cond: new Map(), nonCond: new Map() };
    const base = { frameIdx: 1, isInitCondFrame: false, features, outputs: empty, numFrames: 8, reverse: false, runMemEncoder: false };
    expect(() => model.trackStep(base)).toThrow(/conditioning frame/);
    const out: FrameOutput = {
      predMasks: gpu.upload(new Float32Array((S / 4) ** 2), [1, 1, S / 4, S / 4]),
      objPtr: gpu.upload(new Float32Array(256), [1, 256]),
      objectScoreLogits: gpu.upload([1], [1, 1]),
      maskmemFeatures: null,
    };
    expect(() => model.trackStep({ ...base, outputs: { cond: new Map([[0, out]]), nonCond: new Map() } })).toThrow(/no memory yet/);
    const wrong = { ...features, visionTokens: features.highRes[1] } as unknown as ImageFeatures;
    expect(() => model.trackStep({ ...base, features: wrong })).toThrow(ShapeError);
    expect(() => model.trackStep({ ...base, isInitCondFrame: true, pointInputs: { coords: new Float32Array(3), labels: new Int32Array(1) } })).toThrow(/point coordinates/);
    const badMask = gpu.upload(new Float32Array(64 * 64), [1, 1, 64, 64]);
    expect(() => model.trackStep({ ...base, isInitCondFrame: true, maskInputs: badMask })).toThrow(ShapeError);
    for (const t of [out.predMasks, out.objPtr, out.objectScoreLogits, badMask]) t.release();
  });
});
