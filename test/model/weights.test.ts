import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { f32ToBf16Bits, f32ToF16Bits, roundTo } from '../../src/runtime/dtype.js';
import type { Gpu } from '../../src/runtime/gpu.js';
import { getManifest, type Manifest } from '../../src/checkpoint/manifests.js';
import { keptInF32, loadWeights, WeightError, type HostTensor, type LoadProgress, type WeightSource } from '../../src/checkpoint/weights.js';
import {
  planSafetensors,
  serializeSafetensors,
  type SafetensorsDType,
  type TensorSpec,
} from '../../src/runtime/safetensors.js';
import { testGpus, rand } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'sam2-weights-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TINY = getManifest('sam2.1_hiera_t');

/**
 * Writes a safetensors file whose data is all zeros without writing them: the header, then the file is
 * extended (sparsely) to its full size, less `cut` bytes. A full sam2.1_hiera_t file costs nothing to make.
 */
async function sparseFile(name: string, specs: TensorSpec[], cut = 0): Promise<string> {
  const layout = planSafetensors(specs, { config: 'test' });
  const path = join(dir, name);
  const fh = await open(path, 'w');
  await fh.write(layout.prefix, 0, layout.prefix.length, 0);
  await fh.truncate(layout.totalBytes - cut);
  await fh.close();
  return path;
}

function specsOf(m: Manifest, dtype: SafetensorsDType = 'f16'): TensorSpec[] {
  return m.tensors.map((t) => ({ name: t.name, dtype, shape: t.shape }));
}

/** Validation must fail before anything reaches the GPU: a Gpu that refuses every call proves it. */
const noGpu = new Proxy({} as Gpu, {
  get(_, prop) {
    throw new Error(`the GPU was used (${String(prop)}) before validation finished`);
  },
});

async function rejection(p: Promise<unknown>): Promise<WeightError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(WeightError);
  return e as WeightError;
}

describe('loader rejects each bad input kind, naming the tensor (sam2.1_hiera_t, before any upload)', () => {
  it('missing key', async () => {
    const gone = 'sam_mask_decoder.iou_prediction_head.layers.2.bias';
    const path = await sparseFile('missing.safetensors', specsOf(TINY).filter((s) => s.name !== gone));
    const e = await rejection(loadWeights(path, { gpu: noGpu, expectConfig: 'sam2.1_hiera_t' }));
    expect(e.kind).toBe('missing');
    expect(e.tensor).toBe(gone);
    expect(e.message).toContain(`missing tensor '${gone}'`);
    // Inferred rather than expected: the closest config is named.
    const e2 = await rejection(loadWeights(path, { gpu: noGpu }));
    expect(e2.kind).toBe('missing');
    expect(e2.message).toMatch(/closest is sam2\.1_hiera_t/);
  });

  it('unexpected key', async () => {
    const path = await sparseFile('unexpected.safetensors', [...specsOf(TINY), { name: 'extra_head.weight', dtype: 'f16', shape: [4, 4] }]);
    const e = await rejection(loadWeights(path, { gpu: noGpu }));
    expect(e.kind).toBe('unexpected');
    expect(e.tensor).toBe('extra_head.weight');
    expect(e.message).toContain(`unexpected tensor 'extra_head.weight'`);
  });

  it('wrong shape', async () => {
    const name = 'image_encoder.trunk.patch_embed.proj.weight';
    const specs = specsOf(TINY).map((s) => (s.name === name ? { ...s, shape: [96, 3, 7, 8] } : s));
    const e = await rejection(loadWeights(await sparseFile('shape.safetensors', specs), { gpu: noGpu, expectConfig: 'sam2.1_hiera_t' }));
    expect(e.kind).toBe('shape');
    expect(e.tensor).toBe(name);
    expect(e.message).toContain(`tensor '${name}' has shape [96, 3, 7, 8], expected [96, 3, 7, 7]`);
  });

  it('wrong dtype', async () => {
    const specs = specsOf(TINY).map((s) => (s.name === 'no_mem_embed' ? { ...s, dtype: 'i32' as const } : s));
    const e = await rejection(loadWeights(await sparseFile('dtype.safetensors', specs), { gpu: noGpu }));
    expect(e.kind).toBe('dtype');
    expect(e.tensor).toBe('no_mem_embed');
    expect(e.message).toContain(`tensor 'no_mem_embed' is stored as I32; float32 weights must be F32, F16, BF16`);
  });

  it('truncated data', async () => {
    const specs = specsOf(TINY);
    const last = planSafetensors(specs).tensors.at(-1)!.name;
    const e = await rejection(loadWeights(await sparseFile('cut.safetensors', specs, 10), { gpu: noGpu }));
    expect(e.kind).toBe('truncated');
    expect(e.tensor).toBe(last);
    expect(e.message).toContain(`truncated: tensor '${last}'`);
  });

  it('a SAM 2 file where SAM 2.1 is expected, and a corrupt header', async () => {
    const path = await sparseFile('v20.safetensors', specsOf(getManifest('sam2_hiera_t')));
    const e = await rejection(loadWeights(path, { gpu: noGpu, expectConfig: 'sam2.1_hiera_t' }));
    expect(e.kind).toBe('missing');
    expect(e.message).toMatch(/missing tensors 'no_obj_embed_spatial'.*\(these weights are sam2_hiera_t\)/);
    const junk = new Uint8Array(64);
    junk[0] = 200;
    const e2 = await rejection(loadWeights(junk, { gpu: noGpu }));
    expect(e2.kind).toBe('format');
  });
});

// ---------------------------------------------------------------------------------------------------------
// A small custom manifest with real values, for the conversion paths and the streamed / synthetic sources.

const SMALL: Manifest = {
  config: 'small-test',
  model: {},
  tensors: [
    { name: 'a.weight', shape: [3, 5], dtype: 'float32' },
    { name: 'b.bias', shape: [7], dtype: 'float32' },
    { name: 'c.table', shape: [2, 2, 3], dtype: 'float32' },
    { name: 'd.index', shape: [4], dtype: 'int64' },
  ],
};
const VALUES = new Map(SMALL.tensors.map((t, i) => [t.name, rand(t.shape.reduce((a, b) => a * b, 1), 100 + i, -3, 3)]));

function encode(dtype: SafetensorsDType, v: Float32Array): Uint8Array {
  if (dtype === 'f32') return new Uint8Array(v.slice().buffer);
  if (dtype === 'i64') return new Uint8Array(BigInt64Array.from(v, (x) => BigInt(Math.round(x * 1000))).buffer);
  const conv = dtype === 'f16' ? f32ToF16Bits : f32ToBf16Bits;
  return new Uint8Array(Uint16Array.from(v, (x) => conv(x)).buffer);
}

/** What the GPU must hold for a value stored as `stored` and uploaded as `target`. */
function expected(stored: SafetensorsDType, target: 'f32' | 'f16', v: Float32Array): Float32Array {
  if (stored === 'i64') return Float32Array.from(v, (x) => Math.round(x * 1000));
  const asStored = stored === 'f32' ? v : roundTo(stored === 'f16' ? 'f16' : 'bf16', v);
  return target === 'f16' ? roundTo('f16', asStored) : asStored;
}

const STORED: Record<string, SafetensorsDType> = { 'a.weight': 'f32', 'b.bias': 'f16', 'c.table': 'bf16', 'd.index': 'i64' };

async function smallFile(): Promise<Uint8Array> {
  return serializeSafetensors(
    SMALL.tensors.map((t) => ({ name: t.name, dtype: STORED[t.name], shape: t.shape, data: encode(STORED[t.name], VALUES.get(t.name)!) })),
    { config: 'small-test' },
  );
}

/** A fake GPU that records uploads and releases (for the release-on-failure checks, no device needed). */
function recordingGpu() {
  const live = new Set<string>();
  const gpu = {
    uploadBytes(bytes: Uint8Array, shape: readonly number[], dtype: string, label: string) {
      live.add(label);
      return { label, shape, dtype, byteLength: bytes.length, release: () => live.delete(label) };
    },
  } as unknown as Gpu;
  return { gpu, live };
}

describe('loader sources and failure cleanup (no device needed)', () => {
  it('a stream cut short fails naming the tensor, after releasing what it had uploaded', async () => {
    const file = await smallFile();
    const cut = file.slice(0, file.length - 5);
    const { gpu, live } = recordingGpu();
    let uploaded = 0;
    // No Content-Length: the cut is only found when the last tensor's bytes run out.
    const e = await rejection(
      loadWeights(new Response(new Blob([cut]).stream()), { gpu, manifest: SMALL, onProgress: () => uploaded++ }),
    );
    expect(e.kind).toBe('truncated');
    expect(uploaded).toBeGreaterThan(0);
    expect(live.size).toBe(0);
  });

  it('synthetic weights: streamed with a known config, each bad kind named', async () => {
    const good = (): [string, HostTensor][] => SMALL.tensors.map((t) => [t.name, { shape: t.shape, data: VALUES.get(t.name)! }]);
    // int64 manifest entries cannot come from f32 synthetic data: use a float-only manifest here.
    const floats: Manifest = { ...SMALL, tensors: SMALL.tensors.filter((t) => t.dtype === 'float32') };
    const entries = () => good().filter(([n]) => n !== 'd.index');
    async function* gen(xs: [string, HostTensor][]) {
      yield* xs;
    }
    const { gpu, live } = recordingGpu();
    const store = await loadWeights(gen(entries()), { gpu, manifest: floats });
    expect(store.names().sort()).toEqual(['a.weight', 'b.bias', 'c.table']);
    store.release();
    expect(live.size).toBe(0);

    const cases: [string, [string, HostTensor][], string, string][] = [
      ['missing', entries().slice(1), 'missing', 'a.weight'],
      ['unexpected', [...entries(), ['zzz', { shape: [1], data: new Float32Array(1) }]], 'unexpected', 'zzz'],
      ['shape', entries().map(([n, t]) => [n, n === 'b.bias' ? { shape: [8], data: new Float32Array(8) } : t]), 'shape', 'b.bias'],
      ['dtype', entries().map(([n, t]) => [n, n === 'c.table' ? { shape: t.shape, data: new Uint16Array(12) } : t]), 'dtype', 'c.table'],
      ['truncated', entries().map(([n, t]) => [n, n === 'a.weight' ? { shape: t.shape, data: new Float32Array(14) } : t]), 'truncated', 'a.weight'],
    ];
    for (const [, xs, kind, tensor] of cases) {
      const r = recordingGpu();
      const e = await rejection(loadWeights(gen(xs), { gpu: r.gpu, manifest: floats }));
      expect([e.kind, e.tensor]).toEqual([kind, tensor]);
      expect(e.message).toContain(`'${tensor}'`);
      expect(r.live.size).toBe(0);
    }
  });
});

describe('non-finite weights are refused at load (no device needed)', () => {
  /** The small file with one value of one tensor replaced, stored as `dtype`. */
  async function withValue(tensor: string, dtype: SafetensorsDType, at: number, value: number): Promise<Uint8Array> {
    return serializeSafetensors(
      SMALL.tensors.map((t) => {
        const d = t.name === tensor ? dtype : STORED[t.name];
        const v = VALUES.get(t.name)!.slice();
        if (t.name === tensor) v[at] = value;
        return { name: t.name, dtype: d, shape: t.shape, data: encode(d, v) };
      }),
      { config: 'small-test' },
    );
  }

  it('NaN and ±Inf in f32, f16 and bf16 tensors name the tensor and the element', async () => {
    const cases: [SafetensorsDType, number][] = [
      ['f32', NaN],
      ['f32', Infinity],
      ['f16', -Infinity],
      ['f16', NaN],
      ['bf16', NaN],
      ['bf16', Infinity],
    ];
    for (const [dtype, value] of cases) {
      const { gpu, live } = recordingGpu();
      const e = await rejection(loadWeights(await withValue('b.bias', dtype, 4, value), { gpu, manifest: SMALL }));
      expect(e.message).toMatch(/tensor 'b\.bias' holds a non-finite value \(NaN or ±Inf\) at element 4/);
      expect([e.kind, e.tensor]).toEqual(['format', 'b.bias']);
      expect(live.size).toBe(0);
    }
  });

  it('an f32 value beyond the f16 range is refused when loading as f16, accepted as f32', async () => {
    const file = await withValue('c.table', 'f32', 2, 1e6);
    const r = recordingGpu();
    const e = await rejection(loadWeights(file, { gpu: r.gpu, manifest: SMALL, dtype: 'f16' }));
    expect(e.message).toMatch(/tensor 'c\.table' holds a value beyond the f16 range .* at element 2; load it with dtype 'f32'/);
    expect(r.live.size).toBe(0);
    const ok = recordingGpu();
    const store = await loadWeights(file, { gpu: ok.gpu, manifest: SMALL, dtype: 'f32' });
    store.release();
  });
});

// ---------------------------------------------------------------------------------------------------------
// On the GPU

describe('loader uploads to the GPU', () => {
  let gpu: Gpu;
  beforeAll(async () => {
    gpu = (await testGpus()).main;
  });

  for (const target of ['f32', 'f16'] as const) {
    it(`converts F32 / F16 / BF16 / I64 on upload to ${target} (file, ArrayBuffer and Response sources)`, async () => {
      const file = await smallFile();
      const path = join(dir, 'small.safetensors');
      const { writeFileSync } = await import('node:fs');
      writeFileSync(path, file);
      const sources: WeightSource[] = [path, file.buffer as ArrayBuffer, new Response(new Blob([file as Uint8Array<ArrayBuffer>]).stream(), { headers: { 'content-length': String(file.length) } })];
      for (const src of sources) {
        const store = await loadWeights(src, { gpu, dtype: target, manifest: SMALL });
        try {
          expect(store.config.name).toBe('small-test');
          expect(store.metadata).toEqual({ config: 'small-test' });
          for (const t of SMALL.tensors) {
            const gt = store.get(t.name);
            expect(gt.shape).toEqual(t.shape);
            expect(gt.dtype).toBe(t.dtype === 'int64' ? 'i32' : target);
            expect(Array.from(await gpu.read(gt))).toEqual(Array.from(expected(STORED[t.name], target, VALUES.get(t.name)!)));
          }
          expect(() => store.get('nope')).toThrow(/no tensor 'nope'/);
        } finally {
          store.release();
        }
      }
    });
  }

  it('loads a full sam2.1_hiera_t file (f16) with progress, one tensor at a time', async () => {
    const path = await sparseFile('tiny.safetensors', specsOf(TINY));
    const progress: LoadProgress[] = [];
    const before = gpu.pool.getStats().inUse;
    const store = await loadWeights(path, { gpu, dtype: 'f16', onProgress: (p) => progress.push(p) });
    try {
      expect(store.config.name).toBe('sam2.1_hiera_t');
      expect(store.config.model).toBe(TINY.model);
      expect(store.size).toBe(471);
      // Two bytes per value, four for the decision heads kept in f32 (F32_WEIGHTS), which are all f32.
      const kept = TINY.tensors.filter((t) => keptInF32(t.name));
      expect(kept.map((t) => t.name).sort()).toEqual(store.names().filter((n) => store.get(n).dtype === 'f32').sort());
      expect(kept.length).toBeGreaterThanOrEqual(10);
      const keptValues = kept.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
      expect(store.byteLength).toBe(TINY.num_params! * 2 + keptValues * 2);
      expect(gpu.pool.getStats().inUse - before).toBeGreaterThanOrEqual(TINY.num_params! * 2);
      // Throttled: at most one report per 100 ms and the last one, not one per tensor.
      expect(progress.length).toBeGreaterThanOrEqual(1);
      expect(progress.length).toBeLessThan(471 / 4);
      expect(progress.at(-1)).toMatchObject({ tensorsDone: 471, tensorsTotal: 471 });
      expect(progress.at(-1)!.bytesDone).toBe(progress.at(-1)!.bytesTotal);
      expect(progress.at(-1)!.bytesTotal).toBe(readFileSync(path).length);
      for (let i = 1; i < progress.length; i++) expect(progress[i].bytesDone).toBeGreaterThan(progress[i - 1].bytesDone);
      const t = store.get('sam_mask_decoder.iou_prediction_head.layers.2.bias');
      expect(t.dtype).toBe('f32'); // a decision head: f32 in every storage mode
      expect(Array.from(await gpu.read(t))).toEqual([0, 0, 0, 0]);
    } finally {
      store.release();
    }
    expect(gpu.pool.getStats().inUse).toBe(before);
  });
});
