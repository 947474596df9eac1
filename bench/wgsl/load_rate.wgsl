// load_rate: the cost of a storage-buffer vector load, the other ceiling (beside fma_peak) of the CPU
// adapters' kernels; broadcast_rate: the cost of a subgroupBroadcast of a vec4, the way the CPU kernels share
// loaded rows between the lanes of a subgroup.
//
// load_rate: Each invocation makes `iters` rounds of 4 independent loads from x, a table of
// `mask + 1` vectors small enough to stay in the CPU's caches, and sums them (one vector add per load, next
// to nothing beside a load on a software adapter). Neighbouring invocations read neighbouring vectors, as
// the lanes of the register-blocked matmul read their columns of B.
//   PACKED 0: x is array<vec4<f32>> (the f32 kernels' loads);
//   PACKED 1: x is array<vec2<u32>>, 4 halves unpacked per load (the f16 kernels' loads).
// broadcast_rate: `iters` rounds of 8 independent chains s_j += subgroupBroadcast(s_j, j) per invocation
//   (one vec4 add per broadcast; the values grow without bound, which costs nothing).
// Defines: WG (workgroup size), PACKED, BROADCAST (1: compile broadcast_rate alone, which needs subgroups).
#if BROADCAST
enable subgroups;
#endif
#include "common.wgsl"

struct Params { iters: u32, mask: u32, n: u32, stride: u32 }
@group(0) @binding(0) var<uniform> P: Params;
#if BROADCAST
#tensor y 1 write f32
#elif PACKED
@group(0) @binding(1) var<storage, read> x: array<vec2<u32>>;
fn ld(i: u32) -> vec4<f32> { let w = x[i & P.mask]; return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)); }
#else
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
fn ld(i: u32) -> vec4<f32> { return x[i & P.mask]; }
#endif
#if !BROADCAST
#tensor y 2 write f32

@compute @workgroup_size(WG)
fn load_rate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = linear_id(gid, nwg, WG);
  var s0 = vec4<f32>(0.0);
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  var s3 = vec4<f32>(0.0);
  var i = id;
  for (var r = 0u; r < P.iters; r++) {
    s0 += ld(i);
    s1 += ld(i + P.stride);
    s2 += ld(i + 2u * P.stride);
    s3 += ld(i + 3u * P.stride);
    i += 4u * P.stride;
  }
  let t = s0 + s1 + s2 + s3;
  if (id < P.n) { st_y(id, t.x + t.y + t.z + t.w); }
}
#else
@compute @workgroup_size(WG)
fn broadcast_rate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let id = linear_id(gid, nwg, WG);
  let s = vec4<f32>(f32(id & 1023u) * 1.0e-3 + 1.0);
  var s0 = s;
  var s1 = s + 1.0;
  var s2 = s + 2.0;
  var s3 = s + 3.0;
  var s4 = s + 4.0;
  var s5 = s + 5.0;
  var s6 = s + 6.0;
  var s7 = s + 7.0;
  for (var r = 0u; r < P.iters; r++) {
    s0 += subgroupBroadcast(s0, 0u);
    s1 += subgroupBroadcast(s1, 1u);
    s2 += subgroupBroadcast(s2, 2u);
    s3 += subgroupBroadcast(s3, 3u);
    s4 += subgroupBroadcast(s4, 4u);
    s5 += subgroupBroadcast(s5, 5u);
    s6 += subgroupBroadcast(s6, 6u);
    s7 += subgroupBroadcast(s7, 7u);
  }
  let t = s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
  if (id < P.n) { st_y(id, t.x + t.y + t.z + t.w); }
}
#endif
