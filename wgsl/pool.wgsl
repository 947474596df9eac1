// 2-D max pooling, PyTorch's max_pool2d with ceil_mode=False: padding counts as −∞ (the dispatcher
// checks pad ≤ kernel / 2, so every window holds a real value).
//
//   NHWC = 1, VEC = 1 (C % 4 == 0): one invocation: 4 channels of one output pixel, read and written as
//                                  quads (x and y bound as arrays of 4-element quads).
//   otherwise                       one invocation: 4 consecutive outputs, each decoded on its own.
//
// Defines: WG (invocations per workgroup), NHWC (layout), VEC. Shapes are uniforms.
#include "common.wgsl"

struct Params {
  total: u32, c: u32, h: u32, w: u32,
  ho: u32, wo: u32, kh: u32, kw: u32,
  sh: u32, sw: u32, ph: u32, pw: u32,
  dh: u32, dw: u32, _p0: u32, _p1: u32,
}
@group(0) @binding(0) var<uniform> P: Params;

#if VEC
#tensor x 1 read vec4
#tensor y 2 write vec4

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let q = linear_id(gid, nwg, WG);
  let cq = P.c / 4u;
  if (q >= P.total / 4u) { return; }
  let pix = q / cq;
  let c4 = q - pix * cq;
  let ox = pix % P.wo;
  let r = pix / P.wo;
  let oy = r % P.ho;
  let n = r / P.ho;
  var m = vec4<f32>(NEG_BIG);
  let iy0 = i32(oy * P.sh) - i32(P.ph);
  let ix0 = i32(ox * P.sw) - i32(P.pw);
  for (var ky = 0u; ky < P.kh; ky++) {
    let iy = iy0 + i32(ky * P.dh);
    if (iy < 0 || iy >= i32(P.h)) { continue; }
    let row = (n * P.h + u32(iy)) * P.w;
    for (var kx = 0u; kx < P.kw; kx++) {
      let ix = ix0 + i32(kx * P.dw);
      if (ix < 0 || ix >= i32(P.w)) { continue; }
      m = max(m, ldq_x((row + u32(ix)) * cq + c4));
    }
  }
  stq_y(q, m);
}

#else
#tensor x 1 read
#tensor y 2 write

// Max over the window of output element e.
fn pool_one(e: u32) -> f32 {
#if NHWC
  let c = e % P.c;
  let pix = e / P.c;
  let ox = pix % P.wo;
  let r = pix / P.wo;
  let oy = r % P.ho;
  let n = r / P.ho;
#else
  let ox = e % P.wo;
  let r = e / P.wo;
  let oy = r % P.ho;
  let nc = r / P.ho;
#endif
  var m = NEG_BIG;
  let iy0 = i32(oy * P.sh) - i32(P.ph);
  let ix0 = i32(ox * P.sw) - i32(P.pw);
  for (var ky = 0u; ky < P.kh; ky++) {
    let iy = iy0 + i32(ky * P.dh);
    if (iy < 0 || iy >= i32(P.h)) { continue; }
    for (var kx = 0u; kx < P.kw; kx++) {
      let ix = ix0 + i32(kx * P.dw);
      if (ix < 0 || ix >= i32(P.w)) { continue; }
#if NHWC
      let i = ((n * P.h + u32(iy)) * P.w + u32(ix)) * P.c + c;
#else
      let i = (nc * P.h + u32(iy)) * P.w + u32(ix);
#endif
      m = max(m, ld_x(i));
    }
  }
  return m;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e0 = linear_id(gid, nwg, WG) * 4u;
  if (e0 >= P.total) { return; }
  if (e0 + 4u <= P.total) {
    st4_y(e0, vec4<f32>(pool_one(e0), pool_one(e0 + 1u), pool_one(e0 + 2u), pool_one(e0 + 3u)));
  } else {
    for (var e = e0; e < P.total; e++) { st_y(e, pool_one(e)); }
  }
}
#endif
