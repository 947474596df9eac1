/**
 * The public API's shape: where weights come from (the weights folder, 'synthetic' only when asked for, a
 * typed error with the way to get them), loading progress, `using` / dispose on everything that holds
 * resources, typed errors after disposal, and settings fixed at load.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { framesFromMemory } from '../../src/io/frames.js';
import { findWeights } from '../../src/io/weights_files.js';
import { weightsFileName } from '../../src/checkpoint/config.js';
import { ImagePredictor } from '../../src/model/image_predictor.js';
import { SAM2VideoPredictor } from '../../src/model/video_predictor.js';
import { NoWeightsError, type LoadProgress } from '../../src/checkpoint/weights.js';
import { DisposedError } from '../../src/runtime/errors.js';
import { Gpu } from '../../src/runtime/gpu.js';
import { testGpus } from '../helpers.js';
import { writeSyntheticWeights } from '../synthetic_file.js';

const root = mkdtempSync(join(tmpdir(), 'sam2-api-'));
const weightsDir = join(root, 'weights');
const emptyDir = join(root, 'empty');
const saved = process.env.SAM2_WEBGPU_WEIGHTS;
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  if (saved === undefined) delete process.env.SAM2_WEBGPU_WEIGHTS;
  else process.env.SAM2_WEBGPU_WEIGHTS = saved;
});

const W = 40;
const H = 30;
const frames = () => framesFromMemory(Array.from({ length: 3 }, (_, i) => ({ width: W, height: H, rgb: new Uint8Array(W * H * 3).fill(30 + 50 * i) })));

describe('weights: one naming scheme, found by name, synthetic only when asked for', () => {
  beforeAll(() => {
    mkdirSync(weightsDir, { recursive: true });
    mkdirSync(emptyDir, { recursive: true });
  });

  it('names weight files as Meta names its checkpoints', () => {
    expect(weightsFileName('tiny', '2.1')).toBe('sam2.1_hiera_tiny.safetensors');
    expect(weightsFileName('base_plus', '2.0', 'f16')).toBe('sam2_hiera_base_plus.f16.safetensors');
  });

  it('without weights and none in the folder, load() is a NoWeightsError that says how to get them, before any GPU work', async () => {
    process.env.SAM2_WEBGPU_WEIGHTS = emptyDir;
    const err = await SAM2VideoPredictor.load({ model: 'small', imageSize: 64 }).catch((e) => e);
    expect(err).toBeInstanceOf(NoWeightsError);
    expect(err.message).toMatch(/no weights for sam2\.1_hiera_s \(small, SAM 2\.1\): found neither .*sam2\.1_hiera_small\.safetensors nor .*sam2\.1_hiera_small\.f16\.safetensors/);
    expect(err.message).toMatch(/npx sam2-webgpu weights small/);
    expect(err.message).toMatch(/weights: 'synthetic'/);
    await expect(ImagePredictor.load({ imageSize: 64 })).rejects.toBeInstanceOf(NoWeightsError);
  });

  it('a file under the old config name is pointed out', () => {
    process.env.SAM2_WEBGPU_WEIGHTS = emptyDir;
    writeFileSync(join(emptyDir, 'sam2.1_hiera_t.safetensors'), 'x');
    expect(() => findWeights('tiny', '2.1')).toThrow(/sam2\.1_hiera_t\.safetensors exists: rename it to sam2\.1_hiera_tiny\.safetensors/);
    rmSync(join(emptyDir, 'sam2.1_hiera_t.safetensors'));
  });

  it('prefers the file of the requested dtype and takes the other one otherwise', () => {
    process.env.SAM2_WEBGPU_WEIGHTS = root;
    const dir = join(root, 'pref');
    mkdirSync(dir);
    process.env.SAM2_WEBGPU_WEIGHTS = dir;
    writeFileSync(join(dir, 'sam2.1_hiera_large.f16.safetensors'), 'x');
    expect(findWeights('large', '2.1', 'f32')).toMatch(/sam2\.1_hiera_large\.f16\.safetensors$/);
    writeFileSync(join(dir, 'sam2.1_hiera_large.safetensors'), 'x');
    expect(findWeights('large', '2.1', 'f32')).toMatch(/sam2\.1_hiera_large\.safetensors$/);
    expect(findWeights('large', '2.1', 'f16')).toMatch(/sam2\.1_hiera_large\.f16\.safetensors$/);
  });

  it('load() without weights finds the file in the weights folder; progress is throttled and ends at the total', async () => {
    const { main } = await testGpus();
    await writeSyntheticWeights(join(weightsDir, 'sam2.1_hiera_tiny.safetensors'));
    process.env.SAM2_WEBGPU_WEIGHTS = weightsDir;
    const reports: LoadProgress[] = [];
    const p = await SAM2VideoPredictor.load({ imageSize: 64, gpu: main, onProgress: (r) => reports.push(r) });
    try {
      expect(p.syntheticWeights).toBe(false);
      const last = reports.at(-1)!;
      expect(last.tensorsDone).toBe(last.tensorsTotal);
      expect(last.bytesDone).toBe(last.bytesTotal);
      expect(last.tensorsTotal).toBeGreaterThan(400);
      // At most one report per 100 ms, plus the last: far fewer than one per tensor.
      expect(reports.length).toBeLessThan(last.tensorsTotal / 4);
      for (let i = 1; i < reports.length; i++) expect(reports[i].bytesDone).toBeGreaterThan(reports[i - 1].bytesDone);
    } finally {
      p.dispose();
    }
  });

  it("weights: 'synthetic' opts in and says so", async () => {
    const { main } = await testGpus();
    using p = await SAM2VideoPredictor.load({ imageSize: 64, gpu: main, weights: 'synthetic' });
    expect(p.syntheticWeights).toBe(true);
  });
});

describe('dispose, using, and typed errors after disposal', () => {
  it('using disposes a predictor, its state and frame source at scope exit; later use is a DisposedError', async () => {
    let escaped: SAM2VideoPredictor;
    let state;
    const src = frames();
    {
      using p = await SAM2VideoPredictor.load({ imageSize: 64, weights: 'synthetic' });
      escaped = p;
      using s = await p.initState(src);
      state = s;
      const r = await p.addNewPointsOrBox(s, { frameIdx: 0, objId: 1, points: [[10, 10]], labels: [1] });
      expect(r.masks[0]).toHaveLength(W * H);
    }
    expect(state.isClosed).toBe(true);
    await expect(src.get(0)).rejects.toBeInstanceOf(DisposedError);
    await expect(escaped.initState(frames())).rejects.toBeInstanceOf(DisposedError);
    await expect(escaped.addNewPointsOrBox(state, { frameIdx: 0, objId: 1, points: [[1, 1]], labels: [1] })).rejects.toThrow(
      /addNewPointsOrBox: this SAM2VideoPredictor was disposed/,
    );
    // The Gpu load() created went with it.
    expect(() => escaped.gpu.upload(new Float32Array(4), [4])).toThrow(DisposedError);
    escaped.dispose(); // twice is harmless
  });

  it('a closed state is refused; closeState twice is harmless', async () => {
    const { main } = await testGpus();
    using p = await SAM2VideoPredictor.load({ imageSize: 64, gpu: main, weights: 'synthetic' });
    const s = await p.initState(frames());
    p.closeState(s);
    p.closeState(s);
    await expect(p.addNewPointsOrBox(s, { frameIdx: 0, objId: 1, points: [[1, 1]], labels: [1] })).rejects.toThrow(
      /addNewPointsOrBox: this inference state was closed/,
    );
    const gen = p.propagateInVideo(s);
    await expect(gen.next()).rejects.toBeInstanceOf(DisposedError);
    // A predictor given a Gpu leaves it alone.
    p.dispose();
    expect(() => main.upload(new Float32Array(4), [4]).release()).not.toThrow();
  });

  it('settings are fixed at load', async () => {
    const { main } = await testGpus();
    using p = await SAM2VideoPredictor.load({ imageSize: 64, gpu: main, weights: 'synthetic', batchObjects: false });
    expect(p.batchObjects).toBe(false);
    expect(() => {
      (p as { batchObjects: boolean }).batchObjects = true;
    }).toThrow(TypeError);
    expect(p.batchObjects).toBe(false);
    expect(() => {
      (p.config as { fillHoleArea: number }).fillHoleArea = 0;
    }).toThrow(TypeError);
    expect(() => {
      (p.config.hiera.stages as number[])[0] = 9;
    }).toThrow(TypeError);
  });

  it('ImagePredictor.load takes the same options; dispose frees what it made', async () => {
    let escaped: ImagePredictor;
    {
      using p = await ImagePredictor.load({ model: 'tiny', weights: 'synthetic', imageSize: 64 });
      escaped = p;
      expect(p.syntheticWeights).toBe(true);
      await p.setImage({ data: new Uint8Array(W * H * 3).fill(90), width: W, height: H });
      const r = await p.predict({ pointCoords: [[10, 12]], pointLabels: [1] });
      expect(r.masks.shape).toEqual([3, H, W]);
      expect(() => {
        (p as { maskThreshold: number }).maskThreshold = 1;
      }).toThrow(TypeError);
    }
    await expect(escaped.predict({ pointCoords: [[1, 1]], pointLabels: [1] })).rejects.toThrow(/predict: this ImagePredictor was disposed/);
    await expect(ImagePredictor.load({ weight: 'x' } as never)).rejects.toThrow(/ImagePredictor\.load: unknown option 'weight'/);
  });

  it('using destroys a Gpu', async () => {
    let g: Gpu;
    {
      using gpu = await Gpu.create();
      g = gpu;
      gpu.upload(new Float32Array(4), [4]).release();
    }
    expect(() => g.upload(new Float32Array(4), [4])).toThrow(/this Gpu was destroyed/);
  });
});
