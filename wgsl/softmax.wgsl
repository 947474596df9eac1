// Softmax over the last dim of x viewed as [rows, n]: y = exp(s·x - max) / Σ exp(s·x - max), with the
// running max and the sum in f32 whatever the storage type.
//
// TPR invocations share one row (a workgroup of WG invocations holds WG / TPR rows). Each keeps an online
// (max, sum) pair over its strided part of the row, rescaling the sum when the max grows; the pairs are
// merged in workgroup memory, then the row is read again and written normalized.
//
// Defines: VEC 1 | 4 (vec4 loads/stores, n % 4 == 0); TPR (power of two); WG (multiple of TPR).
#include "common.wgsl"

struct Params { rows: u32, n: u32, scale: f32, _pad: u32 }
@group(0) @binding(0) var<uniform> P: Params;
#tensor x 1 read
#tensor y 2 write

// (max, sum of exp(v - max)) of two parts of a row.
fn merge(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  return vec2<f32>(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

var<workgroup> s_ms: array<vec2<f32>, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let lane = lid % TPR;
  let row = (wid.x + wid.y * nwg.x) * (WG / TPR) + lid / TPR;
  let valid = row < P.rows;
  let base = row * P.n;
  var ms = vec2<f32>(NEG_BIG, 0.0);
  if (valid) {
#if VEC == 4
    for (var i = lane * 4u; i < P.n; i += TPR * 4u) {
      let v = ld4_x(base + i) * P.scale;
      let m = max(ms.x, max(max(v.x, v.y), max(v.z, v.w)));
      let e = exp(v - m);
      ms = vec2<f32>(m, ms.y * exp(ms.x - m) + (e.x + e.y) + (e.z + e.w));
    }
#else
    for (var i = lane; i < P.n; i += TPR) {
      let v = ld_x(base + i) * P.scale;
      let m = max(ms.x, v);
      ms = vec2<f32>(m, ms.y * exp(ms.x - m) + exp(v - m));
    }
#endif
  }
#if TPR > 1
  s_ms[lid] = ms;
  for (var off = TPR / 2u; off > 0u; off >>= 1u) {
    workgroupBarrier();
    if (lane < off) {
      s_ms[lid] = merge(s_ms[lid], s_ms[lid + off]);
    }
  }
  workgroupBarrier();
  ms = s_ms[lid - lane];
#endif
  if (!valid) { return; }
  let inv = 1.0 / ms.y;
#if VEC == 4
  for (var i = lane * 4u; i < P.n; i += TPR * 4u) {
    st4_y(base + i, exp(ld4_x(base + i) * P.scale - ms.x) * inv);
  }
#else
  for (var i = lane; i < P.n; i += TPR) {
    st_y(base + i, exp(ld_x(base + i) * P.scale - ms.x) * inv);
  }
#endif
}
