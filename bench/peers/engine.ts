/**
 * Our engine as a peer-benchmark runtime (Node and browser alike): each call uploads the case's CPU inputs,
 * runs the module and reads every output back, as onnxruntime's session.run does with CPU tensors. A
 * whole-frame case runs the video predictor instead (bench/peers/frame.ts).
 */
import { sam2Config } from '../../src/checkpoint/config.js';
import { ImageEncoder } from '../../src/model/image_encoder.js';
import { MaskDecoder, maskDecoderOptions } from '../../src/model/mask_decoder.js';
import { getManifest } from '../../src/checkpoint/manifests.js';
import { MemoryAttention } from '../../src/model/memory_attention.js';
import { MemoryEncoder } from '../../src/model/memory_encoder.js';
import { PromptEncoder } from '../../src/model/prompt_encoder.js';
import { loadWeights, type WeightStore } from '../../src/checkpoint/weights.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { syntheticWeights } from '../../src/checkpoint/synthetic.js';
import type { ModuleCase, Runner, RuntimeSpec } from './common.js';
import { createEngineFrameRunner } from './frame.js';

/** The synthetic weights of sam2.1_hiera_t (every module), f32, on the GPU; the image size does not change them. */
export async function loadEngineWeights(gpu: Gpu): Promise<WeightStore> {
  const manifest = getManifest('sam2.1_hiera_t');
  return loadWeights(syntheticWeights(manifest), { gpu, dtype: 'f32', manifest });
}

export function engineRuntime(gpu: Gpu, weights: WeightStore, label: string): RuntimeSpec {
  return { id: 'ours', label, create: (c) => (c.kind === 'frame' ? createEngineFrameRunner(gpu, weights, c) : createRunner(gpu, weights, c)) };
}

async function createRunner(gpu: Gpu, weights: WeightStore, c: ModuleCase): Promise<Runner> {
  const cfg = sam2Config('tiny', '2.1', { imageSize: c.imageSize });
  const ctx = { gpu, weights };
  const shapeOf = (name: string) => {
    const t = c.entry.inputs.find((x) => x.name === name);
    if (!t) throw new Error(`peers: ${c.name} has no input ${name}`);
    return t.shape;
  };
  const input = (name: string) => gpu.upload(c.inputs.get(name)!, shapeOf(name), 'f32', name);
  const readAll = async (outs: Array<[string, Tensor]>) => {
    const got = await Promise.all(outs.map(([, t]) => gpu.read(t)));
    return new Map(outs.map(([n], i) => [n, got[i]]));
  };
  switch (c.module) {
    case 'encoder': {
      const enc = ImageEncoder.create(ctx, cfg);
      enc.prepare();
      return {
        async run() {
          const x = input('image');
          const f = enc.encode(x);
          x.release();
          const out = await readAll([
            ['vision_features', f.visionFeatures],
            ['fpn0', f.highRes[0]],
            ['fpn1', f.highRes[1]],
          ]);
          f.release();
          return out;
        },
        dispose: () => enc.release(),
      };
    }
    case 'memory_attention': {
      const ma = new MemoryAttention(ctx, cfg);
      const ptr = c.entry.num_obj_ptr_tokens ?? 0;
      // Sequence-first [N, 1, C] with batch 1 is the same memory as batch-first [1, N, C].
      const bf = (name: string) => {
        const [n, , ch] = shapeOf(name);
        return gpu.upload(c.inputs.get(name)!, [1, n, ch], 'f32', name);
      };
      return {
        async run() {
          const ins = ['curr', 'curr_pos', 'memory', 'memory_pos'].map(bf);
          const y = ma.forward(ins[0], ins[1], ins[2], ins[3], ptr);
          for (const t of ins) t.release();
          const out = await readAll([['output', y]]);
          y.release();
          return out;
        },
        dispose: () => ma.release(),
      };
    }
    case 'mask_decoder': {
      const pe = await PromptEncoder.create(ctx, cfg);
      const dec = new MaskDecoder(ctx, maskDecoderOptions(cfg));
      const [, n] = shapeOf('point_labels');
      return {
        async run() {
          const img = input('image_embeddings');
          const fpn0 = input('fpn0');
          const fpn1 = input('fpn1');
          const emb = pe.forward({ points: { coords: c.inputs.get('point_coords')!, labels: c.inputs.get('point_labels')!.subarray(0, n) } });
          const o = dec.forward({
            imageEmbeddings: img,
            imagePe: pe.getDensePe(),
            sparse: emb.sparse,
            dense: emb.dense,
            repeatImage: false,
            highResFeatures: [fpn0, fpn1],
            multimaskOutput: true,
          });
          for (const t of [img, fpn0, fpn1, emb.sparse, emb.dense]) t.release();
          const out = await readAll([
            ['masks', o.masks],
            ['iou', o.iouPred],
            ['sam_tokens', o.samTokensOut],
            ['object_score', o.objectScoreLogits],
          ]);
          for (const t of [o.masks, o.iouPred, o.samTokensOut, o.objectScoreLogits]) t.release();
          return out;
        },
        dispose: () => {},
      };
    }
    case 'memory_encoder': {
      const enc = new MemoryEncoder(ctx, cfg);
      return {
        async run() {
          const pix = input('pix_feat');
          const mask = input('mask');
          const o = enc.forward(pix, mask, { skipMaskSigmoid: true });
          pix.release();
          mask.release();
          const out = await readAll([['features', o.features]]);
          o.features.release();
          return out;
        },
        dispose: () => enc.release(),
      };
    }
    default:
      throw new Error(`peers: unknown module ${c.module}`);
  }
}
