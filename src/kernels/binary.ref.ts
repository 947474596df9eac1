/** CPU references for the binary elementwise kernels, in double precision (PyTorch broadcasting semantics). */
import type { BinaryOp } from './binary.js';

/**
 * Where element `index` of a row-major `outShape` reads a tensor of `inShape` broadcast to it (shapes
 * right-aligned, size-1 dimensions repeated): its offset into that tensor.
 */
export function broadcastOffset(index: number, outShape: readonly number[], inShape: readonly number[]): number {
  let off = 0;
  let stride = 1;
  let rem = index;
  for (let k = outShape.length - 1, j = inShape.length - 1; k >= 0; k--, j--) {
    const c = rem % outShape[k];
    rem = Math.floor(rem / outShape[k]);
    if (j < 0) continue;
    if (inShape[j] !== 1) off += c * stride;
    stride *= inShape[j];
  }
  return off;
}

/** op(a, alpha·b) over the broadcast of aShape and bShape; returns the values and the broadcast shape. */
export function binaryRef(
  op: BinaryOp,
  a: ArrayLike<number>,
  aShape: readonly number[],
  b: ArrayLike<number>,
  bShape: readonly number[],
  alpha = 1,
): { y: Float32Array; shape: number[] } {
  const r = Math.max(aShape.length, bShape.length);
  const pa = [...new Array<number>(r - aShape.length).fill(1), ...aShape];
  const pb = [...new Array<number>(r - bShape.length).fill(1), ...bShape];
  const shape = pa.map((d, k) => (d === 1 ? pb[k] : d));
  const n = shape.reduce((x, d) => x * d, 1);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = a[broadcastOffset(i, shape, aShape)];
    const v = alpha * b[broadcastOffset(i, shape, bShape)];
    y[i] = op === 'add' ? u + v : op === 'sub' ? u - v : u * v;
  }
  return { y, shape };
}

/** x · scale[c] + bias[c] (+ residual) with c = (i / inner) % C. */
export function channelAffineRef(
  x: ArrayLike<number>,
  c: number,
  inner: number,
  scale: ArrayLike<number> | null,
  bias: ArrayLike<number> | null,
  residual: ArrayLike<number> | null = null,
): Float32Array {
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const ch = Math.floor(i / inner) % c;
    let v = x[i];
    if (scale) v *= scale[ch];
    if (bias) v += bias[ch];
    if (residual) v += residual[i];
    y[i] = v;
  }
  return y;
}
