/** Node-only test utility: synthetic weights as a file. */
import { getManifest, type ConfigName } from '../src/checkpoint/manifests.js';
import { writeSafetensorsFile } from '../src/runtime/safetensors_node.js';
import { syntheticTensor } from '../src/checkpoint/synthetic.js';

/**
 * Writes the synthetic weights of a config as a safetensors file named as `convert` names real ones (F32,
 * one tensor in memory at a time): a stand-in for downloaded weights wherever a file is what is tested.
 */
export async function writeSyntheticWeights(path: string, config: ConfigName = 'sam2.1_hiera_t'): Promise<void> {
  const tensors = getManifest(config).tensors.map((t) => ({
    name: t.name,
    dtype: 'f32' as const,
    shape: t.shape,
    data: () => {
      const d = syntheticTensor(t.name, t.shape);
      return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    },
  }));
  await writeSafetensorsFile(path, tensors, { format: 'pt', config });
}
