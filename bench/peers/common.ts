/**
 * Shared by the Node and the browser peer benchmarks: the exported models' manifest
 * (tools/reference/export_onnx.py), the cases (one module, or a whole tracked frame composed of the four),
 * the A B A B timing loop, statistics and the result table.
 */

export interface TensorEntry {
  name: string;
  shape: number[];
  /** Raw little-endian f32, relative to the models folder. */
  file: string;
}

export interface ModelEntry {
  file: string;
  imageSize: number;
  inputs: TensorEntry[];
  outputs: TensorEntry[];
  num_obj_ptr_tokens?: number;
  ortCpuMaxAbsDiff: Record<string, number>;
  wrapperVsOfficialMaxAbsDiff: number;
}

export interface PeerManifest {
  config: string;
  opset: number;
  torch: string;
  models: Record<string, ModelEntry>;
}

/** One module at an image size: its exported model, its inputs and the PyTorch outputs. */
export interface ModuleCase {
  kind: 'module';
  name: string;
  module: string;
  imageSize: number;
  entry: ModelEntry;
  inputs: Map<string, Float32Array>;
  reference: Map<string, Float32Array>;
}

/**
 * A whole tracked frame at an image size for `objects` objects with a full memory bank, composed of the
 * four module cases of that size (bench/peers/frame.ts). There is no PyTorch reference for a whole frame:
 * `reference` is empty and the case is timed only (the module cases check the values).
 */
export interface FrameCase {
  kind: 'frame';
  name: string;
  module: string;
  imageSize: number;
  objects: number;
  /** The module cases of the same size: their models, and the inputs the composition takes from them. */
  parts: Record<ModuleName, ModuleCase>;
  /** The frame as RGB bytes [S, S, 3]: the encoder case's input image, un-normalized and rounded. */
  rgb: Uint8Array;
  reference: Map<string, Float32Array>;
}

export type PeerCase = ModuleCase | FrameCase;

export const MODULES = ['encoder', 'memory_attention', 'mask_decoder', 'memory_encoder'] as const;
export type ModuleName = (typeof MODULES)[number];

/** Whole tracked frames, by number of objects: `frameN` tracks N objects. Not in the default module list. */
export const FRAME_MODULES = ['frame1', 'frame3'] as const;

/** The normalization of SAM 2's image input (ImageNet mean and std per RGB channel, on [0, 1] values). */
export const IMAGE_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGE_STD = [0.229, 0.224, 0.225] as const;

/** A module case or, for `frame1` / `frame3`, a frame case built from the four module cases of the size. */
export async function loadCase(
  manifest: PeerManifest,
  module: string,
  size: number,
  read: (file: string) => Promise<ArrayBuffer>,
): Promise<PeerCase> {
  const frame = /^frame(\d+)$/.exec(module);
  if (frame) return loadFrameCase(manifest, module, Number(frame[1]), size, read);
  return loadModuleCase(manifest, module, size, read);
}

async function loadModuleCase(
  manifest: PeerManifest,
  module: string,
  size: number,
  read: (file: string) => Promise<ArrayBuffer>,
): Promise<ModuleCase> {
  const name = `${module}_${size}`;
  const entry = manifest.models[name];
  if (!entry) throw new Error(`peers: no exported model ${name} (run tools/reference/export_onnx.py)`);
  const load = async (list: TensorEntry[]) => {
    const m = new Map<string, Float32Array>();
    for (const t of list) {
      const data = new Float32Array(await read(t.file));
      if (data.length !== t.shape.reduce((a, b) => a * b, 1)) throw new Error(`peers: ${t.file} holds ${data.length} values, shape [${t.shape}]`);
      m.set(t.name, data);
    }
    return m;
  };
  return { kind: 'module', name, module, imageSize: size, entry, inputs: await load(entry.inputs), reference: await load(entry.outputs) };
}

async function loadFrameCase(
  manifest: PeerManifest,
  module: string,
  objects: number,
  size: number,
  read: (file: string) => Promise<ArrayBuffer>,
): Promise<FrameCase> {
  if (!Number.isInteger(objects) || objects < 1) throw new Error(`peers: ${module}: a frame case needs at least one object`);
  const parts = {} as Record<ModuleName, ModuleCase>;
  for (const m of MODULES) parts[m] = await loadModuleCase(manifest, m, size, read);
  // The encoder's input image [1, 3, S, S] (normalized) back to the bytes it was made from.
  const image = parts.encoder.inputs.get('image')!;
  const [, ch, h, w] = parts.encoder.entry.inputs.find((t) => t.name === 'image')!.shape;
  if (ch !== 3 || h !== size || w !== size) throw new Error(`peers: encoder_${size} image is [1, ${ch}, ${h}, ${w}], expected [1, 3, ${size}, ${size}]`);
  const n = size * size;
  const rgb = new Uint8Array(n * 3);
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < n; p++) {
      const v = Math.round((image[c * n + p] * IMAGE_STD[c] + IMAGE_MEAN[c]) * 255);
      rgb[p * 3 + c] = Math.min(255, Math.max(0, v));
    }
  }
  return { kind: 'frame', name: `${module}_${size}`, module, imageSize: size, objects, parts, rgb, reference: new Map() };
}

/** A runtime bound to one case: run() does one call (CPU inputs in, CPU outputs back) and returns the outputs by name. */
export interface Runner {
  run(): Promise<Map<string, Float32Array>>;
  dispose(): Promise<void> | void;
}

export interface RuntimeSpec {
  /** Column id, e.g. "ours", "ort-webgpu". */
  id: string;
  /** What it is, e.g. "onnxruntime-node 1.30.0 WebGPU EP". */
  label: string;
  /** Builds the runner for a case (session creation / module construction: not timed). */
  create(c: PeerCase): Promise<Runner>;
  /** Runs it for context only (a CPU backend): included in the table, not in the goal. */
  context?: boolean;
}

export interface RuntimeResult {
  id: string;
  label: string;
  medianMs: number;
  runsMs: number[];
  warmupMs: number[];
  createMs: number;
  /** max|Δ| of each output against PyTorch (from the last run). */
  maxAbsDiff: Record<string, number>;
  /** The largest max|Δ| ÷ max|ref| over the outputs. */
  maxRelDiff: number;
  error?: string;
}

export interface CaseResult {
  case: string;
  module: string;
  imageSize: number;
  /** No reference outputs (a whole-frame case): timed only, max|Δ| not computed. */
  timingOnly?: boolean;
  runtimes: RuntimeResult[];
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function compare(c: PeerCase, out: Map<string, Float32Array>): { maxAbsDiff: Record<string, number>; maxRelDiff: number } {
  const maxAbsDiff: Record<string, number> = {};
  let maxRelDiff = 0;
  for (const [name, ref] of c.reference) {
    const got = out.get(name);
    if (!got || got.length !== ref.length) {
      maxAbsDiff[name] = NaN;
      maxRelDiff = NaN;
      continue;
    }
    let d = 0;
    let r = 0;
    for (let i = 0; i < ref.length; i++) {
      const e = Math.abs(got[i] - ref[i]);
      if (!(e <= d)) d = e; // NaN propagates
      const a = Math.abs(ref[i]);
      if (a > r) r = a;
    }
    maxAbsDiff[name] = d;
    maxRelDiff = Math.max(maxRelDiff, d / (r || 1));
    if (Number.isNaN(d)) maxRelDiff = NaN;
  }
  return { maxAbsDiff, maxRelDiff };
}

export interface LoopOptions {
  warmup: number;
  reps: number;
  log?: (s: string) => void;
}

/**
 * Every runtime is created for the case, warmed up, then timed in turn, A B C A B C ..., so that a slow
 * phase of a shared machine hits all of them alike. A runtime that fails is reported with its error.
 */
export async function runCase(c: PeerCase, runtimes: RuntimeSpec[], opts: LoopOptions): Promise<CaseResult> {
  const log = opts.log ?? (() => {});
  const live: Array<{ spec: RuntimeSpec; runner?: Runner; res: RuntimeResult; last?: Map<string, Float32Array> }> = [];
  for (const spec of runtimes) {
    const res: RuntimeResult = { id: spec.id, label: spec.label, medianMs: NaN, runsMs: [], warmupMs: [], createMs: NaN, maxAbsDiff: {}, maxRelDiff: NaN };
    const t0 = performance.now();
    try {
      const runner = await spec.create(c);
      res.createMs = performance.now() - t0;
      live.push({ spec, runner, res });
    } catch (e) {
      res.error = String((e as Error)?.message ?? e).slice(0, 500);
      log(`  ${spec.id}: create failed: ${res.error}`);
      live.push({ spec, res });
    }
  }
  const step = async (l: (typeof live)[number], into: number[], what: string) => {
    if (!l.runner || l.res.error) return;
    try {
      const t0 = performance.now();
      const out = await l.runner.run();
      const ms = performance.now() - t0;
      into.push(ms);
      l.last = out;
      log(`  ${c.name} ${l.spec.id} ${what}: ${ms.toFixed(1)} ms`);
    } catch (e) {
      l.res.error = String((e as Error)?.message ?? e).slice(0, 500);
      log(`  ${l.spec.id}: run failed: ${l.res.error}`);
    }
  };
  for (let i = 0; i < opts.warmup; i++) for (const l of live) await step(l, l.res.warmupMs, `warm-up ${i + 1}`);
  for (let i = 0; i < opts.reps; i++) for (const l of live) await step(l, l.res.runsMs, `run ${i + 1}/${opts.reps}`);
  for (const l of live) {
    l.res.medianMs = median(l.res.runsMs);
    if (l.last && c.reference.size > 0) Object.assign(l.res, compare(c, l.last));
    try {
      await l.runner?.dispose();
    } catch {
      /* ignore */
    }
  }
  const timingOnly = c.reference.size === 0 ? { timingOnly: true } : {};
  return { case: c.name, module: c.module, imageSize: c.imageSize, ...timingOnly, runtimes: live.map((l) => l.res) };
}

const fmtMs = (ms: number) => (Number.isFinite(ms) ? (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2)).replace(/\B(?=(\d{3})+(?!\d))/g, ',') : '—');
const fmtDiff = (d: number) => (Number.isFinite(d) ? d.toExponential(1) : d === undefined ? '—' : String(d));

/**
 * A markdown table: one row per case; per runtime the median ms and max|Δ| vs PyTorch (the largest over
 * the outputs; '—' for a case without reference outputs, the whole-frame cases); the ratios peer ÷ ours
 * (above 1: ours is faster).
 */
export function formatTable(results: CaseResult[], oursId = 'ours'): string {
  const ids: string[] = [];
  for (const r of results) for (const x of r.runtimes) if (!ids.includes(x.id)) ids.push(x.id);
  const peers = ids.filter((i) => i !== oursId);
  const head = ['module', 'size', ...ids.map((i) => `${i} ms`), ...peers.map((p) => `${p} ÷ ${oursId}`), ...ids.map((i) => `${i} max\\|Δ\\|`)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, k) => (k < 2 ? '---' : '---:')).join('|')}|`];
  for (const r of results) {
    const by = new Map(r.runtimes.map((x) => [x.id, x]));
    const ours = by.get(oursId);
    const cells = [r.module, String(r.imageSize)];
    for (const i of ids) {
      const x = by.get(i);
      cells.push(x ? (x.error && !x.runsMs.length ? 'error' : fmtMs(x.medianMs)) : '');
    }
    for (const p of peers) {
      const x = by.get(p);
      cells.push(x && ours && Number.isFinite(x.medianMs) && Number.isFinite(ours.medianMs) ? `${(x.medianMs / ours.medianMs).toFixed(2)}×` : '—');
    }
    for (const i of ids) {
      const x = by.get(i);
      if (!x) cells.push('');
      else if (r.timingOnly) cells.push('—');
      else cells.push(fmtDiff(Math.max(...Object.values(x.maxAbsDiff).concat(Object.keys(x.maxAbsDiff).length ? [] : [NaN]))));
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  const timed = results.filter((r) => r.timingOnly).map((r) => r.case);
  const note = timed.length
    ? `\n\n${timed.join(', ')}: a whole tracked frame, timed only (no PyTorch reference for a whole frame; the module cases check the values).`
    : '';
  const errs = results.flatMap((r) => r.runtimes.filter((x) => x.error).map((x) => `${r.case} ${x.id}: ${x.error}`));
  return lines.join('\n') + note + (errs.length ? `\n\nerrors:\n${errs.join('\n')}` : '');
}

export interface Args {
  quick: boolean;
  modules: string[];
  sizes: number[];
  warmup: number;
  reps: number;
}

/**
 * --quick: 256 only, 1 warm-up, 3 runs (a check that everything runs); otherwise 256 and 512, 1 warm-up,
 * 5 runs. --modules: any of MODULES and FRAME_MODULES (default: the four modules; the whole-frame cases
 * only when named, as they take long: their setup tracks 2 frames per runtime before the warm-up).
 */
export function parseArgs(argv: string[]): Args & { get(name: string): string | undefined } {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = argv.includes('--quick');
  const modules = (get('modules') ?? MODULES.join(',')).split(',');
  const known: readonly string[] = [...MODULES, ...FRAME_MODULES];
  const unknown = modules.filter((m) => !known.includes(m));
  if (unknown.length) throw new Error(`peers: unknown module ${unknown.join(', ')} (${known.join(', ')})`);
  return {
    quick,
    modules,
    sizes: (get('sizes') ?? (quick ? '256' : '256,512')).split(',').map(Number),
    warmup: Number(get('warmup') ?? 1),
    reps: Number(get('reps') ?? (quick ? 3 : 5)),
    get,
  };
}
