import { describe, expect, it } from 'vitest';
import { dispose } from '../../src/runtime/scope.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../src/runtime/dtype.js';
import { GpuValidationError, OutOfMemoryError, ShapeError } from '../../src/runtime/errors.js';
import { Params } from '../../src/runtime/params.js';
import { unary } from '../../src/kernels/elementwise.js';
import { rand, testGpus } from '../helpers.js';

describe('device', () => {
  it('reports adapter, features and the limits it requested', async () => {
    const { main } = await testGpus();
    expect(main.info.adapter.length).toBeGreaterThan(0);
    // The defaults are 128 MiB per binding and 16 KiB of workgroup memory; the real limits were requested.
    expect(main.info.limits.maxComputeWorkgroupStorageSize).toBeGreaterThanOrEqual(16384);
    expect(main.device.limits.maxStorageBufferBindingSize).toBe(main.info.limits.maxStorageBufferBindingSize);
    expect(typeof main.info.features.f16).toBe('boolean');
  });
});

describe('tensors and buffers', () => {
  it('round-trips f32, f16, bf16, u32 and i32 data', async () => {
    const { main } = await testGpus();
    const x = rand(37, 5, -100, 100);
    expect(await main.read(main.upload(x, [37], 'f32'))).toEqual(x);
    const h = await main.read(main.upload(x, [37], 'f16'));
    h.forEach((v, i) => expect(v).toBe(f16BitsToF32(f32ToF16Bits(x[i]))));
    const b = await main.read(main.upload(x, [37], 'bf16'));
    b.forEach((v, i) => expect(v).toBe(bf16BitsToF32(f32ToBf16Bits(x[i]))));
    expect(Array.from(await main.read(main.upload(new Uint32Array([1, 2, 4000000000]), [3], 'u32')))).toEqual([1, 2, 4000000000]);
    expect(Array.from(await main.read(main.upload(new Int32Array([-7, 0, 9]), [3], 'i32')))).toEqual([-7, 0, 9]);
  });

  it('reuses released buffers and accounts bytes', async () => {
    const { main } = await testGpus();
    main.pool.trim();
    const before = main.pool.getStats();
    const a = main.empty([1000], 'f32');
    const s1 = main.pool.getStats();
    expect(s1.inUse - before.inUse).toBe(4000);
    a.release();
    const b = main.empty([1000], 'f32');
    const s2 = main.pool.getStats();
    expect(s2.reused).toBe(s1.reused + 1);
    expect(s2.created).toBe(s1.created);
    b.release();
    expect(main.pool.getStats().inUse).toBe(before.inUse);
  });

  it('refuses a tensor larger than the binding limit with OutOfMemoryError', async () => {
    const { main } = await testGpus();
    const n = Math.floor(main.info.limits.maxStorageBufferBindingSize / 4) + 16;
    expect(() => main.empty([n], 'f32', 'huge')).toThrow(OutOfMemoryError);
    expect(() => main.empty([n], 'f32', 'huge')).toThrow(/huge/);
  });

  it('refuses reshape to a different element count and reading released tensors', async () => {
    const { main } = await testGpus();
    const t = main.empty([2, 3]);
    expect(t.reshape([3, -1]).shape).toEqual([3, 2]);
    expect(() => t.reshape([4, 2])).toThrow(ShapeError);
    t.release();
    await expect(main.read(t)).rejects.toThrow(/released/);
  });
});

describe('dispatch', () => {
  it('batches many dispatches per submit', async () => {
    const { main } = await testGpus();
    await main.sync();
    const s0 = main.submitCount;
    let x = main.upload(new Float32Array([1, 2, 3, 4]), [4]);
    for (let i = 0; i < 20; i++) {
      const y = unary(main, x, 'identity', { scale: 2 });
      x.release();
      x = y;
    }
    expect(main.submitCount).toBe(s0);
    expect(Array.from(await main.read(x))).toEqual([1, 2, 3, 4].map((v) => v * 2 ** 20));
    expect(main.submitCount).toBe(s0 + 1);
  });

  it('refuses an output that aliases an input', async () => {
    const { main } = await testGpus();
    const x = main.empty([8]);
    expect(() => unary(main, x, 'relu', { out: x })).toThrow(/alias/);
  });

  it('turns a shader compile error into a GpuValidationError naming the kernel', async () => {
    const { main } = await testGpus();
    const x = main.empty([4]);
    const y = main.empty([4]);
    // Replacing a function name by a number makes the variant fail to compile.
    main.dispatch({
      variant: { kernel: 'broken_kernel', file: 'elementwise.wgsl', mode: 'f32', defines: { ACT: 1, erfc_large: '1.0' } },
      inputs: [x],
      outputs: [y],
      params: new Params().u32(4).f32(1, 0).u32(0),
      workgroups: [1],
    });
    const err = await main.sync().then(
      () => null,
      (e) => e,
    );
    expect(err).toBeInstanceOf(GpuValidationError);
    expect(String(err.message)).toContain('broken_kernel');
    expect(err.kernels).toContain('broken_kernel');
  });

  it('profiles GPU time per kernel', async () => {
    const { main } = await testGpus();
    const x = main.upload(rand(1 << 16, 3), [1 << 16]);
    main.profiler.reset();
    main.profiler.enabled = true;
    for (let i = 0; i < 3; i++) unary(main, x, 'gelu').release();
    unary(main, x, 'sigmoid').release();
    await main.sync();
    main.profiler.enabled = false;
    const rows = await main.profiler.report();
    const gelu = rows.find((r) => r.kernel === 'gelu');
    expect(gelu?.calls).toBe(3);
    expect(rows.find((r) => r.kernel === 'sigmoid')?.calls).toBe(1);
    expect(gelu!.totalMs).toBeGreaterThan(0);
  });
});

describe('ownership scopes', () => {
  it('tidy frees what it created and keeps what it returns, at any depth', async () => {
    const { main } = await testGpus();
    const input = main.upload(new Float32Array([1, 2, 3, 4]), [4]);
    const live0 = main.pool.getStats().live;
    let inner: Tensor | null = null;
    const out = main.tidy(() => {
      const a = main.upload(new Float32Array([1, 2, 3, 4]), [4]);
      inner = main.upload(new Float32Array([5, 6, 7, 8]), [2, 2]);
      const kept = main.tidy(() => {
        main.upload(new Float32Array(4), [4]); // dropped by the inner scope
        return { views: [a.reshape([2, 2])], same: input };
      });
      expect(main.pool.getStats().live).toBe(live0 + 2);
      return kept;
    });
    // a is kept through its view; inner (not returned) and the input (not created here) are not released / kept
    expect(out.views[0].isReleased).toBe(false);
    expect(inner!.isReleased).toBe(true);
    expect(out.same).toBe(input);
    expect(input.isReleased).toBe(false);
    expect(main.pool.getStats().live).toBe(live0 + 1);
    expect(Array.from(await main.read(out.views[0]))).toEqual([1, 2, 3, 4]);
    dispose(out);
    input.release();
    expect(main.pool.getStats().live).toBe(live0 - 1);
  });

  it('keep takes a tensor out of every open scope; a throw frees the scope', async () => {
    const { main } = await testGpus();
    const live0 = main.pool.getStats().live;
    let cached: Tensor | null = null;
    main.tidy(() => main.tidy(() => void (cached = main.keep(main.upload(new Float32Array(4), [4])))));
    expect(cached!.isReleased).toBe(false);
    cached!.release();
    expect(() =>
      main.tidy(() => {
        main.upload(new Float32Array(4), [4]);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(() => main.tidy(() => Promise.resolve(1))).toThrow(/synchronous/);
    expect(main.pool.getStats().live).toBe(live0);
  });
});

describe('uploads and recorded work', () => {
  it('an upload into a reused buffer does not overtake recorded reads of its old contents', async () => {
    const { main } = await testGpus();
    await main.sync();
    const a = main.upload(new Float32Array([1, 2, 3, 4]), [4]);
    const y = unary(main, a, 'identity', { scale: 10 }); // recorded, not submitted
    a.release();
    const b = main.upload(new Float32Array([7, 7, 7, 7]), [4]); // reuses a's buffer
    expect(b.buffer).toBe(a.buffer);
    expect(Array.from(await main.read(y))).toEqual([10, 20, 30, 40]);
    expect(Array.from(await main.read(b))).toEqual([7, 7, 7, 7]);
  });
});
