/**
 * SAM2VideoPredictor (sam2/sam2_video_predictor.py) in TypeScript: an inference state over a video, prompts
 * (points, boxes, masks) on any frame for any number of objects, and propagation through the video with
 * SAM 2's memory, forward or in reverse. The per-frame model work is SAM2Base.trackStep (sam2_base.ts);
 * this file keeps the official bookkeeping: per-object inputs, temporary outputs of prompted frames,
 * conditioning / non-conditioning outputs, the memory encoder run at the start of propagation, hole filling,
 * the non-overlapping constraint and the video-resolution output masks.
 *
 * Memory stays bounded: per object, conditioning frames are kept; of the non-conditioning frames only those
 * the memory selection can still reach from the most recently tracked frame keep their GPU tensors: memory
 * features within `numMaskmem` frames, pointers and low-res logits within `maxObjPtrsInEncoder` frames (in
 * either direction). A correction click on a frame outside that window starts from no previous logits, and
 * tracking restarted far from the last tracked frame finds fewer past memories there (the official code,
 * which keeps every frame, would use them).
 */
import type { Frame, FrameSource } from '../io/frames.js';
import { DisposableResource } from '../runtime/dispose.js';
import { DisposedError, Sam2Error } from '../runtime/errors.js';
import { checkOptionKeys } from '../runtime/options.js';
import { dispose } from '../runtime/scope.js';
import type { Tensor } from '../runtime/tensor.js';
import type { Gpu } from '../runtime/gpu.js';
import { uniqueVariants, variantKey, type KernelVariant } from '../runtime/pipelines.js';
import type { Sam2Config } from '../checkpoint/config.js';
import { PromptError } from './prompt_encoder.js';
import { loadModel, type LoadedModel, type ModelLoadOptions, type WeightStore } from '../checkpoint/weights.js';
import type { ImageFeatures } from './image_encoder.js';
import { applyNonOverlappingConstraints, fillHolesInMaskScores } from './postprocess.js';
import { frameOutput, NO_OBJ_SCORE, releaseOutput, SAM2Base, type FrameOutput, type ObjectOutputDict, type PointInputs } from './sam2_base.js';
import { preprocessVideoFrame } from './preprocess.js';
import { resize } from '../kernels/resize.js';

/** A prompt or tracking result for one frame: every object of the state, in objIds order. */
export interface FrameResult {
  frameIdx: number;
  objIds: number[];
  /** Per object: the video-resolution mask (height × width, 1 = object). */
  masks: Uint8Array[];
  /** Per object: the video-resolution logits, when the state was created with returnLogits. */
  logits?: Float32Array[];
  /** Per object: the object score logit (> 0: present). NaN for an object without output on this frame. */
  objectScores: number[];
}

export interface InitStateOptions {
  /** Return video-resolution logits with every result (memory: 4 bytes per pixel per object). */
  returnLogits?: boolean;
  /** Frames whose encoded features are kept (default 1, as the official predictor). */
  featureCacheFrames?: number;
}

/** Per-object state, as the official inference_state's *_per_obj dictionaries. */
interface ObjectState {
  pointInputs: Map<number, PointInputs>;
  maskInputs: Map<number, Tensor>;
  output: ObjectOutputDict;
  temp: ObjectOutputDict;
  framesTracked: Map<number, { reverse: boolean }>;
}

export class InferenceState extends DisposableResource {
  readonly objIds: number[] = [];
  readonly objects: ObjectState[] = [];
  /** Frames whose features are cached, most recent last. */
  readonly featureCache = new Map<number, ImageFeatures>();
  /** The frame the memory window is centred on (the last one tracked). */
  lastTracked = -1;
  private closed = false;

  constructor(
    readonly source: FrameSource,
    readonly opts: Readonly<Required<InitStateOptions>>,
    private readonly onClose: (state: InferenceState) => void = () => {},
  ) {
    super();
  }

  /** True once closeState() / close() ran; using the state afterwards is a DisposedError. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** The predictor's closeState(state): frees the state's GPU tensors and closes its frame source. Runs once. */
  close(): void {
    if (this.closed) return;
    this.onClose(this);
    this.closed = true;
  }

  /** `using state = await predictor.initState(frames)` closes it at scope exit. */
  protected free(): void {
    this.close();
  }

  get numFrames(): number {
    return this.source.count;
  }

  get videoHeight(): number {
    return this.source.height;
  }

  get videoWidth(): number {
    return this.source.width;
  }
}

export interface PointsOrBoxPrompt {
  frameIdx: number;
  objId: number;
  /** [x, y] pairs in video pixels (or in [0, 1] with normalizeCoords false... see normalizeCoords). */
  points?: ReadonlyArray<readonly [number, number]>;
  /** 1 positive, 0 negative (−1 padding, 2 / 3 box corners are accepted as the official code does). */
  labels?: readonly number[];
  /** [x0, y0, x1, y1] in video pixels. */
  box?: readonly [number, number, number, number];
  clearOldPoints?: boolean;
  /** true (default): coordinates are video pixels; false: already in the model's input pixels. */
  normalizeCoords?: boolean;
}

export interface MaskPrompt {
  frameIdx: number;
  objId: number;
  /** height × width, nonzero = object (video resolution or any size). */
  mask: Uint8Array | boolean[];
  height?: number;
  width?: number;
}

export interface PropagateOptions {
  startFrameIdx?: number;
  maxFrameNumToTrack?: number;
  reverse?: boolean;
}

function emptyDict(): ObjectOutputDict {
  return { cond: new Map(), nonCond: new Map() };
}


export interface PredictorLoadOptions extends ModelLoadOptions {
  /** Override the official post-processing: fill holes up to this area (0 = off). */
  fillHoleArea?: number;
  /** Apply the non-overlapping constraint across objects to the output masks. */
  nonOverlapMasks?: boolean;
  /**
   * Track the objects of a frame together, one batch through memory attention, the heads and the memory
   * encoder (default true; false runs them one by one as the official predictor, with the same results).
   */
  batchObjects?: boolean;
  /**
   * clear_non_cond_mem_around_input (default false, as the official): when a prompt is filed (before
   * propagating) and when tracking reaches an object's prompted frame, drop that object's tracked
   * (non-conditioning) outputs within memory_temporal_stride × num_maskmem frames of it, so stale memories
   * do not contradict the new prompt. (sam2 1.1.0 calls a per-object helper it does not define; this is that
   * helper's evident meaning, the per-object form of its _clear_non_cond_mem_around_input.)
   */
  clearNonCondMemAroundInput?: boolean;
  /**
   * add_all_frames_to_correct_as_cond (default false, as the official): a prompt on an already tracked frame
   * makes it a conditioning frame, so the correction is kept (not re-tracked) when propagating again and
   * every later frame attends to it.
   */
  addAllFramesToCorrectAsCond?: boolean;
  /**
   * Compile the GPU pipelines of a click and a tracked frame in the background as soon as the model is loaded
   * (default true), so the first click does not wait for shader compilation: see `ready` and warmup().
   */
  warmup?: boolean;
}

/** How long the predictor must be without prompt work before a tracked frame's pipelines compile (ms). */
const IDLE_MS = 250;

/** A frame result's reads in flight (startVideoRes). */
interface PendingResult {
  out: FrameOutput;
  reads: Promise<[Float32Array, Float32Array, Float32Array | null]>;
}

/** Every key of each option object (a Record over keyof, so a new option must be listed here to compile). */
const LOAD_KEYS = Object.keys({
  model: 1, version: 1, weights: 1, dtype: 1, imageSize: 1, gpu: 1, profile: 1, fillHoleArea: 1, nonOverlapMasks: 1, batchObjects: 1,
  clearNonCondMemAroundInput: 1, addAllFramesToCorrectAsCond: 1, onProgress: 1, warmup: 1,
} satisfies Record<keyof PredictorLoadOptions, 1>);
const INIT_STATE_KEYS = Object.keys({ returnLogits: 1, featureCacheFrames: 1 } satisfies Record<keyof InitStateOptions, 1>);
const POINTS_KEYS = Object.keys({
  frameIdx: 1, objId: 1, points: 1, labels: 1, box: 1, clearOldPoints: 1, normalizeCoords: 1,
} satisfies Record<keyof PointsOrBoxPrompt, 1>);
const MASK_KEYS = Object.keys({ frameIdx: 1, objId: 1, mask: 1, height: 1, width: 1 } satisfies Record<keyof MaskPrompt, 1>);
const PROPAGATE_KEYS = Object.keys({ startFrameIdx: 1, maxFrameNumToTrack: 1, reverse: 1 } satisfies Record<keyof PropagateOptions, 1>);

/**
 * Checks the points, labels and box of a prompt against a frame of `size` = [width, height] (in `unit`, e.g.
 * 'video pixels'): finite coordinates inside the frame (edges included), labels the model knows, a box with
 * x1 >= x0 and y1 >= y0. Throws a Sam2Error naming the point or box and the frame size.
 */
export function checkPromptGeometry(
  p: { points?: ReadonlyArray<readonly [number, number]>; labels?: readonly number[]; box?: readonly [number, number, number, number] },
  size: readonly [number, number],
  unit = 'video pixels',
): void {
  const [W, H] = size;
  const inside = (x: number, y: number) => Number.isFinite(x) && Number.isFinite(y) && x >= 0 && y >= 0 && x <= W && y <= H;
  const pts = p.points ?? [];
  const labels = p.labels ?? [];
  pts.forEach(([x, y], i) => {
    if (!inside(x, y)) throw new PromptError(`point ${i} (${x}, ${y}) is outside the frame (${W}×${H} ${unit})`);
    if (![-1, 0, 1, 2, 3].includes(labels[i])) throw new PromptError(`label ${labels[i]} of point ${i} must be 1 (positive), 0 (negative), -1, 2 or 3`);
  });
  if (p.box) {
    const [x0, y0, x1, y1] = p.box;
    if (!(x1 >= x0 && y1 >= y0)) throw new PromptError(`box [${p.box.join(', ')}] must have x1 >= x0 and y1 >= y0`);
    if (!inside(x0, y0) || !inside(x1, y1)) throw new PromptError(`box [${p.box.join(', ')}] is outside the frame (${W}×${H} ${unit})`);
  }
}

/** What a predictor was loaded with (fixed for its lifetime). */
interface PredictorSettings {
  syntheticWeights: boolean;
  batchObjects: boolean;
  clearNonCondMemAroundInput: boolean;
  addAllFramesToCorrectAsCond: boolean;
  ownsGpu: boolean;
  /** The weights load() made, freed by dispose() (none when the model was built by the caller). */
  ownedWeights: WeightStore | null;
}

export class SAM2VideoPredictor extends DisposableResource {
  readonly config: Sam2Config;
  readonly gpu: Gpu;
  private readonly settings: Readonly<PredictorSettings>;
  private disposed = false;
  /** The background compilation started by warmup(): a click's pipelines (never rejects), then all of them. */
  private warmClick: Promise<void> = Promise.resolve();
  private warmed: Promise<void> = Promise.resolve();
  /** Prompts and frame encodings running now (the tracked frame's warmup waits for none), and who waits for that. */
  private promptsRunning = 0;
  private lastPromptWork = -Infinity;
  private promptsIdle: Array<() => void> = [];

  constructor(
    readonly model: SAM2Base,
    settings: Partial<PredictorSettings> = {},
  ) {
    super();
    this.config = model.config;
    this.gpu = model.gpu;
    this.settings = Object.freeze({
      syntheticWeights: settings.syntheticWeights ?? false,
      batchObjects: settings.batchObjects ?? true,
      clearNonCondMemAroundInput: settings.clearNonCondMemAroundInput ?? false,
      addAllFramesToCorrectAsCond: settings.addAllFramesToCorrectAsCond ?? false,
      ownsGpu: settings.ownsGpu ?? false,
      ownedWeights: settings.ownedWeights ?? null,
    });
  }

  // What the predictor was loaded with; fixed (getters: assigning one is a TypeError).

  /** True when the model runs on synthetic weights (weights: 'synthetic'): its masks are meaningless. */
  get syntheticWeights(): boolean {
    return this.settings.syntheticWeights;
  }

  /** Objects of a frame are tracked in one batch (PredictorLoadOptions.batchObjects). */
  get batchObjects(): boolean {
    return this.settings.batchObjects;
  }

  /** PredictorLoadOptions.clearNonCondMemAroundInput. */
  get clearNonCondMemAroundInput(): boolean {
    return this.settings.clearNonCondMemAroundInput;
  }

  /** PredictorLoadOptions.addAllFramesToCorrectAsCond. */
  get addAllFramesToCorrectAsCond(): boolean {
    return this.settings.addAllFramesToCorrectAsCond;
  }

  /**
   * Resolves when the pipelines warmup() compiles in the background are ready (at once when none is
   * running); rejects with the compile error if one failed. Optional: every method that runs the model waits
   * for the warmup itself, so that no pipeline is compiled twice.
   */
  get ready(): Promise<void> {
    return this.warmed;
  }

  /**
   * The kernel variants of a session's first steps at this image size, listed by a dry run (Gpu.dryRun: the
   * dispatches are recorded, not executed), in two groups: `click`, a frame's preprocessing and image
   * encoder, a first click (multimask), a second one (single mask, with the previous logits) and the
   * video-resolution masks; `track`, the memory encoder and a tracked frame with memory (those not in
   * `click`).
   */
  warmupVariants(): { click: KernelVariant[]; track: KernelVariant[] } {
    const gpu = this.gpu;
    const m = this.model;
    const S = this.imageSize;
    let click: KernelVariant[] = [];
    const all = gpu.dryRun(() => {
      // A frame larger than the model input, as most videos are (downscaled).
      const W = 2 * S;
      const H = (3 * S) / 2;
      const features = m.imageEncoder.encode(preprocessVideoFrame(gpu, new Uint8Array(W * H * 3), W, H, S, { dtype: m.dtype }));
      const obj = emptyDict();
      const step = (pointInputs: PointInputs, prev?: Tensor) =>
        m.trackStep({ frameIdx: 0, isInitCondFrame: true, features, pointInputs, outputs: obj, numFrames: 2, reverse: false, runMemEncoder: false, prevSamMaskLogits: prev });
      const first = step({ coords: Float32Array.of(S / 2, S / 2), labels: Int32Array.of(1) });
      const second = step({ coords: Float32Array.of(S / 2, S / 2, S / 4, S / 4), labels: Int32Array.of(1, 0) }, m.clampLogits(first.predMasks, -32, 32));
      resize(gpu, second.predMasks, 'bilinear', { size: [H, W] });
      click = gpu.dryRecorded();
      const out = frameOutput(second);
      out.maskmemFeatures = m.encodeMemoryFromLowRes(features, out.predMasks, out.objectScoreLogits, true);
      obj.cond.set(0, out);
      m.trackObjects({ frameIdx: 1, features, outputs: [obj], numFrames: 2, reverse: false, runMemEncoder: true });
    });
    const keys = new Set(click.map(variantKey));
    return { click: uniqueVariants(click), track: uniqueVariants(all.filter((v) => !keys.has(variantKey(v)))) };
  }

  /**
   * Compiles the pipelines of warmupVariants() in the background (createComputePipelineAsync): a click's
   * first, then, once no prompt or frame encoding is running, a tracked frame's. load() calls it unless
   * `warmup: false`. A click waits for the first group only, propagation for both, so that no pipeline is
   * compiled twice. Resolves when all are ready.
   */
  warmup(): Promise<void> {
    this.check('warmup');
    const { click, track } = this.warmupVariants();
    const pipelines = this.gpu.pipelines;
    const first = pipelines.warmup(click);
    // A tracked frame's pipelines compile when no prompt or frame encoding is running: on a software adapter
    // the compilation and a click's work share the CPU cores.
    const all = first.then(async () => {
      await this.untilIdle();
      return pipelines.warmup(track);
    });
    this.warmClick = first.catch(() => undefined);
    this.warmed = all;
    return all;
  }

  /** Resolves when no prompt is running. */
  private untilNoPrompt(): Promise<void> {
    if (this.promptsRunning === 0) return Promise.resolve();
    return new Promise((resolve) => this.promptsIdle.push(resolve));
  }

  /**
   * Resolves when the predictor is idle: no prompt or frame encoding running, the GPU done with what they
   * submitted, and none started within the last 250 ms (a caller that encodes a frame and then prompts on
   * it is still busy between the two).
   */
  private async untilIdle(): Promise<void> {
    for (;;) {
      await this.untilNoPrompt();
      await this.gpu.device.queue.onSubmittedWorkDone();
      const quiet = IDLE_MS - (performance.now() - this.lastPromptWork);
      if (quiet > 0) await new Promise((resolve) => setTimeout(resolve, quiet));
      if (this.promptsRunning === 0 && performance.now() - this.lastPromptWork >= IDLE_MS) return;
    }
  }

  /** Waits for the warmup of a click's or a tracked frame's pipelines (a failed one is not an error here: the dispatch that needs the pipeline reports it). */
  private async untilWarm(what: 'click' | 'track'): Promise<void> {
    await (what === 'click' ? this.warmClick : this.warmed.catch(() => undefined));
  }

  /**
   * Loads a model: the GPU (unless given), the weights (checked against the official config of `model` /
   * `version`; weights of another size are refused with a message saying which they are), and every module.
   */
  static async load(opts: PredictorLoadOptions = {}): Promise<SAM2VideoPredictor> {
    checkOptionKeys('SAM2VideoPredictor.load', opts, LOAD_KEYS);
    const post = (c: Sam2Config): Sam2Config => ({
      ...c,
      fillHoleArea: opts.fillHoleArea ?? c.fillHoleArea,
      nonOverlapMasks: opts.nonOverlapMasks ?? c.nonOverlapMasks,
    });
    const build = async ({ config, gpu, weights, synthetic, ownsGpu }: LoadedModel) => {
      const p = new SAM2VideoPredictor(await SAM2Base.create({ gpu, weights }, config), {
        syntheticWeights: synthetic,
        batchObjects: opts.batchObjects,
        clearNonCondMemAroundInput: opts.clearNonCondMemAroundInput,
        addAllFramesToCorrectAsCond: opts.addAllFramesToCorrectAsCond,
        ownsGpu,
        ownedWeights: weights,
      });
      if (opts.warmup ?? true) p.warmup().catch(() => undefined);
      return p;
    };
    return loadModel(opts, 'SAM2VideoPredictor.load', build, post);
  }

  /** Frees the model and what load() made (the weights, and the GPU context unless given). Runs once; the predictor is unusable after. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.release();
    this.settings.ownedWeights?.release();
    if (this.settings.ownsGpu) this.gpu.destroy();
  }

  /** `using predictor = await SAM2VideoPredictor.load(...)` disposes it at scope exit. */
  protected free(): void {
    this.dispose();
  }

  /** Reads a tensor made by `make` (in a scope of its own) and frees it. */
  private async readTemporary(make: () => Tensor): Promise<Float32Array> {
    const t = this.gpu.tidy(make);
    try {
      return await this.gpu.read(t);
    } finally {
      t.release();
    }
  }

  /** Throws DisposedError when the predictor was disposed or the state closed. */
  private check(what: string, state?: InferenceState): void {
    if (this.disposed) throw new DisposedError(`${what}: this SAM2VideoPredictor was disposed`);
    if (state?.isClosed) throw new DisposedError(`${what}: this inference state was closed`);
  }

  get imageSize(): number {
    return this.config.imageSize;
  }

  // ------------------------------------------------------------------ state

  async initState(source: FrameSource, opts: InitStateOptions = {}): Promise<InferenceState> {
    this.check('initState');
    checkOptionKeys('initState', opts, INIT_STATE_KEYS);
    if (source.count < 1) throw new Sam2Error(`${source.description} has no frames`);
    const settings = { returnLogits: opts.returnLogits ?? false, featureCacheFrames: opts.featureCacheFrames ?? 1 };
    return new InferenceState(source, Object.freeze(settings), (state) => this.releaseState(state));
  }

  private objIdToIdx(state: InferenceState, objId: number, create: boolean): number {
    if (!Number.isInteger(objId)) throw new Sam2Error(`object id must be an integer, got ${objId}`);
    const idx = state.objIds.indexOf(objId);
    if (idx >= 0) return idx;
    if (!create) throw new Sam2Error(`unknown object id ${objId} (objects: ${state.objIds.join(', ') || 'none'})`);
    state.objIds.push(objId);
    state.objects.push({ pointInputs: new Map(), maskInputs: new Map(), output: emptyDict(), temp: emptyDict(), framesTracked: new Map() });
    return state.objIds.length - 1;
  }

  private checkFrame(state: InferenceState, frameIdx: number): void {
    if (!Number.isInteger(frameIdx) || frameIdx < 0 || frameIdx >= state.numFrames) {
      throw new Sam2Error(`frame index ${frameIdx} is out of range (the video has ${state.numFrames} frames: 0..${state.numFrames - 1})`);
    }
  }

  /** Encoded features of a frame (cached like the official predictor: the most recent frame). */
  async imageFeatures(state: InferenceState, frameIdx: number): Promise<ImageFeatures> {
    this.check('imageFeatures', state);
    return this.promptWork(() => this.encodeFrame(state, frameIdx));
  }

  private async encodeFrame(state: InferenceState, frameIdx: number): Promise<ImageFeatures> {
    await this.untilWarm('click');
    const hit = state.featureCache.get(frameIdx);
    if (hit) {
      state.featureCache.delete(frameIdx);
      state.featureCache.set(frameIdx, hit);
      return hit;
    }
    const S = this.imageSize;
    const pre = await state.source.resized?.(frameIdx, S);
    const frame: Frame = pre ? { width: S, height: S, rgb: pre } : await state.source.get(frameIdx);
    const f = this.gpu.tidy(() =>
      this.model.imageEncoder.encode(preprocessVideoFrame(this.gpu, frame.rgb, frame.width, frame.height, S, { dtype: this.model.dtype })),
    );
    state.featureCache.set(frameIdx, f);
    while (state.featureCache.size > state.opts.featureCacheFrames) {
      const [k, v] = state.featureCache.entries().next().value as [number, ImageFeatures];
      state.featureCache.delete(k);
      dispose(v);
    }
    return f;
  }

  // ------------------------------------------------------------------ prompts

  async addNewPointsOrBox(state: InferenceState, p: PointsOrBoxPrompt): Promise<FrameResult> {
    this.check('addNewPointsOrBox', state);
    checkOptionKeys('addNewPointsOrBox', p, POINTS_KEYS);
    this.checkFrame(state, p.frameIdx);
    const clearOld = p.clearOldPoints ?? true;
    const normalize = p.normalizeCoords ?? true;
    if ((p.points === undefined) !== (p.labels === undefined)) throw new Sam2Error('points and labels must be provided together');
    if (p.points === undefined && p.box === undefined) throw new Sam2Error('at least one of points or box must be provided');
    const pts = p.points ?? [];
    const labels = p.labels ?? [];
    if (pts.length !== labels.length) throw new Sam2Error(`${pts.length} points but ${labels.length} labels`);
    const W = state.videoWidth;
    const H = state.videoHeight;
    checkPromptGeometry(p, normalize ? [W, H] : [this.imageSize, this.imageSize], normalize ? 'video pixels' : 'model pixels');
    const coords: number[] = [];
    const labs: number[] = [];
    if (p.box) {
      if (!clearOld) throw new Sam2Error('cannot add a box without clearing old points (use clearOldPoints: true): a box must come before any point');
      const [x0, y0, x1, y1] = p.box;
      coords.push(x0, y0, x1, y1);
      labs.push(2, 3);
    }
    for (const [x, y] of pts) coords.push(x, y);
    labs.push(...labels);
    // As the official: normalize by the video size, then scale by the model's image size, in f32.
    const f = Math.fround;
    const S = this.imageSize;
    const scaled = new Float32Array(coords.length);
    for (let i = 0; i < coords.length; i += 2) {
      const x = normalize ? f(coords[i] / W) : coords[i];
      const y = normalize ? f(coords[i + 1] / H) : coords[i + 1];
      scaled[i] = f(x * S);
      scaled[i + 1] = f(y * S);
    }
    const objIdx = this.objIdToIdx(state, p.objId, true);
    const obj = state.objects[objIdx];
    const old = clearOld ? undefined : obj.pointInputs.get(p.frameIdx);
    const pointInputs: PointInputs = old
      ? { coords: concatF32(old.coords, scaled), labels: Int32Array.from([...old.labels, ...labs]) }
      : { coords: scaled, labels: Int32Array.from(labs) };
    obj.pointInputs.set(p.frameIdx, pointInputs);
    dispose(obj.maskInputs.get(p.frameIdx));
    obj.maskInputs.delete(p.frameIdx);
    return this.runPrompt(state, objIdx, p.frameIdx, pointInputs, undefined);
  }

  async addNewMask(state: InferenceState, p: MaskPrompt): Promise<FrameResult> {
    this.check('addNewMask', state);
    checkOptionKeys('addNewMask', p, MASK_KEYS);
    this.checkFrame(state, p.frameIdx);
    const H = p.height ?? state.videoHeight;
    const W = p.width ?? state.videoWidth;
    if (p.mask.length !== H * W) {
      throw new Sam2Error(`mask has ${p.mask.length} values; expected ${H}×${W} (give height and width for another size)`);
    }
    const S = this.imageSize;
    const m = new Float32Array(H * W);
    for (let i = 0; i < m.length; i++) m[i] = p.mask[i] ? 1 : 0;
    let t: Tensor;
    if (H !== S || W !== S) {
      // Official: antialiased bilinear resize to image_size, then >= 0.5.
      const v = await this.readTemporary(() => resize(this.gpu, this.gpu.upload(m, [1, 1, H, W], 'f32', 'mask input'), 'bilinear', { size: [S, S], antialias: true }));
      for (let i = 0; i < v.length; i++) v[i] = v[i] >= 0.5 ? 1 : 0;
      t = this.gpu.upload(v, [1, 1, S, S], 'f32', 'mask input');
    } else {
      t = this.gpu.upload(m, [1, 1, H, W], 'f32', 'mask input');
    }
    const objIdx = this.objIdToIdx(state, p.objId, true);
    const obj = state.objects[objIdx];
    dispose(obj.maskInputs.get(p.frameIdx));
    obj.maskInputs.set(p.frameIdx, t);
    obj.pointInputs.delete(p.frameIdx);
    return this.runPrompt(state, objIdx, p.frameIdx, undefined, t);
  }

  private async runPrompt(state: InferenceState, objIdx: number, frameIdx: number, pointInputs: PointInputs | undefined, maskInputs: Tensor | undefined): Promise<FrameResult> {
    return this.promptWork(() => this.prompt(state, objIdx, frameIdx, pointInputs, maskInputs));
  }

  /** Runs a prompt's work (a click, or encoding a frame), counted so that the tracked frame's warmup waits for it. */
  private async promptWork<T>(work: () => Promise<T>): Promise<T> {
    this.promptsRunning++;
    this.lastPromptWork = performance.now();
    try {
      return await work();
    } finally {
      this.lastPromptWork = performance.now();
      if (--this.promptsRunning === 0) for (const resolve of this.promptsIdle.splice(0)) resolve();
    }
  }

  private async prompt(state: InferenceState, objIdx: number, frameIdx: number, pointInputs: PointInputs | undefined, maskInputs: Tensor | undefined): Promise<FrameResult> {
    const obj = state.objects[objIdx];
    const tracked = obj.framesTracked.get(frameIdx);
    const isInitCondFrame = tracked === undefined;
    const reverse = tracked?.reverse ?? false;
    // A correction on a tracked frame stays a non-conditioning output unless add_all_frames_to_correct_as_cond.
    const isCond = isInitCondFrame || this.addAllFramesToCorrectAsCond;
    const temp = isCond ? obj.temp.cond : obj.temp.nonCond;
    const prev = pointInputs ? (temp.get(frameIdx) ?? obj.output.cond.get(frameIdx) ?? obj.output.nonCond.get(frameIdx)) : undefined;
    const features = await this.imageFeatures(state, frameIdx);
    const out = this.gpu.tidy(() =>
      frameOutput(
        this.model.trackStep({
          frameIdx,
          isInitCondFrame,
          features,
          pointInputs,
          maskInputs,
          outputs: obj.output,
          numFrames: state.numFrames,
          reverse,
          runMemEncoder: false,
          prevSamMaskLogits: prev && this.model.clampLogits(prev.predMasks, -32, 32),
        }),
      ),
    );
    const stored = await this.finishOutput(out);
    releaseOutput(temp.get(frameIdx));
    temp.set(frameIdx, stored);
    return this.consolidatedResult(state, frameIdx, isCond);
  }

  /** Hole filling of the stored low-res logits (as _run_single_frame_inference). */
  private async finishOutput(out: FrameOutput): Promise<FrameOutput> {
    if (this.config.fillHoleArea > 0) this.fillHoles(out, await this.gpu.read(out.predMasks));
    return out;
  }

  /**
   * Fills the holes of `logits` (out's low-res logits, read back); when that changes them, they replace
   * out's logits on the GPU. Returns whether they changed.
   */
  private fillHoles(out: FrameOutput, logits: Float32Array): boolean {
    const s = out.predMasks.shape;
    if (fillHolesInMaskScores(logits, s[s.length - 2], s[s.length - 1], this.config.fillHoleArea) === 0) return false;
    dispose(out.predMasks);
    out.predMasks = this.gpu.upload(logits, s, 'f32', 'pred_masks');
    return true;
  }

  /** Every object's mask on a frame, from temporary outputs first, then stored ones (consolidation). */
  private async consolidatedResult(state: InferenceState, frameIdx: number, isCond: boolean): Promise<FrameResult> {
    const outs = state.objects.map(
      (obj) => (isCond ? obj.temp.cond : obj.temp.nonCond).get(frameIdx) ?? obj.output.cond.get(frameIdx) ?? obj.output.nonCond.get(frameIdx),
    );
    return this.videoResResult(state, frameIdx, outs);
  }

  /** Upsamples each object's low-res logits to the video size (bilinear, as the official) and thresholds them. */
  private async videoResResult(state: InferenceState, frameIdx: number, outs: Array<FrameOutput | undefined>): Promise<FrameResult> {
    await this.untilWarm('click');
    return this.finishVideoRes(state, frameIdx, this.startVideoRes(state, outs, new Set()));
  }

  /**
   * Records each output's upsampling to the video size and starts the reads of the result (submitted at
   * once, awaited by finishVideoRes): the video-resolution logits, the object score and, for the outputs in
   * `fill` when hole filling is on, the low-res logits it runs on.
   */
  private startVideoRes(state: InferenceState, outs: Array<FrameOutput | undefined>, fill: ReadonlySet<FrameOutput>): Array<PendingResult | null> {
    const size: [number, number] = [state.videoHeight, state.videoWidth];
    return outs.map((out) => {
      if (!out) return null;
      const video = this.gpu.tidy(() => resize(this.gpu, out.predMasks, 'bilinear', { size }));
      const reads = Promise.all([
        this.gpu.read(video).finally(() => video.release()),
        this.gpu.read(out.objectScoreLogits),
        this.config.fillHoleArea > 0 && fill.has(out) ? this.gpu.read(out.predMasks) : null,
      ]);
      return { out, reads };
    });
  }

  /**
   * Awaits the reads of startVideoRes and makes the frame's result. Hole filling (as
   * _run_single_frame_inference, after the memory encoder) runs on the low-res logits read: when it changes
   * them, the stored logits become the filled ones and their video-resolution logits are computed again.
   */
  private async finishVideoRes(state: InferenceState, frameIdx: number, pending: Array<PendingResult | null>): Promise<FrameResult> {
    const size: [number, number] = [state.videoHeight, state.videoWidth];
    const got = await Promise.all(pending.map((p) => p?.reads ?? null));
    const logits: Float32Array[] = [];
    const scores: number[] = [];
    for (const [i, p] of pending.entries()) {
      const r = got[i];
      if (!p || !r) {
        logits.push(new Float32Array(size[0] * size[1]).fill(NO_OBJ_SCORE));
        scores.push(NaN);
        continue;
      }
      let [video, score, low] = r;
      if (low && this.fillHoles(p.out, low)) video = await this.readTemporary(() => resize(this.gpu, p.out.predMasks, 'bilinear', { size }));
      logits.push(video);
      scores.push(score[0]);
    }
    if (this.config.nonOverlapMasks) applyNonOverlappingConstraints(logits);
    const masks = logits.map((l) => {
      const b = new Uint8Array(l.length);
      for (let i = 0; i < l.length; i++) b[i] = l[i] > 0 ? 1 : 0;
      return b;
    });
    return { frameIdx, objIds: [...state.objIds], masks, logits: state.opts.returnLogits ? logits : undefined, objectScores: scores };
  }

  // ------------------------------------------------------------------ propagation

  /** Runs the memory encoder on prompted frames and files their outputs (propagate_in_video_preflight). */
  private async preflight(state: InferenceState): Promise<void> {
    if (state.objects.length === 0) throw new Sam2Error('no points, boxes or masks were added for any object: add a prompt before propagating');
    for (let objIdx = 0; objIdx < state.objects.length; objIdx++) {
      const obj = state.objects[objIdx];
      for (const isCond of [false, true]) {
        const temp = isCond ? obj.temp.cond : obj.temp.nonCond;
        const dest = isCond ? obj.output.cond : obj.output.nonCond;
        for (const [frameIdx, out] of temp) {
          if (!out.maskmemFeatures) {
            const features = await this.imageFeatures(state, frameIdx);
            out.maskmemFeatures = this.model.encodeMemoryFromLowRes(features, out.predMasks, out.objectScoreLogits, true);
          }
          if (dest.get(frameIdx) !== out) releaseOutput(dest.get(frameIdx));
          dest.set(frameIdx, out);
          if (this.clearNonCondMemAroundInput) this.clearNonCondAround(obj, frameIdx);
        }
        temp.clear();
      }
      if (obj.output.cond.size === 0) {
        throw new Sam2Error(`no points, boxes or masks were added for object id ${state.objIds[objIdx]}: add a prompt before propagating`);
      }
      for (const f of obj.output.cond.keys()) {
        const o = obj.output.nonCond.get(f);
        if (o) {
          obj.output.nonCond.delete(f);
          if (![...obj.output.cond.values()].includes(o)) releaseOutput(o);
        }
      }
    }
  }

  async *propagateInVideo(state: InferenceState, opts: PropagateOptions = {}): AsyncGenerator<FrameResult> {
    this.check('propagateInVideo', state);
    checkOptionKeys('propagateInVideo', opts, PROPAGATE_KEYS);
    await this.untilWarm('track');
    await this.preflight(state);
    const numFrames = state.numFrames;
    let start = opts.startFrameIdx;
    if (start === undefined) {
      start = Math.min(...state.objects.flatMap((o) => [...o.output.cond.keys()]));
    } else {
      this.checkFrame(state, start);
    }
    const maxN = opts.maxFrameNumToTrack ?? numFrames;
    if (!Number.isInteger(maxN) || maxN < 0) throw new Sam2Error(`maxFrameNumToTrack must be a non-negative integer, got ${maxN}`);
    const reverse = opts.reverse ?? false;
    const order: number[] = [];
    if (reverse) {
      const end = Math.max(start - maxN, 0);
      if (start > 0) for (let f = start; f >= end; f--) order.push(f);
    } else {
      const end = Math.min(start + maxN, numFrames - 1);
      for (let f = start; f <= end; f++) order.push(f);
    }
    // One frame in flight: a frame's tracking and its result's reads are submitted, then the next frame's
    // image encoder (which does not depend on them), and only then are the masks awaited, so the GPU encodes
    // the next frame while this one's masks are read back, hole-filled and returned.
    let prefetch: { frameIdx: number; features: Promise<ImageFeatures> } | null = null;
    try {
      for (const [k, frameIdx] of order.entries()) {
        if (this.clearNonCondMemAroundInput) {
          for (const obj of state.objects) if (obj.output.cond.has(frameIdx)) this.clearNonCondAround(obj, frameIdx);
        }
        // Objects without a prompt on this frame are tracked together, in one batch.
        const toTrack = state.objects.filter((obj) => !obj.output.cond.has(frameIdx));
        const tracked = new Set<FrameOutput>();
        if (toTrack.length > 0) {
          const features = await (prefetch?.frameIdx === frameIdx ? prefetch.features : this.imageFeatures(state, frameIdx));
          prefetch = null;
          const args = { frameIdx, features, numFrames, reverse, runMemEncoder: true };
          const outs = this.batchObjects
            ? this.model.trackObjects({ ...args, outputs: toTrack.map((obj) => obj.output) })
            : toTrack.map((obj) => this.model.trackObjects({ ...args, outputs: [obj.output] })[0]);
          // Filed at once: the next frame's memory needs only their memory features and pointers; hole filling
          // replaces their logits when it has run.
          for (const [i, obj] of toTrack.entries()) {
            releaseOutput(obj.output.nonCond.get(frameIdx));
            obj.output.nonCond.set(frameIdx, outs[i]);
            tracked.add(outs[i]);
          }
        }
        const outs = state.objects.map((obj) => {
          obj.framesTracked.set(frameIdx, { reverse });
          return (obj.output.cond.get(frameIdx) ?? obj.output.nonCond.get(frameIdx))!;
        });
        const pending = this.startVideoRes(state, outs, tracked);
        const next = order[k + 1];
        if (next !== undefined && state.objects.some((obj) => !obj.output.cond.has(next))) {
          const features = this.imageFeatures(state, next).then((f) => {
            this.gpu.flush();
            return f;
          });
          features.catch(() => undefined);
          prefetch = { frameIdx: next, features };
        }
        const result = await this.finishVideoRes(state, frameIdx, pending);
        state.lastTracked = frameIdx;
        this.evict(state, frameIdx);
        yield result;
      }
    } finally {
      // Stopped early: let a prefetch finish filing its features (the state's cache frees them).
      await prefetch?.features.catch(() => undefined);
    }
  }

  /** Drops an object's tracked outputs within stride × num_maskmem frames of a prompted frame (both sides). */
  private clearNonCondAround(obj: ObjectState, frameIdx: number): void {
    const r = Math.max(1, this.config.memoryTemporalStrideForEval) * this.config.numMaskmem;
    const cond = new Set(obj.output.cond.values());
    for (const [f, out] of obj.output.nonCond) {
      if (Math.abs(f - frameIdx) <= r) {
        if (!cond.has(out)) releaseOutput(out);
        obj.output.nonCond.delete(f);
      }
    }
  }

  /**
   * Drops what the memory selection can no longer reach from `frameIdx`: the memory features (the bank) of
   * non-conditioning frames more than numMaskmem - 1 frames away, and whole outputs (pointer, logits) more than
   * maxObjPtrsInEncoder frames away. The bank therefore holds the conditioning frames plus at most numMaskmem
   * frames per object, however long the video.
   */
  private evict(state: InferenceState, frameIdx: number): void {
    const stride = Math.max(1, this.config.memoryTemporalStrideForEval);
    // The next frame attends to the numMaskmem - 1 frames before it: from the frame just tracked, those are
    // within numMaskmem - 2 frames; keep one more for a re-track of the same frame.
    const memReach = (this.config.numMaskmem - 1) * stride;
    const ptrReach = Math.max(memReach, this.config.maxObjPtrsInEncoder);
    for (const obj of state.objects) {
      for (const [f, out] of obj.output.nonCond) {
        const d = Math.abs(f - frameIdx);
        if (d > ptrReach) {
          releaseOutput(out);
          obj.output.nonCond.delete(f);
        } else if (d > memReach && out.maskmemFeatures) {
          dispose(out.maskmemFeatures);
          out.maskmemFeatures = null;
        }
      }
    }
  }

  /** GPU bytes of the memory bank (every stored memory feature of every object). */
  bankBytes(state: InferenceState): number {
    this.check('bankBytes', state);
    let n = 0;
    for (const obj of state.objects) {
      for (const d of [obj.output.cond, obj.output.nonCond]) for (const o of d.values()) n += o.maskmemFeatures?.byteLength ?? 0;
    }
    return n;
  }

  // ------------------------------------------------------------------ editing

  /** Removes every prompt of an object on a frame (clear_all_prompts_in_frame). */
  async clearAllPromptsInFrame(state: InferenceState, frameIdx: number, objId: number): Promise<FrameResult> {
    this.check('clearAllPromptsInFrame', state);
    this.checkFrame(state, frameIdx);
    const objIdx = this.objIdToIdx(state, objId, false);
    const obj = state.objects[objIdx];
    obj.pointInputs.delete(frameIdx);
    dispose(obj.maskInputs.get(frameIdx));
    obj.maskInputs.delete(frameIdx);
    releaseOutput(obj.temp.cond.get(frameIdx));
    releaseOutput(obj.temp.nonCond.get(frameIdx));
    obj.temp.cond.delete(frameIdx);
    obj.temp.nonCond.delete(frameIdx);
    const out = obj.output.cond.get(frameIdx);
    if (out) {
      obj.output.cond.delete(frameIdx);
      releaseOutput(obj.output.nonCond.get(frameIdx));
      obj.output.nonCond.set(frameIdx, out);
      obj.framesTracked.delete(frameIdx);
    }
    const isCond = state.objects.some((o) => o.temp.cond.has(frameIdx));
    return this.consolidatedResult(state, frameIdx, isCond);
  }

  /** Removes every prompt and result (reset_state). */
  resetState(state: InferenceState): void {
    this.check('resetState', state);
    for (const obj of state.objects) this.releaseObject(obj);
    state.objIds.length = 0;
    state.objects.length = 0;
    state.lastTracked = -1;
  }

  private releaseObject(obj: ObjectState): void {
    dispose(obj.maskInputs);
    const seen = new Set<FrameOutput>();
    for (const d of [obj.output, obj.temp]) {
      for (const m of [d.cond, d.nonCond]) for (const o of m.values()) seen.add(o);
    }
    for (const o of seen) releaseOutput(o);
  }

  /**
   * Removes an object (remove_object). Unknown ids are an error with strict (default), ignored otherwise.
   * Returns the remaining object ids and the updated masks of frames where the object had prompts.
   */
  async removeObject(state: InferenceState, objId: number, opts: { strict?: boolean } = {}): Promise<{ objIds: number[]; updated: FrameResult[] }> {
    this.check('removeObject', state);
    const idx = state.objIds.indexOf(objId);
    if (idx < 0) {
      if (opts.strict ?? true) throw new Sam2Error(`cannot remove object id ${objId}: it does not exist (objects: ${state.objIds.join(', ') || 'none'})`);
      return { objIds: [...state.objIds], updated: [] };
    }
    if (state.objIds.length === 1) {
      this.resetState(state);
      return { objIds: [], updated: [] };
    }
    const obj = state.objects[idx];
    const inputFrames = new Set([...obj.pointInputs.keys(), ...obj.maskInputs.keys()]);
    this.releaseObject(obj);
    state.objIds.splice(idx, 1);
    state.objects.splice(idx, 1);
    const updated: FrameResult[] = [];
    for (const f of [...inputFrames].sort((a, b) => a - b)) {
      const isCond = state.objects.some((o) => o.temp.cond.has(f));
      updated.push(await this.consolidatedResult(state, f, isCond));
    }
    return { objIds: [...state.objIds], updated };
  }

  /** Frees everything the state holds on the GPU. */
  closeState(state: InferenceState): void {
    state.close();
  }

  private releaseState(state: InferenceState): void {
    if (!this.disposed) this.resetState(state);
    dispose(state.featureCache);
    state.featureCache.clear();
    state.source.close();
  }
}

function concatF32(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
