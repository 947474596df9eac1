/**
 * The TypeScript synthetic-weight rule (src/checkpoint/synthetic.ts) against the Python one that produced the
 * reference fixtures: every tensor of all 8 official configs must have the checksums that
 * tools/reference/synthetic.py wrote to weights/checksums/<config>.json. Runs without torch or a GPU.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  configDigest,
  fnv1a32,
  syntheticRule,
  syntheticTensor,
  syntheticTensors,
  syntheticWeights,
  tensorChecksum,
  type WeightManifestLike,
} from '../../src/checkpoint/synthetic.js';
import { CONFIG_NAMES } from '../../src/checkpoint/manifest_check.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface ChecksumFile {
  config: string;
  num_tensors: number;
  num_params: number;
  digest: string;
  tensors: { name: string; shape: number[]; rule: string; sum: number; wsum: number }[];
}

const readJson = <T>(rel: string): T => JSON.parse(readFileSync(join(root, rel), 'utf8')) as T;

describe('synthetic weights: hash and rule', () => {
  it('FNV-1a-32 matches the published test vectors', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('values are 24-bit uniforms, scaled and offset', () => {
    // norm weights: 1 + 0.1u, u in [-1, 1)
    const w = syntheticTensor('memory_attention.norm.weight', [256]);
    expect(w.every((v) => v >= 0.9 && v < 1.1)).toBe(true);
    // fan-in weights: |v| <= sqrt(3 / fan_in), mean near 0
    const lin = syntheticTensor('memory_attention.layers.0.linear1.weight', [2048, 256]);
    const bound = Math.sqrt(3 / 256);
    expect(lin.every((v) => Math.abs(v) <= bound)).toBe(true);
    const mean = lin.reduce((a, v) => a + v, 0) / lin.length;
    expect(Math.abs(mean)).toBeLessThan(bound * 0.01);
    // scale 1, offset 0: the raw uniforms, k / 2^23 for integers k in [-2^23, 2^23)
    const u = syntheticTensor('no_obj_ptr', [1, 256]);
    expect(u.every((v) => Number.isInteger(v * 8388608) && v >= -1 && v < 1)).toBe(true);
    expect(new Set(u).size).toBeGreaterThan(250);
  });

  it('picks the documented rule per tensor', () => {
    expect(syntheticRule('sam_mask_decoder.output_upscaling.0.weight', [256, 64, 2, 2])).toEqual({
      id: 'conv_transpose',
      scale: Math.sqrt(3 / 256),
      offset: 0,
    });
    expect(syntheticRule('sam_mask_decoder.output_upscaling.1.weight', [64]).id).toBe('norm_weight');
    expect(syntheticRule('memory_encoder.fuser.layers.1.gamma', [256]).id).toBe('layer_scale');
    expect(syntheticRule('sam_mask_decoder.pred_obj_score_head.layers.2.bias', [1]).offset).toBe(2);
    expect(syntheticRule('sam_mask_decoder.pred_obj_score_head.layers.1.bias', [256]).id).toBe('bias');
    expect(syntheticRule('image_encoder.trunk.patch_embed.proj.weight', [96, 3, 7, 7]).scale).toBe(Math.sqrt(3 / 147));
    expect(() => syntheticRule('something.else', [3])).toThrow(/no rule/);
  });

  it('applies whole-tensor overrides and refuses unknown or mis-sized ones', () => {
    const manifest = readJson<WeightManifestLike>('weights/manifests/sam2.1_hiera_t.json');
    const name = 'sam_mask_decoder.pred_obj_score_head.layers.2.bias';
    const w = syntheticWeights(manifest, { [name]: [-3] });
    expect(Array.from(w.get(name)!.data)).toEqual([-3]);
    expect(w.size).toBe(manifest.tensors.length);
    expect(() => [...syntheticTensors(manifest, { nope: [1] })]).toThrow(/not in/);
    expect(() => [...syntheticTensors(manifest, { [name]: [1, 2] })]).toThrow(/has 2 values/);
  });
});

describe('synthetic weights: checksums of all 8 configs match the Python rule', () => {
  for (const config of CONFIG_NAMES) {
    it(config, () => {
      const manifest = readJson<WeightManifestLike & { num_params: number }>(`weights/manifests/${config}.json`);
      const expected = readJson<ChecksumFile>(`weights/checksums/${config}.json`);
      expect(expected.config).toBe(config);
      expect(expected.num_tensors).toBe(manifest.tensors.length);
      expect(expected.num_params).toBe(manifest.num_params);
      const got: { name: string; shape: number[]; sum: number; wsum: number }[] = [];
      const mismatches: string[] = [];
      let params = 0;
      manifest.tensors.forEach((t, i) => {
        const e = expected.tensors[i];
        // names and shapes first: the manifest, the checksum file and the generated data must agree
        expect(e.name).toBe(t.name);
        expect(e.shape).toEqual(t.shape);
        expect(syntheticRule(t.name, t.shape).id).toBe(e.rule);
      });
      for (const t of syntheticTensors(manifest)) {
        const i = got.length;
        const e = expected.tensors[i];
        expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
        params += t.data.length;
        const c = tensorChecksum(t.data);
        got.push({ name: t.name, shape: [...t.shape], ...c });
        if (c.sum !== e.sum || c.wsum !== e.wsum) {
          mismatches.push(`${t.name}: got ${c.sum}/${c.wsum}, expected ${e.sum}/${e.wsum}`);
        }
      }
      expect(mismatches).toEqual([]);
      expect(params).toBe(manifest.num_params);
      expect(configDigest(got)).toBe(expected.digest);
    });
  }
});
