/**
 * The whole job on Node: a video (file or frame folder) and prompts in, SAM 2 tracking through the video,
 * and out an H.264 MP4 of the frames with the masks drawn over them, per-frame palette PNG masks (DAVIS
 * convention: 0 = background, k = object k) and a JSON summary. Every output appears under its name only
 * when complete.
 */
import { closeSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { Mp4Writer } from './io/ffmpeg.js';
import { openFrames, type FrameSource } from './io/frames.js';
import { OutputPlan } from './io/outputs.js';
import { davisPalette, encodeIndexedPng } from './io/png.js';
import { davisIndexMask, isIndexedPng, MAX_OBJ_ID } from './io/png_format.js';
import { findWeights } from './io/weights_files.js';
import { renderOverlay, type OverlayPrompt } from './io/render.js';
import type { ModelSize, ModelVersion } from './checkpoint/config.js';
import { checkPromptGeometry, SAM2VideoPredictor, type FrameResult } from './model/video_predictor.js';
import { fileAccessError, Sam2Error } from './runtime/errors.js';
import { checkOptionKeys } from './runtime/options.js';
import type { DeviceProfile, ProfileMode } from './runtime/profile.js';

export interface TrackPrompt {
  frame: number;
  objId: number;
  /** Points in displayed video pixels, with labels (1 positive, the default; 0 negative). */
  points?: Array<[number, number]>;
  labels?: number[];
  box?: [number, number, number, number];
}

export interface TrackProgress {
  /** Frames tracked so far and in total. */
  done: number;
  total: number;
  frameIdx: number;
  framesPerSecond: number;
  etaSeconds: number;
  phase: 'load' | 'prompt' | 'track' | 'write';
}

export interface TrackJobOptions {
  source: string;
  prompts: TrackPrompt[];
  model?: ModelSize;
  version?: ModelVersion;
  /**
   * Converted safetensors weights, or 'synthetic' (meaningless masks; TrackSummary.syntheticWeights says so).
   * Absent: the model's file in the weights folder (`weights/sam2.1_hiera_tiny.safetensors`); a NoWeightsError
   * when there is none.
   */
  weights?: string;
  dtype?: 'f32' | 'f16';
  imageSize?: number;
  /** Also track backwards from the earliest prompted frame to frame 0. */
  reverse?: boolean;
  /** Track at most this many frames after the start (default: to the end). */
  maxFrames?: number;
  /** Overlay video (must end in .mp4). */
  out?: string;
  /** Folder of palette PNG masks (00000.png, ...). */
  masksDir?: string;
  /** JSON summary. */
  json?: string;
  /** Frame rate of the MP4 (default: the source's, 24 for frame folders); from 0.01 to 1000. */
  fps?: number;
  /**
   * Replace outputs that exist (default false: an existing output is an OutputError before any work). A masks
   * folder is replaced only when it holds nothing but mask PNGs; an output overlapping an input is always refused.
   */
  overwrite?: boolean;
  /**
   * How messages name the outputs and the way to allow replacing (default: the option names and
   * "overwrite: true"; the CLI gives its flags).
   */
  names?: { out?: string; masksDir?: string; json?: string; overwrite?: string };
  /** Fill holes in the masks up to this area in pixels (default 8, the official config; 0 = off). */
  fillHoleArea?: number;
  /** The device profile: 'auto' (default; SAM2_WEBGPU_PROFILE in Node), 'gpu' or 'cpu' (see load()). */
  profile?: ProfileMode;
  onProgress?: (p: TrackProgress) => void;
  /** Called once the model is on the GPU, with the device profile in force (the CLI's --debug prints it). */
  onLoaded?: (profile: DeviceProfile) => void;
}

export interface FrameSummary {
  frame: number;
  /** False for frames outside the tracked range (before the first prompt without reverse, after maxFrames). */
  tracked: boolean;
  /**
   * Every object on a tracked frame (empty when not tracked). `present` is false when the object's mask is
   * empty on this frame (occluded or out of view); `score` is the object score logit (null when not finite).
   */
  objects: Array<{ objId: number; area: number; present: boolean; score: number | null }>;
  trackMs: number | null;
}

export interface TrackSummary {
  source: string;
  /** Displayed size (after the video's rotation metadata): masks, the MP4 and prompts use it. */
  width: number;
  height: number;
  /** Rotation metadata of the video in degrees (0 when none), already applied to the frames. */
  rotation: number;
  frames: number;
  trackedFrames: number;
  objIds: number[];
  /** The prompts as given. */
  prompts: TrackPrompt[];
  model: string;
  dtype: string;
  imageSize: number;
  fillHoleArea: number;
  adapter: string;
  /** The device profile's family of choices ('gpu' or 'cpu'). */
  profile: 'gpu' | 'cpu';
  syntheticWeights: boolean;
  msPerFrame: number;
  outputs: { mp4?: string; masksDir?: string; json?: string };
  perFrame: FrameSummary[];
}

/** Every key of TrackJobOptions (a Record over keyof, so a new option must be listed here to compile). */
const JOB_KEYS = Object.keys({
  source: 1, prompts: 1, model: 1, version: 1, weights: 1, dtype: 1, imageSize: 1, reverse: 1, maxFrames: 1, out: 1,
  masksDir: 1, json: 1, fps: 1, overwrite: 1, names: 1, fillHoleArea: 1, profile: 1, onProgress: 1, onLoaded: 1,
} satisfies Record<keyof TrackJobOptions, 1>);
const PROMPT_KEYS = Object.keys({ frame: 1, objId: 1, points: 1, labels: 1, box: 1 } satisfies Record<keyof TrackPrompt, 1>);

/**
 * What an existing masks folder may hold to be replaced: files named as the job names them (00042.png) that
 * are palette PNGs — never RGB frames that happen to be named alike.
 */
function isMaskFile(name: string, path: string): boolean {
  if (!/^\d{5,}\.png$/.test(name)) return false;
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = new Uint8Array(26);
    return readSync(fd, head, 0, 26, 0) === 26 && isIndexedPng(head);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function nonNegativeInt(what: string, v: number | undefined, min = 0): void {
  if (v !== undefined && (!Number.isInteger(v) || v < min)) throw new Sam2Error(`${what} must be an integer >= ${min}, not ${v}`);
}

/** Everything about the options that can be checked without opening the video: numbers, ids, extensions. */
function checkJobOptions(opts: TrackJobOptions): void {
  checkOptionKeys('trackVideo', opts, JOB_KEYS);
  if (typeof opts.source !== 'string' || !opts.source) throw new Sam2Error('trackVideo: source must be a video file or a folder of frames');
  if (!Array.isArray(opts.prompts) || opts.prompts.length === 0) {
    throw new Sam2Error('no prompt: give at least one point or box (e.g. --point 210,350)');
  }
  for (const p of opts.prompts) {
    checkOptionKeys('trackVideo prompt', p, PROMPT_KEYS);
    nonNegativeInt('prompt frame', p.frame);
    if (!Number.isInteger(p.objId) || p.objId < 1 || p.objId > MAX_OBJ_ID) {
      throw new Sam2Error(`object id ${p.objId} is not allowed: ids are integers 1..${MAX_OBJ_ID} (palette PNG masks use 0 for the background)`);
    }
    if (!p.points?.length && !p.box) throw new Sam2Error(`object ${p.objId} on frame ${p.frame}: a prompt needs a point or a box`);
    if (p.points && p.labels && p.points.length !== p.labels.length) {
      throw new Sam2Error(`object ${p.objId} on frame ${p.frame}: ${p.points.length} points but ${p.labels.length} labels`);
    }
  }
  nonNegativeInt('maxFrames', opts.maxFrames);
  nonNegativeInt('imageSize', opts.imageSize, 64);
  nonNegativeInt('fillHoleArea', opts.fillHoleArea);
  if (opts.fps !== undefined && !(Number.isFinite(opts.fps) && opts.fps >= 0.01 && opts.fps <= 1000)) {
    throw new Sam2Error(`fps must be a number from 0.01 to 1000, not ${opts.fps}`);
  }
  if (opts.out !== undefined && extname(opts.out).toLowerCase() !== '.mp4') {
    throw new Sam2Error(`the overlay video ${opts.out} must be named .mp4 (it is written as an H.264 MP4)`);
  }
  if (opts.out === undefined && opts.masksDir === undefined && opts.json === undefined) {
    throw new Sam2Error('no output: name at least one of out, masksDir and json');
  }
}

/**
 * Frames tracked forward and backward from `start`, as propagateInVideo yields them (the start frame is yielded
 * in both directions).
 */
function trackedCounts(start: number, count: number, maxFrames: number | undefined, reverse: boolean): { forward: number; backward: number } {
  const maxN = maxFrames ?? count;
  const forward = Math.min(start + maxN, count - 1) - start + 1;
  const backward = reverse && start > 0 ? start - Math.max(start - maxN, 0) + 1 : 0;
  return { forward, backward };
}

/**
 * Runs the job. Checks everything it can first — options, outputs (see OutputPlan: an existing output is
 * replaced only with `overwrite`, and never one that overlaps an input), the video, and every prompt against
 * the video's frames and displayed size — and only then loads the model.
 * @throws Sam2Error (OptionError, OutputError, DecodeError, WeightError, ...) naming what is wrong.
 */
export async function trackVideo(opts: TrackJobOptions): Promise<TrackSummary> {
  checkJobOptions(opts);
  const weights = opts.weights ?? findWeights(opts.model ?? 'tiny', opts.version ?? '2.1', opts.dtype ?? 'f32');
  const synthetic = weights === 'synthetic';
  const names = { out: 'out', masksDir: 'masksDir', json: 'json', overwrite: 'overwrite: true', ...opts.names };
  const outputs = new OutputPlan({
    inputs: [opts.source, ...(synthetic ? [] : [weights])],
    outputs: [
      ...(opts.out !== undefined ? [{ path: opts.out, kind: 'file' as const, label: names.out }] : []),
      ...(opts.masksDir !== undefined ? [{ path: opts.masksDir, kind: 'folder' as const, label: names.masksDir, replaceable: isMaskFile }] : []),
      ...(opts.json !== undefined ? [{ path: opts.json, kind: 'file' as const, label: names.json }] : []),
    ],
    overwrite: opts.overwrite,
    overwriteHint: names.overwrite,
  });
  let source: FrameSource | undefined;
  let predictor: SAM2VideoPredictor | undefined;
  let mp4: Mp4Writer | undefined;
  let committed = false;
  try {
    if (!synthetic) checkWeightsFile(weights);
    source = await openFrames(opts.source);
    const W = source.width;
    const H = source.height;
    for (const p of opts.prompts) {
      if (p.frame >= source.count) {
        throw new Sam2Error(`prompt frame ${p.frame} is out of range (the video has ${source.count} frames: 0..${source.count - 1})`);
      }
      try {
        checkPromptGeometry({ points: p.points, labels: p.labels ?? p.points?.map(() => 1), box: p.box }, [W, H]);
      } catch (e) {
        throw new Sam2Error(`object ${p.objId} on frame ${p.frame}: ${(e as Error).message}`);
      }
    }
    const progress = (p: Omit<TrackProgress, 'framesPerSecond' | 'etaSeconds'> & Partial<TrackProgress>) =>
      opts.onProgress?.({ framesPerSecond: 0, etaSeconds: 0, ...p });
    progress({ done: 0, total: 0, frameIdx: 0, phase: 'load' });
    predictor = await SAM2VideoPredictor.load({
      model: opts.model,
      version: opts.version,
      weights,
      dtype: opts.dtype,
      imageSize: opts.imageSize,
      fillHoleArea: opts.fillHoleArea,
      profile: opts.profile,
    });
    opts.onLoaded?.(predictor.gpu.profile);
    const state = await predictor.initState(source);
    const drawn = new Map<number, OverlayPrompt[]>();
    for (const p of opts.prompts) {
      progress({ done: 0, total: 0, frameIdx: p.frame, phase: 'prompt' });
      const labels = p.labels ?? p.points?.map(() => 1);
      await predictor.addNewPointsOrBox(state, { frameIdx: p.frame, objId: p.objId, points: p.points, labels, box: p.box, clearOldPoints: !!p.box || !state.objIds.includes(p.objId) });
      const list = drawn.get(p.frame) ?? [];
      list.push({ points: p.points, labels, box: p.box });
      drawn.set(p.frame, list);
    }
    const start = Math.min(...opts.prompts.map((p) => p.frame));
    const counts = trackedCounts(start, source.count, opts.maxFrames, opts.reverse === true);
    const forwardEnd = start + counts.forward - 1;
    const total = counts.forward + counts.backward;
    const results = new Map<number, FrameResult>();
    const times = new Map<number, number>();
    let done = 0;
    const t0 = performance.now();
    if (counts.backward > 0) {
      // Frames before the start, tracked backwards first and kept until they are written in order.
      let last = performance.now();
      for await (const r of predictor.propagateInVideo(state, { startFrameIdx: start, reverse: true, maxFrameNumToTrack: opts.maxFrames })) {
        const now = performance.now();
        if (r.frameIdx !== start) {
          times.set(r.frameIdx, now - last);
          results.set(r.frameIdx, r);
        }
        last = now;
        done++;
        const fps = done / ((now - t0) / 1000);
        progress({ done, total, frameIdx: r.frameIdx, framesPerSecond: fps, etaSeconds: (total - done) / Math.max(fps, 1e-9), phase: 'track' });
      }
    }

    // Outputs, under temporary names until complete.
    outputs.prepare();
    const palette = davisPalette(256);
    if (opts.out !== undefined) {
      mp4 = new Mp4Writer(outputs.path(names.out), { width: W, height: H, fps: opts.fps ?? source.fps ?? 24 });
      outputs.adopt(mp4.tempPath);
    }
    const masksTmp = opts.masksDir !== undefined ? outputs.temp(names.masksDir) : undefined;
    const perFrame: FrameSummary[] = [];
    const forward = predictor.propagateInVideo(state, { startFrameIdx: start, maxFrameNumToTrack: opts.maxFrames });
    let last = performance.now();
    for (let f = 0; f < source.count; f++) {
      let r = results.get(f);
      if (f >= start && f <= forwardEnd) {
        const n = await forward.next();
        if (n.done) throw new Sam2Error(`tracking stopped before frame ${f}`);
        r = n.value;
        const now = performance.now();
        times.set(r.frameIdx, now - last);
        last = now;
        done++;
        const fps = done / ((now - t0) / 1000);
        progress({ done, total, frameIdx: f, framesPerSecond: fps, etaSeconds: (total - done) / Math.max(fps, 1e-9), phase: 'track' });
      }
      results.delete(f);
      const masks = r ? r.objIds.map((objId, k) => ({ objId, mask: r!.masks[k] })) : [];
      if (mp4) {
        const frame = await source.get(f);
        await mp4.write(renderOverlay(W, H, frame.rgb, masks, drawn.get(f) ?? []));
      }
      if (masksTmp) {
        const idx = davisIndexMask(W, H, masks.map((m) => m.objId), masks.map((m) => m.mask));
        writeFileSync(join(masksTmp, `${String(f).padStart(5, '0')}.png`), encodeIndexedPng(W, H, idx, palette));
      }
      perFrame.push({
        frame: f,
        tracked: r !== undefined,
        objects: r
          ? r.objIds.map((objId, k) => {
              const area = r!.masks[k].reduce((a, b) => a + b, 0);
              return { objId, area, present: area > 0, score: Number.isFinite(r!.objectScores[k]) ? r!.objectScores[k] : null };
            })
          : [],
        trackMs: times.get(f) ?? null,
      });
    }
    await forward.return(undefined);
    progress({ done, total, frameIdx: source.count - 1, phase: 'write' });
    const tracked = perFrame.filter((p) => p.tracked);
    const summary: TrackSummary = {
      source: opts.source,
      width: W,
      height: H,
      rotation: source.rotation ?? 0,
      frames: source.count,
      trackedFrames: tracked.length,
      objIds: [...state.objIds],
      prompts: opts.prompts.map((p) => ({ ...p })),
      model: predictor.config.name,
      dtype: predictor.model.dtype,
      imageSize: predictor.config.imageSize,
      fillHoleArea: predictor.config.fillHoleArea,
      adapter: `${predictor.gpu.info.adapter} (${predictor.gpu.info.backend})`,
      profile: predictor.gpu.profile.kind,
      syntheticWeights: predictor.syntheticWeights,
      msPerFrame: tracked.length ? tracked.reduce((a, p) => a + (p.trackMs ?? 0), 0) / tracked.length : 0,
      outputs: { mp4: opts.out, masksDir: opts.masksDir, json: opts.json },
      perFrame,
    };
    predictor.closeState(state);
    // Everything is complete: move the outputs into place.
    if (mp4) {
      await mp4.close();
      mp4 = undefined;
    }
    if (masksTmp) outputs.commit(names.masksDir, masksTmp);
    if (opts.json !== undefined) {
      const tmp = outputs.temp(names.json);
      writeFileSync(tmp, JSON.stringify(summary, null, 1));
      outputs.commit(names.json, tmp);
    }
    committed = true;
    return summary;
  } finally {
    if (mp4) await mp4.abort();
    if (!committed) outputs.abortSync();
    outputs.finish();
    source?.close();
    predictor?.dispose();
  }
}

/** A weights path must be a file (checked before the video is opened and the GPU started). */
function checkWeightsFile(path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw fileAccessError('weights', path, e);
  }
  if (!st.isFile()) throw fileAccessError('weights', path, { code: 'EISDIR' });
}
