import type { Gpu } from './gpu.js';
import { DTYPE_BYTES, type DType } from './dtype.js';
import { ShapeError } from './errors.js';

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Shared by a tensor and its reshaped views: whether the buffer went back to the pool. */
export interface Ownership {
  released: boolean;
}

/**
 * A dense, row-major tensor in a GPU buffer. Tensors made by the Gpu own their buffer and give it back to
 * the pool on release(). reshape() makes a view that shares the buffer and its ownership: releasing either
 * the tensor or any of its views frees the buffer once, and every one of them then counts as released (a
 * later dispatch that reads one fails loudly). Tensors made from foreign buffers (owner false) never free.
 */
export class Tensor {
  readonly size: number;
  /** The buffer's ownership record, shared with every reshaped view (scopes compare tensors by it). */
  readonly ownership: Ownership;

  constructor(
    readonly gpu: Gpu,
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType,
    private readonly owner: boolean,
    readonly label = 'tensor',
    ownership?: Ownership,
  ) {
    this.ownership = ownership ?? { released: false };
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new ShapeError(`${label}: bad shape ${shapeStr(shape)}`);
    }
    this.size = numel(shape);
  }

  get byteLength(): number {
    return this.size * DTYPE_BYTES[this.dtype];
  }

  /** Bytes bound for this tensor (rounded up to the 4-byte multiple WebGPU requires). */
  get bindingSize(): number {
    return Math.max(4, Math.ceil(this.byteLength / 4) * 4);
  }

  get isReleased(): boolean {
    return this.ownership.released;
  }

  /** A view with another shape of the same number of elements. -1 infers one dimension. */
  reshape(shape: readonly number[]): Tensor {
    const known = shape.filter((d) => d !== -1);
    const fill = shape.length - known.length;
    if (fill > 1) throw new ShapeError(`${this.label}: reshape ${shapeStr(shape)} has more than one -1`);
    const s = shape.map((d) => (d === -1 ? this.size / numel(known) : d));
    if (numel(s) !== this.size || s.some((d) => !Number.isInteger(d))) {
      throw new ShapeError(`${this.label}: cannot reshape ${shapeStr(this.shape)} to ${shapeStr(shape)}`);
    }
    return new Tensor(this.gpu, this.buffer, s, this.dtype, this.owner, this.label, this.ownership);
  }

  /** Gives the buffer back to the pool (once, whichever of the tensor and its views is released first). */
  release(): void {
    if (!this.owner || this.ownership.released) return;
    this.ownership.released = true;
    this.gpu.pool.release(this.buffer);
  }

  toString(): string {
    return `${this.label}${shapeStr(this.shape)}:${this.dtype}`;
  }
}
