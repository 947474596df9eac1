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

import { CONFIG_NAMES, diffCount, diffManifest, type ConfigName, type Manifest, type ManifestDiff } from './manifest_check.js';

export * from './manifest_check.js';

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
