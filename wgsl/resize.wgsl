// Resampling of NCHW planes, torch.nn.functional.interpolate's arithmetic (float32 index math):
//
//   MODE 0  nearest (the legacy one): src = min(floor(dst · scale), in − 1)
//   MODE 1  bilinear: src = scale · (dst + 0.5) − 0.5 clamped at 0 (align_corners: scale · dst), taps
//           floor(src) and the next one (the last index repeats), weights from the fraction
//   MODE 2  bicubic, A = −0.75: taps floor(src) − 1 .. + 2 clamped to the border, src not clamped
//   MODE 3  antialiased bilinear: a triangle filter of half-width `support` (the downscale factor, at
//           least 1) around center = scale · (dst + 0.5), evaluated at (j − center + 0.5) · invscale for the
//           input pixels j in [trunc(center − support + 0.5), trunc(center + support + 0.5)) ∩ [0, in),
//           normalized to sum 1; separable in y and x
//
// The dispatcher computes scale (and support, invscale) as PyTorch does, from sizes or the scale factor.
// One invocation: 4 consecutive outputs of one output row, sharing the row's y taps.
// Defines: WG (invocations per workgroup), MODE, UPX (bicubic with scale_w ≤ 1). Shapes and scales are uniforms.
#include "common.wgsl"

struct Params {
  planes: u32, h: u32, w: u32, ho: u32,
  wo: u32, align: u32, _p0: u32, _p1: u32,
  scale_h: f32, scale_w: f32, support_h: f32, support_w: f32,
  invscale_h: f32, invscale_w: f32, _p2: f32, _p3: f32,
}
@group(0) @binding(0) var<uniform> P: Params;
#tensor x 1 read
#tensor y 2 write
#include "store_run.wgsl"

// Source coordinate of a linear / cubic tap (area_pixel_compute_source_index).
fn src_index(scale: f32, dst: u32, cubic: bool) -> f32 {
  if (P.align != 0u) { return scale * f32(dst); }
  let s = scale * (f32(dst) + 0.5) - 0.5;
  return select(max(s, 0.0), s, cubic);
}

struct Lin { i0: u32, i1: u32, l1: f32 }

fn linear_taps(scale: f32, dst: u32, n: u32) -> Lin {
  let s = src_index(scale, dst, false);
  let i0 = min(u32(floor(s)), n - 1u);
  let i1 = select(i0, i0 + 1u, i0 < n - 1u);
  return Lin(i0, i1, clamp(s - f32(i0), 0.0, 1.0));
}

struct Cub { i: i32, c: vec4<f32> }

fn cubic_taps(scale: f32, dst: u32, n: u32) -> Cub {
  let s = src_index(scale, dst, true);
  let i = min(i32(floor(s)), i32(n) - 1);
  let t = clamp(s - f32(i), 0.0, 1.0);
  let A = -0.75;
  // cubic_convolution2 for |d| in [1, 2], cubic_convolution1 for |d| < 1.
  let x0 = t + 1.0;
  let x3 = 2.0 - t;
  let c0 = ((A * x0 - 5.0 * A) * x0 + 8.0 * A) * x0 - 4.0 * A;
  let c1 = ((A + 2.0) * t - (A + 3.0)) * t * t + 1.0;
  let u = 1.0 - t;
  let c2 = ((A + 2.0) * u - (A + 3.0)) * u * u + 1.0;
  let c3 = ((A * x3 - 5.0 * A) * x3 + 8.0 * A) * x3 - 4.0 * A;
  return Cub(i, vec4<f32>(c0, c1, c2, c3));
}

fn cidx(i: i32, n: u32) -> u32 {
  return u32(clamp(i, 0, i32(n) - 1));
}

// Antialiasing window: first input index, count, center, and the weights' sum.
struct Win { lo: u32, cnt: u32, center: f32, total: f32 }

fn tri(v: f32) -> f32 {
  let a = abs(v);
  return select(0.0, 1.0 - a, a < 1.0);
}

fn aa_window(scale: f32, support: f32, invscale: f32, dst: u32, n: u32) -> Win {
  let center = scale * (f32(dst) + 0.5);
  let lo = max(i32(center - support + 0.5), 0);
  let hi = min(i32(center + support + 0.5), i32(n));
  let cnt = u32(max(hi - lo, 0));
  var total = 0.0;
  for (var j = 0u; j < cnt; j++) {
    total += tri((f32(j + u32(lo)) - center + 0.5) * invscale);
  }
  return Win(u32(lo), cnt, center, select(1.0, total, total != 0.0));
}

fn aa_weight(w: Win, j: u32, invscale: f32) -> f32 {
  return tri((f32(j + w.lo) - w.center + 0.5) * invscale) / w.total;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let wq = (P.wo + 3u) / 4u;
  let q = linear_id(gid, nwg, WG);
  if (q >= P.planes * P.ho * wq) { return; }
  let row = q / wq;
  let ox0 = (q - row * wq) * 4u;
  let plane = row / P.ho;
  let oy = row - plane * P.ho;
  let xb = plane * P.h * P.w;
  let cnt = min(4u, P.wo - ox0);
  var out = vec4<f32>(0.0);

#if MODE == 0
  let iy = min(u32(floor(f32(oy) * P.scale_h)), P.h - 1u);
  let rb = xb + iy * P.w;
  for (var j = 0u; j < cnt; j++) {
    let ix = min(u32(floor(f32(ox0 + j) * P.scale_w)), P.w - 1u);
    out[j] = ld_x(rb + ix);
  }
#elif MODE == 1
  let ty = linear_taps(P.scale_h, oy, P.h);
  let r0 = xb + ty.i0 * P.w;
  let r1 = xb + ty.i1 * P.w;
  let h1 = ty.l1;
  let h0 = 1.0 - h1;
  for (var j = 0u; j < cnt; j++) {
    let tx = linear_taps(P.scale_w, ox0 + j, P.w);
    let w1 = tx.l1;
    let w0 = 1.0 - w1;
    out[j] = h0 * (w0 * ld_x(r0 + tx.i0) + w1 * ld_x(r0 + tx.i1)) + h1 * (w0 * ld_x(r1 + tx.i0) + w1 * ld_x(r1 + tx.i1));
  }
#elif MODE == 2
  let ty = cubic_taps(P.scale_h, oy, P.h);
  var rows: array<u32, 4>;
  for (var a = 0; a < 4; a++) { rows[a] = xb + cidx(ty.i - 1 + a, P.h) * P.w; }
#if UPX
  // Upsampling in x (scale_w ≤ 1): the 4 outputs' taps start at most 3 columns apart, so their union is
  // 8 columns from i0 − 1. Interpolate those in y first (32 loads instead of 64), then each output in x.
  let tx0 = cubic_taps(P.scale_w, ox0, P.w);
  var v0 = vec4<f32>(0.0);
  var v1 = vec4<f32>(0.0);
  for (var a = 0; a < 4; a++) {
    let r = rows[a];
    let ca = vec4<f32>(ty.c[a]);
    v0 += ca * vec4<f32>(ld_x(r + cidx(tx0.i - 1, P.w)), ld_x(r + cidx(tx0.i, P.w)), ld_x(r + cidx(tx0.i + 1, P.w)), ld_x(r + cidx(tx0.i + 2, P.w)));
    v1 += ca * vec4<f32>(ld_x(r + cidx(tx0.i + 3, P.w)), ld_x(r + cidx(tx0.i + 4, P.w)), ld_x(r + cidx(tx0.i + 5, P.w)), ld_x(r + cidx(tx0.i + 6, P.w)));
  }
  for (var j = 0u; j < cnt; j++) {
    let tx = cubic_taps(P.scale_w, ox0 + j, P.w);
    let d = tx.i - tx0.i;
    var win = v0;
    if (d == 1) { win = vec4<f32>(v0.yzw, v1.x); }
    if (d == 2) { win = vec4<f32>(v0.zw, v1.xy); }
    if (d == 3) { win = vec4<f32>(v0.w, v1.xyz); }
    out[j] = dot(tx.c, win);
  }
#else
  for (var j = 0u; j < cnt; j++) {
    let tx = cubic_taps(P.scale_w, ox0 + j, P.w);
    let c0 = cidx(tx.i - 1, P.w);
    let c1 = cidx(tx.i, P.w);
    let c2 = cidx(tx.i + 1, P.w);
    let c3 = cidx(tx.i + 2, P.w);
    var s = 0.0;
    for (var a = 0; a < 4; a++) {
      let r = rows[a];
      let v = vec4<f32>(ld_x(r + c0), ld_x(r + c1), ld_x(r + c2), ld_x(r + c3));
      s += ty.c[a] * dot(tx.c, v);
    }
    out[j] = s;
  }
#endif
#else
  let wy = aa_window(P.scale_h, P.support_h, P.invscale_h, oy, P.h);
  for (var j = 0u; j < cnt; j++) {
    let wx = aa_window(P.scale_w, P.support_w, P.invscale_w, ox0 + j, P.w);
    var s = 0.0;
    for (var a = 0u; a < wy.cnt; a++) {
      let r = xb + (wy.lo + a) * P.w + wx.lo;
      var rs = 0.0;
      for (var b = 0u; b < wx.cnt; b++) {
        rs += aa_weight(wx, b, P.invscale_w) * ld_x(r + b);
      }
      s += aa_weight(wy, a, P.invscale_h) * rs;
    }
    out[j] = s;
  }
#endif
  store_run(row * P.wo + ox0, out, cnt);
}
