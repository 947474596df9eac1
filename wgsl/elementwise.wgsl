// Unary elementwise: y = act(x * scale + bias), one invocation per 4 elements (the tail handled one by one).
// Defines: WG (invocations per workgroup); ACT = 0 identity, 1 GELU (exact erf), 2 ReLU, 3 sigmoid.
#include "common.wgsl"

struct Params { n: u32, scale: f32, bias: f32, _pad: u32 }
@group(0) @binding(0) var<uniform> P: Params;
#tensor x 1 read
#tensor y 2 write

fn act(v: f32) -> f32 {
#if ACT == 1
  return gelu(v);
#elif ACT == 2
  return max(v, 0.0);
#elif ACT == 3
  return sigmoid(v);
#else
  return v;
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG) * 4u;
  if (i + 4u <= P.n) {
    let v = ld4_x(i) * P.scale + P.bias;
    st4_y(i, vec4<f32>(act(v.x), act(v.y), act(v.z), act(v.w)));
  } else {
    for (var k = i; k < P.n; k++) {
      st_y(k, act(ld_x(k) * P.scale + P.bias));
    }
  }
}
