/**
 * The weight loader: validates a set of tensors against the official state-dict manifest of a SAM 2 /
 * SAM 2.1 config and uploads them to the GPU under their official names (the module tree in src/model
 * looks its parameters up by those names, so a mismatch fails here, at load time, not at inference).
 *
 * Sources:
 *   - a safetensors file path (Node): header first, then one tensor at a time through a file handle;
 *   - an ArrayBuffer / typed array holding a safetensors file: zero-copy views, one conversion at a time;
 *   - a fetch() Response or ReadableStream (browsers): each tensor is uploaded as soon as its bytes have
 *     arrived, so the file is never held whole;
 *   - synthetic weights: any (async) iterable of [name, {shape, data}] (src/checkpoint/synthetic.ts).
 *
 * Validation happens before any upload wherever the tensor list is known up front (safetensors headers):
 * missing keys, unexpected keys, wrong shapes, wrong dtypes and truncated data are each a WeightError with
 * `kind` and `tensor` set, naming the tensor. Float tensors may be stored as F32, F16 or BF16 and are
 * converted on upload to the requested dtype (f32 or f16; narrowing rounds to nearest even). If anything
 * fails midway, every tensor already uploaded is released.
 *
 * The config is inferred from the key set and shapes (the closest official config is named in errors), or
 * checked against `expectConfig`, or against a custom `manifest` (partial models, tests).
 */
import { FormatError, Sam2Error } from '../runtime/errors.js';
import { Gpu } from '../runtime/gpu.js';
import { OptionError } from '../runtime/options.js';
import { checkProfileMode, type ProfileMode } from '../runtime/profile.js';
import type { Tensor } from '../runtime/tensor.js';
import { viewAs } from '../runtime/bytes.js';
import { convertFloatBytes, ELEMENT_BYTES, isFloatType, type FloatType } from '../runtime/dtype.js';
import {
  bufferSource,
  numelOf,
  openSafetensorsResponse,
  openSafetensorsStream,
  SafetensorsReader,
  safetensorsName,
  TruncatedError,
  type SafetensorsDType,
  type SafetensorsHeader,
  type TensorInfo,
} from '../runtime/safetensors.js';
import {
  describeDiff,
  diffCount,
  diffManifest,
  type ConfigName,
  type Manifest,
  type ManifestTensor,
} from './manifest_check.js';
import { fromTorchName } from './torch_names.js';
import { configName, frozenConfig, sam2Config, type ModelSize, type ModelVersion, type Sam2Config } from './config.js';

/** The official manifests (JSON), loaded when weights are validated, so a browser bundle fetches them lazily. */
const manifests = () => import('./manifests.js');

// ---------------------------------------------------------------------------------------------------------
// Types

/** A host tensor of synthetic weights. Uint16Array data needs dtype 'f16' or 'bf16'. */
export interface HostTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array | Uint16Array;
  readonly dtype?: 'f32' | 'f16' | 'bf16';
}

export type SyntheticWeights =
  | Iterable<readonly [string, HostTensor]>
  | AsyncIterable<readonly [string, HostTensor]>;

export type WeightSource =
  /** A safetensors path (Node), or 'synthetic': the deterministic synthetic weights (meaningless masks). */
  | string
  | ArrayBuffer
  | ArrayBufferView
  | Response
  | ReadableStream<Uint8Array>
  | SyntheticWeights;

export type WeightErrorKind = 'missing' | 'unexpected' | 'shape' | 'dtype' | 'truncated' | 'config' | 'format';

/** A weight source does not fit the model. `tensor` names the (first) offending tensor when there is one. */
export class WeightError extends FormatError {
  constructor(
    message: string,
    readonly kind: WeightErrorKind,
    readonly tensor?: string,
  ) {
    super(message);
  }
}

/**
 * No weights were given and none were found (Node: in the weights folder). The message says where it looked
 * and how to get them.
 */
export class NoWeightsError extends Sam2Error {}

/** Loading progress, reported at most every 100 ms and once at the end (not once per tensor). */
export interface LoadProgress {
  /** Source bytes processed (file bytes; f32-equivalent bytes for synthetic weights). */
  bytesDone: number;
  bytesTotal: number;
  /** The last tensor uploaded. */
  tensor: string;
  tensorsDone: number;
  tensorsTotal: number;
}

export interface LoadOptions {
  gpu: Gpu;
  /** GPU storage type of float tensors (default 'f32'). */
  dtype?: 'f32' | 'f16';
  onProgress?: (p: LoadProgress) => void;
  /** Require this official config instead of inferring it. */
  expectConfig?: ConfigName;
  /** Validate against this manifest instead of the official ones (partial models, tests). */
  manifest?: Manifest;
}

export interface WeightConfig {
  /** The config name (an official ConfigName unless a custom manifest was given). */
  name: string;
  /** The resolved model config (as in the official YAML). */
  model: Manifest['model'];
  manifest: Manifest;
}

/** Tensors on the GPU by official state-dict name. */
export class WeightStore {
  private released = false;

  constructor(
    readonly config: WeightConfig,
    /** GPU dtype of float tensors. */
    readonly dtype: 'f32' | 'f16',
    private readonly tensors: Map<string, Tensor>,
    /** The source's `__metadata__` (empty for synthetic weights). */
    readonly metadata: Readonly<Record<string, string>> = {},
  ) {}

  /** The tensor under its official name; throws naming the key if there is none. */
  get(name: string): Tensor {
    if (this.released) throw new Sam2Error(`weights: get('${name}') after release()`);
    const t = this.tensors.get(name);
    if (!t) {
      throw new WeightError(`weights (${this.config.name}): no tensor '${name}'`, 'missing', name);
    }
    return t;
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  get size(): number {
    return this.tensors.size;
  }

  /** Bytes held on the GPU. */
  get byteLength(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += t.byteLength;
    return n;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    for (const t of this.tensors.values()) t.release();
    this.tensors.clear();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Validation

/** Stored dtypes accepted for a manifest tensor (the GPU dtype they are uploaded as follows from them). */
function storedDTypes(m: ManifestTensor): readonly SafetensorsDType[] {
  switch (fromTorchName(m.dtype)) {
    case 'f32':
    case 'f16':
    case 'bf16':
      return ['f32', 'f16', 'bf16'];
    case 'i64':
    case 'i32':
      return ['i64', 'i32'];
    default:
      return []; // no official SAM 2 tensor has another type; refuse rather than guess a GPU layout
  }
}

/** Picks the manifest: custom, expected, or inferred (the closest official one if none matches exactly). */
async function resolveManifest(
  tensors: readonly { readonly name: string; readonly shape: readonly number[] }[],
  opts: LoadOptions,
): Promise<{ manifest: Manifest; hint: string }> {
  if (opts.manifest) return { manifest: opts.manifest, hint: '' };
  const { getManifest, inferConfig } = await manifests();
  if (opts.expectConfig) {
    const manifest = getManifest(opts.expectConfig);
    if (diffCount(diffManifest(manifest, tensors)) === 0) return { manifest, hint: '' };
    const inferred = inferConfig(tensors);
    const hint = inferred.exact ? ` (these weights are ${inferred.config})` : '';
    return { manifest, hint };
  }
  const match = inferConfig(tensors);
  return {
    manifest: getManifest(match.config),
    hint: match.exact ? '' : ` (no official config matches; the closest is ${match.config})`,
  };
}

/** Throws the first problem among missing / unexpected / wrong-shape / wrong-dtype tensors. */
export function validateTensors(
  manifest: Manifest,
  tensors: readonly { readonly name: string; readonly shape: readonly number[]; readonly dtype: SafetensorsDType }[],
  hint = '',
): void {
  const what = `weights (${manifest.config})`;
  const diff = diffManifest(manifest, tensors);
  const summary = diffCount(diff) > 1 ? ` [all differences: ${describeDiff(diff)}]` : '';
  if (diff.missing.length) {
    const names = diff.missing.slice(0, 5).map((n) => `'${n}'`).join(', ');
    const more = diff.missing.length > 5 ? ` and ${diff.missing.length - 5} more` : '';
    throw new WeightError(`${what}: missing tensor${diff.missing.length > 1 ? 's' : ''} ${names}${more}${hint}${summary}`, 'missing', diff.missing[0]);
  }
  if (diff.unexpected.length) {
    const names = diff.unexpected.slice(0, 5).map((n) => `'${n}'`).join(', ');
    const more = diff.unexpected.length > 5 ? ` and ${diff.unexpected.length - 5} more` : '';
    throw new WeightError(`${what}: unexpected tensor${diff.unexpected.length > 1 ? 's' : ''} ${names}${more}${hint}${summary}`, 'unexpected', diff.unexpected[0]);
  }
  if (diff.wrongShape.length) {
    const w = diff.wrongShape[0];
    throw new WeightError(
      `${what}: tensor '${w.name}' has shape [${w.actual.join(', ')}], expected [${w.expected.join(', ')}]${hint}${summary}`,
      'shape',
      w.name,
    );
  }
  const want = new Map(manifest.tensors.map((t) => [t.name, t]));
  for (const t of tensors) {
    const m = want.get(t.name)!;
    const ok = storedDTypes(m);
    if (!ok.includes(t.dtype)) {
      throw new WeightError(
        `${what}: tensor '${t.name}' is stored as ${safetensorsName(t.dtype)}; ${m.dtype} weights must be ${ok.map(safetensorsName).join(', ') || 'absent'}`,
        'dtype',
        t.name,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Upload

/** Index of the first NaN or ±Inf among float values stored as `dtype` (little-endian), or -1. */
function firstNonFinite(dtype: FloatType, bytes: Uint8Array): number {
  if (dtype === 'f32') {
    // The exponent bits all set is NaN or Inf; read as u32 to test without float conversion.
    const v = viewAs(Uint32Array, bytes);
    for (let i = 0; i < v.length; i++) if ((v[i] & 0x7f800000) === 0x7f800000) return i;
    return -1;
  }
  const v = viewAs(Uint16Array, bytes);
  const exp = dtype === 'f16' ? 0x7c00 : 0x7f80;
  for (let i = 0; i < v.length; i++) if ((v[i] & exp) === exp) return i;
  return -1;
}

/** Bytes in the stored dtype → bytes and GPU dtype for upload. */
function toGpuBytes(
  name: string,
  stored: SafetensorsDType,
  bytes: Uint8Array,
  target: 'f32' | 'f16',
): { bytes: Uint8Array; dtype: 'f32' | 'f16' | 'i32' } {
  if (isFloatType(stored)) {
    const bad = firstNonFinite(stored, bytes);
    if (bad >= 0) {
      throw new WeightError(`weights: tensor '${name}' holds a non-finite value (NaN or ±Inf) at element ${bad}; the file is corrupt`, 'format', name);
    }
    const out = convertFloatBytes(stored, target, bytes);
    const over = target === 'f16' && stored !== 'f16' ? firstNonFinite('f16', out) : -1;
    if (over >= 0) {
      throw new WeightError(`weights: tensor '${name}' holds a value beyond the f16 range (±65504) at element ${over}; load it with dtype 'f32'`, 'dtype', name);
    }
    return { bytes: out, dtype: target };
  }
  if (stored === 'i32') return { bytes, dtype: 'i32' };
  if (stored === 'i64') {
    const v = viewAs(BigInt64Array, bytes);
    const out = new Int32Array(v.length);
    for (let i = 0; i < v.length; i++) {
      if (v[i] < -2147483648n || v[i] > 2147483647n) {
        throw new WeightError(`weights: tensor '${name}' holds ${v[i]}, beyond the int32 range of the GPU copy`, 'dtype', name);
      }
      out[i] = Number(v[i]);
    }
    return { bytes: new Uint8Array(out.buffer), dtype: 'i32' };
  }
  throw new WeightError(`weights: tensor '${name}': no GPU layout for ${safetensorsName(stored)}`, 'dtype', name);
}

interface PendingTensor {
  name: string;
  shape: readonly number[];
  dtype: SafetensorsDType;
  bytes: Uint8Array;
  /** Progress position once this tensor is done. */
  bytesDone: number;
}

/**
 * Tensors uploaded as f32 whatever the storage dtype: the heads whose outputs decide things run in f32 in
 * every storage mode — the IoU prediction (the multimask choice), the object score (presence gating) and
 * the object pointer (obj_ptr_proj, gated by the score with no_obj_ptr). Their cost is a few hundred kB.
 */
export const F32_WEIGHTS: readonly string[] = [
  'sam_mask_decoder.iou_prediction_head.',
  'sam_mask_decoder.pred_obj_score_head.',
  'obj_ptr_proj.',
  'no_obj_ptr',
];

/** Whether tensor `name` is kept in f32 in every storage mode (F32_WEIGHTS). */
export function keptInF32(name: string): boolean {
  return F32_WEIGHTS.some((p) => (p.endsWith('.') ? name.startsWith(p) : name === p));
}

/** Loading progress is reported at most this often (and once at the end). */
const PROGRESS_INTERVAL_MS = 100;

/** Uploads tensors one at a time; releases everything uploaded so far if anything fails. */
async function uploadAll(
  entries: AsyncIterable<PendingTensor>,
  opts: LoadOptions,
  manifest: Manifest,
  bytesTotal: number,
): Promise<Map<string, Tensor>> {
  const target = opts.dtype ?? 'f32';
  const out = new Map<string, Tensor>();
  const tensorsTotal = manifest.tensors.length;
  let last = -Infinity;
  let report: LoadProgress | undefined;
  try {
    for await (const t of entries) {
      const up = toGpuBytes(t.name, t.dtype, t.bytes, keptInF32(t.name) ? 'f32' : target);
      out.set(t.name, opts.gpu.uploadBytes(up.bytes, t.shape, up.dtype, t.name));
      if (!opts.onProgress) continue;
      report = { bytesDone: t.bytesDone, bytesTotal, tensor: t.name, tensorsDone: out.size, tensorsTotal };
      const now = Date.now();
      if (now - last >= PROGRESS_INTERVAL_MS) {
        last = now;
        opts.onProgress(report);
        report = undefined;
      }
    }
    if (report) opts.onProgress?.(report);
    return out;
  } catch (e) {
    for (const t of out.values()) t.release();
    if (e instanceof TruncatedError) throw new WeightError(e.message, 'truncated', e.tensor);
    if (e instanceof FormatError && !(e instanceof WeightError)) throw new WeightError(e.message, 'format');
    throw e;
  }
}

async function loadFromHeader(
  header: SafetensorsHeader,
  entries: () => AsyncIterable<{ info: TensorInfo; bytes: Uint8Array }>,
  opts: LoadOptions,
): Promise<WeightStore> {
  const { manifest, hint } = await resolveManifest(header.tensors, opts);
  validateTensors(manifest, header.tensors, hint);
  const total = header.dataStart + header.dataLength;
  async function* pending(): AsyncGenerator<PendingTensor> {
    for await (const { info, bytes } of entries()) {
      yield { name: info.name, shape: info.shape, dtype: info.dtype, bytes, bytesDone: header.dataStart + info.end };
    }
  }
  const tensors = await uploadAll(pending(), opts, manifest, total);
  return new WeightStore(configOf(manifest), opts.dtype ?? 'f32', tensors, header.metadata);
}

function configOf(manifest: Manifest): WeightConfig {
  return { name: manifest.config, model: manifest.model, manifest };
}

/** Wraps header-level FormatErrors from the safetensors layer into WeightErrors. */
async function asWeightError<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof TruncatedError) throw new WeightError(e.message, 'truncated', e.tensor);
    if (e instanceof FormatError && !(e instanceof WeightError)) throw new WeightError(e.message, 'format');
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Synthetic weights

function hostDType(name: string, t: HostTensor): SafetensorsDType {
  const d = t.dtype ?? (t.data instanceof Float32Array ? 'f32' : undefined);
  if (d === 'f32' && t.data instanceof Float32Array) return 'f32';
  if ((d === 'f16' || d === 'bf16') && t.data instanceof Uint16Array) return d;
  throw new WeightError(
    `weights: synthetic tensor '${name}' has ${t.data?.constructor?.name ?? typeof t.data} data with dtype ${d ?? '(none)'} ` +
      `(use Float32Array for f32, Uint16Array for f16 / bf16)`,
    'dtype',
    name,
  );
}

async function loadSynthetic(source: SyntheticWeights, opts: LoadOptions): Promise<WeightStore> {
  let items: SyntheticWeights = source;
  let manifest: Manifest;
  let hint = '';
  if (opts.manifest || opts.expectConfig) {
    manifest = opts.manifest ?? (await manifests()).getManifest(opts.expectConfig!);
  } else {
    // Inference needs every name and shape first. Arrays and Maps can be walked twice; any other iterable is
    // collected (pass expectConfig to stream a generator without holding it).
    if (!Array.isArray(source) && !(source instanceof Map)) {
      const all: (readonly [string, HostTensor])[] = [];
      for await (const e of source as AsyncIterable<readonly [string, HostTensor]>) all.push(e);
      items = all;
    }
    const shapes = [...(items as Iterable<readonly [string, HostTensor]>)].map(([name, t]) => ({ name, shape: t.shape }));
    ({ manifest, hint } = await resolveManifest(shapes, opts));
  }
  const want = new Map<string, ManifestTensor>(manifest.tensors.map((t) => [t.name, t]));
  const seen = new Set<string>();
  let bytesTotal = 0;
  for (const t of manifest.tensors) bytesTotal += numelOf(t.shape) * 4;
  let bytesDone = 0;
  const what = `weights (${manifest.config})`;

  async function* pending(): AsyncGenerator<PendingTensor> {
    for await (const [name, t] of items as AsyncIterable<readonly [string, HostTensor]>) {
      const m = want.get(name);
      if (!m) throw new WeightError(`${what}: unexpected tensor '${name}'${hint}`, 'unexpected', name);
      if (seen.has(name)) throw new WeightError(`${what}: tensor '${name}' is given twice`, 'unexpected', name);
      seen.add(name);
      if (t.shape.length !== m.shape.length || t.shape.some((d, i) => d !== m.shape[i])) {
        throw new WeightError(
          `${what}: tensor '${name}' has shape [${t.shape.join(', ')}], expected [${m.shape.join(', ')}]${hint}`,
          'shape',
          name,
        );
      }
      const dtype = hostDType(name, t);
      if (!storedDTypes(m).includes(dtype)) {
        throw new WeightError(`${what}: tensor '${name}' is ${safetensorsName(dtype)}; ${m.dtype} weights need a float type`, 'dtype', name);
      }
      const numel = numelOf(t.shape);
      if (t.data.length !== numel) {
        throw new WeightError(
          `${what}: tensor '${name}' has ${t.data.length} values but shape [${t.shape.join(', ')}] needs ${numel}`,
          t.data.length < numel ? 'truncated' : 'shape',
          name,
        );
      }
      bytesDone += numel * 4;
      const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, numel * ELEMENT_BYTES[dtype]);
      yield { name, shape: t.shape, dtype, bytes, bytesDone };
    }
  }

  const tensors = await uploadAll(pending(), opts, manifest, bytesTotal);
  const missing = manifest.tensors.filter((t) => !tensors.has(t.name)).map((t) => t.name);
  if (missing.length) {
    for (const t of tensors.values()) t.release();
    const names = missing.slice(0, 5).map((n) => `'${n}'`).join(', ');
    throw new WeightError(
      `${what}: missing tensor${missing.length > 1 ? 's' : ''} ${names}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}${hint}`,
      'missing',
      missing[0],
    );
  }
  return new WeightStore(configOf(manifest), opts.dtype ?? 'f32', tensors);
}

/** The deterministic synthetic weights of `expectConfig` (src/checkpoint/synthetic.ts), generated tensor by tensor. */
async function loadSyntheticRule(opts: LoadOptions): Promise<WeightStore> {
  if (!opts.manifest && !opts.expectConfig) throw new Sam2Error("weights: 'synthetic' needs the model's config (expectConfig)");
  const [{ syntheticTensors }, manifest] = await Promise.all([
    import('./synthetic.js'),
    opts.manifest ?? manifests().then((m) => m.getManifest(opts.expectConfig!)),
  ]);
  function* pairs(): Generator<readonly [string, HostTensor]> {
    for (const t of syntheticTensors(manifest)) yield [t.name, { shape: [...t.shape], data: t.data }] as const;
  }
  return loadSynthetic(pairs(), { ...opts, manifest });
}

/** What both predictors' load() take for the model, its weights and the GPU. */
export interface ModelLoadOptions {
  /** Model size (default 'tiny'). */
  model?: ModelSize;
  /** SAM 2.1 (default) or the original SAM 2. */
  version?: ModelVersion;
  /**
   * Converted weights: a safetensors path (Node), an ArrayBuffer, a fetch Response or stream (fetchWeights,
   * weightsFromFile), or 'synthetic' for the deterministic synthetic weights (the official architecture with
   * meaningless values; masks are noise). Absent: in Node the model's file in the weights folder
   * (`weights/sam2.1_hiera_tiny.safetensors`, or $SAM2_WEBGPU_WEIGHTS; `npx sam2-webgpu weights tiny` puts it
   * there); in browsers a NoWeightsError.
   */
  weights?: WeightSource;
  /** Activation and weight dtype on the GPU (default 'f32'). */
  dtype?: 'f32' | 'f16';
  /** Model input size (default 1024, the official; smaller multiples of 32 are faster and coarser). */
  imageSize?: number;
  /** Use this GPU context instead of creating one. */
  gpu?: Gpu;
  /**
   * The device profile of the GPU context created here: 'auto' (default; from the adapter, or
   * SAM2_WEBGPU_PROFILE in Node), 'gpu' (the kernels and routes of hardware GPUs, on any adapter) or 'cpu'
   * (those of software adapters). The context's choice is `predictor.gpu.profile`. Not with `gpu`, whose
   * profile is fixed.
   */
  profile?: ProfileMode;
  /** Loading progress (bytes and tensors), at most every 100 ms and once at the end. */
  onProgress?: (p: LoadProgress) => void;
}

/** A model's config and weights on a GPU, as load() hands them to a predictor. */
export interface LoadedModel {
  config: Sam2Config;
  gpu: Gpu;
  weights: WeightStore;
  synthetic: boolean;
  /** The GPU was created here (the predictor destroys it with itself). */
  ownsGpu: boolean;
}

/**
 * The common part of the predictors' load(): the official config of `model` / `version` (adjusted by
 * `adjust`), the weights — 'synthetic', the given source, or (absent) in Node the model's file in the
 * weights folder (io/weights_files.ts) and in browsers a NoWeightsError, raised before the GPU starts — and
 * the GPU. `build` makes the predictor; if it or the loading fails, what was made here is freed.
 */
export async function loadModel<T>(
  opts: ModelLoadOptions,
  who: string,
  build: (m: LoadedModel) => Promise<T>,
  adjust: (c: Sam2Config) => Sam2Config = (c) => c,
): Promise<T> {
  if (opts.profile !== undefined) {
    checkProfileMode(opts.profile, `${who}: profile`);
    if (opts.gpu && opts.gpu.profile.requested !== opts.profile) {
      throw new OptionError(`${who}: profile '${opts.profile}' cannot apply to the given gpu, created with profile '${opts.gpu.profile.requested}'; pass one or the other`, 'profile');
    }
  }
  const size = opts.model ?? 'tiny';
  const version = opts.version ?? '2.1';
  const config = frozenConfig(adjust(sam2Config(size, version, { imageSize: opts.imageSize })));
  const name = configName(size, version) as ConfigName;
  const dtype = opts.dtype ?? 'f32';
  const source = opts.weights ?? (await defaultWeights(size, version, dtype, who));
  const gpu = opts.gpu ?? (await Gpu.create({ profile: opts.profile }));
  let weights: WeightStore | undefined;
  try {
    weights = await loadWeights(source, { gpu, dtype, expectConfig: name, onProgress: opts.onProgress });
    return await build({ config, gpu, weights, synthetic: source === 'synthetic', ownsGpu: !opts.gpu });
  } catch (e) {
    weights?.release();
    if (!opts.gpu) gpu.destroy();
    throw e;
  }
}

/** Weights not given: in Node the model's file in the weights folder; in browsers a NoWeightsError. */
async function defaultWeights(size: ModelSize, version: ModelVersion, dtype: 'f32' | 'f16', who: string): Promise<WeightSource> {
  if (typeof process !== 'undefined' && process.versions?.node) {
    const { findWeights } = await import('../io/weights_files.js');
    return findWeights(size, version, dtype);
  }
  throw new NoWeightsError(
    `${who}: no weights given. Pass weights: await fetchWeights(url) (a converted .safetensors file; the README says how to ` +
      `get one), weightsFromFile(file), an ArrayBuffer, or 'synthetic' for the synthetic weights (meaningless masks)`,
  );
}

// ---------------------------------------------------------------------------------------------------------
// Entry point

function isResponse(v: unknown): v is Response {
  return typeof Response !== 'undefined' && v instanceof Response;
}

function isReadableStream(v: unknown): v is ReadableStream<Uint8Array> {
  return typeof ReadableStream !== 'undefined' && v instanceof ReadableStream;
}

/**
 * Loads SAM 2 / SAM 2.1 weights onto the GPU.
 *
 * @param source a safetensors file path (Node), an ArrayBuffer / typed array with a safetensors file, a
 *   fetch() Response or ReadableStream of one, or synthetic weights (iterable of [name, HostTensor]).
 * @throws WeightError (kind missing | unexpected | shape | dtype | truncated | config | format) naming the
 *   tensor; nothing stays uploaded after a failure.
 */
export async function loadWeights(source: WeightSource, opts: LoadOptions): Promise<WeightStore> {
  if (opts.dtype !== undefined && opts.dtype !== 'f32' && opts.dtype !== 'f16') {
    throw new Sam2Error(`weights: dtype must be 'f32' or 'f16', not '${String(opts.dtype)}'`);
  }
  if (source === 'synthetic') return loadSyntheticRule(opts);
  if (typeof source === 'string') {
    const { openSafetensorsFile } = await import('../runtime/safetensors_node.js');
    const reader = await asWeightError(() => openSafetensorsFile(source));
    try {
      return await loadFromHeader(reader.header, () => reader.entries(), opts);
    } finally {
      await reader.close();
    }
  }
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
    const reader = await asWeightError(() => SafetensorsReader.open(bufferSource(source)));
    return loadFromHeader(reader.header, () => reader.entries(), opts);
  }
  if (isResponse(source) || isReadableStream(source)) {
    const stream = await asWeightError(() =>
      isResponse(source) ? openSafetensorsResponse(source) : openSafetensorsStream(source),
    );
    try {
      return await loadFromHeader(stream.header, () => stream.entries(), opts);
    } catch (e) {
      stream.cancel();
      throw e;
    }
  }
  if (typeof source === 'object' && source !== null && (Symbol.iterator in source || Symbol.asyncIterator in source)) {
    return loadSynthetic(source as SyntheticWeights, opts);
  }
  throw new Sam2Error(`weights: unsupported source (${Object.prototype.toString.call(source)})`);
}
