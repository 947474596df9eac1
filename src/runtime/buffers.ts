/**
 * GPU buffer pool with byte accounting.
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
  /** Buffers handed out and not yet released (live tensors, views counted once). */
  live: number;
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
  private stats: PoolStats = { inUse: 0, live: 0, cached: 0, peakInUse: 0, peakAllocated: 0, created: 0, reused: 0 };

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
    this.stats.live++;
    this.stats.peakInUse = Math.max(this.stats.peakInUse, this.stats.inUse);
    this.stats.peakAllocated = Math.max(this.stats.peakAllocated, this.stats.inUse + this.stats.cached);
    return buf;
  }

  release(buf: GPUBuffer): void {
    const size = this.sizes.get(buf);
    if (size === undefined) throw new Error('BufferPool.release: buffer does not belong to this pool');
    this.stats.inUse -= size;
    this.stats.live--;
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
