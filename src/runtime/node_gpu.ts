/**
 * WebGPU for Node through Dawn (npm `webgpu`). Only imported where `navigator.gpu` is absent, so browser
 * bundles never reach it.
 *
 * Driver selection: without VK_ICD_FILENAMES / VK_DRIVER_FILES the Vulkan loader enumerates every installed
 * driver (a real GPU wins). If that yields no adapter, the software drivers that scripts/setup-webgpu.sh
 * installs are tried in turn: Mesa lavapipe (>= 23, shader-f16), then Chromium's SwiftShader (no f16).
 * SAM2_WEBGPU_DRIVER=lavapipe|swiftshader|<path to an ICD json> forces one.
 */
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { NoAdapterError } from './errors.js';

const LAVAPIPE_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];
const SWIFTSHADER = ['/usr/lib/chromium/vk_swiftshader_icd.json'];

function lavapipeIcds(): string[] {
  const found: string[] = [];
  for (const d of LAVAPIPE_DIRS) {
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d)) if (/^lvp_icd.*\.json$/.test(f)) found.push(`${d}/${f}`);
  }
  return found;
}

export function softwareDrivers(): Array<{ name: string; icd: string }> {
  return [
    ...lavapipeIcds().map((icd) => ({ name: 'lavapipe', icd })),
    ...SWIFTSHADER.filter(existsSync).map((icd) => ({ name: 'swiftshader', icd })),
  ];
}

export const SETUP_HINT =
  'No WebGPU adapter was found. On Debian/Ubuntu run `bash scripts/setup-webgpu.sh` (installs Mesa lavapipe from ' +
  'bookworm-backports, or falls back to SwiftShader from chromium-common), or install your GPU\'s Vulkan driver. ' +
  'SAM2_WEBGPU_DRIVER=lavapipe|swiftshader|/path/to/icd.json selects a driver.';

interface DawnModule {
  create(options: string[]): GPU;
  globals: Record<string, unknown>;
}

let dawn: DawnModule | undefined;

async function loadDawn(): Promise<DawnModule> {
  if (!dawn) {
    dawn = (await import('webgpu')) as unknown as DawnModule;
    // GPUBufferUsage, GPUShaderStage, ... as globals, as browsers have them.
    for (const [k, v] of Object.entries(dawn.globals)) {
      if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    }
  }
  return dawn;
}

export async function requestNodeAdapter(
  options: GPURequestAdapterOptions,
): Promise<{ gpu: GPU; adapter: GPUAdapter; driver: string }> {
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = tmpdir();
  const mod = await loadDawn();
  const forced = process.env.SAM2_WEBGPU_DRIVER;
  const tries: Array<{ name: string; icd?: string }> = [];
  if (forced) {
    const sw = softwareDrivers();
    const match = forced.endsWith('.json') ? [{ name: forced, icd: forced }] : sw.filter((d) => d.name === forced);
    if (match.length === 0) {
      throw new NoAdapterError(`SAM2_WEBGPU_DRIVER=${forced}: no such driver installed. ${SETUP_HINT}`);
    }
    tries.push(...match);
  } else {
    tries.push({ name: 'system' }, ...softwareDrivers());
  }
  for (const t of tries) {
    if (t.icd) {
      process.env.VK_ICD_FILENAMES = t.icd;
      delete process.env.VK_DRIVER_FILES;
    }
    const gpu = mod.create([]);
    const adapter = await gpu.requestAdapter(options);
    if (adapter) return { gpu, adapter, driver: t.name };
  }
  throw new NoAdapterError(SETUP_HINT);
}
