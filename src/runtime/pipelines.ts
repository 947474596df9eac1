/**
 * Compute pipeline cache. A pipeline is keyed on kernel file + entry point + storage mode + compile-time
 * defines (tile sizes, activation, ...) and the binding layout — never on tensor shapes, which travel in
 * uniforms. Pipelines can be created ahead of use (createComputePipelineAsync) to warm up.
 */
import { WGSL } from '../generated/wgsl.js';
import { GpuValidationError } from './errors.js';
import { preprocess, type DefineValue, type StorageMode } from './wgsl.js';

export interface KernelVariant {
  /** Name used in profiles and errors, e.g. "matmul". */
  kernel: string;
  /** File under wgsl/. */
  file: string;
  entry?: string;
  mode: StorageMode;
  defines?: Record<string, DefineValue>;
  /** Number of read-only storage bindings (1..n), then `outputs` writable ones. */
  inputs: number;
  outputs: number;
}

export function variantKey(v: KernelVariant): string {
  const d = Object.entries(v.defines ?? {})
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, x]) => `${k}=${x}`)
    .join(',');
  return `${v.file}:${v.entry ?? 'main'}:${v.mode}:${v.inputs}/${v.outputs}:${d}`;
}

/** The variants of a list without repeats (first occurrence kept, in order). */
export function uniqueVariants(vs: readonly KernelVariant[]): KernelVariant[] {
  const seen = new Set<string>();
  return vs.filter((v) => {
    const k = variantKey(v);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export interface PipelineEntry {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  label: string;
}

export class PipelineCache {
  private cache = new Map<string, PipelineEntry>();
  private pending = new Map<string, Promise<PipelineEntry>>();
  private layouts = new Map<string, GPUBindGroupLayout>();
  /** Pipelines compiled synchronously at their first dispatch (not ahead by warmup()). */
  onDemand = 0;
  /** Errors from pipelines created synchronously, found asynchronously. */
  readonly errors: Array<Promise<GpuValidationError | null>> = [];

  constructor(
    private readonly device: GPUDevice,
    private readonly sources: Record<string, string> = WGSL,
  ) {}

  get size(): number {
    return this.cache.size;
  }

  /** The WGSL source of a variant after preprocessing. */
  source(v: KernelVariant): string {
    return preprocess(v.file, this.sources, { mode: v.mode, defines: v.defines });
  }

  private layoutFor(inputs: number, outputs: number): GPUBindGroupLayout {
    const key = `${inputs}/${outputs}`;
    let l = this.layouts.get(key);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
      ];
      for (let i = 0; i < inputs; i++) {
        entries.push({ binding: 1 + i, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } });
      }
      for (let i = 0; i < outputs; i++) {
        entries.push({ binding: 1 + inputs + i, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } });
      }
      l = this.device.createBindGroupLayout({ entries, label: `layout ${key}` });
      this.layouts.set(key, l);
    }
    return l;
  }

  private descriptor(v: KernelVariant, label: string): { desc: GPUComputePipelineDescriptor; layout: GPUBindGroupLayout } {
    const layout = this.layoutFor(v.inputs, v.outputs);
    const module = this.device.createShaderModule({ code: this.source(v), label });
    return {
      layout,
      desc: {
        label,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout], label }),
        compute: { module, entryPoint: v.entry ?? 'main' },
      },
    };
  }

  /** The pipeline for a variant; created synchronously on first use (compile errors surface at the next sync). */
  get(v: KernelVariant): PipelineEntry {
    const key = variantKey(v);
    const hit = this.cache.get(key);
    if (hit) return hit;
    const label = `${v.kernel} [${key}]`;
    this.device.pushErrorScope('validation');
    const { desc, layout } = this.descriptor(v, label);
    const pipeline = this.device.createComputePipeline(desc);
    this.onDemand++;
    this.errors.push(
      this.device.popErrorScope().then((e) => (e ? new GpuValidationError(`${label}: ${e.message}`, [v.kernel]) : null)),
    );
    const entry = { pipeline, layout, label };
    this.cache.set(key, entry);
    return entry;
  }

  /** Creates the pipelines of these variants in the background; resolves when all are ready. */
  async warmup(variants: KernelVariant[]): Promise<void> {
    await Promise.all(
      variants.map((v) => {
        const key = variantKey(v);
        if (this.cache.has(key)) return undefined;
        let p = this.pending.get(key);
        if (!p) {
          const label = `${v.kernel} [${key}]`;
          const { desc, layout } = this.descriptor(v, label);
          p = this.device
            .createComputePipelineAsync(desc)
            .then((pipeline) => {
              const entry = { pipeline, layout, label };
              this.cache.set(key, entry);
              this.pending.delete(key);
              return entry;
            })
            .catch((e: Error) => {
              this.pending.delete(key);
              throw new GpuValidationError(`${label}: ${e.message}`, [v.kernel]);
            });
          this.pending.set(key, p);
        }
        return p;
      }),
    );
  }
}
