// The tracking step's small kernels (SAM2Base, src/model/sam2_base.ts): object-score gating of masks,
// pointers and memories, the presence test of a mask prompt, the memory encoder's mask and the bank entry.
// All memory-bound; f32 math in every storage mode. Every kernel takes a leading batch B (the objects of a
// frame tracked together): per = the elements of one batch row, score[b] the row's object score (f32).
//
//   KIND 0 clamp     y (f32) = min(max(x, s), t)
//   KIND 1 gate      y (f32)[i] = score[i / per] > 0 ? x[i] : s (NO_OBJ_SCORE); flag0 = 0: a plain f32 copy
//   KIND 2 pointer   y[b, c] = (flag1 ? λ : 1) · ptr[b, c] + (1 − λ) · noobj[c], per = C (even),
//                    λ = flag0 ? sigmoid(score[b]) : [score[b] > 0]; one invocation per channel pair
//   KIND 3 presence  one workgroup per row: y (f32)[b] = s · [any x[b, :] > 0] + t (a max tree)
//   KIND 4 memmask   y[i] = (flag0 ? [x[i] > 0] : sigmoid(x[i])) · s + t, x f32; one invocation per pair
//   KIND 5 bank      x [B, C, HW] → y (bf16) [B, HW, C] (+ (1 − [score[b] > 0]) · noobj[c] with flag0);
//                    n = B·HW·C / 2 channel pairs, per = HW, flag1 = C (even)
//
// "score > 0" is the official test (object_score_logits > 0): a score of exactly 0 is absent.
// Defines: KIND, WG (invocations per workgroup, a power of 2). Sizes and scalars are uniforms.
#include "common.wgsl"

struct Params { n: u32, per: u32, flag0: u32, flag1: u32, s: f32, t: f32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> P: Params;

#if KIND == 0
#tensor x 1 read
#tensor y 2 write f32
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= P.n) { return; }
  st_y(i, min(max(ld_x(i), P.s), P.t));
}

#elif KIND == 1
#tensor x 1 read
#tensor score 2 read f32
#tensor y 3 write f32
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG);
  if (i >= P.n) { return; }
  var v = ld_x(i);
  if (P.flag0 != 0u && !(ld_score(i / P.per) > 0.0)) { v = P.s; }
  st_y(i, v);
}

#elif KIND == 2
#tensor ptr 1 read
#tensor score 2 read f32
#tensor noobj 3 read
#tensor y 4 write
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG) * 2u;
  if (i >= P.n) { return; }
  let sc = ld_score(i / P.per);
  var lam = select(0.0, 1.0, sc > 0.0);
  if (P.flag0 != 0u) { lam = sigmoid(sc); }
  let keep = select(1.0, lam, P.flag1 != 0u);
  let c = i % P.per;
  let p = vec2<f32>(ld_ptr(i), ld_ptr(i + 1u)) * keep;
  let q = vec2<f32>(ld_noobj(c), ld_noobj(c + 1u)) * (1.0 - lam);
  st2_y(i, p + q);
}

#elif KIND == 3
#tensor x 1 read f32
#tensor y 2 write f32
var<workgroup> found: array<u32, WG>;
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.x;
  var any = 0u;
  for (var k = lid; k < P.per; k += WG) {
    if (ld_x(b * P.per + k) > 0.0) { any = 1u; }
  }
  found[lid] = any;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { found[lid] = max(found[lid], found[lid + s]); }
    workgroupBarrier();
  }
  if (lid == 0u) { st_y(b, P.s * f32(found[0]) + P.t); }
}

#elif KIND == 4
#tensor x 1 read f32
#tensor y 2 write
fn prep(v: f32) -> f32 {
  var m = sigmoid(v);
  if (P.flag0 != 0u) { m = select(0.0, 1.0, v > 0.0); }
  let scaled = m * P.s;
  return scaled + P.t;
}
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG) * 2u;
  if (i >= P.n) { return; }
  st2_y(i, vec2<f32>(prep(ld_x(i)), prep(ld_x(i + 1u))));
}

#elif KIND == 5
#tensor x 1 read
#tensor score 2 read f32
#tensor noobj 3 read
#tensor y 4 write bf16
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let k = linear_id(gid, nwg, WG);
  if (k >= P.n) { return; }
  let C = P.flag1;
  let HW = P.per;
  let o = k * 2u;
  let c = o % C;
  let bt = o / C;
  let b = bt / HW;
  let t = bt % HW;
  let src = (b * C + c) * HW + t;
  var v = vec2<f32>(ld_x(src), ld_x(src + HW));
  if (P.flag0 != 0u) {
    let absent = 1.0 - select(0.0, 1.0, ld_score(b) > 0.0);
    v = v + vec2<f32>(ld_noobj(c), ld_noobj(c + 1u)) * absent;
  }
  st2_y(o, v);
}
#endif
