import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configName, MODEL_SIZES, parseConfigName, sam2Config, type ModelVersion } from '../../src/checkpoint/config.js';

/** The config table agrees with the official configs as resolved by the official builder (manifests). */
describe('model config table', () => {
  for (const version of ['2.1', '2.0'] as ModelVersion[]) {
    for (const size of MODEL_SIZES) {
      const c = sam2Config(size, version);
      it(c.name, () => {
        const m = JSON.parse(readFileSync(`weights/manifests/${c.name}.json`, 'utf8')).model;
        const trunk = m.image_encoder.trunk;
        expect(c.hiera.embedDim).toBe(trunk.embed_dim ?? 96);
        expect(c.hiera.numHeads).toBe(trunk.num_heads ?? 1);
        if (trunk.stages) expect(c.hiera.stages).toEqual(trunk.stages);
        if (trunk.global_att_blocks) expect(c.hiera.globalAttBlocks).toEqual(trunk.global_att_blocks);
        if (trunk.window_spec) expect(c.hiera.windowSpec).toEqual(trunk.window_spec);
        if (trunk.window_pos_embed_bkg_spatial_size) expect(c.hiera.windowPosEmbedBkgSpatialSize).toEqual(trunk.window_pos_embed_bkg_spatial_size);
        expect(c.neck.backboneChannelList).toEqual(m.image_encoder.neck.backbone_channel_list);
        expect(c.neck.fpnTopDownLevels).toEqual(m.image_encoder.neck.fpn_top_down_levels);
        expect(c.neck.scalp).toBe(m.image_encoder.scalp);
        expect(c.memDim).toBe(m.memory_encoder.out_dim);
        expect(c.numMaskmem).toBe(m.num_maskmem);
        expect(c.memoryAttention.numLayers).toBe(m.memory_attention.num_layers);
        expect(c.memoryAttention.dimFeedforward).toBe(m.memory_attention.layer.dim_feedforward);
        expect(c.sigmoidScaleForMemEnc).toBe(m.sigmoid_scale_for_mem_enc);
        expect(c.sigmoidBiasForMemEnc).toBe(m.sigmoid_bias_for_mem_enc);
        expect(c.addTposEncToObjPtrs).toBe(m.add_tpos_enc_to_obj_ptrs ?? true);
        expect(c.projTposEncInObjPtrs).toBe(m.proj_tpos_enc_in_obj_ptrs ?? false);
        expect(c.useSignedTposEncToObjPtrs).toBe(m.use_signed_tpos_enc_to_obj_ptrs ?? false);
        expect(c.noObjEmbedSpatial).toBe(m.no_obj_embed_spatial ?? false);
        for (const k of ['directly_add_no_mem_embed', 'use_high_res_features_in_sam', 'multimask_output_in_sam', 'multimask_output_for_tracking', 'use_multimask_token_for_obj_ptr', 'iou_prediction_use_sigmoid', 'use_obj_ptrs_in_encoder', 'only_obj_ptrs_in_the_past_for_eval', 'pred_obj_scores', 'pred_obj_scores_mlp', 'fixed_no_obj_ptr', 'use_mlp_for_obj_ptr_proj', 'use_mask_input_as_output_without_sam']) {
          const camel = k.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase()) as keyof typeof c;
          expect([k, c[camel]]).toEqual([k, m[k]]);
        }
        expect(c.multimaskMinPtNum).toBe(m.multimask_min_pt_num);
        expect(c.multimaskMaxPtNum).toBe(m.multimask_max_pt_num);
        expect(parseConfigName(c.name)).toEqual({ size, version });
      });
    }
  }
  it('rejects bad sizes, versions and image sizes', () => {
    expect(() => sam2Config('huge' as never)).toThrow(/unknown model size "huge"/);
    expect(() => sam2Config('tiny', '3' as never)).toThrow(/version "3"/);
    expect(() => sam2Config('tiny', '2.1', { imageSize: 100 })).toThrow(/imageSize 100/);
    expect(() => parseConfigName('sam3_hiera_t')).toThrow(/sam3_hiera_t/);
    expect(configName('base_plus', '2.0')).toBe('sam2_hiera_b+');
  });
});
