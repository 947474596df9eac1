/**
 * The whole job on Node: a video (file or frame folder) and prompts in, SAM 2 tracking through the video,
 * and out an H.264 MP4 of the frames with the masks drawn over them, per-frame palette PNG masks (DAVIS
 * convention: 0 = background, k = object k) and a JSON summary. Every output appears under its name only
 * when complete.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Mp4Writer } from './io/ffmpeg.js';
import { writeFileAtomic } from './io/files.js';
import { openFrames } from './io/frames.js';
import { davisPalette, encodeIndexedPng } from './io/png.js';
import { davisIndexMask } from './io/png_format.js';
import { renderOverlay, type OverlayPrompt } from './io/render.js';
import type { ModelSize, ModelVersion } from './model/config.js';
import { SAM2VideoPredictor, type FrameResult } from './model/video_predictor.js';
import { Sam2Error } from './runtime/errors.js';

export interface TrackPrompt {
  frame: number;
  objId: number;
  /** Points in video pixels with labels (1 positive, 0 negative). */
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
  /** Converted safetensors weights; absent → synthetic weights (see TrackSummary.syntheticWeights). */
  weights?: string;
  dtype?: 'f32' | 'f16';
  imageSize?: number;
  /** Also track backwards from the earliest prompted frame to frame 0. */
  reverse?: boolean;
  /** Track at most this many frames after the start (default: to the end). */
  maxFrames?: number;
  out?: string;
  masksDir?: string;
  json?: string;
  fps?: number;
  onProgress?: (p: TrackProgress) => void;
}

export interface FrameSummary {
  frame: number;
  objects: Array<{ objId: number; area: number; score: number | null }>;
  trackMs: number | null;
}

export interface TrackSummary {
  source: string;
  width: number;
  height: number;
  frames: number;
  trackedFrames: number;
  objIds: number[];
  model: string;
  dtype: string;
  imageSize: number;
  adapter: string;
  syntheticWeights: boolean;
  msPerFrame: number;
  outputs: { mp4?: string; masksDir?: string; json?: string };
  perFrame: FrameSummary[];
}

function validatePrompts(prompts: TrackPrompt[]): void {
  if (prompts.length === 0) throw new Sam2Error('no prompt: give at least one point or box (e.g. --point 210,350)');
  for (const p of prompts) {
    if (!p.points?.length && !p.box) throw new Sam2Error(`object ${p.objId} on frame ${p.frame}: a prompt needs a point or a box`);
  }
}

/** Moves a finished folder into place, replacing an older one only once the new one is complete. */
function replaceDir(tmp: string, final: string): void {
  if (existsSync(final)) {
    const old = `${final}.old-${process.pid}`;
    renameSync(final, old);
    renameSync(tmp, final);
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(tmp, final);
  }
}

export async function trackVideo(opts: TrackJobOptions): Promise<TrackSummary> {
  validatePrompts(opts.prompts);
  const source = await openFrames(opts.source);
  const progress = (p: Omit<TrackProgress, 'framesPerSecond' | 'etaSeconds'> & Partial<TrackProgress>) =>
    opts.onProgress?.({ framesPerSecond: 0, etaSeconds: 0, ...p });
  progress({ done: 0, total: 0, frameIdx: 0, phase: 'load' });
  const predictor = await SAM2VideoPredictor.load({
    model: opts.model,
    version: opts.version,
    weights: opts.weights,
    dtype: opts.dtype,
    imageSize: opts.imageSize,
  });
  let masksTmp: string | undefined;
  let mp4: Mp4Writer | undefined;
  try {
    const state = await predictor.initState(source);
    // Check every prompt before running any.
    for (const p of opts.prompts) {
      if (!Number.isInteger(p.frame) || p.frame < 0 || p.frame >= source.count) {
        throw new Sam2Error(`prompt frame ${p.frame} is out of range (the video has ${source.count} frames: 0..${source.count - 1})`);
      }
    }
    const drawn = new Map<number, OverlayPrompt[]>();
    for (const p of opts.prompts) {
      progress({ done: 0, total: 0, frameIdx: p.frame, phase: 'prompt' });
      await predictor.addNewPointsOrBox(state, { frameIdx: p.frame, objId: p.objId, points: p.points, labels: p.labels, box: p.box, clearOldPoints: !!p.box || !state.objIds.includes(p.objId) });
      const list = drawn.get(p.frame) ?? [];
      list.push({ points: p.points, labels: p.labels, box: p.box });
      drawn.set(p.frame, list);
    }
    const start = Math.min(...opts.prompts.map((p) => p.frame));
    const results = new Map<number, FrameResult>();
    const times = new Map<number, number>();
    const forwardEnd = Math.min(source.count - 1, start + (opts.maxFrames ?? source.count));
    const total = forwardEnd - start + 1 + (opts.reverse ? start + 1 : 0);
    let done = 0;
    const t0 = performance.now();
    if (opts.reverse && start > 0) {
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

    // Outputs
    const W = source.width;
    const H = source.height;
    const palette = davisPalette(256);
    if (opts.out) {
      mkdirSync(dirname(opts.out), { recursive: true });
      mp4 = new Mp4Writer(opts.out, { width: W, height: H, fps: opts.fps ?? source.fps ?? 24 });
    }
    if (opts.masksDir) {
      masksTmp = `${opts.masksDir}.partial-${process.pid}`;
      rmSync(masksTmp, { recursive: true, force: true });
      mkdirSync(masksTmp, { recursive: true });
    }
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
      if (mp4 || masksTmp) {
        if (mp4) {
          const frame = await source.get(f);
          await mp4.write(renderOverlay(W, H, frame.rgb, masks, drawn.get(f) ?? []));
        }
        if (masksTmp) {
          const idx = davisIndexMask(W, H, masks.map((m) => m.objId), masks.map((m) => m.mask));
          writeFileAtomic(join(masksTmp, `${String(f).padStart(5, '0')}.png`), encodeIndexedPng(W, H, idx, palette));
        }
      }
      perFrame.push({
        frame: f,
        objects: r ? r.objIds.map((objId, k) => ({ objId, area: r!.masks[k].reduce((a, b) => a + b, 0), score: Number.isFinite(r!.objectScores[k]) ? r!.objectScores[k] : null })) : [],
        trackMs: times.get(f) ?? null,
      });
    }
    await forward.return(undefined);
    progress({ done, total, frameIdx: source.count - 1, phase: 'write' });
    if (mp4) {
      await mp4.close();
      mp4 = undefined;
    }
    if (masksTmp && opts.masksDir) {
      replaceDir(masksTmp, opts.masksDir);
      masksTmp = undefined;
    }
    const tracked = perFrame.filter((p) => p.trackMs !== null);
    const summary: TrackSummary = {
      source: opts.source,
      width: W,
      height: H,
      frames: source.count,
      trackedFrames: tracked.length,
      objIds: [...state.objIds],
      model: predictor.config.name,
      dtype: predictor.model.dtype,
      imageSize: predictor.config.imageSize,
      adapter: `${predictor.gpu.info.adapter} (${predictor.gpu.info.backend})`,
      syntheticWeights: predictor.syntheticWeights,
      msPerFrame: tracked.length ? tracked.reduce((a, p) => a + (p.trackMs ?? 0), 0) / tracked.length : 0,
      outputs: { mp4: opts.out, masksDir: opts.masksDir, json: opts.json },
      perFrame,
    };
    if (opts.json) writeFileAtomic(opts.json, JSON.stringify(summary, null, 1));
    predictor.closeState(state);
    return summary;
  } finally {
    if (mp4) await mp4.abort();
    if (masksTmp) rmSync(masksTmp, { recursive: true, force: true });
    source.close();
    predictor.dispose();
  }
}
