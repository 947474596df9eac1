// Shared helpers for every kernel.

// Linear invocation index for 1-D work dispatched as a 2-D grid (Gpu.grid folds more groups than the
// device allows per dimension into y).
fn linear_id(gid: vec3<u32>, nwg: vec3<u32>, wg_size: u32) -> u32 {
  return gid.x + gid.y * nwg.x * wg_size;
}

// erf / erfc in f32 from W. J. Cody's rational approximations (|error| < 2e-8 in double), so that
// PyTorch's exact GELU, 0.5 x (1 + erf(x / sqrt(2))), matches to f32 rounding. For negative x the GELU
// uses erfc directly to avoid cancellation in 1 + erf.
fn erf_small(x: f32) -> f32 {
  let t = x * x;
  let num = (((0.185777706184603153 * t + 3.16112374387056560) * t + 113.864154151050156) * t + 377.485237685302021) * t + 3209.37758913846947;
  let den = (((t + 23.6012909523441209) * t + 244.024637934444173) * t + 1282.61652607737228) * t + 2844.23683343917062;
  return x * num / den;
}

// erfc(a) for a >= 0.5.
fn erfc_large(a: f32) -> f32 {
  if (a < 4.0) {
    let num = (((((((2.15311535474403846e-8 * a + 0.564188496988670089) * a + 8.88314979438837594) * a + 66.1191906371416295) * a + 298.635138197400131) * a + 881.952221241769090) * a + 1712.04761263407058) * a + 2051.07837782607147) * a + 1230.33935479799725;
    let den = (((((((a + 15.7449261107098347) * a + 117.693950891312499) * a + 537.181101862009858) * a + 1621.38957456669019) * a + 3290.79923573345963) * a + 4362.61909014324716) * a + 3439.36767414372164) * a + 1230.33935480374942;
    return exp(-a * a) * num / den;
  }
  if (a > 10.0) { return 0.0; }
  let z = 1.0 / (a * a);
  let num = ((((0.0163153871373020978 * z + 0.305326634961232344) * z + 0.360344899949804439) * z + 0.125781726111229246) * z + 0.0160837851487422766) * z + 6.58749161529837803e-4;
  let den = ((((z + 2.56852019228982242) * z + 1.87295284992346725) * z + 0.527905102951428412) * z + 0.0605183413124413191) * z + 0.00233520497626869185;
  return exp(-a * a) / a * (0.564189583547756287 - z * num / den);
}

fn erf_f32(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.5) { return erf_small(x); }
  let r = 1.0 - erfc_large(a);
  return select(r, -r, x < 0.0);
}

fn gelu(x: f32) -> f32 {
  let u = x * 0.70710678118654752;
  if (u < -0.5) { return 0.5 * x * erfc_large(-u); }
  return 0.5 * x * (1.0 + erf_f32(u));
}

fn sigmoid(x: f32) -> f32 {
  return 1.0 / (1.0 + exp(-x));
}

// Largest finite f32, used where a -inf start value is needed (WGSL has no infinity literal).
const NEG_BIG: f32 = -3.0e38;
