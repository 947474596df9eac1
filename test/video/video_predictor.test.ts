/**
 * Whole SAM2VideoPredictor runs against the official predictor's recorded runs (test/fixtures/tiny256/video:
 * sam2.1_hiera_t at image size 256 on the bedroom frames; see test/fixtures/README.md). Each case replays
 * the recorded calls — prompts, mask prompts, propagation forward and in reverse, a prompt added mid-track
 * and a correction click — and compares every recorded output: low-res logits, object scores, object
 * pointers and the video-resolution masks.
 *
 * Tolerances (issue "Video predictor"): video-resolution mask IoU ≥ 0.999 (f32) / ≥ 0.99 (f16); logits
 * max|Δ| ≤ 1e-2 · max|ref| on propagated frames; the first prompt of a case, which depends on no memory, at
 * the module bounds (cosine ≥ 0.99999, max|Δ| ≤ 1e-3 · max|ref|). The engine reads the official loader's
 * own resized frame bytes (frames.safetensors), so JPEG decoding differences are kept out of the comparison.
 */
import { describe, expect, it } from 'vitest';
import type { FrameSource } from '../../src/io/frames.js';
import { sam2Config } from '../../src/model/config.js';
import { getManifest } from '../../src/model/manifests.js';
import { SAM2Base } from '../../src/model/sam2_base.js';
import { SAM2VideoPredictor, type FrameResult, type InferenceState } from '../../src/model/video_predictor.js';
import { loadWeights } from '../../src/model/weights.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { syntheticTensors } from '../../weights/synthetic.js';
import { openFixture, outputName, TINY256, type Fixture, type VideoStep } from '../fixtures/reader.js';
import { testGpus } from '../helpers.js';
import { parity } from '../model/parity.js';

const S = 256;

async function fixtureFrames(): Promise<Uint8Array> {
  const f = await openFixture(`${TINY256}/frames.safetensors`);
  const b = await f.bytes('frames_u8');
  await f.close();
  return b;
}

/** The recorded video (960×540) whose frames come as the official loader resized them. */
function fixtureSource(u8: Uint8Array, count: number): FrameSource {
  return {
    count,
    width: 960,
    height: 540,
    description: `fixture frames (${count})`,
    async get() {
      throw new Error('the fixture source only provides resized frames');
    },
    async resized(index, size) {
      if (size !== S) return undefined;
      return u8.subarray(index * S * S * 3, (index + 1) * S * S * 3);
    },
    close() {},
  };
}

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

function iou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0;
  let uni = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] !== 0;
    const y = b[i] !== 0;
    if (x && y) inter++;
    if (x || y) uni++;
  }
  return uni === 0 ? 1 : inter / uni;
}

interface Row {
  name: string;
  cosine: number;
  rel: number;
  iou?: number;
}

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
  variant: 'f32' | 'f16',
  strict: boolean,
  rows: Row[],
  onlyObj?: number,
): Promise<void> {
  for (let k = 0; k < r.objIds.length; k++) {
    const id = r.objIds[k];
    const name = (field: string) => outputName(step, r.frameIdx, id, field);
    const checkBits = async () => {
    const bitsName = name('video_res_masks.bits');
      if (fx.has(bitsName)) {
        const ref = await fx.mask(bitsName);
        const v = iou(r.masks[k], ref.data);
        rows.push({ name: bitsName, cosine: NaN, rel: NaN, iou: v });
        expect(v, `${fx.path}: ${bitsName} IoU`).toBeGreaterThanOrEqual(variant === 'f32' ? 0.999 : 0.99);
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
      const p = parity(name(field), variant, got, ref);
      rows.push({ name: p.name, cosine: p.cosine, rel: p.rel });
      if (variant === 'f32') {
        if (strict) {
          expect(p.cosine, `${p.name} cosine`).toBeGreaterThanOrEqual(0.99999);
          expect(p.rel, `${p.name} max rel`).toBeLessThanOrEqual(1e-3);
        } else {
          expect(p.rel, `${p.name} max rel`).toBeLessThanOrEqual(1e-2);
        }
      } else {
        expect(p.cosine, `${p.name} cosine`).toBeGreaterThanOrEqual(0.999);
      }
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
        const v = iou(Uint8Array.from(a), Uint8Array.from(b));
        expect(v, `${p.name} mask IoU`).toBeGreaterThanOrEqual(variant === 'f32' ? 0.999 : 0.99);
      }
    }
    await checkBits();
  }
}

/** Replays a recorded case; `maxPropagated` stops long propagations early (forward tracking is causal). */
async function replay(gpu: Gpu, variant: 'f32' | 'f16', file: string, u8: Uint8Array, maxPropagated = Infinity): Promise<Row[]> {
  const fx = await openFixture(`${TINY256}/video/${file}.safetensors`);
  const meta = fx.meta as unknown as {
    steps: VideoStep[];
    num_frames: number;
    fill_holes: string;
    overrides: Record<string, number[]>;
    predictor_options?: string[];
  };
  // meta.fill_holes describes the run: 'filled: ...' or 'nofill: ...'.
  const predictor = await makePredictor(gpu, variant, meta.fill_holes.startsWith('filled'), meta.overrides ?? {}, meta.predictor_options ?? []);
  const state = await predictor.initState(fixtureSource(u8, meta.num_frames));
  const rows: Row[] = [];
  let firstPrompt = true;
  try {
    for (const s of meta.steps) {
      if (s.kind === 'propagate') {
        let n = 0;
        const gen = predictor.propagateInVideo(state, {
          startFrameIdx: s.start_frame_idx ?? undefined,
          maxFrameNumToTrack: s.max_frame_num_to_track ?? undefined,
          reverse: s.reverse ?? false,
        });
        for await (const r of gen) {
          await compareFrame(fx, gpu, state, s.step, r, variant, false, rows);
          if (++n >= maxPropagated) {
            await gen.return(undefined);
            break;
          }
        }
        firstPrompt = false;
        continue;
      }
      let r: FrameResult;
      if (s.kind === 'mask') {
        const m = await fx.mask(s.mask!);
        r = await predictor.addNewMask(state, { frameIdx: s.frame!, objId: s.obj_id!, mask: m.data });
      } else {
        r = await predictor.addNewPointsOrBox(state, {
          frameIdx: s.frame!,
          objId: s.obj_id!,
          points: (s.points ?? undefined) as Array<[number, number]> | undefined,
          labels: s.labels ?? undefined,
          box: (s.box ?? undefined) as [number, number, number, number] | undefined,
          clearOldPoints: s.clear_old_points,
          normalizeCoords: s.normalize_coords,
        });
      }
      await compareFrame(fx, gpu, state, s.step, r, variant, firstPrompt && s.storage === 'cond_frame_outputs', rows, s.obj_id);
    }
  } finally {
    predictor.closeState(state);
    predictor.model.release();
    await fx.close();
  }
  return rows;
}

function report(label: string, rows: Row[]): void {
  const worst = rows.filter((r) => Number.isFinite(r.rel)).reduce((a, r) => Math.max(a, r.rel), 0);
  const minCos = rows.filter((r) => Number.isFinite(r.cosine)).reduce((a, r) => Math.min(a, r.cosine), 1);
  const ious = rows.filter((r) => r.iou !== undefined).map((r) => r.iou!);
  console.log(
    `${label}: ${rows.length} comparisons, min cosine ${minCos.toFixed(6)}, max rel ${worst.toExponential(2)}` +
      (ious.length ? `, min video-res IoU ${Math.min(...ious).toFixed(5)} (${ious.length} masks)` : ''),
  );
}

describe('SAM2VideoPredictor against the official predictor', async () => {
  const u8 = await fixtureFrames();
  const { main } = await testGpus();
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
  ];
  for (const [file, n] of cases) {
    it(`${file} (f32)`, async () => {
      report(`${file} f32`, await replay(main, 'f32', file, u8, n));
    });
  }
  for (const file of ['point.nofill', 'two_objects.nofill']) {
    it(`${file} (f16)`, async ({ skip }) => {
      skip(!main.info.features.f16, 'the adapter lacks shader-f16');
      report(`${file} f16`, await replay(main, 'f16', file, u8, 4));
    });
  }
});
