// Layout kernels: data movement with an optional element-type conversion; no arithmetic.
//
// KIND 0 (permute): y = x permuted, as a gather. Output dims d0 (innermost) .. d5 and the element stride of
//   x along each come in uniforms, after the dispatcher merged dims that stay adjacent. 4 consecutive
//   outputs per invocation.
// KIND 1 (transpose): batched 2-D transpose x [B, R, C] -> y [B, C, R] through a 32 × 33 tile in workgroup
//   memory, so that both the reads and the writes are contiguous; workgroup (32, 8), grid (C/32, R/32, B).
// KIND 2 (window): Hiera's window partition (DIR 0): x [B, H, W, C] zero-padded to [B, Hp, Wp, C] (Hp, Wp
//   multiples of the window ws) -> y [B·nh·nw, ws, ws, C]; and unpartition (DIR 1), the inverse, cropping
//   the padding: x [B·nh·nw, ws, ws, C] -> y [B, H, W, C]. VEC 4 when C % 4 == 0.
// KIND 3 (copy): for o < outer, j < len: y[o·dst_row + dst_off + j] = x[o·src_row + src_off + j]. Serves
//   concat (each input into its place) and slice (a window of each row), and dtype casts (outer = 1).
//   Each invocation owns one aligned group of 4 outputs, so no two invocations share a 32-bit word unless a
//   row boundary falls inside it (then the lone halves go through st_, safe in packed modes).
//
// Element types: SRC and DST: 0 f32, 1 f16 (the variant's storage: shader-f16 or packed pairs), 2 bf16.
// WG: invocations per workgroup. SEG: groups of 4 elements a workgroup moves in KIND 2, 3 and 4 (a multiple of WG).
#include "common.wgsl"


#if SRC == 0
#tensor x 1 read f32
#elif SRC == 1
#tensor x 1 read st
#else
#tensor x 1 read bf16
#endif
#if DST == 0
#tensor y 2 write f32
#elif DST == 1
#tensor y 2 write st
#else
#tensor y 2 write bf16
#endif

// Group g of the destination run [dst, dst + len): the 4 destination elements of the g-th aligned word group
// that overlaps it (j = 4g - dst % 4 ..). Element j comes from src + j·ss; those with j >= valid are zero.
fn copy_group(dst: u32, src: u32, ss: u32, len: u32, valid: u32, g: u32) {
  let j0 = i32(g * 4u) - i32(dst % 4u);
  if (j0 >= 0 && u32(j0) + 4u <= len) {
    let j = u32(j0);
    var v = vec4<f32>(0.0);
    if (j + 4u <= valid) {
      let s = src + j * ss;
      if (ss == 1u && s % 4u == 0u) {
        v = ld4_x(s);
      } else {
        v = vec4<f32>(ld_x(s), ld_x(s + ss), ld_x(s + 2u * ss), ld_x(s + 3u * ss));
      }
    } else {
      for (var k = 0u; k < 4u && j + k < valid; k++) { v[k] = ld_x(src + (j + k) * ss); }
    }
    st4_y(dst + j, v);
  } else {
    for (var k = max(j0, 0); k < j0 + 4 && k < i32(len); k++) {
      let j = u32(k);
      var v = 0.0;
      if (j < valid) { v = ld_x(src + j * ss); }
      st_y(dst + j, v);
    }
  }
}

#if KIND == 0

struct Params {
  n: u32, nd: u32, _pad0: u32, _pad1: u32,
  d0: u32, d1: u32, d2: u32, d3: u32, d4: u32, d5: u32,
  s0: u32, s1: u32, s2: u32, s3: u32, s4: u32, s5: u32,
}
@group(0) @binding(0) var<uniform> P: Params;

// Offset into x of output element i.
fn src_offset(i: u32) -> u32 {
  var r = i / P.d0;
  var o = (i - r * P.d0) * P.s0;
  if (P.nd > 1u) { let q = r / P.d1; o += (r - q * P.d1) * P.s1; r = q; }
  if (P.nd > 2u) { let q = r / P.d2; o += (r - q * P.d2) * P.s2; r = q; }
  if (P.nd > 3u) { let q = r / P.d3; o += (r - q * P.d3) * P.s3; r = q; }
  if (P.nd > 4u) { let q = r / P.d4; o += (r - q * P.d4) * P.s4; r = q; }
  if (P.nd > 5u) { o += r * P.s5; }
  return o;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linear_id(gid, nwg, WG) * 4u;
  if (i >= P.n) { return; }
  var o = src_offset(i);
  var c0 = i % P.d0;
  var v = vec4<f32>(0.0);
  for (var k = 0u; k < 4u && i + k < P.n; k++) {
    if (k > 0u) {
      c0 += 1u;
      if (c0 == P.d0) {
        c0 = 0u;
        o = src_offset(i + k);
      } else {
        o += P.s0;
      }
    }
    v[k] = ld_x(o);
  }
  if (i + 4u <= P.n) {
    st4_y(i, v);
  } else {
    for (var k = 0u; i + k < P.n; k++) { st_y(i + k, v[k]); }
  }
}

#elif KIND == 1

struct Params { b: u32, r: u32, c: u32, _pad: u32 }
@group(0) @binding(0) var<uniform> P: Params;
var<workgroup> tile: array<f32, 1056>;  // 32 rows of 33

@compute @workgroup_size(32, 8)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let r0 = wid.y * 32u;
  let c0 = wid.x * 32u;
  let plane = wid.z * P.r * P.c;
  // Read 32 rows of 32 contiguous elements.
  for (var k = 0u; k < 32u; k += 8u) {
    let r = r0 + lid.y + k;
    let c = c0 + lid.x;
    if (r < P.r && c < P.c) { tile[(lid.y + k) * 33u + lid.x] = ld_x(plane + r * P.c + c); }
  }
  workgroupBarrier();
  // Write 32 output rows (input columns), each as 8 groups of 4 contiguous elements.
  let l = lid.y * 32u + lid.x;
  let j = l / 8u;
  let q = (l % 8u) * 4u;
  let oc = c0 + j;
  let orow = r0 + q;
  if (oc >= P.c || orow >= P.r) { return; }
  let idx = plane + oc * P.r + orow;
  let v = vec4<f32>(tile[q * 33u + j], tile[(q + 1u) * 33u + j], tile[(q + 2u) * 33u + j], tile[(q + 3u) * 33u + j]);
  if (orow + 4u <= P.r && idx % 4u == 0u) {
    st4_y(idx, v);
  } else {
    for (var e = 0u; e < 4u && orow + e < P.r; e++) { st_y(idx + e, v[e]); }
  }
}

#elif KIND == 2

// A workgroup per rpw consecutive window rows (partition) or image-row segments (unpartition): each a run
// of at most ws·C contiguous elements in both x and y. Rows and offsets come from the workgroup id only
// (the same scalar arithmetic for every invocation); the invocations stride over each run.
struct Params { h: u32, w: u32, c: u32, ws: u32, nh: u32, nw: u32, rows: u32, rpw: u32 }
@group(0) @binding(0) var<uniform> P: Params;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let first = (wid.x + wid.y * nwg.x) * P.rpw;
  let last = min(first + P.rpw, P.rows);
  let run = P.ws * P.c;
  for (var row = first; row < last; row++) {
#if DIR == 0
    // Output row (b, wh, ww, r): ws·C contiguous outputs from image row h = wh·ws + r, pixels ww·ws ..,
    // zero past the image.
    let r = row % P.ws;
    let t = row / P.ws;
    let ww = t % P.nw;
    let t2 = t / P.nw;
    let wh = t2 % P.nh;
    let b = t2 / P.nh;
    let h = wh * P.ws + r;
    let w0 = ww * P.ws;
    var valid = 0u;
    if (h < P.h) { valid = min(P.ws, P.w - w0) * P.c; }
    let dst = row * run;
    let src = ((b * P.h + h) * P.w + w0) * P.c;
    let len = run;
#else
    // Output row segment (b, h, ww): pixels ww·ws .. of image row h (cropped at W), from window row
    // (b, h / ws, ww, h % ws).
    let ww = row % P.nw;
    let t = row / P.nw;
    let h = t % P.h;
    let b = t / P.h;
    let w0 = ww * P.ws;
    let len = min(P.ws, P.w - w0) * P.c;
    let valid = len;
    let wh = h / P.ws;
    let dst = ((b * P.h + h) * P.w + w0) * P.c;
    let src = (((b * P.nh + wh) * P.nw + ww) * P.ws + (h - wh * P.ws)) * run;
#endif
    let groups = (len + dst % 4u + 3u) / 4u;
    for (var g = lid; g < groups; g += WG) {
      copy_group(dst, src, 1u, len, valid, g);
    }
  }
}

#elif KIND == 4

// Permute by output rows: row r of d0 outputs gathers x[base(r) + e·s0]. A workgroup owns either a
// segment of SEG groups of 4 of one long row or rpw whole short rows; rows and base(r) (decomposed over the
// outer dims d1 .. d5) come from the workgroup id only, and the invocations stride over each row.
struct Params {
  rows: u32, segs: u32, d0: u32, s0: u32,
  nd: u32, d1: u32, d2: u32, d3: u32, d4: u32,
  s1: u32, s2: u32, s3: u32, s4: u32, s5: u32,
  rpw: u32,
}
@group(0) @binding(0) var<uniform> P: Params;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let wl = wid.x + wid.y * nwg.x;
  let first = (wl / P.segs) * P.rpw;
  let seg = wl % P.segs;
  let last = min(first + P.rpw, P.rows);
  for (var row = first; row < last; row++) {
    var r = row;
    var base = 0u;
    if (P.nd > 1u) { let q = r / P.d1; base += (r - q * P.d1) * P.s1; r = q; }
    if (P.nd > 2u) { let q = r / P.d2; base += (r - q * P.d2) * P.s2; r = q; }
    if (P.nd > 3u) { let q = r / P.d3; base += (r - q * P.d3) * P.s3; r = q; }
    if (P.nd > 4u) { let q = r / P.d4; base += (r - q * P.d4) * P.s4; r = q; }
    if (P.nd > 5u) { base += r * P.s5; }
    let dst = row * P.d0;
    let end = min((seg + 1u) * SEG, (P.d0 + dst % 4u + 3u) / 4u);
    for (var g = seg * SEG + lid; g < end; g += WG) {
      copy_group(dst, base, P.s0, P.d0, P.d0, g);
    }
  }
}

#else

// Copy rows. SHORT 0: a workgroup owns either a segment of SEG groups of 4 of one long row or rpw whole
// short rows (rows from the workgroup id, invocations striding over each row). SHORT 1, for rows of a few
// groups: each invocation owns one group, found by dividing its index by the groups per row q.
struct Params { outer: u32, len: u32, q: u32, src_row: u32, src_off: u32, dst_row: u32, dst_off: u32, segs: u32, rpw: u32 }
@group(0) @binding(0) var<uniform> P: Params;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let wl = wid.x + wid.y * nwg.x;
#if SHORT
  let id = wl * WG + lid;
  let o = id / P.q;
  if (o >= P.outer) { return; }
  copy_group(o * P.dst_row + P.dst_off, o * P.src_row + P.src_off, 1u, P.len, P.len, id - o * P.q);
#else
  let first = (wl / P.segs) * P.rpw;
  let seg = wl % P.segs;
  let last = min(first + P.rpw, P.outer);
  for (var o = first; o < last; o++) {
    let dst = o * P.dst_row + P.dst_off;
    let src = o * P.src_row + P.src_off;
    let end = min((seg + 1u) * SEG, (P.len + dst % 4u + 3u) / 4u);
    for (var g = seg * SEG + lid; g < end; g += WG) {
      copy_group(dst, src, 1u, P.len, P.len, g);
    }
  }
#endif
}

#endif
