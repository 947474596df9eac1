// Binary elementwise ops and per-channel scale-and-bias; f32 math in every storage mode.
//
// KIND 0 (same): a, b and y have the same number of elements; y = op(a, alpha·b); 4 elements per invocation
//   (vec4 loads and stores), the tail one by one.
// KIND 1 (broadcast): y [d5, .., d0] = op(a, alpha·b) with NumPy broadcasting: dims and the element strides
//   of a and b per output dim (0 where an input is broadcast) come in uniforms, innermost dim first, after
//   the dispatcher has merged dims that are contiguous in both inputs. ROWS 0: 4 consecutive outputs per
//   invocation, each invocation decomposing its own index. ROWS 1 (d0 % 4 == 0): rows of d0 outputs, a
//   workgroup owning either a segment of SEG groups of 4 of one long row or rpw whole short rows; row
//   offsets come from the workgroup id only, and the invocations stride over each row.
// KIND 2 (channel): y = x · scale[c] + bias[c] (+ r) for x viewed as [outer, C, inner]; either of scale and
//   bias may be absent (the dispatcher binds x in its place), r is an optional residual of x's shape.
//   CMODE 0: c = (i / inner) % C per element; 1 (inner % 4 == 0): rows (o, c) of inner elements, c uniform
//   per row; 2 (inner == 1, C % 4 == 0): rows of the C channels of a position. Row modes tile like KIND 1.
//
// Defines: WG (invocations per workgroup); KIND; OP 0 add | 1 sub | 2 mul (KIND 0, 1); ROWS (KIND 1); HAS_SCALE, HAS_BIAS, HAS_RES, CMODE
// (KIND 2).
#include "common.wgsl"

// Groups of 4 elements per workgroup segment in the row modes: 8 per invocation.
const SEG: u32 = 512u;

#if KIND == 2
struct Params { n: u32, c: u32, inner: u32, segs: u32, rpw: u32 }
#elif KIND == 1
struct Params {
  n: u32, nd: u32, alpha: f32, segs: u32,
  d0: u32, d1: u32, d2: u32, d3: u32, d4: u32, d5: u32,
  a0: u32, a1: u32, a2: u32, a3: u32, a4: u32, a5: u32,
  b0: u32, b1: u32, b2: u32, b3: u32, b4: u32, b5: u32,
  rpw: u32,
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

fn affine(v: f32, c: u32) -> f32 {
  var r = v;
#if HAS_SCALE
  r *= ld_scale(c);
#endif
#if HAS_BIAS
  r += ld_bias(c);
#endif
  return r;
}

fn affine4(v: vec4<f32>, c: u32, c_step: u32) -> vec4<f32> {
  return vec4<f32>(affine(v.x, c), affine(v.y, c + c_step), affine(v.z, c + 2u * c_step), affine(v.w, c + 3u * c_step));
}

fn residual4(i: u32) -> vec4<f32> {
#if HAS_RES
  return ld4_res(i);
#else
  return vec4<f32>(0.0);
#endif
}

#if CMODE == 0

fn channel_op(i: u32) -> f32 {
  var v = affine(ld_x(i), (i / P.inner) % P.c);
#if HAS_RES
  v += ld_res(i);
#endif
  return v;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG) * 4u;
  if (i + 4u <= P.n) {
    st4_y(i, vec4<f32>(channel_op(i), channel_op(i + 1u), channel_op(i + 2u), channel_op(i + 3u)));
  } else {
    for (var k = i; k < P.n; k++) {
      st_y(k, channel_op(k));
    }
  }
}

#else

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let wl = wid.x + wid.y * nwg.x;
  let first = (wl / P.segs) * P.rpw;
  let seg = wl % P.segs;
#if CMODE == 1
  // Rows (o, c): inner elements of one channel.
  let len = P.inner;
  let c_step = 0u;
#else
  // Rows o: the C channels of one position.
  let len = P.c;
  let c_step = 1u;
#endif
  let last = min(first + P.rpw, P.n / len);
  let end = min((seg + 1u) * SEG, len / 4u);
  for (var row = first; row < last; row++) {
#if CMODE == 1
    let c0 = row % P.c;
#else
    let c0 = 0u;
#endif
    let base = row * len;
    for (var g = seg * SEG + lid; g < end; g += WG) {
      let i = base + g * 4u;
      st4_y(i, affine4(ld4_x(i), c0 + g * 4u * c_step, c_step) + residual4(i));
    }
  }
}

#endif

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

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG) * 4u;
  if (i + 4u <= P.n) {
    st4_y(i, op4(ld4_a(i), ld4_b(i)));
  } else {
    for (var k = i; k < P.n; k++) {
      st_y(k, op(ld_a(k), ld_b(k)));
    }
  }
}

#else

// The offsets into a and b of index *r's position along a dim of size n (element strides s of a and b);
// *r becomes the index over the outer dims.
fn dim_offsets(r: ptr<function, u32>, n: u32, s: vec2<u32>) -> vec2<u32> {
  let q = *r / n;
  let o = (*r - q * n) * s;
  *r = q;
  return o;
}

// Offsets into a and b of output element i.
fn offsets(i: u32) -> vec2<u32> {
  var r = i;
  var o = dim_offsets(&r, P.d0, vec2<u32>(P.a0, P.b0));
  if (P.nd > 1u) { o += dim_offsets(&r, P.d1, vec2<u32>(P.a1, P.b1)); }
  if (P.nd > 2u) { o += dim_offsets(&r, P.d2, vec2<u32>(P.a2, P.b2)); }
  if (P.nd > 3u) { o += dim_offsets(&r, P.d3, vec2<u32>(P.a3, P.b3)); }
  if (P.nd > 4u) { o += dim_offsets(&r, P.d4, vec2<u32>(P.a4, P.b4)); }
  if (P.nd > 5u) { o += r * vec2<u32>(P.a5, P.b5); }
  return o;
}

#if ROWS

// 4 values of an input row from offset o with element stride st (0: broadcast, 1: contiguous).
fn lda4(o: u32, st: u32) -> vec4<f32> {
  if (st == 0u) { return vec4<f32>(ld_a(o)); }
  if (st == 1u && o % 4u == 0u) { return ld4_a(o); }
  return vec4<f32>(ld_a(o), ld_a(o + st), ld_a(o + 2u * st), ld_a(o + 3u * st));
}

fn ldb4(o: u32, st: u32) -> vec4<f32> {
  if (st == 0u) { return vec4<f32>(ld_b(o)); }
  if (st == 1u && o % 4u == 0u) { return ld4_b(o); }
  return vec4<f32>(ld_b(o), ld_b(o + st), ld_b(o + 2u * st), ld_b(o + 3u * st));
}

fn op4(u: vec4<f32>, v: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(op(u.x, v.x), op(u.y, v.y), op(u.z, v.z), op(u.w, v.w));
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let wl = wid.x + wid.y * nwg.x;
  let first = (wl / P.segs) * P.rpw;
  let seg = wl % P.segs;
  let last = min(first + P.rpw, P.n / P.d0);
  let end = min((seg + 1u) * SEG, P.d0 / 4u);
  for (var row = first; row < last; row++) {
    // Offsets of the row start: the row index decomposed over d1 .. d5.
    let o = offsets(row * P.d0);
    for (var g = seg * SEG + lid; g < end; g += WG) {
      let j = g * 4u;
      st4_y(row * P.d0 + j, op4(lda4(o.x + j * P.a0, P.a0), ldb4(o.y + j * P.b0, P.b0)));
    }
  }
}

#else

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG) * 4u;
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
#endif
