/**
 * onnxruntime (onnxruntime-node or onnxruntime-web: the same InferenceSession API) as a peer-benchmark
 * runtime: CPU tensors in, session.run, CPU outputs back. A whole-frame case composes the four sessions of
 * its size (bench/peers/frame.ts).
 */
import type { ModuleCase, PeerCase, Runner, RuntimeSpec } from './common.js';
import { createOrtFrameRunner } from './frame.js';

/** The part of the onnxruntime-common API both packages share and this benchmark uses. */
export interface OrtLike {
  InferenceSession: {
    create(model: string | Uint8Array, options?: Record<string, unknown>): Promise<OrtSession>;
  };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
}

export interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown; dispose?: () => void }>>;
  release(): Promise<void>;
}

/** session.run → plain Float32Arrays by output name (the results are CPU tensors; disposed once read). */
export async function runSession(session: OrtSession, feeds: Record<string, unknown>): Promise<Map<string, Float32Array>> {
  const res = await session.run(feeds);
  const out = new Map<string, Float32Array>();
  for (const [name, v] of Object.entries(res)) {
    out.set(name, v.data as Float32Array);
    v.dispose?.();
  }
  return out;
}

export function ortRuntime(
  ort: OrtLike,
  id: string,
  label: string,
  sessionOptions: Record<string, unknown>,
  model: (c: ModuleCase) => Promise<string | Uint8Array>,
  context = false,
): RuntimeSpec {
  return {
    id,
    label,
    context,
    async create(c: PeerCase): Promise<Runner> {
      if (c.kind === 'frame') return createOrtFrameRunner(ort, sessionOptions, model, c);
      const session = await ort.InferenceSession.create(await model(c), { graphOptimizationLevel: 'all', ...sessionOptions });
      return {
        async run() {
          const feeds: Record<string, unknown> = {};
          for (const t of c.entry.inputs) feeds[t.name] = new ort.Tensor('float32', c.inputs.get(t.name)!, t.shape);
          return runSession(session, feeds);
        },
        dispose: () => session.release(),
      };
    },
  };
}
