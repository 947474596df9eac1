// Layer normalization (PyTorch semantics: biased variance, eps inside the square root), statistics in f32.
//
// KIND 0 (rows): LayerNorm over the last dim of x viewed as [outer, c]. TPR invocations share one row
//   (a workgroup of WG invocations holds WG / TPR rows); each gathers Welford statistics over its strided
//   part of the row, the parts are merged with Chan's formula in workgroup memory, then the row is
//   normalized in a second read.
// KIND 1 (channels): LayerNorm2d over the channels of x [outer, c, inner] (NCHW with inner = H·W). Each
//   invocation owns VEC consecutive pixels and walks the channels (reads coalesced across pixels); CS
//   invocations split the channels of the same pixels and merge their statistics like KIND 0.
//
// Defines: KIND; VEC 1 | 4 (vec4 loads/stores: c % 4 == 0 for KIND 0, inner % 4 == 0 for KIND 1);
// AFFINE 0 | 1 (weight and bias bound); ACT 0 identity | 1 GELU (exact erf) applied after the affine;
// KIND 0: TPR (power of two), WG (multiple of TPR); KIND 1: PXT × CS invocations per workgroup.
#include "common.wgsl"

struct Params { outer: u32, c: u32, inner: u32, eps: f32 }
@group(0) @binding(0) var<uniform> P: Params;
#tensor x 1 read
#if AFFINE
#tensor weight 2 read
#tensor bias 3 read
#tensor y 4 write
#else
#tensor y 2 write
#endif

fn act(v: f32) -> f32 {
#if ACT == 1
  return gelu(v);
#else
  return v;
#endif
}

fn act4(v: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(act(v.x), act(v.y), act(v.z), act(v.w));
}

// Merges the statistics (n, mean, m2) of two disjoint parts (Chan et al.); m2 is the sum of squared
// deviations from the mean.
fn merge(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
  let n = a.x + b.x;
  if (n == 0.0) { return a; }
  let d = b.y - a.y;
  let fb = b.x / n;
  return vec3<f32>(n, a.y + d * fb, a.z + b.z + d * d * a.x * fb);
}

#if KIND == 0

var<workgroup> s_stat: array<vec3<f32>, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let lane = lid % TPR;
  let row = (wid.x + wid.y * nwg.x) * (WG / TPR) + lid / TPR;
  let valid = row < P.outer;
  let base = row * P.c;
  var st = vec3<f32>(0.0);
  if (valid) {
#if VEC == 4
    for (var i = lane * 4u; i < P.c; i += TPR * 4u) {
      // Statistics of the four values, then merged into the running ones.
      let v = ld4_x(base + i);
      let m = (v.x + v.y + v.z + v.w) * 0.25;
      let d = v - m;
      st = merge(st, vec3<f32>(4.0, m, dot(d, d)));
    }
#else
    for (var i = lane; i < P.c; i += TPR) {
      let v = ld_x(base + i);
      st.x += 1.0;
      let d = v - st.y;
      st.y += d / st.x;
      st.z += d * (v - st.y);
    }
#endif
  }
#if TPR > 1
  s_stat[lid] = st;
  for (var off = TPR / 2u; off > 0u; off >>= 1u) {
    workgroupBarrier();
    if (lane < off) {
      s_stat[lid] = merge(s_stat[lid], s_stat[lid + off]);
    }
  }
  workgroupBarrier();
  st = s_stat[lid - lane];
#endif
  if (!valid) { return; }
  let mean = st.y;
  let rstd = 1.0 / sqrt(st.z / f32(P.c) + P.eps);
#if VEC == 4
  for (var i = lane * 4u; i < P.c; i += TPR * 4u) {
    var v = (ld4_x(base + i) - mean) * rstd;
#if AFFINE
    v = v * ld4_weight(i) + ld4_bias(i);
#endif
    st4_y(base + i, act4(v));
  }
#else
  for (var i = lane; i < P.c; i += TPR) {
    var v = (ld_x(base + i) - mean) * rstd;
#if AFFINE
    v = v * ld_weight(i) + ld_bias(i);
#endif
    st_y(base + i, act(v));
  }
#endif
}

#else

const WG: u32 = PXT * CS;
var<workgroup> s_n: array<f32, WG>;
var<workgroup> s_mean: array<vec4<f32>, WG>;
var<workgroup> s_m2: array<vec4<f32>, WG>;

@compute @workgroup_size(PXT, CS)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // Pixel group g covers pixels p .. p + VEC - 1 of image n.
  let groups = P.inner / VEC;
  let g = (wid.x + wid.y * nwg.x) * PXT + lid.x;
  let valid = g < P.outer * groups;
  let img = g / groups;
  let base = img * P.c * P.inner + (g - img * groups) * VEC;
  // Welford per pixel; the count (and its reciprocal) is shared by the VEC pixels.
  var n = 0.0;
  var mean = vec4<f32>(0.0);
  var m2 = vec4<f32>(0.0);
  if (valid) {
    for (var c = lid.y; c < P.c; c += CS) {
#if VEC == 4
      let v = ld4_x(base + c * P.inner);
#else
      let v = vec4<f32>(ld_x(base + c * P.inner));
#endif
      n += 1.0;
      let d = v - mean;
      mean += d * (1.0 / n);
      m2 += d * (v - mean);
    }
  }
#if CS > 1
  let li = lid.y * PXT + lid.x;
  s_n[li] = n;
  s_mean[li] = mean;
  s_m2[li] = m2;
  for (var off = CS / 2u; off > 0u; off >>= 1u) {
    workgroupBarrier();
    if (lid.y < off) {
      let o = li + off * PXT;
      let nb = s_n[o];
      let nt = n + nb;
      if (nt > 0.0) {
        let d = s_mean[o] - mean;
        let fb = nb / nt;
        mean += d * fb;
        m2 += s_m2[o] + d * d * (n * fb);
        n = nt;
      }
      s_n[li] = n;
      s_mean[li] = mean;
      s_m2[li] = m2;
    }
  }
  workgroupBarrier();
  n = s_n[lid.x];
  mean = s_mean[lid.x];
  m2 = s_m2[lid.x];
#endif
  if (!valid) { return; }
  let rstd = 1.0 / sqrt(m2 / f32(P.c) + P.eps);
  for (var c = lid.y; c < P.c; c += CS) {
    let i = base + c * P.inner;
#if VEC == 4
    var v = (ld4_x(i) - mean) * rstd;
#if AFFINE
    v = v * ld_weight(c) + ld_bias(c);
#endif
    st4_y(i, act4(v));
#else
    var v = (ld_x(i) - mean.x) * rstd.x;
#if AFFINE
    v = v * ld_weight(c) + ld_bias(c);
#endif
    st_y(i, act(v));
#endif
  }
}

#endif
