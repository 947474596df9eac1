/**
 * Synthetic weights: a deterministic value for every tensor of an official SAM 2 / SAM 2.1 state_dict,
 * from (tensor name, element index) alone. The engine uses them when no checkpoint is given, and the
 * reference fixtures (test/fixtures) were produced by the official PyTorch model loaded with the very same
 * values (tools/reference/synthetic.py is the Python twin; weights/README.md specifies the rule).
 *
 *   seed  = FNV-1a-32(UTF-8 bytes of the tensor name)
 *   x     = fmix32((i * 0x9E3779B1 + seed) mod 2^32)          murmur3 finalizer, i = row-major element index
 *   u     = ((x >>> 8) - 2^23) / 2^23                          in [-1, 1), 24 bits, exact in f32
 *   value = f32(u * scale + offset)                            in float64, rounded once to f32
 *
 * `scale` and `offset` come from the first matching rule of SYNTHETIC_RULES. They are built from integers
 * with +, *, / and sqrt only (all correctly rounded in IEEE 754), and JavaScript never fuses u * scale +
 * offset into an FMA, so every value is bit-identical to numpy's. weights/checksums/<config>.json holds the
 * Python side's per-tensor checksums; test/weights/synthetic.test.ts compares them for all 8 configs.
 *
 * Platform-neutral (no Node imports): pass the parsed manifest (weights/manifests/<config>.json).
 */
import { hex32 } from '../runtime/bytes.js';
import { fromTorchName } from './torch_names.js';

/** One tensor of a manifest: weights/manifests/<config>.json → tensors[]. */
export interface ManifestTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype?: string;
}

/** The parts of weights/manifests/<config>.json used here. */
export interface WeightManifestLike {
  readonly config?: string;
  readonly tensors: readonly ManifestTensor[];
}

export interface SyntheticTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/**
 * Whole-tensor replacements: name → values (row-major, exactly numel of them, stored as f32). Used by
 * fixture cases that need a different object-score bias; each one is documented in weights/README.md and
 * recorded in the fixture's metadata (`overrides`).
 */
export type SyntheticOverrides = Readonly<Record<string, ArrayLike<number>>>;

export interface SyntheticRule {
  /** Rule id, as in weights/README.md and the checksum files. */
  readonly id: string;
  /** Full-match pattern on the tensor name. */
  readonly pattern: RegExp;
  /** Rank condition: undefined = any, '1' = 1-D only, '2+' = two or more dims. */
  readonly rank?: '1' | '2+';
  /** [scale, offset] of the tensor. */
  readonly spec: (shape: readonly number[]) => readonly [number, number];
}

/** Inputs per output of a Linear [out, in] or Conv2d [out, in/groups, kh, kw] weight. */
function fanIn(shape: readonly number[]): number {
  let n = 1;
  for (let i = 1; i < shape.length; i++) n *= shape[i];
  return n;
}

const full = (source: string): RegExp => new RegExp(`^(?:${source})$`);

/** First match wins. Keep in sync with tools/reference/synthetic.py and weights/README.md. */
export const SYNTHETIC_RULES: readonly SyntheticRule[] = [
  // Random Fourier features of the prompt encoder: unit variance, like the official N(0, 1) buffer.
  {
    id: 'fourier',
    pattern: full(String.raw`sam_prompt_encoder\.pe_layer\.positional_encoding_gaussian_matrix`),
    spec: () => [Math.sqrt(3), 0],
  },
  // nn.Embedding tables: unit variance, like nn.Embedding's N(0, 1) initialisation.
  {
    id: 'embedding',
    pattern: full(
      String.raw`sam_prompt_encoder\.(point_embeddings\.\d+|not_a_point_embed|no_mask_embed)\.weight` +
        String.raw`|sam_mask_decoder\.(iou_token|mask_tokens|obj_score_token)\.weight`,
    ),
    spec: () => [Math.sqrt(3), 0],
  },
  // Hiera's absolute position embeddings (background + window): modest.
  { id: 'pos_embed', pattern: full(String.raw`image_encoder\.trunk\.pos_embed(_window)?`), spec: () => [0.25, 0] },
  // Memory-side learned embeddings: modest.
  { id: 'memory_embed', pattern: full('no_mem_embed|no_mem_pos_enc|maskmem_tpos_enc'), spec: () => [0.25, 0] },
  // What replaces a pointer / is added to a memory when the object is absent: O(1), so absence shows.
  { id: 'no_object', pattern: full('no_obj_ptr|no_obj_embed_spatial'), spec: () => [1, 0] },
  // ConvNeXt layer scale of the memory encoder's fuser (official init 1e-6): large enough to matter.
  { id: 'layer_scale', pattern: full(String.raw`memory_encoder\.fuser\.layers\.\d+\.gamma`), spec: () => [0.1, 0.5] },
  // The memory encoder's projection of the image features: a quarter of the fan-in scale.
  {
    id: 'pix_feat_proj',
    pattern: full(String.raw`memory_encoder\.pix_feat_proj\.weight`),
    spec: (s) => [Math.sqrt(3 / (16 * fanIn(s))), 0],
  },
  // Object-score head output bias: positive, so prompted objects are present unless a case overrides it.
  {
    id: 'obj_score_bias',
    pattern: full(String.raw`sam_mask_decoder\.pred_obj_score_head\.layers\.2\.bias`),
    spec: () => [0.05, 2],
  },
  // Output layer of the mask decoder's hypernetwork MLPs: 3x the fan-in scale (mask logits in the tens).
  {
    id: 'hypernetwork_out',
    pattern: full(String.raw`sam_mask_decoder\.output_hypernetworks_mlps\.\d+\.layers\.2\.weight`),
    spec: (s) => [Math.sqrt(27 / fanIn(s)), 0],
  },
  // ConvTranspose2d [in, out, k, k] with stride == kernel: every output pixel sees each input channel once.
  {
    id: 'conv_transpose',
    pattern: full(String.raw`sam_mask_decoder\.output_upscaling\.[03]\.weight`),
    spec: (s) => [Math.sqrt(3 / s[0]), 0],
  },
  // Every other weight with 2+ dims (Linear, Conv2d, depthwise Conv2d): variance 1 / fan_in.
  { id: 'fan_in', pattern: full(String.raw`.*\.weight`), rank: '2+', spec: (s) => [Math.sqrt(3 / fanIn(s)), 0] },
  // 1-D weights are LayerNorm / LayerNorm2d scales: near 1.
  { id: 'norm_weight', pattern: full(String.raw`.*\.weight`), rank: '1', spec: () => [0.1, 1] },
  // Biases (Linear, Conv2d, LayerNorm): small.
  { id: 'bias', pattern: full(String.raw`.*\.bias`), spec: () => [0.05, 0] },
];

/** The rule, scale and offset of one tensor; throws for a name no rule covers. */
export function syntheticRule(name: string, shape: readonly number[]): { id: string; scale: number; offset: number } {
  for (const r of SYNTHETIC_RULES) {
    if (!r.pattern.test(name)) continue;
    if (r.rank === '2+' && shape.length < 2) continue;
    if (r.rank === '1' && shape.length !== 1) continue;
    const [scale, offset] = r.spec(shape);
    return { id: r.id, scale, offset };
  }
  throw new Error(`synthetic weights: no rule for tensor ${name} [${shape.join(', ')}]`);
}

const utf8 = new TextEncoder();

/** FNV-1a, 32 bits, of a string's UTF-8 bytes (or of raw bytes). */
export function fnv1a32(text: string | Uint8Array): number {
  const bytes = typeof text === 'string' ? utf8.encode(text) : text;
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`synthetic weights: bad shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

/**
 * Fills `out` with elements [start, start + out.length) of a tensor's uniform stream, scaled. Exposed so
 * that a caller can generate a large tensor in chunks.
 */
export function fillSynthetic(name: string, scale: number, offset: number, out: Float32Array, start = 0): Float32Array {
  const seed = fnv1a32(name);
  const n = out.length;
  for (let k = 0; k < n; k++) {
    // (i * golden + seed) mod 2^32; `| 0` wraps the (exact) double sum to 32 bits
    let x = (Math.imul(start + k, 0x9e3779b1) + seed) | 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x85ebca6b);
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35);
    x ^= x >>> 16;
    const u = ((x >>> 8) - 8388608) / 8388608;
    out[k] = u * scale + offset; // float64 arithmetic, one rounding to f32 on store
  }
  return out;
}

/** The f32 values of one tensor (row-major). */
export function syntheticTensor(name: string, shape: readonly number[]): Float32Array {
  const { scale, offset } = syntheticRule(name, shape);
  return fillSynthetic(name, scale, offset, new Float32Array(numel(shape)));
}

/** Every tensor of a manifest, in manifest order, generated one at a time (only one is held). */
export function* syntheticTensors(manifest: WeightManifestLike, overrides: SyntheticOverrides = {}): Generator<SyntheticTensor> {
  const used = new Set<string>();
  for (const t of manifest.tensors) {
    if (t.dtype !== undefined && fromTorchName(t.dtype) !== 'f32') {
      throw new Error(`synthetic weights: ${t.name} is ${t.dtype}, only float32 tensors are expected`);
    }
    const n = numel(t.shape);
    let data: Float32Array;
    if (Object.hasOwn(overrides, t.name)) {
      const v = overrides[t.name];
      if (v.length !== n) {
        throw new Error(`synthetic weights: override for ${t.name} has ${v.length} values, tensor has ${n}`);
      }
      data = Float32Array.from(v);
      used.add(t.name);
    } else {
      data = syntheticTensor(t.name, t.shape);
    }
    yield { name: t.name, shape: [...t.shape], data };
  }
  const unknown = Object.keys(overrides).filter((k) => !used.has(k));
  if (unknown.length) {
    throw new Error(`synthetic weights: overrides name tensors not in ${manifest.config ?? 'the manifest'}: ${unknown.join(', ')}`);
  }
}

/** Every tensor of a manifest in a Map (insertion order = manifest order). */
export function syntheticWeights(
  manifest: WeightManifestLike,
  overrides: SyntheticOverrides = {},
): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const t of syntheticTensors(manifest, overrides)) out.set(t.name, { shape: [...t.shape], data: t.data });
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Checksums (weights/checksums/<config>.json)

/** Modulus of the element weights of the second checksum: weight(i) = (i mod 65521) + 1. */
export const CHECKSUM_MODULUS = 65521;

/** Two 32-bit sums of the f32 bit patterns: plain, and weighted by (i mod 65521) + 1; both mod 2^32. */
export function tensorChecksum(data: Float32Array): { sum: number; wsum: number } {
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  let sum = 0;
  let wsum = 0;
  let w = 1;
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    sum = (sum + b) >>> 0;
    wsum = (wsum + Math.imul(b, w)) >>> 0;
    if (++w > CHECKSUM_MODULUS) w = 1;
  }
  return { sum, wsum };
}

/** FNV-1a-32 over one line per tensor, "name|d0,d1,..|sum|wsum\n", in manifest order; 8 hex digits. */
export function configDigest(
  entries: Iterable<{ name: string; shape: readonly number[]; sum: number; wsum: number }>,
): string {
  let text = '';
  for (const e of entries) text += `${e.name}|${e.shape.join(',')}|${e.sum}|${e.wsum}\n`;
  return hex32(fnv1a32(text));
}
