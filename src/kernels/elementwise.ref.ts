/** CPU references for elementwise kernels, in double precision. */
import type { UnaryOp } from './elementwise.js';

/** erf in double precision (W. J. Cody's rational approximations; |error| < 2e-8 before rounding to f32). */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 0.5) {
    const t = x * x;
    const num = (((0.185777706184603153 * t + 3.1611237438705656) * t + 113.864154151050156) * t + 377.485237685302021) * t + 3209.37758913846947;
    const den = (((t + 23.6012909523441209) * t + 244.024637934444173) * t + 1282.61652607737228) * t + 2844.23683343917062;
    return (x * num) / den;
  }
  const r = 1 - erfc(ax);
  return x < 0 ? -r : r;
}

/** erfc in double precision, accurate for large arguments too. */
export function erfc(x: number): number {
  const ax = Math.abs(x);
  if (ax < 0.5) return 1 - erf(x);
  let c: number;
  if (ax < 4) {
    const num = (((((((2.15311535474403846e-8 * ax + 0.564188496988670089) * ax + 8.88314979438837594) * ax + 66.1191906371416295) * ax + 298.635138197400131) * ax + 881.95222124176909) * ax + 1712.04761263407058) * ax + 2051.07837782607147) * ax + 1230.33935479799725;
    const den = (((((((ax + 15.7449261107098347) * ax + 117.693950891312499) * ax + 537.181101862009858) * ax + 1621.38957456669019) * ax + 3290.79923573345963) * ax + 4362.61909014324716) * ax + 3439.36767414372164) * ax + 1230.33935480374942;
    c = (Math.exp(-ax * ax) * num) / den;
  } else {
    const z = 1 / (ax * ax);
    const num = ((((0.0163153871373020978 * z + 0.305326634961232344) * z + 0.360344899949804439) * z + 0.125781726111229246) * z + 0.0160837851487422766) * z + 6.58749161529837803e-4;
    const den = ((((z + 2.56852019228982242) * z + 1.87295284992346725) * z + 0.527905102951428412) * z + 0.0605183413124413191) * z + 0.00233520497626869185;
    c = (Math.exp(-ax * ax) / ax) * (0.564189583547756287 - (z * num) / den);
  }
  return x < 0 ? 2 - c : c;
}

/** PyTorch's exact GELU, 0.5 x (1 + erf(x / sqrt(2))) = 0.5 x erfc(-x / sqrt(2)). */
export function geluRef(x: number): number {
  return 0.5 * x * erfc(-x / Math.SQRT2);
}

export function unaryRef(x: ArrayLike<number>, op: UnaryOp, scale = 1, bias = 0): Float32Array {
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i] * scale + bias;
    y[i] = op === 'gelu' ? geluRef(v) : op === 'relu' ? Math.max(v, 0) : op === 'sigmoid' ? 1 / (1 + Math.exp(-v)) : v;
  }
  return y;
}
