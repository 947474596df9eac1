// Binary elementwise ops and per-channel scale-and-bias; f32 math in every storage mode.
//
// KIND 0 (same): a, b and y have the same number of elements; y = op(a, alpha·b); 4 elements per invocation
//   (vec4 loads and stores), the tail one by one.
// KIND 1 (broadcast): y [d5, .., d0] = op(a, alpha·b) with NumPy broadcasting: dims and the element strides
//   of a and b per output dim (0 where an input is broadcast) come in uniforms, innermost dim first, after
//   the dispatcher has merged dims that are contiguous in both inputs. 4 consecutive outputs per invocation.
// KIND 2 (channel): y = x · scale[c] + bias[c] (+ r), c = (i / inner) % C; either of scale and bias may be
//   absent (the dispatcher binds x in its place), r is an optional residual of x's shape.
//
// Defines: KIND; OP 0 add | 1 sub | 2 mul (KIND 0, 1); HAS_SCALE, HAS_BIAS, HAS_RES (KIND 2).
#include "common.wgsl"

#if KIND == 2
struct Params { n: u32, c: u32, inner: u32, _pad: u32 }
#elif KIND == 1
struct Params {
  n: u32, nd: u32, alpha: f32, _pad: u32,
  d0: u32, d1: u32, d2: u32, d3: u32, d4: u32, d5: u32,
  a0: u32, a1: u32, a2: u32, a3: u32, a4: u32, a5: u32,
  b0: u32, b1: u32, b2: u32, b3: u32, b4: u32, b5: u32,
}
#else
struct Params { n: u32, alpha: f32, _pad0: u32, _pad1: u32 }
#endif
@group(0) @binding(0) var<uniform> P: Params;

#if KIND == 2
#tensor x 1 read
#tensor scale 2 read
#tensor bias 3 read
#tensor res 4 read
#tensor y 5 write

fn channel_op(i: u32) -> f32 {
  let c = (i / P.inner) % P.c;
  var v = ld_x(i);
#if HAS_SCALE
  v *= ld_scale(c);
#endif
#if HAS_BIAS
  v += ld_bias(c);
#endif
#if HAS_RES
  v += ld_res(i);
#endif
  return v;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, 64u) * 4u;
  if (i + 4u <= P.n) {
    st4_y(i, vec4<f32>(channel_op(i), channel_op(i + 1u), channel_op(i + 2u), channel_op(i + 3u)));
  } else {
    for (var k = i; k < P.n; k++) {
      st_y(k, channel_op(k));
    }
  }
}

#else
#tensor a 1 read
#tensor b 2 read
#tensor y 3 write

fn op(u: f32, v: f32) -> f32 {
#if OP == 0
  return u + P.alpha * v;
#elif OP == 1
  return u - P.alpha * v;
#else
  return u * (P.alpha * v);
#endif
}

#if KIND == 0

fn op4(u: vec4<f32>, v: vec4<f32>) -> vec4<f32> {
#if OP == 0
  return u + P.alpha * v;
#elif OP == 1
  return u - P.alpha * v;
#else
  return u * (P.alpha * v);
#endif
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, 64u) * 4u;
  if (i + 4u <= P.n) {
    st4_y(i, op4(ld4_a(i), ld4_b(i)));
  } else {
    for (var k = i; k < P.n; k++) {
      st_y(k, op(ld_a(k), ld_b(k)));
    }
  }
}

#else

// Offsets into a and b of output element i.
fn offsets(i: u32) -> vec2<u32> {
  var r = i / P.d0;
  var o = (i - r * P.d0) * vec2<u32>(P.a0, P.b0);
  if (P.nd > 1u) {
    let q = r / P.d1;
    o += (r - q * P.d1) * vec2<u32>(P.a1, P.b1);
    r = q;
  }
  if (P.nd > 2u) {
    let q = r / P.d2;
    o += (r - q * P.d2) * vec2<u32>(P.a2, P.b2);
    r = q;
  }
  if (P.nd > 3u) {
    let q = r / P.d3;
    o += (r - q * P.d3) * vec2<u32>(P.a3, P.b3);
    r = q;
  }
  if (P.nd > 4u) {
    let q = r / P.d4;
    o += (r - q * P.d4) * vec2<u32>(P.a4, P.b4);
    r = q;
  }
  if (P.nd > 5u) {
    o += r * vec2<u32>(P.a5, P.b5);
  }
  return o;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, 64u) * 4u;
  if (i >= P.n) { return; }
  // The first element's offsets, then steps along the innermost dim until it wraps.
  var o = offsets(i);
  var c0 = i % P.d0;
  var v = vec4<f32>(0.0);
  for (var k = 0u; k < 4u; k++) {
    if (k > 0u) {
      c0 += 1u;
      if (c0 == P.d0) {
        c0 = 0u;
        o = offsets(i + k);
      } else {
        o += vec2<u32>(P.a0, P.b0);
      }
    }
    if (i + k < P.n) { v[k] = op(ld_a(o.x), ld_b(o.y)); }
  }
  if (i + 4u <= P.n) {
    st4_y(i, v);
  } else {
    for (var k = 0u; i + k < P.n; k++) {
      st_y(i + k, v[k]);
    }
  }
}

#endif
#endif
