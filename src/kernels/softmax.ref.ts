/** CPU reference for softmax, in double precision: torch.softmax(x * scale, dim=-1). */

/** Softmax of every row of x [rows, n] (rows = x.length / n). */
export function softmaxRef(x: ArrayLike<number>, n: number, scale = 1): Float32Array {
  const y = new Float32Array(x.length);
  for (let base = 0; base < x.length; base += n) {
    let m = -Infinity;
    for (let k = 0; k < n; k++) m = Math.max(m, x[base + k] * scale);
    let s = 0;
    for (let k = 0; k < n; k++) s += Math.exp(x[base + k] * scale - m);
    for (let k = 0; k < n; k++) y[base + k] = Math.exp(x[base + k] * scale - m) / s;
  }
  return y;
}
