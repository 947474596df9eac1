/**
 * The device profile: every tuning decision the kernels make, derived in one place from the adapter's info,
 * features and limits. Dispatchers ask the profile (gpu.profile) and never look at the adapter themselves.
 *
 * Two families of choices:
 *   'cpu'  software adapters (Mesa lavapipe / llvmpipe, SwiftShader, WARP): a few SIMD lanes per core, every
 *          storage load executed lane by lane, costly workgroup barriers. Register-blocked kernels with long
 *          loops per invocation, rows shared by subgroup broadcasts or shuffles, products routed through the
 *          matmul kernel where its shared loads win. Every figure behind these was measured on lavapipe and
 *          SwiftShader (src/kernels/README.md).
 *   'gpu'  hardware GPUs: the shared-memory tiled matmul (8 × 8 outputs per invocation), FlashAttention-2
 *          (key / value tiles in workgroup memory, the head dim split across invocations), the conv kernels
 *          rather than matmul routes, norms split across workgroups, many workgroups in flight, the tiled
 *          transpose.
 *
 * The family follows the adapter ('auto'), or is forced: SAM2_WEBGPU_PROFILE=gpu|cpu|auto in the environment
 * (Node), or the `profile` option of load() / Gpu.create(). Forcing 'gpu' on a software adapter runs every
 * route a hardware GPU takes, which is how those routes are checked against the official tensors without
 * one.
 */
import { OptionError } from './options.js';
import type { DeviceInfo } from './device.js';

export type ProfileMode = 'auto' | 'gpu' | 'cpu';
export const PROFILE_MODES: readonly ProfileMode[] = ['auto', 'gpu', 'cpu'];

/** What the adapter is, from its info: a software adapter by name, or a hardware GPU. */
export type AdapterFamily = 'lavapipe' | 'swiftshader' | 'software' | 'gpu';

/** The matmul kernel and tiles for one product (see src/kernels/matmul.ts). */
export interface MatmulConfig {
  kernel: 'reg' | 'tiled';
  /** 'reg': subgroup size the kernel shares rows of A over (8 or 4), or 1 without subgroups. */
  sg: 1 | 4 | 8;
  /** 'reg': rows per invocation (the variants matmul.wgsl compiles). */
  tm: 8 | 16 | 32;
  /** 'reg': invocations per workgroup (a multiple of sg). */
  wg: number;
}

/** The attention kernel's variant for one call (see src/kernels/attention.ts and wgsl/attention.wgsl). */
export interface AttentionTuning {
  /** 'register': wgsl/attention.wgsl's main (CPU adapters); 'flash': its FlashAttention-2 entry (GPUs). */
  kernel: 'register' | 'flash';
  /** Invocations per workgroup. */
  wg: number;
  /** register: queries per invocation. */
  qpi: number;
  /** register: subgroup size of the shuffle path, or 0. */
  sg: number;
  /** register: keys per tile between workgroup barriers (0: one tile). */
  kt: number;
  /** flash: invocations per query (the head dim split across them). */
  t: number;
  /** flash: keys per tile staged in workgroup memory. */
  bk: number;
}

/** Head dims that attention variants hold in registers; a head dim runs in the smallest capacity at least as large. */
const DIM_CAPACITIES = [16, 32, 48, 64, 96, 128, 192, 256];
export const MAX_HEAD_DIM = 256;

/** The head dim an attention variant is compiled for: the smallest capacity at least d. */
export function capacity(d: number): number {
  return DIM_CAPACITIES.find((c) => c >= d) ?? MAX_HEAD_DIM;
}

/** Bytes of workgroup memory of the flash kernel (wgsl/attention.wgsl) for these defines. */
export function flashWorkgroupBytes(bq: number, t: number, bk: number, dc: number, dvc: number): number {
  return bk * (dc + dvc) * 16 + (t > 1 ? bq * bk * t * 4 : 0) + bq * bk * 4 + 3 * bq * 4;
}

export interface ProfileOptions {
  /** 'auto' (default): from the adapter; 'gpu' / 'cpu' force a family of choices on any adapter. */
  mode?: ProfileMode;
  /** The storage mode of f16 tensors; by default 'f16' where the device has shader-f16, else 'f16packed'. */
  f16Storage?: 'f16' | 'f16packed';
}

/** The profile's summary: what `gpu.profile` prints (benches, the CLI's --debug) and serializes. */
export interface ProfileSummary {
  requested: ProfileMode;
  kind: 'gpu' | 'cpu';
  adapter: AdapterFamily;
  subgroupSize: number;
  f16Storage: 'f16' | 'f16packed';
  routes: Record<string, string>;
}

/** Recognises software adapters by the names their drivers report. The only place that reads adapter names. */
export function adapterFamily(info: Pick<DeviceInfo, 'adapter' | 'backend' | 'architecture'>): AdapterFamily {
  const text = `${info.adapter} ${info.backend} ${info.architecture}`;
  if (/swiftshader/i.test(text)) return 'swiftshader';
  if (/llvmpipe|lavapipe/i.test(text)) return 'lavapipe';
  if (/basic render|^software$/i.test(`${info.adapter} ${info.backend}`) || /^software$/i.test(info.architecture)) return 'software';
  return 'gpu';
}

/** The mode SAM2_WEBGPU_PROFILE asks for ('auto' when unset or outside Node). */
export function profileModeFromEnvironment(): ProfileMode {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const v = env?.SAM2_WEBGPU_PROFILE;
  if (v === undefined || v === '') return 'auto';
  return checkProfileMode(v, 'SAM2_WEBGPU_PROFILE');
}

export function checkProfileMode(v: unknown, what: string): ProfileMode {
  if (typeof v === 'string' && (PROFILE_MODES as readonly string[]).includes(v)) return v as ProfileMode;
  throw new OptionError(`${what} must be one of ${PROFILE_MODES.join(", ")}; got ${JSON.stringify(v)}`, what);
}

/** Invocations per workgroup (4 columns each) for N columns: the most, from 64 down to 4, that leave at most 1/8 of the last workgroup idle. */
function groupForColumns(N: number): number {
  if (!Number.isFinite(N)) return 64;
  const lanes = Math.ceil(N / 4);
  for (const w of [64, 32, 16, 8]) {
    const padded = Math.ceil(lanes / w) * w;
    if (8 * (padded - lanes) <= padded) return w;
  }
  return 4;
}

export class DeviceProfile {
  /** The mode asked for. */
  readonly requested: ProfileMode;
  /** The family of choices in force. */
  readonly kind: 'gpu' | 'cpu';
  /** What the adapter is, whatever the kind. */
  readonly adapter: AdapterFamily;
  /** True when the adapter runs shaders on the CPU (whatever the kind). */
  readonly software: boolean;
  /** The adapter's subgroup size when it has subgroups of one fixed size, else 0. */
  readonly subgroupSize: number;
  /** Storage mode of f16 tensors. */
  readonly f16Storage: 'f16' | 'f16packed';

  constructor(
    readonly info: DeviceInfo,
    opts: ProfileOptions = {},
  ) {
    this.requested = opts.mode === undefined ? 'auto' : checkProfileMode(opts.mode, 'profile');
    this.adapter = adapterFamily(info);
    this.software = this.adapter !== 'gpu';
    this.kind = this.requested === 'auto' ? (this.software ? 'cpu' : 'gpu') : this.requested;
    const { subgroups } = info.features;
    this.subgroupSize = subgroups && info.subgroupMinSize > 0 && info.subgroupMinSize === info.subgroupMaxSize ? info.subgroupMinSize : 0;
    this.f16Storage = opts.f16Storage ?? (info.features.f16 ? 'f16' : 'f16packed');
  }

  private get cpu(): boolean {
    return this.kind === 'cpu';
  }

  /** SwiftShader's choices apply: the cpu kind on SwiftShader. */
  private get swift(): boolean {
    return this.cpu && this.adapter === 'swiftshader';
  }

  /**
   * The matmul kernel and tiles for an M×N product (measurements: src/kernels/README.md, "matmul").
   *
   * cpu: 'reg'. lavapipe loads storage buffers lane by lane with a bounds check per lane and component,
   * whether or not the address is uniform, and a subgroupBroadcast costs far less than a load. Loads, not
   * arithmetic, bound a product, so the kernel loads every value once per subgroup: lane l loads row l of
   * each group of 8 rows of A and the lanes share them by broadcast; B is loaded per lane (each lane its own 4
   * columns), and f16 operands are read as u32 pairs (half the components per value). The shared-memory
   * tiles lose there (every barrier is a coroutine switch). tm is 16 rows (32 for f16 products, whose loads
   * are cheaper): more rows spill more accumulators to the stack; fewer rows are used when M is small (a
   * tile's rows cost the same whether used or not).
   * Without subgroups of 8 (SwiftShader: 4 lanes), every invocation loads its own 8 rows; a workgroup's
   * invocations past N compute as much as the others and store nothing, so the workgroup size follows N: the
   * most invocations (64 down to 4) whose last workgroup leaves at most 1/8 of them idle. With SwiftShader's
   * subgroups of 4, each lane loads 2 of 8 rows and the lanes broadcast them, like the 8-lane kernel.
   *
   * gpu: the shared-memory 'tiled' kernel.
   */
  matmul(M: number, dtype: 'f32' | 'f16' = 'f32', N = Infinity): MatmulConfig {
    if (!this.cpu) return { kernel: 'tiled', sg: 1, tm: 8, wg: 8 };
    if (this.subgroupSize === 4) return { kernel: 'reg', sg: 4, tm: M <= 8 ? 8 : M <= 16 ? 16 : 32, wg: groupForColumns(N) };
    if (this.subgroupSize !== 8) return { kernel: 'reg', sg: 1, tm: 8, wg: groupForColumns(N) };
    const tm = M <= 8 ? 8 : M <= 16 || dtype === 'f32' ? 16 : 32;
    return { kernel: 'reg', sg: 8, tm, wg: 8 };
  }

  /**
   * The attention kernel's variant for lq queries per (batch, head) and head dims d (q, k) and dv (v).
   * cpu: with a fixed subgroup size, key / value rows are loaded once per subgroup and shuffled (SG > 0),
   * and each invocation takes 2 queries up to head dim 128; without subgroups, 4 queries up to head dim 64
   * (each loaded vector then feeds several dot products); key tiles between barriers above head dim 128,
   * whose k and v rows outgrow a core's cache. Measured on lavapipe; see bench/entries/attention.ts.
   * gpu: from head dim 96 (Hiera's heads, memory attention's 256) the FlashAttention-2 kernel, whose lanes
   * split the head dim so q and the accumulator stay in registers; below (the mask decoder's 16 and 32) the
   * register kernel with one query per invocation, whose q and accumulator rows (at most 32 vec4) fit the
   * registers, rows loaded by every invocation (hardware broadcasts them).
   */
  attention(lq: number, d: number, dv: number): AttentionTuning {
    const dmax = Math.max(d, dv);
    if (!this.cpu && capacity(dmax) >= 96) return this.flashTuning(lq, d, dv);
    const cpu = this.cpu;
    const sg = cpu && [4, 8, 16, 32, 64].includes(this.subgroupSize) ? this.subgroupSize : 0;
    const qpi = !cpu ? 1 : sg ? (dmax <= 128 ? 2 : 1) : dmax <= 64 ? 4 : dmax <= 128 ? 2 : 1;
    // Two workgroup sizes only (each is a separate pipeline): small for a few queries per (batch, head), as
    // in Hiera's windows and the decoder's prompt tokens.
    const wg = Math.ceil(lq / qpi) <= 32 ? Math.max(16, sg) : 64;
    const kt = cpu && dmax > 128 ? 128 : 0;
    return { kernel: 'register', wg, qpi, sg, kt, t: 1, bk: 0 };
  }

  /**
   * gpu: the FlashAttention-2 kernel. Lanes per query t: the fewest (1 to 16) that leave each lane at most 16
   * vec4 of q and accumulator (64 registers; head dim 256 takes 8 lanes), dividing both rows' chunks. Queries
   * per workgroup bq: 256 / t, fewer for short rows (at least a 32-lane warp's worth). Keys per tile bk: the
   * most, up to 32, whose tiles fit the device's workgroup memory.
   */
  flashTuning(lq: number, d: number, dv: number): AttentionTuning {
    const dc = capacity(d) / 4;
    const dvc = capacity(dv) / 4;
    const fits = (t: number) => dc % t === 0 && dvc % t === 0;
    const ts = [1, 2, 4, 8, 16].filter(fits);
    const t = ts.find((x) => (dc + dvc) / x <= 16) ?? ts[ts.length - 1];
    let rows = 1;
    while (rows < lq) rows *= 2;
    const bq = Math.min(256 / t, Math.max(rows, Math.max(1, 32 / t)));
    const limit = this.info.limits.maxComputeWorkgroupStorageSize;
    const bk = [32, 16, 8, 4, 2, 1].find((k) => flashWorkgroupBytes(bq, t, k, dc, dvc) <= limit) ?? 1;
    return { kernel: 'flash', wg: bq * t, qpi: 1, sg: 0, kt: 0, t, bk };
  }

  /**
   * Whether scaled dot-product attention runs by matmuls (scores materialized) rather than the attention
   * kernel, for `keys` keys and heads of `headDim` channels: cpu above head dim 128, and on SwiftShader from
   * 16 keys; gpu never (measurements: src/kernels/README.md, "sdpa").
   */
  sdpaByMatmul(headDim: number, keys: number): boolean {
    return this.cpu && (headDim > 128 || (this.swift && keys >= 16));
  }

  /**
   * Whether a 1×1 convolution over `pixels` pixels runs as the matmul kernel (plus a bias / activation pass)
   * instead of the conv kernel's GEMM: cpu on SwiftShader always, on lavapipe up to 64² pixels (where the
   * matmul kernel's subgroup-shared loads win); gpu never. Measurements: src/kernels/README.md, "conv2d".
   */
  pointwiseConvByMatmul(pixels: number): boolean {
    return this.cpu && (this.swift || pixels <= 64 * 64);
  }

  /**
   * Whether a convolution of the direct path with `cin` input channels runs as im2col + the matmul kernel:
   * cpu on SwiftShader always, on lavapipe from 16 input channels (with fewer, the column matrix costs more
   * than the direct kernel's loads); gpu never (the caller checks groups and size limits).
   */
  directConvByMatmul(cin: number): boolean {
    return this.cpu && (this.swift || cin >= 16);
  }

  /** Whether a transposed convolution (kernel == stride) runs as the matmul kernel plus a scatter: cpu on SwiftShader only. */
  transposedConvByMatmul(): boolean {
    return this.swift;
  }

  /**
   * Invocations the device needs in flight to be busy (row reductions split rows until they have them): cpu
   * 64 (one invocation per LayerNorm row is 3-10x faster on lavapipe than a workgroup per row); gpu tens of
   * thousands.
   */
  get busyInvocations(): number {
    return this.cpu ? 64 : 16384;
  }

  /**
   * Groups of 4 elements a workgroup moves in the layout row kernels: 4 per invocation on GPUs, which want
   * many workgroups in flight; 32 per invocation on CPU adapters, where each workgroup has a fixed cost in
   * the driver's thread pool (src/kernels/README.md, "layout").
   */
  get layoutRowSegment(): number {
    return this.cpu ? 2048 : 256;
  }

  /** Whether batched transposes go through the shared-memory tiled kernel: gpu only (barriers cost more than strided loads on CPU adapters). */
  get tiledTranspose(): boolean {
    return !this.cpu;
  }

  /** The decisions for SAM 2's typical shapes, in words. */
  summary(): ProfileSummary {
    const mm = (M: number, dtype: 'f32' | 'f16') => {
      const c = this.matmul(M, dtype);
      return c.kernel === 'tiled' ? 'tiled (64×64 shared-memory tiles, 8×8 per invocation)' : `reg (subgroup ${c.sg}, ${c.tm} rows per invocation)`;
    };
    const att = (lq: number, d: number) => {
      const t = this.attention(lq, d, d);
      const route = this.sdpaByMatmul(d, 4096) ? 'matmuls (scores materialized)' : 'attention kernel';
      if (t.kernel === 'flash') return `${route}; flash (FlashAttention-2): ${t.wg / t.t} queries × ${t.t} lanes per workgroup, key tiles of ${t.bk} in workgroup memory`;
      return `${route}; kernel variant: ${t.qpi} quer${t.qpi === 1 ? 'y' : 'ies'} per invocation, ${t.sg ? `shuffles over ${t.sg} lanes` : 'no subgroups'}${t.kt ? `, key tiles of ${t.kt}` : ''}`;
    };
    return {
      requested: this.requested,
      kind: this.kind,
      adapter: this.adapter,
      subgroupSize: this.subgroupSize,
      f16Storage: this.f16Storage,
      routes: {
        'matmul f32': mm(4096, 'f32'),
        'matmul f16': mm(4096, 'f16'),
        'attention head dim 64': att(4096, 64),
        'attention head dim 256': att(4096, 256),
        'conv 1×1': this.pointwiseConvByMatmul(4096) ? 'matmul kernel (≤ 64² pixels)' : 'conv gemm kernel',
        'conv k×k': this.directConvByMatmul(16) ? 'im2col + matmul kernel' : 'direct conv kernel',
        'conv transposed': this.transposedConvByMatmul() ? 'matmul kernel + taps' : 'conv gemm kernel',
        norms: this.cpu ? 'one invocation per row (64 busy invocations)' : 'rows split across workgroups (16384 busy invocations)',
        layout: `${this.layoutRowSegment} groups of 4 per workgroup; transposes ${this.tiledTranspose ? 'tiled' : 'by rows'}`,
        'f16 storage': this.f16Storage,
      },
    };
  }

  toJSON(): ProfileSummary {
    return this.summary();
  }

  /** Several lines: the kind, why, and each route. */
  describe(): string {
    const s = this.summary();
    const why = s.requested === 'auto' ? `from the adapter (${s.adapter})` : `forced (${s.requested}) on a ${s.adapter === 'gpu' ? 'hardware' : s.adapter} adapter`;
    const lines = [`device profile: ${s.kind}, ${why}; subgroups ${s.subgroupSize || 'of varying or unknown size'}`];
    for (const [k, v] of Object.entries(s.routes)) lines.push(`  ${k}: ${v}`);
    return lines.join('\n');
  }
}
