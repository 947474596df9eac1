/**
 * Whole SAM2VideoPredictor runs against the official predictor's recorded runs (test/fixtures/tiny256/video:
 * sam2.1_hiera_t at image size 256 on the bedroom frames; see test/fixtures/README.md). Each case replays
 * the recorded calls — prompts, mask prompts, propagation forward and in reverse, a prompt added mid-track,
 * a correction click, and (the 30-frame `session` case) clear_all_prompts_in_frame, remove_object and
 * reset_state — and compares every recorded output: low-res logits, object scores, object pointers, the
 * video-resolution masks, the object ids and the frames each call returned.
 *
 * Bounds: every low-res logit, object score and object pointer at the bounds of test/parity_bounds.json
 * (max|Δ|/max|ref| and cosine, per check and variant, derived from the measured error); video-resolution mask
 * IoU ≥ 0.999 (f32) / ≥ 0.99 (f16, f16packed); low-res mask sign IoU (away from 0) ≥ 0.999 (f32) / ≥ 0.99
 * (f16 variants). The engine reads the official loader's own resized frame bytes (fixtureFrames()), and,
 * once, the JPEG files themselves (the user's path: the engine's PIL-exact decode and resize), with the same
 * checks and bounds.
 */
import { describe, expect, it } from 'vitest';
import type { FrameSource } from '../../src/io/frames.js';
import { sam2Config } from '../../src/checkpoint/config.js';
import { getManifest } from '../../src/checkpoint/manifests.js';
import { SAM2Base } from '../../src/model/sam2_base.js';
import { SAM2VideoPredictor, type FrameResult, type InferenceState } from '../../src/model/video_predictor.js';
import { loadWeights } from '../../src/checkpoint/weights.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { syntheticTensors } from '../../src/checkpoint/synthetic.js';
import { fixtureFrames, fixtureSource, openFixture, outputName, pointsPrompt, SESSION_CASE, TINY256, type Fixture, type VideoStep } from '../fixtures/reader.js';
import { maskIou, testGpus } from '../helpers.js';
import { expectParity } from '../model/parity.js';

const S = 256;

type VariantName = 'f32' | 'f16' | 'f16packed';

async function makePredictor(
  gpu: Gpu,
  dtype: 'f32' | 'f16',
  fill: boolean,
  overrides: Record<string, number[]>,
  options: readonly string[] = [],
): Promise<SAM2VideoPredictor> {
  const manifest = getManifest('sam2.1_hiera_t');
  const pairs = (function* () {
    for (const t of syntheticTensors(manifest, overrides)) yield [t.name, { shape: [...t.shape], data: t.data }] as const;
  })();
  const weights = await loadWeights(pairs, { gpu, dtype, expectConfig: 'sam2.1_hiera_t' });
  const base = sam2Config('tiny', '2.1', { imageSize: S });
  const model = await SAM2Base.create({ gpu, weights }, { ...base, fillHoleArea: fill ? 8 : 0 });
  return new SAM2VideoPredictor(model, {
    clearNonCondMemAroundInput: options.includes('++model.clear_non_cond_mem_around_input=true'),
    addAllFramesToCorrectAsCond: options.includes('++model.add_all_frames_to_correct_as_cond=true'),
  });
}

interface Row {
  name: string;
  cosine: number;
  rel: number;
  /** Video-resolution mask IoU. */
  iou?: number;
  /** Low-res mask sign IoU away from the decision boundary. */
  lowIou?: number;
}

/** Tensor fields a replay compares; every recorded one must be compared when a case runs to its end. */
const COMPARED = ['pred_masks', 'object_score_logits', 'obj_ptr', 'video_res_masks.bits'];

/** The stored output of object k on a frame (temporary outputs of a prompt first). */
function storedOutput(state: InferenceState, k: number, frame: number) {
  const o = state.objects[k];
  return o.temp.cond.get(frame) ?? o.temp.nonCond.get(frame) ?? o.output.cond.get(frame) ?? o.output.nonCond.get(frame);
}

async function compareFrame(
  fx: Fixture,
  gpu: Gpu,
  state: InferenceState,
  step: number,
  r: FrameResult,
  variant: VariantName,
  rows: Row[],
  compared: Set<string>,
  onlyObj?: number,
): Promise<void> {
  const label = fx.path.split('/').pop()!.replace(/\.safetensors$/, '');
  for (let k = 0; k < r.objIds.length; k++) {
    const id = r.objIds[k];
    const name = (field: string) => outputName(step, r.frameIdx, id, field);
    const checkBits = async () => {
      const bitsName = name('video_res_masks.bits');
      if (fx.has(bitsName)) {
        const ref = await fx.mask(bitsName);
        const v = maskIou(r.masks[k], ref.data);
        compared.add(bitsName);
        rows.push({ name: `${label} ${bitsName}`, cosine: NaN, rel: NaN, iou: v });
        expect(v, `${label} ${bitsName} IoU`).toBeGreaterThanOrEqual(variant === 'f32' ? 0.999 : 0.99);
      }
    };
    if ((onlyObj !== undefined && id !== onlyObj) || !fx.has(name('pred_masks'))) {
      await checkBits();
      continue;
    }
    const out = storedOutput(state, k, r.frameIdx);
    expect(out, `${name('pred_masks')}: no stored output`).toBeDefined();
    for (const [field, t] of [
      ['pred_masks', out!.predMasks],
      ['object_score_logits', out!.objectScoreLogits],
      ['obj_ptr', out!.objPtr],
    ] as const) {
      const ref = await fx.f32(name(field));
      const got = await gpu.read(t);
      // The bounds of test/parity_bounds.json (the check's name carries the case, step, frame and object).
      const p = expectParity(`${label} ${name(field)}`, variant, got, ref);
      compared.add(name(field));
      const row: Row = { name: p.name, cosine: p.cosine, rel: p.rel };
      rows.push(row);
      if (field === 'pred_masks') {
        // Sign agreement of the low-res masks away from the decision boundary.
        let maxRef = 0;
        for (const v of ref) maxRef = Math.max(maxRef, Math.abs(v));
        const eps = (variant === 'f32' ? 1e-2 : 5e-2) * maxRef;
        const a: number[] = [];
        const b: number[] = [];
        for (let i = 0; i < ref.length; i++) {
          if (Math.abs(ref[i]) <= eps) continue;
          a.push(got[i] > 0 ? 1 : 0);
          b.push(ref[i] > 0 ? 1 : 0);
        }
        const v = maskIou(Uint8Array.from(a), Uint8Array.from(b));
        row.lowIou = v;
        expect(v, `${p.name} mask IoU`).toBeGreaterThanOrEqual(variant === 'f32' ? 0.999 : 0.99);
      }
    }
    await checkBits();
  }
}

/**
 * Replays a recorded case; `maxPropagated` stops each propagation early (forward tracking is causal), which
 * only the short replays use. Returns the comparison rows; checks that every recorded output was compared when
 * the case ran to its end.
 */
async function replay(
  gpu: Gpu,
  variant: VariantName,
  file: string,
  u8: Uint8Array,
  maxPropagated = Infinity,
  source?: (numFrames: number) => Promise<FrameSource>,
): Promise<Row[]> {
  const fx = await openFixture(`${TINY256}/video/${file}.safetensors`);
  const meta = fx.meta as unknown as {
    steps: VideoStep[];
    num_frames: number;
    fill_holes: string;
    overrides: Record<string, number[]>;
    predictor_options?: string[];
  };
  // meta.fill_holes describes the run: 'filled: ...' or 'nofill: ...'.
  const dtype = variant === 'f32' ? 'f32' : 'f16';
  const predictor = await makePredictor(gpu, dtype, meta.fill_holes.startsWith('filled'), meta.overrides ?? {}, meta.predictor_options ?? []);
  // Two cached frames spare a re-encoding where a prompt precedes a pass starting on another frame (features are
  // a pure function of the frame: the official predictor, which caches one, computes the same ones again).
  const frames = source ? await source(meta.num_frames) : fixtureSource(u8, meta.num_frames);
  const state = await predictor.initState(frames, { featureCacheFrames: 2 });
  const rows: Row[] = [];
  const compared = new Set<string>();
  let truncated = false;
  try {
    for (const s of meta.steps) {
      const where = `${fx.path} step ${s.step} (${s.kind})`;
      if (s.kind === 'propagate') {
        const frames: number[] = [];
        const gen = predictor.propagateInVideo(state, {
          startFrameIdx: s.start_frame_idx ?? undefined,
          maxFrameNumToTrack: s.max_frame_num_to_track ?? undefined,
          reverse: s.reverse ?? false,
        });
        for await (const r of gen) {
          expect(r.objIds, `${where}: object ids`).toEqual(s.obj_ids);
          await compareFrame(fx, gpu, state, s.step, r, variant, rows, compared);
          frames.push(r.frameIdx);
          if (frames.length >= maxPropagated) {
            await gen.return(undefined);
            break;
          }
        }
        if (frames.length < s.frames!.length) truncated = true;
        expect(frames, `${where}: frames`).toEqual(s.frames!.slice(0, frames.length));
        continue;
      }
      if (s.kind === 'reset_state') {
        predictor.resetState(state);
        expect(state.objIds, `${where}: object ids`).toEqual([]);
        continue;
      }
      if (s.kind === 'remove_object') {
        const { objIds, updated } = await predictor.removeObject(state, s.obj_id!, { strict: s.strict ?? false });
        expect(objIds, `${where}: object ids`).toEqual(s.obj_ids);
        expect(updated.map((r) => r.frameIdx), `${where}: updated frames`).toEqual(s.frames);
        for (const r of updated) await compareFrame(fx, gpu, state, s.step, r, variant, rows, compared);
        continue;
      }
      let r: FrameResult;
      if (s.kind === 'clear_all_prompts_in_frame') {
        r = await predictor.clearAllPromptsInFrame(state, s.frame!, s.obj_id!);
      } else if (s.kind === 'mask') {
        const m = await fx.mask(s.mask!);
        r = await predictor.addNewMask(state, { frameIdx: s.frame!, objId: s.obj_id!, mask: m.data });
      } else {
        r = await predictor.addNewPointsOrBox(state, pointsPrompt(s));
      }
      expect(r.frameIdx, `${where}: frame`).toBe(s.frame);
      expect(r.objIds, `${where}: object ids`).toEqual(s.obj_ids);
      await compareFrame(fx, gpu, state, s.step, r, variant, rows, compared, s.obj_id);
    }
    if (!truncated) {
      const missed = fx.names.filter((n) => COMPARED.some((f) => n.endsWith(`.${f}`)) && n.startsWith('step') && !compared.has(n));
      expect(missed, `${fx.path}: recorded outputs the replay never produced`).toEqual([]);
    }
  } finally {
    predictor.closeState(state);
    predictor.model.release();
    await fx.close();
  }
  return rows;
}

/** One summary row per replay and variant: worst cosine, worst max|Δ|/max|ref|, worst mask IoUs. */
function report(label: string, rows: Row[], ms: number): void {
  const worst = rows.filter((r) => Number.isFinite(r.rel)).reduce((a, r) => Math.max(a, r.rel), 0);
  const minCos = rows.filter((r) => Number.isFinite(r.cosine)).reduce((a, r) => Math.min(a, r.cosine), 1);
  const low = rows.filter((r) => r.lowIou !== undefined).map((r) => r.lowIou!);
  const ious = rows.filter((r) => r.iou !== undefined).map((r) => r.iou!);
  console.log(
    `${label}: ${rows.length} comparisons, min cosine ${minCos.toFixed(6)}, max rel ${worst.toExponential(2)}` +
      (low.length ? `, min low-res mask IoU ${Math.min(...low).toFixed(5)} (${low.length} masks)` : '') +
      (ious.length ? `, min video-res IoU ${Math.min(...ious).toFixed(5)} (${ious.length} masks)` : '') +
      `, ${(ms / 1000).toFixed(1)} s`,
  );
}

describe('SAM2VideoPredictor against the official predictor', async () => {
  const u8 = await fixtureFrames();
  const { main, packed } = await testGpus();
  const hasF16 = main.info.features.f16;
  const cases: Array<[string, number]> = [
    ['point.nofill', 8],
    ['point.filled', 8],
    ['points_pos_neg.nofill', 8],
    ['box.nofill', 8],
    ['mask.nofill', 8],
    ['two_objects.nofill', 8],
    ['late_object.nofill', 8],
    ['midtrack.nofill', 8],
    ['midtrack.filled', 8],
    ['midtrack_clear.nofill', 8],
    ['midtrack_correct_cond.nofill', 8],
    ['reverse.nofill', 8],
    ['absent.nofill', 8],
    // 30 frames, every frame of every propagation: tracking past the full memory bank (bounded in the engine),
    // a second object added after tracking, clear_all_prompts_in_frame, remove_object, reset_state
    [`${SESSION_CASE}.nofill`, Infinity],
  ];
  const run = async (variant: VariantName, gpu: Gpu, file: string, n: number) => {
    const t0 = performance.now();
    const rows = await replay(gpu, variant, file, u8, n);
    report(`${file} ${variant}`, rows, performance.now() - t0);
  };
  for (const [file, n] of cases) {
    it(`${file} (f32)`, async () => {
      await run('f32', main, file, n);
    });
  }
  // The user's path: the JPEG files themselves, decoded (as PIL decodes them) and resized by the engine, not
  // the reference's resized bytes; the same checks and bounds as the replay above.
  it('point.nofill from the JPEG frames (f32)', async () => {
    // Node only (the browser suite runs the listed cases): imported here, since frame folders read node:fs.
    const { openFrameFolder } = await import('../../src/io/frames.js');
    const folder = await openFrameFolder('samples/bedroom');
    const firstFrames = async (count: number): Promise<FrameSource> => ({
      count,
      width: folder.width,
      height: folder.height,
      description: `the first ${count} frames of ${folder.description}`,
      get: (index) => folder.get(index),
      close() {},
    });
    try {
      const t0 = performance.now();
      const rows = await replay(main, 'f32', 'point.nofill', u8, 8, firstFrames);
      report('point.nofill f32, from the JPEG frames', rows, performance.now() - t0);
    } finally {
      folder.close();
    }
  });
  // The f16 variants: the first 4 frames of each propagation of two short cases, and the whole session.
  const f16Cases: Array<[string, number]> = [
    ['point.nofill', 4],
    ['two_objects.nofill', 4],
    [`${SESSION_CASE}.nofill`, Infinity],
  ];
  for (const [file, n] of f16Cases) {
    it(`${file} (f16)`, async ({ skip }) => {
      skip(!hasF16, 'the adapter lacks shader-f16');
      await run('f16', main, file, n);
    });
    it(`${file} (f16packed)`, async () => {
      await run('f16packed', packed, file, n);
    });
  }
});
