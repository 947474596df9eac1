/**
 * The agreement computation (agreement.ts) on Node's WebGPU (Dawn), written as a safetensors file for the
 * browser page to compare against: `tsx test/browser/node_outputs.ts <out.safetensors>`. The Vulkan driver is
 * Node's default unless SAM2_WEBGPU_DRIVER picks one. Prints the adapter as one JSON line.
 */
import { Gpu } from '../../src/runtime/gpu.js';
import { writeSafetensorsFile } from '../../src/runtime/safetensors_node.js';
import { agreementOutputs } from './agreement.js';

const path = process.argv[2];
if (!path) throw new Error('usage: tsx test/browser/node_outputs.ts <out.safetensors>');
const gpu = await Gpu.create();
try {
  const outputs = await agreementOutputs(gpu);
  const tensors = [...outputs].map(([name, data]) => ({
    name,
    dtype: 'f32' as const,
    shape: [data.length],
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  }));
  await writeSafetensorsFile(path, tensors, { adapter: JSON.stringify(gpu.info) });
  console.log(JSON.stringify(gpu.info));
} finally {
  gpu.destroy();
}
