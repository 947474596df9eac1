/**
 * The default-initialisation case, off the synthetic weight rule: the official sam2.1_hiera_t with torch's own
 * initialisation (seed and object-score bias lift in the fixture's metadata), saved as an official-format
 * checkpoint by tools/reference/default_init.py (weights/checkpoints/default_init_seed1.pt, git-ignored, or
 * $SAM2_WEBGPU_DEFAULT_INIT_CKPT), and the official predictor's run on it
 * (test/fixtures/default_init/video.filled.safetensors: three objects, 8 bedroom frames at image size 256,
 * forward from frame 0, then in reverse from frame 4, holes filled).
 *
 * 1. `sam2-webgpu convert` turns the checkpoint into f32 and f16 safetensors whose every tensor has the bytes
 *    of torch's .float() / .half() (sha256 per tensor, written by the Python side).
 * 2. SAM2VideoPredictor, loaded from those files and fed the official loader's resized frames
 *    (fixtureFrames(): PIL's decode and resize of the JPEGs), replays the recorded calls in f32 and f16; every recorded output is compared:
 *    low-res logits, object scores and object pointers (parity checks, bounds in test/parity_bounds.json), the
 *    low-res mask IoU, and on the forward pass the video-resolution mask IoU. A table per variant is printed,
 *    with the official IoU predictions' margin (how close the multimask choice was).
 * 3. `sam2-webgpu track <folder of the first 8 bedroom JPEGs> ...` with the converted f32 weights and the same
 *    prompts (the user's path, JPEG decoding and resizing included) writes palette PNG masks that must equal
 *    the official forward pass's masks drawn the same way (agreement ≥ 0.9999 per frame and object), and
 *    per-object areas in its JSON.
 *
 * Without the checkpoint every test is skipped, saying how to make it.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { davisIndexMask } from '../../src/io/png_format.js';
import { SAM2VideoPredictor, type FrameResult, type InferenceState } from '../../src/model/video_predictor.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { openSafetensorsFile } from '../../src/runtime/safetensors_node.js';
import { FIXTURES_DIR, fixtureFrames, fixtureSource, openFixture, outputName, pointsPrompt, type Fixture, type VideoStep } from '../fixtures/reader.js';
import { maskIou, testGpus } from '../helpers.js';
import { expectParity } from '../model/parity.js';

const S = 256;
const W = 960;
const H = 540;
const CKPT = resolve(process.env.SAM2_WEBGPU_DEFAULT_INIT_CKPT || 'weights/checkpoints/default_init_seed1.pt');
const FIXTURE = join(FIXTURES_DIR, 'default_init', 'video.filled.safetensors');
const HAVE_CKPT = existsSync(CKPT);
const MISSING = `default-init checkpoint not found (${
  process.env.SAM2_WEBGPU_DEFAULT_INIT_CKPT ? '$SAM2_WEBGPU_DEFAULT_INIT_CKPT' : 'weights/checkpoints/default_init_seed1.pt'
}): run \`npm run reference:default-init\``;
/** The test's title, with the reason when it is skipped for want of the checkpoint. */
const title = (t: string) => (HAVE_CKPT ? t : `${t} — skipped: ${MISSING}`);

/**
 * Mask IoU bounds (low-res logits > 0, and the video-resolution masks). The logits, object scores and object
 * pointers are parity checks (`expectParity`, named `default_init step{s}.frame{f}.obj{id}.{tensor}`) whose
 * bounds are in test/parity_bounds.json.
 */
const IOU = { f32: 0.9999, f16: 0.99 };
/** The CLI on JPEG frames, f32: mask agreement (IoU) per frame and object. */
const CLI_IOU = 0.9999;

interface Meta {
  steps: VideoStep[];
  num_frames: number;
  fill_holes: string;
  seed: number;
  obj_score_bias: { name: string; lift: number };
  checkpoint: { sha256: string; bytes: number; tensors: number };
  tensor_sha256: Record<string, { f32: string; f16: string }>;
  /** The official mask decoder's IoU predictions per computed output (3: the multimask choice was made). */
  iou_predictions: Record<string, number[]>;
  packed_shapes: Record<string, number[]>;
}

const work = mkdtempSync(join(tmpdir(), 'sam2-default-init-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['bin/sam2-webgpu.mjs', ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });

/** The converted weights of one dtype (converted once, by the CLI's `convert`). */
const converted = new Map<'f32' | 'f16', string>();
function convertedWeights(dtype: 'f32' | 'f16'): string {
  let out = converted.get(dtype);
  if (!out) {
    out = join(work, `default_init.${dtype}.safetensors`);
    const r = cli('convert', CKPT, out, '--dtype', dtype);
    expect(r.status, `convert --dtype ${dtype}: ${r.stderr}`).toBe(0);
    expect(r.stdout).toContain('sam2.1_hiera_t');
    converted.set(dtype, out);
  }
  return out;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

const positive = (v: Float32Array) => Uint8Array.from(v, (x) => (x > 0 ? 1 : 0));

/** The stored output of object k on a frame (a prompt's temporary output first). */
function storedOutput(state: InferenceState, k: number, frame: number) {
  const o = state.objects[k];
  return o.temp.cond.get(frame) ?? o.temp.nonCond.get(frame) ?? o.output.cond.get(frame) ?? o.output.nonCond.get(frame);
}

/** One recorded output compared: `step{s}.frame{f}.obj{id}`. */
interface Row {
  key: string;
  /** Low-res logits. */
  cosine: number;
  rel: number;
  /** The largest difference of the low-res logits: engine vs official value. */
  worst: string;
  /** Mask IoU of the low-res logits (> 0). */
  lowIou: number;
  /** Video-resolution mask IoU and differing pixels (forward pass only). */
  videoIou?: number;
  videoDiff?: number;
  score: number;
  scoreRef: number;
  ptrCosine: number;
  ptrRel: number;
  /** Official IoU predictions: best minus second best (how close the multimask choice was); '-' when none. */
  margin: string;
}

function table(label: string, rows: Row[]): string {
  const lines = [
    `${label}: ${rows.length} outputs`,
    'output            | logits cosine | max|Δ|/max|ref| (at: got vs want) | low-res IoU | video-res IoU (pixels differing) | score (ref)     | obj_ptr cosine / rel  | IoU-pred margin',
  ];
  for (const r of rows) {
    lines.push(
      `${r.key.padEnd(17)} | ${r.cosine.toFixed(7)}     | ${`${r.rel.toExponential(2)} (${r.worst})`.padEnd(32)} | ${r.lowIou.toFixed(5)}     | ` +
        `${(r.videoIou === undefined ? '-' : `${r.videoIou.toFixed(7)} (${r.videoDiff})`).padEnd(32)} | ${r.score.toFixed(4)} (${r.scoreRef.toFixed(4)}) | ` +
        `${r.ptrCosine.toFixed(7)} / ${r.ptrRel.toExponential(2)} | ${r.margin}`,
    );
  }
  return lines.join('\n');
}

async function compare(fx: Fixture, state: InferenceState, step: number, r: FrameResult, variant: 'f32' | 'f16', gpu: Gpu, rows: Row[], onlyObj?: number): Promise<void> {
  for (let k = 0; k < r.objIds.length; k++) {
    const id = r.objIds[k];
    if (onlyObj !== undefined && id !== onlyObj) continue;
    const name = (field: string) => outputName(step, r.frameIdx, id, field);
    expect(fx.has(name('pred_masks')), `${name('pred_masks')} is not in the fixture`).toBe(true);
    const out = storedOutput(state, k, r.frameIdx);
    expect(out, `${name('pred_masks')}: no stored output`).toBeDefined();
    const key = `step${step}.frame${r.frameIdx}.obj${id}`;
    const logits = await gpu.read(out!.predMasks);
    const logitsRef = await fx.f32(name('pred_masks'));
    const p = expectParity(`default_init ${key}.pred_masks`, variant, logits, logitsRef);
    const ptr = expectParity(`default_init ${key}.obj_ptr`, variant, await gpu.read(out!.objPtr), await fx.f32(name('obj_ptr')));
    const scores = await gpu.read(out!.objectScoreLogits);
    const scoresRef = await fx.f32(name('object_score_logits'));
    expectParity(`default_init ${key}.object_score_logits`, variant, scores, scoresRef);
    const [score, scoreRef] = [scores[0], scoresRef[0]];
    const ious = [...((fx.meta as unknown as Meta).iou_predictions[key] ?? [])].sort((a, b) => b - a);
    const row: Row = {
      key,
      margin: ious.length > 1 ? (ious[0] - ious[1]).toExponential(2) : '-',
      cosine: p.cosine,
      rel: p.rel,
      worst: p.at >= 0 ? `${logits[p.at].toFixed(3)} vs ${logitsRef[p.at].toFixed(3)}` : 'identical',
      lowIou: maskIou(positive(logits), positive(logitsRef)),
      score,
      scoreRef,
      ptrCosine: ptr.cosine,
      ptrRel: ptr.rel,
    };
    const bits = name('video_res_masks.bits');
    if (fx.has(bits)) {
      const ref = (await fx.mask(bits)).data;
      row.videoIou = maskIou(r.masks[k], ref);
      row.videoDiff = ref.reduce((a, v, i) => a + (v !== r.masks[k][i] ? 1 : 0), 0);
    }
    rows.push(row);
  }
}

/** Replays the recorded calls with the converted weights of `variant`; returns one row per recorded output. */
async function replay(variant: 'f32' | 'f16'): Promise<Row[]> {
  const { main: gpu } = await testGpus();
  const fx = await openFixture(FIXTURE);
  const meta = fx.meta as unknown as Meta;
  expect(meta.fill_holes.startsWith('filled')).toBe(true);
  const predictor = await SAM2VideoPredictor.load({
    weights: convertedWeights(variant),
    dtype: variant,
    imageSize: S,
    fillHoleArea: 8,
    gpu,
  });
  const state = await predictor.initState(fixtureSource(await fixtureFrames(), meta.num_frames));
  const rows: Row[] = [];
  try {
    for (const s of meta.steps) {
      if (s.kind === 'propagate') {
        const frames: number[] = [];
        for await (const r of predictor.propagateInVideo(state, {
          startFrameIdx: s.start_frame_idx ?? undefined,
          maxFrameNumToTrack: s.max_frame_num_to_track ?? undefined,
          reverse: s.reverse ?? false,
        })) {
          frames.push(r.frameIdx);
          expect(r.objIds).toEqual(s.obj_ids);
          await compare(fx, state, s.step, r, variant, gpu, rows);
        }
        expect(frames, `step ${s.step}: frames`).toEqual(s.frames);
        continue;
      }
      const r = await predictor.addNewPointsOrBox(state, pointsPrompt(s));
      expect(r.objIds).toEqual(s.obj_ids);
      await compare(fx, state, s.step, r, variant, gpu, rows, s.obj_id);
    }
  } finally {
    predictor.closeState(state);
    predictor.dispose();
    await fx.close();
  }
  return rows;
}

/** An 8-bit palette PNG's indices (any filter type). */
function decodeIndexedPng(bytes: Uint8Array): { width: number; height: number; idx: Uint8Array } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  let p = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (p < b.length) {
    const len = b.readUInt32BE(p);
    const type = b.toString('latin1', p + 4, p + 8);
    const data = b.subarray(p + 8, p + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect([data[8], data[9]], 'an 8-bit palette PNG').toEqual([8, 3]);
    } else if (type === 'IDAT') idat.push(data);
    p += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const idx = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (width + 1)];
    const row = raw.subarray(y * (width + 1) + 1, (y + 1) * (width + 1));
    for (let x = 0; x < width; x++) {
      const a = x > 0 ? idx[y * width + x - 1] : 0;
      const up = y > 0 ? idx[(y - 1) * width + x] : 0;
      const c = x > 0 && y > 0 ? idx[(y - 1) * width + x - 1] : 0;
      let pred = 0;
      if (f === 1) pred = a;
      else if (f === 2) pred = up;
      else if (f === 3) pred = (a + up) >> 1;
      else if (f === 4) {
        const q = a + up - c;
        const pa = Math.abs(q - a);
        const pb = Math.abs(q - up);
        const pc = Math.abs(q - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? up : c;
      }
      idx[y * width + x] = (row[x] + pred) & 255;
    }
  }
  return { width, height, idx };
}

/** The CLI's prompt options for the recorded prompt calls (each after --frame / --obj). */
function promptArgs(steps: VideoStep[]): string[] {
  const args: string[] = [];
  for (const s of steps) {
    if (s.kind === 'propagate') continue;
    args.push('--frame', String(s.frame), '--obj', String(s.obj_id));
    for (const [i, pt] of (s.points ?? []).entries()) args.push('--point', `${pt[0]},${pt[1]},${s.labels![i]}`);
    if (s.box) args.push('--box', s.box.join(','));
  }
  return args;
}


/** The replay's summary, and its mask IoU and presence checks on every one of the 42 recorded outputs. */
function checkReplay(variant: 'f32' | 'f16', rows: Awaited<ReturnType<typeof replay>>): void {
  console.log(table(`default_init ${variant}`, rows));
  expect(rows.length).toBe(42);
  for (const r of rows) {
    expect(r.lowIou, `${r.key} low-res mask IoU`).toBeGreaterThanOrEqual(IOU[variant]);
    if (r.videoIou !== undefined) expect(r.videoIou, `${r.key} video-res mask IoU`).toBeGreaterThanOrEqual(IOU[variant]);
    expect(Math.sign(r.score), `${r.key} object presence`).toBe(Math.sign(r.scoreRef));
  }
}

describe('default-initialised sam2.1_hiera_t (an official-format checkpoint) against the official predictor', () => {
  it.skipIf(!HAVE_CKPT)(title('the checkpoint is the one the fixture was recorded from'), async () => {
    const fx = await openFixture(FIXTURE);
    const meta = fx.meta as unknown as Meta;
    await fx.close();
    const sha = await sha256File(CKPT);
    expect(sha, `${CKPT} differs from the checkpoint of the fixture (seed ${meta.seed}): run \`npm run reference:default-init\``).toBe(
      meta.checkpoint.sha256,
    );
  });

  it.skipIf(!HAVE_CKPT)(title("convert writes torch's .float() (f32) and .half() (f16) bytes of every tensor"), async () => {
    const fx = await openFixture(FIXTURE);
    const expected = (fx.meta as unknown as Meta).tensor_sha256;
    await fx.close();
    for (const dtype of ['f32', 'f16'] as const) {
      const st = await openSafetensorsFile(convertedWeights(dtype));
      try {
        expect(st.tensors.map((t) => t.name).sort()).toEqual(Object.keys(expected).sort());
        const bad: string[] = [];
        for (const t of st.tensors) {
          const digest = createHash('sha256').update(await st.read(t.name)).digest('hex').slice(0, 16);
          if (t.dtype !== dtype || digest !== expected[t.name][dtype]) bad.push(`${t.name} (${t.dtype})`);
        }
        expect(bad, `${dtype}: tensors whose bytes differ from torch's`).toEqual([]);
      } finally {
        await st.close();
      }
    }
  });

  it.skipIf(!HAVE_CKPT)(title('SAM2VideoPredictor replays the official calls (f32)'), async () => {
    const rows = await replay('f32');
    checkReplay('f32', rows);
    expect(rows.filter((r) => r.videoIou !== undefined)).toHaveLength(24);
  });

  it.skipIf(!HAVE_CKPT)(title('SAM2VideoPredictor replays the official calls (f16)'), async ({ skip }) => {
    const { main } = await testGpus();
    skip(!main.info.features.f16, 'the adapter lacks shader-f16');
    checkReplay('f16', await replay('f16'));
  });

  it.skipIf(!HAVE_CKPT)(title('the CLI on the JPEG frame folder writes the official masks (f32)'), async () => {
    const fx = await openFixture(FIXTURE);
    const meta = fx.meta as unknown as Meta;
    try {
      const forward = meta.steps.find((s) => s.kind === 'propagate' && !s.reverse)!;
      const masks = join(work, 'masks');
      const json = join(work, 'track.json');
      // The official run read a folder of the first num_frames bedroom JPEGs (the video's length enters the
      // object pointers' temporal encoding): the same folder here.
      const frames = join(work, 'frames');
      mkdirSync(frames);
      for (let i = 0; i < meta.num_frames; i++) {
        const file = `${String(i).padStart(5, '0')}.jpg`;
        copyFileSync(join('samples', 'bedroom', file), join(frames, file));
      }
      const args = ['track', frames, ...promptArgs(meta.steps), '--image-size', String(S),
        '--max-frames', String(meta.num_frames - 1), '--weights', convertedWeights('f32'), '--masks', masks, '--json', json,
        '--out', join(work, 'overlay.mp4')];
      const r = cli(...args);
      expect(r.status, `sam2-webgpu ${args.join(' ')}: ${r.stderr}`).toBe(0);
      const summary = JSON.parse(readFileSync(json, 'utf8')) as {
        fillHoleArea: number;
        perFrame: Array<{ frame: number; tracked: boolean; objects: Array<{ objId: number; area: number }> }>;
      };
      expect(summary.fillHoleArea).toBe(8);
      // The palette PNG holds one label per pixel (later objects over earlier ones), and these masks cover about
      // two thirds of the frame each: object 1 keeps a handful of visible pixels on most frames, so an IoU of
      // its visible pixels would turn one boundary pixel into a large figure. Per object the check is the
      // label-k pixels that differ from the official masks drawn the same way, over the official mask's full
      // area (the IoU for the unoccluded object); the JSON's area is the full mask's.
      const lines = [
        'default_init CLI (f32, JPEG frames) per frame: label-map IoU, pixels differing; per object: 1 - differing label-k ' +
          'pixels / official area, visible-pixel IoU [visible pixels], JSON area (official area)',
      ];
      const failures: string[] = [];
      for (const f of forward.frames!) {
        const refMasks = await Promise.all(forward.obj_ids.map(async (id) => (await fx.mask(outputName(forward.step, f, id, 'video_res_masks.bits'))).data));
        const ref = davisIndexMask(W, H, forward.obj_ids, refMasks);
        const png = decodeIndexedPng(readFileSync(join(masks, `${String(f).padStart(5, '0')}.png`)));
        expect([png.width, png.height]).toEqual([W, H]);
        const frame = summary.perFrame.find((p) => p.frame === f)!;
        expect(frame.tracked).toBe(true);
        let differing = 0;
        let union = 0;
        for (let p = 0; p < ref.length; p++) {
          if (png.idx[p] !== ref[p]) differing++;
          if (png.idx[p] !== 0 || ref[p] !== 0) union++;
        }
        const mapIou = 1 - differing / Math.max(union, 1);
        if (mapIou < CLI_IOU) failures.push(`frame ${f}: label-map IoU ${mapIou.toFixed(6)}`);
        const cells: string[] = [];
        for (const [k, id] of forward.obj_ids.entries()) {
          let diff = 0;
          let visible = 0;
          for (let p = 0; p < ref.length; p++) {
            if ((png.idx[p] === id) !== (ref[p] === id)) diff++;
            if (ref[p] === id) visible++;
          }
          const refArea = refMasks[k].reduce((a, b) => a + b, 0);
          const agreement = 1 - diff / Math.max(refArea, 1);
          const visibleIou = maskIou(png.idx.map((x) => (x === id ? 1 : 0)), ref.map((x) => (x === id ? 1 : 0)));
          const area = frame.objects.find((o) => o.objId === id)!.area;
          cells.push(`obj${id} ${agreement.toFixed(6)} ${visibleIou.toFixed(5)} [${visible}] ${area} (${refArea})`);
          if (agreement < CLI_IOU) failures.push(`frame ${f} object ${id}: ${diff} label pixels differ (${agreement.toFixed(6)})`);
          if (Math.abs(area - refArea) > (1 - CLI_IOU) * refArea) failures.push(`frame ${f} object ${id}: area ${area}, official ${refArea}`);
        }
        lines.push(`frame ${f}: ${mapIou.toFixed(6)} ${differing} | ${cells.join(' | ')}`);
      }
      console.log(lines.join('\n'));
      expect(failures, 'CLI masks against the official masks (the JPEG decode and resize must equal PIL)').toEqual([]);
    } finally {
      await fx.close();
    }
  });
});
