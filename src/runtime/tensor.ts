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

/**
 * A dense, row-major tensor in a GPU buffer. Tensors made by the Gpu own their buffer and give it back to
 * the pool on release(); reshape() makes a view that shares it.
 */
export class Tensor {
  readonly size: number;
  private released = false;

  constructor(
    readonly gpu: Gpu,
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType,
    private readonly owner: boolean,
    readonly label = 'tensor',
  ) {
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
    return this.released;
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
    return new Tensor(this.gpu, this.buffer, s, this.dtype, false, this.label);
  }

  /** Gives the buffer back to the pool. Views do nothing. */
  release(): void {
    if (!this.owner || this.released) return;
    this.released = true;
    this.gpu.pool.release(this.buffer);
  }

  toString(): string {
    return `${this.label}${shapeStr(this.shape)}:${this.dtype}`;
  }
}
