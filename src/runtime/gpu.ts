/**
 * The GPU context: device, pipeline cache, buffer pool, batched command recording, readback, profiler and
 * error reporting. Everything in src/kernels and src/model runs through one Gpu.
 *
 * Recording: dispatches are appended to one command encoder (one compute pass) and submitted every
 * `maxDispatchesPerSubmit` dispatches or when the caller reads data back. Uniforms of a batch go into one
 * uniform buffer, written with a single writeBuffer before the submit. Nothing is mapped per op.
 */
import { BufferPool, storageBytes } from './buffers.js';
import { acquireDevice, type DeviceInfo, type DeviceOptions } from './device.js';
import { decodeToF32, DTYPE_BYTES, encodeF32, type DType } from './dtype.js';
import { DeviceLostError, DisposedError, GpuValidationError, OutOfMemoryError, ShapeError, Sam2Error } from './errors.js';
import { DisposableResource } from './dispose.js';
import { Params } from './params.js';
import { PipelineCache, type KernelVariant } from './pipelines.js';
import { Profiler } from './profiler.js';
import { checkProfileMode, DeviceProfile, profileModeFromEnvironment, type ProfileMode } from './profile.js';
import { dispose, Scopes, type TensorContainer } from './scope.js';
import { numel, shapeStr, Tensor } from './tensor.js';
import type { StorageMode } from './wgsl.js';

export interface GpuOptions extends DeviceOptions {
  /** Dispatches recorded before an automatic submit. */
  maxDispatchesPerSubmit?: number;
  /** Force the storage mode used for f16 tensors: 'f16' (shader-f16) or 'f16packed' (u32 pairs). */
  f16Mode?: 'f16' | 'f16packed';
  /**
   * The device profile's family of choices: 'auto' (from the adapter), 'gpu' or 'cpu' (see profile.ts). When
   * absent, SAM2_WEBGPU_PROFILE (Node), else 'auto'.
   */
  profile?: ProfileMode;
}

export interface Dispatch {
  variant: Omit<KernelVariant, 'inputs' | 'outputs'>;
  /** Read-only tensors, bound at 1..n in order. */
  inputs: Tensor[];
  /** Written tensors, bound after the inputs. A tensor that is read and written goes here only. */
  outputs: Tensor[];
  params?: Params;
  /** Workgroup counts; use Gpu.grid() for 1-D work larger than 65,535 groups. */
  workgroups: [number, number?, number?];
  /** Floating-point operations of the dispatch (a multiply-add counts 2) where they matter: products, attention, convolutions. For cost models (bench/budget.ts). */
  flops?: number;
}

const UNIFORM_CHUNK = 64 * 1024;

export class Gpu extends DisposableResource {
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  readonly profiler: Profiler;
  /** Storage mode used for f16 tensors on this device. */
  readonly f16Mode: 'f16' | 'f16packed';
  /** Every tuning decision of the kernels on this device (see profile.ts). */
  readonly profile: DeviceProfile;
  readonly maxDispatchesPerSubmit: number;

  private readonly scopes = new Scopes();
  private readonly constants = new Map<string, unknown>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private batchKernels: string[] = [];
  private uniformStaging = new ArrayBuffer(UNIFORM_CHUNK);
  private uniformView = new DataView(this.uniformStaging);
  private uniformOffset = 0;
  private uniformBuffers: GPUBuffer[] = [];
  private uniformIndex = 0;
  private querySet: GPUQuerySet | null = null;
  private queryResolve: GPUBuffer | null = null;
  private errorChecks: Array<Promise<Sam2Error | null>> = [];
  private firstError: Sam2Error | null = null;
  private lost: DeviceLostError | null = null;
  private destroyed = false;
  private submits = 0;
  /** Set during dryRun(): dispatches are checked and recorded, not executed. */
  private dryLog: KernelVariant[] | null = null;
  /** Keeps the GPU object (and with it Dawn in Node) alive as long as this context. */
  private owner: GPU | null = null;

  static async create(opts: GpuOptions = {}): Promise<Gpu> {
    // A bad profile is reported before a device is acquired.
    const profile = opts.profile !== undefined ? checkProfileMode(opts.profile, 'profile') : profileModeFromEnvironment();
    const { device, info, gpu } = await acquireDevice(opts);
    const g = new Gpu(device, info, { ...opts, profile });
    g.owner = gpu;
    return g;
  }

  constructor(
    readonly device: GPUDevice,
    readonly info: DeviceInfo,
    opts: GpuOptions = {},
  ) {
    super();
    this.pool = new BufferPool(device, Math.min(info.limits.maxBufferSize, info.limits.maxStorageBufferBindingSize));
    this.pipelines = new PipelineCache(device);
    this.profiler = new Profiler(info.features.timestamps ? 'timestamp' : 'wall');
    if (opts.f16Mode === 'f16' && !info.features.f16) {
      throw new Sam2Error('f16Mode "f16" needs the shader-f16 feature, which this device does not have');
    }
    this.profile = new DeviceProfile(info, { mode: opts.profile ?? profileModeFromEnvironment(), f16Storage: opts.f16Mode });
    this.f16Mode = this.profile.f16Storage;
    this.maxDispatchesPerSubmit = opts.maxDispatchesPerSubmit ?? 64;
    device.lost.then((i) => {
      if (!this.destroyed) this.lost = new DeviceLostError(`GPU device lost (${i.reason}): ${i.message}`, i.reason);
    });
    device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.firstError ??= this.typedError(e, this.batchKernels.slice());
    });
  }

  /** The storage mode kernels use for tensors of this dtype. */
  modeFor(dtype: DType): StorageMode {
    if (dtype === 'f32') return 'f32';
    if (dtype === 'f16') return this.f16Mode;
    throw new ShapeError(`no float storage mode for dtype ${dtype}`);
  }

  // ---------------------------------------------------------------- tensors

  empty(shape: readonly number[], dtype: DType = 'f32', label = 'tensor'): Tensor {
    this.checkAlive();
    const bytes = numel(shape) * DTYPE_BYTES[dtype];
    if (storageBytes(bytes) > this.info.limits.maxStorageBufferBindingSize) {
      throw new OutOfMemoryError(
        `${label}${shapeStr(shape)}:${dtype} needs ${bytes} bytes, more than maxStorageBufferBindingSize (${this.info.limits.maxStorageBufferBindingSize})`,
      );
    }
    const t = new Tensor(this, this.pool.acquire(bytes, label), shape, dtype, true, label);
    this.scopes.track(t);
    return t;
  }

  /**
   * Runs `fn` in a scope that frees every tensor created inside it except those it returns (see scope.ts).
   * Synchronous only.
   */
  tidy<T>(fn: () => T): T {
    return this.scopes.run(fn);
  }

  /** Runs `fn` outside every scope: the tensors it creates belong to the caller (for user callbacks). */
  untracked<T>(fn: () => T): T {
    return this.scopes.untracked(fn);
  }

  /**
   * A value made of tensors that depend only on constants (resampling tables, ...), made by `make` on first
   * use under `key` and kept for the life of this context (destroy() frees it).
   */
  constant<T extends TensorContainer>(key: string, make: () => T): T {
    // A dry run's tensors hold no values: what it makes is freed with its scope, never kept.
    if (this.dry) return this.constants.has(key) ? (this.constants.get(key) as T) : make();
    if (!this.constants.has(key)) this.constants.set(key, this.untracked(make));
    return this.constants.get(key) as T;
  }

  /** True inside dryRun(): tensors made now hold no values, so nothing may be cached (see constant()). */
  get dry(): boolean {
    return this.dryLog !== null;
  }

  /**
   * Runs `fn` without executing its dispatches: each is checked (bindings, workgroup counts) and its kernel
   * variant recorded, in order. Tensors are allocated as usual (from the pool, so a later real run reuses
   * them) and everything `fn` makes is freed at the end; uploads still happen. `fn` must not read tensors
   * back (they hold no results). SAM 2's shapes do not depend on the data, so a dry run of a frame lists the
   * pipelines a real frame needs (PipelineCache.warmup compiles them ahead) and counts its dispatches.
   */
  dryRun(fn: () => void): KernelVariant[] {
    if (this.dryLog) throw new Sam2Error('dryRun: already in a dry run');
    const log: KernelVariant[] = [];
    this.dryLog = log;
    try {
      this.tidy(() => {
        fn();
      });
    } finally {
      this.dryLog = null;
    }
    return log;
  }

  /** Inside dryRun(): the variants recorded so far, in order (a copy). */
  dryRecorded(): KernelVariant[] {
    if (!this.dryLog) throw new Sam2Error('dryRecorded: not in a dry run');
    return this.dryLog.slice();
  }

  /** Takes `t` (and its views) out of every open scope: its owner frees it. Returns t. */
  keep<T extends Tensor>(t: T): T {
    this.scopes.keep(t);
    return t;
  }

  /** Uploads host data. Numbers are converted to `dtype` (f32 → f16/bf16 rounds to nearest even). */
  upload(data: ArrayLike<number>, shape: readonly number[], dtype: DType = 'f32', label = 'tensor'): Tensor {
    if (data.length !== numel(shape)) {
      throw new ShapeError(`${label}: ${data.length} values for shape ${shapeStr(shape)}`);
    }
    let bytes: Uint8Array;
    if (dtype === 'f32' && data instanceof Float32Array) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    else if (dtype === 'u32' && data instanceof Uint32Array) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    else if (dtype === 'i32' && data instanceof Int32Array) bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    else bytes = encodeF32(dtype, data);
    return this.uploadBytes(bytes, shape, dtype, label);
  }

  /** Uploads bytes already in `dtype`'s little-endian layout. */
  uploadBytes(bytes: Uint8Array, shape: readonly number[], dtype: DType, label = 'tensor'): Tensor {
    const t = this.empty(shape, dtype, label);
    if (bytes.byteLength !== t.byteLength) {
      t.release();
      throw new ShapeError(`${label}: ${bytes.byteLength} bytes for ${shapeStr(shape)}:${dtype} (${t.byteLength} expected)`);
    }
    this.writeBytes(t, bytes);
    return t;
  }

  /** Overwrites a tensor's contents with bytes in its dtype. */
  writeBytes(t: Tensor, bytes: Uint8Array, byteOffset = 0): void {
    // queue.writeBuffer runs before work that is recorded but not yet submitted; a pooled buffer may still be
    // read by such work (released, then reused here), so submit it first to keep program order.
    if (this.encoder) this.flush();
    // writeBuffer needs 4-byte multiples.
    const n = bytes.byteLength;
    if (n % 4 === 0 && bytes.byteOffset % 4 === 0) {
      this.device.queue.writeBuffer(t.buffer, byteOffset, bytes.buffer, bytes.byteOffset, n);
    } else {
      const padded = new Uint8Array(Math.ceil(n / 4) * 4);
      padded.set(bytes);
      this.device.queue.writeBuffer(t.buffer, byteOffset, padded);
    }
  }

  /** Reads a tensor back as f32 values (f16 / bf16 decoded, integers converted). Submits pending work. */
  async read(t: Tensor): Promise<Float32Array> {
    const bytes = await this.readBytes(t);
    return decodeToF32(t.dtype, bytes, t.size);
  }

  /** Reads a tensor's raw bytes. */
  async readBytes(t: Tensor): Promise<Uint8Array> {
    this.checkAlive();
    if (t.isReleased) throw new Sam2Error(`read: ${t} was released`);
    if (this.dry) throw new Sam2Error(`read: ${t} holds no values in a dry run`);
    const size = t.bindingSize;
    const staging = this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.endPass();
    this.ensureEncoder().copyBufferToBuffer(t.buffer, 0, staging, 0, size);
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      staging.destroy();
      await this.checkErrors();
      throw this.lost ?? new Sam2Error(`read of ${t} failed: ${(e as Error).message}`);
    }
    const out = new Uint8Array(staging.getMappedRange().slice(0, t.byteLength));
    staging.unmap();
    staging.destroy();
    await this.checkErrors();
    return out;
  }

  // ---------------------------------------------------------------- dispatch

  /** Splits `n` workgroups into x, y counts within maxComputeWorkgroupsPerDimension. */
  grid(n: number): [number, number] {
    const max = this.info.limits.maxComputeWorkgroupsPerDimension;
    if (n <= max) return [Math.max(1, n), 1];
    const y = Math.ceil(n / max);
    return [Math.ceil(n / y), y];
  }

  dispatch(d: Dispatch): void {
    this.checkAlive();
    const kernel = d.variant.kernel;
    for (const t of [...d.inputs, ...d.outputs]) {
      if (t.isReleased) throw new Sam2Error(`${kernel}: ${t} was released before use`);
    }
    for (const [oi, o] of d.outputs.entries()) {
      for (const [ti, t] of [...d.inputs, ...d.outputs].entries()) {
        if (ti !== d.inputs.length + oi && t.buffer === o.buffer) {
          throw new ShapeError(`${kernel}: output ${o} shares its buffer with ${t}; outputs may not alias other bindings`);
        }
      }
    }
    const [x, y = 1, z = 1] = d.workgroups;
    const maxWg = this.info.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new ShapeError(`${kernel}: ${x}×${y}×${z} workgroups exceed ${maxWg} per dimension`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    if (this.dryLog) {
      this.dryLog.push({ ...d.variant, inputs: d.inputs.length, outputs: d.outputs.length });
      return;
    }
    const entry = this.pipelines.get({ ...d.variant, inputs: d.inputs.length, outputs: d.outputs.length });

    // Uniforms
    const params = d.params ?? new Params().u32(0);
    const align = this.info.limits.minUniformBufferOffsetAlignment;
    if (this.uniformOffset + params.byteLength > UNIFORM_CHUNK) this.flush();
    if (this.batchKernels.length === 0) this.beginBatch();
    const uOffset = this.uniformOffset;
    params.writeTo(this.uniformView, uOffset);
    this.uniformOffset = Math.ceil((uOffset + params.byteLength) / align) * align;

    const entries: GPUBindGroupEntry[] = [
      { binding: 0, resource: { buffer: this.currentUniformBuffer(), offset: uOffset, size: params.byteLength } },
    ];
    let b = 1;
    for (const t of [...d.inputs, ...d.outputs]) {
      entries.push({ binding: b++, resource: { buffer: t.buffer, offset: 0, size: t.bindingSize } });
    }
    const bindGroup = this.device.createBindGroup({ layout: entry.layout, entries, label: kernel });

    const profiling = this.profiler.enabled;
    const useTimestamps = profiling && this.profiler.mode === 'timestamp';
    let pass: GPUComputePassEncoder;
    if (useTimestamps) {
      this.endPass();
      const qi = this.batchKernels.length;
      pass = this.ensureEncoder().beginComputePass({
        label: kernel,
        timestampWrites: { querySet: this.ensureQuerySet(), beginningOfPassWriteIndex: 2 * qi, endOfPassWriteIndex: 2 * qi + 1 },
      });
      this.pass = pass;
    } else {
      pass = this.pass ??= this.ensureEncoder().beginComputePass();
    }
    pass.setPipeline(entry.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.batchKernels.push(kernel);
    if (useTimestamps) this.endPass();

    if (profiling && !useTimestamps) {
      const t0 = performance.now();
      this.flush();
      this.profiler.track(this.device.queue.onSubmittedWorkDone().then(() => this.profiler.add(kernel, (performance.now() - t0) * 1e6)));
    } else if (this.batchKernels.length >= this.maxDispatchesPerSubmit) {
      this.flush();
    }
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    const kernels = this.batchKernels;
    const enc = this.encoder;
    let tsRead: GPUBuffer | null = null;
    if (this.profiler.enabled && this.profiler.mode === 'timestamp' && kernels.length > 0 && this.querySet) {
      const n = kernels.length * 2;
      this.queryResolve ??= this.device.createBuffer({
        size: this.maxDispatchesPerSubmit * 16,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
      tsRead = this.device.createBuffer({ size: n * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      enc.resolveQuerySet(this.querySet, 0, n, this.queryResolve, 0);
      enc.copyBufferToBuffer(this.queryResolve, 0, tsRead, 0, n * 8);
    }
    if (this.uniformOffset > 0) {
      this.device.queue.writeBuffer(this.currentUniformBuffer(), 0, this.uniformStaging, 0, this.uniformOffset);
    }
    this.device.queue.submit([enc.finish()]);
    this.submits++;
    if (kernels.length > 0) {
      const scopeKernels = kernels.slice();
      const oom = this.device.popErrorScope();
      const val = this.device.popErrorScope();
      this.errorChecks.push(
        Promise.all([val, oom]).then(([v, o]) => {
          const e = o ?? v;
          return e ? this.typedError(e, scopeKernels) : null;
        }),
      );
    }
    if (tsRead) {
      const buf = tsRead;
      this.profiler.track(
        buf.mapAsync(GPUMapMode.READ).then(() => {
          const t = new BigUint64Array(buf.getMappedRange());
          kernels.forEach((k, i) => this.profiler.add(k, Number(t[2 * i + 1] - t[2 * i])));
          buf.unmap();
          buf.destroy();
        }),
      );
    }
    this.encoder = null;
    this.batchKernels = [];
    this.uniformOffset = 0;
    // Alternate uniform buffers is not needed (queue order protects them) but a fresh index keeps the
    // writeBuffer of the next batch from being coalesced with this one by any implementation.
    this.uniformIndex = (this.uniformIndex + 1) % 2;
  }

  /** Submits pending work, waits until the GPU is done, and throws the first GPU error since the last sync. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.checkErrors();
  }

  /** The navigator.gpu / Dawn GPU object this context came from (null when constructed from a device). */
  get gpuObject(): GPU | null {
    return this.owner;
  }

  get submitCount(): number {
    return this.submits;
  }

  /** Frees the device and every pooled buffer; using the context afterwards is a DisposedError. Runs once. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    dispose([...this.constants.values()]);
    this.constants.clear();
    this.pool.trim();
    this.device.destroy();
    this.owner = null;
  }
  /** `using gpu = await Gpu.create()` destroys it at scope exit. */
  protected free(): void {
    this.destroy();
  }


  // ---------------------------------------------------------------- internals

  private checkAlive(): void {
    if (this.lost) throw this.lost;
    if (this.destroyed) throw new DisposedError('this Gpu was destroyed');
  }

  private async checkErrors(): Promise<void> {
    const found = await Promise.all([...this.errorChecks.splice(0), ...this.pipelines.errors.splice(0)]);
    const first = this.firstError ?? found.find((e) => e !== null) ?? null;
    this.firstError = null;
    if (this.lost) throw this.lost;
    if (first) throw first;
  }

  private typedError(e: GPUError, kernels: string[]): Sam2Error {
    const uniq = [...new Set(kernels)];
    const named = uniq.filter((k) => e.message.includes(k));
    const who = named.length ? named : uniq;
    const where = who.length ? ` in kernel${who.length > 1 ? 's' : ''} ${who.join(', ')}` : '';
    if (e instanceof GPUOutOfMemoryError || e.constructor?.name === 'GPUOutOfMemoryError') {
      return new OutOfMemoryError(`GPU out of memory${where}: ${e.message}`, who);
    }
    return new GpuValidationError(`WebGPU error${where}: ${e.message}`, who);
  }

  private beginBatch(): void {
    this.device.pushErrorScope('validation');
    this.device.pushErrorScope('out-of-memory');
  }

  private ensureEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  private currentUniformBuffer(): GPUBuffer {
    let b = this.uniformBuffers[this.uniformIndex];
    if (!b) {
      b = this.device.createBuffer({ size: UNIFORM_CHUNK, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'uniforms' });
      this.uniformBuffers[this.uniformIndex] = b;
    }
    return b;
  }

  private ensureQuerySet(): GPUQuerySet {
    this.querySet ??= this.device.createQuerySet({ type: 'timestamp', count: this.maxDispatchesPerSubmit * 2 });
    return this.querySet;
  }
}
