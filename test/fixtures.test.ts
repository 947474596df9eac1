/**
 * The reference fixtures are complete and consistent: every file opens, carries its description, and holds
 * the tensors test/fixtures/README.md promises (names, dtypes, shapes). A few properties of the official
 * behaviour are checked on the stored data itself: the float input is a pure function of the stored uint8
 * frames, mask memories carry bf16 rounding, both branches of the object-score gating occur, filled holes
 * differ from the unfilled run only by 0.1 on former background, the committed total stays under 40 MB.
 * No GPU and no torch needed.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CONFIGS256,
  FIXTURES_DIR,
  fixtureExists,
  fixtureFrames,
  normalizeFrames,
  openFixture,
  outputName,
  TINY1024,
  TINY256,
  VIDEO_CASES,
  type Fixture,
  type FixtureMeta,
  type VideoStep,
} from './fixtures/reader.js';
import { syntheticTensor } from '../src/checkpoint/synthetic.js';
import { f32ToBf16Bits } from '../src/runtime/dtype.js';
import type { SafetensorsDType } from '../src/runtime/safetensors.js';
import { CONFIG_NAMES } from '../src/checkpoint/manifest_check.js';

const S = 256; // image size of the committed fixtures
const Q = S / 4; // low-res mask size
const E = S / 16; // image-embedding size
const VIDEO_H = 540;
const VIDEO_W = 960;
const NO_OBJ_SCORE = -1024;



type Expect = Record<string, { dtype: SafetensorsDType; shape: number[] }>;
/** The storage policy of tools/reference/fixture_io.py: float tensors are F32 unless a case asks for F16. */
const out = (shape: number[]) => ({ dtype: 'f32' as const, shape });
const inp = (shape: number[]) => ({ dtype: 'f32' as const, shape });
const i32 = (shape: number[]) => ({ dtype: 'i32' as const, shape });

const open: Fixture[] = [];
async function load(path: string): Promise<Fixture> {
  const f = await openFixture(path);
  open.push(f);
  return f;
}
afterAll(async () => {
  await Promise.all(open.map((f) => f.close()));
});

function checkTensors(f: Fixture, expected: Expect, exact = true): void {
  const missing = Object.keys(expected).filter((n) => !f.has(n));
  expect(missing, `${relative(FIXTURES_DIR, f.path)}: missing tensors`).toEqual([]);
  for (const [name, e] of Object.entries(expected)) {
    const info = f.info(name);
    expect({ name, dtype: info.dtype, shape: [...info.shape] }).toEqual({ name, ...e });
  }
  if (exact) {
    const extra = f.names.filter((n) => !(n in expected));
    expect(extra, `${relative(FIXTURES_DIR, f.path)}: undocumented tensors`).toEqual([]);
  }
}

function checkMeta(meta: FixtureMeta, config = 'sam2.1_hiera_t', size = S): void {
  expect(meta.config).toBe(config);
  expect(meta.image_size).toBe(size);
}

// ------------------------------------------------------------------------------------------------ modules
describe('module fixtures (tiny256)', () => {
  it('frames: the official float input is a pure function of the loader’s uint8 frames (PIL-decoded and resized JPEGs)', async () => {
    const u8 = await fixtureFrames();
    expect(u8.length).toBe(30 * S * S * 3);
    const enc = await load(join(TINY256, 'image_encoder.safetensors'));
    const x = normalizeFrames(u8.subarray(0, S * S * 3), 1, S);
    const ref = await enc.f32('image_encoder.input');
    let diff = 0;
    for (let i = 0; i < x.length; i++) if (x[i] !== ref[i]) diff++;
    expect(diff).toBe(0);
  });

  it('image encoder', async () => {
    const f = await load(join(TINY256, 'image_encoder.safetensors'));
    checkMeta(f.meta);
    expect(f.meta.stage_ends).toEqual([0, 2, 9, 11]);
    const e: Expect = {
      'image_encoder.input': inp([1, 3, S, S]),
      'image_encoder.trunk.patch_embed': { dtype: 'f16', shape: [1, Q, Q, 96] },
      'image_encoder.trunk.pos_embed.resized': { dtype: 'f16', shape: [1, Q, Q, 96] },
      'image_encoder.neck.out.1': out([1, 256, S / 8, S / 8]),
      'image_encoder.neck.out.2': out([1, 256, E, E]),
      'image_encoder.neck.out.3': out([1, 256, E / 2, E / 2]),
      'image_encoder.neck.pos.2': out([1, 256, E, E]),
      'image_encoder.neck.pos.3': out([1, 256, E / 2, E / 2]),
      'sam_mask_decoder.conv_s0': out([1, 32, Q, Q]),
      'sam_mask_decoder.conv_s1': out([1, 64, S / 8, S / 8]),
    };
    const stage = [0, 1, 1, 2, 2, 2, 2, 2, 2, 2, 3, 3];
    stage.forEach((s, b) => {
      const hw = Q >> s;
      e[`image_encoder.trunk.blocks.${b}`] = out([1, hw, hw, 96 << s]);
    });
    checkTensors(f, e);
  });

  it('prompt encoder', async () => {
    const f = await load(join(TINY256, 'prompt_encoder.safetensors'));
    checkMeta(f.meta);
    const points: Record<string, number> = { points: 3, box: 2, box_point: 3, none: 1, mask: 1 };
    const e: Expect = { 'sam_prompt_encoder.get_dense_pe': out([1, 256, E, E]) };
    for (const [c, n] of Object.entries(points)) {
      e[`${c}.point_coords`] = inp([1, n, 2]);
      e[`${c}.point_labels`] = i32([1, n]);
      e[`${c}.sparse_embeddings`] = out([1, n + 1, 256]); // + the padding point
    }
    e['mask.masks'] = inp([1, 1, Q, Q]);
    e['points.dense_embeddings'] = out([1, 256, E, E]);
    e['mask.dense_embeddings'] = out([1, 256, E, E]);
    checkTensors(f, e);
    expect(Array.from(await f.f32('points.point_labels'))).toEqual([1, 0, -1]);
    expect(Array.from(await f.f32('box_point.point_labels'))).toEqual([2, 3, 1]);
  });

  it('mask decoder', async () => {
    const f = await load(join(TINY256, 'mask_decoder.safetensors'));
    checkMeta(f.meta);
    const e: Expect = {
      image_embeddings: inp([1, 256, E, E]),
      image_pe: inp([1, 256, E, E]),
      'high_res_features.0': inp([1, 32, Q, Q]),
      'high_res_features.1': inp([1, 64, S / 8, S / 8]),
      'dense_prompt_embeddings.no_mask': inp([1, 256, E, E]),
      'point.transformer.hs': out([1, 8, 256]),
      'point.transformer.keys': out([1, E * E, 256]),
      'point.upscaled_embedding': out([1, 32, Q, Q]),
      'mask.masks': inp([1, 1, Q, Q]),
      'mask.dense_prompt_embeddings': inp([1, 256, E, E]),
    };
    const pts: Record<string, number> = { point: 1, points_pos_neg: 2, box: 2, mask: 1 };
    for (const [c, n] of Object.entries(pts)) {
      e[`${c}.point_coords`] = inp([1, n, 2]);
      e[`${c}.point_labels`] = i32([1, n]);
      e[`${c}.sparse_prompt_embeddings`] = inp([1, n + 1, 256]);
      e[`${c}.predict_masks.masks`] = out([1, 4, Q, Q]);
      e[`${c}.predict_masks.iou_pred`] = out([1, 4]);
      e[`${c}.predict_masks.mask_tokens_out`] = out([1, 4, 256]);
      e[`${c}.predict_masks.object_score_logits`] = out([1, 1]);
      for (const [tag, m] of [
        ['multimask', 3],
        ['singlemask', 1],
      ] as const) {
        e[`${c}.${tag}.masks`] = out([1, m, Q, Q]);
        e[`${c}.${tag}.iou_pred`] = out([1, m]);
        e[`${c}.${tag}.sam_tokens_out`] = out([1, m, 256]);
        e[`${c}.${tag}.object_score_logits`] = out([1, 1]);
      }
    }
    checkTensors(f, e);
    // both outcomes of the single-mask stability test are covered
    const cases = f.meta.cases as Record<string, { singlemask_fell_back_to_multimask: boolean }>;
    const fallbacks = Object.values(cases).map((c) => c.singlemask_fell_back_to_multimask);
    expect(fallbacks).toContain(true);
    expect(fallbacks).toContain(false);
  });

  it('memory encoder', async () => {
    const f = await load(join(TINY256, 'memory_encoder.safetensors'));
    checkMeta(f.meta);
    const e: Expect = {};
    for (const c of ['click_frame', 'tracked_frame', 'absent_frame']) {
      e[`${c}.pix_feat`] = inp([1, 256, E, E]);
      e[`${c}.pred_masks_high_res`] = inp([1, 1, S, S]);
      e[`${c}.object_score_logits`] = inp([1, 1]);
      e[`${c}.memory_encoder.vision_features`] = out([1, 64, E, E]);
      e[`${c}.maskmem_features`] = out([1, 64, E, E]);
      e[`${c}.maskmem_pos_enc`] = out([1, 64, E, E]);
    }
    for (const m of ['mask_downsampler', 'pix_feat_proj', 'fuser']) e[`click_frame.memory_encoder.${m}`] = out([1, 256, E, E]);
    checkTensors(f, e);
    const cases = f.meta.cases as Record<string, { object_present: boolean; binarized: boolean }>;
    expect(cases.click_frame).toMatchObject({ object_present: true, binarized: true });
    expect(cases.tracked_frame).toMatchObject({ object_present: true, binarized: false });
    expect(cases.absent_frame).toMatchObject({ object_present: false, binarized: false });
  });

  it('memory attention: 7 memories (bf16-rounded) and 16 object pointers', async () => {
    const f = await load(join(TINY256, 'memory_attention.safetensors'));
    checkMeta(f.meta);
    const nMem = 7 * E * E + 16 * 4;
    const e: Expect = {
      curr: inp([E * E, 1, 256]),
      curr_pos: inp([E * E, 1, 256]),
      memory: inp([nMem, 1, 64]),
      memory_pos: inp([nMem, 1, 64]),
      output: out([E * E, 1, 256]),
    };
    for (let i = 0; i < 4; i++) e[`memory_attention.layers.${i}`] = { dtype: 'f32', shape: [1, E * E, 256] };
    checkTensors(f, e);
    expect(f.meta.num_obj_ptr_tokens).toBe(64);
    expect((f.meta.memory_frames as number[]).length).toBe(7);
    expect((f.meta.object_pointer_frames as number[]).length).toBe(16);
    // the spatial memories went through the predictor's bf16 storage: low 16 bits of every f32 are zero
    const mem = new Uint32Array((await f.f32('memory')).buffer);
    let notBf16 = 0;
    for (let i = 0; i < 7 * E * E * 64; i++) if (mem[i] & 0xffff) notBf16++;
    expect(notBf16).toBe(0);
    let ptrNotBf16 = 0; // object pointers stay f32
    for (let i = 7 * E * E * 64; i < mem.length; i++) if (mem[i] & 0xffff) ptrNotBf16++;
    expect(ptrNotBf16).toBeGreaterThan(0);
  });
});

// -------------------------------------------------------------------------------------------------- video
interface Recorded {
  fixture: Fixture;
  present: number;
  absent: number;
}

/**
 * Expected tensors of a video-case file, derived from its recorded steps. videoMasks: the video-resolution
 * bits of every call (true), of every call but propagations and of the last frame of each propagation
 * ('calls+ends'), or none (false).
 */
function videoExpect(meta: FixtureMeta, videoMasks: boolean | 'calls+ends', keepMaskmem: boolean, logitsAt: string[]): Expect {
  const e: Expect = {};
  const bits = { dtype: 'u8' as const, shape: [Math.ceil((VIDEO_H * VIDEO_W) / 8)] };
  const res = (step: number, frame: number, obj: number) => {
    e[outputName(step, frame, obj, 'pred_masks')] = out([1, 1, Q, Q]);
    e[outputName(step, frame, obj, 'object_score_logits')] = out([1, 1]);
    e[outputName(step, frame, obj, 'obj_ptr')] = out([1, 256]);
  };
  for (const s of meta.steps!) {
    if (s.kind === 'propagate') {
      for (const [i, fr] of s.frames!.entries()) {
        const last = i === s.frames!.length - 1;
        for (const o of s.obj_ids) {
          res(s.step, fr, o);
          if (videoMasks === true || (videoMasks === 'calls+ends' && last)) e[outputName(s.step, fr, o, 'video_res_masks.bits')] = bits;
          if (keepMaskmem) e[outputName(s.step, fr, o, 'maskmem_features')] = { dtype: 'bf16', shape: [1, 64, E, E] };
        }
      }
    } else {
      res(s.step, s.frame!, s.obj_id!);
      if (videoMasks) for (const o of s.obj_ids) e[outputName(s.step, s.frame!, o, 'video_res_masks.bits')] = bits;
    }
  }
  for (const n of logitsAt) e[n] = { dtype: 'f16', shape: [VIDEO_H, VIDEO_W] };
  if (meta.steps!.some((s) => s.kind === 'mask')) e['input.mask'] = bits;
  return e;
}

/** The synthetic `no_obj_ptr` of a config (identical in every config: same name, same shape). */
const NO_OBJ_PTR = syntheticTensor('no_obj_ptr', [1, 256]);

async function checkGating(f: Fixture): Promise<{ present: number; absent: number }> {
  let present = 0;
  let absent = 0;
  for (const n of f.names.filter((x) => x.endsWith('.object_score_logits'))) {
    const score = (await f.f32(n))[0];
    const masks = await f.f32(n.replace('object_score_logits', 'pred_masks'));
    const ptr = await f.f32(n.replace('object_score_logits', 'obj_ptr'));
    // fixed_no_obj_ptr: an absent object's pointer is exactly no_obj_ptr, a present one's is not. Outputs of
    // a mask prompt score exactly ±10 (from the mask) while their pointer comes from a decoder pass on the
    // downsampled mask, gated by that pass's own score: no rule to check there.
    const isNoObjPtr = ptr.every((v, i) => v === NO_OBJ_PTR[i]);
    if (Math.abs(score) !== 10) expect(isNoObjPtr, `${n}: pointer vs no_obj_ptr`).toBe(score <= 0);
    if (score > 0) {
      present++;
      // a present object's mask has both signs (unless it came straight from a mask prompt)
      const pos = masks.reduce((a, v) => a + (v > 0 ? 1 : 0), 0);
      expect(pos, `${n}: present object with an empty mask`).toBeGreaterThan(0);
      expect(pos, `${n}: present object covering every pixel`).toBeLessThan(masks.length);
    } else {
      absent++;
      expect(masks.every((v) => v === NO_OBJ_SCORE), `${n}: absent object with a mask`).toBe(true);
    }
  }
  return { present, absent };
}

describe('video fixtures (tiny256/video)', () => {
  const seen: Record<string, Recorded> = {};
  for (const name of VIDEO_CASES) {
    for (const variant of ['nofill', 'filled'] as const) {
      it(`${name}.${variant}`, async () => {
        const f = await load(join(TINY256, 'video', `${name}.${variant}.safetensors`));
        checkMeta(f.meta);
        expect(f.meta.case).toBe(name);
        const videoMasks =
          variant !== 'nofill' ? false : name === 'point' ? true : ['two_objects', 'late_object', 'midtrack', 'midtrack_clear', 'midtrack_correct_cond'].includes(name) ? 'calls+ends' : false;
        const logitsAt = name === 'point' && variant === 'nofill' ? [outputName(1, 8, 1, 'video_res_masks')] : [];
        checkTensors(f, videoExpect(f.meta, videoMasks, name === 'point', logitsAt));
        seen[`${name}.${variant}`] = { fixture: f, ...(await checkGating(f)) };
      });
    }
  }

  it('both object-score gating branches occur, and the absent case has its documented override', async () => {
    const absent = seen['absent.nofill'];
    expect(absent.fixture.meta.overrides).toEqual({ 'sam_mask_decoder.pred_obj_score_head.layers.2.bias': [-3] });
    expect(absent.absent).toBeGreaterThan(0);
    expect(absent.present).toBeGreaterThan(0); // the mask-prompted frame
    // that frame is present by the mask (+10), but its pointer is no_obj_ptr: the decoder pass that made it
    // (on the downsampled mask) judged the object absent under the override
    const f = absent.fixture;
    expect((await f.f32(outputName(0, 0, 1, 'object_score_logits')))[0]).toBe(10);
    expect(Array.from(await f.f32(outputName(0, 0, 1, 'obj_ptr')))).toEqual(Array.from(NO_OBJ_PTR));
    for (const c of VIDEO_CASES.filter((c) => c !== 'absent')) {
      expect(seen[`${c}.nofill`].absent, `${c}: absent frames without an override`).toBe(0);
    }
  });

  it('clear_non_cond_mem_around_input changes the tracking after the correction (midtrack vs midtrack_clear)', async () => {
    const a = seen['midtrack.nofill'].fixture;
    const b = seen['midtrack_clear.nofill'].fixture;
    expect(b.meta.predictor_options).toEqual(['++model.clear_non_cond_mem_around_input=true']);
    const n = outputName(5, 7, 1, 'pred_masks');
    const x = await a.f32(n);
    const y = await b.f32(n);
    let d = 0;
    let m = 0;
    for (let i = 0; i < x.length; i++) {
      d = Math.max(d, Math.abs(x[i] - y[i]));
      m = Math.max(m, Math.abs(x[i]));
    }
    expect(d).toBeGreaterThan(1e-2 * m);
  });

  it('add_all_frames_to_correct_as_cond files the correction on a tracked frame as a conditioning output', async () => {
    const steps = (f: Recorded) => (f.fixture.meta as unknown as { steps: VideoStep[] }).steps;
    const plain = steps(seen['midtrack.nofill']).find((s) => s.step === 4)!;
    const cond = steps(seen['midtrack_correct_cond.nofill']).find((s) => s.step === 4)!;
    expect(seen['midtrack_correct_cond.nofill'].fixture.meta.predictor_options).toEqual(['++model.add_all_frames_to_correct_as_cond=true']);
    expect([plain.frame, plain.storage]).toEqual([6, 'non_cond_frame_outputs']);
    expect([cond.frame, cond.storage]).toEqual([6, 'cond_frame_outputs']);
  });

  it('filled holes: the official fill only turns former background into 0.1', async () => {
    for (const c of VIDEO_CASES) {
      const a = seen[`${c}.nofill`].fixture;
      const b = seen[`${c}.filled`].fixture;
      // step 0 is the first prompt call: identical inputs in both variants, so only the fill differs
      const n = a.names.find((x) => x.startsWith('step0.') && x.endsWith('.pred_masks'))!;
      const x = await a.f32(n);
      const y = await b.f32(n);
      let filled = 0;
      for (let i = 0; i < x.length; i++) {
        if (x[i] === y[i]) continue;
        expect(x[i]).toBeLessThanOrEqual(0);
        expect(y[i]).toBe(Math.fround(0.1));
        filled++;
      }
      if (c === 'point') expect(filled).toBeGreaterThan(0);
    }
  });

  it('the module fixtures are the video run: memories of `point` match memory_encoder and memory_attention', async () => {
    const video = seen['point.nofill'].fixture;
    const enc = await load(join(TINY256, 'memory_encoder.safetensors'));
    const att = await load(join(TINY256, 'memory_attention.safetensors'));
    // frame 0's stored memory is the bf16 rounding of the memory encoder's f32 output (click_frame)
    const f32 = new Uint32Array((await enc.f32('click_frame.maskmem_features')).buffer);
    const stored = await video.bytes(outputName(1, 0, 1, 'maskmem_features'));
    const bf16 = new Uint16Array(stored.buffer, stored.byteOffset, stored.length / 2);
    let mismatched = 0;
    for (let i = 0; i < f32.length; i++) if (f32ToBf16Bits(new Float32Array(f32.buffer, i * 4, 1)[0]) !== bf16[i]) mismatched++;
    expect(mismatched).toBe(0);
    // memory_attention's first 256 memory tokens are that memory, channels-last: memory[t, 0, c] = mem[c, t]
    const memory = await att.f32('memory');
    const mem = await video.f32(outputName(1, 0, 1, 'maskmem_features'));
    const tokens = E * E;
    let off = 0;
    for (let t = 0; t < tokens; t++) for (let c = 0; c < 64; c++) if (memory[t * 64 + c] !== mem[c * tokens + t]) off++;
    expect(off).toBe(0);
    // the last of the 16 pointers is frame 1's, split into 4 tokens of 64 channels
    const ptr1 = await video.f32(outputName(1, 1, 1, 'obj_ptr'));
    const last = memory.subarray(memory.length - 256);
    expect(Array.from(last)).toEqual(Array.from(ptr1));
  });

  it('video-resolution bits agree with the stored video-resolution logits', async () => {
    const f = seen['point.nofill'].fixture;
    const logits = await f.f32(outputName(1, 8, 1, 'video_res_masks'));
    const { shape, data } = await f.mask(outputName(1, 8, 1, 'video_res_masks.bits'));
    expect(shape).toEqual([VIDEO_H, VIDEO_W]);
    let disagree = 0;
    for (let i = 0; i < data.length; i++) if ((logits[i] > 0 ? 1 : 0) !== data[i]) disagree++;
    expect(disagree).toBeLessThanOrEqual(2); // f16 can flush a tiny positive logit to 0
    let on = 0;
    for (const v of data) on += v;
    expect(on).toBeGreaterThan(0);
    expect(on).toBeLessThan(data.length);
  });
});

// ---------------------------------------------------------------------------------------------- configs
describe('every official config (configs256)', () => {
  for (const config of CONFIG_NAMES) {
    it(config, async () => {
      const f = await load(join(CONFIGS256, `${config}.safetensors`));
      checkMeta(f.meta, config);
      checkTensors(f, videoExpect(f.meta, false, false, []));
      const g = await checkGating(f);
      expect(g.present).toBe(4);
    });
  }
});

// ----------------------------------------------------------------------------------------------- budget
describe('fixture budget', () => {
  it('committed fixtures stay under 40 MB', () => {
    let total = 0;
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) {
          if (p !== join(FIXTURES_DIR, 'full')) walk(p);
        } else total += statSync(p).size;
      }
    };
    walk(FIXTURES_DIR);
    expect(total).toBeLessThan(40e6);
  });

  it.skipIf(!fixtureExists(join(TINY1024, 'image_encoder.safetensors')))('the 1024 tiny case, when generated', async () => {
    const f = await load(join(TINY1024, 'image_encoder.safetensors'));
    checkMeta(f.meta, 'sam2.1_hiera_t', 1024);
    expect(f.info('image_encoder.input').shape).toEqual([1, 3, 1024, 1024]);
    const v = await load(join(TINY1024, 'point.nofill.safetensors'));
    checkMeta(v.meta, 'sam2.1_hiera_t', 1024);
    expect((await checkGating(v)).present).toBe(4);
  });
});
