/**
 * The frame pipeline. Propagation keeps one frame in flight: the next frame's image encoder is recorded
 * before this frame's result is awaited, stopping early leaks nothing, and the results are those of the
 * official order (the replays of test/video check them against the official tensors, hole filling included).
 * Pipelines compiled ahead: Gpu.dryRun records a computation's kernel variants without executing it (and
 * without caching anything it makes), and SAM2VideoPredictor's warmup compiles a click's and a tracked
 * frame's pipelines in the background at load, so that neither compiles a pipeline at its first dispatch,
 * with the same results as a predictor that compiled them on demand.
 */
import { describe, expect, it } from 'vitest';
import { framesFromMemory, type FrameSource } from '../../src/io/frames.js';
import { SAM2VideoPredictor, type FrameResult } from '../../src/model/video_predictor.js';
import { add } from '../../src/kernels/binary.js';
import { Gpu } from '../../src/runtime/gpu.js';
import { variantKey } from '../../src/runtime/pipelines.js';
import { testGpus } from '../helpers.js';

const W = 48;
const H = 36;
const frames = () =>
  framesFromMemory(
    Array.from({ length: 4 }, (_, i) => {
      const rgb = new Uint8Array(W * H * 3);
      for (let j = 0; j < rgb.length; j++) rgb[j] = (j * 7 + i * 29) & 255;
      return { width: W, height: H, rgb };
    }),
  );

describe('Gpu.dryRun', () => {
  it('records the variants of the dispatches in order and executes none of them', async () => {
    const { main } = await testGpus();
    const a = main.upload(Float32Array.of(1, 2, 3, 4), [4]);
    const b = main.upload(Float32Array.of(10, 20, 30, 40), [4]);
    const out = main.upload(Float32Array.of(-1, -1, -1, -1), [4]);
    const compiled = main.pipelines.size;
    const log = main.dryRun(() => {
      add(main, a, b, { out });
      add(main, a, b, { out });
    });
    expect(log).toHaveLength(2);
    expect(variantKey(log[0])).toBe(variantKey(log[1]));
    expect(log[0].inputs).toBe(2);
    expect(log[0].outputs).toBe(1);
    expect(main.pipelines.size).toBe(compiled);
    expect([...(await main.read(out))]).toEqual([-1, -1, -1, -1]);
    // Out of the dry run the same call computes.
    add(main, a, b, { out });
    expect([...(await main.read(out))]).toEqual([11, 22, 33, 44]);
    for (const t of [a, b, out]) t.release();
  });

  it('frees what it made, keeps no constant made in it, refuses reads and nesting', async () => {
    const { main } = await testGpus();
    let inside: ReturnType<Gpu['empty']> | undefined;
    let readError: unknown;
    let made = 0;
    main.dryRun(() => {
      inside = main.empty([8]);
      main.constant('dry-run test constant', () => {
        made++;
        return main.empty([2]);
      });
      readError = main.read(inside).catch((e) => e);
      expect(() => main.dryRun(() => undefined)).toThrow(/already in a dry run/);
      expect(main.dry).toBe(true);
    });
    expect(main.dry).toBe(false);
    expect(inside!.isReleased).toBe(true);
    expect(String(await readError)).toMatch(/holds no values in a dry run/);
    const kept = main.constant('dry-run test constant', () => {
      made++;
      return main.empty([2]);
    });
    expect(made).toBe(2);
    expect(kept.isReleased).toBe(false);
  });
});

async function session(p: SAM2VideoPredictor): Promise<FrameResult[]> {
  using state = await p.initState(frames());
  const out = [await p.addNewPointsOrBox(state, { frameIdx: 0, objId: 1, points: [[20, 15]], labels: [1] })];
  out.push(await p.addNewPointsOrBox(state, { frameIdx: 0, objId: 1, points: [[5, 5]], labels: [0] }));
  for await (const r of p.propagateInVideo(state)) out.push(r);
  return out;
}

describe('SAM2VideoPredictor warmup', () => {
  it('compiles a click and a tracked frame ahead: none of their pipelines compiles on demand, and the results are those of a cold predictor', async () => {
    const opts = { imageSize: 64, weights: 'synthetic' as const };
    using warm = await SAM2VideoPredictor.load({ ...opts, gpu: await Gpu.create() });
    const variants = warm.warmupVariants();
    expect(variants.click.length).toBeGreaterThan(10);
    expect(variants.track.length).toBeGreaterThan(0);
    const clickKeys = new Set(variants.click.map(variantKey));
    expect(variants.track.some((v) => clickKeys.has(variantKey(v)))).toBe(false);
    await warm.ready;
    const compiledAhead = warm.gpu.pipelines.size;
    const onDemand = warm.gpu.pipelines.onDemand;
    const got = await session(warm);
    expect(warm.gpu.pipelines.onDemand).toBe(onDemand);
    expect(warm.gpu.pipelines.size).toBe(compiledAhead);

    using cold = await SAM2VideoPredictor.load({ ...opts, warmup: false, gpu: await Gpu.create() });
    const before = cold.gpu.pipelines.onDemand;
    const want = await session(cold);
    // The cold predictor compiled at first use what the warm one had compiled ahead.
    expect(cold.gpu.pipelines.onDemand - before).toBe(cold.gpu.pipelines.size - before);
    expect(got.map((r) => r.frameIdx)).toEqual(want.map((r) => r.frameIdx));
    for (const [i, r] of got.entries()) {
      expect(r.objectScores).toEqual(want[i].objectScores);
      expect(Buffer.from(r.masks[0]).equals(Buffer.from(want[i].masks[0]))).toBe(true);
    }
    warm.gpu.destroy();
    cold.gpu.destroy();
  });

  it("a click right after load waits for its pipelines instead of compiling them twice, and a tracked frame's compile after it", async () => {
    using p = await SAM2VideoPredictor.load({ imageSize: 64, weights: 'synthetic', gpu: await Gpu.create(), warmup: false });
    const { click, track } = p.warmupVariants();
    const events: string[] = [];
    const pipelines = p.gpu.pipelines;
    const compile = pipelines.warmup.bind(pipelines);
    pipelines.warmup = (vs) => {
      events.push(`compile ${vs.length}`);
      return compile(vs);
    };
    const onDemand = pipelines.onDemand;
    const ready = p.warmup();
    const step = p.model.trackStep.bind(p.model);
    p.model.trackStep = (a) => {
      events.push('click');
      return step(a);
    };
    using state = await p.initState(frames());
    await p.addNewPointsOrBox(state, { frameIdx: 0, objId: 1, points: [[20, 15]], labels: [1] });
    await ready;
    // On a software adapter compiling and a click share the CPU: the tracked frame's pipelines wait for the click.
    expect(events).toEqual([`compile ${click.length}`, 'click', `compile ${track.length}`]);
    expect(pipelines.onDemand).toBe(onDemand);
    p.gpu.destroy();
  });
});

describe('propagation keeps one frame in flight', () => {
  it("records the next frame's image encoder before this frame's result is returned; stopping early leaks nothing", async () => {
    const { main } = await testGpus();
    using p = await SAM2VideoPredictor.load({ imageSize: 64, weights: 'synthetic', gpu: main });
    const events: string[] = [];
    const encoder = p.model.imageEncoder;
    const encode = encoder.encode.bind(encoder);
    encoder.encode = (x) => {
      events.push('encode');
      return encode(x);
    };
    try {
      {
        using state = await p.initState(frames());
        await p.addNewPointsOrBox(state, { frameIdx: 0, objId: 1, points: [[20, 15]], labels: [1] });
        events.length = 0;
        for await (const r of p.propagateInVideo(state)) events.push(`result ${r.frameIdx}`);
        // Frame 0 is prompted (its features are cached); frames 1-3 are encoded one frame ahead of their result.
        expect(events).toEqual(['encode', 'result 0', 'encode', 'result 1', 'encode', 'result 2', 'result 3']);
      }
      // The model's own tensors (cached encodings) exist now: what a state holds is on top of them.
      const live = main.pool.getStats().live;
      {
        // Frames that take a while to decode (and a source that still answers after close): frame 2's
        // features are still coming when the consumer stops after frame 1.
        const src = frames();
        const pixels = await Promise.all([0, 1, 2, 3].map((i) => src.get(i)));
        src.close();
        const slow: FrameSource = {
          count: 4,
          width: W,
          height: H,
          description: 'slow frames',
          get: async (i) => {
            await new Promise((r) => setTimeout(r, i >= 2 ? 1500 : 0));
            return pixels[i];
          },
          close: () => undefined,
        };
        using state = await p.initState(slow);
        await p.addNewPointsOrBox(state, { frameIdx: 0, objId: 1, points: [[20, 15]], labels: [1] });
        events.length = 0;
        const gen = p.propagateInVideo(state, { startFrameIdx: 1 });
        const first = await gen.next();
        expect(first.value?.frameIdx).toBe(1);
        // Stopped with frame 2's features in flight.
        await gen.return(undefined);
        expect(events).toEqual(['encode', 'encode']);
      }
      expect(main.pool.getStats().live).toBe(live);
    } finally {
      encoder.encode = encode;
    }
  });
});
