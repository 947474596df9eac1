/**
 * The click-to-track page: open a video, load a SAM 2 model on WebGPU, click points or drag boxes on any frame
 * for any number of objects, see the mask at once, propagate through the video with SAM 2's memory, correct
 * and re-propagate, play the overlay back, and export the overlay as MP4 and the masks as palette PNGs.
 *
 * window.__sam2 exposes the page's state (what is loaded, what is running, areas, timings) for tests and for
 * the curious; it is read-only by convention.
 */
import * as engine from '../src/index.js';
import {
  Gpu,
  SAM2VideoPredictor,
  Sam2Error,
  fetchWeights,
  framesFromImages,
  weightsFromFile,
  type FrameResult,
  type FrameSource,
  type InferenceState,
  type ModelSize,
  type ModelVersion,
  type WeightSource,
} from '../src/index.js';
import { objectColor, renderOverlay, type OverlayPrompt } from '../src/io/render.js';
import { acquireDevice } from '../src/runtime/device.js';
import { davisIndexMask } from '../src/io/png_format.js';
import { encodeMaskPng } from './png.js';
import { decodeVideo, encodeMp4, type DecodedVideo } from './video.js';

// ------------------------------------------------------------------------------------------------ elements

const $ = <T extends HTMLElement>(id: string) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page element #${id} is missing`);
  return el as T;
};
const el = {
  device: $('device'),
  model_: $('modelInUse'),
  nogpu: $('nogpu'),
  synthetic: $('synthetic'),
  error: $('error'),
  model: $<HTMLSelectElement>('model'),
  version: $<HTMLSelectElement>('version'),
  dtype: $<HTMLSelectElement>('dtype'),
  imageSize: $<HTMLSelectElement>('imageSize'),
  weightsUrl: $<HTMLInputElement>('weightsUrl'),
  weightsFile: $<HTMLInputElement>('weightsFile'),
  useCache: $<HTMLInputElement>('useCache'),
  load: $<HTMLButtonElement>('load'),
  loadProgress: $<HTMLProgressElement>('loadProgress'),
  loadStatus: $('loadStatus'),
  videoFile: $<HTMLInputElement>('videoFile'),
  maxDecode: $<HTMLInputElement>('maxDecode'),
  videoStatus: $('videoStatus'),
  objects: $('objects'),
  newObject: $<HTMLButtonElement>('newObject'),
  clearFrame: $<HTMLButtonElement>('clearFrame'),
  removeObject: $<HTMLButtonElement>('removeObject'),
  reset: $<HTMLButtonElement>('reset'),
  promptStatus: $('promptStatus'),
  maxFrames: $<HTMLInputElement>('maxFrames'),
  reverse: $<HTMLInputElement>('reverse'),
  propagate: $<HTMLButtonElement>('propagate'),
  stop: $<HTMLButtonElement>('stop'),
  trackProgress: $<HTMLProgressElement>('trackProgress'),
  trackStatus: $('trackStatus'),
  exportMp4: $<HTMLButtonElement>('exportMp4'),
  exportPngs: $<HTMLButtonElement>('exportPngs'),
  exportPng: $<HTMLButtonElement>('exportPng'),
  exportStatus: $('exportStatus'),
  view: $<HTMLCanvasElement>('view'),
  rubber: $('rubber'),
  play: $<HTMLButtonElement>('play'),
  scrub: $<HTMLInputElement>('scrub'),
  frameLabel: $('frameLabel'),
  showOverlay: $<HTMLInputElement>('showOverlay'),
  frameInfo: $('frameInfo'),
};
const view = el.view.getContext('2d', { willReadFrequently: true })!;

// ------------------------------------------------------------------------------------------------ state

type Busy = '' | 'model' | 'video' | 'prompt' | 'track' | 'export';

/** What the page shows and what tests read (window.__sam2). */
const hook = {
  /** 'starting', 'no-webgpu', 'running' (the page works), 'failed' (no device). */
  state: 'starting',
  busy: '' as Busy,
  error: null as string | null,
  adapter: '',
  software: false,
  /** The device profile in force ('gpu' or 'cpu'). */
  profile: '',
  f16: false,
  modelLoaded: false,
  model: '',
  dtype: '',
  imageSize: 0,
  syntheticWeights: true,
  weightsFromCache: false,
  videoLoaded: false,
  video: null as null | { frames: number; width: number; height: number; fps: number; name: string },
  frame: 0,
  /** Times the view has been redrawn. */
  draws: 0,
  objects: [1] as number[],
  activeObject: 1,
  /** The last prompt's result: per object id, the mask area in pixels on the prompted frame. */
  lastPrompt: null as null | { frameIdx: number; objId: number; areas: Record<number, number>; ms: number },
  /** Time (ms) from the start of loading the model until its GPU kernels were compiled (null until then). */
  kernelsReadyMs: null as number | null,
  /** Image encoder time (ms) of the frames encoded for prompts, in order (the first includes waiting for the kernels to compile). */
  encoderMs: [] as number[],
  /** Tracking: frames done / to do, and ms per tracked frame (the prompted start frame excluded). */
  progress: { done: 0, total: 0 },
  frameMs: {} as Record<number, number>,
  msPerFrame: null as number | null,
  /** Per frame with a result: per object id, the mask area in pixels. */
  areas: {} as Record<number, Record<number, number>>,
  exports: { mp4: null as null | { bytes: number; codec: string; ms: number }, png: null as null | { frame: number; bytes: number } },
  engine,
};
(window as unknown as { __sam2: typeof hook }).__sam2 = hook;

let gpu: Gpu | null = null;
let warmupKernels = true;
let predictor: SAM2VideoPredictor | null = null;
let video: DecodedVideo | null = null;
let videoName = '';
let source: FrameSource | null = null;
let inference: InferenceState | null = null;
const results = new Map<number, FrameResult>();
/** Prompts drawn on each frame, per object. */
const drawn = new Map<number, Map<number, OverlayPrompt>>();
let stopRequested = false;
let playing = false;

// ------------------------------------------------------------------------------------------------ helpers

function showError(e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  hook.error = msg;
  el.error.textContent = msg;
  el.error.hidden = false;
  console.error(e);
}

function clearError(): void {
  hook.error = null;
  el.error.hidden = true;
}

function setBusy(b: Busy): void {
  hook.busy = b;
  refreshButtons();
}

function refreshButtons(): void {
  const b = hook.busy;
  const ready = !!predictor && !!inference;
  const hasPrompt = ready && inference!.objIds.length > 0;
  el.load.disabled = !gpu || b !== '';
  el.videoFile.disabled = b === 'track' || b === 'video' || b === 'export';
  el.propagate.disabled = !hasPrompt || b !== '';
  el.stop.disabled = b !== 'track';
  el.exportMp4.disabled = !video || b !== '';
  el.exportPngs.disabled = results.size === 0 || b !== '';
  el.exportPng.disabled = !results.has(hook.frame) || b !== '';
  el.play.disabled = !video;
  el.scrub.disabled = !video;
  for (const x of [el.newObject, el.clearFrame, el.removeObject, el.reset]) x.disabled = !ready || b === 'track' || b === 'export';
}

function fmtBytes(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(0)} kB`;
}

function fmtMs(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

function download(bytes: ArrayBuffer | Uint8Array, name: string, type: string): void {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function areasOf(r: FrameResult): Record<number, number> {
  const out: Record<number, number> = {};
  r.objIds.forEach((id, k) => {
    let n = 0;
    for (const v of r.masks[k]) n += v;
    out[id] = n;
  });
  return out;
}

function storeResult(r: FrameResult): void {
  results.set(r.frameIdx, r);
  hook.areas[r.frameIdx] = areasOf(r);
}

const cssColor = (objId: number) => `rgb(${objectColor(objId).join(',')})`;

// ------------------------------------------------------------------------------------------------ drawing

let drawToken = 0;

/** The RGB frame with the masks and prompts of that frame drawn over it (as the Node CLI draws them). */
async function overlayRgb(i: number, withOverlay: boolean): Promise<Uint8Array> {
  const f = await source!.get(i);
  if (!withOverlay) return f.rgb;
  const r = results.get(i);
  const masks = r ? r.objIds.map((objId, k) => ({ objId, mask: r.masks[k] })) : [];
  return renderOverlay(f.width, f.height, f.rgb, masks, [...(drawn.get(i)?.values() ?? [])]);
}

function rgbToImageData(rgb: Uint8Array, w: number, h: number): ImageData {
  const img = new ImageData(w, h);
  const d = img.data;
  for (let p = 0, i = 0, o = 0; p < w * h; p++, i += 3, o += 4) {
    d[o] = rgb[i];
    d[o + 1] = rgb[i + 1];
    d[o + 2] = rgb[i + 2];
    d[o + 3] = 255;
  }
  return img;
}

async function showFrame(i: number): Promise<void> {
  if (!video || !source) return;
  i = Math.max(0, Math.min(video.frames.length - 1, i));
  hook.frame = i;
  el.scrub.value = String(i);
  el.frameLabel.textContent = `${i} / ${video.frames.length - 1}`;
  const token = ++drawToken;
  const rgb = await overlayRgb(i, el.showOverlay.checked);
  if (token !== drawToken) return;
  view.putImageData(rgbToImageData(rgb, video.width, video.height), 0, 0);
  hook.draws++;
  const r = results.get(i);
  const parts: string[] = [];
  if (r) {
    r.objIds.forEach((id, k) => {
      const s = r.objectScores[k];
      parts.push(`object ${id}: ${hook.areas[i]?.[id] ?? 0} px${Number.isFinite(s) ? ` (score ${s.toFixed(2)})` : ''}`);
    });
    if (hook.frameMs[i] !== undefined) parts.push(`tracked in ${fmtMs(hook.frameMs[i])}`);
  } else {
    parts.push('no mask on this frame yet');
  }
  el.frameInfo.textContent = `frame ${i}: ${parts.join(' · ')}`;
  refreshButtons();
}

function renderObjects(): void {
  el.objects.replaceChildren(
    ...hook.objects.map((id) => {
      const b = document.createElement('span');
      b.className = `obj${id === hook.activeObject ? ' active' : ''}`;
      b.dataset.obj = String(id);
      const sw = document.createElement('span');
      sw.className = 'swatch';
      sw.style.background = cssColor(id);
      b.append(sw, `object ${id}`);
      b.onclick = () => {
        hook.activeObject = id;
        renderObjects();
      };
      return b;
    }),
  );
}

// ------------------------------------------------------------------------------------------------ device

async function initDevice(): Promise<void> {
  if (!('gpu' in navigator) || !navigator.gpu) {
    hook.state = 'no-webgpu';
    el.device.textContent = 'No WebGPU';
    el.nogpu.hidden = false;
    el.nogpu.textContent =
      'This browser has no WebGPU (navigator.gpu is missing), so the model cannot run here.\n' +
      '• Use a current Chrome or Edge (113+), Safari 26+, or Firefox 141+ (Windows) / Nightly.\n' +
      '• On Linux, Chrome needs chrome://flags/#enable-unsafe-webgpu (or --enable-unsafe-webgpu --enable-features=Vulkan).\n' +
      `• WebGPU needs a secure context: open the page from https:// or http://localhost / 127.0.0.1${isSecureContext ? '' : ' (this page is not one)'}.`;
    refreshButtons();
    return;
  }
  try {
    const { device, info } = await acquireDevice();
    gpu = new Gpu(device, info);
  } catch (e) {
    hook.state = 'failed';
    el.device.textContent = 'No WebGPU adapter';
    el.nogpu.hidden = false;
    el.nogpu.textContent =
      `WebGPU is present but gave no usable device, so the model cannot run here (videos still open and play).\n${(e as Error).message}`;
    refreshButtons();
    return;
  }
  const info = gpu.info;
  hook.software = gpu.profile.software;
  hook.profile = gpu.profile.kind;
  hook.f16 = info.features.f16;
  hook.adapter = info.adapter;
  el.device.textContent =
    `Adapter: ${hook.adapter}${hook.software ? ' (software, runs on the CPU: slow)' : ''} · shader-f16: ${hook.f16 ? 'yes' : 'no'}` +
    ` · max buffer ${fmtBytes(info.limits.maxBufferSize)}`;
  const f16Option = el.dtype.querySelector<HTMLOptionElement>('option[value=f16]')!;
  if (!hook.f16) {
    f16Option.disabled = true;
    f16Option.textContent = 'f16 (this adapter has no shader-f16)';
  }
  if (hook.software) el.imageSize.value = '256';
  gpu.device.lost.then((i) => {
    if (i.reason !== 'destroyed') showError(`The GPU device was lost (${i.message}). Reload the page.`);
  });
  hook.state = 'running';
  refreshButtons();
}

// ------------------------------------------------------------------------------------------------ model

async function loadModel(): Promise<void> {
  if (!gpu) return;
  clearError();
  setBusy('model');
  const mode = (document.querySelector<HTMLInputElement>('input[name=weights]:checked')?.value ?? 'synthetic') as 'synthetic' | 'url' | 'file';
  const model = el.model.value as ModelSize;
  const version = el.version.value as ModelVersion;
  const dtype = el.dtype.value as 'f32' | 'f16';
  const imageSize = Number(el.imageSize.value);
  el.loadProgress.hidden = false;
  el.loadProgress.value = 0;
  const t0 = performance.now();
  try {
    let weights: WeightSource = 'synthetic';
    let what = 'synthetic weights';
    hook.weightsFromCache = false;
    const onBytes = (p: { loaded: number; total?: number; fromCache: boolean }) => {
      if (p.total) el.loadProgress.value = p.loaded / p.total;
      el.loadStatus.textContent = `${p.fromCache ? 'reading from the browser cache' : 'downloading'}: ${fmtBytes(p.loaded)}${p.total ? ` of ${fmtBytes(p.total)}` : ''}`;
    };
    if (mode === 'url') {
      const url = new URL(el.weightsUrl.value.trim(), location.href).href;
      const fw = await fetchWeights(url, { cache: el.useCache.checked, onProgress: onBytes });
      weights = fw.response;
      hook.weightsFromCache = fw.fromCache;
      what = `${url}${fw.fromCache ? ' (from the browser cache)' : ''}`;
      fw.cached.then((ok) => ok && !fw.fromCache && (el.loadStatus.textContent += ' · kept in the browser cache'));
    } else if (mode === 'file') {
      const file = el.weightsFile.files?.[0];
      if (!file) throw new Sam2Error('choose a .safetensors file first (or pick synthetic weights or a URL)');
      weights = weightsFromFile(file, onBytes);
      what = file.name;
    }
    disposeModel();
    predictor = await SAM2VideoPredictor.load({
      model,
      version,
      weights,
      dtype,
      imageSize,
      gpu,
      // A click on a tracked frame is a correction the user wants kept: it becomes a conditioning frame, so
      // propagating again does not re-track it away.
      addAllFramesToCorrectAsCond: true,
      // The kernels of a click and a tracked frame compile in the background while the user looks at the video.
      warmup: warmupKernels,
      onProgress: (p) => {
        if (mode === 'synthetic') {
          el.loadProgress.value = p.tensorsDone / p.tensorsTotal;
          el.loadStatus.textContent = `making synthetic weights: ${p.tensorsDone} / ${p.tensorsTotal} tensors`;
        }
      },
    });
    hook.modelLoaded = true;
    hook.model = predictor.config.name;
    hook.dtype = dtype;
    hook.imageSize = predictor.imageSize;
    hook.syntheticWeights = predictor.syntheticWeights;
    el.synthetic.hidden = !predictor.syntheticWeights;
    el.model_.textContent = `Model: ${predictor.config.name} · ${dtype} · image size ${predictor.imageSize} · ${predictor.syntheticWeights ? 'synthetic weights (meaningless masks)' : 'weights ' + what}`;
    el.loadProgress.value = 1;
    const loaded = `${predictor.config.name}, ${dtype}, image size ${predictor.imageSize}, ${what} · loaded in ${fmtMs(performance.now() - t0)}`;
    el.loadStatus.textContent = loaded + (warmupKernels ? ' · compiling GPU kernels in the background' : '');
    hook.kernelsReadyMs = null;
    const p = predictor;
    p.ready.then(
      () => {
        if (predictor !== p) return;
        hook.kernelsReadyMs = performance.now() - t0;
        if (warmupKernels) el.loadStatus.textContent = `${loaded} · GPU kernels ready after ${fmtMs(hook.kernelsReadyMs)}`;
      },
      () => undefined,
    );
    await newInference();
  } catch (e) {
    el.loadStatus.textContent = 'not loaded';
    showError(e);
  } finally {
    setBusy('');
  }
}

function disposeModel(): void {
  el.model_.textContent = 'Model: none loaded';
  if (inference && predictor) predictor.closeState(inference);
  inference = null;
  predictor?.dispose();
  predictor = null;
  hook.modelLoaded = false;
}

/** A fresh inference state over the current video (prompts and results are dropped). */
async function newInference(): Promise<void> {
  if (inference && predictor) predictor.closeState(inference);
  inference = null;
  results.clear();
  drawn.clear();
  hook.areas = {};
  hook.frameMs = {};
  hook.msPerFrame = null;
  hook.lastPrompt = null;
  hook.objects = [1];
  hook.activeObject = 1;
  renderObjects();
  if (video) source = framesFromImages(video.frames, { fps: video.fps, description: videoName });
  if (predictor && source) inference = await predictor.initState(source);
  el.promptStatus.textContent = inference ? 'Click on the frame to add a point for the selected object.' : predictor ? '' : 'Load a model to add prompts.';
  await showFrame(hook.frame);
  refreshButtons();
}

// ------------------------------------------------------------------------------------------------ video

async function loadVideo(file: Blob, name: string): Promise<void> {
  clearError();
  setBusy('video');
  stopPlayback();
  const t0 = performance.now();
  try {
    const maxFrames = Math.max(1, Number(el.maxDecode.value) || 600);
    const v = await decodeVideo(file, {
      maxFrames,
      onFrame: (done, total) => (el.videoStatus.textContent = `decoding ${name}: ${done} / ${total} frames`),
    });
    if (inference && predictor) predictor.closeState(inference);
    inference = null;
    source?.close();
    for (const f of video?.frames ?? []) f.close();
    video = v;
    videoName = name;
    hook.videoLoaded = true;
    hook.video = { frames: v.frames.length, width: v.width, height: v.height, fps: v.fps, name };
    el.view.width = v.width;
    el.view.height = v.height;
    el.scrub.max = String(v.frames.length - 1);
    hook.frame = 0;
    el.videoStatus.textContent =
      `${name}: ${v.width}×${v.height}, ${v.frames.length} frames` +
      (v.frames.length < v.totalFrames ? ` (first ${v.frames.length} of ${v.totalFrames}: raise the limit above to decode more)` : '') +
      `, ${v.fps.toFixed(2)} fps, ${v.codec} · decoded in ${fmtMs(performance.now() - t0)}`;
    await newInference();
  } catch (e) {
    showError(new Error(`could not open ${name}: ${(e as Error).message}`));
  } finally {
    setBusy('');
  }
}

// ------------------------------------------------------------------------------------------------ prompts

let promptQueue: Promise<void> = Promise.resolve();

function queuePrompt(p: { points?: Array<[number, number]>; labels?: number[]; box?: [number, number, number, number] }): void {
  if (!predictor || !inference) {
    el.promptStatus.textContent = !predictor ? 'Load a model first (step 1).' : 'Open a video first (step 2).';
    return;
  }
  if (hook.busy === 'track' || hook.busy === 'export') {
    el.promptStatus.textContent = 'Wait for tracking / export to finish (or stop it) before adding prompts.';
    return;
  }
  const frameIdx = hook.frame;
  const objId = hook.activeObject;
  promptQueue = promptQueue.then(() => runPrompt(frameIdx, objId, p)).catch(showError);
}

async function runPrompt(frameIdx: number, objId: number, p: { points?: Array<[number, number]>; labels?: number[]; box?: [number, number, number, number] }): Promise<void> {
  if (!predictor || !inference) return;
  clearError();
  setBusy('prompt');
  try {
    const pr = predictor;
    const st = inference;
    el.promptStatus.textContent =
      `object ${objId}, frame ${frameIdx}: ` +
      (warmupKernels && hook.kernelsReadyMs === null ? 'waiting for the GPU kernels to compile, then running…' : 'running…');
    let encMs: number | undefined;
    if (!st.featureCache.has(frameIdx)) {
      const t = performance.now();
      await pr.imageFeatures(st, frameIdx);
      await pr.gpu.sync();
      encMs = performance.now() - t;
      hook.encoderMs.push(encMs);
    }
    const t1 = performance.now();
    const r = await pr.addNewPointsOrBox(st, {
      frameIdx,
      objId,
      points: p.points,
      labels: p.labels,
      box: p.box,
      clearOldPoints: !!p.box,
    });
    const ms = performance.now() - t1;
    storeResult(r);
    const byObj = drawn.get(frameIdx) ?? new Map<number, OverlayPrompt>();
    const old = byObj.get(objId);
    byObj.set(
      objId,
      p.box
        ? { box: p.box, points: [], labels: [] }
        : { box: old?.box, points: [...(old?.points ?? []), ...(p.points ?? [])], labels: [...(old?.labels ?? []), ...(p.labels ?? [])] },
    );
    drawn.set(frameIdx, byObj);
    const areas = areasOf(r);
    hook.lastPrompt = { frameIdx, objId, areas, ms };
    el.promptStatus.textContent =
      `object ${objId}, frame ${frameIdx}: mask of ${areas[objId] ?? 0} px · ` +
      (encMs !== undefined ? `image encoder ${fmtMs(encMs)} + ` : '') +
      `prompt ${fmtMs(ms)}` +
      (results.size > 1 ? ' · propagate again to update the other frames' : '');
    if (hook.frame === frameIdx) await showFrame(frameIdx);
  } finally {
    setBusy('');
  }
}

// Canvas input: click = positive point, shift-click / right-click = negative, drag = box.
let dragStart: { x: number; y: number; cx: number; cy: number } | null = null;

function toVideo(ev: MouseEvent): { x: number; y: number } {
  const r = el.view.getBoundingClientRect();
  const x = ((ev.clientX - r.left) / r.width) * el.view.width;
  const y = ((ev.clientY - r.top) / r.height) * el.view.height;
  return { x: Math.max(0, Math.min(el.view.width, x)), y: Math.max(0, Math.min(el.view.height, y)) };
}

el.view.addEventListener('contextmenu', (ev) => ev.preventDefault());
el.view.addEventListener('mousedown', (ev) => {
  if (ev.button !== 0 && ev.button !== 2) return;
  const { x, y } = toVideo(ev);
  dragStart = { x, y, cx: ev.clientX, cy: ev.clientY };
});
window.addEventListener('mousemove', (ev) => {
  if (!dragStart || (Math.abs(ev.clientX - dragStart.cx) < 5 && Math.abs(ev.clientY - dragStart.cy) < 5)) {
    el.rubber.hidden = true;
    return;
  }
  const r = el.view.getBoundingClientRect();
  const x0 = Math.min(dragStart.cx, ev.clientX) - r.left;
  const y0 = Math.min(dragStart.cy, ev.clientY) - r.top;
  Object.assign(el.rubber.style, {
    left: `${x0}px`,
    top: `${y0}px`,
    width: `${Math.abs(ev.clientX - dragStart.cx)}px`,
    height: `${Math.abs(ev.clientY - dragStart.cy)}px`,
  });
  el.rubber.hidden = false;
});
window.addEventListener('mouseup', (ev) => {
  if (!dragStart) return;
  const start = dragStart;
  dragStart = null;
  el.rubber.hidden = true;
  const { x, y } = toVideo(ev);
  const dragged = Math.abs(ev.clientX - start.cx) >= 5 || Math.abs(ev.clientY - start.cy) >= 5;
  if (dragged) {
    queuePrompt({ box: [Math.min(start.x, x), Math.min(start.y, y), Math.max(start.x, x), Math.max(start.y, y)] });
  } else if (ev.target === el.view) {
    const negative = ev.shiftKey || ev.button === 2;
    queuePrompt({ points: [[start.x, start.y]], labels: [negative ? 0 : 1] });
  }
});

el.newObject.onclick = () => {
  const id = Math.max(0, ...hook.objects) + 1;
  hook.objects.push(id);
  hook.activeObject = id;
  renderObjects();
  el.promptStatus.textContent = `object ${id}: click on it.`;
};

el.clearFrame.onclick = () =>
  (promptQueue = promptQueue
    .then(async () => {
      if (!predictor || !inference) return;
      const id = hook.activeObject;
      drawn.get(hook.frame)?.delete(id);
      if (inference.objIds.includes(id)) storeResult(await predictor.clearAllPromptsInFrame(inference, hook.frame, id));
      el.promptStatus.textContent = `object ${id}: prompts on frame ${hook.frame} cleared`;
      await showFrame(hook.frame);
    })
    .catch(showError));

el.removeObject.onclick = () =>
  (promptQueue = promptQueue
    .then(async () => {
      if (!predictor || !inference) return;
      const id = hook.activeObject;
      await predictor.removeObject(inference, id, { strict: false });
      for (const [f, r] of results) {
        const k = r.objIds.indexOf(id);
        if (k < 0) continue;
        const kept = r.objIds.map((_, j) => j).filter((j) => j !== k);
        const nr: FrameResult = { ...r, objIds: kept.map((j) => r.objIds[j]), masks: kept.map((j) => r.masks[j]), objectScores: kept.map((j) => r.objectScores[j]) };
        if (nr.objIds.length) storeResult(nr);
        else {
          results.delete(f);
          delete hook.areas[f];
        }
      }
      for (const m of drawn.values()) m.delete(id);
      hook.objects = hook.objects.filter((o) => o !== id);
      if (hook.objects.length === 0) hook.objects = [1];
      hook.activeObject = hook.objects[0];
      renderObjects();
      el.promptStatus.textContent = `object ${id} removed`;
      await showFrame(hook.frame);
    })
    .catch(showError));

el.reset.onclick = () =>
  (promptQueue = promptQueue.then(() => newInference()).catch(showError));

// ------------------------------------------------------------------------------------------------ tracking

async function propagate(): Promise<void> {
  if (!predictor || !inference) return;
  await promptQueue;
  clearError();
  stopRequested = false;
  setBusy('track');
  const pr = predictor;
  const st = inference;
  const maxN = el.maxFrames.value.trim() === '' ? undefined : Math.max(0, Math.floor(Number(el.maxFrames.value)));
  const prompted = new Set<number>();
  for (const [f, m] of drawn) if (m.size) prompted.add(f);
  const start = prompted.size ? Math.min(...prompted) : 0;
  const n = st.numFrames;
  const fwd = Math.min(n - 1, start + (maxN ?? n)) - start + 1;
  const back = el.reverse.checked && start > 0 ? Math.min(start, maxN ?? n) + 1 : 0;
  hook.progress = { done: 0, total: fwd + back };
  hook.frameMs = {};
  hook.msPerFrame = null;
  el.trackProgress.max = hook.progress.total;
  el.trackProgress.value = 0;
  const t0 = performance.now();
  const times: number[] = [];
  try {
    for (const reverse of back ? [false, true] : [false]) {
      let last = performance.now();
      for await (const r of pr.propagateInVideo(st, { startFrameIdx: start, maxFrameNumToTrack: maxN, reverse })) {
        const now = performance.now();
        const ms = now - last;
        last = now;
        storeResult(r);
        if (!prompted.has(r.frameIdx)) {
          hook.frameMs[r.frameIdx] = ms;
          times.push(ms);
          hook.msPerFrame = times.reduce((a, b) => a + b, 0) / times.length;
        }
        hook.progress.done++;
        el.trackProgress.value = hook.progress.done;
        const fps = hook.progress.done / ((now - t0) / 1000);
        const eta = (hook.progress.total - hook.progress.done) / Math.max(fps, 1e-9);
        el.trackStatus.textContent =
          `frame ${r.frameIdx} (${hook.progress.done} / ${hook.progress.total})` +
          (hook.msPerFrame !== null ? ` · ${fmtMs(hook.msPerFrame)} per frame` : '') +
          ` · ${fps.toFixed(2)} frames/s · ETA ${Math.ceil(eta)} s`;
        await showFrame(r.frameIdx);
        if (stopRequested) break;
      }
      if (stopRequested) break;
    }
    const total = performance.now() - t0;
    el.trackStatus.textContent =
      `${stopRequested ? 'stopped after' : 'tracked'} ${hook.progress.done} frames in ${fmtMs(total)}` +
      (hook.msPerFrame !== null ? ` · ${fmtMs(hook.msPerFrame)} per frame (prompted frames excluded)` : '') +
      ' · scrub or play to review; click on a frame to correct it, then propagate again';
  } catch (e) {
    showError(e);
  } finally {
    setBusy('');
  }
}

el.propagate.onclick = () => void propagate();
el.stop.onclick = () => {
  stopRequested = true;
};

// ------------------------------------------------------------------------------------------------ playback

function stopPlayback(): void {
  playing = false;
  el.play.textContent = '▶';
}

async function playLoop(): Promise<void> {
  const fps = video?.fps ?? 24;
  while (playing && video) {
    const t = performance.now();
    const next = hook.frame + 1 >= video.frames.length ? 0 : hook.frame + 1;
    await showFrame(next);
    await new Promise((r) => setTimeout(r, Math.max(0, 1000 / fps - (performance.now() - t))));
  }
}

el.play.onclick = () => {
  if (playing) stopPlayback();
  else {
    playing = true;
    el.play.textContent = '❚❚';
    void playLoop();
  }
};
el.scrub.oninput = () => {
  stopPlayback();
  void showFrame(Number(el.scrub.value));
};
el.showOverlay.onchange = () => void showFrame(hook.frame);
window.addEventListener('keydown', (ev) => {
  if (!video || (ev.target as HTMLElement).tagName === 'INPUT') return;
  if (ev.key === 'ArrowRight') void showFrame(hook.frame + 1);
  else if (ev.key === 'ArrowLeft') void showFrame(hook.frame - 1);
  else if (ev.key === ' ') {
    ev.preventDefault();
    el.play.click();
  }
});

// ------------------------------------------------------------------------------------------------ export

el.exportMp4.onclick = async () => {
  if (!video) return;
  clearError();
  setBusy('export');
  stopPlayback();
  const t0 = performance.now();
  try {
    const v = video;
    const { bytes, codec } = await encodeMp4(
      v.width,
      v.height,
      v.fps,
      v.frames.length,
      async (i, ctx) => ctx.putImageData(rgbToImageData(await overlayRgb(i, true), v.width, v.height), 0, 0),
      (done) => (el.exportStatus.textContent = `encoding the overlay: ${done} / ${v.frames.length} frames`),
    );
    const ms = performance.now() - t0;
    hook.exports.mp4 = { bytes: bytes.byteLength, codec, ms };
    el.exportStatus.textContent = `overlay MP4 (${codec}, ${fmtBytes(bytes.byteLength)}) in ${fmtMs(ms)}`;
    download(bytes, `${videoName.replace(/\.[^.]*$/, '') || 'video'}-sam2.mp4`, 'video/mp4');
  } catch (e) {
    showError(e);
  } finally {
    setBusy('');
  }
};

async function maskPng(frame: number): Promise<Uint8Array> {
  const r = results.get(frame);
  if (!r || !video) throw new Error(`frame ${frame} has no mask`);
  return encodeMaskPng(video.width, video.height, davisIndexMask(video.width, video.height, r.objIds, r.masks));
}

const pngName = (f: number) => `${String(f).padStart(5, '0')}.png`;

el.exportPng.onclick = async () => {
  try {
    const bytes = await maskPng(hook.frame);
    hook.exports.png = { frame: hook.frame, bytes: bytes.length };
    download(bytes, pngName(hook.frame), 'image/png');
    el.exportStatus.textContent = `mask of frame ${hook.frame} saved as ${pngName(hook.frame)} (0 = background, k = object k)`;
  } catch (e) {
    showError(e);
  }
};

el.exportPngs.onclick = async () => {
  clearError();
  const frames = [...results.keys()].sort((a, b) => a - b);
  const picker = (window as unknown as { showDirectoryPicker?: (o?: object) => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker;
  setBusy('export');
  try {
    if (picker) {
      // One file per frame into a folder the user picks (Chromium browsers).
      const dir = await picker({ mode: 'readwrite' });
      for (const [n, f] of frames.entries()) {
        const fh = await dir.getFileHandle(pngName(f), { create: true });
        const w = await fh.createWritable();
        await w.write((await maskPng(f)) as BlobPart);
        await w.close();
        el.exportStatus.textContent = `writing masks: ${n + 1} / ${frames.length}`;
      }
    } else {
      for (const [n, f] of frames.entries()) {
        download(await maskPng(f), pngName(f), 'image/png');
        el.exportStatus.textContent = `downloading masks: ${n + 1} / ${frames.length}`;
        await new Promise((r) => setTimeout(r, 150));
      }
    }
    el.exportStatus.textContent = `${frames.length} palette PNG masks saved (0 = background, k = object k)`;
  } catch (e) {
    if ((e as Error).name !== 'AbortError') showError(e);
  } finally {
    setBusy('');
  }
};

// ------------------------------------------------------------------------------------------------ start

el.load.onclick = () => void loadModel();
el.videoFile.onchange = () => {
  const f = el.videoFile.files?.[0];
  if (f) void loadVideo(f, f.name);
};
el.weightsFile.onchange = () => {
  const r = document.querySelector<HTMLInputElement>('input[name=weights][value=file]');
  if (r) r.checked = true;
};
el.weightsUrl.oninput = () => {
  const r = document.querySelector<HTMLInputElement>('input[name=weights][value=url]');
  if (r) r.checked = true;
};

async function start(): Promise<void> {
  renderObjects();
  refreshButtons();
  // Query parameters preset the controls: ?model=tiny&dtype=f32&size=256&weights=<url>|synthetic&load=1;
  // warmup=0 leaves the kernels to compile at their first use (to measure what the warmup saves).
  const q = new URLSearchParams(location.search);
  warmupKernels = q.get('warmup') !== '0';
  await initDevice();
  if (q.get('model')) el.model.value = q.get('model')!;
  if (q.get('version')) el.version.value = q.get('version')!;
  if (q.get('dtype') && !(q.get('dtype') === 'f16' && !hook.f16)) el.dtype.value = q.get('dtype')!;
  if (q.get('size')) el.imageSize.value = q.get('size')!;
  const w = q.get('weights');
  if (w && w !== 'synthetic') {
    el.weightsUrl.value = w;
    document.querySelector<HTMLInputElement>('input[name=weights][value=url]')!.checked = true;
  }
  try {
    const res = await fetch(q.get('video') ?? 'bedroom.mp4');
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    await loadVideo(await res.blob(), (q.get('video') ?? 'bedroom.mp4').split('/').pop()!);
  } catch (e) {
    el.videoStatus.textContent = `The sample clip could not be loaded (${(e as Error).message}); open a video file.`;
  }
  if (gpu && q.get('load') === '1') await loadModel();
}

void start();
