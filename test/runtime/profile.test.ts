/**
 * The device profile: every tuning decision comes from src/runtime/profile.ts, it can be forced (environment,
 * Gpu.create, load()), bad values are typed errors before any device work, and no other file reads adapter
 * names.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Gpu } from '../../src/runtime/gpu.js';
import { OptionError } from '../../src/runtime/options.js';
import type { DeviceInfo } from '../../src/runtime/device.js';
import { adapterFamily, DeviceProfile, profileModeFromEnvironment } from '../../src/runtime/profile.js';
import { SAM2VideoPredictor } from '../../src/model/video_predictor.js';

function info(adapter: string, over: Partial<DeviceInfo> = {}): DeviceInfo {
  return {
    adapter,
    vendor: '',
    architecture: '',
    backend: 'system',
    features: { f16: true, timestamps: false, subgroups: true },
    subgroupMinSize: 8,
    subgroupMaxSize: 8,
    limits: {
      maxStorageBufferBindingSize: 1 << 30,
      maxBufferSize: 1 << 30,
      maxComputeWorkgroupStorageSize: 32768,
      maxComputeInvocationsPerWorkgroup: 1024,
      maxComputeWorkgroupSizeX: 1024,
      maxComputeWorkgroupsPerDimension: 65535,
      maxStorageBuffersPerShaderStage: 10,
      minStorageBufferOffsetAlignment: 256,
      minUniformBufferOffsetAlignment: 256,
    },
    ...over,
  };
}

const LAVAPIPE = info('llvmpipe (LLVM 19.1.7, 256 bits)', { backend: 'lavapipe' });
const SWIFTSHADER = info('SwiftShader Device (Subzero)', { backend: 'swiftshader', features: { f16: false, timestamps: false, subgroups: true }, subgroupMinSize: 4, subgroupMaxSize: 4 });
const CHROMIUM_SWIFTSHADER = info('google swiftshader', { vendor: 'google', architecture: 'swiftshader', backend: 'browser', features: { f16: false, timestamps: false, subgroups: false }, subgroupMinSize: 0, subgroupMaxSize: 0 });
const H100 = info('NVIDIA H100 80GB HBM3', { vendor: 'nvidia', architecture: 'hopper', subgroupMinSize: 32, subgroupMaxSize: 32 });
const APPLE = info('', { vendor: 'apple', architecture: 'metal-3', backend: 'browser', subgroupMinSize: 4, subgroupMaxSize: 64 });

describe('adapter family', () => {
  it('recognises software adapters by the names their drivers report, and calls everything else a GPU', () => {
    expect(adapterFamily(LAVAPIPE)).toBe('lavapipe');
    expect(adapterFamily(SWIFTSHADER)).toBe('swiftshader');
    expect(adapterFamily(CHROMIUM_SWIFTSHADER)).toBe('swiftshader');
    expect(adapterFamily(info('Microsoft Basic Render Driver'))).toBe('software');
    expect(adapterFamily(H100)).toBe('gpu');
    expect(adapterFamily(APPLE)).toBe('gpu');
  });
});

describe('DeviceProfile', () => {
  it("'auto' follows the adapter: the cpu choices on software adapters, the gpu choices elsewhere", () => {
    expect(new DeviceProfile(LAVAPIPE).kind).toBe('cpu');
    expect(new DeviceProfile(SWIFTSHADER).kind).toBe('cpu');
    expect(new DeviceProfile(CHROMIUM_SWIFTSHADER).kind).toBe('cpu');
    expect(new DeviceProfile(H100).kind).toBe('gpu');
    expect(new DeviceProfile(APPLE).kind).toBe('gpu');
  });

  it('the cpu choices: register-blocked matmul over the fixed subgroup, shuffled attention, matmul routes', () => {
    const p = new DeviceProfile(LAVAPIPE);
    expect(p.matmul(4096, 'f32')).toEqual({ kernel: 'reg', sg: 8, tm: 16, wg: 8 });
    expect(p.matmul(4096, 'f16')).toEqual({ kernel: 'reg', sg: 8, tm: 32, wg: 8 });
    expect(p.attention(4096, 64, 64)).toEqual({ kernel: 'register', wg: 64, qpi: 2, sg: 8, kt: 0, t: 1, bk: 0 });
    expect(p.attention(4096, 256, 256)).toEqual({ kernel: 'register', wg: 64, qpi: 1, sg: 8, kt: 128, t: 1, bk: 0 });
    expect(p.sdpaByMatmul(256, 4096)).toBe(true);
    expect(p.sdpaByMatmul(64, 4096)).toBe(false);
    expect(p.pointwiseConvByMatmul(64 * 64)).toBe(true);
    expect(p.pointwiseConvByMatmul(128 * 128)).toBe(false);
    expect(p.directConvByMatmul(16)).toBe(true);
    expect(p.directConvByMatmul(3)).toBe(false);
    expect(p.transposedConvByMatmul()).toBe(false);
    expect(p.busyInvocations).toBe(64);
    expect(p.tiledTranspose).toBe(false);
    const s = new DeviceProfile(SWIFTSHADER);
    expect(s.matmul(4096, 'f32')).toMatchObject({ kernel: 'reg', sg: 4, tm: 32 });
    expect(s.sdpaByMatmul(64, 16)).toBe(true);
    expect(s.sdpaByMatmul(64, 15)).toBe(false);
    expect(s.pointwiseConvByMatmul(256 * 256)).toBe(true);
    expect(s.transposedConvByMatmul()).toBe(true);
    expect(s.f16Storage).toBe('f16packed');
    // Without subgroups every invocation loads its own rows.
    expect(new DeviceProfile(CHROMIUM_SWIFTSHADER).matmul(64, 'f32', 256)).toEqual({ kernel: 'reg', sg: 1, tm: 8, wg: 64 });
    expect(new DeviceProfile(CHROMIUM_SWIFTSHADER).attention(4096, 64, 64)).toMatchObject({ kernel: 'register', wg: 64, qpi: 4, sg: 0, kt: 0 });
  });

  it('the gpu choices, the same on a hardware GPU and forced on a software adapter', () => {
    for (const p of [new DeviceProfile(H100), new DeviceProfile(LAVAPIPE, { mode: 'gpu' }), new DeviceProfile(SWIFTSHADER, { mode: 'gpu' })]) {
      expect(p.kind).toBe('gpu');
      expect(p.matmul(4096, 'f16').kernel).toBe('tiled');
      // FlashAttention-2: head dim 256 over 8 lanes per query, 32 queries per workgroup; key tiles as the
      // workgroup memory allows (32 KiB here: 8 keys).
      expect(p.attention(4096, 256, 256)).toEqual({ kernel: 'flash', wg: 256, qpi: 1, sg: 0, kt: 0, t: 8, bk: 8 });
      expect(p.attention(4096, 96, 96)).toEqual({ kernel: 'flash', wg: 256, qpi: 1, sg: 0, kt: 0, t: 4, bk: 8 });
      // Small head dims (the mask decoder's): the register kernel, one query per invocation.
      expect(p.attention(8, 32, 32)).toEqual({ kernel: 'register', wg: 16, qpi: 1, sg: 0, kt: 0, t: 1, bk: 0 });
      expect(p.attention(4096, 16, 16)).toEqual({ kernel: 'register', wg: 64, qpi: 1, sg: 0, kt: 0, t: 1, bk: 0 });
      expect(p.sdpaByMatmul(256, 4096)).toBe(false);
      expect(p.pointwiseConvByMatmul(16)).toBe(false);
      expect(p.directConvByMatmul(256)).toBe(false);
      expect(p.transposedConvByMatmul()).toBe(false);
      expect(p.busyInvocations).toBe(16384);
      expect(p.layoutRowSegment).toBe(256);
      expect(p.tiledTranspose).toBe(true);
    }
    // Forcing changes the choices, not what the adapter is.
    const forced = new DeviceProfile(LAVAPIPE, { mode: 'gpu' });
    expect(forced.software).toBe(true);
    expect(forced.adapter).toBe('lavapipe');
    expect(new DeviceProfile(H100, { mode: 'cpu' }).matmul(4096).kernel).toBe('reg');
  });

  it('is inspectable: a summary of every route and a printable description', () => {
    const p = new DeviceProfile(LAVAPIPE, { mode: 'gpu' });
    const s = JSON.parse(JSON.stringify(p));
    expect(s).toMatchObject({ requested: 'gpu', kind: 'gpu', adapter: 'lavapipe', subgroupSize: 8, f16Storage: 'f16' });
    expect(Object.keys(s.routes)).toEqual(expect.arrayContaining(['matmul f32', 'attention head dim 256', 'conv 1×1', 'norms', 'layout', 'f16 storage']));
    expect(p.describe()).toMatch(/^device profile: gpu, forced \(gpu\) on a lavapipe adapter/);
    expect(p.describe()).toContain('matmul f32: tiled');
    expect(new DeviceProfile(LAVAPIPE).describe()).toMatch(/^device profile: cpu, from the adapter \(lavapipe\)/);
  });

  it('a mode outside auto / gpu / cpu is an OptionError naming the value', () => {
    expect(() => new DeviceProfile(LAVAPIPE, { mode: 'fast' as never })).toThrow(OptionError);
    expect(() => new DeviceProfile(LAVAPIPE, { mode: 'fast' as never })).toThrow(/profile must be one of auto, gpu, cpu; got "fast"/);
  });
});

describe('forcing the profile', () => {
  const saved = process.env.SAM2_WEBGPU_PROFILE;
  afterEach(() => {
    if (saved === undefined) delete process.env.SAM2_WEBGPU_PROFILE;
    else process.env.SAM2_WEBGPU_PROFILE = saved;
  });

  it('SAM2_WEBGPU_PROFILE and Gpu.create({ profile }) force it; the option wins over the environment', async () => {
    process.env.SAM2_WEBGPU_PROFILE = 'gpu';
    expect(profileModeFromEnvironment()).toBe('gpu');
    const a = await Gpu.create();
    const b = await Gpu.create({ profile: 'cpu' });
    try {
      expect(a.profile.kind).toBe('gpu');
      expect(a.profile.requested).toBe('gpu');
      expect(b.profile.kind).toBe('cpu');
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  it('a bad SAM2_WEBGPU_PROFILE or profile option is an OptionError before a device is acquired', async () => {
    process.env.SAM2_WEBGPU_PROFILE = 'GPU ';
    await expect(Gpu.create()).rejects.toThrow(/SAM2_WEBGPU_PROFILE must be one of auto, gpu, cpu; got "GPU "/);
    delete process.env.SAM2_WEBGPU_PROFILE;
    await expect(Gpu.create({ profile: 'discrete' as never })).rejects.toThrow(OptionError);
    await expect(SAM2VideoPredictor.load({ weights: 'synthetic', imageSize: 64, profile: 'x' as never })).rejects.toThrow(/SAM2VideoPredictor\.load: profile must be one of/);
  });

  it("load({ profile }) creates its context with that profile; with a given gpu of another profile it is an error", async () => {
    const p = await SAM2VideoPredictor.load({ weights: 'synthetic', imageSize: 64, profile: 'gpu' });
    try {
      expect(p.gpu.profile.kind).toBe('gpu');
      await expect(SAM2VideoPredictor.load({ weights: 'synthetic', imageSize: 64, gpu: p.gpu, profile: 'cpu' })).rejects.toThrow(/profile 'cpu' cannot apply to the given gpu, created with profile 'gpu'/);
    } finally {
      p.dispose();
    }
  });
});

describe('one place for device policy', () => {
  // Adapter names (and the functions that used to test them) appear only in the profile module. Drivers are
  // named where a Vulkan driver is picked (node_gpu.ts, the peers bench), never to choose a kernel.
  const ROOTS = ['src', 'web', 'bench'];
  const ALLOWED = new Set(['src/runtime/profile.ts', 'src/runtime/node_gpu.ts', 'bench/peers/node.ts', 'bench/peers/run.ts']);
  const NAME = /\/[^/\n]*(?:llvmpipe|lavapipe|swiftshader|basic render)[^/\n]*\/[gimsuy]*\.test\(|isCpuAdapter|isSwiftShader|\.(?:architecture|vendor)\s*===|\.adapter\s*===/i;

  function files(dir: string): string[] {
    return readdirSync(dir).flatMap((n) => {
      const p = join(dir, n);
      if (statSync(p).isDirectory()) return n === 'generated' || n === 'kit' || n === 'node_modules' ? [] : files(p);
      return /\.(ts|mjs|js)$/.test(n) ? [p] : [];
    });
  }

  it('no file outside src/runtime/profile.ts tests an adapter name', () => {
    const root = join(import.meta.dirname, '..', '..');
    const offenders = ROOTS.flatMap((r) => files(join(root, r)))
      .map((f) => relative(root, f))
      .filter((f) => !ALLOWED.has(f) && NAME.test(readFileSync(join(root, f), 'utf8')));
    expect(offenders).toEqual([]);
  });
});
