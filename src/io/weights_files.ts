/**
 * Where converted weights live in Node: the folder `weights/` of the current directory, or
 * `$SAM2_WEBGPU_WEIGHTS`. `npx sam2-webgpu weights <size>` writes there, and `track` and `load()` without
 * `weights` read from there, under one name per model (config.ts `weightsFileName`).
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { configName, weightsFileName, type ModelSize, type ModelVersion } from '../checkpoint/config.js';
import { NoWeightsError } from '../checkpoint/weights.js';

/** The folder `weights` and `track` use: `$SAM2_WEBGPU_WEIGHTS`, else `weights/` in the current directory. */
export function weightsDir(): string {
  return resolve(process.env.SAM2_WEBGPU_WEIGHTS || 'weights');
}

/**
 * The converted weights of a model in weightsDir(): the file of the requested dtype first, then the other
 * one (floats are converted on upload). Throws NoWeightsError saying where it looked and how to get them.
 */
export function findWeights(size: ModelSize, version: ModelVersion, dtype: 'f32' | 'f16' = 'f32'): string {
  const dir = weightsDir();
  const order: ('f32' | 'f16')[] = dtype === 'f16' ? ['f16', 'f32'] : ['f32', 'f16'];
  const candidates = order.map((d) => join(dir, weightsFileName(size, version, d)));
  const found = candidates.find((f) => existsSync(f) && statSync(f).isFile());
  if (found) return found;
  const shown = candidates.map((f) => shortPath(f)).join(' nor ');
  const legacy = join(dir, `${configName(size, version)}.safetensors`);
  const rename = existsSync(legacy) ? ` (${shortPath(legacy)} exists: rename it to ${weightsFileName(size, version)})` : '';
  throw new NoWeightsError(
    `no weights for ${configName(size, version)} (${size}, SAM ${version}): found neither ${shown}${rename}. ` +
      `Get them with \`npx sam2-webgpu weights ${size}${version === '2.0' ? ' --v2.0' : ''}\` (downloads Meta's checkpoint and converts it), ` +
      `give a converted .safetensors file (--weights FILE), or choose the synthetic weights (meaningless masks) explicitly ` +
      `(--weights synthetic; in the API weights: 'synthetic')`,
  );
}

/** A path relative to the working directory when it lies below it, absolute otherwise. */
export function shortPath(p: string): string {
  const r = relative(process.cwd(), p);
  return r && !r.startsWith('..') && !isAbsolute(r) ? r : resolve(p);
}
