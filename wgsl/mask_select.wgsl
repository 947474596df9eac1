// Mask selection of the mask decoder (src/kernels/mask_select.ts): a one-hot [B, M] per prompt.
//
// One workgroup per prompt b: the stability counts of mask `stab_index` (area_i = #(v > delta), area_u =
// #(v > −delta), a tree reduction in u32), the argmax of the predicted IoUs over [first, M) (the first
// maximum on ties, as torch.argmax), and the one-hot written by invocation 0.
//
// mode: 0 argmax only, 1 stability test, 2 always stable, 3 never stable. The threshold test is exact:
// f32(area_i / area_u) >= thresh is decided as area_i / area_u >= bound / 2^shift (the rounding boundary of
// thresh, computed by the dispatcher), compared in 64-bit integers (two u32), so no division rounding is
// involved; a quotient exactly at the boundary is stable iff tie_up. area_u == 0 is stable iff empty_stable
// (the official score is then 1).
//
// Defines: WG (invocations per workgroup, a power of 2); sizes and the test are uniforms.

struct Params {
  M: u32, P: u32, first: u32, mode: u32,
  delta: f32, bound: u32, shift: u32, tie_up: u32,
  empty_stable: u32, stab_index: u32, _p0: u32, _p1: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
#tensor masks 1 read
#tensor iou 2 read
#tensor sel 3 write

var<workgroup> cnt_i: array<u32, WG>;
var<workgroup> cnt_u: array<u32, WG>;

// a * b as (lo, hi).
fn mul64(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu; let a1 = a >> 16u;
  let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0; let p11 = a1 * b1;
  let mid = p01 + p10;
  let c1 = select(0u, 0x10000u, mid < p01);
  let lo = p00 + (mid << 16u);
  let c2 = select(0u, 1u, lo < p00);
  return vec2<u32>(lo, p11 + (mid >> 16u) + c1 + c2);
}

// a << s as (lo, hi), s < 64.
fn shl64(a: u32, s: u32) -> vec2<u32> {
  if (s == 0u) { return vec2<u32>(a, 0u); }
  if (s < 32u) { return vec2<u32>(a << s, a >> (32u - s)); }
  return vec2<u32>(0u, a << (s - 32u));
}

// -1, 0, 1 as x <, ==, > y.
fn cmp64(x: vec2<u32>, y: vec2<u32>) -> i32 {
  if (x.y != y.y) { return select(-1, 1, x.y > y.y); }
  if (x.x != y.x) { return select(-1, 1, x.x > y.x); }
  return 0;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.x;
  if (P.mode == 1u) {
    var ni = 0u;
    var nu = 0u;
    let base = (b * P.M + P.stab_index) * P.P;
    for (var p = lid; p < P.P; p += WG) {
      let v = ld_masks(base + p);
      ni += select(0u, 1u, v > P.delta);
      nu += select(0u, 1u, v > -P.delta);
    }
    cnt_i[lid] = ni;
    cnt_u[lid] = nu;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      if (lid < s) {
        cnt_i[lid] += cnt_i[lid + s];
        cnt_u[lid] += cnt_u[lid + s];
      }
      workgroupBarrier();
    }
  }
  if (lid != 0u) { return; }
  var best = P.first;
  var bv = ld_iou(b * P.M + P.first);
  for (var m = P.first + 1u; m < P.M; m++) {
    let v = ld_iou(b * P.M + m);
    if (v > bv) { bv = v; best = m; }
  }
  var stable = P.mode == 2u;
  if (P.mode == 1u) {
    let ai = cnt_i[0];
    let au = cnt_u[0];
    if (au == 0u) {
      stable = P.empty_stable != 0u;
    } else {
      // ai / au >= bound / 2^shift  <=>  ai << shift >= bound * au
      let c = cmp64(shl64(ai, P.shift), mul64(P.bound, au));
      stable = c > 0 || (c == 0 && P.tie_up != 0u);
    }
  }
  if (stable) { best = P.stab_index; }
  for (var m = 0u; m < P.M; m++) {
    st_sel(b * P.M + m, select(0.0, 1.0, m == best));
  }
}
