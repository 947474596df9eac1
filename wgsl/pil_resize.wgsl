// Pillow's 8-bit bicubic resize (Image.resize default, a = -0.5, support scaled when downsampling), exact:
// integer coefficients with 22 fractional bits, one pass per axis, each rounded and clipped to 0..255 as
// Pillow's ImagingResample does (Pillow runs the vertical pass first when the height shrinks more than
// twice as much as the width; the dispatcher picks the order). The last pass maps each byte through a
// per-channel table (v / 255 - mean) / std and writes planar CHW, as SAM 2's official frame loader does.
//
// Defines: AXIS 0 = horizontal pass, 1 = vertical; SRC_BYTES 1 = read packed image bytes (CIN bytes per
// pixel), 0 = read a previous pass's u32 [h, w, 3]; FINAL 1 = write normalized [3, h, w], 0 = write u32;
// WG = invocations per workgroup.

struct Params {
  src_w: u32, src_h: u32, dst_w: u32, dst_h: u32,
  cin: u32, ksize: u32, _p0: u32, _p1: u32,
}
@group(0) @binding(0) var<uniform> P: Params;

#tensor src 1 read u32
#tensor bounds 2 read i32
#tensor coeffs 3 read i32
#if FINAL
#tensor table 4 read f32
#tensor y 5 write
#else
#tensor tmp 4 read_write u32
#endif

fn clip8(ss: i32) -> u32 {
  return u32(clamp(ss >> 22u, 0, 255));
}

fn pixel(x: u32, yy: u32) -> vec3<i32> {
#if SRC_BYTES
  let b = (yy * P.src_w + x) * P.cin;
  var v: vec3<i32>;
  for (var c = 0u; c < 3u; c++) {
    let k = b + c;
    v[c] = i32((src[k >> 2u] >> ((k & 3u) * 8u)) & 0xffu);
  }
  return v;
#else
  let b = (yy * P.src_w + x) * 3u;
  return vec3<i32>(i32(src[b]), i32(src[b + 1u]), i32(src[b + 2u]));
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= P.dst_w * P.dst_h) { return; }
  let ox = i % P.dst_w;
  let oy = i / P.dst_w;
#if AXIS == 0
  let o = ox;
#else
  let o = oy;
#endif
  let first = bounds[2u * o];
  let count = bounds[2u * o + 1u];
  var ss = vec3<i32>(1 << 21u);
  for (var k = 0; k < count; k++) {
    let w = coeffs[o * P.ksize + u32(k)];
#if AXIS == 0
    ss += pixel(u32(first + k), oy) * w;
#else
    ss += pixel(ox, u32(first + k)) * w;
#endif
  }
#if FINAL
  let plane = P.dst_w * P.dst_h;
  st_y(i, table[clip8(ss.x)]);
  st_y(plane + i, table[256u + clip8(ss.y)]);
  st_y(2u * plane + i, table[512u + clip8(ss.z)]);
#else
  tmp[i * 3u] = clip8(ss.x);
  tmp[i * 3u + 1u] = clip8(ss.y);
  tmp[i * 3u + 2u] = clip8(ss.z);
#endif
}
