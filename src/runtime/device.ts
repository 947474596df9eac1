/**
 * Getting a GPU device, the same way in Node (Dawn) and browsers (navigator.gpu). Requests the adapter's
 * real limits (the defaults are far smaller: 128 MiB per binding, 16 KiB workgroup memory) and the features
 * the kernels use.
 */
import { NoAdapterError } from './errors.js';

export interface DeviceFeatures {
  /** `shader-f16`: native f16 arithmetic and storage in WGSL. */
  f16: boolean;
  /** `timestamp-query`: per-kernel GPU timing. */
  timestamps: boolean;
  /** `subgroups`. */
  subgroups: boolean;
}

export interface DeviceInfo {
  /** Adapter description as the driver reports it. */
  adapter: string;
  vendor: string;
  architecture: string;
  /** 'browser', or the Node driver that was picked ('system', 'lavapipe', 'swiftshader', a path). */
  backend: string;
  features: DeviceFeatures;
  /** Subgroup sizes the adapter reports (GPUAdapterInfo.subgroupMinSize / MaxSize); 0 where unknown. */
  subgroupMinSize: number;
  subgroupMaxSize: number;
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupSizeX: number;
    maxComputeWorkgroupsPerDimension: number;
    maxStorageBuffersPerShaderStage: number;
    minStorageBufferOffsetAlignment: number;
    minUniformBufferOffsetAlignment: number;
  };
}

export interface DeviceOptions {
  powerPreference?: GPUPowerPreference;
  /** Do not request shader-f16 even when the adapter has it (tests the packed-f16 path). */
  disableF16?: boolean;
  /** Do not request timestamp-query. */
  disableTimestamps?: boolean;
}

export interface AcquiredDevice {
  device: GPUDevice;
  info: DeviceInfo;
  /** The GPU object that created the device; Dawn stops when it is collected, so it must stay referenced. */
  gpu: GPU;
}

const LIMIT_NAMES = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxBindGroups',
  'maxBindingsPerBindGroup',
] as const;

export function isBrowser(): boolean {
  return typeof navigator !== 'undefined' && !!(navigator as Navigator & { gpu?: GPU }).gpu &&
    typeof (globalThis as { process?: unknown }).process === 'undefined';
}

export async function acquireDevice(opts: DeviceOptions = {}): Promise<AcquiredDevice> {
  const adapterOptions: GPURequestAdapterOptions = { powerPreference: opts.powerPreference ?? 'high-performance' };
  let adapter: GPUAdapter | null;
  let backend: string;
  let gpu: GPU;
  if (typeof navigator !== 'undefined' && (navigator as Navigator & { gpu?: GPU }).gpu) {
    gpu = navigator.gpu;
    adapter = await gpu.requestAdapter(adapterOptions);
    backend = 'browser';
    if (!adapter) {
      throw new NoAdapterError(
        'This browser exposes WebGPU but returned no adapter. Enable hardware acceleration, or in Chromium ' +
          'start with --enable-unsafe-webgpu (and --enable-features=Vulkan on Linux).',
      );
    }
  } else if (typeof navigator !== 'undefined' && typeof (globalThis as { process?: unknown }).process === 'undefined') {
    throw new NoAdapterError(
      'This browser has no WebGPU (navigator.gpu is missing). Use a current Chrome, Edge or Safari, or Firefox ' +
        'with WebGPU enabled.',
    );
  } else {
    const node = await import('./node_gpu.js');
    const r = await node.requestNodeAdapter(adapterOptions);
    adapter = r.adapter;
    backend = r.driver;
    gpu = r.gpu;
  }

  const requiredFeatures: GPUFeatureName[] = [];
  const want = (f: string, off?: boolean) => {
    if (!off && adapter!.features.has(f)) {
      requiredFeatures.push(f as GPUFeatureName);
      return true;
    }
    return false;
  };
  const f16 = want('shader-f16', opts.disableF16);
  const timestamps = want('timestamp-query', opts.disableTimestamps);
  const subgroups = want('subgroups');

  const requiredLimits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  const l = device.limits;
  const ai = adapter.info ?? ({} as GPUAdapterInfo);
  // Browsers may hide the description (Chromium does): the vendor and architecture name the adapter then
  // ("google swiftshader"), which is enough for the device profile to recognise CPU adapters.
  const named = [ai.vendor, ai.architecture].filter(Boolean).join(' ');
  const info: DeviceInfo = {
    adapter: ai.description || ai.device || named || 'unknown adapter',
    vendor: ai.vendor ?? '',
    architecture: ai.architecture ?? '',
    backend,
    features: { f16, timestamps, subgroups },
    subgroupMinSize: (ai as { subgroupMinSize?: number }).subgroupMinSize ?? 0,
    subgroupMaxSize: (ai as { subgroupMaxSize?: number }).subgroupMaxSize ?? 0,
    limits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      minStorageBufferOffsetAlignment: l.minStorageBufferOffsetAlignment,
      minUniformBufferOffsetAlignment: l.minUniformBufferOffsetAlignment,
    },
  };
  return { device, info, gpu };
}
