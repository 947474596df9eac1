/**
 * What an official SAM 2 state dict looks like (the manifest types and config names) and how a set of
 * tensors differs from one. The manifests themselves (JSON, ~650 KB) are in manifests.ts, which browser
 * code loads only when it validates weights.
 */
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

