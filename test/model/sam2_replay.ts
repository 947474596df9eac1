/**
 * Replays a recorded video case (test/fixtures/tiny256/video/<case>.nofill.safetensors) through
 * SAM2Base.trackStep with the official video predictor's bookkeeping (sam2_video_predictor.py): per object,
 * prompt calls run the tracking step without the memory encoder and keep their outputs as temporary
 * outputs (a correction click feeds the previous logits, clamped to ±32); propagation first encodes the
 * temporary outputs' memories from their stored low-res logits (as clicked frames) and files them, then
 * tracks every frame of the pass that is not a conditioning frame, with the memory encoder. No hole filling
 * (the `.nofill` runs). Every output the predictor would hold after a call is reported with its step.
 */
import { resize } from '../../src/kernels/resize.js';
import type { ImageFeatures } from '../../src/model/image_encoder.js';
import { releaseOutput, type FrameOutput, type ObjectOutputDict, type PointInputs, type SAM2Base } from '../../src/model/sam2_base.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import type { Fixture, VideoStep } from '../fixtures/reader.js';

export interface ReplayReport {
  step: number;
  frame: number;
  objId: number;
  /** 'prompt': the temporary output of a prompt call; 'tracked': tracked by the pass; 'cond': a stored conditioning output. */
  kind: 'prompt' | 'tracked' | 'cond';
  out: FrameOutput;
}

export interface ReplayOptions {
  model: SAM2Base;
  fx: Fixture;
  /** The frame's image features (kept by the caller; the replay never releases them). */
  features: (frame: number) => Promise<ImageFeatures>;
  /** Receives each output; may read it (it stays alive until the replay is released). */
  report: (r: ReplayReport) => Promise<void>;
  /** Stop a propagate step after this many frames (forward propagation is causal). */
  maxFramesPerPass?: number;
  /** Steps to run (default all). */
  steps?: number;
}

interface ObjectState {
  points: Map<number, PointInputs>;
  output: ObjectOutputDict;
  temp: ObjectOutputDict;
  tracked: Map<number, boolean>;
}

export class Replay {
  readonly objects = new Map<number, ObjectState>();
  private readonly S: number;
  private readonly videoH: number;
  private readonly videoW: number;
  private readonly numFrames: number;
  /** Frames each pass actually ran, by step. */
  readonly passes = new Map<number, number[]>();

  constructor(private readonly o: ReplayOptions) {
    this.S = o.model.imageSize;
    this.videoH = o.fx.meta.video_height as number;
    this.videoW = o.fx.meta.video_width as number;
    this.numFrames = o.fx.meta.num_frames as number;
  }

  private obj(id: number): ObjectState {
    let s = this.objects.get(id);
    if (!s) {
      s = { points: new Map(), output: { cond: new Map(), nonCond: new Map() }, temp: { cond: new Map(), nonCond: new Map() }, tracked: new Map() };
      this.objects.set(id, s);
    }
    return s;
  }

  async run(): Promise<void> {
    const steps = this.o.fx.meta.steps ?? [];
    for (const st of steps.slice(0, this.o.steps ?? steps.length)) {
      if (st.kind === 'propagate') await this.propagate(st);
      else if (st.kind === 'points' || st.kind === 'box' || st.kind === 'points+box' || st.kind === 'mask') await this.prompt(st);
      else {
        // clear_all_prompts_in_frame / remove_object / reset_state: replayed through SAM2VideoPredictor
        // (test/video/video_predictor.test.ts), whose bookkeeping they exercise.
        throw new Error(`${this.o.fx.path}: step ${st.step} (${st.kind}) is an editing call; replay this case through SAM2VideoPredictor`);
      }
    }
  }

  /** The official point scaling: video pixels / (W, H) · image_size, in f32. */
  private scale(xy: number[]): number[] {
    const f = Math.fround;
    return [f(f(xy[0] / this.videoW) * this.S), f(f(xy[1] / this.videoH) * this.S)];
  }

  private async maskInput(name: string): Promise<Tensor> {
    const gpu = this.o.model.gpu;
    const m = await this.o.fx.mask(name);
    const [H, W] = m.shape;
    const full = gpu.upload(Float32Array.from(m.data), [1, 1, H, W], 'f32', name);
    const r = resize(gpu, full, 'bilinear', { size: [this.S, this.S], antialias: true });
    const v = await gpu.read(r);
    full.release();
    r.release();
    for (let i = 0; i < v.length; i++) v[i] = v[i] >= 0.5 ? 1 : 0;
    return gpu.upload(v, [1, 1, this.S, this.S], 'f32', 'mask_inputs');
  }

  private async prompt(st: VideoStep): Promise<void> {
    const model = this.o.model;
    const frame = st.frame!;
    const s = this.obj(st.obj_id!);
    let pointInputs: PointInputs | undefined;
    let maskInputs: Tensor | undefined;
    if (st.kind === 'mask') {
      maskInputs = await this.maskInput(st.mask!);
      s.points.delete(frame);
    } else {
      const coords: number[] = [];
      const labels: number[] = [];
      if (st.box) {
        coords.push(...this.scale(st.box.slice(0, 2)), ...this.scale(st.box.slice(2, 4)));
        labels.push(2, 3);
      }
      for (const [i, p] of (st.points ?? []).entries()) {
        coords.push(...this.scale(p));
        labels.push(st.labels![i]);
      }
      const old = st.clear_old_points === false ? s.points.get(frame) : undefined;
      pointInputs = old
        ? { coords: Float32Array.from([...old.coords, ...coords]), labels: Int32Array.from([...old.labels, ...labels]) }
        : { coords: Float32Array.from(coords), labels: Int32Array.from(labels) };
      s.points.set(frame, pointInputs);
    }
    const isInit = !s.tracked.has(frame);
    const reverse = s.tracked.get(frame) ?? false;
    const temp = isInit ? s.temp.cond : s.temp.nonCond;
    let prev: Tensor | undefined;
    if (pointInputs) {
      const p = temp.get(frame) ?? s.output.cond.get(frame) ?? s.output.nonCond.get(frame);
      if (p) prev = model.clampLogits(p.predMasks, -32, 32);
    }
    const features = await this.o.features(frame);
    const out = model.trackStep({
      frameIdx: frame,
      isInitCondFrame: isInit,
      features,
      pointInputs,
      maskInputs,
      outputs: s.output,
      numFrames: this.numFrames,
      reverse,
      runMemEncoder: false,
      prevSamMaskLogits: prev,
    });
    prev?.release();
    maskInputs?.release();
    out.predMasksHighRes.release();
    const stored: FrameOutput = { predMasks: out.predMasks, objPtr: out.objPtr, objectScoreLogits: out.objectScoreLogits, maskmemFeatures: out.maskmemFeatures };
    releaseOutput(temp.get(frame));
    temp.set(frame, stored);
    await this.o.report({ step: st.step, frame, objId: st.obj_id!, kind: 'prompt', out: stored });
  }

  private async preflight(): Promise<void> {
    for (const s of this.objects.values()) {
      for (const isCond of [false, true]) {
        const temp = isCond ? s.temp.cond : s.temp.nonCond;
        const dest = isCond ? s.output.cond : s.output.nonCond;
        for (const [frame, out] of temp) {
          if (!out.maskmemFeatures) {
            out.maskmemFeatures = this.o.model.encodeMemoryFromLowRes(await this.o.features(frame), out.predMasks, out.objectScoreLogits, true);
          }
          if (dest.get(frame) !== out) releaseOutput(dest.get(frame));
          dest.set(frame, out);
        }
        temp.clear();
      }
      for (const f of s.output.cond.keys()) {
        const o = s.output.nonCond.get(f);
        if (o) {
          s.output.nonCond.delete(f);
          if (![...s.output.cond.values()].includes(o)) releaseOutput(o);
        }
      }
    }
  }

  /** The official processing order of a propagate call. */
  private order(st: VideoStep): number[] {
    let start = st.start_frame_idx ?? null;
    if (start === null) start = Math.min(...[...this.objects.values()].flatMap((s) => [...s.output.cond.keys()]));
    const maxN = st.max_frame_num_to_track ?? this.numFrames;
    const frames: number[] = [];
    if (st.reverse) {
      const end = Math.max(start - maxN, 0);
      if (start > 0) for (let f = start; f >= end; f--) frames.push(f);
    } else {
      const end = Math.min(start + maxN, this.numFrames - 1);
      for (let f = start; f <= end; f++) frames.push(f);
    }
    return frames;
  }

  private async propagate(st: VideoStep): Promise<void> {
    await this.preflight();
    const reverse = st.reverse ?? false;
    const all = this.order(st);
    const frames = all.slice(0, this.o.maxFramesPerPass ?? all.length);
    this.passes.set(st.step, all);
    for (const frame of frames) {
      for (const id of st.obj_ids) {
        const s = this.obj(id);
        let out = s.output.cond.get(frame);
        let kind: ReplayReport['kind'] = 'cond';
        if (!out) {
          const r = this.o.model.trackStep({
            frameIdx: frame,
            isInitCondFrame: false,
            features: await this.o.features(frame),
            outputs: s.output,
            numFrames: this.numFrames,
            reverse,
            runMemEncoder: true,
          });
          r.predMasksHighRes.release();
          out = { predMasks: r.predMasks, objPtr: r.objPtr, objectScoreLogits: r.objectScoreLogits, maskmemFeatures: r.maskmemFeatures };
          releaseOutput(s.output.nonCond.get(frame));
          s.output.nonCond.set(frame, out);
          kind = 'tracked';
        }
        s.tracked.set(frame, reverse);
        await this.o.report({ step: st.step, frame, objId: id, kind, out });
      }
    }
  }

  release(): void {
    for (const s of this.objects.values()) {
      const seen = new Set<FrameOutput>();
      for (const d of [s.output, s.temp]) for (const m of [d.cond, d.nonCond]) for (const o of m.values()) seen.add(o);
      for (const o of seen) releaseOutput(o);
    }
    this.objects.clear();
  }
}
