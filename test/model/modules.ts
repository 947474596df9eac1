/**
 * What the module parity suites share: the partial models of an official config they load (synthetic
 * weights, by manifest), and the suite around a file's tests (its reference fixture and the numeric
 * variants, opened before the tests; the parity rows and timings printed, and the fixture closed, after).
 */
import { afterAll, beforeAll } from 'vitest';
import { sam2Config } from '../../src/checkpoint/config.js';
import { getManifest, type ConfigName, type Manifest } from '../../src/checkpoint/manifests.js';
import { syntheticWeights } from '../../src/checkpoint/synthetic.js';
import { loadWeights, type WeightStore } from '../../src/checkpoint/weights.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { openFixture, type Fixture } from '../fixtures/reader.js';
import { variants, type Variant } from '../helpers.js';
import { parityTable, type ParityResult } from './parity.js';

/** The config of the committed module fixtures (test/fixtures/tiny256), at their image size. */
export const CONFIG: ConfigName = 'sam2.1_hiera_t';
export const cfg = sam2Config('tiny', '2.1', { imageSize: 256 });

/** The tensors of an official manifest that `keep` selects: a partial model named `<config> (<part>)`. */
function partialManifest(part: string, keep: (name: string) => boolean, config: ConfigName): Manifest {
  const full = getManifest(config);
  return { ...full, config: `${config} (${part})`, tensors: full.tensors.filter((t) => keep(t.name)) };
}

/** The partial models the suites load. */
export const PARTS = {
  /** The prompt encoder's and mask decoder's tensors. */
  heads: (config: ConfigName = CONFIG) => partialManifest('SAM heads', (n) => /^sam_(prompt_encoder|mask_decoder)\./.test(n), config),
  memoryAttention: (config: ConfigName = CONFIG) => partialManifest('memory attention', (n) => n.startsWith('memory_attention.'), config),
  memoryEncoder: (config: ConfigName = CONFIG) =>
    partialManifest('memory encoder', (n) => n.startsWith('memory_encoder.') || n === 'no_obj_embed_spatial', config),
  /** The trunk, the neck and the decoder's two high-res projections. */
  imageEncoder: (config: ConfigName = CONFIG) =>
    partialManifest('image encoder', (n) => n.startsWith('image_encoder.') || /^sam_mask_decoder\.conv_s[01]\./.test(n), config),
};

/** Synthetic weights of a (partial) model on `gpu`, stored as `dtype`. */
export function syntheticModel(gpu: Gpu, manifest: Manifest, dtype: 'f32' | 'f16'): Promise<WeightStore> {
  return loadWeights(syntheticWeights(manifest), { gpu, dtype, manifest });
}

/** Runs `body` with synthetic weights of `manifest` and releases them after, whatever happens. */
export async function withModel<T>(gpu: Gpu, manifest: Manifest, dtype: 'f32' | 'f16', body: (weights: WeightStore) => Promise<T>): Promise<T> {
  const weights = await syntheticModel(gpu, manifest, dtype);
  try {
    return await body(weights);
  } finally {
    weights.release();
  }
}

/** A test file's reference fixture, variants, parity rows and timings. */
export interface ParitySuite {
  /** Set before the file's tests run. */
  readonly fx: Fixture;
  readonly vs: Variant[];
  readonly rows: ParityResult[];
  readonly timings: string[];
  /** A fixture tensor uploaded as `dtype`, labelled with its name. */
  upload(gpu: Gpu, name: string, dtype: 'f32' | 'f16'): Promise<Tensor>;
}

/**
 * Opens `fixture` and the variants before the file's tests; after them prints the parity rows under `title`
 * and the timings, and closes the fixture.
 */
export function paritySuite(fixture: string, title: string): ParitySuite {
  let fx: Fixture | undefined;
  let vs: Variant[] | undefined;
  const suite: ParitySuite = {
    get fx() {
      if (!fx) throw new Error(`${fixture} is opened before the tests run`);
      return fx;
    },
    get vs() {
      if (!vs) throw new Error('the variants are made before the tests run');
      return vs;
    },
    rows: [],
    timings: [],
    upload: async (gpu, name, dtype) => gpu.upload(await suite.fx.f32(name), suite.fx.info(name).shape, dtype, name),
  };
  beforeAll(async () => {
    fx = await openFixture(fixture);
    vs = await variants();
  });
  afterAll(async () => {
    await fx?.close();
    if (suite.rows.length) console.log(`${title}\n${parityTable(suite.rows)}`);
    if (suite.timings.length) console.log(suite.timings.join('\n'));
  });
  return suite;
}
