/**
 * The official state-dict manifests (weights/manifests/<config>.json, dumped from Meta's sam2 package by
 * tools/reference/dump_manifests.py) and config inference from a set of tensor names and shapes.
 *
 * SAM 2.1 differs from SAM 2 by a few tensors (e.g. `no_obj_embed_spatial`, `obj_ptr_tpos_proj.*`), and the
 * four sizes differ in block counts and widths, so the key set plus shapes identifies a config exactly.
 */
import samT from '../../weights/manifests/sam2_hiera_t.json';
import samS from '../../weights/manifests/sam2_hiera_s.json';
import samB from '../../weights/manifests/sam2_hiera_b+.json';
import samL from '../../weights/manifests/sam2_hiera_l.json';
import sam21T from '../../weights/manifests/sam2.1_hiera_t.json';
import sam21S from '../../weights/manifests/sam2.1_hiera_s.json';
import sam21B from '../../weights/manifests/sam2.1_hiera_b+.json';
import sam21L from '../../weights/manifests/sam2.1_hiera_l.json';

export const CONFIG_NAMES = [
  'sam2.1_hiera_t',
  'sam2.1_hiera_s',
  'sam2.1_hiera_b+',
  'sam2.1_hiera_l',
  'sam2_hiera_t',
  'sam2_hiera_s',
  'sam2_hiera_b+',
  'sam2_hiera_l',
] as const;

export type ConfigName = (typeof CONFIG_NAMES)[number];

export function isConfigName(s: unknown): s is ConfigName {
  return typeof s === 'string' && (CONFIG_NAMES as readonly string[]).includes(s);
}

/** Element type as PyTorch names it (str(tensor.dtype) without "torch."). */
export type ManifestDType = 'float32' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'bool' | 'uint8';

export interface ManifestTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: ManifestDType;
}

export interface Manifest {
  /** Config name; official manifests use a ConfigName, custom ones (tests, partial models) any string. */
  readonly config: string;
  readonly config_file?: string;
  /** The resolved Hydra model config (image_encoder, memory_attention, ... as in the official YAML). */
  readonly model: Readonly<Record<string, unknown>>;
  readonly num_params?: number;
  readonly tensors: readonly ManifestTensor[];
}

const MANIFESTS: Readonly<Record<ConfigName, Manifest>> = {
  'sam2.1_hiera_t': sam21T as Manifest,
  'sam2.1_hiera_s': sam21S as Manifest,
  'sam2.1_hiera_b+': sam21B as Manifest,
  'sam2.1_hiera_l': sam21L as Manifest,
  sam2_hiera_t: samT as Manifest,
  sam2_hiera_s: samS as Manifest,
  'sam2_hiera_b+': samB as Manifest,
  sam2_hiera_l: samL as Manifest,
};

export function getManifest(config: ConfigName): Manifest {
  const m = MANIFESTS[config];
  if (!m) throw new Error(`unknown config '${config}' (known: ${CONFIG_NAMES.join(', ')})`);
  return m;
}

/** How a set of tensors differs from a manifest (names and shapes; dtypes are the loader's business). */
export interface ManifestDiff {
  missing: string[];
  unexpected: string[];
  wrongShape: { name: string; expected: readonly number[]; actual: readonly number[] }[];
}

export function diffCount(d: ManifestDiff): number {
  return d.missing.length + d.unexpected.length + d.wrongShape.length;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export function diffManifest(
  manifest: Manifest,
  tensors: Iterable<{ readonly name: string; readonly shape: readonly number[] }>,
): ManifestDiff {
  const want = new Map(manifest.tensors.map((t) => [t.name, t]));
  const seen = new Set<string>();
  const diff: ManifestDiff = { missing: [], unexpected: [], wrongShape: [] };
  for (const t of tensors) {
    seen.add(t.name);
    const m = want.get(t.name);
    if (!m) diff.unexpected.push(t.name);
    else if (!sameShape(m.shape, t.shape)) diff.wrongShape.push({ name: t.name, expected: m.shape, actual: t.shape });
  }
  for (const t of manifest.tensors) if (!seen.has(t.name)) diff.missing.push(t.name);
  return diff;
}

/** Short human-readable summary of a diff (the first few entries of each kind). */
export function describeDiff(d: ManifestDiff, limit = 5): string {
  const parts: string[] = [];
  const list = (xs: string[]) => xs.slice(0, limit).map((x) => `'${x}'`).join(', ') + (xs.length > limit ? `, … (${xs.length} in all)` : '');
  if (d.missing.length) parts.push(`missing ${list(d.missing)}`);
  if (d.unexpected.length) parts.push(`unexpected ${list(d.unexpected)}`);
  if (d.wrongShape.length) {
    parts.push(
      `wrong shape ${d.wrongShape
        .slice(0, limit)
        .map((w) => `'${w.name}' [${w.actual.join(', ')}] (expected [${w.expected.join(', ')}])`)
        .join(', ')}${d.wrongShape.length > limit ? `, … (${d.wrongShape.length} in all)` : ''}`,
    );
  }
  return parts.join('; ') || 'no differences';
}

export interface ConfigMatch {
  /** The official config whose manifest is closest (exact when `diffCount(diff) === 0`). */
  config: ConfigName;
  diff: ManifestDiff;
  exact: boolean;
}

/** The official config the tensors match, or the closest one (fewest differing tensors) with its diff. */
export function inferConfig(tensors: readonly { readonly name: string; readonly shape: readonly number[] }[]): ConfigMatch {
  let best: ConfigMatch | undefined;
  for (const config of CONFIG_NAMES) {
    const diff = diffManifest(MANIFESTS[config], tensors);
    if (!best || diffCount(diff) < diffCount(best.diff)) best = { config, diff, exact: diffCount(diff) === 0 };
    if (best.exact) break;
  }
  return best!;
}
