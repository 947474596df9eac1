/**
 * Browser vs Node: the agreement computation (agreement.ts) runs in this page on the browser's WebGPU adapter
 * and, through the `nodeOutputs` command of vitest.browser.config.ts, in Node on Dawn (the default driver, and
 * SwiftShader, the browser's own driver, when the default is another). Every output must agree within the
 * f32 parity tolerance (test/model/parity.ts). The differences are printed and written to
 * test/browser/artifacts/agreement.json.
 */
import { commands } from 'vitest/browser';
import { expect, it } from 'vitest';
import { Gpu } from '../../src/runtime/gpu.js';
import { adapterFamily } from '../../src/runtime/profile.js';
import { bufferSource, SafetensorsReader } from '../../src/runtime/safetensors.js';
import { decodeToF32 } from '../../src/runtime/dtype.js';
import { expectParity, F32_PARITY, parity, parityTable, type ParityResult } from '../model/parity.js';
import { agreementOutputs, AGREEMENT_CONFIG, AGREEMENT_FRAMES, AGREEMENT_SIZE } from './agreement.js';

declare module 'vitest/browser' {
  interface BrowserCommands {
    /** Runs test/browser/node_outputs.ts in Node ('default' driver or a SAM2_WEBGPU_DRIVER value). */
    nodeOutputs: (driver: string) => Promise<{ file: string; base64: string; adapter: string; seconds: number }>;
    /** Writes test/browser/artifacts/<name>. */
    writeArtifact: (name: string, text: string) => Promise<void>;
  }
}

/** A safetensors file of f32 tensors, given as base64. */
async function readOutputs(base64: string, what: string): Promise<Map<string, Float32Array>> {
  const bin = atob(base64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const reader = await SafetensorsReader.open(bufferSource(bytes, what));
  const out = new Map<string, Float32Array>();
  for (const t of reader.tensors) out.set(t.name, decodeToF32(t.dtype, await reader.read(t.name)));
  return out;
}

interface NodeRun {
  driver: string;
  adapter: { adapter: string; architecture: string; backend: string };
  seconds: number;
  maxAbs: number;
  maxRel: number;
  minCosine: number;
  tensors: ParityResult[];
}

it(`browser and Node agree (${AGREEMENT_CONFIG} @ ${AGREEMENT_SIZE}, a click and ${AGREEMENT_FRAMES} tracked frames, f32)`, async () => {
  const gpu = await Gpu.create();
  const adapter = gpu.info;
  const t0 = performance.now();
  let browser: Map<string, Float32Array>;
  try {
    browser = await agreementOutputs(gpu);
  } finally {
    gpu.destroy();
  }
  const browserSeconds = (performance.now() - t0) / 1000;

  const runs: NodeRun[] = [];
  const refs: Array<Map<string, Float32Array>> = [];
  for (const driver of ['default', 'swiftshader']) {
    // Node's default driver may already be the browser's (SwiftShader): one run then covers both.
    if (driver === 'swiftshader' && runs.some((r) => adapterFamily(r.adapter) === 'swiftshader')) continue;
    const node = await commands.nodeOutputs(driver);
    const ref = await readOutputs(node.base64, node.file);
    expect([...ref.keys()]).toEqual([...browser.keys()]);
    const tensors = [...browser].map(([name, got]) => parity(name, `Node ${driver}`, got, ref.get(name)!));
    refs.push(ref);
    runs.push({
      driver,
      adapter: JSON.parse(node.adapter) as NodeRun['adapter'],
      seconds: node.seconds,
      maxAbs: Math.max(...tensors.map((r) => r.maxAbs)),
      maxRel: Math.max(...tensors.map((r) => r.rel)),
      minCosine: Math.min(...tensors.map((r) => r.cosine)),
      tensors,
    });
  }

  const report = {
    config: AGREEMENT_CONFIG,
    imageSize: AGREEMENT_SIZE,
    frames: AGREEMENT_FRAMES,
    tolerance: F32_PARITY,
    browser: { adapter, userAgent: navigator.userAgent, seconds: browserSeconds },
    node: runs,
  };
  await commands.writeArtifact('agreement.json', JSON.stringify(report, null, 1));
  for (const r of runs) {
    console.log(
      `browser (${adapter.architecture}) vs Node (${r.driver}: ${r.adapter.adapter}): max|Δ| ${r.maxAbs.toExponential(3)}, ` +
        `max|Δ|/max|ref| ${r.maxRel.toExponential(3)}, min cosine ${r.minCosine.toFixed(8)}\n${parityTable(r.tensors)}`,
    );
  }
  // Asserted after the report is written, so that a failure still leaves the numbers behind.
  runs.forEach((r, i) => {
    for (const [name, got] of browser) expectParity(name, `Node ${r.driver}`, got, refs[i].get(name)!, F32_PARITY);
  });
});
