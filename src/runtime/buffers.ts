/**
 * GPU buffer pool with byte accounting, and a planner for static graphs.
 *
 * The pool keeps released buffers by exact size and hands them out again; creating and first-binding a
 * buffer is expensive, and exact sizes keep the peak low. Reuse is safe without waiting for the GPU: queue
 * operations execute in submission order.
 */
import { OutOfMemoryError } from './errors.js';

export const STORAGE_USAGE = 0x80 /* STORAGE */ | 0x08 /* COPY_DST */ | 0x04; /* COPY_SRC */

export interface PoolStats {
  /** Bytes in buffers handed out and not yet released. */
  inUse: number;
  /** Bytes in released buffers kept for reuse. */
  cached: number;
  /** Highest inUse seen since the last resetPeak(). */
  peakInUse: number;
  /** Highest inUse + cached seen: what the device actually held. */
  peakAllocated: number;
  /** Number of createBuffer calls. */
  created: number;
  /** Number of acquisitions served from the cache. */
  reused: number;
}

/** Rounds a byte size up to the 4-byte multiple that storage bindings need (16 at least). */
export function storageBytes(bytes: number): number {
  return Math.max(16, Math.ceil(bytes / 16) * 16);
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private sizes = new WeakMap<GPUBuffer, number>();
  private stats: PoolStats = { inUse: 0, cached: 0, peakInUse: 0, peakAllocated: 0, created: 0, reused: 0 };

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBufferSize: number,
  ) {}

  acquire(bytes: number, what = 'tensor'): GPUBuffer {
    const size = storageBytes(bytes);
    if (size > this.maxBufferSize) {
      throw new OutOfMemoryError(
        `${what} needs a ${size}-byte buffer, more than this adapter's maxBufferSize (${this.maxBufferSize})`,
      );
    }
    const list = this.free.get(size);
    let buf = list?.pop();
    if (buf) {
      this.stats.cached -= size;
      this.stats.reused++;
    } else {
      buf = this.device.createBuffer({ size, usage: STORAGE_USAGE, label: what });
      this.sizes.set(buf, size);
      this.stats.created++;
    }
    this.stats.inUse += size;
    this.stats.peakInUse = Math.max(this.stats.peakInUse, this.stats.inUse);
    this.stats.peakAllocated = Math.max(this.stats.peakAllocated, this.stats.inUse + this.stats.cached);
    return buf;
  }

  release(buf: GPUBuffer): void {
    const size = this.sizes.get(buf);
    if (size === undefined) throw new Error('BufferPool.release: buffer does not belong to this pool');
    this.stats.inUse -= size;
    this.stats.cached += size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buf);
  }

  /** Destroys every cached (released) buffer. */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.stats.cached = 0;
  }

  getStats(): PoolStats {
    return { ...this.stats };
  }

  resetPeak(): void {
    this.stats.peakInUse = this.stats.inUse;
    this.stats.peakAllocated = this.stats.inUse + this.stats.cached;
  }
}

/** One tensor of a static graph: its size and the first and last step that touch it (inclusive). */
export interface LiveInterval {
  bytes: number;
  first: number;
  last: number;
}

export interface MemoryPlan {
  /** For each interval, the slot (buffer) it lives in. */
  slot: number[];
  /** Byte size of each slot: the largest interval assigned to it. */
  slotBytes: number[];
  /** Sum of slotBytes: the plan's footprint. */
  totalBytes: number;
  /** Sum of all interval sizes: the footprint without reuse. */
  naiveBytes: number;
}

/**
 * Plans buffers for a static graph: intervals whose lifetimes do not overlap may share a buffer. Greedy by
 * size (largest first), each interval goes to the free slot whose size is closest to its own. Tensors get
 * whole buffers (never offsets in one arena), so a kernel's output never aliases one of its inputs.
 */
export function planMemory(intervals: LiveInterval[]): MemoryPlan {
  const order = intervals.map((_, i) => i).sort((a, b) => intervals[b].bytes - intervals[a].bytes || a - b);
  const slot = new Array<number>(intervals.length).fill(-1);
  const slotBytes: number[] = [];
  const slotUsers: number[][] = [];
  const overlaps = (a: LiveInterval, b: LiveInterval) => a.first <= b.last && b.first <= a.last;
  for (const i of order) {
    const iv = intervals[i];
    if (iv.first > iv.last) throw new Error(`planMemory: interval ${i} ends before it starts`);
    let best = -1;
    for (let s = 0; s < slotBytes.length; s++) {
      if (slotUsers[s].some((j) => overlaps(intervals[j], iv))) continue;
      if (best < 0 || Math.abs(slotBytes[s] - iv.bytes) < Math.abs(slotBytes[best] - iv.bytes)) best = s;
    }
    if (best < 0) {
      best = slotBytes.length;
      slotBytes.push(0);
      slotUsers.push([]);
    }
    slot[i] = best;
    slotUsers[best].push(i);
    slotBytes[best] = Math.max(slotBytes[best], storageBytes(iv.bytes));
  }
  return {
    slot,
    slotBytes,
    totalBytes: slotBytes.reduce((a, b) => a + b, 0),
    naiveBytes: intervals.reduce((a, b) => a + storageBytes(b.bytes), 0),
  };
}
