/**
 * CPU reference for matmul, in double precision: torch.matmul's batch broadcasting (operands of rank >= 2),
 * optional transposes, then y = act(alpha * (a @ b) + bias) + residual, rounded to f32 once at the end.
 */
import type { MatmulAct } from './matmul.js';
import { broadcastOffset } from './binary.ref.js';
import { geluRef } from './elementwise.ref.js';

export interface MatmulRefOptions {
  transA?: boolean;
  transB?: boolean;
  bias?: ArrayLike<number>;
  act?: MatmulAct;
  residual?: ArrayLike<number>;
  alpha?: number;
}

export function matmulRef(
  a: ArrayLike<number>,
  aShape: readonly number[],
  b: ArrayLike<number>,
  bShape: readonly number[],
  opts: MatmulRefOptions = {},
): { data: Float32Array; shape: number[] } {
  const ra = aShape.length;
  const rb = bShape.length;
  const [ar, ac] = [aShape[ra - 2], aShape[ra - 1]];
  const [br, bc] = [bShape[rb - 2], bShape[rb - 1]];
  const M = opts.transA ? ac : ar;
  const K = opts.transA ? ar : ac;
  const N = opts.transB ? br : bc;
  if ((opts.transB ? bc : br) !== K) throw new Error('matmulRef: inner dimensions differ');
  const ba = aShape.slice(0, -2);
  const bb = bShape.slice(0, -2);
  const nb = Math.max(ba.length, bb.length);
  const batch: number[] = [];
  for (let i = 0; i < nb; i++) {
    const da = ba[ba.length - nb + i] ?? 1;
    const db = bb[bb.length - nb + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error('matmulRef: batch dimensions do not broadcast');
    batch.push(Math.max(da, db));
  }
  const nBatch = batch.reduce((x, y) => x * y, 1);
  const alpha = opts.alpha ?? 1;
  const y = new Float32Array(nBatch * M * N);
  for (let z = 0; z < nBatch; z++) {
    // Batch index -> offsets into a and b (size-1 dimensions broadcast).
    const oa = broadcastOffset(z, batch, ba) * M * K;
    const ob = broadcastOffset(z, batch, bb) * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = opts.transA ? a[oa + k * M + m] : a[oa + m * K + k];
          const bv = opts.transB ? b[ob + n * K + k] : b[ob + k * N + n];
          s += av * bv;
        }
        let v = alpha * s + (opts.bias ? opts.bias[n] : 0);
        if (opts.act === 'gelu') v = geluRef(v);
        else if (opts.act === 'relu') v = Math.max(v, 0);
        const o = (z * M + m) * N + n;
        if (opts.residual) v += opts.residual[o];
        y[o] = v;
      }
    }
  }
  return { data: y, shape: [...batch, M, N] };
}
